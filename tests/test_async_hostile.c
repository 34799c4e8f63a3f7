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

int main(void) {
    static const char *const config[] = {"enable-debug-command yes", NULL}; /* DEBUG SLEEP */
    rkt_shared_opts.config = config;
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_failed_write_behind_repeated_read_takes_no_reply),
    };
    return rkt_async_run("async hostile", tests, RK_ARRAY_LEN(tests));
}
