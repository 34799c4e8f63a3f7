/* The inside of rk_command (include/rediskit/command.h): how a command is
 * built and what a runner reads from it.
 *
 * Arguments are an rk_str vector, inline in the command up to
 * RK_COMMAND_INLINE_ARGS, then on the heap. Numbers are formatted into the
 * command's own storage, then into chunks that never move, so arguments
 * may point at them. The first build failure is kept with its message: the
 * runner, maybe on another thread, re-raises it and sends nothing. Keys
 * are argument indexes, marked as the builder appends them. Protocol
 * layer: nothing here knows connections, clients or the command table
 * (the row is only pointed at). */
#ifndef RK_COMMAND_INT_H
#define RK_COMMAND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rediskit/command.h"
#include "rediskit/reply.h"

#pragma GCC visibility push(hidden)

struct rk_meta_command;
typedef struct rk_command_chunk rk_command_chunk;

#define RK_COMMAND_INLINE_ARGS 32
#define RK_COMMAND_INLINE_KEYS 8
#define RK_COMMAND_INLINE_NUMS 768
#define RK_COMMAND_MSG 192
#define RK_COMMAND_NAME 48

typedef struct rk_command_int {
    uint32_t magic;                     /* RK_COMMAND_BUILT while built; anything else is not */
    int err;                            /* first failure while building (RK_EINVAL, RK_ENOMEM) */
    const char *name;                   /* "SET", "CONFIG GET": for messages */
    const char *shape;                  /* the reply's shape (resp/shape.h), or NULL */
    long long block_ms;                 /* server-side blocking: 0 none, <0 for ever */
    const struct rk_meta_command *meta; /* its row of the table, or NULL */
    rk_str *argv;
    size_t argc, cap;
    uint32_t *keys; /* argument indexes of the keys */
    size_t nkeys, keycap;
    size_t nums_used;
    rk_command_chunk *spill;       /* number storage past nums[] */
    char msg[RK_COMMAND_MSG];      /* err's message */
    char namebuf[RK_COMMAND_NAME]; /* name, for rk_command_argv */
    rk_str argv_inline[RK_COMMAND_INLINE_ARGS];
    uint32_t keys_inline[RK_COMMAND_INLINE_KEYS];
    char nums[RK_COMMAND_INLINE_NUMS];
} rk_command_int;

_Static_assert(sizeof(rk_command_int) + 256 <= sizeof(rk_command),
               "rk_command keeps room for its private struct to grow");
_Static_assert(_Alignof(rk_command_int) <= _Alignof(rk_command), "rk_command is aligned enough");

#define RK_COMMAND_BUILT 0x726b636du /* "rkcm" */

static inline rk_command_int *rk_command_in(rk_command *cmd) {
    return (rk_command_int *)(void *)cmd;
}
static inline const rk_command_int *rk_command_cin(const rk_command *cmd) {
    return (const rk_command_int *)(const void *)cmd;
}

/* Starts building: cmd is emptied (whatever it held is not freed: release
 * a built one first) and named; name must outlive the command (a string
 * literal). rk_command_begin also appends the words of name ("CONFIG GET")
 * as the first arguments. Both return the inside, NULL for a NULL cmd. */
rk_command_int *rk_command_init(rk_command *cmd, const char *name);
rk_command_int *rk_command_begin(rk_command *cmd, const char *name);

/* Appending arguments. cmd may be NULL; after a failure these do nothing.
 * A string with a NULL pointer (an optional one is tested before it is
 * appended), or longer than RK_STR_MAX, is RK_EINVAL. */
void rk_arg_str(rk_command_int *cmd, rk_str s);
/* As rk_arg_str, and marks the argument as a key. */
void rk_arg_key(rk_command_int *cmd, rk_str s);
/* A literal token: rk_arg_lit(cmd, "NX"). */
#define rk_arg_lit(cmd, s) rk_arg_str((cmd), RK_STR(s))
void rk_arg_int(rk_command_int *cmd, long long v);
void rk_arg_uint(rk_command_int *cmd, unsigned long long v);
void rk_arg_double(rk_command_int *cmd, double v);
/* Appends the n elements of a list (each after the token each, unless it
 * is NULL; keys marked as keys when key is true); an array missing for
 * n > 0 is RK_EINVAL naming what. */
void rk_arg_strs(rk_command_int *cmd, const char *what, const char *each, const rk_str *v, size_t n,
                 bool key);
/* As rk_arg_strs, for C strings (a NULL one is RK_EINVAL). */
void rk_arg_cstrs(rk_command_int *cmd, const char *what, const char *each, const char *const *v,
                  size_t n, bool key);
void rk_arg_ints(rk_command_int *cmd, const char *what, const char *each, const long long *v,
                 size_t n);
void rk_arg_doubles(rk_command_int *cmd, const char *what, const char *each, const double *v,
                    size_t n);
/* Appends tokens[v - 1]; v outside 1..n is RK_EINVAL naming what. */
void rk_arg_choice(rk_command_int *cmd, int v, const char *const *tokens, int n, const char *what);
/* Marks argument i (already appended) as a key. */
void rk_arg_mark_key(rk_command_int *cmd, size_t i);
/* Records code with "NAME: msg" (the first failure wins; cmd may be NULL). */
void rk_arg_fail(rk_command_int *cmd, int code, const char *msg);
#define rk_arg_invalid(cmd, msg) rk_arg_fail((cmd), RK_EINVAL, (msg))

/* Blocking times for block_ms: a timeout in seconds (0: for ever), or a
 * BLOCK in milliseconds when given (0: for ever). */
long long rk_command_block_seconds(double timeout);
long long rk_command_block_ms(long long ms, bool given);

/* For runners: sets *out to the inside of a command ready to run and
 * returns RK_OK, or returns (and records with rk_fail) why it cannot run:
 * NULL cmd, not built, already run, or its build error (re-raised with
 * its message). */
int rk_command_ready(rk_command *cmd, rk_command_int **out);
/* What a runner does with the reply once read (rc the call's result):
 * gives it the command's shape, then the nil rule (a nil reply is
 * RK_NIL). Returns the runner's result. */
int rk_command_finish(const rk_command_int *cmd, int rc, rk_reply *reply);

/* The body every synchronous runner shares: takes the built command (or
 * its build error), refuses a NULL target (naming it, "client"...), sends
 * it with send, finishes the reply (shape, nil rule), releases the command;
 * reply NULL discards it. */
typedef int (*rk_command_send_fn)(void *target, const rk_command_int *cmd, rk_reply *out);
int rk_command_run_with(void *target, const char *what, rk_command *cmd, rk_reply *reply,
                        rk_command_send_fn send);
/* The same for a reply whose command is gone (the async client keeps only
 * the shape, a static string, or NULL for none). */
int rk_shape_finish(const char *shape, int rc, rk_reply *reply);

#pragma GCC visibility pop

#endif
