/** @file rediskit/commands/common.h
 * rediskit: what every typed command function has in common.
 *
 * Every command and subcommand of Redis has a function named after it:
 * rk_set, rk_hgetall, rk_xinfo_stream, rk_config_get (TYPE is rk_key_type,
 * since rk_type names reply kinds). They are generated from the server's
 * own description of its commands (see tools/gen-commands), one header per
 * command group, all included by rediskit/commands.h.
 *
 * Arguments. Required arguments are parameters: keys and values as C
 * strings, integers as long long, doubles as double, a choice between
 * tokens as a C enum (RK_LEFT / RK_RIGHT...). Lists are an array and a
 * count (`keys, nkeys`), even when they may be empty; pairs and groups of
 * arguments are arrays of small structs
 * (`(rk_hset_field_value){"f", 0, "v", 0}`, where a length of 0 means
 * NUL-terminated). Optional arguments and flags go in an options struct,
 * NULL for none, best filled with designated initializers:
 *
 *     rk_set(c, "k", "v", &(rk_set_opts){.ex = 10, .nx = true}, &reply);
 *
 * An optional number is sent when it is not 0, or when its `_set`
 * companion is true (`.block = 0, .block_set = true` blocks for ever). A
 * group of optional arguments is a pointer to its struct, NULL when not
 * sent (`.limit = &(rk_zrange_limit){0, 10}`).
 *
 * Binary data. Each function taking strings has a `_bin` twin whose
 * string parameters come with their lengths, and whose lists come with an
 * array of lengths (NULL: NUL-terminated). A string in an options or group
 * struct has a `_len` field next to it (0: NUL-terminated).
 *
 * Checks. Combinations the command refuses (NX with XX, EX with PX, an
 * enum value out of range, a NULL required string, keys without ids) are
 * RK_EINVAL with a message before anything is sent.
 *
 * Results. A command returning one plain value has a typed output: a long
 * long for counts and integers, a double for scores, a copied string
 * (free it with rk_free) for GET and the like. Other commands
 * hand over their rk_reply in one shape whichever protocol the connection
 * speaks, as RESP3 would send it: HGETALL and CONFIG GET are maps,
 * SMEMBERS a set, ZSCORE-like values doubles, WITHSCORES replies arrays of
 * [member, score] pairs, XREAD a map of stream to entries, INFO a map of
 * sections, each a map of fields. Errors are as for rk_client_call_argv_opts():
 * RK_ESERVER for an error reply (rk_error_last() has it), RK_EIO,
 * RK_ETIMEOUT...; retries follow the client's policy.
 *
 * Nil. One rule for every typed command: when the server answers nil, the
 * function returns RK_NIL (positive, not a failure; `rc < 0` tests for
 * failures), with the typed output left empty (NULL string, untouched
 * number) or the nil reply in *reply. So GET of a missing key, SET with NX
 * or XX that did not set the key, SET with GET of a key that had no value,
 * ZSCORE of a missing member, and a blocking command (BLPOP, BRPOP,
 * BZPOPMIN, BLMOVE, XREAD BLOCK...) whose timeout passed with nothing to
 * return all give RK_NIL.
 *
 * Pipelines. Each function also has an rk_pipe_ twin that queues the
 * command in an rk_pipeline (or a transaction); its reply, shaped the same
 * way, is read with rk_pipeline_reply() after rk_pipeline_exec(). There a
 * nil answer is a nil reply with status RK_OK: rk_pipeline_status()
 * reports failures only, so test rk_reply_type() == RK_REPLY_NIL.
 *
 * Connection state. Commands that change the connection they run on
 * (SELECT, AUTH, HELLO, WATCH, MULTI, CLIENT TRACKING...) take an rk_conn
 * the caller holds (rk_client_acquire or rk_conn_new) instead of the
 * pooled client; the SUBSCRIBE family is rk_pubsub's. Blocking commands
 * (BLPOP, XREAD BLOCK...) stretch the call's timeout by their own. */
#ifndef RK_COMMANDS_COMMON_H
#define RK_COMMANDS_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "rediskit/alloc.h"
#include "rediskit/client.h"
#include "rediskit/commands/enums.h"
#include "rediskit/conn.h"
#include "rediskit/error.h"
#include "rediskit/pipeline.h"
#include "rediskit/reply.h"

#ifdef __cplusplus
extern "C" {
#endif

/** CLIENT REPLY modes. */
typedef enum rk_client_reply_mode {
    RK_CLIENT_REPLY_ON = 1, /**< Replies are sent (the default). */
    RK_CLIENT_REPLY_OFF,    /**< No replies until ON. */
    RK_CLIENT_REPLY_SKIP    /**< No reply to the next command. */
} rk_client_reply_mode;

/** CLIENT REPLY: switches the server's replies on a held connection on or
 *  off. The connection knows: while replies are OFF (and for SKIP and the
 *  command after it) calls on it send their command and return RK_OK with
 *  a nil reply at once, without waiting for a reply that never comes; ON
 *  waits for the server's OK. (The connection follows CLIENT REPLY sent as
 *  a plain command too; rk_client_release closes a connection left OFF or
 *  SKIP.) Hand-written, since the generated form would
 *  wait. Returns RK_OK, RK_EINVAL for a bad mode, or as rk_conn_call_argv(). */
int rk_client_reply(rk_conn *conn, rk_client_reply_mode mode);

/** RESET: resets a held connection's server-side state (ends MULTI, WATCH,
 *  subscriptions, CLIENT REPLY OFF, tracking) and then sets the connection
 *  up again as its options say, since the server also forgets the
 *  protocol, user, database and name: after it, the connection is as
 *  freshly connected. Hand-written for that second step. Returns RK_OK,
 *  or as rk_conn_call_argv() and rk_conn_connect(). */
int rk_reset(rk_conn *conn);

/** MONITOR: makes a held connection stream every command the server runs.
 *  Once it returns RK_OK, read each line (a status reply such as
 *  `1700000000.123456 [0 127.0.0.1:5000] "SET" "k" "v"`) with
 *  rk_conn_read(); the connection is in subscriber mode (rk_conn_set_pubsub)
 *  and stays a monitor until rk_reset() or closed (rk_client_release closes
 *  it rather than pool it). Hand-written, since the
 *  lines are replies no command asked for. Returns RK_OK, or as
 *  rk_conn_call_argv(). */
int rk_monitor(rk_conn *conn);

#ifdef __cplusplus
}
#endif

#endif
