/* Pub/sub: one dedicated connection in pub/sub mode, the subscriptions it
 * should hold, and a small event loop (rk_pubsub_get_message, or the
 * background thread) that reads messages, runs handlers, health-checks the
 * link and reconnects, restoring every subscription in one pipelined round.
 * Only the thread running the loop touches the connection: the
 * (un)subscribe calls queue their command in an outbox under a mutex, and
 * send it themselves only when no loop runs elsewhere (decided under a
 * second mutex that starting and stopping the thread take too).
 * rk_pubsub_wait_active queues a numbered PING behind the commands and
 * waits for its answer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/client_int.h"
#include "conn/conn_int.h"
#include "features/pubsub_int.h"
#include "rediskit/pubsub.h"
#include "resp/command_int.h"
#include "resp/writer_int.h"
#include "util/common.h"
#include "util/nameset.h"

/* Payloads of the loop's own PINGs; their answers never reach the caller. */
#define HEALTH_PAYLOAD "rediskit-health-check"
#define RESTORED_PAYLOAD "rediskit-resubscribed"
#define ACTIVE_PAYLOAD "rediskit-active-" /* then the marker's number */

enum kind { CHANNELS, PATTERNS, SHARDS, NKINDS };

static const char *const subscribe_cmd[NKINDS] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
static const char *const unsubscribe_cmd[NKINDS] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};

/* ---- name tables ----------------------------------------------------- */

/* One channel, pattern or shard channel (util/nameset.h): a subscription
 * (`want`: asked for, restored on reconnect; `confirmed` on this
 * connection), or a handler (`fn`, an rk_message_fn, and `userdata`). */
typedef rk_name entry;
typedef rk_nameset table;

#define table_find rk_nameset_find
#define table_add rk_nameset_add
#define table_remove rk_nameset_remove
#define table_clear rk_nameset_clear
#define table_free rk_nameset_free

/* ---- the object ------------------------------------------------------ */

/* The loop's view of its connection. */
enum link { LINK_IDLE, LINK_DOWN, LINK_CONNECTING, LINK_UP };

/* A copy of a failure, kept past the thread-local rk_error_last(). */
typedef struct saved_error {
    int code;
    char message[256];
    char prefix[32];
} saved_error;

/* A message rk_pubsub_wait_active read, kept for rk_pubsub_get_message. */
typedef struct held {
    struct held *next;
    bool reconnected; /* RK_MSG_RECONNECTED, which no reply describes */
    rk_reply reply;   /* owned copy; the message is described from it again */
} held;

/* Whose PING a connection has not answered yet. A server that refuses
 * PING (an ACL user denied it) answers NOPERM, an error with no payload
 * to tell whose it was: its place in the line of PINGs sent does. */
enum ping_kind { PING_HEALTH, PING_RESTORED, PING_MARKER, PING_USER };

typedef struct ping_rec {
    uint64_t marker; /* PING_MARKER's number */
    enum ping_kind kind;
} ping_rec;

/* PINGs in the order they were queued, oldest at head. */
typedef struct ping_line {
    ping_rec *v;
    size_t head, len, cap;
} ping_line;

struct rk_pubsub {
    const rk_options *o; /* the client's settled options */
    rk_conn *conn;
    bool ignore_confirmations;
    int health_ms; /* <= 0: no health check */
    rk_pubsub_event_fn on_event;
    void *event_userdata;

    /* Who drives the connection: the background thread while `threaded`,
     * else a caller. Changing `threaded`, and a caller's decision to send
     * (and its sending) happen under drive_mu; taken before mu. */
    pthread_mutex_t drive_mu;

    /* Shared with the callers of (un)subscribe: under mu. */
    pthread_mutex_t mu;
    table subs[NKINDS];     /* what to hold (want) and what is held (confirmed) */
    table handlers[2];      /* per channel, per pattern */
    rk_writer *outbox;      /* commands not yet handed to the connection */
    ping_line outbox_pings; /* the PINGs in the outbox */
    atomic_bool outbox_full;
    atomic_size_t counts[NKINDS]; /* subs[k].confirmed, for any thread */
    atomic_size_t nhandlers;
    /* Markers of rk_pubsub_wait_active, numbered from 1. Markers up to
     * `answered` were answered (or made moot by a restore); `answered` is
     * written under mu and announced on `changed`. */
    uint64_t queued; /* markers put in the outbox */
    uint64_t moved;  /* the last one handed to a connection */
    atomic_uint_fast64_t answered;
    pthread_cond_t changed; /* answered, fatal or thread_alive changed */
    saved_error fatal;      /* the last failure retrying will not cure */
    bool thread_alive;      /* the background thread is in its loop */

    /* The loop's own: touched only by the thread running it. */
    enum link link;
    bool ever_up;     /* a connection was made: the next one restores */
    bool restoring;   /* restore sent, its closing PING not answered yet */
    bool dispatching; /* inside a handler, the fallback or on_event */
    bool down_told;   /* RK_PUBSUB_LOST told; RECONNECTED not yet */
    bool lost_untold; /* the link was lost; `lost` says why */
    saved_error lost;
    uint64_t restore_covers;      /* markers lost with old links: the restore
                                     answers them */
    held *backlog, **backlog_end; /* messages kept by rk_pubsub_wait_active */
    int attempt, last_delay;
    unsigned seed;
    int64_t retry_at, connect_deadline;
    int64_t last_rx, ping_at; /* health check */
    bool ping_out;
    ping_line wire_pings; /* the PINGs handed to the connection, unanswered */
    rk_reply cur;         /* the reply the last message points into */

    /* The background thread. */
    pthread_t thread;
    atomic_bool threaded, stop;
    int wake[2]; /* self-pipe that wakes the loop; -1 until a thread runs */
    rk_message_fn fallback;
    void *fallback_userdata;
};

/* The locks and the condition (on the monotonic clock, as deadlines are);
 * false when one could not be made (nothing is left to destroy then). */
static bool init_sync(rk_pubsub *ps) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return false;
    bool ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
              pthread_cond_init(&ps->changed, &ca) == 0;
    pthread_condattr_destroy(&ca);
    if (ok && pthread_mutex_init(&ps->mu, NULL) == 0) {
        if (pthread_mutex_init(&ps->drive_mu, NULL) == 0)
            return true;
        pthread_mutex_destroy(&ps->mu);
    }
    if (ok)
        pthread_cond_destroy(&ps->changed);
    return false;
}

