/* The async client attacked, on every loop: the promises of async.h tried
 * where they are weakest. Replies must never go to the wrong command (a
 * lost connection that repeats some commands and fails others between
 * them; many timeouts and cancels among replies and pushes), the queue
 * limits must count only what waits, a callback may free the client from
 * every kind of completion, and a hostile server (replies split at every
 * byte, garbage, unasked replies, huge lengths, a close in mid-reply)
 * gives a clear error, never a crash, hang, leak or wrong reply. Needs
 * redis-server; skips without it. */
#define _GNU_SOURCE

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "async/async_int.h"
#include "rediskit/rediskit.h"
#include "rkt_alloc.h"
#include "rkt_async_env.h"
#include "rkt_fakeserver.h"
#include "rkt_loops.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"
#include "util/common.h"

/* ---- replies go to their own command -------------------------------------- */

/* A lost connection repeats the read it had sent and fails the write
 * after it: the write's record, which gave its bytes up, must not count
 * as sent on the next connection, or it takes the reply of the command
 * sent next, and every later command gets the reply of the one after. */
static void test_hostile_failed_write_behind_repeated_read_takes_no_reply(void **state) {
    env e;
    rkt_proxy *p = proxied_open(&e, state, (rk_options){0});
    result sleeping = {0}, get = {0}, incr = {0}, one = {0}, two = {0};
    hold_server(&e, &sleeping);
    submit(&e, &get, 0, CMD("GET", "hostile:repeat"));
    submit(&e, &incr, 0, CMD("INCR", "hostile:repeat-incr"));
    cut_in_flight(&e, p);
    wait_count(&e, &get.calls, 1);
    assert_int_equal(incr.status, RK_EIO);
    assert_true(get.status == RK_OK || get.status == RK_NIL); /* repeated */
    submit(&e, &one, 2000, CMD("ECHO", "one"));
    submit(&e, &two, 2000, CMD("ECHO", "two"));
    wait_count(&e, &two.calls, 1);
    assert_int_equal(one.status, RK_OK);
    assert_string_equal(one.str, "one");
    assert_int_equal(two.status, RK_OK);
    assert_string_equal(two.str, "two");
    proxied_close(&e, p);
}

/* What the pushes of the mixed test brought; done records the subscribe
 * (whose userdata is the handler's too). */
typedef struct pushes {
    result done;
    int messages, invalidations;
} pushes;

static void count_message(rk_async *ac, const rk_message *m, void *ud) {
    (void)ac, (void)m;
    ((pushes *)ud)->messages++;
}

static void count_invalidation(rk_async *ac, const rk_reply *keys, void *ud) {
    (void)ac, (void)keys;
    ((pushes *)ud)->invalidations++;
}

#define MIXED 420

/* Over RESP3 the connection also carries pub/sub messages and tracking's
 * invalidations (pushes, among the replies). Commands that time out
 * (their replies come late), are cancelled before and after they were
 * sent, and reads and writes that make invalidations, with messages
 * published to the client itself: every checked ECHO gets its own reply,
 * once, and every message arrives. */
static void test_hostile_timeouts_cancels_and_pushes_keep_replies_in_order(void **state) {
    env e;
    env_open(&e, state, NULL);
    pushes got = {.messages = 0};
    result track = {0};
    rk_str ch = RK_STR("hostile:mix");
    assert_int_equal(rk_async_subscribe(e.ac, &ch, 1, count_message, record, &got), RK_OK);
    rk_async_tracking t = {.on_invalidate = count_invalidation, .userdata = &got};
    assert_int_equal(rk_async_tracking_on(e.ac, &t, record, &track), RK_OK);
    wait_count(&e, &got.done.calls, 1);
    wait_count(&e, &track.calls, 1);
    assert_int_equal(got.done.status, RK_OK);
    assert_int_equal(track.status, RK_OK);
    result *echo = calloc(MIXED, sizeof(*echo)), *other = calloc(MIXED, sizeof(*other));
    assert_true(echo && other);
    int published = 0;
    for (int i = 0; i < MIXED; i++) {
        char num[16], key[32];
        snprintf(num, sizeof(num), "%d", i);
        snprintf(key, sizeof(key), "hostile:mix:%d", i % 5);
        rk_async_id id = 0;
        switch (i % 6) {
        case 0: submit(&e, &other[i], 1, CMD("DEBUG", "SLEEP", "0.01")); break;
        case 1: id = submit(&e, &other[i], 0, CMD("ECHO", "gone")); break;
        case 2: submit(&e, &other[i], 0, CMD("GET", key)); break;
        case 3: submit(&e, &other[i], 0, CMD("SET", key, num)); break;
        case 4:
            submit(&e, &other[i], 0, CMD("PUBLISH", "hostile:mix", num));
            published++;
            break;
        default: id = submit(&e, &other[i], 0, CMD("ECHO", "late")); break;
        }
        if (i % 6 == 1)
            assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
        submit(&e, &echo[i], 0, CMD("ECHO", num));
        if (i % 3 == 0)
            assert_int_equal(e.k->run_once(e.loop), 0);
        if (i % 6 == 5) /* sent or not by now */
            assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
    }
    wait_count(&e, &echo[MIXED - 1].calls, 1);
    wait_count(&e, &got.messages, published);
    run_for(&e, 50);
    for (int i = 0; i < MIXED; i++) {
        char num[16];
        snprintf(num, sizeof(num), "%d", i);
        if (echo[i].calls != 1 || echo[i].status != RK_OK || strcmp(echo[i].str, num) != 0)
            fail_msg("ECHO %d: %d calls, %s, \"%s\"", i, echo[i].calls, rk_strerror(echo[i].status),
                     echo[i].str);
        assert_int_equal(other[i].calls, 1);
    }
    assert_int_equal(got.messages, published);
    assert_true(got.invalidations > 0);
    free(echo);
    free(other);
    env_close(&e);
}

/* ---- the in-flight limits ------------------------------------------------- */

#define LIMITED 120

/* Under max_inflight 2 and max_inflight_bytes 64, small commands, ones
 * larger than the byte limit (sent alone), late ones (still in flight
 * after their deadline) and ones cancelled while held back: each checked
 * ECHO gets its own reply once, in order, and none is lost. */
