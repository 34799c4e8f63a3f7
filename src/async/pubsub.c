/* Pub/sub and tracking on rk_async (async.h). The subscriptions wanted
 * live in name sets (util/nameset.h) with their handlers; they are held on
 * one link: over RESP3 the client's own connection (messages are pushes
 * among the replies), over RESP2 a dedicated client of the same loop (the
 * "sub"), since RESP2 cannot mix them. RESP2 is the one asked for, or the
 * one a server without HELLO left the client's connection on (noticed
 * when it connects, before anything is subscribed on it).
 *
 * A user's (un)subscribe is an op. When the link is ready its command goes
 * out as a record of the link's ring (rk_async_queue_own) and its op
 * completes with the command: the server confirms a command of n names
 * with n pushes, which count against the oldest such command of the link
 * (the link's confirmations come in order, and only once every command
 * before it was answered), the last one answering its record; an error
 * reply answers it as any reply. When the link is not ready, or is lost
 * with the command, the op is parked: each new connection restores every
 * subscription wanted (and tracking) in one round, and its end completes
 * the parked ops and, after an outage, tells RK_ASYNC_EVENT_RESTORED.
 *
 * Tracking over RESP2 redirects the invalidations to the sub: its first
 * command on each connection is CLIENT ID, whose answer (re)enables
 * tracking on the client's connection with REDIRECT to it. */
#include <stdio.h>
#include <string.h>

#include "async/async_int.h"
#include "conn/conn_int.h"
#include "util/common.h"
#include "util/nameset.h"

enum kind { CHANNELS, PATTERNS, SHARDS, NKINDS };

static const char *const sub_cmd[NKINDS] = {"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"};
static const char *const unsub_cmd[NKINDS] = {"UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE"};

#define INVALIDATE_CHANNEL "__redis__:invalidate"

/* What a push (RESP3) or an array on the sub (RESP2) is, by its first
 * element: a message, a confirmation, or else. */
typedef struct shape {
    const char *name;
    int kind;     /* the name set it concerns */
    bool message; /* a message; else a confirmation */
    bool sub;     /* a confirmation of a subscribe */
    size_t elems;
} shape;

static const shape shapes[] = {
    {"message", CHANNELS, true, false, 3},       {"pmessage", PATTERNS, true, false, 4},
    {"smessage", SHARDS, true, false, 3},        {"subscribe", CHANNELS, false, true, 3},
    {"unsubscribe", CHANNELS, false, false, 3},  {"psubscribe", PATTERNS, false, true, 3},
    {"punsubscribe", PATTERNS, false, false, 3}, {"ssubscribe", SHARDS, false, true, 3},
    {"sunsubscribe", SHARDS, false, false, 3},
};

/* A name a subscribe found wanted already, with what it had then: put
 * back when the server refuses the subscribe, which left it held. */
typedef struct prior {
    const char *name; /* len bytes in the op's block */
    size_t len;
    void (*fn)(void);
    void *userdata;
    uint64_t serial;
} prior;

/* Tracking's settings: a call that fails puts back the ones it found. */
typedef struct tracking_settings {
    bool tracking;
    int tflags;
    rk_str *prefixes; /* and their bytes after them, one block */
    size_t nprefixes;
    rk_async_invalidate_fn on_invalidate;
    void *inv_ud;
} tracking_settings;

/* A user's call waiting for its completion. */
typedef struct op {
    struct op *next; /* in the parked list */
    rk_async_fn done;
    void *ud;
    int kind;        /* a subscribe's name set, or -1 */
    uint64_t serial; /* the names it subscribed carry it */
    size_t npriors;
    prior priors[]; /* then their names' bytes */
} op;

/* A user's call (completes its op), a part of a restore (counted in
 * `restoring`): the subscribe of a name set's every name, something else,
 * or the dedicated connection's CLIENT ID. */
enum role { ROLE_OP, ROLE_RESUBSCRIBE, ROLE_RESTORE, ROLE_CLIENT_ID };

/* A command pub/sub queued on one of its links. Freed by its record's
 * completion (cmd_done), the only place that knows it is over. */
typedef struct cmd {
    struct cmd *prev, *next; /* every live command of the state */
    rk_aps *ps;              /* NULL once the state was freed */
    rk_async *link;
    op *op;
    enum role role;
    const shape *confirm; /* the confirmation expected, or NULL */
    size_t expect, got;
    bool stands_in; /* the PING sent in place of a bare UNSUBSCRIBE */
} cmd;

struct rk_aps {
    rk_async *ac;  /* the user's client */
    rk_async *sub; /* RESP2: the dedicated connection, when made */
    bool dedicated;
    rk_nameset names[NKINDS]; /* wanted: fn, userdata, serial of the op */
    uint64_t serial;
    op *parked, **parked_end; /* complete at the end of the next restore */
    cmd live;                 /* the head of the list of live commands */
    size_t restoring;         /* restore commands not completed yet */
    int restore_code;         /* its first failure, */
    char restore_msg[256], restore_prefix[32];
    bool refused[NKINDS]; /* and the name sets whose subscribe it refused */
    bool down;            /* RK_ASYNC_EVENT_LOST told, RESTORED not yet */
    rk_async_event_fn on_event;
    void *event_ud;
    /* Tracking. */
    tracking_settings track;
    bool inv_subscribed;
    bool id_refused;               /* the sub's CLIENT ID was refused */
    long long sub_id, redirect_id; /* RESP2: the sub's CLIENT ID; what
                                      tracking points to (0: none) */
};

static void cmd_done(rk_async *link, int status, rk_reply *reply, void *ud);
static void forget_op_names(rk_aps *ps, const struct op *o);

/* ---- the state --------------------------------------------------------- */

static rk_aps *state_of(const rk_async *ac) {
    return *rk_async_aps((rk_async *)ac);
}

/* Whether subscriptions need a connection of their own: RESP2, asked
 * for, or fallen back to on a server without HELLO (the connection's own
 * protocol once it has one). */
