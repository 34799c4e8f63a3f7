/* Hostile tests of the synchronous client: what a reviewer trying to break
 * it would do. Connections cut at every byte of a reply (through the fault
 * proxy) with the server counting what ran; transactions whose MULTI or
 * EXEC the ACL refuses; connections given back to the pool in a changed
 * state, twice, or never lent; a frozen server (SIGSTOP) under every API;
 * a scripted fake server answering with replies no real server sends
 * (malformed RESP, wrong types, a reply too many, made-up redirects); and
 * API misuse (NULL objects, zero counts, a pipeline reused after exec).
 * Needs redis-server; the tests skip without it. */
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

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

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

/* A client of one pooled connection to the shared server, logged in as
 * user (password "pw"; NULL: the default user). */
static rk_client *pool_of_one_as(const char *user) {
    rkt_shared_need();
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared),
                                               .username = user,
                                               .password = user ? "pw" : NULL,
                                               .pool_size = 1});
    assert_non_null(c);
    return c;
}

static rk_client *pool_of_one(void) {
    return pool_of_one_as(NULL);
}

/* Makes the ACL user (password "pw") that may run everything but the
 * command deny, and deny2 unless NULL. */
static void user_denied(const char *user, const char *deny, const char *deny2) {
    rkt_shared_need();
    char *r = rkt_server_cmd(&rkt_shared, "ACL", "SETUSER", user, "on", ">pw", "~*", "&*", "+@all",
                             deny, deny2, NULL);
    assert_non_null(r);
    assert_string_equal(r, "+OK\r\n");
    free(r);
}

/* A user the server lets run everything but MULTI: its commands then run
 * one by one as they come, and EXEC answers "EXEC without MULTI". The
 * pipeline must not call that an aborted transaction (the caller would
 * think nothing ran, and run it again): the INCR ran, and says so. */
