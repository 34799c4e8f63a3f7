/* Building and running the typed commands (see cmd_int.h).
 *
 * The argument vector lives in the rk_cmd on the caller's stack while it
 * has at most RK_CMD_INLINE_ARGS entries, then moves to the heap. Numbers
 * are formatted into rk_cmd.nums and, past that, into chunks that never
 * move, so argv may point at them. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/cmd_int.h"
#include "conn/conn_int.h"
#include "resp/reply_int.h"
#include "resp/resp_int.h"
#include "util/common.h"

struct rk_cmd_chunk {
    rk_cmd_chunk *next;
    size_t used;
    char data[1024];
};

/* Longest formatted number: "%.17g" of a double, or a long long. */
#define NUM_MAX 32
_Static_assert(NUM_MAX >= RK_DOUBLE_TEXT, "room for rk_fmt_double");

void rk_cmd_init(rk_cmd *cmd, const char *name) {
    cmd->argc = 0;
    cmd->cap = RK_CMD_INLINE_ARGS;
    cmd->argv = cmd->argv_inline;
    cmd->err = RK_OK;
    cmd->name = name;
    cmd->shape = NULL;
    cmd->block_ms = 0;
    cmd->nums_used = 0;
    cmd->spill = NULL;
}

void rk_cmd_start(rk_cmd *cmd, const char *name) {
    rk_cmd_init(cmd, name);
    const char *word = name;
    for (const char *p = name;; p++) { /* one pass, no strcspn: every typed call */
        if (*p != ' ' && *p != '\0')
            continue;
        if (p > word || *p == ' ')
            rk_cmd_str(cmd, word, (size_t)(p - word));
        if (*p == '\0')
            break;
        word = p + 1;
    }
}

void rk_cmd_release(rk_cmd *cmd) {
    if (cmd->argv != cmd->argv_inline)
        rk_free(cmd->argv);
    while (cmd->spill) {
        rk_cmd_chunk *next = cmd->spill->next;
        rk_free(cmd->spill);
        cmd->spill = next;
    }
    cmd->argv = cmd->argv_inline;
    cmd->argc = 0;
}

static void fail(rk_cmd *cmd, int code, const char *msg) {
    if (cmd->err != RK_OK)
        return;
    cmd->err = code;
    rk_fail(code, "%s: %s", cmd->name, msg);
}

void rk_cmd_invalid(rk_cmd *cmd, const char *msg) {
    fail(cmd, RK_EINVAL, msg);
}

static bool grow(rk_cmd *cmd) {
    int cap = cmd->cap * 2;
    rk_str *argv = rk_malloc((size_t)cap * sizeof(*argv));
    if (argv == NULL) {
        fail(cmd, RK_ENOMEM, "out of memory building the command");
        return false;
    }
    memcpy(argv, cmd->argv, (size_t)cmd->argc * sizeof(*argv));
    if (cmd->argv != cmd->argv_inline)
        rk_free(cmd->argv);
    cmd->argv = argv;
    cmd->cap = cap;
    return true;
}

void rk_cmd_str(rk_cmd *cmd, const char *s, size_t len) {
    if (cmd->err != RK_OK)
        return;
    if (s == NULL) {
        fail(cmd, RK_EINVAL, "a required string argument is NULL");
        return;
    }
    if (cmd->argc == cmd->cap && !grow(cmd))
        return;
    cmd->argv[cmd->argc++] = rk_bin(s, len == RK_CSTR ? strlen(s) : len);
}