static bool needs_dedicated(rk_async *ac) {
    rk_conn *conn = rk_async_ready_conn(ac);
    return (conn ? rk_conn_protocol(conn) : rk_async_options_of(ac)->protocol) == 2;
}

static rk_aps *state_get(rk_async *ac) {
    if (ac == NULL) {
        rk_fail(RK_EINVAL, "no client");
        return NULL;
    }
    if (rk_async_freeing(ac)) {
        rk_fail(RK_ECLOSED, "the async client is being freed");
        return NULL;
    }
    rk_aps *ps = state_of(ac);
    if (ps)
        return ps;
    ps = rk_calloc(1, sizeof(*ps));
    if (ps == NULL) {
        rk_fail(RK_ENOMEM, "out of memory starting pub/sub");
        return NULL;
    }
    ps->ac = ac;
    ps->dedicated = needs_dedicated(ac);
    ps->parked_end = &ps->parked;
    ps->live.next = ps->live.prev = &ps->live;
    *rk_async_aps(ac) = ps;
    rk_conn *conn = rk_async_ready_conn(ac);
    if (conn && !ps->dedicated)
        rk_conn_set_pubsub(conn, true); /* pushes come to rk_aps_reply */
    return ps;
}

/* The link holding the subscriptions (NULL: the sub is not made). */
static rk_async *subs_link(const rk_aps *ps) {
    return ps->dedicated ? ps->sub : ps->ac;
}

static bool ready(const rk_async *link) {
    return link && rk_async_ready_conn(link) != NULL;
}

static size_t subscriptions(const rk_aps *ps) {
    return ps->names[CHANNELS].used + ps->names[PATTERNS].used + ps->names[SHARDS].used;
}

/* ---- calling the user ---------------------------------------------------- */

static void complete(rk_aps *ps, op *o, int status, rk_reply *reply) {
    if (o->done)
        o->done(ps->ac, status, reply, o->ud);
    rk_free(o);
}

static void park(rk_aps *ps, op *o) {
    o->next = NULL;
    *ps->parked_end = o;
    ps->parked_end = &o->next;
}

static void tell(rk_aps *ps, rk_async_event ev, const rk_error *err) {
    if (ps->on_event)
        ps->on_event(ps->ac, ev, err, ps->event_ud);
}

static void invalidate(rk_aps *ps, const rk_reply *keys) {
    if (ps->track.tracking && ps->track.on_invalidate)
        ps->track.on_invalidate(ps->ac, keys, ps->track.inv_ud);
}

/* ---- commands ------------------------------------------------------------ */

static void cmd_unlink(cmd *c) {
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->next = c->prev = c;
}

/* Queues argv on link as a command of role, completing o (may be NULL)
 * and expecting confirm's confirmations (n of them) when not NULL. */
static int send_cmd(rk_aps *ps, rk_async *link, enum role role, op *o, const shape *confirm,
                    size_t n, const rk_str *argv, size_t argc) {
    cmd *c = rk_calloc(1, sizeof(*c));
    if (c == NULL)
        return rk_fail(RK_ENOMEM, "out of memory sending a pub/sub command");
    /* The only PING the state sends stands in for a bare UNSUBSCRIBE
     * (send_names). */
    bool ping = argc == 1 && argv[0].len == 4 && memcmp(argv[0].ptr, "PING", 4) == 0;
    *c = (cmd){.ps = ps,
               .link = link,
               .op = o,
               .role = role,
               .confirm = confirm,
               .expect = n,
               .stands_in = ping};
    c->prev = ps->live.prev; /* listed first: the queueing may complete it */
    c->next = &ps->live;
    ps->live.prev->next = c;
    ps->live.prev = c;
    if (role != ROLE_OP)
        ps->restoring++;
    rk_async_hold(link);
    int rc = rk_async_queue_own(link, argv, argc, cmd_done, c);
    if (rc != RK_OK) {
        cmd_unlink(c);
        if (role != ROLE_OP)
            ps->restoring--;
        rk_free(c);
    }
    rk_async_release(link);
    return rc;
}

/* The shape of a (un)subscribe confirmation for name set kind. */
static const shape *confirmation(int kind, bool sub) {
    for (size_t i = 0; i < RK_ARRAY_LEN(shapes); i++)
        if (!shapes[i].message && shapes[i].kind == kind && shapes[i].sub == sub)
            return &shapes[i];
    return NULL;
}

/* Sends `(UN)SUBSCRIBE names...` (n 0: the bare command, confirmed once;
 * but a PING where a bare UNSUBSCRIBE would also drop the invalidation
 * channel of RESP2 tracking, which is not the user's). */
static int send_names(rk_aps *ps, rk_async *link, enum role role, op *o, int kind, bool sub,
                      const rk_str *names, size_t n) {
    if (n == 0 && !sub && kind == CHANNELS && link == ps->sub && ps->inv_subscribed) {
        const rk_str ping = RK_STR("PING");
        return send_cmd(ps, link, role, o, NULL, 0, &ping, 1);
    }
    rk_str *argv = rk_malloc((n + 1) * sizeof(*argv));
    if (argv == NULL)
        return rk_fail(RK_ENOMEM, "out of memory sending a pub/sub command");
    argv[0] = rk_cstr(sub ? sub_cmd[kind] : unsub_cmd[kind]);
    if (n)
        memcpy(argv + 1, names, n * sizeof(*names));
    int rc = send_cmd(ps, link, role, o, confirmation(kind, sub), n ? n : 1, argv, n + 1);
    rk_free(argv);
    return rc;
}

/* The names of set kind, borrowed (NULL with *n 0 when empty or out of
 * memory: *n says). */
static rk_str *names_of(const rk_nameset *set, size_t *n, int *rc) {
    *n = 0;
    *rc = RK_OK;
    if (set->used == 0)
        return NULL;
    rk_str *v = rk_malloc(set->used * sizeof(*v));
    if (v == NULL) {
        *rc = rk_fail(RK_ENOMEM, "out of memory listing subscriptions");
        return NULL;
    }
    for (size_t i = 0; i < set->cap; i++)
        if (set->slots[i])
            v[(*n)++] = rk_bin(set->slots[i]->name, set->slots[i]->len);
    return v;
}

