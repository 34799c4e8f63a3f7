/* rk_async: the async client, one connection driven by an event loop.
 *
 * Commands are encoded, in submission order, into a writer of the
 * client's own (`out`), and recorded in a ring (`rec`): their callback,
 * deadline, size and state. A record is QUEUED (its bytes still in `out`;
 * the first may be partly written), SENT (awaiting its reply), or SKIPPED
 * (completed before any byte of it was written: its bytes are dropped
 * unsent). `done` says its callback has run: a SENT record that is done
 * (timed out, cancelled) stays in the ring to eat its reply.
 *
 * Invariants: the ring is in submission order, ids are consecutive from
 * head_id; records [0, sendi) were written out whole or skipped, those
 * from sendi on are not; the SENT ones among [0, sendi) answer, in order,
 * the replies the connection reads. `out` holds the bytes of records
 * [sendi, count) minus the out_off already written of record sendi.
 * `kept` holds the bytes of every record marked `keep` (safe to repeat
 * after a lost connection), in ring order, until it leaves the ring.
 *
 * Every entry point enters (depth++) and, leaving at depth 0, settles:
 * deferred frees and disconnects happen, queued commands are written (at
 * once for a lone command or at the end of a loop input; otherwise at the
 * next writable), and the loop is told the fd interest and the earliest
 * deadline. Callbacks run only with depth > 0, so a free or a disconnect
 * inside one waits for the stack to unwind.
 *
 * A command with a block time goes to a dedicated connection instead: a
 * client of its own (a kid: `parent` set, in the parent's `kids` list),
 * attached to the same loop through the loop's attach_other. Its record's
 * callback is relay_done, which calls the caller's with the parent. A kid
 * runs one command at a time; with none (count 0) it is idle and may be
 * taken for the next. Its ids are the kid's serial above KID_SHIFT bits
 * and its own id below. */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "async/async_int.h"
#include "async/later.h"
#include "async/resolve.h"
#include "conn/conn_int.h"
#include "conn/options_int.h"
#include "meta/block.h"
#include "meta/classes.h"
#include "rediskit/async.h"
#include "resp/command_int.h"
#include "resp/writer_int.h"
#include "util/backoff.h"
#include "util/common.h"

enum cstate { C_IDLE, C_RESOLVING, C_CONNECTING, C_READY };
enum rstate { R_QUEUED, R_SENT, R_SKIPPED };

/* The first poll of a resolution, and the longest gap between polls. */
#define RESOLVE_POLL_MIN_MS 1
#define RESOLVE_POLL_MAX_MS 32

typedef struct rec {
    rk_async_fn cb;
    void *ud;
    const char *shape; /* a typed command's reply shape (static), or NULL */
    int64_t deadline;  /* absolute ms, -1 for none */
    size_t len;        /* encoded bytes */
    uint8_t state;     /* enum rstate */
    bool done;         /* the callback ran */
    bool keep;         /* safe to repeat: its bytes are also in `kept` */
    int tries;         /* connections lost (or reconnects failed) under it */
    bool own;          /* a job's (async_int.h): ud is the job, the reply
                          is read as its own block and moved to it */
    bool quiet;        /* rk_async_queue_own's (pub/sub): no deadline of its
                          own, so the silence rule does not wait for one */
} rec;

/* A delayed call (later.h). */
typedef struct later {
    struct later *next;
    int64_t id, due;
    rk_async_later_fn fn;
    void *ud;
} later;

/* A command posted from another thread: its bytes and how to complete it. */
typedef struct posted {
    struct posted *next;
    rk_async_call call;
    int64_t at; /* when it was posted: its deadline counts from here */
    size_t len;
    char bytes[];
} posted;

struct rk_async {
    rk_options o; /* settled; strings in storage */
    char *storage;
    rk_tls_ctx *tls;
    rk_options copt; /* the current connection's: o with one address */
    rk_async_options ao;

    const rk_loop_ops *ops; /* &ops_copy while attached, else NULL */
    rk_loop_ops ops_copy;
    void *ldata;
    int watched_fd, watched_ev;
    int64_t armed; /* the deadline the loop's timer is set for, -1 none */

    enum cstate state;
    rk_conn *conn;
    rk_resolve *res;
    int64_t res_next;
    int res_gap;
    char addrs[RK_RESOLVE_MAX][RK_ADDR_MAX];
    int naddr, iaddr;
    int64_t connect_deadline; /* of the attempt in progress, -1 none */
    int64_t connect_at;       /* no new attempt before (backoff) */
    int fails, backoff_prev;
    int last_error; /* of the last failed connect */
    unsigned seed;

    rk_writer *out;
    rk_writer *kept; /* the bytes of the `keep` records in the ring, in order */
    rec *ring;
    size_t cap, head, count;
    rk_async_id head_id;
    size_t sendi, out_off;
    size_t inflight, inflight_bytes; /* SENT records awaiting replies */
    size_t live;                     /* records not done */
    int64_t next_cmd_deadline;       /* <= the earliest live deadline, -1 none */
    int64_t last_rx;                 /* the last read, or the first send after none in flight */
    /* The health check (rk_options.health_check_ms): no I/O (the read and
     * write counters did not move from idle_mark) since idle_from, and
     * nothing in flight, sends a PING of the engine's own (`own` counts
     * such records, not the caller's). */
    int64_t idle_from;
    uint64_t idle_mark;
    size_t own;
    bool health_failed; /* the PING went unanswered: declare the connection dead */
    bool reconnect;     /* connect at once even with nothing to send */
    later *laters;      /* delayed calls, unordered (few) */
    int64_t later_ids;
    bool flush_wanted, write_blocked;

    int depth;
    bool free_pending, disconnect_pending, freeing;
    /* The clock read when the loop input now running began (input_now
     * valid while in_input): commands submitted from its callbacks count
     * their deadlines from it, instead of reading the clock each (a clock
     * read costs about as much as queueing a small command). */
    bool in_input;
    int64_t input_now;
    rk_async_stats st;

    /* Commands posted from other threads (rk_async_post), under `lock`:
     * encoded by the poster, moved into the ring by the loop's thread. */
    pthread_mutex_t lock;
    posted *posts, **posts_tail;
    bool woken; /* a wake-up is on its way */

    /* Dedicated connections (see the top). */
    rk_async *parent, *kids, *kid_next;
    uint32_t serial, next_serial;
    int64_t idle_since; /* a kid's: when it last became idle */
    rk_async_tx *tx;    /* a kid's: the transaction holding it, or NULL */

    rk_aps *aps; /* pub/sub and tracking (pubsub.c), NULL until used */
};

static void settle(rk_async *ac, bool from_input);
static void lost(rk_async *ac, int code);
static rk_async_id queue_record(rk_async *ac, const rk_async_call *call, const char *shape,
                                size_t prev);
static rk_async_id record_command(rk_async *ac, const rk_async_call *call, const char *shape,
                                  size_t prev, bool may_repeat, int64_t since);
static rk_async_id record_part(rk_async *ac, const rk_async_call *call, const char *shape,
                               size_t prev, size_t len, bool may_repeat, int64_t since);
static int command_timeout(const rk_async *ac, int call_timeout_ms);
static void drop_kids(rk_async *ac, int code);
static int copy_tail(rk_writer *kw, const rk_writer *w, size_t prev, size_t len);
static void expire(rk_async *ac, int64_t now);
static int64_t next_health_check(const rk_async *ac);
static int64_t next_later(const rk_async *ac);
static void leave(rk_async *ac, bool from_input);
static int64_t submit_now(const rk_async *ac);
static int64_t silence_deadline(const rk_async *ac);
static int64_t next_kid_expiry(const rk_async *ac);
static void reap_idle_kids(rk_async *ac, int64_t now);

/* Whether the client must be connected: commands wait, or pub/sub holds
 * subscriptions or tracking. */
static bool needs_conn(const rk_async *ac) {
    return ac->live > 0 || ac->reconnect || (ac->aps && rk_aps_wants_link(ac));
}

/* ---- the ring ---------------------------------------------------------- */

static rec *at(const rk_async *ac, size_t i) {
    return &ac->ring[(ac->head + i) & (ac->cap - 1)];
}

RK_HOT static int ring_reserve(rk_async *ac) {
    if (ac->count < ac->cap)
        return RK_OK;
    size_t ncap = ac->cap ? ac->cap * 2 : 64;
    rec *nr = rk_malloc(ncap * sizeof(*nr));
    if (nr == NULL)
        return rk_fail(RK_ENOMEM, "out of memory queueing a command");
    for (size_t i = 0; i < ac->count; i++)
        nr[i] = *at(ac, i);
    rk_free(ac->ring);
    ac->ring = nr;
    ac->cap = ncap;
    ac->head = 0;
    return RK_OK;
}

static void pop_front(rk_async *ac) {
    if (at(ac, 0)->keep)
        rk_writer_consume(ac->kept, at(ac, 0)->len);
    ac->head = (ac->head + 1) & (ac->cap - 1);
    ac->count--;
    ac->head_id++;
    if (ac->sendi > 0)
        ac->sendi--;
}

/* Completes record i with a failure (no reply): its callback runs now. A
 * record none of whose bytes went out will never be sent. */
static void finish(rk_async *ac, size_t i, int status) {
    rec *r = at(ac, i);
    rk_async_fn cb = r->cb;
    void *ud = r->ud;
    r->done = true;
    ac->live--;
    if (r->state == R_QUEUED && !(i == ac->sendi && ac->out_off > 0))
        r->state = R_SKIPPED;
    if (r->own)
        ((rk_async_job *)ud)->sent = r->state != R_SKIPPED;
    ac->depth++;
    cb(ac, status, NULL, ud);
    ac->depth--;
}

/* Fails the first n records that are not done with code, drops their
 * unsent bytes and takes them out of the ring. Records submitted by the
 * callbacks meanwhile stay. */
static void drop_front(rk_async *ac, size_t n, int code) {
    for (size_t i = 0; i < n; i++)
        if (!at(ac, i)->done)
            finish(ac, i, code);
    if (ac->sendi < n) {
        size_t bytes = 0;
        for (size_t i = ac->sendi; i < n; i++)
            bytes += at(ac, i)->len;
        rk_writer_consume(ac->out, bytes - ac->out_off);
        ac->out_off = 0;
        ac->sendi = n;
    }
    for (size_t i = 0; i < n; i++)
        pop_front(ac);
}

/* ---- repeating after a lost connection --------------------------------- */

/* Whether record r, which a connection failure (code) caught, may be tried
 * again: it is safe to repeat (read-only, or marked idempotent) and has
 * tries left under the retry policy (rk_retry.attempts: tries in all). A
 * deadline that passed meanwhile is expire's to report. */
static bool repeatable(const rk_async *ac, const rec *r, int code) {
    return !r->done && r->keep && rk_connection_failure(code) &&
           r->tries + 1 < ac->o.retry.attempts;
}

/* Whether the command just encoded into out (from prev on) may be
 * repeated: it is safe to (the metadata's read-only class, read back from
 * out, which knows nothing of bytes appended raw; or the caller's word),
 * and its bytes were copied into `kept`, since those in `out` go once
 * written. Without memory for the copy it is not repeated (a lost
 * connection fails it as any other command). Both writers hold copies
 * only, one block each, so a copy is appended whole or not at all. */
static bool keep_for_retry(rk_async *ac, const rk_async_call *call, size_t prev, size_t len) {
    if (ac->o.retry.attempts <= 1)
        return false;
    if (!call->idempotent && !(rk_writer_last_flags(ac->out, RK_CMD_SAFE) & RK_CMD_SAFE))
        return false;
    return copy_tail(ac->kept, ac->out, prev, len) == RK_OK;
}

