/* rk-bench-compare, group "async": rediskit's async client against
 * hiredis's async API, both on one libevent event_base (rediskit's
 * adapters/libevent.h, hiredis's adapters/libevent.h), one connection each
 * to the same redis-server (REDIS_URL); and against redis-benchmark -c 1
 * -P 64.
 *
 * The workload alternates SET and GET of 100-byte values on 1000 keys,
 * keeping 64 commands in flight (each reply's callback submits the next),
 * or one at a time. Every reply is checked. System calls are counted by
 * wrapping the socket and epoll calls of this program (read, recv, write,
 * writev, send, sendmsg, epoll_wait, epoll_ctl): the libraries, libevent
 * included, call them through the dynamic linker, so the wrappers see every
 * one made on either side. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <rediskit/adapters/libevent.h>
#include <rediskit/async.h>
#include <rediskit/options.h>
#include <rediskit/version.h>

#include "bench.h"

#define INFLIGHT 64
#define KEYS 1000
#define VALUE_LEN 100

static const char *const workloads[] = {"async_inflight64", "async_inflight1",
                                        "async_vs_redis_benchmark", NULL};

/* ---- system calls, counted ------------------------------------------------ */

/* Counted only while `counting`; one thread runs the sides. */
static struct {
    bool counting;
    uint64_t io, poll; /* reads and writes; epoll_wait and epoll_ctl */
} sys;

ssize_t read(int fd, void *buf, size_t n) {
    sys.io += sys.counting;
    return syscall(SYS_read, fd, buf, n);
}

ssize_t recv(int fd, void *buf, size_t n, int flags) {
    sys.io += sys.counting;
    return syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);
}

ssize_t write(int fd, const void *buf, size_t n) {
    sys.io += sys.counting;
    return syscall(SYS_write, fd, buf, n);
}

ssize_t writev(int fd, const struct iovec *iov, int n) {
    sys.io += sys.counting;
    return syscall(SYS_writev, fd, iov, n);
}

ssize_t send(int fd, const void *buf, size_t n, int flags) {
    sys.io += sys.counting;
    return syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
    sys.io += sys.counting;
    return syscall(SYS_sendmsg, fd, m, flags);
}

int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout) {
    sys.poll += sys.counting;
    return (int)syscall(SYS_epoll_pwait, epfd, ev, max, timeout, NULL, 8);
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
    sys.poll += sys.counting;
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, ev);
}

/* ---- the workload ------------------------------------------------------- */

typedef struct async_env {
    const bench_opts *opts;
    const char *host;
    int port;
    struct event_base *base;
    rk_async *rk;
    redisAsyncContext *hi;
    char keys[KEYS][24];
    size_t key_len[KEYS];
    char value[VALUE_LEN];
    /* the run in progress */
    int depth;                   /* commands kept in flight */
    uint64_t target, sent, done; /* commands: to run, submitted, completed */
    uint64_t errors;
    unsigned pos;
} async_env;

static void rk_submit(async_env *e);
static void hi_submit(async_env *e);

/* Command i is a SET when i is even, a GET of the same key when odd. */
static unsigned key_of(async_env *e, uint64_t i) {
    if (i % 2 == 0)
        e->pos = (e->pos * 1103515245u + 12345u) % 0x7fffffffu;
    return e->pos % KEYS;
}

/* After a completion: submit the next, or stop the loop when all are in. */
static void completed(async_env *e, bool right, void (*submit)(async_env *e)) {
    e->errors += !right;
    e->done++;
    if (e->sent < e->target)
        submit(e);
    else if (e->done == e->target)
        event_base_loopbreak(e->base);
}

static bool reply_right(bool set, int type, size_t len) {
    return set ? type == RK_REPLY_STATUS : type == RK_REPLY_STRING && len == VALUE_LEN;
}

static void rk_done(rk_async *ac, int status, rk_reply *r, void *ud) {
    (void)ac;
    async_env *e = ud;
    bool set = e->done % 2 == 0;
    completed(e, status == RK_OK && reply_right(set, rk_reply_type(r), rk_reply_len(r)), rk_submit);
}

static void rk_submit(async_env *e) {
    uint64_t i = e->sent++;
    unsigned k = key_of(e, i);
    rk_str argv[3] = {i % 2 ? RK_STR("GET") : RK_STR("SET"), rk_bin(e->keys[k], e->key_len[k]),
                      rk_bin(e->value, VALUE_LEN)};
    if (rk_async_command_argv(e->rk, rk_done, e, argv, i % 2 ? 2 : 3) <= 0)
        bench_die("rk_async_command_argv: %s", rk_error_last()->message);
}

static void hi_done(redisAsyncContext *c, void *reply, void *ud) {
    (void)c;
    async_env *e = ud;
    redisReply *r = reply;
    bool set = e->done % 2 == 0;
    bool right = r && (set ? r->type == REDIS_REPLY_STATUS
                           : r->type == REDIS_REPLY_STRING && r->len == VALUE_LEN);
    completed(e, right, hi_submit);
}