/* CLIENT TRACKING ON with the settings (and REDIRECT id when > 0). */
static int send_tracking_on(rk_aps *ps, enum role role, op *o, long long redirect) {
    size_t max = 7 + 2 * ps->track.nprefixes, argc = 0;
    rk_str *argv = rk_malloc(max * sizeof(*argv));
    if (argv == NULL)
        return rk_fail(RK_ENOMEM, "out of memory enabling tracking");
    char id[24];
    argv[argc++] = RK_STR("CLIENT");
    argv[argc++] = RK_STR("TRACKING");
    argv[argc++] = RK_STR("ON");
    if (redirect > 0) {
        snprintf(id, sizeof(id), "%lld", redirect);
        argv[argc++] = RK_STR("REDIRECT");
        argv[argc++] = rk_cstr(id);
    }
    if (ps->track.tflags & RK_TRACK_BCAST)
        argv[argc++] = RK_STR("BCAST");
    for (size_t i = 0; i < ps->track.nprefixes; i++) {
        argv[argc++] = RK_STR("PREFIX");
        argv[argc++] = ps->track.prefixes[i];
    }
    if (ps->track.tflags & RK_TRACK_NOLOOP)
        argv[argc++] = RK_STR("NOLOOP");
    int rc = send_cmd(ps, ps->ac, role, o, NULL, 0, argv, argc);
    rk_free(argv);
    return rc;
}

static int send_tracking_off(rk_aps *ps, enum role role, op *o) {
    const rk_str off[] = {RK_STR("CLIENT"), RK_STR("TRACKING"), RK_STR("OFF")};
    return send_cmd(ps, ps->ac, role, o, NULL, 0, off, RK_ARRAY_LEN(off));
}

/* Tracking on the client's connection, pointing (RESP2) to the sub; OFF
 * first when it may be on with other settings. */
static int enable_tracking(rk_aps *ps, enum role role, op *o, bool off_first) {
    int rc = off_first ? send_tracking_off(ps, ROLE_RESTORE, NULL) : RK_OK;
    if (rc == RK_OK)
        rc = send_tracking_on(ps, role, o, ps->dedicated ? ps->sub_id : 0);
    if (rc == RK_OK)
        ps->redirect_id = ps->dedicated ? ps->sub_id : 0;
    return rc;
}

/* ---- restoring ----------------------------------------------------------- */

/* Whether everything wanted is in force: links ready, restore answered,
 * tracking pointing to the sub. */
static bool restored(const rk_aps *ps) {
    if (ps->restoring > 0)
        return false;
    if ((subscriptions(ps) > 0 || ps->parked || (ps->track.tracking && ps->dedicated)) &&
        !ready(subs_link(ps)))
        return false;
    if (ps->track.tracking && !ready(ps->ac))
        return false;
    return !(ps->track.tracking && ps->dedicated && !ps->id_refused &&
             (ps->sub_id <= 0 || ps->redirect_id != ps->sub_id));
}

/* Once everything is back: the parked ops complete, and after an outage
 * the event and a flush-all invalidation are told. */
static void check_restored(rk_aps *ps) {
    if (!restored(ps))
        return;
    rk_error err = {
        .code = ps->restore_code, .message = ps->restore_msg, .prefix = ps->restore_prefix};
    bool refused[NKINDS];
    memcpy(refused, ps->refused, sizeof(refused));
    memset(ps->refused, 0, sizeof(ps->refused));
    ps->restore_code = RK_OK;
    while (ps->parked) {
        op *o = ps->parked;
        ps->parked = o->next;
        if (ps->parked == NULL)
            ps->parked_end = &ps->parked;
        /* A subscribe fails with its own name set's refusal (its names
         * were never held); other calls with the restore's failure. */
        int code = o->kind < 0 || refused[o->kind] ? err.code : RK_OK;
        if (code != RK_OK && o->kind >= 0)
            forget_op_names(ps, o);
        if (code != RK_OK && err.prefix[0]) /* a server's error reply */
            rk_fail_server(code, err.message, strlen(err.message));
        else if (code != RK_OK)
            rk_fail(code, "%s", err.message);
        complete(ps, o, code, NULL);
    }
    if (!ps->down)
        return;
    ps->down = false;
    invalidate(ps, NULL);
    tell(ps, RK_ASYNC_EVENT_RESTORED, &err);
}

/* Keeps the restore's first failure (rk_error_last()'s detail). */
static void note_restore_error(rk_aps *ps, int status) {
    if (ps->restore_code != RK_OK)
        return;
    const rk_error *e = rk_error_last();
    ps->restore_code = status;
    snprintf(ps->restore_msg, sizeof(ps->restore_msg), "%s", e->message);
    snprintf(ps->restore_prefix, sizeof(ps->restore_prefix), "%s", e->prefix);
}

/* Subscribes link again to every name of kind. */
static int restore_kind(rk_aps *ps, rk_async *link, int kind) {
    int rc;
    size_t n;
    rk_str *names = names_of(&ps->names[kind], &n, &rc);
    if (n)
        rc = send_names(ps, link, ROLE_RESUBSCRIBE, NULL, kind, true, names, n);
    rk_free(names);
    return rc;
}

/* A new connection of link: subscribes again to everything wanted,
 * enables tracking again. */