/* The bytes the next connection must send after the connection that had
 * begun the first n records was lost: those of the records repeated, from
 * `kept`, then the unsent ones (`out` past what was written of record
 * sendi). *kept_out gets the new `kept`: the repeated records' bytes and
 * those of the records after n. RK_OK, or RK_ENOMEM with nothing changed. */
static int rebuild_queue(rk_async *ac, size_t n, int code, rk_writer **out, rk_writer **kept_out) {
    rk_writer_opts wo = {.ref_threshold = SIZE_MAX};
    rk_writer *w = rk_writer_new(&wo), *k = rk_writer_new(&wo);
    size_t koff = 0, begun = ac->out_off > 0 ? at(ac, ac->sendi)->len - ac->out_off : 0;
    int rc = w && k ? RK_OK : rk_fail(RK_ENOMEM, "out of memory repeating commands");
    for (size_t i = 0; rc == RK_OK && i < n; i++) {
        const rec *r = at(ac, i);
        if (repeatable(ac, r, code)) {
            rc = copy_tail(w, ac->kept, koff, r->len);
            if (rc == RK_OK)
                rc = copy_tail(k, ac->kept, koff, r->len);
        }
        koff += r->keep ? r->len : 0;
    }
    if (rc == RK_OK)
        rc = copy_tail(w, ac->out, begun, rk_writer_pending(ac->out) - begun);
    if (rc == RK_OK)
        rc = copy_tail(k, ac->kept, koff, rk_writer_pending(ac->kept) - koff);
    if (rc != RK_OK) {
        rk_writer_free(w);
        rk_writer_free(k);
        return rc;
    }
    *out = w;
    *kept_out = k;
    return RK_OK;
}

/* Tells the retry policy's on_retry of every record among the first n that
 * waits to be repeated (queued again, tries made): the attempt it makes
 * next, the wait before the connection that carries it, and why. Called
 * once the records are settled; each record is looked up afresh, since
 * the callback may submit. */
static void tell_retries(rk_async *ac, size_t n, int delay_ms, int code) {
    if (ac->o.retry.on_retry == NULL)
        return;
    for (size_t i = 0; i < n && i < ac->count; i++) {
        const rec *r = at(ac, i);
        if (r->state == R_QUEUED && r->tries > 0 && !r->done)
            ac->o.retry.on_retry(ac->o.retry.userdata, r->tries + 1, delay_ms, code);
    }
}

/* The connection that had begun the first n records broke with code:
 * those safe to repeat go first on the next connection, the others fail
 * with code (they may have run), and the records done already (a reply
 * to eat that will never come) go. Returns false when none is repeated
 * (or no memory for it): the caller fails them all. */
static bool repeat_lost(rk_async *ac, size_t n, int code) {
    size_t again = 0;
    for (size_t i = 0; i < n; i++)
        again += repeatable(ac, at(ac, i), code);
    rk_writer *out, *kept;
    if (again == 0 || rebuild_queue(ac, n, code, &out, &kept) != RK_OK)
        return false;
    rk_writer_free(ac->out);
    rk_writer_free(ac->kept);
    ac->out = out;
    ac->kept = kept;
    ac->sendi = ac->out_off = 0;
    for (size_t i = 0; i < n; i++) {
        rec *r = at(ac, i);
        if (repeatable(ac, r, code)) {
            r->tries++;
            r->state = R_QUEUED;
            continue;
        }
        r->state = R_SKIPPED; /* its bytes are gone: nothing to skip */
        r->len = 0;
        r->keep = false;
    }
    /* Skipped and not done: to fail (a callback may cancel a repeated
     * one meanwhile, which makes it skipped and done). */
    for (size_t i = 0; i < n; i++)
        if (at(ac, i)->state == R_SKIPPED && !at(ac, i)->done)
            finish(ac, i, code);
    expire(ac, rk_now_ms());      /* a deadline may have passed meanwhile */
    tell_retries(ac, n, 0, code); /* the next connection is made at once */
    return true;
}

/* A connect failed with code: the commands waiting for it fail, except
 * those repeated after a lost connection that have tries left (the failed
 * connect counts as one): they wait for the next connect. */
static void fail_connect_waiters(rk_async *ac, int code) {
    size_t n = ac->count, first_kept = n;
    for (size_t i = 0; i < n; i++) {
        rec *r = at(ac, i);
        if (r->tries > 0 && repeatable(ac, r, code)) {
            r->tries++;
            first_kept = RK_MIN(first_kept, i);
        } else if (first_kept < n && !r->done) {
            finish(ac, i, code);
        }
    }
    drop_front(ac, first_kept, code);
    tell_retries(ac, ac->count, ac->backoff_prev, code); /* kept ones are first now */
}

/* ---- the loop ---------------------------------------------------------- */

static void unwatch(rk_async *ac) {
    if (ac->watched_fd >= 0 && ac->ops)
        ac->ops->watch(ac->ldata, ac->watched_fd, 0);
    ac->watched_fd = -1;
    ac->watched_ev = 0;
}

/* The connection is about to close fd (rk_conn_on_close): the loop stops
 * watching it first. Stopped after the close, its number may already be
 * another socket's, which the loop would then stop watching instead. */
static void conn_closing(void *ud, int fd) {
    rk_async *ac = ud;
    if (fd == ac->watched_fd)
        unwatch(ac);
}

/* Tells the loop what the connection waits for. */
static void update_interest(rk_async *ac) {
    if (ac->ops == NULL)
        return;
    int fd = ac->conn ? rk_conn_fd(ac->conn) : -1, ev = 0;
    if (ac->state == C_CONNECTING)
        ev = rk_conn_want(ac->conn);
    else if (ac->state == C_READY)
        ev = RK_WANT_READ | (ac->write_blocked || ac->flush_wanted ? RK_WANT_WRITE : 0);
    if (fd != ac->watched_fd)
        unwatch(ac);
    if (fd < 0 || ev == ac->watched_ev)
        return;
    ac->ops->watch(ac->ldata, fd, ev);
    ac->watched_fd = ev ? fd : -1;
    ac->watched_ev = ev;
}

static void min_in(int64_t *m, int64_t t) {
    if (t >= 0 && (*m < 0 || t < *m))
        *m = t;
}

/* The earliest moment something must happen without I/O. */
static int64_t next_deadline(const rk_async *ac) {
    int64_t n = -1;
    min_in(&n, ac->next_cmd_deadline);
    min_in(&n, next_kid_expiry(ac));
    min_in(&n, next_later(ac));
    switch (ac->state) {
    case C_RESOLVING:
        min_in(&n, ac->res_next);
        min_in(&n, ac->connect_deadline);
        break;
    case C_CONNECTING: min_in(&n, ac->connect_deadline); break;
    case C_IDLE:
        if (needs_conn(ac))
            min_in(&n, ac->connect_at);
        break;
    case C_READY:
        min_in(&n, silence_deadline(ac));
        min_in(&n, next_health_check(ac));
        break;
    }
    return n;
}

/* Arms the loop's timer when the next deadline is earlier than the one it
 * is armed for. A later one is left: the timer fires early, the client
 * finds nothing due, and arms it again. */
static void update_timer(rk_async *ac) {
    if (ac->ops == NULL)
        return;
    int64_t next = next_deadline(ac);
    if (next < 0 || (ac->armed >= 0 && ac->armed <= next))
        return;
    int64_t delay = next - rk_now_ms();
    ac->ops->timer(ac->ldata, delay > 0 ? delay : 0);
    ac->armed = next;
}

/* ---- connecting -------------------------------------------------------- */

static void drop_conn(rk_async *ac) {
    unwatch(ac);
    rk_conn_free(ac->conn);
    ac->conn = NULL;
    ac->state = C_IDLE;
    ac->inflight = ac->inflight_bytes = 0;
    ac->write_blocked = ac->flush_wanted = false;
}

/* A handshake the server refused with an error reply (SELECT on a db it
 * lacks...) is a failed connect: RK_ECONNECT with the server's words.
 * Never RK_ESERVER, which promises a callback the error reply itself. */
static int connect_error(int code) {
    if (code != RK_ESERVER && code != RK_EREDIRECT)
        return code;
    char said[512];
    snprintf(said, sizeof(said), "%s", rk_error_last()->message);
    return rk_fail(RK_ECONNECT, "the server refused the connection's handshake: %s", said);
}

/* A connect that failed: every command waiting for it fails with code,
 * and the next attempt waits for the retry policy's backoff. */
static void connect_failed(rk_async *ac, int code) {
    code = connect_error(code);
    rk_resolve_abandon(ac->res);
    ac->res = NULL;
    drop_conn(ac);
    ac->fails++;
    ac->reconnect = false;
    ac->last_error = code;
    ac->backoff_prev = rk_backoff_delay(&ac->o.retry, ac->fails, ac->backoff_prev, &ac->seed);
    ac->connect_at = rk_now_ms() + ac->backoff_prev;
    if (ac->aps)
        rk_aps_lost(ac, code);
    fail_connect_waiters(ac, code);
}

static void idle_restart(rk_async *ac, int64_t now);

static void connected(rk_async *ac) {
    ac->state = C_READY;
    ac->fails = ac->backoff_prev = 0;
    ac->reconnect = false;
    ac->st.connects++;
    if (ac->aps)
        rk_aps_connected(ac);
    idle_restart(ac, rk_now_ms());
}

static void try_address(rk_async *ac, int i);

/* Acts on what rk_conn_start/step answered. */
static void step_result(rk_async *ac, int rc) {
    if (rc == RK_OK) {
        connected(ac);
    } else if (rc == RK_ECONNECT && ac->iaddr + 1 < ac->naddr) {
        drop_conn(ac);
        try_address(ac, ac->iaddr + 1);
    } else if (rc != RK_EAGAIN) {
        connect_failed(ac, rc);
    }
}

/* Connects to address i of those resolved, within what is left of the
 * connect timeout. Over TLS the certificate is checked against the name
 * asked for, not the address. */
static void try_address(rk_async *ac, int i) {
    ac->iaddr = i;
    ac->copt = ac->o;
    if (ac->o.unix_path == NULL) {
        ac->copt.host = ac->addrs[i];
        if (ac->o.tls.enabled && ac->o.tls.server_name == NULL)
            ac->copt.tls.server_name = ac->o.host;
    }
    if (ac->connect_deadline >= 0) {
        int64_t left = ac->connect_deadline - rk_now_ms();
        if (left <= 0) {
            connect_failed(ac, rk_fail(RK_ETIMEOUT, "timed out connecting to %s", ac->o.host));
            return;
        }
        ac->copt.connect_timeout_ms = (int)RK_MIN(left, (int64_t)INT_MAX);
    }
    ac->conn = rk_conn_new_shared(&ac->copt, ac->tls);
    if (ac->conn == NULL) {
        connect_failed(ac, rk_error_last()->code);
        return;
    }
    rk_conn_on_close(ac->conn, conn_closing, ac);
    ac->state = C_CONNECTING;
    step_result(ac, rk_conn_start(ac->conn));
}

static void start_connect(rk_async *ac) {
    ac->connect_deadline = rk_net_deadline(ac->o.connect_timeout_ms);
    if (ac->o.unix_path || rk_resolve_is_numeric(ac->o.host)) {
        ac->naddr = 1;
        if (ac->o.unix_path == NULL)
            snprintf(ac->addrs[0], sizeof(ac->addrs[0]), "%s", ac->o.host);
        try_address(ac, 0);
        return;
    }
    ac->res = rk_resolve_start(ac->o.host);
    if (ac->res == NULL) {
        connect_failed(ac, rk_error_last()->code);
        return;
    }
    ac->state = C_RESOLVING;
    ac->res_gap = RESOLVE_POLL_MIN_MS;
    ac->res_next = rk_now_ms() + ac->res_gap;
}

