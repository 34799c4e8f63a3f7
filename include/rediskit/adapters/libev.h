/** @file rediskit/adapters/libev.h
 * rediskit: an async client on a libev loop (header-only).
 *
 *     struct ev_loop *loop = EV_DEFAULT;
 *     rk_libev_attach(ac, loop);
 *     ev_run(loop, 0);
 *
 * One ev_io for the client's fd, one ev_timer, and an ev_async for
 * rk_async_post. libev's timers count
 * from the loop's cached time; one that fires early is harmless (the
 * client arms it again). Link with -lev. *
 * libevent's EV_READ/EV_WRITE macros clash with libev's names: do not
 * include this header and libevent.h in one source file.
 */
#ifndef RK_ADAPTERS_LIBEV_H
#define RK_ADAPTERS_LIBEV_H

#include <ev.h>

#include "../alloc.h"
#include "../async.h"
#include "../conn.h"
#include "../error.h"

/** @cond INTERNAL (the adapter's state and glue) */
typedef struct rk_libev {
    ev_io io; /* first: the watcher's address is the adapter's */
    ev_timer timer;
    ev_async wake;
    struct ev_loop *loop;
    rk_async *ac;
    int busy, dead;
} rk_libev;

static void rk_libev_release(rk_libev *a) {
    if (a->busy == 0)
        rk_free(a);
}

static void rk_libev_io(struct ev_loop *loop, ev_io *w, int revents) {
    rk_libev *a = (rk_libev *)w->data;
    (void)loop;
    a->busy++;
    if (revents & (EV_READ | EV_ERROR))
        rk_async_on_readable(a->ac);
    if (!a->dead && (revents & (EV_WRITE | EV_ERROR)))
        rk_async_on_writable(a->ac);
    a->busy--;
    if (a->dead)
        rk_libev_release(a);
}

static void rk_libev_fire(struct ev_loop *loop, ev_timer *w, int revents) {
    rk_libev *a = (rk_libev *)w->data;
    (void)loop, (void)revents;
    a->busy++;
    rk_async_on_timer(a->ac);
    a->busy--;
    if (a->dead)
        rk_libev_release(a);
}

static void rk_libev_woken(struct ev_loop *loop, ev_async *w, int revents) {
    rk_libev *a = (rk_libev *)w->data;
    (void)loop, (void)revents;
    a->busy++;
    rk_async_on_wake(a->ac);
    a->busy--;
    if (a->dead)
        rk_libev_release(a);
}

static void rk_libev_wake(void *data) {
    rk_libev *a = (rk_libev *)data;
    ev_async_send(a->loop, &a->wake);
}

static void rk_libev_watch(void *data, int fd, int events) {
    rk_libev *a = (rk_libev *)data;
    ev_io_stop(a->loop, &a->io);
    if (events == 0)
        return;
    ev_io_set(&a->io, fd,
              (events & RK_WANT_READ ? EV_READ : 0) | (events & RK_WANT_WRITE ? EV_WRITE : 0));
    ev_io_start(a->loop, &a->io);
}

static void rk_libev_timer(void *data, int64_t delay_ms) {
    rk_libev *a = (rk_libev *)data;
    ev_timer_stop(a->loop, &a->timer);
    if (delay_ms < 0)
        return;
    ev_timer_set(&a->timer, (ev_tstamp)delay_ms / 1000.0, 0.);
    ev_timer_start(a->loop, &a->timer);
}

static void rk_libev_detach(void *data) {
    rk_libev *a = (rk_libev *)data;
    ev_io_stop(a->loop, &a->io);
    ev_timer_stop(a->loop, &a->timer);
    ev_async_stop(a->loop, &a->wake);
    a->dead = 1;
    rk_libev_release(a);
}

static inline int rk_libev_attach(rk_async *ac, struct ev_loop *loop);

static int rk_libev_attach_other(void *data, rk_async *other) {
    return rk_libev_attach(other, ((rk_libev *)data)->loop);
}

/** @endcond */

/** Attaches ac to loop. RK_OK, RK_ENOMEM, or rk_async_attach's refusal. */
static inline int rk_libev_attach(rk_async *ac, struct ev_loop *loop) {
    static const rk_loop_ops ops = {rk_libev_watch, rk_libev_timer, rk_libev_wake, rk_libev_detach,
                                    rk_libev_attach_other};
    rk_libev *a = (rk_libev *)rk_calloc(1, sizeof(*a));
    if (a == NULL)
        return RK_ENOMEM;
    a->loop = loop;
    a->ac = ac;
    ev_io_init(&a->io, rk_libev_io, -1, 0);
    ev_timer_init(&a->timer, rk_libev_fire, 0., 0.);
    ev_async_init(&a->wake, rk_libev_woken);
    a->io.data = a->timer.data = a->wake.data = a;
    ev_async_start(loop, &a->wake);
    int rc = rk_async_attach(ac, &ops, a);
    if (rc != RK_OK) {
        ev_async_stop(loop, &a->wake);
        rk_free(a);
    }
    return rc;
}

#endif
