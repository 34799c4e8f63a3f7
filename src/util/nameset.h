/* A hash set of binary-safe names (channels, patterns), with a little
 * room per name for what its owner records: the synchronous pub/sub's
 * subscriptions and handlers, and the async client's. */
#ifndef RK_UTIL_NAMESET_H
#define RK_UTIL_NAMESET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rediskit/str.h"

#pragma GCC visibility push(hidden)

/* One name and what its owner keeps for it. */
typedef struct rk_name {
    uint64_t hash;
    size_t len;
    bool want;        /* owner's: a subscription asked for */
    bool confirmed;   /* owner's: confirmed by the server (counted by the set) */
    void (*fn)(void); /* owner's: a handler, cast to its real type */
    void *userdata;   /* owner's */
    uint64_t serial;  /* owner's */
    char name[];      /* len bytes, then a NUL */
} rk_name;

/* Open addressing with linear probing and deletion by backward shift (no
 * tombstones). cap is 0 or a power of two; at most three quarters of the
 * slots are used. A zeroed set is empty. */
typedef struct rk_nameset {
    rk_name **slots;
    size_t cap, used;
    size_t confirmed; /* names with `confirmed` set (kept by the owner and
                         by rk_nameset_remove) */
} rk_nameset;

/* The name's entry, or NULL. */
rk_name *rk_nameset_find(const rk_nameset *s, const char *name, size_t len);

/* The name's entry, added with every field zeroed when missing; NULL with
 * RK_ENOMEM. */
rk_name *rk_nameset_add(rk_nameset *s, const char *name, size_t len);

/* Frees e. Entries after it in its probe run may move back into its slot:
 * an in-order sweep that removes must look at the same slot again. */
void rk_nameset_remove(rk_nameset *s, rk_name *e);

/* Frees every entry (the slots stay). */
void rk_nameset_clear(rk_nameset *s);

/* Frees everything; the set is empty again. */
void rk_nameset_free(rk_nameset *s);

/* Checks names given to a (un)subscribe: RK_OK, or RK_EINVAL for a NULL
 * array with a count, a NULL name, or one longer than RK_STR_MAX (refused
 * before it is remembered). */
int rk_names_check(const rk_str *names, size_t n);

#pragma GCC visibility pop

#endif
