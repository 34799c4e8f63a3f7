/* Internal: delayed calls on an async client's loop, for the layers above
 * the engine that must try again later without blocking (the async lock's
 * acquire with a wait). They ride on the client's one timer. */
#ifndef RK_ASYNC_LATER_H
#define RK_ASYNC_LATER_H

#include <stdint.h>

#include "rediskit/async.h"

#pragma GCC visibility push(hidden)

/* status RK_OK: the delay passed (on the loop's thread, from its timer);
 * RK_ECANCELED: the client is being freed (from inside rk_async_free). */
typedef void (*rk_async_later_fn)(rk_async *ac, int status, void *userdata);

/* Calls fn once, delay_ms from now (0 or less: at the next timer), or at
 * the client's free. Returns an id (> 0) for rk_async_later_cancel, or
 * RK_ENOMEM, or RK_ECLOSED once the client is being freed (fn never
 * runs). While the client is detached from its loop nothing fires. */
int64_t rk_async_later(rk_async *ac, int delay_ms, rk_async_later_fn fn, void *userdata);

/* Drops a delayed call that has not run: fn will not. RK_OK, or
 * RK_EINVAL when id names none (it ran, or was dropped). */
int rk_async_later_cancel(rk_async *ac, int64_t id);

#pragma GCC visibility pop

#endif
