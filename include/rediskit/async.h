/** @file rediskit/async.h
 * rediskit: the async client, driven by any event loop.
 *
 * An rk_async sends commands without ever blocking and calls a callback
 * with each reply. It runs on an event loop through a small contract (the
 * rk_loop_ops table below): the client tells the loop which readiness of
 * which fd it wants and when its one timer must fire; the loop tells the
 * client that the fd is readable or writable, or that the timer fired.
 * The built-in loop (loop.h) and the adapters for libevent, libuv and
 * libev (rediskit/adapters/ *.h, header-only) implement the contract.
 *
 *     rk_loop *loop = rk_loop_new(0);
 *     rk_async *ac = rk_async_new(&(rk_options){.host = "127.0.0.1"}, NULL);
 *     rk_loop_attach(loop, ac);
 *     rk_async_command(ac, on_reply, NULL, "SET %s %s", "k", "v");
 *     rk_loop_run(loop);
 *
 * Rules the client keeps:
 * - Every command whose submission returned an id completes exactly once:
 *   its callback runs with its reply (RK_OK, RK_ESERVER for an error
 *   reply, RK_NIL for a nil reply to rk_async_run), or with a failure and no reply: RK_ETIMEOUT
 * (its deadline passed), RK_ECANCELED (rk_async_cancel, or the client was freed), RK_ECLOSED
 * (rk_async_disconnect), or what broke the connection (RK_EIO, RK_EPROTO, RK_ECONNECT, RK_ERESOLVE,
 * RK_EAUTH...).
 * - A lost connection (I/O error, EOF, liveness) repeats, on the next
 *   connection, the commands it had sent that are safe to repeat: read-only
 *   per the command table (GET, HGETALL...; never a module's command) or
 *   marked rk_async_call.idempotent, while the options' retry.attempts
 *   (tries in all; 1 = never repeat) and their deadline allow. Any other
 *   command it had begun to send fails with the connection's error: it
 *   may have run. Commands not yet sent wait for the next connection.
 *   Order is kept: the repeated commands go first, in their order. A
 *   repeated command that finds the reconnect failing counts that as a
 *   try, and waits for the next connect (after the retry policy's
 *   backoff) while it has tries left. Batches, transactions and blocking
 *   commands are not repeated.
 * - A command's deadline does not sever the connection: a late command
 *   completes with RK_ETIMEOUT and its reply is read and dropped when it
 *   comes. The connection is declared dead only by the liveness rules
 *   (rk_async_options.liveness_ms: by default, once the oldest command
 *   in flight is late and no byte came for twice the command timeout,
 *   at least 1 s), an unanswered health check or a transport failure.
 * - Health check: a connection idle (no byte either way, nothing in
 *   flight) for rk_options.health_check_ms (30 s by default, negative:
 *   never; noticed within twice that) gets a PING of the client's own
 *   (no callback; not counted by rk_async_pending). No answer within
 *   liveness_ms, else the command timeout, declares it dead: it is
 *   replaced at once, without waiting for a command. While connected the
 *   client therefore keeps its loop's timer armed.
 * - Callbacks run on the loop's thread, from the loop's inputs, or from
 *   rk_async_cancel/rk_async_free for the commands they complete. Inside a
 *   callback every call is allowed, rk_async_free and rk_async_disconnect
 *   included: they take effect once the callback returns.
 * - Nothing blocks: host names are resolved on a thread of the library's,
 *   bounded by the connect timeout; TLS handshakes are driven by the loop.
 * - Commands are pipelined automatically: a command submitted while
 *   nothing is in flight is written at once; commands submitted while
 *   others are in flight are written together, one writev per loop
 *   iteration.
 * - A command that may block on the server (BLPOP, BLMOVE, XREAD BLOCK,
 *   WAIT...: one with a block time) goes on a dedicated connection of its
 *   own, driven by the same loop, so the multiplexed connection never
 *   waits behind it. Its deadline is its block time plus its timeout; when
 *   it blocks for ever, only the call's own timeout_ms (none if 0). Dedicated connections are made
 * on demand; up to RK_ASYNC_DEDICATED_IDLE_MAX idle ones are kept for the next blocking command,
 * and closed after RK_ASYNC_DEDICATED_IDLE_MS idle. One whose command timed out or was cancelled is
 * closed (the server may still hold it). Needs the loop's attach_other operation; a command posted
 * from another thread (rk_async_post) stays on the multiplexed connection.
 * - Pub/sub and tracking (rk_async_subscribe, rk_async_tracking_on) keep
 *   the client connected: a lost connection is made again, every
 *   subscription restored and tracking enabled again, and the user told
 *   (rk_async_on_event). A malformed push is a protocol error that closes
 *   the connection (RK_EPROTO), never a crash; a harmless one (a message
 *   for a channel no longer subscribed, a push kind pub/sub does not know,
 *   which goes to the options' on_push) is dropped.
 *
 * An rk_async and its loop belong to one thread; other threads may only
 * rk_async_post. */
