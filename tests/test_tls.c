/* Integration tests of TLS connections against real redis-server processes:
 * verified connections, untrusted CAs and wrong names refused, insecure
 * mode, mutual TLS, option checks, rediss:// URLs, IPv6 and non-blocking
 * driving. Certificates are made at test time (rkt_tls.h). Needs
 * redis-server and openssl; skips without them. */
#define _GNU_SOURCE

#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "net/net.h"
#include "rediskit/rediskit.h"
#include "rkt_check.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_tls.h"

#define MIB (1024u * 1024u)

/* A TLS server, and a mutual-TLS one using the same certificates. */
static rkt_server g_tls;
static rkt_server g_mtls;
static bool g_up;

/* ---- helpers ------------------------------------------------------------ */

static void need_servers(void) {
    if (!g_up)
        skip();
}

static const rkt_tls_files *files(void) {
    return rkt_server_tls_files(&g_tls);
}

/* Options for a verified TLS connection to the TLS server. */
static rk_options tls_opts(void) {
    return (rk_options){.host = "127.0.0.1",
                        .port = rkt_server_tls_port(&g_tls),
                        .tls = {.enabled = true, .ca_file = files()->ca_cert}};
}

static rk_conn *new_conn(const rk_options *o) {
    rk_conn *c = rk_conn_new(o);
    if (c == NULL)
        fail_msg("rk_conn_new: %s", rk_error_last()->message);
    return c;
}

/* Connecting fails with `code`; the connection is left unusable. */
static void expect_connect_fails(const rk_options *o, int code) {
    rk_conn *c = new_conn(o);
    int rc = rk_conn_connect(c);
    if (rc != code)
        fail_msg("expected %s, got %s (%s)", rk_strerror(code), rk_strerror(rc),
                 rk_error_last()->message);
    assert_int_equal(rk_error_last()->code, code);
    assert_true(rk_error_last()->message[0] != '\0');
    assert_false(rk_conn_is_ready(c));
    assert_true(rk_conn_is_broken(c));
    rk_conn_free(c);
}

/* ---- verified connections ------------------------------------------------- */

static void test_verified_tls_connection_answers_ping(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(rk_conn_protocol(c), 3);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

static void check_value_round_trip(size_t size) {
    need_servers();
    rk_options o = tls_opts();
    rk_conn *c = new_conn(&o);
    char *value = rkt_pattern(size, (unsigned)size);
    char key[32];
    snprintf(key, sizeof(key), "tls:big:%zu", size);
    const rk_str set[] = {RK_STR("SET"), rk_bin(key, strlen(key)), rk_bin(value, size)};
    rk_reply r;
    assert_int_equal(rk_conn_call_argv(c, &r, set, 3), RK_OK);
    rk_reply_free(&r);
    assert_int_equal(rk_conn_call(c, &r, "GET %s", key), RK_OK);
    rkt_assert_bytes(&r, value, size);
    rk_reply_free(&r);
    rkt_expect_pong(c);
    free(value);
    rk_conn_free(c);
}

static void test_tls_1mib_value_round_trips(void **state) {
    (void)state;
    check_value_round_trip(MIB);
}

static void test_tls_3mib_value_round_trips(void **state) {
    (void)state;
    check_value_round_trip(3 * MIB + 5);
}

static void test_tls_pipelined_1000_replies_come_in_order(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rk_reply r;
    assert_int_equal(rk_conn_call(c, &r, "DEL tls:counter"), RK_OK);
    rk_reply_free(&r);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rk_conn_append(c, "INCR tls:counter"), RK_OK);
    assert_int_equal(rk_conn_pending(c), 1000);
    for (long long i = 1; i <= 1000; i++) {
        assert_int_equal(rk_conn_read(c, &r), RK_OK);
        assert_int_equal(rk_reply_int(&r), i);
        rk_reply_free(&r);
    }
    assert_int_equal(rk_conn_pending(c), 0);
    rk_conn_free(c);
}

