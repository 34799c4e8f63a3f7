/* Out of memory everywhere: connections (TCP and TLS), clients (from
 * options and from a URL), the pool, pipelines and transactions run against
 * a real server with their 1st allocation failing, then their 2nd, and so
 * on until a run needs no more than were tried (tests/support/rkt_alloc.h
 * counts and refuses them). Every run must succeed or fail with RK_ENOMEM,
 * leave no block allocated, not crash, and leave the object working: the
 * same calls succeed once memory is back. Each runs on RESP2 and RESP3,
 * whose handshakes and reply shapes differ. Needs redis-server (and
 * openssl); skips without it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "rkt_alloc.h"
#include "rkt_cmd.h"

/* More allocations than any operation here makes. */
#define MAX_ALLOCATIONS 5000

/* Large enough to be referenced by the writer, not copied (16 KiB), and to
 * be received straight into its reply's block (64 KiB). */
#define BIG_LEN (100 * 1024)
static char big[BIG_LEN + 1];

/* The shared server listens on TCP and TLS; the operations log in as an
 * ACL user made here, so the handshake sends everything it can: HELLO with
 * AUTH and SETNAME, SELECT. */
static int group_setup(void **state) {
#ifdef RK_HAVE_TLS
    if (!rkt_require_binaries("redis-server", "openssl", NULL))
        return 0; /* every test skips */
    rkt_shared_opts.tls = true;
#endif
    if (rkt_shared_setup(state) != 0)
        return -1;
    char *reply = rkt_server_cmd(&rkt_shared, "ACL", "SETUSER", "oom", "on", ">pw", "~*", "&*",
                                 "+@all", NULL);
    int rc = reply && strcmp(reply, "+OK\r\n") == 0 ? 0 : -1;
    free(reply);
    return rc;
}

static rk_options options(int protocol, int pool_size) {
    return (rk_options){.port = rkt_server_port(&rkt_shared),
                        .protocol = protocol,
                        .username = "oom",
                        .password = "pw",
                        .db = 1,
                        .client_name = "oom",
                        .pool_size = pool_size,
                        .pool_timeout_ms = 2000};
}

/* The same over TLS, the server verified with the test CA. Skips the test
 * in a build without TLS. */
static rk_options tls_options(int protocol) {
#ifndef RK_HAVE_TLS
    skip();
#endif
    rk_options o = options(protocol, 0);
    o.port = rkt_server_tls_port(&rkt_shared);
    o.tls =
        (rk_tls_options){.enabled = true, .ca_file = rkt_server_tls_files(&rkt_shared)->ca_cert};
    return o;
}

/* The allocation failing in the current run, for the messages. */
static size_t failing;

/* One run of an operation: RK_OK, or the first failure's code. */
typedef int (*oom_op)(int protocol);

/* Runs call only while everything before it succeeded, keeping the first
 * failure in rc. */
#define RUN(rc, call)                                                                              \
    do {                                                                                           \
        if ((rc) == RK_OK)                                                                         \
            (rc) = (call);                                                                         \
    } while (0)

/* Fails the test unless rc is RK_OK, or RK_ENOMEM with rk_error_last()
 * saying so; returns rc. */
static int ok_or_enomem(int rc) {
    if (rc != RK_OK && rc != RK_ENOMEM)
        fail_msg("allocation %zu failing: %s (%s), wanted RK_ENOMEM", failing, rk_strerror(rc),
                 rk_error_last()->message);
    if (rc == RK_ENOMEM && rk_error_last()->code != RK_ENOMEM)
        fail_msg("allocation %zu failing: RK_ENOMEM, but the last error says %s (%s)", failing,
                 rk_strerror(rk_error_last()->code), rk_error_last()->message);
    return rc;
}

/* The code of a constructor's failure (it returned NULL). */
static int new_failed(void) {
    return ok_or_enomem(rk_error_last()->code);
}

/* After RK_ENOMEM, with memory back, the same object must work again:
 * calls(obj) must succeed. Returns rc. */
