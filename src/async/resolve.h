/* Name resolution that never blocks the loop: getaddrinfo runs on a
 * detached thread of its own, and the loop polls for the answer (the async
 * client polls from its timer, bounded by the connect timeout). A job the
 * client gives up on is abandoned: the thread frees it when getaddrinfo
 * returns, so nothing waits for a slow resolver. */
#ifndef RK_ASYNC_RESOLVE_H
#define RK_ASYNC_RESOLVE_H

#include <stdbool.h>

#pragma GCC visibility push(hidden)

/* The most addresses kept per name, and the longest numeric address. */
#define RK_RESOLVE_MAX 8
#define RK_ADDR_MAX 64

typedef struct rk_resolve rk_resolve;

/* Whether host is a numeric IPv4 or IPv6 address (no resolution needed). */
bool rk_resolve_is_numeric(const char *host);

/* Starts resolving host (TCP): the job, or NULL with rk_error_last()
 * (RK_ENOMEM, or RK_ERESOLVE when no thread can be started). */
rk_resolve *rk_resolve_start(const char *host);

/* RK_EAGAIN while the thread runs; then RK_OK with up to RK_RESOLVE_MAX
 * numeric addresses copied into addrs and their count in *n, or the
 * failure (RK_ERESOLVE, RK_ENOMEM) recorded with rk_fail. The job is done
 * with once this returned anything but RK_EAGAIN: free it with
 * rk_resolve_abandon. */
int rk_resolve_poll(rk_resolve *r, char addrs[][RK_ADDR_MAX], int *n);

/* Gives the job up, finished or not; NULL is allowed. */
void rk_resolve_abandon(rk_resolve *r);

#pragma GCC visibility pop

#endif