static void test_transaction_whose_multi_is_refused_reports_the_commands_that_ran(void **state) {
    (void)state;
    rkt_shared_need();
    server_run("DEL", "hostile:nomulti", NULL);
    user_denied("hostile-nomulti", "-multi", NULL);
    rk_client *c = pool_of_one_as("hostile-nomulti");
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
    rk_client *c = pool_of_one();
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

/* A built command may change its connection too (rk_cmd_select,
 * rk_cmd_quit, rk_cmd_readonly...): queued with rk_pipeline_add it would
 * run on the pooled connection, which never sees the pipeline's bytes, and
 * every later call that got it would read another db. Refused as the
 * formatted SELECT is, and the next call reads db 0. */
static void test_pipeline_add_refuses_a_built_select(void **state) {
    (void)state;
    rkt_shared_need();
    server_run("SET", "hostile:db", "zero");
    rk_client *c = pool_of_one();
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    rk_command cmd;
    assert_int_equal(rk_pipeline_add(p, rk_cmd_select(&cmd, 1)), RK_EINVAL);
    assert_int_equal(rk_pipeline_add(p, rk_cmd_quit(&cmd)), RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 0);
    assert_int_equal(rk_pipeline_append(p, "PING"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET hostile:db"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "zero");
    rk_reply_free(&r);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* A client of the proxy whose one pooled connection was accepted in CUT
 * mode at `cut` bytes from the first reply; the proxy passes everything
 * on the connections made after it. */
static rk_client *client_with_cut_connection(long hs, long cut) {
    rkt_proxy_set_mode(fx_proxy, RKT_PROXY_CUT, hs + cut);
    rk_client *c = rk_client_new(
        &(rk_options){.port = rkt_proxy_port(fx_proxy), .pool_size = 1, .retry = {.attempts = 3}});
    assert_non_null(c);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    rk_client_release(c, conn);
    rkt_proxy_set_mode(fx_proxy, RKT_PROXY_PASS, 0);
    return c;
}

static bool server_has(const char *key) {
    char *r = rkt_server_cmd(&rkt_shared, "EXISTS", key, NULL);
    assert_non_null(r);
    bool has = strncmp(r, ":1", 2) == 0;
    free(r);
    return has;
}

/* The acquire's SET NX answers "+OK": cut at each of its bytes, the acquire
 * fails (it may have run) and releases, so no lock is left behind for
 * its TTL; it is not repeated (a repeat would say "held"). */
static void test_lock_acquire_cut_at_every_reply_byte_leaves_no_lock(void **state) {
    (void)state;
    start_proxy();
    long hs = handshake_bytes();
    for (long cut = 0; cut < 5; cut++) {
        server_run("DEL", "hostile:lock", NULL);
        rk_client *c = client_with_cut_connection(hs, cut);
        rk_lock *l =
            rk_lock_new(c, "hostile:lock", &(rk_lock_opts){.ttl_ms = 60000, .non_blocking = true});
        assert_non_null(l);
        int rc = rk_lock_acquire(l);
        if (rc != RK_EIO && rc != RK_ECLOSED)
            fail_msg("cut at %ld: acquire said %s", cut, rk_strerror(rc));
        if (server_has("hostile:lock"))
            fail_msg("cut at %ld: a failed acquire left the lock held", cut);
        assert_null(rk_lock_token(l));
        rk_lock_free(l);
        rk_client_free(c);
    }
}

/* Release by EVALSHA, NOSCRIPT, then EVAL (the script cache is flushed
 * first): cut at every byte of those replies, a release that says RK_OK
 * did delete the key, and one cut short says so with a transport error. */
static void test_lock_release_cut_at_every_reply_byte_is_reported(void **state) {
    (void)state;
    start_proxy();
    long hs = handshake_bytes();
    const long noscript = (long)strlen("-NOSCRIPT No matching script. Please use EVAL.\r\n");
    long failed = 0;
    for (long cut = 5; cut <= 5 + noscript + 4; cut++) {
        server_run("DEL", "hostile:lock", NULL);
        server_run("SCRIPT", "FLUSH", NULL);
        rk_client *c = client_with_cut_connection(hs, cut);
        rk_lock *l =
            rk_lock_new(c, "hostile:lock", &(rk_lock_opts){.ttl_ms = 60000, .non_blocking = true});
        assert_non_null(l);
        assert_int_equal(rk_lock_acquire(l), RK_OK); /* "+OK": the first 5 bytes */
        int rc = rk_lock_release(l);
        bool held = server_has("hostile:lock");
        if (rc == RK_OK && held)
            fail_msg("cut at %ld: release said RK_OK but the key is still there", cut);
        if (rc != RK_OK && rc != RK_EIO && rc != RK_ECLOSED)
            fail_msg("cut at %ld: release said %s", cut, rk_strerror(rc));
        if (rc == RK_OK && cut < 5 + noscript + 4)
            fail_msg("cut at %ld: release said RK_OK without the whole reply", cut);
        assert_null(rk_lock_token(l));
        failed += rc != RK_OK;
        rk_lock_free(l);
        rk_client_free(c);
    }
    assert_int_equal(failed, noscript + 4); /* every cut but the last hit the release */
}

/* ---- a connection's own calls ------------------------------------------ */

/* rk_conn_call reads and drops the replies of commands appended before it.
 * One of them being an error reply must not stop that early: the call
 * would then hand over the next earlier command's reply as its own. */
static void test_conn_call_after_an_appended_error_gets_its_own_reply(void **state) {
    (void)state;
    rkt_shared_need();
    server_run("SET", "hostile:str", "text");
    server_run("SET", "hostile:a", "va");
    server_run("SET", "hostile:b", "vb");
    rk_conn *conn = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(conn);
    assert_int_equal(rk_conn_connect(conn), RK_OK);
    assert_int_equal(rk_conn_append(conn, "INCR hostile:str"), RK_OK); /* an error reply */
    assert_int_equal(rk_conn_append(conn, "GET hostile:a"), RK_OK);
    rk_reply r;
    assert_int_equal(rk_conn_call(conn, &r, "GET hostile:b"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "vb");
    rk_reply_free(&r);
    assert_int_equal(rk_conn_call(conn, &r, "PING"), RK_OK); /* nothing left unread */
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    rk_conn_free(conn);
}

/* rk_reset leaves a connection "as freshly connected", whatever was
 * appended before it and not read (an error reply among them too). */
static void test_reset_drops_the_replies_of_commands_appended_before_it(void **state) {
    (void)state;
    rkt_shared_need();
    server_run("SET", "hostile:str", "text");
    rk_conn *conn = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(conn);
    assert_int_equal(rk_conn_connect(conn), RK_OK);
    assert_int_equal(rk_conn_append(conn, "GET hostile:str"), RK_OK);
    assert_int_equal(rk_conn_append(conn, "INCR hostile:str"), RK_OK); /* an error reply */
    int rc = rk_reset(conn);
    if (rc != RK_OK)
        fail_msg("rk_reset: %s (%s)", rk_strerror(rc), rk_error_last()->message);
    rk_reply r;
    assert_int_equal(rk_conn_call(conn, &r, "PING"), RK_OK);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
    rk_conn_free(conn);
}

/* ---- the pool: connections given back in a changed state ---------------- */

/* Takes the one pooled connection of c, runs `command` on it raw (as a
 * user of rk_client_acquire may), and gives it back. */
static void raw_on_pooled(rk_client *c, const char *command) {
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    rk_reply r;
    int rc = rk_conn_call(conn, &r, command);
    if (rc != RK_OK)
        fail_msg("%s: %s", command, rk_error_last()->message);
    rk_reply_free(&r);
    rk_client_release(c, conn);
}

/* The next pooled call after a raw `command` reads hostile:db as db 0 has
 * it, as the client's own user, outside any transaction. */
static void expect_pool_unchanged_after(const char *command) {
    rkt_shared_need();
    server_run("SET", "hostile:db", "zero");
    rk_client *c = pool_of_one();
    raw_on_pooled(c, command);
    rk_reply r;
    int rc = rk_client_call(c, &r, "GET hostile:db");
    if (rc != RK_OK || rk_reply_type(&r) != RK_REPLY_STRING ||
        strcmp(rk_reply_str(&r), "zero") != 0)
        fail_msg("after a raw %s, GET answered %s: a %s \"%s\"", command, rk_strerror(rc),
                 rk_type_name(rk_reply_type(&r)), rk_reply_str(&r));
    rk_reply_free(&r);
    rk_client_free(c);
}

static void test_connection_given_back_after_raw_select_is_not_pooled(void **state) {
    (void)state;
    expect_pool_unchanged_after("SELECT 1");
}

static void test_connection_given_back_inside_multi_is_not_pooled(void **state) {
    (void)state;
    expect_pool_unchanged_after("MULTI");
}

/* A user that may not read hostile:*: a later call that got the connection
 * it AUTHed would run with that user's rights. */
static void test_connection_given_back_after_raw_auth_is_not_pooled(void **state) {
    (void)state;
    rkt_shared_need();
    char *r = rkt_server_cmd(&rkt_shared, "ACL", "SETUSER", "hostile-other", "on", ">pw",
                             "~other:*", "+@all", NULL);
    assert_non_null(r);
    free(r);
    expect_pool_unchanged_after("AUTH hostile-other pw");
    server_run("ACL", "DELUSER", "hostile-other");
}

/* Runs the raw commands (NULL-ended) on c's one pooled connection, gives
 * it back, and returns whether the pool kept it (else it was closed). */
static bool pooled_after(rk_client *c, const char *const *commands) {
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    for (size_t i = 0; commands[i]; i++) {
        rk_reply r;
        int rc = rk_conn_call(conn, &r, commands[i]);
        if (rc != RK_OK && rc != RK_ESERVER)
            fail_msg("%s: %s", commands[i], rk_error_last()->message);
        rk_reply_free(&r);
    }
    rk_pool_stats before, after;
    rk_client_pool_stats(c, &before);
    rk_client_release(c, conn);
    rk_client_pool_stats(c, &after);
    return after.closed == before.closed;
}

#define RAW(...) ((const char *const[]){__VA_ARGS__, NULL})

/* A connection that ran MULTI and then EXEC is in no transaction: pooled
 * again as before (the same connection serves the next call). */
static void test_connection_given_back_after_multi_and_exec_is_pooled(void **state) {
    (void)state;
    rk_client *c = pool_of_one();
    assert_true(pooled_after(c, RAW("MULTI", "PING", "EXEC")));
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.idle, 1);
    rk_client_free(c);
}

/* A WATCH left open on a connection given back would abort the next
 * user's transaction on it when the key changes (EXEC answering nil for
 * no fault of theirs): such a connection is closed. One whose watch ended
 * (UNWATCH, EXEC or DISCARD of a MULTI, RESET) is pooled again; a
 * refused EXEC or DISCARD (no MULTI) ends nothing. */
static void test_connection_given_back_with_an_open_watch_is_not_pooled(void **state) {
    (void)state;
    rk_client *c = pool_of_one();
    assert_false(pooled_after(c, RAW("WATCH hostile:w")));
    assert_false(pooled_after(c, RAW("WATCH hostile:w", "EXEC")));
    assert_false(pooled_after(c, RAW("WATCH hostile:w", "DISCARD")));
    assert_false(pooled_after(c, RAW("WATCH hostile:w", "MULTI", "UNWATCH")));
    assert_true(pooled_after(c, RAW("WATCH hostile:w", "UNWATCH")));
    assert_true(pooled_after(c, RAW("WATCH hostile:w", "MULTI", "PING", "EXEC")));
    assert_true(pooled_after(c, RAW("WATCH hostile:w", "MULTI", "UNWATCH", "EXEC")));
    assert_true(pooled_after(c, RAW("WATCH hostile:w", "MULTI", "DISCARD")));
    assert_true(pooled_after(c, RAW("MULTI", "WATCH hostile:w", "DISCARD")));
    /* The next user's transaction, on the connection the pool gives after
     * an open watch, runs though the key changed meanwhile. */
    assert_false(pooled_after(c, RAW("WATCH hostile:w")));
    server_run("SET", "hostile:w", "changed");
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    rk_reply r;
    assert_int_equal(rk_conn_call(conn, NULL, "MULTI"), RK_OK);
    assert_int_equal(rk_conn_call(conn, NULL, "PING"), RK_OK);
    assert_int_equal(rk_conn_call(conn, &r, "EXEC"), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_ARRAY); /* not nil: not aborted */
    rk_reply_free(&r);
    rk_client_release(c, conn);
    rk_client_free(c);
}

/* Every other command that changes its connection (the stateful ones
 * rk_client_call refuses) leaves it unpoolable too: after QUIT the server
 * has closed it (the next call on it would fail, an INCR unretried though
 * it never ran); CLIENT TRACKING sends the next users invalidations,
 * CLIENT NO-EVICT changes how the server treats it. */
static void test_connection_given_back_after_quit_or_client_tracking_is_not_pooled(void **state) {
    (void)state;
    rk_client *c = pool_of_one();
    assert_false(pooled_after(c, RAW("QUIT")));
    assert_false(pooled_after(c, RAW("CLIENT TRACKING on")));
    assert_false(pooled_after(c, RAW("CLIENT NO-EVICT on")));
    assert_true(pooled_after(c, RAW("CLIENT ID")));
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.idle, 1);
    assert_int_equal(rk_client_call(c, NULL, "INCR hostile:after-quit"), RK_OK);
    rk_client_free(c);
}

/* The CLIENT ID of the connection a call of c runs on. */
static long long conn_id(rk_client *c) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "CLIENT ID"), RK_OK);
    long long id = rk_reply_int(&r);
    rk_reply_free(&r);
    return id;
}

