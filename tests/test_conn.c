/* Integration tests of rk_conn against real redis-server processes: the
 * three transports (TCP over 127.0.0.1 and ::1, Unix sockets), large and
 * binary values, pipelining, the handshake (HELLO, SELECT, SETNAME,
 * SETINFO, the fallback for servers without HELLO), authentication, RESP3
 * pushes, failures (refused, unresolvable, timeouts, a server dying
 * mid-reply, restarts), non-blocking driving and reader limits.
 * Needs redis-server; skips without it. TLS is in test_tls.c. */
#define _GNU_SOURCE

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "rkt_check.h"
#include "rkt_fakeserver.h"
#include "rkt_proxy.h"
#include "rkt_server.h"

#define MIB (1024u * 1024u)
#define ALICE "user alice on >alice-pw ~* &* +@all"

/* Servers shared by the group: a plain one (TCP + Unix socket) and one
 * that requires a password and knows the ACL user alice. */
static rkt_server g_plain;
static rkt_server g_auth;
static bool g_up;

/* ---- helpers ------------------------------------------------------------ */

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void need_servers(void) {
    if (!g_up)
        skip();
}

static rk_options plain_tcp(void) {
    return (rk_options){.host = "127.0.0.1", .port = rkt_server_port(&g_plain)};
}

static rk_options auth_tcp(void) {
    return (rk_options){.host = "127.0.0.1", .port = rkt_server_port(&g_auth)};
}

static rk_conn *new_conn(const rk_options *o) {
    rk_conn *c = rk_conn_new(o);
    if (c == NULL)
        fail_msg("rk_conn_new: %s", rk_error_last()->message);
    return c;
}

/* An integer socket option of the connection's socket. */
static int sockopt(const rk_conn *c, int level, int name) {
    int v = -1;
    socklen_t n = sizeof(v);
    assert_int_equal(getsockopt(rk_conn_fd(c), level, name, &v, &n), 0);
    return v;
}

/* Connects with rk_conn_start/step and poll() only. */
static void drive_connect(rk_conn *c) {
    int rc = rk_conn_start(c);
    while (rc == RK_EAGAIN) {
        rkt_wait_conn(c);
        rc = rk_conn_step(c);
    }
    if (rc != RK_OK)
        fail_msg("non-blocking connect: %s (%s)", rk_strerror(rc), rk_error_last()->message);
    assert_true(rk_conn_is_ready(c));
}

/* Sends what is queued and takes the next reply, with write_some,
 * read_some, next and poll() only. */
static void drive_reply(rk_conn *c, rk_reply *out) {
    for (;;) {
        int rc = rk_conn_next(c, out, false);
        if (rc == 1)
            return;
        assert_int_equal(rc, 0);
        rc = rk_conn_write_some(c);
        assert_true(rc == RK_OK || rc == RK_EAGAIN);
        rc = rk_conn_read_some(c);
        if (rc == RK_EAGAIN)
            rkt_wait_conn(c);
        else
            assert_int_equal(rc, RK_OK);
    }
}

/* ---- one transport: 127.0.0.1, ::1 or a Unix socket ---------------------- */

static rk_options transport_opts(const char *kind) {
    need_servers();
    rk_options o = plain_tcp();
    if (strcmp(kind, "ipv6") == 0) {
        if (!rkt_have_ipv6_loopback())
            skip();
        o.host = "::1";
    } else if (strcmp(kind, "unix") == 0) {
        o.host = NULL;
        o.port = 0;
        o.unix_path = rkt_server_unix_path(&g_plain);
    }
    return o;
}

