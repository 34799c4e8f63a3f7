/** @file rediskit/conn.h
 * rediskit: one connection to one server.
 *
 * An rk_conn is a socket, a reply reader and a write queue, plus the
 * handshake that makes it usable (HELLO, AUTH, SELECT, CLIENT SETNAME,
 * CLIENT SETINFO). It belongs to one thread at a time. Most programs use
 * rk_client (client.h), which keeps a pool of these; use rk_conn directly
 * for a dedicated connection or to drive one from an event loop.
 *
 * After an I/O error, a timeout or a protocol error the connection is
 * broken: every later call fails with RK_ECLOSED, and the half-read reply
 * or half-sent command it held is never reused. */
#ifndef RK_CONN_H
#define RK_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "command.h"
#include "options.h"
#include "reply.h"
#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A connection to one server, used by one thread at a time. */
typedef struct rk_conn rk_conn;

/** A new, unconnected connection (no I/O), or NULL with rk_error_last()
 *  (RK_EINVAL for bad options, RK_ETLS when a TLS file does not load,
 *  RK_ENOMEM). opts may be NULL. */
rk_conn *rk_conn_new(const rk_options *opts);

/** Closes the socket and frees everything. NULL is allowed. */
void rk_conn_free(rk_conn *conn);

/** Connects and runs the handshake, blocking up to the connect timeout.
 *  Errors: RK_ERESOLVE, RK_ECONNECT, RK_ETIMEOUT, RK_ETLS, RK_EAUTH (wrong
 *  password or user), RK_ESERVER (e.g. SELECT refused), RK_EIO. A connection
 *  that is already connected is left as it is. */
int rk_conn_connect(rk_conn *conn);

/** Closes the socket (the connection can connect again); replies not yet
 *  read are lost. */
void rk_conn_close(rk_conn *conn);

/* ---- one command at a time ------------------------------------------- */

/** Sends a command and waits for its reply, within the command timeout.
 *  Connects first if needed. Returns RK_OK with the reply in *reply (NULL
 *  to discard it), RK_ESERVER when the server answered with an error (the
 *  error reply is in *reply, its text and prefix in rk_error_last()), or a
 *  transport failure with *reply nil. Replies of commands appended before
 *  and not yet read are read first and dropped. The command is a
 *  printf-style format (see rk_writer_format); the variants below take it
 *  in other forms. */
int rk_conn_call(rk_conn *conn, rk_reply *reply, const char *fmt, ...);

/** As rk_conn_call(), with a va_list. */
int rk_conn_vcall(rk_conn *conn, rk_reply *reply, const char *fmt, va_list ap);

/** As rk_conn_call(), with the arguments as C strings ended by NULL. */
int rk_conn_call_args(rk_conn *conn, rk_reply *reply, const char *arg0, ...);

/** As rk_conn_call(), with the command as argc binary-safe strings (see
 *  rk_writer_argv). */
int rk_conn_call_argv(rk_conn *conn, rk_reply *reply, const rk_str *argv, size_t argc);

/** Runs a built command (rediskit/command.h) on the connection, as
 *  rk_conn_call() does, and consumes it: cmd is released whether it ran or
 *  not. A command that failed to build is reported (its code, its message
 *  in rk_error_last()) without sending anything. The reply gets the
 *  command's shape (the same on RESP2 and RESP3); a nil reply returns
 *  RK_NIL (not a failure). Returns RK_OK or RK_NIL with the reply in
 *  *reply (NULL discards it), or as rk_conn_call(). */
int rk_conn_run(rk_conn *conn, rk_command *cmd, rk_reply *reply);

/* ---- many commands in flight (pipelining) ---------------------------- */

/** Queue a command without sending it. RK_EINVAL (bad format or
 *  arguments), RK_ENOMEM, RK_ECLOSED. Arguments of 16 KiB or more are
 *  referenced, not copied: keep them unchanged until rk_conn_flush. The
 *  command is a printf-style format, as for rk_conn_call(). */
int rk_conn_append(rk_conn *conn, const char *fmt, ...);

/** As rk_conn_append(), with a va_list. */
int rk_conn_vappend(rk_conn *conn, const char *fmt, va_list ap);

/** As rk_conn_append(), with the arguments as C strings ended by NULL. */
int rk_conn_append_args(rk_conn *conn, const char *arg0, ...);

/** As rk_conn_append(), with the command as argc binary-safe strings (see
 *  rk_writer_argv). */
