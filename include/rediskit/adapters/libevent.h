/** @file rediskit/adapters/libevent.h
 * rediskit: an async client on a libevent event_base (header-only).
 *
 *     struct event_base *base = event_base_new();
 *     rk_libevent_attach(ac, base);
 *     event_base_dispatch(base);
 *
 * One persistent event for the client's fd (replaced when the fd or the
 * events change) and one timer event. Link with -levent (or
 * -levent_core). *
 * libevent.h defines EV_READ and EV_WRITE as macros that clash with libev's
 * names: do not include this header and libev.h in one source file.
 */
#ifndef RK_ADAPTERS_LIBEVENT_H
#define RK_ADAPTERS_LIBEVENT_H

#include <event2/event.h>

#include "../alloc.h"
#include "../async.h"
#include "../conn.h"
#include "../error.h"

/** @cond INTERNAL (the adapter's state and glue) */
typedef struct rk_libevent {
    rk_async *ac;
    struct event_base *base;
    struct event *io, *timer;
    int fd, events;
    int busy; /* inside one of our callbacks */
    int dead; /* detached: free once no callback runs */
} rk_libevent;

static void rk_libevent_release(rk_libevent *a) {
    if (a->busy == 0)
        rk_free(a);
}

static void rk_libevent_io(evutil_socket_t fd, short what, void *arg) {
    rk_libevent *a = (rk_libevent *)arg;
    (void)fd;
    a->busy++;
    if (what & EV_READ)
        rk_async_on_readable(a->ac);
    if (!a->dead && (what & EV_WRITE))
        rk_async_on_writable(a->ac);
    a->busy--;
    if (a->dead)
        rk_libevent_release(a);
}

static void rk_libevent_fire(evutil_socket_t fd, short what, void *arg) {
    rk_libevent *a = (rk_libevent *)arg;
    (void)fd, (void)what;
    a->busy++;
    rk_async_on_timer(a->ac);
    a->busy--;
    if (a->dead)
        rk_libevent_release(a);
}

static void rk_libevent_watch(void *data, int fd, int events) {
    rk_libevent *a = (rk_libevent *)data;
    if (a->io && (events == 0 || fd != a->fd || events != a->events)) {
        event_free(a->io);
        a->io = NULL;
    }
    a->fd = fd;
    a->events = events;
    if (events == 0 || a->io)
        return;
    short what = (short)(EV_PERSIST | (events & RK_WANT_READ ? EV_READ : 0) |
                         (events & RK_WANT_WRITE ? EV_WRITE : 0));
    a->io = event_new(a->base, fd, what, rk_libevent_io, a);
    if (a->io)
        event_add(a->io, NULL);
}

static void rk_libevent_timer(void *data, int64_t delay_ms) {
    rk_libevent *a = (rk_libevent *)data;
    if (delay_ms < 0) {
        event_del(a->timer);
        return;
    }
    struct timeval tv;
    tv.tv_sec = (time_t)(delay_ms / 1000);
    tv.tv_usec = (suseconds_t)(delay_ms % 1000) * 1000;
    event_add(a->timer, &tv);
}

static void rk_libevent_detach(void *data) {
    rk_libevent *a = (rk_libevent *)data;
    if (a->io)
        event_free(a->io);
    event_free(a->timer);
    a->io = a->timer = NULL;
    a->dead = 1;
    rk_libevent_release(a);
}

static inline int rk_libevent_attach(rk_async *ac, struct event_base *base);

static int rk_libevent_attach_other(void *data, rk_async *other) {
    return rk_libevent_attach(other, ((rk_libevent *)data)->base);
}

/** @endcond */

/** Attaches ac to base. RK_OK, RK_ENOMEM, or rk_async_attach's refusal. */
static inline int rk_libevent_attach(rk_async *ac, struct event_base *base) {
    static const rk_loop_ops ops = {rk_libevent_watch, rk_libevent_timer, NULL, rk_libevent_detach,
                                    rk_libevent_attach_other};
    rk_libevent *a = (rk_libevent *)rk_calloc(1, sizeof(*a));
    if (a == NULL)
        return RK_ENOMEM;
    a->ac = ac;
    a->base = base;
    a->fd = -1;
    a->timer = evtimer_new(base, rk_libevent_fire, a);
    if (a->timer == NULL) {
        rk_free(a);
        return RK_ENOMEM;
    }
    int rc = rk_async_attach(ac, &ops, a);
    if (rc != RK_OK) {
        event_free(a->timer);
        rk_free(a);
    }
    return rc;
}

#endif
