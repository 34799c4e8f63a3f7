/* Internal side of rk_async, between the engine (async.c) and the parts
 * built on it inside the library: pub/sub and tracking (pubsub.c), with
 * the few engine calls they need and the hooks the engine calls where they
 * have a say (a reply read, a connection made or lost, the client settling,
 * detached or freed); and the multiplexed synchronous client (mux.c), with
 * a submission path for commands other threads encoded, whose replies are
 * handed over as owned blocks (moved, never copied), and a way to wake the
 * built-in loop from another thread. */
#ifndef RK_ASYNC_INT_H
#define RK_ASYNC_INT_H

#include <stdbool.h>

#include "rediskit/async.h"
#include "rediskit/loop.h"
#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

/* The pub/sub state of a client (pubsub.c), NULL until first used. A
 * dedicated pub/sub connection (RESP2) points to its parent's. */
typedef struct rk_aps rk_aps;

/* ---- the engine, for pubsub.c ---- */

rk_aps **rk_async_aps(rk_async *ac);
const rk_options *rk_async_options_of(const rk_async *ac);
/* The connection when the handshake is done, else NULL. */
rk_conn *rk_async_ready_conn(const rk_async *ac);
bool rk_async_freeing(const rk_async *ac);

/* Queues argv as a command of the client's own, even one that changes the
 * connection's state (SUBSCRIBE, CLIENT TRACKING): no deadline, cb
 * completes it as any command. RK_OK or RK_ENOMEM (cb not called). */
int rk_async_queue_own(rk_async *ac, const rk_str *argv, size_t argc, rk_async_fn cb, void *ud);

/* Raises the client's depth around a callback of the user's run from
 * another client's input (a dedicated connection's), so that freeing or
 * disconnecting it there waits; release settles it (it may be gone
 * after). Every hook below runs with its own client's depth raised. */
void rk_async_hold(rk_async *ac);
void rk_async_release(rk_async *ac);

/* Whether a dedicated connection could be made: not on a loop without
 * attach_other (no loop yet is fine). */
bool rk_async_can_dedicate(const rk_async *ac);
/* A new client with ac's options attached to ac's loop (attach_other), for
 * a dedicated connection; NULL with the error. */
rk_async *rk_async_new_dedicated(rk_async *ac);

/* ---- the hooks, in pubsub.c ---- */

/* What rk_aps_reply says of a reply just read. */
enum { RK_APS_PASS = 0, RK_APS_TAKEN = 1 };

/* A reply read on a client with pub/sub state; head_ud is the userdata of
 * the command awaiting a reply (NULL: none). RK_APS_PASS: it answers that
 * command (a confirmation completing a subscribe is passed too);
 * RK_APS_TAKEN: pub/sub consumed it (a message, a confirmation on the
 * way); or a negative code: the data is hostile, the connection must go. */
int rk_aps_reply(rk_async *ac, const rk_reply *reply, const void *head_ud);
/* The handshake is done on ac's connection. */
void rk_aps_connected(rk_async *ac);
/* ac's connection failed (code), or a connect did. */
void rk_aps_lost(rk_async *ac, int code);
/* Whether ac must stay connected though no command waits. */
bool rk_aps_wants_link(const rk_async *ac);
/* At the end of each entry point: makes the dedicated connection when one
 * is needed and missing. */
void rk_aps_settle(rk_async *ac);
/* The client leaves its loop: the dedicated connection (the loop's) goes;
 * the subscriptions stay, restored once attached again. */
void rk_aps_detach(rk_async *ac);
/* rk_async_disconnect (RK_ECLOSED) or rk_async_free (RK_ECANCELED):
 * completes every pending subscribe with code and forgets the
 * subscriptions and tracking; before the engine fails its records. */
void rk_aps_close(rk_async *ac, int code);
/* Frees the state, after the engine failed its records. */
void rk_aps_free(rk_async *ac);

/* ---- jobs, for the multiplexed client (mux.c) ---- */

/* One command submitted by rk_async_take_jobs. The submitter owns the
 * struct and keeps it (and cmd) alive until done has run. */
typedef struct rk_async_job rk_async_job;
struct rk_async_job {
    rk_async_job *next;   /* the submitter's list */
    const rk_writer *cmd; /* every byte pending in it is the command: copied
                             into the client's queue by rk_async_take_jobs */
    int timeout_ms;       /* deadline from submission; negative: none */
    int64_t since;        /* the submission's time (rk_now_ms), which the
                             deadline counts from */
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
