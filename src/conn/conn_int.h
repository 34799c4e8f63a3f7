/* Internal side of rk_conn for the client layer (pool, retry, pipelines):
 * creating connections that share the client's settled options and TLS
 * context, and the facts retry decisions need. */
#ifndef RK_CONN_INT_H
#define RK_CONN_INT_H

#include <stdint.h>

#include "net/net.h"
#include "rediskit/conn.h"
#include "rediskit/writer.h"

#pragma GCC visibility push(hidden)

/* A connection using settled options `o` and TLS context `tls` (may be
 * NULL), both owned by the caller and outliving the connection. */
rk_conn *rk_conn_new_shared(const rk_options *o, rk_tls_ctx *tls);

/* fn(ud, fd) runs just before the connection closes its socket, whatever
 * closes it (a break inside a read or a connect step, rk_conn_close,
 * rk_conn_free): an event loop watching fd must stop first, since the
 * number may be reused at once, by another thread's socket too, and a
 * stop after the close would act on that one. */
void rk_conn_on_close(rk_conn *conn, void (*fn)(void *ud, int fd), void *ud);

/* rk_conn_connect, but giving up at deadline (an absolute rk_now_ms time;
 * negative: only the connect timeout applies) if that comes first. */
int rk_conn_connect_until(rk_conn *conn, int64_t deadline);

/* Bytes this connection ever sent: a call whose count did not move was
 * never sent, and is always safe to retry. */
uint64_t rk_conn_bytes_sent(const rk_conn *conn);

/* Makes sure an idle pooled connection is still good before use: reads
 * whatever arrived while idle (a closed socket, or pushes), and PINGs when
 * idle longer than the health-check interval. The PING must be answered by
 * deadline (the call's, an absolute rk_now_ms time); a negative one means
 * within the command timeout, or the connect timeout without one. RK_OK,
 * or the failure that broke it (RK_ETIMEOUT for an unanswered PING). */
int rk_conn_check_idle(rk_conn *conn, int64_t deadline);

/* Writes as much of iov as the socket takes now, without blocking, and
 * counts it as sent: RK_OK with *written (maybe 0 when iov is empty),
 * RK_EAGAIN, or a failure that broke the connection. */
int rk_conn_send_iov(rk_conn *conn, const struct iovec *iov, int n, size_t *written);

/* Waits until the socket is ready for want (RK_WANT_READ|RK_WANT_WRITE),
 * or breaks the connection with RK_ETIMEOUT at the deadline. */
int rk_conn_wait(rk_conn *conn, int want, int64_t deadline);

/* A number the pool stores in its connections (its fork generation). */
unsigned rk_conn_tag(const rk_conn *conn);
void rk_conn_set_tag(rk_conn *conn, unsigned tag);

/* What owns the connection, for the layer above to find it again (the
 * client stores the node whose pool the connection is from); NULL unset. */
void *rk_conn_owner(const rk_conn *conn);
void rk_conn_set_owner(rk_conn *conn, void *owner);

/* Marks the connection as just used (for idle checks). */
void rk_conn_touch(rk_conn *conn);

/* The write queue, to encode a command into directly; count it with
 * rk_conn_queued(conn, 1) once encoded. */
rk_writer *rk_conn_writer(rk_conn *conn);
void rk_conn_queued(rk_conn *conn, size_t commands);

/* Counts ms (-1: for ever) of server-side blocking among the commands in
 * flight, for commands queued without the connection seeing them (a
 * pipeline sends its own copy): the reply deadlines wait that much more. */
void rk_conn_add_block(rk_conn *conn, long long ms);

/* Whether the connection may go back to a pool: not in a mode that a
 * command queued on it set (MONITOR, a SUBSCRIBE, CLIENT REPLY OFF or
 * SKIP, a RESET without its handshake, SELECT, AUTH, HELLO, CLIENT
 * SETNAME, an open MULTI, a WATCH not ended; the connection follows these
 * whichever call sent them) nor in subscriber mode. */
bool rk_conn_poolable(const rk_conn *conn);

/* An EXEC queued without the connection seeing it (a pipeline's
 * transaction, sent as its own copy) was answered: the server dropped
 * every WATCH of the connection. */
void rk_conn_exec_answered(rk_conn *conn);

/* Whether the read buffer holds a whole reply that no command asked for
 * (pushes there are delivered first), or bytes the reader refuses (the
 * connection is then broken): a later call would take it for its own
 * reply, so the connection must not be used again. Never after MONITOR or
 * a SUBSCRIBE, whose stream may come in the same read as their reply. */
bool rk_conn_has_stray(rk_conn *conn);

/* Whether the connection is in subscriber mode (rk_conn_set_pubsub). */
bool rk_conn_in_pubsub(const rk_conn *conn);

/* Runs the connection's handshake again (after RESET), on the same
 * socket: protocol, credentials, database and name as configured. */
int rk_conn_redo_handshake(rk_conn *conn);

/* Sends what is queued and reads the next reply, with an absolute
 * deadline (rk_net_deadline). Returns as rk_conn_call. */
int rk_conn_roundtrip(rk_conn *conn, rk_reply *reply, int64_t deadline_ms);

/* The command timeout (or timeout_ms when > 0) from now as an absolute
 * deadline, stretched by what the commands in flight may make the server
 * wait (BLPOP's timeout...: rk_meta_block_ms); -1 for no limit. */
int64_t rk_conn_deadline(const rk_conn *conn, int timeout_ms);

/* The deadline of a call's reply: the caller's deadline when it has one
 * (>= 0), else rk_conn_deadline(conn, 0), taken once the command is
 * queued so that its blocking time counts. */
int64_t rk_conn_call_deadline(const rk_conn *conn, int64_t deadline);

/* Classifies a server error reply as the code a call returns (RK_EAUTH for
 * NOAUTH/WRONGPASS, RK_EREDIRECT for MOVED/ASK, else RK_ESERVER) and
 * records it for rk_error_last(). */
int rk_conn_server_error(const rk_reply *reply);

/* Whether an error reply is a PING the ACL refused ("NOPERM ... 'ping'
 * ..."): an answer in the PING's place, with no payload to tell which PING
 * it was. */
bool rk_conn_refused_ping(const rk_reply *reply);

/* Whether an error reply is a cluster redirect (MOVED or ASK). */
bool rk_conn_is_redirect(const rk_reply *reply);

#pragma GCC visibility pop

#endif
