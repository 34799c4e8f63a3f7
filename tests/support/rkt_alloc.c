/* The counting allocator behind rkt_alloc.h: thin wrappers around the C
 * library's functions that count calls and live blocks, and refuse the
 * one allocation a test asked to fail. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "rediskit/alloc.h"
#include "rkt_alloc.h"

static rkt_alloc_stats stats;
static size_t fail_countdown; /* 0: never fail; 1: fail the next call */

/* Counts an allocation call of size bytes; true when this one must fail. */
static int must_fail(size_t *counter, size_t size) {
    (*counter)++;
    if (size > stats.largest)
        stats.largest = size;
    if (fail_countdown == 0 || --fail_countdown > 0)
        return 0;
    stats.failed++;
    return 1;
}

/* Adds a block's bytes to the live count (negative n takes them off). */
static void count_bytes(long long n) {
    stats.bytes += n;
    if (stats.bytes > stats.peak)
        stats.peak = stats.bytes;
}

static void count_free(void *ptr) {
    if (ptr == NULL)
        return;
    stats.frees++;
    stats.live--;
    count_bytes(-(long long)malloc_usable_size(ptr));
    free(ptr);
}

static void *count_malloc(size_t size) {
    if (must_fail(&stats.mallocs, size))
        return NULL;
    void *p = malloc(size);
    if (p) {
        stats.live++;
        count_bytes((long long)malloc_usable_size(p));
    }
    return p;
}

static void *count_calloc(size_t count, size_t size) {
    if (must_fail(&stats.callocs, count * size))
        return NULL;
    void *p = calloc(count, size);
    if (p) {
        stats.live++;
        count_bytes((long long)malloc_usable_size(p));
    }
    return p;
}

static void *count_realloc(void *ptr, size_t size) {
    if (must_fail(&stats.reallocs, size))
        return NULL;
    if (ptr != NULL && size == 0) { /* C17 leaves this case open: free it */
        count_free(ptr);
        return NULL;
    }
    long long old = ptr ? (long long)malloc_usable_size(ptr) : 0;
    void *p = realloc(ptr, size);
    if (p == NULL)
        return NULL;
    if (ptr == NULL)
        stats.live++;
    long long now = (long long)malloc_usable_size(p);
    if (p != ptr) /* moved: both blocks were live during the copy */
        count_bytes(now);
    count_bytes(p != ptr ? -old : now - old);
    return p;
}

void rkt_alloc_install(void) {
    static const rk_allocator counting = {count_malloc, count_calloc, count_realloc, count_free};
    stats = (rkt_alloc_stats){0};
    fail_countdown = 0;
    rk_set_allocator(&counting);
}

void rkt_alloc_uninstall(void) {
    fail_countdown = 0;
    rk_set_allocator(NULL);
}

rkt_alloc_stats rkt_alloc_stats_now(void) {
    return stats;
}

size_t rkt_alloc_calls(void) {
    return stats.mallocs + stats.callocs + stats.reallocs;
}

long rkt_alloc_live(void) {
    return stats.live;
}

void rkt_alloc_fail_nth(size_t n) {
    fail_countdown = n;
}

int rkt_alloc_setup(void **state) {
    (void)state;
    rkt_alloc_install();
    return 0;
}

int rkt_alloc_teardown(void **state) {
    (void)state;
    long live = stats.live;
    rkt_alloc_uninstall();
    if (live == 0)
        return 0;
    fprintf(stderr, "%ld block(s) still allocated at the end of the test\n", live);
    return -1;
}
