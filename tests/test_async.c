/* The async client, the same suite on every loop: the built-in one (epoll
 * and poll), libevent, libuv and libev. Against a real redis-server (and the
 * fault proxy, the fake server and a black hole): every command completes
 * exactly once (reply, timeout, cancel, connection lost, client freed),
 * freeing and disconnecting inside a callback, a deadline that does not
 * sever the connection, cancel before and after sending, hostile data,
 * 1,000 commands in flight in order, automatic pipelining, timers armed on
 * every loop. Needs redis-server; skips without it. */
#define _GNU_SOURCE

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/rediskit.h"
#include "rkt_async_env.h"
#include "rkt_fakeserver.h"
#include "rkt_loops.h"
#include "rkt_proxy.h"
#include "rkt_server.h"
#include "rkt_shared.h"
#include "util/common.h"

/* ---- exactly once ------------------------------------------------------------- */

static void test_async_reply_completes_once(void **state) {
    env e;
    env_open(&e, state, NULL);
    result set = {0}, get = {0};
    submit(&e, &set, 0, CMD("SET", "async:k", "v1"));
    submit(&e, &get, 0, CMD("GET", "async:k"));
    wait_count(&e, &get.calls, 1);
    run_for(&e, 50);
    assert_int_equal(set.calls, 1);
    assert_int_equal(set.status, RK_OK);
    assert_string_equal(set.str, "OK");
    assert_int_equal(get.calls, 1);
    assert_string_equal(get.str, "v1");
    assert_int_equal(rk_async_pending(e.ac), 0);
    env_close(&e);
}

static void test_async_server_error_reply_is_eserver(void **state) {
    env e;
    env_open(&e, state, NULL);
    result set = {0}, bad = {0};
    submit(&e, &set, 0, CMD("SET", "async:str", "x"));
    submit(&e, &bad, 0, CMD("LPUSH", "async:str", "y"));
    wait_count(&e, &bad.calls, 1);
    assert_int_equal(bad.status, RK_ESERVER);
    assert_int_equal(bad.type, RK_REPLY_ERROR);
    assert_non_null(strstr(bad.str, "WRONGTYPE"));
    env_close(&e);
}

static void test_async_deadline_does_not_sever_connection(void **state) {
    env e;
    env_open(&e, state, NULL);
    result slow = {0}, ping = {0};
    int64_t t0 = rk_now_ms();
    submit(&e, &slow, 100, CMD("DEBUG", "SLEEP", "2"));
    submit(&e, &ping, -1, CMD("PING"));
    wait_count(&e, &slow.calls, 1);
    /* The late command failed by its deadline, long before the server
     * answered it (2 s)... */
    assert_int_equal(slow.status, RK_ETIMEOUT);
    assert_true(rk_now_ms() - t0 < 1500);
    assert_int_equal(ping.calls, 0);
    /* ...and the next command on the same connection got its own reply. */
    wait_count(&e, &ping.calls, 1);
    assert_int_equal(ping.status, RK_OK);
    assert_string_equal(ping.str, "PONG");
    run_for(&e, 50);
    assert_int_equal(slow.calls, 1);
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_int_equal(st.connects, 1);
    env_close(&e);
}

static void test_async_cancel_before_send_never_sends(void **state) {
    env e;
    env_open(&e, state, NULL);
    result del = {0}, incr = {0}, get = {0};
    submit(&e, &del, 0, CMD("DEL", "async:cancelled"));
    rk_async_id id = submit(&e, &incr, 0, CMD("INCR", "async:cancelled"));
    assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
    assert_int_equal(incr.calls, 1); /* at once, inside the cancel */
    assert_int_equal(incr.status, RK_ECANCELED);
    assert_int_equal(rk_async_cancel(e.ac, id), RK_EINVAL); /* not twice */
    submit(&e, &get, 0, CMD("GET", "async:cancelled"));
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.type, RK_REPLY_NIL); /* the INCR never ran */
    assert_int_equal(incr.calls, 1);
    env_close(&e);
}

static void test_async_cancel_after_send_drops_reply(void **state) {
    env e;
    env_open(&e, state, NULL);
    result slow = {0}, ping = {0};
    rk_async_id id = submit(&e, &slow, 0, CMD("DEBUG", "SLEEP", "0.2"));
    run_for(&e, 50); /* sent */
    assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
    assert_int_equal(slow.status, RK_ECANCELED);
    submit(&e, &ping, 0, CMD("PING"));
    wait_count(&e, &ping.calls, 1);
    assert_string_equal(ping.str, "PONG");
    assert_int_equal(slow.calls, 1);
    env_close(&e);
}

static void test_async_connection_lost_fails_inflight_once(void **state) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_proxy_port(p)}, NULL);
    result slow = {0}, ping = {0};
    submit(&e, &slow, 0, CMD("DEBUG", "SLEEP", "1"));
    wait_sent(&e, 1);
    rkt_proxy_drop_all(p);
    wait_count(&e, &slow.calls, 1);
    assert_int_equal(slow.status, RK_EIO);
    /* The next command connects again. */
    submit(&e, &ping, 0, CMD("PING"));
    wait_count(&e, &ping.calls, 1);
    assert_string_equal(ping.str, "PONG");
    run_for(&e, 50);
    assert_int_equal(slow.calls, 1);
    env_close(&e);
    rkt_proxy_stop(p);
}

/* A command not yet sent when the connection broke never ran: it goes on
 * the next connection instead of failing. */
static void test_async_unsent_command_survives_lost_connection(void **state) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_proxy_port(p)},
                      &(rk_async_options){.max_inflight = 1});
    result slow = {0}, held = {0};
    submit(&e, &slow, 0, CMD("DEBUG", "SLEEP", "1"));
    submit(&e, &held, 0, CMD("PING")); /* held back by max_inflight */
    wait_sent(&e, 1);                  /* the DEBUG SLEEP is out, the PING not */
    rkt_proxy_drop_all(p);
    wait_count(&e, &held.calls, 1);
    assert_int_equal(slow.status, RK_EIO);
    assert_int_equal(held.status, RK_OK);
    assert_string_equal(held.str, "PONG");
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_int_equal(st.connects, 2);
    env_close(&e);
    rkt_proxy_stop(p);
}

/* ---- repeating after a lost connection ------------------------------------ */

/* What on_retry was told, and what it does: with free_ac, frees it. */
typedef struct retries {
    int calls, attempt, delay_ms, error;
    rk_async **free_ac;
} retries;

static void count_retry(void *userdata, int attempt, int delay_ms, int error) {
    retries *r = userdata;
    r->calls++;
    r->attempt = attempt;
    r->delay_ms = delay_ms;
    r->error = error;
    if (r->free_ac && *r->free_ac) {
        rk_async_free(*r->free_ac);
        *r->free_ac = NULL;
    }
}

/* Reads caught by a cut are sent again on the next connection, and the
 * retry policy's on_retry hears of each (attempt 2, at once, and why),
 * and of nothing that is not repeated. */
static void test_async_lost_connection_repeats_reads(void **state) {
    env e;
    retries told = {0};
    rk_options o = {.retry = {.on_retry = count_retry, .userdata = &told}};
    rkt_proxy *p = proxied_open(&e, state, o);
    result set = {0}, sleeping = {0}, gets[3] = {{0}};
    submit(&e, &set, 0, CMD("SET", "async:repeat", "v"));
    wait_count(&e, &set.calls, 1);
    hold_server(&e, &sleeping);
    for (int i = 0; i < 3; i++)
        submit(&e, &gets[i], 0, CMD("GET", "async:repeat"));
    cut_in_flight(&e, p);
    wait_count(&e, &gets[2].calls, 1);
    for (int i = 0; i < 3; i++) { /* answered, once, on the next connection */
        assert_int_equal(gets[i].status, RK_OK);
        assert_string_equal(gets[i].str, "v");
    }
    assert_int_equal(sleeping.status, RK_EIO); /* DEBUG is not a read */
    run_for(&e, 50);
    for (int i = 0; i < 3; i++)
        assert_int_equal(gets[i].calls, 1);
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_int_equal(st.connects, 2);
    assert_int_equal(told.calls, 3); /* the GETs, not DEBUG SLEEP */
    assert_int_equal(told.attempt, 2);
    assert_int_equal(told.delay_ms, 0);
    assert_int_equal(told.error, RK_EIO);
    proxied_close(&e, p);
}

