/* What the generated command functions (src/commands/gen/) are made of.
 *
 * A typed call builds its arguments into an rk_cmd on the stack (pointers
 * and lengths; numbers are formatted into the rk_cmd's own storage), then
 * hands it to one of the runners below, which send it through the client,
 * a held connection or a pipeline, shape the reply (shape.c) and convert
 * it to the typed output. Building never sends anything: a bad argument
 * is RK_EINVAL before a byte leaves. */
#ifndef RK_CMD_INT_H
#define RK_CMD_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "client/client_int.h"

#include "rediskit/client.h"
#include "rediskit/conn.h"
#include "rediskit/pipeline.h"
#include "resp/shape.h"

#pragma GCC visibility push(hidden)

/* A length meaning "NUL-terminated: use strlen". */
#define RK_CSTR ((size_t)-1)

#define RK_CMD_INLINE_ARGS 32
#define RK_CMD_INLINE_NUMS 768

typedef struct rk_cmd_chunk rk_cmd_chunk;

typedef struct rk_cmd {
    int argc, cap;
    const char **argv;
    size_t *lens;
    int err;            /* first failure while building (RK_EINVAL, RK_ENOMEM) */
    const char *name;   /* "SET", "CONFIG GET": for messages */
    const char *shape;  /* the reply's shape, or NULL */
    long long block_ms; /* server-side blocking: 0 none, <0 for ever */
    size_t nums_used;
    rk_cmd_chunk *spill; /* number storage past nums[] */
    const char *argv_inline[RK_CMD_INLINE_ARGS];
    size_t lens_inline[RK_CMD_INLINE_ARGS];
    char nums[RK_CMD_INLINE_NUMS];
} rk_cmd;

/* Where a typed call runs: the pooled client, or a connection held by
 * the caller (for commands that change their connection's state). */
typedef struct rk_target {
    rk_client *client;
    rk_conn *conn;
} rk_target;

#define RK_TARGET_CLIENT(c) ((rk_target){.client = (c)})
#define RK_TARGET_CONN(c) ((rk_target){.conn = (c)})

void rk_cmd_init(rk_cmd *cmd, const char *name);
/* rk_cmd_init, then the words of name ("CONFIG GET") as the first
 * arguments; name must outlive cmd (a string literal). */
void rk_cmd_start(rk_cmd *cmd, const char *name);
void rk_cmd_release(rk_cmd *cmd);

/* Appending arguments. After a failure these do nothing. */
void rk_cmd_str(rk_cmd *cmd, const char *s, size_t len); /* len RK_CSTR: strlen */
#define rk_cmd_lit(cmd, s) rk_cmd_str((cmd), (s), sizeof(s) - 1)
void rk_cmd_int(rk_cmd *cmd, long long v);
void rk_cmd_uint(rk_cmd *cmd, unsigned long long v);
void rk_cmd_double(rk_cmd *cmd, double v);
/* Appends the n elements of a list (each after the token each, unless it
 * is NULL); an array missing for n > 0 is RK_EINVAL naming what. */
void rk_cmd_strs(rk_cmd *cmd, const char *what, const char *each, const char *const *v,
                 const size_t *lens, size_t n); /* lens NULL: NUL-terminated */
void rk_cmd_ints(rk_cmd *cmd, const char *what, const char *each, const long long *v, size_t n);
void rk_cmd_doubles(rk_cmd *cmd, const char *what, const char *each, const double *v, size_t n);
/* Appends tokens[v - 1]; v outside 1..n is RK_EINVAL naming what. */
void rk_cmd_choice(rk_cmd *cmd, int v, const char *const *tokens, int n, const char *what);
/* Records RK_EINVAL with "NAME: msg" (the first failure wins). */
void rk_cmd_invalid(rk_cmd *cmd, const char *msg);

/* Blocking times for cmd->block_ms: a timeout in seconds (0: for ever),
 * or a BLOCK in milliseconds when given (0: for ever). */
long long rk_cmd_block_seconds(double timeout);
long long rk_cmd_block_ms(long long ms, bool given);

/* Runners: each releases cmd. rc is the result of building it; a failure
 * is returned as it is, with nothing sent. Every runner returns RK_NIL
 * when the server answered nil (rk_cmd_reply hands the nil reply over). */
int rk_cmd_reply(rk_target t, rk_cmd *cmd, int rc, rk_reply *reply);
int rk_cmd_ok(rk_target t, rk_cmd *cmd, int rc);
int rk_cmd_integer(rk_target t, rk_cmd *cmd, int rc, long long *out);
int rk_cmd_number(rk_target t, rk_cmd *cmd, int rc, double *out);
int rk_cmd_string(rk_target t, rk_cmd *cmd, int rc, char **out, size_t *len);
int rk_cmd_queue(rk_pipeline *p, rk_cmd *cmd, int rc);

#pragma GCC visibility pop

#endif