rk_pubsub *(rk_pubsub_new)(rk_client *client, const rk_pubsub_opts *opts, size_t opts_size) {
    if (client == NULL) {
        rk_fail(RK_EINVAL, "rk_pubsub_new: NULL client");
        return NULL;
    }
    rk_pubsub_opts o;
    if (rk_opts_settle(&o, sizeof(o), opts, opts_size, "rk_pubsub_opts") != RK_OK)
        return NULL;
    rk_pubsub *ps = rk_calloc(1, sizeof(*ps));
    if (ps == NULL || !init_sync(ps)) {
        rk_free(ps);
        rk_fail(RK_ENOMEM, "out of memory creating a pubsub");
        return NULL;
    }
    ps->wake[0] = ps->wake[1] = -1;
    ps->backlog_end = &ps->backlog;
    rk_tls_ctx *tls;
    rk_client_settled(client, RK_SLOT_NONE, &ps->o, &tls);
    ps->conn = rk_conn_new_shared(ps->o, tls);
    ps->outbox = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    if (ps->conn == NULL || ps->outbox == NULL) {
        rk_pubsub_free(ps);
        rk_fail(RK_ENOMEM, "out of memory creating a pubsub");
        return NULL;
    }
    rk_conn_set_pubsub(ps->conn, true);
    ps->ignore_confirmations = o.ignore_confirmations;
    ps->on_event = o.on_event;
    ps->event_userdata = o.event_userdata;
    ps->health_ms = o.health_check_ms ? o.health_check_ms : ps->o->health_check_ms;
    ps->seed = (unsigned)rk_now_us() ^ (unsigned)(uintptr_t)ps;
    return ps;
}

void rk_pubsub_free(rk_pubsub *ps) {
    if (ps == NULL)
        return;
    rk_pubsub_stop_thread(ps);
    for (int i = 0; i < 2; i++)
        if (ps->wake[i] >= 0)
            close(ps->wake[i]);
    rk_reply_free(&ps->cur);
    while (ps->backlog != NULL) {
        held *h = ps->backlog;
        ps->backlog = h->next;
        rk_reply_free(&h->reply);
        rk_free(h);
    }
    rk_conn_free(ps->conn);
    rk_writer_free(ps->outbox);
    rk_free(ps->outbox_pings.v);
    rk_free(ps->wire_pings.v);
    for (int k = 0; k < NKINDS; k++)
        table_free(&ps->subs[k]);
    table_free(&ps->handlers[0]);
    table_free(&ps->handlers[1]);
    pthread_mutex_destroy(&ps->drive_mu);
    pthread_mutex_destroy(&ps->mu);
    pthread_cond_destroy(&ps->changed);
    rk_free(ps);
}

size_t rk_pubsub_channel_count(const rk_pubsub *ps) {
    return ps ? atomic_load(&ps->counts[CHANNELS]) : 0;
}

size_t rk_pubsub_pattern_count(const rk_pubsub *ps) {
    return ps ? atomic_load(&ps->counts[PATTERNS]) : 0;
}

size_t rk_pubsub_shard_channel_count(const rk_pubsub *ps) {
    return ps ? atomic_load(&ps->counts[SHARDS]) : 0;
}

/* Publishes subs[k].confirmed to other threads; under mu. */
static void publish_counts(rk_pubsub *ps) {
    for (int k = 0; k < NKINDS; k++)
        atomic_store(&ps->counts[k], ps->subs[k].confirmed);
    atomic_store(&ps->nhandlers, ps->handlers[0].used + ps->handlers[1].used);
}

/* ---- commands -------------------------------------------------------- */

/* Queues `cmd names...` into w. */
static int encode(rk_writer *w, const char *cmd, const rk_str *names, size_t count) {
    if (count >= INT_MAX)
        return rk_fail(RK_EINVAL, "too many names in one command");
    rk_command built;
    rk_command_int *c = rk_command_begin(&built, cmd);
    rk_arg_strs(c, "name", NULL, names, count, false);
    int rc = rk_command_ready(&built, &c);
    if (rc == RK_OK)
        rc = rk_writer_argv(w, c->argv, c->argc);
    rk_command_release(&built);
    return rc;
}

/* Appends rec to line l. */
static int line_push(ping_line *l, ping_rec rec) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        ping_rec *v = rk_malloc(cap * sizeof(*v));
        if (v == NULL)
            return rk_fail(RK_ENOMEM, "out of memory queueing a PING");
        for (size_t i = 0; i < l->len; i++)
            v[i] = l->v[(l->head + i) % l->cap];
        rk_free(l->v);
        *l = (ping_line){.v = v, .head = 0, .len = l->len, .cap = cap};
    }
    l->v[(l->head + l->len++) % l->cap] = rec;
    return RK_OK;
}

/* Takes the oldest record of l into *rec; false when l is empty. */
static bool line_pop(ping_line *l, ping_rec *rec) {
    if (l->len == 0)
        return false;
    *rec = l->v[l->head];
    l->head = (l->head + 1) % l->cap;
    l->len--;
    return true;
}

/* Queues a PING (payload: n of 0 or 1 strings) into w, and its record
 * into l: both or neither. */
static int queue_ping(rk_writer *w, ping_line *l, const rk_str *payload, size_t n, ping_rec rec) {
    int rc = line_push(l, rec);
    if (rc != RK_OK)
        return rc;
    rc = encode(w, "PING", payload, n);
    if (rc != RK_OK)
        l->len--;
    return rc;
}

/* Marks the names wanted, all or none: on RK_ENOMEM the entries it added
 * (marked by a serial of 1 meanwhile) go again, and only those: another
 * may be named by a restore not yet sent. */
static int want_all(table *t, const rk_str *names, size_t count) {
    size_t added = 0;
    for (; added < count; added++) {
        entry *e = table_find(t, names[added].ptr, names[added].len);
        if (e == NULL && (e = table_add(t, names[added].ptr, names[added].len)) != NULL)
            e->serial = 1;
        if (e == NULL)
            break;
    }
    bool all = added == count;
    for (size_t i = 0; i < added; i++) {
        entry *e = table_find(t, names[i].ptr, names[i].len);
        if (e == NULL) /* a name given twice, gone already */
            continue;
        if (!all && e->serial == 1) {
            table_remove(t, e);
            continue;
        }
        e->serial = 0;
        e->want = e->want || all;
    }
    return all ? RK_OK : RK_ENOMEM;
}

/* Notes the wish in the tables (under mu): subscribe (all or none), or
 * unsubscribe (count 0: everything of the kind), which also drops the
 * handlers. */
static int record(rk_pubsub *ps, int k, bool sub, const rk_str *names, size_t count) {
    table *t = &ps->subs[k];
    table *h = k == SHARDS ? NULL : &ps->handlers[k];
    if (sub)
        return want_all(t, names, count);
    if (count == 0) {
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i])
                t->slots[i]->want = false;
        if (h)
            table_clear(h);
    }
    for (size_t i = 0; i < count; i++) {
        rk_str n = names[i];
        entry *e = table_find(t, n.ptr, n.len);
        if (e)
            e->want = false;
        entry *he = h ? table_find(h, n.ptr, n.len) : NULL;
        if (he)
            table_remove(h, he);
    }
    return RK_OK;
}

/* Queues `cmd names...` into the outbox and notes the wish (under mu):
 * both or, on failure, neither (a subscribe that could not be sent was
 * restored by the next connection behind the caller's back). */
static int queue_and_record(rk_pubsub *ps, int k, bool sub, const rk_str *names, size_t count) {
    int rc = encode(ps->outbox, sub ? subscribe_cmd[k] : unsubscribe_cmd[k], names, count);
    if (rc == RK_OK && (rc = record(ps, k, sub, names, count)) != RK_OK)
        rk_writer_unqueue_last(ps->outbox);
    return rc;
}

static void wake_loop(rk_pubsub *ps) {
    if (ps->wake[1] >= 0) {
        ssize_t n = write(ps->wake[1], "", 1); /* a full pipe wakes it as well */
        (void)n;
    }
}