#ifndef RK_ASYNC_H
#define RK_ASYNC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "command.h"
#include "conn.h"
#include "error.h"
#include "options.h"
#include "pubsub.h"
#include "reply.h"
#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** An async client: one connection to one server, driven by a loop. */
typedef struct rk_async rk_async;

/** A submitted command's handle: > 0. Submission returns it, or a negative
 *  RK_E... code when the command was refused (its callback never runs). */
typedef int64_t rk_async_id;

/** A command's completion. status is RK_OK with the reply, RK_ESERVER with
 *  the server's error reply, or a failure with reply NULL (see the rules
 *  above). The reply is the library's, valid until the callback returns:
 *  keep a copy with rk_reply_dup. */
typedef void (*rk_async_fn)(rk_async *ac, int status, rk_reply *reply, void *userdata);

/* Defaults of rk_async_options. */
#define RK_ASYNC_DEFAULT_MAX_INFLIGHT 4096                      /**< max_inflight */
#define RK_ASYNC_DEFAULT_MAX_INFLIGHT_BYTES (64u * 1024 * 1024) /**< max_inflight_bytes */
#define RK_ASYNC_DEFAULT_MAX_WRITE_BYTES (1024u * 1024)         /**< max_write_bytes */
/** Idle dedicated connections (for blocking commands) kept, at most. */
#define RK_ASYNC_DEDICATED_IDLE_MAX 2
/** An idle dedicated connection is closed after this long. */
#define RK_ASYNC_DEDICATED_IDLE_MS 30000

/** Settings of the async engine; zeroed fields mean the defaults beside
 *  them. */
typedef struct rk_async_options {
    /** Commands sent and not yet answered, at most. Past it a command
     *  waits unsent (bounded by its deadline). Default
     *  RK_ASYNC_DEFAULT_MAX_INFLIGHT. */
    int max_inflight;
    /** Bytes of commands sent and not yet answered, at most (one command
     *  larger than this is still sent, alone). Default
     *  RK_ASYNC_DEFAULT_MAX_INFLIGHT_BYTES. */
    size_t max_inflight_bytes;
    /** Bytes written per loop iteration, at most; the rest goes in the
     *  next. Default RK_ASYNC_DEFAULT_MAX_WRITE_BYTES. */
    size_t max_write_bytes;
    /** Liveness: when commands are outstanding and no byte came from the
     *  server for this long, the connection is declared dead and its
     *  commands fail with RK_EIO (or are repeated, as for any lost
     *  connection). Default 0: the stall rule, which declares it dead only
     *  once the oldest command in flight (whose reply comes first) has
     *  passed its deadline and no byte came for twice the command timeout,
     *  at least 1 s (a black-holed link, a frozen server); never while that
     *  command may still be answered in time. Negative: neither rule (a
     *  dead link is then found by TCP, which may take many minutes). */
    int liveness_ms;
    /** Commands waiting unsent (connecting, disconnected, or held back by
     *  the in-flight limits; not those a deadline or a cancel completed
     *  first), at most; past it a submission is refused with RK_EAGAIN.
     *  Default 0: no limit. */
    int max_queued;
    /** Bytes of those commands, at most (RK_EAGAIN past it). Default 0: no
     *  limit. */
    size_t max_queued_bytes;
    /** While disconnected after a failed connect (waiting for the retry
     *  policy's backoff before the next attempt), refuse new commands at
     *  once with that connect's error instead of queueing them for the
     *  next attempt. Default false: queue (bounded by max_queued). */
    bool fail_fast;
} rk_async_options;

