/* rk_client: a thread-safe client over a connection pool, with retries.
 *
 * A call takes a connection (idle, or newly opened in a free slot), encodes
 * the command into it, waits for the reply and gives the connection back,
 * or drops it when broken. Around that, the retry loop decides from what
 * happened whether trying again is safe: never when the command may have
 * run and repeating it could change the result. */
#define _GNU_SOURCE
#include <limits.h>
#include <string.h>

#include "client/client_int.h"
#include "client/pool.h"
#include "client/url.h"
#include "conn/conn_int.h"
#include "conn/options_int.h"
#include "meta/classes.h"
#include "resp/reply_int.h"
#include "resp/writer_int.h"
#include "util/common.h"

struct rk_client {
    rk_options o; /* settled */
    char *storage;
    rk_tls_ctx *tls;
    rk_pool pool;
};

/* ---- life cycle ------------------------------------------------------ */

rk_client *rk_client_new(const rk_options *opts) {
    rk_client *c = rk_calloc(1, sizeof(*c));
    if (c == NULL) {
        rk_fail(RK_ENOMEM, "out of memory creating a client");
        return NULL;
    }
    int rc = rk_options_settle(opts, &c->o, &c->storage);
    if (rc == RK_OK)
        rc = rk_options_tls_ctx(&c->o, &c->tls);
    if (rc == RK_OK)
        rc = rk_pool_init(&c->pool, (size_t)c->o.pool_size);
    if (rc != RK_OK) {
        rk_tls_ctx_free(c->tls);
        rk_options_free_storage(&c->o, c->storage);
        rk_free(c);
        return NULL;
    }
    return c;
}

rk_client *rk_client_new_url(const char *url, const rk_options *base) {
    if (url == NULL) {
        rk_fail(RK_EINVAL, "rk_client_new_url: NULL URL");
        return NULL;
    }
    rk_options o = base ? *base : (rk_options){0};
    char *storage;
    if (rk_url_parse(url, &o, &storage) != RK_OK)
        return NULL;
    rk_client *c = rk_client_new(&o);
    if (o.password && o.password != (base ? base->password : NULL)) /* the URL's: wipe it */
        explicit_bzero((char *)o.password, strlen(o.password));
    rk_free(storage);
    return c;
}

void rk_client_free(rk_client *c) {
    if (c == NULL)
        return;
    rk_pool_destroy(&c->pool);
    rk_tls_ctx_free(c->tls);
    rk_options_free_storage(&c->o, c->storage);
    rk_free(c);
}

const rk_options *rk_client_options(const rk_client *c) {
    if (c == NULL) {
        rk_fail(RK_EINVAL, "rk_client_options: NULL client");
        return NULL;
    }
    return &c->o;
}

void rk_client_pool_stats(rk_client *c, rk_pool_stats *stats) {
    if (stats == NULL) {
        rk_fail(RK_EINVAL, "rk_client_pool_stats: NULL stats");
        return;
    }
    if (c == NULL) {
        memset(stats, 0, sizeof(*stats));
        rk_fail(RK_EINVAL, "rk_client_pool_stats: NULL client");
        return;
    }
    rk_pool_get_stats(&c->pool, stats);
}

/* The answer of a call that cannot start: *reply (when given) nil and
 * RK_EINVAL saying why. */
static int refuse_call(rk_reply *reply, const char *why) {
    if (reply)
        memset(reply, 0, sizeof(*reply));
    return rk_fail(RK_EINVAL, "%s", why);
}

/* ---- connections ----------------------------------------------------- */

/* How long to wait for a pooled connection: the pool timeout, or less when
 * the call's deadline comes first. */
static int pool_wait(const rk_client *c, int64_t deadline) {
    int wait = c->o.pool_timeout_ms;
    if (deadline < 0)
        return wait;
    int64_t left = RK_MAX(deadline - rk_now_ms(), 0);
    return (wait < 0 || left < wait) ? (int)RK_MIN(left, (int64_t)INT_MAX) : wait;
}

/* rk_client_acquire within deadline (an absolute rk_now_ms time; negative:
 * the pool and connect timeouts apply, and the command timeout to the
 * health check). A pooled connection that fails its idle check is dropped
 * for the next one, unless the check used up the call's time. */