static int link_up(rk_pubsub *ps);
static void link_lost(rk_pubsub *ps);
static int pump(rk_pubsub *ps);

/* The first command connects, in the caller's thread, so that a wrong
 * address or password is the caller's error. Later connects are the
 * loop's. */
static int connect_first(rk_pubsub *ps) {
    if (ps->link != LINK_IDLE)
        return RK_OK;
    int rc = rk_conn_connect(ps->conn);
    if (rc != RK_OK) {
        rk_conn_close(ps->conn);
        return rc;
    }
    return link_up(ps);
}

/* RK_EINVAL for a call given no pubsub object. */
static int no_pubsub(void) {
    return rk_fail(RK_EINVAL, "NULL pubsub object");
}

/* Starts a call that queues a command: takes drive_mu and decides who
 * sends it, the caller (*drives: no thread reads the connection and no
 * handler runs on it; it connects first when it never did) or the loop.
 * On success drive_mu stays held until finish(). */
static int begin(rk_pubsub *ps, bool *drives) {
    if (ps == NULL)
        return no_pubsub();
    pthread_mutex_lock(&ps->drive_mu);
    *drives = !atomic_load(&ps->threaded) && !ps->dispatching;
    int rc = *drives ? connect_first(ps) : RK_OK;
    if (rc != RK_OK)
        pthread_mutex_unlock(&ps->drive_mu);
    return rc;
}

/* Ends a call begun by begin() whose queueing returned rc: the caller sends
 * the command (blocking up to the command timeout) or wakes the loop. A
 * failed send is no error here: the loop reconnects and restores the
 * subscription. */
static int finish(rk_pubsub *ps, bool drives, int rc) {
    if (rc == RK_OK && drives) {
        rc = pump(ps);
        if (rc == RK_OK && ps->link == LINK_UP && rk_writer_pending(rk_conn_writer(ps->conn)) > 0 &&
            rk_conn_flush(ps->conn) != RK_OK)
            link_lost(ps);
    } else if (rc == RK_OK) {
        wake_loop(ps);
    }
    pthread_mutex_unlock(&ps->drive_mu);
    return rc;
}

/* Marks the outbox as holding commands; under mu, after a queueing that
 * returned rc. */
static int queued(rk_pubsub *ps, int rc) {
    if (rc == RK_OK)
        atomic_store(&ps->outbox_full, true);
    publish_counts(ps);
    return rc;
}

/* Records and queues one (un)subscribe command, then sends it. */
static int command(rk_pubsub *ps, int k, bool sub, const rk_str *names, size_t count) {
    bool drives;
    if (sub && count == 0) /* a bare SUBSCRIBE: the server's error would be fatal */
        return rk_fail(RK_EINVAL, "subscribing needs at least one name");
    int rc = rk_names_check(names, count);
    if (rc != RK_OK || (rc = begin(ps, &drives)) != RK_OK)
        return rc;
    pthread_mutex_lock(&ps->mu);
    rc = queued(ps, queue_and_record(ps, k, sub, names, count));
    pthread_mutex_unlock(&ps->mu);
    return finish(ps, drives, rc);
}

int rk_pubsub_subscribe(rk_pubsub *ps, const rk_str *channels, size_t n) {
    return command(ps, CHANNELS, true, channels, n);
}

int rk_pubsub_unsubscribe(rk_pubsub *ps, const rk_str *channels, size_t n) {
    return command(ps, CHANNELS, false, channels, n);
}

int rk_pubsub_psubscribe(rk_pubsub *ps, const rk_str *patterns, size_t n) {
    return command(ps, PATTERNS, true, patterns, n);
}

int rk_pubsub_punsubscribe(rk_pubsub *ps, const rk_str *patterns, size_t n) {
    return command(ps, PATTERNS, false, patterns, n);
}

int rk_pubsub_ssubscribe(rk_pubsub *ps, const rk_str *channels, size_t n) {
    return command(ps, SHARDS, true, channels, n);
}

int rk_pubsub_sunsubscribe(rk_pubsub *ps, const rk_str *channels, size_t n) {
    return command(ps, SHARDS, false, channels, n);
}

/* Registers fn for name in handlers[k] and subscribes to name. */
static int on(rk_pubsub *ps, int k, const char *name, rk_message_fn fn, void *userdata) {
    if (name == NULL || fn == NULL)
        return rk_fail(RK_EINVAL, "a handler needs a name and a function");
    bool drives;
    int rc = begin(ps, &drives);
    if (rc != RK_OK)
        return rc;
    pthread_mutex_lock(&ps->mu);
    rk_str one = rk_cstr(name);
    entry *h = table_add(&ps->handlers[k], one.ptr, one.len); /* fn NULL when new */
    rc = h ? queue_and_record(ps, k, true, &one, 1) : RK_ENOMEM;
    if (rc == RK_OK) {
        h->fn = (void (*)(void))fn;
        h->userdata = userdata;
    } else if (h != NULL && h->fn == NULL) {
        table_remove(&ps->handlers[k], h);
    }
    rc = queued(ps, rc);
    pthread_mutex_unlock(&ps->mu);
    return finish(ps, drives, rc);
}

int rk_pubsub_on(rk_pubsub *ps, const char *channel, rk_message_fn fn, void *userdata) {
    return on(ps, CHANNELS, channel, fn, userdata);
}

int rk_pubsub_on_pattern(rk_pubsub *ps, const char *pattern, rk_message_fn fn, void *userdata) {
    return on(ps, PATTERNS, pattern, fn, userdata);
}

int rk_pubsub_ping(rk_pubsub *ps, const char *payload) {
    bool drives;
    int rc = begin(ps, &drives);
    if (rc != RK_OK)
        return rc;
    pthread_mutex_lock(&ps->mu);
    rk_str p = rk_cstr(payload);
    rc = queued(ps, queue_ping(ps->outbox, &ps->outbox_pings, &p, payload ? 1 : 0,
                               (ping_rec){.kind = PING_USER}));
    pthread_mutex_unlock(&ps->mu);
    return finish(ps, drives, rc);
}

/* ---- the link: connect, restore, lose -------------------------------- */

/* Failures a later attempt may not see, judged with rk_error_last(): the
 * connection's (refused, reset, timed out, closed; a name that did not
 * resolve, a garbled stream), and a server busy, loading, failing over or
 * full. A refused password or certificate, an ACL refusal (NOPERM), an
 * unknown command or out of memory stay as they are. */
static bool transient(int rc) {
    if (rk_connection_failure(rc) || rc == RK_ERESOLVE || rc == RK_EPROTO)
        return true;
    if (rc != RK_ESERVER)
        return false;
    static const char *const passing[] = {"LOADING", "MASTERDOWN", "BUSY", "TRYAGAIN",
                                          "CLUSTERDOWN"};
    const rk_error *e = rk_error_last();
    for (size_t i = 0; i < RK_ARRAY_LEN(passing); i++)
        if (strcmp(e->prefix, passing[i]) == 0)
            return true;
    return strstr(e->message, "max number of clients") != NULL;
}

