/** @file rediskit/adapters/libevent.h
 * rediskit: an async client on a libevent event_base (header-only).
 *
 *     struct event_base *base = event_base_new();
 *     rk_libevent_attach(ac, base);
 *     event_base_dispatch(base);
 *
 * One persistent event for the client's fd (replaced when the fd or the
 * events change) and one timer event. rk_async_post wakes the loop
 * without evthread: through a non-blocking pipe whose read end a
 * persistent event on the base watches; a wake writes one byte, only when
 * none is waiting already. (Dedicated connections, attached by the client
 * itself, get no pipe: nothing is posted to them.) Link with -levent (or
 * -levent_core).
 *
 * libevent.h defines EV_READ and EV_WRITE as macros that clash with libev's
 * names: do not include this header and libev.h in one source file.
 */
#ifndef RK_ADAPTERS_LIBEVENT_H
#define RK_ADAPTERS_LIBEVENT_H

#include <event2/event.h>
#include <fcntl.h>
#include <unistd.h>

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
    struct event *wake_ev;
    int wake_rd, wake_wr; /* the wake pipe's ends, -1 without */
    int signalled;        /* a byte waits in the pipe (atomic: any thread sets it) */
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

/* The wake pipe is readable: drain it, then take in what was posted. The
 * flag is cleared first, so a wake that comes meanwhile writes again. */
static void rk_libevent_woken(evutil_socket_t fd, short what, void *arg) {
    rk_libevent *a = (rk_libevent *)arg;
    char buf[64];
    (void)what;
    __atomic_store_n(&a->signalled, 0, __ATOMIC_SEQ_CST);
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    a->busy++;
    rk_async_on_wake(a->ac);
    a->busy--;
    if (a->dead)
        rk_libevent_release(a);
}

/* From any thread (the client holds its lock, so detach cannot run
 * meanwhile): one byte, unless one waits already. */
static void rk_libevent_wake(void *data) {
    rk_libevent *a = (rk_libevent *)data;
    if (__atomic_exchange_n(&a->signalled, 1, __ATOMIC_SEQ_CST) == 0) {
        char one = 1;
        ssize_t n = write(a->wake_wr, &one, 1);
        (void)n; /* full (it cannot be: one byte at most) or closed: nothing to do */
    }
}

static void rk_libevent_close_wake(rk_libevent *a) {
    if (a->wake_ev)
        event_free(a->wake_ev);
    if (a->wake_rd >= 0)
        close(a->wake_rd);
    if (a->wake_wr >= 0)
        close(a->wake_wr);
    a->wake_ev = NULL;
    a->wake_rd = a->wake_wr = -1;
}

/* Makes the wake pipe (both ends non-blocking, close-on-exec) and its
 * persistent event. RK_OK, RK_EIO (no pipe) or RK_ENOMEM. */
static int rk_libevent_open_wake(rk_libevent *a) {
    int fds[2];
    if (pipe(fds) != 0)
        return RK_EIO;
    a->wake_rd = fds[0];
    a->wake_wr = fds[1];
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) != 0 ||
            fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0) {
            rk_libevent_close_wake(a);
            return RK_EIO;
        }
    }
    a->wake_ev = event_new(a->base, a->wake_rd, EV_READ | EV_PERSIST, rk_libevent_woken, a);
    if (a->wake_ev == NULL || event_add(a->wake_ev, NULL) != 0) {
        rk_libevent_close_wake(a);
        return RK_ENOMEM;
    }
    return RK_OK;
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
    rk_libevent_close_wake(a);
    a->dead = 1;
    rk_libevent_release(a);
}

static int rk_libevent_attach_with(rk_async *ac, struct event_base *base, int wakeable);

/* A dedicated connection: nothing is ever posted to it, so no pipe. */
static int rk_libevent_attach_other(void *data, rk_async *other) {
    return rk_libevent_attach_with(other, ((rk_libevent *)data)->base, 0);
}

static int rk_libevent_attach_with(rk_async *ac, struct event_base *base, int wakeable) {
    static const rk_loop_ops ops = {rk_libevent_watch, rk_libevent_timer, rk_libevent_wake,
                                    rk_libevent_detach, rk_libevent_attach_other};
    static const rk_loop_ops ops_no_wake = {rk_libevent_watch, rk_libevent_timer, NULL,
                                            rk_libevent_detach, rk_libevent_attach_other};
    rk_libevent *a = (rk_libevent *)rk_calloc(1, sizeof(*a));
    if (a == NULL)
        return RK_ENOMEM;
    a->ac = ac;
    a->base = base;
    a->fd = a->wake_rd = a->wake_wr = -1;
    a->timer = evtimer_new(base, rk_libevent_fire, a);
    int rc = a->timer ? RK_OK : RK_ENOMEM;
    if (rc == RK_OK && wakeable)
        rc = rk_libevent_open_wake(a);
    if (rc == RK_OK)
        rc = rk_async_attach(ac, wakeable ? &ops : &ops_no_wake, a);
    if (rc != RK_OK) {
        rk_libevent_close_wake(a);
        if (a->timer)
            event_free(a->timer);
        rk_free(a);
    }
    return rc;
}

/** @endcond */

/** Attaches ac to base. RK_OK, RK_ENOMEM, RK_EIO (no pipe for
 *  rk_async_post's wake-ups), or rk_async_attach's refusal. */
static inline int rk_libevent_attach(rk_async *ac, struct event_base *base) {
    return rk_libevent_attach_with(ac, base, 1);
}

#endif