/* CLIENT KILL may name the connection it runs on (by its ID, its
 * address, its user...): the server answers +OK and closes it. When the
 * close comes after the connection was given back, the next call sent on
 * it fails (an INCR, not repeated though it never ran): a connection that
 * ran CLIENT KILL is closed, not pooled, whatever it named. The test
 * cannot time the close; it checks that the INCR runs and that the
 * connection is not pooled after a CLIENT KILL that named another. */
static void test_connection_given_back_after_client_kill_is_not_pooled(void **state) {
    (void)state;
    server_run("DEL", "hostile:killed", NULL);
    rk_client *c = pool_of_one();
    assert_int_equal(rk_client_call(c, NULL, "CLIENT KILL ID %lld", conn_id(c)), RK_OK);
    assert_int_equal(rk_client_call(c, NULL, "INCR hostile:killed"), RK_OK);
    assert_int_equal(server_int("hostile:killed"), 1);
    assert_false(pooled_after(c, RAW("CLIENT KILL ID 999999999")));
    rk_client_free(c);
}

/* The server may refuse the UNWATCH or DISCARD that would end a watch or a
 * MULTI (here NOPERM: an ACL user without them), and then the watch or the
 * MULTI stays on the connection: it is closed, not pooled. */
static void test_connection_whose_unwatch_or_discard_was_refused_is_not_pooled(void **state) {
    (void)state;
    rkt_shared_need();
    user_denied("hostile-noend", "-unwatch", "-discard");
    rk_client *c = pool_of_one_as("hostile-noend");
    assert_false(pooled_after(c, RAW("WATCH hostile:w", "UNWATCH")));
    assert_false(pooled_after(c, RAW("MULTI", "DISCARD")));
    assert_true(pooled_after(c, RAW("MULTI", "PING", "EXEC")));
    rk_client_free(c);
    server_run("ACL", "DELUSER", "hostile-noend");
}

/* An ACL user may be denied PING. The health check of a connection idle
 * past health_check_ms then gets NOPERM: an answer all the same, so the
 * connection is alive and is kept, not closed and made again (which
 * would cost a reconnect per idle period, and lose nothing else). */
static void test_health_check_answered_by_an_error_keeps_the_connection(void **state) {
    (void)state;
    rkt_shared_need();
    user_denied("hostile-noping", "-ping", NULL);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared),
                                               .username = "hostile-noping",
                                               .password = "pw",
                                               .pool_size = 1,
                                               .health_check_ms = 150});
    assert_non_null(c);
    long long id = conn_id(c);
    struct timespec pause = {0, 300 * 1000000L};
    nanosleep(&pause, NULL);
    assert_int_equal(rk_client_call(c, NULL, "SET hostile:noping 1"), RK_OK);
    assert_int_equal(conn_id(c), id);
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.idle, 1);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_ESERVER); /* the ACL holds */
    assert_string_equal(rk_error_last()->prefix, "NOPERM");
    rk_client_free(c);
    server_run("ACL", "DELUSER", "hostile-noping");
}

/* A pipeline's transaction under rk_pipeline_watch ends its watch with
 * its EXEC, which the connection never saw queued: the connection is
 * pooled again, not closed (a reconnect per transaction). */
static void test_connection_after_watched_pipeline_transaction_is_pooled(void **state) {
    (void)state;
    rk_client *c = pool_of_one();
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    rk_str key = RK_STR("hostile:pw");
    for (int i = 0; i < 3; i++) {
        assert_int_equal(rk_pipeline_watch(p, &key, 1), RK_OK);
        assert_int_equal(rk_pipeline_multi(p), RK_OK);
        assert_int_equal(rk_pipeline_append(p, "INCR hostile:pw"), RK_OK);
        assert_int_equal(rk_pipeline_exec(p), RK_OK);
    }
    rk_pipeline_free(p);
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.closed, 0);
    assert_int_equal(st.idle, 1);
    rk_client_free(c);
}

/* Giving a connection back twice (while the pool holds it) must not put
 * it in the pool twice: two later callers would share it and read each
 * other's replies. The second release is refused and changes nothing. */
static void test_connection_given_back_twice_is_pooled_once(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c =
        rk_client_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .pool_size = 2});
    assert_non_null(c);
    rk_conn *a, *b;
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    rk_client_release(c, a);
    rk_error_clear();
    rk_client_release(c, a); /* the misuse */
    assert_int_equal(rk_error_last()->code, RK_EINVAL);
    assert_int_equal(rk_client_acquire(c, &a), RK_OK);
    assert_int_equal(rk_client_acquire(c, &b), RK_OK);
    assert_ptr_not_equal(a, b);
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.in_use, 2);
    rk_client_release(c, a);
    rk_client_release(c, b);
    rk_client_free(c);
}

/* A connection the client never lent (made with rk_conn_new) is refused,
 * not pushed past the end of the pool's stack of idle connections. */
static void test_connection_not_from_the_pool_is_refused_by_release(void **state) {
    (void)state;
    rk_client *c = pool_of_one();
    rk_conn *mine;
    assert_int_equal(rk_client_acquire(c, &mine), RK_OK);
    rk_client_release(c, mine); /* the pool's one idle slot is taken */
    rk_conn *foreign[2];
    for (int i = 0; i < 2; i++) {
        foreign[i] = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
        assert_non_null(foreign[i]);
        assert_int_equal(rk_conn_connect(foreign[i]), RK_OK);
        rk_error_clear();
        rk_client_release(c, foreign[i]);
        assert_int_equal(rk_error_last()->code, RK_EINVAL);
    }
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.idle, 1);
    assert_int_equal(st.in_use, 0);
    rk_client_free(c);
    for (int i = 0; i < 2; i++)
        rk_conn_free(foreign[i]); /* still the caller's */
}

/* ---- frozen server ------------------------------------------------------- */

typedef int (*frozen_op)(rk_client *c);

static int op_format(rk_client *c) {
    return rk_client_call(c, NULL, "INCR hostile:f");
}

static int op_argv(rk_client *c) {
    return rk_client_call_argv(c, NULL, (rk_str[]){RK_STR("GET"), RK_STR("hostile:f")}, 2);
}

static int op_typed(rk_client *c) {
    long long v;
    return rk_incr(c, "hostile:f", &v);
}

static int op_pipeline_or_tx(rk_client *c, bool tx) {
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = tx});
    rk_pipeline_append(p, "INCR hostile:f");
    rk_pipeline_append(p, "GET hostile:f");
    int rc = rk_pipeline_exec(p);
    rk_pipeline_free(p);
    return rc;
}