/* Freeing the client from on_retry is as safe as from a callback: every
 * command completes once (cancelled), nothing runs after. */
static void test_async_free_inside_on_retry_is_safe(void **state) {
    env e;
    retries told = {0};
    rk_options o = {.retry = {.on_retry = count_retry, .userdata = &told}};
    rkt_proxy *p = proxied_open(&e, state, o);
    told.free_ac = &e.ac;
    result sleeping = {0}, gets[2] = {{0}};
    hold_server(&e, &sleeping);
    for (int i = 0; i < 2; i++)
        submit(&e, &gets[i], 0, CMD("GET", "async:repeat"));
    cut_in_flight(&e, p);
    wait_count(&e, &told.calls, 2); /* both told, though the first freed it */
    run_for(&e, 50);
    assert_null(e.ac);
    assert_int_equal(told.calls, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(gets[i].calls, 1);
        assert_int_equal(gets[i].status, RK_ECANCELED);
    }
    assert_int_equal(sleeping.calls, 1);
    proxied_close(&e, p);
}

static void test_async_lost_connection_fails_write_that_may_have_run(void **state) {
    env e;
    rkt_proxy *p = proxied_open(&e, state, (rk_options){0});
    result del = {0}, sleeping = {0}, incr = {0}, get = {0};
    submit(&e, &del, 0, CMD("DEL", "async:repeat-incr"));
    wait_count(&e, &del.calls, 1);
    hold_server(&e, &sleeping);
    submit(&e, &incr, 0, CMD("INCR", "async:repeat-incr"));
    cut_in_flight(&e, p);
    wait_count(&e, &incr.calls, 1);
    assert_int_equal(incr.status, RK_EIO);
    run_for(&e, 400); /* the server wakes up and may run the INCR it got */
    submit(&e, &get, 0, CMD("GET", "async:repeat-incr"));
    wait_count(&e, &get.calls, 1);
    assert_true(get.status == RK_NIL || strcmp(get.str, "1") == 0); /* at most once */
    assert_int_equal(incr.calls, 1);
    proxied_close(&e, p);
}

static void test_async_lost_connection_repeats_idempotent_write(void **state) {
    env e;
    rkt_proxy *p = proxied_open(&e, state, (rk_options){0});
    result sleeping = {0}, set = {0}, get = {0};
    hold_server(&e, &sleeping);
    submit_call(&e, (rk_async_call){.userdata = &set, .idempotent = true},
                CMD("SET", "async:repeat-set", "mine"));
    cut_in_flight(&e, p);
    wait_count(&e, &set.calls, 1);
    assert_int_equal(set.status, RK_OK); /* repeated on the next connection */
    assert_string_equal(set.str, "OK");
    submit(&e, &get, 0, CMD("GET", "async:repeat-set"));
    wait_count(&e, &get.calls, 1);
    assert_string_equal(get.str, "mine");
    assert_int_equal(set.calls, 1);
    proxied_close(&e, p);
}

static void test_async_lost_connection_fails_blocking_read_on_shared_connection(void **state) {
    env e;
    rkt_proxy *p = proxied_open(&e, state, (rk_options){0});
    result xread = {0}, get = {0};
    /* A posted command stays on the multiplexed connection even when it
     * blocks; read-only as it is, a lost connection must fail it, not
     * send it again to block anew. */
    rk_async_call call = {.callback = record, .userdata = &xread};
    rk_str argv[] = {RK_STR("XREAD"),
                     RK_STR("BLOCK"),
                     RK_STR("0"),
                     RK_STR("STREAMS"),
                     RK_STR("async:never-written"),
                     RK_STR("$")};
    assert_int_equal(rk_async_post(e.ac, &call, argv, 6), RK_OK);
    cut_in_flight(&e, p);
    wait_count(&e, &xread.calls, 1);
    assert_int_equal(xread.status, RK_EIO);
    submit(&e, &get, 0, CMD("GET", "async:nokey"));
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_NIL);
    proxied_close(&e, p);
}

/* A read caught by the cut waits for the next connection, which hangs:
 * its deadline completes it, once, with RK_ETIMEOUT (not the cut's
 * RK_EIO), and nothing follows. */
static void test_async_repeated_read_past_deadline_times_out_once(void **state) {
    env e;
    rkt_proxy *p = proxied_open(&e, state, (rk_options){0});
    result sleeping = {0}, get = {0};
    hold_server(&e, &sleeping);
    submit(&e, &get, 600, CMD("GET", "async:repeat"));
    rkt_proxy_set_mode(p, RKT_PROXY_BLACKHOLE, 0); /* the next connection */
    cut_in_flight(&e, p);
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_ETIMEOUT);
    run_for(&e, 200);
    assert_int_equal(get.calls, 1);
    proxied_close(&e, p);
}

static void test_async_retry_attempts_one_never_repeats(void **state) {
    env e;
    rkt_proxy *p = proxied_open(&e, state, (rk_options){.retry = {.attempts = 1}});
    result sleeping = {0}, get = {0};
    hold_server(&e, &sleeping);
    submit(&e, &get, 0, CMD("GET", "async:repeat"));
    cut_in_flight(&e, p);
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_EIO);
    run_for(&e, 50);
    assert_int_equal(get.calls, 1);
    proxied_close(&e, p);
}

/* A read repeated after the cut finds the server refusing connections for
 * a while: each failed reconnect counts as a try, and it waits out the
 * backoff for the next while it has tries left. */
static void test_async_repeated_read_waits_out_failed_reconnects(void **state) {
    env e;
    retries told = {0};
    rk_options o = {.retry = {.attempts = 20,
                              .backoff = RK_BACKOFF_CONSTANT,
                              .base_ms = 50,
                              .on_retry = count_retry,
                              .userdata = &told}};
    rkt_proxy *p = proxied_open(&e, state, o);
    result set = {0}, sleeping = {0}, get = {0};
    submit(&e, &set, 0, CMD("SET", "async:repeat", "v"));
    wait_count(&e, &set.calls, 1);
    hold_server(&e, &sleeping);
    submit(&e, &get, 0, CMD("GET", "async:repeat"));
    rkt_proxy_set_mode(p, RKT_PROXY_RESET, 0);
    cut_in_flight(&e, p);
    run_for(&e, 200); /* a few reconnects fail */
    assert_int_equal(get.calls, 0);
    /* told of each: the lost connection's repeat, then one per failed
     * reconnect, each after the backoff */
    assert_true(told.calls >= 2);
    assert_int_equal(told.attempt, told.calls + 1);
    assert_int_equal(told.delay_ms, 50);
    rkt_proxy_set_mode(p, RKT_PROXY_PASS, 0);
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_OK);
    assert_string_equal(get.str, "v");
    proxied_close(&e, p);
}

static void test_async_free_cancels_every_pending_command(void **state) {
    env e;
    env_open(&e, state, NULL);
    result r[3] = {{0}};
    submit(&e, &r[0], 0, CMD("DEBUG", "SLEEP", "0.2"));
    run_for(&e, 20);
    submit(&e, &r[1], 0, CMD("PING"));
    submit(&e, &r[2], 0, CMD("PING"));
    rk_async_free(e.ac);
    e.ac = NULL;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, RK_ECANCELED);
    }
    run_for(&e, 50); /* nothing more arrives */
    for (int i = 0; i < 3; i++)
        assert_int_equal(r[i].calls, 1);
    env_close(&e);
}

static void test_async_free_inside_callback_is_safe(void **state) {
    env e;
    env_open(&e, state, NULL);
    result first = {.action = ACT_FREE, .e = &e}, rest[2] = {{0}};
    submit(&e, &first, 0, CMD("PING"));
    submit(&e, &rest[0], 0, CMD("PING"));
    submit(&e, &rest[1], 0, CMD("DEBUG", "SLEEP", "0.1"));
    wait_count(&e, &first.calls, 1);
    assert_null(e.ac);
    run_for(&e, 200);
    assert_int_equal(first.calls, 1);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rest[i].calls, 1); /* a reply, or cancelled by the free */
        assert_true(rest[i].status == RK_OK || rest[i].status == RK_ECANCELED);
    }
    env_close(&e);
}

