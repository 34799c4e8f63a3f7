/* Pub/sub: one dedicated connection in pub/sub mode, the subscriptions it
 * should hold, and a small event loop (rk_pubsub_get_message, or the
 * background thread) that reads messages, runs handlers, health-checks the
 * link and reconnects, restoring every subscription in one pipelined round.
 * Only the thread running the loop touches the connection: the
 * (un)subscribe calls queue their command in an outbox under a mutex. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "client/client_int.h"
#include "commands/cmd_int.h"
#include "conn/conn_int.h"
#include "features/pubsub_int.h"
#include "rediskit/pubsub.h"
#include "util/common.h"

/* Payloads of the loop's own PINGs; their answers never reach the caller. */
#define HEALTH_PAYLOAD "rediskit-health-check"
#define RESTORED_PAYLOAD "rediskit-resubscribed"

enum kind { CHANNELS, PATTERNS, SHARDS, NKINDS };

static const char *const subscribe_cmd[NKINDS] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
static const char *const unsubscribe_cmd[NKINDS] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};

/* ---- name tables ----------------------------------------------------- */

/* One channel, pattern or shard channel: a subscription, or a handler. */
typedef struct entry {
    uint64_t hash;
    size_t len;
    bool want;        /* subscription asked for: restored on reconnect */
    bool confirmed;   /* subscription confirmed on this connection */
    rk_message_fn fn; /* handler tables: the handler */
    void *userdata;
    char name[]; /* len bytes, then a NUL */
} entry;

/* A hash set of names, binary safe: open addressing with linear probing
 * and deletion by backward shift (no tombstones). cap is 0 or a power of
 * two; at most three quarters of the slots are used. */
typedef struct table {
    entry **slots;
    size_t cap, used;
    size_t confirmed; /* entries with `confirmed` set */
} table;

/* FNV-1a, 64 bits. */
static uint64_t hash_name(const char *s, size_t n) {
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The slot holding the name, or the empty slot where it would go. */
static size_t table_slot(const table *t, const char *name, size_t len, uint64_t h) {
    size_t mask = t->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const entry *e = t->slots[i];
        if (e == NULL || (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0))
            return i;
    }
}

static entry *table_find(const table *t, const char *name, size_t len) {
    if (t->used == 0)
        return NULL;
    return t->slots[table_slot(t, name, len, hash_name(name, len))];
}

static int table_grow(table *t) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    entry **slots = rk_calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return rk_fail(RK_ENOMEM, "out of memory recording a subscription");
    table old = *t;
    t->slots = slots;
    t->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        entry *e = old.slots[i];
        if (e != NULL)
            t->slots[table_slot(t, e->name, e->len, e->hash)] = e;
    }
    rk_free(old.slots);
    return RK_OK;
}

/* The entry for name, added with every flag clear when missing; NULL with
 * RK_ENOMEM. */
static entry *table_add(table *t, const char *name, size_t len) {
    if ((t->used + 1) * 4 > t->cap * 3 && table_grow(t) != RK_OK)
        return NULL;
    uint64_t h = hash_name(name, len);
    size_t i = table_slot(t, name, len, h);
    if (t->slots[i] != NULL)
        return t->slots[i];
    entry *e = rk_calloc(1, sizeof(*e) + len + 1);
    if (e == NULL) {
        rk_fail(RK_ENOMEM, "out of memory recording a subscription");
        return NULL;
    }
    e->hash = h;
    e->len = len;
    memcpy(e->name, name, len);
    t->slots[i] = e;
    t->used++;
    return e;
}

/* Frees e. Entries after it in its probe run move back into the hole when
 * their home slot does not lie (cyclically) between the hole and them; so
 * an in-order sweep may see an entry twice but never skips one. */