static void set_get_round_trip(const char *kind) {
    rk_options o = transport_opts(kind);
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_true(rk_conn_is_ready(c));
    rk_reply r = rkt_call_ok(c, "SET %s:greeting hello", kind);
    rkt_assert_text(&r, RK_REPLY_STATUS, "OK");
    rk_reply_free(&r);
    r = rkt_call_ok(c, "GET %s:greeting", kind);
    rkt_assert_bytes(&r, "hello", 5);
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void binary_value_round_trip(const char *kind) {
    rk_options o = transport_opts(kind);
    rk_conn *c = new_conn(&o);
    static const char value[] = "a\0b\r\n\0\xff\x00z";
    rk_reply r = rkt_call_ok(c, "SET %s:bin %b", kind, value, sizeof(value));
    rk_reply_free(&r);
    r = rkt_call_ok(c, "GET %s:bin", kind);
    rkt_assert_bytes(&r, value, sizeof(value));
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void large_value_round_trip(const char *kind, size_t size) {
    rk_options o = transport_opts(kind);
    rk_conn *c = new_conn(&o);
    char *value = rkt_pattern(size, (unsigned)size);
    char key[64];
    snprintf(key, sizeof(key), "%s:big:%zu", kind, size);
    rk_reply r;
    const rk_str set[] = {RK_STR("SET"), rk_bin(key, strlen(key)), rk_bin(value, size)};
    assert_int_equal(rk_conn_call_argv(c, &r, set, 3), RK_OK);
    rk_reply_free(&r);
    r = rkt_call_ok(c, "GET %s", key);
    rkt_assert_bytes(&r, value, size);
    rk_reply_free(&r);
    /* The connection is in step afterwards: the next reply is its own. */
    rkt_expect_pong(c);
    free(value);
    rk_conn_free(c);
}

static void pipeline_replies_in_order(const char *kind) {
    rk_options o = transport_opts(kind);
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    char key[64];
    snprintf(key, sizeof(key), "%s:counter", kind);
    rk_reply r = rkt_call_ok(c, "DEL %s", key);
    rk_reply_free(&r);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(rk_conn_append_args(c, "INCR", key, NULL), RK_OK);
    for (long long i = 1; i <= 1000; i++) {
        assert_int_equal(rk_conn_read(c, &r), RK_OK);
        assert_int_equal(rk_reply_type(&r), RK_REPLY_INTEGER);
        assert_int_equal(rk_reply_int(&r), i);
        rk_reply_free(&r);
    }
    assert_int_equal(rk_conn_pending(c), 0);
    rk_conn_free(c);
}

static void pending_counts(const char *kind) {
    rk_options o = transport_opts(kind);
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(rk_conn_pending(c), 0);
    assert_int_equal(rk_conn_append(c, "PING"), RK_OK);
    assert_int_equal(rk_conn_append(c, "ECHO two"), RK_OK);
    assert_int_equal(rk_conn_append(c, "ECHO three"), RK_OK);
    assert_int_equal(rk_conn_pending(c), 3);
    assert_int_equal(rk_conn_flush(c), RK_OK);
    assert_int_equal(rk_conn_pending(c), 3);
    rk_reply r;
    assert_int_equal(rk_conn_read(c, &r), RK_OK);
    rkt_assert_text(&r, RK_REPLY_STATUS, "PONG");
    rk_reply_free(&r);
    assert_int_equal(rk_conn_pending(c), 2);
    assert_int_equal(rk_conn_read(c, &r), RK_OK);
    rkt_assert_bytes(&r, "two", 3);
    rk_reply_free(&r);
    assert_int_equal(rk_conn_read(c, &r), RK_OK);
    rkt_assert_bytes(&r, "three", 5);
    rk_reply_free(&r);
    assert_int_equal(rk_conn_pending(c), 0);
    /* Nothing more is expected: reading is a misuse, not a hang. */
    assert_int_equal(rk_conn_read(c, &r), RK_EINVAL);
    rk_conn_free(c);
}

#define TRANSPORT_TESTS(kind)                                                                      \
    static void test_##kind##_connect_set_get(void **state) {                                      \
        (void)state;                                                                               \
        set_get_round_trip(#kind);                                                                 \
    }                                                                                              \
    static void test_##kind##_binary_value_with_nul_bytes_round_trips(void **state) {              \
        (void)state;                                                                               \
        binary_value_round_trip(#kind);                                                            \
    }                                                                                              \
    static void test_##kind##_1mib_value_round_trips(void **state) {                               \
        (void)state;                                                                               \
        large_value_round_trip(#kind, MIB);                                                        \
    }                                                                                              \
    static void test_##kind##_3mib_value_round_trips(void **state) {                               \
        (void)state;                                                                               \
        large_value_round_trip(#kind, 3 * MIB + 7);                                                \
    }                                                                                              \
    static void test_##kind##_pipelined_1000_replies_come_in_order(void **state) {                 \
        (void)state;                                                                               \
        pipeline_replies_in_order(#kind);                                                          \
    }                                                                                              \
    static void test_##kind##_pending_counts_unread_replies(void **state) {                        \
        (void)state;                                                                               \
        pending_counts(#kind);                                                                     \
    }

TRANSPORT_TESTS(ipv4)
TRANSPORT_TESTS(ipv6)
TRANSPORT_TESTS(unix)

#define TRANSPORT_TEST_LIST(kind)                                                                  \
    cmocka_unit_test(test_##kind##_connect_set_get),                                               \
        cmocka_unit_test(test_##kind##_binary_value_with_nul_bytes_round_trips),                   \
        cmocka_unit_test(test_##kind##_1mib_value_round_trips),                                    \
        cmocka_unit_test(test_##kind##_3mib_value_round_trips),                                    \
        cmocka_unit_test(test_##kind##_pipelined_1000_replies_come_in_order),                      \
        cmocka_unit_test(test_##kind##_pending_counts_unread_replies)

/* ---- connecting on demand ------------------------------------------------ */

static void test_call_connects_first_when_not_connected(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    rk_conn *c = new_conn(&o);
    assert_false(rk_conn_is_ready(c));
    assert_int_equal(rk_conn_protocol(c), 0);
    rkt_expect_pong(c);
    assert_true(rk_conn_is_ready(c));
    rk_conn_free(c);
}

static void test_commands_appended_before_connect_are_sent_after_handshake(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    rk_conn *c = new_conn(&o);
    assert_int_equal(rk_conn_append(c, "SET early:key %s", "v1"), RK_OK);
    assert_int_equal(rk_conn_append(c, "GET early:key"), RK_OK);
    assert_int_equal(rk_conn_pending(c), 2);
    rk_reply r;
    assert_int_equal(rk_conn_read(c, &r), RK_OK);
    rkt_assert_text(&r, RK_REPLY_STATUS, "OK");
    rk_reply_free(&r);
    assert_int_equal(rk_conn_read(c, &r), RK_OK);
    rkt_assert_bytes(&r, "v1", 2);
    rk_reply_free(&r);
    assert_int_equal(rk_conn_pending(c), 0);
    rk_conn_free(c);
}

static void test_connect_on_a_ready_connection_keeps_it(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rk_reply r = rkt_call_ok(c, "CLIENT ID");
    long long id = rk_reply_int(&r);
    rk_reply_free(&r);
    rkt_connect_ok(c);
    r = rkt_call_ok(c, "CLIENT ID");
    assert_int_equal(rk_reply_int(&r), id);
    rk_reply_free(&r);
    rk_conn_free(c);
}

/* ---- handshake ----------------------------------------------------------- */

static void test_protocol_3_is_the_default_and_hgetall_is_a_map(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(rk_conn_protocol(c), 3);
    rk_reply r = rkt_call_ok(c, "DEL hs:resp3");
    rk_reply_free(&r);
    r = rkt_call_ok(c, "HSET hs:resp3 a 1 b 2");
    rk_reply_free(&r);
    r = rkt_call_ok(c, "HGETALL hs:resp3");
    assert_int_equal(rk_reply_type(&r), RK_REPLY_MAP);
    assert_int_equal(rk_reply_len(&r), 2);
    rkt_assert_bytes(rk_reply_map_get(&r, "a"), "1", 1);
    rkt_assert_bytes(rk_reply_map_get(&r, "b"), "2", 1);
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void test_protocol_2_when_asked_and_hgetall_is_an_array(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    o.protocol = 2;
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(rk_conn_protocol(c), 2);
    rk_reply r = rkt_call_ok(c, "DEL hs:resp2");
    rk_reply_free(&r);
    r = rkt_call_ok(c, "HSET hs:resp2 a 1 b 2");
    rk_reply_free(&r);
    r = rkt_call_ok(c, "HGETALL hs:resp2");
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY);
    assert_int_equal(rk_reply_len(&r), 4);
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void test_db_option_selects_the_database(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    o.db = 2;
    rk_conn *db2 = new_conn(&o);
    rk_reply r = rkt_call_ok(db2, "CLIENT INFO");
    assert_non_null(strstr(rk_reply_str(&r), " db=2 "));
    rk_reply_free(&r);
    r = rkt_call_ok(db2, "SET only:in:db2 yes");
    rk_reply_free(&r);

    rk_options o0 = plain_tcp();
    rk_conn *db0 = new_conn(&o0);
    r = rkt_call_ok(db0, "EXISTS only:in:db2");
    assert_int_equal(rk_reply_int(&r), 0);
    rk_reply_free(&r);
    r = rkt_call_ok(db2, "EXISTS only:in:db2");
    assert_int_equal(rk_reply_int(&r), 1);
    rk_reply_free(&r);
    rk_conn_free(db0);
    rk_conn_free(db2);
}

static void test_client_name_is_set_on_connect(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    o.client_name = "conn-test-name";
    rk_conn *c = new_conn(&o);
    rk_reply r = rkt_call_ok(c, "CLIENT GETNAME");
    rkt_assert_bytes(&r, "conn-test-name", 14);
    rk_reply_free(&r);
    rk_conn_free(c);
}

/* Redis before 7.2 answers CLIENT SETINFO with an error; the connect must
 * not fail for it. A server that knows it shows the library's name. */
static void test_client_setinfo_error_does_not_fail_connect(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_true(rk_conn_is_ready(c));
    rk_reply r = rkt_call_ok(c, "CLIENT INFO");
    const char *lib = strstr(rk_reply_str(&r), "lib-name=");
    if (lib != NULL)
        assert_memory_equal(lib, "lib-name=rediskit ", 18);
    rk_reply_free(&r);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

static void test_client_setinfo_sends_library_name_and_version(void **state) {
    (void)state;
    rkt_fake *f = rkt_fake_start(NULL, 0, NULL);
    assert_non_null(f);
    rk_conn *c = new_conn(&(rk_options){.host = "127.0.0.1", .port = rkt_fake_port(f)});
    rkt_connect_ok(c);
    rk_conn_free(c);
    rkt_fake_stop(f);
    assert_int_equal(rkt_fake_commands(f), 3);
    assert_string_equal(rkt_fake_command(f, 0), "HELLO 3");
    assert_string_equal(rkt_fake_command(f, 1), "CLIENT SETINFO LIB-NAME rediskit");
    char ver[64];
    snprintf(ver, sizeof(ver), "CLIENT SETINFO LIB-VER %s", RK_VERSION_STRING);
    assert_string_equal(rkt_fake_command(f, 2), ver);
    rkt_fake_free(f);
}

/* A server answers HELLO with `hello_error`; the client must fall back to
 * RESP2 and a second round of AUTH, CLIENT SETNAME and SELECT. */
static void check_hello_fallback(const char *hello_error) {
    static const char *const hello[] = {"HELLO", "3", "AUTH", "bob", "pw", "SETNAME", "nm", NULL};
    static const char *const get[] = {"GET", "k", NULL};
    rkt_fake_step steps[] = {{.expect = hello, .reply = hello_error},
                             {.expect = get, .reply = "$1\r\nv\r\n"}};
    rkt_fake *f = rkt_fake_start(steps, 2, NULL);
    assert_non_null(f);
    rk_options o = {.host = "127.0.0.1",
                    .port = rkt_fake_port(f),
                    .username = "bob",
                    .password = "pw",
                    .client_name = "nm",
                    .db = 3};
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(rk_conn_protocol(c), 2);
    rk_reply r = rkt_call_ok(c, "GET k");
    rkt_assert_bytes(&r, "v", 1);
    rk_reply_free(&r);
    rk_conn_free(c);
    rkt_fake_stop(f);
    assert_null(rkt_fake_error(f));
    /* Round 1: HELLO, SELECT, 2 x SETINFO; round 2: AUTH, SETNAME, SELECT. */
    size_t n = rkt_fake_commands(f);
    assert_int_equal(n, 8);
    assert_string_equal(rkt_fake_command(f, 0), "HELLO 3 AUTH bob pw SETNAME nm");
    assert_string_equal(rkt_fake_command(f, n - 4), "AUTH bob pw");
    assert_string_equal(rkt_fake_command(f, n - 3), "CLIENT SETNAME nm");
    assert_string_equal(rkt_fake_command(f, n - 2), "SELECT 3");
    assert_string_equal(rkt_fake_command(f, n - 1), "GET k");
    rkt_fake_free(f);
}

static void test_server_without_hello_gets_auth_setname_select_on_resp2(void **state) {
    (void)state;
    check_hello_fallback("-ERR unknown command 'HELLO', with args beginning with: '3' \r\n");
}

static void test_noproto_answer_to_hello_falls_back_to_resp2(void **state) {
    (void)state;
    check_hello_fallback("-NOPROTO sorry, this protocol version is not supported.\r\n");
}

static void test_refused_select_fails_connect_with_eserver(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    o.db = 1000; /* the server has 16 databases */
    rk_conn *c = new_conn(&o);
    assert_int_equal(rk_conn_connect(c), RK_ESERVER);
    assert_false(rk_conn_is_ready(c));
    rk_conn_free(c);
}

/* ---- authentication -------------------------------------------------------- */

static void test_right_password_authenticates(void **state) {
    (void)state;
    need_servers();
    rk_options o = auth_tcp();
    o.password = "s3cret";
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

static void test_wrong_password_is_eauth_with_message(void **state) {
    (void)state;
    need_servers();
    rk_options o = auth_tcp();
    o.password = "wrong";
    rk_conn *c = new_conn(&o);
    assert_int_equal(rk_conn_connect(c), RK_EAUTH);
    assert_int_equal(rk_error_last()->code, RK_EAUTH);
    assert_non_null(strstr(rk_error_last()->message, "WRONGPASS"));
    assert_false(rk_conn_is_ready(c));
    rk_conn_free(c);
}

/* HELLO itself needs no authentication, so the refusal may come at the
 * connect or at the first command: either way the call says RK_EAUTH. */
static void test_missing_password_is_eauth_noauth(void **state) {
    (void)state;
    need_servers();
    rk_options o = auth_tcp();
    rk_conn *c = new_conn(&o);
    rk_reply r;
    assert_int_equal(rk_conn_call(c, &r, "GET k"), RK_EAUTH);
    assert_string_equal(rk_error_last()->prefix, "NOAUTH");
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void test_acl_user_with_right_password_authenticates(void **state) {
    (void)state;
    need_servers();
    rk_options o = auth_tcp();
    o.username = "alice";
    o.password = "alice-pw";
    rk_conn *c = new_conn(&o);
    rk_reply r = rkt_call_ok(c, "ACL WHOAMI");
    rkt_assert_bytes(&r, "alice", 5);
    rk_reply_free(&r);
    rk_conn_free(c);
}

static void test_unknown_acl_user_is_eauth(void **state) {
    (void)state;
    need_servers();
    rk_options o = auth_tcp();
    o.username = "mallory";
    o.password = "alice-pw";
    rk_conn *c = new_conn(&o);
    assert_int_equal(rk_conn_connect(c), RK_EAUTH);
    assert_false(rk_conn_is_ready(c));
    rk_conn_free(c);
}

typedef struct creds {
    int calls;
    int result;
} creds;

static int give_alice(void *userdata, char *user, size_t user_size, char *password,
                      size_t password_size) {
    creds *cr = userdata;
    cr->calls++;
    snprintf(user, user_size, "alice");
    snprintf(password, password_size, "alice-pw");
    return cr->result;
}

static void test_credentials_callback_is_called_at_every_connect(void **state) {
    (void)state;
    need_servers();
    creds cr = {0, 0};
    rk_options o = auth_tcp();
    o.username = "nobody"; /* the callback wins over these */
    o.password = "nothing";
    o.credentials = give_alice;
    o.credentials_userdata = &cr;
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(cr.calls, 1);
    rk_reply r = rkt_call_ok(c, "ACL WHOAMI");
    rkt_assert_bytes(&r, "alice", 5);
    rk_reply_free(&r);
    rk_conn_close(c);
    rkt_connect_ok(c);
    assert_int_equal(cr.calls, 2);
    rkt_expect_pong(c);
    rk_conn_free(c);
}

static void test_credentials_callback_failure_is_eauth(void **state) {
    (void)state;
    need_servers();
    creds cr = {0, -1};
    rk_options o = auth_tcp();
    o.credentials = give_alice;
    o.credentials_userdata = &cr;
    rk_conn *c = new_conn(&o);
    assert_int_equal(rk_conn_connect(c), RK_EAUTH);
    assert_int_equal(cr.calls, 1);
    assert_false(rk_conn_is_ready(c));
    rk_conn_free(c);
}

/* ---- pushes -------------------------------------------------------------------- */

typedef struct push_log {
    int count;
    int other_type;
    char kind[32];
    char key[64];
} push_log;

static void record_push(void *userdata, const rk_reply *push) {
    push_log *log = userdata;
    log->count++;
    if (rk_reply_type(push) != RK_REPLY_PUSH) {
        log->other_type++;
        return;
    }
    const rk_reply *kind = rk_reply_at(push, 0);
    const rk_reply *keys = rk_reply_at(push, 1);
    if (kind && rk_reply_str(kind))
        snprintf(log->kind, sizeof(log->kind), "%s", rk_reply_str(kind));
    if (keys && rk_reply_at(keys, 0) && rk_reply_str(rk_reply_at(keys, 0)))
        snprintf(log->key, sizeof(log->key), "%s", rk_reply_str(rk_reply_at(keys, 0)));
}

static void test_tracking_invalidation_goes_to_on_push_not_to_the_caller(void **state) {
    (void)state;
    need_servers();
    push_log log = {0};
    rk_options o = plain_tcp();
    o.on_push = record_push;
    o.push_userdata = &log;
    rk_conn *c = new_conn(&o);
    rk_reply r = rkt_call_ok(c, "SET tracked:k before");
    rk_reply_free(&r);
    r = rkt_call_ok(c, "CLIENT TRACKING ON");
    rk_reply_free(&r);
    r = rkt_call_ok(c, "GET tracked:k");
    rkt_assert_bytes(&r, "before", 6);
    rk_reply_free(&r);
    assert_int_equal(log.count, 0);

    /* Another connection changes the key: the server queues the
     * invalidation for c before it answers this SET. */
    char *raw = rkt_server_cmd(&g_plain, "SET", "tracked:k", "after", NULL);
    assert_non_null(raw);
    assert_string_equal(raw, "+OK\r\n");
    free(raw);

    r = rkt_call_ok(c, "ECHO mine");
    rkt_assert_bytes(&r, "mine", 4);
    rk_reply_free(&r);
    assert_int_equal(log.count, 1);
    assert_int_equal(log.other_type, 0);
    assert_string_equal(log.kind, "invalidate");
    assert_string_equal(log.key, "tracked:k");
    rk_conn_free(c);
}

/* ---- failures -------------------------------------------------------------------- */

static void test_refused_port_is_econnect(void **state) {
    (void)state;
    int port = rkt_free_port();
    assert_true(port > 0);
    rk_conn *c = new_conn(&(rk_options){.host = "127.0.0.1", .port = port});
    assert_int_equal(rk_conn_connect(c), RK_ECONNECT);
    assert_true(rk_conn_is_broken(c));
    rk_conn_free(c);
}

static void test_missing_unix_socket_is_econnect(void **state) {
    (void)state;
    rk_conn *c = new_conn(&(rk_options){.unix_path = "/nonexistent-dir/redis.sock"});
    assert_int_equal(rk_conn_connect(c), RK_ECONNECT);
    assert_non_null(strstr(rk_error_last()->message, "/nonexistent-dir/redis.sock"));
    rk_conn_free(c);
}

static void test_unknown_host_is_eresolve(void **state) {
    (void)state;
    rk_conn *c = new_conn(&(rk_options){.host = "no-such-host.invalid", .port = 6379});
    assert_int_equal(rk_conn_connect(c), RK_ERESOLVE);
    assert_non_null(strstr(rk_error_last()->message, "no-such-host.invalid"));
    rk_conn_free(c);
}

static void test_connect_to_unresponsive_listener_times_out(void **state) {
    (void)state;
    rkt_blackhole *b = rkt_blackhole_start();
    assert_non_null(b);
    rk_conn *c = new_conn(&(rk_options){
        .host = "127.0.0.1", .port = rkt_blackhole_port(b), .connect_timeout_ms = 300});
    long long t0 = now_ms();
    assert_int_equal(rk_conn_connect(c), RK_ETIMEOUT);
    long long took = now_ms() - t0;
    assert_true(took >= 250);
    assert_true(took < 10000);
    assert_true(rk_conn_is_broken(c));
    rk_conn_free(c);
    rkt_blackhole_stop(b);
}

/* Every way a connect can fail closes what it opened. */
static void test_failed_connects_leave_no_descriptor_open(void **state) {
    (void)state;
    char long_path[200];
    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    rkt_blackhole *b = rkt_blackhole_start();
    assert_non_null(b);
    const rk_options failing[] = {
        {.host = "127.0.0.1", .port = rkt_free_port()},
        {.unix_path = "/nonexistent-dir/redis.sock"},
        {.unix_path = long_path},
        {.host = "no-such-host.invalid"},
        {.host = "127.0.0.1", .port = rkt_blackhole_port(b), .connect_timeout_ms = 20},
    };
    int before = rkt_open_fds();
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(failing) / sizeof(failing[0]); i++) {
            rk_conn *c = new_conn(&failing[i]);
            assert_int_not_equal(rk_conn_connect(c), RK_OK);
            rk_conn_free(c);
        }
    }
    assert_int_equal(rkt_open_fds(), before);
    rkt_blackhole_stop(b);
}

static void test_handshake_that_never_answers_times_out(void **state) {
    (void)state;
    need_servers();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&g_plain));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_BLACKHOLE, 0);
    rk_conn *c = new_conn(
        &(rk_options){.host = "127.0.0.1", .port = rkt_proxy_port(p), .connect_timeout_ms = 300});
    long long t0 = now_ms();
    assert_int_equal(rk_conn_connect(c), RK_ETIMEOUT);
    assert_true(now_ms() - t0 < 10000);
    assert_true(rk_conn_is_broken(c));
    rk_conn_free(c);
    rkt_proxy_stop(p);
}

static void test_command_timeout_is_etimeout_and_breaks_connection(void **state) {
    (void)state;
    need_servers();
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    rk_conn *c = new_conn(&(rk_options){
        .host = "127.0.0.1", .port = rkt_server_port(&srv), .command_timeout_ms = 300});
    rkt_expect_pong(c);
    rkt_server_freeze(&srv);
    rk_reply r;
    long long t0 = now_ms();
    int rc = rk_conn_call(c, &r, "GET k");
    long long took = now_ms() - t0;
    rkt_server_thaw(&srv);
    assert_int_equal(rc, RK_ETIMEOUT);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_true(took >= 250);
    assert_true(took < 10000);
    assert_true(rk_conn_is_broken(c));
    assert_false(rk_conn_is_ready(c));
    rk_conn_free(c);
    rkt_server_stop(&srv);
}

static void test_set_timeout_applies_to_later_calls(void **state) {
    (void)state;
    need_servers();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&g_plain));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_DELAY, 400);
    rk_conn *c = new_conn(&(rk_options){.host = "127.0.0.1", .port = rkt_proxy_port(p)});
    rkt_expect_pong(c); /* no timeout: the delayed reply comes */
    rk_conn_set_timeout(c, 100);
    rk_reply r;
    assert_int_equal(rk_conn_call(c, &r, "PING"), RK_ETIMEOUT);
    assert_true(rk_conn_is_broken(c));
    rk_conn_free(c);
    rkt_proxy_stop(p);
}

static void test_broken_connection_says_eclosed_until_reconnected(void **state) {
    (void)state;
    need_servers();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&g_plain));
    assert_non_null(p);
    rk_conn *c = new_conn(
        &(rk_options){.host = "127.0.0.1", .port = rkt_proxy_port(p), .command_timeout_ms = 5000});
    rkt_expect_pong(c);
    rkt_proxy_drop_all(p); /* the server side goes away */
    rk_reply r;
    int rc = rk_conn_call(c, &r, "PING");
    assert_int_equal(rc, RK_EIO);
    assert_true(rk_conn_is_broken(c));

    assert_int_equal(rk_conn_call(c, &r, "PING"), RK_ECLOSED);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_conn_append(c, "PING"), RK_ECLOSED);
    assert_int_equal(rk_conn_read(c, &r), RK_ECLOSED);
    assert_int_equal(rk_conn_flush(c), RK_ECLOSED);
    assert_int_equal(rk_conn_next(c, &r, false), RK_ECLOSED);
    assert_int_equal(rk_conn_fd(c), -1);

    rk_conn_close(c);
    assert_false(rk_conn_is_broken(c));
    rkt_connect_ok(c);
    rkt_expect_pong(c);
    rk_conn_free(c);
    rkt_proxy_stop(p);
}

/* A 1 MiB value is stored; a proxy hands on only the first 64 KiB the
 * server sends, then closes. */
static rkt_proxy *cutting_proxy(const char *key, char **value) {
    *value = rkt_pattern(MIB, 7);
    rk_options o = plain_tcp();
    rk_conn *setter = new_conn(&o);
    rk_reply r;
    const rk_str set[] = {RK_STR("SET"), rk_bin(key, strlen(key)), rk_bin(*value, MIB)};
    assert_int_equal(rk_conn_call_argv(setter, &r, set, 3), RK_OK);
    rk_reply_free(&r);
    rk_conn_free(setter);
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&g_plain));
    assert_non_null(p);
    return p;
}