static int op_pipeline(rk_client *c) {
    return op_pipeline_or_tx(c, false);
}

static int op_transaction(rk_client *c) {
    return op_pipeline_or_tx(c, true);
}

static int incr_body(rk_pipeline *p, void *ud) {
    (void)ud;
    return rk_pipeline_append(p, "INCR hostile:f");
}

static int op_watched_transaction(rk_client *c) {
    return rk_transaction(c, (rk_str[]){RK_STR("hostile:f")}, 1, incr_body, NULL, NULL, NULL);
}

static int op_script(rk_client *c) {
    static const char src[] = "return redis.call('incr', KEYS[1])";
    rk_script *s = rk_script_new(src, sizeof(src) - 1);
    int rc = rk_script_run(c, s, (rk_str[]){RK_STR("hostile:f")}, 1, NULL, 0, NULL);
    rk_script_free(s);
    return rc;
}

static int op_lock(rk_client *c) {
    rk_lock *l = rk_lock_new(c, "hostile:flock", &(rk_lock_opts){.non_blocking = true});
    int rc = rk_lock_acquire(l);
    rk_lock_free(l);
    return rc;
}

static int op_scan(rk_client *c) {
    rk_scanner *it = rk_scanner_new(c, &(rk_scanner_opts){.match = "hostile:*"});
    rk_scan_item item;
    int rc = rk_scanner_next(it, &item);
    rk_scanner_free(it);
    return rc;
}

static int op_pubsub(rk_client *c) {
    rk_pubsub *ps = rk_pubsub_new(c, NULL);
    int rc = rk_pubsub_subscribe(ps, (rk_str[]){RK_STR("hostile:ch")}, 1);
    if (rc == RK_OK)
        rc = rk_pubsub_wait_active(ps, 300);
    rk_pubsub_free(ps);
    return rc;
}

/* Every API against a server frozen after the client connected (its pool
 * holds live connections): a clear RK_ETIMEOUT well within the limit, and
 * once the server thaws, with the late replies on their way, every call
 * gets its own answer (no connection that timed out was pooled again). */
static void test_frozen_server_times_out_every_api_and_late_replies_go_nowhere(void **state) {
    (void)state;
    if (rkt_server_start(&fx_server, NULL) != 0)
        skip();
    const struct {
        const char *name;
        frozen_op op;
    } ops[] = {
        {"printf-style call", op_format},
        {"argv call", op_argv},
        {"typed call", op_typed},
        {"pipeline", op_pipeline},
        {"transaction", op_transaction},
        {"watched transaction", op_watched_transaction},
        {"script", op_script},
        {"lock acquire", op_lock},
        {"scanner", op_scan},
        {"pub/sub wait_active", op_pubsub},
    };
    const int n = (int)(sizeof(ops) / sizeof(ops[0]));
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&fx_server),
                                               .command_timeout_ms = 300,
                                               .connect_timeout_ms = 300,
                                               .pool_size = n,
                                               .retry = {.attempts = 3}});
    assert_non_null(c);
    assert_int_equal(rk_client_call(c, NULL, "SET hostile:mine %s", "right"), RK_OK);
    rk_conn *warm[16];
    for (int i = 0; i < n; i++) /* n live pooled connections, as after use */
        assert_int_equal(rk_client_acquire(c, &warm[i]), RK_OK);
    for (int i = 0; i < n; i++)
        rk_client_release(c, warm[i]);
    rkt_server_freeze(&fx_server);
    for (int i = 0; i < n; i++) {
        int64_t t0 = now_ms();
        int rc = ops[i].op(c);
        int64_t took = now_ms() - t0;
        if (rc != RK_ETIMEOUT)
            fail_msg("%s on a frozen server: %s, not RK_ETIMEOUT", ops[i].name, rk_strerror(rc));
        if (took > 3000) /* 300 ms a wait: a read retried 3 times, or a lock that releases */
            fail_msg("%s on a frozen server took %lld ms", ops[i].name, (long long)took);
    }
    rkt_server_thaw(&fx_server);
    for (int i = 0; i < 3 * n; i++) {
        rk_reply r;
        assert_int_equal(rk_client_call(c, &r, "GET hostile:mine"), RK_OK);
        assert_int_equal(rk_reply_type(&r), RK_REPLY_STRING);
        assert_string_equal(rk_reply_str(&r), "right");
        rk_reply_free(&r);
    }
    rk_client_free(c);
}

/* A script that increments, run by EVALSHA, NOSCRIPT, then EVAL (the
 * cache is flushed first), cut at every byte of those replies with three
 * attempts allowed: it runs at most once, and a call whose reply was cut
 * says so. */
static void test_script_cut_at_every_reply_byte_runs_at_most_once(void **state) {
    (void)state;
    start_proxy();
    long hs = handshake_bytes();
    static const char src[] = "return redis.call('incr', KEYS[1])";
    rk_script *s = rk_script_new(src, sizeof(src) - 1);
    assert_non_null(s);
    const long noscript = (long)strlen("-NOSCRIPT No matching script. Please use EVAL.\r\n");
    for (long cut = 0; cut <= noscript + 4; cut++) {
        server_run("SET", "hostile:script", "0");
        server_run("SCRIPT", "FLUSH", NULL);
        rk_client *c = client_with_cut_connection(hs, cut);
        rk_reply r;
        int rc = rk_script_run(c, s, (rk_str[]){RK_STR("hostile:script")}, 1, NULL, 0, &r);
        long long ran = server_int("hostile:script");
        if (ran > 1)
            fail_msg("cut at %ld: the script ran %lld times", cut, ran);
        if (rc == RK_OK && (ran != 1 || rk_reply_int(&r) != 1))
            fail_msg("cut at %ld: RK_OK, but it ran %lld times", cut, ran);
        if (rc != RK_OK && rc != RK_EIO && rc != RK_ECLOSED)
            fail_msg("cut at %ld: %s", cut, rk_strerror(rc));
        if (rc == RK_OK && cut < noscript + 4)
            fail_msg("cut at %ld: RK_OK without the whole reply", cut);
        rk_reply_free(&r);
        rk_client_free(c);
    }
    rk_script_free(s);
}

/* ---- hostile server data ------------------------------------------------ */

/* A fake server answering the first command with `reply` (len bytes) and
 * every later one with +PONG; the client speaks protocol. */
static rk_client *fake_client(const char *reply, size_t len, int protocol) {
    rkt_fake_step steps[] = {{.reply = reply, .reply_len = len}, {.reply = "+PONG\r\n"}};
    fx_fake = rkt_fake_start(steps, 2, NULL);
    assert_non_null(fx_fake);
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_fake_port(fx_fake), .protocol = protocol, .retry = {.attempts = 1}});
    assert_non_null(c);
    return c;
}

/* After a hostile reply the client still answers right: the connection it
 * came on was closed, not handed to the next call with bytes left in it. */
static void expect_next_call_clean(rk_client *c) {
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "PING"), RK_OK);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_STATUS);
    assert_string_equal(rk_reply_str(&r), "PONG");
    rk_reply_free(&r);
}

typedef struct hostile_case {
    const char *what;
    const char *reply;
} hostile_case;

/* Replies that break RESP, on both protocols: RK_EPROTO with a nil reply,
 * never a crash or a value, and the next call gets its own answer. */