static void test_async_disconnect_inside_callback_is_safe(void **state) {
    env e;
    env_open(&e, state, NULL);
    result first = {.action = ACT_DISCONNECT, .e = &e}, slow = {0}, again = {0};
    submit(&e, &first, 0, CMD("PING"));
    submit(&e, &slow, 0, CMD("DEBUG", "SLEEP", "0.3"));
    wait_count(&e, &slow.calls, 1);
    assert_int_equal(first.calls, 1);
    assert_int_equal(slow.status, RK_ECLOSED);
    submit(&e, &again, 0, CMD("PING"));
    wait_count(&e, &again.calls, 1);
    assert_string_equal(again.str, "PONG");
    run_for(&e, 50);
    assert_int_equal(slow.calls, 1);
    env_close(&e);
}

/* ---- hostile data, limits, order ------------------------------------------- */

static void test_async_garbage_from_server_fails_commands(void **state) {
    rkt_shared_need();
    static const rkt_fake_step steps[] = {{.reply = "@@not resp@@\r\n"}};
    rkt_fake *f = rkt_fake_start(steps, 1, NULL);
    assert_non_null(f);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_fake_port(f)}, NULL);
    result a = {0}, b = {0};
    submit(&e, &a, 0, CMD("GET", "k"));
    submit(&e, &b, 0, CMD("GET", "k2"));
    wait_count(&e, &b.calls, 1);
    assert_int_equal(a.status, RK_EPROTO);
    run_for(&e, 50);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    env_close(&e);
    rkt_fake_free(f);
}

/* Checks that replies come in submission order: each ECHO answers its
 * number, and the counter must match it. */
typedef struct order {
    int next, bad;
} order;

static void in_order(rk_async *ac, int status, rk_reply *r, void *ud) {
    (void)ac;
    order *o = ud;
    char want[16];
    snprintf(want, sizeof(want), "%d", o->next++);
    if (status != RK_OK || r == NULL || strcmp(rk_reply_str(r), want) != 0)
        o->bad++;
}

static void submit_echoes(env *e, order *o, int n) {
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof(num), "%d", i);
        rk_str argv[2] = {RK_STR("ECHO"), rk_cstr(num)};
        assert_true(rk_async_command_argv(e->ac, in_order, o, argv, 2) > 0);
    }
}

static void test_async_thousand_in_flight_in_order(void **state) {
    env e;
    env_open(&e, state, NULL);
    order o = {0};
    submit_echoes(&e, &o, 1000);
    wait_count(&e, &o.next, 1000);
    assert_int_equal(o.bad, 0);
    env_close(&e);
}

static void test_async_inflight_limit_makes_commands_wait(void **state) {
    env e;
    env_open(&e, state, &(rk_async_options){.max_inflight = 2});
    order o = {0};
    submit_echoes(&e, &o, 50);
    wait_count(&e, &o.next, 50);
    assert_int_equal(o.bad, 0);
    env_close(&e);
}

static void test_async_commands_in_flight_share_writes(void **state) {
    env e;
    env_open(&e, state, NULL);
    result first = {0};
    submit(&e, &first, 0, CMD("PING"));
    wait_count(&e, &first.calls, 1);
    rk_async_stats before, after;
    rk_async_get_stats(e.ac, &before);
    order o = {0};
    submit_echoes(&e, &o, 64);
    wait_count(&e, &o.next, 64);
    rk_async_get_stats(e.ac, &after);
    /* The first is written at once, the other 63 together. */
    assert_int_equal(after.commands - before.commands, 64);
    assert_true(after.writes - before.writes <= 3);
    env_close(&e);
}

static void test_async_stateful_command_refused(void **state) {
    env e;
    env_open(&e, state, NULL);
    result r = {0};
    rk_str argv[2] = {RK_STR("SUBSCRIBE"), RK_STR("ch")};
    assert_int_equal(rk_async_command_argv(e.ac, record, &r, argv, 2), RK_EINVAL);
    assert_int_equal(rk_async_command(e.ac, record, &r, "%s", "MULTI"), RK_EINVAL);
    assert_int_equal(rk_async_command(e.ac, NULL, &r, "PING"), RK_EINVAL);
    run_for(&e, 20);
    assert_int_equal(r.calls, 0);
    assert_int_equal(rk_async_pending(e.ac), 0);
    env_close(&e);
}

/* ---- connecting and timers ---------------------------------------------------- */

static void test_async_connect_timeout_uses_the_loop_timer(void **state) {
    rkt_shared_need();
    rkt_blackhole *b = rkt_blackhole_start();
    assert_non_null(b);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_blackhole_port(b), .connect_timeout_ms = 200},
                      NULL);
    result r = {0};
    int64_t t0 = rk_now_ms();
    submit(&e, &r, 0, CMD("PING"));
    wait_count(&e, &r.calls, 1);
    assert_int_equal(r.status, RK_ETIMEOUT);
    assert_true(rk_now_ms() - t0 < 3000);
    env_close(&e);
    rkt_blackhole_stop(b);
}

static void test_async_refused_connect_fails_command(void **state) {
    rkt_shared_need();
    env e = {.k = *state};
    e.loop = e.k->create();
    int port = rkt_free_port();
    e.ac = new_client(&e, (rk_options){.port = port}, NULL);
    result r = {0};
    submit(&e, &r, 0, CMD("PING"));
    wait_count(&e, &r.calls, 1);
    assert_int_equal(r.status, RK_ECONNECT);
    run_for(&e, 50);
    assert_int_equal(r.calls, 1);
    env_close(&e);
}

static void test_async_host_name_is_resolved_off_the_loop(void **state) {
    rkt_shared_need();
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.host = "localhost", .port = rkt_server_port(&rkt_shared)},
                      NULL);
    result r = {0};
    submit(&e, &r, 0, CMD("PING"));
    wait_count(&e, &r.calls, 1);
    assert_int_equal(r.status, RK_OK);
    assert_string_equal(r.str, "PONG");
    env_close(&e);
}

static void no_watch(void *data, int fd, int events) {
    (void)data, (void)fd, (void)events;
}

static void test_async_loop_without_timer_refused(void **state) {
    (void)state;
    rk_async *ac = rk_async_new(NULL, NULL);
    assert_non_null(ac);
    rk_loop_ops ops = {.watch = no_watch};
    assert_int_equal(rk_async_attach(ac, &ops, NULL), RK_EINVAL);
    assert_non_null(strstr(rk_error_last()->message, "timer"));
    rk_async_free(ac);
}

static void test_async_tls_handshake_driven_by_the_loop(void **state) {
    rkt_shared_need();
    if (rkt_server_tls_port(&rkt_shared) == 0)
        skip(); /* no openssl to make certificates */
    env e = {.k = *state};
    e.loop = e.k->create();
    rk_options o = {
        .host = "localhost",
        .port = rkt_server_tls_port(&rkt_shared),
        .tls = {.enabled = true, .ca_file = rkt_server_tls_files(&rkt_shared)->ca_cert}};
    e.ac = new_client(&e, o, NULL);
    result r = {0};
    submit(&e, &r, 0, CMD("PING"));
    wait_count(&e, &r.calls, 1);
    assert_int_equal(r.status, RK_OK);
    assert_string_equal(r.str, "PONG");
    env_close(&e);
}

static void test_async_liveness_declares_silent_connection_dead(void **state) {
    rkt_shared_need();
    rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&rkt_shared));
    assert_non_null(p);
    rkt_proxy_set_mode(p, RKT_PROXY_DELAY, 1500);
    env e = {.k = *state};
    e.loop = e.k->create();
    /* Not repeated after the liveness rule cut the connection: the next
     * one would be as slow. */
    e.ac = new_client(&e, (rk_options){.port = rkt_proxy_port(p), .retry = {.attempts = 1}},
                      &(rk_async_options){.liveness_ms = 300});
    assert_int_equal(rk_async_connect(e.ac), RK_OK);
    wait_connected(&e); /* the handshake is slowed down too */
    result r = {0};
    int64_t t0 = rk_now_ms();
    submit(&e, &r, -1, CMD("PING"));
    wait_count(&e, &r.calls, 1);
    assert_int_equal(r.status, RK_EIO); /* no byte for 300 ms: dead */
    assert_true(rk_now_ms() - t0 < 1400);
    env_close(&e);
    rkt_proxy_stop(p);
}

/* An idle connection gets the engine's own PING (no callback, not
 * pending), and one that answers is kept. */
static void test_async_idle_connection_is_pinged_and_kept(void **state) {
    rkt_shared_need();
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(
        &e, (rk_options){.port = rkt_server_port(&rkt_shared), .health_check_ms = 100}, NULL);
    assert_int_equal(rk_async_connect(e.ac), RK_OK);
    wait_connected(&e);
    run_for(&e, 600);
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_true(st.commands >= 1); /* PINGs, at most one per 100 ms idle */
    assert_true(st.commands <= 6);
    assert_int_equal(st.connects, 1);
    assert_int_equal(rk_async_pending(e.ac), 0);
    env_close(&e);
}