/* ---- the loop contract ------------------------------------------------ */

/** What an event loop provides, as a table of operations the client calls
 *  with the loop's `data` (given to rk_async_attach). The loop in turn
 *  calls rk_async_on_readable/on_writable/on_timer.
 *
 *  watch and timer are required: rk_async_attach refuses a table without
 *  them (a loop that cannot arm a timer would leave deadlines, connect
 *  timeouts and resolution polling dead). */
typedef struct rk_loop_ops {
    /** Watch fd for events (RK_WANT_READ | RK_WANT_WRITE, conn.h),
     *  replacing what was watched before; events 0 stops watching. The fd
     *  changes across connections: a call with another fd means the old
     *  one is no longer watched (the client always stops an fd, events 0,
     *  before it uses another, even one with the same number). The stop
     *  comes while the fd is still open: the client closes it only after,
     *  so a loop may hand it to epoll_ctl, event_del, uv_poll_stop or
     *  ev_io_stop safely. */
    void (*watch)(void *data, int fd, int events);
    /** Arm the one timer to fire once in delay_ms (>= 0), replacing the
     *  previous one; -1 disarms it. */
    void (*timer)(void *data, int64_t delay_ms);
    /** Optional: from any thread, make the loop call rk_async_on_wake on
     *  its own thread soon (rk_async_post needs it). Called with a lock of
     *  the client's held: it must not call back into the client. */
    void (*wake)(void *data);
    /** Optional: the client no longer uses the loop (detached or freed):
     *  release what the adapter holds for it. Called once, last. */
    void (*detach)(void *data);
    /** Optional: attach another client, `other`, to the same loop (as the
     *  loop's own attach function would), returning its answer. The client
     *  makes its dedicated connections for blocking commands this way;
     *  without it, blocking commands share the multiplexed connection (and
     *  stall the commands behind them). */
    int (*attach_other)(void *data, rk_async *other);
} rk_loop_ops;

/** Attaches the client to a loop. RK_EINVAL when ops lacks watch or timer,
 *  or the client already has a loop. Usually called by a loop's own attach
 *  function (rk_loop_attach, rk_libevent_attach...). */
int(rk_async_attach)(rk_async *ac, const rk_loop_ops *ops, void *data, size_t ops_size);
/* The table is copied, with the size the caller's header gave it: a loop
 * adapter built against an older header (fewer operations) keeps working,
 * the operations it does not have read as NULL. */
#define rk_async_attach(...) (rk_async_attach)(__VA_ARGS__, sizeof(rk_loop_ops))

/** Detaches the client from its loop: the loop stops watching its fd and
 *  its timer, and its detach operation runs. Commands stay queued; a later
 *  rk_async_attach carries on. Blocking commands on dedicated connections
 *  (which belong to the loop) complete with RK_ECLOSED. Inside a callback
 *  too. */
void rk_async_detach(rk_async *ac);

/** The loop's inputs, first: the fd is readable. After one of these
 *  returns the client may be gone (a callback freed it): an adapter must
 *  not touch the client, nor its own state for it, after the call unless
 *  its detach has not run. */
