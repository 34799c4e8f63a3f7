/* Retry pacing shared by every layer that retries: the synchronous client,
 * pub/sub's reconnect and the async client's (rk_backoff_delay itself is
 * public, in options.h). */
#ifndef RK_UTIL_BACKOFF_H
#define RK_UTIL_BACKOFF_H

#include <stdbool.h>

#include "rediskit/options.h"

/* Before retry number `attempt` (1 for the first): takes the next delay of
 * the policy into *delay (given the previous one there), tells on_retry,
 * and sleeps it. error is what made the attempt fail. */
void rk_retry_pause(const rk_retry *policy, int attempt, int *delay, unsigned *seed, int error);

/* Failures of the connection rather than of the command (I/O error,
 * timeout, refused, closed): the ones a retry may cure. */
bool rk_connection_failure(int rc);

#endif
