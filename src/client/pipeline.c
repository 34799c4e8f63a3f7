/* rk_pipeline: many commands in one go, and MULTI/EXEC transactions.
 *
 * Queued commands are encoded once, into the pipeline's own writer, and
 * sent from there without being copied or consumed (so a failed run can
 * be sent again). Sending and reading are interleaved on a non-blocking
 * connection: whatever the socket takes is written, whatever arrived is
 * read, and the loop waits only when neither made progress. A transaction
 * is the same stream with MULTI before and EXEC after; its results are
 * views into the EXEC reply. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client/client_int.h"
#include "client/pool.h"
#include "conn/conn_int.h"
#include "meta/block.h"
#include "meta/classes.h"
#include "rediskit/pipeline.h"
#include "resp/command_int.h"
#include "resp/reply_int.h"
#include "resp/shape.h"
#include "resp/writer_int.h"
#include "util/common.h"

static const char MULTI[] = "*1\r\n$5\r\nMULTI\r\n";
static const char EXEC[] = "*1\r\n$4\r\nEXEC\r\n";
#define MULTI_LEN (sizeof(MULTI) - 1)
#define EXEC_LEN (sizeof(EXEC) - 1)

#define DEFAULT_TX_ATTEMPTS 16

/* What the pipeline keeps of each queued command: where its bytes are (to
 * send it again on its own, as when the server redirects it), where its
 * result goes (its place in the caller's order, which a run split over
 * several nodes must keep), and its reply's shape. */
typedef struct queued_cmd {
    size_t off, len; /* its bytes in the queue */
    size_t out;      /* the index of its result */
    const char *shape;
} queued_cmd;

struct rk_pipeline {
    rk_client *client;
    rk_pipeline_opts o;
    rk_writer *queue;   /* the encoded commands */
    size_t count;       /* commands queued */
    size_t end;         /* bytes of the queue they take */
    long long block_ms; /* the longest server-side blocking among them; -1: for ever */
    bool unsafe;        /* some queued command is not safe to repeat */
    queued_cmd *cmds;   /* per queued command */
    size_t cmds_cap;

    rk_reply *replies; /* results of the last exec */
    int *status;
    size_t nresults, cap;
    rk_reply exec_reply; /* a transaction's EXEC reply, viewed by replies */
    rk_reply multi_err;  /* MULTI's error reply, if it was refused; else nil */

    rk_conn *conn; /* held from watch to exec or reset */
    bool watching;
    bool multi;
};

static void forget_queue(rk_pipeline *p);

/* ---- life cycle ------------------------------------------------------ */

/* RK_EINVAL for a call given no pipeline, naming the function. */
static int no_pipeline(const char *fn) {
    return rk_fail(RK_EINVAL, "%s: NULL pipeline", fn);
}

rk_pipeline *(rk_pipeline_new)(rk_client *client, const rk_pipeline_opts *opts, size_t opts_size) {
    if (client == NULL) {
        rk_fail(RK_EINVAL, "rk_pipeline_new: NULL client");
        return NULL;
    }
    rk_pipeline_opts o;
    if (rk_opts_settle(&o, sizeof(o), opts, opts_size, "rk_pipeline_opts") != RK_OK)
        return NULL;
    rk_pipeline *p = rk_calloc(1, sizeof(*p));
    /* Arguments are copied unless the caller opted into zero-copy: a
     * buffer reused between two appends must not be sent twice as last
     * written. Read from the settled copy: an older caller's struct ends
     * before the field. */
    if (p != NULL)
        p->queue =
            rk_writer_new(&(rk_writer_opts){.ref_threshold = o.borrow_large_values ? 0 : SIZE_MAX});
    if (p == NULL || p->queue == NULL) {
        rk_free(p);
        rk_fail(RK_ENOMEM, "out of memory creating a pipeline");
        return NULL;
    }
    p->client = client;
    p->o = o;
    return p;
}