void rk_async_on_readable(rk_async *ac);
/** The fd is writable (see rk_async_on_readable). */
void rk_async_on_writable(rk_async *ac);
/** The timer armed by the `timer` operation fired (see
 *  rk_async_on_readable). */
void rk_async_on_timer(rk_async *ac);
/** The loop's answer to `wake`: on the loop's thread, takes in the commands
 *  other threads posted. */
void rk_async_on_wake(rk_async *ac);

/* ---- the client ------------------------------------------------------ */

/** A new client (no I/O yet; it connects when a command needs it, or at
 *  rk_async_connect). opts as for rk_client_new (pool fields ignored);
 *  aopts may be NULL. NULL with rk_error_last() on bad options or
 *  RK_ENOMEM. Called as `rk_async_new(opts, aopts)`: the macro passes the
 *  size of both structs as this header has them (see options.h), so they
 *  can grow without breaking built programs. */
rk_async *(rk_async_new)(const rk_options *opts, const rk_async_options *aopts, size_t opts_size,
                         size_t aopts_size);
#define rk_async_new(...) (rk_async_new)(__VA_ARGS__, sizeof(rk_options), sizeof(rk_async_options))

/** Frees the client. Every command not yet completed completes with
 *  RK_ECANCELED, from inside this call (these are the only callbacks that
 *  run once free was asked for; in them the client refuses new commands
 *  with RK_ECLOSED). Called from a callback, it takes effect once the
 *  callback returns. NULL is allowed. */
void rk_async_free(rk_async *ac);

/** Starts connecting instead of waiting for the first command (at the
 *  loop's next turn, as every connect: a connect that fails at once then
 *  fails the commands waiting from the loop, never from inside this call
 *  or a submission). RK_OK (also when connected or connecting already), or
 *  RK_ECLOSED once freed. The outcome shows in the commands' completions. */
int rk_async_connect(rk_async *ac);

/** Closes the connection: commands not yet completed complete with
 *  RK_ECLOSED. A later command connects again. Inside a callback it takes
 *  effect once the callback returns. */
void rk_async_disconnect(rk_async *ac);

/** Per-command settings for rk_async_submit. */
typedef struct rk_async_call {
    rk_async_fn callback; /**< Required. */
    void *userdata;       /**< Passed to the callback. */
    int timeout_ms;       /**< Deadline from submission; 0: the options'
                               command_timeout_ms (its own 0:
                               RK_DEFAULT_COMMAND_TIMEOUT_MS); negative:
                               none. */
    bool idempotent;      /**< Safe to repeat even if it may have run:
                               repeated after a lost connection like a
                               read-only command (see the rules above).
                               Default false. */
} rk_async_call;

/** Submits the command argv[0..argc) (binary safe). Returns its id (> 0),
 *  or RK_EINVAL (no callback, no argument, a command that changes the
 *  state of its connection such as SUBSCRIBE, CLIENT TRACKING or MULTI:
 *  see rk_async_subscribe, rk_async_tracking_on, rk_async_tx), RK_ENOMEM, or
 *  RK_ECLOSED once the client is being freed. */
rk_async_id(rk_async_submit)(rk_async *ac, const rk_async_call *call, const rk_str *argv,
                             size_t argc, size_t call_size);
/* The macro passes the size of rk_async_call as this header has it, so the
 * struct can grow without breaking built programs (see options.h). */
#define rk_async_submit(...) (rk_async_submit)(__VA_ARGS__, sizeof(rk_async_call))

/** As rk_async_submit, with the default deadline. */
rk_async_id rk_async_command_argv(rk_async *ac, rk_async_fn cb, void *userdata, const rk_str *argv,
                                  size_t argc);

/** As rk_async_command_argv, the command from a printf-style format (see
 *  rk_writer_format). */
