/* The multiplexed executor (mux.h): an engine thread, its loop, a few
 * async clients, and the threads that wait on them.
 *
 * A caller encodes its command into a writer of its thread's, puts a job
 * (on its own stack) on the executor's list and sleeps on a word of the
 * job (a futex; a condition variable where there is none). The list is a
 * lock-free stack: a push is one compare-and-swap, and the engine takes
 * the whole list with one exchange. The engine wakes from its loop (the
 * loop's pipe) only when it is asleep there: it says so in `sleeping`
 * before its last look at the list, and a pusher that sees it set takes
 * it back and writes the pipe; a busy engine finds new jobs when it
 * comes round, with no system call. The jobs taken go to the connection
 * with the fewest commands pending, all in one write; each completes on
 * the engine thread, which moves the reply (an owned block) to the job
 * and wakes its caller.
 *
 * Stopping swaps the list for CLOSED: jobs taken then are cancelled, and
 * pushes fail from then on.
 *
 * The engine thread does not survive fork(): in the child (a generation
 * bumped by a pthread_atfork handler) calls fail with RK_ECLOSED, and
 * freeing leaves the executor's insides alone (the engine may have been
 * half-way through changing them when the parent forked). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "async/async_int.h"
#include "async/mux.h"
#include "conn/conn_int.h"
#include "util/common.h"

/* The list's value once the engine has stopped. */
#define CLOSED ((rk_async_job *)(uintptr_t)1)

/* What the engine does in its loop (rk_mux.sleeping): runs, sleeps with
 * nothing in flight (a push must wake it), or sleeps awaiting replies (it
 * comes round within POLL_MS without a wake-up). */
enum { AWAKE, SLEEP_IDLE, SLEEP_BUSY };
#define POLL_MS 1

struct rk_mux {
    _Atomic(rk_async_job *) jobs; /* pushed, newest first; CLOSED once stopped */
    atomic_int sleeping;          /* AWAKE, SLEEP_IDLE or SLEEP_BUSY */
    atomic_bool stopping;
    rk_loop *loop;
    rk_async *ac[RK_MAX_MUX_CONNECTIONS];
    int n;
    pthread_t thread;
    bool running; /* the thread was started and not yet joined */
    pthread_mutex_t stop_mu;
    unsigned generation; /* fork_generation when made */
};

static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void) {
    atomic_fetch_add(&fork_generation, 1);
}