/* A link that takes the PING and never answers (a black hole) is found
 * dead without any command of the caller's, and replaced. */
static void test_async_unanswered_ping_declares_idle_connection_dead(void **state) {
    rkt_shared_need();
    static const char *const ping[] = {"PING", NULL}, *const get_k[] = {"GET", "k", NULL};
    static const rkt_fake_step steps[] = {{.expect = ping}, /* no answer */
                                          {.expect = get_k, .reply = "$1\r\nv\r\n"}};
    rkt_fake *f = rkt_fake_start(steps, 2, NULL);
    assert_non_null(f);
    env e = {.k = *state};
    e.loop = e.k->create();
    rk_options o = {.port = rkt_fake_port(f), .health_check_ms = 200, .command_timeout_ms = 300};
    e.ac = new_client(&e, o, NULL);
    assert_int_equal(rk_async_connect(e.ac), RK_OK);
    wait_connected(&e);
    int64_t t0 = rk_now_ms();
    wait_connects(&e, 2); /* PING after 200-400 ms idle, dead 300 ms later */
    assert_true(rk_now_ms() - t0 < 3000);
    result get = {0};
    submit(&e, &get, 0, CMD("GET", "k"));
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_OK);
    assert_string_equal(get.str, "v");
    assert_null(rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

/* A server that takes a command and never answers: the command times out,
 * and once the oldest command in flight is late and nothing came for twice
 * the command timeout (at least 1 s), the stall rule replaces the
 * connection (no liveness_ms set), so the next command is answered. */
static void test_async_stall_rule_replaces_silent_connection(void **state) {
    rkt_shared_need();
    static const char *const get_a[] = {"GET", "a", NULL}, *const get_b[] = {"GET", "b", NULL};
    static const rkt_fake_step steps[] = {{.expect = get_a}, /* no answer */
                                          {.expect = get_b, .reply = "$1\r\nv\r\n"}};
    rkt_fake *f = rkt_fake_start(steps, 2, NULL);
    assert_non_null(f);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_fake_port(f), .command_timeout_ms = 300}, NULL);
    result a = {0}, b = {0};
    int64_t t0 = rk_now_ms();
    submit(&e, &a, 0, CMD("GET", "a"));
    wait_count(&e, &a.calls, 1);
    assert_int_equal(a.status, RK_ETIMEOUT);
    wait_connects(&e, 2); /* the late GET at the head, 1 s of silence: dead */
    assert_true(rk_now_ms() - t0 < 3000);
    submit(&e, &b, 0, CMD("GET", "b"));
    wait_count(&e, &b.calls, 1);
    assert_int_equal(b.status, RK_OK);
    assert_string_equal(b.str, "v");
    assert_int_equal(a.calls, 1); /* a late command is not repeated */
    assert_null(rkt_fake_error(f));
    env_close(&e);
    rkt_fake_free(f);
}

/* liveness_ms negative: no rule declares the silent connection dead, not
 * even after the stall rule's 1 s. */
static void test_async_negative_liveness_keeps_silent_connection(void **state) {
    rkt_shared_need();
    static const char *const get_a[] = {"GET", "a", NULL};
    static const rkt_fake_step steps[] = {{.expect = get_a}};
    rkt_fake *f = rkt_fake_start(steps, 1, NULL);
    assert_non_null(f);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_fake_port(f), .command_timeout_ms = 100},
                      &(rk_async_options){.liveness_ms = -1});
    result a = {0};
    submit(&e, &a, 0, CMD("GET", "a"));
    wait_count(&e, &a.calls, 1);
    assert_int_equal(a.status, RK_ETIMEOUT);
    run_for(&e, 1500);
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_int_equal(st.connects, 1);
    env_close(&e);
    rkt_fake_free(f);
}

/* Silence while a command may still be answered in time is no stall: a
 * slow command with a long deadline keeps the connection though the
 * command behind it, with the short command timeout, is late. */
static void test_async_silence_with_a_command_in_time_keeps_connection(void **state) {
    rkt_shared_need();
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(
        &e, (rk_options){.port = rkt_server_port(&rkt_shared), .command_timeout_ms = 200}, NULL);
    assert_int_equal(rk_async_connect(e.ac), RK_OK);
    wait_connected(&e);
    result slow = {0}, get = {0};
    submit(&e, &slow, 5000, CMD("DEBUG", "SLEEP", "1.5")); /* silent past the 1 s rule */
    submit(&e, &get, 0, CMD("GET", "async:stall"));
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_ETIMEOUT);
    wait_count(&e, &slow.calls, 1);
    assert_int_equal(slow.status, RK_OK);
    rk_async_stats st;
    rk_async_get_stats(e.ac, &st);
    assert_int_equal(st.connects, 1);
    env_close(&e);
}

/* A typed command (its builder, rediskit/command.h) completes with the
 * reply its other runners give: shaped, and nil as RK_NIL. */
static void test_async_run_shapes_reply_like_every_runner(void **state) {
    rkt_shared_need();
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_server_port(&rkt_shared), .protocol = 2}, NULL);
    result hset = {0}, all = {0}, missing = {0};
    submit(&e, &hset, 0, CMD("HSET", "async:h", "f", "v"));
    rk_command cmd;
    assert_true(rk_async_run(e.ac, rk_cmd_hgetall(&cmd, RK_STR("async:h")), record, &all) > 0);
    assert_true(
        rk_async_run(e.ac, rk_cmd_get(&cmd, RK_STR("async:no-such-key")), record, &missing) > 0);
    wait_count(&e, &missing.calls, 1);
    assert_int_equal(all.status, RK_OK);
    assert_int_equal(all.type, RK_REPLY_MAP); /* a map on RESP2 too */
    assert_int_equal(missing.status, RK_NIL);
    env_close(&e);
}

static void test_async_max_queued_refuses_past_limit(void **state) {
    rkt_shared_need();
    rkt_blackhole *b = rkt_blackhole_start();
    assert_non_null(b);
    env e = {.k = *state};
    e.loop = e.k->create();
    e.ac = new_client(&e, (rk_options){.port = rkt_blackhole_port(b)},
                      &(rk_async_options){.max_queued = 2});
    result r[2] = {{0}}, third = {0};
    submit(&e, &r[0], 0, CMD("PING"));
    submit(&e, &r[1], 0, CMD("PING"));
    rk_str argv[1] = {RK_STR("PING")};
    assert_int_equal(rk_async_command_argv(e.ac, record, &third, argv, 1), RK_EAGAIN);
    run_for(&e, 50);
    rk_async_free(e.ac); /* the two queued complete, cancelled */
    e.ac = NULL;
    assert_int_equal(r[0].status, RK_ECANCELED);
    assert_int_equal(r[1].calls, 1);
    assert_int_equal(third.calls, 0);
    env_close(&e);
    rkt_blackhole_stop(b);
}

static void test_async_fail_fast_refuses_while_disconnected(void **state) {
    rkt_shared_need();
    env e = {.k = *state};
    e.loop = e.k->create();
    rk_options o = {.port = rkt_free_port(),
                    .retry = {.backoff = RK_BACKOFF_CONSTANT, .base_ms = 60000}};
    e.ac = new_client(&e, o, &(rk_async_options){.fail_fast = true});
    result first = {0};
    submit(&e, &first, 0, CMD("PING"));
    wait_count(&e, &first.calls, 1);
    assert_int_equal(first.status, RK_ECONNECT);
    rk_str argv[1] = {RK_STR("PING")};
    result second = {0};
    assert_int_equal(rk_async_command_argv(e.ac, record, &second, argv, 1), RK_ECONNECT);
    assert_int_equal(rk_async_pending(e.ac), 0);
    env_close(&e);
}

/* ---- other threads -------------------------------------------------------- */

#define POSTERS 4
#define POSTS 250

typedef struct posts {
    env *e;
    pthread_t loop_thread;
    int done, bad, refused;
} posts;

static void posted_done(rk_async *ac, int status, rk_reply *r, void *ud) {
    (void)ac;
    posts *p = ud;
    p->done++;
    if (status != RK_OK || r == NULL || !pthread_equal(pthread_self(), p->loop_thread))
        p->bad++;
}