/* Polls the resolver from the timer; connects once it has answered. */
static void poll_resolver(rk_async *ac, int64_t now) {
    int rc = rk_resolve_poll(ac->res, ac->addrs, &ac->naddr);
    if (rc == RK_EAGAIN) {
        if (ac->connect_deadline >= 0 && now >= ac->connect_deadline) {
            connect_failed(ac, rk_fail(RK_ETIMEOUT, "timed out resolving %s", ac->o.host));
            return;
        }
        ac->res_gap = RK_MIN(ac->res_gap * 2, RESOLVE_POLL_MAX_MS);
        ac->res_next = now + ac->res_gap;
        return;
    }
    rk_resolve_abandon(ac->res);
    ac->res = NULL;
    if (rc != RK_OK) {
        connect_failed(ac, rc);
        return;
    }
    try_address(ac, 0);
}

/* ---- writing ----------------------------------------------------------- */

/* Bytes of record k still to write, or 0 when the in-flight limits keep it
 * back (a record already begun always goes on). */
static size_t sendable(const rk_async *ac, size_t k, size_t infl, size_t inb) {
    const rec *r = at(ac, k);
    if (k == ac->sendi && ac->out_off > 0)
        return r->len - ac->out_off;
    if (infl >= (size_t)ac->ao.max_inflight)
        return 0;
    if (infl > 0 && inb + r->len > ac->ao.max_inflight_bytes)
        return 0;
    return r->len;
}

/* How many bytes from sendi on may go in one write: a run of records not
 * skipped, within the limits and the budget (the first one whole). */
RK_HOT static size_t gather(const rk_async *ac, size_t budget) {
    size_t run = 0, infl = ac->inflight, inb = ac->inflight_bytes;
    for (size_t k = ac->sendi; k < ac->count; k++) {
        if (at(ac, k)->state == R_SKIPPED)
            break;
        size_t n = sendable(ac, k, infl, inb);
        if (n == 0 || (run > 0 && run + n > budget))
            break;
        run += n;
        infl++;
        inb += at(ac, k)->len;
    }
    return run;
}

/* Counts w more bytes as written: the records they complete are SENT. A
 * skipped record stops the walk (skip_cancelled drops it): one a lost
 * connection failed has no bytes left (len 0) and would otherwise count
 * as sent, and take the reply of the command after it. */
static size_t advance(rk_async *ac, size_t w) {
    size_t sent = 0;
    ac->out_off += w;
    rk_writer_consume(ac->out, w);
    while (ac->sendi < ac->count && at(ac, ac->sendi)->state != R_SKIPPED &&
           ac->out_off >= at(ac, ac->sendi)->len) {
        rec *r = at(ac, ac->sendi);
        ac->out_off -= r->len;
        r->state = R_SENT;
        ac->inflight++;
        ac->inflight_bytes += r->len;
        ac->sendi++;
        sent++;
    }
    return sent;
}

/* Drops the bytes of skipped records at the front of what is unsent. */
static void skip_cancelled(rk_async *ac) {
    while (ac->sendi < ac->count && at(ac, ac->sendi)->state == R_SKIPPED) {
        rk_writer_consume(ac->out, at(ac, ac->sendi)->len);
        ac->sendi++;
    }
}

/* Writes what is queued: one writev per run of records (usually one in
 * all), at most max_write_bytes per call; what is left waits for the next
 * writable. */
RK_HOT static void flush(rk_async *ac) {
    size_t budget = ac->ao.max_write_bytes, sent = 0;
    bool was_idle = ac->inflight == 0;
    ac->flush_wanted = false;
    for (;;) {
        skip_cancelled(ac);
        size_t run = gather(ac, budget);
        if (run == 0)
            break;
        struct iovec iov[64];
        int n = rk_writer_iov(ac->out, iov, (int)RK_ARRAY_LEN(iov));
        size_t total = 0;
        for (int i = 0; i < n; i++) {
            if (total + iov[i].iov_len >= run) {
                iov[i].iov_len = run - total;
                n = i + 1;
                break;
            }
            total += iov[i].iov_len;
        }
        size_t w = 0;
        int rc = rk_conn_send_iov(ac->conn, iov, n, &w);
        ac->st.writes++;
        sent += advance(ac, w);
        if (rc == RK_EAGAIN) {
            ac->write_blocked = true;
            break;
        }
        if (rc != RK_OK) {
            lost(ac, rc);
            return;
        }
        budget = w >= budget ? 0 : budget - w;
        if (budget == 0) {
            ac->flush_wanted = gather(ac, SIZE_MAX) > 0;
            break;
        }
    }
    if (sent == 0)
        return;
    ac->st.commands += sent;
    rk_conn_queued(ac->conn, sent);
    if (was_idle)
        ac->last_rx = submit_now(ac); /* silence counts from the first send */
}

/* ---- reading ----------------------------------------------------------- */

/* The connection broke (or was closed): commands it had begun to send or
 * was awaiting replies for fail with code; commands not begun stay queued
 * for the next connection. */
static void lost(rk_async *ac, int code) {
    size_t n = ac->sendi + (ac->out_off > 0 && ac->sendi < ac->count ? 1 : 0);
    drop_conn(ac);
    ac->connect_at = 0;
    if (ac->aps)
        rk_aps_lost(ac, code);
    if (!repeat_lost(ac, n, code))
        drop_front(ac, n, code);
}

/* The record the next reply answers: the first SENT one (skipped ones
 * before it never got a reply, and go). NULL when none is awaited. */
static rec *awaited(rk_async *ac) {
    while (ac->sendi > 0 && at(ac, 0)->state == R_SKIPPED)
        pop_front(ac);
    return ac->sendi > 0 ? at(ac, 0) : NULL;
}

/* Hands one reply to the command at the head of the ring: its shape
 * applied (typed commands), the nil rule too, as every runner does. */
static void dispatch(rk_async *ac, rec r, rk_reply *reply) {
    pop_front(ac);
    ac->inflight--;
    ac->inflight_bytes -= r.len;
    if (r.done)
        return;
    ac->live--;
    int status = rk_reply_is_error(reply) ? rk_conn_server_error(reply)
                                          : rk_shape_finish(r.shape, RK_OK, reply);
    ac->depth++;
    r.cb(ac, status, reply, r.ud);
    ac->depth--;
}

/* Reads what the socket has and completes the commands it answers. A
 * reply is borrowed from the read buffer (no copy) unless a shape must be
 * applied to it. */
static void read_replies(rk_async *ac) {
    int rc = rk_conn_read_some(ac->conn);
    ac->st.reads++;
    if (rc == RK_EAGAIN)
        return;
    if (rc != RK_OK) {
        lost(ac, rc);
        return;
    }
    ac->last_rx = submit_now(ac);
    while (!ac->free_pending && !ac->disconnect_pending) {
        const rec *head = awaited(ac);
        rec r = head ? *head : (rec){0};
        rk_reply reply;
        rc = rk_conn_next(ac->conn, &reply, (r.shape == NULL && !r.own) || r.done);
        if (rc == 0)
            return;
        if (rc < 0) {
            lost(ac, rc);
            return;
        }
        int taken = ac->aps ? rk_aps_reply(ac, &reply, head ? r.ud : NULL) : RK_APS_PASS;
        if (taken != RK_APS_PASS) {
            rk_reply_free(&reply);
            if (taken < 0) {
                lost(ac, taken);
                return;
            }
            continue;
        }
        if (head == NULL) {
            rk_reply_free(&reply);
            lost(ac, rk_fail(RK_EPROTO, "protocol error: a reply nobody asked for"));
            return;
        }
        dispatch(ac, r, &reply);
        rk_reply_free(&reply);
    }
}

/* ---- timers ------------------------------------------------------------ */

/* Completes the commands whose deadline passed and notes the next one. */
static void expire(rk_async *ac, int64_t now) {
    int64_t next = -1;
    for (size_t i = 0; i < ac->count; i++) {
        const rec *r = at(ac, i);
        if (r->done || r->deadline < 0)
            continue;
        if (r->deadline > now) {
            min_in(&next, r->deadline);
            continue;
        }
        rk_fail(RK_ETIMEOUT, "the command's deadline passed");
        finish(ac, i, RK_ETIMEOUT);
    }
    ac->next_cmd_deadline = next;
}

/* The connection is declared dead though the transport noticed nothing
 * (the liveness rule, an unanswered health check PING): dropped as if
 * lost (its commands repeated or failed with code), and a new one made
 * at once, even with nothing to send. What must follow a reconnect
 * (re-subscribing...) hooks here and on the handshake's completion. */
static void declare_dead(rk_async *ac, int code) {
    lost(ac, code);
    ac->reconnect = true;
}

/* ---- liveness ---------------------------------------------------------- */

/* The least silence the default rule waits for. */
#define STALL_MIN_MS 1000

/* The silence, with commands outstanding, that declares the connection
 * dead: liveness_ms when set; by default (the stall rule) twice the
 * command timeout, at least STALL_MIN_MS, so that a server busy for a few
 * command timeouts (a slow script, DEBUG SLEEP) keeps its connection and
 * the calls waiting behind it. Negative: none (liveness_ms negative, no
 * command timeout, or a dedicated connection under the default rule: it
 * is closed anyway when its command is late). */
static int silence_ms(const rk_async *ac) {
    if (ac->ao.liveness_ms != 0)
        return ac->ao.liveness_ms;
    if (ac->parent != NULL)
        return -1;
    int t = command_timeout(ac, 0);
    return t < 0 ? -1 : (int)RK_MAX(RK_MIN(2 * (int64_t)t, INT_MAX), STALL_MIN_MS);
}

/* Whether the oldest command in flight, whose reply comes first, waits on
 * no deadline of the caller's: it is done (late, or cancelled: awaited
 * only to drop its reply), or a pub/sub command of the engine's, which
 * has none. */
static bool head_unbounded(const rk_async *ac) {
    for (size_t i = 0; i < ac->sendi; i++) {
        const rec *r = at(ac, i);
        if (r->state == R_SENT)
            return r->done || r->quiet;
    }
    return false;
}

/* Whether the silence rule applies now: commands are outstanding and,
 * under the default rule, the oldest of them waits on no deadline. By
 * default a black-holed link or a frozen server would otherwise keep the
 * connection (and every command sent on it meanwhile) for as long as TCP
 * takes to notice, which may be many minutes; replies come in order, so
 * commands sent behind a late one cannot be answered first, and under
 * steady traffic the rule still fires. One late command alone does not
 * sever the connection (the silence must last twice the command timeout),
 * nor does a slow command still within its deadline at the head (a long
 * script given a long timeout). */
static bool silence_counts(const rk_async *ac) {
    return ac->state == C_READY && ac->inflight > 0 &&
           (ac->ao.liveness_ms > 0 || head_unbounded(ac));
}

/* When the silence rule will declare the connection dead; -1 none. */
static int64_t silence_deadline(const rk_async *ac) {
    int t = silence_ms(ac);
    return t >= 0 && silence_counts(ac) ? ac->last_rx + t : -1;
}

static void check_liveness(rk_async *ac, int64_t now) {
    int64_t due = silence_deadline(ac);
    if (due < 0 || now < due)
        return;
    if (ac->ao.liveness_ms > 0)
        declare_dead(ac,
                     rk_fail(RK_EIO, "no byte from the server in %d ms with commands outstanding",
                             ac->ao.liveness_ms));
    else
        declare_dead(ac, rk_fail(RK_EIO,
                                 "the oldest command in flight is late and no byte came from the "
                                 "server in %d ms",
                                 silence_ms(ac)));
}

