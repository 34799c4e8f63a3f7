/* Tests of rk_url_parse: every URL form and option of rk_client_new_url,
 * that a URL leaves alone what it does not say, the one storage block, and
 * each malformed URL's RK_EINVAL message. A counting allocator checks that
 * a parse makes at most one allocation and that a failed one makes none. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "client/url.h"
#include "rediskit/alloc.h"
#include "rediskit/error.h"
#include "rkt_alloc.h"

/* What the tests parse into; freed by teardown. */
static rk_options opts;
static char *storage;

static int setup(void **state) {
    (void)state;
    memset(&opts, 0, sizeof(opts));
    storage = NULL;
    rkt_alloc_install();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    rk_free(storage);
    storage = NULL;
    assert_int_equal(rkt_alloc_live(), 0);
    rkt_alloc_uninstall();
    return 0;
}

/* Parses url over opts, which must succeed. */
static void parse(const char *url) {
    rk_free(storage);
    storage = NULL;
    int rc = rk_url_parse(url, &opts, &storage);
    if (rc != RK_OK)
        fail_msg("%s: %s", url, rk_error_last()->message);
}

/* Parses url, which must fail with RK_EINVAL and a message containing
 * needle, leaving the options untouched and allocating nothing. */
static void expect_error(const char *url, const char *needle) {
    rk_options before = opts, after = opts;
    char *block = (char *)"sentinel";
    size_t calls = rkt_alloc_calls();
    assert_int_equal(rk_url_parse(url, &after, &block), RK_EINVAL);
    const char *msg = rk_error_last()->message;
    if (strstr(msg, needle) == NULL)
        fail_msg("%s: message '%s' lacks '%s'", url, msg, needle);
    assert_null(block);
    assert_memory_equal(&before, &after, sizeof(before));
    assert_int_equal(rkt_alloc_calls(), calls);
}

/* ---- Forms ---------------------------------------------------------------- */

static void test_redis_url_sets_host_port_and_db(void **state) {
    (void)state;
    parse("redis://cache.local:6380/2");
    assert_string_equal(opts.host, "cache.local");
    assert_int_equal(opts.port, 6380);
    assert_int_equal(opts.db, 2);
    assert_false(opts.tls.enabled);
    assert_null(opts.unix_path);
}

static void test_redis_url_without_host_keeps_default(void **state) {
    (void)state;
    parse("redis://");
    assert_null(opts.host);
    assert_int_equal(opts.port, 0);
    assert_null(storage); /* no string, no allocation */
    parse("redis:///5");
    assert_null(opts.host);
    assert_int_equal(opts.db, 5);
    parse("redis://:7000");
    assert_null(opts.host);
    assert_int_equal(opts.port, 7000);
}

static void test_silent_url_keeps_the_base(void **state) {
    (void)state;
    int userdata;
    opts.host = "base";
    opts.port = 7001;
    opts.db = 4;
    opts.password = "basepw";
    opts.protocol = 2;
    opts.command_timeout_ms = 250;
    opts.pool_size = 3;
    opts.credentials_userdata = &userdata;
    opts.retry.attempts = 9;
    rk_options base = opts;
    parse("redis://");
    assert_memory_equal(&opts, &base, sizeof(opts));
    parse("redis://other");
    assert_string_equal(opts.host, "other");
    assert_int_equal(opts.port, 7001);
    assert_int_equal(opts.db, 4);
    assert_ptr_equal(opts.password, base.password);
    assert_int_equal(opts.protocol, 2);
    assert_int_equal(opts.command_timeout_ms, 250);
    assert_int_equal(opts.pool_size, 3);
    assert_int_equal(opts.retry.attempts, 9);
    assert_ptr_equal(opts.credentials_userdata, &userdata);
}

static void test_rediss_enables_tls(void **state) {
    (void)state;
    parse("rediss://secure.example:6390");
    assert_true(opts.tls.enabled);
    assert_false(opts.tls.insecure);
    assert_string_equal(opts.host, "secure.example");
}

