/* libev, through rediskit/adapters/libev.h. A repeating tick timer bounds
 * each EVRUN_ONCE iteration. */
#include <stdlib.h>

#include "rediskit/adapters/libev.h"
#include "rkt_loops.h"

typedef struct lev {
    struct ev_loop *loop;
    ev_timer tick;
} lev;

static void tick(struct ev_loop *loop, ev_timer *w, int revents) {
    (void)loop, (void)w, (void)revents;
}

static void *create(void) {
    lev *l = calloc(1, sizeof(*l));
    if (l == NULL || (l->loop = ev_loop_new(EVFLAG_AUTO)) == NULL)
        return NULL;
    ev_timer_init(&l->tick, tick, RKT_LOOP_TICK_MS / 1000.0, RKT_LOOP_TICK_MS / 1000.0);
    ev_timer_start(l->loop, &l->tick);
    return l;
}

static int attach(void *loop, rk_async *ac) {
    return rk_libev_attach(ac, ((lev *)loop)->loop);
}

static int run_once(void *loop) {
    ev_run(((lev *)loop)->loop, EVRUN_ONCE);
    return 0;
}

static void destroy(void *loop) {
    lev *l = loop;
    ev_timer_stop(l->loop, &l->tick);
    ev_loop_destroy(l->loop);
    free(l);
}

const rkt_loop_kind rkt_loop_libev = {"libev", create, attach, run_once, destroy};