static void test_malformed_replies_are_eproto_and_the_next_call_is_clean(void **state) {
    (void)state;
    static char deep[4 * 70 + 8];
    deep[0] = '\0';
    for (int i = 0; i < 70; i++)
        strcat(deep, "*1\r\n");
    strcat(deep, ":1\r\n");
    const hostile_case cases[] = {
        {"nesting past the depth limit", deep},
        {"aggregate count past 2^32-1", "*4294967296\r\n"},
        {"aggregate count past the memory limit", "*200000000\r\n"},
        {"map count past the memory limit", "%200000000\r\n"},
        {"negative bulk length", "$-7\r\n"},
        {"negative aggregate count", "*-9\r\n"},
        {"bulk length past 512 MiB", "$600000000\r\n"},
        {"bulk longer than announced", "$2\r\nabc\r\n"},
        {"integer with garbage", ":12x\r\n"},
        {"integer past 64 bits", ":99999999999999999999\r\n"},
        {"double that is no number", ",abc\r\n"},
        {"boolean that is neither t nor f", "#x\r\n"},
        {"big number with a letter", "(12a\r\n"},
        {"unknown type byte", "?what\r\n"},
        {"line ended by LF alone", "+OK\n"},
        {"two attributes in a row", "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n+OK\r\n"},
        {"length line past 21 bytes", "$0000000000000000000000001\r\na\r\n"},
    };
    for (int protocol = 2; protocol <= 3; protocol++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            rk_client *c = fake_client(cases[i].reply, 0, protocol);
            rk_reply r;
            int rc = rk_client_call(c, &r, "GET k");
            if (rc != RK_EPROTO)
                fail_msg("%s (RESP%d): %s, not RK_EPROTO", cases[i].what, protocol,
                         rk_strerror(rc));
            assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
            expect_next_call_clean(c);
            rk_client_free(c);
            rkt_fake_free(fx_fake);
            fx_fake = NULL;
        }
    }
}

/* Typed calls given a reply of a type their command never sends: RK_EPROTO,
 * never a value read from the wrong field. */
static void test_typed_calls_refuse_replies_of_the_wrong_type(void **state) {
    (void)state;
    const char *int_replies[] = {"$2\r\n12\r\n", ",1.5\r\n", "*1\r\n:1\r\n", "%0\r\n",
                                 "#t\r\n",       "(12\r\n",  "+12\r\n"};
    for (size_t i = 0; i < sizeof(int_replies) / sizeof(int_replies[0]); i++) {
        rk_client *c = fake_client(int_replies[i], 0, 3);
        long long v = 777;
        int rc = rk_incr(c, "k", &v);
        if (rc != RK_EPROTO)
            fail_msg("INCR answered %s: %s, not RK_EPROTO", int_replies[i], rk_strerror(rc));
        expect_next_call_clean(c);
        rk_client_free(c);
        rkt_fake_free(fx_fake);
        fx_fake = NULL;
    }
    const char *str_replies[] = {":5\r\n", "*1\r\n$1\r\na\r\n", "%1\r\n+a\r\n+b\r\n", ",1.5\r\n"};
    for (size_t i = 0; i < sizeof(str_replies) / sizeof(str_replies[0]); i++) {
        rk_client *c = fake_client(str_replies[i], 0, 3);
        char *v = (char *)"untouched";
        size_t len = 99;
        int rc = rk_get(c, "k", &v, &len);
        if (rc != RK_EPROTO)
            fail_msg("GET answered %s: %s, not RK_EPROTO", str_replies[i], rk_strerror(rc));
        assert_null(v);
        rk_client_free(c);
        rkt_fake_free(fx_fake);
        fx_fake = NULL;
    }
    const char *num_replies[] = {"$3\r\nabc\r\n", "*0\r\n", "#f\r\n"};
    for (size_t i = 0; i < sizeof(num_replies) / sizeof(num_replies[0]); i++) {
        rk_client *c = fake_client(num_replies[i], 0, 2);
        double d = 0;
        int rc = rk_zscore(c, "k", "m", &d);
        if (rc != RK_EPROTO)
            fail_msg("ZSCORE answered %s: %s, not RK_EPROTO", num_replies[i], rk_strerror(rc));
        rk_client_free(c);
        rkt_fake_free(fx_fake);
        fx_fake = NULL;
    }
}

/* SET NX answers +OK when it set the key and nil when it did not: any
 * other answer (a QUEUED from a connection left inside MULTI, an integer
 * from a broken proxy) must not be taken for an acquired lock. */
static void test_lock_acquire_answered_neither_ok_nor_nil_is_eproto(void **state) {
    (void)state;
    const char *answers[] = {"+QUEUED\r\n", ":1\r\n", "$2\r\nOK\r\n", "*0\r\n"};
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        rkt_fake_step steps[] = {{.reply = answers[i]}, {.reply = ":0\r\n"}, {.reply = ":0\r\n"}};
        fx_fake = rkt_fake_start(steps, 3, NULL); /* then the release: NOSCRIPT-free :0 */
        assert_non_null(fx_fake);
        rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(fx_fake)});
        assert_non_null(c);
        rk_lock *l = rk_lock_new(c, "hostile:fakelock", &(rk_lock_opts){.non_blocking = true});
        assert_non_null(l);
        int rc = rk_lock_acquire(l);
        if (rc != RK_EPROTO)
            fail_msg("SET NX answered %s: acquire said %s", answers[i], rk_strerror(rc));
        assert_null(rk_lock_token(l));
        rk_lock_free(l);
        rk_client_free(c);
        rkt_fake_free(fx_fake);
        fx_fake = NULL;
    }
}

/* The same for Redlock: an instance answering +QUEUED is not counted as
 * locked, so one such instance of one is no quorum. */
static void test_redlock_instance_answered_neither_ok_nor_nil_is_not_counted(void **state) {
    (void)state;
    rkt_fake_step steps[] = {{.reply = "+QUEUED\r\n"}, {.reply = ":0\r\n"}, {.reply = ":0\r\n"}};
    fx_fake = rkt_fake_start(steps, 3, NULL);
    assert_non_null(fx_fake);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(fx_fake)});
    assert_non_null(c);
    rk_redlock *rl =
        rk_redlock_new(&c, 1, "hostile:fakeredlock", &(rk_redlock_opts){.attempts = 1});
    assert_non_null(rl);
    int rc = rk_redlock_acquire(rl, NULL);
    if (rc == RK_OK)
        fail_msg("redlock acquired on an instance that answered +QUEUED");
    assert_int_equal(rk_redlock_instance_status(rl, 0), RK_EPROTO);
    assert_null(rk_redlock_token(rl));
    rk_redlock_free(rl);
    rk_client_free(c);
}

static void on_async_lock(rk_async_lock *l, int status, void *ud) {
    (void)l;
    *(int *)ud = status;
}