static void check_dying_mid_reply(rkt_proxy_mode mode) {
    need_servers();
    char *value;
    rkt_proxy *p = cutting_proxy("cut:big", &value);
    rkt_proxy_set_mode(p, mode, 64 * 1024);
    rk_conn *c = new_conn(&(rk_options){.host = "127.0.0.1", .port = rkt_proxy_port(p)});
    rkt_connect_ok(c); /* the handshake's replies fit in the first bytes */
    rk_reply r;
    assert_int_equal(rk_conn_call(c, &r, "GET cut:big"), RK_EIO);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_true(rk_conn_is_broken(c));
    assert_int_equal(rk_conn_pending(c), 0);

    /* Reconnected, nothing of the half-read reply is left over. */
    rkt_proxy_set_mode(p, RKT_PROXY_PASS, 0);
    rk_conn_close(c);
    rkt_connect_ok(c);
    r = rkt_call_ok(c, "ECHO fresh");
    rkt_assert_bytes(&r, "fresh", 5);
    rk_reply_free(&r);
    r = rkt_call_ok(c, "GET cut:big");
    rkt_assert_bytes(&r, value, MIB);
    rk_reply_free(&r);
    rk_conn_free(c);
    rkt_proxy_stop(p);
    free(value);
}

static void test_server_dying_mid_reply_is_eio_and_nothing_half_read_is_reused(void **state) {
    (void)state;
    check_dying_mid_reply(RKT_PROXY_CUT);
}

