/* rk-bench: the threads that make the load.
 *
 * Each thread owns a share of the connections and an epoll set over them;
 * it connects them without blocking (rk_conn_start/step), then, for every
 * test the main thread starts, sends batches of -P commands per connection
 * (rk_conn_append_argv + rk_conn_write_some) and takes the replies
 * (rk_conn_read_some + rk_conn_next) until -n requests are done in all.
 * A batch is claimed from one shared counter, so the total is exact. A
 * reply's latency is the time from its batch being queued to its being
 * read, as redis-benchmark measures it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "rediskit/conn.h"
#include "rediskit/error.h"

#define MAX_EVENTS 64
#define POLL_MS 100 /* how often a waiting thread looks at the abort flag */
#define PROGRESS_MS 250

typedef struct worker worker;

/* One connection and the batch it has in flight. */
typedef struct bconn {
    rk_conn *c;
    int fd;          /* registered with epoll, or -1 */
    uint32_t events; /* registered interest */
    bool idle;       /* no more requests for it in this test */
    long inflight;   /* replies still expected from the batch */
    int64_t batch_us;
    rk_str *argv;   /* the command's arguments, patched ones in scratch */
    char **scratch; /* per argument: a copy to patch, or NULL */
    int nargs;      /* entries of argv and scratch */
} bconn;

struct worker {
    rkb_run *run;
    pthread_t thread;
    bool started;
    int epfd;
    int nconns, nready, nidle;
    bconn *conns;
    uint64_t rng;
    rkb_hist hist;
    _Atomic uint64_t finished; /* replies in this test */
    uint64_t errors;           /* of them, error replies */
    int64_t end_us;            /* when the last one was read */
    bool failed;
    char err[512];
};

struct rkb_run {
    const rkb_config *cfg;
    const rkb_cmd *cmd; /* the test running */
    _Atomic long issued;
    atomic_bool abort;
    _Atomic int64_t last_error_s; /* for -e: one error message a second */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned gen; /* bumped to start a test */
    bool quit;
    int done; /* threads done with the current phase */
    int nworkers;
    worker *workers;
    rkb_hist total;
};

/* ---- small helpers ----------------------------------------------------- */

static uint64_t next_rand(uint64_t *s) {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Records the thread's first failure (msg) and tells the others to stop. */
static int fail_msg(worker *w, const char *msg) {
    if (!w->failed) {
        snprintf(w->err, sizeof(w->err), "%s", msg);
        w->failed = true;
    }
    atomic_store(&w->run->abort, true);
    return -1;
}

/* The same for a failed rediskit call: "<what> <prep> <target>: <why>",
 * leaving the target out when the library's message already names it. */
static int fail(worker *w, const char *what, const char *prep) {
    char target[300], msg[sizeof(w->err)];
    const char *why = rk_error_last()->message;
    rkb_describe_target(w->run->cfg, target, sizeof(target));
    if (strstr(why, target))
        snprintf(msg, sizeof(msg), "%s: %s", what, why);
    else
        snprintf(msg, sizeof(msg), "%s %s %s: %s", what, prep, target, why);
    return fail_msg(w, msg);
}

/* Registers b's socket for events. While connecting, force is set: the
 * connection may have replaced its socket (a TCP connect moving on to the
 * next address), perhaps under the same number, and closing the old one
 * took it out of the epoll set. */
static int watch(worker *w, bconn *b, uint32_t events, bool force) {
    int fd = rk_conn_fd(b->c);
    if (!force && fd == b->fd && events == b->events)
        return 0;
    struct epoll_event ev = {.events = events, .data.ptr = b};
    int rc = epoll_ctl(w->epfd, EPOLL_CTL_MOD, fd, &ev);
    if (rc < 0 && errno == ENOENT)
        rc = epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev);
    if (rc < 0)
        return fail_msg(w, strerror(errno));
    b->fd = fd;
    b->events = events;
    return 0;
}