static int works_again(int rc, int (*calls)(void *), void *obj) {
    if (ok_or_enomem(rc) != RK_ENOMEM)
        return rc;
    int again = calls(obj);
    if (again != RK_OK)
        fail_msg("allocation %zu failing: after RK_ENOMEM it failed again with %s (%s)", failing,
                 rk_strerror(again), rk_error_last()->message);
    return rc;
}

/* Fails the test unless got is the len bytes of want. */
static int expect_bytes(const char *got, size_t got_len, const char *want, size_t len) {
    if (got_len != len || memcmp(got, want, len) != 0)
        fail_msg("a value of %zu bytes, not the %zu sent", got_len, len);
    return RK_OK;
}

static int expect_big(const rk_reply *r) {
    return expect_bytes(rk_reply_str(r), rk_reply_len(r), big, BIG_LEN);
}

/* Runs op with its 1st allocation failing, then its 2nd, ... until a run
 * makes no more allocations than the one refused. */
static void fail_each_allocation(oom_op op, void **state) {
    rkt_shared_need();
    int protocol = rkt_cmd_protocol(state);
    for (failing = 1; failing < MAX_ALLOCATIONS; failing++) {
        size_t failed = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(failing);
        int rc = op(protocol);
        rkt_alloc_fail_nth(0);
        if (rkt_alloc_live() != 0)
            fail_msg("allocation %zu failing: %ld block(s) left allocated", failing,
                     rkt_alloc_live());
        if (rkt_alloc_stats_now().failed == failed) {
            if (rc != RK_OK)
                fail_msg("no allocation failed, yet %s", rk_strerror(rc));
            return; /* every allocation of the operation was tried */
        }
    }
    fail_msg("still allocating after %d allocations", MAX_ALLOCATIONS);
}

/* ---- connection ------------------------------------------------------- */

static int conn_calls(void *conn) {
    rk_conn *c = conn;
    rk_reply r = {0};
    int rc = rk_conn_append(c, "INCR oom:appended"); /* sent once connected */
    RUN(rc, rk_conn_connect(c));
    RUN(rc, rk_conn_read(c, &r));
    RUN(rc, rk_reply_type(&r) == RK_REPLY_INTEGER ? RK_OK : RK_EPROTO);
    rk_reply_free(&r);
    RUN(rc, rk_conn_call(c, &r, "SET oom:conn %b", big, (size_t)BIG_LEN));
    rk_reply_free(&r);
    RUN(rc, rk_conn_call(c, &r, "GET oom:conn"));
    RUN(rc, expect_big(&r));
    rk_reply_free(&r);
    RUN(rc, rk_conn_call_args(c, &r, "HSET", "oom:h", "f", "v", NULL));
    rk_reply_free(&r);
    RUN(rc, rk_conn_call(c, &r, "HGETALL oom:h"));
    rk_reply_free(&r);
    return rc;
}

/* A connection that failed may be broken: closed, it connects again. */
static int close_then_calls(void *conn) {
    rk_conn_close(conn);
    return conn_calls(conn);
}

static int conn_with(const rk_options *o) {
    rk_conn *c = rk_conn_new(o);
    if (c == NULL)
        return new_failed();
    int rc = works_again(conn_calls(c), close_then_calls, c);
    rk_conn_free(c);
    return rc;
}

static int conn_op(int protocol) {
    rk_options o = options(protocol, 0);
    return conn_with(&o);
}

static int tls_conn_op(int protocol) {
    rk_options o = tls_options(protocol);
    return conn_with(&o);
}

static void test_connection_survives_every_failed_allocation(void **state) {
    fail_each_allocation(conn_op, state);
}

static void test_tls_connection_survives_every_failed_allocation(void **state) {
    fail_each_allocation(tls_conn_op, state);
}

/* ---- client ----------------------------------------------------------- */

/* Typed commands of more arguments, and numbers, than their builder holds
 * inline. */
#define MANY 40

