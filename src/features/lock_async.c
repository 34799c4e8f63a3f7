/* The distributed lock from the async client: rk_lock's semantics and
 * commands (lock_int.h), each operation submitted to the rk_async and
 * completed through the caller's callback. A blocking acquire tries again
 * every sleep_ms through the engine's delayed calls (async/later.h), so
 * the loop never waits. Scripts go by EVALSHA, and by EVAL after a
 * NOSCRIPT answer. One operation at a time per lock.
 *
 * A lock freed while its command is in flight completes the operation at
 * once (RK_ECANCELED) and lives on as an orphan until the command
 * completes: then it frees itself, releasing first an acquire that won
 * (or may have). */
#include <stdio.h>
#include <string.h>

#include "async/later.h"
#include "features/lock_int.h"
#include "rediskit/lock.h"
#include "util/common.h"

enum op { OP_NONE, OP_ACQUIRE, OP_RELEASE, OP_EXTEND };

struct rk_async_lock {
    rk_async *ac;
    rk_lock_opts o; /* settled; o.fence_key points into the block below */
    const char *name;
    char token[RK_LOCK_TOKEN_SIZE]; /* "" when not held */
    long long fence;
    /* The operation in progress (op OP_NONE: none). */
    int op;
    rk_async_lock_fn cb;
    void *ud;
    char op_token[RK_LOCK_TOKEN_SIZE]; /* the acquire's new token, the release's old one */
    long long ms;                      /* an extend's */
    bool replace;
    int64_t deadline; /* a blocking acquire gives up then; 0: never */
    int64_t retry;    /* its delayed try, 0 none */
    bool eval;        /* resend the script by EVAL (NOSCRIPT) */
    bool orphan;      /* freed; its command is in flight */
    bool freeing;     /* inside rk_async_lock_free */
    /* name and fence key follow, NUL-terminated */
};

static bool held(const rk_async_lock *l) {
    return l->token[0] != '\0';
}

static void on_reply(rk_async *ac, int status, rk_reply *reply, void *ud);

/* Submits c with on_reply (a script by EVALSHA, or EVAL once the server
 * said NOSCRIPT). on_reply may run before this returns; the caller must
 * not touch the lock after RK_OK. */
static int send_cmd(rk_async_lock *l, const rk_lock_cmd *c, rk_async_fn done, void *ud) {
    rk_str argv[RK_ARRAY_LEN(c->keys) + RK_ARRAY_LEN(c->args) + 3];
    size_t n = 0;
    char nkeys[8];
    if (c->script) {
        size_t len;
        const char *src = rk_script_source(c->script, &len);
        argv[n++] = l->eval ? RK_STR("EVAL") : RK_STR("EVALSHA");
        argv[n++] = l->eval ? rk_bin(src, len) : rk_cstr(rk_script_sha(c->script));
        snprintf(nkeys, sizeof nkeys, "%zu", c->nkeys);
        argv[n++] = rk_cstr(nkeys);
    }
    memcpy(argv + n, c->keys, c->nkeys * sizeof(*argv));
    n += c->nkeys;
    memcpy(argv + n, c->args, c->nargs * sizeof(*argv));
    n += c->nargs;
    rk_async_call call = {.callback = done, .userdata = ud};
    rk_async_id id = rk_async_submit(l->ac, &call, argv, n);
    return id > 0 ? RK_OK : (int)id;
}

static void ignore_reply(rk_async *ac, int status, rk_reply *reply, void *ud) {
    (void)ac, (void)status, (void)reply, (void)ud;
}

/* After an acquire that may have taken the lock for nobody: deletes the
 * key if it holds token, by EVAL (no NOSCRIPT round), answer unread. The
 * error detail of the failure being reported is kept. */
static void abandon(rk_async_lock *l, const char *token) {
    char msg[256];
    int code = rk_error_last()->code;
    snprintf(msg, sizeof msg, "%s", rk_error_last()->message);
    rk_lock_cmd c;
    rk_lock_release_cmd(&c, l->name, token);
    l->eval = true;
    send_cmd(l, &c, ignore_reply, NULL);
    rk_fail(code, "%s", msg);
}

/* Ends the operation: its callback runs last (it may free the lock). */
static void complete(rk_async_lock *l, int status) {
    rk_async_lock_fn cb = l->cb;
    void *ud = l->ud;
    l->op = OP_NONE;
    l->eval = false;
    l->retry = 0;
    cb(l, status, ud);
}

