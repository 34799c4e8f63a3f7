/** @file rediskit/client.h
 * rediskit: the client, what most programs hold.
 *
 * An rk_client is thread safe: any number of threads may call it at once.
 * Each call takes a connection from the client's pool (opening one when
 * none is idle and the pool is not full, waiting otherwise), runs the
 * command, and gives the connection back. Connections are opened lazily;
 * a broken one is discarded; one idle for long is checked before use.
 * Failed commands are retried according to the retry policy in rk_options,
 * never repeating a command that may have run unless it is safe to.
 *
 * Multiplexed mode (rk_options.mode = RK_MODE_MUX, URL `?mode=mux`):
 * instead of a connection per caller, the calls of every thread share
 * rk_options.mux_connections connections per server (default 1), carried
 * by an engine thread the client starts (named "rk-mux"); each call sleeps
 * until its own reply comes (no spinning), and the commands of many
 * threads go out together in one write. rk_client_call*, rk_client_run
 * and every typed function run that way. What needs a connection of its
 * own still takes one from the pool, opened on first need: blocking
 * commands (BLPOP, XREAD BLOCK, WAIT...), rk_client_acquire, pipelines,
 * transactions, pub/sub. Retries and timeouts follow the same rules,
 * except that the command timeout counts from the moment the call is
 * handed to the engine (connecting included); a late reply is read and
 * dropped without closing the connection. The options' callbacks for the
 * multiplexed connections (on_push, credentials) run on the engine
 * thread, which must not call the client (such a call is refused with
 * RK_EINVAL). The engine does not survive fork(): in
 * the child, multiplexed calls fail with RK_ECLOSED (make a new client
 * there). */
#ifndef RK_CLIENT_H
#define RK_CLIENT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "command.h"
#include "conn.h"
#include "options.h"
#include "reply.h"
#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A client: a pool of connections to one server (and, in RK_MODE_MUX, a
 *  multiplexed engine), that any number of threads may call at once. */
typedef struct rk_client rk_client;

/** A client from options (NULL for every default). No connection is made
 *  yet. Returns NULL with rk_error_last() on bad options or RK_ENOMEM. */
rk_client *(rk_client_new)(const rk_options *opts, size_t opts_size);
#define rk_client_new(...) (rk_client_new)(__VA_ARGS__, sizeof(rk_options))

/** A client from a URL, as redis-py's from_url:
 *  - `redis://[[user]:password@]host[:port][/db][?option=value&...]`
 *  - `rediss://...` the same over TLS;
 *  - `unix://[[user]:password@]/path/to.sock[?db=N&...]`.
 *  IPv6 hosts go in brackets (`redis://[::1]:6380`); user and password are
 *  percent-decoded. Options: db, protocol (2|3), client_name (or name),
 *  connect_timeout (or socket_connect_timeout) and socket_timeout
 *  (seconds, decimals allowed; socket_timeout is the command timeout:
 *  default RK_DEFAULT_COMMAND_TIMEOUT_MS, 5 s, and 0 for no limit),
 *  pool_size (or max_connections), pool_timeout (seconds),
 *  health_check_interval (seconds), retry_attempts, keepalive (seconds),
 *  ssl_ca_certs, ssl_ca_path, ssl_certfile, ssl_keyfile,
 *  ssl_cert_reqs=none (insecure), ssl_server_name, mode (pool|mux),
 *  mux_connections (1 to 64).
 *  A malformed URL or an unknown option is RK_EINVAL with a message
 *  saying what is wrong. `base` (may be NULL) supplies everything the URL
 *  does not say, e.g. callbacks. */
rk_client *(rk_client_new_url)(const char *url, const rk_options *base, size_t base_size);
#define rk_client_new_url(...) (rk_client_new_url)(__VA_ARGS__, sizeof(rk_options))

/** Closes every connection and frees the client. In RK_MODE_POOL no call
 *  may be running. In RK_MODE_MUX, calls running on the multiplexed
 *  connections when it is called complete with RK_ECANCELED (and this
 *  waits until they have returned); calls on pooled connections (blocking
 *  commands, rk_client_acquire, pipelines) must have returned first, and
 *  no call may start once this has begun. */
void rk_client_free(rk_client *client);

/** Per-call settings for rk_client_call_argv_opts; NULL means all defaults. */
typedef struct rk_call_opts {
    bool idempotent; /**< Safe to repeat even if it may have run. */
    bool no_retry;   /**< Never retry this call. */
    int timeout_ms;  /**< Bounds each attempt of this call as a whole:
                          waiting for a pooled connection, the health
                          check of an idle one, connecting and the round
                          trip (instead of the command timeout, which
                          starts once the command is sent); 0: keep the
                          client's timeouts. Up to INT_MAX (about 24.8
                          days), which behaves as a very long limit. */
} rk_call_opts;

/** Runs one command and hands over its reply. Commands that change the
 *  state of the connection they run on (MULTI, EXEC, DISCARD, WATCH,
 *  UNWATCH, SELECT, AUTH, HELLO, RESET, QUIT, MONITOR, READONLY, READWRITE,
 *  ASKING, CLIENT REPLY / TRACKING / CACHING / NO-EVICT, SYNC, PSYNC,
 *  REPLCONF and the SUBSCRIBE family) are refused with RK_EINVAL, however
 *  spelled (the command is judged as built: "%s", "MULTI" is MULTI): on a
 *  pooled connection they would leak into later calls; use rk_pipeline,
 *  rk_pubsub, the typed functions on a held connection, the
 *  options, or rk_client_acquire. Returns RK_OK with the
 *  reply in *reply (NULL discards it), RK_ESERVER when the server answered
 *  with an error (the error reply is in *reply; rk_error_last() has its
 *  text and prefix, e.g. "WRONGTYPE"), or a failure with *reply nil:
 *  RK_EIO, RK_ETIMEOUT, RK_ECONNECT, RK_EAUTH, RK_EPOOL (no connection
 *  became free in time), RK_EPROTO... A NULL client or format is RK_EINVAL.
 *  The command is a printf-style format (see rk_writer_format); the
 *  variants below take it in other forms. */