static void table_remove(table *t, entry *e) {
    size_t mask = t->cap - 1;
    size_t i = table_slot(t, e->name, e->len, e->hash);
    t->confirmed -= e->confirmed;
    t->used--;
    rk_free(e);
    t->slots[i] = NULL;
    for (size_t j = (i + 1) & mask; t->slots[j] != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)t->slots[j]->hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            t->slots[j] = NULL;
            i = j;
        }
    }
}

static void table_clear(table *t) {
    for (size_t i = 0; i < t->cap; i++) {
        rk_free(t->slots[i]);
        t->slots[i] = NULL;
    }
    t->used = t->confirmed = 0;
}

static void table_free(table *t) {
    table_clear(t);
    rk_free(t->slots);
}

/* ---- the object ------------------------------------------------------ */

/* The loop's view of its connection. */
enum link { LINK_IDLE, LINK_DOWN, LINK_CONNECTING, LINK_UP };

struct rk_pubsub {
    const rk_options *o; /* the client's settled options */
    rk_conn *conn;
    bool ignore_confirmations;
    int health_ms; /* <= 0: no health check */

    /* Shared with the callers of (un)subscribe: under mu. */
    pthread_mutex_t mu;
    table subs[NKINDS]; /* what to hold (want) and what is held (confirmed) */
    table handlers[2];  /* per channel, per pattern */
    rk_writer *outbox;  /* commands not yet handed to the connection */
    atomic_bool outbox_full;
    atomic_size_t counts[NKINDS]; /* subs[k].confirmed, for any thread */
    atomic_size_t nhandlers;

    /* The loop's own: touched only by the thread running it. */
    enum link link;
    bool ever_up;     /* a connection was made: the next one restores */
    bool restoring;   /* restore sent, its closing PING not answered yet */
    bool dispatching; /* inside a handler or the fallback */
    int attempt, last_delay;
    unsigned seed;
    int64_t retry_at, connect_deadline;
    int64_t last_rx, ping_at; /* health check */
    bool ping_out;
    rk_reply cur; /* the reply the last message points into */

    /* The background thread. */
    pthread_t thread;
    atomic_bool threaded, stop;
    int wake[2]; /* self-pipe that wakes the loop; -1 until a thread runs */
    rk_message_fn fallback;
    void *fallback_userdata;
};

rk_pubsub *rk_pubsub_new(rk_client *client, const rk_pubsub_opts *opts) {
    if (client == NULL) {
        rk_fail(RK_EINVAL, "rk_pubsub_new: NULL client");
        return NULL;
    }
    rk_pubsub *ps = rk_calloc(1, sizeof(*ps));
    if (ps == NULL || pthread_mutex_init(&ps->mu, NULL) != 0) {
        rk_free(ps);
        rk_fail(RK_ENOMEM, "out of memory creating a pubsub");
        return NULL;
    }
    ps->wake[0] = ps->wake[1] = -1;
    rk_tls_ctx *tls;
    rk_client_settled(client, &ps->o, &tls);
    ps->conn = rk_conn_new_shared(ps->o, tls);
    ps->outbox = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    if (ps->conn == NULL || ps->outbox == NULL) {
        rk_pubsub_free(ps);
        rk_fail(RK_ENOMEM, "out of memory creating a pubsub");
        return NULL;
    }
    rk_conn_set_pubsub(ps->conn, true);
    ps->ignore_confirmations = opts && opts->ignore_confirmations;
    ps->health_ms = opts && opts->health_check_ms ? opts->health_check_ms : ps->o->health_check_ms;
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
    rk_conn_free(ps->conn);
    rk_writer_free(ps->outbox);
    for (int k = 0; k < NKINDS; k++)
        table_free(&ps->subs[k]);
    table_free(&ps->handlers[0]);
    table_free(&ps->handlers[1]);
    pthread_mutex_destroy(&ps->mu);
    rk_free(ps);
}

size_t rk_pubsub_channel_count(const rk_pubsub *ps) {
    return atomic_load(&ps->counts[CHANNELS]);
}