static void test_redis_scheme_turns_off_tls_and_unix_path(void **state) {
    (void)state;
    opts.tls.enabled = true;
    opts.unix_path = "/base.sock";
    parse("redis://h");
    assert_false(opts.tls.enabled);
    assert_null(opts.unix_path);
}

static void test_scheme_is_case_insensitive(void **state) {
    (void)state;
    parse("REDISS://h");
    assert_true(opts.tls.enabled);
}

static void test_user_and_password(void **state) {
    (void)state;
    parse("redis://alice:s3cret@h:6379");
    assert_string_equal(opts.username, "alice");
    assert_string_equal(opts.password, "s3cret");
    assert_string_equal(opts.host, "h");
}

static void test_password_only(void **state) {
    (void)state;
    parse("redis://:s3cret@h");
    assert_null(opts.username);
    assert_string_equal(opts.password, "s3cret");
}

static void test_user_only(void **state) {
    (void)state;
    parse("redis://bob@h");
    assert_string_equal(opts.username, "bob");
    assert_null(opts.password);
}

static void test_empty_user_and_password_are_unset(void **state) {
    (void)state;
    parse("redis://:@h");
    assert_null(opts.username);
    assert_null(opts.password);
}

static void test_password_may_hold_colon_and_raw_at(void **state) {
    (void)state;
    parse("redis://u:pa:ss@wo@rd@h:1");
    assert_string_equal(opts.username, "u");
    assert_string_equal(opts.password, "pa:ss@wo@rd");
    assert_string_equal(opts.host, "h");
}

static void test_percent_decoding(void **state) {
    (void)state;
    parse("redis://us%65r%3a1:p%40ss%2Fw%3F%25rd@h/%33");
    assert_string_equal(opts.username, "user:1");
    assert_string_equal(opts.password, "p@ss/w?%rd");
    assert_int_equal(opts.db, 3);
    parse("unix:///tmp/my%20dir/r.sock?client_name=a%2Bb");
    assert_string_equal(opts.unix_path, "/tmp/my dir/r.sock");
    assert_string_equal(opts.client_name, "a+b");
}

static void test_plus_stays_plus(void **state) {
    (void)state;
    parse("redis://:a+b@h");
    assert_string_equal(opts.password, "a+b");
}

static void test_ipv6_host_and_port(void **state) {
    (void)state;
    parse("redis://[::1]:6380/1");
    assert_string_equal(opts.host, "::1");
    assert_int_equal(opts.port, 6380);
    assert_int_equal(opts.db, 1);
    parse("rediss://u:p@[2001:db8::7]");
    assert_string_equal(opts.host, "2001:db8::7");
    assert_string_equal(opts.password, "p");
    parse("redis://[::ffff:192.0.2.1]");
    assert_string_equal(opts.host, "::ffff:192.0.2.1");
}

static void test_ipv6_zone(void **state) {
    (void)state;
    parse("redis://[fe80::1%25eth0]:7000");
    assert_string_equal(opts.host, "fe80::1%eth0");
    assert_int_equal(opts.port, 7000);
}

static void test_ipv4_host(void **state) {
    (void)state;
    parse("redis://10.0.0.5:1");
    assert_string_equal(opts.host, "10.0.0.5");
    assert_int_equal(opts.port, 1);
    parse("redis://h:65535");
    assert_int_equal(opts.port, 65535);
}

static void test_db_from_path_and_query(void **state) {
    (void)state;
    parse("redis://h/7");
    assert_int_equal(opts.db, 7);
    parse("redis://h?db=8");
    assert_int_equal(opts.db, 8);
    parse("redis://h/");
    assert_int_equal(opts.db, 8); /* "/" says nothing */
}

static void test_query_db_wins_over_path_db(void **state) {
    (void)state;
    parse("redis://h/3?db=5");
    assert_int_equal(opts.db, 5);
}

