/* The event loops the async suite runs on, one source file each (libevent
 * and libev cannot share a file: libevent's EV_READ/EV_WRITE macros
 * override libev's names). Each kind drives its loop the same way: a
 * client attached, and one iteration at a time that waits at most
 * RKT_LOOP_TICK_MS. */
#ifndef RKT_ASYNC_LOOPS_H
#define RKT_ASYNC_LOOPS_H

#include "rediskit/async.h"

#define RKT_LOOP_TICK_MS 10

typedef struct rkt_loop_kind {
    const char *name;
    void *(*create)(void);                   /* NULL when it cannot be made */
    int (*attach)(void *loop, rk_async *ac); /* the adapter's attach */
    int (*run_once)(void *loop);             /* 0, or -1 when the loop failed */
    void (*destroy)(void *loop);             /* after the clients are freed */
} rkt_loop_kind;

extern const rkt_loop_kind rkt_loop_builtin, rkt_loop_builtin_poll, rkt_loop_libevent,
    rkt_loop_libuv, rkt_loop_libev;

/* Every kind above, NULL-terminated. */
extern const rkt_loop_kind *const rkt_loop_kinds[];

#endif
