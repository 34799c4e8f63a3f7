/* rk-bench-compare, group "mux": many threads calling GET synchronously.
 *
 * rediskit's multiplexed client (RK_MODE_MUX: every thread's calls share
 * one connection, carried by the client's engine thread) against as many
 * threads each with a hiredis connection of its own (redisCommandArgv), on
 * the same server (REDIS_URL), the same 100-byte value and the same number
 * of calls. The pooled client with 8 threads is shown against the same
 * anchor, for information. A side's run starts its threads, lets them all
 * go at once, and ends when the last has made its share of the calls;
 * every reply is checked. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <rediskit/alloc.h>
#include <rediskit/client.h>
#include <rediskit/error.h>
#include <rediskit/options.h>
#include <rediskit/version.h>

#include "bench.h"

#define MAX_THREADS 64
#define VALUE_LEN 100
#define KEY "bench:mux:value"

static const char *const workloads[] = {"mux_threads8", "mux_threads64", "pool_threads8", NULL};

/* One side: its threads, kept for the whole comparison, and how they call
 * GET. A run sets `each` and lets them go (the `go` barrier, which the
 * main thread joins), then waits for them at `done`. */
typedef struct mux_side {
    const char *host;
    int port;
    int threads;
    void *(*fn)(void *);
    rk_client *rk;                 /* rediskit: shared by the threads */
    redisContext *hi[MAX_THREADS]; /* hiredis: one per thread */
    pthread_t t[MAX_THREADS];
    pthread_barrier_t go, done;
    uint64_t each; /* calls per thread in this run; 0: quit */
    atomic_uint_fast64_t errors;
} mux_side;

typedef struct worker {
    mux_side *s;
    int id;
} worker;

static worker workers[2][MAX_THREADS];

/* Waits for the next run: false when told to quit. */
static bool next_run(mux_side *s) {
    pthread_barrier_wait(&s->go);
    return s->each > 0;
}

static void *rk_worker(void *arg) {
    worker *w = arg;
    const rk_str argv[] = {RK_STR("GET"), RK_STR(KEY)};
    while (next_run(w->s)) {
        uint64_t bad = 0;
        for (uint64_t i = 0; i < w->s->each; i++) {
            rk_reply r;
            int rc = rk_client_call_argv(w->s->rk, &r, argv, 2);
            bad += rc != RK_OK || rk_reply_len(&r) != VALUE_LEN;
            rk_reply_free(&r);
        }
        atomic_fetch_add(&w->s->errors, bad);
        pthread_barrier_wait(&w->s->done);
    }
    return NULL;
}

static void *hi_worker(void *arg) {
    worker *w = arg;
    const char *argv[] = {"GET", KEY};
    const size_t len[] = {3, sizeof(KEY) - 1};
    redisContext *ctx = w->s->hi[w->id];
    while (next_run(w->s)) {
        uint64_t bad = 0;
        for (uint64_t i = 0; i < w->s->each; i++) {
            redisReply *r = redisCommandArgv(ctx, 2, argv, len);
            bad += r == NULL || r->type != REDIS_REPLY_STRING || r->len != VALUE_LEN;
            if (r)
                freeReplyObject(r);
        }
        atomic_fetch_add(&w->s->errors, bad);
        pthread_barrier_wait(&w->s->done);
    }
    return NULL;
}

static void start_threads(mux_side *s, worker *w) {
    pthread_barrier_init(&s->go, NULL, (unsigned)s->threads + 1);
    pthread_barrier_init(&s->done, NULL, (unsigned)s->threads + 1);
    for (int i = 0; i < s->threads; i++) {
        w[i] = (worker){.s = s, .id = i};
        if (pthread_create(&s->t[i], NULL, s->fn, &w[i]) != 0)
            bench_die("pthread_create failed");
    }
}

static void stop_threads(mux_side *s) {
    s->each = 0;
    pthread_barrier_wait(&s->go);
    for (int i = 0; i < s->threads; i++)
        pthread_join(s->t[i], NULL);
    pthread_barrier_destroy(&s->go);
    pthread_barrier_destroy(&s->done);
}

/* bench_side.fn: `rounds` calls in all (rounded up), shared by the side's
 * threads. */
static uint64_t side_rounds(void *ctx, uint64_t rounds) {
    mux_side *s = ctx;
    s->each = rounds / (uint64_t)s->threads + 1;
    pthread_barrier_wait(&s->go);
    pthread_barrier_wait(&s->done);
    return s->each * (uint64_t)s->threads;
}

/* ---- set-up ------------------------------------------------------------- */

static redisContext *hi_connect(const char *host, int port) {
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err)
        bench_die("hiredis redisConnect %s:%d: %s", host, port, c ? c->errstr : "no memory");
    return c;
}