/* ---- the health check ---------------------------------------------------- */

/* Kids are left alone: an idle one is closed before long. */
static bool health_on(const rk_async *ac) {
    return ac->o.health_check_ms > 0 && ac->parent == NULL && ac->state == C_READY;
}

static void idle_restart(rk_async *ac, int64_t now) {
    ac->idle_from = now;
    ac->idle_mark = ac->st.reads + ac->st.writes;
}

static int64_t next_health_check(const rk_async *ac) {
    return health_on(ac) ? ac->idle_from + ac->o.health_check_ms : -1;
}

/* How long the PING may take: the liveness bound, else the command
 * timeout, else (none) the connect timeout, as the pooled check does. */
static int health_bound(const rk_async *ac) {
    if (ac->ao.liveness_ms > 0)
        return ac->ao.liveness_ms;
    if (ac->o.command_timeout_ms >= 0)
        return ac->o.command_timeout_ms ? ac->o.command_timeout_ms : RK_DEFAULT_COMMAND_TIMEOUT_MS;
    return ac->o.connect_timeout_ms > 0 ? ac->o.connect_timeout_ms : -1;
}

/* The engine's PING completed: unanswered in time, the connection is
 * declared dead once the timer's work is done (not here, inside expire's
 * walk of the ring). */
static void health_done(rk_async *ac, int status, rk_reply *reply, void *ud) {
    (void)reply, (void)ud;
    ac->own--;
    if (status == RK_ETIMEOUT)
        ac->health_failed = true;
}

/* Queues the engine's PING (bytes appended raw: never repeated). */
static void send_health_ping(rk_async *ac) {
    static const char ping[] = "*1\r\n$4\r\nPING\r\n";
    size_t prev = rk_writer_pending(ac->out);
    if (ring_reserve(ac) != RK_OK || rk_writer_raw(ac->out, ping, sizeof(ping) - 1) != RK_OK)
        return; /* no memory: the next check tries again */
    rk_async_call call = {.callback = health_done, .timeout_ms = health_bound(ac)};
    queue_record(ac, &call, NULL, prev);
    ac->own++;
}

/* From the timer: declares the connection dead when the last PING went
 * unanswered; otherwise, once the connection was idle (no read, no write,
 * nothing in flight) for health_check_ms, PINGs it. Idleness is noticed
 * at these checks, so the PING goes after one to two health_check_ms. */
static void check_health(rk_async *ac, int64_t now) {
    if (ac->health_failed) {
        ac->health_failed = false;
        if (ac->state == C_READY)
            declare_dead(ac, rk_fail(RK_ETIMEOUT, "no answer to the health check's PING in %d ms",
                                     health_bound(ac)));
        return;
    }
    if (!health_on(ac) || now < ac->idle_from + ac->o.health_check_ms)
        return;
    bool busy = ac->st.reads + ac->st.writes != ac->idle_mark || ac->count > 0;
    if (!busy)
        send_health_ping(ac);
    idle_restart(ac, now);
}

/* ---- delayed calls ------------------------------------------------------ */

static int64_t next_later(const rk_async *ac) {
    int64_t n = -1;
    for (const later *l = ac->laters; l; l = l->next)
        min_in(&n, l->due);
    return n;
}

/* Takes the first delayed call due by now (made before id `below`) out of
 * the list; NULL when none. */
static later *take_due(rk_async *ac, int64_t now, int64_t below) {
    for (later **p = &ac->laters; *p; p = &(*p)->next) {
        later *l = *p;
        if (l->due <= now && l->id < below) {
            *p = l->next;
            return l;
        }
    }
    return NULL;
}

/* Runs the delayed calls due, each once; those they make wait for the
 * next timer. */
static void run_laters(rk_async *ac, int64_t now) {
    int64_t below = ac->later_ids + 1;
    for (later *l; (l = take_due(ac, now, below)) != NULL;) {
        l->fn(ac, RK_OK, l->ud);
        rk_free(l);
    }
}

/* The client is being freed: every delayed call runs with RK_ECANCELED. */
static void cancel_laters(rk_async *ac) {
    while (ac->laters) {
        later *l = ac->laters;
        ac->laters = l->next;
        l->fn(ac, RK_ECANCELED, l->ud);
        rk_free(l);
    }
}

int64_t rk_async_later(rk_async *ac, int delay_ms, rk_async_later_fn fn, void *userdata) {
    if (ac == NULL || fn == NULL || ac->freeing)
        return rk_fail(RK_ECLOSED, "no async client to call back later");
    later *l = rk_malloc(sizeof(*l));
    if (l == NULL)
        return rk_fail(RK_ENOMEM, "out of memory for a delayed call");
    *l = (later){.next = ac->laters,
                 .id = ++ac->later_ids,
                 .due = rk_now_ms() + RK_MAX(delay_ms, 0),
                 .fn = fn,
                 .ud = userdata};
    ac->laters = l;
    ac->depth++;
    leave(ac, false); /* arms the timer */
    return l->id;
}

int rk_async_later_cancel(rk_async *ac, int64_t id) {
    for (later **p = ac ? &ac->laters : NULL; p && *p; p = &(*p)->next) {
        if ((*p)->id == id) {
            later *l = *p;
            *p = l->next;
            rk_free(l);
            return RK_OK;
        }
    }
    return rk_fail(RK_EINVAL, "no delayed call %lld waits", (long long)id);
}

/* ---- entering and leaving ---------------------------------------------- */

static int check_intake(const rk_async *ac, int timeout_ms, int64_t since);

/* Moves the commands other threads posted into the ring, in the order
 * they were posted. One the queue's bounds refuse (max_queued...: the
 * poster could not be told), that finds no room, or whose deadline
 * (counted from its posting) passed while it waited for the loop completes
 * with that error, unsent; at the client's free they are all taken, to be
 * cancelled. */
static void take_posts(rk_async *ac) {
    pthread_mutex_lock(&ac->lock);
    posted *p = ac->posts;
    ac->posts = NULL;
    ac->posts_tail = &ac->posts;
    ac->woken = false;
    pthread_mutex_unlock(&ac->lock);
    while (p) {
        posted *next = p->next;
        size_t prev = rk_writer_pending(ac->out);
        int rc = ac->freeing ? RK_OK : check_intake(ac, p->call.timeout_ms, p->at);
        if (rc == RK_OK)
            rc = ring_reserve(ac);
        if (rc == RK_OK)
            rc = rk_writer_raw(ac->out, p->bytes, p->len);
        if (rc == RK_OK)
            record_command(ac, &p->call, NULL, prev, true, p->at);
        else
            p->call.callback(ac, rc, NULL, p->call.userdata);
        rk_free(p);
        p = next;
    }
}

/* rk_async_detach's work, with the client held: the callbacks it runs
 * (blocking commands failed, the event of subscriptions lost) may free
 * the client, which happens once it is done. */
static void detach_held(rk_async *ac) {
    if (ac->aps)
        rk_aps_detach(ac);
    if (!ac->freeing && ac->kids) {
        rk_fail(RK_ECLOSED, "the client left its loop, and its dedicated connections with it");
        drop_kids(ac, RK_ECLOSED);
        if (ac->ops == NULL) /* a callback detached it */
            return;
    }
    unwatch(ac);
    if (ac->armed >= 0)
        ac->ops->timer(ac->ldata, -1);
    ac->armed = -1;
    const rk_loop_ops *ops = ac->ops;
    pthread_mutex_lock(&ac->lock);
    ac->ops = NULL;
    pthread_mutex_unlock(&ac->lock);
    if (ops->detach)
        ops->detach(ac->ldata);
}

void rk_async_detach(rk_async *ac) {
    if (ac == NULL || ac->ops == NULL)
        return;
    rk_async_hold(ac);
    detach_held(ac);
    rk_async_release(ac); /* last: the client may be gone after */
}

static void really_free(rk_async *ac) {
    ac->freeing = true;
    ac->depth++;
    if (ac->aps)
        rk_aps_close(ac, RK_ECANCELED);
    ac->depth--;
    rk_async_detach(ac);
    rk_resolve_abandon(ac->res);
    rk_conn_free(ac->conn);
    ac->conn = NULL;
    ac->depth++;
    take_posts(ac);
    rk_fail(RK_ECANCELED, "the async client was freed");
    drop_kids(ac, RK_ECANCELED);
    for (size_t i = 0; i < ac->count; i++)
        if (!at(ac, i)->done)
            finish(ac, i, rk_fail(RK_ECANCELED, "the async client was freed"));
    if (ac->aps)
        rk_aps_free(ac);
    cancel_laters(ac);
    pthread_mutex_destroy(&ac->lock);
    rk_free(ac->ring);
    rk_writer_free(ac->out);
    rk_writer_free(ac->kept);
    rk_tls_ctx_free(ac->tls);
    rk_options_free_storage(&ac->o, ac->storage);
    rk_free(ac);
}

static void do_disconnect(rk_async *ac) {
    ac->depth++;
    if (ac->aps)
        rk_aps_close(ac, RK_ECLOSED);
    ac->depth--;
    rk_fail(RK_ECLOSED, "the connection was closed (rk_async_disconnect)");
    rk_resolve_abandon(ac->res);
    ac->res = NULL;
    ac->reconnect = false;
    drop_conn(ac);
    drop_kids(ac, RK_ECLOSED);
    drop_front(ac, ac->count, RK_ECLOSED);
}

/* After an entry point, at depth 0: see the comment at the top. Returns
 * false when the client is gone. */
static bool settled_step(rk_async *ac) {
    if (ac->free_pending) {
        really_free(ac);
        return false;
    }
    return true;
}

RK_HOT static void settle(rk_async *ac, bool from_input) {
    if (!settled_step(ac))
        return;
    if (ac->disconnect_pending) {
        ac->disconnect_pending = false;
        do_disconnect(ac);
        if (!settled_step(ac))
            return;
    }
    if (ac->aps) {
        ac->depth++;
        rk_aps_settle(ac);
        ac->depth--;
        if (!settled_step(ac))
            return;
    }
    /* A connect starts from a loop input only (else the timer, armed for
     * connect_at, brings one at once): one refused at once (a unix socket
     * path that does not exist) fails the commands waiting for it, whose
     * callbacks must not run inside their own submission. */
    if (from_input && ac->ops && ac->state == C_IDLE && needs_conn(ac) &&
        rk_now_ms() >= ac->connect_at) {
        ac->depth++; /* the hooks of pub/sub run inside (async_int.h) */
        start_connect(ac);
        ac->depth--;
        if (!settled_step(ac))
            return;
    }
    if (ac->state == C_READY && ac->sendi < ac->count && !ac->write_blocked) {
        ac->depth++;
        if (from_input || ac->inflight == 0)
            flush(ac);
        else
            ac->flush_wanted = true;
        ac->depth--;
        if (!settled_step(ac))
            return;
    }
    update_interest(ac);
    update_timer(ac);
}

/* Loop inputs are ignored while a callback runs (a loop run from inside a
 * callback); the outer input sees the same readiness again. */
static bool enter(rk_async *ac) {
    if (ac == NULL || ac->depth > 0 || ac->freeing)
        return false;
    ac->depth++;
    ac->in_input = true;
    ac->input_now = rk_now_ms();
    return true;
}

static void leave(rk_async *ac, bool from_input) {
    if (--ac->depth > 0)
        return;
    ac->in_input = false;
    settle(ac, from_input);
}

