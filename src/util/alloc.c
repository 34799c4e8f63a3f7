/* The allocator table every allocation in rediskit goes through. */
#include <stdlib.h>

#include "util/common.h"

static rk_allocator allocator = {malloc, calloc, realloc, free};

int rk_set_allocator(const rk_allocator *a) {
    if (a == NULL) {
        allocator = (rk_allocator){malloc, calloc, realloc, free};
        return RK_OK;
    }
    if (!a->malloc_fn || !a->calloc_fn || !a->realloc_fn || !a->free_fn)
        return rk_fail(RK_EINVAL, "rk_set_allocator: every function must be set");
    allocator = *a;
    return RK_OK;
}

RK_HOT void *rk_malloc(size_t size) {
    return allocator.malloc_fn(size);
}

void *rk_calloc(size_t count, size_t size) {
    return allocator.calloc_fn(count, size);
}

void *rk_realloc(void *ptr, size_t size) {
    return allocator.realloc_fn(ptr, size);
}

RK_HOT void rk_free(void *ptr) {
    if (ptr)
        allocator.free_fn(ptr);
}
