/* The delay before a retry, for each kind of rk_backoff, with the formulas
 * of AWS's "Exponential Backoff And Jitter". Pure arithmetic on the policy
 * and a seed the caller owns, so any number of threads may call it at once.
 * Zero or negative base and cap mean the defaults; an attempt below 1
 * counts as the first; an unknown kind is the default (equal jitter). */
#include <limits.h>
#include <stdint.h>

#include "util/backoff.h"
#include "util/common.h"

static int positive_or(int v, int fallback) {
    return v > 0 ? v : fallback;
}

/* The next number from the seed: a 32-bit LCG step (full period, so no
 * seed is stuck) with a murmur3 finaliser, so that nearby seeds such as 1,
 * 2, 3 still give unrelated first values. */
static uint32_t next_random(unsigned *seed) {
    uint32_t x = (uint32_t)*seed * 747796405u + 2891336453u;
    *seed = x;
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
}

/* Uniform in [lo, hi] (lo <= hi), by multiply-and-shift. */
static int random_between(unsigned *seed, int lo, int hi) {
    uint64_t range = (uint64_t)((int64_t)hi - lo + 1);
    return lo + (int)(((uint64_t)next_random(seed) * range) >> 32);
}

/* min(cap, base * 2^(attempt - 1)), doubling only while under the cap so
 * that no attempt number can overflow. */
static int exponential(int base, int cap, int attempt) {
    int64_t d = base;
    for (int i = 1; i < attempt && d < cap; i++)
        d *= 2;
    return (int)RK_MIN(d, (int64_t)cap);
}

/* min(cap, random in [base, max(base, 3 * previous)]); previous 0: base. */
static int decorrelated(int base, int cap, int previous, unsigned *seed) {
    int64_t hi = (int64_t)(previous > 0 ? previous : base) * 3;
    hi = RK_MIN(RK_MAX(hi, (int64_t)base), (int64_t)INT_MAX);
    int d = random_between(seed, base, (int)hi);
    return RK_MIN(d, cap);
}

int rk_backoff_delay(const rk_retry *policy, int attempt, int previous_ms, unsigned *seed) {
    static _Thread_local unsigned own_seed; /* when the caller passes none */
    static const rk_retry defaults;
    const rk_retry *p = policy ? policy : &defaults;
    int base = positive_or(p->base_ms, RK_DEFAULT_RETRY_BASE_MS);
    int cap = positive_or(p->cap_ms, RK_DEFAULT_RETRY_CAP_MS);
    int exp = exponential(base, cap, RK_MAX(attempt, 1));
    if (seed == NULL)
        seed = &own_seed;
    switch (p->backoff) {
    case RK_BACKOFF_NONE: return 0;
    case RK_BACKOFF_CONSTANT: return RK_MIN(base, cap);
    case RK_BACKOFF_EXPONENTIAL: return exp;
    case RK_BACKOFF_FULL_JITTER: return random_between(seed, 0, exp);
    case RK_BACKOFF_DECORRELATED_JITTER: return decorrelated(base, cap, previous_ms, seed);
    case RK_BACKOFF_DEFAULT:
    case RK_BACKOFF_EQUAL_JITTER:
    default: return exp / 2 + random_between(seed, 0, exp - exp / 2);
    }
}

void rk_retry_pause(const rk_retry *policy, int attempt, int *delay, unsigned *seed, int error) {
    *delay = rk_backoff_delay(policy, attempt, *delay, seed);
    if (policy->on_retry)
        policy->on_retry(policy->userdata, attempt + 1, *delay, error);
    if (*delay > 0)
        rk_sleep_ms(*delay);
}

RK_HOT bool rk_connection_failure(int rc) {
    return rc == RK_EIO || rc == RK_ETIMEOUT || rc == RK_ECONNECT || rc == RK_ECLOSED;
}
