/* Pub/sub and tracking on the async client, the same suite on every loop
 * (tests/async_loops/), over RESP3 (the client's own connection) and RESP2
 * (a dedicated connection): messages on channels, patterns and shard
 * channels; commands beside subscriptions; unsubscribe; a lost connection
 * restored with one event; tracking invalidations, after a reconnect too;
 * hostile pushes from the fake server; freeing from a message handler.
 * Needs redis-server; skips without it. */
#define _GNU_SOURCE

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "rkt_alloc.h"
#include "rkt_async_env.h"
#include "rkt_fakeserver.h"
#include "rkt_loops.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"
#include "util/common.h"

/* ---- what the callbacks saw ------------------------------------------------ */

/* A subscription's callbacks: `done` first, so that record() (which takes
 * a result) completes into it; then the messages. */
typedef struct inbox {
    result done;
    int n;
    rk_msg_kind kind;
    char channel[64], pattern[64], data[64];
    size_t data_len;
    bool free_client; /* the handler frees the client */
} inbox;

static void copy_str(char *dst, size_t size, const char *s, size_t n) {
    size_t k = n < size - 1 ? n : size - 1;
    if (s)
        memcpy(dst, s, k);
    dst[s ? k : 0] = '\0';
}

static void on_message(rk_async *ac, const rk_message *m, void *ud) {
    inbox *in = ud;
    in->n++;
    in->kind = m->kind;
    copy_str(in->channel, sizeof(in->channel), m->channel, m->channel_len);
    copy_str(in->pattern, sizeof(in->pattern), m->pattern, m->pattern_len);
    copy_str(in->data, sizeof(in->data), m->data, m->data_len);
    in->data_len = m->data_len;
    if (in->free_client) {
        rk_async_free(ac);
        in->done.e->ac = NULL;
    }
}

typedef struct events {
    int lost, restored;
    int lost_code, restored_code;
} events;

static void on_event(rk_async *ac, rk_async_event ev, const rk_error *err, void *ud) {
    (void)ac;
    events *ev_seen = ud;
    if (ev == RK_ASYNC_EVENT_LOST) {
        ev_seen->lost++;
        ev_seen->lost_code = err->code;
    } else {
        ev_seen->restored++;
        ev_seen->restored_code = err->code;
    }
}

typedef struct invals {
    int n, flushes;
    char key[64];
} invals;

static void on_invalidate(rk_async *ac, const rk_reply *keys, void *ud) {
    (void)ac;
    invals *iv = ud;
    if (keys == NULL) {
        iv->flushes++;
        return;
    }
    iv->n++;
    const rk_reply *k = rk_reply_at(keys, 0);
    copy_str(iv->key, sizeof(iv->key), k ? rk_reply_str(k) : NULL, k ? rk_reply_len(k) : 0);
}

/* ---- helpers ------------------------------------------------------------------ */

/* A loop of the test's kind and a client of port speaking protocol proto. */
static void open_at(env *e, void **state, int port, int proto) {
    rkt_shared_need();
    e->k = *state;
    e->loop = e->k->create();
    assert_non_null(e->loop);
    e->ac = new_client(e, (rk_options){.port = port, .protocol = proto}, NULL);
}

static void open_shared(env *e, void **state, int proto) {
    rkt_shared_need();
    open_at(e, state, rkt_server_port(&rkt_shared), proto);
}

/* Subscribes to one name of the kind (0 channel, 1 pattern, 2 shard
 * channel) and waits for the server's confirmation. */
static void subscribe_one(env *e, inbox *in, int kind, const char *name) {
    in->done.e = e;
    rk_str one = rk_cstr(name);
    int rc = kind == 0   ? rk_async_subscribe(e->ac, &one, 1, on_message, record, in)
             : kind == 1 ? rk_async_psubscribe(e->ac, &one, 1, on_message, record, in)
                         : rk_async_ssubscribe(e->ac, &one, 1, on_message, record, in);
    assert_int_equal(rc, RK_OK);
    wait_count(e, &in->done.calls, 1);
    assert_int_equal(in->done.status, RK_OK);
}

/* Publishes payload (binary safe) with cmd (PUBLISH, SPUBLISH) through the
 * client; waits for the reply (the receivers' count). */
static long long publish(env *e, const char *cmd, const char *channel, rk_str payload) {
    result res = {0};
    rk_str argv[] = {rk_cstr(cmd), rk_cstr(channel), payload};
    assert_true(rk_async_command_argv(e->ac, record, &res, argv, 3) > 0);
    wait_count(e, &res.calls, 1);
    assert_int_equal(res.status, RK_OK);
    return res.integer;
}

/* BOTH(x) makes the tests test_apubsub_x_resp3 and test_apubsub_x_resp2 of
 * x(state, proto). */
#define BOTH(x)                                                                                    \
    static void test_apubsub_##x##_resp3(void **state) {                                           \
        x(state, 3);                                                                               \
    }                                                                                              \
    static void test_apubsub_##x##_resp2(void **state) {                                           \
        x(state, 2);                                                                               \
    }

/* ---- messages -------------------------------------------------------------- */

static void channel_message_reaches_handler(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    inbox in = {0};
    subscribe_one(&e, &in, 0, "aps:ch");
    assert_int_equal(rk_async_subscriptions(e.ac), 1);
    static const char payload[] = {'a', '\0', 'b'};
    assert_int_equal(publish(&e, "PUBLISH", "aps:ch", rk_bin(payload, 3)), 1);
    wait_count(&e, &in.n, 1);
    assert_int_equal(in.kind, RK_MSG_MESSAGE);
    assert_string_equal(in.channel, "aps:ch");
    assert_int_equal(in.data_len, 3);
    assert_memory_equal(in.data, payload, 3);
    run_for(&e, 30);
    assert_int_equal(in.done.calls, 1);
    assert_int_equal(in.n, 1);
    env_close(&e);
}

BOTH(channel_message_reaches_handler)

static void pattern_message_carries_pattern(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    inbox in = {0};
    subscribe_one(&e, &in, 1, "aps:p:*");
    assert_int_equal(publish(&e, "PUBLISH", "aps:p:x", rk_cstr("hi")), 1);
    wait_count(&e, &in.n, 1);
    assert_int_equal(in.kind, RK_MSG_PMESSAGE);
    assert_string_equal(in.pattern, "aps:p:*");
    assert_string_equal(in.channel, "aps:p:x");
    assert_string_equal(in.data, "hi");
    env_close(&e);
}