static void restore(rk_aps *ps, rk_async *link) {
    const rk_str client_id[] = {RK_STR("CLIENT"), RK_STR("ID")};
    const rk_str inv = RK_STR(INVALIDATE_CHANNEL);
    int rc = RK_OK;
    if (link == subs_link(ps)) {
        ps->id_refused = false;
        for (int k = 0; k < NKINDS; k++)
            ps->refused[k] = false; /* a lost restore's refusals: tried again */
        if (ps->dedicated)
            rc = send_cmd(ps, link, ROLE_CLIENT_ID, NULL, NULL, 0, client_id, 2);
        ps->inv_subscribed = ps->dedicated && ps->track.tracking;
        if (rc == RK_OK && ps->inv_subscribed)
            rc = send_names(ps, link, ROLE_RESTORE, NULL, CHANNELS, true, &inv, 1);
        for (int k = 0; rc == RK_OK && k < NKINDS; k++)
            rc = restore_kind(ps, link, k);
    }
    if (rc == RK_OK && link == ps->ac && ps->track.tracking && (!ps->dedicated || ps->sub_id > 0))
        rc = enable_tracking(ps, ROLE_RESTORE, NULL, false);
    if (rc != RK_OK) { /* out of memory: told with the restore's end */
        note_restore_error(ps, rc);
        for (int k = 0; k < NKINDS; k++)
            ps->refused[k] = true; /* a kind's subscribe may be unsent */
    }
}

/* ---- hooks (async_int.h) --------------------------------------------------- */

/* The client's connection came up on RESP2 (a server without HELLO)
 * while the subscriptions were to share it: they move to a dedicated
 * connection, made when the client settles (rk_aps_settle), as if RESP2
 * had been asked for; they stay there. A loop that cannot take one ends
 * them with RK_EPROTO. True when pub/sub goes on. */
static bool fall_back_to_dedicated(rk_aps *ps) {
    ps->dedicated = true;
    if (rk_async_can_dedicate(ps->ac))
        return true;
    rk_aps_close(ps->ac, rk_fail(RK_EPROTO, "the server speaks RESP2 only, where pub/sub needs a "
                                            "dedicated connection: the loop has no attach_other"));
    return false;
}

void rk_aps_connected(rk_async *link) {
    rk_aps *ps = state_of(link);
    rk_async *ac = ps->ac;
    if (link == ac && !ps->dedicated && needs_dedicated(ac) && !fall_back_to_dedicated(ps))
        return;
    if (link == ac)
        ps->redirect_id = 0;
    if (link == subs_link(ps))
        rk_conn_set_pubsub(rk_async_ready_conn(link), true);
    if (link != ac)
        rk_async_hold(ac);
    restore(ps, link);
    check_restored(ps);
    if (link != ac)
        rk_async_release(ac); /* last: the client may be gone after */
}

void rk_aps_lost(rk_async *link, int code) {
    rk_aps *ps = state_of(link);
    rk_async *ac = ps->ac;
    bool carries = link == subs_link(ps) || (link == ac && ps->track.tracking);
    if (link == ps->sub)
        ps->sub_id = 0;
    if (link == ac)
        ps->redirect_id = 0;
    if (!carries || ps->down || (subscriptions(ps) == 0 && !ps->track.tracking))
        return;
    ps->down = true;
    const rk_error *last = rk_error_last();
    rk_error err = {.code = code, .message = last->message, .prefix = last->prefix};
    if (link != ac)
        rk_async_hold(ac);
    invalidate(ps, NULL);
    tell(ps, RK_ASYNC_EVENT_LOST, &err);
    if (link != ac)
        rk_async_release(ac);
}

bool rk_aps_wants_link(const rk_async *link) {
    const rk_aps *ps = state_of(link);
    bool subs = subscriptions(ps) > 0 || ps->parked != NULL;
    if (link != ps->ac)
        return link == ps->sub && (subs || ps->track.tracking);
    return ps->track.tracking || (!ps->dedicated && subs);
}

void rk_aps_settle(rk_async *ac) {
    rk_aps *ps = state_of(ac);
    if (ac != ps->ac || !ps->dedicated || ps->sub || rk_async_freeing(ac))
        return;
    if (subscriptions(ps) == 0 && ps->parked == NULL && !ps->track.tracking)
        return;
    rk_async *sub = rk_async_new_dedicated(ac);
    if (sub == NULL)
        return; /* no loop yet, or none that takes it: the ops stay parked */
    *rk_async_aps(sub) = ps;
    ps->sub = sub;
    rk_async_connect(sub);
}

/* Lets go of the sub: its commands fail (their ops park). */
static void drop_sub(rk_aps *ps) {
    rk_async *sub = ps->sub;
    if (sub == NULL)
        return;
    ps->sub = NULL;
    ps->sub_id = 0;
    *rk_async_aps(sub) = NULL;
    rk_async_free(sub);
}

void rk_aps_detach(rk_async *ac) {
    rk_aps *ps = state_of(ac);
    if (ac != ps->ac || ps->sub == NULL)
        return;
    if (!ps->down && subscriptions(ps) + ps->track.tracking > 0) {
        ps->down = true;
        rk_error err = {.code = RK_ECLOSED, .message = "the client left its loop", .prefix = ""};
        tell(ps, RK_ASYNC_EVENT_LOST, &err);
    }
    drop_sub(ps);
}

static void forget_tracking(rk_aps *ps) {
    ps->track.tracking = false;
    rk_free(ps->track.prefixes);
    ps->track.prefixes = NULL;
    ps->track.nprefixes = 0;
    ps->track.on_invalidate = NULL;
}

void rk_aps_close(rk_async *ac, int code) {
    rk_aps *ps = state_of(ac);
    if (ac != ps->ac)
        return;
    for (cmd *c = ps->live.next; c != &ps->live; c = c->next) {
        op *o = c->op;
        c->op = NULL;
        if (o)
            complete(ps, o, code, NULL);
    }
    while (ps->parked) {
        op *o = ps->parked;
        ps->parked = o->next;
        if (ps->parked == NULL)
            ps->parked_end = &ps->parked;
        complete(ps, o, code, NULL);
    }
    for (int k = 0; k < NKINDS; k++)
        rk_nameset_clear(&ps->names[k]);
    forget_tracking(ps);
    ps->down = false;
    drop_sub(ps);
}

void rk_aps_free(rk_async *ac) {
    rk_aps *ps = state_of(ac);
    if (ac != ps->ac)
        return;
    drop_sub(ps);
    while (ps->live.next != &ps->live) { /* their records end later */
        cmd *c = ps->live.next;
        cmd_unlink(c);
        c->ps = NULL;
        rk_free(c->op);
        c->op = NULL;
    }
    for (int k = 0; k < NKINDS; k++)
        rk_nameset_free(&ps->names[k]);
    forget_tracking(ps);
    *rk_async_aps(ac) = NULL;
    rk_free(ps);
}