rk_async_id rk_async_command(rk_async *ac, rk_async_fn cb, void *userdata, const char *fmt, ...);
/** As rk_async_command, with a va_list. */
rk_async_id rk_async_vcommand(rk_async *ac, rk_async_fn cb, void *userdata, const char *fmt,
                              va_list ap);

/** Submits a built command (command.h: a typed builder's, or
 *  rk_command_argv's) with the default deadline; its reply reaches the
 *  callback shaped as every runner shapes it (a map for HGETALL on RESP2
 *  too), and status RK_NIL when it is nil. The command is consumed (its
 *  arguments are copied before this returns), whether it was accepted or
 *  not. Returns as rk_async_submit, or the command's build error. */
rk_async_id rk_async_run(rk_async *ac, rk_command *cmd, rk_async_fn cb, void *userdata);

/** Thread-safe submission: from any thread, while the client's loop runs
 *  on another. The command is encoded here, queued under a short lock, and
 *  the loop woken (its wake operation: the built-in loop and every adapter
 *  here have one, libevent's without evthread); it is submitted on the loop's
 *  thread, where its callback runs. RK_OK, RK_EINVAL (as rk_async_submit,
 *  or a loop without wake), RK_ENOMEM. The queue's bounds (max_queued,
 *  max_queued_bytes, fail_fast) are applied when the loop takes it in: a
 *  command they refuse completes then with the refusal (RK_EAGAIN...). Its
 *  deadline counts from this call: one whose deadline passed before the
 *  loop took it in completes then with RK_ETIMEOUT, unsent. No id: a
 *  posted command cannot be cancelled. Must not race with rk_async_free. */
int(rk_async_post)(rk_async *ac, const rk_async_call *call, const rk_str *argv, size_t argc,
                   size_t call_size);
/* Sized as rk_async_submit. */
#define rk_async_post(...) (rk_async_post)(__VA_ARGS__, sizeof(rk_async_call))

/** Cancels a command not yet completed: its callback runs with
 *  RK_ECANCELED before this returns. A command not sent yet is never sent;
 *  one already sent has its reply read and dropped. RK_OK, or RK_EINVAL
 *  when id names no command waiting for completion. */
int rk_async_cancel(rk_async *ac, rk_async_id id);

/* ---- batches ------------------------------------------------------- */

/** A batch of commands (as an rk_pipeline, but submitted to an async
 *  client): queued with rk_async_batch_append..., submitted once with
 *  rk_async_batch_submit, sent together on the multiplexed connection (in
 *  one write, within max_write_bytes and the in-flight limits), and
 *  completed once with all its replies. */
typedef struct rk_async_batch rk_async_batch;

/** A batch's completion: status RK_OK with every reply in b (read them
 *  with rk_async_batch_reply/_status until the callback returns; the
 *  batch is freed after it), or the failure that completed the batch
 *  with no reply and b NULL: RK_ETIMEOUT, RK_ECANCELED, RK_ECLOSED, what
 *  broke the connection, as for a command (the rules at the top). */
typedef void (*rk_async_batch_fn)(rk_async *ac, int status, const rk_async_batch *b,
                                  void *userdata);

/** A new, empty batch; NULL with RK_ENOMEM. */
rk_async_batch *rk_async_batch_new(void);

/** Frees a batch not submitted (submission takes it). NULL is allowed. */
void rk_async_batch_free(rk_async_batch *b);

/** Queues a command (see rk_writer_format for the format). RK_OK, or
 *  RK_EINVAL for a command that changes its connection's state (MULTI,
 *  SUBSCRIBE...) or blocks (BLPOP...: submit it alone, it gets a
 *  connection of its own), or for a batch submitted already; RK_ENOMEM. */
int rk_async_batch_append(rk_async_batch *b, const char *fmt, ...);
/** As rk_async_batch_append, with a va_list. */
int rk_async_batch_vappend(rk_async_batch *b, const char *fmt, va_list ap);
/** As rk_async_batch_append, the command as argc binary-safe strings. */
int rk_async_batch_append_argv(rk_async_batch *b, const rk_str *argv, size_t argc);
/** Queues a built command and consumes it (its reply shaped as every
 *  runner shapes it; status RK_NIL for nil). */