static void clear_results(rk_pipeline *p) {
    if (p->exec_reply.type_ == RK_REPLY_NIL) {
        for (size_t i = 0; i < p->nresults; i++)
            rk_reply_free(&p->replies[i]);
    } else {
        for (size_t i = 0; i < p->nresults; i++) /* views, or queueing errors */
            if (p->replies[i].flags_ & RK_RF_OWNED)
                rk_reply_free(&p->replies[i]);
        rk_reply_free(&p->exec_reply);
    }
    rk_reply_free(&p->multi_err);
    p->nresults = 0;
}

/* Gives back the held connection; a watch on it is dropped first, unless
 * this is a forked child and the connection (and its watch) the parent's:
 * the pool then closes the child's copy without a word to the server. An
 * UNWATCH that failed or was refused (an ACL without it) may leave the
 * watch on: the connection is closed, never pooled. */
static void let_go(rk_pipeline *p) {
    if (p->conn == NULL)
        return;
    if (p->watching && rk_conn_is_ready(p->conn) && !rk_pool_conn_forked(p->conn) &&
        rk_conn_call_args(p->conn, NULL, "UNWATCH", NULL) != RK_OK)
        rk_conn_close(p->conn);
    rk_client_release(p->client, p->conn);
    p->conn = NULL;
    p->watching = false;
}

/* RK_ECLOSED, the held connection given back, when it was made before a
 * fork() of this process: in the child it is the parent's, and a command
 * sent on it would end the parent's watch or take the parent's replies. */
static int held_here(rk_pipeline *p) {
    if (p->conn == NULL || !rk_pool_conn_forked(p->conn))
        return RK_OK;
    let_go(p);
    return rk_fail(RK_ECLOSED, "the pipeline holds a connection made before fork(): it is the "
                               "parent's, and the child cannot use it (watch again there)");
}

void rk_pipeline_reset(rk_pipeline *p) {
    if (p == NULL)
        return;
    let_go(p);
    clear_results(p);
    forget_queue(p);
    p->multi = false;
}

void rk_pipeline_free(rk_pipeline *p) {
    if (p == NULL)
        return;
    rk_pipeline_reset(p);
    rk_writer_free(p->queue);
    rk_free(p->cmds);
    rk_free(p->replies);
    rk_free(p->status);
    rk_free(p);
}

size_t rk_pipeline_size(const rk_pipeline *p) {
    return p ? p->count : 0;
}

size_t rk_pipeline_replies(const rk_pipeline *p) {
    return p ? p->nresults : 0;
}

const rk_reply *rk_pipeline_reply(const rk_pipeline *p, size_t i) {
    return p && i < p->nresults ? &p->replies[i] : NULL;
}

int rk_pipeline_status(const rk_pipeline *p, size_t i) {
    if (p == NULL)
        return no_pipeline("rk_pipeline_status");
    return i < p->nresults ? p->status[i] : RK_EINVAL;
}

/* ---- queueing -------------------------------------------------------- */

static int can_queue(const rk_pipeline *p) {
    if (p == NULL)
        return no_pipeline("queueing a command");
    if (p->watching && !p->multi)
        return rk_fail(RK_EINVAL, "watching: call rk_pipeline_multi before queueing commands "
                                  "(or rk_pipeline_call to run one now)");
    return RK_OK;
}

static int grow_cmds(rk_pipeline *p) {
    size_t cap = p->cmds_cap ? p->cmds_cap * 2 : 16;
    queued_cmd *c = rk_realloc(p->cmds, cap * sizeof(*c));
    if (c == NULL)
        return rk_fail(RK_ENOMEM, "out of memory queueing a command");
    p->cmds = c;
    p->cmds_cap = cap;
    return RK_OK;
}

/* Counts a command just encoded (rc is the encoder's result), judged as
 * built: one that would change the state of the pooled connection it runs
 * on (SELECT, MULTI, SUBSCRIBE...) is taken back out and refused. Once the
 * pipeline holds a command not safe to repeat, only that check is left,
 * and it rules most names out without a lookup. Built commands are judged
 * too: rk_cmd_select, rk_cmd_quit and rk_cmd_readonly build stateful ones. */