static void test_server_name_option_is_the_name_verified(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.tls.server_name = "localhost"; /* the certificate's DNS name */
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

static void test_tls_over_ipv6_loopback(void **state) {
    (void)state;
    need_servers();
    if (!rkt_have_ipv6_loopback())
        skip();
    rk_options o = tls_opts();
    o.host = "::1"; /* the certificate carries IP:::1 */
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

/* ---- refused servers -------------------------------------------------------- */

static void test_server_signed_by_another_ca_is_etls(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.tls.ca_file = files()->other_ca_cert;
    expect_connect_fails(&o, RK_ETLS);
}

static void test_hostname_mismatch_is_etls(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.tls.server_name = "wrong.example";
    expect_connect_fails(&o, RK_ETLS);
}

/* A TLS server whose certificate names only wrong-name.invalid (signed by
 * the trusted CA), reached at 127.0.0.1. */
static void start_wrong_name_server(rkt_server *srv) {
    rkt_tls_files wrong = *files();
    memcpy(wrong.server_cert, wrong.wrong_name_cert, sizeof(wrong.server_cert));
    memcpy(wrong.server_key, wrong.wrong_name_key, sizeof(wrong.server_key));
    rkt_server_opts so = {.tls = true, .tls_files = &wrong};
    if (rkt_server_start(srv, &so) != 0)
        fail_msg("cannot start the wrong-name TLS server");
}

static void test_certificate_for_another_name_than_the_ip_is_etls(void **state) {
    (void)state;
    need_servers();
    rkt_server wrong;
    start_wrong_name_server(&wrong);
    rk_options o = tls_opts();
    o.port = rkt_server_tls_port(&wrong);
    expect_connect_fails(&o, RK_ETLS);
    o.tls.server_name = "wrong-name.invalid";
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rk_conn_free(c);
    rkt_server_stop(&wrong);
}

/* An empty server name must not turn the name check off: it is refused,
 * where before a certificate for any name was accepted. */
static void test_empty_server_name_is_einval_not_unchecked(void **state) {
    (void)state;
    need_servers();
    rkt_server wrong;
    start_wrong_name_server(&wrong);
    rk_options o = tls_opts();
    o.port = rkt_server_tls_port(&wrong);
    o.tls.server_name = "";
    rk_error_clear();
    rk_conn *c = rk_conn_new(&o);
    if (c != NULL) {
        int rc = rk_conn_connect(c);
        rk_conn_free(c);
        rkt_server_stop(&wrong);
        fail_msg("empty server_name accepted; connect to a wrong-name server: %s", rk_strerror(rc));
    }
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "server_name"));
    assert_null(rk_client_new(&o));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    rkt_server_stop(&wrong);
}

static void test_insecure_connects_to_an_untrusted_server(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.tls.ca_file = files()->other_ca_cert;
    o.tls.server_name = "wrong.example";
    o.tls.insecure = true;
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

static void test_plain_client_on_tls_port_fails_to_connect(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.tls.enabled = false;
    o.connect_timeout_ms = 2000;
    rk_conn *c = new_conn(&o);
    assert_int_not_equal(rk_conn_connect(c), RK_OK);
    assert_false(rk_conn_is_ready(c));
    rk_conn_free(c);
}

/* A plain server does not answer a ClientHello as TLS: the connect fails
 * (within the connect timeout at worst) instead of hanging. */
static void test_tls_client_on_plain_port_fails_to_connect(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.port = rkt_server_port(&g_tls);
    o.connect_timeout_ms = 300;
    rk_conn *c = new_conn(&o);
    int rc = rk_conn_connect(c);
    assert_true(rc == RK_ETLS || rc == RK_ETIMEOUT);
    assert_true(rk_conn_is_broken(c));
    rk_conn_free(c);
}

/* Errors another TLS user left in this thread's OpenSSL queue are not
 * taken for this connection's. */
static void test_stale_openssl_error_does_not_fail_a_connection(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    rk_conn *c = new_conn(&o);
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    rkt_connect_ok(c);
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    assert_int_equal(rk_conn_read_some(c), RK_EAGAIN); /* nothing came: no failure */
    assert_true(rk_conn_is_ready(c));
    ERR_raise(ERR_LIB_SSL, SSL_R_BAD_LENGTH);
    rkt_expect_pong(c);
    rk_conn_free(c);
    ERR_clear_error();
}

static void test_failed_tls_connects_leave_no_descriptor_open(void **state) {
    (void)state;
    need_servers();
    rk_options untrusted = tls_opts(), wrong_name = tls_opts(), plain = tls_opts();
    untrusted.tls.ca_file = files()->other_ca_cert;
    wrong_name.tls.server_name = "wrong.example";
    plain.port = rkt_server_port(&g_tls);
    plain.connect_timeout_ms = 20;
    const rk_options *failing[] = {&untrusted, &wrong_name, &plain};
    int before = rkt_open_fds();
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
            rk_conn *c = new_conn(failing[i]);
            assert_int_not_equal(rk_conn_connect(c), RK_OK);
            rk_conn_free(c);
        }
    }
    assert_int_equal(rkt_open_fds(), before);
}