static void save_error(saved_error *dst, const rk_error *e) {
    dst->code = e->code;
    snprintf(dst->message, sizeof(dst->message), "%s", e->message);
    snprintf(dst->prefix, sizeof(dst->prefix), "%s", e->prefix);
}

/* Makes a saved failure the calling thread's rk_error_last() again. */
static int raise_saved(const saved_error *e) {
    if (e->prefix[0] != '\0') /* a server's error: its prefix is its first word */
        return rk_fail_server(e->code, e->message, strlen(e->message));
    return rk_fail(e->code, "%s", e->message);
}

/* Any subscription wanted, or a command waiting: worth a connection. */
static bool link_needed(rk_pubsub *ps) {
    if (atomic_load(&ps->outbox_full))
        return true;
    pthread_mutex_lock(&ps->mu);
    size_t n = ps->subs[CHANNELS].used + ps->subs[PATTERNS].used + ps->subs[SHARDS].used;
    pthread_mutex_unlock(&ps->mu);
    return n > 0;
}

/* When to try connecting next: at once after a link that worked, then
 * after the retry policy's backoff while attempts keep failing (a link
 * lost before any reply came counts as a failed attempt). */
static void schedule_retry(rk_pubsub *ps) {
    int delay = 0;
    if (ps->attempt > 0)
        delay = RK_MAX(rk_backoff_delay(&ps->o->retry, ps->attempt, ps->last_delay, &ps->seed), 1);
    ps->attempt++;
    ps->last_delay = delay;
    ps->retry_at = rk_now_ms() + delay;
}

/* The connection failed, as rk_error_last() says: it holds nothing now.
 * Unsubscriptions in flight are done; the rest is restored by the next
 * connection. The loop tells on_event (not here: a subscribe call may be
 * sending). */
static void link_lost(rk_pubsub *ps) {
    if (!ps->down_told) {
        save_error(&ps->lost, rk_error_last());
        ps->lost_untold = true;
    }
    rk_conn_close(ps->conn);
    pthread_mutex_lock(&ps->mu);
    for (int k = 0; k < NKINDS; k++) {
        table *t = &ps->subs[k];
        for (size_t i = 0; i < t->cap;) {
            entry *e = t->slots[i];
            if (e != NULL && !e->want) {
                table_remove(t, e); /* may move another entry into slot i */
                continue;
            }
            if (e != NULL)
                e->confirmed = false;
            i++;
        }
        t->confirmed = 0;
    }
    publish_counts(ps);
    pthread_mutex_unlock(&ps->mu);
    ps->link = LINK_DOWN;
    ps->restoring = ps->ping_out = false;
    ps->wire_pings.len = 0; /* their answers went with the connection */
    schedule_retry(ps);
}

/* A connect attempt failed. Returns rc when no later attempt is likely to
 * do better. */
static int attempt_failed(rk_pubsub *ps, int rc) {
    rk_conn_close(ps->conn);
    ps->link = ps->ever_up ? LINK_DOWN : LINK_IDLE;
    if (ps->attempt == 0)
        ps->attempt = 1; /* a first connect that fails waits too */
    schedule_retry(ps);
    return transient(rc) ? RK_OK : rc;
}

/* Queues one command for the wanted names of subs[k] into w; under mu.
 * Names of 16 KiB or more are referenced by w, not copied: they stay put
 * until sent, as entries are freed only by confirmations (which come after)
 * or by link_lost (which empties w first). */
static int restore_kind(rk_pubsub *ps, int k, rk_writer *w, size_t *sent) {
    const table *t = &ps->subs[k];
    if (t->used == 0)
        return RK_OK;
    rk_str *names = rk_malloc(t->used * sizeof(*names));
    if (names == NULL)
        return rk_fail(RK_ENOMEM, "out of memory resubscribing");
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const entry *e = t->slots[i];
        if (e != NULL && e->want)
            names[n++] = rk_bin(e->name, e->len);
    }
    int rc = n > 0 ? encode(w, subscribe_cmd[k], names, n) : RK_OK;
    rk_free(names);
    *sent += n;
    return rc;
}

/* Subscribes the new connection to everything wanted, in one round ended
 * by a PING whose answer means all is restored (RK_MSG_RECONNECTED), and
 * so answers the markers lost with the old connection. */
static int restore(rk_pubsub *ps) {
    rk_writer *w = rk_conn_writer(ps->conn);
    size_t sent = 0;
    int rc = RK_OK;
    pthread_mutex_lock(&ps->mu);
    for (int k = 0; k < NKINDS && rc == RK_OK; k++)
        rc = restore_kind(ps, k, w, &sent);
    ps->restore_covers = ps->moved;
    pthread_mutex_unlock(&ps->mu);
    if (rc == RK_OK) {
        rk_str p = RK_STR(RESTORED_PAYLOAD);
        rc = queue_ping(w, &ps->wire_pings, &p, 1, (ping_rec){.kind = PING_RESTORED});
        ps->restoring = rc == RK_OK;
    }
    if (rc != RK_OK)
        link_lost(ps);
    return rc;
}

static int link_up(rk_pubsub *ps) {
    ps->link = LINK_UP;
    ps->last_rx = rk_now_ms();
    ps->ping_out = false;
    bool again = ps->ever_up;
    ps->ever_up = true;
    return again ? restore(ps) : RK_OK;
}

/* Starts a connect attempt without blocking. */
static int link_start(rk_pubsub *ps) {
    int rc = rk_conn_start(ps->conn);
    if (rc == RK_EAGAIN) {
        ps->link = LINK_CONNECTING;
        ps->connect_deadline = rk_net_deadline(ps->o->connect_timeout_ms);
        return RK_OK;
    }
    return rc == RK_OK ? link_up(ps) : attempt_failed(ps, rc);
}

/* Moves a connect attempt on, or gives it up at its deadline. */
static int link_step(rk_pubsub *ps) {
    if (ps->connect_deadline >= 0 && rk_now_ms() >= ps->connect_deadline)
        return attempt_failed(ps, rk_fail(RK_ETIMEOUT, "timed out reconnecting"));
    int rc = rk_conn_step(ps->conn);
    if (rc == RK_EAGAIN)
        return RK_OK;
    return rc == RK_OK ? link_up(ps) : attempt_failed(ps, rc);
}

/* Copies the outbox into the connection's queue and empties it; under mu.
 * On failure the outbox is kept whole, for the next connection. */
static int move_outbox(rk_pubsub *ps) {
    rk_writer *w = rk_conn_writer(ps->conn);
    for (size_t i = 0; i < ps->outbox_pings.len; i++) {
        ping_line *l = &ps->outbox_pings;
        int rc = line_push(&ps->wire_pings, l->v[(l->head + i) % l->cap]);
        if (rc != RK_OK)
            return rc; /* the connection is dropped: the line goes with it */
    }
    struct iovec iov[16];
    size_t done = 0;
    int n;
    while ((n = rk_writer_iov_at(ps->outbox, done, iov, (int)RK_ARRAY_LEN(iov))) > 0) {
        for (int i = 0; i < n; i++) {
            int rc = rk_writer_raw(w, iov[i].iov_base, iov[i].iov_len);
            if (rc != RK_OK)
                return rc;
            done += iov[i].iov_len;
        }
    }
    rk_writer_consume(ps->outbox, done);
    ps->outbox_pings.len = 0;
    atomic_store(&ps->outbox_full, false);
    ps->moved = ps->queued;
    return RK_OK;
}