static int many_arguments(rk_client *c) {
    rk_hset_field_value fv[MANY];
    rk_zadd_score_member sm[MANY];
    char names[MANY][8];
    for (int i = 0; i < MANY; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        fv[i] = (rk_hset_field_value){.field = rk_cstr(names[i]), .value = rk_cstr(names[i])};
        sm[i] = (rk_zadd_score_member){.score = i + 0.5, .member = rk_cstr(names[i])};
    }
    long long added = 0;
    int rc = rk_hset(c, "oom:many", fv, MANY, &added);
    RUN(rc, rk_zadd(c, "oom:manyz", sm, MANY, NULL, NULL));
    return rc;
}

static int client_calls(void *client) {
    rk_client *c = client;
    rk_reply r = {0};
    char *value = NULL;
    size_t len = 0;
    long long n = 0;
    int rc = rk_client_call(c, &r, "SET oom:client %b", big, (size_t)BIG_LEN);
    rk_reply_free(&r);
    RUN(rc, rk_client_call_args(c, &r, "GET", "oom:client", NULL));
    RUN(rc, expect_big(&r));
    rk_reply_free(&r);
    RUN(rc, rk_get(c, "oom:client", &value, &len));
    RUN(rc, expect_bytes(value, len, big, BIG_LEN));
    rk_free(value);
    RUN(rc, rk_incr(c, "oom:n", &n));
    RUN(rc, rk_client_call(c, &r, "HSET oom:h a 1 b 2"));
    rk_reply_free(&r);
    RUN(rc, rk_hgetall(c, "oom:h", &r)); /* a map on RESP2 too: reshaped */
    rk_reply_free(&r);
    RUN(rc, rk_client_call(c, &r, "ZADD oom:z 1 a 2.5 b"));
    rk_reply_free(&r);
    RUN(rc, rk_zrange(c, "oom:z", "0", "-1", &(rk_zrange_opts){.withscores = true}, &r));
    rk_reply_free(&r); /* pairs built as a view, then copied */
    RUN(rc, rk_client_call(c, &r, "XADD oom:x MAXLEN = 2 * f v"));
    rk_reply_free(&r);
    RUN(rc, rk_xrange(c, "oom:x", "-", "+", NULL, &r));
    rk_reply_free(&r);
    RUN(rc, rk_info(c, (const char *const[]){"server"}, 1, &r)); /* text parsed to a map */
    rk_reply_free(&r);
    RUN(rc, many_arguments(c));
    return rc;
}

/* Runs calls on c, a client just made (NULL when that failed), again
 * after RK_ENOMEM, and frees it. */
static int on_client(rk_client *c, int (*calls)(void *)) {
    if (c == NULL)
        return new_failed();
    int rc = works_again(calls(c), calls, c);
    rk_client_free(c);
    return rc;
}

static int client_op(int protocol) {
    rk_options o = options(protocol, 0);
    return on_client(rk_client_new(&o), client_calls);
}

static int tls_client_op(int protocol) {
    rk_options o = tls_options(protocol);
    return on_client(rk_client_new(&o), client_calls);
}

/* The same calls on a client made from a URL. */
static int url_client_op(int protocol) {
    char url[128];
    snprintf(url, sizeof url, "redis://oom:pw@127.0.0.1:%d/1?protocol=%d",
             rkt_server_port(&rkt_shared), protocol);
    return on_client(rk_client_new_url(url, NULL), client_calls);
}

static void test_client_survives_every_failed_allocation(void **state) {
    fail_each_allocation(client_op, state);
}

static void test_tls_client_survives_every_failed_allocation(void **state) {
    fail_each_allocation(tls_client_op, state);
}

static void test_client_from_url_survives_every_failed_allocation(void **state) {
    fail_each_allocation(url_client_op, state);
}

/* ---- pool ------------------------------------------------------------- */

#define POOLED 4

/* Takes every connection of the pool, uses each, and gives them back; a
 * slot lost to a failure would make the last acquire RK_EPOOL. */
