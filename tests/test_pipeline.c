/* rk_pipeline against a real server, on RESP2 and RESP3: replies in order
 * for pipelines of every size (a million commands held once in memory),
 * large referenced values, error replies kept in their slots, MULTI/EXEC
 * transactions (runtime errors, EXECABORT, a broken EXEC reply from a
 * scripted fake server), WATCH and the rk_transaction helper, connection
 * failures and timeouts in the middle of a pipeline (what is kept, what is
 * retried), and the pool connection given back. Needs redis-server; the
 * tests skip without it. */
#define _GNU_SOURCE

#include <malloc.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "rediskit/alloc.h"
#include "rediskit/client.h"
#include "rediskit/error.h"
#include "rediskit/pipeline.h"
#include "rediskit/reply.h"
#include "rkt_dropper.h"
#include "rkt_fakeserver.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"

/* The server every test shares, or none. */

/* What a test set up that must go away even when it fails (the teardown
 * stops them): a proxy and a server of its own. */
static rkt_proxy *fx_proxy;
static rkt_server fx_server;

static const int resp2 = 2, resp3 = 3;

/* ---- a byte-counting allocator ---------------------------------------
 *
 * Installed for the whole program (before any rediskit call), so every
 * block the library holds is counted: live bytes now and the peak since
 * the last mark. Atomic, as the threaded test allocates from 4 threads. */

static atomic_llong live_bytes, peak_bytes;

static void count_bytes(long long delta) {
    long long now = atomic_fetch_add(&live_bytes, delta) + delta;
    long long peak = atomic_load(&peak_bytes);
    while (now > peak && !atomic_compare_exchange_weak(&peak_bytes, &peak, now))
        ;
}

static void *bytes_malloc(size_t size) {
    void *p = malloc(size);
    if (p)
        count_bytes((long long)malloc_usable_size(p));
    return p;
}

static void *bytes_calloc(size_t count, size_t size) {
    void *p = calloc(count, size);
    if (p)
        count_bytes((long long)malloc_usable_size(p));
    return p;
}

static void bytes_free(void *p) {
    if (p == NULL)
        return;
    count_bytes(-(long long)malloc_usable_size(p));
    free(p);
}

static void *bytes_realloc(void *p, size_t size) {
    if (p != NULL && size == 0) {
        bytes_free(p);
        return NULL;
    }
    long long before = p ? (long long)malloc_usable_size(p) : 0;
    void *np = realloc(p, size);
    if (np)
        count_bytes((long long)malloc_usable_size(np) - before);
    return np;
}

/* Starts a new peak measurement at the current live bytes. */
static long long mark_peak(void) {
    long long now = atomic_load(&live_bytes);
    atomic_store(&peak_bytes, now);
    return now;
}

/* ---- helpers ------------------------------------------------------------ */

static int proto(void **state) {
    return *(const int *)*state;
}

/* A client of 127.0.0.1:port speaking `protocol`, with this retry policy. */
static rk_client *client_at(int port, int protocol, rk_retry retry) {
    rk_client *c = rk_client_new(&(rk_options){.port = port, .protocol = protocol, .retry = retry});
    if (c == NULL)
        fail_msg("rk_client_new: %s", rk_error_last()->message);
    return c;
}

static rk_client *shared_client(void **state) {
    return client_at(rkt_server_port(&rkt_shared), proto(state), (rk_retry){0});
}

static rk_pipeline *pipeline_on(rk_client *c, rk_pipeline_opts opts) {
    rk_pipeline *p = rk_pipeline_new(c, &opts);
    assert_non_null(p);
    return p;
}

static size_t in_use(rk_client *c) {
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    return st.in_use;
}

/* The raw RESP reply of GET key on the shared server (free it). */
static char *server_get(const char *key) {
    char *raw = rkt_server_cmd(&rkt_shared, "GET", key, NULL);
    assert_non_null(raw);
    return raw;
}

/* The integer a key of srv holds, read without rediskit; -1 when missing. */
static long long server_int_of(const rkt_server *srv, const char *key) {
    char *raw = rkt_server_cmd(srv, "GET", key, NULL);
    assert_non_null(raw);
    long long v = -1;
    if (raw[0] == '$' && strcmp(raw, "$-1\r\n") != 0)
        v = atoll(strchr(raw, '\n') + 1);
    free(raw);
    return v;
}

static long long server_int(const char *key) {
    return server_int_of(&rkt_shared, key);
}

static bool server_has(const char *key) {
    char *raw = rkt_server_cmd(&rkt_shared, "EXISTS", key, NULL);
    assert_non_null(raw);
    bool has = strcmp(raw, ":1\r\n") == 0;
    free(raw);
    return has;
}

static void server_set(const char *key, const char *value) {
    char *raw = rkt_server_cmd(&rkt_shared, "SET", key, value, NULL);
    assert_non_null(raw);
    assert_string_equal(raw, "+OK\r\n");
    free(raw);
}

static void append_ok(rk_pipeline *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_pipeline_vappend(p, fmt, ap);
    va_end(ap);
    if (rc != RK_OK)
        fail_msg("append %s: %s", fmt, rk_error_last()->message);
}

static void exec_ok(rk_pipeline *p) {
    int rc = rk_pipeline_exec(p);
    if (rc != RK_OK)
        fail_msg("rk_pipeline_exec: %s (%s)", rk_strerror(rc), rk_error_last()->message);
}

/* Command i got status `status` and a reply of that type and text. */
static void assert_reply(const rk_pipeline *p, size_t i, int status, rk_type type,
                         const char *text) {
    const rk_reply *r = rk_pipeline_reply(p, i);
    assert_non_null(r);
    if (rk_pipeline_status(p, i) != status || rk_reply_type(r) != type ||
        (text && strcmp(rk_reply_str(r), text) != 0))
        fail_msg("command %zu: status %s, %s \"%s\"; expected %s, %s \"%s\"", i,
                 rk_strerror(rk_pipeline_status(p, i)), rk_type_name(rk_reply_type(r)),
                 rk_reply_str(r) ? rk_reply_str(r) : "", rk_strerror(status), rk_type_name(type),
                 text ? text : "");
}

static void assert_ok_status(const rk_pipeline *p, size_t i) {
    assert_reply(p, i, RK_OK, RK_REPLY_STATUS, "OK");
}