/* Sends the command of the operation in progress; RK_OK or the refusal. */
static int send_op(rk_async_lock *l) {
    rk_lock_cmd c;
    switch (l->op) {
    case OP_ACQUIRE:
        rk_lock_acquire_cmd(&c, l->name, l->o.fencing ? l->o.fence_key : NULL, l->op_token,
                            l->o.ttl_ms);
        break;
    case OP_RELEASE: rk_lock_release_cmd(&c, l->name, l->op_token); break;
    case OP_EXTEND: rk_lock_extend_cmd(&c, l->name, l->token, l->ms, l->replace); break;
    default: return rk_fail(RK_EINVAL, "no lock operation in progress");
    }
    return send_cmd(l, &c, on_reply, l);
}

/* The integer a script answered, into *answer; status, or RK_EPROTO (a
 * nil answer included). */
static int script_answer(int status, const rk_reply *reply, long long *answer) {
    if (status != RK_OK && status != RK_NIL)
        return status;
    if (rk_reply_type(reply) != RK_REPLY_INTEGER)
        return rk_fail(RK_EPROTO, "lock script answered a %s, not an integer",
                       rk_type_name(rk_reply_type(reply)));
    *answer = rk_reply_int(reply);
    return RK_OK;
}

/* ---- acquire ------------------------------------------------------------ */

static void retry_acquire(rk_async *ac, int status, void *ud) {
    rk_async_lock *l = ud;
    (void)ac;
    l->retry = 0;
    if (status == RK_OK)
        status = send_op(l);
    else
        rk_fail(status, "the async client was freed while lock \"%s\" waited", l->name);
    if (status != RK_OK)
        complete(l, status);
}

/* Held elsewhere: RK_ELOCKED now, or another try after sleep_ms (or what
 * is left of the wait). */
static void acquire_later(rk_async_lock *l) {
    int64_t now = rk_now_ms();
    if (l->o.non_blocking || (l->deadline && now >= l->deadline)) {
        complete(l, rk_lock_locked_elsewhere(l->name, &l->o));
        return;
    }
    int delay = l->deadline ? (int)RK_MIN(l->o.sleep_ms, l->deadline - now) : l->o.sleep_ms;
    int64_t id = rk_async_later(l->ac, delay, retry_acquire, l);
    if (id < 0) {
        complete(l, (int)id);
        return;
    }
    l->retry = id;
}

/* The acquire's answer: won (OK, or a fencing token), held elsewhere (nil,
 * RK_NIL; or 0), or a failure (released when the SET may have run). */
static void acquire_done(rk_async_lock *l, int status, const rk_reply *reply) {
    long long fence = 0;
    if (l->o.fencing) {
        status = script_answer(status, reply, &fence);
        if (status == RK_OK)
            status = rk_lock_fence_answer(l->name, fence);
    } else {
        status = rk_lock_set_answer(l->name, status, reply);
    }
    if (status == RK_ELOCKED) {
        acquire_later(l);
    } else if (status != RK_OK) {
        if (rk_lock_may_have_run(status) || status == RK_ECANCELED)
            abandon(l, l->op_token);
        complete(l, status);
    } else {
        memcpy(l->token, l->op_token, sizeof l->token);
        l->fence = fence;
        complete(l, RK_OK);
    }
}

/* ---- the replies ---------------------------------------------------------- */

static bool noscript(int status, const rk_reply *reply) {
    return status == RK_ESERVER && rk_reply_len(reply) >= 8 &&
           memcmp(rk_reply_str(reply), "NOSCRIPT", 8) == 0;
}

/* An orphan's command completed: an acquire may hold the lock for
 * nobody, so it is released by token (harmless when it does not), and the
 * orphan goes. */
static void orphan_done(rk_async_lock *l) {
    if (l->op == OP_ACQUIRE)
        abandon(l, l->op_token);
    rk_free(l);
}

static void on_reply(rk_async *ac, int status, rk_reply *reply, void *ud) {
    rk_async_lock *l = ud;
    long long answer = 0;
    (void)ac;
    if (l->orphan) {
        orphan_done(l);
        return;
    }
    if (noscript(status, reply) && !l->eval) {
        l->eval = true;
        int rc = send_op(l);
        if (rc != RK_OK)
            complete(l, rc);
        return;
    }
    switch (l->op) {
    case OP_ACQUIRE: acquire_done(l, status, reply); return;
    case OP_RELEASE:
        status = script_answer(status, reply, &answer);
        complete(l, status == RK_OK ? rk_lock_release_answer(l->name, answer) : status);
        return;
    default:
        status = script_answer(status, reply, &answer);
        complete(l, status == RK_OK ? rk_lock_extend_answer(l->name, answer) : status);
        return;
    }
}