static int take_all(void *client) {
    rk_client *c = client;
    rk_conn *conns[POOLED] = {0};
    int rc = RK_OK;
    for (int i = 0; i < POOLED && rc == RK_OK; i++) {
        rk_reply r = {0};
        RUN(rc, rk_client_acquire(c, &conns[i]));
        RUN(rc, rk_conn_call(conns[i], &r, "PING"));
        rk_reply_free(&r);
    }
    for (int i = 0; i < POOLED; i++) {
        if (conns[i])
            rk_client_release(c, conns[i]);
    }
    return rc;
}

static int pool_calls(void *client) {
    rk_reply r = {0};
    int rc = take_all(client);
    RUN(rc, take_all(client)); /* the pooled ones again */
    RUN(rc, rk_client_call(client, &r, "PING"));
    rk_reply_free(&r);
    return rc;
}

static int pool_op(int protocol) {
    rk_options o = options(protocol, POOLED);
    return on_client(rk_client_new(&o), pool_calls);
}

static void test_pool_survives_every_failed_allocation(void **state) {
    fail_each_allocation(pool_op, state);
}

/* ---- pipelines and transactions ---------------------------------------- */

/* rk_pipeline_exec, whose RK_OK must mean that every command (none here
 * gets an error reply) has its reply, shaped as its typed command says. */
static int exec_ok(rk_pipeline *p) {
    int rc = rk_pipeline_exec(p);
    for (size_t i = 0; rc == RK_OK && i < rk_pipeline_replies(p); i++) {
        if (rk_pipeline_status(p, i) != RK_OK)
            fail_msg("allocation %zu failing: exec returned RK_OK, but command %zu failed with %s",
                     failing, i, rk_strerror(rk_pipeline_status(p, i)));
    }
    return rc;
}

/* Queues a typed command whose reply gets a shape after the run. */
static int add_zrange(rk_pipeline *p) {
    rk_command cmd;
    rk_cmd_zrange(&cmd, RK_STR("oom:z"), RK_STR("0"), RK_STR("-1"),
                  &(rk_zrange_opts){.withscores = true});
    return rk_pipeline_add(p, &cmd);
}

/* Enough commands that the pipeline's arrays grow. */
#define PIPELINED 300

static int pipeline_commands(rk_pipeline *p) {
    int rc = rk_pipeline_append(p, "SET oom:p %b", big, (size_t)BIG_LEN);
    RUN(rc, rk_pipeline_append_args(p, "GET", "oom:p", NULL));
    rk_command cmd;
    RUN(rc, rk_pipeline_add(p, rk_cmd_hgetall(&cmd, RK_STR("oom:h"))));
    RUN(rc, add_zrange(p));
    for (int i = 0; i < PIPELINED && rc == RK_OK; i++)
        rc = rk_pipeline_append(p, "INCR oom:pn");
    RUN(rc, exec_ok(p));
    RUN(rc, expect_big(rk_pipeline_reply(p, 1)));
    return rc;
}

static int pipeline_calls(void *pipeline) {
    int rc = pipeline_commands(pipeline);
    RUN(rc, pipeline_commands(pipeline)); /* a second exec replaces the results */
    return rc;
}

/* WATCH, a read at once, MULTI, queued commands, EXEC. */
static int transaction_calls(void *pipeline) {
    const rk_str keys[] = {RK_STR("oom:t")};
    rk_pipeline *p = pipeline;
    rk_reply r = {0};
    int rc = rk_pipeline_watch(p, keys, 1);
    RUN(rc, rk_pipeline_call(p, &r, "GET oom:t"));
    rk_reply_free(&r);
    RUN(rc, rk_pipeline_multi(p));
    RUN(rc, rk_pipeline_append(p, "SET oom:t %b", big, (size_t)BIG_LEN));
    RUN(rc, rk_pipeline_append(p, "GET oom:t"));
    rk_command cmd;
    RUN(rc, rk_pipeline_add(p, rk_cmd_hgetall(&cmd, RK_STR("oom:h"))));
    RUN(rc, add_zrange(p));
    RUN(rc, exec_ok(p));
    RUN(rc, expect_big(rk_pipeline_reply(p, 1)));
    return rc;
}

