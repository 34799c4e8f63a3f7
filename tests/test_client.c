/* rk_client basics against a real server: clients from URLs (TCP and Unix
 * socket), the call variants, how server error replies and transport
 * failures are told apart, discarded replies, and option checks. Needs
 * redis-server; the server tests skip without it. */
#define _GNU_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "rediskit/client.h"
#include "rediskit/error.h"
#include "rediskit/reply.h"
#include "rkt_alloc.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"

/* The server every test shares (TCP and a Unix socket), or none. */

static rk_client *shared_client(void) {
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(c);
    return c;
}

static rk_client *client_from_url(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static rk_client *client_from_url(const char *fmt, ...) {
    char url[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(url, sizeof url, fmt, ap);
    va_end(ap);
    rk_client *c = rk_client_new_url(url, NULL);
    if (c == NULL)
        fail_msg("rk_client_new_url(%s): %s", url, rk_error_last()->message);
    return c;
}

/* A raw reply from the shared server in database db, or NULL. */
static char *raw_in_db(int db, const char *arg0, const char *arg1) {
    int fd = rkt_server_connect(&rkt_shared);
    assert_true(fd >= 0);
    char dbs[16];
    snprintf(dbs, sizeof dbs, "%d", db);
    free(rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, 2, (const char *[]){"SELECT", dbs}));
    char *reply = rkt_raw_command(fd, RKT_RAW_TIMEOUT_MS, NULL, 2, (const char *[]){arg0, arg1});
    close(fd);
    return reply;
}

/* The value of field (e.g. "db") in this connection's CLIENT INFO line. */
static void client_info_field(rk_client *c, const char *field, char *out, size_t size) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "CLIENT INFO"), RK_OK);
    char key[64];
    snprintf(key, sizeof key, " %s=", field);
    const char *at = strstr(rk_reply_str(&r), key);
    assert_non_null(at);
    at += strlen(key);
    size_t n = strcspn(at, " \n");
    assert_true(n < size);
    memcpy(out, at, n);
    out[n] = '\0';
    rk_reply_free(&r);
}

/* ---- URLs --------------------------------------------------------------- */

static void test_url_path_selects_database(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c =
        client_from_url("redis://127.0.0.1:%d/2?client_name=x", rkt_server_port(&rkt_shared));
    assert_int_equal(rk_client_call(c, NULL, "SET url-db-key in-two"), RK_OK);
    char db[16];
    client_info_field(c, "db", db, sizeof db);
    assert_string_equal(db, "2");
    char *raw = raw_in_db(2, "GET", "url-db-key");
    assert_string_equal(raw, "$6\r\nin-two\r\n");
    free(raw);
    raw = raw_in_db(0, "GET", "url-db-key");
    assert_string_equal(raw, "$-1\r\n");
    free(raw);
    rk_client_free(c);
}

static void test_url_client_name_names_connection(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c =
        client_from_url("redis://127.0.0.1:%d/2?client_name=x", rkt_server_port(&rkt_shared));
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "CLIENT GETNAME"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "x");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_unix_url_connects_over_unix_socket(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_from_url("unix://%s?db=3", rkt_server_unix_path(&rkt_shared));
    char flags[32], db[16];
    client_info_field(c, "flags", flags, sizeof flags);
    assert_non_null(strchr(flags, 'U')); /* the server sees a Unix socket client */
    client_info_field(c, "db", db, sizeof db);
    assert_string_equal(db, "3");
    rk_client_free(c);
}