/* Hands the outbox to the connection once it is up, and sends what the
 * socket takes now. */
static int pump(rk_pubsub *ps) {
    if (ps->link != LINK_UP)
        return RK_OK;
    if (atomic_load(&ps->outbox_full)) {
        pthread_mutex_lock(&ps->mu);
        int rc = move_outbox(ps);
        pthread_mutex_unlock(&ps->mu);
        if (rc != RK_OK) {
            link_lost(ps); /* a part of a command may be queued */
            return rc;
        }
    }
    int rc = rk_conn_write_some(ps->conn);
    if (rc != RK_OK && rc != RK_EAGAIN)
        link_lost(ps);
    return RK_OK;
}

/* PINGs a link idle for health_ms; one whose PING went unanswered for
 * as long again is dead. */
static void health_check(rk_pubsub *ps) {
    if (ps->health_ms <= 0)
        return;
    int64_t now = rk_now_ms();
    if (ps->ping_out && now - ps->ping_at >= ps->health_ms) {
        rk_fail(RK_ETIMEOUT, "the server did not answer the health check");
        link_lost(ps);
    } else if (!ps->ping_out && now - ps->last_rx >= ps->health_ms) {
        rk_str p = RK_STR(HEALTH_PAYLOAD);
        if (queue_ping(rk_conn_writer(ps->conn), &ps->wire_pings, &p, 1,
                       (ping_rec){.kind = PING_HEALTH}) == RK_OK) {
            ps->ping_out = true;
            ps->ping_at = now;
        }
    }
}

/* ---- replies to messages --------------------------------------------- */

/* What an array or push reply is, by its first element. */
typedef struct shape {
    const char *name;
    size_t len;
    rk_msg_kind kind;
    int set;      /* subs[] it concerns; -1 for pong */
    int confirms; /* +1 subscribe, -1 unsubscribe, 0 neither */
    size_t elems;
} shape;

static const shape shapes[] = {
    {"message", 7, RK_MSG_MESSAGE, CHANNELS, 0, 3},
    {"pmessage", 8, RK_MSG_PMESSAGE, PATTERNS, 0, 4},
    {"smessage", 8, RK_MSG_SMESSAGE, SHARDS, 0, 3},
    {"subscribe", 9, RK_MSG_SUBSCRIBE, CHANNELS, 1, 3},
    {"unsubscribe", 11, RK_MSG_UNSUBSCRIBE, CHANNELS, -1, 3},
    {"psubscribe", 10, RK_MSG_PSUBSCRIBE, PATTERNS, 1, 3},
    {"punsubscribe", 12, RK_MSG_PUNSUBSCRIBE, PATTERNS, -1, 3},
    {"ssubscribe", 10, RK_MSG_SSUBSCRIBE, SHARDS, 1, 3},
    {"sunsubscribe", 12, RK_MSG_SUNSUBSCRIBE, SHARDS, -1, 3},
    {"pong", 4, RK_MSG_PONG, -1, 0, 2},
};

/* A string element (or nil, when nil_ok) as a pointer and length. */
static bool string_at(const rk_reply *r, size_t i, bool nil_ok, const char **s, size_t *n) {
    const rk_reply *e = rk_reply_at(r, i);
    rk_type t = e ? rk_reply_type(e) : RK_REPLY_NIL;
    if (e == NULL || (t != RK_REPLY_STRING && !(nil_ok && t == RK_REPLY_NIL)))
        return false;
    *s = t == RK_REPLY_NIL ? NULL : rk_reply_str(e);
    *n = rk_reply_len(e);
    return true;
}

/* The shape named by the first element, whatever the arity; NULL when
 * that is no string or names no shape. */
static const shape *find_shape(const rk_reply *r) {
    const char *s;
    size_t n;
    if (!string_at(r, 0, false, &s, &n))
        return NULL;
    for (size_t i = 0; i < RK_ARRAY_LEN(shapes); i++)
        if (shapes[i].len == n && memcmp(shapes[i].name, s, n) == 0)
            return &shapes[i];
    return NULL;
}

/* Fills m from an array or push of a known shape; false if malformed
 * (the wrong arity, an element of the wrong type, a negative count). */
static bool parse(const rk_reply *r, const shape *sh, rk_message *m) {
    memset(m, 0, sizeof(*m));
    m->kind = sh->kind;
    if (rk_reply_len(r) != sh->elems)
        return false;
    if (sh->kind == RK_MSG_PONG)
        return string_at(r, 1, false, &m->data, &m->data_len);
    if (sh->kind == RK_MSG_PMESSAGE)
        return string_at(r, 1, false, &m->pattern, &m->pattern_len) &&
               string_at(r, 2, false, &m->channel, &m->channel_len) &&
               string_at(r, 3, false, &m->data, &m->data_len);
    if (sh->confirms == 0)
        return string_at(r, 1, false, &m->channel, &m->channel_len) &&
               string_at(r, 2, false, &m->data, &m->data_len);
    const rk_reply *count = rk_reply_at(r, 2);
    if (rk_reply_type(count) != RK_REPLY_INTEGER || rk_reply_int(count) < 0)
        return false;
    m->count = rk_reply_int(count);
    return string_at(r, 1, true, &m->channel, &m->channel_len);
}

/* Keeps subs[] in step with a (un)subscribe confirmation. A subscription
 * nobody wants any more stays until its unsubscribe is confirmed. */
static void confirmed(rk_pubsub *ps, const shape *sh, const rk_message *m) {
    if (m->channel == NULL)
        return; /* unsubscribing from nothing */
    pthread_mutex_lock(&ps->mu);
    table *t = &ps->subs[sh->set];
    entry *e = sh->confirms > 0 ? table_add(t, m->channel, m->channel_len)
                                : table_find(t, m->channel, m->channel_len);
    if (e != NULL) {
        bool now = sh->confirms > 0;
        if (now && !e->confirmed)
            t->confirmed++;
        else if (!now && e->confirmed)
            t->confirmed--;
        e->confirmed = now;
        if (!now && !e->want)
            table_remove(t, e);
    }
    publish_counts(ps);
    pthread_mutex_unlock(&ps->mu);
}

/* Gives a message to its handler, if it has one. */
static bool run_handler(rk_pubsub *ps, const rk_message *m) {
    if (atomic_load(&ps->nhandlers) == 0)
        return false;
    bool by_pattern = m->kind == RK_MSG_PMESSAGE;
    pthread_mutex_lock(&ps->mu);
    const entry *h = by_pattern ? table_find(&ps->handlers[1], m->pattern, m->pattern_len)
                                : table_find(&ps->handlers[0], m->channel, m->channel_len);
    rk_message_fn fn = h ? (rk_message_fn)h->fn : NULL;
    void *userdata = h ? h->userdata : NULL;
    pthread_mutex_unlock(&ps->mu);
    if (fn == NULL)
        return false;
    ps->dispatching = true;
    fn(userdata, m);
    ps->dispatching = false;
    return true;
}