static void *poster_main(void *arg) {
    posts *p = arg;
    rk_async_call call = {.callback = posted_done, .userdata = p};
    rk_str argv[2] = {RK_STR("ECHO"), RK_STR("from another thread")};
    for (int i = 0; i < POSTS; i++)
        if (rk_async_post(p->e->ac, &call, argv, 2) != RK_OK)
            __atomic_add_fetch(&p->refused, 1, __ATOMIC_RELAXED);
    return NULL;
}

static void test_async_post_from_threads_runs_callbacks_on_loop(void **state) {
    env e;
    env_open(&e, state, NULL);
    posts p = {.e = &e, .loop_thread = pthread_self()};
    pthread_t t[POSTERS];
    for (int i = 0; i < POSTERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, poster_main, &p), 0);
    wait_count(&e, &p.done, POSTERS * POSTS);
    for (int i = 0; i < POSTERS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(p.refused, 0);
    assert_int_equal(p.bad, 0);
    env_close(&e);
}

/* A posted command's deadline counts from its posting: one whose deadline
 * passed while the loop was busy completes with RK_ETIMEOUT when the loop
 * takes it in, and is never sent; one posted with it, whose deadline is
 * still ahead, runs. */
static void test_async_post_deadline_counts_from_posting(void **state) {
    env e;
    env_open(&e, state, NULL);
    result del = {0}, late = {0}, timely = {0}, get = {0};
    submit(&e, &del, 0, CMD("DEL", "async:post-late"));
    wait_count(&e, &del.calls, 1);
    rk_async_call late_call = {.callback = record, .userdata = &late, .timeout_ms = 50};
    rk_async_call timely_call = {.callback = record, .userdata = &timely, .timeout_ms = 5000};
    rk_str set[] = {RK_STR("SET"), RK_STR("async:post-late"), RK_STR("sent")};
    rk_str ping[] = {RK_STR("PING")};
    assert_int_equal(rk_async_post(e.ac, &late_call, set, 3), RK_OK);
    assert_int_equal(rk_async_post(e.ac, &timely_call, ping, 1), RK_OK);
    nanosleep(&(struct timespec){.tv_nsec = 150000000}, NULL); /* the loop is busy elsewhere */
    wait_count(&e, &timely.calls, 1);
    assert_int_equal(late.calls, 1);
    assert_int_equal(late.status, RK_ETIMEOUT);
    assert_int_equal(timely.status, RK_OK);
    submit(&e, &get, 0, CMD("GET", "async:post-late"));
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_NIL); /* the SET never reached the server */
    run_for(&e, 50);
    assert_int_equal(late.calls, 1);
    env_close(&e);
}

/* ---- dedicated connections --------------------------------------------------- */

/* Submits 100 GETs of key (there is none) and waits for them all. */
static void get_hundred(env *e, const char *key) {
    result gets[100] = {{0}};
    int done = 0;
    for (int i = 0; i < 100; i++)
        submit(e, &gets[i], 0, CMD("GET", key));
    while (done < 100) {
        wait_count(e, &gets[done].calls, 1);
        assert_int_equal(gets[done].status, RK_NIL);
        done++;
    }
}

static void test_async_blocking_command_does_not_stall_others(void **state) {
    env e;
    env_open(&e, state, NULL);
    result del = {0}, blpop = {0}, push = {0};
    submit(&e, &del, 0, CMD("DEL", "async:bl"));
    wait_count(&e, &del.calls, 1);
    submit(&e, &blpop, 0, CMD("BLPOP", "async:bl", "2"));
    get_hundred(&e, "async:nokey");
    assert_int_equal(blpop.calls, 0); /* still blocked on its own connection */
    rk_async *other = new_client(&e, (rk_options){.port = rkt_server_port(&rkt_shared)}, NULL);
    rk_async_call call = {.callback = record, .userdata = &push};
    rk_str argv[3] = {RK_STR("RPUSH"), RK_STR("async:bl"), RK_STR("x")};
    assert_true(rk_async_submit(other, &call, argv, 3) > 0);
    wait_count(&e, &blpop.calls, 1);
    assert_int_equal(blpop.status, RK_OK);
    assert_int_equal(blpop.type, RK_REPLY_ARRAY);
    assert_string_equal(blpop.str, "x");
    wait_count(&e, &push.calls, 1);
    assert_int_equal(push.status, RK_OK);
    rk_async_free(other);
    env_close(&e);
}

static void test_async_blocking_deadline_is_block_time_plus_timeout(void **state) {
    env e;
    env_open(&e, state, NULL);
    result blpop = {0};
    int64_t t0 = rk_now_ms();
    /* A 1 s timeout and a 2 s block: the server answers nil after 2 s,
     * before the deadline (3 s) passes, though the timeout alone would
     * have ended it at 1 s. The second of margin covers making the
     * dedicated connection on a slow (sanitized, loaded) machine. */
    submit(&e, &blpop, 1000, CMD("BLPOP", "async:bl-empty", "2"));
    wait_count(&e, &blpop.calls, 1);
    assert_int_equal(blpop.status, RK_NIL);
    assert_int_equal(blpop.type, RK_REPLY_NIL);
    assert_true(rk_now_ms() - t0 >= 1900);
    env_close(&e);
}

static void test_async_blocking_for_ever_obeys_the_call_timeout(void **state) {
    env e;
    env_open(&e, state, NULL);
    result blpop = {0}, get = {0};
    /* BLPOP 0 would wait for ever; the caller's 300 ms bound it. */
    submit(&e, &blpop, 300, CMD("BLPOP", "async:bl-forever", "0"));
    wait_count(&e, &blpop.calls, 1);
    assert_int_equal(blpop.status, RK_ETIMEOUT);
    submit(&e, &get, 0, CMD("GET", "async:nokey"));
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_NIL);
    env_close(&e);
}

static void test_async_blocking_command_cancel_completes_it(void **state) {
    env e;
    env_open(&e, state, NULL);
    result blpop = {0}, get = {0}, again = {0};
    rk_async_id id = submit(&e, &blpop, 0, CMD("BLPOP", "async:bl-cancel", "0"));
    run_for(&e, 50);
    assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
    assert_int_equal(blpop.calls, 1);
    assert_int_equal(blpop.status, RK_ECANCELED);
    assert_int_equal(rk_async_cancel(e.ac, id), RK_EINVAL);
    submit(&e, &get, 0, CMD("GET", "async:nokey"));
    wait_count(&e, &get.calls, 1);
    /* The next blocking command gets a connection not stuck behind it. */
    submit(&e, &again, 0, CMD("BLPOP", "async:bl-cancel", "0.1"));
    wait_count(&e, &again.calls, 1);
    assert_int_equal(again.type, RK_REPLY_NIL);
    assert_int_equal(rk_async_pending(e.ac), 0);
    run_for(&e, 50);
    assert_int_equal(blpop.calls, 1);
    env_close(&e);
}

static void test_async_free_inside_blocking_callback_is_safe(void **state) {
    env e;
    env_open(&e, state, NULL);
    result blpop = {.e = &e, .action = ACT_FREE}, other = {0};
    submit(&e, &blpop, 0, CMD("BLPOP", "async:bl-free", "0.1"));
    submit(&e, &other, 0, CMD("BLPOP", "async:bl-free2", "0"));
    wait_count(&e, &blpop.calls, 1);
    assert_null(e.ac);
    /* The other blocking command completed inside the free. */
    assert_int_equal(other.calls, 1);
    assert_int_equal(other.status, RK_ECANCELED);
    run_for(&e, 50);
    assert_int_equal(blpop.calls, 1);
    env_close(&e);
}

static void test_async_free_cancels_blocking_commands(void **state) {
    env e;
    env_open(&e, state, NULL);
    result blpop = {0};
    submit(&e, &blpop, 0, CMD("BLPOP", "async:bl-free3", "0"));
    run_for(&e, 50);
    rk_async_free(e.ac);
    e.ac = NULL;
    assert_int_equal(blpop.calls, 1);
    assert_int_equal(blpop.status, RK_ECANCELED);
    env_close(&e);
}

static void test_async_detach_closes_blocking_commands(void **state) {
    env e;
    env_open(&e, state, NULL);
    result blpop = {0}, get = {0};
    submit(&e, &blpop, 0, CMD("BLPOP", "async:bl-detach", "0"));
    run_for(&e, 50);
    rk_async_detach(e.ac);
    assert_int_equal(blpop.calls, 1);
    assert_int_equal(blpop.status, RK_ECLOSED);
    /* Attached again, the client carries on. */
    assert_int_equal(e.k->attach(e.loop, e.ac), RK_OK);
    submit(&e, &get, 0, CMD("GET", "async:nokey"));
    wait_count(&e, &get.calls, 1);
    assert_int_equal(get.status, RK_NIL);
    assert_int_equal(blpop.calls, 1);
    env_close(&e);
}