static uint32_t want_events(const bconn *b) {
    int want = rk_conn_want(b->c);
    return (want & RK_WANT_READ ? EPOLLIN : 0) | (want & RK_WANT_WRITE ? EPOLLOUT : 0);
}

/* ---- connecting -------------------------------------------------------- */

/* Handles the result of rk_conn_start/step for b. */
static int connect_progress(worker *w, bconn *b, int rc) {
    if (rc == RK_OK) {
        w->nready++;
        return watch(w, b, EPOLLIN, true);
    }
    if (rc == RK_EAGAIN)
        return watch(w, b, want_events(b), true);
    return fail(w, "could not connect", "to");
}

static int connect_start_all(worker *w) {
    for (int i = 0; i < w->nconns; i++) {
        bconn *b = &w->conns[i];
        if (!(b->c = rk_conn_new(&w->run->cfg->conn)))
            return fail(w, "could not set up a connection", "to");
        if (connect_progress(w, b, rk_conn_start(b->c)) < 0)
            return -1;
    }
    return 0;
}

/* Connects every connection of the thread, within the connect timeout. */
static void connect_all(worker *w) {
    if (connect_start_all(w) < 0)
        return;
    int timeout = w->run->cfg->conn.connect_timeout_ms;
    if (timeout == 0)
        timeout = RK_DEFAULT_CONNECT_TIMEOUT_MS;
    else if (timeout < 0)
        timeout = 24 * 3600 * 1000;
    int64_t deadline = rkb_now_us() + (int64_t)timeout * 1000;
    struct epoll_event evs[MAX_EVENTS];
    while (w->nready < w->nconns && !atomic_load(&w->run->abort)) {
        int64_t left_ms = (deadline - rkb_now_us()) / 1000;
        if (left_ms <= 0) {
            char target[300], msg[sizeof(w->err)];
            rkb_describe_target(w->run->cfg, target, sizeof(target));
            snprintf(msg, sizeof(msg), "timed out connecting to %s", target);
            fail_msg(w, msg);
            return;
        }
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, left_ms < POLL_MS ? (int)left_ms : POLL_MS);
        for (int i = 0; i < n; i++) {
            bconn *b = evs[i].data.ptr;
            if (connect_progress(w, b, rk_conn_step(b->c)) < 0)
                return;
        }
    }
}

/* ---- one test ---------------------------------------------------------- */

static void free_args(bconn *b) {
    for (int a = 0; b->scratch && a < b->nargs; a++)
        free(b->scratch[a]);
    free(b->scratch);
    free(b->argv);
    b->scratch = NULL;
    b->argv = NULL;
    b->nargs = 0;
}

/* Gives b its own copies of the arguments it rewrites before each send. */
static int prepare(worker *w, bconn *b, const rkb_cmd *cmd) {
    free_args(b);
    b->argv = calloc((size_t)cmd->argc, sizeof(*b->argv));
    b->scratch = calloc((size_t)cmd->argc, sizeof(*b->scratch));
    if (!b->argv || !b->scratch)
        return fail_msg(w, "out of memory");
    b->nargs = cmd->argc;
    for (int a = 0; a < cmd->argc; a++)
        b->argv[a] = cmd->argv[a];
    for (int i = 0; i < cmd->npatch; i++) {
        int a = cmd->patch_arg[i];
        if (b->scratch[a] == NULL && !(b->scratch[a] = strdup(cmd->argv[a].ptr)))
            return fail_msg(w, "out of memory");
        b->argv[a].ptr = b->scratch[a];
    }
    return 0;
}

/* Writes a fresh 12-digit random number over every placeholder. */
static void randomize(worker *w, bconn *b, const rkb_cmd *cmd) {
    long space = w->run->cfg->keyspace;
    for (int i = 0; i < cmd->npatch; i++) {
        uint64_t r = space > 0 ? next_rand(&w->rng) % (uint64_t)space : 0;
        char *p = b->scratch[cmd->patch_arg[i]] + cmd->patch_off[i] + RKB_RAND_LEN - 1;
        for (int j = 0; j < RKB_RAND_LEN; j++, r /= 10)
            *p-- = (char)('0' + r % 10);
    }
}