static void test_unix_url(void **state) {
    (void)state;
    const char *base_host = "keep";
    opts.host = base_host;
    parse("unix:///var/run/redis.sock");
    assert_string_equal(opts.unix_path, "/var/run/redis.sock");
    assert_ptr_equal(opts.host, base_host); /* the base's, untouched */
    assert_false(opts.tls.enabled);
}

static void test_unix_url_with_credentials_and_query(void **state) {
    (void)state;
    parse("unix://u:p%2Fw@/tmp/a@b.sock?db=2&protocol=2");
    assert_string_equal(opts.username, "u");
    assert_string_equal(opts.password, "p/w");
    assert_string_equal(opts.unix_path, "/tmp/a@b.sock");
    assert_int_equal(opts.db, 2);
    assert_int_equal(opts.protocol, 2);
    memset(&opts, 0, sizeof(opts)); /* its strings die with the next parse */
    parse("unix://:pw@/s.sock");
    assert_null(opts.username);
    assert_string_equal(opts.password, "pw");
}

/* ---- Options -------------------------------------------------------------- */

static void test_option_protocol(void **state) {
    (void)state;
    parse("redis://h?protocol=2");
    assert_int_equal(opts.protocol, 2);
    parse("redis://h?protocol=3");
    assert_int_equal(opts.protocol, 3);
}

static void test_option_client_name_and_name(void **state) {
    (void)state;
    parse("redis://h?client_name=worker-1");
    assert_string_equal(opts.client_name, "worker-1");
    parse("redis://h?name=web");
    assert_string_equal(opts.client_name, "web");
}

static void test_option_timeouts_in_seconds(void **state) {
    (void)state;
    parse("redis://h?connect_timeout=2&socket_timeout=0.25");
    assert_int_equal(opts.connect_timeout_ms, 2000);
    assert_int_equal(opts.command_timeout_ms, 250);
    parse("redis://h?socket_connect_timeout=1.5&socket_timeout=.1");
    assert_int_equal(opts.connect_timeout_ms, 1500);
    assert_int_equal(opts.command_timeout_ms, 100);
    parse("redis://h?connect_timeout=3.");
    assert_int_equal(opts.connect_timeout_ms, 3000);
}

static void test_fraction_of_a_millisecond_rounds_up(void **state) {
    (void)state;
    parse("redis://h?socket_timeout=0.0001&connect_timeout=1.0005");
    assert_int_equal(opts.command_timeout_ms, 1);
    assert_int_equal(opts.connect_timeout_ms, 1001);
    parse("redis://h?connect_timeout=0.0010000");
    assert_int_equal(opts.connect_timeout_ms, 1);
}

static void test_largest_timeout(void **state) {
    (void)state;
    parse("redis://h?socket_timeout=2147483.647");
    assert_int_equal(opts.command_timeout_ms, INT_MAX);
}

static void test_option_pool(void **state) {
    (void)state;
    parse("redis://h?pool_size=32&pool_timeout=1.5");
    assert_int_equal(opts.pool_size, 32);
    assert_int_equal(opts.pool_timeout_ms, 1500);
    parse("redis://h?max_connections=7");
    assert_int_equal(opts.pool_size, 7);
}

static void test_option_mode(void **state) {
    (void)state;
    parse("redis://h?mode=mux&mux_connections=4");
    assert_int_equal(opts.mode, RK_MODE_MUX);
    assert_int_equal(opts.mux_connections, 4);
    parse("redis://h?mode=POOL");
    assert_int_equal(opts.mode, RK_MODE_POOL);
}

static void test_error_mode(void **state) {
    (void)state;
    expect_error("redis://h?mode=threads", "URL option 'mode' must be pool or mux, not 'threads'");
    expect_error("redis://h?mux_connections=0", "'mux_connections' must be a number from 1 to 64");
    expect_error("redis://h?mux_connections=65", "'mux_connections' must be a number from 1");
}