static int queued(rk_pipeline *p, int rc) {
    if (rc != RK_OK)
        return rc;
    unsigned want = RK_CMD_STATEFUL | (p->unsafe ? 0 : RK_CMD_SAFE);
    unsigned flags = rk_writer_last_flags(p->queue, want);
    if (flags & RK_CMD_STATEFUL) {
        rk_writer_unqueue_last(p->queue);
        return rk_fail(RK_EINVAL, "this command changes the state of its connection and cannot "
                                  "run in a pipeline on a pooled connection: use "
                                  "rk_pipeline_watch/multi for WATCH and MULTI, options for "
                                  "SELECT/AUTH/HELLO, or a connection of your own");
    }
    if (p->count == p->cmds_cap && grow_cmds(p) != RK_OK) {
        rk_writer_unqueue_last(p->queue);
        return RK_ENOMEM;
    }
    size_t now = rk_writer_pending(p->queue);
    p->cmds[p->count] = (queued_cmd){.off = p->end, .len = now - p->end, .out = p->count};
    p->end = now;
    p->block_ms = rk_block_max(p->block_ms, rk_writer_last_block_ms(p->queue));
    p->count++;
    p->unsafe |= (want & RK_CMD_SAFE) && !(flags & RK_CMD_SAFE);
    return RK_OK;
}

int rk_pipeline_vappend(rk_pipeline *p, const char *fmt, va_list ap) {
    int rc = can_queue(p);
    if (rc != RK_OK)
        return rc;
    if (fmt == NULL)
        return rk_fail(RK_EINVAL, "NULL command format");
    return queued(p, rk_writer_vformat(p->queue, fmt, ap));
}

int rk_pipeline_append(rk_pipeline *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_pipeline_vappend(p, fmt, ap);
    va_end(ap);
    return rc;
}

int rk_pipeline_append_argv(rk_pipeline *p, const rk_str *argv, size_t argc) {
    int rc = can_queue(p);
    if (rc != RK_OK)
        return rc;
    return queued(p, rk_writer_argv(p->queue, argv, argc));
}

/* Built commands (rk_pipeline_add) queue with the shape their reply takes
 * after the run; commands queued without one keep theirs as they come. */
int rk_pipeline_append_shaped(rk_pipeline *p, const rk_str *argv, size_t argc, const char *shape) {
    int rc = rk_pipeline_append_argv(p, argv, argc);
    if (rc == RK_OK)
        p->cmds[p->count - 1].shape = shape;
    return rc;
}

/* Gives the replies of typed commands their shape. A reply that could not
 * be shaped (RK_ENOMEM) keeps its form and gets the failure as its status;
 * returns the first such failure, so exec cannot say RK_OK over it. */
static int shape_results(rk_pipeline *p) {
    int first = RK_OK;
    for (size_t i = 0; i < p->count; i++) {
        const queued_cmd *q = &p->cmds[i];
        if (q->shape == NULL || p->status[q->out] != RK_OK)
            continue;
        int rc = rk_reshape(&p->replies[q->out], q->shape);
        if (rc != RK_OK) {
            p->status[q->out] = rc;
            if (first == RK_OK)
                first = rc;
        }
    }
    return first;
}

static void forget_queue(rk_pipeline *p) {
    rk_writer_clear(p->queue);
    p->count = 0;
    p->end = 0;
    p->block_ms = 0;
    p->unsafe = false;
}

int rk_pipeline_append_args(rk_pipeline *p, const char *arg0, ...) {
    rk_str argv[64];
    va_list ap;
    va_start(ap, arg0);
    int argc = rk_collect_args(arg0, ap, argv, (int)RK_ARRAY_LEN(argv));
    va_end(ap);
    return argc < 0 ? argc : rk_pipeline_append_argv(p, argv, (size_t)argc);
}

/* ---- running --------------------------------------------------------- */

/* The bytes one run sends: [MULTI] queue [EXEC]. */
typedef struct stream {
    const rk_pipeline *p;
    bool tx;
    size_t total;
} stream;

