/* Internal: the multiplexed executor behind the client's RK_MODE_MUX.
 *
 * One engine thread runs the built-in loop (rk_loop) with a few async
 * clients (rk_async) to one server. Any thread hands it a command it
 * encoded itself and sleeps until its own reply comes: the engine writes
 * the commands of every waiting thread together and wakes each with its
 * reply, moved (never copied). The client (src/client/) keeps routing and
 * retries: a node of its topology holds one executor. */
#ifndef RK_MUX_H
#define RK_MUX_H

#include <stdbool.h>

#include "rediskit/options.h"
#include "rediskit/reply.h"
#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

typedef struct rk_mux rk_mux;

/* An executor with opts->mux_connections connections to the server of
 * opts (settled options; copied). Starts the engine thread; the
 * connections are made at the first command. NULL with the error. */
rk_mux *rk_mux_new(const rk_options *opts);

/* Stops the engine: every call queued or in flight completes with
 * RK_ECANCELED, and calls made from now on return RK_ECLOSED. Waits for
 * the engine thread to end. Idempotent; NULL is allowed. */
void rk_mux_stop(rk_mux *m);

/* Stops the engine (if not yet) and frees the executor. No call may be
 * running in it any more (after rk_mux_stop, a caller still inside
 * rk_mux_call may be about to return). NULL is allowed. */
void rk_mux_free(rk_mux *m);

/* The calling thread's writer for the next rk_mux_call: empty. It copies
 * every argument. Freed when the thread ends. NULL with RK_ENOMEM. */
rk_writer *rk_mux_writer(void);

/* Runs the one command in w (the calling thread's, from rk_mux_writer; it
 * is left empty) and waits for its completion. timeout_ms: the deadline
 * from now, negative for none. Returns RK_OK with the reply in *reply,
 * RK_ESERVER or RK_EREDIRECT with the error reply in *reply (the error
 * detail set on this thread), or a failure with *reply nil (RK_ETIMEOUT,
 * RK_EIO, RK_ECONNECT..., RK_ECANCELED when the executor was stopped
 * meanwhile, RK_ECLOSED once it is stopped; RK_EINVAL from the engine's
 * own thread, which would wait for itself). *sent says whether some byte
 * of the command was written (it may have run). */
int rk_mux_call(rk_mux *m, rk_writer *w, int timeout_ms, rk_reply *reply, bool *sent);

#pragma GCC visibility pop

#endif
