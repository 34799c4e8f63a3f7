/* Building a command (command_int.h) and the steps every runner shares.
 *
 * The argument vector lives in the command on the caller's stack while it
 * has at most RK_COMMAND_INLINE_ARGS entries, then moves to the heap;
 * numbers are formatted into the command and, past that, into chunks that
 * never move. A failure while building is kept, with its message, for the
 * runner to report; later appends do nothing. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "resp/command_int.h"
#include "resp/reply_int.h"
#include "resp/resp_int.h"
#include "resp/shape.h"
#include "util/common.h"

struct rk_command_chunk {
    rk_command_chunk *next;
    size_t used;
    char data[1024];
};

/* Longest formatted number: "%.17g" of a double, or a long long. */
#define NUM_MAX 32
_Static_assert(NUM_MAX >= RK_DOUBLE_TEXT, "room for rk_fmt_double");

/* ---- building -------------------------------------------------------- */

rk_command_int *rk_command_init(rk_command *cmd, const char *name) {
    if (cmd == NULL)
        return NULL;
    rk_command_int *c = rk_command_in(cmd);
    c->magic = RK_COMMAND_BUILT;
    c->err = RK_OK;
    c->name = name;
    c->shape = NULL;
    c->block_ms = 0;
    c->meta = NULL;
    c->argv = c->argv_inline;
    c->argc = 0;
    c->cap = RK_COMMAND_INLINE_ARGS;
    c->keys = c->keys_inline;
    c->nkeys = 0;
    c->keycap = RK_COMMAND_INLINE_KEYS;
    c->nums_used = 0;
    c->spill = NULL;
    c->msg[0] = '\0';
    return c;
}

RK_HOT rk_command_int *rk_command_begin(rk_command *cmd, const char *name) {
    rk_command_int *c = rk_command_init(cmd, name);
    if (c == NULL)
        return NULL;
    const char *word = name;
    for (const char *p = name;; p++) { /* one pass, no strcspn: every typed call */
        if (*p != ' ' && *p != '\0')
            continue;
        if (p > word)
            rk_arg_str(c, rk_bin(word, (size_t)(p - word)));
        if (*p == '\0')
            break;
        word = p + 1;
    }
    return c;
}

void rk_arg_fail(rk_command_int *cmd, int code, const char *msg) {
    if (cmd == NULL || cmd->err != RK_OK)
        return;
    cmd->err = code;
    snprintf(cmd->msg, sizeof(cmd->msg), "%s: %s", cmd->name, msg);
}

/* Doubles the room of a vector (argv or keys), moving it to the heap. */
static bool grow(rk_command_int *cmd, void **v, void *inline_v, size_t *cap, size_t used,
                 size_t elem) {
    if (*cap > SIZE_MAX / 2 / elem) {
        rk_arg_fail(cmd, RK_ENOMEM, "too many arguments");
        return false;
    }
    void *bigger = rk_malloc(*cap * 2 * elem);
    if (bigger == NULL) {
        rk_arg_fail(cmd, RK_ENOMEM, "out of memory building the command");
        return false;
    }
    memcpy(bigger, *v, used * elem);
    if (*v != inline_v)
        rk_free(*v);
    *v = bigger;
    *cap *= 2;
    return true;
}

RK_HOT void rk_arg_str(rk_command_int *cmd, rk_str s) {
    if (cmd == NULL || cmd->err != RK_OK)
        return;
    if (s.ptr == NULL) {
        rk_arg_invalid(cmd, "a required string argument is NULL");
        return;
    }
    if (s.len > RK_STR_MAX) {
        rk_arg_invalid(cmd, "a string argument is longer than RK_STR_MAX (512 MiB)");
        return;
    }
    if (cmd->argc == cmd->cap &&
        !grow(cmd, (void **)&cmd->argv, cmd->argv_inline, &cmd->cap, cmd->argc, sizeof(rk_str)))
        return;
    cmd->argv[cmd->argc++] = s;
}

void rk_arg_mark_key(rk_command_int *cmd, size_t i) {
    if (cmd == NULL || cmd->err != RK_OK || i >= cmd->argc)
        return;
    if (cmd->nkeys == cmd->keycap && !grow(cmd, (void **)&cmd->keys, cmd->keys_inline, &cmd->keycap,
                                           cmd->nkeys, sizeof(uint32_t)))
        return;
    cmd->keys[cmd->nkeys++] = (uint32_t)i;
}

RK_HOT void rk_arg_key(rk_command_int *cmd, rk_str s) {
    rk_arg_str(cmd, s);
    if (cmd != NULL)
        rk_arg_mark_key(cmd, cmd->argc - 1);
}