static void test_connection_reset_mid_reply_is_eio(void **state) {
    (void)state;
    check_dying_mid_reply(RKT_PROXY_CUT_RESET);
}

static void test_connect_after_server_restart_works(void **state) {
    (void)state;
    need_servers();
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    rk_conn *c = new_conn(&(rk_options){.host = "127.0.0.1", .port = rkt_server_port(&srv)});
    rkt_expect_pong(c);
    assert_int_equal(rkt_server_restart(&srv), 0);

    /* The old socket is dead: the call fails and breaks the connection. */
    rk_reply r;
    int rc = rk_conn_call(c, &r, "PING");
    assert_int_equal(rc, RK_EIO);
    assert_true(rk_conn_is_broken(c));

    rk_conn_close(c);
    rkt_connect_ok(c);
    rkt_expect_pong(c);
    rk_conn_free(c);
    rkt_server_stop(&srv);
}

static void test_write_that_cannot_complete_times_out(void **state) {
    (void)state;
    need_servers();
    rkt_server srv;
    assert_int_equal(rkt_server_start(&srv, NULL), 0);
    rk_conn *c = new_conn(&(rk_options){
        .host = "127.0.0.1", .port = rkt_server_port(&srv), .command_timeout_ms = 300});
    rkt_expect_pong(c);
    rkt_server_freeze(&srv);
    /* Far more than the socket buffers hold while nobody reads. */
    size_t n = 64 * MIB;
    char *value = calloc(1, n);
    assert_non_null(value);
    const rk_str set[] = {RK_STR("SET"), RK_STR("stuck"), rk_bin(value, n)};
    rk_reply r;
    long long t0 = now_ms();
    int rc = rk_conn_call_argv(c, &r, set, 3);
    long long took = now_ms() - t0;
    rkt_server_thaw(&srv);
    assert_int_equal(rc, RK_ETIMEOUT);
    assert_true(took < 10000);
    assert_true(rk_conn_is_broken(c));
    free(value);
    rk_conn_free(c);
    rkt_server_stop(&srv);
}