BOTH(pattern_message_carries_pattern)

static void shard_message_reaches_handler(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    inbox in = {0};
    subscribe_one(&e, &in, 2, "aps:shard");
    assert_int_equal(publish(&e, "SPUBLISH", "aps:shard", rk_cstr("s1")), 1);
    wait_count(&e, &in.n, 1);
    assert_int_equal(in.kind, RK_MSG_SMESSAGE);
    assert_string_equal(in.channel, "aps:shard");
    assert_string_equal(in.data, "s1");
    env_close(&e);
}

BOTH(shard_message_reaches_handler)

/* RESP3: subscribed, the client's one connection still runs commands. */
static void test_apubsub_commands_share_the_subscribed_connection(void **state) {
    env e;
    open_shared(&e, state, 3);
    inbox in = {0};
    subscribe_one(&e, &in, 0, "aps:shared");
    result set = {0}, get = {0};
    submit(&e, &set, 0, CMD("SET", "aps:k", "v"));
    submit(&e, &get, 0, CMD("GET", "aps:k"));
    assert_int_equal(publish(&e, "PUBLISH", "aps:shared", rk_cstr("m")), 1);
    wait_count(&e, &in.n, 1);
    assert_int_equal(get.calls, 1);
    assert_string_equal(get.str, "v");
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_int_equal(st.connects, 1);
    env_close(&e);
}

static void unsubscribe_stops_delivery(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    inbox in = {0};
    subscribe_one(&e, &in, 0, "aps:gone");
    assert_int_equal(publish(&e, "PUBLISH", "aps:gone", rk_cstr("1")), 1);
    wait_count(&e, &in.n, 1);
    result unsub = {0};
    rk_str one = RK_STR("aps:gone");
    assert_int_equal(rk_async_unsubscribe(e.ac, &one, 1, record, &unsub), RK_OK);
    assert_int_equal(rk_async_subscriptions(e.ac), 0);
    wait_count(&e, &unsub.calls, 1);
    assert_int_equal(unsub.status, RK_OK);
    assert_int_equal(publish(&e, "PUBLISH", "aps:gone", rk_cstr("2")), 0); /* nobody */
    run_for(&e, 30);
    assert_int_equal(in.n, 1);
    env_close(&e);
}

BOTH(unsubscribe_stops_delivery)

/* rk_async_disconnect forgets every subscription: one not yet confirmed
 * completes with RK_ECLOSED, and the next connection holds none. */
static void disconnect_forgets_subscriptions(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    inbox held = {0}, pending = {0};
    subscribe_one(&e, &held, 0, "aps:dis1");
    rk_str one = RK_STR("aps:dis2");
    assert_int_equal(rk_async_subscribe(e.ac, &one, 1, on_message, record, &pending), RK_OK);
    rk_async_disconnect(e.ac);
    assert_int_equal(pending.done.calls, 1);
    assert_int_equal(pending.done.status, RK_ECLOSED);
    assert_int_equal(rk_async_subscriptions(e.ac), 0);
    assert_int_equal(publish(&e, "PUBLISH", "aps:dis1", rk_cstr("x")), 0);
    run_for(&e, 30);
    assert_int_equal(held.n, 0);
    assert_int_equal(pending.done.calls, 1);
    env_close(&e);
}

BOTH(disconnect_forgets_subscriptions)

/* ---- reconnect ---------------------------------------------------------------- */

static void lost_connection_resubscribes_once(void **state, int proto) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    env e;
    open_at(&e, state, rkt_proxy_port(p), proto);
    events ev = {0};
    rk_async_on_event(e.ac, on_event, &ev);
    inbox in = {0};
    subscribe_one(&e, &in, 0, "aps:re");
    rkt_proxy_drop_all(p);
    wait_count(&e, &ev.restored, 1);
    assert_int_equal(ev.lost, 1);
    assert_int_equal(ev.restored_code, RK_OK);
    /* Subscribed again: what is published now arrives. */
    assert_int_equal(publish(&e, "PUBLISH", "aps:re", rk_cstr("after")), 1);
    wait_count(&e, &in.n, 1);
    assert_string_equal(in.data, "after");
    run_for(&e, 50);
    assert_int_equal(ev.lost, 1);
    assert_int_equal(ev.restored, 1);
    assert_int_equal(in.done.calls, 1);
    env_close(&e);
    rkt_proxy_stop(p);
}

/* What the outage handler of changes_while_down does. */
typedef struct swap {
    events ev;
    inbox *a, *b;
    result unsub;
} swap;

static void swap_on_lost(rk_async *ac, rk_async_event ev, const rk_error *err, void *ud) {
    swap *s = ud;
    on_event(ac, ev, err, &s->ev);
    if (ev != RK_ASYNC_EVENT_LOST)
        return;
    rk_str a = RK_STR("aps:swap:a"), b = RK_STR("aps:swap:b");
    assert_int_equal(rk_async_unsubscribe(ac, &a, 1, record, &s->unsub), RK_OK);
    assert_int_equal(rk_async_subscribe(ac, &b, 1, on_message, record, s->b), RK_OK);
}

/* Changes made while the connection is down (here in the LOST event) are
 * what the restore holds: the channel dropped then no longer delivers,
 * the one added does, and each call completes once. */
static void changes_while_down_are_restored(void **state, int proto) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    env e;
    open_at(&e, state, rkt_proxy_port(p), proto);
    inbox a = {0}, b = {.done.e = &e};
    swap s = {.a = &a, .b = &b};
    rk_async_on_event(e.ac, swap_on_lost, &s);
    subscribe_one(&e, &a, 0, "aps:swap:a");
    rkt_proxy_drop_all(p);
    wait_count(&e, &s.ev.restored, 1);
    wait_count(&e, &b.done.calls, 1);
    wait_count(&e, &s.unsub.calls, 1);
    assert_int_equal(b.done.status, RK_OK);
    assert_int_equal(s.unsub.status, RK_OK);
    assert_int_equal(rk_async_subscriptions(e.ac), 1);
    assert_int_equal(publish(&e, "PUBLISH", "aps:swap:a", rk_cstr("x")), 0);
    assert_int_equal(publish(&e, "PUBLISH", "aps:swap:b", rk_cstr("y")), 1);
    wait_count(&e, &b.n, 1);
    run_for(&e, 30);
    assert_int_equal(a.n, 0);
    assert_int_equal(b.done.calls, 1);
    assert_int_equal(s.unsub.calls, 1);
    assert_int_equal(s.ev.lost, 1);
    assert_int_equal(s.ev.restored, 1);
    env_close(&e);
    rkt_proxy_stop(p);
}