/* And for the async lock, on the built-in loop. */
static void test_async_lock_acquire_answered_neither_ok_nor_nil_is_eproto(void **state) {
    (void)state;
    rkt_fake_step steps[] = {{.reply = "+QUEUED\r\n"}, {.reply = ":0\r\n"}, {.reply = ":0\r\n"}};
    fx_fake = rkt_fake_start(steps, 3, NULL);
    assert_non_null(fx_fake);
    rk_loop *loop = rk_loop_new(0);
    assert_non_null(loop);
    rk_async *ac = rk_async_new(&(rk_options){.port = rkt_fake_port(fx_fake)}, NULL);
    assert_non_null(ac);
    assert_int_equal(rk_loop_attach(loop, ac), RK_OK);
    rk_async_lock *l =
        rk_async_lock_new(ac, "hostile:fakelock", &(rk_lock_opts){.non_blocking = true});
    assert_non_null(l);
    int status = 1;
    assert_int_equal(rk_async_lock_acquire(l, on_async_lock, &status), RK_OK);
    int64_t until = now_ms() + 5000;
    while (status == 1 && now_ms() < until)
        rk_loop_run_once(loop, 100);
    if (status != RK_EPROTO)
        fail_msg("SET NX answered +QUEUED: the async acquire said %s", rk_strerror(status));
    assert_null(rk_async_lock_token(l));
    rk_async_lock_free(l);
    rk_async_free(ac);
    rk_loop_free(loop);
}

/* Redirects a server makes up: one that cannot be read is RK_EPROTO, a
 * loop ends with RK_EREDIRECT after the few a call follows, and the
 * command is sent again only for a redirect (it did not run). */
static void test_hostile_redirects_end_in_eproto_or_eredirect(void **state) {
    (void)state;
    const char *unreadable[] = {"-MOVED\r\n",
                                "-MOVED 99999 127.0.0.1:1\r\n",
                                "-MOVED 1\r\n",
                                "-MOVED 1 127.0.0.1:0\r\n",
                                "-MOVED 1 127.0.0.1:70000\r\n",
                                "-MOVED x 127.0.0.1:1\r\n",
                                "-ASK 1 nohostport\r\n",
                                "-MOVED -1 127.0.0.1:1\r\n",
                                "-MOVED 1 [::1\r\n",
                                "-MOVED 1 [::1:6379\r\n",
                                "-MOVED 1 ::1]:6379\r\n",
                                "-MOVED 1 a b:6379\r\n",
                                "-ASK 1 host/x:6379\r\n"};
    for (size_t i = 0; i < sizeof(unreadable) / sizeof(unreadable[0]); i++) {
        rk_client *c = fake_client(unreadable[i], 0, 3);
        rk_reply r;
        int rc = rk_client_call(c, &r, "INCR k");
        if (rc != RK_EPROTO && !(rc == RK_ESERVER && i == 0))
            fail_msg("answered %s: %s (%s)", unreadable[i], rk_strerror(rc),
                     rk_error_last()->message);
        rk_reply_free(&r);
        rk_client_free(c);
        rkt_fake_free(fx_fake);
        fx_fake = NULL;
    }
    /* A loop: every answer sends the command back to the same server. */
    fx_fake = rkt_fake_start(NULL, 0, NULL);
    assert_non_null(fx_fake);
    char moved[64];
    snprintf(moved, sizeof(moved), "-MOVED 1 127.0.0.1:%d\r\n", rkt_fake_port(fx_fake));
    for (int i = 0; i < 20; i++)
        assert_int_equal(rkt_fake_add(fx_fake, &(rkt_fake_step){.reply = moved}), 0);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(fx_fake)});
    assert_non_null(c);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "INCR k"), RK_EREDIRECT);
    assert_int_equal(20 - rkt_fake_steps_left(fx_fake), 6); /* the first and 5 redirects */
    rk_reply_free(&r);
    rk_client_free(c);
}

/* MONITOR's +OK and the first line it streams may come in one read: the
 * line is the stream's, not a reply nobody asked for. */
static void test_monitor_line_read_with_its_ok_is_handed_over(void **state) {
    (void)state;
    static const char both[] = "+OK\r\n+1700000000.000000 [0 127.0.0.1:1] \"PING\"\r\n";
    rk_client *c = fake_client(both, sizeof(both) - 1, 2);
    rk_conn *conn;
    assert_int_equal(rk_client_acquire(c, &conn), RK_OK);
    assert_int_equal(rk_monitor(conn), RK_OK);
    rk_reply r;
    assert_int_equal(rk_conn_read(conn, &r), RK_OK);
    assert_non_null(strstr(rk_reply_str(&r), "\"PING\""));
    rk_reply_free(&r);
    rk_client_release(c, conn);
    rk_client_free(c);
}

/* A server that answers one command twice: the extra reply arrives with
 * the first in one read and sits in the connection's buffer. Pooled with
 * it, every later call on the connection would get the reply before its
 * own. */
static void test_extra_reply_is_never_taken_for_the_next_calls_reply(void **state) {
    (void)state;
    for (int protocol = 2; protocol <= 3; protocol++) {
        rkt_fake_step steps[] = {{.reply = "$1\r\nA\r\n$1\r\nB\r\n"},
                                 {.reply = "$1\r\nC\r\n"},
                                 {.reply = "$1\r\nD\r\n"}};
        fx_fake = rkt_fake_start(steps, 3, NULL);
        assert_non_null(fx_fake);
        rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(fx_fake),
                                                   .protocol = protocol,
                                                   .pool_size = 1,
                                                   .retry = {.attempts = 1}});
        assert_non_null(c);
        rk_reply r;
        assert_int_equal(rk_client_call(c, &r, "GET x"), RK_OK);
        assert_string_equal(rk_reply_str(&r), "A");
        rk_reply_free(&r);
        for (int i = 0; i < 2; i++) {
            int rc = rk_client_call(c, &r, "GET y");
            if (rc == RK_OK && strcmp(rk_reply_str(&r), "B") == 0)
                fail_msg("RESP%d: the extra reply B was handed to the next call", protocol);
            rk_reply_free(&r);
        }
        rk_client_free(c);
        rkt_fake_free(fx_fake);
        fx_fake = NULL;
    }
}

/* The same after a pipeline, which reads its replies its own way: the
 * connection it gives back with an extra reply buffered is not pooled. */
static void
test_extra_reply_after_a_pipeline_is_never_taken_for_the_next_calls_reply(void **state) {
    (void)state;
    rkt_fake_step steps[] = {{.reply = "$1\r\nA\r\n$1\r\nB\r\n"}, {.reply = "$1\r\nC\r\n"}};
    fx_fake = rkt_fake_start(steps, 2, NULL);
    assert_non_null(fx_fake);
    rk_client *c = rk_client_new(
        &(rk_options){.port = rkt_fake_port(fx_fake), .pool_size = 1, .retry = {.attempts = 1}});
    assert_non_null(c);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "GET x"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 0)), "A");
    rk_reply r;
    int rc = rk_client_call(c, &r, "GET y");
    if (rc == RK_OK && strcmp(rk_reply_str(&r), "B") == 0)
        fail_msg("the extra reply B was handed to the call after the pipeline");
    rk_reply_free(&r);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* The same in the handshake: one reply more than the handshake reads,
 * which the first call must not take. */
