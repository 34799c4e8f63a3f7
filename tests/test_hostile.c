/* Hostile tests of the synchronous client: what a reviewer trying to break
 * it would do. Connections cut at every byte of a reply (through the fault
 * proxy) with the server counting what ran, a transaction whose MULTI the
 * server refuses, frozen servers (SIGSTOP) under the feature APIs, a
 * scripted fake server answering with replies no real server sends, and
 * API misuse (NULL objects, a pipeline reused after exec). Needs
 * redis-server; the tests skip without it. */
#define _GNU_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "rkt_fakeserver.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"

/* What a test set up that must go away even when it fails (the teardown
 * stops them). */
static rkt_proxy *fx_proxy;
static rkt_fake *fx_fake;
static rkt_server fx_server;

static int teardown(void **state) {
    (void)state;
    rkt_proxy_stop(fx_proxy);
    fx_proxy = NULL;
    rkt_fake_free(fx_fake);
    fx_fake = NULL;
    rkt_server_stop(&fx_server);
    memset(&fx_server, 0, sizeof(fx_server));
    return 0;
}

/* A client of port on RESP3 with one attempt unless retry says more. */
static rk_client *client_at(int port, rk_retry retry) {
    rk_client *c = rk_client_new(&(rk_options){.port = port, .retry = retry});
    assert_non_null(c);
    return c;
}

/* The shared server's integer value of key (0 when missing). */
static long long server_int(const char *key) {
    char *r = rkt_server_cmd(&rkt_shared, "GET", key, NULL);
    assert_non_null(r);
    long long v = r[0] == '$' && r[1] != '-' ? atoll(strchr(r, '\n') + 1) : 0;
    free(r);
    return v;
}

static void server_run(const char *a0, const char *a1, const char *a2) {
    free(rkt_server_cmd(&rkt_shared, a0, a1, a2, NULL));
}

/* Bytes the server sends a new connection of the proxy before the first
 * reply to a command (the handshake's replies). */
static long handshake_bytes(void) {
    rkt_proxy_stats before, after;
    rkt_proxy_get_stats(fx_proxy, &before);
    rk_client *c = client_at(rkt_proxy_port(fx_proxy), (rk_retry){.attempts = 1});
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    rk_client_free(c);
    rkt_proxy_get_stats(fx_proxy, &after);
    return (long)(after.bytes_down - before.bytes_down) - 7; /* "+PONG\r\n" */
}

static void start_proxy(void) {
    rkt_shared_need();
    fx_proxy = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(fx_proxy);
}

/* ---- retry rules: cut at every byte of a reply -------------------------- */

/* A transaction of two INCRs answers "+OK" "+QUEUED" "+QUEUED" and the
 * EXEC array "*2 :n :n+1". Cut at every byte of that, with retries allowed
 * (3 attempts): the counter moves by 2 (the EXEC ran) or 0 (the cut came
 * before the server read it), never by 1 or 4, and a run that got no EXEC
 * reply reports a failure. */
static void test_transaction_cut_at_every_reply_byte_runs_once_and_fails(void **state) {
    (void)state;
    start_proxy();
    long hs = handshake_bytes();
    server_run("DEL", "hostile:tx", NULL);
    const long replies = 5 + 9 + 9 + 4 + 4 + 4; /* at most: counters under 10 */
    for (long cut = 0; cut < replies; cut++) {
        rkt_proxy_set_mode(fx_proxy, RKT_PROXY_CUT, hs + cut);
        rk_client *c = client_at(rkt_proxy_port(fx_proxy), (rk_retry){.attempts = 3});
        rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = true});
        assert_non_null(p);
        assert_int_equal(rk_pipeline_append(p, "INCR hostile:tx"), RK_OK);
        assert_int_equal(rk_pipeline_append(p, "INCR hostile:tx"), RK_OK);
        long long before = server_int("hostile:tx");
        int rc = rk_pipeline_exec(p);
        long long after = server_int("hostile:tx");
        if (rc == RK_OK) /* the cut came after the whole reply */
            assert_int_equal(rk_reply_int(rk_pipeline_reply(p, 1)), after);
        else if (rc != RK_EIO && rc != RK_ECLOSED)
            fail_msg("cut at %ld: %s", cut, rk_strerror(rc));
        long long moved = after - before;
        if (moved != 2 && (rc == RK_OK || moved != 0))
            fail_msg("cut at %ld: the counter moved by %lld (%s)", cut, moved, rk_strerror(rc));
        rk_pipeline_free(p);
        rk_client_free(c);
        server_run("SET", "hostile:tx", "0");
    }
}

