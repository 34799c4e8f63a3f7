/* Internal: the connection pool behind rk_client.
 *
 * The pool only keeps count and keeps idle connections; making, checking
 * and closing them is the client's job. Its lock is held just long enough
 * to take or give back one connection. After fork() the child's pool starts
 * empty (the parent's sockets are never used by the child). */
#ifndef RK_POOL_H
#define RK_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "rediskit/client.h"

#pragma GCC visibility push(hidden)

typedef struct rk_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a connection or slot frees up */
    rk_conn **idle;    /* LIFO: the most recently used is taken first */
    size_t nidle;
    size_t open; /* connections counted against max: idle, in use,
                    and being opened */
    size_t max;
    size_t waiting;      /* threads blocked in rk_pool_take */
    unsigned generation; /* fork generation the pool belongs to */
    rk_pool_stats stats;
} rk_pool;

/* Makes an empty pool of at most max connections. RK_ENOMEM, with
 * nothing left allocated or initialised. */
int rk_pool_init(rk_pool *pool, size_t max);

/* Closes the idle connections and frees the pool; none may be in use. */
void rk_pool_destroy(rk_pool *pool);

/* Takes an idle connection (*out set) or a free slot to open a new one in
 * (*out NULL; the caller must rk_pool_put a connection or rk_pool_drop the
 * slot). Waits up to timeout_ms (negative: forever) when the pool is full:
 * RK_EPOOL then. RK_ENOMEM in a forked child whose pool lock could not be
 * made anew (tried again at the next call). */
int rk_pool_take(rk_pool *pool, int timeout_ms, rk_conn **out);

/* Gives back a healthy connection, to be reused. */
void rk_pool_put(rk_pool *pool, rk_conn *conn);

/* Gives back a slot whose connection is broken or was never made; frees
 * conn (may be NULL). */
void rk_pool_drop(rk_pool *pool, rk_conn *conn);

/* Counts a new connection made in a slot from rk_pool_take, and marks it
 * as the pool's. */
void rk_pool_created(rk_pool *pool, rk_conn *conn);

void rk_pool_get_stats(rk_pool *pool, rk_pool_stats *out);

/* The fork generation of this process: bumped in a child at fork(). */
unsigned rk_fork_generation(void);

/* Makes mu anew when *generation is older than this process's: in a forked
 * child a lock of the parent's may be held by a thread that does not exist
 * there, and would stay held for ever. Call before locking mu. */
void rk_mutex_after_fork(pthread_mutex_t *mu, unsigned *generation);

/* Whether conn, made by a pool, was made before a fork() of this process:
 * in a child, a connection of its parent's, whose socket the child must
 * not write to or read from. */
bool rk_pool_conn_forked(const rk_conn *conn);

#pragma GCC visibility pop

#endif