/* ---- non-blocking driving ----------------------------------------------------- */

static void test_nonblocking_connect_and_command_with_poll(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    o.client_name = "nonblocking";
    rk_conn *c = new_conn(&o);
    drive_connect(c);
    assert_int_equal(rk_conn_protocol(c), 3);
    assert_int_equal(rk_conn_append(c, "CLIENT GETNAME"), RK_OK);
    assert_int_equal(rk_conn_append(c, "ECHO %s", "second"), RK_OK);
    rk_reply r;
    drive_reply(c, &r);
    rkt_assert_bytes(&r, "nonblocking", 11);
    rk_reply_free(&r);
    drive_reply(c, &r);
    rkt_assert_bytes(&r, "second", 6);
    rk_reply_free(&r);
    assert_int_equal(rk_conn_pending(c), 0);
    rk_conn_free(c);
}

static void test_nonblocking_large_value_with_borrowed_replies(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    rk_conn *c = new_conn(&o);
    drive_connect(c);
    size_t n = 2 * MIB;
    char *value = rkt_pattern(n, 3);
    const rk_str set[] = {RK_STR("SET"), RK_STR("nb:big"), rk_bin(value, n)};
    assert_int_equal(rk_conn_append_argv(c, set, 3), RK_OK);
    assert_int_equal(rk_conn_append(c, "GET nb:big"), RK_OK);
    rk_reply r;
    drive_reply(c, &r);
    rkt_assert_text(&r, RK_REPLY_STATUS, "OK");
    rk_reply_free(&r);
    for (;;) { /* the same loop, taking the reply borrowed */
        int rc = rk_conn_next(c, &r, true);
        if (rc == 1)
            break;
        assert_int_equal(rc, 0);
        rc = rk_conn_read_some(c);
        if (rc == RK_EAGAIN)
            rkt_wait_conn(c);
        else
            assert_int_equal(rc, RK_OK);
    }
    rkt_assert_bytes(&r, value, n);
    assert_int_equal(rk_conn_pending(c), 0);
    free(value);
    rk_conn_free(c);
}