int rk_async_batch_add(rk_async_batch *b, rk_command *cmd);

/** Commands queued. */
size_t rk_async_batch_size(const rk_async_batch *b);

/** Submits the batch, which the client takes (freed after its callback,
 *  or at once when refused). timeout_ms: the batch's deadline from now, 0
 *  the options' command_timeout_ms, negative none. Returns an id for
 *  rk_async_cancel (the batch completes with RK_ECANCELED), or the
 *  refusal as rk_async_submit's (RK_EINVAL also for an empty batch). */
rk_async_id rk_async_batch_submit(rk_async *ac, rk_async_batch *b, rk_async_batch_fn cb,
                                  void *userdata, int timeout_ms);

/** In the callback: replies the batch has (its size when status is RK_OK). */
size_t rk_async_batch_replies(const rk_async_batch *b);
/** Reply i, borrowed until the callback returns; NULL past the end. */
const rk_reply *rk_async_batch_reply(const rk_async_batch *b, size_t i);
/** Status of reply i: RK_OK, RK_ESERVER for an error reply, RK_NIL for a
 *  built command's nil reply; RK_EINVAL past the end. */
int rk_async_batch_status(const rk_async_batch *b, size_t i);

/* ---- transactions -------------------------------------------------- */

/** A transaction: MULTI/EXEC, with WATCH, on a dedicated connection held
 *  for it (as rk_pipeline_watch/rk_pipeline_multi, asynchronously). Read
 *  what it needs through the client once its WATCH completed, then EXEC a
 *  batch. After EXEC (whatever its outcome) the keys are unwatched and the
 *  transaction may WATCH again. A command of it that fails without a
 *  reply (timeout, cancel, lost connection) closes its connection: later
 *  calls are RK_ECLOSED. */
typedef struct rk_async_tx rk_async_tx;

/** A new transaction holding a connection of its own (made on the
 *  client's loop). NULL with RK_EINVAL (no loop, or one without
 *  attach_other) or RK_ENOMEM. */
rk_async_tx *rk_async_tx_new(rk_async *ac);

/** Closes its connection (commands of it not completed complete with
 *  RK_ECANCELED now). Also after the client was freed (then only this).
 *  NULL is allowed. */
void rk_async_tx_free(rk_async_tx *tx);

/** WATCHes keys on the transaction's connection; cb gets WATCH's reply.
 *  Returns its id, or RK_EINVAL (no keys, no callback), RK_ECLOSED,
 *  RK_ENOMEM. */
rk_async_id rk_async_tx_watch(rk_async_tx *tx, rk_async_fn cb, void *userdata, const rk_str *keys,
                              size_t count);

/** Runs the batch b (taken, whatever the outcome) as MULTI ... EXEC; cb
 *  completes once: RK_OK with EXEC's reply (an array, one reply per
 *  command), RK_EWATCH (no reply) when a watched key changed, RK_ESERVER
 *  with the error when the server refused the transaction (EXECABORT), or
 *  a failure as for any command. timeout_ms as rk_async_call's. Returns
 *  its id or the refusal (RK_EINVAL for an empty or submitted batch). */
rk_async_id rk_async_tx_exec(rk_async_tx *tx, rk_async_batch *b, rk_async_fn cb, void *userdata,
                             int timeout_ms);

/* ---- pub/sub and tracking ------------------------------------------- */

/** A message on a subscription, given to its handler. The message
 *  (pubsub.h's rk_message: kind RK_MSG_MESSAGE, RK_MSG_PMESSAGE with
 *  `pattern`, or RK_MSG_SMESSAGE; channel and data binary safe) is
 *  borrowed until the handler returns. */
