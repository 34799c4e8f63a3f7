/** @file rediskit/loop.h
 * rediskit: the built-in event loop, for programs that have no other.
 *
 * epoll on Linux, poll() elsewhere (or on request, RK_LOOP_POLL). Any
 * number of async clients may be attached to one loop; the loop runs on
 * one thread, and so do the callbacks of its clients.
 *
 *     rk_loop *loop = rk_loop_new(0);
 *     rk_loop_attach(loop, ac);
 *     rk_loop_run(loop);              // until rk_loop_stop
 *     rk_async_free(ac);
 *     rk_loop_free(loop);
 */
#ifndef RK_LOOP_H
#define RK_LOOP_H

#include "async.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A built-in event loop. */
typedef struct rk_loop rk_loop;

/** Flags of rk_loop_new. */
enum {
    RK_LOOP_POLL = 1 /**< Use poll() even where epoll exists. */
};

/** A new loop, or NULL with rk_error_last() (RK_ENOMEM, RK_EIO; RK_EINVAL
 *  for flags this version does not know). */
rk_loop *rk_loop_new(unsigned flags);

/** Frees the loop. Clients still attached are detached first (they stay
 *  usable and may be attached to another loop). NULL is allowed. */
void rk_loop_free(rk_loop *loop);

/** Attaches an async client: the loop watches its fd and runs its timer.
 *  RK_EINVAL when the client has a loop already, RK_ENOMEM. */
int rk_loop_attach(rk_loop *loop, rk_async *ac);

/** Runs until rk_loop_stop. RK_OK, or RK_EIO when waiting failed. */
int rk_loop_run(rk_loop *loop);

/** Waits for events up to timeout_ms (0: do not wait; negative: no limit),
 *  and handles them and the timers due: one iteration. RK_OK or RK_EIO. */
int rk_loop_run_once(rk_loop *loop, int timeout_ms);

/** Makes rk_loop_run return after the current iteration. Safe from any
 *  thread and from signal handlers. */
void rk_loop_stop(rk_loop *loop);

#ifdef __cplusplus
}
#endif
#endif