static void test_nonblocking_connect_over_unix_socket(void **state) {
    (void)state;
    need_servers();
    rk_options o = {.unix_path = rkt_server_unix_path(&g_plain), .db = 1};
    rk_conn *c = new_conn(&o);
    drive_connect(c);
    assert_int_equal(rk_conn_append(c, "CLIENT INFO"), RK_OK);
    rk_reply r;
    drive_reply(c, &r);
    assert_non_null(strstr(rk_reply_str(&r), " db=1 "));
    rk_reply_free(&r);
    rk_conn_free(c);
}

/* ---- reader limits --------------------------------------------------------------- */

static void test_bulk_over_max_bulk_is_eproto_and_breaks_connection(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    o.limits.max_bulk = 1000;
    rk_conn *c = new_conn(&o);
    char *value = rkt_pattern(2000, 1);
    rk_reply r;
    assert_int_equal(rk_conn_call(c, &r, "SET limits:big %b", value, (size_t)2000), RK_OK);
    rk_reply_free(&r);
    assert_int_equal(rk_conn_call(c, &r, "GET limits:big"), RK_EPROTO);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_true(rk_conn_is_broken(c));
    assert_int_equal(rk_conn_call(c, &r, "PING"), RK_ECLOSED);
    free(value);
    rk_conn_free(c);
}