BOTH(changes_while_down_are_restored)

BOTH(lost_connection_resubscribes_once)

/* ---- tracking ----------------------------------------------------------------- */

/* Another client of the server changes key. */
static void change_elsewhere(const char *key) {
    rk_conn *c = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(c);
    assert_int_equal(rk_conn_call(c, NULL, "SET %s %s", key, "changed"), RK_OK);
    rk_conn_free(c);
}

/* Reads key on the client, so that the server tracks it for it. */
static void read_key(env *e, const char *key) {
    result get = {0};
    submit(e, &get, 0, CMD("GET", key));
    wait_count(e, &get.calls, 1);
    assert_true(get.status == RK_OK || get.status == RK_NIL);
}

static void enable_tracking(env *e, invals *iv) {
    result on = {0};
    rk_async_tracking t = {.on_invalidate = on_invalidate, .userdata = iv};
    assert_int_equal(rk_async_tracking_on(e->ac, &t, record, &on), RK_OK);
    wait_count(e, &on.calls, 1);
    assert_int_equal(on.status, RK_OK);
}

static void tracked_key_change_invalidates(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    invals iv = {0};
    enable_tracking(&e, &iv);
    read_key(&e, "aps:tracked");
    change_elsewhere("aps:tracked");
    wait_count(&e, &iv.n, 1);
    assert_string_equal(iv.key, "aps:tracked");
    env_close(&e);
}

BOTH(tracked_key_change_invalidates)

/* BCAST with a prefix: keys under it are invalidated though never read,
 * others are not. */
static void bcast_prefix_tracks_unread_keys(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    invals iv = {0};
    result on = {0};
    rk_str prefix = RK_STR("aps:b:");
    rk_async_tracking t = {.flags = RK_TRACK_BCAST,
                           .prefixes = &prefix,
                           .nprefixes = 1,
                           .on_invalidate = on_invalidate,
                           .userdata = &iv};
    assert_int_equal(rk_async_tracking_on(e.ac, &t, record, &on), RK_OK);
    wait_count(&e, &on.calls, 1);
    assert_int_equal(on.status, RK_OK);
    change_elsewhere("aps:other");
    change_elsewhere("aps:b:1");
    wait_count(&e, &iv.n, 1);
    assert_string_equal(iv.key, "aps:b:1");
    run_for(&e, 30);
    assert_int_equal(iv.n, 1);
    env_close(&e);
}

BOTH(bcast_prefix_tracks_unread_keys)

/* Unsubscribing from every channel when none is held leaves tracking
 * alone: over RESP2 its invalidations come on a channel of the dedicated
 * connection, which is not the user's to drop. */
/* Turns tracking on, unsubscribes from every channel, and checks that a
 * change to key, read since, is still told; closes e. */
static void unsubscribe_all_then_tracked_key_invalidates(env *e, const char *key) {
    invals iv = {0};
    enable_tracking(e, &iv);
    result unsub = {0};
    assert_int_equal(rk_async_unsubscribe(e->ac, NULL, 0, record, &unsub), RK_OK);
    wait_count(e, &unsub.calls, 1);
    assert_int_equal(unsub.status, RK_OK);
    read_key(e, key);
    change_elsewhere(key);
    wait_count(e, &iv.n, 1);
    assert_string_equal(iv.key, key);
    env_close(e);
}

static void unsubscribe_all_keeps_tracking(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    unsubscribe_all_then_tracked_key_invalidates(&e, "aps:tracked3");
}

BOTH(unsubscribe_all_keeps_tracking)

static void tracking_survives_reconnect(void **state, int proto) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    env e;
    open_at(&e, state, rkt_proxy_port(p), proto);
    events ev = {0};
    rk_async_on_event(e.ac, on_event, &ev);
    invals iv = {0};
    enable_tracking(&e, &iv);
    rkt_proxy_drop_all(p);
    wait_count(&e, &ev.restored, 1);
    assert_true(iv.flushes >= 1); /* everything may be stale */
    read_key(&e, "aps:tracked2");
    change_elsewhere("aps:tracked2");
    wait_count(&e, &iv.n, 1);
    assert_string_equal(iv.key, "aps:tracked2");
    assert_int_equal(ev.lost, 1);
    env_close(&e);
    rkt_proxy_stop(p);
}

BOTH(tracking_survives_reconnect)

/* ---- hostile data -------------------------------------------------------------- */

#define CONFIRM3 ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
#define CONFIRM2 "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"

/* A fake server answering SUBSCRIBE ch with `reply` (raw RESP); the
 * client (protocol proto) subscribes. */
static rkt_fake *fake_subscribed(env *e, void **state, int proto, const char *reply, inbox *in,
                                 events *ev) {
    static const char *const client_id[] = {"CLIENT", "ID", NULL};
    static const char *const expect[] = {"SUBSCRIBE", "ch", NULL};
    rkt_fake *f = rkt_fake_start(NULL, 0, NULL);
    assert_non_null(f);
    if (proto == 2) /* the dedicated connection's CLIENT ID first */
        assert_int_equal(rkt_fake_add(f, &(rkt_fake_step){.expect = client_id, .reply = ":7\r\n"}),
                         0);
    assert_int_equal(rkt_fake_add(f, &(rkt_fake_step){.expect = expect, .reply = reply}), 0);
    open_at(e, state, rkt_fake_port(f), proto);
    rk_async_on_event(e->ac, on_event, ev);
    in->done.e = e;
    rk_str one = RK_STR("ch");
    assert_int_equal(rk_async_subscribe(e->ac, &one, 1, on_message, record, in), RK_OK);
    return f;
}