static void test_extra_reply_in_the_handshake_is_never_taken_for_a_calls_reply(void **state) {
    (void)state;
    /* Every command takes a step: HELLO 3 gets its map, the two CLIENT
     * SETINFO replies and one more in one write (so they arrive together),
     * the SETINFOs nothing, then each GET its value. */
    rkt_fake_step steps[] = {{.reply = "%1\r\n+proto\r\n:3\r\n+OK\r\n+OK\r\n+OK\r\n"},
                             {.reply = NULL},
                             {.reply = NULL},
                             {.reply = "$1\r\nV\r\n"},
                             {.reply = "$1\r\nW\r\n"}};
    fx_fake = rkt_fake_start(steps, 5, &(rkt_fake_opts){.no_handshake = true});
    assert_non_null(fx_fake);
    rk_client *c = rk_client_new(
        &(rk_options){.port = rkt_fake_port(fx_fake), .pool_size = 1, .retry = {.attempts = 1}});
    assert_non_null(c);
    for (int i = 0; i < 2; i++) {
        rk_reply r;
        int rc = rk_client_call(c, &r, "GET k");
        if (rc == RK_OK && (rk_reply_type(&r) != RK_REPLY_STRING || rk_reply_len(&r) != 1))
            fail_msg("call %d got a %s \"%s\", a handshake reply", i,
                     rk_type_name(rk_reply_type(&r)), rk_reply_str(&r));
        rk_reply_free(&r);
    }
    rk_client_free(c);
}

static void count_push(void *userdata, const rk_reply *push) {
    (void)push;
    (*(int *)userdata)++;
}

/* A push between two replies of a pipeline (RESP3 invalidation, say) is
 * not taken for the second command's reply. */
static void test_push_in_the_middle_of_a_pipeline_is_not_a_reply(void **state) {
    (void)state;
    static const char both[] = "$1\r\nA\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$1\r\nB\r\n";
    rkt_fake_step steps[] = {{.reply = both}, {.reply = NULL}};
    fx_fake = rkt_fake_start(steps, 2, NULL);
    assert_non_null(fx_fake);
    int pushes = 0;
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_fake_port(fx_fake),
                                               .on_push = count_push,
                                               .push_userdata = &pushes,
                                               .retry = {.attempts = 1}});
    assert_non_null(c);
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "GET a"), RK_OK);
    assert_int_equal(rk_pipeline_append(p, "GET b"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 0)), "A");
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 1)), "B");
    assert_int_equal(pushes, 1);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* exec on a pipeline never given a command (plain or a transaction):
 * RK_OK with no results. It passed a NULL array to memset (undefined
 * behaviour that UBSan reports: the ASan build fails this test). */
static void test_exec_of_a_pipeline_never_given_a_command_is_ok(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_at(rkt_server_port(&rkt_shared), (rk_retry){0});
    for (int tx = 0; tx <= 1; tx++) {
        rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = tx});
        assert_non_null(p);
        assert_int_equal(rk_pipeline_exec(p), RK_OK);
        assert_int_equal(rk_pipeline_replies(p), 0);
        rk_pipeline_free(p);
    }
    rk_client_free(c);
}

/* NULL objects and arguments, zero counts, an empty key, a key with a NUL
 * in it: each call answers RK_EINVAL (or works, for what is valid), and
 * none crashes. */
static void test_misuse_with_null_and_empty_arguments_is_einval(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_at(rkt_server_port(&rkt_shared), (rk_retry){0});
    rk_reply r;
    long long v;
    char *out;
    size_t len;
    assert_int_equal(rk_client_call(c, &r, NULL), RK_EINVAL);
    assert_int_equal(rk_client_call_argv(c, &r, NULL, 0), RK_EINVAL);
    assert_int_equal(rk_client_call_argv(c, &r, (rk_str[]){RK_STR("GET"), {0}}, 2), RK_EINVAL);
    assert_int_equal(rk_client_call(NULL, &r, "PING"), RK_EINVAL);
    assert_int_equal(rk_incr(c, NULL, &v), RK_EINVAL);
    assert_int_equal(rk_incr(NULL, "k", &v), RK_EINVAL);
    assert_int_equal(rk_get(c, NULL, &out, &len), RK_EINVAL);
    assert_int_equal(rk_exists(c, NULL, 1, &v), RK_EINVAL);
    /* An empty key and a key with a NUL are keys like any other. */
    assert_int_equal(
        rk_client_call_argv(c, NULL, (rk_str[]){RK_STR("SET"), RK_STR(""), RK_STR("e")}, 3), RK_OK);
    assert_int_equal(rk_get(c, "", &out, &len), RK_OK);
    assert_string_equal(out, "e");
    rk_free(out);
    static const char nul_key[] = "hostile:\0nul";
    const rk_str set_nul[] = {RK_STR("SET"), rk_bin(nul_key, sizeof(nul_key) - 1), RK_STR("n")};
    assert_int_equal(rk_client_call_argv(c, NULL, set_nul, 3), RK_OK);
    assert_int_equal(rk_get(c, "hostile:", &out, &len), RK_NIL); /* not cut at the NUL */
    /* Pipelines. */
    rk_pipeline *p = rk_pipeline_new(c, NULL);
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, NULL), RK_EINVAL);
    assert_int_equal(rk_pipeline_append_argv(p, NULL, 0), RK_EINVAL);
    assert_int_equal(rk_pipeline_append(NULL, "PING"), RK_EINVAL);
    assert_int_equal(rk_pipeline_exec(NULL), RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 0);
    assert_int_equal(rk_pipeline_exec(p), RK_OK); /* nothing queued */
    assert_int_equal(rk_pipeline_replies(p), 0);
    assert_int_equal(rk_pipeline_append(p, "PING"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK); /* reused after exec: an empty run */
    assert_int_equal(rk_pipeline_replies(p), 0);
    assert_null(rk_pipeline_reply(p, 0));
    rk_pipeline_free(p);
    /* Locks, scanners, pub/sub. */
    assert_null(rk_lock_new(c, NULL, NULL));
    assert_null(rk_lock_new(c, "", NULL));
    assert_null(rk_lock_new(NULL, "l", NULL));
    assert_int_equal(rk_lock_acquire(NULL), RK_EINVAL);
    assert_int_equal(rk_lock_release(NULL), RK_EINVAL);
    assert_int_equal(rk_lock_extend(NULL, 10, false), RK_EINVAL);
    bool b;
    assert_int_equal(rk_lock_owned(NULL, &b), RK_EINVAL);
    assert_null(rk_scanner_new(c, NULL));
    assert_null(rk_scanner_new(NULL, &(rk_scanner_opts){0}));
    rk_scan_item item;
    assert_int_equal(rk_scanner_next(NULL, &item), RK_EINVAL);
    assert_null(rk_pubsub_new(NULL, NULL));
    assert_int_equal(rk_pubsub_subscribe(NULL, (rk_str[]){RK_STR("ch")}, 1), RK_EINVAL);
    rk_message m;
    assert_int_equal(rk_pubsub_get_message(NULL, 0, &m), RK_EINVAL);
    assert_int_equal(rk_pubsub_wait_active(NULL, 0), RK_EINVAL);
    assert_int_equal(rk_pubsub_channel_count(NULL), 0);
    assert_null(rk_lock_token(NULL));
    assert_int_equal(rk_lock_fence(NULL), 0);
    assert_int_equal(rk_scanner_cursor(NULL), 0);
    /* A reply freed twice is a nil reply the second time. */
    assert_int_equal(rk_client_call(c, &r, "PING"), RK_OK);
    rk_reply_free(&r);
    rk_reply_free(&r);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_client_free(c);
}

/* A user the server lets run MULTI but not EXEC: the refused EXEC leaves
 * the connection inside MULTI, so it must not go back to the pool, where
 * the next call would be answered QUEUED. */