static void test_tls_handshake_that_never_answers_times_out(void **state) {
    (void)state;
    need_servers();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_tls_port(&g_tls));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_BLACKHOLE, 0);
    rk_options o = tls_opts();
    o.port = rkt_proxy_port(p);
    o.connect_timeout_ms = 300;
    expect_connect_fails(&o, RK_ETIMEOUT);
    rkt_proxy_stop(p);
}

static void test_client_reports_etls_for_an_untrusted_server(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.tls.ca_file = files()->other_ca_cert;
    rk_client *cl = rk_client_new(&o);
    assert_non_null(cl);
    rk_reply r;
    assert_int_equal(rk_client_call(cl, &r, "PING"), RK_ETLS);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_client_free(cl);
}

/* The server's TLS stream stops in the middle of a large reply. */
static void test_tls_server_dying_mid_reply_is_eio(void **state) {
    (void)state;
    need_servers();
    size_t n = MIB;
    char *value = rkt_pattern(n, 11);
    rk_options o = tls_opts();
    rk_conn *c = new_conn(&o);
    rk_reply r;
    assert_int_equal(rk_conn_call(c, &r, "SET tls:cut %b", value, n), RK_OK);
    rk_reply_free(&r);
    rk_conn_free(c);

    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_tls_port(&g_tls));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_CUT, 100000); /* past the handshake */
    o.port = rkt_proxy_port(p);
    c = new_conn(&o);
    rkt_connect_ok(c);
    int rc = rk_conn_call(c, &r, "GET tls:cut");
    if (rc != RK_EIO)
        fail_msg("expected RK_EIO, got %s (%s)", rk_strerror(rc), rk_error_last()->message);
    assert_true(rk_conn_is_broken(c));

    rkt_proxy_set_mode(p, RKT_PROXY_PASS, 0);
    rk_conn_close(c);
    rkt_connect_ok(c);
    assert_int_equal(rk_conn_call(c, &r, "GET tls:cut"), RK_OK);
    rkt_assert_bytes(&r, value, n);
    rk_reply_free(&r);
    rk_conn_free(c);
    rkt_proxy_stop(p);
    free(value);
}

/* ---- mutual TLS ----------------------------------------------------------------- */

static rk_options mtls_opts(void) {
    rk_options o = tls_opts();
    o.port = rkt_server_tls_port(&g_mtls);
    return o;
}

