/** @file rediskit/pipeline.h
 * rediskit: pipelines and transactions.
 *
 * An rk_pipeline queues commands and sends them together, in as few writes
 * as the socket allows, reading replies while it writes, so that a pipeline
 * of a million commands neither waits on a full socket nor holds its
 * commands twice in memory. Each command keeps its own reply and status:
 * an error reply hides none of the others.
 *
 *     rk_pipeline *p = rk_pipeline_new(client, NULL);
 *     rk_pipeline_append(p, "SET %s %s", "a", "1");
 *     rk_pipeline_append(p, "INCR %s", "a");
 *     if (rk_pipeline_exec(p) == RK_OK)
 *         printf("%lld\n", rk_reply_int(rk_pipeline_reply(p, 1)));
 *     rk_pipeline_free(p);
 *
 * Made with .transaction = true, the pipeline is wrapped in MULTI/EXEC.
 * WATCH follows redis-py: after rk_pipeline_watch the pipeline holds one
 * connection and rk_pipeline_call runs commands at once (to read the
 * watched values) until rk_pipeline_multi starts queueing; rk_pipeline_exec
 * then runs the transaction, which fails with RK_EWATCH if a watched key
 * changed. rk_transaction() reruns such a transaction until it succeeds.
 *
 * A pipeline takes a connection from the client's pool for each exec (or
 * from watch to exec) and gives it back. It belongs to one thread. */
#ifndef RK_PIPELINE_H
#define RK_PIPELINE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "client.h"
#include "reply.h"
#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A pipeline (or transaction) of commands for one client, used by one
 *  thread. */
typedef struct rk_pipeline rk_pipeline;

/** Pipeline options; zeroed fields mean the defaults beside them. */
typedef struct rk_pipeline_opts {
    bool transaction;   /**< Wrap the commands in MULTI/EXEC. */
    bool stop_on_error; /**< rk_pipeline_exec returns the first error reply's
                             code (RK_ESERVER...) instead of RK_OK, as
                             redis-py's raise_on_error; every reply is still
                             read and kept. */
    bool allow_retry;   /**< After a connection failure, run the whole
                             pipeline again even if some commands are not
                             safe to repeat (never for transactions). By
                             default a pipeline is retried only when all
                             its commands are read-only or none was sent. */
    /** Zero-copy: arguments of 16 KiB or more (RK_WRITER_REF_THRESHOLD)
     *  are referenced, not copied, when queued, so the caller must keep
     *  each such buffer unchanged until the pipeline has run (exec, or a
     *  retry of it). By default every argument is copied when queued, so
     *  a buffer may be reused at once. */
    bool borrow_large_values;
} rk_pipeline_opts;

/** A new, empty pipeline on the client (opts may be NULL). NULL with
 *  rk_error_last() on RK_ENOMEM, or RK_EINVAL for a NULL client. The
 *  client must outlive it. Every function below given a NULL pipeline
 *  returns RK_EINVAL (size and replies 0, reply NULL; free and reset do
 *  nothing). */
rk_pipeline *(rk_pipeline_new)(rk_client *client, const rk_pipeline_opts *opts, size_t opts_size);
#define rk_pipeline_new(...) (rk_pipeline_new)(__VA_ARGS__, sizeof(rk_pipeline_opts))

/** Frees the pipeline, its replies, and gives back a held connection
 *  (a watch in progress is dropped with it). NULL is allowed. */
void rk_pipeline_free(rk_pipeline *p);

/** Queue a command (see rk_writer_format for the format). Its arguments
 *  are copied (unless the pipeline was made with borrow_large_values).
 *  RK_EINVAL for a bad command, while watching before
 *  rk_pipeline_multi, or for a command that changes the state of its
 *  connection (SELECT, MULTI, WATCH, SUBSCRIBE, CLIENT REPLY..., judged as
 *  built, as rk_client_call does): it would outlive the pipeline on the
 *  pooled connection; nothing is queued then. */
int rk_pipeline_append(rk_pipeline *p, const char *fmt, ...);

/** As rk_pipeline_append(), with a va_list. */
int rk_pipeline_vappend(rk_pipeline *p, const char *fmt, va_list ap);

/** As rk_pipeline_append(), with the arguments as C strings ended by NULL:
 *  at most 64 of them (more is RK_EINVAL; use rk_pipeline_append_argv). */
int rk_pipeline_append_args(rk_pipeline *p, const char *arg0, ...);

/** As rk_pipeline_append(), with the command as argc binary-safe strings
 *  (see rk_writer_argv). */
int rk_pipeline_append_argv(rk_pipeline *p, const rk_str *argv, size_t argc);

/** Queues a built command (rediskit/command.h) and consumes it: cmd is
 *  released whether it was queued or not. Its reply, read with
 *  rk_pipeline_reply() after rk_pipeline_exec(), gets the command's shape
 *  (the same on RESP2 and RESP3); there a nil answer is a nil reply with
 *  status RK_OK. A command that failed to build is reported (its code,
 *  its message in rk_error_last()) and nothing is queued. Otherwise
 *  returns as rk_pipeline_append_argv(). */
int rk_pipeline_add(rk_pipeline *p, rk_command *cmd);