static int acquire_until(rk_client *c, rk_conn **out, int64_t deadline) {
    *out = NULL;
    for (;;) {
        rk_conn *conn;
        int rc = rk_pool_take(&c->pool, pool_wait(c, deadline), &conn);
        if (rc != RK_OK)
            return rc;
        if (conn != NULL) {
            rc = rk_conn_check_idle(conn, deadline);
            if (rc == RK_OK) {
                *out = conn;
                return RK_OK;
            }
            rk_pool_drop(&c->pool, conn); /* went bad while idle: next */
            if (deadline >= 0 && rk_now_ms() >= deadline)
                return rc;
            continue;
        }
        conn = rk_conn_new_shared(&c->o, c->tls);
        if (conn == NULL) {
            rk_pool_drop(&c->pool, NULL);
            return rk_error_last()->code;
        }
        rk_pool_created(&c->pool, conn);
        rc = rk_conn_connect_until(conn, deadline);
        if (rc != RK_OK) {
            rk_pool_drop(&c->pool, conn);
            return rc;
        }
        *out = conn;
        return RK_OK;
    }
}

int rk_client_acquire(rk_client *c, rk_conn **out) {
    if (out == NULL)
        return rk_fail(RK_EINVAL, "rk_client_acquire: NULL connection pointer");
    if (c == NULL) {
        *out = NULL;
        return rk_fail(RK_EINVAL, "rk_client_acquire: NULL client");
    }
    return acquire_until(c, out, -1);
}

/* Pools conn again unless it is broken, has replies unread or commands
 * unsent, or was left in a mode a later call would trip on (see
 * rk_conn_poolable): MONITOR, a subscription, CLIENT REPLY OFF/SKIP. */
void rk_client_release(rk_client *c, rk_conn *conn) {
    if (conn == NULL)
        return;
    if (c == NULL) {
        rk_fail(RK_EINVAL, "rk_client_release: NULL client; the connection is not freed");
        return;
    }
    if (!rk_conn_is_ready(conn) || !rk_conn_poolable(conn) || rk_conn_pending(conn) > 0 ||
        rk_writer_pending(rk_conn_writer(conn)) > 0) {
        rk_pool_drop(&c->pool, conn);
        return;
    }
    rk_conn_touch(conn);
    rk_conn_set_timeout(conn, c->o.command_timeout_ms); /* undo a borrower's */
    rk_pool_put(&c->pool, conn);
}

/* ---- retry decisions ------------------------------------------------- */

static bool reply_prefix(const rk_reply *r, const char *prefix) {
    size_t n = strlen(prefix);
    return rk_reply_len(r) > n && memcmp(rk_reply_str(r), prefix, n) == 0 &&
           rk_reply_str(r)[n] == ' ';
}

/* Errors from the server that mean the command did not run. */
static bool retryable_reply(const rk_client *c, const rk_reply *r) {
    unsigned on = c->o.retry.on_errors;
    if (on & RK_RETRY_NO_ERRORS)
        return false;
    return ((on & RK_RETRY_LOADING) && reply_prefix(r, "LOADING")) ||
           ((on & RK_RETRY_MASTERDOWN) && reply_prefix(r, "MASTERDOWN")) ||
           ((on & RK_RETRY_TRYAGAIN) && reply_prefix(r, "TRYAGAIN"));
}

/* What one attempt did, for deciding on the next. */
typedef struct attempt {
    int rc;
    bool sent; /* some bytes of the command reached the socket */
} attempt;

static bool should_retry(const rk_client *c, const attempt *a, const rk_reply *reply, bool safe) {
    if (a->rc == RK_ESERVER)
        return retryable_reply(c, reply);
    if (!rk_connection_failure(a->rc))
        return false;
    return !a->sent || safe;
}

static unsigned *jitter_seed(void) {
    static _Thread_local unsigned seed;
    if (seed == 0)
        seed = (unsigned)rk_now_us() ^ (unsigned)(uintptr_t)&seed;
    return &seed;
}

/* ---- calls ----------------------------------------------------------- */

/* How a call's command is encoded; called again for every attempt. Each
 * encoding is judged as built (*flags gets its RK_CMD_* bits): a command
 * that would change its pooled connection's state is taken back out of
 * the queue and refused. */
typedef struct encoder {
    int (*encode)(const struct encoder *e, rk_writer *w);
    int argc;
    const char *const *argv;
    const size_t *argvlen;
    const char *fmt;
    va_list *ap;
    unsigned *flags;
} encoder;

/* A one-shot call runs on whichever pooled connection is free, so a
 * command that changes its connection's state would leak into later
 * calls (MULTI would make them QUEUED, SELECT move them to another db). */
static int refuse_stateful(void) {
    return rk_fail(RK_EINVAL, "this command changes the state of its connection and cannot run "
                              "on a pooled call: use rk_pipeline for MULTI/EXEC and WATCH, "
                              "rk_pubsub for subscriptions, options for AUTH/SELECT/HELLO, or "
                              "rk_client_acquire for a connection of your own");
}