/* ---- replies ----------------------------------------------------------------- */

/* o's prior for the name, or NULL. */
static const prior *prior_of(const op *o, const char *name, size_t len) {
    for (size_t i = 0; i < o->npriors; i++)
        if (o->priors[i].len == len && memcmp(o->priors[i].name, name, len) == 0)
            return &o->priors[i];
    return NULL;
}

/* Takes o, being undone, out of the undo chain of the calls subscribed
 * after it: where one noted o's handler as a name's prior, it notes what
 * o found instead (fn NULL: the name was not wanted, it goes). */
static void splice_one(const op *o, op *later) {
    if (later == o || later->kind != o->kind)
        return;
    for (size_t i = 0; i < later->npriors; i++) {
        prior *p = &later->priors[i];
        if (p->serial != o->serial)
            continue;
        const prior *before = prior_of(o, p->name, p->len);
        p->fn = before ? before->fn : NULL;
        p->userdata = before ? before->userdata : NULL;
        p->serial = before ? before->serial : 0;
    }
}

static void splice_priors(rk_aps *ps, const op *o) {
    for (cmd *c = ps->live.next; c != &ps->live; c = c->next)
        if (c->op)
            splice_one(o, c->op);
    for (op *p = ps->parked; p; p = p->next)
        splice_one(o, p);
}

/* Undoes a refused subscribe (not where another call subscribed the name
 * again since): the names it found wanted get their handler back, since
 * the refusal left them held; the names it added are forgotten. */
static void forget_op_names(rk_aps *ps, const op *o) {
    rk_nameset *set = &ps->names[o->kind];
    for (size_t i = 0; i < o->npriors; i++) {
        const prior *p = &o->priors[i];
        rk_name *e = rk_nameset_find(set, p->name, p->len);
        if (e && e->serial == o->serial && p->fn != NULL) {
            e->fn = p->fn;
            e->userdata = p->userdata;
            e->serial = p->serial;
        }
    }
    splice_priors(ps, o);
    for (size_t i = 0; i < set->cap;) {
        rk_name *e = set->slots[i];
        if (e && e->serial == o->serial) {
            rk_nameset_remove(set, e); /* another may move into slot i */
            continue;
        }
        i++;
    }
}

/* CLIENT ID answered on the sub: tracking is pointed to it. Refused (an
 * ACL user without CLIENT), it is a failure of the restore only when
 * tracking needs it, which then cannot be enabled on this connection. */
static void got_client_id(rk_aps *ps, int status, const rk_reply *reply) {
    if (reply != NULL && status != RK_OK) {
        ps->id_refused = true;
        if (ps->track.tracking)
            note_restore_error(ps, status);
        return;
    }
    if (reply == NULL || rk_reply_type(reply) != RK_REPLY_INTEGER)
        return;
    ps->sub_id = rk_reply_int(reply);
    if (ps->track.tracking && ready(ps->ac) && ps->redirect_id != ps->sub_id)
        enable_tracking(ps, ROLE_RESTORE, NULL, true);
}

static void cmd_ended(rk_aps *ps, cmd *c, int status, rk_reply *reply) {
    op *o = c->op;
    if (c->role != ROLE_OP) {
        ps->restoring--;
        if (c->role == ROLE_CLIENT_ID)
            got_client_id(ps, status, reply);
        else if (reply && status != RK_OK)
            note_restore_error(ps, status);
        if (reply && status != RK_OK && c->role == ROLE_RESUBSCRIBE)
            ps->refused[c->confirm->kind] = true;
        check_restored(ps);
        return;
    }
    if (o == NULL)
        return;
    if (reply == NULL) { /* lost with its connection: the restore completes it */
        park(ps, o);
        return;
    }
    if (c->stands_in && rk_conn_refused_ping(reply)) { /* a user denied PING: done all the same */
        complete(ps, o, RK_OK, NULL);
        return;
    }
    if (status != RK_OK && o->kind >= 0)
        forget_op_names(ps, o);
    complete(ps, o, status, reply);
}

/* A command's record completed: with its reply (the last confirmation,
 * or an error reply), or a failure (its connection lost). */
static void cmd_done(rk_async *link, int status, rk_reply *reply, void *ud) {
    cmd *c = ud;
    rk_aps *ps = c->ps;
    if (ps == NULL) {
        rk_free(c);
        return;
    }
    cmd_unlink(c);
    rk_async *ac = ps->ac;
    if (link != ac)
        rk_async_hold(ac);
    cmd_ended(ps, c, status, reply);
    rk_free(c);
    if (link != ac)
        rk_async_release(ac);
}

/* Element i as a string (binary safe), or nil when nil_ok. */
static bool string_at(const rk_reply *r, size_t i, bool nil_ok, const char **s, size_t *n) {
    const rk_reply *e = rk_reply_at(r, i);
    rk_type t = e ? rk_reply_type(e) : RK_REPLY_NIL;
    if (e == NULL || (t != RK_REPLY_STRING && !(nil_ok && t == RK_REPLY_NIL)))
        return false;
    *s = t == RK_REPLY_NIL ? NULL : rk_reply_str(e);
    *n = t == RK_REPLY_NIL ? 0 : rk_reply_len(e);
    return true;
}

static int hostile(const char *what) {
    return rk_fail(RK_EPROTO, "protocol error: %s", what);
}

/* Keys of an invalidation: an array of strings, or nil (flush-all). */
static int invalidation(rk_aps *ps, const rk_reply *keys) {
    if (keys == NULL)
        return hostile("an invalidation without keys");
    if (rk_reply_type(keys) == RK_REPLY_NIL) {
        invalidate(ps, NULL);
        return RK_APS_TAKEN;
    }
    if (rk_reply_type(keys) != RK_REPLY_ARRAY)
        return hostile("an invalidation whose keys are not an array");
    for (size_t i = 0; i < rk_reply_len(keys); i++)
        if (rk_reply_type(rk_reply_at(keys, i)) != RK_REPLY_STRING)
            return hostile("an invalidated key that is not a string");
    invalidate(ps, keys);
    return RK_APS_TAKEN;
}