static void test_hostile_inflight_limits_lose_and_reorder_nothing(void **state) {
    env e;
    env_open(&e, state, &(rk_async_options){.max_inflight = 2, .max_inflight_bytes = 64});
    result *echo = calloc(LIMITED, sizeof(*echo)), *other = calloc(LIMITED, sizeof(*other));
    assert_true(echo && other);
    char big[128];
    for (int i = 0; i < LIMITED; i++) {
        char val[160];
        memset(big, 'b', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        snprintf(val, sizeof(val), "%d:%s", i, i % 4 == 1 ? big : "");
        if (i % 10 == 0)
            submit(&e, &other[i], 1, CMD("DEBUG", "SLEEP", "0.005"));
        if (i % 10 == 5) {
            rk_async_id id = submit(&e, &other[i], 0, CMD("ECHO", "cancelled"));
            assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
        }
        submit(&e, &echo[i], 0, CMD("ECHO", val));
    }
    wait_count(&e, &echo[LIMITED - 1].calls, 1);
    run_for(&e, 30);
    for (int i = 0; i < LIMITED; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d:", i);
        if (echo[i].calls != 1 || echo[i].status != RK_OK ||
            strncmp(echo[i].str, want, strlen(want)) != 0)
            fail_msg("ECHO %d: %d calls, %s, \"%.20s\"", i, echo[i].calls,
                     rk_strerror(echo[i].status), echo[i].str);
        assert_int_equal(other[i].calls, i % 5 == 0 ? 1 : 0);
    }
    assert_int_equal(rk_async_pending(e.ac), 0);
    free(echo);
    free(other);
    env_close(&e);
}

/* A command held back by max_inflight waits unsent, bounded by its own
 * deadline: it times out then, and is never sent. */
static void test_hostile_held_back_command_times_out_unsent(void **state) {
    env e;
    env_open(&e, state, &(rk_async_options){.max_inflight = 1});
    result slow = {0}, held = {0}, after = {0};
    submit(&e, &slow, 0, CMD("DEBUG", "SLEEP", "1"));
    wait_sent(&e, 1);
    submit(&e, &held, 100, CMD("PING"));
    wait_count(&e, &held.calls, 1);
    assert_int_equal(held.status, RK_ETIMEOUT);
    assert_int_equal(slow.calls, 0); /* its deadline, not the room it waited for */
    submit(&e, &after, 0, CMD("ECHO", "after"));
    wait_count(&e, &after.calls, 1);
    assert_string_equal(after.str, "after");
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_int_equal(st.commands, 2); /* the DEBUG SLEEP and the ECHO */
    env_close(&e);
}

/* ---- callbacks run from the loop ----------------------------------------------- */

/* A connect refused at once (a closed loopback port, a unix socket path
 * that does not exist) fails the command from the loop, never from inside
 * its submission: the caller has its id before the callback runs. */
static void refused_connect_completes_from_the_loop(void **state, rk_options o) {
    rkt_shared_need();
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, o, NULL);
    result r = {0}, blocking = {0};
    submit(&e, &r, 0, CMD("PING"));
    assert_int_equal(r.calls, 0);
    submit(&e, &blocking, 0, CMD("BLPOP", "hostile:refused", "0"));
    assert_int_equal(blocking.calls, 0);
    wait_count(&e, &r.calls, 1);
    wait_count(&e, &blocking.calls, 1);
    assert_int_equal(r.status, RK_ECONNECT);
    assert_int_equal(blocking.status, RK_ECONNECT);
    run_for(&e, 30);
    assert_int_equal(r.calls, 1);
    assert_int_equal(blocking.calls, 1);
    env_close(&e);
}

static void test_hostile_refused_tcp_connect_completes_from_the_loop(void **state) {
    refused_connect_completes_from_the_loop(state, (rk_options){.port = rkt_free_port()});
}

static void test_hostile_missing_unix_socket_completes_from_the_loop(void **state) {
    refused_connect_completes_from_the_loop(state,
                                            (rk_options){.unix_path = "/nonexistent/hostile.sock"});
}

/* ---- the queue limits ----------------------------------------------------- */

/* A client of the test's loop whose connects never complete (a black
 * hole, returned), with aopts. */
static rkt_blackhole *stuck_open(env *e, void **state, const rk_async_options *aopts) {
    rkt_shared_need();
    rkt_blackhole *b = rkt_blackhole_start();
    assert_non_null(b);
    e->k = *state;
    e->loop = e->k->create();
    rk_options o = {.port = rkt_blackhole_port(b), .connect_timeout_ms = 30000};
    e->ac = new_client(e, o, aopts);
    return b;
}

static void stuck_close(env *e, rkt_blackhole *b) {
    env_close(e);
    rkt_blackhole_stop(b);
}

/* max_queued bounds the commands that wait: two that timed out while the
 * connect hangs wait for nothing, and leave room. */
static void test_hostile_timed_out_commands_leave_queue_room(void **state) {
    env e;
    rkt_blackhole *b = stuck_open(&e, state, &(rk_async_options){.max_queued = 2});
    result r[2] = {{0}}, third = {0};
    submit(&e, &r[0], 100, CMD("PING"));
    submit(&e, &r[1], 100, CMD("PING"));
    wait_count(&e, &r[1].calls, 1);
    assert_int_equal(r[0].status, RK_ETIMEOUT);
    assert_int_equal(r[1].status, RK_ETIMEOUT);
    rk_str argv[1] = {RK_STR("PING")};
    assert_true(rk_async_command_argv(e.ac, record, &third, argv, 1) > 0);
    stuck_close(&e, b);
    assert_int_equal(third.status, RK_ECANCELED);
}

/* The same for max_queued_bytes and commands cancelled before they went. */
static void test_hostile_cancelled_commands_leave_queue_bytes(void **state) {
    env e;
    rkt_blackhole *b = stuck_open(&e, state, &(rk_async_options){.max_queued_bytes = 64});
    result r[2] = {{0}}, last = {0};
    char big[64];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    rk_async_id id = submit(&e, &r[0], 0, CMD("ECHO", big));
    rk_str argv[2] = {RK_STR("ECHO"), rk_cstr(big)};
    assert_int_equal(rk_async_command_argv(e.ac, record, &r[1], argv, 2), RK_EAGAIN);
    assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
    assert_int_equal(r[0].status, RK_ECANCELED);
    assert_true(rk_async_command_argv(e.ac, record, &last, argv, 2) > 0);
    stuck_close(&e, b);
    assert_int_equal(last.status, RK_ECANCELED);
}

/* max_queued bounds what other threads post too: past it a posted
 * command completes with RK_EAGAIN (from the loop) instead of growing the
 * queue without bound. */
static void test_hostile_posts_past_max_queued_are_refused(void **state) {
    env e;
    rkt_blackhole *b = stuck_open(&e, state, &(rk_async_options){.max_queued = 2});
    result r[5] = {{0}};
    rk_str argv[1] = {RK_STR("PING")};
    for (int i = 0; i < 5; i++) {
        rk_async_call call = {.callback = record, .userdata = &r[i]};
        assert_int_equal(rk_async_post(e.ac, &call, argv, 1), RK_OK);
    }
    wait_count(&e, &r[4].calls, 1);
    run_for(&e, 30);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r[i].calls, i < 2 ? 0 : 1);
    assert_int_equal(r[2].status, RK_EAGAIN);
    assert_int_equal(rk_async_pending(e.ac), 2);
    stuck_close(&e, b);
    assert_int_equal(r[0].status, RK_ECANCELED);
}

/* ---- freeing from every kind of callback ------------------------------------ */

/* Installs the counting allocator, so that a test can see that a client
 * freed from a callback was really freed (no block left). */
static void count_blocks(void) {
    rkt_alloc_install();
}

/* Fails when a block counted since count_blocks is still live. */
static void assert_no_block_left(void) {
    long live = rkt_alloc_live();
    rkt_alloc_uninstall();
    assert_int_equal(live, 0);
}

/* rk_async_detach completes a blocking command with RK_ECLOSED; its
 * callback frees the client, which must then be freed once the detach
 * is over, not left half-done (it leaked). */
static void test_hostile_free_in_blocking_callback_during_detach(void **state) {
    count_blocks();
    env e;
    env_open(&e, state, NULL);
    result blpop = {.e = &e, .action = ACT_FREE};
    submit(&e, &blpop, 0, CMD("BLPOP", "hostile:bl-detach", "0"));
    run_for(&e, 50);
    rk_async_detach(e.ac);
    assert_int_equal(blpop.calls, 1);
    assert_int_equal(blpop.status, RK_ECLOSED);
    assert_null(e.ac);
    env_close(&e);
    assert_no_block_left();
}

static void free_on_lost(rk_async *ac, rk_async_event ev, const rk_error *err, void *ud) {
    (void)err;
    env *e = ud;
    if (ev == RK_ASYNC_EVENT_LOST) {
        rk_async_free(ac);
        e->ac = NULL;
    }
}

static void on_message_ignored(rk_async *ac, const rk_message *m, void *ud) {
    (void)ac, (void)m, (void)ud;
}

/* Over RESP2 the subscriptions live on a dedicated connection of the
 * loop's: a detach loses it and tells RK_ASYNC_EVENT_LOST, whose callback
 * may free the client (it was freed under the detach's feet). */
static void test_hostile_free_in_lost_event_during_detach(void **state) {
    count_blocks();
    env e;
    rkt_shared_need();
    e.k = *state;
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_server_port(&rkt_shared), .protocol = 2}, NULL);
    rk_async_on_event(e.ac, free_on_lost, &e);
    result sub = {0};
    rk_str ch = RK_STR("hostile:ch");
    assert_int_equal(rk_async_subscribe(e.ac, &ch, 1, on_message_ignored, record, &sub), RK_OK);
    wait_count(&e, &sub.calls, 1);
    assert_int_equal(sub.status, RK_OK);
    rk_async_detach(e.ac);
    assert_null(e.ac);
    env_close(&e);
    assert_no_block_left();
}