/* Fills iov with the stream from offset on; returns how many. */
static int stream_iov(const stream *s, size_t offset, struct iovec *iov, int max) {
    int n = 0;
    size_t body = rk_writer_pending(s->p->queue);
    if (s->tx && offset < MULTI_LEN) {
        iov[n++] =
            (struct iovec){.iov_base = (void *)(MULTI + offset), .iov_len = MULTI_LEN - offset};
        offset = 0;
    } else if (s->tx) {
        offset -= MULTI_LEN;
    }
    if (offset < body) {
        int k = rk_writer_iov_at(s->p->queue, offset, iov + n, max - n - 1);
        size_t covered = 0;
        for (int i = n; i < n + k; i++)
            covered += iov[i].iov_len;
        n += k;
        if (covered < body - offset)
            return n; /* the iovecs ran out: EXEC only after the whole body */
        offset = 0;
    } else {
        offset -= body;
    }
    if (s->tx && n < max && offset < EXEC_LEN)
        iov[n++] =
            (struct iovec){.iov_base = (void *)(EXEC + offset), .iov_len = EXEC_LEN - offset};
    return n;
}

/* Where reply number r of a run goes. For a transaction: MULTI's reply is
 * dropped unless it is an error (kept to tell that the commands then ran
 * outside a transaction), the queueing replies go to the commands' slots,
 * and EXEC's is kept aside. */
static rk_reply *reply_slot(rk_pipeline *p, bool tx, size_t r, const rk_reply *reply) {
    if (!tx)
        return &p->replies[r];
    if (r == 0)
        return reply->type_ == RK_REPLY_ERROR ? &p->multi_err : NULL;
    if (r <= p->count)
        return &p->replies[r - 1];
    return &p->exec_reply;
}

static void store(rk_pipeline *p, bool tx, size_t r, rk_reply *reply) {
    rk_reply *slot = reply_slot(p, tx, r, reply);
    if (slot == NULL) {
        rk_reply_free(reply);
        return;
    }
    *slot = *reply;
    if (!tx)
        p->status[r] = reply->type_ == RK_REPLY_ERROR ? RK_ESERVER : RK_OK;
}

/* One run on conn: sends the stream and reads its replies. *got says how
 * many replies came. */
static int run(rk_pipeline *p, rk_conn *conn, bool tx, size_t *got) {
    stream s = {.p = p, .tx = tx};
    s.total = rk_writer_pending(p->queue) + (tx ? MULTI_LEN + EXEC_LEN : 0);
    size_t expected = p->count + (tx ? 2 : 0), sent = 0;
    rk_conn_queued(conn, expected);
    rk_conn_add_block(conn, p->block_ms); /* the connection never saw them */
    int64_t deadline = rk_conn_deadline(conn, 0);
    *got = 0;
    while (*got < expected) {
        bool progress = false;
        if (sent < s.total) {
            struct iovec iov[64];
            size_t w;
            int rc = rk_conn_send_iov(conn, iov, stream_iov(&s, sent, iov, 64), &w);
            if (rc != RK_OK && rc != RK_EAGAIN)
                return rc;
            sent += w;
            progress = w > 0;
        }
        int rc = rk_conn_read_some(conn);
        if (rc != RK_OK && rc != RK_EAGAIN)
            return rc;
        rk_reply r;
        while (*got < expected && (rc = rk_conn_next(conn, &r, false)) == 1) {
            store(p, tx, (*got)++, &r);
            progress = true;
        }
        if (rc < 0)
            return rc;
        if (progress) {
            deadline = rk_conn_deadline(conn, 0);
        } else if (*got < expected) {
            int want = RK_WANT_READ | (sent < s.total ? RK_WANT_WRITE : 0);
            if ((rc = rk_conn_wait(conn, want, deadline)) != RK_OK)
                return rc;
        }
    }
    return RK_OK;
}

/* The server refused MULTI (an ACL without it, say), so each command ran
 * on its own as it came and its reply is its result, as in a plain
 * pipeline; EXEC's "without MULTI" error is dropped. Saying "aborted"
 * here would tell the caller that nothing ran. */