static void hi_open(mux_side *s) {
    for (int i = 0; i < s->threads; i++)
        s->hi[i] = hi_connect(s->host, s->port);
}

static void hi_close(mux_side *s) {
    for (int i = 0; i < s->threads; i++)
        redisFree(s->hi[i]);
}

static rk_client *rk_open(const mux_side *s, rk_mode mode) {
    rk_client *c = rk_client_new(
        &(rk_options){.host = s->host, .port = s->port, .mode = mode, .pool_size = MAX_THREADS});
    if (c == NULL)
        bench_die("rk_client_new: %s", rk_error_last()->message);
    return c;
}

/* rediskit in `mode` against hiredis, `threads` threads each: NAME's row
 * (with its RATIO when ratio). */
static void measure(const bench_opts *opts, const char *host, int port, const char *name,
                    rk_mode mode, int threads, bool ratio, double target) {
    static mux_side rk, hi;
    rk = (mux_side){.host = host, .port = port, .threads = threads, .fn = rk_worker};
    hi = (mux_side){.host = host, .port = port, .threads = threads, .fn = hi_worker};
    rk.rk = rk_open(&rk, mode);
    hi_open(&hi);
    start_threads(&rk, workers[0]);
    start_threads(&hi, workers[1]);
    bench_side sides[2] = {{side_rounds, &rk, 0}, {side_rounds, &hi, 0}};
    bench_compare(opts, sides, 2);
    stop_threads(&rk);
    stop_threads(&hi);
    uint64_t errors = atomic_load(&rk.errors) + atomic_load(&hi.errors);
    if (errors > 0)
        bench_die("%" PRIu64 " GET replies were not the %d-byte value", errors, VALUE_LEN);
    char note[160];
    snprintf(note, sizeof(note), "%d threads; rediskit: %s client; hiredis: a connection each",
             threads, mode == RK_MODE_MUX ? "one multiplexed" : "the pooled");
    bench_table_row(&(bench_row){.name = name,
                                 .unit = "calls",
                                 .rk_rate = sides[0].rate,
                                 .hi_rate = sides[1].rate,
                                 .rk_allocs = -1,
                                 .hi_allocs = -1,
                                 .ratio = ratio,
                                 .target_ratio = ratio ? target : 0,
                                 .target_allocs = -1,
                                 .note = note});
    rk_client_free(rk.rk);
    hi_close(&hi);
}

static const bench_group mux_group;

static int mux_run(const bench_opts *opts, const char *url) {
    rk_options o = {0};
    char *storage = NULL;
    if (rk_options_from_url(url, &o, &storage) != RK_OK || o.unix_path != NULL) {
        printf("  REDIS_URL=%s: expected redis://host:port\n", url);
        rk_free(storage);
        return -1;
    }
    const char *host = o.host ? o.host : RK_DEFAULT_HOST;
    int port = o.port ? o.port : RK_DEFAULT_PORT;
    char value[VALUE_LEN];
    memset(value, 'x', sizeof(value));
    redisContext *setup = hi_connect(host, port);
    redisReply *r = redisCommand(setup, "SET %s %b", KEY, value, (size_t)VALUE_LEN);
    if (r == NULL)
        bench_die("hiredis SET: %s", setup->errstr);
    freeReplyObject(r);
    redisFree(setup);
    bench_note("N threads call GET of a %d-byte value synchronously, as many calls on each "
               "side; rediskit:",
               VALUE_LEN);
    bench_note("rk_client_call_argv on one client (RK_MODE_MUX: one shared connection); "
               "hiredis: redisCommandArgv,");
    bench_note("a redisContext per thread. pool_threads8: the pooled client (RK_MODE_POOL) for "
               "comparison.");
    if (bench_selected(opts, &mux_group, "mux_threads8"))
        measure(opts, host, port, "mux_threads8", RK_MODE_MUX, 8, true, 1.5);
    if (bench_selected(opts, &mux_group, "mux_threads64"))
        measure(opts, host, port, "mux_threads64", RK_MODE_MUX, 64, true, 3.0);
    if (bench_selected(opts, &mux_group, "pool_threads8"))
        measure(opts, host, port, "pool_threads8", RK_MODE_POOL, 8, false, 0);
    rk_free(storage);
    return 0;
}

#define STR2(x) #x
#define STR(x) STR2(x)

static const bench_group mux_group = {
    .name = "mux",
    .order = 26,
    .title = "mux: threads calling GET, multiplexed client (rediskit " RK_VERSION_STRING
             ") vs a hiredis " STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(
                 HIREDIS_PATCH) " connection per thread",
    .workloads = workloads,
    .needs_server = true,
    .run = mux_run,
};
BENCH_GROUP(mux_group)