/* ---- batches ----------------------------------------------------------------- */

/* What a batch callback saw. */
typedef struct batch_seen {
    int calls, status, bad;
    size_t replies;
    env *e;
    bool free_client;
} batch_seen;

/* Checks that reply i is ECHO's i, in order. */
static void on_batch(rk_async *ac, int status, const rk_async_batch *b, void *ud) {
    batch_seen *s = ud;
    s->calls++;
    s->status = status;
    s->replies = rk_async_batch_replies(b);
    for (size_t i = 0; i < s->replies; i++) {
        char num[24];
        snprintf(num, sizeof(num), "%zu", i);
        const rk_reply *r = rk_async_batch_reply(b, i);
        if (rk_async_batch_status(b, i) != RK_OK || strcmp(rk_reply_str(r), num) != 0)
            s->bad++;
    }
    if (s->free_client) {
        rk_async_free(ac);
        s->e->ac = NULL;
    }
}

static rk_async_batch *echo_batch(int n) {
    rk_async_batch *b = rk_async_batch_new();
    assert_non_null(b);
    for (int i = 0; i < n; i++)
        assert_int_equal(rk_async_batch_append(b, "ECHO %d", i), RK_OK);
    assert_int_equal(rk_async_batch_size(b), (size_t)n);
    return b;
}

static void test_async_batch_of_thousand_in_order(void **state) {
    env e;
    env_open(&e, state, NULL);
    batch_seen s = {0};
    result ping = {0};
    submit(&e, &ping, 0, CMD("PING"));
    wait_count(&e, &ping.calls, 1);
    rk_async_stats before, after;
    rk_async_get_stats(e.ac, &before);
    assert_true(rk_async_batch_submit(e.ac, echo_batch(1000), on_batch, &s, 0) > 0);
    wait_count(&e, &s.calls, 1);
    rk_async_get_stats(e.ac, &after);
    assert_int_equal(s.status, RK_OK);
    assert_int_equal(s.replies, 1000);
    assert_int_equal(s.bad, 0);
    assert_int_equal(after.writes - before.writes, 1); /* sent in one write */
    assert_int_equal(rk_async_pending(e.ac), 0);
    run_for(&e, 50);
    assert_int_equal(s.calls, 1);
    env_close(&e);
}

static void test_async_free_inside_batch_callback_is_safe(void **state) {
    env e;
    env_open(&e, state, NULL);
    batch_seen s = {.e = &e, .free_client = true}, later = {0};
    assert_true(rk_async_batch_submit(e.ac, echo_batch(10), on_batch, &s, 0) > 0);
    assert_true(rk_async_batch_submit(e.ac, echo_batch(10), on_batch, &later, 0) > 0);
    wait_count(&e, &s.calls, 1);
    assert_null(e.ac);
    assert_int_equal(s.status, RK_OK);
    assert_int_equal(s.bad, 0);
    /* The second batch completed, once, inside the free (or with its
     * replies before it). */
    assert_int_equal(later.calls, 1);
    run_for(&e, 50);
    assert_int_equal(s.calls, 1);
    assert_int_equal(later.calls, 1);
    env_close(&e);
}

static void test_async_batch_cancel_completes_once(void **state) {
    env e;
    env_open(&e, state, NULL);
    batch_seen s = {0};
    result ping = {0};
    submit(&e, &ping, 0, CMD("DEBUG", "SLEEP", "0.2"));
    rk_async_batch *b = echo_batch(5);
    rk_async_id id = rk_async_batch_submit(e.ac, b, on_batch, &s, 0);
    assert_true(id > 0);
    assert_int_equal(rk_async_cancel(e.ac, id), RK_OK);
    assert_int_equal(s.calls, 1);
    assert_int_equal(s.status, RK_ECANCELED);
    assert_int_equal(s.replies, 0);
    assert_int_equal(rk_async_cancel(e.ac, id), RK_EINVAL);
    wait_count(&e, &ping.calls, 1);
    run_for(&e, 50);
    assert_int_equal(s.calls, 1);
    assert_int_equal(rk_async_pending(e.ac), 0);
    env_close(&e);
}

static void test_async_batch_refuses_blocking_and_stateful(void **state) {
    (void)state;
    rk_async_batch *b = rk_async_batch_new();
    assert_non_null(b);
    assert_int_equal(rk_async_batch_append(b, "MULTI"), RK_EINVAL);
    assert_int_equal(rk_async_batch_append(b, "BLPOP k 1"), RK_EINVAL);
    assert_int_equal(rk_async_batch_append(b, "GET k"), RK_OK);
    assert_int_equal(rk_async_batch_size(b), 1);
    rk_async_batch_free(b);
}

/* ---- transactions ------------------------------------------------------------ */

/* A transaction watching key, its WATCH done. */
static rk_async_tx *watching(env *e, const char *key) {
    rk_async_tx *tx = rk_async_tx_new(e->ac);
    assert_non_null(tx);
    result watch = {0};
    rk_str k = rk_cstr(key);
    assert_true(rk_async_tx_watch(tx, record, &watch, &k, 1) > 0);
    wait_count(e, &watch.calls, 1);
    assert_int_equal(watch.status, RK_OK);
    return tx;
}

static rk_async_batch *set_batch(const char *key, const char *value) {
    rk_async_batch *b = rk_async_batch_new();
    assert_non_null(b);
    assert_int_equal(rk_async_batch_append(b, "SET %s %s", key, value), RK_OK);
    return b;
}

static void test_async_transaction_watched_key_changed_is_ewatch(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_tx *tx = watching(&e, "async:tx");
    result change = {0}, exec = {0}, get = {0};
    submit(&e, &change, 0, CMD("SET", "async:tx", "theirs"));
    wait_count(&e, &change.calls, 1);
    assert_true(rk_async_tx_exec(tx, set_batch("async:tx", "mine"), record, &exec, 0) > 0);
    wait_count(&e, &exec.calls, 1);
    assert_int_equal(exec.status, RK_EWATCH);
    submit(&e, &get, 0, CMD("GET", "async:tx"));
    wait_count(&e, &get.calls, 1);
    assert_string_equal(get.str, "theirs");
    rk_async_tx_free(tx);
    run_for(&e, 50);
    assert_int_equal(exec.calls, 1);
    env_close(&e);
}

static void test_async_transaction_runs_when_untouched(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_tx *tx = watching(&e, "async:tx2");
    result exec = {0}, get = {0};
    assert_true(rk_async_tx_exec(tx, set_batch("async:tx2", "mine"), record, &exec, 0) > 0);
    wait_count(&e, &exec.calls, 1);
    assert_int_equal(exec.status, RK_OK);
    assert_int_equal(exec.type, RK_REPLY_ARRAY);
    assert_string_equal(exec.str, "OK");
    submit(&e, &get, 0, CMD("GET", "async:tx2"));
    wait_count(&e, &get.calls, 1);
    assert_string_equal(get.str, "mine");
    rk_async_tx_free(tx);
    env_close(&e);
}

static void test_async_free_with_transaction_pending(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_tx *tx = watching(&e, "async:tx3");
    result exec = {0};
    assert_true(rk_async_tx_exec(tx, set_batch("async:tx3", "x"), record, &exec, 0) > 0);
    rk_async_free(e.ac);
    e.ac = NULL;
    assert_int_equal(exec.calls, 1);
    assert_int_equal(exec.status, RK_ECANCELED);
    rk_async_tx_free(tx); /* after the client: allowed */
    env_close(&e);
}

/* ---- the lock ---------------------------------------------------------------- */

/* What a lock operation's callback saw. */
typedef struct lock_seen {
    int calls, status;
} lock_seen;

static void on_lock(rk_async_lock *l, int status, void *ud) {
    (void)l;
    lock_seen *s = ud;
    s->calls++;
    s->status = status;
}

/* Runs the words as a command and waits for its completion into *r. */
static void run_cmd(env *e, result *r, const char *const *words) {
    *r = (result){0};
    submit(e, r, 0, words);
    wait_count(e, &r->calls, 1);
}