static void test_option_health_check_interval(void **state) {
    (void)state;
    parse("redis://h?health_check_interval=2.5");
    assert_int_equal(opts.health_check_ms, 2500);
    parse("redis://h?health_check_interval=0");
    assert_int_equal(opts.health_check_ms, -1);
}

static void test_option_retry_attempts(void **state) {
    (void)state;
    parse("redis://h?retry_attempts=5");
    assert_int_equal(opts.retry.attempts, 5);
    parse("redis://h?retry_attempts=1");
    assert_int_equal(opts.retry.attempts, 1);
}

static void test_option_keepalive(void **state) {
    (void)state;
    parse("redis://h?keepalive=30");
    assert_int_equal(opts.keepalive_s, 30);
    parse("redis://h?keepalive=0");
    assert_int_equal(opts.keepalive_s, -1);
}

static void test_option_tls_files_and_server_name(void **state) {
    (void)state;
    parse("rediss://h?ssl_ca_certs=/etc/ca.pem&ssl_ca_path=/etc/cas&ssl_certfile=%2Fc.pem"
          "&ssl_keyfile=/k.pem&ssl_server_name=redis.internal");
    assert_string_equal(opts.tls.ca_file, "/etc/ca.pem");
    assert_string_equal(opts.tls.ca_dir, "/etc/cas");
    assert_string_equal(opts.tls.cert_file, "/c.pem");
    assert_string_equal(opts.tls.key_file, "/k.pem");
    assert_string_equal(opts.tls.server_name, "redis.internal");
}

static void test_option_ssl_cert_reqs(void **state) {
    (void)state;
    parse("rediss://h?ssl_cert_reqs=none");
    assert_true(opts.tls.insecure);
    parse("rediss://h?ssl_cert_reqs=required");
    assert_false(opts.tls.insecure);
    opts.tls.insecure = true;
    parse("rediss://h?ssl_cert_reqs=OPTIONAL");
    assert_false(opts.tls.insecure);
}

static void test_repeated_option_last_wins(void **state) {
    (void)state;
    parse("redis://h?db=1&db=2&name=a&name=b");
    assert_int_equal(opts.db, 2);
    assert_string_equal(opts.client_name, "b");
}

static void test_empty_query_pieces_are_skipped(void **state) {
    (void)state;
    parse("redis://h?&&db=3&");
    assert_int_equal(opts.db, 3);
    parse("redis://h?");
    assert_int_equal(opts.db, 3);
}

/* ---- Storage -------------------------------------------------------------- */

static int inside(const char *s, const char *block, size_t size) {
    return s >= block && s + strlen(s) < block + size;
}

static void test_all_strings_share_one_block(void **state) {
    (void)state;
    const char *url = "rediss://user:pw@[::1]:1/2?client_name=n&ssl_ca_certs=a"
                      "&ssl_ca_path=b&ssl_certfile=c&ssl_keyfile=d&ssl_server_name=e";
    size_t calls = rkt_alloc_calls();
    parse(url);
    assert_int_equal(rkt_alloc_calls(), calls + 1);
    assert_int_equal(rkt_alloc_live(), 1);
    const char *strings[] = {opts.host,          opts.username,     opts.password,
                             opts.client_name,   opts.tls.ca_file,  opts.tls.ca_dir,
                             opts.tls.cert_file, opts.tls.key_file, opts.tls.server_name};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
        assert_true(inside(strings[i], storage, strlen(url)));
    parse("unix:///s.sock");
    assert_true(inside(opts.unix_path, storage, strlen("/s.sock") + 1));
}

static void test_no_string_means_no_storage(void **state) {
    (void)state;
    size_t calls = rkt_alloc_calls();
    parse("redis://:6380/1?protocol=2&socket_timeout=1");
    assert_null(storage);
    assert_int_equal(rkt_alloc_calls(), calls);
}