int rk_conn_append_argv(rk_conn *conn, const rk_str *argv, size_t argc);

/** Sends everything queued (connecting first if needed), blocking up to the
 *  command timeout. */
int rk_conn_flush(rk_conn *conn);

/** Reads the next reply (flushing first if anything is queued), blocking up
 *  to the command timeout. Push messages met on the way go to the push
 *  callback. Return values as rk_conn_call. */
int rk_conn_read(rk_conn *conn, rk_reply *reply);

/** Replies still expected for commands sent or queued. */
size_t rk_conn_pending(const rk_conn *conn);

/** Subscriber mode, for SUBSCRIBE, MONITOR and the like on a connection of
 *  your own: replies that no command asked for (pushes on RESP3, messages
 *  and MONITOR lines on RESP2) are returned by rk_conn_read and
 *  rk_conn_next, in the order they arrive, instead of going to the push
 *  callback or breaking the connection as an unexpected reply does.
 *  rk_pubsub (pubsub.h) uses it and adds subscriptions, handlers and
 *  reconnection on top. */
void rk_conn_set_pubsub(rk_conn *conn, bool on);

/* ---- state ----------------------------------------------------------- */

/** True once connected and the handshake succeeded, until broken/closed. */
bool rk_conn_is_ready(const rk_conn *conn);

/** True after a failure that made the connection unusable. */
bool rk_conn_is_broken(const rk_conn *conn);

/** The protocol the handshake settled on (2 or 3), 0 before it. */
int rk_conn_protocol(const rk_conn *conn);

/** The socket, or -1. */
int rk_conn_fd(const rk_conn *conn);

/** Changes the command timeout (ms, 0 = none) of later calls. */
void rk_conn_set_timeout(rk_conn *conn, int timeout_ms);

/* ---- non-blocking use, for event loops -------------------------------
 * rk_conn_start begins connecting; while it or rk_conn_step returns
 * RK_EAGAIN, wait until rk_conn_fd() is ready for rk_conn_want() and call
 * rk_conn_step again. Read rk_conn_fd() again after each step: when an
 * address fails and the next is tried, the socket changes. rk_conn_step
 * fails with RK_ETIMEOUT once the connect timeout has passed, so an event
 * loop should also call it when its own timer for that timeout fires.
 * Once ready, rk_conn_write_some sends what is queued (RK_EAGAIN: wait for
 * rk_conn_want() and call again), rk_conn_read_some reads what the socket
 * has (over TLS, also what OpenSSL already decrypted, which poll cannot
 * see), and rk_conn_next takes complete replies. Each rk_conn_new builds
 * its own TLS context; rk_client shares one among its connections. */

/** Readiness to wait for. */
enum { RK_WANT_READ = 1, RK_WANT_WRITE = 2 };

/** Begins connecting without blocking: RK_OK when ready at once (or
 *  already), RK_EAGAIN to go on with rk_conn_step, or a failure as
 *  rk_conn_connect's. A connect already in progress starts over. */
int rk_conn_start(rk_conn *conn);

/** Takes the connect begun by rk_conn_start as far as it can without
 *  blocking: RK_OK once connected and the handshake done, RK_EAGAIN while
 *  it must wait, or a failure (RK_ETIMEOUT past the connect timeout) that
 *  leaves the connection broken. */
int rk_conn_step(rk_conn *conn);

/** What rk_conn_fd() must be ready for before the next step, write or
 *  read: RK_WANT_READ, RK_WANT_WRITE or both; 0 when there is no socket. */
int rk_conn_want(const rk_conn *conn);

/** Sends what is queued without blocking: RK_OK once all of it is sent,
 *  RK_EAGAIN when the socket is full, RK_ECLOSED without a socket, or an
 *  I/O failure that leaves the connection broken. */
int rk_conn_write_some(rk_conn *conn);

/** Reads what the socket has without blocking: RK_OK when bytes came
 *  (take the replies with rk_conn_next), RK_EAGAIN when none did,
 *  RK_ECLOSED without a socket, or a failure that leaves the connection
 *  broken (RK_EIO when the server closed it). */
int rk_conn_read_some(rk_conn *conn);

/** Takes the next complete reply already read: 1 with *reply set, 0 if none
 *  is complete yet, or a failure. With borrowed true the reply points into
 *  the connection's buffer, valid until the next call on the connection. */
int rk_conn_next(rk_conn *conn, rk_reply *reply, bool borrowed);

#ifdef __cplusplus
}
#endif
#endif