size_t rk_pubsub_pattern_count(const rk_pubsub *ps) {
    return atomic_load(&ps->counts[PATTERNS]);
}

size_t rk_pubsub_shard_channel_count(const rk_pubsub *ps) {
    return atomic_load(&ps->counts[SHARDS]);
}

/* Publishes subs[k].confirmed to other threads; under mu. */
static void publish_counts(rk_pubsub *ps) {
    for (int k = 0; k < NKINDS; k++)
        atomic_store(&ps->counts[k], ps->subs[k].confirmed);
    atomic_store(&ps->nhandlers, ps->handlers[0].used + ps->handlers[1].used);
}

/* ---- commands -------------------------------------------------------- */

/* Queues `cmd names...` (lens NULL: C strings) into w. */
static int encode(rk_writer *w, const char *cmd, size_t count, const char *const *names,
                  const size_t *lens) {
    if (count >= INT_MAX)
        return rk_fail(RK_EINVAL, "too many names in one command");
    rk_cmd c;
    rk_cmd_init(&c, cmd);
    rk_cmd_str(&c, cmd, RK_CSTR);
    rk_cmd_strs(&c, "name", NULL, names, lens, count);
    int rc = c.err == RK_OK ? rk_writer_argv(w, c.argc, c.argv, c.lens) : c.err;
    rk_cmd_release(&c);
    return rc;
}

/* Notes the wish in the tables (under mu): subscribe, or unsubscribe
 * (count 0: everything of the kind), which also drops the handlers. */
static int record(rk_pubsub *ps, int k, bool sub, size_t count, const char *const *names,
                  const size_t *lens) {
    table *t = &ps->subs[k];
    table *h = k == SHARDS ? NULL : &ps->handlers[k];
    if (!sub && count == 0) {
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i])
                t->slots[i]->want = false;
        if (h)
            table_clear(h);
    }
    for (size_t i = 0; i < count; i++) {
        size_t len = lens ? lens[i] : strlen(names[i]);
        entry *e = sub ? table_add(t, names[i], len) : table_find(t, names[i], len);
        if (sub && e == NULL)
            return RK_ENOMEM;
        if (e)
            e->want = sub;
        entry *he = (!sub && h) ? table_find(h, names[i], len) : NULL;
        if (he)
            table_remove(h, he);
    }
    return RK_OK;
}

static int check_names(size_t count, const char *const *names) {
    if (count > 0 && names == NULL)
        return rk_fail(RK_EINVAL, "NULL names with a non-zero count");
    for (size_t i = 0; i < count; i++)
        if (names[i] == NULL)
            return rk_fail(RK_EINVAL, "name %zu is NULL", i);
    return RK_OK;
}

static void wake_loop(rk_pubsub *ps) {
    if (ps->wake[1] >= 0) {
        ssize_t n = write(ps->wake[1], "", 1); /* a full pipe wakes it as well */
        (void)n;
    }
}

/* Whether the caller may drive the connection itself: no thread reads it
 * and no handler is running on it. */
static bool caller_drives(const rk_pubsub *ps) {
    return !atomic_load(&ps->threaded) && !ps->dispatching;
}

static int link_up(rk_pubsub *ps);
static void link_lost(rk_pubsub *ps);
static int pump(rk_pubsub *ps);

/* The first command connects, in the caller's thread, so that a wrong
 * address or password is the caller's error. Later connects are the
 * loop's. */
static int connect_first(rk_pubsub *ps) {
    if (!caller_drives(ps) || ps->link != LINK_IDLE)
        return RK_OK;
    int rc = rk_conn_connect(ps->conn);
    if (rc != RK_OK) {
        rk_conn_close(ps->conn);
        return rc;
    }
    return link_up(ps);
}

/* After a command was queued: the caller sends it (blocking up to the
 * command timeout) or the loop will. A failed send is no error here: the
 * loop reconnects and restores the subscription. */
