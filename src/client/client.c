/* rk_client: a thread-safe router over the nodes of a topology, one
 * connection pool per node, with retries.
 *
 * A call is routed by the client's topology (client/topology.h) to a node,
 * takes a connection from that node's pool (idle, or newly opened in a free
 * slot), encodes the command into it, waits for the reply and gives the
 * connection back, or drops it when broken. Around that, the retry loop
 * decides from what happened whether trying again is safe: never when the
 * command may have run and repeating it could change the result; always
 * when the server redirected it (MOVED, ASK: it did not run), to the node
 * the redirect names.
 *
 * In RK_MODE_MUX a node also has a multiplexed executor (async/mux.h): an
 * attempt of a command that needs no connection of its own (one that
 * cannot block: stateful ones are refused anyway) is encoded into the
 * calling thread's writer and carried there instead of on a pooled
 * connection, under the same retry loop. The client then counts the calls
 * inside it, so that rk_client_free can stop the executors (their calls
 * complete with RK_ECANCELED) and wait for every caller to leave. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_int.h"
#include "client/node.h"
#include "client/topology.h"
#include "client/url.h"
#include "conn/conn_int.h"
#include "conn/options_int.h"
#include "meta/block.h"
#include "meta/classes.h"
#include "meta/meta.h"
#include "resp/reply_int.h"
#include "resp/writer_int.h"
#include "util/common.h"

/* How many redirects one call follows before giving up with RK_EREDIRECT:
 * a resharding moves a slot once; a loop between nodes is a bug to report,
 * not to follow for ever. */
#define MAX_REDIRECTS 5

struct rk_client {
    rk_options o; /* settled */
    char *storage;
    rk_tls_ctx *tls;
    rk_nodes nodes;
    const rk_topology_ops *topo;
    void *topo_state;
    /* RK_MODE_MUX: calls inside the client, and the free waiting for them
     * to leave (see the top). */
    atomic_int active;
    atomic_bool closing;
    pthread_mutex_t mu;
    pthread_cond_t left;
};

/* ---- life cycle ------------------------------------------------------ */

static int init_waiting(rk_client *c) {
    if (pthread_mutex_init(&c->mu, NULL) != 0)
        return RK_ENOMEM;
    if (pthread_cond_init(&c->left, NULL) == 0)
        return RK_OK;
    pthread_mutex_destroy(&c->mu);
    return RK_ENOMEM;
}

static void destroy_waiting(rk_client *c) {
    pthread_cond_destroy(&c->left);
    pthread_mutex_destroy(&c->mu);
}

static void call_leave(rk_client *c) {
    if (atomic_fetch_sub(&c->active, 1) == 1 && atomic_load(&c->closing)) {
        pthread_mutex_lock(&c->mu);
        pthread_cond_broadcast(&c->left);
        pthread_mutex_unlock(&c->mu);
    }
}

/* A call enters the client (RK_MODE_MUX): false once it is being freed. */
static bool call_enter(rk_client *c) {
    atomic_fetch_add(&c->active, 1);
    if (!atomic_load(&c->closing))
        return true;
    call_leave(c);
    return false;
}

/* Stops the executors (their calls complete with RK_ECANCELED, new ones
 * fail with RK_ECLOSED) and waits until no call is inside the client. */