int rk_client_call(rk_client *client, rk_reply *reply, const char *fmt, ...);

/* The names of the call family say what they take, as the C library's do:
 * a leading v (rk_client_vcall, like vprintf) takes a va_list; _args takes
 * C strings ended by NULL; _argv an argument vector; _opts per-call
 * settings too. */

/** As rk_client_call(), with a va_list. */
int rk_client_vcall(rk_client *client, rk_reply *reply, const char *fmt, va_list ap);

/** As rk_client_call(), with the arguments as C strings ended by NULL: at
 *  most 64 of them (more is RK_EINVAL; use rk_client_call_argv). */
int rk_client_call_args(rk_client *client, rk_reply *reply, const char *arg0, ...);

/** As rk_client_call(), with the command as argc binary-safe strings
 *  (rk_str; RK_STR("GET"), rk_bin(p, n), rk_cstr(s)). argc 0, a NULL argv,
 *  an argument with a NULL pointer or longer than RK_STR_MAX is RK_EINVAL. */
int rk_client_call_argv(rk_client *client, rk_reply *reply, const rk_str *argv, size_t argc);

/** As rk_client_call_argv(), with per-call settings (NULL: the defaults). */
int(rk_client_call_argv_opts)(rk_client *client, rk_reply *reply, const rk_call_opts *opts,
                              const rk_str *argv, size_t argc, size_t opts_size);
#define rk_client_call_argv_opts(...) (rk_client_call_argv_opts)(__VA_ARGS__, sizeof(rk_call_opts))

/** Runs a built command (rediskit/command.h) as rk_client_call_argv_opts()
 *  does (pool, retries, refusal of commands that change their connection's
 *  state), with the call's timeout stretched by what a blocking command
 *  (BLPOP, XREAD BLOCK...) may wait, and consumes it: cmd is released
 *  whether it ran or not. A command that failed to build is reported (its
 *  code, its message in rk_error_last()) without sending anything. The
 *  reply gets the command's shape (the same on RESP2 and RESP3); a nil
 *  reply returns RK_NIL (not a failure). Returns RK_OK or RK_NIL with the
 *  reply in *reply (NULL discards it), or as rk_client_call(). */
int rk_client_run(rk_client *client, rk_command *cmd, rk_reply *reply);

/** Takes a connection out of the pool for exclusive use, such as a pipeline
 *  or WATCH; give it back with rk_client_release. Blocks up to the pool
 *  timeout: RK_EPOOL when none became free. The connection is connected.
 *  RK_EINVAL for a NULL client (with *conn NULL) or a NULL conn pointer. */
int rk_client_acquire(rk_client *client, rk_conn **conn);

/** Returns a connection from rk_client_acquire; a broken one, one with
 *  replies still unread, or one left in a mode or state a later call would
 *  trip on (MONITOR, a SUBSCRIBE, CLIENT REPLY OFF or SKIP, a RESET sent as
 *  a plain command, a MULTI not ended by EXEC or DISCARD, and SELECT, AUTH,
 *  HELLO, CLIENT SETNAME and every other command rk_client_call refuses
 *  (QUIT, CLIENT TRACKING, READONLY...), a WATCH not ended by UNWATCH or a
 *  transaction's EXEC or DISCARD: the connection knows these however they
 *  were sent) is
 *  closed instead of being pooled; rk_reset() makes it poolable again.
 *  rk_conn_close it first to have it discarded. NULL conn does nothing; a NULL client
 *  records RK_EINVAL and leaves conn alone, and so does a connection the
 *  client did not lend (rk_conn_new's) or one given back already while the
 *  pool still holds it (a connection given back is the pool's: it may be
 *  closed at once, so touching it again is a use after free). */
void rk_client_release(rk_client *client, rk_conn *conn);

/** Pool counters. */
typedef struct rk_pool_stats {
    size_t in_use;   /**< Connections taken right now. */
    size_t idle;     /**< Connections waiting in the pool. */
    size_t created;  /**< Connections opened since the client was made. */
    size_t closed;   /**< Connections closed or discarded since. */
    size_t waits;    /**< Calls that had to wait for a connection. */
    size_t timeouts; /**< Waits that ended in RK_EPOOL. */
} rk_pool_stats;

/** Fills *stats with the pool counters at this moment, summed over every
 *  node the client has a pool for (one, unless redirects or a topology
 *  added nodes). Any thread may ask. A NULL client zeroes *stats; both record RK_EINVAL when NULL.
 *  Writes stats_size bytes, the caller's sizeof (the macro passes it; a
 *  counter the caller's older struct lacks is left out, one this library
 *  lacks reads 0), so the struct can grow as the options structs do. */
void(rk_client_pool_stats)(rk_client *client, rk_pool_stats *stats, size_t stats_size);
#define rk_client_pool_stats(...) (rk_client_pool_stats)(__VA_ARGS__, sizeof(rk_pool_stats))

/** The options in force (strings owned by the client); NULL with
 *  RK_EINVAL for a NULL client. */
const rk_options *rk_client_options(const rk_client *client);

#ifdef __cplusplus
}
#endif
#endif