/* ---- transactions -------------------------------------------------------- */

/* A user the server lets run everything but MULTI: its commands then run
 * one by one as they come, and EXEC answers "EXEC without MULTI". The
 * pipeline must not call that an aborted transaction (the caller would
 * think nothing ran, and run it again): the INCR ran, and says so. */
static void test_transaction_whose_multi_is_refused_reports_the_commands_that_ran(void **state) {
    (void)state;
    rkt_shared_need();
    server_run("DEL", "hostile:nomulti", NULL);
    char *r = rkt_server_cmd(&rkt_shared, "ACL", "SETUSER", "hostile-nomulti", "on", ">pw", "~*",
                             "&*", "+@all", "-multi", NULL);
    assert_non_null(r);
    free(r);
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_server_port(&rkt_shared), .username = "hostile-nomulti", .password = "pw"});
    assert_non_null(c);
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = true});
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "INCR hostile:nomulti"), RK_OK);
    int rc = rk_pipeline_exec(p);
    assert_int_equal(server_int("hostile:nomulti"), 1);
    if (rc == RK_EEXECABORT || rc == RK_OK)
        fail_msg("exec said %s (%s), but the INCR ran outside a transaction", rk_strerror(rc),
                 rk_error_last()->message);
    assert_int_equal(rc, RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "NOPERM");
    assert_int_equal(rk_pipeline_status(p, 0), RK_OK);
    assert_int_equal(rk_reply_int(rk_pipeline_reply(p, 0)), 1);
    rk_pipeline_free(p);
    rk_client_free(c);
    server_run("ACL", "DELUSER", "hostile-nomulti");
}

/* The connection a watching pipeline holds goes back to the pool at
 * exec or reset, so a SELECT run on it through rk_pipeline_call would
 * move every later call that gets it to another db: refused, as
 * rk_client_call refuses it, and the next call reads db 0. */
static void test_pipeline_call_refuses_select_on_the_held_connection(void **state) {
    (void)state;
    rkt_shared_need();
    server_run("SET", "hostile:db", "zero");
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .pool_size = 1});
    assert_non_null(c);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_watch(p, (rk_str[]){RK_STR("hostile:db")}, 1), RK_OK);
    rk_reply r;
    assert_int_equal(rk_pipeline_call(p, &r, "SELECT %d", 1), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_pipeline_call_argv(p, &r, (rk_str[]){RK_STR("SELECT"), RK_STR("1")}, 2),
                     RK_EINVAL);
    assert_int_equal(rk_pipeline_call(p, &r, "GET hostile:db"), RK_OK); /* others still run */
    assert_string_equal(rk_reply_str(&r), "zero");
    rk_reply_free(&r);
    rk_pipeline_reset(p);
    assert_int_equal(rk_client_call(c, &r, "GET hostile:db"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "zero");
    rk_reply_free(&r);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- API misuse ----------------------------------------------------------- */

/* A NULL script is bad input like any other: RK_EINVAL, not a crash. */
static void test_script_calls_with_null_script_are_einval(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_at(rkt_server_port(&rkt_shared), (rk_retry){0});
    rk_reply r;
    assert_int_equal(rk_script_run(c, NULL, NULL, 0, NULL, 0, &r), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    assert_int_equal(rk_script_preload(c, NULL), RK_EINVAL);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_script_append(p, NULL, NULL, 0, NULL, 0), RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 0);
    assert_null(rk_script_sha(NULL));
    assert_null(rk_script_source(NULL, NULL));
    rk_pipeline_free(p);
    rk_client_free(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_transaction_cut_at_every_reply_byte_runs_once_and_fails,
                                  teardown),
        cmocka_unit_test_teardown(
            test_transaction_whose_multi_is_refused_reports_the_commands_that_ran, teardown),
        cmocka_unit_test_teardown(test_pipeline_call_refuses_select_on_the_held_connection,
                                  teardown),
        cmocka_unit_test_teardown(test_script_calls_with_null_script_are_einval, teardown),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