/** Commands queued. */
size_t rk_pipeline_size(const rk_pipeline *p);

/** Sends every queued command and reads every reply. The previous results
 *  are replaced; the queue is emptied. Returns:
 *  - RK_OK: every command got its reply (some may be error replies: see
 *    rk_pipeline_status), or with stop_on_error the code of the first error
 *    reply, rk_error_last() naming the command;
 *  - RK_EWATCH: the transaction did not run, a watched key changed;
 *  - RK_EEXECABORT: the transaction did not run because the server refused
 *    a command while queueing (that command's status is RK_ESERVER with its
 *    error reply; the others' RK_EEXECABORT);
 *  - RK_ESERVER (or RK_EAUTH) with MULTI's error in rk_error_last(): the
 *    server refused MULTI itself (an ACL user without it), so the commands
 *    DID run, one by one and not atomically: each has its own reply and
 *    status, as in a plain pipeline;
 *  - a connection failure (RK_EIO, RK_ETIMEOUT, RK_ECONNECT...): every
 *    command that got no reply has that status, a command the server
 *    redirected (MOVED, ASK) and that could not be sent again to the node
 *    named too. The command timeout bounds each wait for progress, not
 *    the whole pipeline;
 *  - RK_ENOMEM: out of memory, possibly after every reply was read: a typed
 *    command whose reply could not be given its shape has status RK_ENOMEM
 *    and its reply as the server sent it; the others are kept. */
int rk_pipeline_exec(rk_pipeline *p);

/** Replies of the last exec (one per command, in order). */
size_t rk_pipeline_replies(const rk_pipeline *p);

/** Reply of command i of the last exec, borrowed until the next exec,
 *  reset or free; a nil reply for a command that got none; NULL when i is
 *  out of range. */
const rk_reply *rk_pipeline_reply(const rk_pipeline *p, size_t i);

/** Status of command i of the last exec: RK_OK, RK_ESERVER (an error
 *  reply), RK_EWATCH, RK_EEXECABORT, the connection failure that left it
 *  unanswered, or RK_ENOMEM (its reply could not be shaped). RK_EINVAL
 *  when i is out of range. */
int rk_pipeline_status(const rk_pipeline *p, size_t i);

/** Empties the queue and the results, drops a watch (UNWATCH) and gives
 *  back a held connection: the pipeline is as new. */
void rk_pipeline_reset(rk_pipeline *p);

/* ---- optimistic transactions (WATCH) --------------------------------- */

/** WATCHes the n keys of the array (binary safe) on a connection the
 *  pipeline now holds until exec or reset. RK_EINVAL for n 0, a NULL array
 *  or a key whose ptr is NULL. */
int rk_pipeline_watch(rk_pipeline *p, const rk_str *keys, size_t n);

/** UNWATCHes every key (the connection stays held). */
int rk_pipeline_unwatch(rk_pipeline *p);

/** While watching: runs one command at once on the held connection and
 *  hands over its reply (returns as rk_client_call). RK_EINVAL when not
 *  watching or after rk_pipeline_multi, and, as rk_client_call, for a
 *  command that changes its connection's state (SELECT, MULTI, CLIENT
 *  SETNAME...): the held connection goes back to the pool. */
int rk_pipeline_call(rk_pipeline *p, rk_reply *reply, const char *fmt, ...);

/** As rk_pipeline_call(), with the command as argc binary-safe strings
 *  (see rk_writer_argv). */
int rk_pipeline_call_argv(rk_pipeline *p, rk_reply *reply, const rk_str *argv, size_t argc);

/** Starts queueing the transaction: commands appended from now on run
 *  between MULTI and EXEC at rk_pipeline_exec. */
int rk_pipeline_multi(rk_pipeline *p);

/** The body of an optimistic transaction: read what it needs with
 *  rk_pipeline_call, then rk_pipeline_multi and queue the writes. Return 0
 *  to go on with exec, anything else to give up (rk_transaction then
 *  returns that value). */
typedef int (*rk_transaction_fn)(rk_pipeline *p, void *userdata);

/** Transaction helper options; zeroed fields mean the defaults. */
typedef struct rk_transaction_opts {
    int max_attempts; /**< Runs of the body before giving up with
                           RK_EWATCH; default 16. */
} rk_transaction_opts;

/** Runs fn as an optimistic transaction watching the n `keys` (binary
 *  safe; n 0 watches nothing, a NULL array with n > 0 is RK_EINVAL), as
 *  redis-py's Redis.transaction: WATCH, fn, EXEC; when a watched key
 *  changed, again, up to max_attempts. Returns the exec's result (RK_OK, RK_EWATCH after
 *  the last attempt, a failure), or fn's non-zero value. With result not
 *  NULL, *result receives the pipeline holding the EXEC replies (free it);
 *  it is NULL on failure. */
int(rk_transaction)(rk_client *client, const rk_str *keys, size_t n, rk_transaction_fn fn,
                    void *userdata, const rk_transaction_opts *opts, rk_pipeline **result,
                    size_t opts_size);
#define rk_transaction(...) (rk_transaction)(__VA_ARGS__, sizeof(rk_transaction_opts))

#ifdef __cplusplus
}
#endif
#endif