typedef void (*rk_async_message_fn)(rk_async *ac, const rk_message *msg, void *userdata);

/** Subscribes to the n channels (binary safe), each message on them going
 *  to on_message with userdata (a second subscribe to a channel replaces
 *  its handler). `done` (may be NULL) completes once with userdata: RK_OK
 *  once the server confirmed every channel, RK_ESERVER with the error
 *  reply when it refused the command (the channels it added are then
 *  forgotten; those subscribed before stay, with their handler),
 *  RK_ECLOSED (rk_async_disconnect) or RK_ECANCELED (rk_async_free). A
 *  connection lost or not yet made does not fail it: the subscription is
 *  kept and `done` completes once the next connection restored it.
 *
 *  Over RESP3 the subscriptions live on the client's own connection, with
 *  the commands (messages are push replies); over RESP2, which cannot mix
 *  them, on a dedicated connection the client makes on its loop (which
 *  needs attach_other). The client stays connected while it has
 *  subscriptions: a lost connection is made again (at once, then with the
 *  retry policy's backoff), every subscription restored, and
 *  RK_ASYNC_EVENT_RESTORED told (rk_async_on_event).
 *
 *  A subscribe the server refuses on a restore (the first connection's
 *  included, when the call came before it) completes with RK_ESERVER, its
 *  channels forgotten; rk_error_last() in `done` has the error.
 *  rk_async_disconnect forgets every subscription (and tracking).
 *
 *  RK_OK when queued, or RK_EINVAL (no channel, a NULL name, one over
 *  RK_STR_MAX, no on_message, RESP2 on a loop without attach_other),
 *  RK_ECLOSED while freed, RK_ENOMEM. */
int rk_async_subscribe(rk_async *ac, const rk_str *channels, size_t n,
                       rk_async_message_fn on_message, rk_async_fn done, void *userdata);
/** As rk_async_subscribe, for patterns (PSUBSCRIBE): messages come as
 *  RK_MSG_PMESSAGE with the pattern that matched. */
int rk_async_psubscribe(rk_async *ac, const rk_str *patterns, size_t n,
                        rk_async_message_fn on_message, rk_async_fn done, void *userdata);
/** As rk_async_subscribe, for shard channels (SSUBSCRIBE). */
int rk_async_ssubscribe(rk_async *ac, const rk_str *channels, size_t n,
                        rk_async_message_fn on_message, rk_async_fn done, void *userdata);

/** Unsubscribes from the n channels (n 0: from every channel), dropping
 *  their handlers at once: no message on them reaches a handler after
 *  this call. `done` (may be NULL) completes as rk_async_subscribe's. */
int rk_async_unsubscribe(rk_async *ac, const rk_str *channels, size_t n, rk_async_fn done,
                         void *userdata);
/** As rk_async_unsubscribe, for patterns. */
int rk_async_punsubscribe(rk_async *ac, const rk_str *patterns, size_t n, rk_async_fn done,
                          void *userdata);
/** As rk_async_unsubscribe, for shard channels. */
int rk_async_sunsubscribe(rk_async *ac, const rk_str *channels, size_t n, rk_async_fn done,
                          void *userdata);

/** Channels, patterns and shard channels subscribed to (asked for, not
 *  yet unsubscribed), in all. */
size_t rk_async_subscriptions(const rk_async *ac);

/** What happened to the connections that carry subscriptions and
 *  tracking; see rk_async_on_event. */
typedef enum rk_async_event {
    /** A connection carrying subscriptions or tracking was lost, or could
     *  not be made (err says why). Told once per outage, however many
     *  attempts the reconnect takes. */
    RK_ASYNC_EVENT_LOST = 1,
    /** Connected again, every subscription restored and tracking enabled
     *  again: messages published (and keys changed) meanwhile were missed.
     *  err->code is RK_OK, or the error reply that refused a part of the
     *  restore (those subscriptions are tried again at the next
     *  reconnect). */
    RK_ASYNC_EVENT_RESTORED
} rk_async_event;

