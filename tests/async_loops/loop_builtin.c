/* The built-in loop (rediskit/loop.h), with epoll and with poll(). */
#include "rediskit/loop.h"
#include "rkt_loops.h"

static void *create(void) {
    return rk_loop_new(0);
}

static void *create_poll(void) {
    return rk_loop_new(RK_LOOP_POLL);
}

static int attach(void *loop, rk_async *ac) {
    return rk_loop_attach(loop, ac);
}

static int run_once(void *loop) {
    return rk_loop_run_once(loop, RKT_LOOP_TICK_MS) == RK_OK ? 0 : -1;
}

static void destroy(void *loop) {
    rk_loop_free(loop);
}

const rkt_loop_kind rkt_loop_builtin = {"builtin", create, attach, run_once, destroy};
const rkt_loop_kind rkt_loop_builtin_poll = {"builtin-poll", create_poll, attach, run_once,
                                             destroy};

const rkt_loop_kind *const rkt_loop_kinds[] = {
    &rkt_loop_builtin, &rkt_loop_builtin_poll, &rkt_loop_libevent,
    &rkt_loop_libuv,   &rkt_loop_libev,        NULL,
};
