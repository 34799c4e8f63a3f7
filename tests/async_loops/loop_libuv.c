/* libuv, through rediskit/adapters/libuv.h. A repeating tick timer bounds
 * each UV_RUN_ONCE iteration. */
#include <stdlib.h>

#include "rediskit/adapters/libuv.h"
#include "rkt_loops.h"

typedef struct luv {
    uv_loop_t loop;
    uv_timer_t tick;
} luv;

static void tick(uv_timer_t *t) {
    (void)t;
}

static void *create(void) {
    luv *l = calloc(1, sizeof(*l));
    if (l == NULL || uv_loop_init(&l->loop) != 0)
        return NULL;
    uv_timer_init(&l->loop, &l->tick);
    uv_timer_start(&l->tick, tick, RKT_LOOP_TICK_MS, RKT_LOOP_TICK_MS);
    return l;
}

static int attach(void *loop, rk_async *ac) {
    return rk_libuv_attach(ac, &((luv *)loop)->loop);
}

static int run_once(void *loop) {
    uv_run(&((luv *)loop)->loop, UV_RUN_ONCE);
    return 0;
}

/* Runs the close callbacks of the handles closed so far (the adapter's
 * too), then closes the loop: it fails if a handle was left open. */
static void destroy(void *loop) {
    luv *l = loop;
    uv_close((uv_handle_t *)&l->tick, NULL);
    uv_run(&l->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&l->loop) != 0)
        abort();
    free(l);
}

const rkt_loop_kind rkt_loop_libuv = {"libuv", create, attach, run_once, destroy};