static int kick(rk_pubsub *ps) {
    if (atomic_load(&ps->threaded)) {
        wake_loop(ps);
        return RK_OK;
    }
    if (ps->dispatching)
        return RK_OK;
    int rc = pump(ps);
    if (rc == RK_OK && ps->link == LINK_UP && rk_writer_pending(rk_conn_writer(ps->conn)) > 0 &&
        rk_conn_flush(ps->conn) != RK_OK)
        link_lost(ps);
    return rc;
}

/* Records and queues one (un)subscribe command, then sends it. */
static int command(rk_pubsub *ps, int k, bool sub, size_t count, const char *const *names,
                   const size_t *lens) {
    int rc = check_names(count, names);
    if (rc == RK_OK)
        rc = connect_first(ps);
    if (rc != RK_OK)
        return rc;
    pthread_mutex_lock(&ps->mu);
    rc = record(ps, k, sub, count, names, lens);
    if (rc == RK_OK)
        rc = encode(ps->outbox, sub ? subscribe_cmd[k] : unsubscribe_cmd[k], count, names, lens);
    if (rc == RK_OK)
        atomic_store(&ps->outbox_full, true);
    publish_counts(ps);
    pthread_mutex_unlock(&ps->mu);
    return rc == RK_OK ? kick(ps) : rc;
}

int rk_pubsub_subscribe(rk_pubsub *ps, size_t count, const char *const *channels,
                        const size_t *lens) {
    return command(ps, CHANNELS, true, count, channels, lens);
}

int rk_pubsub_unsubscribe(rk_pubsub *ps, size_t count, const char *const *channels,
                          const size_t *lens) {
    return command(ps, CHANNELS, false, count, channels, lens);
}

int rk_pubsub_psubscribe(rk_pubsub *ps, size_t count, const char *const *patterns,
                         const size_t *lens) {
    return command(ps, PATTERNS, true, count, patterns, lens);
}

int rk_pubsub_punsubscribe(rk_pubsub *ps, size_t count, const char *const *patterns,
                           const size_t *lens) {
    return command(ps, PATTERNS, false, count, patterns, lens);
}

int rk_pubsub_ssubscribe(rk_pubsub *ps, size_t count, const char *const *channels,
                         const size_t *lens) {
    return command(ps, SHARDS, true, count, channels, lens);
}

int rk_pubsub_sunsubscribe(rk_pubsub *ps, size_t count, const char *const *channels,
                           const size_t *lens) {
    return command(ps, SHARDS, false, count, channels, lens);
}

/* Registers fn for name in handlers[k] and subscribes to name. */
static int on(rk_pubsub *ps, int k, const char *name, rk_message_fn fn, void *userdata) {
    if (name == NULL || fn == NULL)
        return rk_fail(RK_EINVAL, "a handler needs a name and a function");
    int rc = connect_first(ps);
    if (rc != RK_OK)
        return rc;
    pthread_mutex_lock(&ps->mu);
    entry *h = table_add(&ps->handlers[k], name, strlen(name));
    rc = h ? RK_OK : RK_ENOMEM;
    if (h) {
        h->fn = fn;
        h->userdata = userdata;
        rc = record(ps, k, true, 1, &name, NULL);
    }
    if (rc == RK_OK)
        rc = encode(ps->outbox, subscribe_cmd[k], 1, &name, NULL);
    if (rc == RK_OK)
        atomic_store(&ps->outbox_full, true);
    publish_counts(ps);
    pthread_mutex_unlock(&ps->mu);
    return rc == RK_OK ? kick(ps) : rc;
}

int rk_pubsub_on(rk_pubsub *ps, const char *channel, rk_message_fn fn, void *userdata) {
    return on(ps, CHANNELS, channel, fn, userdata);
}