/* A message: to its handler, or dropped when nobody wants it (one may come
 * after an unsubscribe, before the server saw it). */
static int message(rk_aps *ps, const shape *sh, const rk_reply *r) {
    rk_message m = {.kind = sh->kind == CHANNELS   ? RK_MSG_MESSAGE
                            : sh->kind == PATTERNS ? RK_MSG_PMESSAGE
                                                   : RK_MSG_SMESSAGE};
    size_t at = 1;
    if (sh->kind == PATTERNS && !string_at(r, at++, false, &m.pattern, &m.pattern_len))
        return hostile("a pmessage whose pattern is not a string");
    if (!string_at(r, at++, false, &m.channel, &m.channel_len))
        return hostile("a message whose channel is not a string");
    if (ps->dedicated && ps->track.tracking && sh->kind == CHANNELS &&
        m.channel_len == sizeof(INVALIDATE_CHANNEL) - 1 &&
        memcmp(m.channel, INVALIDATE_CHANNEL, m.channel_len) == 0)
        return invalidation(ps, rk_reply_at(r, at));
    if (!string_at(r, at, false, &m.data, &m.data_len))
        return hostile("a message whose payload is not a string");
    const rk_name *e = sh->kind == PATTERNS
                           ? rk_nameset_find(&ps->names[PATTERNS], m.pattern, m.pattern_len)
                           : rk_nameset_find(&ps->names[sh->kind], m.channel, m.channel_len);
    if (e && e->fn)
        ((rk_async_message_fn)e->fn)(ps->ac, &m, e->userdata);
    return RK_APS_TAKEN;
}

/* The oldest command of link awaiting confirmations. */
static cmd *awaiting(rk_aps *ps, const rk_async *link) {
    for (cmd *c = ps->live.next; c != &ps->live; c = c->next)
        if (c->link == link && c->confirm && c->got < c->expect)
            return c;
    return NULL;
}

/* A confirmation counts against the oldest command awaiting them, which
 * must be the one whose reply is awaited; the last one answers it. */
static int confirmed(rk_aps *ps, rk_async *link, const shape *sh, const rk_reply *r,
                     const void *head_ud) {
    const char *name;
    size_t len;
    const rk_reply *count = rk_reply_at(r, 2);
    if (!string_at(r, 1, true, &name, &len) || rk_reply_type(count) != RK_REPLY_INTEGER ||
        rk_reply_int(count) < 0)
        return hostile("a malformed subscribe confirmation");
    cmd *c = awaiting(ps, link);
    if (c == NULL || c != head_ud || c->confirm != sh)
        return hostile("a subscribe confirmation nobody asked for");
    return ++c->got == c->expect ? RK_APS_PASS : RK_APS_TAKEN;
}

/* A reply for the command awaited: not for a subscribe awaiting
 * confirmations, unless an error reply (the command refused). */
static int pass(rk_aps *ps, rk_async *link, const rk_reply *r, const void *head_ud) {
    const cmd *c = awaiting(ps, link);
    if (c && c == head_ud && rk_reply_type(r) != RK_REPLY_ERROR)
        return hostile("a reply that is not a confirmation to a subscribe");
    return RK_APS_PASS;
}

/* A push (RESP3) or an array read on the sub (RESP2). */
static int push(rk_aps *ps, rk_async *link, const rk_reply *r, const void *head_ud) {
    const char *kind;
    size_t len;
    if (!string_at(r, 0, false, &kind, &len))
        return hostile("a push whose kind is not a string");
    if (len == 10 && memcmp(kind, "invalidate", 10) == 0 && rk_reply_type(r) == RK_REPLY_PUSH)
        return rk_reply_len(r) == 2 ? invalidation(ps, rk_reply_at(r, 1))
                                    : hostile("an invalidation of the wrong arity");
    if (len == 4 && memcmp(kind, "pong", 4) == 0 && rk_reply_type(r) == RK_REPLY_ARRAY)
        return pass(ps, link, r, head_ud); /* a PING's answer in RESP2 subscriber mode */
    for (size_t i = 0; i < RK_ARRAY_LEN(shapes); i++) {
        const shape *sh = &shapes[i];
        if (strlen(sh->name) != len || memcmp(sh->name, kind, len) != 0)
            continue;
        if (rk_reply_len(r) != sh->elems)
            return hostile("a pub/sub push of the wrong arity");
        return sh->message ? message(ps, sh, r) : confirmed(ps, link, sh, r, head_ud);
    }
    if (rk_reply_type(r) != RK_REPLY_PUSH)
        return hostile("an unknown reply on the subscribed connection");
    const rk_options *o = rk_async_options_of(ps->ac);
    if (o->on_push) /* a push pub/sub does not know: the options' */
        o->on_push(o->push_userdata, r);
    return RK_APS_TAKEN;
}

int rk_aps_reply(rk_async *link, const rk_reply *r, const void *head_ud) {
    rk_aps *ps = state_of(link);
    rk_type t = rk_reply_type(r);
    bool on_sub = link == ps->sub;
    if (!(t == RK_REPLY_PUSH || (on_sub && t == RK_REPLY_ARRAY)))
        return pass(ps, link, r, head_ud);
    rk_async *ac = ps->ac;
    if (link != ac)
        rk_async_hold(ac);
    int rc = push(ps, link, r, head_ud);
    if (link != ac)
        rk_async_release(ac); /* last: the client may be gone after */
    return rc;
}

/* ---- the public side -------------------------------------------------------- */

/* A new op with room for n priors and their names' bytes (NULL with
 * RK_ENOMEM). */