static int settle_refused_multi(rk_pipeline *p) {
    rk_reply_free(&p->exec_reply); /* nil: clear_results frees every reply */
    for (size_t i = 0; i < p->count; i++)
        p->status[i] = p->replies[i].type_ == RK_REPLY_ERROR ? RK_ESERVER : RK_OK;
    char why[512]; /* the server's words first: they give the error's prefix */
    int n = snprintf(why, sizeof(why),
                     "%s (MULTI refused: the %zu commands ran one by one, outside a "
                     "transaction; each has its own reply)",
                     rk_reply_str(&p->multi_err), p->count);
    return rk_fail_server(rk_conn_server_error(&p->multi_err), why,
                          RK_MIN((size_t)n, sizeof(why) - 1));
}

/* Turns a transaction's replies into per-command results. */
static int settle_transaction(rk_pipeline *p) {
    const rk_reply *ex = &p->exec_reply;
    if (p->multi_err.type_ == RK_REPLY_ERROR)
        return settle_refused_multi(p);
    if (ex->type_ == RK_REPLY_NIL) {
        for (size_t i = 0; i < p->count; i++) {
            rk_reply_free(&p->replies[i]);
            p->status[i] = RK_EWATCH;
        }
        return rk_fail(RK_EWATCH, "transaction aborted: a watched key changed");
    }
    if (ex->type_ == RK_REPLY_ERROR) {
        size_t culprit = p->count;
        for (size_t i = 0; i < p->count; i++) {
            bool refused = p->replies[i].type_ == RK_REPLY_ERROR;
            p->status[i] = refused ? RK_ESERVER : RK_EEXECABORT;
            if (refused && culprit == p->count)
                culprit = i;
            if (!refused)
                rk_reply_free(&p->replies[i]); /* "QUEUED" */
        }
        if (culprit < p->count)
            return rk_fail(RK_EEXECABORT, "transaction aborted: command %zu refused: %s", culprit,
                           rk_reply_str(&p->replies[culprit]));
        return rk_fail(RK_EEXECABORT, "transaction aborted: %s", rk_reply_str(ex));
    }
    if (ex->type_ != RK_REPLY_ARRAY || rk_reply_len(ex) != p->count) {
        for (size_t i = 0; i < p->count; i++) {
            rk_reply_free(&p->replies[i]); /* "QUEUED" */
            p->status[i] = RK_EPROTO;
        }
        return rk_fail(RK_EPROTO, "EXEC answered a %s of %zu for %zu commands",
                       rk_type_name(rk_reply_type(ex)), rk_reply_len(ex), p->count);
    }
    for (size_t i = 0; i < p->count; i++) {
        rk_reply_free(&p->replies[i]); /* "QUEUED" */
        const rk_reply *e = rk_reply_at(ex, i);
        if (e == NULL) {
            p->status[i] = RK_EPROTO;
            continue;
        }
        p->replies[i] = *e;
        p->replies[i].flags_ &= (uint8_t)~RK_RF_OWNED;
        p->status[i] = e->type_ == RK_REPLY_ERROR ? RK_ESERVER : RK_OK;
    }
    return RK_OK;
}

/* Commands the server redirected (MOVED, ASK: they did not run) are sent
 * again on their own to the node named, each result kept in its place.
 * Returns the first failure that left one without a reply (the node could
 * not be reached, the redirect could not be read...), so that exec does
 * not say RK_OK over it; a server's answer is a reply. */
static int resend_redirected(rk_pipeline *p) {
    int lost = RK_OK;
    size_t which = 0;
    char why[256] = "";
    for (size_t i = 0; i < p->count; i++) {
        const queued_cmd *q = &p->cmds[i];
        if (p->status[q->out] != RK_ESERVER || !rk_conn_is_redirect(&p->replies[q->out]))
            continue;
        rk_reply fresh;
        int rc = rk_client_resend(p->client, &p->replies[q->out], p->queue, q->off, q->len, &fresh);
        rk_reply_free(&p->replies[q->out]);
        p->replies[q->out] = fresh;
        p->status[q->out] = rc;
        if (rc != RK_OK && fresh.type_ != RK_REPLY_ERROR && lost == RK_OK) {
            lost = rc;
            which = q->out;
            snprintf(why, sizeof(why), "%s", rk_error_last()->message);
        }
    }
    if (lost == RK_OK)
        return RK_OK;
    return rk_fail(lost, "pipeline command %zu of %zu was redirected and got no reply: %s", which,
                   p->count, why);
}