int rk_pubsub_on_pattern(rk_pubsub *ps, const char *pattern, rk_message_fn fn, void *userdata) {
    return on(ps, PATTERNS, pattern, fn, userdata);
}

int rk_pubsub_ping(rk_pubsub *ps, const char *payload) {
    int rc = connect_first(ps);
    if (rc != RK_OK)
        return rc;
    pthread_mutex_lock(&ps->mu);
    rc = encode(ps->outbox, "PING", payload ? 1 : 0, &payload, NULL);
    if (rc == RK_OK)
        atomic_store(&ps->outbox_full, true);
    pthread_mutex_unlock(&ps->mu);
    return rc == RK_OK ? kick(ps) : rc;
}

/* ---- the link: connect, restore, lose -------------------------------- */

/* Failures a later attempt may not see: a server loading its data is one,
 * a refused password is not. */
static bool repairable(int rc) {
    switch (rc) {
    case RK_EIO:
    case RK_ETIMEOUT:
    case RK_ECONNECT:
    case RK_ECLOSED:
    case RK_ERESOLVE:
    case RK_EPROTO: return true;
    case RK_ESERVER: {
        const char *p = rk_error_last()->prefix;
        return strcmp(p, "LOADING") == 0 || strcmp(p, "MASTERDOWN") == 0 || strcmp(p, "BUSY") == 0;
    }
    default: return false;
    }
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

/* The connection failed: it holds nothing now. Unsubscriptions in flight
 * are done; the rest is restored by the next connection. */
static void link_lost(rk_pubsub *ps) {
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
    return repairable(rc) ? RK_OK : rc;
}

/* Queues one command for the wanted names of subs[k] into w; under mu.
 * Names of 16 KiB or more are referenced by w, not copied: they stay put
 * until sent, as entries are freed only by confirmations (which come after)
 * or by link_lost (which empties w first). */
static int restore_kind(rk_pubsub *ps, int k, rk_writer *w, size_t *sent) {
    const table *t = &ps->subs[k];
    if (t->used == 0)
        return RK_OK;
    const char **names = rk_malloc(t->used * sizeof(*names));
    size_t *lens = rk_malloc(t->used * sizeof(*lens));
    if (names == NULL || lens == NULL) {
        rk_free(names);
        rk_free(lens);
        return rk_fail(RK_ENOMEM, "out of memory resubscribing");
    }
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        const entry *e = t->slots[i];
        if (e != NULL && e->want) {
            names[n] = e->name;
            lens[n++] = e->len;
        }
    }
    int rc = n > 0 ? encode(w, subscribe_cmd[k], n, names, lens) : RK_OK;
    rk_free(names);
    rk_free(lens);
    *sent += n;
    return rc;
}

/* Subscribes the new connection to everything wanted, in one round ended
 * by a PING whose answer means all is restored (RK_MSG_RECONNECTED). */