static op *new_op_sized(rk_aps *ps, rk_async_fn done, void *ud, int kind, size_t n, size_t bytes) {
    op *o = rk_calloc(1, sizeof(*o) + n * sizeof(prior) + bytes);
    if (o == NULL) {
        rk_fail(RK_ENOMEM, "out of memory in pub/sub");
        return NULL;
    }
    *o = (op){.done = done, .ud = ud, .kind = kind, .serial = ++ps->serial};
    return o;
}

static op *new_op(rk_aps *ps, rk_async_fn done, void *ud, int kind) {
    return new_op_sized(ps, done, ud, kind, 0, 0);
}

/* A subscribe's op, noting what the names already wanted have now. */
static op *new_subscribe_op(rk_aps *ps, rk_async_fn done, void *ud, int kind, const rk_str *names,
                            size_t n) {
    const rk_nameset *set = &ps->names[kind];
    size_t count = 0, bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (rk_nameset_find(set, names[i].ptr, names[i].len)) {
            count++;
            bytes += names[i].len;
        }
    op *o = new_op_sized(ps, done, ud, kind, count, bytes);
    if (o == NULL)
        return NULL;
    char *at = (char *)(o->priors + count);
    for (size_t i = 0; i < n; i++) {
        const rk_name *e = rk_nameset_find(set, names[i].ptr, names[i].len);
        if (e == NULL)
            continue;
        memcpy(at, names[i].ptr, names[i].len);
        o->priors[o->npriors++] = (prior){.name = at,
                                          .len = names[i].len,
                                          .fn = e->fn,
                                          .userdata = e->userdata,
                                          .serial = e->serial};
        at += names[i].len;
    }
    return o;
}

/* Sends the op's command on the link when it is ready, else parks the op
 * for the next restore. On failure the op is still the caller's. */
static int send_or_park(rk_aps *ps, op *o, int kind, bool sub, const rk_str *names, size_t n) {
    rk_async *link = subs_link(ps);
    if (!ready(link)) {
        park(ps, o);
        return RK_OK;
    }
    return send_names(ps, link, ROLE_OP, o, kind, sub, names, n);
}

static int subscribe(rk_async *ac, int kind, const rk_str *names, size_t n, rk_async_message_fn fn,
                     rk_async_fn done, void *ud) {
    int rc = rk_names_check(names, n);
    if (rc != RK_OK)
        return rc;
    if (n == 0 || fn == NULL)
        return rk_fail(RK_EINVAL, "a subscribe needs names and a message handler");
    rk_aps *ps = state_get(ac);
    if (ps == NULL)
        return rk_error_last()->code;
    if (ps->dedicated && !rk_async_can_dedicate(ac))
        return rk_fail(RK_EINVAL, "pub/sub over RESP2 needs a dedicated connection: the loop "
                                  "has no attach_other");
    op *o = new_subscribe_op(ps, done, ud, kind, names, n);
    if (o == NULL)
        return RK_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        rk_name *e = rk_nameset_add(&ps->names[kind], names[i].ptr, names[i].len);
        if (e == NULL) {
            forget_op_names(ps, o);
            rk_free(o);
            return RK_ENOMEM;
        }
        e->fn = (void (*)(void))fn;
        e->userdata = ud;
        e->serial = o->serial;
    }
    rk_async_hold(ac);
    rc = send_or_park(ps, o, kind, true, names, n);
    if (rc != RK_OK) { /* not sent: the names are as they were */
        forget_op_names(ps, o);
        rk_free(o);
    }
    rk_async_release(ac);
    return rc;
}

int rk_async_subscribe(rk_async *ac, const rk_str *channels, size_t n,
                       rk_async_message_fn on_message, rk_async_fn done, void *userdata) {
    return subscribe(ac, CHANNELS, channels, n, on_message, done, userdata);
}

int rk_async_psubscribe(rk_async *ac, const rk_str *patterns, size_t n,
                        rk_async_message_fn on_message, rk_async_fn done, void *userdata) {
    return subscribe(ac, PATTERNS, patterns, n, on_message, done, userdata);
}

int rk_async_ssubscribe(rk_async *ac, const rk_str *channels, size_t n,
                        rk_async_message_fn on_message, rk_async_fn done, void *userdata) {
    return subscribe(ac, SHARDS, channels, n, on_message, done, userdata);
}

/* Sends the unsubscribe (n 0: of every name of the kind, listed, or the
 * bare command when there is none), then forgets the names. */
static int unsubscribe(rk_async *ac, int kind, const rk_str *names, size_t n, rk_async_fn done,
                       void *ud) {
    int rc = rk_names_check(names, n);
    rk_aps *ps = rc == RK_OK ? state_get(ac) : NULL;
    if (ps == NULL)
        return rc != RK_OK ? rc : rk_error_last()->code;
    rk_str *all = NULL;
    if (n == 0 && (all = names_of(&ps->names[kind], &n, &rc)) == NULL && rc != RK_OK)
        return rc;
    const rk_str *list = all ? all : names;
    op *o = new_op(ps, done, ud, -1);
    rk_async_hold(ac);
    rc = o ? send_or_park(ps, o, kind, false, list, n) : RK_ENOMEM;
    if (rc != RK_OK)
        rk_free(o);
    if (rc == RK_OK && all)
        rk_nameset_clear(&ps->names[kind]);
    for (size_t i = 0; rc == RK_OK && !all && i < n; i++) {
        rk_name *e = rk_nameset_find(&ps->names[kind], names[i].ptr, names[i].len);
        if (e)
            rk_nameset_remove(&ps->names[kind], e);
    }
    rk_free(all);
    rk_async_release(ac);
    return rc;
}

int rk_async_unsubscribe(rk_async *ac, const rk_str *channels, size_t n, rk_async_fn done,
                         void *userdata) {
    return unsubscribe(ac, CHANNELS, channels, n, done, userdata);
}

int rk_async_punsubscribe(rk_async *ac, const rk_str *patterns, size_t n, rk_async_fn done,
                          void *userdata) {
    return unsubscribe(ac, PATTERNS, patterns, n, done, userdata);
}

int rk_async_sunsubscribe(rk_async *ac, const rk_str *channels, size_t n, rk_async_fn done,
                          void *userdata) {
    return unsubscribe(ac, SHARDS, channels, n, done, userdata);
}