/* Now, for a deadline: the input's clock inside a loop input. */
static int64_t submit_now(const rk_async *ac) {
    return ac->in_input ? ac->input_now : rk_now_ms();
}

RK_HOT void rk_async_on_readable(rk_async *ac) {
    if (!enter(ac))
        return;
    if (ac->state == C_CONNECTING)
        step_result(ac, rk_conn_step(ac->conn));
    else if (ac->state == C_READY)
        read_replies(ac);
    leave(ac, true);
}

void rk_async_on_writable(rk_async *ac) {
    if (!enter(ac))
        return;
    if (ac->state == C_CONNECTING) {
        step_result(ac, rk_conn_step(ac->conn));
    } else if (ac->state == C_READY) {
        ac->write_blocked = false;
        flush(ac);
    }
    leave(ac, true);
}

void rk_async_on_timer(rk_async *ac) {
    if (!enter(ac))
        return;
    ac->armed = -1;
    int64_t now = ac->input_now;
    if (ac->state == C_RESOLVING && now >= ac->res_next)
        poll_resolver(ac, now);
    if (ac->state == C_CONNECTING && ac->connect_deadline >= 0 && now >= ac->connect_deadline)
        connect_failed(ac, rk_fail(RK_ETIMEOUT, "timed out connecting to %s", ac->o.host));
    if (ac->next_cmd_deadline >= 0 && now >= ac->next_cmd_deadline)
        expire(ac, now);
    check_liveness(ac, now);
    check_health(ac, now);
    reap_idle_kids(ac, now);
    run_laters(ac, now);
    leave(ac, true);
}

void rk_async_on_wake(rk_async *ac) {
    if (!enter(ac))
        return;
    take_posts(ac);
    leave(ac, true);
}

/* ---- dedicated connections --------------------------------------------- */

#define KID_SHIFT 40
#define KID_LOCAL_MASK (((rk_async_id)1 << KID_SHIFT) - 1)

/* A kid's command: whose it is, and the caller's callback. */
typedef struct relay {
    rk_async *parent;
    rk_async_fn cb;
    void *ud;
    bool exec; /* a transaction's EXEC: nil is RK_EWATCH */
} relay;

/* A transaction: the kid it holds (NULL once lost). */
struct rk_async_tx {
    rk_async *ac, *kid;
};

/* Takes kid out of ac's list and frees it (once its own stack unwinds,
 * when called from inside it). The commands it fails call back with ac
 * held: one may free ac, which happens once the kid is gone (ac may be
 * gone after this). */
static void retire_kid(rk_async *ac, rk_async *kid) {
    for (rk_async **p = &ac->kids; *p; p = &(*p)->kid_next) {
        if (*p == kid) {
            *p = kid->kid_next;
            break;
        }
    }
    kid->kid_next = NULL;
    kid->parent = NULL;
    if (kid->tx)
        kid->tx->kid = NULL;
    kid->tx = NULL;
    rk_async_hold(ac);
    rk_async_free(kid);
    rk_async_release(ac);
}

/* Closes every kid, failing the commands they run with code (the error
 * detail set by the caller); their callbacks run now. Every kid is cut
 * from ac and from its transaction before the first callback runs: one
 * may free another transaction (rk_async_tx_free), which must then not
 * close a kid this walk is about to. Kids made by those callbacks stay. */
static void drop_kids(rk_async *ac, int code) {
    rk_async *kids = ac->kids;
    ac->kids = NULL;
    for (rk_async *k = kids; k; k = k->kid_next) {
        k->parent = NULL;
        if (k->tx)
            k->tx->kid = NULL;
        k->tx = NULL;
    }
    ac->depth++;
    while (kids) {
        rk_async *kid = kids;
        kids = kid->kid_next;
        kid->kid_next = NULL;
        for (size_t i = 0; i < kid->count; i++)
            if (!at(kid, i)->done)
                finish(kid, i, code);
        rk_async_free(kid);
    }
    ac->depth--;
}

static size_t idle_kids(const rk_async *ac) {
    size_t n = 0;
    for (const rk_async *k = ac->kids; k; k = k->kid_next)
        n += k->count == 0 && k->tx == NULL;
    return n;
}

/* A kid whose command completed: kept idle for the next one, unless
 * enough are, or its connection still owes a reply (a command that timed
 * out or was cancelled: the server may hold it for long). */
static void kid_went_idle(rk_async *ac, rk_async *kid) {
    if (kid->count > 0 || idle_kids(ac) > RK_ASYNC_DEDICATED_IDLE_MAX) {
        retire_kid(ac, kid);
        return;
    }
    kid->idle_since = rk_now_ms();
}

static int64_t next_kid_expiry(const rk_async *ac) {
    int64_t n = -1;
    for (const rk_async *k = ac->kids; k; k = k->kid_next)
        if (k->count == 0 && k->tx == NULL)
            min_in(&n, k->idle_since + RK_ASYNC_DEDICATED_IDLE_MS);
    return n;
}

static void reap_idle_kids(rk_async *ac, int64_t now) {
    rk_async *k = ac->kids;
    while (k) {
        rk_async *next = k->kid_next;
        if (k->count == 0 && k->tx == NULL && now >= k->idle_since + RK_ASYNC_DEDICATED_IDLE_MS)
            retire_kid(ac, k);
        k = next;
    }
}

/* A kid's completion, handed to the caller's callback with the parent. A
 * transaction's kid that failed a command (no reply) is in no known state
 * and is closed: the transaction is over. */
static void relay_done(rk_async *kid, int status, rk_reply *reply, void *ud) {
    relay rl = *(relay *)ud;
    rk_free(ud);
    rk_async *ac = rl.parent;
    if (rl.exec && status == RK_NIL) {
        status = rk_fail(RK_EWATCH, "EXEC aborted: a watched key changed");
        reply = NULL;
    }
    ac->depth++;
    rl.cb(ac, status, reply, rl.ud);
    if (kid->parent == ac && kid->tx && reply == NULL && status != RK_EWATCH)
        retire_kid(ac, kid);
    else if (kid->parent == ac && kid->live == 0 && kid->tx == NULL)
        kid_went_idle(ac, kid);
    if (--ac->depth == 0 && !ac->freeing)
        settle(ac, false);
}

/* An idle kid, or a new one attached to ac's loop; NULL with the error. */
static rk_async *take_kid(rk_async *ac) {
    for (rk_async *k = ac->kids; k; k = k->kid_next)
        if (k->count == 0 && k->tx == NULL && !k->free_pending)
            return k;
    rk_async *kid = rk_async_new_dedicated(ac);
    if (kid == NULL)
        return NULL;
    kid->parent = ac;
    kid->serial = ++ac->next_serial;
    kid->kid_next = ac->kids;
    ac->kids = kid;
    return kid;
}

/* A command's timeout from its call's: 0 takes the options' command
 * timeout, whose 0 is RK_DEFAULT_COMMAND_TIMEOUT_MS (as for the
 * synchronous client); negative: none. */
static int command_timeout(const rk_async *ac, int call_timeout_ms) {
    int t = call_timeout_ms ? call_timeout_ms : ac->o.command_timeout_ms;
    return t == 0 ? RK_DEFAULT_COMMAND_TIMEOUT_MS : t;
}

/* The deadline of a command that blocks block_ms (-1: for ever): its
 * block time on top of its timeout, as the synchronous client does. One
 * that blocks for ever has none, unless the call gave its own timeout: a
 * caller who bounds BLPOP 0 is obeyed. */
static int dedicated_timeout(const rk_async *ac, const rk_async_call *call, long long block_ms) {
    int t = command_timeout(ac, call->timeout_ms);
    if (block_ms < 0 && call->timeout_ms > 0)
        return call->timeout_ms;
    if (t < 0 || block_ms < 0)
        return -1;
    return (int)RK_MIN((long long)t + block_ms, (long long)INT_MAX);
}

/* Copies the len bytes of w from offset prev on to the end of kid's out. */
static int copy_tail(rk_writer *kw, const rk_writer *w, size_t prev, size_t len) {
    int rc = RK_OK;
    for (size_t off = 0; rc == RK_OK && off < len;) {
        struct iovec iov[16];
        int n = rk_writer_iov_at(w, prev + off, iov, (int)RK_ARRAY_LEN(iov));
        for (int i = 0; rc == RK_OK && i < n && off < len; i++) {
            size_t take = RK_MIN(iov[i].iov_len, len - off);
            rc = rk_writer_raw(kw, iov[i].iov_base, take);
            off += take;
        }
    }
    return rc;
}

/* Records the command just encoded into kid->out (from prev on), its
 * completion relayed by rl; returns its id as the parent knows it. */
static rk_async_id queue_relayed(rk_async *kid, relay *rl, const char *shape, size_t prev,
                                 int timeout_ms) {
    rk_async_call kc = {.callback = relay_done, .userdata = rl, .timeout_ms = timeout_ms};
    rk_async_id id = queue_record(kid, &kc, shape, prev);
    return ((rk_async_id)kid->serial << KID_SHIFT) | id;
}

/* Moves the command just encoded into ac->out (from prev on) to a kid's
 * queue. Returns its id, or the refusal (the command taken back). */
static rk_async_id queue_dedicated(rk_async *ac, const rk_async_call *call, const char *shape,
                                   size_t prev, long long block_ms) {
    size_t len = rk_writer_pending(ac->out) - prev;
    relay *rl = rk_malloc(sizeof(*rl));
    rk_async *kid = rl ? take_kid(ac) : NULL;
    int rc = kid  ? ring_reserve(kid)
             : rl ? rk_error_last()->code
                  : rk_fail(RK_ENOMEM, "out of memory queueing a command");
    size_t kprev = kid ? rk_writer_pending(kid->out) : 0;
    if (rc == RK_OK)
        rc = copy_tail(kid->out, ac->out, prev, len);
    rk_writer_unqueue_last(ac->out);
    if (rc != RK_OK) {
        rk_free(rl);
        return rc;
    }
    *rl = (relay){.parent = ac, .cb = call->callback, .ud = call->userdata};
    kid->depth++;
    rk_async_id id = queue_relayed(kid, rl, shape, kprev, dedicated_timeout(ac, call, block_ms));
    leave(kid, false);
    return id;
}

/* The kid that ran the command id, or NULL. */
static rk_async *kid_of(const rk_async *ac, rk_async_id id) {
    for (rk_async *k = ac->kids; k; k = k->kid_next)
        if (k->serial == (uint32_t)(id >> KID_SHIFT))
            return k;
    return NULL;
}

/* ---- the public side --------------------------------------------------- */

static void settle_options(rk_async_options *ao, const rk_async_options *in) {
    if (in)
        *ao = *in;
    if (ao->max_inflight <= 0)
        ao->max_inflight = RK_ASYNC_DEFAULT_MAX_INFLIGHT;
    if (ao->max_inflight_bytes == 0)
        ao->max_inflight_bytes = RK_ASYNC_DEFAULT_MAX_INFLIGHT_BYTES;
    if (ao->max_write_bytes == 0)
        ao->max_write_bytes = RK_ASYNC_DEFAULT_MAX_WRITE_BYTES;
    if (ao->liveness_ms < 0)
        ao->liveness_ms = -1; /* no rule at all, not even the stall rule */
    if (ao->max_queued < 0)
        ao->max_queued = 0;
}

