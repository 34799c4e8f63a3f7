/* Reply accessors, release and deep copy.
 *
 * A top-level reply owns at most one block (see reply_int.h); elements are
 * views into it. Accessors never fail: asked for something a reply does not
 * hold they return NULL, 0 or NaN, so callers can chain them safely. */
#include <math.h>
#include <string.h>

#include "resp/reply_int.h"
#include "resp/resp_int.h"
#include "util/common.h"

static void *reply_block(const rk_reply *r) {
    if (r->attr_)
        return r->attr_;
    if (rk_is_aggregate(r->type_))
        return r->len_ ? r->u_.elem : NULL;
    if (rk_has_str(r->type_) && !(r->flags_ & RK_RF_INLINE))
        return (void *)r->str_;
    return NULL;
}

char *rk_reply_take_str(rk_reply *r) {
    if ((r->flags_ & RK_RF_OWNED) && reply_block(r) == r->str_) {
        char *s = (char *)r->str_;
        memset(r, 0, sizeof(*r));
        return s;
    }
    char *s = rk_malloc(r->len_ + 1);
    if (s != NULL) {
        memcpy(s, rk_str_ptr(r), r->len_);
        s[r->len_] = '\0';
    }
    return s;
}

RK_HOT void rk_reply_free(rk_reply *r) {
    if (r == NULL)
        return;
    if (r->flags_ & RK_RF_OWNED)
        rk_free(reply_block(r));
    memset(r, 0, sizeof(*r));
}

RK_HOT rk_type rk_reply_type(const rk_reply *r) {
    return r ? (rk_type)r->type_ : RK_REPLY_NIL;
}

const char *rk_type_name(rk_type type) {
    static const char *const names[] = {
        [RK_REPLY_NIL] = "nil",       [RK_REPLY_STATUS] = "status",
        [RK_REPLY_ERROR] = "error",   [RK_REPLY_INTEGER] = "integer",
        [RK_REPLY_STRING] = "string", [RK_REPLY_ARRAY] = "array",
        [RK_REPLY_DOUBLE] = "double", [RK_REPLY_BOOL] = "bool",
        [RK_REPLY_BIGNUM] = "bignum", [RK_REPLY_VERBATIM] = "verbatim",
        [RK_REPLY_MAP] = "map",       [RK_REPLY_SET] = "set",
        [RK_REPLY_PUSH] = "push",     [RK_REPLY_ATTR] = "attribute",
    };
    if ((unsigned)type >= RK_ARRAY_LEN(names))
        return "unknown";
    return names[type];
}

const char *rk_reply_str(const rk_reply *r) {
    if (r == NULL || !rk_has_str(r->type_))
        return NULL;
    return rk_str_ptr(r);
}

RK_HOT size_t rk_reply_len(const rk_reply *r) {
    if (r == NULL || !(rk_has_str(r->type_) || rk_is_aggregate(r->type_)))
        return 0;
    return r->len_;
}

long long rk_reply_int(const rk_reply *r) {
    if (r == NULL)
        return 0;
    if (r->type_ == RK_REPLY_INTEGER || r->type_ == RK_REPLY_BOOL)
        return r->u_.integer;
    return 0;
}

double rk_reply_double(const rk_reply *r) {
    if (r == NULL)
        return NAN;
    if (r->type_ == RK_REPLY_INTEGER)
        return (double)r->u_.integer;
    if (r->type_ != RK_REPLY_DOUBLE)
        return NAN;
    double d;
    if (rk_parse_double(rk_str_ptr(r), r->len_, &d) != 0)
        return NAN;
    return d;
}

bool rk_reply_bool(const rk_reply *r) {
    if (r == NULL)
        return false;
    if (r->type_ == RK_REPLY_BOOL || r->type_ == RK_REPLY_INTEGER)
        return r->u_.integer != 0;
    return false;
}

const rk_reply *rk_reply_at(const rk_reply *r, size_t i) {
    if (r == NULL || i >= r->len_)
        return NULL;
    if (r->type_ != RK_REPLY_ARRAY && r->type_ != RK_REPLY_SET && r->type_ != RK_REPLY_PUSH)
        return NULL;
    return &r->u_.elem[i];
}