static void test_malformed_url_is_einval_with_message(void **state) {
    (void)state;
    const char *bad[] = {
        "redis://127.0.0.1:99999",   "http://127.0.0.1",          "redis://127.0.0.1/notadb",
        "redis://127.0.0.1?bogus=1", "unix://relative/path.sock", "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rk_error_clear();
        rk_client *c = rk_client_new_url(bad[i], NULL);
        if (c != NULL)
            fail_msg("%s was accepted", bad[i]);
        assert_int_equal(rk_error_last()->code, RK_EINVAL);
        assert_true(strlen(rk_error_last()->message) > 0);
    }
    assert_null(rk_client_new_url(NULL, NULL));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

/* ---- options ------------------------------------------------------------ */

static void test_zeroed_options_mean_documented_defaults(void **state) {
    (void)state;
    rk_client *c = rk_client_new(NULL);
    assert_non_null(c);
    const rk_options *o = rk_client_options(c);
    assert_string_equal(o->host, RK_DEFAULT_HOST);
    assert_int_equal(o->port, RK_DEFAULT_PORT);
    assert_int_equal(o->pool_size, RK_DEFAULT_POOL_SIZE);
    assert_int_equal(o->pool_timeout_ms, RK_DEFAULT_POOL_TIMEOUT_MS);
    assert_int_equal(o->retry.attempts, RK_DEFAULT_RETRY_ATTEMPTS);
    assert_int_equal(o->retry.base_ms, RK_DEFAULT_RETRY_BASE_MS);
    assert_int_equal(o->retry.cap_ms, RK_DEFAULT_RETRY_CAP_MS);
    rk_client_free(c);
}

static void test_bad_options_are_einval(void **state) {
    (void)state;
    assert_null(rk_client_new(&(rk_options){.pool_size = -1}));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_null(rk_client_new(&(rk_options){.retry = {.attempts = -2}}));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

/* ---- the call variants -------------------------------------------------- */

static int vcall(rk_client *c, rk_reply *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_client_vcall(c, r, fmt, ap);
    va_end(ap);
    return rc;
}

static void assert_reply_bytes(const rk_reply *r, const char *bytes, size_t len) {
    assert_int_equal(rk_reply_type(r), RK_REPLY_STRING);
    assert_int_equal(rk_reply_len(r), len);
    assert_memory_equal(rk_reply_str(r), bytes, len);
}

static void test_call_variants_give_the_same_reply(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = shared_client();
    static const char value[] = "bin\0ary value";
    const size_t vlen = sizeof value - 1;
    assert_int_equal(rk_client_call(c, NULL, "SET %s %b", "variants", value, vlen), RK_OK);
    const rk_str argv[] = {RK_STR("GET"), RK_STR("variants")};
    rk_reply r[5];
    assert_int_equal(rk_client_call(c, &r[0], "GET %s", "variants"), RK_OK);
    assert_int_equal(vcall(c, &r[1], "GET %s", "variants"), RK_OK);
    assert_int_equal(rk_client_call_args(c, &r[2], "GET", "variants", NULL), RK_OK);
    assert_int_equal(rk_client_call_argv(c, &r[3], argv, 2), RK_OK);
    assert_int_equal(rk_client_call_argv_opts(c, &r[4], NULL, argv, 2), RK_OK);
    for (int i = 0; i < 5; i++) {
        assert_reply_bytes(&r[i], value, vlen);
        rk_reply_free(&r[i]);
    }
    rk_client_free(c);
}

static void test_argv_lengths_send_binary_arguments(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = shared_client();
    const rk_str argv[] = {RK_STR("SET"), RK_STR("argv-bin"), RK_STR("a\0b\r\nc")};
    assert_int_equal(rk_client_call_argv(c, NULL, argv, 3), RK_OK);
    char *raw = rkt_server_cmd(&rkt_shared, "STRLEN", "argv-bin", NULL);
    assert_string_equal(raw, ":6\r\n");
    free(raw);
    rk_client_free(c);
}

static void test_call_without_arguments_is_einval(void **state) {
    (void)state;
    rk_client *c = rk_client_new(&(rk_options){.port = 1});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call_argv_opts(c, &r, NULL, (const rk_str[]){RK_STR("PING")}, 0),
                     RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_client_call(c, &r, NULL), RK_EINVAL);
    assert_int_equal(rk_client_call_args(c, &r, NULL), RK_EINVAL);
    rk_client_free(c);
}

/* ---- errors ------------------------------------------------------------- */

static void test_wrongtype_reply_is_eserver_with_prefix(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = shared_client();
    assert_int_equal(rk_client_call(c, NULL, "SET wt-string x"), RK_OK);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "LPUSH wt-string y"), RK_ESERVER);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
    assert_true(strncmp(rk_reply_str(&r), "WRONGTYPE ", 10) == 0);
    const rk_error *e = rk_error_last();
    assert_int_equal(e->code, RK_ESERVER);
    assert_string_equal(e->prefix, "WRONGTYPE");
    assert_non_null(strstr(e->message, "wrong kind of value"));
    rk_reply_free(&r);
    rk_client_free(c);
}