static void assert_int_reply(const rk_pipeline *p, size_t i, long long v) {
    const rk_reply *r = rk_pipeline_reply(p, i);
    assert_non_null(r);
    if (rk_pipeline_status(p, i) != RK_OK || rk_reply_type(r) != RK_REPLY_INTEGER ||
        rk_reply_int(r) != v)
        fail_msg("command %zu: status %s, %s %lld; expected integer %lld", i,
                 rk_strerror(rk_pipeline_status(p, i)), rk_type_name(rk_reply_type(r)),
                 rk_reply_int(r), v);
}

/* Command i got an error reply starting with prefix, status RK_ESERVER. */
static void assert_error_reply(const rk_pipeline *p, size_t i, const char *prefix) {
    const rk_reply *r = rk_pipeline_reply(p, i);
    assert_int_equal(rk_pipeline_status(p, i), RK_ESERVER);
    assert_int_equal(rk_reply_type(r), RK_REPLY_ERROR);
    if (strncmp(rk_reply_str(r), prefix, strlen(prefix)) != 0)
        fail_msg("command %zu: \"%s\" does not start with %s", i, rk_reply_str(r), prefix);
}

/* ---- sizes and order ------------------------------------------------- */

static void test_one_command_pipeline_returns_its_reply(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "INCR one");
    exec_ok(p);
    assert_int_equal(rk_pipeline_replies(p), 1);
    assert_int_reply(p, 0, 1);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_thousand_sets_and_gets_reply_in_order(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    for (int i = 0; i < 1000; i++) {
        append_ok(p, "SET k:%d v:%d", i, i);
        append_ok(p, "GET k:%d", i);
    }
    exec_ok(p);
    assert_int_equal(rk_pipeline_replies(p), 2000);
    for (int i = 0; i < 1000; i++) {
        char v[32];
        snprintf(v, sizeof v, "v:%d", i);
        assert_ok_status(p, 2 * (size_t)i);
        assert_reply(p, 2 * (size_t)i + 1, RK_OK, RK_REPLY_STRING, v);
    }
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_hundred_thousand_incrs_reply_in_order(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    const int n = 100000, keys = 10;
    for (int i = 0; i < n; i++)
        append_ok(p, "INCR ctr:%d", i % keys);
    exec_ok(p);
    assert_int_equal(rk_pipeline_replies(p), n);
    for (int i = 0; i < n; i++)
        assert_int_reply(p, (size_t)i, i / keys + 1);
    assert_int_equal(server_int("ctr:0"), n / keys);
    assert_int_equal(server_int("ctr:9"), n / keys);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_size_counts_queue_and_exec_empties_it(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_size(p), 0);
    append_ok(p, "SET a 1");
    assert_int_equal(rk_pipeline_append_args(p, "GET", "a", NULL), RK_OK);
    const rk_str argv[] = {RK_STR("DEL"), RK_STR("a")};
    assert_int_equal(rk_pipeline_append_argv(p, argv, 2), RK_OK);
    assert_int_equal(rk_pipeline_size(p), 3);
    assert_int_equal(rk_pipeline_replies(p), 0);
    exec_ok(p);
    assert_int_equal(rk_pipeline_size(p), 0);
    assert_int_equal(rk_pipeline_replies(p), 3);
    assert_reply(p, 1, RK_OK, RK_REPLY_STRING, "1");
    assert_int_reply(p, 2, 1);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_out_of_range_reply_is_null_and_status_einval(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "PING");
    exec_ok(p);
    assert_non_null(rk_pipeline_reply(p, 0));
    assert_null(rk_pipeline_reply(p, 1));
    assert_int_equal(rk_pipeline_status(p, 1), RK_EINVAL);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_reused_pipeline_replaces_previous_results(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "SET reuse first-value");
    append_ok(p, "GET reuse");
    append_ok(p, "INCR n");
    exec_ok(p);
    append_ok(p, "INCR n");
    append_ok(p, "GET reuse");
    exec_ok(p);
    assert_int_equal(rk_pipeline_replies(p), 2);
    assert_int_reply(p, 0, 2);
    assert_reply(p, 1, RK_OK, RK_REPLY_STRING, "first-value");
    assert_null(rk_pipeline_reply(p, 2));
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_reset_drops_queue_and_results_unsent(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "INCR before");
    exec_ok(p);
    append_ok(p, "SET never 1");
    rk_pipeline_reset(p);
    assert_int_equal(rk_pipeline_size(p), 0);
    assert_int_equal(rk_pipeline_replies(p), 0);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_int_equal(rk_pipeline_replies(p), 0);
    assert_false(server_has("never"));
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* Replies are as the connection's protocol sends them: a map on RESP3, a
 * flat array on RESP2 (so the tests really run on both). */
static void test_replies_keep_connection_protocol(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "HSET h f v");
    append_ok(p, "HGETALL h");
    exec_ok(p);
    const rk_reply *r = rk_pipeline_reply(p, 1);
    if (proto(state) == 3) {
        assert_int_equal(rk_reply_type(r), RK_REPLY_MAP);
        assert_int_equal(rk_reply_len(r), 1);
    } else {
        assert_int_equal(rk_reply_type(r), RK_REPLY_ARRAY);
        assert_int_equal(rk_reply_len(r), 2);
    }
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* A million INCRs. The commands are encoded once, into the pipeline's
 * queue, and must be sent from there: during exec the library may add the
 * results (an rk_reply and a status per command; INCR replies allocate
 * nothing) and small buffers, not a second copy of the commands. So the
 * peak of live bytes during exec, above what was live before it, must stay
 * under results + a quarter of the queue + 4 MiB; holding the ~24 MB of
 * commands twice (e.g. copying them into the connection's write queue)
 * would cross that line by about 18 MB. */
static void test_million_commands_are_held_once(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    const size_t n = 1000000;
    long long before_queue = atomic_load(&live_bytes);
    for (size_t i = 0; i < n; i++)
        append_ok(p, "INCR mem:%zu", i % 10);
    long long queue = atomic_load(&live_bytes) - before_queue; /* >= encoded size */
    long long base = mark_peak();
    exec_ok(p);
    long long extra = atomic_load(&peak_bytes) - base;
    long long results = (long long)(n * (sizeof(rk_reply) + sizeof(int)));
    long long limit = results + queue / 4 + (4 << 20);
    if (extra > limit)
        fail_msg("exec of %zu commands (queue %lld bytes) peaked %lld bytes above its start; "
                 "limit %lld",
                 n, queue, extra, limit);
    assert_int_equal(rk_pipeline_replies(p), n);
    assert_int_reply(p, n - 1, (long long)(n / 10));
    assert_int_equal(server_int("mem:0"), (long long)(n / 10));
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- error replies ---------------------------------------------------- */

static void test_error_reply_stays_in_its_slot(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "SET s 1");
    append_ok(p, "LPUSH s x"); /* WRONGTYPE */
    append_ok(p, "GET s");
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_ok_status(p, 0);
    assert_error_reply(p, 1, "WRONGTYPE");
    assert_reply(p, 2, RK_OK, RK_REPLY_STRING, "1");
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_stop_on_error_returns_first_error_and_names_command(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.stop_on_error = true});
    append_ok(p, "SET s word");
    append_ok(p, "INCR s");    /* ERR value is not an integer */
    append_ok(p, "LPUSH s x"); /* WRONGTYPE */
    append_ok(p, "GET s");
    assert_int_equal(rk_pipeline_exec(p), RK_ESERVER);
    assert_int_equal(rk_error_last()->code, RK_ESERVER);
    if (strstr(rk_error_last()->message, "command 1 ") == NULL)
        fail_msg("the error does not name command 1: %s", rk_error_last()->message);
    assert_int_equal(rk_pipeline_replies(p), 4);
    assert_ok_status(p, 0);
    assert_error_reply(p, 1, "ERR");
    assert_error_reply(p, 2, "WRONGTYPE");
    assert_reply(p, 3, RK_OK, RK_REPLY_STRING, "word");
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- transactions ------------------------------------------------------ */

static void test_transaction_gives_each_command_its_result(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_ok(p, "SET t 10");
    append_ok(p, "INCRBY t 5");
    append_ok(p, "GET t");
    exec_ok(p);
    assert_int_equal(rk_pipeline_replies(p), 3);
    assert_ok_status(p, 0);
    assert_int_reply(p, 1, 15);
    assert_reply(p, 2, RK_OK, RK_REPLY_STRING, "15");
    assert_int_equal(server_int("t"), 15);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_runtime_error_in_transaction_fails_only_that_command(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_ok(p, "RPUSH list x");
    append_ok(p, "INCR list"); /* WRONGTYPE when EXEC runs it */
    append_ok(p, "SET after 1");
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_int_reply(p, 0, 1);
    assert_error_reply(p, 1, "WRONGTYPE");
    assert_ok_status(p, 2);
    assert_true(server_has("after"));
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_refused_command_aborts_transaction_and_nothing_runs(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_ok(p, "SET a 1");
    assert_int_equal(rk_pipeline_append_args(p, "INCR", NULL), RK_OK); /* wrong arity */
    append_ok(p, "SET b 2");
    assert_int_equal(rk_pipeline_exec(p), RK_EEXECABORT);
    assert_int_equal(rk_pipeline_replies(p), 3);
    assert_int_equal(rk_pipeline_status(p, 0), RK_EEXECABORT);
    assert_error_reply(p, 1, "ERR wrong number of arguments");
    assert_int_equal(rk_pipeline_status(p, 2), RK_EEXECABORT);
    assert_false(server_has("a"));
    assert_false(server_has("b"));
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* An EXEC reply that does not hold one result per command (only a broken
 * server sends one; a scripted fake here) fails the exec as a protocol
 * error instead of passing for success. */
static void test_exec_reply_missing_results_is_eproto(void **state) {
    const rkt_fake_step steps[] = {
        {.expect = (const char *const[]){"MULTI", NULL}, .reply = "+OK\r\n"},
        {.expect = (const char *const[]){"INCR", "x", NULL}, .reply = "+QUEUED\r\n"},
        {.expect = (const char *const[]){"INCR", "y", NULL}, .reply = "+QUEUED\r\n"},
        {.expect = (const char *const[]){"EXEC", NULL}, .reply = "*1\r\n:1\r\n"},
    };
    rkt_fake *f = rkt_fake_start(steps, 4, NULL);
    assert_non_null(f);
    rk_client *c = client_at(rkt_fake_port(f), proto(state), (rk_retry){.attempts = 1});
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_ok(p, "INCR x");
    append_ok(p, "INCR y");
    int rc = rk_pipeline_exec(p);
    const char *fake_error = rkt_fake_error(f);
    rk_pipeline_free(p);
    rk_client_free(c);
    rkt_fake_free(f);
    assert_null(fake_error);
    assert_int_equal(rc, RK_EPROTO);
}

/* Values of 16 KiB or more are sent from the caller's memory, each as its
 * own piece of the stream; many of them overflow one writev's iovecs. */
#define LARGE_VALUES 80
#define LARGE_VALUE_SIZE (20 * 1024)

static char *large_values(void) {
    char *v = malloc((size_t)LARGE_VALUES * LARGE_VALUE_SIZE);
    assert_non_null(v);
    for (size_t i = 0; i < (size_t)LARGE_VALUES * LARGE_VALUE_SIZE; i++)
        v[i] = (char)('a' + (i / LARGE_VALUE_SIZE + i) % 26);
    return v;
}

/* Queues SET lv:i value_i then GET lv:i for every large value. */
static void append_large_sets_and_gets(rk_pipeline *p, const char *values) {
    for (int i = 0; i < LARGE_VALUES; i++) {
        append_ok(p, "SET lv:%d %b", i, values + (size_t)i * LARGE_VALUE_SIZE,
                  (size_t)LARGE_VALUE_SIZE);
        append_ok(p, "GET lv:%d", i);
    }
}

static void assert_large_replies(const rk_pipeline *p, const char *values) {
    assert_int_equal(rk_pipeline_replies(p), 2 * LARGE_VALUES);
    for (size_t i = 0; i < LARGE_VALUES; i++) {
        assert_ok_status(p, 2 * i);
        const rk_reply *r = rk_pipeline_reply(p, 2 * i + 1);
        assert_int_equal(rk_reply_type(r), RK_REPLY_STRING);
        assert_int_equal(rk_reply_len(r), LARGE_VALUE_SIZE);
        assert_memory_equal(rk_reply_str(r), values + i * LARGE_VALUE_SIZE, LARGE_VALUE_SIZE);
    }
}

static void test_large_values_round_trip(void **state) {
    rkt_shared_need();
    char *values = large_values();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_large_sets_and_gets(p, values);
    exec_ok(p);
    assert_large_replies(p, values);
    rk_pipeline_free(p);
    rk_client_free(c);
    free(values);
}

/* EXEC goes after the last queued command, however many writes the
 * commands take. */
static void test_transaction_of_large_values_runs_whole(void **state) {
    rkt_shared_need();
    char *values = large_values();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_large_sets_and_gets(p, values);
    exec_ok(p);
    assert_large_replies(p, values);
    rk_pipeline_free(p);
    rk_client_free(c);
    free(values);
}

/* ---- WATCH ------------------------------------------------------------- */

static const rk_str watched[] = {{1, "w"}};

static void test_watch_call_multi_exec_succeeds(void **state) {
    rkt_shared_need();
    server_set("w", "5");
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    rk_reply r;
    assert_int_equal(rk_pipeline_call(p, &r, "GET w"), RK_OK); /* runs now */
    assert_string_equal(rk_reply_str(&r), "5");
    rk_reply_free(&r);
    assert_int_equal(rk_pipeline_multi(p), RK_OK);
    append_ok(p, "SET w 6");
    append_ok(p, "GET w");
    exec_ok(p);
    assert_ok_status(p, 0);
    assert_reply(p, 1, RK_OK, RK_REPLY_STRING, "6");
    assert_int_equal(server_int("w"), 6);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_watched_key_changed_elsewhere_is_ewatch_and_nothing_runs(void **state) {
    rkt_shared_need();
    server_set("w", "5");
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    rk_reply r;
    assert_int_equal(rk_pipeline_call(p, &r, "GET w"), RK_OK);
    rk_reply_free(&r);
    server_set("w", "other"); /* another client */
    assert_int_equal(rk_pipeline_multi(p), RK_OK);
    append_ok(p, "SET w mine");
    append_ok(p, "SET side 1");
    assert_int_equal(rk_pipeline_exec(p), RK_EWATCH);
    assert_int_equal(rk_pipeline_replies(p), 2);
    assert_int_equal(rk_pipeline_status(p, 0), RK_EWATCH);
    assert_int_equal(rk_pipeline_status(p, 1), RK_EWATCH);
    char *w = server_get("w");
    assert_string_equal(w, "$5\r\nother\r\n");
    free(w);
    assert_false(server_has("side"));
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_unwatch_lets_exec_succeed_after_change(void **state) {
    rkt_shared_need();
    server_set("w", "5");
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    server_set("w", "other");
    assert_int_equal(rk_pipeline_unwatch(p), RK_OK);
    assert_int_equal(rk_pipeline_multi(p), RK_OK);
    append_ok(p, "SET w mine");
    exec_ok(p);
    assert_ok_status(p, 0);
    char *w = server_get("w");
    assert_string_equal(w, "$4\r\nmine\r\n");
    free(w);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_append_while_watching_before_multi_is_einval(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    assert_int_equal(rk_pipeline_append(p, "SET w 1"), RK_EINVAL);
    assert_int_equal(rk_pipeline_append_args(p, "SET", "w", "1", NULL), RK_EINVAL);
    assert_int_equal(rk_pipeline_size(p), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_call_when_not_watching_is_einval(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    rk_reply r;
    assert_int_equal(rk_pipeline_call(p, &r, "GET w"), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_call_after_unwatch_is_einval(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    assert_int_equal(rk_pipeline_unwatch(p), RK_OK);
    rk_reply r;
    assert_int_equal(rk_pipeline_call(p, &r, "GET w"), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_call_after_multi_is_einval(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    assert_int_equal(rk_pipeline_multi(p), RK_OK);
    rk_reply r;
    assert_int_equal(rk_pipeline_call(p, &r, "GET w"), RK_EINVAL);
    assert_int_equal(rk_reply_type(&r), RK_REPLY_NIL);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* A WATCH of more keys than one command takes is sent in several; when a
 * later one is refused (here NOPERM: the ACL user may not touch "b"), the
 * keys of the earlier ones are unwatched before the connection goes back
 * to the pool, so no later transaction on it is aborted by them. */
static void test_failed_watch_leaves_no_key_watched(void **state) {
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    const char *const users[] = {"user limited on >pw ~a:* +@all", NULL};
    assert_int_equal(rkt_server_start(&fx_server, &(rkt_server_opts){.acl_users = users}), 0);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&fx_server),
                                               .protocol = proto(state),
                                               .username = "limited",
                                               .password = "pw",
                                               .pool_size = 1});
    assert_non_null(c);
    rk_str keys[65];
    char names[64][16];
    for (int i = 0; i < 64; i++) {
        snprintf(names[i], sizeof names[i], "a:%d", i);
        keys[i] = rk_cstr(names[i]);
    }
    keys[64] = RK_STR("b");
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, keys, 65), RK_ESERVER);
    assert_string_equal(rk_error_last()->prefix, "NOPERM");
    assert_int_equal(in_use(c), 0);
    free(rkt_server_cmd(&fx_server, "SET", "a:0", "changed", NULL));
    rk_pipeline *tx = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_ok(tx, "SET a:1 1");
    exec_ok(tx); /* on the same connection (pool_size 1) */
    rk_pipeline_free(tx);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* When the server refuses the UNWATCH that gives a watched connection back
 * (here NOPERM: the ACL user may WATCH but not UNWATCH), the watch stays
 * on the connection: it is closed, not pooled, so no later transaction on
 * it is aborted by a key it never watched. The same for an UNWATCH asked
 * for with rk_pipeline_unwatch: refused, the pipeline still watches. */
static void test_refused_unwatch_does_not_pool_a_watching_connection(void **state) {
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    const char *const users[] = {"user nounwatch on >pw ~* +@all -unwatch", NULL};
    assert_int_equal(rkt_server_start(&fx_server, &(rkt_server_opts){.acl_users = users}), 0);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&fx_server),
                                               .protocol = proto(state),
                                               .username = "nounwatch",
                                               .password = "pw",
                                               .pool_size = 1});
    assert_non_null(c);
    const rk_str key = RK_STR("w");
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, &key, 1), RK_OK);
    assert_int_equal(rk_pipeline_unwatch(p), RK_ESERVER);
    assert_int_equal(rk_pipeline_call(p, NULL, "PING"), RK_OK); /* still watching */
    rk_pipeline_reset(p);                                       /* its UNWATCH refused too */
    free(rkt_server_cmd(&fx_server, "SET", "w", "changed", NULL));
    rk_pipeline *tx = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_ok(tx, "SET other 1");
    exec_ok(tx); /* pool_size 1: a watching connection would abort it */
    rk_pipeline_free(tx);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- rk_transaction ------------------------------------------------------ */

/* The read-modify-write body: GET the counter, then MULTI SET it + 1. */
static int increment_body(rk_pipeline *p, void *userdata) {
    const char *key = userdata;
    rk_reply r;
    int rc = rk_pipeline_call(p, &r, "GET %s", key);
    if (rc != RK_OK)
        return rc;
    long long v = rk_reply_type(&r) == RK_REPLY_NIL ? 0 : atoll(rk_reply_str(&r));
    rk_reply_free(&r);
    if ((rc = rk_pipeline_multi(p)) != RK_OK)
        return rc;
    return rk_pipeline_append(p, "SET %s %lld", key, v + 1);
}

typedef struct incrementer {
    rk_client *client;
    int done, failed, last_error;
} incrementer;

static void *increment_200(void *arg) {
    incrementer *inc = arg;
    const rk_str keys[] = {RK_STR("counter")};
    for (int i = 0; i < 200; i++) {
        int rc = rk_transaction(inc->client, keys, 1, increment_body, (void *)"counter",
                                &(rk_transaction_opts){.max_attempts = 1000000}, NULL);
        if (rc == RK_OK) {
            inc->done++;
        } else {
            inc->failed++;
            inc->last_error = rc;
        }
    }
    return NULL;
}

static void test_transaction_counter_from_four_threads_ends_at_800(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    incrementer inc[4];
    pthread_t threads[4];
    for (int t = 0; t < 4; t++) {
        inc[t] = (incrementer){.client = c};
        assert_int_equal(pthread_create(&threads[t], NULL, increment_200, &inc[t]), 0);
    }
    for (int t = 0; t < 4; t++)
        pthread_join(threads[t], NULL);
    for (int t = 0; t < 4; t++)
        if (inc[t].failed)
            fail_msg("thread %d: %d transactions failed, the last with %s", t, inc[t].failed,
                     rk_strerror(inc[t].last_error));
    assert_int_equal(server_int("counter"), 800);
    assert_int_equal(in_use(c), 0);
    rk_client_free(c);
}

/* A body that reads "w", lets another client change it during its first
 * `changes` runs, then queues SET w mine; or gives up with `give_up`. */
typedef struct body_log {
    int runs;
    int changes;
    int give_up;
} body_log;

static int racing_body(rk_pipeline *p, void *userdata) {
    body_log *log = userdata;
    log->runs++;
    if (log->give_up)
        return log->give_up;
    rk_reply r;
    int rc = rk_pipeline_call(p, &r, "GET w");
    rk_reply_free(&r);
    if (rc != RK_OK)
        return rc;
    if (log->runs <= log->changes) {
        char *raw = rkt_server_cmd(&rkt_shared, "SET", "w", "other", NULL);
        free(raw);
    }
    if ((rc = rk_pipeline_multi(p)) != RK_OK)
        return rc;
    return rk_pipeline_append(p, "SET w mine");
}

static void test_transaction_reruns_body_after_watched_key_changes(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    body_log log = {.changes = 1};
    rk_pipeline *result;
    assert_int_equal(rk_transaction(c, watched, 1, racing_body, &log, NULL, &result), RK_OK);
    assert_int_equal(log.runs, 2);
    assert_non_null(result);
    assert_int_equal(rk_pipeline_replies(result), 1);
    assert_ok_status(result, 0);
    char *w = server_get("w");
    assert_string_equal(w, "$4\r\nmine\r\n");
    free(w);
    rk_pipeline_free(result);
    rk_client_free(c);
}

/* A key with a NUL inside is watched whole: changing it, not the "w"
 * before the NUL, aborts the transaction. */
static void test_watched_binary_key_changed_elsewhere_is_ewatch(void **state) {
    rkt_shared_need();
    const rk_str key = rk_bin("w\0bin", 5);
    rk_client *c = shared_client(state), *other = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, &key, 1), RK_OK);
    const rk_str set[] = {RK_STR("SET"), key, RK_STR("other")};
    assert_int_equal(rk_client_call_argv(other, NULL, set, 3), RK_OK);
    assert_int_equal(rk_pipeline_multi(p), RK_OK);
    append_ok(p, "SET side 1");
    assert_int_equal(rk_pipeline_exec(p), RK_EWATCH);
    rk_pipeline_free(p);
    rk_client_free(other);
    rk_client_free(c);
}

static void test_watch_null_keys_with_a_count_is_einval(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, NULL, 1), RK_EINVAL);
    assert_int_equal(in_use(c), 0);
    assert_int_equal(rk_transaction(c, NULL, 1, racing_body, NULL, NULL, NULL), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "NULL keys"));
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_transaction_body_error_value_aborts(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    body_log log = {.give_up = 42};
    rk_pipeline *result = (rk_pipeline *)&log; /* must be set to NULL */
    assert_int_equal(rk_transaction(c, watched, 1, racing_body, &log, NULL, &result), 42);
    assert_int_equal(log.runs, 1);
    assert_null(result);
    assert_int_equal(in_use(c), 0);
    rk_client_free(c);
}

static void test_transaction_gives_up_with_ewatch_after_max_attempts(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    body_log log = {.changes = 1000};
    rk_pipeline *result;
    assert_int_equal(rk_transaction(c, watched, 1, racing_body, &log,
                                    &(rk_transaction_opts){.max_attempts = 3}, &result),
                     RK_EWATCH);
    assert_int_equal(log.runs, 3);
    assert_null(result);
    char *w = server_get("w");
    assert_string_equal(w, "$5\r\nother\r\n");
    free(w);
    rk_client_free(c);
}

/* ---- connection failures --------------------------------------------- */

/* What the retry hook saw. */
typedef struct retry_log {
    int n;
    int error;
    bool pass_on_retry;    /* put the proxy back in PASS mode */
    bool restart_on_first; /* restart fx_server */
} retry_log;

static void on_retry(void *userdata, int attempt, int delay_ms, int error) {
    (void)attempt;
    (void)delay_ms;
    retry_log *log = userdata;
    log->n++;
    log->error = error;
    if (log->pass_on_retry)
        rkt_proxy_set_mode(fx_proxy, RKT_PROXY_PASS, 0);
    if (log->restart_on_first && log->n == 1)
        assert_int_equal(rkt_server_restart(&fx_server), 0);
}

static rk_retry retry_logged(int attempts, retry_log *log) {
    return (rk_retry){
        .attempts = attempts, .backoff = RK_BACKOFF_NONE, .on_retry = on_retry, .userdata = log};
}

/* Starts fx_proxy in front of the shared server and returns how many
 * bytes a connection's handshake receives (the server's replies to HELLO
 * and friends) with this protocol, so that CUT can be placed after a given
 * number of command replies. The connection's id in the HELLO reply may
 * gain or lose a digit between connections: cuts leave 2 bytes of slack. */
static long handshake_bytes(int protocol) {
    fx_proxy = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(fx_proxy);
    rkt_proxy_stats before, after;
    rkt_proxy_get_stats(fx_proxy, &before);
    rk_client *c = client_at(rkt_proxy_port(fx_proxy), protocol, (rk_retry){.attempts = 1});
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK);
    rk_client_free(c);
    rkt_proxy_get_stats(fx_proxy, &after);
    return (long)(after.bytes_down - before.bytes_down) - 7; /* "+PONG\r\n" */
}

/* Cut connections accepted from now on after `replies` replies of 5 bytes
 * ("+OK\r\n"), 2 bytes into the next. */
static void cut_after_ok_replies(long handshake, long replies) {
    rkt_proxy_set_mode(fx_proxy, RKT_PROXY_CUT, handshake + 5 * replies + 2);
}

static rk_client *proxied_client(void **state, rk_retry retry) {
    return client_at(rkt_proxy_port(fx_proxy), proto(state), retry);
}

/* Status of every command: RK_OK with +OK for the first `answered`, the
 * failure rc (nil reply) for the rest. */
static void assert_cut_after(const rk_pipeline *p, size_t answered, int rc) {
    assert_true(rc < 0 && rc != RK_ESERVER);
    size_t n = rk_pipeline_replies(p);
    size_t first_failed = n;
    for (size_t i = 0; i < n && first_failed == n; i++)
        if (rk_pipeline_status(p, i) != RK_OK)
            first_failed = i;
    if (first_failed != answered)
        fail_msg("%zu commands kept their replies; the proxy let %zu through", first_failed,
                 answered);
    for (size_t i = 0; i < answered; i++)
        assert_ok_status(p, i);
    for (size_t i = answered; i < n; i++) {
        if (rk_pipeline_status(p, i) != rc)
            fail_msg("command %zu: status %s, expected %s", i,
                     rk_strerror(rk_pipeline_status(p, i)), rk_strerror(rc));
        assert_int_equal(rk_reply_type(rk_pipeline_reply(p, i)), RK_REPLY_NIL);
    }
}

static void test_cut_keeps_answered_replies_and_fails_the_rest(void **state) {
    rkt_shared_need();
    long hs = handshake_bytes(proto(state));
    cut_after_ok_replies(hs, 40);
    rk_client *c = proxied_client(state, (rk_retry){.attempts = 1});
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    for (int i = 0; i < 100; i++)
        append_ok(p, "SET cut:%d x", i);
    int rc = rk_pipeline_exec(p);
    assert_int_equal(rc, RK_EIO);
    assert_int_equal(rk_pipeline_replies(p), 100);
    assert_cut_after(p, 40, rc);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* The cut comes while the client is still writing: the replies that
 * arrived before it are kept all the same. */
static void test_cut_while_sending_large_pipeline_keeps_answered_replies(void **state) {
    rkt_shared_need();
    long hs = handshake_bytes(proto(state));
    cut_after_ok_replies(hs, 1000);
    rk_client *c = proxied_client(state, (rk_retry){.attempts = 1});
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    for (int i = 0; i < 100000; i++)
        append_ok(p, "SET big:%d some-value-%d", i, i);
    int rc = rk_pipeline_exec(p);
    assert_true(rc == RK_EIO || rc == RK_ECLOSED);
    assert_int_equal(rk_pipeline_replies(p), 100000);
    assert_cut_after(p, 1000, rc);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_read_only_pipeline_is_retried_after_cut(void **state) {
    rkt_shared_need();
    server_set("ro", "value");
    long hs = handshake_bytes(proto(state));
    rkt_proxy_set_mode(fx_proxy, RKT_PROXY_CUT, hs + 30);
    retry_log log = {.pass_on_retry = true};
    rk_client *c = proxied_client(state, retry_logged(3, &log));
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    for (int i = 0; i < 50; i++)
        append_ok(p, "GET ro");
    exec_ok(p);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.error, RK_EIO);
    for (size_t i = 0; i < 50; i++)
        assert_reply(p, i, RK_OK, RK_REPLY_STRING, "value");
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_incr_pipeline_is_not_retried_after_cut(void **state) {
    rkt_shared_need();
    long hs = handshake_bytes(proto(state));
    rkt_proxy_set_mode(fx_proxy, RKT_PROXY_CUT, hs + 30);
    retry_log log = {.pass_on_retry = true};
    rk_client *c = proxied_client(state, retry_logged(3, &log));
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    for (int i = 0; i < 50; i++)
        append_ok(p, "INCR once");
    assert_int_equal(rk_pipeline_exec(p), RK_EIO);
    assert_int_equal(log.n, 0);
    long long ran = server_int("once");
    if (ran > 50)
        fail_msg("the server ran %lld INCRs for 50 commands", ran);
    assert_int_reply(p, 0, 1); /* the first answers were kept */
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_allow_retry_reruns_incr_pipeline_after_cut(void **state) {
    rkt_shared_need();
    long hs = handshake_bytes(proto(state));
    rkt_proxy_set_mode(fx_proxy, RKT_PROXY_CUT, hs + 30);
    retry_log log = {.pass_on_retry = true};
    rk_client *c = proxied_client(state, retry_logged(3, &log));
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.allow_retry = true});
    for (int i = 0; i < 50; i++)
        append_ok(p, "INCR again");
    exec_ok(p);
    assert_int_equal(log.n, 1);
    /* The second run's replies: 50 increments in a row, ending where the
     * server is, which is past 50 as the first run ran some of them. */
    long long last = server_int("again");
    assert_true(last > 50);
    for (size_t i = 0; i < 50; i++)
        assert_int_reply(p, i, last - 49 + (long long)i);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_transaction_is_not_retried_after_cut_even_with_allow_retry(void **state) {
    rkt_shared_need();
    long hs = handshake_bytes(proto(state));
    rkt_proxy_set_mode(fx_proxy, RKT_PROXY_CUT, hs + 5 + 9 * 3 + 2); /* +OK, 3 +QUEUED */
    retry_log log = {.pass_on_retry = true};
    rk_client *c = proxied_client(state, retry_logged(3, &log));
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){.transaction = true, .allow_retry = true});
    for (int i = 0; i < 10; i++)
        append_ok(p, "INCR txcut");
    assert_int_equal(rk_pipeline_exec(p), RK_EIO);
    assert_int_equal(log.n, 0);
    for (size_t i = 0; i < 10; i++)
        assert_int_equal(rk_pipeline_status(p, i), RK_EIO);
    long long ran = server_int("txcut");
    assert_true(ran == -1 || ran == 10); /* all or nothing, once */
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_pipeline_never_sent_is_retried(void **state) {
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    assert_int_equal(rkt_server_start(&fx_server, NULL), 0);
    rkt_server_kill(&fx_server); /* down at first; on_retry brings it back */
    retry_log log = {.restart_on_first = true};
    rk_client *c = client_at(rkt_server_port(&fx_server), proto(state), retry_logged(3, &log));
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    for (int i = 0; i < 10; i++)
        append_ok(p, "INCR unsent");
    exec_ok(p);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.error, RK_ECONNECT);
    for (size_t i = 0; i < 10; i++)
        assert_int_reply(p, i, (long long)i + 1);
    assert_int_equal(server_int_of(&fx_server, "unsent"), 10);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_unanswered_pipeline_times_out_every_command(void **state) {
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    assert_int_equal(rkt_server_start(&fx_server, NULL), 0);
    rk_client *c = rk_client_new(&(rk_options){.port = rkt_server_port(&fx_server),
                                               .protocol = proto(state),
                                               .command_timeout_ms = 200,
                                               .retry = {.attempts = 1}});
    assert_non_null(c);
    assert_int_equal(rk_client_call(c, NULL, "PING"), RK_OK); /* connected */
    assert_int_equal(rkt_server_freeze_stopped(&fx_server), 0);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    for (int i = 0; i < 20; i++)
        append_ok(p, "GET k");
    assert_int_equal(rk_pipeline_exec(p), RK_ETIMEOUT);
    rkt_server_thaw(&fx_server);
    for (size_t i = 0; i < 20; i++)
        assert_int_equal(rk_pipeline_status(p, i), RK_ETIMEOUT);
    assert_int_equal(in_use(c), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* A program built before borrow_large_values passes a shorter struct: what
 * follows it is not the pipeline's to read, and arguments stay copied. */
static void test_shorter_opts_struct_keeps_arguments_copied(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    size_t older = offsetof(rk_pipeline_opts, borrow_large_values);
    unsigned char raw[sizeof(rk_pipeline_opts)];
    memset(raw, 1, sizeof raw); /* past the older struct: a "true" */
    memset(raw, 0, older);
    rk_pipeline *p = (rk_pipeline_new)(c, (const rk_pipeline_opts *)raw, older);
    assert_non_null(p);
    static char buf[20 * 1024]; /* past the 16 KiB reference threshold */
    memset(buf, 'a', sizeof buf);
    const rk_str argv[] = {RK_STR("SET"), RK_STR("pipe:older"), rk_bin(buf, sizeof buf)};
    assert_int_equal(rk_pipeline_append_argv(p, argv, 3), RK_OK);
    memset(buf, 'b', sizeof buf); /* reused at once, as copying allows */
    exec_ok(p);
    rk_reply r;
    assert_int_equal(rk_client_call(c, &r, "GET pipe:older"), RK_OK);
    assert_int_equal(rk_reply_len(&r), sizeof buf);
    assert_int_equal(rk_reply_str(&r)[0], 'a');
    rk_reply_free(&r);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- the pool connection --------------------------------------------- */

static void test_exec_gives_connection_back(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "PING");
    exec_ok(p);
    assert_int_equal(in_use(c), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_failed_exec_gives_connection_back(void **state) {
    rkt_shared_need();
    long hs = handshake_bytes(proto(state));
    cut_after_ok_replies(hs, 1);
    rk_client *c = proxied_client(state, (rk_retry){.attempts = 1});
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    append_ok(p, "SET a 1");
    append_ok(p, "SET b 1");
    assert_int_equal(rk_pipeline_exec(p), RK_EIO);
    assert_int_equal(in_use(c), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_exec_after_watch_gives_connection_back(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    assert_int_equal(in_use(c), 1);
    assert_int_equal(rk_pipeline_multi(p), RK_OK);
    append_ok(p, "SET w 1");
    exec_ok(p);
    assert_int_equal(in_use(c), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_reset_gives_back_watched_connection(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    assert_int_equal(in_use(c), 1);
    rk_pipeline_reset(p);
    assert_int_equal(in_use(c), 0);
    rk_pipeline_free(p);
    rk_client_free(c);
}

static void test_free_gives_back_watched_connection(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    assert_int_equal(in_use(c), 1);
    rk_pipeline_free(p);
    assert_int_equal(in_use(c), 0);
    rk_client_free(c);
}

/* The connection a reset gives back no longer watches: a transaction run
 * on it afterwards is not aborted by a change of the old watched key. */
static void test_reset_drops_watch_before_pooling_connection(void **state) {
    rkt_shared_need();
    rk_client *c = shared_client(state);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_watch(p, watched, 1), RK_OK);
    rk_pipeline_reset(p);
    server_set("w", "changed");
    rk_pipeline *tx = pipeline_on(c, (rk_pipeline_opts){.transaction = true});
    append_ok(tx, "SET later 1");
    exec_ok(tx);
    rk_pool_stats st;
    rk_client_pool_stats(c, &st);
    assert_int_equal(st.created, 1); /* it ran on the connection that watched */
    rk_pipeline_free(tx);
    rk_pipeline_free(p);
    rk_client_free(c);
}

/* ---- main --------------------------------------------------------------- */

static int flush_shared(void **state) {
    (void)state;
    if (rkt_shared_running())
        free(rkt_server_cmd(&rkt_shared, "FLUSHALL", NULL));
    return 0;
}

static int cleanup(void **state) {
    (void)state;
    rkt_proxy_stop(fx_proxy);
    fx_proxy = NULL;
    rkt_server_thaw(&fx_server);
    rkt_server_stop(&fx_server);
    memset(&fx_server, 0, sizeof fx_server);
    return 0;
}

/* Each test twice: on RESP2 and on RESP3. */
#define BOTH(f)                                                                                    \
    {#f "/resp2", f, flush_shared, cleanup, (void *)&resp2}, {                                     \
#f "/resp3", f, flush_shared, cleanup, (void *)&resp3                                      \
    }

/* A blocking command queued in a pipeline waits its own time: the reply
 * deadline is stretched as for a call, not cut at the command timeout. */
static void test_a_blocking_command_in_a_pipeline_waits_its_time(void **state) {
    rk_client *c = rk_client_new(&(rk_options){
        .port = rkt_server_port(&rkt_shared), .protocol = proto(state), .command_timeout_ms = 200});
    assert_non_null(c);
    rk_pipeline *p = pipeline_on(c, (rk_pipeline_opts){0});
    assert_int_equal(rk_pipeline_append(p, "BLPOP pipe:blocking:none 1"), RK_OK);
    assert_int_equal(rk_pipeline_append(p, "PING"), RK_OK);
    assert_int_equal(rk_pipeline_exec(p), RK_OK);
    assert_int_equal(rk_pipeline_status(p, 0), RK_OK);
    assert_int_equal(rk_reply_type(rk_pipeline_reply(p, 0)), RK_REPLY_NIL);
    assert_string_equal(rk_reply_str(rk_pipeline_reply(p, 1)), "PONG");
    rk_pipeline_free(p);
    rk_client_free(c);
}

int main(void) {
    static const rk_allocator counting = {bytes_malloc, bytes_calloc, bytes_realloc, bytes_free};
    rk_set_allocator(&counting);
    const struct CMUnitTest tests[] = {
        BOTH(test_one_command_pipeline_returns_its_reply),
        BOTH(test_thousand_sets_and_gets_reply_in_order),
        BOTH(test_hundred_thousand_incrs_reply_in_order),
        BOTH(test_size_counts_queue_and_exec_empties_it),
        BOTH(test_out_of_range_reply_is_null_and_status_einval),
        BOTH(test_reused_pipeline_replaces_previous_results),
        BOTH(test_reset_drops_queue_and_results_unsent),
        BOTH(test_replies_keep_connection_protocol),
        BOTH(test_million_commands_are_held_once),
        BOTH(test_error_reply_stays_in_its_slot),
        BOTH(test_stop_on_error_returns_first_error_and_names_command),
        BOTH(test_transaction_gives_each_command_its_result),
        BOTH(test_runtime_error_in_transaction_fails_only_that_command),
        BOTH(test_refused_command_aborts_transaction_and_nothing_runs),
        BOTH(test_exec_reply_missing_results_is_eproto),
        BOTH(test_large_values_round_trip),
        BOTH(test_transaction_of_large_values_runs_whole),
        BOTH(test_watch_call_multi_exec_succeeds),
        BOTH(test_watched_key_changed_elsewhere_is_ewatch_and_nothing_runs),
        BOTH(test_unwatch_lets_exec_succeed_after_change),
        BOTH(test_append_while_watching_before_multi_is_einval),
        BOTH(test_call_when_not_watching_is_einval),
        BOTH(test_call_after_unwatch_is_einval),
        BOTH(test_call_after_multi_is_einval),
        BOTH(test_failed_watch_leaves_no_key_watched),
        BOTH(test_refused_unwatch_does_not_pool_a_watching_connection),
        BOTH(test_transaction_counter_from_four_threads_ends_at_800),
        BOTH(test_transaction_reruns_body_after_watched_key_changes),
        BOTH(test_watched_binary_key_changed_elsewhere_is_ewatch),
        BOTH(test_watch_null_keys_with_a_count_is_einval),
        BOTH(test_transaction_body_error_value_aborts),
        BOTH(test_transaction_gives_up_with_ewatch_after_max_attempts),
        BOTH(test_cut_keeps_answered_replies_and_fails_the_rest),
        BOTH(test_cut_while_sending_large_pipeline_keeps_answered_replies),
        BOTH(test_read_only_pipeline_is_retried_after_cut),
        BOTH(test_incr_pipeline_is_not_retried_after_cut),
        BOTH(test_allow_retry_reruns_incr_pipeline_after_cut),
        BOTH(test_transaction_is_not_retried_after_cut_even_with_allow_retry),
        BOTH(test_pipeline_never_sent_is_retried),
        BOTH(test_unanswered_pipeline_times_out_every_command),
        BOTH(test_shorter_opts_struct_keeps_arguments_copied),
        BOTH(test_exec_gives_connection_back),
        BOTH(test_failed_exec_gives_connection_back),
        BOTH(test_exec_after_watch_gives_connection_back),
        BOTH(test_reset_gives_back_watched_connection),
        BOTH(test_free_gives_back_watched_connection),
        BOTH(test_reset_drops_watch_before_pooling_connection),
        BOTH(test_a_blocking_command_in_a_pipeline_waits_its_time),
    };
    return cmocka_run_group_tests(tests, rkt_shared_setup, rkt_shared_teardown);
}
