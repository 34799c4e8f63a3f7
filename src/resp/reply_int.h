/* Internal view of rk_reply shared by the reader, the reply functions and
 * the writer's reply encoder.
 *
 * Ownership invariant: only a top-level reply ever owns memory, and it owns
 * exactly one block when RK_RF_OWNED is set. The block's first bytes hold
 * whatever the reply's own pointers reached first in wire order: its
 * attribute node if it has one, else its element array if it is a non-empty
 * aggregate, else its string. reply_block() recovers it from those rules. */
#ifndef RK_REPLY_INT_H
#define RK_REPLY_INT_H

#include <string.h>

#include "rediskit/reply.h"

enum {
    RK_RF_INLINE = 1,   /* the string lives in u_.inl */
    RK_RF_OWNED = 2,    /* a top-level reply owning one block */
    RK_RF_BORROWED = 4, /* points into a reader's storage; free is a no-op */
};

/* Strings up to this many bytes are stored inside the node. */
#define RK_INLINE_MAX (sizeof(((rk_reply *)0)->u_.inl) - 1)

/* Bytes a string of len bytes needs in a block (0 when it fits inline). */
static inline size_t rk_str_storage(size_t len) {
    return len > RK_INLINE_MAX ? len + 1 : 0;
}

static inline int rk_is_aggregate(int type) {
    return type == RK_REPLY_ARRAY || type == RK_REPLY_MAP || type == RK_REPLY_SET ||
           type == RK_REPLY_PUSH || type == RK_REPLY_ATTR;
}

/* Whether the reply's string fields (str_/u_.inl) are in use. */
static inline int rk_has_str(int type) {
    return type == RK_REPLY_STATUS || type == RK_REPLY_ERROR || type == RK_REPLY_STRING ||
           type == RK_REPLY_VERBATIM || type == RK_REPLY_BIGNUM || type == RK_REPLY_DOUBLE;
}

/* Number of child nodes an aggregate holds (maps hold key and value). */
static inline size_t rk_child_count(const rk_reply *r) {
    if (r->type_ == RK_REPLY_MAP || r->type_ == RK_REPLY_ATTR)
        return r->len_ * 2;
    return rk_is_aggregate(r->type_) ? r->len_ : 0;
}

/* Where a string node's bytes are. */
static inline const char *rk_str_ptr(const rk_reply *r) {
    return (r->flags_ & RK_RF_INLINE) ? r->u_.inl : r->str_;
}

/* Stores a string of len bytes into node r: inline when short, else at
 * *store (advanced past it, NUL-terminated). */
static inline void rk_str_set(rk_reply *r, const char *s, size_t len, char **store) {
    r->len_ = len;
    if (len <= RK_INLINE_MAX) {
        memcpy(r->u_.inl, s, len);
        r->u_.inl[len] = '\0';
        r->flags_ |= RK_RF_INLINE;
        return;
    }
    char *dst = *store;
    memcpy(dst, s, len);
    dst[len] = '\0';
    r->str_ = dst;
    *store = dst + len + 1;
}

/* The string of a string reply r, NUL-terminated, for the caller to
 * rk_free: an owned reply whose block is its string hands the block over
 * (r is left nil); a short inline or borrowed string is copied. NULL when
 * out of memory (r unchanged). */
#pragma GCC visibility push(hidden)
char *rk_reply_take_str(rk_reply *r);
#pragma GCC visibility pop

#endif