static int restore(rk_pubsub *ps) {
    rk_writer *w = rk_conn_writer(ps->conn);
    size_t sent = 0;
    int rc = RK_OK;
    pthread_mutex_lock(&ps->mu);
    for (int k = 0; k < NKINDS && rc == RK_OK; k++)
        rc = restore_kind(ps, k, w, &sent);
    pthread_mutex_unlock(&ps->mu);
    if (rc == RK_OK && sent > 0) {
        rc = rk_writer_args(w, "PING", RESTORED_PAYLOAD, (const char *)NULL);
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
    atomic_store(&ps->outbox_full, false);
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
        if (rk_writer_args(rk_conn_writer(ps->conn), "PING", HEALTH_PAYLOAD, (const char *)NULL) ==
            RK_OK) {
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

static const shape *find_shape(const rk_reply *r) {
    const char *s;
    size_t n;
    if (!string_at(r, 0, false, &s, &n))
        return NULL;
    for (size_t i = 0; i < RK_ARRAY_LEN(shapes); i++)
        if (shapes[i].len == n && memcmp(shapes[i].name, s, n) == 0)
            return rk_reply_len(r) == shapes[i].elems ? &shapes[i] : NULL;
    return NULL;
}

/* Fills m from an array or push of a known shape; false if malformed. */
static bool parse(const rk_reply *r, const shape *sh, rk_message *m) {
    memset(m, 0, sizeof(*m));
    m->kind = sh->kind;
    if (sh->kind == RK_MSG_PONG)
        return string_at(r, 1, false, &m->data, &m->data_len);
    if (sh->kind == RK_MSG_PMESSAGE)
        return string_at(r, 1, false, &m->pattern, &m->pattern_len) &&
               string_at(r, 2, false, &m->channel, &m->channel_len) &&
               string_at(r, 3, false, &m->data, &m->data_len);
    if (sh->confirms == 0)
        return string_at(r, 1, false, &m->channel, &m->channel_len) &&
               string_at(r, 2, false, &m->data, &m->data_len);
    m->count = rk_reply_int(rk_reply_at(r, 2));
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
    rk_message_fn fn = h ? h->fn : NULL;
    void *userdata = h ? h->userdata : NULL;
    pthread_mutex_unlock(&ps->mu);
    if (fn == NULL)
        return false;
    ps->dispatching = true;
    fn(userdata, m);
    ps->dispatching = false;
    return true;
}

/* A PONG: the loop's own are swallowed, the restore's becomes
 * RK_MSG_RECONNECTED. Returns 1 to deliver *m. */
static int pong(rk_pubsub *ps, rk_message *m) {
    if (m->data_len == sizeof(HEALTH_PAYLOAD) - 1 &&
        memcmp(m->data, HEALTH_PAYLOAD, m->data_len) == 0)
        return 0;
    if (m->data_len == sizeof(RESTORED_PAYLOAD) - 1 &&
        memcmp(m->data, RESTORED_PAYLOAD, m->data_len) == 0) {
        if (!ps->restoring)
            return 0;
        ps->restoring = false;
        memset(m, 0, sizeof(*m));
        m->kind = RK_MSG_RECONNECTED;
    }
    return 1;
}

/* An array or push: a message, a confirmation, a PONG, or something else
 * (a push outside pub/sub goes to the options' on_push). */
static int handle_aggregate(rk_pubsub *ps, const rk_reply *r, rk_message *m) {
    const shape *sh = find_shape(r);
    if (sh == NULL || !parse(r, sh, m)) {
        if (rk_reply_type(r) == RK_REPLY_PUSH && ps->o->on_push)
            ps->o->on_push(ps->o->push_userdata, r);
        return 0;
    }
    if (sh->kind == RK_MSG_PONG)
        return pong(ps, m);
    if (sh->confirms == 0)
        return run_handler(ps, m) ? 0 : 1;
    confirmed(ps, sh, m);
    return ps->restoring || ps->ignore_confirmations ? 0 : 1;
}

/* One reply: 1 to deliver *m, 0 when consumed, or an error reply's code. */
static int handle_reply(rk_pubsub *ps, const rk_reply *r, rk_message *m) {
    switch (rk_reply_type(r)) {
    case RK_REPLY_ARRAY:
    case RK_REPLY_PUSH: return handle_aggregate(ps, r, m);
    case RK_REPLY_ERROR: return rk_conn_server_error(r);
    case RK_REPLY_STATUS: /* +PONG: a PING without payload */
        if (strcmp(rk_reply_str(r), "PONG") != 0)
            return 0;
        /* fall through */
    case RK_REPLY_STRING: /* a PING's payload (RESP3, or RESP2 unsubscribed) */
        memset(m, 0, sizeof(*m));
        m->kind = RK_MSG_PONG;
        m->data = rk_reply_type(r) == RK_REPLY_STRING ? rk_reply_str(r) : "";
        m->data_len = rk_reply_type(r) == RK_REPLY_STRING ? rk_reply_len(r) : 0;
        return pong(ps, m);
    default: return 0;
    }
}

/* ---- the loop -------------------------------------------------------- */

/* Takes the replies already read. 1 with *m, 0 when none is left. */
static int take_buffered(rk_pubsub *ps, rk_message *m) {
    while (ps->link == LINK_UP) {
        int rc = rk_conn_next(ps->conn, &ps->cur, true);
        if (rc < 0)
            link_lost(ps);
        if (rc <= 0)
            return 0;
        ps->attempt = 0; /* the link works: the next loss reconnects at once */
        rc = handle_reply(ps, &ps->cur, m);
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

/* The loop behind rk_pubsub_get_message and the background thread: 1 with
 * *m, 0 once `until` passed or the thread is asked to stop, or a failure
 * reconnecting cannot repair. */
static int next_event(rk_pubsub *ps, int64_t until, rk_message *m) {
    bool last_look = false;
    for (;;) {
        if (atomic_load(&ps->stop))
            return 0;
        int rc = take_buffered(ps, m);
        if (rc != 0 || last_look)
            return rc;
        rc = advance(ps);
        if (rc < 0)
            return rc;
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

int rk_pubsub_get_message(rk_pubsub *ps, int timeout_ms, rk_message *msg) {
    memset(msg, 0, sizeof(*msg));
    if (atomic_load(&ps->threaded))
        return rk_fail(RK_EINVAL, "the background thread is reading this pubsub's messages");
    rk_reply_free(&ps->cur);
    if ((ps->link == LINK_IDLE || ps->link == LINK_DOWN) && timeout_ms < 0 && !link_needed(ps))
        return rk_fail(RK_EINVAL, "nothing to wait for: not subscribed to anything");
    int64_t until = timeout_ms < 0 ? -1 : rk_now_ms() + timeout_ms;
    return next_event(ps, until, msg);
}

/* ---- the background thread ------------------------------------------- */

static void *thread_main(void *arg) {
    rk_pubsub *ps = arg;
    while (!atomic_load(&ps->stop)) {
        rk_message m;
        if (next_event(ps, -1, &m) == 1 && ps->fallback) {
            ps->dispatching = true;
            ps->fallback(ps->fallback_userdata, &m);
            ps->dispatching = false;
        }
    }
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

int rk_pubsub_start_thread(rk_pubsub *ps, rk_message_fn fallback, void *userdata) {
    if (atomic_load(&ps->threaded))
        return rk_fail(RK_EINVAL, "the background thread is already running");
    if (ps->dispatching)
        return rk_fail(RK_EINVAL, "rk_pubsub_start_thread called from a handler");
    int rc = open_wake_pipe(ps);
    if (rc != RK_OK)
        return rc;
    rk_reply_free(&ps->cur);
    ps->fallback = fallback;
    ps->fallback_userdata = userdata;
    atomic_store(&ps->stop, false);
    atomic_store(&ps->threaded, true);
    int err = pthread_create(&ps->thread, NULL, thread_main, ps);
    if (err != 0) {
        atomic_store(&ps->threaded, false);
        return rk_fail(RK_ENOMEM, "pthread_create: %s", strerror(err));
    }
    return RK_OK;
}

int rk_pubsub_stop_thread(rk_pubsub *ps) {
    if (!atomic_load(&ps->threaded))
        return RK_OK;
    if (pthread_equal(pthread_self(), ps->thread))
        return rk_fail(RK_EINVAL, "rk_pubsub_stop_thread called from its own thread");
    atomic_store(&ps->stop, true);
    wake_loop(ps);
    pthread_join(ps->thread, NULL);
    atomic_store(&ps->threaded, false);
    atomic_store(&ps->stop, false);
    return RK_OK;
}

int rk_pubsub_take_reply(rk_pubsub *ps, const rk_reply *r, rk_message *m) {
    return handle_reply(ps, r, m);
}