/* Sends what b has queued; waits for writability only when the socket is
 * full. */
static int send_queued(worker *w, bconn *b) {
    int rc = rk_conn_write_some(b->c);
    if (rc == RK_EAGAIN)
        return watch(w, b, EPOLLIN | EPOLLOUT, false);
    if (rc != RK_OK)
        return fail(w, "lost the connection", "to");
    return watch(w, b, EPOLLIN, false);
}

/* Claims the next batch from the shared count and sends it, or marks b
 * idle when every request of the test is claimed. */
static int issue_batch(worker *w, bconn *b) {
    rkb_run *run = w->run;
    long p = run->cfg->pipeline, n = run->cfg->requests;
    long old = atomic_fetch_add_explicit(&run->issued, p, memory_order_relaxed);
    if (old >= n) {
        b->idle = true;
        w->nidle++;
        return 0;
    }
    long k = n - old < p ? n - old : p;
    const rkb_cmd *cmd = run->cmd;
    for (long i = 0; i < k; i++) {
        if (cmd->npatch)
            randomize(w, b, cmd);
        if (rk_conn_append_argv(b->c, b->argv, (size_t)cmd->argc) != RK_OK)
            return fail(w, "could not queue a command", "for");
    }
    b->inflight = k;
    b->batch_us = rkb_now_us();
    return send_queued(w, b);
}

/* -e: prints a server error, at most one a second. */
static void show_error(worker *w, const rk_reply *r) {
    int64_t now_s = rkb_now_us() / 1000000;
    int64_t last = atomic_load(&w->run->last_error_s);
    if (now_s != last && atomic_compare_exchange_strong(&w->run->last_error_s, &last, now_s))
        fprintf(stderr, "Error from server: %s\n", rk_reply_str(r));
}

/* Takes the complete replies of b's batch; a finished batch starts the
 * next. All replies read at one time share one latency. */
static int take_replies(worker *w, bconn *b, int64_t now) {
    uint64_t got = 0;
    int rc = 0;
    rk_reply r;
    while (b->inflight > 0 && (rc = rk_conn_next(b->c, &r, true)) == 1) {
        if (rk_reply_type(&r) == RK_REPLY_ERROR) {
            w->errors++;
            if (w->run->cfg->show_errors)
                show_error(w, &r);
        }
        rk_reply_free(&r);
        b->inflight--;
        got++;
    }
    if (rc < 0)
        return fail(w, "bad reply", "from");
    if (got == 0)
        return 0;
    rkb_hist_record_n(&w->hist, (uint64_t)(now - b->batch_us), got);
    atomic_fetch_add_explicit(&w->finished, got, memory_order_relaxed);
    w->end_us = now;
    return b->inflight == 0 ? issue_batch(w, b) : 0;
}

/* Reads what the socket has (rk_conn_read_some also takes what OpenSSL
 * holds decrypted, which would not wake epoll again). */
static int on_readable(worker *w, bconn *b) {
    int rc = rk_conn_read_some(b->c);
    if (rc != RK_OK && rc != RK_EAGAIN)
        return fail(w, "lost the connection", "to");
    return take_replies(w, b, rkb_now_us());
}

static int on_event(worker *w, bconn *b, uint32_t events) {
    if ((events & EPOLLOUT) && send_queued(w, b) < 0)
        return -1;
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        return on_readable(w, b);
    return 0;
}

