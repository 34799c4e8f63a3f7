/** @file rediskit/adapters/libuv.h
 * rediskit: an async client on a libuv loop (header-only).
 *
 *     uv_loop_t *loop = uv_default_loop();
 *     rk_libuv_attach(ac, loop);
 *     uv_run(loop, UV_RUN_DEFAULT);
 *
 * A uv_poll_t for the client's fd (a new one when the fd changes: libuv
 * binds a poll handle to one fd), a uv_timer_t, and a uv_async_t for
 * rk_async_post. Handles close asynchronously, so the adapter's memory goes
 * with the last close callback. Link with -luv. */
#ifndef RK_ADAPTERS_LIBUV_H
#define RK_ADAPTERS_LIBUV_H

#include <uv.h>

#include "../alloc.h"
#include "../async.h"
#include "../conn.h"
#include "../error.h"

/** @cond INTERNAL (the adapter's state and glue) */
typedef struct rk_libuv {
    uv_timer_t timer;
    uv_async_t wake;
    int open_handles; /* the adapter is freed when both have closed */
    uv_loop_t *loop;
    uv_poll_t *poll;
    int fd;
    rk_async *ac;
    int dead;
} rk_libuv;

static void rk_libuv_free_handle(uv_handle_t *h) {
    rk_free(h);
}

static void rk_libuv_free_adapter(uv_handle_t *h) {
    rk_libuv *a = (rk_libuv *)h->data;
    if (--a->open_handles == 0)
        rk_free(a);
}

static void rk_libuv_woken(uv_async_t *h) {
    rk_libuv *a = (rk_libuv *)h->data;
    if (!a->dead)
        rk_async_on_wake(a->ac);
}

static void rk_libuv_wake(void *data) {
    uv_async_send(&((rk_libuv *)data)->wake);
}

static void rk_libuv_io(uv_poll_t *h, int status, int events) {
    rk_libuv *a = (rk_libuv *)h->data;
    if (status < 0) /* an error on the fd: let the client read it */
        events = UV_READABLE | UV_WRITABLE;
    if (events & UV_READABLE)
        rk_async_on_readable(a->ac);
    if (!a->dead && a->poll == h && (events & UV_WRITABLE))
        rk_async_on_writable(a->ac);
}

static void rk_libuv_fire(uv_timer_t *t) {
    rk_libuv *a = (rk_libuv *)t->data;
    rk_async_on_timer(a->ac);
}

static void rk_libuv_close_poll(rk_libuv *a) {
    if (a->poll)
        uv_close((uv_handle_t *)a->poll, rk_libuv_free_handle);
    a->poll = NULL;
    a->fd = -1;
}

static void rk_libuv_watch(void *data, int fd, int events) {
    rk_libuv *a = (rk_libuv *)data;
    if (events == 0 || fd != a->fd)
        rk_libuv_close_poll(a);
    if (events == 0)
        return;
    if (a->poll == NULL) {
        a->poll = (uv_poll_t *)rk_malloc(sizeof(uv_poll_t));
        if (a->poll == NULL)
            return;
        if (uv_poll_init_socket(a->loop, a->poll, fd) != 0) {
            rk_free(a->poll);
            a->poll = NULL;
            return;
        }
        a->poll->data = a;
        a->fd = fd;
    }
    uv_poll_start(a->poll,
                  (events & RK_WANT_READ ? UV_READABLE : 0) |
                      (events & RK_WANT_WRITE ? UV_WRITABLE : 0),
                  rk_libuv_io);
}

static void rk_libuv_timer(void *data, int64_t delay_ms) {
    rk_libuv *a = (rk_libuv *)data;
    if (delay_ms < 0)
        uv_timer_stop(&a->timer);
    else
        uv_timer_start(&a->timer, rk_libuv_fire, (uint64_t)delay_ms, 0);
}

static void rk_libuv_detach(void *data) {
    rk_libuv *a = (rk_libuv *)data;
    rk_libuv_close_poll(a);
    a->dead = 1;
    uv_close((uv_handle_t *)&a->timer, rk_libuv_free_adapter);
    uv_close((uv_handle_t *)&a->wake, rk_libuv_free_adapter);
}

static inline int rk_libuv_attach(rk_async *ac, uv_loop_t *loop);

static int rk_libuv_attach_other(void *data, rk_async *other) {
    return rk_libuv_attach(other, ((rk_libuv *)data)->loop);
}

/** @endcond */

/** Attaches ac to loop. RK_OK, RK_ENOMEM, or rk_async_attach's refusal. */
static inline int rk_libuv_attach(rk_async *ac, uv_loop_t *loop) {
    static const rk_loop_ops ops = {rk_libuv_watch, rk_libuv_timer, rk_libuv_wake, rk_libuv_detach,
                                    rk_libuv_attach_other};
    rk_libuv *a = (rk_libuv *)rk_calloc(1, sizeof(*a));
    if (a == NULL)
        return RK_ENOMEM;
    a->loop = loop;
    a->ac = ac;
    a->fd = -1;
    uv_timer_init(loop, &a->timer);
    uv_async_init(loop, &a->wake, rk_libuv_woken);
    a->timer.data = a->wake.data = a;
    a->open_handles = 2;
    int rc = rk_async_attach(ac, &ops, a);
    if (rc != RK_OK) {
        uv_close((uv_handle_t *)&a->timer, rk_libuv_free_adapter);
        uv_close((uv_handle_t *)&a->wake, rk_libuv_free_adapter);
    }
    return rc;
}

#endif
