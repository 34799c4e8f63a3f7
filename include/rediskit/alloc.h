/** @file rediskit/alloc.h
 * rediskit: the allocator table.
 *
 * All memory rediskit uses goes through one table of functions that the
 * program may replace once, before it creates any rediskit object. Failure
 * of any of them is reported as RK_ENOMEM, never a crash. */
#ifndef RK_ALLOC_H
#define RK_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The allocation functions rediskit calls. All four must be set. */
typedef struct rk_allocator {
    void *(*malloc_fn)(size_t size);               /**< As malloc(3). */
    void *(*calloc_fn)(size_t count, size_t size); /**< As calloc(3). */
    void *(*realloc_fn)(void *ptr, size_t size);   /**< As realloc(3). */
    void (*free_fn)(void *ptr);                    /**< As free(3). */
} rk_allocator;

/** Installs an allocator (NULL restores the C library's). Not thread safe:
 *  call it before any other rediskit function, and never free memory with
 *  another allocator than the one that gave it. Returns RK_EINVAL if a
 *  function pointer is missing. */
int rk_set_allocator(const rk_allocator *allocator);

/** As malloc(3), through the installed table. NULL on failure, with no
 *  rk_error_last() set. */
void *rk_malloc(size_t size);

/** As calloc(3), through the installed table. */
void *rk_calloc(size_t count, size_t size);

/** As realloc(3), through the installed table. */
void *rk_realloc(void *ptr, size_t size);

/** Releases memory from the functions above, and what rediskit handed to
 *  the caller as plain memory (for example rk_reply_format). NULL is
 *  allowed. */
void rk_free(void *ptr);

#ifdef __cplusplus
}
#endif
#endif