/* Every result nil (no array yet when nothing was ever queued). */
static void zero_results(rk_pipeline *p) {
    if (p->count > 0)
        memset(p->replies, 0, p->count * sizeof(*p->replies));
    p->nresults = p->count;
}

/* Makes room for the results of count commands, all nil for now. */
static int prepare_results(rk_pipeline *p) {
    if (p->count > p->cap) {
        rk_reply *r = rk_realloc(p->replies, p->count * sizeof(*r));
        if (r != NULL)
            p->replies = r;
        int *st = r ? rk_realloc(p->status, p->count * sizeof(*st)) : NULL;
        if (st == NULL)
            return rk_fail(RK_ENOMEM, "out of memory for %zu replies", p->count);
        p->status = st;
        p->cap = p->count;
    }
    zero_results(p);
    memset(&p->exec_reply, 0, sizeof(p->exec_reply));
    return RK_OK;
}

/* Replies that never came get the failure as their status. */
static void mark_unanswered(rk_pipeline *p, bool tx, size_t got, int rc) {
    size_t first = tx ? 0 : got; /* a transaction without EXEC's reply: all */
    for (size_t i = first; i < p->count; i++) {
        if (tx)
            rk_reply_free(&p->replies[i]);
        p->status[i] = rc;
    }
    if (tx)
        rk_reply_free(&p->exec_reply);
}

/* Whether a failed run may be run again on a new connection: never one
 * that ran under a watch (`watched`, as the exec began: a new connection
 * would not have it). */
static bool may_retry(const rk_pipeline *p, bool watched, bool tx, int rc, bool sent) {
    if (watched || !rk_connection_failure(rc))
        return false;
    return !sent || (!tx && (!p->unsafe || p->o.allow_retry));
}

/* One attempt: a connection (the held one, or one from the pool), a run,
 * the connection given back. */
static int attempt(rk_pipeline *p, bool tx, bool *sent) {
    int rc = held_here(p);
    rk_conn *conn = p->conn;
    if (rc == RK_OK && conn == NULL)
        rc = rk_client_acquire(p->client, &conn);
    *sent = false;
    if (rc != RK_OK) { /* RK_EPOOL, a refused connect...: nothing got a reply */
        mark_unanswered(p, tx, 0, rc);
        return rc;
    }
    p->conn = NULL;
    uint64_t before = rk_conn_bytes_sent(conn);
    size_t got = 0;
    rc = run(p, conn, tx, &got);
    /* EXEC of a MULTI the server took ends the watch of rk_pipeline_watch
     * (after a refused MULTI, EXEC is refused too, and the watch stays). */
    if (tx && got == p->count + 2 && p->multi_err.type_ != RK_REPLY_ERROR)
        rk_conn_exec_answered(conn);
    *sent = rk_conn_bytes_sent(conn) != before;
    if (rc != RK_OK)
        mark_unanswered(p, tx, got, rc);
    rk_client_release(p->client, conn);
    return rc;
}

int rk_pipeline_exec(rk_pipeline *p) {
    if (p == NULL)
        return no_pipeline("rk_pipeline_exec");
    clear_results(p);
    bool tx = p->o.transaction || p->multi;
    if (p->watching && !p->multi)
        return rk_fail(RK_EINVAL, "watching: call rk_pipeline_multi before rk_pipeline_exec");
    int rc = prepare_results(p);
    if (rc != RK_OK || (p->count == 0 && !tx))
        return rc;
    const rk_retry *policy = &rk_client_options(p->client)->retry;
    unsigned seed = (unsigned)rk_now_us();
    bool sent, watched = p->watching;
    int delay = 0;
    for (int n = 1;; n++) {
        rc = attempt(p, tx, &sent);
        if (rc == RK_OK || n >= policy->attempts || !may_retry(p, watched, tx, rc, sent))
            break;
        rk_retry_pause(policy, n, &delay, &seed, rc);
        clear_results(p); /* what the failed run got is run again */
        zero_results(p);
    }
    p->watching = p->multi = false; /* EXEC ends a watch, so does failing */
    if (rc == RK_OK && tx)
        rc = settle_transaction(p);
    int lost = rc == RK_OK && !tx ? resend_redirected(p) : RK_OK;
    if (rc == RK_OK)
        rc = shape_results(p);
    if (rc == RK_OK)
        rc = lost;
    if (rc == RK_OK && p->o.stop_on_error) {
        for (size_t i = 0; i < p->count; i++)
            if (p->status[i] != RK_OK) {
                rc = rk_conn_server_error(&p->replies[i]);
                rk_fail(rc, "pipeline command %zu of %zu failed: %s", i, p->count,
                        rk_reply_str(&p->replies[i]));
                break;
            }
    }
    forget_queue(p);
    return rc;
}