static void test_mutual_tls_with_client_certificate_works(void **state) {
    (void)state;
    need_servers();
    rk_options o = mtls_opts();
    o.tls.cert_file = files()->client_cert;
    o.tls.key_file = files()->client_key;
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

/* With TLS 1.3 the server may refuse only after the client finished its
 * side of the handshake: then the connect, or at the latest the first
 * command, fails. Either way no command gets through. */
static void test_mutual_tls_without_client_certificate_is_refused(void **state) {
    (void)state;
    need_servers();
    rk_options o = mtls_opts();
    o.command_timeout_ms = 5000;
    rk_conn *c = new_conn(&o);
    int rc = rk_conn_connect(c);
    if (rc == RK_OK) {
        rk_reply r;
        rc = rk_conn_call(c, &r, "PING");
        rk_reply_free(&r);
    }
    assert_int_not_equal(rc, RK_OK);
    assert_true(rc == RK_ETLS || rc == RK_EIO);
    assert_true(rk_conn_is_broken(c));
    rk_conn_free(c);
}

/* ---- the name sent and checked, seen by a server of the test's own --------------- */

/* A TLS server on a Unix socket, in a thread, with the test server's
 * certificate (localhost, 127.0.0.1, ::1): it takes one handshake and notes
 * the SNI the client sent. */
typedef struct sni_server {
    int lfd;
    struct sockaddr_un sa;
    SSL_CTX *ctx;
    pthread_t thread;
    bool sent_sni;
    char sni[256];
} sni_server;

static int note_sni(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    sni_server *s = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (name != NULL) {
        s->sent_sni = true;
        snprintf(s->sni, sizeof(s->sni), "%s", name);
    }
    return SSL_TLSEXT_ERR_OK;
}

static void *sni_serve(void *arg) {
    sni_server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    if (fd < 0)
        return NULL;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    SSL *ssl = SSL_new(s->ctx);
    SSL_set_fd(ssl, fd);
    SSL_accept(ssl); /* fails when the client refuses the certificate */
    SSL_free(ssl);
    close(fd);
    return NULL;
}

static void sni_server_start(sni_server *s) {
    memset(s, 0, sizeof(*s));
    s->sa.sun_family = AF_UNIX;
    int n = snprintf(s->sa.sun_path, sizeof(s->sa.sun_path), "%.*s/sni.sock",
                     (int)sizeof(s->sa.sun_path) - 10, files()->dir);
    assert_true(n > 0 && (size_t)n < sizeof(s->sa.sun_path));
    unlink(s->sa.sun_path);
    s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(s->lfd >= 0);
    assert_int_equal(bind(s->lfd, (struct sockaddr *)&s->sa, sizeof(s->sa)), 0);
    assert_int_equal(listen(s->lfd, 1), 0);
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(s->ctx, files()->server_cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(s->ctx, files()->server_key, SSL_FILETYPE_PEM), 1);
    SSL_CTX_set_tlsext_servername_callback(s->ctx, note_sni);
    SSL_CTX_set_tlsext_servername_arg(s->ctx, s);
    assert_int_equal(pthread_create(&s->thread, NULL, sni_serve, s), 0);
}

/* Runs a TLS handshake with the server, checking the certificate against
 * `name`; returns its result once the server is done. */
static int handshake_as(sni_server *s, const char *name) {
    rk_tls_ctx *ctx;
    rk_tls_opts to = {.ca_file = files()->ca_cert};
    assert_int_equal(rk_tls_ctx_new(&to, &ctx), RK_OK);
    rk_transport *t;
    assert_int_equal(rk_net_unix_start(s->sa.sun_path, NULL, &t), RK_OK);
    int rc = rk_net_tls_start(t, ctx, name);
    while (rc == RK_OK || rc == RK_EAGAIN) {
        rc = rk_net_tls_handshake(t);
        if (rc == RK_EAGAIN)
            assert_int_equal(rk_transport_wait(t, rk_transport_want(t), rk_net_deadline(5000)),
                             RK_OK);
        else
            break;
    }
    pthread_join(s->thread, NULL); /* before the close: its last writes need us */
    rk_transport_close(t);
    rk_tls_ctx_free(ctx);
    close(s->lfd);
    SSL_CTX_free(s->ctx);
    unlink(s->sa.sun_path);
    return rc;
}

static void test_sni_is_the_name_but_never_an_ip_address(void **state) {
    (void)state;
    need_servers();
    static const char *const ips[] = {"127.0.0.1", "::1"};
    sni_server s;
    sni_server_start(&s);
    assert_int_equal(handshake_as(&s, "localhost"), RK_OK);
    assert_true(s.sent_sni);
    assert_string_equal(s.sni, "localhost");
    for (size_t i = 0; i < 2; i++) {
        sni_server_start(&s);
        assert_int_equal(handshake_as(&s, ips[i]), RK_OK);
        assert_false(s.sent_sni);
    }
}

/* An IPv6 address with a zone ("fe80::1%eth0", as a URL's
 * [fe80::1%25eth0] gives it) is an address: checked against the
 * certificate's IP addresses, never sent as SNI. */
static void test_ipv6_address_with_zone_is_checked_as_an_address(void **state) {
    (void)state;
    need_servers();
    sni_server s;
    sni_server_start(&s);
    int rc = handshake_as(&s, "::1%lo");
    if (rc != RK_OK)
        fail_msg("handshake as ::1%%lo: %s (%s)", rk_strerror(rc), rk_error_last()->message);
    assert_false(s.sent_sni);
}

/* A fully qualified name's final dot ("cache.example.com.", which
 * resolves as well) is no part of the name: neither in SNI (RFC 6066)
 * nor in the certificate. */
static void test_name_with_a_final_dot_is_the_name(void **state) {
    (void)state;
    need_servers();
    sni_server s;
    sni_server_start(&s);
    int rc = handshake_as(&s, "localhost.");
    if (rc != RK_OK)
        fail_msg("handshake as localhost.: %s (%s)", rk_strerror(rc), rk_error_last()->message);
    assert_true(s.sent_sni);
    assert_string_equal(s.sni, "localhost");
}

/* ---- options --------------------------------------------------------------------- */

static void test_certificate_without_key_is_einval_for_conn(void **state) {
    (void)state;
    need_servers();
    rk_options o = mtls_opts();
    o.tls.cert_file = files()->client_cert;
    assert_null(rk_conn_new(&o));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

static void test_certificate_without_key_is_einval_for_client(void **state) {
    (void)state;
    need_servers();
    rk_options o = mtls_opts();
    o.tls.cert_file = files()->client_cert;
    assert_null(rk_client_new(&o));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

static void test_key_without_certificate_is_einval(void **state) {
    (void)state;
    need_servers();
    rk_options o = mtls_opts();
    o.tls.key_file = files()->client_key;
    assert_null(rk_conn_new(&o));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

static void test_key_not_matching_certificate_fails_at_new(void **state) {
    (void)state;
    need_servers();
    rk_options o = mtls_opts();
    o.tls.cert_file = files()->client_cert;
    o.tls.key_file = files()->server_key;
    assert_null(rk_conn_new(&o));
    assert_int_equal(rk_error_last()->code, RK_ETLS);
}

/* A key encrypted with a passphrase is refused (RK_ETLS, saying why);
 * OpenSSL's default is to ask for the passphrase on the terminal, which
 * a library must never do. rk_conn_new runs in a child whose controlling
 * terminal is a pseudo-terminal we read: it must say nothing there. */
static void test_encrypted_key_is_etls_without_asking_the_terminal(void **state) {
    (void)state;
    need_servers();
    char key[RKT_PATH_MAX + 16], cmd[3 * RKT_PATH_MAX];
    snprintf(key, sizeof(key), "%s/enc.key", files()->dir);
    snprintf(cmd, sizeof(cmd),
             "openssl ec -in '%s' -aes256 -passout pass:s3cr3t -out '%s' 2>/dev/null",
             files()->client_key, key);
    assert_int_equal(system(cmd), 0);
    rk_options o = mtls_opts();
    o.tls.cert_file = files()->client_cert;
    o.tls.key_file = key;
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    assert_true(pid >= 0);
    if (pid == 0) {
        rk_conn *c = rk_conn_new(&o);
        printf("result %d: %s\n", c ? RK_OK : rk_error_last()->code,
               c ? "" : rk_error_last()->message);
        fflush(stdout);
        _exit(0);
    }
    char out[2048] = "";
    size_t len = 0;
    while (len < sizeof(out) - 1 && !strstr(out, "\n") && !strstr(out, "pass phrase")) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t r = read(master, out + len, sizeof(out) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        out[len] = '\0';
    }
    out[len] = '\0';
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(master);
    if (strstr(out, "pass phrase") != NULL)
        fail_msg("rk_conn_new asked the terminal: %s", out);
    char want[32];
    snprintf(want, sizeof(want), "result %d: ", RK_ETLS);
    if (strstr(out, want) == NULL || strstr(out, key) == NULL)
        fail_msg("expected RK_ETLS naming the key, got: %s", out);
}

/* ---- the client and URLs --------------------------------------------------------- */

static void test_rediss_url_with_ssl_ca_certs_works(void **state) {
    (void)state;
    need_servers();
    char url[1024];
    snprintf(url, sizeof(url), "rediss://127.0.0.1:%d/0?ssl_ca_certs=%s",
             rkt_server_tls_port(&g_tls), files()->ca_cert);
    rk_client *cl = rk_client_new_url(url, NULL);
    if (cl == NULL)
        fail_msg("rk_client_new_url: %s", rk_error_last()->message);
    rk_reply r;
    assert_int_equal(rk_client_call(cl, &r, "SET tls:url %s", "yes"), RK_OK);
    rk_reply_free(&r);
    assert_int_equal(rk_client_call(cl, &r, "GET tls:url"), RK_OK);
    rkt_assert_bytes(&r, "yes", 3);
    rk_reply_free(&r);
    rk_client_free(cl);
}

static void test_rediss_url_with_client_certificate_for_mutual_tls(void **state) {
    (void)state;
    need_servers();
    char url[2048];
    snprintf(
        url, sizeof(url), "rediss://127.0.0.1:%d?ssl_ca_certs=%s&ssl_certfile=%s&ssl_keyfile=%s",
        rkt_server_tls_port(&g_mtls), files()->ca_cert, files()->client_cert, files()->client_key);
    rk_client *cl = rk_client_new_url(url, NULL);
    if (cl == NULL)
        fail_msg("rk_client_new_url: %s", rk_error_last()->message);
    rk_reply r;
    assert_int_equal(rk_client_call(cl, &r, "PING"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    rk_client_free(cl);
}

static void test_client_connections_share_tls_settings(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    o.pool_size = 4;
    rk_client *cl = rk_client_new(&o);
    assert_non_null(cl);
    rk_conn *conns[3];
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rk_client_acquire(cl, &conns[i]), RK_OK);
        rkt_expect_pong(conns[i]);
    }
    for (int i = 0; i < 3; i++)
        rk_client_release(cl, conns[i]);
    rk_pool_stats st;
    rk_client_pool_stats(cl, &st);
    assert_int_equal(st.created, 3);
    assert_int_equal(st.idle, 3);
    rk_client_free(cl);
}

/* ---- non-blocking ------------------------------------------------------------------ */

static void test_nonblocking_connect_and_command_over_tls(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    rk_conn *c = new_conn(&o);
    int rc = rk_conn_start(c);
    while (rc == RK_EAGAIN) {
        rkt_wait_conn(c);
        rc = rk_conn_step(c);
    }
    if (rc != RK_OK)
        fail_msg("non-blocking connect: %s (%s)", rk_strerror(rc), rk_error_last()->message);
    assert_true(rk_conn_is_ready(c));

    size_t n = MIB;
    char *value = rkt_pattern(n, 9);
    const rk_str set[] = {RK_STR("SET"), RK_STR("tls:nb"), rk_bin(value, n)};
    assert_int_equal(rk_conn_append_argv(c, set, 3), RK_OK);
    assert_int_equal(rk_conn_append(c, "GET tls:nb"), RK_OK);
    rk_reply replies[2];
    int got = 0;
    while (got < 2) {
        rc = rk_conn_next(c, &replies[got], false);
        if (rc == 1) {
            got++;
            continue;
        }
        assert_int_equal(rc, 0);
        rc = rk_conn_write_some(c);
        assert_true(rc == RK_OK || rc == RK_EAGAIN);
        rc = rk_conn_read_some(c); /* until it would block: TLS may buffer */
        if (rc == RK_EAGAIN)
            rkt_wait_conn(c);
        else
            assert_int_equal(rc, RK_OK);
    }
    assert_int_equal(rk_reply_type(&replies[0]), RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(&replies[0]), "OK");
    rkt_assert_bytes(&replies[1], value, n);
    rk_reply_free(&replies[0]);
    rk_reply_free(&replies[1]);
    assert_int_equal(rk_conn_pending(c), 0);
    free(value);
    rk_conn_free(c);
}

/* An event loop reads once per readiness. The tail of a large bulk is read
 * straight into its reply, into a space smaller than a TLS record; the
 * rest of that record (here PING's reply) must not stay hidden inside
 * OpenSSL, where poll() cannot see it. */
static void test_one_read_per_readiness_gets_every_reply_over_tls(void **state) {
    (void)state;
    need_servers();
    rk_options o = tls_opts();
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    size_t n = 100001;
    char *value = rkt_pattern(n, 5);
    rk_reply r;
    assert_int_equal(rk_conn_call(c, &r, "SET tls:tail %b", value, n), RK_OK);
    rk_reply_free(&r);
    assert_int_equal(rk_conn_append(c, "GET tls:tail"), RK_OK);
    assert_int_equal(rk_conn_append(c, "PING"), RK_OK);
    assert_int_equal(rk_conn_flush(c), RK_OK);
    rk_reply replies[2];
    int got = 0;
    while (got < 2) {
        int rc = rk_conn_next(c, &replies[got], false);
        if (rc == 1) {
            got++;
            continue;
        }
        assert_int_equal(rc, 0);
        struct pollfd p = {.fd = rk_conn_fd(c), .events = POLLIN};
        if (poll(&p, 1, 5000) != 1)
            fail_msg("no readiness after %d of 2 replies: bytes are stuck", got);
        rc = rk_conn_read_some(c);
        assert_true(rc == RK_OK || rc == RK_EAGAIN);
    }
    rkt_assert_bytes(&replies[0], value, n);
    assert_string_equal(rk_reply_str(&replies[1]), "PONG");
    rk_reply_free(&replies[0]);
    rk_reply_free(&replies[1]);
    free(value);
    rk_conn_free(c);
}

/* ---- main ---------------------------------------------------------------------------- */

static int group_setup(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", "openssl", NULL))
        return 0; /* every test skips */
    rkt_server_opts tls = {.tls = true};
    if (rkt_server_start(&g_tls, &tls) != 0)
        return -1;
    rkt_server_opts mtls = {.tls = true, .tls_auth_clients = true, .tls_files = files()};
    if (rkt_server_start(&g_mtls, &mtls) != 0)
        return -1;
    g_up = true;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    rkt_server_stop(&g_mtls);
    rkt_server_stop(&g_tls);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verified_tls_connection_answers_ping),
        cmocka_unit_test(test_tls_1mib_value_round_trips),
        cmocka_unit_test(test_tls_3mib_value_round_trips),
        cmocka_unit_test(test_tls_pipelined_1000_replies_come_in_order),
        cmocka_unit_test(test_server_name_option_is_the_name_verified),
        cmocka_unit_test(test_tls_over_ipv6_loopback),
        cmocka_unit_test(test_server_signed_by_another_ca_is_etls),
        cmocka_unit_test(test_hostname_mismatch_is_etls),
        cmocka_unit_test(test_certificate_for_another_name_than_the_ip_is_etls),
        cmocka_unit_test(test_empty_server_name_is_einval_not_unchecked),
        cmocka_unit_test(test_insecure_connects_to_an_untrusted_server),
        cmocka_unit_test(test_sni_is_the_name_but_never_an_ip_address),
        cmocka_unit_test(test_ipv6_address_with_zone_is_checked_as_an_address),
        cmocka_unit_test(test_name_with_a_final_dot_is_the_name),
        cmocka_unit_test(test_plain_client_on_tls_port_fails_to_connect),
        cmocka_unit_test(test_tls_client_on_plain_port_fails_to_connect),
        cmocka_unit_test(test_stale_openssl_error_does_not_fail_a_connection),
        cmocka_unit_test(test_failed_tls_connects_leave_no_descriptor_open),
        cmocka_unit_test(test_tls_handshake_that_never_answers_times_out),
        cmocka_unit_test(test_client_reports_etls_for_an_untrusted_server),
        cmocka_unit_test(test_tls_server_dying_mid_reply_is_eio),
        cmocka_unit_test(test_mutual_tls_with_client_certificate_works),
        cmocka_unit_test(test_mutual_tls_without_client_certificate_is_refused),
        cmocka_unit_test(test_certificate_without_key_is_einval_for_conn),
        cmocka_unit_test(test_certificate_without_key_is_einval_for_client),
        cmocka_unit_test(test_key_without_certificate_is_einval),
        cmocka_unit_test(test_key_not_matching_certificate_fails_at_new),
        cmocka_unit_test(test_encrypted_key_is_etls_without_asking_the_terminal),
        cmocka_unit_test(test_rediss_url_with_ssl_ca_certs_works),
        cmocka_unit_test(test_rediss_url_with_client_certificate_for_mutual_tls),
        cmocka_unit_test(test_client_connections_share_tls_settings),
        cmocka_unit_test(test_nonblocking_connect_and_command_over_tls),
        cmocka_unit_test(test_one_read_per_readiness_gets_every_reply_over_tls),
    };
    return cmocka_run_group_tests_name("tls", tests, group_setup, group_teardown);
}
