/* Passwords against a real redis-server whose requirepass is 5000 bytes
 * long: kept whole however long, from the options or the credentials
 * callback; a missing one is named as such; RESET authenticates again.
 * Needs redis-server; skips without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rediskit/rediskit.h"
#include "rkt_server.h"

#define LONG_PASSWORD 5000

static rkt_server server;
static bool running;
static char password[LONG_PASSWORD + 1];

static int server_setup(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        return 0;
    for (size_t i = 0; i < LONG_PASSWORD; i++)
        password[i] = (char)('a' + i % 26);
    if (rkt_server_start(&server, NULL) != 0)
        return -1;
    /* For test_user_without_password_is_that_user: a nopass user, and
     * one with a password. */
    const char *const users[2][4] = {{"alice", "nopass", "&*", "+@all"},
                                     {"bob", ">bobs", "&*", "+@all"}};
    for (int i = 0; i < 2; i++) {
        char *set = rkt_server_cmd(&server, "ACL", "SETUSER", users[i][0], "on", users[i][1], "~*",
                                   users[i][2], users[i][3], NULL);
        bool done = set && strcmp(set, "+OK\r\n") == 0;
        free(set);
        if (!done)
            return -1;
    }
    char *ok = rkt_server_cmd(&server, "CONFIG", "SET", "requirepass", password, NULL);
    running = ok && strcmp(ok, "+OK\r\n") == 0;
    free(ok);
    return running ? 0 : -1;
}

static int server_teardown(void **state) {
    (void)state;
    rkt_server_stop(&server);
    return 0;
}

/* A connection to the server with opts (host and port filled in). */
static rk_conn *conn_with(rk_options opts) {
    if (!running)
        skip();
    opts.host = "127.0.0.1";
    opts.port = rkt_server_port(&server);
    rk_conn *c = rk_conn_new(&opts);
    assert_non_null(c);
    return c;
}

static void assert_ping_answers(rk_conn *c) {
    rk_reply r;
    int rc = rk_conn_call(c, &r, "PING");
    if (rc != RK_OK)
        fail_msg("PING: %s", rk_error_last()->message);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
}

static void test_password_of_5000_bytes_authenticates(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_conn *c = conn_with((rk_options){.password = password, .protocol = protocol});
        assert_ping_answers(c);
        rk_conn_free(c);
    }
}

static int long_credentials(void *userdata, char *user, size_t user_size, char *pass,
                            size_t pass_size) {
    (void)userdata;
    if (user_size < 1 || pass_size < sizeof(password))
        return -1;
    user[0] = '\0';
    memcpy(pass, password, sizeof(password));
    return 0;
}

static void test_credentials_callback_password_of_5000_bytes_authenticates(void **state) {
    (void)state;
    rk_conn *c = conn_with((rk_options){.credentials = long_credentials});
    assert_ping_answers(c);
    rk_conn_free(c);
}

static int unterminated_credentials(void *userdata, char *user, size_t user_size, char *pass,
                                    size_t pass_size) {
    (void)userdata;
    (void)user_size;
    user[0] = '\0';
    memset(pass, 'x', pass_size);
    return 0;
}

static void test_credentials_password_without_nul_is_refused_not_cut_short(void **state) {
    (void)state;
    rk_conn *c = conn_with((rk_options){.credentials = unterminated_credentials});
    assert_int_equal(rk_conn_connect(c), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "without a NUL"));
    rk_conn_free(c);
}

static void test_missing_password_says_the_server_requires_one(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_conn *c = conn_with((rk_options){.protocol = protocol});
        assert_int_equal(rk_conn_connect(c), RK_EAUTH);
        assert_string_equal(rk_error_last()->message,
                            "NOAUTH the server requires a password and none was given");
        assert_string_equal(rk_error_last()->prefix, "NOAUTH");
        rk_conn_free(c);
    }
}

static void test_wrong_password_is_eauth(void **state) {
    (void)state;
    rk_conn *c = conn_with((rk_options){.password = "wrong"});
    assert_int_equal(rk_conn_connect(c), RK_EAUTH);
    assert_string_equal(rk_error_last()->prefix, "WRONGPASS");
    rk_conn_free(c);
}

/* A user name given without a password is not dropped: the handshake
 * authenticates as that user with an empty password, which a nopass user
 * accepts and any other refuses, on RESP3's HELLO and RESP2's AUTH alike
 * (a connection as the default user instead would be a silent wrong
 * identity). */
static void test_user_without_password_is_that_user(void **state) {
    (void)state;
    if (!running)
        skip();
    for (int protocol = 2; protocol <= 3; protocol++) {
        rk_conn *c = conn_with((rk_options){.protocol = protocol, .username = "alice"});
        rk_reply r;
        int rc = rk_conn_call(c, &r, "ACL WHOAMI");
        if (rc != RK_OK)
            fail_msg("RESP%d: ACL WHOAMI: %s", protocol, rk_error_last()->message);
        assert_string_equal(rk_reply_str(&r), "alice");
        rk_reply_free(&r);
        rk_conn_free(c);
        c = conn_with((rk_options){.protocol = protocol, .username = "bob"});
        assert_int_equal(rk_conn_connect(c), RK_EAUTH);
        assert_string_equal(rk_error_last()->prefix, "WRONGPASS");
        rk_conn_free(c);
    }
}

/* RESET logs the connection out; the handshake that follows must send the
 * password again, after the first handshake was done with it. */
static void test_reset_authenticates_again(void **state) {
    (void)state;
    rk_conn *c = conn_with((rk_options){.password = password});
    assert_ping_answers(c);
    int rc = rk_reset(c);
    if (rc != RK_OK)
        fail_msg("RESET: %s", rk_error_last()->message);
    assert_ping_answers(c);
    rk_conn_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_of_5000_bytes_authenticates),
        cmocka_unit_test(test_credentials_callback_password_of_5000_bytes_authenticates),
        cmocka_unit_test(test_credentials_password_without_nul_is_refused_not_cut_short),
        cmocka_unit_test(test_missing_password_says_the_server_requires_one),
        cmocka_unit_test(test_wrong_password_is_eauth),
        cmocka_unit_test(test_reset_authenticates_again),
        cmocka_unit_test(test_user_without_password_is_that_user),
    };
    return cmocka_run_group_tests(tests, server_setup, server_teardown);
}
