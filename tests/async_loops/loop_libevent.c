/* libevent, through rediskit/adapters/libevent.h. A persistent tick
 * bounds each EVLOOP_ONCE iteration. */
#include <stdlib.h>

#include "rediskit/adapters/libevent.h"
#include "rkt_loops.h"

typedef struct levent {
    struct event_base *base;
    struct event *tick;
} levent;

static void tick(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what, (void)arg;
}

static void *create(void) {
    levent *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->base = event_base_new();
    l->tick = l->base ? event_new(l->base, -1, EV_PERSIST, tick, NULL) : NULL;
    struct timeval tv = {0, RKT_LOOP_TICK_MS * 1000};
    if (l->tick == NULL || event_add(l->tick, &tv) != 0)
        return NULL;
    return l;
}

static int attach(void *loop, rk_async *ac) {
    return rk_libevent_attach(ac, ((levent *)loop)->base);
}

static int run_once(void *loop) {
    return event_base_loop(((levent *)loop)->base, EVLOOP_ONCE) < 0 ? -1 : 0;
}

static void destroy(void *loop) {
    levent *l = loop;
    event_free(l->tick);
    event_base_free(l->base);
    free(l);
}

const rkt_loop_kind rkt_loop_libevent = {"libevent", create, attach, run_once, destroy};