size_t rk_async_subscriptions(const rk_async *ac) {
    const rk_aps *ps = ac ? state_of(ac) : NULL;
    return ps ? subscriptions(ps) : 0;
}

void rk_async_on_event(rk_async *ac, rk_async_event_fn fn, void *userdata) {
    rk_aps *ps = state_get(ac);
    if (ps == NULL)
        return;
    ps->on_event = fn;
    ps->event_ud = userdata;
}

/* Copies the prefixes into one block: the array, then their bytes (*out
 * NULL when there are none). */
static int copy_prefixes(const rk_async_tracking *t, rk_str **out) {
    size_t bytes = t->nprefixes * sizeof(rk_str);
    for (size_t i = 0; i < t->nprefixes; i++)
        bytes += t->prefixes[i].len;
    rk_str *v = t->nprefixes ? rk_malloc(bytes) : NULL;
    if (t->nprefixes && v == NULL)
        return rk_fail(RK_ENOMEM, "out of memory enabling tracking");
    char *p = (char *)(v + t->nprefixes);
    for (size_t i = 0; i < t->nprefixes; i++) {
        memcpy(p, t->prefixes[i].ptr, t->prefixes[i].len);
        v[i] = rk_bin(p, t->prefixes[i].len);
        p += t->prefixes[i].len;
    }
    *out = v;
    return RK_OK;
}

/* Sends what turns tracking on with the new settings, now in ps; o
 * completes with the ON. On failure the settings before (`old`) are put
 * back, or, when an OFF went out already, tracking is off. */
static int send_tracking_change(rk_aps *ps, op *o, bool off_first, tracking_settings old) {
    const rk_str inv = RK_STR(INVALIDATE_CHANNEL);
    int rc = RK_OK;
    bool off_sent = false;
    if (ps->dedicated && !ps->inv_subscribed) {
        rc = send_names(ps, ps->sub, ROLE_RESTORE, NULL, CHANNELS, true, &inv, 1);
        ps->inv_subscribed = rc == RK_OK;
    }
    if (rc == RK_OK && off_first) {
        rc = send_tracking_off(ps, ROLE_RESTORE, NULL);
        off_sent = rc == RK_OK;
    }
    if (rc == RK_OK)
        rc = send_tracking_on(ps, ROLE_OP, o, ps->dedicated ? ps->sub_id : 0);
    if (rc == RK_OK) {
        ps->redirect_id = ps->dedicated ? ps->sub_id : 0;
        rk_free(old.prefixes);
        return RK_OK;
    }
    rk_free(ps->track.prefixes);
    ps->track = old;
    if (off_sent) {
        forget_tracking(ps);
        ps->redirect_id = 0;
    }
    return rc;
}

static int check_tracking(const rk_async_tracking *t) {
    if (t == NULL || t->on_invalidate == NULL)
        return rk_fail(RK_EINVAL, "tracking needs an on_invalidate callback");
    if (t->nprefixes && !(t->flags & RK_TRACK_BCAST))
        return rk_fail(RK_EINVAL, "tracking prefixes need RK_TRACK_BCAST");
    if (t->flags & ~(RK_TRACK_BCAST | RK_TRACK_NOLOOP))
        return rk_fail(RK_EINVAL, "unknown tracking flags 0x%x", (unsigned)t->flags);
    return rk_names_check(t->prefixes, t->nprefixes);
}

int(rk_async_tracking_on)(rk_async *ac, const rk_async_tracking *given, rk_async_fn done,
                          void *userdata, size_t t_size) {
    rk_async_tracking settled;
    const rk_async_tracking *t = given ? &settled : NULL;
    int rc = given ? rk_opts_settle(&settled, sizeof(settled), given, t_size, "rk_async_tracking")
                   : RK_OK;
    if (rc == RK_OK)
        rc = check_tracking(t);
    rk_aps *ps = rc == RK_OK ? state_get(ac) : NULL;
    if (ps == NULL)
        return rc != RK_OK ? rc : rk_error_last()->code;
    if (ps->dedicated && !rk_async_can_dedicate(ac))
        return rk_fail(RK_EINVAL, "tracking over RESP2 needs a dedicated connection: the loop "
                                  "has no attach_other");
    if (ps->dedicated && ps->id_refused && ready(ps->sub))
        return rk_fail(RK_ESERVER, "tracking over RESP2 needs CLIENT ID, which the server "
                                   "refused the dedicated connection");
    op *o = new_op(ps, done, userdata, -1);
    rk_str *prefixes = NULL;
    if (o == NULL || (rc = copy_prefixes(t, &prefixes)) != RK_OK) {
        rk_free(o);
        return o ? rc : RK_ENOMEM;
    }
    tracking_settings old = ps->track;
    ps->track =
        (tracking_settings){true, t->flags, prefixes, t->nprefixes, t->on_invalidate, t->userdata};
    rk_async_hold(ac);
    bool now = ready(ps->ac) && (!ps->dedicated || (ready(ps->sub) && ps->sub_id > 0));
    if (now) {
        rc = send_tracking_change(ps, o, old.tracking || ps->redirect_id != 0, old);
    } else {
        rk_free(old.prefixes);
        park(ps, o);
    }
    if (rc != RK_OK)
        rk_free(o);
    rk_async_release(ac);
    return rc;
}

int rk_async_tracking_off(rk_async *ac, rk_async_fn done, void *userdata) {
    rk_aps *ps = state_get(ac);
    if (ps == NULL)
        return rk_error_last()->code;
    op *o = new_op(ps, done, userdata, -1);
    if (o == NULL)
        return RK_ENOMEM;
    forget_tracking(ps);
    ps->redirect_id = 0;
    int rc = RK_OK;
    rk_async_hold(ac);
    if (ready(ac))
        rc = send_tracking_off(ps, ROLE_OP, o);
    else
        park(ps, o);
    if (rc != RK_OK)
        rk_free(o);
    rk_async_release(ac);
    return rc;
}