/* ---- options ------------------------------------------------------------------------ */

static void expect_einval(const rk_options *o) {
    rk_error_clear();
    assert_null(rk_conn_new(o));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_true(rk_error_last()->message[0] != '\0');
}

static void test_bad_options_are_einval_at_new(void **state) {
    (void)state;
    expect_einval(&(rk_options){.port = 70000});
    expect_einval(&(rk_options){.port = -1});
    expect_einval(&(rk_options){.protocol = 4});
    expect_einval(&(rk_options){.db = -1});
    expect_einval(&(rk_options){.host = ""});
    expect_einval(&(rk_options){.unix_path = ""});
    expect_einval(&(rk_options){.client_name = "has space"});
}

static void test_reader_limits_over_the_ceiling_are_einval_at_new(void **state) {
    (void)state;
    rk_error_clear();
    rk_options o = {.limits = {.max_depth = 5000}};
    assert_null(rk_conn_new(&o));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_null(rk_client_new(&o));
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
}

/* ---- the client over the same transports ------------------------------------------ */

static void test_client_runs_commands_over_unix_socket(void **state) {
    (void)state;
    need_servers();
    rk_client *cl = rk_client_new(&(rk_options){
        .unix_path = rkt_server_unix_path(&g_plain), .db = 4, .client_name = "pooled"});
    assert_non_null(cl);
    rk_reply r;
    assert_int_equal(rk_client_call(cl, &r, "CLIENT INFO"), RK_OK);
    assert_non_null(strstr(rk_reply_str(&r), " name=pooled "));
    assert_non_null(strstr(rk_reply_str(&r), " db=4 "));
    rk_reply_free(&r);
    rk_client_free(cl);
}