/* rk_async_tx_free cancels the transaction's WATCH and EXEC; the WATCH's
 * callback frees the client, and the EXEC's completion must not touch it
 * afterwards. */
static void test_hostile_free_in_transaction_callback_during_tx_free(void **state) {
    count_blocks();
    env e;
    env_open(&e, state, NULL);
    rk_async_tx *tx = rk_async_tx_new(e.ac);
    assert_non_null(tx);
    result watch = {.e = &e, .action = ACT_FREE}, exec = {0};
    rk_str key = RK_STR("hostile:tx");
    assert_true(rk_async_tx_watch(tx, record, &watch, &key, 1) > 0);
    rk_async_batch *b = rk_async_batch_new();
    assert_int_equal(rk_async_batch_append(b, "SET hostile:tx v"), RK_OK);
    assert_true(rk_async_tx_exec(tx, b, record, &exec, 0) > 0);
    rk_async_tx_free(tx);
    assert_int_equal(watch.calls, 1);
    assert_int_equal(watch.status, RK_ECANCELED);
    assert_null(e.ac);
    assert_int_equal(exec.calls, 1);
    assert_int_equal(exec.status, RK_ECANCELED);
    env_close(&e);
    assert_no_block_left();
}

/* A transaction's callback that frees another transaction. */
typedef struct tx_pair {
    rk_async_tx *other;
    int calls, status;
} tx_pair;

static void free_other_tx(rk_async *ac, int status, rk_reply *r, void *ud) {
    (void)ac, (void)r;
    tx_pair *p = ud;
    p->calls++;
    p->status = status;
    rk_async_tx_free(p->other);
    p->other = NULL;
}

/* A transaction WATCHing hostile:tx-pair, its completion to cb. */
static rk_async_tx *watch_pending(env *e, rk_async_fn cb, void *ud) {
    rk_async_tx *tx = rk_async_tx_new(e->ac);
    assert_non_null(tx);
    rk_str key = RK_STR("hostile:tx-pair");
    assert_true(rk_async_tx_watch(tx, cb, ud, &key, 1) > 0);
    return tx;
}

/* Freeing the client fails every transaction's commands; the callback of
 * one frees the other transaction (allowed after the client's free, so
 * in it too), whose connection the free was about to close. */
static void test_hostile_free_cancels_transaction_whose_callback_frees_another(void **state) {
    env e;
    env_open(&e, state, NULL);
    tx_pair first = {0}, second = {0};
    rk_async_tx *a = watch_pending(&e, free_other_tx, &first);
    rk_async_tx *b = watch_pending(&e, free_other_tx, &second);
    first.other = b;
    second.other = a;
    rk_async_free(e.ac);
    e.ac = NULL;
    assert_int_equal(first.calls + second.calls, 2);
    assert_int_equal(first.status, RK_ECANCELED);
    assert_int_equal(second.status, RK_ECANCELED);
    rk_async_tx_free(first.other); /* the one neither callback freed */
    rk_async_tx_free(second.other);
    env_close(&e);
}

/* A pub/sub callback that frees or disconnects the client (action: ACT_FREE
 * or ACT_DISCONNECT) the first time it runs. */
typedef struct psub_act {
    env *e;
    int action;
    int calls, subscribed;
} psub_act;

static void act_now(psub_act *a, rk_async *ac) {
    if (a->calls++ > 0)
        return;
    if (a->action == ACT_FREE) {
        rk_async_free(ac);
        a->e->ac = NULL;
    } else {
        rk_async_disconnect(ac);
    }
}

static void act_on_message(rk_async *ac, const rk_message *m, void *ud) {
    (void)m;
    act_now(ud, ac);
}

static void act_on_invalidate(rk_async *ac, const rk_reply *keys, void *ud) {
    if (keys) /* not the flush-all of a lost connection */
        act_now(ud, ac);
}

static void act_on_restored(rk_async *ac, rk_async_event ev, const rk_error *err, void *ud) {
    (void)err;
    if (ev == RK_ASYNC_EVENT_RESTORED)
        act_now(ud, ac);
}

static void note_subscribed(rk_async *ac, int status, rk_reply *r, void *ud) {
    (void)ac, (void)r;
    psub_act *a = ud;
    a->subscribed += status == RK_OK;
}

/* Which pub/sub callback acts. */
enum { ON_MESSAGE, ON_INVALIDATE, ON_RESTORED };

/* Runs the callback `where` with the action, on protocol proto: the client
 * is then freed (no block left) or disconnected and still answers. */
static void act_in_pubsub_callback(void **state, int where, int action, int proto) {
    rkt_shared_need();
    count_blocks();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_proxy_port(p), .protocol = proto}, NULL);
    psub_act a = {.e = &e, .action = action};
    rk_str ch = RK_STR("hostile:act");
    if (where == ON_INVALIDATE) {
        rk_async_tracking t = {.on_invalidate = act_on_invalidate, .userdata = &a};
        assert_int_equal(rk_async_tracking_on(e.ac, &t, note_subscribed, &a), RK_OK);
    } else {
        rk_async_on_event(e.ac, act_on_restored, &a);
        assert_int_equal(rk_async_subscribe(e.ac, &ch, 1, act_on_message, note_subscribed, &a),
                         RK_OK);
    }
    wait_count(&e, &a.subscribed, 1);
    if (where == ON_INVALIDATE) {
        result get = {0};
        submit(&e, &get, 0, CMD("GET", "hostile:act-key"));
        wait_count(&e, &get.calls, 1);
        free(rkt_server_cmd(&rkt_shared, "SET", "hostile:act-key", "changed", NULL));
    } else if (where == ON_MESSAGE) {
        free(rkt_server_cmd(&rkt_shared, "PUBLISH", "hostile:act", "m", NULL));
    } else {
        rkt_proxy_drop_all(p);
    }
    wait_count(&e, &a.calls, 1);
    if (action == ACT_DISCONNECT) {
        result ping = {0};
        assert_int_equal(rk_async_subscriptions(e.ac), 0);
        submit(&e, &ping, 0, CMD("PING"));
        wait_count(&e, &ping.calls, 1);
        assert_string_equal(ping.str, "PONG");
    }
    run_for(&e, 30);
    assert_int_equal(a.calls, 1);
    assert_true(action != ACT_FREE || e.ac == NULL);
    env_close(&e);
    rkt_proxy_stop(p);
    assert_no_block_left();
}

/* Every pub/sub callback may free or disconnect the client, on RESP2
 * (the subscriptions on a connection of their own) and RESP3. */
static void act_in_every_protocol(void **state, int where) {
    for (int proto = 2; proto <= 3; proto++) {
        act_in_pubsub_callback(state, where, ACT_FREE, proto);
        act_in_pubsub_callback(state, where, ACT_DISCONNECT, proto);
    }
}

static void test_hostile_free_or_disconnect_in_message_handler(void **state) {
    act_in_every_protocol(state, ON_MESSAGE);
}

static void test_hostile_free_or_disconnect_in_invalidation(void **state) {
    act_in_every_protocol(state, ON_INVALIDATE);
}

static void test_hostile_free_or_disconnect_in_restored_event(void **state) {
    act_in_every_protocol(state, ON_RESTORED);
}

/* A lock operation's callback that frees the client, or the lock. */
typedef struct lock_act {
    env *e;
    bool free_lock;
    int calls, status;
} lock_act;

static void lock_acts(rk_async_lock *l, int status, void *ud) {
    lock_act *a = ud;
    a->calls++;
    a->status = status;
    if (a->free_lock) {
        rk_async_lock_free(l);
        return;
    }
    rk_async_free(a->e->ac);
    a->e->ac = NULL;
}