/* ---- WATCH ------------------------------------------------------------ */

int rk_pipeline_watch(rk_pipeline *p, const rk_str *keys, size_t n) {
    if (p == NULL)
        return no_pipeline("rk_pipeline_watch");
    if (n == 0 || keys == NULL)
        return rk_fail(RK_EINVAL, "rk_pipeline_watch needs at least one key");
    for (size_t i = 0; i < n; i++)
        if (keys[i].ptr == NULL)
            return rk_fail(RK_EINVAL, "rk_pipeline_watch: key %zu is NULL", i);
    if (p->multi)
        return rk_fail(RK_EINVAL, "WATCH after MULTI is not allowed");
    int rc = held_here(p);
    if (rc != RK_OK)
        return rc;
    rc = p->conn
             ? RK_OK
             : rk_client_acquire_for(p->client, rk_key_slot(keys[0].ptr, keys[0].len), &p->conn);
    if (rc != RK_OK)
        return rc;
    /* Watching from the first batch on: if a later one fails, let_go
     * UNWATCHes the keys the earlier ones watched before pooling the
     * connection. */
    p->watching = true;
    rk_str argv[1 + 64];
    argv[0] = RK_STR("WATCH");
    for (size_t done = 0; done < n && rc == RK_OK;) {
        size_t batch = RK_MIN(n - done, (size_t)64);
        memcpy(argv + 1, keys + done, batch * sizeof(*keys));
        rc = rk_conn_call_argv(p->conn, NULL, argv, 1 + batch);
        done += batch;
    }
    if (rc != RK_OK)
        let_go(p);
    return rc;
}

int rk_pipeline_unwatch(rk_pipeline *p) {
    if (p == NULL)
        return no_pipeline("rk_pipeline_unwatch");
    int rc = held_here(p);
    if (rc != RK_OK || p->conn == NULL)
        return rc;
    rc = rk_conn_call_args(p->conn, NULL, "UNWATCH", NULL);
    if (rc == RK_OK) /* refused, the keys stay watched: so does the pipeline */
        p->watching = false;
    return rc;
}

static int check_immediate(rk_pipeline *p) {
    if (p == NULL)
        return no_pipeline("rk_pipeline_call");
    int rc = held_here(p);
    if (rc != RK_OK)
        return rc;
    if (!p->watching || p->conn == NULL)
        return rk_fail(RK_EINVAL, "rk_pipeline_call runs commands only while watching");
    if (p->multi)
        return rk_fail(RK_EINVAL, "rk_pipeline_call after rk_pipeline_multi: append instead");
    return RK_OK;
}

/* Judges a command run at once on the held connection, encoded (rc is the
 * encoder's result) into the pipeline's queue and taken back out: the
 * connection goes back to the pool afterwards, so one that would change
 * its state (SELECT, MULTI, CLIENT SETNAME...) is refused, as
 * rk_client_call refuses it. *reply is nil on a refusal. */