/* ---- main ---------------------------------------------------------------------------- */

static int group_setup(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        return 0; /* every test that needs a server skips */
    rkt_server_opts plain = {.unix_socket = true};
    if (rkt_server_start(&g_plain, &plain) != 0)
        return -1;
    static const char *const users[] = {ALICE, NULL};
    rkt_server_opts auth = {.requirepass = "s3cret", .acl_users = users};
    if (rkt_server_start(&g_auth, &auth) != 0)
        return -1;
    g_up = true;
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    rkt_server_stop(&g_auth);
    rkt_server_stop(&g_plain);
    return 0;
}

/* ---- socket options --------------------------------------------------- */

static void test_socket_is_close_on_exec_nodelay_and_keepalive_by_default(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_true(fcntl(rk_conn_fd(c), F_GETFD) & FD_CLOEXEC);
    assert_int_equal(sockopt(c, IPPROTO_TCP, TCP_NODELAY), 1);
    assert_int_equal(sockopt(c, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(sockopt(c, IPPROTO_TCP, TCP_KEEPIDLE), RK_DEFAULT_KEEPALIVE_S);
    rk_conn_free(c);
}

static void test_socket_options_follow_the_options(void **state) {
    (void)state;
    need_servers();
    rk_options o = plain_tcp();
    o.keepalive_s = 7;
    o.no_tcp_nodelay = true;
    rk_conn *c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(sockopt(c, IPPROTO_TCP, TCP_NODELAY), 0);
    assert_int_equal(sockopt(c, IPPROTO_TCP, TCP_KEEPIDLE), 7);
    rk_conn_free(c);
    o.keepalive_s = -1;
    c = new_conn(&o);
    rkt_connect_ok(c);
    assert_int_equal(sockopt(c, SOL_SOCKET, SO_KEEPALIVE), 0);
    rk_conn_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        TRANSPORT_TEST_LIST(ipv4),
        TRANSPORT_TEST_LIST(ipv6),
        TRANSPORT_TEST_LIST(unix),
        cmocka_unit_test(test_call_connects_first_when_not_connected),
        cmocka_unit_test(test_commands_appended_before_connect_are_sent_after_handshake),
        cmocka_unit_test(test_connect_on_a_ready_connection_keeps_it),
        cmocka_unit_test(test_protocol_3_is_the_default_and_hgetall_is_a_map),
        cmocka_unit_test(test_protocol_2_when_asked_and_hgetall_is_an_array),
        cmocka_unit_test(test_db_option_selects_the_database),
        cmocka_unit_test(test_client_name_is_set_on_connect),
        cmocka_unit_test(test_client_setinfo_error_does_not_fail_connect),
        cmocka_unit_test(test_client_setinfo_sends_library_name_and_version),
        cmocka_unit_test(test_server_without_hello_gets_auth_setname_select_on_resp2),
        cmocka_unit_test(test_noproto_answer_to_hello_falls_back_to_resp2),
        cmocka_unit_test(test_refused_select_fails_connect_with_eserver),
        cmocka_unit_test(test_right_password_authenticates),
        cmocka_unit_test(test_wrong_password_is_eauth_with_message),
        cmocka_unit_test(test_missing_password_is_eauth_noauth),
        cmocka_unit_test(test_acl_user_with_right_password_authenticates),
        cmocka_unit_test(test_unknown_acl_user_is_eauth),
        cmocka_unit_test(test_credentials_callback_is_called_at_every_connect),
        cmocka_unit_test(test_credentials_callback_failure_is_eauth),
        cmocka_unit_test(test_tracking_invalidation_goes_to_on_push_not_to_the_caller),
        cmocka_unit_test(test_refused_port_is_econnect),
        cmocka_unit_test(test_missing_unix_socket_is_econnect),
        cmocka_unit_test(test_unknown_host_is_eresolve),
        cmocka_unit_test(test_connect_to_unresponsive_listener_times_out),
        cmocka_unit_test(test_failed_connects_leave_no_descriptor_open),
        cmocka_unit_test(test_handshake_that_never_answers_times_out),
        cmocka_unit_test(test_command_timeout_is_etimeout_and_breaks_connection),
        cmocka_unit_test(test_set_timeout_applies_to_later_calls),
        cmocka_unit_test(test_broken_connection_says_eclosed_until_reconnected),
        cmocka_unit_test(test_server_dying_mid_reply_is_eio_and_nothing_half_read_is_reused),
        cmocka_unit_test(test_connection_reset_mid_reply_is_eio),
        cmocka_unit_test(test_connect_after_server_restart_works),
        cmocka_unit_test(test_socket_is_close_on_exec_nodelay_and_keepalive_by_default),
        cmocka_unit_test(test_socket_options_follow_the_options),
        cmocka_unit_test(test_write_that_cannot_complete_times_out),
        cmocka_unit_test(test_nonblocking_connect_and_command_with_poll),
        cmocka_unit_test(test_nonblocking_large_value_with_borrowed_replies),
        cmocka_unit_test(test_nonblocking_connect_over_unix_socket),
        cmocka_unit_test(test_bulk_over_max_bulk_is_eproto_and_breaks_connection),
        cmocka_unit_test(test_bad_options_are_einval_at_new),
        cmocka_unit_test(test_reader_limits_over_the_ceiling_are_einval_at_new),
        cmocka_unit_test(test_client_runs_commands_over_unix_socket),
    };
    return cmocka_run_group_tests_name("conn", tests, group_setup, group_teardown);
}