/* Runs the thread's share of the current test. */
static void run_share(worker *w) {
    const rkb_cmd *cmd = w->run->cmd;
    w->nidle = 0;
    for (int i = 0; i < w->nconns; i++) {
        w->conns[i].idle = false;
        if (prepare(w, &w->conns[i], cmd) < 0)
            return;
    }
    for (int i = 0; i < w->nconns; i++) {
        if (issue_batch(w, &w->conns[i]) < 0)
            return;
    }
    struct epoll_event evs[MAX_EVENTS];
    while (w->nidle < w->nconns && !atomic_load_explicit(&w->run->abort, memory_order_relaxed)) {
        int n = epoll_wait(w->epfd, evs, MAX_EVENTS, POLL_MS);
        for (int i = 0; i < n; i++) {
            if (on_event(w, evs[i].data.ptr, evs[i].events) < 0)
                return;
        }
    }
}

/* ---- the threads ------------------------------------------------------- */

static void phase_done(rkb_run *run) {
    pthread_mutex_lock(&run->mu);
    run->done++;
    pthread_cond_broadcast(&run->cv);
    pthread_mutex_unlock(&run->mu);
}

/* Waits for the next test; false when told to quit. */
static bool wait_next(rkb_run *run, unsigned *gen) {
    pthread_mutex_lock(&run->mu);
    while (!run->quit && run->gen == *gen)
        pthread_cond_wait(&run->cv, &run->mu);
    *gen = run->gen;
    bool go = !run->quit;
    pthread_mutex_unlock(&run->mu);
    return go;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    connect_all(w);
    phase_done(w->run);
    unsigned gen = 0;
    while (wait_next(w->run, &gen)) {
        run_share(w);
        phase_done(w->run);
    }
    return NULL;
}

/* Waits until every thread is done with the phase. With a progress line,
 * wakes every PROGRESS_MS to redraw it. */
static void wait_phase(rkb_run *run, const char *title, int64_t t0) {
    uint64_t prev = 0;
    int64_t prev_us = t0;
    pthread_mutex_lock(&run->mu);
    while (run->done < run->nworkers) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += PROGRESS_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (pthread_cond_timedwait(&run->cv, &run->mu, &ts) != ETIMEDOUT || !title ||
            !run->cfg->progress)
            continue;
        uint64_t done = 0;
        for (int i = 0; i < run->nworkers; i++)
            done += atomic_load_explicit(&run->workers[i].finished, memory_order_relaxed);
        int64_t now = rkb_now_us();
        double dt = (double)(now - prev_us) / 1e6;
        rkb_progress(run->cfg, title, done, (double)(now - t0) / 1e6,
                     dt > 0 ? (double)(done - prev) / dt : 0);
        prev = done;
        prev_us = now;
    }
    pthread_mutex_unlock(&run->mu);
}

/* The first failure of any thread, printed; -1 if there was one. */
static int report_failure(const rkb_run *run) {
    for (int i = 0; i < run->nworkers; i++) {
        if (run->workers[i].failed) {
            rkb_progress_clear(run->cfg);
            fprintf(stderr, "rk-bench: %s\n", run->workers[i].err);
            return -1;
        }
    }
    return 0;
}

static int init_sync(rkb_run *run) {
    pthread_condattr_t attr;
    if (pthread_condattr_init(&attr) != 0)
        return -1;
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&run->cv, &attr);
    pthread_condattr_destroy(&attr);
    if (rc != 0)
        return -1;
    if (pthread_mutex_init(&run->mu, NULL) != 0) {
        pthread_cond_destroy(&run->cv);
        return -1;
    }
    return 0;
}

/* Gives thread i its share of the connections (as even as can be). */
static int init_worker(rkb_run *run, int i) {
    worker *w = &run->workers[i];
    const rkb_config *cfg = run->cfg;
    w->run = run;
    w->rng = (uint64_t)rkb_now_us() * 2654435761u + (uint64_t)i * 40503u + 1;
    w->nconns = cfg->clients / cfg->threads + (i < cfg->clients % cfg->threads);
    w->conns = calloc((size_t)w->nconns, sizeof(*w->conns));
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!w->conns || w->epfd < 0)
        return -1;
    for (int j = 0; j < w->nconns; j++)
        w->conns[j].fd = -1;
    rkb_hist_reset(&w->hist);
    return 0;
}