rk_async *(rk_async_new)(const rk_options *opts, const rk_async_options *aopts, size_t opts_size,
                         size_t aopts_size) {
    rk_async_options in;
    if (rk_opts_settle(&in, sizeof(in), aopts, aopts_size, "rk_async_options") != RK_OK)
        return NULL;
    rk_async *ac = rk_calloc(1, sizeof(*ac));
    if (ac == NULL) {
        rk_fail(RK_ENOMEM, "out of memory creating an async client");
        return NULL;
    }
    if (rk_options_settle(opts, opts_size, &ac->o, &ac->storage) != RK_OK) {
        rk_free(ac);
        return NULL;
    }
    settle_options(&ac->ao, &in);
    ac->watched_fd = -1;
    ac->armed = ac->next_cmd_deadline = ac->connect_deadline = -1;
    ac->posts_tail = &ac->posts;
    ac->head_id = 1;
    ac->seed = (unsigned)(uintptr_t)ac ^ (unsigned)rk_now_us();
    /* Copy every argument: a caller cannot know when it was sent. */
    ac->out = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    ac->kept = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    int rc = ac->out && ac->kept ? rk_options_tls_ctx(&ac->o, &ac->tls)
                                 : rk_fail(RK_ENOMEM, "out of memory creating an async client");
    if (rc == RK_OK && pthread_mutex_init(&ac->lock, NULL) != 0) {
        rk_tls_ctx_free(ac->tls);
        rc = rk_fail(RK_ENOMEM, "no mutex for an async client");
    }
    if (rc != RK_OK) {
        rk_writer_free(ac->out);
        rk_writer_free(ac->kept);
        rk_options_free_storage(&ac->o, ac->storage);
        rk_free(ac);
        return NULL;
    }
    return ac;
}

void rk_async_free(rk_async *ac) {
    if (ac == NULL || ac->freeing)
        return;
    if (ac->depth > 0) {
        ac->free_pending = true;
        return;
    }
    really_free(ac);
}

int(rk_async_attach)(rk_async *ac, const rk_loop_ops *given, void *data, size_t ops_size) {
    if (ac == NULL || given == NULL)
        return rk_fail(RK_EINVAL, "rk_async_attach: the client and the operations are required");
    rk_loop_ops settled;
    if (rk_opts_settle(&settled, sizeof(settled), given, ops_size, "rk_loop_ops") != RK_OK)
        return RK_EINVAL;
    const rk_loop_ops *ops = &settled;
    if (ops->watch == NULL || ops->timer == NULL)
        return rk_fail(RK_EINVAL, "rk_async_attach: a loop must watch fds and arm a timer "
                                  "(watch and timer are required)");
    if (ac->ops != NULL)
        return rk_fail(RK_EINVAL, "rk_async_attach: the client is attached to a loop already");
    if (ac->freeing)
        return rk_fail(RK_ECLOSED, "the async client is being freed");
    pthread_mutex_lock(&ac->lock);
    ac->ops_copy = settled;
    ac->ops = &ac->ops_copy;
    ac->ldata = data;
    pthread_mutex_unlock(&ac->lock);
    /* Commands posted while on a loop left: their wake-up went there (and
     * `woken` would keep later posts from waking this one). Taken now. */
    ac->depth++;
    take_posts(ac);
    leave(ac, false);
    return RK_OK;
}

int rk_async_connect(rk_async *ac) {
    if (ac == NULL || ac->freeing)
        return rk_fail(RK_ECLOSED, "the async client is being freed");
    if (ac->state != C_IDLE)
        return RK_OK;
    ac->depth++;
    ac->reconnect = true; /* wanted with nothing to send, from the next input */
    ac->connect_at = 0;
    leave(ac, false);
    return RK_OK;
}

void rk_async_disconnect(rk_async *ac) {
    if (ac == NULL || ac->freeing)
        return;
    ac->disconnect_pending = true;
    if (ac->depth == 0) {
        ac->depth++;
        leave(ac, false);
    }
}

/* Records the command whose bytes were just appended to out (prev bytes
 * were there before); the ring has room. Returns its id. may_repeat false:
 * never repeated after a lost connection, whatever keep_for_retry says.
 * Its deadline counts from since (a posted command's: its posting). */
static rk_async_id record_command(rk_async *ac, const rk_async_call *call, const char *shape,
                                  size_t prev, bool may_repeat, int64_t since) {
    return record_part(ac, call, shape, prev, rk_writer_pending(ac->out) - prev, may_repeat, since);
}

/* As record_command, for the command whose bytes are the len from prev
 * on (a batch appends all its commands' bytes first). */
static rk_async_id record_part(rk_async *ac, const rk_async_call *call, const char *shape,
                               size_t prev, size_t len, bool may_repeat, int64_t since) {
    rec *r = at(ac, ac->count);
    int timeout = command_timeout(ac, call->timeout_ms);
    *r = (rec){.cb = call->callback,
               .ud = call->userdata,
               .shape = shape,
               .deadline = timeout > 0 ? since + timeout : -1,
               .len = len,
               .state = R_QUEUED,
               .keep = may_repeat && keep_for_retry(ac, call, prev, len)};
    min_in(&ac->next_cmd_deadline, r->deadline);
    ac->count++;
    ac->live++;
    return ac->head_id + (rk_async_id)ac->count - 1;
}

static rk_async_id queue_record(rk_async *ac, const rk_async_call *call, const char *shape,
                                size_t prev) {
    return record_command(ac, call, shape, prev, true, submit_now(ac));
}

/* Refuses the command encoded last into w if it would change the state of
 * its connection (taking it back out of w). */
static int refuse_stateful(rk_writer *w, int rc) {
    if (rc != RK_OK || !(rk_writer_last_flags(w, RK_CMD_STATEFUL) & RK_CMD_STATEFUL))
        return rc;
    rk_writer_unqueue_last(w);
    return rk_fail(RK_EINVAL, "this command changes the state of its connection; the async "
                              "client does not run it (use options for AUTH/SELECT/HELLO)");
}

/* Records the command just encoded into out, unless refused. */
RK_HOT static rk_async_id queue_encoded(rk_async *ac, const rk_async_call *call, const char *shape,
                                        size_t prev, int rc) {
    rc = refuse_stateful(ac->out, rc);
    if (rc != RK_OK)
        return rc;
    long long block_ms = rk_writer_last_block_ms(ac->out);
    if (block_ms != 0 && ac->parent == NULL && ac->ops && ac->ops->attach_other)
        return queue_dedicated(ac, call, shape, prev, block_ms);
    /* One that blocks, kept here for want of a dedicated connection, is
     * never repeated (async.h): it would block anew. */
    return record_command(ac, call, shape, prev, block_ms == 0, submit_now(ac));
}

/* The commands that wait unsent, and their bytes: the records from sendi
 * on not completed yet. One that timed out or was cancelled before its
 * turn waits for nothing (it is skipped when its turn comes), though its
 * record and bytes stay until then. */
static void count_waiting(const rk_async *ac, size_t *n, size_t *bytes) {
    *n = *bytes = 0;
    for (size_t i = ac->sendi; i < ac->count; i++) {
        const rec *r = at(ac, i);
        if (r->done)
            continue;
        (*n)++;
        *bytes += r->len - (i == ac->sendi ? ac->out_off : 0);
    }
}

/* The policy for commands that cannot be sent now (async.h: max_queued,
 * max_queued_bytes, fail_fast). The waiting commands are counted (a walk)
 * only when the records and bytes queued, completed ones included, reach
 * a limit. */
RK_HOT static int check_queue(const rk_async *ac) {
    if (ac->ao.fail_fast && ac->state == C_IDLE && ac->fails > 0)
        return rk_fail(ac->last_error,
                       "not connected: the last connect failed (%s), the next "
                       "waits for its backoff",
                       rk_strerror(ac->last_error));
    bool many = ac->ao.max_queued > 0 && ac->count - ac->sendi >= (size_t)ac->ao.max_queued;
    bool big = ac->ao.max_queued_bytes > 0 && rk_writer_pending(ac->out) >= ac->ao.max_queued_bytes;
    if (!many && !big)
        return RK_OK;
    size_t n, bytes;
    count_waiting(ac, &n, &bytes);
    if (many && n >= (size_t)ac->ao.max_queued)
        return rk_fail(RK_EAGAIN, "%d commands already wait to be sent", ac->ao.max_queued);
    if (big && bytes >= ac->ao.max_queued_bytes)
        return rk_fail(RK_EAGAIN, "%zu bytes of commands already wait to be sent",
                       ac->ao.max_queued_bytes);
    return RK_OK;
}

/* What a command handed over from another thread (a post, a multiplexed
 * call) must pass when the loop takes it in: its deadline, counted from
 * since (its posting, its call), not passed while it waited for the loop
 * (RK_ETIMEOUT: it is never sent), and the queue's bounds. */
static int check_intake(const rk_async *ac, int timeout_ms, int64_t since) {
    int timeout = command_timeout(ac, timeout_ms);
    if (timeout > 0 && submit_now(ac) >= since + timeout)
        return rk_fail(RK_ETIMEOUT, "the command's deadline passed before the loop took it in");
    return check_queue(ac);
}

/* Checks what every submission needs; RK_OK or the refusal. */
static int check_submit(rk_async *ac, const rk_async_call *call) {
    if (ac == NULL || call == NULL || call->callback == NULL)
        return rk_fail(RK_EINVAL, "a command needs a client and a callback");
    if (ac->freeing)
        return rk_fail(RK_ECLOSED, "the async client is being freed");
    int rc = check_queue(ac);
    return rc == RK_OK ? ring_reserve(ac) : rc;
}

/* *call: the caller's rk_async_call (call_size bytes of it) as this
 * library's struct, in *settled; NULL when given is. A caller built
 * against this header (every submission goes through here) is read in
 * place. */
static int settle_call(rk_async_call *settled, const rk_async_call **call,
                       const rk_async_call *given, size_t call_size) {
    *call = given;
    if (given == NULL || call_size == sizeof(*given))
        return RK_OK;
    if (rk_opts_settle(settled, sizeof(*settled), given, call_size, "rk_async_call") != RK_OK)
        return RK_EINVAL;
    *call = settled;
    return RK_OK;
}

rk_async_id(rk_async_submit)(rk_async *ac, const rk_async_call *given, const rk_str *argv,
                             size_t argc, size_t call_size) {
    rk_async_call settled;
    const rk_async_call *call;
    if (settle_call(&settled, &call, given, call_size) != RK_OK)
        return RK_EINVAL;
    int rc = check_submit(ac, call);
    if (rc != RK_OK)
        return rc;
    ac->depth++;
    size_t prev = rk_writer_pending(ac->out);
    rk_async_id id = queue_encoded(ac, call, NULL, prev, rk_writer_argv(ac->out, argv, argc));
    leave(ac, false);
    return id;
}

RK_HOT rk_async_id rk_async_command_argv(rk_async *ac, rk_async_fn cb, void *userdata,
                                         const rk_str *argv, size_t argc) {
    rk_async_call call = {.callback = cb, .userdata = userdata};
    return rk_async_submit(ac, &call, argv, argc);
}

rk_async_id rk_async_vcommand(rk_async *ac, rk_async_fn cb, void *userdata, const char *fmt,
                              va_list ap) {
    rk_async_call call = {.callback = cb, .userdata = userdata};
    int rc = check_submit(ac, &call);
    if (rc != RK_OK)
        return rc;
    if (fmt == NULL)
        return rk_fail(RK_EINVAL, "a command needs a format");
    ac->depth++;
    size_t prev = rk_writer_pending(ac->out);
    rk_async_id id = queue_encoded(ac, &call, NULL, prev, rk_writer_vformat(ac->out, fmt, ap));
    leave(ac, false);
    return id;
}

rk_async_id rk_async_command(rk_async *ac, rk_async_fn cb, void *userdata, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rk_async_id id = rk_async_vcommand(ac, cb, userdata, fmt, ap);
    va_end(ap);
    return id;
}