/* An acquire's callback frees the client (then the lock, later), or the
 * lock itself: nothing is left, nothing is used after its free. */
static void lock_callback_frees(void **state, bool free_lock) {
    count_blocks();
    env e;
    env_open(&e, state, NULL);
    result del = {0};
    submit(&e, &del, 0, CMD("DEL", "hostile:lock"));
    wait_count(&e, &del.calls, 1);
    rk_async_lock *l = rk_async_lock_new(e.ac, "hostile:lock", NULL);
    assert_non_null(l);
    lock_act a = {.e = &e, .free_lock = free_lock};
    assert_int_equal(rk_async_lock_acquire(l, lock_acts, &a), RK_OK);
    wait_count(&e, &a.calls, 1);
    assert_int_equal(a.status, RK_OK);
    if (!free_lock)
        rk_async_lock_free(l); /* after the client: allowed */
    env_close(&e);
    assert_no_block_left();
}

static void test_hostile_lock_callback_frees_the_client(void **state) {
    lock_callback_frees(state, false);
}

static void test_hostile_lock_callback_frees_the_lock(void **state) {
    lock_callback_frees(state, true);
}

/* ---- a hostile server ------------------------------------------------------- */

/* A client of the test's loop to the fake server f, with opts (the port
 * set here). */
static void fake_open(env *e, void **state, rkt_fake *f, rk_options o) {
    rkt_shared_need();
    assert_non_null(f);
    e->k = *state;
    e->loop = e->k->create();
    o.port = rkt_fake_port(f);
    e->ac = new_client(e, o, NULL);
}