static void test_out_of_memory_leaves_options_untouched(void **state) {
    (void)state;
    rk_options before = opts;
    char *block = (char *)"sentinel";
    rkt_alloc_fail_nth(1);
    assert_int_equal(rk_url_parse("redis://h:1/2", &opts, &block), RK_ENOMEM);
    assert_null(block);
    assert_memory_equal(&before, &opts, sizeof(opts));
}

/* ---- Errors --------------------------------------------------------------- */

static void test_null_arguments(void **state) {
    (void)state;
    char *block;
    assert_int_equal(rk_url_parse(NULL, &opts, &block), RK_EINVAL);
    assert_null(block);
    assert_int_equal(rk_url_parse("redis://", NULL, &block), RK_EINVAL);
    assert_int_equal(rk_url_parse("redis://", &opts, NULL), RK_EINVAL);
}

static void test_error_scheme(void **state) {
    (void)state;
    expect_error("http://h", "unsupported URL scheme 'http'");
    expect_error("localhost:6379", "URL has no scheme");
    expect_error("", "URL has no scheme");
    expect_error("redis:/h", "URL has no scheme");
    expect_error("://h", "unsupported URL scheme ''");
}

static void test_error_port(void **state) {
    (void)state;
    expect_error("redis://h:99999", "invalid port '99999' in URL");
    expect_error("redis://h:0", "invalid port '0' in URL");
    expect_error("redis://h:65536", "invalid port '65536'");
    expect_error("redis://h:12ab", "invalid port '12ab'");
    expect_error("redis://h:-1", "invalid port '-1'");
    expect_error("redis://h:123456789012", "invalid port '123456789012'");
    expect_error("redis://h:", "missing port after ':'");
    expect_error("redis://[::1]:", "missing port after ':'");
}

static void test_error_host(void **state) {
    (void)state;
    expect_error("redis://ho st", "invalid character ' ' in URL host");
    expect_error("redis://h%41", "invalid character '%' in URL host");
    expect_error("redis://h\x01", "invalid byte 0x01 in URL host");
    expect_error("redis://::1:6379", "IPv6 address in URL must be in brackets");
}

static void test_error_ipv6(void **state) {
    (void)state;
    expect_error("redis://[::1", "missing ']'");
    expect_error("redis://[]", "empty IPv6 address");
    expect_error("redis://[zz::1]", "invalid IPv6 address 'zz::1'");
    expect_error("redis://[127.0.0.1]", "invalid IPv6 address");
    expect_error("redis://[::1]x", "invalid character 'x' in URL after ']'");
    expect_error("redis://[fe80::1%eth0]", "invalid IPv6 zone");
    expect_error("redis://[fe80::1%25]", "invalid IPv6 zone");
    expect_error("redis://[fe80::1%25e/0]", "missing ']'");
    expect_error("redis://[fe80::1%25e%0]", "invalid character '%' in URL host");
}

static void test_error_db(void **state) {
    (void)state;
    expect_error("redis://h/abc", "db in URL path must be a number, not 'abc'");
    expect_error("redis://h/1/2", "must be a number");
    expect_error("redis://h/-1", "must be a number");
    expect_error("redis://h/99999999999", "must be a number");
    expect_error("redis://h?db=x", "URL option 'db' must be a number, not 'x'");
    expect_error("redis://h?db=-1", "URL option 'db' must be a number");
    expect_error("redis://h?db=2147483648", "must be a number");
}

static void test_error_unknown_option(void **state) {
    (void)state;
    expect_error("redis://h?foo=1", "unknown URL option 'foo'");
    expect_error("redis://h?DB=1", "unknown URL option 'DB'");
    expect_error("unix:///s?ssl=true", "unknown URL option 'ssl'");
}