/* A lock named key (deleted first: the loops share the server). */
static rk_async_lock *new_lock(env *e, const char *key, rk_lock_opts o) {
    result del;
    run_cmd(e, &del, CMD("DEL", key));
    rk_async_lock *l = rk_async_lock_new(e->ac, key, &o);
    if (l == NULL)
        fail_msg("rk_async_lock_new: %s", rk_error_last()->message);
    return l;
}

/* Starts an acquire, release or extend (op 'a', 'r', 'e': by ms,
 * replacing the TTL) and waits for its completion; returns its status. */
static int lock_op(env *e, rk_async_lock *l, char op, int ms) {
    lock_seen s = {0};
    int rc = op == 'a'   ? rk_async_lock_acquire(l, on_lock, &s)
             : op == 'r' ? rk_async_lock_release(l, on_lock, &s)
                         : rk_async_lock_extend(l, ms, true, on_lock, &s);
    assert_int_equal(rc, RK_OK);
    wait_count(e, &s.calls, 1);
    return s.status;
}

static void test_async_lock_acquire_sets_key_to_token(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *l = new_lock(&e, "async:lock:a", (rk_lock_opts){0});
    assert_int_equal(lock_op(&e, l, 'a', 0), RK_OK);
    assert_non_null(rk_async_lock_token(l));
    result get;
    run_cmd(&e, &get, CMD("GET", "async:lock:a"));
    assert_string_equal(get.str, rk_async_lock_token(l));
    assert_int_equal(lock_op(&e, l, 'r', 0), RK_OK);
    assert_null(rk_async_lock_token(l));
    run_cmd(&e, &get, CMD("GET", "async:lock:a"));
    assert_int_equal(get.status, RK_NIL);
    rk_async_lock_free(l);
    env_close(&e);
}

static void test_async_lock_nonblocking_acquire_of_held_lock_is_elocked(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *a = new_lock(&e, "async:lock:b", (rk_lock_opts){0});
    rk_async_lock *b =
        rk_async_lock_new(e.ac, "async:lock:b", &(rk_lock_opts){.non_blocking = true});
    assert_int_equal(lock_op(&e, a, 'a', 0), RK_OK);
    assert_int_equal(lock_op(&e, b, 'a', 0), RK_ELOCKED);
    assert_null(rk_async_lock_token(b));
    assert_int_equal(lock_op(&e, a, 'r', 0), RK_OK);
    rk_async_lock_free(a);
    rk_async_lock_free(b);
    env_close(&e);
}

static void test_async_lock_waiting_acquire_succeeds_after_release(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *a = new_lock(&e, "async:lock:c", (rk_lock_opts){0});
    rk_async_lock *b = rk_async_lock_new(
        e.ac, "async:lock:c", &(rk_lock_opts){.blocking_timeout_ms = 5000, .sleep_ms = 20});
    assert_int_equal(lock_op(&e, a, 'a', 0), RK_OK);
    lock_seen waiting = {0};
    assert_int_equal(rk_async_lock_acquire(b, on_lock, &waiting), RK_OK);
    run_for(&e, 200); /* tries every 20 ms, held all along */
    assert_int_equal(waiting.calls, 0);
    assert_int_equal(lock_op(&e, a, 'r', 0), RK_OK);
    wait_count(&e, &waiting.calls, 1);
    assert_int_equal(waiting.status, RK_OK);
    result get;
    run_cmd(&e, &get, CMD("GET", "async:lock:c"));
    assert_string_equal(get.str, rk_async_lock_token(b));
    assert_int_equal(lock_op(&e, b, 'r', 0), RK_OK);
    rk_async_lock_free(a);
    rk_async_lock_free(b);
    env_close(&e);
}

static void test_async_lock_waiting_acquire_gives_up_with_elocked(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *a = new_lock(&e, "async:lock:d", (rk_lock_opts){0});
    rk_async_lock *b = rk_async_lock_new(
        e.ac, "async:lock:d", &(rk_lock_opts){.blocking_timeout_ms = 150, .sleep_ms = 20});
    assert_int_equal(lock_op(&e, a, 'a', 0), RK_OK);
    int64_t t0 = rk_now_ms();
    assert_int_equal(lock_op(&e, b, 'a', 0), RK_ELOCKED);
    assert_true(rk_now_ms() - t0 >= 150); /* its last try at or after the wait */
    assert_int_equal(lock_op(&e, a, 'r', 0), RK_OK);
    rk_async_lock_free(a);
    rk_async_lock_free(b);
    env_close(&e);
}

static void test_async_lock_extend_prolongs_ttl(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *l = new_lock(&e, "async:lock:e", (rk_lock_opts){.ttl_ms = 1000});
    assert_int_equal(lock_op(&e, l, 'a', 0), RK_OK);
    assert_int_equal(lock_op(&e, l, 'e', 60000), RK_OK);
    result pttl;
    run_cmd(&e, &pttl, CMD("PTTL", "async:lock:e"));
    assert_true(pttl.integer > 30000);
    assert_int_equal(lock_op(&e, l, 'r', 0), RK_OK);
    rk_async_lock_free(l);
    env_close(&e);
}

/* A lock that expired and passed to another owner: the first owner's
 * release is refused and leaves the second owner's key alone. */
static void test_async_lock_release_of_lock_held_by_another_token_refused(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *a = new_lock(&e, "async:lock:f", (rk_lock_opts){.ttl_ms = 100});
    rk_async_lock *b =
        rk_async_lock_new(e.ac, "async:lock:f", &(rk_lock_opts){.non_blocking = true});
    assert_int_equal(lock_op(&e, a, 'a', 0), RK_OK);
    run_for(&e, 250);
    assert_int_equal(lock_op(&e, b, 'a', 0), RK_OK);
    assert_int_equal(lock_op(&e, a, 'r', 0), RK_ENOTOWNER);
    result get;
    run_cmd(&e, &get, CMD("GET", "async:lock:f"));
    assert_string_equal(get.str, rk_async_lock_token(b));
    assert_int_equal(lock_op(&e, b, 'r', 0), RK_OK);
    rk_async_lock_free(a);
    rk_async_lock_free(b);
    env_close(&e);
}

static void test_async_lock_expires_after_ttl(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *l = new_lock(&e, "async:lock:g", (rk_lock_opts){.ttl_ms = 150});
    assert_int_equal(lock_op(&e, l, 'a', 0), RK_OK);
    result exists;
    run_cmd(&e, &exists, CMD("EXISTS", "async:lock:g"));
    assert_int_equal(exists.integer, 1);
    run_for(&e, 400);
    run_cmd(&e, &exists, CMD("EXISTS", "async:lock:g"));
    assert_int_equal(exists.integer, 0);
    assert_int_equal(lock_op(&e, l, 'e', 1000), RK_ENOTOWNER);
    rk_async_lock_free(l);
    env_close(&e);
}

static void test_async_lock_fencing_tokens_grow(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *l = new_lock(&e, "async:lock:h", (rk_lock_opts){.fencing = true});
    assert_int_equal(lock_op(&e, l, 'a', 0), RK_OK);
    long long first = rk_async_lock_fence(l);
    assert_true(first > 0);
    assert_int_equal(lock_op(&e, l, 'r', 0), RK_OK);
    assert_int_equal(lock_op(&e, l, 'a', 0), RK_OK);
    assert_true(rk_async_lock_fence(l) > first);
    assert_int_equal(lock_op(&e, l, 'r', 0), RK_OK);
    rk_async_lock_free(l);
    env_close(&e);
}

static void test_async_lock_free_while_waiting_completes_once(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *a = new_lock(&e, "async:lock:i", (rk_lock_opts){0});
    rk_async_lock *b = rk_async_lock_new(e.ac, "async:lock:i", &(rk_lock_opts){.sleep_ms = 20});
    assert_int_equal(lock_op(&e, a, 'a', 0), RK_OK);
    lock_seen waiting = {0};
    assert_int_equal(rk_async_lock_acquire(b, on_lock, &waiting), RK_OK);
    run_for(&e, 100);
    rk_async_lock_free(b);
    assert_int_equal(waiting.calls, 1);
    assert_int_equal(waiting.status, RK_ECANCELED);
    run_for(&e, 100);
    assert_int_equal(waiting.calls, 1);
    assert_int_equal(lock_op(&e, a, 'r', 0), RK_OK);
    rk_async_lock_free(a);
    env_close(&e);
}

/* A lock freed while its acquire is in flight: the acquire completes at
 * once, and the SET it sent, which wins, is released when it answers. */
