/* The connection pool: a counted set of slots and a stack of idle
 * connections, under one mutex, with a condition variable for waiters.
 *
 * Fork safety: a pthread_atfork child handler bumps a global generation.
 * A pool from an older generation is reset on its next use in the child:
 * its lock is made anew (it may have been held by a thread that does not
 * exist in the child) and its idle connections are closed without a word
 * to the server (closing the child's copy of a socket does not disturb the
 * parent, and no TLS close_notify is sent). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "client/pool.h"
#include "conn/conn_int.h"
#include "util/common.h"

static atomic_uint fork_generation;
static pthread_mutex_t fork_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void) {
    pthread_mutex_init(&fork_lock, NULL);
    atomic_fetch_add(&fork_generation, 1);
}

static void install_fork_handler(void) {
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

/* Makes the pool's condition variable and lock; on failure neither is
 * left made. RK_ENOMEM (the system refused the resources). */
static int init_sync(rk_pool *p) {
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return rk_fail(RK_ENOMEM, "cannot create the pool's condition variable");
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0)
        return rk_fail(RK_ENOMEM, "cannot create the pool's condition variable");
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        pthread_cond_destroy(&p->cv);
        return rk_fail(RK_ENOMEM, "cannot create the pool's lock");
    }
    return RK_OK;
}

int rk_pool_init(rk_pool *p, size_t max) {
    pthread_once(&fork_once, install_fork_handler);
    memset(p, 0, sizeof(*p));
    p->max = max;
    p->idle = rk_calloc(max, sizeof(*p->idle));
    if (p->idle == NULL)
        return rk_fail(RK_ENOMEM, "out of memory creating a pool of %zu", max);
    p->generation = atomic_load(&fork_generation);
    int rc = init_sync(p);
    if (rc != RK_OK)
        rk_free(p->idle);
    return rc;
}

static void close_idle(rk_pool *p) {
    for (size_t i = 0; i < p->nidle; i++)
        rk_conn_free(p->idle[i]);
    p->stats.closed += p->nidle;
    p->nidle = 0;
}

void rk_pool_destroy(rk_pool *p) {
    close_idle(p);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    rk_free(p->idle);
}

/* In a forked child, forgets everything the parent had. When the lock
 * cannot be made anew the pool stays of the old generation, unusable:
 * returns RK_ENOMEM, and the next use tries again. */
RK_HOT static int reset_if_forked(rk_pool *p) {
    unsigned gen = atomic_load(&fork_generation);
    if (RK_LIKELY(__atomic_load_n(&p->generation, __ATOMIC_ACQUIRE) == gen))
        return RK_OK;
    int rc = RK_OK;
    pthread_mutex_lock(&fork_lock);
    if (p->generation != gen && (rc = init_sync(p)) == RK_OK) {
        close_idle(p);
        p->open = 0;
        p->stats.in_use = 0;
        __atomic_store_n(&p->generation, gen, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&fork_lock);
    return rc;
}

/* Waits on the pool's condition until deadline (a CLOCK_MONOTONIC time);
 * returns false once it passed. Called with the lock held. */
static bool wait_until(rk_pool *p, const struct timespec *deadline) {
    if (deadline == NULL) {
        pthread_cond_wait(&p->cv, &p->mu);
        return true;
    }
    return pthread_cond_timedwait(&p->cv, &p->mu, deadline) != ETIMEDOUT;
}

static struct timespec deadline_after(int ms) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

RK_HOT int rk_pool_take(rk_pool *p, int timeout_ms, rk_conn **out) {
    *out = NULL;
    int rc = reset_if_forked(p);
    if (rc != RK_OK)
        return rc;
    struct timespec dl, *deadline = NULL;
    bool waited = false;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->nidle > 0) {
            *out = p->idle[--p->nidle];
            break;
        }
        if (p->open < p->max) {
            p->open++;
            break;
        }
        if (!waited) {
            waited = true;
            p->stats.waits++;
            if (timeout_ms >= 0) {
                dl = deadline_after(timeout_ms);
                deadline = &dl;
            }
        }
        p->waiting++;
        bool woken = wait_until(p, deadline);
        p->waiting--;
        if (!woken && p->nidle == 0 && p->open >= p->max) {
            p->stats.timeouts++;
            pthread_mutex_unlock(&p->mu);
            return rk_fail(RK_EPOOL, "no connection became free within %d ms (pool of %zu)",
                           timeout_ms, p->max);
        }
    }
    p->stats.in_use++;
    pthread_mutex_unlock(&p->mu);
    return RK_OK;
}

/* A connection made before a fork, given back in the child: the child
 * closes its copy and counts nothing (the slot was forgotten at reset).
 * A pool that could not be reset cannot have lent anything since. */
static bool from_before_fork(rk_pool *p, rk_conn *conn) {
    if (reset_if_forked(p) == RK_OK && (conn == NULL || rk_conn_tag(conn) == p->generation))
        return false;
    rk_conn_free(conn);
    return true;
}

RK_HOT void rk_pool_put(rk_pool *p, rk_conn *conn) {
    if (from_before_fork(p, conn))
        return;
    pthread_mutex_lock(&p->mu);
    p->idle[p->nidle++] = conn;
    p->stats.in_use--;
    if (p->waiting > 0)
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void rk_pool_drop(rk_pool *p, rk_conn *conn) {
    if (from_before_fork(p, conn))
        return;
    pthread_mutex_lock(&p->mu);
    p->open--;
    p->stats.in_use--;
    if (conn)
        p->stats.closed++;
    if (p->waiting > 0)
        pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    rk_conn_free(conn);
}

void rk_pool_created(rk_pool *p, rk_conn *conn) {
    rk_conn_set_tag(conn, p->generation);
    pthread_mutex_lock(&p->mu);
    p->stats.created++;
    pthread_mutex_unlock(&p->mu);
}

void rk_pool_get_stats(rk_pool *p, rk_pool_stats *out) {
    if (reset_if_forked(p) != RK_OK) {
        *out = (rk_pool_stats){0};
        return;
    }
    pthread_mutex_lock(&p->mu);
    *out = p->stats;
    out->idle = p->nidle;
    pthread_mutex_unlock(&p->mu);
}

bool rk_pool_conn_forked(const rk_conn *conn) {
    return rk_conn_tag(conn) != atomic_load(&fork_generation);
}

unsigned rk_fork_generation(void) {
    return atomic_load(&fork_generation);
}

void rk_mutex_after_fork(pthread_mutex_t *mu, unsigned *generation) {
    unsigned gen = atomic_load(&fork_generation);
    if (RK_LIKELY(__atomic_load_n(generation, __ATOMIC_ACQUIRE) == gen))
        return;
    pthread_mutex_lock(&fork_lock);
    if (*generation != gen) {
        pthread_mutex_init(mu, NULL);
        __atomic_store_n(generation, gen, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&fork_lock);
}