/* One reply of every RESP3 shape, and a push before a reply. */
#define BIG_LEN 3000
static const rkt_fake_step every_shape[] = {
    {.expect = CMD("GET", "k"), .reply = "$5\r\nhello\r\n"},
    {.expect = CMD("HGETALL", "h"), .reply = "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n:2\r\n"},
    {.expect = CMD("ECHO", "x"),
     .reply = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\nhey\r\n$1\r\nx\r\n"},
    {.expect = CMD("ZSCORE", "z", "m"), .reply = ",3.5\r\n"},
    {.expect = CMD("GET", "attr"),
     .reply = "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n$2\r\nok\r\n"},
    {.expect = CMD("LRANGE", "l", "0", "-1"), .reply = "*3\r\n$1\r\na\r\n*1\r\n:7\r\n+last\r\n"},
    {.expect = CMD("GET", "big")}, /* BIG_LEN bytes, filled in */
};

/* Runs every_shape's commands, pipelined, against a fake server that
 * dribbles or not, and checks each reply reached its own command. */
static void run_every_shape(void **state, bool dribble) {
    static char big[BIG_LEN + 32];
    int n = snprintf(big, sizeof(big), "$%d\r\n", BIG_LEN);
    memset(big + n, 'y', BIG_LEN);
    memcpy(big + n + BIG_LEN, "\r\n", 2);
    rkt_fake_step steps[RK_ARRAY_LEN(every_shape)];
    memcpy(steps, every_shape, sizeof(steps));
    steps[RK_ARRAY_LEN(steps) - 1].reply = big;
    steps[RK_ARRAY_LEN(steps) - 1].reply_len = (size_t)n + BIG_LEN + 2;
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), &(rkt_fake_opts){.dribble = dribble});
    env e;
    fake_open(&e, state, f, (rk_options){0});
    result r[RK_ARRAY_LEN(every_shape)] = {{0}};
    for (size_t i = 0; i < RK_ARRAY_LEN(r); i++)
        submit(&e, &r[i], -1, steps[i].expect);
    wait_count(&e, &r[RK_ARRAY_LEN(r) - 1].calls, 1);
    assert_string_equal(r[0].str, "hello");
    assert_int_equal(r[1].type, RK_REPLY_MAP);
    assert_string_equal(r[2].str, "x");
    assert_int_equal(r[3].type, RK_REPLY_DOUBLE);
    assert_string_equal(r[4].str, "ok");
    assert_int_equal(r[5].type, RK_REPLY_ARRAY);
    assert_string_equal(r[5].str, "last");
    assert_int_equal(strlen(r[6].str), sizeof(r[6].str) - 1);
    run_for(&e, 20);
    for (size_t i = 0; i < RK_ARRAY_LEN(r); i++) {
        assert_int_equal(r[i].calls, 1);
        assert_true(r[i].status == RK_OK);
    }
    assert_null(rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

static void test_hostile_replies_in_one_piece_reach_their_commands(void **state) {
    run_every_shape(state, false);
}

static void test_hostile_replies_split_at_every_byte_reach_their_commands(void **state) {
    run_every_shape(state, true);
}

/* What an async lock operation's callback saw. */
typedef struct lock_done {
    int calls, status;
} lock_done;

static void on_lock_done(rk_async_lock *l, int status, void *ud) {
    (void)l;
    lock_done *d = ud;
    d->calls++;
    d->status = status;
}

/* Runs one lock operation ('a' acquire, 'r' release) to its completion. */
static int lock_step(env *e, rk_async_lock *l, char op) {
    lock_done d = {0};
    int rc = op == 'a' ? rk_async_lock_acquire(l, on_lock_done, &d)
                       : rk_async_lock_release(l, on_lock_done, &d);
    assert_int_equal(rc, RK_OK);
    wait_count(e, &d.calls, 1);
    return d.status;
}

/* The lock's scripts answer numbers of their own; any other one is
 * RK_EPROTO: a fencing token below zero is no "held elsewhere" (and the
 * SET that may have run is released), a release's 7 no lost lock. */
static void test_hostile_lock_script_answer_out_of_range_is_eproto(void **state) {
    const rkt_fake_step steps[] = {
        {.reply = ":-3\r\n"}, /* EVALSHA: the fencing acquire */
        {.reply = ":1\r\n"},  /* EVAL: its release */
        {.reply = "+OK\r\n"}, /* SET NX */
        {.reply = ":7\r\n"},  /* EVALSHA: the release */
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
    env e;
    fake_open(&e, state, f, (rk_options){0});
    rk_async_lock *fenced =
        rk_async_lock_new(e.ac, "odd", &(rk_lock_opts){.fencing = true, .non_blocking = true});
    rk_async_lock *plain = rk_async_lock_new(e.ac, "odd", &(rk_lock_opts){.non_blocking = true});
    assert_true(fenced && plain);
    assert_int_equal(lock_step(&e, fenced, 'a'), RK_EPROTO);
    assert_null(rk_async_lock_token(fenced));
    assert_int_equal(lock_step(&e, plain, 'a'), RK_OK);
    assert_int_equal(lock_step(&e, plain, 'r'), RK_EPROTO);
    assert_true(rkt_fake_wait_done(f, WAIT_MS));
    assert_null(rkt_fake_error(f));
    size_t n = rkt_fake_commands(f);
    assert_true(n >= 4);
    assert_true(strncmp(rkt_fake_command(f, n - 4), "EVALSHA ", 8) == 0);
    assert_true(strncmp(rkt_fake_command(f, n - 3), "EVAL ", 5) == 0);
    assert_true(strncmp(rkt_fake_command(f, n - 2), "SET odd ", 8) == 0);
    assert_true(strncmp(rkt_fake_command(f, n - 1), "EVALSHA ", 8) == 0);
    rk_async_lock_free(fenced);
    rk_async_lock_free(plain);
    env_close(&e);
    rkt_fake_free(f);
}

/* A handshake refused (SELECT answered with an error) fails the commands
 * waiting for it once, with the server's word, and the next command
 * connects again after the backoff. */
static void test_hostile_refused_handshake_fails_waiting_commands_once(void **state) {
    const rkt_fake_step steps[] = {
        {.expect = CMD("SELECT", "3"), .reply = "-ERR DB index is out of range\r\n"},
        {.expect = CMD("PING"), .reply = "+PONG\r\n"},
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
    env e;
    fake_open(&e, state, f,
              (rk_options){.db = 3, .retry = {.backoff = RK_BACKOFF_CONSTANT, .base_ms = 30}});
    result first = {0}, second = {0};
    submit(&e, &first, 0, CMD("PING"));
    wait_count(&e, &first.calls, 1);
    /* A failure without a reply, never RK_ESERVER (which comes with the
     * error reply), saying what the server said. */
    assert_int_equal(first.type, RK_REPLY_NIL);
    assert_int_equal(first.status, RK_ECONNECT);
    assert_non_null(strstr(first.str, "DB index is out of range"));
    submit(&e, &second, 0, CMD("PING"));
    wait_count(&e, &second.calls, 1);
    assert_int_equal(second.status, RK_OK);
    assert_string_equal(second.str, "PONG");
    run_for(&e, 30);
    assert_int_equal(first.calls, 1);
    assert_null(rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

/* What the subscriptions' events and messages brought. */
typedef struct outage {
    result done;
    int lost, restored, restored_code, messages;
    char last[32];
} outage;

static void outage_event(rk_async *ac, rk_async_event ev, const rk_error *err, void *ud) {
    (void)ac;
    outage *o = ud;
    if (ev == RK_ASYNC_EVENT_LOST) {
        o->lost++;
        return;
    }
    o->restored++;
    o->restored_code = err->code;
}

static void outage_message(rk_async *ac, const rk_message *m, void *ud) {
    (void)ac;
    outage *o = ud;
    o->messages++;
    snprintf(o->last, sizeof(o->last), "%.*s", (int)m->data_len, m->data);
}

/* Sends the PING the fake server answers with a message and PONG: it gets
 * its PONG, and the handler has seen `messages` messages, the last one
 * `last`. */
static void ping_brings_message(env *e, outage *o, int messages, const char *last) {
    result ping = {0};
    submit(e, &ping, 0, CMD("PING"));
    wait_count(e, &ping.calls, 1);
    assert_string_equal(ping.str, "PONG");
    assert_int_equal(o->messages, messages);
    assert_string_equal(o->last, last);
}

#define CONFIRM_CH ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"

/* A subscribed connection lost, then two reconnects whose handshakes are
 * refused, then one that works: the loss is told once for the outage, the
 * restore once, the subscribe's own completion once, and the channel's
 * messages arrive again. */
static void test_hostile_outage_with_refused_handshakes_is_told_once(void **state) {
    const rkt_fake_step steps[] = {
        {.expect = CMD("SUBSCRIBE", "ch"), .reply = CONFIRM_CH, .close_after = true},
        {.expect = CMD("SELECT", "3"), .reply = "-ERR DB index is out of range\r\n"},
        {.expect = CMD("SELECT", "3"), .reply = "-ERR DB index is out of range\r\n"},
        {.expect = CMD("SUBSCRIBE", "ch"), .reply = CONFIRM_CH},
        {.expect = CMD("PING"),
         .reply = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n+PONG\r\n"},
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
    env e;
    fake_open(&e, state, f,
              (rk_options){.db = 3, .retry = {.backoff = RK_BACKOFF_CONSTANT, .base_ms = 30}});
    outage o = {.lost = 0};
    rk_async_on_event(e.ac, outage_event, &o);
    rk_str ch = RK_STR("ch");
    assert_int_equal(rk_async_subscribe(e.ac, &ch, 1, outage_message, record, &o), RK_OK);
    wait_count(&e, &o.restored, 1);
    assert_int_equal(o.lost, 1);
    assert_int_equal(o.restored_code, RK_OK);
    ping_brings_message(&e, &o, 1, "hi");
    run_for(&e, 30);
    assert_int_equal(o.lost, 1);
    assert_int_equal(o.restored, 1);
    assert_int_equal(o.done.calls, 1);
    assert_int_equal(o.done.status, RK_OK);
    assert_null(rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

/* Subscribe confirmations and messages (pushes among the replies) read a
 * byte at a time reach the subscribe's completion and the handler. */
static void test_hostile_pushes_split_at_every_byte_reach_their_handler(void **state) {
    const rkt_fake_step steps[] = {
        {.expect = CMD("SUBSCRIBE", "ch"),
         .reply = CONFIRM_CH ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\none\r\n"},
        {.expect = CMD("PING"),
         .reply = ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\ntwo\r\n+PONG\r\n"},
    };
    rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), &(rkt_fake_opts){.dribble = true});
    env e;
    fake_open(&e, state, f, (rk_options){0});
    outage o = {.lost = 0};
    rk_str ch = RK_STR("ch");
    assert_int_equal(rk_async_subscribe(e.ac, &ch, 1, outage_message, record, &o), RK_OK);
    wait_count(&e, &o.done.calls, 1);
    assert_int_equal(o.done.status, RK_OK);
    ping_brings_message(&e, &o, 2, "two");
    assert_null(rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

/* What a hostile server answers to INCR, and how the INCR must end. */
typedef struct hostile_case {
    const char *what, *reply;
    bool close_after;
    int status;
} hostile_case;

static const hostile_case hostile_cases[] = {
    {"garbage", "@@not resp@@\r\n", false, RK_EPROTO},
    {"a bulk length past 64 bits", "$99999999999999999999999\r\n", false, RK_EPROTO},
    {"a bulk over the limit", "$600000000\r\n", false, RK_EPROTO},
    {"an aggregate too large", "*4294967295\r\n", false, RK_EPROTO},
    {"a negative bulk length", "$-5\r\n", false, RK_EPROTO},
    {"a negative count", "*-5\r\n", false, RK_EPROTO},
    {"an integer past 64 bits", ":99999999999999999999999\r\n", false, RK_EPROTO},
    {"a bad boolean", "#x\r\n", false, RK_EPROTO},
    {"a bad double", ",abc\r\n", false, RK_EPROTO},
    {"a verbatim string longer than said", "=5\r\ntxt:hello\r\n", false, RK_EPROTO},
    {"a line without CR", "+OK\n", false, RK_EPROTO},
    {"nesting past the limit",
     "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
     "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
     "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
     "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
     "*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n"
     ":1\r\n",
     false, RK_EPROTO},
    {"a close in mid-reply", "$10\r\nabc", true, RK_EIO},
    {"a close in mid-aggregate", "*3\r\n:1\r\n", true, RK_EIO},
    {"a close before any reply", NULL, true, RK_EIO},
    {"a reply and one never asked for", ":12\r\n:13\r\n", false, RK_OK},
    {"an empty error", "-\r\n", false, RK_ESERVER},
};

/* Each hostile answer ends the INCR once, with the status said (the
 * connection closed where the stream can no longer be trusted), and the
 * client carries on: the next command gets its own reply. */
static void test_hostile_server_data_fails_command_once_and_client_recovers(void **state) {
    for (size_t i = 0; i < RK_ARRAY_LEN(hostile_cases); i++) {
        const hostile_case *c = &hostile_cases[i];
        rkt_fake_step steps[] = {
            {.expect = CMD("INCR", "n"), .reply = c->reply, .close_after = c->close_after},
            {.expect = CMD("PING"), .reply = "+PONG\r\n"},
        };
        rkt_fake *f = rkt_fake_start(steps, RK_ARRAY_LEN(steps), NULL);
        env e;
        fake_open(&e, state, f, (rk_options){.command_timeout_ms = 3000});
        result incr = {0}, ping = {0};
        submit(&e, &incr, 0, CMD("INCR", "n"));
        wait_count(&e, &incr.calls, 1);
        if (incr.status != c->status)
            fail_msg("%s: INCR ended with %s, not %s (%s)", c->what, rk_strerror(incr.status),
                     rk_strerror(c->status), rk_error_last()->message);
        submit(&e, &ping, 0, CMD("PING"));
        wait_count(&e, &ping.calls, 1);
        if (ping.status != RK_OK || strcmp(ping.str, "PONG") != 0)
            fail_msg("%s: the next PING ended with %s (%s)", c->what, rk_strerror(ping.status),
                     ping.str);
        run_for(&e, 20);
        assert_int_equal(incr.calls, 1);
        assert_int_equal(ping.calls, 1);
        env_close(&e);
        rkt_fake_free(f);
    }
}

/* ---- other threads ---------------------------------------------------------- */

#define POSTERS 4
#define POSTS 400

/* Commands posted from other threads while the connection is cut again
 * and again: what completed, on which thread, and how. */
typedef struct post_race {
    env *e;
    pthread_t loop_thread;
    int done, ok, failed, off_loop;
    int refused;
} post_race;

static void post_done(rk_async *ac, int status, rk_reply *r, void *ud) {
    (void)ac, (void)r;
    post_race *p = ud;
    p->done++;
    p->ok += status == RK_OK;
    p->failed += status != RK_OK;
    p->off_loop += !pthread_equal(pthread_self(), p->loop_thread);
}

static void *post_many(void *arg) {
    post_race *p = arg;
    rk_async_call call = {.callback = post_done, .userdata = p};
    rk_str argv[2] = {RK_STR("INCR"), RK_STR("hostile:posted")};
    for (int i = 0; i < POSTS; i++) {
        if (rk_async_post(p->e->ac, &call, argv, 2) != RK_OK)
            __atomic_add_fetch(&p->refused, 1, __ATOMIC_RELAXED);
        if (i % 50 == 0)
            nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
    return NULL;
}

/* rk_async_post from four threads while the connection is cut under the
 * commands five times: every posted command completes once, on the
 * loop's thread (a reply, or the cut's error for one in flight). */
static void test_hostile_posts_racing_reconnects_complete_once(void **state) {
    env e;
    rkt_proxy *p = proxied_open(&e, state, (rk_options){0});
    post_race r = {.e = &e, .loop_thread = pthread_self()};
    pthread_t t[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, post_many, &r), 0);
    for (int cut = 0; cut < 5; cut++) {
        run_for(&e, 30);
        rkt_proxy_reset_all(p);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(r.refused, 0);
    wait_count(&e, &r.done, POSTERS * POSTS);
    run_for(&e, 50);
    assert_int_equal(r.done, POSTERS * POSTS);
    assert_int_equal(r.off_loop, 0);
    assert_true(r.ok > 0);
    proxied_close(&e, p);
}

/* A command posted just before the client leaves its loop, and one posted
 * once it is attached again: both complete (the wake-up of the first went
 * to the loop left, and the client thought one was still on its way). */
static void test_hostile_post_before_detach_completes_after_attach(void **state) {
    env e;
    env_open(&e, state, NULL);
    result before = {0}, after = {0};
    rk_str argv[1] = {RK_STR("PING")};
    rk_async_call call = {.callback = record, .userdata = &before};
    assert_int_equal(rk_async_post(e.ac, &call, argv, 1), RK_OK);
    rk_async_detach(e.ac);
    assert_int_equal(e.k->attach(e.loop, e.ac), RK_OK);
    call.userdata = &after;
    assert_int_equal(rk_async_post(e.ac, &call, argv, 1), RK_OK);
    wait_count(&e, &after.calls, 1);
    wait_count(&e, &before.calls, 1);
    assert_string_equal(before.str, "PONG");
    assert_string_equal(after.str, "PONG");
    env_close(&e);
}

/* ---- the multiplexed mode ------------------------------------------------------ */

#define MUX_THREADS 12

static int64_t ms_now(void) {
    return rk_now_ms();
}

/* A thread calling SET then GET of a key of its own until told to stop:
 * each call returns once, with its own value or a clear failure. */
typedef struct mux_worker {
    rk_client *c;
    int id;
    volatile bool *stop;
    int ok, failed, wrong, unclear;
} mux_worker;

/* Whether a failed call said what happened, with a code a server going
 * away can cause. */
static bool clear_failure(int rc) {
    const rk_error *e = rk_error_last();
    bool known = rc == RK_EIO || rc == RK_ECONNECT || rc == RK_ETIMEOUT || rc == RK_ECLOSED;
    return known && e->code == rc && e->message[0] != '\0';
}

static void *mux_set_get(void *arg) {
    mux_worker *w = arg;
    for (int i = 0; !__atomic_load_n(w->stop, __ATOMIC_ACQUIRE); i++) {
        char key[32], val[32];
        snprintf(key, sizeof key, "hostile:mux:%d", w->id);
        snprintf(val, sizeof val, "%d", i);
        const rk_str set[] = {RK_STR("SET"), rk_cstr(key), rk_cstr(val)};
        const rk_str get[] = {RK_STR("GET"), rk_cstr(key)};
        rk_reply r = {0};
        int rc = rk_client_call_argv(w->c, NULL, set, 3);
        if (rc == RK_OK)
            rc = rk_client_call_argv(w->c, &r, get, 2);
        if (rc != RK_OK) {
            w->failed++;
            w->unclear += !clear_failure(rc);
            continue;
        }
        w->ok++;
        w->wrong += rk_reply_type(&r) != RK_REPLY_STRING || strcmp(rk_reply_str(&r), val) != 0;
        rk_reply_free(&r);
    }
    return NULL;
}

/* ---- a loop of the user's without attach_other ------------------------------ */

/* The least loop a program may bring: one client, poll(2) on its fd, the
 * timer as poll's timeout; no wake, no attach_other. */
typedef struct bare_loop {
    int fd, events;
    int64_t due;      /* the timer's time, -1 disarmed */
    int stops;        /* watch(fd, 0) calls */
    int stops_closed; /* ...of an fd closed already */
} bare_loop;

static void bare_watch(void *data, int fd, int events) {
    bare_loop *l = data;
    if (events == 0 && fd >= 0) {
        l->stops++;
        l->stops_closed += fcntl(fd, F_GETFD) == -1;
    }
    l->fd = events ? fd : -1;
    l->events = events;
}

static void bare_timer(void *data, int64_t delay_ms) {
    bare_loop *l = data;
    l->due = delay_ms < 0 ? -1 : rk_now_ms() + delay_ms;
}

/* One iteration, waiting at most 10 ms. */
static void bare_run_once(bare_loop *l, rk_async *ac) {
    int64_t now = rk_now_ms();
    int wait = l->due < 0 ? 10 : (int)RK_MAX(0, RK_MIN(10, l->due - now));
    struct pollfd pfd = {.fd = l->fd,
                         .events = (short)((l->events & RK_WANT_READ ? POLLIN : 0) |
                                           (l->events & RK_WANT_WRITE ? POLLOUT : 0))};
    int n = poll(&pfd, l->fd >= 0 ? 1 : 0, wait);
    if (n > 0 && (pfd.revents & (POLLIN | POLLERR | POLLHUP)))
        rk_async_on_readable(ac);
    if (n > 0 && (pfd.revents & POLLOUT) && l->fd >= 0)
        rk_async_on_writable(ac);
    if (l->due >= 0 && rk_now_ms() >= l->due) {
        l->due = -1;
        rk_async_on_timer(ac);
    }
}

/* A client of the shared server through a new fault proxy (*p), attached
 * to the bare loop *l (the client keeps a copy of the operations). */
static rk_async *bare_client(bare_loop *l, rkt_proxy **p) {
    rkt_shared_need();
    *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(*p);
    *l = (bare_loop){.fd = -1, .due = -1};
    rk_async *ac =
        rk_async_new(&(rk_options){.host = "127.0.0.1", .port = rkt_proxy_port(*p)}, NULL);
    assert_non_null(ac);
    rk_loop_ops ops = {.watch = bare_watch, .timer = bare_timer};
    assert_int_equal(rk_async_attach(ac, &ops, l), RK_OK);
    return ac;
}

static void bare_wait_count(bare_loop *l, rk_async *ac, const int *count, int want) {
    int64_t end = rk_now_ms() + WAIT_MS;
    while (*count < want && rk_now_ms() < end)
        bare_run_once(l, ac);
    assert_int_equal(*count, want);
}

static void bare_run_for(bare_loop *l, rk_async *ac, int ms) {
    for (int64_t end = rk_now_ms() + ms; rk_now_ms() < end;)
        bare_run_once(l, ac);
}

/* Without attach_other a blocking command submitted directly stays on the
 * shared connection (async.h). Read-only as XREAD is, a lost connection
 * must fail it rather than send it again to block anew on the next one;
 * the commands after it go on. */
static void test_hostile_blocking_read_without_attach_other_is_not_repeated(void **state) {
    (void)state;
    rkt_proxy *p;
    bare_loop l;
    rk_async *ac = bare_client(&l, &p);
    result xread = {0}, get = {0};
    rk_async_call call = {.callback = record, .userdata = &xread};
    rk_str argv[] = {RK_STR("XREAD"),
                     RK_STR("BLOCK"),
                     RK_STR("0"),
                     RK_STR("STREAMS"),
                     RK_STR("async:bare-never-written"),
                     RK_STR("$")};
    assert_true(rk_async_submit(ac, &call, argv, RK_ARRAY_LEN(argv)) > 0);
    bare_run_for(&l, ac, 200); /* connected, and the XREAD sent */
    rk_async_stats st;
    rk_async_get_stats(ac, &st);
    assert_int_equal(st.commands, 1);
    assert_int_equal(xread.calls, 0);
    rkt_proxy_drop_all(p);
    bare_wait_count(&l, ac, &xread.calls, 1);
    assert_int_equal(xread.status, RK_EIO);
    rk_async_call gcall = {.callback = record, .userdata = &get};
    rk_str gargv[] = {RK_STR("GET"), RK_STR("async:bare-nokey")};
    assert_true(rk_async_submit(ac, &gcall, gargv, 2) > 0);
    bare_wait_count(&l, ac, &get.calls, 1);
    assert_int_equal(get.status, RK_NIL);
    bare_run_for(&l, ac, 50);
    assert_int_equal(xread.calls, 1);
    rk_async_get_stats(ac, &st);
    assert_int_equal(st.commands, 2); /* the XREAD was not sent again */
    rk_async_free(ac);
    assert_int_equal(l.stops_closed, 0);
    rkt_proxy_stop(p);
}

/* The loop is told to stop watching a socket while it is still open,
 * however the connection ends: cut under a read, disconnected, freed. A
 * stop after the close would reach whatever socket got the number next
 * (another client's, on this loop or another thread's). */
static void test_hostile_loop_stops_watching_a_socket_before_it_is_closed(void **state) {
    (void)state;
    rkt_proxy *p;
    bare_loop l;
    rk_async *ac = bare_client(&l, &p);
    rk_str ping[] = {RK_STR("PING")};
    result r[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        rk_async_call call = {.callback = record, .userdata = &r[i]};
        assert_true(rk_async_submit(ac, &call, ping, 1) > 0);
        bare_wait_count(&l, ac, &r[i].calls, 1);
        assert_int_equal(r[i].status, RK_OK);
        if (i == 0) {
            rkt_proxy_drop_all(p); /* the next read finds the socket closed */
            bare_run_for(&l, ac, 100);
        } else if (i == 1) {
            rk_async_disconnect(ac);
        }
    }
    rk_async_free(ac);
    assert_true(l.stops >= 3);
    assert_int_equal(l.stops_closed, 0);
    rkt_proxy_stop(p);
}

/* ---- a batch and memory running out ---------------------------------------- */

typedef struct batch_seen {
    bool submitting; /* inside rk_async_batch_submit */
    int calls, inside, status;
} batch_seen;

static void batch_seen_done(rk_async *ac, int status, const rk_async_batch *b, void *ud) {
    (void)ac, (void)b;
    batch_seen *s = ud;
    s->calls++;
    s->inside += s->submitting;
    s->status = status;
}

/* One client, one batch of three commands whose bytes outgrow the write
 * buffer, submitted and run to its completion; RK_OK or the first
 * failure. */
static int batch_round(batch_seen *seen) {
    rk_loop *loop = rk_loop_new(0);
    rk_async *ac =
        loop ? rk_async_new(
                   &(rk_options){.host = "127.0.0.1", .port = rkt_server_port(&rkt_shared)}, NULL)
             : NULL;
    int rc = ac ? rk_loop_attach(loop, ac) : RK_ENOMEM;
    rk_async_batch *b = rc == RK_OK ? rk_async_batch_new() : NULL;
    char value[300];
    memset(value, 'v', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    if (rc == RK_OK)
        rc = b ? rk_async_batch_append(b, "SET async:oom-batch %s", "short") : RK_ENOMEM;
    if (rc == RK_OK)
        rc = rk_async_batch_append(b, "SET async:oom-batch %s", value);
    if (rc == RK_OK)
        rc = rk_async_batch_append(b, "GET async:oom-batch");
    if (rc == RK_OK) {
        seen->submitting = true;
        rk_async_id id = rk_async_batch_submit(ac, b, batch_seen_done, seen, 0);
        seen->submitting = false;
        b = NULL; /* taken, even when refused */
        rc = id > 0 ? RK_OK : (int)id;
        if (rc != RK_OK && seen->calls != 0)
            fail_msg("a refused batch called back (%s)", rk_strerror(seen->status));
        for (int64_t end = rk_now_ms() + WAIT_MS;
             rc == RK_OK && seen->calls == 0 && rk_now_ms() < end;)
            rk_loop_run_once(loop, 10);
        if (rc == RK_OK)
            rc = seen->calls == 1 ? seen->status : RK_ETIMEOUT;
    }
    rk_async_batch_free(b);
    rk_async_free(ac);
    rk_loop_free(loop);
    return rc;
}

/* Memory that runs out at each allocation of a batch's life in turn: the
 * batch is refused whole (its callback never runs), or it completes
 * once, from the loop, never inside its submission; nothing leaks. */
static void test_hostile_batch_out_of_memory_completes_once_from_the_loop(void **state) {
    (void)state;
    rkt_shared_need();
    rkt_alloc_install();
    batch_seen seen = {0};
    assert_int_equal(batch_round(&seen), RK_OK);
    for (size_t n = 1;; n++) {
        rkt_alloc_install(); /* counters from zero */
        rkt_alloc_fail_nth(n);
        seen = (batch_seen){0};
        int rc = batch_round(&seen);
        size_t failed = rkt_alloc_stats_now().failed;
        rkt_alloc_fail_nth(0);
        if (seen.inside != 0)
            fail_msg("allocation %zu failing: the batch completed inside its submission", n);
        if (seen.calls > 1)
            fail_msg("allocation %zu failing: the batch completed %d times", n, seen.calls);
        if (rc != RK_OK && rc != RK_ENOMEM && rc != RK_ECONNECT)
            fail_msg("allocation %zu failing: %s (%s)", n, rk_strerror(rc),
                     rk_error_last()->message);
        if (rkt_alloc_live() != 0)
            fail_msg("allocation %zu failing: %ld blocks leaked", n, rkt_alloc_live());
        if (failed == 0)
            break; /* every allocation of the round was tried */
    }
    rkt_alloc_uninstall();
}

/* ---- the multiplexed client's jobs ------------------------------------------ */

typedef struct job_seen {
    rk_async_job job;
    int calls, status;
    bool sent;
} job_seen;

static void job_seen_done(rk_async_job *job) {
    job_seen *s = (job_seen *)job; /* job is the first member */
    s->calls++;
    s->status = job->status;
    s->sent = job->sent;
    rk_reply_free(&job->reply);
}

/* A multiplexed call's deadline counts from the call, not from when its
 * engine took it in: one whose deadline passed while the engine was busy
 * fails with RK_ETIMEOUT, unsent; one with time left runs. */
static void test_hostile_job_deadline_counts_from_its_submission(void **state) {
    (void)state;
    rkt_shared_need();
    rk_loop *loop = rk_loop_new(0);
    assert_non_null(loop);
    rk_async *ac = rk_async_new(
        &(rk_options){.host = "127.0.0.1", .port = rkt_server_port(&rkt_shared)}, NULL);
    assert_non_null(ac);
    assert_int_equal(rk_loop_attach(loop, ac), RK_OK);
    rk_writer *del = rk_writer_new(NULL), *set = rk_writer_new(NULL), *get = rk_writer_new(NULL);
    assert_int_equal(rk_writer_args(del, "DEL", "async:job-late", NULL), RK_OK);
    assert_int_equal(rk_writer_args(set, "SET", "async:job-late", "sent", NULL), RK_OK);
    assert_int_equal(rk_writer_args(get, "GET", "async:job-late", NULL), RK_OK);
    int64_t now = rk_now_ms();
    job_seen d = {.job = {.cmd = del, .timeout_ms = 5000, .since = now, .done = job_seen_done}};
    job_seen late = {
        .job = {.cmd = set, .timeout_ms = 100, .since = now - 200, .done = job_seen_done}};
    job_seen g = {
        .job = {.cmd = get, .timeout_ms = 5000, .since = now - 200, .done = job_seen_done}};
    d.job.next = &late.job;
    late.job.next = &g.job;
    assert_int_equal(rk_async_take_jobs(ac, &d.job), 2);
    assert_int_equal(late.calls, 1); /* at once, refused */
    assert_int_equal(late.status, RK_ETIMEOUT);
    assert_false(late.sent);
    for (int64_t end = rk_now_ms() + WAIT_MS; g.calls == 0 && rk_now_ms() < end;)
        rk_loop_run_once(loop, 10);
    assert_int_equal(d.status, RK_OK);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, RK_NIL); /* the SET never reached the server */
    rk_async_free(ac);
    rk_loop_free(loop);
    rk_writer_free(del);
    rk_writer_free(set);
    rk_writer_free(get);
}

/* Twelve threads share one multiplexed connection to a server that is
 * killed and, a while later, started again: every call returns (none
 * hangs), a failed one says why, none gets another's reply, and calls
 * succeed again once the server is back. */
static void test_hostile_mux_server_killed_and_restarted_under_threads(void **state) {
    (void)state;
    if (!rkt_require_binaries("redis-server", NULL))
        skip();
    rkt_server srv;
    if (rkt_server_start(&srv, NULL) != 0)
        fail_msg("no server of its own to kill");
    rk_options o = {.port = rkt_server_port(&srv),
                    .mode = RK_MODE_MUX,
                    .command_timeout_ms = 500,
                    .connect_timeout_ms = 500,
                    .retry = {.backoff = RK_BACKOFF_CONSTANT, .base_ms = 20}};
    rk_client *c = rk_client_new(&o);
    assert_non_null(c);
    volatile bool stop = false;
    pthread_t t[MUX_THREADS];
    mux_worker w[MUX_THREADS];
    for (int i = 0; i < MUX_THREADS; i++) {
        w[i] = (mux_worker){.c = c, .id = i, .stop = &stop};
        assert_int_equal(pthread_create(&t[i], NULL, mux_set_get, &w[i]), 0);
    }
    nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
    rkt_server_kill(&srv);
    nanosleep(&(struct timespec){.tv_nsec = 500000000}, NULL);
    assert_int_equal(rkt_server_restart(&srv), 0);
    int64_t back = ms_now();
    nanosleep(&(struct timespec){.tv_nsec = 700000000}, NULL);
    __atomic_store_n(&stop, true, __ATOMIC_RELEASE);
    for (int i = 0; i < MUX_THREADS; i++) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 10; /* every call is bounded by 500 ms timeouts */
        if (pthread_timedjoin_np(t[i], NULL, &until) != 0)
            fail_msg("thread %d is stuck in a call", i);
    }
    int failed = 0;
    for (int i = 0; i < MUX_THREADS; i++) {
        assert_true(w[i].ok > 0);
        assert_int_equal(w[i].unclear, 0);
        assert_int_equal(w[i].wrong, 0);
        failed += w[i].failed;
    }
    assert_true(failed > 0); /* the kill was felt */
    int rc = RK_ECONNECT;    /* back once the server is */
    while (rc != RK_OK && ms_now() - back < 10000)
        rc = rk_client_call(c, NULL, "SET hostile:mux:after v");
    assert_int_equal(rc, RK_OK);
    rk_client_free(c);
    rkt_server_stop(&srv);
}

int main(void) {
    static const char *const config[] = {"enable-debug-command yes", NULL}; /* DEBUG SLEEP */
    rkt_shared_opts.config = config;
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_failed_write_behind_repeated_read_takes_no_reply),
        cmocka_unit_test(test_hostile_timeouts_cancels_and_pushes_keep_replies_in_order),
        cmocka_unit_test(test_hostile_inflight_limits_lose_and_reorder_nothing),
        cmocka_unit_test(test_hostile_held_back_command_times_out_unsent),
        cmocka_unit_test(test_hostile_refused_tcp_connect_completes_from_the_loop),
        cmocka_unit_test(test_hostile_missing_unix_socket_completes_from_the_loop),
        cmocka_unit_test(test_hostile_timed_out_commands_leave_queue_room),
        cmocka_unit_test(test_hostile_cancelled_commands_leave_queue_bytes),
        cmocka_unit_test(test_hostile_posts_past_max_queued_are_refused),
        cmocka_unit_test(test_hostile_free_in_blocking_callback_during_detach),
        cmocka_unit_test(test_hostile_free_in_lost_event_during_detach),
        cmocka_unit_test(test_hostile_free_in_transaction_callback_during_tx_free),
        cmocka_unit_test(test_hostile_free_cancels_transaction_whose_callback_frees_another),
        cmocka_unit_test(test_hostile_free_or_disconnect_in_message_handler),
        cmocka_unit_test(test_hostile_free_or_disconnect_in_invalidation),
        cmocka_unit_test(test_hostile_free_or_disconnect_in_restored_event),
        cmocka_unit_test(test_hostile_lock_callback_frees_the_client),
        cmocka_unit_test(test_hostile_lock_callback_frees_the_lock),
        cmocka_unit_test(test_hostile_replies_in_one_piece_reach_their_commands),
        cmocka_unit_test(test_hostile_replies_split_at_every_byte_reach_their_commands),
        cmocka_unit_test(test_hostile_server_data_fails_command_once_and_client_recovers),
        cmocka_unit_test(test_hostile_lock_script_answer_out_of_range_is_eproto),
        cmocka_unit_test(test_hostile_refused_handshake_fails_waiting_commands_once),
        cmocka_unit_test(test_hostile_outage_with_refused_handshakes_is_told_once),
        cmocka_unit_test(test_hostile_pushes_split_at_every_byte_reach_their_handler),
        cmocka_unit_test(test_hostile_posts_racing_reconnects_complete_once),
        cmocka_unit_test(test_hostile_post_before_detach_completes_after_attach),
    };
    static const struct CMUnitTest once[] = {
        cmocka_unit_test(test_hostile_mux_server_killed_and_restarted_under_threads),
        cmocka_unit_test(test_hostile_blocking_read_without_attach_other_is_not_repeated),
        cmocka_unit_test(test_hostile_loop_stops_watching_a_socket_before_it_is_closed),
        cmocka_unit_test(test_hostile_job_deadline_counts_from_its_submission),
        cmocka_unit_test(test_hostile_batch_out_of_memory_completes_once_from_the_loop),
    };
    const char *only = getenv("RKT_ASYNC_TESTS");
    int failed = rkt_async_run("async hostile", tests, RK_ARRAY_LEN(tests));
    struct CMUnitTest picked[RK_ARRAY_LEN(once)];
    size_t n = 0;
    for (size_t i = 0; i < RK_ARRAY_LEN(once); i++)
        if (only == NULL || strstr(once[i].name, only))
            picked[n++] = once[i];
    if (n > 0)
        failed += _cmocka_run_group_tests("hostile, once", picked, n, rkt_shared_setup,
                                          rkt_shared_teardown);
    return failed;
}