/* A pipeline that failed keeps what was queued; reset makes it as new. */
static int reset_then(rk_pipeline *p, int (*calls)(void *)) {
    rk_pipeline_reset(p);
    return calls(p);
}

static int pipeline_reset_calls(void *p) {
    return reset_then(p, pipeline_calls);
}

static int transaction_reset_calls(void *p) {
    return reset_then(p, transaction_calls);
}

/* A pipeline on the client running calls, then, after RK_ENOMEM, again
 * once reset (again_calls). */
static int on_pipeline(rk_client *c, bool transaction, int (*calls)(void *),
                       int (*again_calls)(void *)) {
    rk_pipeline *p = rk_pipeline_new(c, &(rk_pipeline_opts){.transaction = transaction});
    if (p == NULL)
        return new_failed();
    int rc = works_again(calls(p), again_calls, p);
    rk_pipeline_free(p);
    return rc;
}

static int plain_pipeline(void *client) {
    return on_pipeline(client, false, pipeline_calls, pipeline_reset_calls);
}

static int transaction_pipeline(void *client) {
    return on_pipeline(client, true, transaction_calls, transaction_reset_calls);
}

static int pipeline_op(int protocol) {
    rk_options o = options(protocol, 0);
    return on_client(rk_client_new(&o), plain_pipeline);
}

static int transaction_op(int protocol) {
    rk_options o = options(protocol, 0);
    return on_client(rk_client_new(&o), transaction_pipeline);
}

/* The body of an rk_transaction: read at once, then queue. */
static int transaction_body(rk_pipeline *p, void *unused) {
    (void)unused;
    rk_reply r = {0};
    int rc = rk_pipeline_call(p, &r, "GET oom:t");
    rk_reply_free(&r);
    RUN(rc, rk_pipeline_multi(p));
    RUN(rc, rk_pipeline_append(p, "SET oom:t %b", big, (size_t)BIG_LEN));
    RUN(rc, add_zrange(p));
    return rc;
}

static int transaction_helper_calls(void *client) {
    const rk_str keys[] = {RK_STR("oom:t")};
    rk_pipeline *result = NULL;
    int rc = rk_transaction(client, keys, 1, transaction_body, NULL, NULL, &result);
    rk_pipeline_free(result);
    return rc;
}

static int transaction_helper_op(int protocol) {
    rk_options o = options(protocol, 0);
    return on_client(rk_client_new(&o), transaction_helper_calls);
}

static void test_pipeline_survives_every_failed_allocation(void **state) {
    fail_each_allocation(pipeline_op, state);
}

static void test_transaction_survives_every_failed_allocation(void **state) {
    fail_each_allocation(transaction_op, state);
}

static void test_transaction_helper_survives_every_failed_allocation(void **state) {
    fail_each_allocation(transaction_helper_op, state);
}

/* ---- main --------------------------------------------------------------- */

/* Each run with the counting allocator, whose teardown fails the test if
 * a block is still allocated. */
#define BOTH(f) RKT_BOTH_FIXTURES(f, rkt_alloc_setup, rkt_alloc_teardown)

int main(void) {
    memset(big, 'x', BIG_LEN);
    const struct CMUnitTest tests[] = {
        BOTH(test_connection_survives_every_failed_allocation),
        BOTH(test_client_survives_every_failed_allocation),
        BOTH(test_tls_connection_survives_every_failed_allocation),
        BOTH(test_tls_client_survives_every_failed_allocation),
        BOTH(test_client_from_url_survives_every_failed_allocation),
        BOTH(test_pool_survives_every_failed_allocation),
        BOTH(test_pipeline_survives_every_failed_allocation),
        BOTH(test_transaction_survives_every_failed_allocation),
        BOTH(test_transaction_helper_survives_every_failed_allocation),
    };
    return cmocka_run_group_tests(tests, group_setup, rkt_shared_teardown);
}