/* ---- the public side ------------------------------------------------------ */

rk_async_lock *(rk_async_lock_new)(rk_async *ac, const char *name, const rk_lock_opts *opts,
                                   size_t opts_size) {
    rk_lock_opts o;
    size_t names_size = 0;
    if (ac == NULL) {
        rk_fail(RK_EINVAL, "a lock needs a client and a non-empty name");
        return NULL;
    }
    if (rk_lock_settle(&o, opts, opts_size, name, &names_size) != RK_OK)
        return NULL;
    if (o.watchdog) {
        rk_fail(RK_EINVAL, "the async lock has no watchdog: extend it from a timer");
        return NULL;
    }
    rk_async_lock *l = rk_calloc(1, sizeof(*l) + names_size);
    if (l == NULL) {
        rk_fail(RK_ENOMEM, "out of memory making a lock");
        return NULL;
    }
    l->name = rk_lock_copy_names((char *)(l + 1), name, &o);
    l->ac = ac;
    l->o = o;
    return l;
}

void rk_async_lock_free(rk_async_lock *l) {
    if (l == NULL || l->freeing)
        return;
    if (l->op == OP_NONE) {
        rk_free(l);
        return;
    }
    l->freeing = true;
    bool waiting = l->retry != 0; /* no command in flight */
    if (waiting)
        rk_async_later_cancel(l->ac, l->retry);
    l->orphan = !waiting;
    rk_async_lock_fn cb = l->cb;
    rk_fail(RK_ECANCELED, "lock \"%s\" was freed", l->name);
    cb(l, RK_ECANCELED, l->ud);
    if (waiting)
        rk_free(l);
}

/* Starts an operation (checks what every one needs). */
static int begin(rk_async_lock *l, int op, rk_async_lock_fn cb, void *ud) {
    if (l == NULL || cb == NULL || l->freeing)
        return rk_fail(RK_EINVAL, "a lock operation needs a lock and a callback");
    if (l->op != OP_NONE)
        return rk_fail(RK_EINVAL, "lock \"%s\" has an operation in progress", l->name);
    l->op = op;
    l->cb = cb;
    l->ud = ud;
    return RK_OK;
}

/* Sends the operation begun; a refusal ends it (no callback). */
static int start(rk_async_lock *l) {
    int rc = send_op(l);
    if (rc != RK_OK)
        l->op = OP_NONE;
    return rc;
}

int rk_async_lock_acquire(rk_async_lock *l, rk_async_lock_fn cb, void *userdata) {
    int rc = begin(l, OP_ACQUIRE, cb, userdata);
    if (rc != RK_OK)
        return rc;
    if (held(l))
        rc = rk_fail(RK_EINVAL, "lock \"%s\" is held by this object already", l->name);
    if (rc == RK_OK)
        rc = rk_lock_new_token(l->op_token);
    if (rc != RK_OK) {
        l->op = OP_NONE;
        return rc;
    }
    l->deadline = l->o.blocking_timeout_ms ? rk_now_ms() + l->o.blocking_timeout_ms : 0;
    return start(l);
}

int rk_async_lock_release(rk_async_lock *l, rk_async_lock_fn cb, void *userdata) {
    int rc = begin(l, OP_RELEASE, cb, userdata);
    if (rc != RK_OK)
        return rc;
    if (!held(l)) {
        l->op = OP_NONE;
        return rk_fail(RK_ENOTOWNER, "lock \"%s\" is not held by this object", l->name);
    }
    memcpy(l->op_token, l->token, sizeof l->token);
    l->token[0] = '\0';
    l->fence = 0;
    return start(l);
}

int rk_async_lock_extend(rk_async_lock *l, int ms, bool replace_ttl, rk_async_lock_fn cb,
                         void *userdata) {
    int rc = begin(l, OP_EXTEND, cb, userdata);
    if (rc != RK_OK)
        return rc;
    rc = rk_lock_extend_check(l->name, l->o.ttl_ms, ms, held(l));
    if (rc != RK_OK) {
        l->op = OP_NONE;
        return rc;
    }
    l->ms = ms;
    l->replace = replace_ttl;
    return start(l);
}

long long rk_async_lock_fence(const rk_async_lock *l) {
    return l && held(l) ? l->fence : 0;
}

const char *rk_async_lock_token(const rk_async_lock *l) {
    return l && held(l) ? l->token : NULL;
}

const char *rk_async_lock_name(const rk_async_lock *l) {
    return l ? l->name : NULL;
}