/* MULTI or SELECT through a pooled one-shot call would leak into the next
 * call on the same connection: they are refused before anything is sent,
 * in every spelling and call form, and the connection stays clean. */
static void test_state_changing_commands_are_refused_on_pooled_calls(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .pool_size = 1});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "MULTI"), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_non_null(strstr(rk_error_last()->message, "rk_pipeline"));
    assert_int_equal(rk_client_call(c, NULL, "select 5"), RK_EINVAL);
    assert_int_equal(rk_client_call(c, NULL, "SUBSCRIBE %s", "news"), RK_EINVAL);
    assert_int_equal(rk_client_call_args(c, NULL, "WATCH", "k", NULL), RK_EINVAL);
    assert_int_equal(rk_client_call_args(c, NULL, "CLIENT", "REPLY", "OFF", NULL), RK_EINVAL);
    /* The one pooled connection still answers plainly, in database 0. */
    assert_int_equal(rk_client_call(c, NULL, "SET stateful-check v"), RK_OK);
    assert_int_equal(rk_client_call(c, &r, "GET stateful-check"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "v");
    rk_reply_free(&r);
    char db[16];
    client_info_field(c, "db", db, sizeof db);
    assert_string_equal(db, "0");
    /* CLIENT INFO and CLIENT ID are not refused: only CLIENT REPLY is. */
    assert_int_equal(rk_client_call(c, NULL, "CLIENT ID"), RK_OK);
    rk_client_free(c);
}

static void test_err_reply_is_eserver_with_err_prefix(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = shared_client();
    assert_int_equal(rk_client_call(c, NULL, "SET err-string abc"), RK_OK);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "INCR err-string"), RK_ESERVER);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ERROR);
    assert_true(strncmp(rk_reply_str(&r), "ERR ", 4) == 0);
    assert_string_equal(rk_error_last()->prefix, "ERR");
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_transport_failure_has_own_code_and_nil_reply(void **state) {
    (void)state;
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_CLOSE, 0); /* EOF as soon as connected */
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_proxy_port(p), .retry = {.attempts = 1}});
    assert_non_null(c);
    rk_reply r;
    int rc = rk_client_call(c, &r, "INCR never");
    assert_int_equal(rc, RK_EIO);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_error_last()->code, RK_EIO);
    assert_string_equal(rk_error_last()->prefix, "");
    rk_client_free(c);
    rkt_proxy_stop(p);
}

static void test_null_reply_pointer_discards_reply(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = shared_client();
    char big[4096];
    memset(big, 'v', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(rk_client_call(c, NULL, "SET discard %s", big), RK_OK);
    assert_int_equal(rk_client_call(c, NULL, "GET discard"), RK_OK); /* a block to free */
    /* An error reply discarded still reports its code and prefix. */
    assert_int_equal(rk_client_call(c, NULL, "LPUSH discard x"), RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "WRONGTYPE");
    rk_client_free(c);
    /* rkt_alloc_teardown fails the test if anything is still allocated. */
    assert_int_equal(rkt_alloc_live(), 0);
}

/* ---- main --------------------------------------------------------------- */

int main(void) {
    rkt_shared_opts.unix_socket = true; /* for the unix:// URL test */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_path_selects_database),
        cmocka_unit_test(test_url_client_name_names_connection),
        cmocka_unit_test(test_unix_url_connects_over_unix_socket),
        cmocka_unit_test(test_malformed_url_is_einval_with_message),
        cmocka_unit_test(test_zeroed_options_mean_documented_defaults),
        cmocka_unit_test(test_bad_options_are_einval),
        cmocka_unit_test(test_call_variants_give_the_same_reply),
        cmocka_unit_test(test_argv_lengths_send_binary_arguments),
        cmocka_unit_test(test_call_without_arguments_is_einval),
        cmocka_unit_test(test_wrongtype_reply_is_eserver_with_prefix),
        cmocka_unit_test(test_state_changing_commands_are_refused_on_pooled_calls),
        cmocka_unit_test(test_err_reply_is_eserver_with_err_prefix),
        cmocka_unit_test(test_transport_failure_has_own_code_and_nil_reply),
        cmocka_unit_test_setup_teardown(test_null_reply_pointer_discards_reply, rkt_alloc_setup,
                                        rkt_alloc_teardown),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