rk_async_id rk_async_run(rk_async *ac, rk_command *cmd, rk_async_fn cb, void *userdata) {
    rk_async_call call = {.callback = cb, .userdata = userdata};
    rk_command_int *c;
    int rc = rk_command_ready(cmd, &c);
    if (rc == RK_OK)
        rc = check_submit(ac, &call);
    if (rc != RK_OK) {
        rk_command_release(cmd);
        return rc;
    }
    ac->depth++;
    size_t prev = rk_writer_pending(ac->out);
    rk_async_id id =
        queue_encoded(ac, &call, c->shape, prev, rk_writer_argv(ac->out, c->argv, c->argc));
    rk_command_release(cmd);
    leave(ac, false);
    return id;
}

/* Encodes argv into a new post, in the caller's thread. */
static posted *encode_post(const rk_async_call *call, const rk_str *argv, size_t argc, int *rc) {
    rk_writer *w = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    *rc = w ? refuse_stateful(w, rk_writer_argv(w, argv, argc))
            : rk_fail(RK_ENOMEM, "out of memory posting a command");
    size_t len = w ? rk_writer_pending(w) : 0;
    posted *p = *rc == RK_OK ? rk_malloc(sizeof(*p) + len) : NULL;
    if (*rc == RK_OK && p == NULL)
        *rc = rk_fail(RK_ENOMEM, "out of memory posting a command");
    if (p) {
        *p = (posted){.call = *call, .at = rk_now_ms(), .len = len};
        /* Its bytes are appended raw on the loop's thread: judged here
         * (as keep_for_retry does: one that blocks is never repeated). */
        p->call.idempotent |= (rk_writer_last_flags(w, RK_CMD_SAFE) & RK_CMD_SAFE) != 0;
        if (rk_writer_last_block_ms(w) != 0)
            p->call.idempotent = false;
        struct iovec iov[64];
        int n = rk_writer_iov(w, iov, (int)RK_ARRAY_LEN(iov));
        size_t off = 0;
        for (int i = 0; i < n; i++) {
            memcpy(p->bytes + off, iov[i].iov_base, iov[i].iov_len);
            off += iov[i].iov_len;
        }
    }
    rk_writer_free(w);
    return p;
}

int(rk_async_post)(rk_async *ac, const rk_async_call *given, const rk_str *argv, size_t argc,
                   size_t call_size) {
    rk_async_call settled;
    const rk_async_call *call;
    if (settle_call(&settled, &call, given, call_size) != RK_OK)
        return RK_EINVAL;
    if (ac == NULL || call == NULL || call->callback == NULL)
        return rk_fail(RK_EINVAL, "a command needs a client and a callback");
    int rc;
    posted *p = encode_post(call, argv, argc, &rc);
    if (p == NULL)
        return rc;
    pthread_mutex_lock(&ac->lock);
    const rk_loop_ops *ops = ac->ops;
    if (ops == NULL || ops->wake == NULL) {
        pthread_mutex_unlock(&ac->lock);
        rk_free(p);
        return rk_fail(RK_EINVAL, "rk_async_post needs a loop that can be woken from another "
                                  "thread (the built-in loop and the adapters here have one)");
    }
    *ac->posts_tail = p;
    ac->posts_tail = &p->next;
    bool wake = !ac->woken;
    ac->woken = true;
    if (wake)
        ops->wake(ac->ldata);
    pthread_mutex_unlock(&ac->lock);
    return RK_OK;
}

int rk_async_cancel(rk_async *ac, rk_async_id id) {
    if (ac && id > KID_LOCAL_MASK) {
        rk_async *kid = kid_of(ac, id);
        if (kid)
            return rk_async_cancel(kid, id & KID_LOCAL_MASK);
    }
    if (ac == NULL || id < ac->head_id || id - ac->head_id >= (rk_async_id)ac->count ||
        at(ac, (size_t)(id - ac->head_id))->done)
        return rk_fail(RK_EINVAL, "no command %lld waits for completion", (long long)id);
    ac->depth++;
    rk_fail(RK_ECANCELED, "the command was cancelled");
    finish(ac, (size_t)(id - ac->head_id), RK_ECANCELED);
    leave(ac, false);
    return RK_OK;
}

size_t rk_async_pending(const rk_async *ac) {
    if (ac == NULL)
        return 0;
    size_t n = ac->live - ac->own;
    for (const rk_async *k = ac->kids; k; k = k->kid_next)
        n += k->live;
    return n;
}

void rk_async_get_stats(const rk_async *ac, rk_async_stats *out) {
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    if (ac)
        *out = ac->st;
}

/* ---- batches ------------------------------------------------------------ */

/* A batch: its commands encoded into w (lens and shapes per command)
 * until submitted; then its parts are consecutive records [first,
 * first + n) of the client's ring, each completing into the batch. The
 * first part to fail completes the batch and fails the others with it. */
struct rk_async_batch {
    rk_writer *w;
    size_t n, cap;
    size_t *lens;
    const char **shapes;
    /* Once submitted: */
    rk_async *ac;
    rk_async_batch_fn cb;
    void *ud;
    rk_async_id first;
    size_t got;
    bool done;
    rk_reply *replies;
    int *status;
};

rk_async_batch *rk_async_batch_new(void) {
    rk_async_batch *b = rk_calloc(1, sizeof(*b));
    if (b)
        b->w = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    if (b == NULL || b->w == NULL) {
        rk_free(b);
        rk_fail(RK_ENOMEM, "out of memory creating a batch");
        return NULL;
    }
    return b;
}

void rk_async_batch_free(rk_async_batch *b) {
    if (b == NULL)
        return;
    for (size_t i = 0; b->replies && i < b->got; i++)
        rk_reply_free(&b->replies[i]);
    rk_writer_free(b->w);
    rk_free(b->lens);
    rk_free(b->shapes);
    rk_free(b->replies);
    rk_free(b->status);
    rk_free(b);
}

static int batch_grow(rk_async_batch *b) {
    if (b->n < b->cap)
        return RK_OK;
    size_t ncap = b->cap ? b->cap * 2 : 16;
    size_t *lens = rk_malloc(ncap * sizeof(*lens));
    const char **shapes = lens ? rk_malloc(ncap * sizeof(*shapes)) : NULL;
    if (shapes == NULL) {
        rk_free(lens);
        return rk_fail(RK_ENOMEM, "out of memory queueing into a batch");
    }
    if (b->n) {
        memcpy(lens, b->lens, b->n * sizeof(*lens));
        memcpy(shapes, b->shapes, b->n * sizeof(*shapes));
    }
    rk_free(b->lens);
    rk_free(b->shapes);
    b->lens = lens;
    b->shapes = shapes;
    b->cap = ncap;
    return RK_OK;
}

/* Keeps the command just encoded into b->w (prev bytes were there), or
 * takes it back out when refused: rc, a command that changes its
 * connection's state, one that blocks (it would hold the multiplexed
 * connection), or no room. */
static int batch_keep(rk_async_batch *b, const char *shape, size_t prev, int rc) {
    rc = refuse_stateful(b->w, rc);
    if (rc != RK_OK)
        return rc;
    if (b->ac)
        rc = rk_fail(RK_EINVAL, "the batch was submitted already");
    else if (rk_writer_last_block_ms(b->w) != 0)
        rc = rk_fail(RK_EINVAL, "a blocking command cannot go in a batch (it would hold the "
                                "multiplexed connection): submit it alone");
    else
        rc = batch_grow(b);
    if (rc != RK_OK) {
        rk_writer_unqueue_last(b->w);
        return rc;
    }
    b->lens[b->n] = rk_writer_pending(b->w) - prev;
    b->shapes[b->n++] = shape;
    return RK_OK;
}

int rk_async_batch_append_argv(rk_async_batch *b, const rk_str *argv, size_t argc) {
    if (b == NULL)
        return rk_fail(RK_EINVAL, "no batch");
    size_t prev = rk_writer_pending(b->w);
    return batch_keep(b, NULL, prev, rk_writer_argv(b->w, argv, argc));
}

int rk_async_batch_vappend(rk_async_batch *b, const char *fmt, va_list ap) {
    if (b == NULL || fmt == NULL)
        return rk_fail(RK_EINVAL, "a batch and a format are required");
    size_t prev = rk_writer_pending(b->w);
    return batch_keep(b, NULL, prev, rk_writer_vformat(b->w, fmt, ap));
}

int rk_async_batch_append(rk_async_batch *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_async_batch_vappend(b, fmt, ap);
    va_end(ap);
    return rc;
}

int rk_async_batch_add(rk_async_batch *b, rk_command *cmd) {
    rk_command_int *c;
    int rc = b ? rk_command_ready(cmd, &c) : rk_fail(RK_EINVAL, "no batch");
    if (rc == RK_OK) {
        size_t prev = rk_writer_pending(b->w);
        rc = batch_keep(b, c->shape, prev, rk_writer_argv(b->w, c->argv, c->argc));
    }
    rk_command_release(cmd);
    return rc;
}

size_t rk_async_batch_size(const rk_async_batch *b) {
    return b ? b->n : 0;
}

size_t rk_async_batch_replies(const rk_async_batch *b) {
    return b && b->done ? b->got : 0;
}

const rk_reply *rk_async_batch_reply(const rk_async_batch *b, size_t i) {
    return i < rk_async_batch_replies(b) ? &b->replies[i] : NULL;
}

int rk_async_batch_status(const rk_async_batch *b, size_t i) {
    if (i >= rk_async_batch_replies(b))
        return rk_fail(RK_EINVAL, "no reply %zu in the batch", i);
    return b->status[i];
}

/* Completes the batch: its callback runs, then the batch is freed. */
static void batch_complete(rk_async_batch *b, int status) {
    b->done = true;
    b->cb(b->ac, status, status == RK_OK ? b : NULL, b->ud);
    rk_async_batch_free(b);
}

/* A part's completion: a reply is kept; a failure completes the batch
 * with it and fails the parts still waiting (their replies are dropped
 * when they come). */
static void batch_part(rk_async *ac, int status, rk_reply *reply, void *ud) {
    rk_async_batch *b = ud;
    if (b->done)
        return;
    if (reply == NULL) {
        b->done = true;
        for (rk_async_id id = b->first; id < b->first + (rk_async_id)b->n; id++)
            if (id >= ac->head_id && id - ac->head_id < (rk_async_id)ac->count &&
                !at(ac, (size_t)(id - ac->head_id))->done)
                finish(ac, (size_t)(id - ac->head_id), status);
        for (size_t i = 0; i < b->got; i++) /* no reply is given with a failure */
            rk_reply_free(&b->replies[i]);
        b->got = 0;
        batch_complete(b, status);
        return;
    }
    if (rk_reply_dup(&b->replies[b->got], reply) != RK_OK)
        status = RK_ENOMEM;
    b->status[b->got++] = status;
    if (b->got == b->n)
        batch_complete(b, RK_OK);
}

/* Room in the ring for n more records. */
static int ring_room(rk_async *ac, size_t n) {
    while (ac->cap - ac->count < n) {
        size_t had = ac->count;
        ac->count = ac->cap; /* ring_reserve grows a full ring */
        int rc = ring_reserve(ac);
        ac->count = had;
        if (rc != RK_OK)
            return rc;
    }
    return RK_OK;
}

/* Room for the batch's replies, and in the ring for its parts. */
static int batch_reserve(rk_async *ac, rk_async_batch *b) {
    b->replies = rk_calloc(b->n, sizeof(*b->replies));
    b->status = rk_calloc(b->n, sizeof(*b->status));
    if (b->replies == NULL || b->status == NULL)
        return rk_fail(RK_ENOMEM, "out of memory submitting a batch");
    return ring_room(ac, b->n);
}