static int immediate_ok(rk_pipeline *p, rk_reply *reply, int rc) {
    if (rc == RK_OK) {
        unsigned flags = rk_writer_last_flags(p->queue, RK_CMD_STATEFUL);
        rk_writer_unqueue_last(p->queue);
        if (flags & RK_CMD_STATEFUL)
            rc = rk_fail(RK_EINVAL, "this command changes the state of its connection, which "
                                    "goes back to the pool: rk_pipeline_call refuses it as "
                                    "rk_client_call does");
    }
    if (rc != RK_OK && reply)
        memset(reply, 0, sizeof(*reply));
    return rc;
}

int rk_pipeline_call_argv(rk_pipeline *p, rk_reply *reply, const rk_str *argv, size_t argc) {
    int rc = check_immediate(p);
    if (rc == RK_OK)
        rc = immediate_ok(p, reply, rk_writer_argv(p->queue, argv, argc));
    else if (reply)
        memset(reply, 0, sizeof(*reply));
    return rc != RK_OK ? rc : rk_conn_call_argv(p->conn, reply, argv, argc);
}

int rk_pipeline_call(rk_pipeline *p, rk_reply *reply, const char *fmt, ...) {
    int rc = check_immediate(p);
    if (rc == RK_OK && fmt == NULL)
        rc = rk_fail(RK_EINVAL, "NULL command format");
    va_list ap;
    va_start(ap, fmt);
    if (rc == RK_OK) {
        va_list aq;
        va_copy(aq, ap);
        rc = immediate_ok(p, reply, rk_writer_vformat(p->queue, fmt, aq));
        va_end(aq);
    } else if (reply) {
        memset(reply, 0, sizeof(*reply));
    }
    if (rc == RK_OK)
        rc = rk_conn_vcall(p->conn, reply, fmt, ap);
    va_end(ap);
    return rc;
}

int rk_pipeline_multi(rk_pipeline *p) {
    if (p == NULL)
        return no_pipeline("rk_pipeline_multi");
    if (p->multi)
        return rk_fail(RK_EINVAL, "rk_pipeline_multi called twice");
    if (p->count > 0)
        return rk_fail(RK_EINVAL, "rk_pipeline_multi after commands were queued");
    p->multi = true;
    return RK_OK;
}

/* ---- the transaction helper ------------------------------------------ */

int(rk_transaction)(rk_client *client, const rk_str *keys, size_t n, rk_transaction_fn fn,
                    void *userdata, const rk_transaction_opts *opts, rk_pipeline **result,
                    size_t opts_size) {
    if (result)
        *result = NULL;
    if (fn == NULL)
        return rk_fail(RK_EINVAL, "rk_transaction needs a function");
    if (n > 0 && keys == NULL)
        return rk_fail(RK_EINVAL, "rk_transaction: NULL keys with a non-zero count");
    rk_transaction_opts o;
    int rc = rk_opts_settle(&o, sizeof(o), opts, opts_size, "rk_transaction_opts");
    if (rc != RK_OK)
        return rc;
    int attempts = o.max_attempts > 0 ? o.max_attempts : DEFAULT_TX_ATTEMPTS;
    rk_pipeline *p = rk_pipeline_new(client, &(rk_pipeline_opts){.transaction = true});
    if (p == NULL)
        return rk_error_last()->code;
    rc = RK_EWATCH;
    for (int attempt = 0; attempt < attempts && rc == RK_EWATCH; attempt++) {
        rk_pipeline_reset(p);
        if (n > 0 && (rc = rk_pipeline_watch(p, keys, n)) != RK_OK)
            break;
        if ((rc = fn(p, userdata)) != 0)
            break;
        if (p->watching && !p->multi)
            rk_pipeline_multi(p);
        rc = rk_pipeline_exec(p);
    }
    if (rc == RK_OK && result)
        *result = p;
    else
        rk_pipeline_free(p);
    return rc;
}

/* ---- built commands ---------------------------------------------------- */

int rk_pipeline_add(rk_pipeline *p, rk_command *cmd) {
    rk_command_int *c;
    int rc = rk_command_ready(cmd, &c);
    if (rc == RK_OK && p == NULL)
        rc = no_pipeline(c->name);
    if (rc == RK_OK)
        rc = rk_pipeline_append_shaped(p, c->argv, c->argc, c->shape);
    rk_command_release(cmd);
    return rc;
}