/* Tells on_event, if set. */
static void tell(rk_pubsub *ps, rk_pubsub_event event, const saved_error *why) {
    if (ps->on_event == NULL)
        return;
    rk_error e = {.code = RK_OK, .message = "", .prefix = ""};
    if (why != NULL)
        e = (rk_error){.code = why->code, .message = why->message, .prefix = why->prefix};
    ps->dispatching = true;
    ps->on_event(ps->event_userdata, event, &e);
    ps->dispatching = false;
}

/* Every marker up to n is answered: wakes rk_pubsub_wait_active. */
static void answer_markers(rk_pubsub *ps, uint64_t n) {
    pthread_mutex_lock(&ps->mu);
    if (n > atomic_load(&ps->answered)) {
        atomic_store(&ps->answered, n);
        pthread_cond_broadcast(&ps->changed);
    }
    pthread_mutex_unlock(&ps->mu);
}

static bool payload_is(const rk_message *m, const char *s, size_t n) {
    return m->data_len == n && memcmp(m->data, s, n) == 0;
}

/* The restore's PING was answered: everything wanted is held again.
 * Returns 1 to deliver *m (RK_MSG_RECONNECTED). */
static int restored(rk_pubsub *ps, rk_message *m) {
    if (!ps->restoring)
        return 0;
    ps->restoring = false;
    answer_markers(ps, ps->restore_covers);
    if (ps->down_told) {
        ps->down_told = false;
        tell(ps, RK_PUBSUB_RECONNECTED, NULL);
    }
    memset(m, 0, sizeof(*m));
    m->kind = RK_MSG_RECONNECTED;
    return 1;
}

/* A PONG: the loop's own are swallowed (the restore's becomes
 * RK_MSG_RECONNECTED, a marker's is noted). Returns 1 to deliver *m. */
static int pong(rk_pubsub *ps, rk_message *m) {
    ping_rec done;
    line_pop(&ps->wire_pings, &done); /* the payload says whose it is */
    size_t marker_len = sizeof(ACTIVE_PAYLOAD) - 1;
    if (payload_is(m, HEALTH_PAYLOAD, sizeof(HEALTH_PAYLOAD) - 1))
        return 0;
    if (m->data_len > marker_len && memcmp(m->data, ACTIVE_PAYLOAD, marker_len) == 0) {
        answer_markers(ps, strtoull(m->data + marker_len, NULL, 10));
        return 0;
    }
    if (!payload_is(m, RESTORED_PAYLOAD, sizeof(RESTORED_PAYLOAD) - 1))
        return 1;
    return restored(ps, m);
}

/* A refused PING (rk_conn_refused_ping) still answers the oldest one sent: the
 * loop's own then did their work (the server is there, the restore is
 * done, a marker is reached); the caller's gets the error. */
static int ping_refusal(rk_pubsub *ps, const rk_reply *r, rk_message *m) {
    ping_rec done;
    if (!line_pop(&ps->wire_pings, &done))
        return rk_conn_server_error(r);
    switch (done.kind) {
    case PING_HEALTH: return 0;
    case PING_RESTORED: return restored(ps, m);
    case PING_MARKER: answer_markers(ps, done.marker); return 0;
    default: return rk_conn_server_error(r);
    }
}

/* What a reply says, without acting on it: true with *m filled for a
 * message, a confirmation or a PONG (and *sh its shape; NULL for a PONG
 * outside subscriber mode), false for anything else. */
static bool describe(const rk_reply *r, rk_message *m, const shape **sh) {
    *sh = NULL;
    memset(m, 0, sizeof(*m));
    switch (rk_reply_type(r)) {
    case RK_REPLY_ARRAY:
    case RK_REPLY_PUSH: return (*sh = find_shape(r)) != NULL && parse(r, *sh, m);
    case RK_REPLY_STATUS: /* +PONG: a PING without payload */
        if (strcmp(rk_reply_str(r), "PONG") != 0)
            return false;
        m->kind = RK_MSG_PONG;
        m->data = "";
        return true;
    case RK_REPLY_STRING: /* a PING's payload (RESP3, or RESP2 unsubscribed) */
        m->kind = RK_MSG_PONG;
        m->data = rk_reply_str(r);
        m->data_len = rk_reply_len(r);
        return true;
    default: return false;
    }
}

/* A reply describe() did not take: a RESP3 push of a kind pub/sub does
 * not know goes to the options' on_push (0); anything else (a known kind
 * malformed, a reply no command of the loop asks for) means the stream is
 * out of step: RK_EPROTO, which costs the connection. */
static int undescribed(rk_pubsub *ps, const rk_reply *r) {
    const rk_reply *kind = rk_reply_at(r, 0);
    if (rk_reply_type(r) != RK_REPLY_PUSH || kind == NULL ||
        rk_reply_type(kind) != RK_REPLY_STRING || find_shape(r) != NULL)
        return rk_fail(RK_EPROTO, "protocol error: a malformed or unexpected reply on the "
                                  "subscribed connection");
    if (ps->o->on_push)
        ps->o->on_push(ps->o->push_userdata, r);
    return 0;
}

/* One reply: 1 to deliver *m, 0 when consumed, an error reply's code, or
 * RK_EPROTO for a hostile one. */
static int handle_reply(rk_pubsub *ps, const rk_reply *r, rk_message *m) {
    const shape *sh;
    if (rk_reply_type(r) == RK_REPLY_ERROR)
        return rk_conn_refused_ping(r) ? ping_refusal(ps, r, m) : rk_conn_server_error(r);
    if (!describe(r, m, &sh))
        return undescribed(ps, r);
    if (m->kind == RK_MSG_PONG)
        return pong(ps, m);
    if (sh->confirms == 0)
        return run_handler(ps, m) ? 0 : 1;
    confirmed(ps, sh, m);
    return ps->restoring || ps->ignore_confirmations ? 0 : 1;
}

/* ---- the loop -------------------------------------------------------- */

/* Takes the replies already read. 1 with *m, 0 when none is left, or an
 * error reply no retry cures. An error that may pass (LOADING, BUSY...)
 * costs the connection: the next one subscribes again. */