static void test_transaction_whose_exec_is_refused_leaves_no_queued_connection(void **state) {
    (void)state;
    rkt_shared_need();
    server_run("SET", "hostile:noexec", "v");
    user_denied("hostile-noexec", "-exec", NULL);
    rk_client *c = pool_of_one_as("hostile-noexec");
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = true});
    assert_non_null(p);
    assert_int_equal(rk_pipeline_append(p, "INCR hostile:noexec:n"), RK_OK);
    int rc = rk_pipeline_exec(p);
    assert_true(rc < 0);
    rk_reply r;
    rc = rk_client_call(c, &r, "GET hostile:noexec");
    if (rc != RK_OK || rk_reply_type(&r) != RK_REPLY_STRING)
        fail_msg("the call after a refused EXEC got %s: a %s \"%s\"", rk_strerror(rc),
                 rk_type_name(rk_reply_type(&r)), rk_reply_str(&r));
    rk_reply_free(&r);
    rk_pipeline_free(p);
    rk_client_free(c);
    server_run("ACL", "DELUSER", "hostile-noexec");
}

/* Subscribing to no channel at all is a bad argument: sent as a bare
 * SUBSCRIBE, the server's "wrong number of arguments" ended the pubsub
 * object for good (an error reply no retry cures), losing the channels it
 * had. It is refused, and the subscription held goes on working. */
static void test_subscribe_to_no_channel_is_einval_and_keeps_the_pubsub(void **state) {
    (void)state;
    rkt_shared_need();
    rk_client *c = client_at(rkt_server_port(&rkt_shared), (rk_retry){0});
    rk_pubsub *ps = rk_pubsub_new(c, NULL);
    assert_non_null(ps);
    assert_int_equal(rk_pubsub_subscribe(ps, (rk_str[]){RK_STR("hostile:ch")}, 1), RK_OK);
    assert_int_equal(rk_pubsub_wait_active(ps, 2000), RK_OK);
    assert_int_equal(rk_pubsub_subscribe(ps, NULL, 0), RK_EINVAL);
    assert_int_equal(rk_pubsub_psubscribe(ps, NULL, 0), RK_EINVAL);
    assert_int_equal(rk_pubsub_ssubscribe(ps, NULL, 0), RK_EINVAL);
    free(rkt_server_cmd(&rkt_shared, "PUBLISH", "hostile:ch", "hello", NULL));
    rk_message m;
    int rc = rk_pubsub_get_message(ps, 2000, &m);
    while (rc == 1 && m.kind != RK_MSG_MESSAGE)
        rc = rk_pubsub_get_message(ps, 2000, &m);
    if (rc != 1)
        fail_msg("no message after the empty subscribe: %s (%s)", rk_strerror(rc),
                 rk_error_last()->message);
    assert_int_equal(m.data_len, 5);
    assert_memory_equal(m.data, "hello", 5);
    rk_pubsub_free(ps);
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
        cmocka_unit_test_teardown(test_lock_acquire_cut_at_every_reply_byte_leaves_no_lock,
                                  teardown),
        cmocka_unit_test_teardown(test_lock_release_cut_at_every_reply_byte_is_reported, teardown),
        cmocka_unit_test_teardown(test_script_cut_at_every_reply_byte_runs_at_most_once, teardown),
        cmocka_unit_test_teardown(
            test_transaction_whose_multi_is_refused_reports_the_commands_that_ran, teardown),
        cmocka_unit_test_teardown(
            test_transaction_whose_exec_is_refused_leaves_no_queued_connection, teardown),
        cmocka_unit_test_teardown(test_subscribe_to_no_channel_is_einval_and_keeps_the_pubsub,
                                  teardown),
        cmocka_unit_test_teardown(test_pipeline_call_refuses_select_on_the_held_connection,
                                  teardown),
        cmocka_unit_test_teardown(test_script_calls_with_null_script_are_einval, teardown),
        cmocka_unit_test_teardown(test_exec_of_a_pipeline_never_given_a_command_is_ok, teardown),
        cmocka_unit_test_teardown(test_misuse_with_null_and_empty_arguments_is_einval, teardown),
        cmocka_unit_test_teardown(test_conn_call_after_an_appended_error_gets_its_own_reply,
                                  teardown),
        cmocka_unit_test_teardown(test_reset_drops_the_replies_of_commands_appended_before_it,
                                  teardown),
        cmocka_unit_test_teardown(test_connection_given_back_after_raw_select_is_not_pooled,
                                  teardown),
        cmocka_unit_test_teardown(test_connection_given_back_inside_multi_is_not_pooled, teardown),
        cmocka_unit_test_teardown(test_connection_given_back_after_raw_auth_is_not_pooled,
                                  teardown),
        cmocka_unit_test_teardown(test_connection_given_back_after_multi_and_exec_is_pooled,
                                  teardown),
        cmocka_unit_test_teardown(test_connection_given_back_with_an_open_watch_is_not_pooled,
                                  teardown),
        cmocka_unit_test_teardown(
            test_connection_given_back_after_quit_or_client_tracking_is_not_pooled, teardown),
        cmocka_unit_test_teardown(test_connection_given_back_after_client_kill_is_not_pooled,
                                  teardown),
        cmocka_unit_test_teardown(test_pipeline_add_refuses_a_built_select, teardown),
        cmocka_unit_test_teardown(
            test_connection_whose_unwatch_or_discard_was_refused_is_not_pooled, teardown),
        cmocka_unit_test_teardown(test_connection_after_watched_pipeline_transaction_is_pooled,
                                  teardown),
        cmocka_unit_test_teardown(test_health_check_answered_by_an_error_keeps_the_connection,
                                  teardown),
        cmocka_unit_test_teardown(test_connection_given_back_twice_is_pooled_once, teardown),
        cmocka_unit_test_teardown(test_connection_not_from_the_pool_is_refused_by_release,
                                  teardown),
        cmocka_unit_test_teardown(
            test_frozen_server_times_out_every_api_and_late_replies_go_nowhere, teardown),
        cmocka_unit_test_teardown(test_malformed_replies_are_eproto_and_the_next_call_is_clean,
                                  teardown),
        cmocka_unit_test_teardown(test_typed_calls_refuse_replies_of_the_wrong_type, teardown),
        cmocka_unit_test_teardown(test_lock_acquire_answered_neither_ok_nor_nil_is_eproto,
                                  teardown),
        cmocka_unit_test_teardown(test_redlock_instance_answered_neither_ok_nor_nil_is_not_counted,
                                  teardown),
        cmocka_unit_test_teardown(test_async_lock_acquire_answered_neither_ok_nor_nil_is_eproto,
                                  teardown),
        cmocka_unit_test_teardown(test_hostile_redirects_end_in_eproto_or_eredirect, teardown),
        cmocka_unit_test_teardown(test_monitor_line_read_with_its_ok_is_handed_over, teardown),
        cmocka_unit_test_teardown(test_extra_reply_is_never_taken_for_the_next_calls_reply,
                                  teardown),
        cmocka_unit_test_teardown(
            test_extra_reply_after_a_pipeline_is_never_taken_for_the_next_calls_reply, teardown),
        cmocka_unit_test_teardown(
            test_extra_reply_in_the_handshake_is_never_taken_for_a_calls_reply, teardown),
        cmocka_unit_test_teardown(test_push_in_the_middle_of_a_pipeline_is_not_a_reply, teardown),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