static bool is_map(const rk_reply *r) {
    return r && (r->type_ == RK_REPLY_MAP || r->type_ == RK_REPLY_ATTR);
}

const rk_reply *rk_reply_map_key(const rk_reply *r, size_t i) {
    if (!is_map(r) || i >= r->len_)
        return NULL;
    return &r->u_.elem[2 * i];
}

const rk_reply *rk_reply_map_value(const rk_reply *r, size_t i) {
    if (!is_map(r) || i >= r->len_)
        return NULL;
    return &r->u_.elem[2 * i + 1];
}

const rk_reply *rk_reply_map_get(const rk_reply *r, const char *key) {
    if (!is_map(r) || key == NULL)
        return NULL;
    size_t klen = strlen(key);
    for (size_t i = 0; i < r->len_; i++) {
        const rk_reply *k = &r->u_.elem[2 * i];
        if (rk_has_str(k->type_) && k->len_ == klen && memcmp(rk_str_ptr(k), key, klen) == 0)
            return &r->u_.elem[2 * i + 1];
    }
    return NULL;
}

const char *rk_reply_verbatim_format(const rk_reply *r) {
    if (r == NULL || r->type_ != RK_REPLY_VERBATIM)
        return NULL;
    return r->format_;
}

const rk_reply *rk_reply_attr(const rk_reply *r) {
    return r ? r->attr_ : NULL;
}

RK_HOT bool rk_reply_is_error(const rk_reply *r) {
    return r && r->type_ == RK_REPLY_ERROR;
}

/* Deep copy. The copy is laid out as the reader lays a block out: nodes
 * in depth-first wire order (an attribute before the reply it annotates),
 * then the strings, so that reply_block() finds the block of the copy. */

typedef struct arena {
    rk_reply *node;
    char *str;
} arena;

static void measure(const rk_reply *r, size_t *nodes, size_t *bytes) {
    if (r->attr_) {
        *nodes += 1;
        measure(r->attr_, nodes, bytes);
    }
    if (rk_has_str(r->type_))
        *bytes += rk_str_storage(r->len_);
    size_t n = rk_child_count(r);
    *nodes += n;
    for (size_t i = 0; i < n; i++)
        measure(&r->u_.elem[i], nodes, bytes);
}

static void copy_node(rk_reply *dst, const rk_reply *src, arena *a) {
    *dst = (rk_reply){.type_ = src->type_};
    memcpy(dst->format_, src->format_, sizeof(dst->format_));
    if (src->attr_) {
        dst->attr_ = a->node++;
        copy_node(dst->attr_, src->attr_, a);
    }
    if (rk_has_str(src->type_)) {
        rk_str_set(dst, rk_str_ptr(src), src->len_, &a->str);
        return;
    }
    size_t n = rk_child_count(src);
    if (!rk_is_aggregate(src->type_)) {
        dst->u_ = src->u_;
        return;
    }
    dst->len_ = src->len_;
    if (n == 0)
        return;
    dst->u_.elem = a->node;
    a->node += n;
    for (size_t i = 0; i < n; i++)
        copy_node(&dst->u_.elem[i], &src->u_.elem[i], a);
}

int rk_reply_dup(rk_reply *dst, const rk_reply *src) {
    if (dst == NULL || src == NULL)
        return rk_fail(RK_EINVAL, "rk_reply_dup: NULL reply");
    size_t nodes = 0, bytes = 0;
    measure(src, &nodes, &bytes);
    void *block = NULL;
    if (nodes || bytes) {
        block = rk_malloc(nodes * sizeof(rk_reply) + bytes);
        if (block == NULL) {
            memset(dst, 0, sizeof(*dst));
            return rk_fail(RK_ENOMEM, "out of memory copying a reply");
        }
    }
    arena a = {.node = block, .str = block ? (char *)block + nodes * sizeof(rk_reply) : NULL};
    copy_node(dst, src, &a);
    if (block)
        dst->flags_ |= RK_RF_OWNED;
    return RK_OK;
}