static int judge(const encoder *e, rk_writer *w, int rc) {
    if (rc != RK_OK)
        return rc;
    *e->flags = rk_writer_last_flags(w, RK_CMD_SAFE | RK_CMD_STATEFUL);
    if (!(*e->flags & RK_CMD_STATEFUL))
        return RK_OK;
    rk_writer_unqueue_last(w);
    return refuse_stateful();
}

static int encode_argv(const encoder *e, rk_writer *w) {
    return judge(e, w, rk_writer_argv(w, e->argc, e->argv, e->argvlen));
}

static int encode_format(const encoder *e, rk_writer *w) {
    va_list aq;
    va_copy(aq, *e->ap);
    int rc = rk_writer_vformat(w, e->fmt, aq);
    va_end(aq);
    return judge(e, w, rc);
}

/* One attempt: take a connection, send, read, give it back. A per-call
 * timeout bounds all of it, waiting for the pool and connecting included;
 * the command timeout starts when the command is sent. */
static attempt try_once(rk_client *c, const encoder *e, rk_reply *reply, int timeout_ms) {
    attempt a = {0};
    rk_conn *conn;
    int64_t deadline = rk_net_deadline(timeout_ms); /* -1 without one */
    a.rc = acquire_until(c, &conn, deadline);
    if (a.rc != RK_OK)
        return a;
    uint64_t before = rk_conn_bytes_sent(conn);
    a.rc = e->encode(e, rk_conn_writer(conn));
    if (a.rc == RK_OK) {
        rk_conn_queued(conn, 1);
        a.rc = rk_conn_roundtrip(conn, reply, deadline >= 0 ? deadline : rk_conn_deadline(conn, 0));
    }
    a.sent = rk_conn_bytes_sent(conn) != before;
    rk_client_release(c, conn);
    return a;
}

static int call(rk_client *c, rk_reply *reply, const rk_call_opts *opts, encoder *e) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    const rk_retry *policy = &c->o.retry;
    int attempts = (opts && opts->no_retry) ? 1 : policy->attempts;
    int timeout = opts ? opts->timeout_ms : 0;
    unsigned flags = 0;
    e->flags = &flags;
    int delay = 0;
    attempt a;
    for (int n = 1;; n++) {
        memset(out, 0, sizeof(*out));
        a = try_once(c, e, out, timeout);
        bool safe = (flags & RK_CMD_SAFE) || (opts && opts->idempotent);
        if (n >= attempts || !should_retry(c, &a, out, safe))
            break;
        rk_reply_free(out);
        rk_retry_pause(policy, n, &delay, jitter_seed(), a.rc);
    }
    if (out == &tmp)
        rk_reply_free(&tmp);
    return a.rc;
}

int rk_client_call_argv_opts(rk_client *c, rk_reply *reply, const rk_call_opts *opts, int argc,
                             const char *const *argv, const size_t *argvlen) {
    if (c == NULL)
        return refuse_call(reply, "NULL client");
    if (argc < 1 || argv == NULL)
        return refuse_call(reply, "a command needs at least one argument");
    encoder e = {.encode = encode_argv, .argc = argc, .argv = argv, .argvlen = argvlen};
    return call(c, reply, opts, &e);
}

int rk_client_call_argv(rk_client *c, rk_reply *reply, int argc, const char *const *argv,
                        const size_t *argvlen) {
    return rk_client_call_argv_opts(c, reply, NULL, argc, argv, argvlen);
}

int rk_client_call_args(rk_client *c, rk_reply *reply, const char *arg0, ...) {
    const char *argv[64];
    va_list ap;
    va_start(ap, arg0);
    int argc = rk_collect_args(arg0, ap, argv, (int)RK_ARRAY_LEN(argv));
    va_end(ap);
    if (argc < 0) {
        if (reply)
            memset(reply, 0, sizeof(*reply));
        return argc;
    }
    return rk_client_call_argv_opts(c, reply, NULL, argc, argv, NULL);
}

int rk_client_vcall(rk_client *c, rk_reply *reply, const char *fmt, va_list ap) {
    if (c == NULL)
        return refuse_call(reply, "NULL client");
    if (fmt == NULL)
        return refuse_call(reply, "NULL command format");
    va_list aq;
    va_copy(aq, ap);
    encoder e = {.encode = encode_format, .fmt = fmt, .ap = &aq};
    int rc = call(c, reply, NULL, &e);
    va_end(aq);
    return rc;
}

int rk_client_call(rk_client *c, rk_reply *reply, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_client_vcall(c, reply, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- internal accessors (client/client_int.h) ------------------------ */

void rk_client_settled(const rk_client *c, const rk_options **opts, rk_tls_ctx **tls) {
    *opts = &c->o;
    *tls = c->tls;
}