static void test_error_option_without_value(void **state) {
    (void)state;
    expect_error("redis://h?db", "URL option 'db' needs a value");
    expect_error("redis://h?db=", "URL option 'db' needs a value");
    expect_error("redis://h?name=", "URL option 'name' needs a value");
}

static void test_error_numbers(void **state) {
    (void)state;
    expect_error("redis://h?protocol=4", "URL option 'protocol' must be 2 or 3, not '4'");
    expect_error("redis://h?protocol=1", "must be 2 or 3");
    expect_error("redis://h?pool_size=0", "URL option 'pool_size' must be a number, at least 1");
    expect_error("redis://h?max_connections=x", "'max_connections' must be a number");
    expect_error("redis://h?retry_attempts=0", "'retry_attempts' must be a number, at least 1");
    expect_error("redis://h?keepalive=1.5", "'keepalive' must be a whole number of seconds");
    expect_error("redis://h?keepalive=%2D1", "'keepalive' must be");
}

static void test_error_seconds(void **state) {
    (void)state;
    const char *needle = "'connect_timeout' must be a positive number of seconds";
    expect_error("redis://h?connect_timeout=abc", needle);
    expect_error("redis://h?connect_timeout=0", needle);
    expect_error("redis://h?connect_timeout=0.0", needle);
    expect_error("redis://h?connect_timeout=-1", needle);
    expect_error("redis://h?connect_timeout=1e3", needle);
    expect_error("redis://h?connect_timeout=.", needle);
    expect_error("redis://h?connect_timeout=1.2.3", needle);
    expect_error("redis://h?connect_timeout=2147484", needle);
    expect_error("redis://h?connect_timeout=2147483.648", needle);
    expect_error("redis://h?connect_timeout=1%20", needle);
    expect_error("redis://h?socket_timeout=x", "'socket_timeout' must be");
    expect_error("redis://h?pool_timeout=0", "'pool_timeout' must be");
    expect_error("redis://h?health_check_interval=-2", "'health_check_interval' must be");
}

static void test_error_percent_escapes(void **state) {
    (void)state;
    expect_error("redis://:p%zzw@h", "bad percent escape '%' at offset 10 in URL password");
    expect_error("redis://u%4@h", "bad percent escape '%4' at offset 9 in URL user name");
    expect_error("redis://u%@h", "bad percent escape '%' at offset 9 in URL user name");
    expect_error("redis://h/%3", "bad percent escape '%3' at offset 10 in URL path");
    expect_error("unix:///s%G0", "bad percent escape '%G0' at offset 9 in URL unix socket path");
    expect_error("redis://h?name=a%", "bad percent escape '%' at offset 16 in URL option 'name'");
    expect_error("redis://:a%00b@h", "percent escape %00 (NUL) at offset 10 in URL password");
}

static void test_error_message_never_quotes_the_password(void **state) {
    (void)state;
    expect_error("redis://:topsecret%zz@h", "bad percent escape");
    assert_null(strstr(rk_error_last()->message, "topsecret"));
    assert_null(strstr(rk_error_last()->message, "%zz"));
    expect_error("redis://:topsecret@h:99999", "invalid port");
    assert_null(strstr(rk_error_last()->message, "topsecret"));
}

/* A password with an unescaped '/' or '?' ends the host early; its rest
 * must not come back quoted as a port, a db or an option. */
static void test_error_password_with_unescaped_slash_or_question_mark(void **state) {
    (void)state;
    static const char *const urls[] = {
        "redis://:s3cr3t?x@cache",          "redis://user:s3cr3t/x@cache:6379",
        "redis://:12345/s3cr3t@cache:6379", "redis://:s3cr3t/b?c@cache",
        "rediss://u:s3cr3t?x@cache/0",      "redis://:s3cr3t?a=b@cache",
        "redis://:s3cr3t/0?a=b@cache",
    };
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        expect_error(urls[i], "percent-escape the password's '/' and '?' as %2F and %3F");
        if (strstr(rk_error_last()->message, "s3cr3t"))
            fail_msg("%s: message quotes the password: %s", urls[i], rk_error_last()->message);
    }
}