static void test_async_lock_free_with_acquire_in_flight_releases_it(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *l = new_lock(&e, "async:lock:k", (rk_lock_opts){0});
    lock_seen seen = {0};
    assert_int_equal(rk_async_lock_acquire(l, on_lock, &seen), RK_OK);
    rk_async_lock_free(l);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.status, RK_ECANCELED);
    result exists = {0};
    int64_t end = rk_now_ms() + WAIT_MS;
    do { /* the SET ran, then the release */
        run_cmd(&e, &exists, CMD("EXISTS", "async:lock:k"));
    } while (exists.integer != 0 && rk_now_ms() < end);
    assert_int_equal(exists.integer, 0);
    assert_int_equal(seen.calls, 1);
    env_close(&e);
}

/* The client freed while an acquire waits for its next try: the acquire
 * completes, once, inside the free; the lock may be freed after. */
static void test_async_lock_client_free_cancels_waiting_acquire(void **state) {
    env e;
    env_open(&e, state, NULL);
    rk_async_lock *a = new_lock(&e, "async:lock:j", (rk_lock_opts){.ttl_ms = 2000});
    rk_async_lock *b = rk_async_lock_new(e.ac, "async:lock:j", &(rk_lock_opts){.sleep_ms = 1000});
    assert_int_equal(lock_op(&e, a, 'a', 0), RK_OK);
    lock_seen waiting = {0};
    assert_int_equal(rk_async_lock_acquire(b, on_lock, &waiting), RK_OK);
    run_for(&e, 100); /* answered "held": the next try is a second away */
    rk_async_free(e.ac);
    e.ac = NULL;
    assert_int_equal(waiting.calls, 1);
    assert_int_equal(waiting.status, RK_ECANCELED);
    rk_async_lock_free(a); /* after the client: allowed */
    rk_async_lock_free(b);
    env_close(&e);
}

/* ---- main ------------------------------------------------------------------- */

#define SUITE(k)                                                                                   \
    {                                                                                              \
        cmocka_unit_test_prestate(test_async_reply_completes_once, (void *)(k)),                   \
            cmocka_unit_test_prestate(test_async_server_error_reply_is_eserver, (void *)(k)),      \
            cmocka_unit_test_prestate(test_async_deadline_does_not_sever_connection, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_cancel_before_send_never_sends, (void *)(k)),     \
            cmocka_unit_test_prestate(test_async_cancel_after_send_drops_reply, (void *)(k)),      \
            cmocka_unit_test_prestate(test_async_connection_lost_fails_inflight_once,              \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_unsent_command_survives_lost_connection,          \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_lost_connection_repeats_reads, (void *)(k)),      \
            cmocka_unit_test_prestate(test_async_free_inside_on_retry_is_safe, (void *)(k)),       \
            cmocka_unit_test_prestate(test_async_lost_connection_fails_write_that_may_have_run,    \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(                                                             \
                test_async_lost_connection_fails_blocking_read_on_shared_connection, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_lost_connection_repeats_idempotent_write,         \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_repeated_read_past_deadline_times_out_once,       \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_retry_attempts_one_never_repeats, (void *)(k)),   \
            cmocka_unit_test_prestate(test_async_repeated_read_waits_out_failed_reconnects,        \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_free_cancels_every_pending_command, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_free_inside_callback_is_safe, (void *)(k)),       \
            cmocka_unit_test_prestate(test_async_disconnect_inside_callback_is_safe, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_garbage_from_server_fails_commands, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_thousand_in_flight_in_order, (void *)(k)),        \
            cmocka_unit_test_prestate(test_async_inflight_limit_makes_commands_wait, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_commands_in_flight_share_writes, (void *)(k)),    \
            cmocka_unit_test_prestate(test_async_stateful_command_refused, (void *)(k)),           \
            cmocka_unit_test_prestate(test_async_connect_timeout_uses_the_loop_timer,              \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_refused_connect_fails_command, (void *)(k)),      \
            cmocka_unit_test_prestate(test_async_host_name_is_resolved_off_the_loop, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_loop_without_timer_refused, (void *)(k)),         \
            cmocka_unit_test_prestate(test_async_tls_handshake_driven_by_the_loop, (void *)(k)),   \
            cmocka_unit_test_prestate(test_async_liveness_declares_silent_connection_dead,         \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_idle_connection_is_pinged_and_kept, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_unanswered_ping_declares_idle_connection_dead,    \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_stall_rule_replaces_silent_connection,            \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_negative_liveness_keeps_silent_connection,        \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_silence_with_a_command_in_time_keeps_connection,  \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_run_shapes_reply_like_every_runner, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_max_queued_refuses_past_limit, (void *)(k)),      \
            cmocka_unit_test_prestate(test_async_fail_fast_refuses_while_disconnected,             \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_post_from_threads_runs_callbacks_on_loop,         \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_post_deadline_counts_from_posting, (void *)(k)),  \
            cmocka_unit_test_prestate(test_async_blocking_command_does_not_stall_others,           \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_blocking_deadline_is_block_time_plus_timeout,     \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_blocking_for_ever_obeys_the_call_timeout,         \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_blocking_command_cancel_completes_it,             \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_free_inside_blocking_callback_is_safe,            \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_free_cancels_blocking_commands, (void *)(k)),     \
            cmocka_unit_test_prestate(test_async_detach_closes_blocking_commands, (void *)(k)),    \
            cmocka_unit_test_prestate(test_async_batch_of_thousand_in_order, (void *)(k)),         \
            cmocka_unit_test_prestate(test_async_free_inside_batch_callback_is_safe, (void *)(k)), \
            cmocka_unit_test_prestate(test_async_batch_cancel_completes_once, (void *)(k)),        \
            cmocka_unit_test_prestate(test_async_batch_refuses_blocking_and_stateful,              \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_transaction_watched_key_changed_is_ewatch,        \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_transaction_runs_when_untouched, (void *)(k)),    \
            cmocka_unit_test_prestate(test_async_free_with_transaction_pending, (void *)(k)),      \
            cmocka_unit_test_prestate(test_async_lock_acquire_sets_key_to_token, (void *)(k)),     \
            cmocka_unit_test_prestate(test_async_lock_nonblocking_acquire_of_held_lock_is_elocked, \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_lock_waiting_acquire_succeeds_after_release,      \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_lock_waiting_acquire_gives_up_with_elocked,       \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_lock_extend_prolongs_ttl, (void *)(k)),           \
            cmocka_unit_test_prestate(                                                             \
                test_async_lock_release_of_lock_held_by_another_token_refused, (void *)(k)),       \
            cmocka_unit_test_prestate(test_async_lock_expires_after_ttl, (void *)(k)),             \
            cmocka_unit_test_prestate(test_async_lock_fencing_tokens_grow, (void *)(k)),           \
            cmocka_unit_test_prestate(test_async_lock_free_while_waiting_completes_once,           \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_lock_client_free_cancels_waiting_acquire,         \
                                      (void *)(k)),                                                \
            cmocka_unit_test_prestate(test_async_lock_free_with_acquire_in_flight_releases_it,     \
                                      (void *)(k)),                                                \
    }

int main(void) {
    static const char *const config[] = {"enable-debug-command yes", NULL}; /* DEBUG SLEEP */
    rkt_shared_opts.config = config;
    rkt_shared_opts.tls = rkt_have_binary("openssl");
    /* RKT_ASYNC_LOOP and RKT_ASYNC_TESTS (substrings of the names) pick
     * a loop and tests, for working on one. */
    const char *loop = getenv("RKT_ASYNC_LOOP"), *only = getenv("RKT_ASYNC_TESTS");
    int failed = 0;
    for (size_t i = 0; rkt_loop_kinds[i]; i++) {
        const rkt_loop_kind *k = rkt_loop_kinds[i];
        const struct CMUnitTest all[] = SUITE(k);
        struct CMUnitTest tests[RK_ARRAY_LEN(all)];
        size_t n = 0;
        for (size_t t = 0; t < RK_ARRAY_LEN(all); t++)
            if (only == NULL || strstr(all[t].name, only))
                tests[n++] = all[t];
        if (n == 0 || (loop && strcmp(loop, k->name) != 0))
            continue;
        char name[64];
        snprintf(name, sizeof(name), "async on %s", k->name);
        failed += _cmocka_run_group_tests(name, tests, n, rkt_shared_setup, rkt_shared_teardown);
    }
    return failed;
}
