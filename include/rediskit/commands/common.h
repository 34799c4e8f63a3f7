/** @file rediskit/commands/common.h
 * rediskit: what every typed command has in common.
 *
 * Two functions per command. Every command and subcommand of Redis has a
 * builder, `rk_cmd_<name>`, which builds it into an rk_command
 * (rediskit/command.h) that any executor runs: rk_client_run (the pooled
 * client), rk_conn_run (a held connection), rk_pipeline_add (a pipeline
 * or transaction); and a convenience, `rk_<name>`, which builds it and
 * runs it on the client (or, for the commands that change their
 * connection's state, on a held rk_conn) and hands over its typed result:
 *
 *     rk_set(c, "k", "v", &(rk_set_opts){.ex = 10, .nx = true}, &reply);
 *
 *     rk_command cmd;
 *     rk_pipeline_add(p, rk_cmd_set(&cmd, RK_STR("k"), rk_bin(buf, n), NULL));
 *
 * They are generated from the server's own description of its commands
 * (see tools/gen-commands), one header per command group, all included by
 * rediskit/commands.h.
 *
 * Names. One rule, so that no command can take the name of a type or an
 * object method (`rk_<type>_<verb>`): a command's C name is its words in
 * lower case, a container and its subcommand glued with no separator, a
 * '-' or a module's '.' becoming '_': SET is set, CONFIG GET configget,
 * CLIENT LIST clientlist, XINFO STREAM xinfostream, SCRIPT LOAD
 * scriptload, CLUSTER INFO clusterinfo, CLIENT NO-EVICT clientno_evict,
 * JSON.GET json_get. The builder is `rk_cmd_<name>`, the convenience
 * `rk_<name>`; the command's types are `rk_<name>_opts` and
 * `rk_<name>_<group>`. The exceptions are names that would equal a public
 * type or function: TYPE is key_type (rk_type names reply kinds) and the
 * bare COMMAND is commands (rk_command is the built-command type).
 *
 * Arguments. Required arguments are parameters: strings as rk_str
 * (rediskit/str.h) in the builder and as C strings in the convenience,
 * integers as long long, doubles as double, a choice between tokens as a
 * C enum (RK_LEFT / RK_RIGHT...). Lists are an array and then its count
 * (`keys, nkeys`), even when they may be empty: of rk_str in the builder,
 * of C strings in the convenience. Pairs and groups of arguments are
 * arrays of small structs whose strings are rk_str, the same for both
 * functions (`(rk_hset_field_value){RK_STR("f"), RK_STR("v")}`; written as
 * `{"f", 0, "v", 0}` it does not compile). Optional arguments and flags
 * go in an options struct, NULL for none, best filled with designated
 * initializers; its strings are rk_str too, `{0}` (a NULL ptr) for not
 * sent. An optional number is sent when it is not 0, or when its `_set`
 * companion is true (`.block = 0, .block_set = true` blocks for ever). A
 * group of optional arguments is a pointer to its struct, NULL when not
 * sent (`.limit = &(rk_zrange_limit){0, 10}`).
 *
 * Options grow without breaking binaries. A function taking an options
 * struct is declared with its name in parentheses and a last parameter,
 * `size_t opts_size`, that a macro of the same name fills in with
 * sizeof the struct as the caller's header knows it: a program built
 * against an older, shorter struct keeps working with a newer library
 * (the fields it does not know read as zero, their defaults). New fields
 * are only ever appended. Call the functions as written above; take the
 * function itself as `(rk_set)` and pass the size yourself.
 *
 * Checks. Combinations the command refuses (NX with XX, EX with PX, an
 * enum value out of range, a NULL required string, keys without ids) are
 * RK_EINVAL with a message, kept in the built command and reported by the
 * runner before anything is sent.
 *
 * Results. The builder's command, run, gives the reply in one shape
 * whichever protocol the connection speaks, as RESP3 would send it:
 * HGETALL and CONFIG GET are maps, SMEMBERS a set, ZSCORE-like values
 * doubles, WITHSCORES replies arrays of [member, score] pairs, XREAD a map
 * of stream to entries, INFO a map of sections, each a map of fields. A
 * convenience of a command returning one plain value has a typed output:
 * a long long for counts and integers, a double for scores, a copied
 * string (free it with rk_free) for GET and the like; the others hand
 * over the shaped rk_reply. Errors are as for rk_client_run():
 * RK_ESERVER for an error reply (rk_error_last() has it), RK_EIO,
 * RK_ETIMEOUT...; retries follow the client's policy.
 *
 * Nil. One rule for every typed command: when the server answers nil, the
 * runner and the convenience return RK_NIL (positive, not a failure;
 * `rc < 0` tests for failures), with the typed output left empty (NULL
 * string, untouched number) or the nil reply in *reply. So GET of a
 * missing key, SET with NX or XX that did not set the key, SET with GET of
 * a key that had no value, ZSCORE of a missing member, and a blocking
 * command (BLPOP, BRPOP, BZPOPMIN, BLMOVE, XREAD BLOCK...) whose timeout
 * passed with nothing to return all give RK_NIL. In a pipeline a nil
 * answer is a nil reply with status RK_OK: rk_pipeline_status() reports
 * failures only, so test rk_reply_type() == RK_REPLY_NIL.
 *
 * Connection state. Commands that change the connection they run on
 * (SELECT, AUTH, HELLO, WATCH, MULTI, CLIENT TRACKING...) have a
 * convenience taking an rk_conn the caller holds (rk_client_acquire or
 * rk_conn_new) instead of the pooled client; rk_client_run and pipelines
 * refuse them. The SUBSCRIBE family is rk_pubsub's. Blocking commands
 * (BLPOP, XREAD BLOCK...) stretch the call's timeout by their own on the
 * client. */
#ifndef RK_COMMANDS_COMMON_H
#define RK_COMMANDS_COMMON_H

#include <stdbool.h>
#include <stddef.h>

#include "rediskit/alloc.h"
#include "rediskit/client.h"
#include "rediskit/command.h"
#include "rediskit/commands/enums.h"
#include "rediskit/conn.h"
#include "rediskit/error.h"
#include "rediskit/pipeline.h"
#include "rediskit/reply.h"
#include "rediskit/str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** CLIENT REPLY modes. */
typedef enum rk_clientreply_mode {
    RK_CLIENTREPLY_ON = 1, /**< Replies are sent (the default). */
    RK_CLIENTREPLY_OFF,    /**< No replies until ON. */
    RK_CLIENTREPLY_SKIP    /**< No reply to the next command. */
} rk_clientreply_mode;

/** CLIENT REPLY: switches the server's replies on a held connection on or
 *  off. The connection knows: while replies are OFF (and for SKIP and the
 *  command after it) calls on it send their command and return RK_OK with
 *  a nil reply at once, without waiting for a reply that never comes; ON
 *  waits for the server's OK. (The connection follows CLIENT REPLY sent as
 *  a plain command too; rk_client_release closes a connection left OFF or
 *  SKIP.) Hand-written, since the generated form would
 *  wait. Returns RK_OK, RK_EINVAL for a bad mode, or as rk_conn_call_argv(). */
int rk_clientreply(rk_conn *conn, rk_clientreply_mode mode);

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
