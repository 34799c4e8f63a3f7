/* Monotonic time for deadlines and timeouts. */
#define _GNU_SOURCE /* CLOCK_MONOTONIC_COARSE */
#include <errno.h>
#include <time.h>

#include "util/common.h"

int64_t rk_now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

RK_HOT int64_t rk_now_ms(void) {
    return rk_now_us() / 1000;
}

RK_HOT int64_t rk_now_ms_coarse(void) {
#ifdef CLOCK_MONOTONIC_COARSE
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#else
    return rk_now_ms();
#endif
}

/* Sleeps the whole time even when signals interrupt it; ms <= 0 returns at
 * once. Only EINTR is retried: any other failure would fail again. */
void rk_sleep_ms(int ms) {
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}
