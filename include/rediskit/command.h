/** @file rediskit/command.h
 * rediskit: a built command, independent of where it runs.
 *
 * A typed command is built once into an rk_command (on the caller's stack)
 * by its builder, `rk_cmd_<name>` (rediskit/commands.h), or from an
 * argument vector by rk_command_argv(), and then handed to a runner of any
 * executor: rk_client_run() (the pooled client), rk_conn_run() (a held
 * connection) or rk_pipeline_add() (a pipeline or transaction). The built
 * command knows its name, its arguments, which of them are keys (for
 * routing), its metadata and the shape of its reply, so every executor
 * returns the same reply on RESP2 and RESP3:
 *
 *     rk_command cmd;
 *     rk_reply r;
 *     int rc = rk_client_run(c, rk_cmd_hgetall(&cmd, RK_STR("user:1")), &r);
 *     // rc RK_OK: r is a map whichever protocol the connection speaks
 *
 * Building never fails out loud: a bad argument (or running out of memory)
 * is kept in the command, with its message, and the runner reports it
 * (returns it, sets rk_error_last()) without sending anything. So a command
 * may be built on one thread and run on another. Every runner consumes the
 * command: it is released whether it ran or not, and may be built again.
 * A command built and never run must be given to rk_command_release().
 *
 * Arguments are borrowed, not copied: the strings given to a builder must
 * stay valid and unchanged until the command has been run (a pipeline
 * copies them when the command is added). A built command must not be
 * copied with `=` or memcpy (it may point into itself): pass its address. */
#ifndef RK_COMMAND_H
#define RK_COMMAND_H

#include <stddef.h>

#include "str.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Bytes of storage in an rk_command. */
#define RK_COMMAND_SIZE 2048

/** A built command: fixed-size storage, so that it can live on the stack.
 *  Its layout is private; use the functions below. */
typedef struct rk_command {
    union {
        unsigned char bytes[RK_COMMAND_SIZE]; /**< Private. */
        long double align_ld;                 /**< Alignment only. */
        void *align_ptr;                      /**< Alignment only. */
        long long align_ll;                   /**< Alignment only. */
    } u;                                      /**< Private. */
} rk_command;

/** Builds a command from an argument vector: argv[0] the command's name
 *  (any case), then its arguments, argc in all (binary safe). Its metadata
 *  and keys are found from the command table (for a command the table does
 *  not know, none: it still runs, unrouted and unshaped). The strings are
 *  borrowed as with the typed builders. An empty vector, a NULL array or
 *  string is an error kept in the command. Returns cmd (NULL for a NULL
 *  cmd). */
rk_command *rk_command_argv(rk_command *cmd, const rk_str *argv, size_t argc);

/** Frees what a built command holds, for a command that is not going to be
 *  run (runners release the command themselves). The command may be built
 *  again after. NULL is allowed; releasing twice is harmless. */
void rk_command_release(rk_command *cmd);

/** RK_OK when cmd was built without error, or the build error (RK_EINVAL,
 *  RK_ENOMEM), also for a command already run or released. */
int rk_command_status(const rk_command *cmd);

/** The command's name as sent, upper case ("SET", "CONFIG GET"); "" for a
 *  command that is not built. Valid while cmd is. */
const char *rk_command_name(const rk_command *cmd);

/** Number of arguments, the name's words included (SET k v: 3). */
size_t rk_command_argc(const rk_command *cmd);

/** Argument i (0 is the name's first word); an empty rk_str past the end.
 *  Borrowed: valid until the command is run or released. */
rk_str rk_command_arg(const rk_command *cmd, size_t i);

/** Number of keys among the arguments (for routing): what the typed
 *  builder marked, or what the command table finds for rk_command_argv. */
size_t rk_command_nkeys(const rk_command *cmd);

/** Key i, in argument order; an empty rk_str past the end. Borrowed as
 *  rk_command_arg(). */
rk_str rk_command_key(const rk_command *cmd, size_t i);

#ifdef __cplusplus
}
#endif

#endif