static void test_error_unix_path(void **state) {
    (void)state;
    char longpath[200] = "unix:///";
    memset(longpath + 8, 'a', 150);
    expect_error("unix://", "empty unix socket path");
    expect_error("unix://?db=1", "empty unix socket path");
    expect_error("unix://u:p@", "empty unix socket path");
    expect_error("unix://tmp/r.sock", "unix socket path in URL must be absolute");
    expect_error("unix://localhost/tmp/r.sock", "must be absolute");
    expect_error(longpath, "unix socket path in URL is longer than");
}

static void test_error_ssl_options_need_rediss(void **state) {
    (void)state;
    expect_error("redis://h?ssl_ca_certs=/ca.pem", "URL option 'ssl_ca_certs' needs a rediss://");
    expect_error("unix:///s?ssl_cert_reqs=none", "'ssl_cert_reqs' needs a rediss://");
    expect_error("rediss://h?ssl_cert_reqs=maybe",
                 "URL option 'ssl_cert_reqs' must be none, optional or required, not 'maybe'");
}

static void test_error_client_name(void **state) {
    (void)state;
    expect_error("redis://h?client_name=a%20b", "'client_name' must have no spaces");
    expect_error("redis://h?name=a%0Ab", "'name' must have no spaces");
}

static void test_error_quotes_are_bounded(void **state) {
    (void)state;
    char url[600] = "redis://h?";
    memset(url + 10, 'x', 500);
    expect_error(url, "unknown URL option 'xxxx");
    assert_true(strlen(rk_error_last()->message) < 120);
}

int main(void) {
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_redis_url_sets_host_port_and_db),
        T(test_redis_url_without_host_keeps_default),
        T(test_silent_url_keeps_the_base),
        T(test_rediss_enables_tls),
        T(test_redis_scheme_turns_off_tls_and_unix_path),
        T(test_scheme_is_case_insensitive),
        T(test_user_and_password),
        T(test_password_only),
        T(test_user_only),
        T(test_empty_user_and_password_are_unset),
        T(test_password_may_hold_colon_and_raw_at),
        T(test_percent_decoding),
        T(test_plus_stays_plus),
        T(test_ipv6_host_and_port),
        T(test_ipv6_zone),
        T(test_ipv4_host),
        T(test_db_from_path_and_query),
        T(test_query_db_wins_over_path_db),
        T(test_unix_url),
        T(test_unix_url_with_credentials_and_query),
        T(test_option_protocol),
        T(test_option_client_name_and_name),
        T(test_option_timeouts_in_seconds),
        T(test_fraction_of_a_millisecond_rounds_up),
        T(test_largest_timeout),
        T(test_option_pool),
        T(test_option_mode),
        T(test_error_mode),
        T(test_option_health_check_interval),
        T(test_option_retry_attempts),
        T(test_option_keepalive),
        T(test_option_tls_files_and_server_name),
        T(test_option_ssl_cert_reqs),
        T(test_repeated_option_last_wins),
        T(test_empty_query_pieces_are_skipped),
        T(test_all_strings_share_one_block),
        T(test_no_string_means_no_storage),
        T(test_out_of_memory_leaves_options_untouched),
        T(test_null_arguments),
        T(test_error_scheme),
        T(test_error_port),
        T(test_error_host),
        T(test_error_ipv6),
        T(test_error_db),
        T(test_error_unknown_option),
        T(test_error_option_without_value),
        T(test_error_numbers),
        T(test_error_seconds),
        T(test_error_percent_escapes),
        T(test_error_message_never_quotes_the_password),
        T(test_error_password_with_unescaped_slash_or_question_mark),
        T(test_error_unix_path),
        T(test_error_ssl_options_need_rediss),
        T(test_error_client_name),
        T(test_error_quotes_are_bounded),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