static void register_atfork(void) {
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

/* Whether m was made in another process (this is a forked child). */
static bool forked(const rk_mux *m) {
    return atomic_load_explicit(&fork_generation, memory_order_relaxed) != m->generation;
}

/* The executor whose engine runs on this thread, if any. */
static _Thread_local const rk_mux *engine_here;

/* ---- waiting ------------------------------------------------------------ */

enum { W_PENDING, W_ASLEEP, W_DONE };

/* A call in progress: its job, and what its caller sleeps on. */
typedef struct mux_call {
    rk_async_job job;
    atomic_uint state;          /* W_* */
    struct mux_call *next_wake; /* the chain's next caller to wake (see wake_chain) */
    int cpu;                    /* the processor its caller went to sleep on */
    char message[256];          /* the failure's detail, from the engine's thread */
#ifndef __linux__
    pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
} mux_call;

#ifdef __linux__
static void sleep_on(atomic_uint *word, unsigned value) {
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

static void wake_one(atomic_uint *word) {
    syscall(SYS_futex, (unsigned *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
#endif

#ifdef __linux__
/* The callers the engine completed during one turn of its loop while they
 * slept, in completion order, a chain per processor they sleep on (by
 * number modulo CHAINS; the engine's thread only). */
#define CHAINS 16
static _Thread_local mux_call *chain_head[CHAINS], *chain_tail[CHAINS];

/* Wakes the chains: the engine wakes each one's first caller only, and
 * each caller woken wakes the next before it returns (wake_done). A
 * wake-up across processors costs several times one on the same (11 us
 * against 3 on the 2-core VM of the benchmarks): one thread waking one
 * other on the processor it slept on stays there, where the engine waking
 * every caller itself made the scheduler spread them, and it takes the
 * wake-ups off the engine's thread. A caller in a chain stays W_ASLEEP
 * until its predecessor marks it done, so none returns (and frees its
 * mux_call) before the chain has passed it. */
static void wake_chain(void) {
    for (int i = 0; i < CHAINS; i++) {
        mux_call *first = chain_head[i];
        if (first == NULL)
            continue;
        chain_head[i] = chain_tail[i] = NULL;
        atomic_store(&first->state, W_DONE);
        wake_one(&first->state);
    }
}

/* A caller woken from the chain: wakes the next one. Its own mux_call is
 * not touched again after that. */
static void wake_done(mux_call *mc) {
    mux_call *next = mc->next_wake;
    if (next) {
        atomic_store(&next->state, W_DONE);
        wake_one(&next->state);
    }
}
#else
static void wake_chain(void) {
}
#endif

/* On the engine's thread: the job completed. A caller not yet asleep sees
 * it done at once; one asleep joins the chain of wake_chain. After the
 * state says done the caller may return at once, so the call is not
 * touched again. */
static void call_done(rk_async_job *job) {
    mux_call *mc = (mux_call *)job;
    if (job->status < 0 && job->status != RK_ESERVER && job->status != RK_EREDIRECT)
        snprintf(mc->message, sizeof(mc->message), "%s", rk_error_last()->message);
#ifdef __linux__
    unsigned expect = W_PENDING;
    if (atomic_compare_exchange_strong(&mc->state, &expect, W_DONE))
        return; /* it sees it before it sleeps */
    int i = (unsigned)mc->cpu % CHAINS;
    mc->next_wake = NULL;
    if (chain_tail[i])
        chain_tail[i]->next_wake = mc;
    else
        chain_head[i] = mc;
    chain_tail[i] = mc;
#else
    pthread_mutex_lock(&mc->mu);
    atomic_store(&mc->state, W_DONE);
    pthread_cond_signal(&mc->cv);
    pthread_mutex_unlock(&mc->mu);
#endif
}

/* Sleeps until the engine completed the call (no spinning). */
static void wait_done(mux_call *mc) {
#ifdef __linux__
    int cpu = sched_getcpu();
    mc->cpu = cpu < 0 ? 0 : cpu; /* published by the exchange below */
    unsigned expect = W_PENDING;
    if (!atomic_compare_exchange_strong(&mc->state, &expect, W_ASLEEP))
        return; /* done already */
    while (atomic_load(&mc->state) != W_DONE)
        sleep_on(&mc->state, W_ASLEEP);
    wake_done(mc);
#else
    pthread_mutex_lock(&mc->mu);
    while (atomic_load(&mc->state) != W_DONE)
        pthread_cond_wait(&mc->cv, &mc->mu);
    pthread_mutex_unlock(&mc->mu);
#endif
}

/* ---- the engine --------------------------------------------------------- */

/* The jobs pushed since the last take, oldest first. */
static rk_async_job *take(rk_mux *m, rk_async_job *replace) {
    rk_async_job *p = atomic_exchange(&m->jobs, replace), *fifo = NULL;
    if (p == CLOSED)
        return NULL;
    while (p) {
        rk_async_job *next = p->next;
        p->next = fifo;
        fifo = p;
        p = next;
    }
    return fifo;
}

/* The connection with the fewest commands pending. */
static rk_async *least_busy(const rk_mux *m) {
    rk_async *best = m->ac[0];
    size_t load = m->n > 1 ? rk_async_pending(best) : 0;
    for (int i = 1; i < m->n && load > 0; i++) {
        size_t l = rk_async_pending(m->ac[i]);
        if (l < load) {
            best = m->ac[i];
            load = l;
        }
    }
    return best;
}

/* Spreads the jobs over the connections: runs of consecutive jobs go to
 * one connection, in one write. */
static void submit(rk_mux *m, rk_async_job *list) {
    if (m->n == 1) {
        rk_async_take_jobs(m->ac[0], list);
        return;
    }
    while (list) {
        rk_async_job *job = list;
        list = job->next;
        job->next = NULL;
        rk_async_take_jobs(least_busy(m), job);
    }
}

/* Ends every job taken at the stop, and every command in flight. */
static void cancel_all(rk_mux *m) {
    rk_async_job *list = take(m, CLOSED);
    rk_fail(RK_ECANCELED, "the client was freed with the call in flight");
    while (list) {
        rk_async_job *job = list;
        list = job->next;
        job->status = RK_ECANCELED;
        job->sent = false;
        job->done(job);
    }
    for (int i = 0; i < m->n; i++) {
        rk_async_free(m->ac[i]); /* completes what it has with RK_ECANCELED */
        m->ac[i] = NULL;
    }
    wake_chain();
}

/* Commands the engine's connections have not completed. */
static size_t pending(const rk_mux *m) {
    size_t n = 0;
    for (int i = 0; i < m->n; i++)
        n += rk_async_pending(m->ac[i]);
    return n;
}

/* Runs the loop, taking jobs between iterations (see the top). With
 * commands in flight the engine sleeps at most POLL_MS: their replies wake
 * it, and jobs pushed meanwhile wait for that (SLEEP_BUSY: no wake-up),
 * going out together in the next write. */
static void *engine(void *arg) {
    rk_mux *m = arg;
    engine_here = m;
#ifdef __linux__
    pthread_setname_np(pthread_self(), "rk-mux");
#endif
    while (!atomic_load(&m->stopping)) {
        rk_async_job *list = take(m, NULL);
        if (list)
            submit(m, list);
        wake_chain(); /* the calls that failed at once */
        int busy = pending(m) > 0 ? SLEEP_BUSY : SLEEP_IDLE;
        atomic_store(&m->sleeping, busy);
        if (atomic_load(&m->jobs) != NULL || atomic_load(&m->stopping)) {
            atomic_store(&m->sleeping, AWAKE);
            rk_loop_run_once(m->loop, 0);
            wake_chain();
            continue;
        }
        rk_loop_run_once(m->loop, busy == SLEEP_BUSY ? POLL_MS : -1);
        wake_chain();
        atomic_store(&m->sleeping, AWAKE);
    }
    cancel_all(m);
    return NULL;
}

/* Starts the engine thread with every signal blocked, so that the
 * program's handlers run on its own threads. */
static int start_engine(rk_mux *m) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&m->thread, NULL, engine, m);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err != 0)
        return rk_fail(RK_ENOMEM, "cannot start the multiplexed client's engine thread");
    m->running = true;
    return RK_OK;
}

/* ---- life cycle --------------------------------------------------------- */

rk_mux *rk_mux_new(const rk_options *opts) {
    rk_mux *m = rk_calloc(1, sizeof(*m));
    if (m == NULL) {
        rk_fail(RK_ENOMEM, "out of memory creating a multiplexed executor");
        return NULL;
    }
    if (pthread_mutex_init(&m->stop_mu, NULL) != 0) {
        rk_free(m);
        rk_fail(RK_ENOMEM, "no mutex for a multiplexed executor");
        return NULL;
    }
    pthread_once(&atfork_once, register_atfork);
    m->generation = atomic_load(&fork_generation);
    int rc = RK_OK;
    m->loop = rk_loop_new(0);
    if (m->loop == NULL)
        rc = rk_error_last()->code;
    int want = RK_MAX(1, RK_MIN(opts->mux_connections, RK_MAX_MUX_CONNECTIONS));
    for (; rc == RK_OK && m->n < want; m->n++) {
        m->ac[m->n] = rk_async_new(opts, NULL);
        rc = m->ac[m->n] ? rk_loop_attach(m->loop, m->ac[m->n]) : rk_error_last()->code;
    }
    if (rc == RK_OK)
        rc = start_engine(m);
    if (rc != RK_OK) {
        rk_mux_free(m);
        return NULL;
    }
    return m;
}

void rk_mux_stop(rk_mux *m) {
    if (m == NULL || forked(m))
        return;
    pthread_mutex_lock(&m->stop_mu);
    if (m->running) {
        atomic_store(&m->stopping, true);
        rk_loop_wake(m->loop);
        pthread_join(m->thread, NULL);
        m->running = false;
    } else {
        atomic_store(&m->stopping, true);
        cancel_all(m); /* never started: nothing runs but this */
    }
    pthread_mutex_unlock(&m->stop_mu);
}

void rk_mux_free(rk_mux *m) {
    if (m == NULL || forked(m)) /* its insides may be half-changed: leaked */
        return;
    rk_mux_stop(m);
    rk_loop_free(m->loop);
    pthread_mutex_destroy(&m->stop_mu);
    rk_free(m);
}

/* ---- calls -------------------------------------------------------------- */

static pthread_key_t writer_key;
static pthread_once_t writer_once = PTHREAD_ONCE_INIT;
static _Thread_local rk_writer *thread_writer;

static void free_writer(void *w) {
    rk_writer_free(w);
}

static void make_writer_key(void) {
    pthread_key_create(&writer_key, free_writer);
}

rk_writer *rk_mux_writer(void) {
    if (thread_writer)
        return thread_writer;
    pthread_once(&writer_once, make_writer_key);
    thread_writer = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    if (thread_writer == NULL)
        return NULL;
    pthread_setspecific(writer_key, thread_writer);
    return thread_writer;
}

/* Pushes a job for the engine; false once it has stopped. Wakes the engine
 * only when it sleeps in its loop. */
static bool push(rk_mux *m, rk_async_job *job) {
    rk_async_job *head = atomic_load(&m->jobs);
    do {
        if (head == CLOSED)
            return false;
        job->next = head;
    } while (!atomic_compare_exchange_weak(&m->jobs, &head, job));
    if (atomic_load(&m->sleeping) == SLEEP_IDLE &&
        atomic_exchange(&m->sleeping, AWAKE) == SLEEP_IDLE)
        rk_loop_wake(m->loop);
    return true;
}

/* The caller's answer from a completed job: the reply moved out, the
 * error detail set on the caller's thread. */
static int answer(mux_call *mc, rk_reply *reply) {
    rk_async_job *job = &mc->job;
    *reply = job->reply;
    if (job->status >= 0) /* RK_NIL is for shaped replies: shapes are the caller's */
        return RK_OK;
    if (rk_reply_is_error(reply))
        return rk_conn_server_error(reply);
    return rk_fail(job->status, "%s", mc->message);
}

int rk_mux_call(rk_mux *m, rk_writer *w, int timeout_ms, rk_reply *reply, bool *sent) {
    memset(reply, 0, sizeof(*reply));
    *sent = false;
    if (forked(m)) {
        rk_writer_clear(w);
        return rk_fail(RK_ECLOSED, "the multiplexed client's engine does not survive fork(): "
                                   "make a new client in the child");
    }
    if (engine_here == m) {
        rk_writer_clear(w);
        return rk_fail(RK_EINVAL, "a call on the multiplexed client from its own engine "
                                  "thread (a push callback) would wait for itself");
    }
    mux_call mc = {
        .job = {.cmd = w, .timeout_ms = timeout_ms, .since = rk_now_ms(), .done = call_done}};
    atomic_init(&mc.state, W_PENDING);
#ifndef __linux__
    pthread_mutex_init(&mc.mu, NULL);
    pthread_cond_init(&mc.cv, NULL);
#endif
    int rc;
    if (push(m, &mc.job)) {
        wait_done(&mc);
        *sent = mc.job.sent;
        rc = answer(&mc, reply);
    } else {
        rc = rk_fail(RK_ECLOSED, "the client is being freed");
    }
#ifndef __linux__
    pthread_cond_destroy(&mc.cv);
    pthread_mutex_destroy(&mc.mu);
#endif
    rk_writer_clear(w);
    return rc;
}