/* Room for one formatted number that stays where it is. */
static char *num_room(rk_command_int *cmd) {
    if (cmd == NULL || cmd->err != RK_OK)
        return NULL;
    if (cmd->nums_used + NUM_MAX <= sizeof(cmd->nums)) {
        char *p = cmd->nums + cmd->nums_used;
        cmd->nums_used += NUM_MAX;
        return p;
    }
    if (cmd->spill == NULL || cmd->spill->used + NUM_MAX > sizeof(cmd->spill->data)) {
        rk_command_chunk *c = rk_malloc(sizeof(*c));
        if (c == NULL) {
            rk_arg_fail(cmd, RK_ENOMEM, "out of memory building the command");
            return NULL;
        }
        c->next = cmd->spill;
        c->used = 0;
        cmd->spill = c;
    }
    char *p = cmd->spill->data + cmd->spill->used;
    cmd->spill->used += NUM_MAX;
    return p;
}

void rk_arg_int(rk_command_int *cmd, long long v) {
    char *p = num_room(cmd);
    if (p != NULL)
        rk_arg_str(cmd, rk_bin(p, rk_fmt_ll(p, v)));
}

void rk_arg_uint(rk_command_int *cmd, unsigned long long v) {
    char *p = num_room(cmd);
    if (p != NULL)
        rk_arg_str(cmd, rk_bin(p, rk_fmt_ull(p, v)));
}

/* Doubles go out in the shortest form that reads back the same, and
 * infinities as Redis spells them. NaN is refused: no command takes it. */
void rk_arg_double(rk_command_int *cmd, double v) {
    if (cmd == NULL || cmd->err != RK_OK)
        return;
    if (isnan(v)) {
        rk_arg_invalid(cmd, "NaN is not a valid number argument");
        return;
    }
    if (isinf(v)) {
        rk_arg_str(cmd, v > 0 ? RK_STR("+inf") : RK_STR("-inf"));
        return;
    }
    char *p = num_room(cmd);
    if (p != NULL)
        rk_arg_str(cmd, rk_bin(p, rk_fmt_double(p, v)));
}

/* A list's checks: n > 0 needs an array. */
static bool list_ok(rk_command_int *cmd, const char *what, const void *v, size_t n) {
    if (cmd == NULL || cmd->err != RK_OK)
        return false;
    if (n == 0 || v != NULL)
        return true;
    char msg[96];
    snprintf(msg, sizeof msg, "%s list is NULL", what);
    rk_arg_invalid(cmd, msg);
    return false;
}

static void each_token(rk_command_int *cmd, const char *each) {
    if (each != NULL)
        rk_arg_str(cmd, rk_cstr(each));
}

void rk_arg_strs(rk_command_int *cmd, const char *what, const char *each, const rk_str *v, size_t n,
                 bool key) {
    if (!list_ok(cmd, what, v, n))
        return;
    for (size_t i = 0; i < n; i++) {
        each_token(cmd, each);
        if (key)
            rk_arg_key(cmd, v[i]);
        else
            rk_arg_str(cmd, v[i]);
    }
}