/* Queues the batch's parts (the batch is checked and has room): all their
 * bytes in one append (the batch's writer holds copies only, in one
 * block), so that memory runs out for all or none of them (a part failed
 * alone would complete the batch inside its submission). */
static int batch_queue(rk_async *ac, rk_async_batch *b, const rk_async_call *call) {
    size_t prev = rk_writer_pending(ac->out);
    int rc = copy_tail(ac->out, b->w, 0, rk_writer_pending(b->w));
    if (rc != RK_OK)
        return rc;
    int64_t now = submit_now(ac);
    for (size_t i = 0; i < b->n; i++) {
        record_part(ac, call, b->shapes[i], prev, b->lens[i], true, now);
        prev += b->lens[i];
    }
    return RK_OK;
}

rk_async_id rk_async_batch_submit(rk_async *ac, rk_async_batch *b, rk_async_batch_fn cb, void *ud,
                                  int timeout_ms) {
    rk_async_call call = {.callback = batch_part, .userdata = b, .timeout_ms = timeout_ms};
    int rc = b == NULL || cb == NULL || b->n == 0 || b->ac
                 ? rk_fail(RK_EINVAL, "a batch needs commands and a callback, and runs once")
                 : check_submit(ac, &call);
    if (rc == RK_OK)
        rc = batch_reserve(ac, b);
    if (rc != RK_OK) {
        rk_async_batch_free(b);
        return rc;
    }
    rk_async_id first = ac->head_id + (rk_async_id)ac->count;
    b->ac = ac;
    b->cb = cb;
    b->ud = ud;
    b->first = first;
    rc = batch_queue(ac, b, &call);
    if (rc != RK_OK) {
        rk_async_batch_free(b);
        return rc;
    }
    ac->depth++;
    leave(ac, false);
    return first + (rk_async_id)b->n - 1;
}

/* ---- transactions ------------------------------------------------------- */

rk_async_tx *rk_async_tx_new(rk_async *ac) {
    if (ac == NULL || ac->freeing || ac->parent || ac->ops == NULL ||
        ac->ops->attach_other == NULL) {
        rk_fail(RK_EINVAL, "a transaction needs a client attached to a loop that can take "
                           "another connection (attach_other)");
        return NULL;
    }
    rk_async_tx *tx = rk_calloc(1, sizeof(*tx));
    rk_async *kid = tx ? take_kid(ac) : NULL;
    if (kid == NULL) {
        if (tx == NULL)
            rk_fail(RK_ENOMEM, "out of memory creating a transaction");
        rk_free(tx);
        return NULL;
    }
    *tx = (rk_async_tx){.ac = ac, .kid = kid};
    kid->tx = tx;
    return tx;
}

void rk_async_tx_free(rk_async_tx *tx) {
    if (tx == NULL)
        return;
    if (tx->kid)
        retire_kid(tx->ac, tx->kid);
    rk_free(tx);
}

/* What every transaction call needs: a live transaction, a callback, ring
 * room for n records and a relay; RK_OK or the refusal. */
static int tx_check(rk_async_tx *tx, rk_async_fn cb, size_t n, relay **rl) {
    if (tx == NULL || cb == NULL)
        return rk_fail(RK_EINVAL, "a transaction and a callback are required");
    if (tx->kid == NULL)
        return rk_fail(RK_ECLOSED, "the transaction's connection was closed");
    int rc = ring_room(tx->kid, n);
    if (rc != RK_OK)
        return rc;
    *rl = rk_malloc(sizeof(**rl));
    return *rl ? RK_OK : rk_fail(RK_ENOMEM, "out of memory in a transaction");
}

rk_async_id rk_async_tx_watch(rk_async_tx *tx, rk_async_fn cb, void *userdata, const rk_str *keys,
                              size_t count) {
    relay *rl = NULL;
    int rc = count && keys ? tx_check(tx, cb, 1, &rl) : rk_fail(RK_EINVAL, "WATCH needs keys");
    rk_str *argv = rc == RK_OK ? rk_malloc((count + 1) * sizeof(*argv)) : NULL;
    if (rc == RK_OK && argv == NULL)
        rc = rk_fail(RK_ENOMEM, "out of memory in a transaction");
    rk_async *kid = rc == RK_OK ? tx->kid : NULL;
    size_t prev = kid ? rk_writer_pending(kid->out) : 0;
    if (rc == RK_OK) {
        argv[0] = RK_STR("WATCH");
        memcpy(argv + 1, keys, count * sizeof(*keys));
        rc = rk_writer_argv(kid->out, argv, count + 1);
    }
    rk_free(argv);
    if (rc != RK_OK) {
        rk_free(rl);
        return rc;
    }
    *rl = (relay){.parent = tx->ac, .cb = cb, .ud = userdata};
    kid->depth++;
    rk_async_id id = queue_relayed(kid, rl, NULL, prev, 0);
    leave(kid, false);
    return id;
}

static void tx_ignore(rk_async *kid, int status, rk_reply *reply, void *ud) {
    (void)kid, (void)status, (void)reply, (void)ud;
}

/* Records what was appended to kid's queue from prev on (MULTI, or a
 * command of the batch, answered QUEUED), rc being the append's result,
 * as a record of the kid whose completion is ignored. */
static int tx_record_quiet(rk_async *kid, size_t prev, int rc, int timeout_ms) {
    if (rc == RK_OK)
        queue_record(kid, &(rk_async_call){.callback = tx_ignore, .timeout_ms = timeout_ms}, NULL,
                     prev);
    return rc;
}

rk_async_id rk_async_tx_exec(rk_async_tx *tx, rk_async_batch *b, rk_async_fn cb, void *userdata,
                             int timeout_ms) {
    static const char multi[] = "*1\r\n$5\r\nMULTI\r\n", exec[] = "*1\r\n$4\r\nEXEC\r\n";
    relay *rl = NULL;
    int rc = b && b->n && !b->ac ? tx_check(tx, cb, b->n + 2, &rl)
                                 : rk_fail(RK_EINVAL, "EXEC needs a batch not submitted");
    rk_async *kid = rc == RK_OK ? tx->kid : NULL;
    int t = kid ? (timeout_ms ? timeout_ms : tx->ac->o.command_timeout_ms) : 0;
    size_t prev = kid ? rk_writer_pending(kid->out) : 0;
    if (rc == RK_OK)
        rc = tx_record_quiet(kid, prev, rk_writer_raw(kid->out, multi, sizeof(multi) - 1), t);
    for (size_t i = 0, off = 0; rc == RK_OK && i < b->n; off += b->lens[i++]) {
        prev = rk_writer_pending(kid->out);
        rc = tx_record_quiet(kid, prev, copy_tail(kid->out, b->w, off, b->lens[i]), t);
    }
    prev = kid ? rk_writer_pending(kid->out) : 0;
    if (rc == RK_OK)
        rc = rk_writer_raw(kid->out, exec, sizeof(exec) - 1);
    rk_async_batch_free(b);
    if (rc != RK_OK) {
        rk_free(rl);
        if (kid) /* part of it queued: the connection is in no known state */
            retire_kid(tx->ac, kid);
        return rc;
    }
    *rl = (relay){.parent = tx->ac, .cb = cb, .ud = userdata, .exec = true};
    kid->depth++;
    rk_async_id id = queue_relayed(kid, rl, NULL, prev, t);
    leave(kid, false);
    return id;
}

/* ---- for pub/sub (async_int.h) ------------------------------------------ */

rk_aps **rk_async_aps(rk_async *ac) {
    return &ac->aps;
}

const rk_options *rk_async_options_of(const rk_async *ac) {
    return &ac->o;
}

rk_conn *rk_async_ready_conn(const rk_async *ac) {
    return ac->state == C_READY ? ac->conn : NULL;
}

bool rk_async_freeing(const rk_async *ac) {
    return ac->freeing || ac->free_pending;
}

int rk_async_queue_own(rk_async *ac, const rk_str *argv, size_t argc, rk_async_fn cb, void *ud) {
    int rc = ring_reserve(ac);
    size_t prev = rk_writer_pending(ac->out);
    if (rc == RK_OK)
        rc = rk_writer_argv(ac->out, argv, argc);
    if (rc != RK_OK)
        return rc;
    ac->depth++;
    queue_record(ac, &(rk_async_call){.callback = cb, .userdata = ud, .timeout_ms = -1}, NULL,
                 prev);
    at(ac, ac->count - 1)->quiet = true;
    leave(ac, false);
    return RK_OK;
}

void rk_async_hold(rk_async *ac) {
    ac->depth++;
}

void rk_async_release(rk_async *ac) {
    if (--ac->depth == 0 && !ac->freeing)
        settle(ac, false);
}

bool rk_async_can_dedicate(const rk_async *ac) {
    return ac->ops == NULL || ac->ops->attach_other != NULL;
}

rk_async *rk_async_new_dedicated(rk_async *ac) {
    if (ac->ops == NULL || ac->ops->attach_other == NULL) {
        rk_fail(RK_EINVAL, "a dedicated connection needs a loop that can take another client "
                           "(attach_other)");
        return NULL;
    }
    rk_async *d = rk_async_new(&ac->o, &ac->ao);
    if (d == NULL)
        return NULL;
    int rc = ac->ops->attach_other(ac->ldata, d);
    if (rc != RK_OK) {
        rk_async_free(d);
        rk_fail(rc, "the loop could not take a dedicated connection");
        return NULL;
    }
    return d;
}

/* ---- jobs (async_int.h) ------------------------------------------------ */

/* A job's completion: the reply, read as a block of its own, is moved to
 * the job (dispatch then frees an empty reply). */
static void job_done(rk_async *ac, int status, rk_reply *reply, void *ud) {
    RK_UNUSED(ac);
    rk_async_job *job = ud;
    job->status = status;
    if (reply) {
        job->sent = true;
        job->reply = *reply;
        memset(reply, 0, sizeof(*reply));
    }
    job->done(job);
}

/* Copies a job's command into out and records it. The command is one run
 * of bytes (its writer copies its arguments). One whose deadline passed
 * before the loop took it in (a busy loop) fails with RK_ETIMEOUT, unsent,
 * as a posted command does. */
static int queue_job(rk_async *ac, rk_async_job *job) {
    struct iovec iov[2];
    int n = rk_writer_iov(job->cmd, iov, 2);
    if (n != 1)
        return rk_fail(RK_EINVAL, "a job's command must be one run of bytes");
    int rc = check_intake(ac, job->timeout_ms, job->since);
    if (rc == RK_OK)
        rc = ring_reserve(ac);
    size_t prev = rk_writer_pending(ac->out);
    if (rc == RK_OK)
        rc = rk_writer_raw(ac->out, iov[0].iov_base, iov[0].iov_len);
    if (rc != RK_OK)
        return rc;
    rk_async_call call = {.callback = job_done, .userdata = job, .timeout_ms = job->timeout_ms};
    record_command(ac, &call, NULL, prev, true, job->since);
    at(ac, ac->count - 1)->own = true;
    return RK_OK;
}

size_t rk_async_take_jobs(rk_async *ac, rk_async_job *list) {
    bool entered = enter(ac);
    size_t queued = 0;
    while (list) {
        rk_async_job *job = list;
        list = job->next;
        int rc =
            entered ? queue_job(ac, job) : rk_fail(RK_ECLOSED, "the async client is being freed");
        if (rc == RK_OK) {
            queued++;
            continue;
        }
        job->status = rc;
        job->sent = false;
        job->done(job);
    }
    if (entered)
        leave(ac, true);
    return queued;
}