static int take_buffered(rk_pubsub *ps, rk_message *m) {
    while (ps->link == LINK_UP) {
        rk_reply_free(&ps->cur); /* a message kept by wait_active owns its reply */
        int rc = rk_conn_next(ps->conn, &ps->cur, true);
        if (rc < 0)
            link_lost(ps);
        if (rc <= 0)
            return 0;
        ps->attempt = 0; /* the link works: the next loss reconnects at once */
        rc = handle_reply(ps, &ps->cur, m);
        if (rc < 0 && transient(rc)) {
            link_lost(ps);
            return 0;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* Moves the link on without waiting: connects, sends, reads. Returns 1
 * after progress (look again before waiting), 0 when there is nothing to
 * do but wait, or a failure reconnecting cannot repair. */
static int advance(rk_pubsub *ps) {
    int rc;
    switch (ps->link) {
    case LINK_UP:
        health_check(ps);
        if ((rc = pump(ps)) != RK_OK || ps->link != LINK_UP)
            return rc != RK_OK ? rc : 1;
        rc = rk_conn_read_some(ps->conn);
        if (rc == RK_EAGAIN)
            return 0;
        if (rc != RK_OK)
            link_lost(ps);
        ps->last_rx = rk_now_ms();
        ps->ping_out = false;
        return 1;
    case LINK_CONNECTING: rc = link_step(ps); return rc != RK_OK ? rc : ps->link != LINK_CONNECTING;
    default:
        if (rk_now_ms() < ps->retry_at || !link_needed(ps))
            return 0;
        rc = link_start(ps);
        return rc != RK_OK ? rc : 1;
    }
}

/* The earlier of two deadlines, -1 meaning never. */
static int64_t earlier(int64_t a, int64_t b) {
    return a < 0 ? b : b < 0 ? a : RK_MIN(a, b);
}

/* Waits until the connection is ready, the loop is woken, or `until`. */
static void wait_events(rk_pubsub *ps, int64_t until) {
    struct pollfd p[2];
    nfds_t n = 0;
    int want = ps->link == LINK_UP || ps->link == LINK_CONNECTING ? rk_conn_want(ps->conn) : 0;
    if (want != 0)
        p[n++] = (struct pollfd){.fd = rk_conn_fd(ps->conn),
                                 .events = (short)((want & RK_WANT_READ ? POLLIN : 0) |
                                                   (want & RK_WANT_WRITE ? POLLOUT : 0))};
    if (ps->wake[0] >= 0)
        p[n++] = (struct pollfd){.fd = ps->wake[0], .events = POLLIN};
    if (ps->link == LINK_UP && ps->health_ms > 0)
        until = earlier(until, (ps->ping_out ? ps->ping_at : ps->last_rx) + ps->health_ms);
    else if (ps->link == LINK_CONNECTING)
        until = earlier(until, ps->connect_deadline);
    else if (ps->link != LINK_UP && link_needed(ps))
        until = earlier(until, ps->retry_at);
    int64_t left = until < 0 ? -1 : RK_MAX(until - rk_now_ms(), 0);
    if (poll(p, n, left > INT_MAX ? INT_MAX : (int)left) > 0 && ps->wake[0] >= 0 &&
        (p[n - 1].revents & POLLIN)) {
        char buf[64];
        while (read(ps->wake[0], buf, sizeof(buf)) > 0)
            ;
    }
}

/* A failure retrying will not cure: kept for rk_pubsub_last_error and
 * rk_pubsub_wait_active, and told to on_event. Returns rc. */
static int give_up(rk_pubsub *ps, int rc) {
    saved_error e;
    save_error(&e, rk_error_last());
    e.code = rc;
    pthread_mutex_lock(&ps->mu);
    ps->fatal = e;
    pthread_cond_broadcast(&ps->changed);
    pthread_mutex_unlock(&ps->mu);
    tell(ps, RK_PUBSUB_FATAL, &e);
    return rc;
}

/* Tells on_event of a lost link, once per outage. */
static void tell_lost(rk_pubsub *ps) {
    if (!ps->lost_untold)
        return;
    ps->lost_untold = false;
    ps->down_told = true;
    tell(ps, RK_PUBSUB_LOST, &ps->lost);
}

/* The loop behind rk_pubsub_get_message, rk_pubsub_wait_active and the
 * background thread: 1 with *m; 0 once `until` passed, marker `mark` (0:
 * none) is answered or the thread is asked to stop; or a failure retrying
 * will not cure. */
static int next_event(rk_pubsub *ps, int64_t until, uint64_t mark, rk_message *m) {
    bool last_look = false;
    for (;;) {
        tell_lost(ps);
        if (atomic_load(&ps->stop))
            return 0;
        int rc = take_buffered(ps, m);
        if (rc < 0)
            return give_up(ps, rc);
        if (rc != 0 || last_look || (mark > 0 && atomic_load(&ps->answered) >= mark))
            return rc;
        rc = advance(ps);
        if (rc < 0)
            return give_up(ps, rc);
        bool late = until >= 0 && rk_now_ms() >= until;
        if (rc > 0) {
            last_look = late; /* what was just read is still taken */
            continue;
        }
        if (late)
            return 0;
        wait_events(ps, until);
    }
}

/* Takes the oldest message rk_pubsub_wait_active kept: 1 with *m (its
 * reply now in ps->cur), 0 when none is kept. */
static int unhold(rk_pubsub *ps, rk_message *m) {
    held *h = ps->backlog;
    if (h == NULL)
        return 0;
    ps->backlog = h->next;
    if (ps->backlog == NULL)
        ps->backlog_end = &ps->backlog;
    rk_reply_free(&ps->cur);
    ps->cur = h->reply;
    bool reconnected = h->reconnected;
    rk_free(h);
    const shape *sh;
    if (reconnected || !describe(&ps->cur, m, &sh)) {
        memset(m, 0, sizeof(*m));
        m->kind = RK_MSG_RECONNECTED;
    }
    return 1;
}

/* Keeps the message m (read from ps->cur) for rk_pubsub_get_message. */
static int hold(rk_pubsub *ps, const rk_message *m) {
    held *h = rk_calloc(1, sizeof(*h));
    if (h == NULL)
        return rk_fail(RK_ENOMEM, "out of memory keeping a message");
    h->reconnected = m->kind == RK_MSG_RECONNECTED;
    if (!h->reconnected && rk_reply_dup(&h->reply, &ps->cur) != RK_OK) {
        rk_free(h);
        return RK_ENOMEM;
    }
    *ps->backlog_end = h;
    ps->backlog_end = &h->next;
    return RK_OK;
}

/* The next message for the owner: a kept one, or one from the loop. */
static int next_message(rk_pubsub *ps, int64_t until, rk_message *m) {
    int rc = unhold(ps, m);
    return rc != 0 ? rc : next_event(ps, until, 0, m);
}

int rk_pubsub_get_message(rk_pubsub *ps, int timeout_ms, rk_message *msg) {
    if (msg == NULL)
        return rk_fail(RK_EINVAL, "rk_pubsub_get_message: NULL message");
    memset(msg, 0, sizeof(*msg));
    if (ps == NULL)
        return no_pubsub();
    if (atomic_load(&ps->threaded))
        return rk_fail(RK_EINVAL, "the background thread is reading this pubsub's messages");
    rk_reply_free(&ps->cur);
    if (ps->backlog == NULL && (ps->link == LINK_IDLE || ps->link == LINK_DOWN) && timeout_ms < 0 &&
        !link_needed(ps))
        return rk_fail(RK_EINVAL, "nothing to wait for: not subscribed to anything");
    int64_t until = timeout_ms < 0 ? -1 : rk_now_ms() + timeout_ms;
    return next_message(ps, until, msg);
}

/* ---- waiting for subscriptions --------------------------------------- */

/* Queues marker *mark behind every command queued so far; *mark = 0 when
 * nothing was ever asked of the server (nothing to wait for). *threaded
 * says who will read its answer. */
static int queue_marker(rk_pubsub *ps, uint64_t *mark, bool *threaded) {
    *mark = 0;
    bool drives;
    if (!link_needed(ps))
        return RK_OK;
    int rc = begin(ps, &drives);
    if (rc != RK_OK)
        return rc;
    *threaded = atomic_load(&ps->threaded);
    if (*threaded ? pthread_equal(pthread_self(), ps->thread) : ps->dispatching) {
        pthread_mutex_unlock(&ps->drive_mu);
        return rk_fail(RK_EINVAL, "rk_pubsub_wait_active called from a handler");
    }
    pthread_mutex_lock(&ps->mu);
    char payload[sizeof(ACTIVE_PAYLOAD) + 24];
    snprintf(payload, sizeof(payload), ACTIVE_PAYLOAD "%llu", (unsigned long long)ps->queued + 1);
    rk_str p = rk_cstr(payload);
    rc = queued(ps, queue_ping(ps->outbox, &ps->outbox_pings, &p, 1,
                               (ping_rec){.kind = PING_MARKER, .marker = ps->queued + 1}));
    if (rc == RK_OK)
        *mark = ++ps->queued;
    pthread_mutex_unlock(&ps->mu);
    return finish(ps, drives, rc);
}

/* Waits for the background thread to answer marker `mark`. */
static int await_thread(rk_pubsub *ps, uint64_t mark, int64_t until) {
    struct timespec at = {.tv_sec = (time_t)(until / 1000),
                          .tv_nsec = (long)(until % 1000) * 1000000};
    int rc = RK_OK;
    pthread_mutex_lock(&ps->mu);
    while (atomic_load(&ps->answered) < mark && ps->fatal.code == RK_OK && ps->thread_alive &&
           rc != ETIMEDOUT)
        rc = until < 0 ? pthread_cond_wait(&ps->changed, &ps->mu)
                       : pthread_cond_timedwait(&ps->changed, &ps->mu, &at);
    saved_error fatal = ps->fatal;
    bool alive = ps->thread_alive;
    pthread_mutex_unlock(&ps->mu);
    if (atomic_load(&ps->answered) >= mark)
        return RK_OK;
    if (fatal.code != RK_OK)
        return raise_saved(&fatal);
    if (!alive)
        return rk_fail(RK_ECLOSED, "the background thread stopped before the subscriptions were "
                                   "confirmed");
    return rk_fail(RK_ETIMEOUT, "timed out waiting for the server to confirm the subscriptions");
}

/* Reads the connection until marker `mark` is answered, keeping the
 * messages that come meanwhile. */
static int await_here(rk_pubsub *ps, uint64_t mark, int64_t until) {
    for (;;) {
        rk_message m;
        int rc = next_event(ps, until, mark, &m);
        if (rc < 0)
            return rc;
        if (rc == 0 && atomic_load(&ps->answered) >= mark)
            return RK_OK;
        if (rc == 0)
            return rk_fail(RK_ETIMEOUT, "timed out waiting for the server to confirm the "
                                        "subscriptions");
        if ((rc = hold(ps, &m)) != RK_OK)
            return rc;
    }
}

int rk_pubsub_wait_active(rk_pubsub *ps, int timeout_ms) {
    if (ps == NULL)
        return no_pubsub();
    int64_t until = timeout_ms < 0 ? -1 : rk_now_ms() + timeout_ms;
    uint64_t mark;
    bool threaded;
    int rc = queue_marker(ps, &mark, &threaded);
    if (rc != RK_OK || mark == 0)
        return rc;
    return threaded ? await_thread(ps, mark, until) : await_here(ps, mark, until);
}

int rk_pubsub_last_error(rk_pubsub *ps, char *message, size_t size) {
    if (ps == NULL)
        return no_pubsub();
    pthread_mutex_lock(&ps->mu);
    int code = ps->fatal.code;
    if (message != NULL && size > 0)
        snprintf(message, size, "%s", code != RK_OK ? ps->fatal.message : "");
    pthread_mutex_unlock(&ps->mu);
    return code;
}

/* ---- the background thread ------------------------------------------- */

/* Reads and dispatches until asked to stop or a failure no retry cures
 * (which next_event kept and told). */
static void *thread_main(void *arg) {
    rk_pubsub *ps = arg;
    int rc = 0;
    while (rc >= 0 && !atomic_load(&ps->stop)) {
        rk_message m;
        rc = next_message(ps, -1, &m);
        if (rc == 1 && ps->fallback) {
            ps->dispatching = true;
            ps->fallback(ps->fallback_userdata, &m);
            ps->dispatching = false;
        }
    }
    pthread_mutex_lock(&ps->mu);
    ps->thread_alive = false;
    pthread_cond_broadcast(&ps->changed);
    pthread_mutex_unlock(&ps->mu);
    return NULL;
}

static int open_wake_pipe(rk_pubsub *ps) {
    if (ps->wake[0] >= 0)
        return RK_OK;
    if (pipe2(ps->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        ps->wake[0] = ps->wake[1] = -1;
        return rk_fail(RK_EIO, "pipe: %s", strerror(errno));
    }
    return RK_OK;
}

/* Under drive_mu, so that no caller is sending while the thread starts. */
static int start_locked(rk_pubsub *ps) {
    if (atomic_load(&ps->threaded))
        return rk_fail(RK_EINVAL, "the background thread is already running");
    int rc = open_wake_pipe(ps);
    if (rc != RK_OK)
        return rc;
    rk_reply_free(&ps->cur);
    pthread_mutex_lock(&ps->mu);
    ps->fatal = (saved_error){0};
    ps->thread_alive = true;
    pthread_mutex_unlock(&ps->mu);
    atomic_store(&ps->stop, false);
    atomic_store(&ps->threaded, true);
    int err = pthread_create(&ps->thread, NULL, thread_main, ps);
    if (err == 0)
        return RK_OK;
    atomic_store(&ps->threaded, false);
    pthread_mutex_lock(&ps->mu);
    ps->thread_alive = false;
    pthread_mutex_unlock(&ps->mu);
    return rk_fail(RK_ENOMEM, "pthread_create: %s", strerror(err));
}

int rk_pubsub_start_thread(rk_pubsub *ps, rk_message_fn fallback, void *userdata) {
    if (ps == NULL)
        return no_pubsub();
    if (!atomic_load(&ps->threaded) && ps->dispatching)
        return rk_fail(RK_EINVAL, "rk_pubsub_start_thread called from a handler");
    pthread_mutex_lock(&ps->drive_mu);
    if (!atomic_load(&ps->threaded)) {
        ps->fallback = fallback;
        ps->fallback_userdata = userdata;
    }
    int rc = start_locked(ps);
    pthread_mutex_unlock(&ps->drive_mu);
    return rc;
}

int rk_pubsub_stop_thread(rk_pubsub *ps) {
    if (ps == NULL)
        return no_pubsub();
    if (!atomic_load(&ps->threaded))
        return RK_OK;
    if (pthread_equal(pthread_self(), ps->thread))
        return rk_fail(RK_EINVAL, "rk_pubsub_stop_thread called from its own thread");
    atomic_store(&ps->stop, true);
    wake_loop(ps);
    pthread_join(ps->thread, NULL);
    pthread_mutex_lock(&ps->drive_mu);
    atomic_store(&ps->threaded, false);
    atomic_store(&ps->stop, false);
    pthread_mutex_unlock(&ps->drive_mu);
    return RK_OK;
}

int rk_pubsub_take_reply(rk_pubsub *ps, const rk_reply *r, rk_message *m) {
    return handle_reply(ps, r, m);
}