/* Room for one formatted number that stays where it is. */
static char *num_room(rk_cmd *cmd) {
    if (cmd->nums_used + NUM_MAX <= sizeof(cmd->nums)) {
        char *p = cmd->nums + cmd->nums_used;
        cmd->nums_used += NUM_MAX;
        return p;
    }
    if (cmd->spill == NULL || cmd->spill->used + NUM_MAX > sizeof(cmd->spill->data)) {
        rk_cmd_chunk *c = rk_malloc(sizeof(*c));
        if (c == NULL) {
            fail(cmd, RK_ENOMEM, "out of memory building the command");
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

void rk_cmd_int(rk_cmd *cmd, long long v) {
    char *p = cmd->err == RK_OK ? num_room(cmd) : NULL;
    if (p != NULL)
        rk_cmd_str(cmd, p, rk_fmt_ll(p, v));
}

void rk_cmd_uint(rk_cmd *cmd, unsigned long long v) {
    char *p = cmd->err == RK_OK ? num_room(cmd) : NULL;
    if (p != NULL)
        rk_cmd_str(cmd, p, rk_fmt_ull(p, v));
}

/* Doubles go out in the shortest form that reads back the same, and
 * infinities as Redis spells them. NaN is refused: no command takes it. */
void rk_cmd_double(rk_cmd *cmd, double v) {
    if (cmd->err != RK_OK)
        return;
    if (isnan(v)) {
        fail(cmd, RK_EINVAL, "NaN is not a valid number argument");
        return;
    }
    if (isinf(v)) {
        rk_cmd_str(cmd, v > 0 ? "+inf" : "-inf", 4);
        return;
    }
    char *p = num_room(cmd);
    if (p != NULL)
        rk_cmd_str(cmd, p, rk_fmt_double(p, v));
}

/* A list's checks: n > 0 needs an array. */
static bool list_ok(rk_cmd *cmd, const char *what, const void *v, size_t n) {
    if (cmd->err != RK_OK)
        return false;
    if (n == 0 || v != NULL)
        return true;
    char msg[96];
    snprintf(msg, sizeof msg, "%s list is NULL", what);
    fail(cmd, RK_EINVAL, msg);
    return false;
}

void rk_cmd_strs(rk_cmd *cmd, const char *what, const char *each, const char *const *v,
                 const size_t *lens, size_t n) {
    if (!list_ok(cmd, what, v, n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (each)
            rk_cmd_str(cmd, each, RK_CSTR);
        rk_cmd_str(cmd, v[i], lens ? lens[i] : RK_CSTR);
    }
}

void rk_cmd_ints(rk_cmd *cmd, const char *what, const char *each, const long long *v, size_t n) {
    if (!list_ok(cmd, what, v, n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (each)
            rk_cmd_str(cmd, each, RK_CSTR);
        rk_cmd_int(cmd, v[i]);
    }
}

void rk_cmd_doubles(rk_cmd *cmd, const char *what, const char *each, const double *v, size_t n) {
    if (!list_ok(cmd, what, v, n))
        return;
    for (size_t i = 0; i < n; i++) {
        if (each)
            rk_cmd_str(cmd, each, RK_CSTR);
        rk_cmd_double(cmd, v[i]);
    }
}

void rk_cmd_choice(rk_cmd *cmd, int v, const char *const *tokens, int n, const char *what) {
    if (v < 1 || v > n) {
        if (cmd->err == RK_OK) {
            cmd->err = RK_EINVAL;
            rk_fail(RK_EINVAL, "%s: %d is not a valid %s", cmd->name, v, what);
        }
        return;
    }
    rk_cmd_str(cmd, tokens[v - 1], RK_CSTR);
}

long long rk_cmd_block_seconds(double timeout) {
    double ms = ceil(timeout * 1000);
    /* A time past what long long holds (or infinity) blocks as long as
     * for ever does; the server refuses it anyway. */
    return timeout > 0 && ms < (double)LLONG_MAX ? (long long)ms : -1;
}

long long rk_cmd_block_ms(long long ms, bool given) {
    if (ms == 0 && !given)
        return 0;
    return ms > 0 ? ms : -1;
}

/* ---- running ---------------------------------------------------------- */

/* A blocking command may hold its reply back for block_ms: the call's
 * timeout, when the client has one, is stretched by that much. */
static int call_timeout(rk_client *client, const rk_cmd *cmd) {
    int base = rk_client_options(client)->command_timeout_ms;
    if (cmd->block_ms == 0 || base <= 0)
        return 0;
    if (cmd->block_ms < 0 || cmd->block_ms > INT_MAX - base)
        return INT_MAX;
    return base + (int)cmd->block_ms;
}

/* Sends cmd and reads its reply into *reply (never NULL here). */
static int run(rk_target t, rk_cmd *cmd, rk_reply *reply) {
    int rc;
    if (t.conn == NULL && t.client == NULL)
        return rk_fail(RK_EINVAL, "%s: no client or connection to run on", cmd->name);
    if (t.conn != NULL) {
        rc = rk_conn_call_argv(t.conn, reply, cmd->argv, (size_t)cmd->argc);
    } else {
        rk_call_opts opts = {.timeout_ms = call_timeout(t.client, cmd)};
        rc = rk_client_call_argv_opts(t.client, reply, &opts, cmd->argv, (size_t)cmd->argc);
    }
    if (rc == RK_OK && cmd->shape != NULL)
        rc = rk_reshape(reply, cmd->shape);
    return rc;
}

/* The one rule for nil across typed commands: a nil reply (a missing key,
 * SET NX that did not set, a blocking pop that timed out) is RK_NIL, a
 * positive code, whatever the runner. */
static int nil_rule(int rc, const rk_reply *r) {
    return rc == RK_OK && r->type_ == RK_REPLY_NIL ? RK_NIL : rc;
}

int rk_cmd_reply(rk_target t, rk_cmd *cmd, int rc, rk_reply *reply) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    memset(out, 0, sizeof(*out));
    if (rc == RK_OK)
        rc = nil_rule(run(t, cmd, out), out);
    rk_cmd_release(cmd);
    if (out == &tmp)
        rk_reply_free(&tmp);
    return rc;
}

/* A reply of a type the command never sends. */
static int unexpected(const rk_cmd *cmd, const rk_reply *r, const char *want) {
    return rk_fail(RK_EPROTO, "%s: expected %s, got a %s reply", cmd->name, want,
                   rk_type_name(rk_reply_type(r)));
}

int rk_cmd_ok(rk_target t, rk_cmd *cmd, int rc) {
    rk_reply r = {0};
    if (rc == RK_OK)
        rc = nil_rule(run(t, cmd, &r), &r);
    if (rc == RK_OK && r.type_ != RK_REPLY_STATUS)
        rc = unexpected(cmd, &r, "a status");
    rk_cmd_release(cmd);
    rk_reply_free(&r);
    return rc;
}

int rk_cmd_integer(rk_target t, rk_cmd *cmd, int rc, long long *out) {
    rk_reply r = {0};
    if (rc == RK_OK)
        rc = nil_rule(run(t, cmd, &r), &r);
    if (rc == RK_OK) {
        if (r.type_ == RK_REPLY_INTEGER) {
            if (out)
                *out = r.u_.integer;
        } else {
            rc = unexpected(cmd, &r, "an integer");
        }
    }
    rk_cmd_release(cmd);
    rk_reply_free(&r);
    return rc;
}

int rk_cmd_number(rk_target t, rk_cmd *cmd, int rc, double *out) {
    rk_reply r = {0};
    if (rc == RK_OK)
        rc = nil_rule(run(t, cmd, &r), &r);
    if (rc == RK_OK) {
        if (r.type_ == RK_REPLY_DOUBLE || r.type_ == RK_REPLY_INTEGER) {
            if (out)
                *out = rk_reply_double(&r);
        } else {
            rc = unexpected(cmd, &r, "a number");
        }
    }
    rk_cmd_release(cmd);
    rk_reply_free(&r);
    return rc;
}

int rk_cmd_string(rk_target t, rk_cmd *cmd, int rc, char **out, size_t *len) {
    rk_reply r = {0};
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (rc == RK_OK)
        rc = nil_rule(run(t, cmd, &r), &r);
    if (rc == RK_OK) {
        if (r.type_ == RK_REPLY_STRING || r.type_ == RK_REPLY_STATUS ||
            r.type_ == RK_REPLY_VERBATIM) {
            if (len)
                *len = r.len_;
            if (out && (*out = rk_reply_take_str(&r)) == NULL)
                rc = rk_fail(RK_ENOMEM, "out of memory copying a %zu-byte reply", r.len_);
        } else {
            rc = unexpected(cmd, &r, "a string");
        }
    }
    rk_cmd_release(cmd);
    rk_reply_free(&r);
    return rc;
}

int rk_cmd_queue(rk_pipeline *p, rk_cmd *cmd, int rc) {
    if (rc == RK_OK && p == NULL)
        rc = rk_fail(RK_EINVAL, "%s: no pipeline to queue in", cmd->name);
    if (rc == RK_OK)
        rc = rk_pipeline_append_shaped(p, cmd->argv, (size_t)cmd->argc, cmd->shape);
    rk_cmd_release(cmd);
    return rc;
}