/** Called on an event, on the loop's thread; err and its strings are valid
 *  during the call. Every call is allowed in it (rk_async_free too). */
typedef void (*rk_async_event_fn)(rk_async *ac, rk_async_event event, const rk_error *err,
                                  void *userdata);

/** Sets (fn NULL: clears) the client's event callback. */
void rk_async_on_event(rk_async *ac, rk_async_event_fn fn, void *userdata);

/** Invalidations of client-side caching: keys, an array reply of the keys
 *  (strings) changed on the server, borrowed until the call returns; NULL
 *  means everything may be stale (the server flushed, or a connection was
 *  lost: this is told when it is lost and again once tracking is back). */
typedef void (*rk_async_invalidate_fn)(rk_async *ac, const rk_reply *keys, void *userdata);

/** Tracking modes (rk_async_tracking.flags), as CLIENT TRACKING's. */
enum {
    RK_TRACK_BCAST = 1 << 0,  /**< Every key (or every key under the
                                   prefixes), read or not. */
    RK_TRACK_NOLOOP = 1 << 1, /**< Not the keys this client changes. */
};

/** What to track (rk_async_tracking_on); zeroed fields mean the defaults
 *  beside them. */
typedef struct rk_async_tracking {
    int flags;                            /**< RK_TRACK_* */
    const rk_str *prefixes;               /**< With RK_TRACK_BCAST: only keys under
                                               these (copied); NULL for every key. */
    size_t nprefixes;                     /**< How many prefixes. */
    rk_async_invalidate_fn on_invalidate; /**< Required. */
    void *userdata;                       /**< Passed to on_invalidate. */
} rk_async_tracking;

/** Turns on server-assisted client-side caching (CLIENT TRACKING ON) for
 *  the client's connection: the server then tells on_invalidate of the
 *  keys it read (or, BCAST, of every key) that change. Over RESP3 the
 *  invalidations come on the same connection; over RESP2 they are
 *  redirected (REDIRECT) to the dedicated pub/sub connection, subscribed
 *  to __redis__:invalidate. Enabled again after every reconnect. A second
 *  call replaces the settings. `done` (may be NULL) completes as
 *  rk_async_subscribe's. RK_OK, RK_EINVAL (no on_invalidate, prefixes
 *  without BCAST), RK_ESERVER (RESP2: the server refused the dedicated
 *  connection CLIENT ID, as for an ACL user without CLIENT; `done` gets
 *  that refusal when it came later), RK_ECLOSED, RK_ENOMEM. */
int(rk_async_tracking_on)(rk_async *ac, const rk_async_tracking *t, rk_async_fn done,
                          void *userdata, size_t t_size);
/* The macro passes the size of the struct as this header has it (see
 * options.h), so that it can grow without breaking built programs. */
#define rk_async_tracking_on(...) (rk_async_tracking_on)(__VA_ARGS__, sizeof(rk_async_tracking))

/** Turns tracking off (CLIENT TRACKING OFF); on_invalidate is not called
 *  after this returns. `done` as for rk_async_tracking_on. */
int rk_async_tracking_off(rk_async *ac, rk_async_fn done, void *userdata);

/** Commands submitted and not yet completed. */
size_t rk_async_pending(const rk_async *ac);

/** What the client did, for tests and benchmarks. */
typedef struct rk_async_stats {
    uint64_t commands; /**< Commands sent. */
    uint64_t writes;   /**< Write system calls (writev/send). */
    uint64_t reads;    /**< Read system calls. */
    uint64_t connects; /**< Connections made (handshake done). */
} rk_async_stats;

/** A snapshot of the counters. */
void rk_async_get_stats(const rk_async *ac, rk_async_stats *out);

#ifdef __cplusplus
}
#endif
#endif