static void hi_submit(async_env *e) {
    uint64_t i = e->sent++;
    unsigned k = key_of(e, i);
    const char *argv[3] = {i % 2 ? "GET" : "SET", e->keys[k], e->value};
    size_t len[3] = {3, e->key_len[k], VALUE_LEN};
    if (redisAsyncCommandArgv(e->hi, hi_done, e, i % 2 ? 2 : 3, argv, len) != REDIS_OK)
        bench_die("hiredis redisAsyncCommandArgv: %s", e->hi->errstr);
}

/* Runs n commands (rounded up to an even count), depth in flight. */
static uint64_t run(async_env *e, uint64_t n, void (*submit)(async_env *e)) {
    e->target = n + n % 2;
    e->sent = e->done = 0;
    for (int i = 0; i < e->depth && e->sent < e->target; i++)
        submit(e);
    event_base_dispatch(e->base);
    if (e->done != e->target)
        bench_die("async run ended with %" PRIu64 " of %" PRIu64 " commands done", e->done,
                  e->target);
    return e->target;
}

/* ---- sides ------------------------------------------------------------------- */

typedef struct async_side {
    async_env *env;
    void (*submit)(async_env *e);
    double cpu_per_op; /* best, seconds */
} async_side;

static uint64_t side_rounds(void *ctx, uint64_t rounds) {
    async_side *s = ctx;
    double t0 = bench_now(), c0 = bench_thread_cpu();
    uint64_t ops = run(s->env, rounds, s->submit);
    double cpu = (bench_thread_cpu() - c0) / (double)ops;
    if (bench_now() - t0 >= s->env->opts->rep_time / 20 &&
        (s->cpu_per_op == 0 || cpu < s->cpu_per_op))
        s->cpu_per_op = cpu;
    return ops;
}

/* System calls per command, over n commands. */
static void syscalls_per_op(async_side *s, uint64_t n, double *io, double *poll) {
    sys.io = sys.poll = 0;
    sys.counting = true;
    uint64_t ops = run(s->env, n, s->submit);
    sys.counting = false;
    *io = (double)sys.io / (double)ops;
    *poll = (double)sys.poll / (double)ops;
}

static const char *cpu_note(char *buf, size_t size, double rk, double hi) {
    snprintf(buf, size, "client CPU per command: rediskit %.3f us, hiredis %.3f us", rk * 1e6,
             hi * 1e6);
    return buf;
}

/* rediskit against hiredis with `depth` in flight: NAME's row and RATIO
 * (and NAME_cpu's when cpu_row), the system calls per command noted. */
static void measure(async_env *e, const char *name, int depth, double target, bool cpu_row) {
    e->depth = depth;
    async_side rk = {e, rk_submit, 0}, hi = {e, hi_submit, 0};
    bench_side sides[2] = {{side_rounds, &rk, 0}, {side_rounds, &hi, 0}};
    bench_compare(e->opts, sides, 2);
    if (e->errors > 0)
        bench_die("%" PRIu64 " replies were not what SET or GET answer", e->errors);
    char note[160];
    bench_table_row(
        &(bench_row){.name = name,
                     .unit = "commands",
                     .rk_rate = sides[0].rate,
                     .hi_rate = sides[1].rate,
                     .rk_allocs = -1,
                     .hi_allocs = -1,
                     .ratio = true,
                     .target_ratio = target,
                     .target_allocs = -1,
                     .note = cpu_note(note, sizeof(note), rk.cpu_per_op, hi.cpu_per_op)});
    if (cpu_row) {
        char cpu_name[64];
        snprintf(cpu_name, sizeof(cpu_name), "%s_cpu", name);
        bench_table_row(&(bench_row){.name = cpu_name,
                                     .unit = "commands per CPU s",
                                     .rk_rate = rk.cpu_per_op > 0 ? 1 / rk.cpu_per_op : 0,
                                     .hi_rate = hi.cpu_per_op > 0 ? 1 / hi.cpu_per_op : 0,
                                     .rk_allocs = -1,
                                     .hi_allocs = -1,
                                     .ratio = true,
                                     .target_ratio = 2.0,
                                     .target_allocs = -1});
    }
    double rk_io, rk_poll, hi_io, hi_poll;
    syscalls_per_op(&rk, 20000, &rk_io, &rk_poll);
    syscalls_per_op(&hi, 20000, &hi_io, &hi_poll);
    bench_note("%-22s system calls per command: rediskit %.3f read/write + %.3f epoll, "
               "hiredis %.3f + %.3f",
               "", rk_io, rk_poll, hi_io, hi_poll);
}

/* rediskit with 64 in flight against redis-benchmark -c 1 -P 64 on the
 * same commands (n SETs and n GETs), interleaved, best of each. */