static rkb_run *run_alloc(const rkb_config *cfg) {
    rkb_run *run = calloc(1, sizeof(*run));
    if (!run)
        return NULL;
    run->cfg = cfg;
    run->nworkers = cfg->threads;
    run->workers = calloc((size_t)cfg->threads, sizeof(*run->workers));
    if (!run->workers || init_sync(run) < 0) {
        free(run->workers);
        free(run);
        return NULL;
    }
    for (int i = 0; i < run->nworkers; i++)
        run->workers[i].epfd = -1;
    return run;
}

rkb_run *rkb_run_start(const rkb_config *cfg) {
    rkb_run *run = run_alloc(cfg);
    if (!run) {
        fprintf(stderr, "rk-bench: out of memory\n");
        return NULL;
    }
    for (int i = 0; i < run->nworkers; i++) {
        worker *w = &run->workers[i];
        if (init_worker(run, i) < 0 || pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            fprintf(stderr, "rk-bench: could not start thread %d: %s\n", i, strerror(errno));
            atomic_store(&run->abort, true);
            rkb_run_free(run);
            return NULL;
        }
        w->started = true;
    }
    wait_phase(run, NULL, 0);
    if (report_failure(run) < 0) {
        rkb_run_free(run);
        return NULL;
    }
    return run;
}

/* Sets everything up for cmd and releases the threads. */
static int64_t start_test(rkb_run *run, const rkb_cmd *cmd) {
    run->cmd = cmd;
    atomic_store(&run->issued, 0);
    for (int i = 0; i < run->nworkers; i++) {
        worker *w = &run->workers[i];
        rkb_hist_reset(&w->hist);
        atomic_store(&w->finished, 0);
        w->errors = 0;
        w->end_us = 0;
    }
    pthread_mutex_lock(&run->mu);
    run->done = 0;
    run->gen++;
    int64_t t0 = rkb_now_us();
    pthread_cond_broadcast(&run->cv);
    pthread_mutex_unlock(&run->mu);
    return t0;
}

int rkb_run_test(rkb_run *run, const rkb_cmd *cmd, rkb_result *res) {
    int64_t t0 = start_test(run, cmd);
    wait_phase(run, cmd->title, t0);
    rkb_progress_clear(run->cfg);
    if (report_failure(run) < 0)
        return -1;
    int64_t t1 = t0;
    rkb_hist_reset(&run->total);
    memset(res, 0, sizeof(*res));
    for (int i = 0; i < run->nworkers; i++) {
        worker *w = &run->workers[i];
        rkb_hist_merge(&run->total, &w->hist);
        res->requests += atomic_load(&w->finished);
        res->errors += w->errors;
        if (w->end_us > t1)
            t1 = w->end_us;
    }
    res->title = cmd->title;
    res->seconds = (double)(t1 - t0) / 1e6;
    res->rps = res->seconds > 0 ? (double)res->requests / res->seconds : 0;
    res->hist = &run->total;
    return 0;
}

static void free_conn(bconn *b) {
    rk_conn_free(b->c);
    free_args(b);
}

void rkb_run_free(rkb_run *run) {
    if (!run)
        return;
    pthread_mutex_lock(&run->mu);
    run->quit = true;
    pthread_cond_broadcast(&run->cv);
    pthread_mutex_unlock(&run->mu);
    for (int i = 0; i < run->nworkers; i++) {
        worker *w = &run->workers[i];
        if (w->started)
            pthread_join(w->thread, NULL);
        for (int j = 0; w->conns && j < w->nconns; j++)
            free_conn(&w->conns[j]);
        free(w->conns);
        if (w->epfd >= 0)
            close(w->epfd);
    }
    pthread_cond_destroy(&run->cv);
    pthread_mutex_destroy(&run->mu);
    free(run->workers);
    free(run);
}
