/* A counting allocator for tests.
 *
 * rkt_alloc_install() puts it in front of the C library's allocator with
 * rk_set_allocator(): it counts every call and the blocks still live, and
 * can be told to fail an allocation, for out-of-memory tests, and it
 * keeps the peak of the bytes live, for memory bounds. Single
 * threaded use only; the counters start at zero on each install. */
#ifndef RKT_ALLOC_H
#define RKT_ALLOC_H

#include <stddef.h>

/** What the counting allocator has seen since it was installed. */
typedef struct rkt_alloc_stats {
    size_t mallocs;  /**< rk_malloc calls, failed ones included */
    size_t callocs;  /**< rk_calloc calls, failed ones included */
    size_t reallocs; /**< rk_realloc calls, failed ones included */
    size_t frees;    /**< rk_free calls with a non-NULL pointer */
    size_t failed;   /**< allocations refused on purpose */
    size_t largest;  /**< bytes of the largest single request */
    long live;       /**< blocks handed out and not yet freed */
    long long bytes; /**< usable bytes of those blocks (malloc_usable_size) */
    long long peak;  /**< most bytes live at once; a moving realloc counts
                          its old and new blocks together */
} rkt_alloc_stats;

/** Installs the counting allocator and zeroes its counters. */
void rkt_alloc_install(void);

/** Restores the C library's allocator. Blocks the counting allocator gave
 *  may still be freed afterwards: both end in the same malloc. */
void rkt_alloc_uninstall(void);

/** A copy of the counters. */
rkt_alloc_stats rkt_alloc_stats_now(void);

/** Allocation calls (malloc + calloc + realloc) so far. */
size_t rkt_alloc_calls(void);

/** Blocks handed out and not yet freed. */
long rkt_alloc_live(void);

/** cmocka fixtures: the setup installs the allocator; the teardown
 *  uninstalls it and fails the test (returns -1, after saying how many on
 *  stderr) when blocks are still live. Use them as a pair:
 *  cmocka_unit_test_setup_teardown(test, rkt_alloc_setup, rkt_alloc_teardown). */
int rkt_alloc_setup(void **state);
int rkt_alloc_teardown(void **state);

/** Makes the nth allocation call from now fail (1 = the next one), once;
 *  0 cancels a pending failure. A failing realloc leaves its block alone. */
void rkt_alloc_fail_nth(size_t n);

#endif