static int measure_vs_redis_benchmark(async_env *e) {
    e->depth = INFLIGHT;
    async_side rk = {e, rk_submit, 0};
    uint64_t n = e->opts->quick ? 20000 : 100000;
    char extra[64];
    snprintf(extra, sizeof(extra), "-P %d -d %d -r %d", INFLIGHT, VALUE_LEN, KEYS);
    double best_rb = 0, best_rk = 0;
    int reps = e->opts->reps < 5 ? e->opts->reps : 5;
    for (int i = 0; i < reps; i++) {
        bench_rb_result r;
        if (bench_redis_benchmark(e->host, e->port, n, extra, &r) != 0)
            return -1;
        if (bench_mixed_rate(r.set, r.get) > best_rb)
            best_rb = bench_mixed_rate(r.set, r.get);
        double t0 = bench_now();
        uint64_t ops = side_rounds(&rk, 2 * n);
        double rate = (double)ops / (bench_now() - t0);
        if (rate > best_rk)
            best_rk = rate;
    }
    char note[160];
    snprintf(note, sizeof(note), "second column: redis-benchmark -c 1 %s -t set,get -n %" PRIu64,
             extra, n);
    bench_table_row(&(bench_row){.name = "async_vs_redis_benchmark",
                                 .unit = "commands",
                                 .rk_rate = best_rk,
                                 .hi_rate = best_rb,
                                 .rk_allocs = -1,
                                 .hi_allocs = -1,
                                 .ratio = true,
                                 .target_ratio = 1.0,
                                 .target_allocs = -1,
                                 .note = note});
    return 0;
}

/* ---- set-up ------------------------------------------------------------------- */

static void hi_connected(const redisAsyncContext *c, int status) {
    if (status != REDIS_OK)
        bench_die("hiredis async connect: %s", c->errstr);
}

static void env_open(async_env *e, const rk_options *o) {
    memset(e->value, 'x', sizeof(e->value));
    for (int i = 0; i < KEYS; i++)
        e->key_len[i] = (size_t)snprintf(e->keys[i], sizeof(e->keys[i]), "key:%012d", i);
    e->base = event_base_new();
    e->rk = rk_async_new(o, NULL);
    if (e->base == NULL || e->rk == NULL || rk_libevent_attach(e->rk, e->base) != RK_OK)
        bench_die("rediskit async: %s", rk_error_last()->message);
    e->hi = redisAsyncConnect(e->host, e->port);
    if (e->hi == NULL || e->hi->err || redisLibeventAttach(e->hi, e->base) != REDIS_OK)
        bench_die("hiredis redisAsyncConnect %s:%d", e->host, e->port);
    redisAsyncSetConnectCallback(e->hi, hi_connected);
    /* Every key gets its value, so that each GET finds 100 bytes. */
    e->depth = INFLIGHT;
    run(e, 2 * KEYS, rk_submit);
    run(e, 2 * KEYS, hi_submit);
}

static void env_close(async_env *e) {
    redisAsyncFree(e->hi);
    rk_async_free(e->rk);
    event_base_free(e->base);
}

static const bench_group async_group;

static int async_run(const bench_opts *opts, const char *url) {
    rk_options o = {0};
    char *storage = NULL;
    if (rk_options_from_url(url, &o, &storage) != RK_OK || o.unix_path != NULL) {
        printf("  REDIS_URL=%s: expected redis://host:port\n", url);
        rk_free(storage);
        return -1;
    }
    static async_env e;
    e = (async_env){.opts = opts,
                    .host = o.host ? o.host : RK_DEFAULT_HOST,
                    .port = o.port ? o.port : RK_DEFAULT_PORT};
    env_open(&e, &o);
    bench_note("one connection per library to %s:%d, both on one libevent event_base; SET "
               "then GET of",
               e.host, e.port);
    bench_note("%d-byte values on %d keys; each reply's callback submits the next command. "
               "rediskit: rk_async",
               VALUE_LEN, KEYS);
    bench_note("+ adapters/libevent.h; hiredis: redisAsyncCommandArgv + adapters/libevent.h");
    int status = 0;
    if (bench_selected(opts, &async_group, "async_inflight64"))
        measure(&e, "async_inflight64", INFLIGHT, 1.5, true);
    if (bench_selected(opts, &async_group, "async_inflight1"))
        measure(&e, "async_inflight1", 1, 1.0, false);
    if (bench_selected(opts, &async_group, "async_vs_redis_benchmark"))
        status = measure_vs_redis_benchmark(&e);
    env_close(&e);
    rk_free(storage);
    return status;
}

#define STR2(x) #x
#define STR(x) STR2(x)

static const bench_group async_group = {
    .name = "async",
    .order = 25,
    .title = "async: 64 commands in flight on one connection (rediskit " RK_VERSION_STRING
             " vs hiredis " STR(HIREDIS_MAJOR) "." STR(HIREDIS_MINOR) "." STR(
                 HIREDIS_PATCH) " async, libevent; and redis-benchmark -P 64)",
    .workloads = workloads,
    .needs_server = true,
    .run = async_run,
};
BENCH_GROUP(async_group)