/* A server without HELLO puts the client's connection on RESP2, which
 * cannot mix subscriptions with commands: asked for RESP3, the client
 * moves its subscriptions to a dedicated connection (CLIENT ID, then
 * SUBSCRIBE there) and keeps commands on its own. */
static void test_apubsub_server_without_hello_gets_a_dedicated_connection(void **state) {
    static const char *const hello[] = {"HELLO", "3", NULL}, *const client_id[] = {"CLIENT", "ID",
                                                                                   NULL};
    static const char *const sub[] = {"SUBSCRIBE", "ch", NULL}, *const get[] = {"GET", "k", NULL};
    static const char *const lib_name[] = {"CLIENT", "SETINFO", "LIB-NAME", "rediskit", NULL};
    static const char *const lib_ver[] = {"CLIENT", "SETINFO", "LIB-VER", RK_VERSION_STRING, NULL};
    static const char no_hello[] = "-ERR unknown command 'HELLO'\r\n";
    const rkt_fake_step steps[] = {
        {.expect = hello, .reply = no_hello}, /* the client's connection */
        {.expect = hello, .reply = no_hello}, /* the dedicated one */
        /* Its CLIENT SETINFO pair (LIB-NAME, LIB-VER): the next step
         * expects a CLIENT command, so they take steps of their own. */
        {.expect = lib_name, .reply = "+OK\r\n"},
        {.expect = lib_ver, .reply = "+OK\r\n"},
        {.expect = client_id, .reply = ":7\r\n"},
        {.expect = sub, .reply = CONFIRM2 "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"},
        {.expect = get, .reply = "$1\r\nv\r\n"}, /* on the client's connection */
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
    assert_non_null(f);
    env e;
    open_at(&e, state, rkt_fake_port(f), 3);
    inbox in = {0};
    in.done.e = &e;
    rk_str one = RK_STR("ch");
    assert_int_equal(rk_async_subscribe(e.ac, &one, 1, on_message, record, &in), RK_OK);
    wait_count(&e, &in.done.calls, 1);
    assert_int_equal(in.done.status, RK_OK);
    wait_count(&e, &in.n, 1);
    assert_string_equal(in.data, "hi");
    result r = {0};
    rk_str argv[] = {RK_STR("GET"), RK_STR("k")};
    assert_true(rk_async_command_argv(e.ac, record, &r, argv, 2) > 0);
    wait_count(&e, &r.calls, 1);
    assert_int_equal(r.status, RK_OK);
    assert_string_equal(r.str, "v");
    if (rkt_fake_error(f))
        fail_msg("%s", rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

/* A SUBSCRIBE never confirmed (a link gone silent) has no deadline of its
 * own; a command behind it times out, and the stall rule, which does not
 * wait for the SUBSCRIBE, replaces the connection: the subscription is
 * made on the next one. */
static void test_apubsub_unconfirmed_subscribe_does_not_hold_a_silent_connection(void **state) {
    static const char *const sub[] = {"SUBSCRIBE", "ch", NULL}, *const get[] = {"GET", "k", NULL};
    const rkt_fake_step steps[] = {
        {.expect = sub},                    /* never confirmed */
        {.expect = get},                    /* never answered */
        {.expect = sub, .reply = CONFIRM3}, /* the next connection */
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
    assert_non_null(f);
    env e;
    rkt_shared_need();
    e.k = *state;
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_fake_port(f), .command_timeout_ms = 300}, NULL);
    inbox in = {0};
    in.done.e = &e;
    rk_str one = RK_STR("ch");
    assert_int_equal(rk_async_subscribe(e.ac, &one, 1, on_message, record, &in), RK_OK);
    wait_connects(&e, 1);
    result r = {0};
    rk_str argv[] = {RK_STR("GET"), RK_STR("k")};
    assert_true(rk_async_command_argv(e.ac, record, &r, argv, 2) > 0);
    wait_count(&e, &r.calls, 1);
    assert_int_equal(r.status, RK_ETIMEOUT);
    wait_connects(&e, 2);
    wait_count(&e, &in.done.calls, 1);
    assert_int_equal(in.done.status, RK_OK);
    assert_int_equal(rk_async_subscriptions(e.ac), 1);
    assert_null(rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

static void hostile_push_closes_connection(void **state, int proto) {
    static const char *const pushes3[] = {
        ">2\r\n$7\r\nmessage\r\n$2\r\nch\r\n",                   /* wrong arity */
        ">3\r\n$7\r\nmessage\r\n:5\r\n$1\r\nx\r\n",              /* channel not a string */
        ">3\r\n:1\r\n$2\r\nch\r\n$1\r\nx\r\n",                   /* kind not a string */
        ">3\r\n$9\r\nsubscribe\r\n$2\r\nzz\r\n:2\r\n",           /* unasked confirmation */
        ">2\r\n$10\r\ninvalidate\r\n:3\r\n",                     /* keys not an array */
        ">4\r\n$8\r\npmessage\r\n$1\r\np\r\n$2\r\nch\r\n*0\r\n", /* payload an array */
    };
    static const char *const pushes2[] = {
        "*2\r\n$7\r\nmessage\r\n$2\r\nch\r\n",        "*3\r\n$7\r\nmessage\r\n:5\r\n$1\r\nx\r\n",
        "*3\r\n:1\r\n$2\r\nch\r\n$1\r\nx\r\n",        "*3\r\n$9\r\nsubscribe\r\n$2\r\nzz\r\n:2\r\n",
        "*3\r\n$3\r\nfoo\r\n$2\r\nch\r\n$1\r\nx\r\n", /* unknown kind */
    };
    const char *const *pushes = proto == 3 ? pushes3 : pushes2;
    size_t n = proto == 3 ? RK_ARRAY_LEN(pushes3) : RK_ARRAY_LEN(pushes2);
    for (size_t i = 0; i < n; i++) {
        env e;
        inbox in = {0};
        events ev = {0};
        char reply[256];
        snprintf(reply, sizeof(reply), "%s%s", proto == 3 ? CONFIRM3 : CONFIRM2, pushes[i]);
        rkt_fake *f = fake_subscribed(&e, state, proto, reply, &in, &ev);
        wait_count(&e, &ev.lost, 1);
        if (ev.lost_code != RK_EPROTO)
            fail_msg("push %zu: lost with %d, not RK_EPROTO", i, ev.lost_code);
        assert_int_equal(in.n, 0);
        env_close(&e);
        rkt_fake_free(f);
    }
}

BOTH(hostile_push_closes_connection)

/* A message on a channel nobody subscribed, or a push of a kind pub/sub
 * does not know, is harmless: dropped, and the connection carries on. */
static void test_apubsub_harmless_pushes_dropped(void **state) {
    env e;
    inbox in = {0};
    events ev = {0};
    rkt_fake *f = fake_subscribed(&e, state, 3,
                                  CONFIRM3 ">3\r\n$7\r\nmessage\r\n$5\r\nother\r\n$1\r\nx\r\n"
                                           ">2\r\n$7\r\nunknown\r\n$1\r\nx\r\n",
                                  &in, &ev);
    wait_count(&e, &in.done.calls, 1);
    assert_int_equal(in.done.status, RK_OK);
    assert_int_equal(rkt_fake_add(f, &(rkt_fake_step){.reply = "+PONG\r\n"}), 0);
    result ping = {0};
    submit(&e, &ping, 0, CMD("PING"));
    wait_count(&e, &ping.calls, 1);
    assert_string_equal(ping.str, "PONG");
    assert_int_equal(in.n, 0);
    assert_int_equal(ev.lost, 0);
    env_close(&e);
    rkt_fake_free(f);
}

/* A subscribe is answered by confirmations (a count of at least 0) or an
 * error reply: any other reply means the stream is out of step. */
static void test_apubsub_plain_reply_to_subscribe_is_protocol_error(void **state) {
    static const struct {
        int proto;
        const char *reply;
    } cases[] = {
        {3, "+OK\r\n"},
        {2, "+OK\r\n"},
        {2, "*2\r\n$4\r\npong\r\n$0\r\n\r\n"},
        {3, ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:-1\r\n"}, /* a negative count */
        {2, "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:-1\r\n"},
    };
    for (size_t i = 0; i < RK_ARRAY_LEN(cases); i++) {
        env e;
        inbox in = {0};
        events ev = {0};
        rkt_fake *f = fake_subscribed(&e, state, cases[i].proto, cases[i].reply, &in, &ev);
        wait_count(&e, &ev.lost, 1);
        if (ev.lost_code != RK_EPROTO)
            fail_msg("case %zu: lost with %d, not RK_EPROTO", i, ev.lost_code);
        assert_true(in.done.calls == 0 || in.done.status != RK_OK); /* never taken as confirmed */
        env_close(&e);
        rkt_fake_free(f);
    }
}

/* A subscribe the server refuses completes with its error and is
 * forgotten. */
static void test_apubsub_refused_subscribe_is_forgotten(void **state) {
    rkt_shared_need();
    const char *const expect[] = {"SUBSCRIBE", "ch", NULL};
    rkt_fake *f = rkt_fake_start(
        &(rkt_fake_step){.expect = expect, .reply = "-NOPERM no channel for you\r\n"}, 1, NULL);
    assert_non_null(f);
    env e;
    open_at(&e, state, rkt_fake_port(f), 3);
    inbox in = {.done.e = &e};
    rk_str one = RK_STR("ch");
    assert_int_equal(rk_async_subscribe(e.ac, &one, 1, on_message, record, &in), RK_OK);
    wait_count(&e, &in.done.calls, 1);
    assert_int_equal(in.done.status, RK_ESERVER);
    assert_int_equal(rk_async_subscriptions(e.ac), 0);
    env_close(&e);
    rkt_fake_free(f);
}

/* A client of the shared server, through proxy p when not NULL, logged
 * in as ACL user `user` (password "pw"), made with the rules `rules`. */
static void open_as(env *e, void **state, int proto, rkt_proxy *p, const char *user,
                    const char *rules) {
    rkt_shared_need();
    rk_conn *c = rk_conn_new(&(rk_options){.port = rkt_server_port(&rkt_shared)});
    assert_non_null(c);
    char words[256];
    rk_str argv[24] = {RK_STR("ACL"), RK_STR("SETUSER"), rk_cstr(user), RK_STR("on"),
                       RK_STR(">pw")};
    size_t argc = 5;
    snprintf(words, sizeof words, "%s", rules);
    for (char *save, *w = strtok_r(words, " ", &save); w && argc < 24;
         w = strtok_r(NULL, " ", &save))
        argv[argc++] = rk_cstr(w);
    assert_int_equal(rk_conn_call_argv(c, NULL, argv, argc), RK_OK);
    rk_conn_free(c);
    e->k = *state;
    e->loop = e->k->create();
    assert_non_null(e->loop);
    int port = p ? rkt_proxy_port(p) : rkt_server_port(&rkt_shared);
    e->ac = new_client(
        e, (rk_options){.port = port, .protocol = proto, .username = user, .password = "pw"}, NULL);
}

/* A client of the shared server logged in as an ACL user who may use the
 * channels aps:acl:* only. */
static void open_acl_user(env *e, void **state, int proto) {
    open_as(e, state, proto, NULL, "aps-acl", "resetchannels &aps:acl:* ~* +@all");
}

/* A refused subscribe that named a channel already held changes nothing
 * on the server: the channel stays subscribed, its messages still reach
 * the handler, and it counts. */
static void refused_subscribe_keeps_channels_held_before(void **state, int proto) {
    env e;
    open_acl_user(&e, state, proto);
    inbox held = {0}, refused = {0};
    subscribe_one(&e, &held, 0, "aps:acl:held");
    rk_str both[] = {RK_STR("aps:acl:held"), RK_STR("aps:forbidden")};
    refused.done.e = &e;
    assert_int_equal(rk_async_subscribe(e.ac, both, 2, on_message, record, &refused), RK_OK);
    wait_count(&e, &refused.done.calls, 1);
    assert_int_equal(refused.done.status, RK_ESERVER);
    assert_int_equal(rk_async_subscriptions(e.ac), 1);
    assert_int_equal(publish(&e, "PUBLISH", "aps:acl:held", rk_cstr("still")), 1);
    wait_count(&e, &held.n, 1);
    assert_string_equal(held.data, "still");
    assert_int_equal(refused.n, 0);
    env_close(&e);
}

BOTH(refused_subscribe_keeps_channels_held_before)

/* Two subscribes naming the same new channel beside a forbidden one, both
 * refused: the channel is forgotten, whether the calls were sent on a
 * connection (connected first) or parked for its restore. */
static void two_refused_subscribes_forget_their_channel(void **state, int proto, bool connected) {
    env e;
    open_acl_user(&e, state, proto);
    inbox first = {0}, second = {.done.e = &e}, third = {.done.e = &e};
    if (connected)
        subscribe_one(&e, &first, 0, "aps:acl:first");
    rk_str one[] = {RK_STR("aps:acl:both"), RK_STR("aps:forbidden:1")};
    rk_str two[] = {RK_STR("aps:acl:both"), RK_STR("aps:forbidden:2")};
    assert_int_equal(rk_async_subscribe(e.ac, one, 2, on_message, record, &second), RK_OK);
    assert_int_equal(rk_async_subscribe(e.ac, two, 2, on_message, record, &third), RK_OK);
    wait_count(&e, &second.done.calls, 1);
    wait_count(&e, &third.done.calls, 1);
    assert_int_equal(second.done.status, RK_ESERVER);
    assert_int_equal(third.done.status, RK_ESERVER);
    assert_int_equal(rk_async_subscriptions(e.ac), connected ? 1 : 0);
    env_close(&e);
}

static void test_apubsub_two_refused_subscribes_forget_their_channel(void **state) {
    two_refused_subscribes_forget_their_channel(state, 3, true);
    two_refused_subscribes_forget_their_channel(state, 3, false);
    two_refused_subscribes_forget_their_channel(state, 2, true);
    two_refused_subscribes_forget_their_channel(state, 2, false);
}

/* Calls made before the first connection are restored together, one
 * command per kind: a refused PSUBSCRIBE fails the pattern's call alone,
 * and the channel subscribed beside it is held and delivers. */
static void restore_refused_for_one_kind_keeps_the_others(void **state, int proto) {
    env e;
    open_acl_user(&e, state, proto);
    inbox ch = {.done.e = &e}, pat = {.done.e = &e};
    rk_str one = RK_STR("aps:acl:kept"), bad = RK_STR("aps:forbidden:*");
    assert_int_equal(rk_async_subscribe(e.ac, &one, 1, on_message, record, &ch), RK_OK);
    assert_int_equal(rk_async_psubscribe(e.ac, &bad, 1, on_message, record, &pat), RK_OK);
    wait_count(&e, &pat.done.calls, 1);
    wait_count(&e, &ch.done.calls, 1);
    assert_int_equal(pat.done.status, RK_ESERVER);
    assert_int_equal(ch.done.status, RK_OK);
    assert_int_equal(rk_async_subscriptions(e.ac), 1);
    assert_int_equal(publish(&e, "PUBLISH", "aps:acl:kept", rk_cstr("here")), 1);
    wait_count(&e, &ch.n, 1);
    assert_string_equal(ch.data, "here");
    env_close(&e);
}

BOTH(restore_refused_for_one_kind_keeps_the_others)

/* A client of the shared server, through proxy p when not NULL, logged
 * in as an ACL user who may use pub/sub (and PING) only: no CLIENT. */
static void open_pubsub_only_user(env *e, void **state, int proto, rkt_proxy *p) {
    open_as(e, state, proto, p, "aps-subonly",
            "resetchannels &aps:* -@all +@pubsub +ping +hello +auth");
}

/* Unsubscribing from every channel over RESP2 with tracking on and none
 * held sends a PING in place of the bare UNSUBSCRIBE (which would drop
 * tracking's channel). A user the ACL denies PING gets NOPERM for it: the
 * refusal still answers it, and the call completes with RK_OK, tracking
 * untouched. */
static void test_apubsub_unsubscribe_all_without_ping_keeps_tracking_resp2(void **state) {
    env e;
    open_as(&e, state, 2, NULL, "aps-noping", "~* &* +@all -ping");
    unsubscribe_all_then_tracked_key_invalidates(&e, "aps:tracked4");
}

/* Over RESP2 the dedicated connection asks CLIENT ID for tracking's
 * redirect. Without tracking a refusal of it is nothing to the
 * subscriptions: they are made and restored, and the restore is told
 * whole. */
static void test_apubsub_refused_client_id_without_tracking_is_no_failure(void **state) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    env e;
    open_pubsub_only_user(&e, state, 2, p);
    events ev = {0};
    rk_async_on_event(e.ac, on_event, &ev);
    inbox in = {0};
    subscribe_one(&e, &in, 0, "aps:subonly");
    rkt_proxy_drop_all(p);
    wait_count(&e, &ev.restored, 1);
    assert_int_equal(ev.restored_code, RK_OK);
    assert_int_equal(rk_async_subscriptions(e.ac), 1);
    env_close(&e);
    rkt_proxy_stop(p);
}

/* Tracking over RESP2 for a user who may not run CLIENT ID (nor CLIENT
 * TRACKING): the call completes with the refusal, never waits for ever. */
static void test_apubsub_refused_client_id_fails_resp2_tracking(void **state) {
    env e;
    open_pubsub_only_user(&e, state, 2, NULL);
    invals iv = {0};
    result on = {0};
    rk_async_tracking t = {.on_invalidate = on_invalidate, .userdata = &iv};
    assert_int_equal(rk_async_tracking_on(e.ac, &t, record, &on), RK_OK);
    wait_count(&e, &on.calls, 1);
    assert_int_equal(on.status, RK_ESERVER);
    env_close(&e);
}

/* ---- freeing ---------------------------------------------------------------------- */

static void free_inside_message_handler(void **state, int proto) {
    env e;
    open_shared(&e, state, proto);
    inbox in = {.free_client = true};
    subscribe_one(&e, &in, 0, "aps:free");
    result pub = {.e = &e};
    rk_str argv[] = {RK_STR("PUBLISH"), RK_STR("aps:free"), RK_STR("x")};
    assert_true(rk_async_command_argv(e.ac, record, &pub, argv, 3) > 0);
    wait_count(&e, &in.n, 1);
    assert_null(e.ac);
    run_for(&e, 30); /* nothing of the client is left to run */
    assert_int_equal(in.n, 1);
    env_close(&e);
}

BOTH(free_inside_message_handler)

/* A subscribe not yet confirmed when the client is freed completes with
 * RK_ECANCELED, once. */
static void test_apubsub_free_completes_pending_subscribe(void **state) {
    env e;
    open_shared(&e, state, 2);
    inbox in = {0};
    rk_str one = RK_STR("aps:pending");
    assert_int_equal(rk_async_subscribe(e.ac, &one, 1, on_message, record, &in), RK_OK);
    rk_async_free(e.ac);
    e.ac = NULL;
    assert_int_equal(in.done.calls, 1);
    assert_int_equal(in.done.status, RK_ECANCELED);
    run_for(&e, 30);
    assert_int_equal(in.done.calls, 1);
    env_close(&e);
}

/* ---- out of memory ---------------------------------------------------------------- */

/* One round: subscribe, track, publish and wait (a bounded while) for the
 * message, with some allocation failing; RK_OK when the message came. */
static int oom_round(env *e, int proto) {
    e->ac =
        rk_async_new(&(rk_options){.port = rkt_server_port(&rkt_shared), .protocol = proto}, NULL);
    if (e->ac == NULL)
        return RK_ENOMEM;
    inbox in = {.done.e = e};
    invals iv = {0};
    result pub = {0};
    rk_str one = RK_STR("aps:oom");
    rk_str argv[] = {RK_STR("PUBLISH"), RK_STR("aps:oom"), RK_STR("x")};
    rk_async_tracking t = {.on_invalidate = on_invalidate, .userdata = &iv};
    int rc = e->k->attach(e->loop, e->ac);
    if (rc == RK_OK)
        rc = rk_async_subscribe(e->ac, &one, 1, on_message, record, &in);
    if (rc == RK_OK)
        rc = rk_async_tracking_on(e->ac, &t, NULL, NULL);
    for (int64_t end = rk_now_ms() + 300; rc == RK_OK && in.n == 0 && rk_now_ms() < end;) {
        if (in.done.calls == 1 && pub.calls == 0 && pub.e == NULL) {
            pub.e = e;
            if (rk_async_command_argv(e->ac, record, &pub, argv, 3) < 0)
                rc = RK_ENOMEM;
        }
        assert_int_equal(e->k->run_once(e->loop), 0);
    }
    rk_async_free(e->ac);
    e->ac = NULL;
    return rc == RK_OK && in.n == 1 ? RK_OK : RK_ENOMEM;
}

/* Every allocation of a subscribe, tracking and a message failing in turn:
 * a failure or a late message, never a crash or a leak. The built-in loop
 * only (the others allocate outside the library's allocator). */
static void test_apubsub_survives_every_failed_allocation(void **state) {
    rkt_shared_need();
    env e = {.k = *state};
    if (e.k != &rkt_loop_builtin)
        skip();
    e.loop = e.k->create();
    assert_non_null(e.loop);
    for (int proto = 2; proto <= 3; proto++) {
        rkt_alloc_install();
        assert_int_equal(oom_round(&e, proto), RK_OK); /* works with no failure */
        run_for(&e, 5);
        for (size_t n = 1;; n++) {
            rkt_alloc_install(); /* counters from zero */
            rkt_alloc_fail_nth(n);
            oom_round(&e, proto);
            run_for(&e, 5);
            size_t failed = rkt_alloc_stats_now().failed;
            rkt_alloc_fail_nth(0);
            if (rkt_alloc_live() != 0)
                fail_msg("RESP%d, allocation %zu failing: %ld blocks leaked", proto, n,
                         rkt_alloc_live());
            if (failed == 0)
                break; /* every allocation of the round was tried */
        }
        rkt_alloc_uninstall();
    }
    e.k->destroy(e.loop);
}

/* A subscribe refused for want of memory holds nothing: its channels are
 * not counted, nor subscribed by the next connection's restore. Each
 * allocation of the call fails in turn, on a connected client. */
static void failed_subscribe_is_not_remembered(void **state, int proto) {
    rkt_shared_need();
    env e = {.k = *state};
    if (e.k != &rkt_loop_builtin)
        skip();
    e.loop = e.k->create();
    assert_non_null(e.loop);
    e.ac =
        new_client(&e, (rk_options){.port = rkt_server_port(&rkt_shared), .protocol = proto}, NULL);
    inbox held = {0};
    subscribe_one(&e, &held, 0, "aps:oom:held");
    rkt_alloc_install();
    bool passed = false;
    for (size_t n = 1; !passed; n++) {
        inbox in = {0};
        rk_str names[] = {RK_STR("aps:oom:held"), RK_STR("aps:oom:new")};
        size_t failed = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(n);
        int rc = rk_async_subscribe(e.ac, names, 2, on_message, record, &in);
        rkt_alloc_fail_nth(0);
        passed = rkt_alloc_stats_now().failed == failed;
        if (rc != RK_OK && rk_async_subscriptions(e.ac) != 1)
            fail_msg("RESP%d, allocation %zu failing: %d, yet %zu names are wanted", proto, n, rc,
                     rk_async_subscriptions(e.ac));
        if (rc == RK_OK) {
            in.done.e = &e;
            wait_count(&e, &in.done.calls, 1);
            result unsub = {0};
            assert_int_equal(rk_async_unsubscribe(e.ac, &names[1], 1, record, &unsub), RK_OK);
            wait_count(&e, &unsub.calls, 1);
        }
    }
    rkt_alloc_uninstall();
    env_close(&e);
}

BOTH(failed_subscribe_is_not_remembered)

/* rk_async_tracking_on refused for want of memory leaves tracking as it
 * was, off here: a lost connection tells on_invalidate nothing, and the
 * restore does not turn it on; accepted, it is in force. Each allocation
 * of the call fails in turn (a subscription keeps the client
 * connected). */
static void failed_tracking_on_is_not_remembered(void **state, int proto) {
    rkt_shared_need();
    env e = {.k = *state};
    if (e.k != &rkt_loop_builtin)
        skip();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    e.loop = e.k->create();
    assert_non_null(e.loop);
    e.ac = new_client(&e, (rk_options){.port = rkt_proxy_port(p), .protocol = proto}, NULL);
    events ev = {0};
    rk_async_on_event(e.ac, on_event, &ev);
    inbox held = {0};
    subscribe_one(&e, &held, 0, "aps:oomt:held");
    rk_str prefix = RK_STR("aps:oomt:");
    invals iv = {0};
    rk_async_tracking t = {.flags = RK_TRACK_BCAST,
                           .prefixes = &prefix,
                           .nprefixes = 1,
                           .on_invalidate = on_invalidate,
                           .userdata = &iv};
    rkt_alloc_install();
    bool passed = false;
    for (size_t n = 1; !passed; n++) {
        result on = {0};
        size_t failed = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(n);
        int rc = rk_async_tracking_on(e.ac, &t, record, &on);
        rkt_alloc_fail_nth(0);
        passed = rkt_alloc_stats_now().failed == failed;
        if (rc == RK_OK) { /* in force: a change under the prefix is told */
            wait_count(&e, &on.calls, 1);
            assert_int_equal(on.status, RK_OK);
            int seen = iv.n;
            change_elsewhere("aps:oomt:k");
            wait_count(&e, &iv.n, seen + 1);
            result off = {0};
            assert_int_equal(rk_async_tracking_off(e.ac, record, &off), RK_OK);
            wait_count(&e, &off.calls, 1);
            iv.flushes = 0;
            continue;
        }
        int restored = ev.restored;
        rkt_proxy_drop_all(p);
        wait_count(&e, &ev.restored, restored + 1);
        if (iv.flushes != 0)
            fail_msg("RESP%d, allocation %zu failing: %d, yet on_invalidate was told", proto, n,
                     rc);
    }
    rkt_alloc_uninstall();
    env_close(&e);
    rkt_proxy_stop(p);
}

BOTH(failed_tracking_on_is_not_remembered)

/* ---- main ------------------------------------------------------------------------ */

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_apubsub_channel_message_reaches_handler_resp3),
        cmocka_unit_test(test_apubsub_channel_message_reaches_handler_resp2),
        cmocka_unit_test(test_apubsub_pattern_message_carries_pattern_resp3),
        cmocka_unit_test(test_apubsub_pattern_message_carries_pattern_resp2),
        cmocka_unit_test(test_apubsub_shard_message_reaches_handler_resp3),
        cmocka_unit_test(test_apubsub_shard_message_reaches_handler_resp2),
        cmocka_unit_test(test_apubsub_commands_share_the_subscribed_connection),
        cmocka_unit_test(test_apubsub_unsubscribe_stops_delivery_resp3),
        cmocka_unit_test(test_apubsub_unsubscribe_stops_delivery_resp2),
        cmocka_unit_test(test_apubsub_disconnect_forgets_subscriptions_resp3),
        cmocka_unit_test(test_apubsub_disconnect_forgets_subscriptions_resp2),
        cmocka_unit_test(test_apubsub_lost_connection_resubscribes_once_resp3),
        cmocka_unit_test(test_apubsub_changes_while_down_are_restored_resp3),
        cmocka_unit_test(test_apubsub_changes_while_down_are_restored_resp2),
        cmocka_unit_test(test_apubsub_lost_connection_resubscribes_once_resp2),
        cmocka_unit_test(test_apubsub_tracked_key_change_invalidates_resp3),
        cmocka_unit_test(test_apubsub_tracked_key_change_invalidates_resp2),
        cmocka_unit_test(test_apubsub_bcast_prefix_tracks_unread_keys_resp3),
        cmocka_unit_test(test_apubsub_bcast_prefix_tracks_unread_keys_resp2),
        cmocka_unit_test(test_apubsub_unsubscribe_all_keeps_tracking_resp3),
        cmocka_unit_test(test_apubsub_unsubscribe_all_keeps_tracking_resp2),
        cmocka_unit_test(test_apubsub_unsubscribe_all_without_ping_keeps_tracking_resp2),
        cmocka_unit_test(test_apubsub_tracking_survives_reconnect_resp3),
        cmocka_unit_test(test_apubsub_tracking_survives_reconnect_resp2),
        cmocka_unit_test(test_apubsub_hostile_push_closes_connection_resp3),
        cmocka_unit_test(test_apubsub_hostile_push_closes_connection_resp2),
        cmocka_unit_test(test_apubsub_server_without_hello_gets_a_dedicated_connection),
        cmocka_unit_test(test_apubsub_unconfirmed_subscribe_does_not_hold_a_silent_connection),
        cmocka_unit_test(test_apubsub_harmless_pushes_dropped),
        cmocka_unit_test(test_apubsub_plain_reply_to_subscribe_is_protocol_error),
        cmocka_unit_test(test_apubsub_refused_subscribe_is_forgotten),
        cmocka_unit_test(test_apubsub_refused_subscribe_keeps_channels_held_before_resp3),
        cmocka_unit_test(test_apubsub_refused_subscribe_keeps_channels_held_before_resp2),
        cmocka_unit_test(test_apubsub_two_refused_subscribes_forget_their_channel),
        cmocka_unit_test(test_apubsub_restore_refused_for_one_kind_keeps_the_others_resp3),
        cmocka_unit_test(test_apubsub_restore_refused_for_one_kind_keeps_the_others_resp2),
        cmocka_unit_test(test_apubsub_refused_client_id_without_tracking_is_no_failure),
        cmocka_unit_test(test_apubsub_refused_client_id_fails_resp2_tracking),
        cmocka_unit_test(test_apubsub_free_inside_message_handler_resp3),
        cmocka_unit_test(test_apubsub_free_inside_message_handler_resp2),
        cmocka_unit_test(test_apubsub_free_completes_pending_subscribe),
        cmocka_unit_test(test_apubsub_survives_every_failed_allocation),
        cmocka_unit_test(test_apubsub_failed_subscribe_is_not_remembered_resp3),
        cmocka_unit_test(test_apubsub_failed_subscribe_is_not_remembered_resp2),
        cmocka_unit_test(test_apubsub_failed_tracking_on_is_not_remembered_resp3),
        cmocka_unit_test(test_apubsub_failed_tracking_on_is_not_remembered_resp2),
    };
    return rkt_async_run("async pub/sub", tests, RK_ARRAY_LEN(tests));
}