void rk_arg_cstrs(rk_command_int *cmd, const char *what, const char *each, const char *const *v,
                  size_t n, bool key) {
    if (!list_ok(cmd, what, v, n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (v[i] == NULL) {
            char msg[96];
            snprintf(msg, sizeof msg, "%s %zu is NULL", what, i);
            rk_arg_invalid(cmd, msg);
            return;
        }
        each_token(cmd, each);
        if (key)
            rk_arg_key(cmd, rk_cstr(v[i]));
        else
            rk_arg_str(cmd, rk_cstr(v[i]));
    }
}

void rk_arg_ints(rk_command_int *cmd, const char *what, const char *each, const long long *v,
                 size_t n) {
    if (!list_ok(cmd, what, v, n))
        return;
    for (size_t i = 0; i < n; i++) {
        each_token(cmd, each);
        rk_arg_int(cmd, v[i]);
    }
}

void rk_arg_doubles(rk_command_int *cmd, const char *what, const char *each, const double *v,
                    size_t n) {
    if (!list_ok(cmd, what, v, n))
        return;
    for (size_t i = 0; i < n; i++) {
        each_token(cmd, each);
        rk_arg_double(cmd, v[i]);
    }
}

void rk_arg_choice(rk_command_int *cmd, int v, const char *const *tokens, int n, const char *what) {
    if (cmd == NULL || cmd->err != RK_OK)
        return;
    if (v < 1 || v > n) {
        char msg[96];
        snprintf(msg, sizeof msg, "%d is not a valid %s", v, what);
        rk_arg_invalid(cmd, msg);
        return;
    }
    rk_arg_str(cmd, rk_cstr(tokens[v - 1]));
}

long long rk_command_block_seconds(double timeout) {
    double ms = ceil(timeout * 1000);
    /* A time past what long long holds (or infinity) blocks as long as
     * for ever does; the server refuses it anyway. */
    return timeout > 0 && ms < (double)LLONG_MAX ? (long long)ms : -1;
}

long long rk_command_block_ms(long long ms, bool given) {
    if (ms == 0 && !given)
        return 0;
    return ms > 0 ? ms : -1;
}

/* ---- the public side ------------------------------------------------- */

static bool built(const rk_command *cmd) {
    return cmd != NULL && rk_command_cin(cmd)->magic == RK_COMMAND_BUILT;
}

void rk_command_release(rk_command *cmd) {
    if (!built(cmd))
        return;
    rk_command_int *c = rk_command_in(cmd);
    if (c->argv != c->argv_inline)
        rk_free(c->argv);
    if (c->keys != c->keys_inline)
        rk_free(c->keys);
    while (c->spill) {
        rk_command_chunk *next = c->spill->next;
        rk_free(c->spill);
        c->spill = next;
    }
    c->magic = 0;
    c->argv = c->argv_inline;
    c->keys = c->keys_inline;
    c->argc = c->nkeys = 0;
}

int rk_command_status(const rk_command *cmd) {
    return built(cmd) ? rk_command_cin(cmd)->err : RK_EINVAL;
}

const char *rk_command_name(const rk_command *cmd) {
    return built(cmd) && rk_command_cin(cmd)->name ? rk_command_cin(cmd)->name : "";
}

size_t rk_command_argc(const rk_command *cmd) {
    return built(cmd) ? rk_command_cin(cmd)->argc : 0;
}

rk_str rk_command_arg(const rk_command *cmd, size_t i) {
    if (i >= rk_command_argc(cmd))
        return rk_bin(NULL, 0);
    return rk_command_cin(cmd)->argv[i];
}

size_t rk_command_nkeys(const rk_command *cmd) {
    return built(cmd) ? rk_command_cin(cmd)->nkeys : 0;
}

rk_str rk_command_key(const rk_command *cmd, size_t i) {
    if (i >= rk_command_nkeys(cmd))
        return rk_bin(NULL, 0);
    const rk_command_int *c = rk_command_cin(cmd);
    return c->argv[c->keys[i]];
}

/* ---- for runners ----------------------------------------------------- */

int rk_command_ready(rk_command *cmd, rk_command_int **out) {
    *out = NULL;
    if (cmd == NULL)
        return rk_fail(RK_EINVAL, "NULL command");
    if (!built(cmd))
        return rk_fail(RK_EINVAL, "not a built command (already run or released, or never built)");
    rk_command_int *c = rk_command_in(cmd);
    if (c->err != RK_OK)
        return rk_fail(c->err, "%s", c->msg);
    if (c->argc == 0)
        return rk_fail(RK_EINVAL, "%s: a command needs at least one argument", c->name);
    *out = c;
    return RK_OK;
}

/* The one rule for nil across typed commands: a nil reply (a missing key,
 * SET NX that did not set, a blocking pop that timed out) is RK_NIL, a
 * positive code, whatever the runner. */
RK_HOT int rk_shape_finish(const char *shape, int rc, rk_reply *reply) {
    if (rc == RK_OK && shape != NULL)
        rc = rk_reshape(reply, shape);
    return rc == RK_OK && reply->type_ == RK_REPLY_NIL ? RK_NIL : rc;
}

int rk_command_finish(const rk_command_int *cmd, int rc, rk_reply *reply) {
    return rk_shape_finish(cmd->shape, rc, reply);
}

RK_HOT int rk_command_run_with(void *target, const char *what, rk_command *cmd, rk_reply *reply,
                               rk_command_send_fn send) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    memset(out, 0, sizeof(*out));
    rk_command_int *c;
    int rc = rk_command_ready(cmd, &c);
    if (rc == RK_OK && target == NULL)
        rc = rk_fail(RK_EINVAL, "%s: NULL %s", c->name, what);
    if (rc == RK_OK)
        rc = rk_command_finish(c, send(target, c, out), out);
    rk_command_release(cmd);
    if (out == &tmp)
        rk_reply_free(&tmp);
    return rc;
}