static void close_calls(rk_client *c) {
    atomic_store(&c->closing, true);
    rk_nodes_stop(&c->nodes);
    pthread_mutex_lock(&c->mu);
    while (atomic_load(&c->active) > 0)
        pthread_cond_wait(&c->left, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

rk_client *(rk_client_new)(const rk_options *opts, size_t opts_size) {
    rk_client *c = rk_calloc(1, sizeof(*c));
    if (c == NULL) {
        rk_fail(RK_ENOMEM, "out of memory creating a client");
        return NULL;
    }
    int rc = rk_options_settle(opts, opts_size, &c->o, &c->storage);
    if (rc == RK_OK)
        rc = rk_options_tls_ctx(&c->o, &c->tls);
    if (rc == RK_OK && init_waiting(c) != RK_OK)
        rc = rk_fail(RK_ENOMEM, "no lock for a client");
    if (rc == RK_OK && (rc = rk_nodes_init(&c->nodes, &c->o, c->tls)) != RK_OK)
        destroy_waiting(c);
    if (rc != RK_OK) {
        rk_tls_ctx_free(c->tls);
        rk_options_free_storage(&c->o, c->storage);
        rk_free(c);
        return NULL;
    }
    c->topo = &rk_topology_standalone;
    return c;
}

rk_client *(rk_client_new_url)(const char *url, const rk_options *base, size_t base_size) {
    if (url == NULL) {
        rk_fail(RK_EINVAL, "rk_client_new_url: NULL URL");
        return NULL;
    }
    rk_options o;
    char *storage;
    if (rk_opts_settle(&o, sizeof(o), base, base_size, "rk_options") != RK_OK)
        return NULL;
    const char *base_password = o.password;
    if (rk_url_parse(url, &o, &storage) != RK_OK)
        return NULL;
    rk_client *c = rk_client_new(&o);
    if (o.password && o.password != base_password) /* the URL's: wipe it */
        explicit_bzero((char *)o.password, strlen(o.password));
    rk_free(storage);
    return c;
}

void rk_client_free(rk_client *c) {
    if (c == NULL)
        return;
    if (c->o.mode == RK_MODE_MUX)
        close_calls(c);
    c->topo->destroy(c->topo_state);
    rk_nodes_destroy(&c->nodes);
    destroy_waiting(c);
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

void(rk_client_pool_stats)(rk_client *c, rk_pool_stats *stats, size_t stats_size) {
    if (stats == NULL) {
        rk_fail(RK_EINVAL, "rk_client_pool_stats: NULL stats");
        return;
    }
    rk_pool_stats s = {0};
    if (c == NULL)
        rk_fail(RK_EINVAL, "rk_client_pool_stats: NULL client");
    else
        rk_nodes_stats(&c->nodes, &s);
    memset(stats, 0, stats_size); /* a newer header's counters: 0 */
    memcpy(stats, &s, RK_MIN(stats_size, sizeof(s)));
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
RK_HOT static int acquire_until(rk_client *c, rk_node *node, rk_conn **out, int64_t deadline) {
    *out = NULL;
    for (;;) {
        rk_conn *conn;
        int rc = rk_pool_take(&node->pool, pool_wait(c, deadline), &conn);
        if (rc != RK_OK)
            return rc;
        if (conn != NULL) {
            rk_conn_set_owner(conn, node); /* lent again (see rk_client_release) */
            rc = rk_conn_check_idle(conn, deadline);
            if (rc == RK_OK) {
                *out = conn;
                return RK_OK;
            }
            rk_pool_drop(&node->pool, conn); /* went bad while idle: next */
            if (deadline >= 0 && rk_now_ms() >= deadline)
                return rc;
            continue;
        }
        conn = rk_conn_new_shared(&node->o, c->tls);
        if (conn == NULL) {
            rk_pool_drop(&node->pool, NULL);
            return rk_error_last()->code;
        }
        rk_pool_created(&node->pool, conn);
        rk_conn_set_owner(conn, node);
        rc = rk_conn_connect_until(conn, deadline);
        if (rc != RK_OK) {
            rk_pool_drop(&node->pool, conn);
            return rc;
        }
        *out = conn;
        return RK_OK;
    }
}

/* The node a command of this slot goes to. */
static rk_node *route_slot(rk_client *c, int slot) {
    rk_route r = {.slot = slot};
    return c->topo->route(c->topo_state, &c->nodes, &r);
}

int rk_client_acquire_for(rk_client *c, int slot, rk_conn **out) {
    return acquire_until(c, route_slot(c, slot), out, -1);
}

int rk_client_acquire(rk_client *c, rk_conn **out) {
    if (out == NULL)
        return rk_fail(RK_EINVAL, "rk_client_acquire: NULL connection pointer");
    if (c == NULL) {
        *out = NULL;
        return rk_fail(RK_EINVAL, "rk_client_acquire: NULL client");
    }
    return rk_client_acquire_for(c, RK_SLOT_NONE, out);
}

/* Pools conn again unless it is broken, has replies unread or commands
 * unsent, holds a reply nobody asked for (rk_conn_has_stray), or was left
 * in a mode a later call would trip on (see rk_conn_poolable). A lent
 * connection's owner is its node and an idle one has none, so one given
 * back twice (two callers would then share it) or never lent (rk_conn_new)
 * is refused, not pushed past the end of the pool; so is one another
 * client lent (its node is not in this client's list). */
RK_HOT void rk_client_release(rk_client *c, rk_conn *conn) {
    if (conn == NULL)
        return;
    if (c == NULL) {
        rk_fail(RK_EINVAL, "rk_client_release: NULL client; the connection is not freed");
        return;
    }
    rk_node *node = rk_conn_owner(conn);
    if (node == NULL || node->nodes != &c->nodes) {
        rk_fail(RK_EINVAL, "rk_client_release: a connection the client did not lend, or one "
                           "given back already; it is left alone");
        return;
    }
    rk_conn_set_owner(conn, NULL);
    rk_pool *pool = &node->pool;
    if (!rk_conn_is_ready(conn) || !rk_conn_poolable(conn) || rk_conn_pending(conn) > 0 ||
        rk_writer_pending(rk_conn_writer(conn)) > 0 || rk_conn_has_stray(conn)) {
        rk_pool_drop(pool, conn);
        return;
    }
    rk_conn_touch(conn);
    rk_conn_set_timeout(conn, c->o.command_timeout_ms); /* undo a borrower's */
    rk_pool_put(pool, conn);
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

static bool should_retry(rk_client *c, const attempt *a, const rk_reply *reply, bool safe) {
    if (atomic_load(&c->closing))
        return false;
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

/* The slot of the keys at these argument indexes: RK_SLOT_CROSS when they
 * are not all in one. */
static int keys_slot(const rk_str *argv, size_t argc, const uint32_t *keys, size_t nkeys) {
    int slot = RK_SLOT_NONE;
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i] >= argc)
            continue;
        int s = rk_key_slot(argv[keys[i]].ptr, argv[keys[i]].len);
        if (slot != RK_SLOT_NONE && s != slot)
            return RK_SLOT_CROSS;
        slot = s;
    }
    return slot;
}

/* How a call's command is encoded; called again for every attempt. Each
 * encoding is judged as built (*flags gets its RK_CMD_* bits): a command
 * that would change its pooled connection's state is taken back out of
 * the queue and refused. */
typedef struct encoder {
    int (*encode)(const struct encoder *e, rk_writer *w);
    const rk_str *argv;
    size_t argc;
    const char *fmt;
    va_list *ap;
    unsigned *flags;
    int slot;                   /* for routing: RK_SLOT_NONE when not known */
    const rk_writer *copy_from; /* encode_copy: len bytes at off there */
    size_t copy_off, copy_len;
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

RK_HOT static int encode_argv(const encoder *e, rk_writer *w) {
    return judge(e, w, rk_writer_argv(w, e->argv, e->argc));
}

RK_HOT static int encode_format(const encoder *e, rk_writer *w) {
    va_list aq;
    va_copy(aq, *e->ap);
    int rc = rk_writer_vformat(w, e->fmt, aq);
    va_end(aq);
    return judge(e, w, rc);
}

/* ---- redirects -------------------------------------------------------- */

/* Where a MOVED or ASK answer sends a command. */
typedef struct redirect {
    rk_node *to;
    int slot;
    bool ask; /* ASK: this command only, after ASKING; MOVED: the slot moved */
} redirect;

/* Whether the n bytes at host can be a host name, an IPv4 address or an
 * IPv6 one (unbracketed, a zone after '%' allowed): what a server names a
 * node with. Anything else (a bracket left open, a space) is not read. */
static bool host_readable(const char *host, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)host[i], lower = ch | 0x20;
        bool word = (ch >= '0' && ch <= '9') || (lower >= 'a' && lower <= 'z');
        if (!(word || ch == '.' || ch == '-' || ch == '_' || ch == ':' || ch == '%'))
            return false;
    }
    return true;
}

/* Reads "MOVED 3999 10.0.0.2:6381" or "ASK 3999 [::1]:6381" (an empty host
 * means the host of the node that answered) into *r, the node made when
 * new. RK_EPROTO for an answer not of that form (a host that is no name
 * nor address); RK_EREDIRECT for the host "?" (a node set to announce a
 * hostname it lacks); RK_EINVAL, RK_ENOMEM or RK_EREDIRECT (too many
 * nodes) from the node list. */
static int read_redirect(rk_client *c, const rk_node *from, const rk_reply *reply, redirect *r) {
    const char *s = rk_reply_str(reply);
    const char *end = s + rk_reply_len(reply);
    r->ask = reply_prefix(reply, "ASK");
    const char *p = s + (r->ask ? 4 : 6);
    char *after;
    errno = 0;
    long slot = strtol(p, &after, 10);
    const char *addr = after + 1;
    if (p >= end || after == p || errno != 0 || slot < 0 || slot >= RK_SLOTS || after >= end ||
        *after != ' ')
        return rk_fail(RK_EPROTO, "cannot read the redirect %.*s", (int)(end - s), s);
    const char *colon = end;
    while (colon > addr && colon[-1] != ':')
        colon--;
    long port = colon > addr ? strtol(colon, &after, 10) : 0;
    if (colon == addr || after != end || port < 1 || port > 65535)
        return rk_fail(RK_EPROTO, "cannot read the address in the redirect %.*s", (int)(end - s),
                       s);
    const char *host = addr;
    size_t host_len = (size_t)(colon - 1 - addr);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (host_len == 1 && host[0] == '?') /* a node set to announce a hostname it lacks */
        return rk_fail(
            RK_EREDIRECT,
            "cannot follow the redirect %.*s: the node has no hostname to announce "
            "(cluster-preferred-endpoint-type hostname without cluster-announce-hostname)",
            (int)(end - s), s);
    if (!host_readable(host, host_len))
        return rk_fail(RK_EPROTO, "cannot read the host in the redirect %.*s", (int)(end - s), s);
    if (host_len == 0) {
        host = from->o.host;
        host_len = strlen(host);
    }
    r->slot = (int)slot;
    r->to = rk_nodes_at(&c->nodes, host, host_len, (int)port);
    return r->to ? RK_OK : rk_error_last()->code;
}

/* ---- calls ----------------------------------------------------------- */

/* Sends ASKING and then the command on conn, in one write, and reads
 * ASKING's answer. A failure leaves bytes or a reply outstanding, so the
 * connection is not pooled again. */
static int send_asking(rk_conn *conn, const encoder *e, rk_reply *reply, int64_t deadline) {
    const rk_str asking[] = {RK_STR("ASKING")};
    rk_writer *w = rk_conn_writer(conn);
    int rc = rk_writer_argv(w, asking, 1);
    if (rc == RK_OK)
        rc = e->encode(e, w);
    if (rc != RK_OK)
        return rc;
    rk_conn_queued(conn, 2);
    rc = rk_conn_roundtrip(conn, reply, deadline);
    rk_reply_free(reply);
    memset(reply, 0, sizeof(*reply));
    return rc;
}

/* The deadline of a multiplexed attempt, from submission: the call's
 * timeout, else the command timeout (its default for 0); -1 for none. */
static int mux_timeout(const rk_client *c, int timeout_ms) {
    if (timeout_ms > 0)
        return timeout_ms;
    int t = c->o.command_timeout_ms;
    return t == 0 ? RK_DEFAULT_COMMAND_TIMEOUT_MS : t > 0 ? t : -1;
}

/* One attempt on node's executor (RK_MODE_MUX). False, with nothing sent,
 * for a command that needs a connection of its own: one that may block
 * (BLPOP, XREAD BLOCK, WAIT...), which would stall every call behind it. */
static bool try_mux(rk_client *c, rk_node *node, const encoder *e, rk_reply *reply, int timeout_ms,
                    attempt *a) {
    *a = (attempt){0};
    rk_writer *w = rk_mux_writer();
    if (w == NULL) {
        a->rc = rk_error_last()->code;
        return true;
    }
    a->rc = e->encode(e, w);
    if (a->rc == RK_OK && rk_writer_last_block_ms(w) != 0) {
        rk_writer_clear(w);
        return false;
    }
    if (a->rc == RK_OK)
        a->rc = rk_mux_call(node->mux, w, mux_timeout(c, timeout_ms), reply, &a->sent);
    rk_writer_clear(w);
    return true;
}

/* One attempt on node: take a connection, send, read, give it back (or,
 * in RK_MODE_MUX, hand it to the node's executor). A per-call timeout
 * bounds all of it, waiting for the pool and connecting included; the
 * command timeout starts when the command is sent (multiplexed: when it
 * is handed over). An ASK redirect's pair of commands goes on a pooled
 * connection. */
static attempt try_once(rk_client *c, rk_node *node, bool asking, const encoder *e, rk_reply *reply,
                        int timeout_ms) {
    attempt a = {0};
    if (node->mux && !asking && try_mux(c, node, e, reply, timeout_ms, &a))
        return a;
    rk_conn *conn;
    int64_t deadline = rk_net_deadline(timeout_ms); /* -1 without one */
    a.rc = acquire_until(c, node, &conn, deadline);
    if (a.rc != RK_OK)
        return a;
    uint64_t before = rk_conn_bytes_sent(conn);
    if (asking) {
        a.rc = send_asking(conn, e, reply, rk_conn_call_deadline(conn, deadline));
        if (a.rc == RK_OK)
            a.rc = rk_conn_roundtrip(conn, reply, rk_conn_call_deadline(conn, deadline));
    } else {
        a.rc = e->encode(e, rk_conn_writer(conn));
        if (a.rc == RK_OK) {
            rk_conn_queued(conn, 1);
            a.rc = rk_conn_roundtrip(conn, reply, rk_conn_call_deadline(conn, deadline));
        }
    }
    a.sent = rk_conn_bytes_sent(conn) != before;
    rk_client_release(c, conn);
    return a;
}

/* The retry loop, starting on node (after ASKING when asking). */
RK_HOT static int retry_loop(rk_client *c, rk_node *node, bool asking, rk_reply *reply,
                             const rk_call_opts *opts, encoder *e) {
    rk_reply tmp;
    rk_reply *out = reply ? reply : &tmp;
    const rk_retry *policy = &c->o.retry;
    int attempts = (opts && opts->no_retry) ? 1 : policy->attempts;
    int timeout = opts ? opts->timeout_ms : 0;
    unsigned flags = 0;
    e->flags = &flags;
    int delay = 0, redirects = 0;
    attempt a;
    for (int n = 1;;) {
        memset(out, 0, sizeof(*out));
        a = try_once(c, node, asking, e, out, timeout);
        asking = false;
        redirect r = {0};
        if (a.rc == RK_EREDIRECT && redirects < MAX_REDIRECTS) {
            /* It did not run: follow it, without counting an attempt. */
            if ((a.rc = read_redirect(c, node, out, &r)) != RK_OK)
                break;
            redirects++;
            if (!r.ask)
                c->topo->moved(c->topo_state, &c->nodes, r.slot, r.to);
            node = r.to;
            asking = r.ask;
            rk_reply_free(out);
            continue;
        }
        bool safe = (flags & RK_CMD_SAFE) || (opts && opts->idempotent);
        if (n >= attempts || !should_retry(c, &a, out, safe))
            break;
        rk_reply_free(out);
        rk_retry_pause(policy, n++, &delay, jitter_seed(), a.rc);
    }
    if (out == &tmp)
        rk_reply_free(&tmp);
    return a.rc;
}

/* retry_loop on node, or where the topology routes e when node is NULL;
 * counted in RK_MODE_MUX (see close_calls). */
static int call_at(rk_client *c, rk_node *node, bool asking, rk_reply *reply,
                   const rk_call_opts *opts, encoder *e) {
    bool counted = c->o.mode == RK_MODE_MUX;
    if (counted && !call_enter(c)) {
        if (reply)
            memset(reply, 0, sizeof(*reply));
        return rk_fail(RK_ECLOSED, "the client is being freed");
    }
    if (node == NULL) {
        rk_route route = {.slot = e->slot};
        node = c->topo->route(c->topo_state, &c->nodes, &route);
    }
    int rc = retry_loop(c, node, asking, reply, opts, e);
    if (counted)
        call_leave(c);
    return rc;
}

static int call(rk_client *c, rk_reply *reply, const rk_call_opts *opts, encoder *e) {
    return call_at(c, NULL, false, reply, opts, e);
}

/* An encoding copied from bytes another writer holds: the command was
 * judged when it was queued there, so it is not judged again (and is not
 * taken for safe to repeat). */
static int encode_copy(const encoder *e, rk_writer *w) {
    struct iovec iov[16];
    size_t off = e->copy_off, left = e->copy_len;
    while (left > 0) {
        int n = rk_writer_iov_at(e->copy_from, off, iov, (int)RK_ARRAY_LEN(iov));
        if (n == 0)
            return rk_fail(RK_EINVAL, "the command to send again is gone");
        for (int i = 0; i < n && left > 0; i++) {
            size_t take = RK_MIN(iov[i].iov_len, left);
            int rc = rk_writer_raw(w, iov[i].iov_base, take);
            if (rc != RK_OK)
                return rc;
            off += take;
            left -= take;
        }
    }
    *e->flags = 0;
    return RK_OK;
}

int rk_client_resend(rk_client *c, const rk_reply *redirected, const rk_writer *from, size_t off,
                     size_t len, rk_reply *out) {
    redirect r = {0};
    memset(out, 0, sizeof(*out));
    int rc = read_redirect(c, &c->nodes.seed, redirected, &r);
    if (rc != RK_OK)
        return rc;
    if (!r.ask)
        c->topo->moved(c->topo_state, &c->nodes, r.slot, r.to);
    encoder e = {
        .encode = encode_copy, .copy_from = from, .copy_off = off, .copy_len = len, .slot = r.slot};
    return call_at(c, r.to, r.ask, out, NULL, &e);
}

RK_HOT int rk_client_call_keyed(rk_client *c, rk_reply *reply, const rk_call_opts *opts,
                                const rk_str *argv, size_t argc, const uint32_t *keys,
                                size_t nkeys) {
    if (c == NULL)
        return refuse_call(reply, "NULL client");
    if (argc < 1 || argv == NULL)
        return refuse_call(reply, "a command needs at least one argument");
    encoder e = {.encode = encode_argv, .argv = argv, .argc = argc, .slot = RK_SLOT_NONE};
    if (c->topo->keyed && nkeys > 0)
        e.slot = keys_slot(argv, argc, keys, nkeys);
    return call(c, reply, opts, &e);
}

/* The slot of a raw command's keys, found through the metadata table:
 * RK_SLOT_NONE for a command without keys or not known, RK_SLOT_CROSS when
 * they span slots. Commands of many keys take a heap array (rare). */
static int argv_slot(const rk_str *argv, size_t argc) {
    const rk_meta_command *row;
    rk_key_ref few[16], *refs = few;
    if (rk_meta_lookup_argv(argv, argc, &row) != RK_OK)
        return RK_SLOT_NONE;
    int n = rk_meta_keys(row, argv, argc, few, (int)RK_ARRAY_LEN(few));
    if (n > (int)RK_ARRAY_LEN(few) && (refs = rk_malloc((size_t)n * sizeof(*refs))) != NULL)
        n = rk_meta_keys(row, argv, argc, refs, n);
    int slot = RK_SLOT_NONE;
    for (int i = 0; refs != NULL && i < n; i++) {
        int s = rk_key_slot(argv[refs[i].pos].ptr, argv[refs[i].pos].len);
        if (slot != RK_SLOT_NONE && s != slot) {
            slot = RK_SLOT_CROSS;
            break;
        }
        slot = s;
    }
    if (refs != few)
        rk_free(refs);
    return slot;
}

int(rk_client_call_argv_opts)(rk_client *c, rk_reply *reply, const rk_call_opts *opts,
                              const rk_str *argv, size_t argc, size_t opts_size) {
    rk_call_opts o;
    int rc = rk_opts_settle(&o, sizeof(o), opts, opts_size, "rk_call_opts");
    if (rc != RK_OK) {
        if (reply)
            memset(reply, 0, sizeof(*reply));
        return rc;
    }
    if (opts != NULL)
        opts = &o;
    if (c == NULL || !c->topo->keyed || argc < 1 || argv == NULL)
        return rk_client_call_keyed(c, reply, opts, argv, argc, NULL, 0);
    encoder e = {.encode = encode_argv, .argv = argv, .argc = argc, .slot = argv_slot(argv, argc)};
    return call(c, reply, opts, &e);
}

void rk_client_set_topology(rk_client *c, const rk_topology_ops *ops, void *state) {
    c->topo->destroy(c->topo_state);
    c->topo = ops;
    c->topo_state = state;
}

rk_nodes *rk_client_nodes(rk_client *c) {
    return &c->nodes;
}

RK_HOT int rk_client_call_argv(rk_client *c, rk_reply *reply, const rk_str *argv, size_t argc) {
    return rk_client_call_argv_opts(c, reply, NULL, argv, argc);
}

int rk_client_call_args(rk_client *c, rk_reply *reply, const char *arg0, ...) {
    rk_str argv[64];
    va_list ap;
    va_start(ap, arg0);
    int argc = rk_collect_args(arg0, ap, argv, (int)RK_ARRAY_LEN(argv));
    va_end(ap);
    if (argc < 0) {
        if (reply)
            memset(reply, 0, sizeof(*reply));
        return argc;
    }
    return rk_client_call_argv_opts(c, reply, NULL, argv, (size_t)argc);
}

RK_HOT int rk_client_vcall(rk_client *c, rk_reply *reply, const char *fmt, va_list ap) {
    if (c == NULL)
        return refuse_call(reply, "NULL client");
    if (fmt == NULL)
        return refuse_call(reply, "NULL command format");
    va_list aq;
    va_copy(aq, ap);
    encoder e = {.encode = encode_format, .fmt = fmt, .ap = &aq, .slot = RK_SLOT_NONE};
    int rc = call(c, reply, NULL, &e);
    va_end(aq);
    return rc;
}

RK_HOT int rk_client_call(rk_client *c, rk_reply *reply, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_client_vcall(c, reply, fmt, ap);
    va_end(ap);
    return rc;
}

/* ---- internal accessors (client/client_int.h) ------------------------ */

void rk_client_settled(rk_client *c, int slot, const rk_options **opts, rk_tls_ctx **tls) {
    *opts = &route_slot(c, slot)->o;
    *tls = c->tls;
}
