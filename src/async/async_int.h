/* Internal side of the async engine for the multiplexed synchronous client
 * (async/mux.h): a submission path for commands other threads encoded,
 * whose replies are handed over as owned blocks (moved, never copied), and
 * a way to wake the built-in loop from another thread. */
#ifndef RK_ASYNC_INT_H
#define RK_ASYNC_INT_H

#include <stdbool.h>

#include "rediskit/async.h"
#include "rediskit/loop.h"
#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

/* One command submitted by rk_async_take_jobs. The submitter owns the
 * struct and keeps it (and cmd) alive until done has run. */
typedef struct rk_async_job rk_async_job;
struct rk_async_job {
    rk_async_job *next;   /* the submitter's list */
    const rk_writer *cmd; /* every byte pending in it is the command: copied
                             into the client's queue by rk_async_take_jobs */
    int timeout_ms;       /* deadline from submission; negative: none */
    /* Runs once, on the loop's thread, with status (as an rk_async_fn's),
     * sent and reply filled in; the job may be gone once it returns. */
    void (*done)(rk_async_job *job);
    int status;
    bool sent;      /* some byte of it was written (it may have run) */
    rk_reply reply; /* RK_OK / RK_ESERVER: the reply, owned, moved here */
};

/* Queues a list of jobs (in list order) as one loop input does: written
 * together, in one write, before this returns (as far as the socket and
 * the in-flight limits allow). On the loop's thread. A job refused (the
 * client is being freed, out of memory) has its done run with the error
 * before this returns. Returns how many were queued. */
size_t rk_async_take_jobs(rk_async *ac, rk_async_job *list);

/* Makes a thread blocked in rk_loop_run_once return (the wake-up pipe);
 * any thread. */
void rk_loop_wake(rk_loop *loop);

#pragma GCC visibility pop

#endif
