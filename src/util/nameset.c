/* The name set of nameset.h: FNV-1a hashes, open addressing, deletion by
 * backward shift. */
#include "util/nameset.h"

#include <string.h>

#include "util/common.h"

/* FNV-1a, 64 bits. */
static uint64_t hash_name(const char *s, size_t n) {
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211u;
    return h;
}

/* The slot holding the name, or the empty slot where it would go. */
static size_t slot_of(const rk_nameset *s, const char *name, size_t len, uint64_t h) {
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        const rk_name *e = s->slots[i];
        if (e == NULL || (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0))
            return i;
    }
}

rk_name *rk_nameset_find(const rk_nameset *s, const char *name, size_t len) {
    if (s->used == 0)
        return NULL;
    return s->slots[slot_of(s, name, len, hash_name(name, len))];
}

static int grow(rk_nameset *s) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    rk_name **slots = rk_calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return rk_fail(RK_ENOMEM, "out of memory recording a subscription");
    rk_nameset old = *s;
    s->slots = slots;
    s->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        rk_name *e = old.slots[i];
        if (e != NULL)
            s->slots[slot_of(s, e->name, e->len, e->hash)] = e;
    }
    rk_free(old.slots);
    return RK_OK;
}

rk_name *rk_nameset_add(rk_nameset *s, const char *name, size_t len) {
    if ((s->used + 1) * 4 > s->cap * 3 && grow(s) != RK_OK)
        return NULL;
    uint64_t h = hash_name(name, len);
    size_t i = slot_of(s, name, len, h);
    if (s->slots[i] != NULL)
        return s->slots[i];
    rk_name *e = rk_calloc(1, sizeof(*e) + len + 1);
    if (e == NULL) {
        rk_fail(RK_ENOMEM, "out of memory recording a subscription");
        return NULL;
    }
    e->hash = h;
    e->len = len;
    memcpy(e->name, name, len);
    s->slots[i] = e;
    s->used++;
    return e;
}

/* Entries after the hole in its probe run move back into it when their
 * home slot does not lie (cyclically) between the hole and them. */
void rk_nameset_remove(rk_nameset *s, rk_name *e) {
    size_t mask = s->cap - 1;
    size_t i = slot_of(s, e->name, e->len, e->hash);
    s->confirmed -= e->confirmed;
    s->used--;
    rk_free(e);
    s->slots[i] = NULL;
    for (size_t j = (i + 1) & mask; s->slots[j] != NULL; j = (j + 1) & mask) {
        size_t home = (size_t)s->slots[j]->hash & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->slots[i] = s->slots[j];
            s->slots[j] = NULL;
            i = j;
        }
    }
}

void rk_nameset_clear(rk_nameset *s) {
    for (size_t i = 0; i < s->cap; i++) {
        rk_free(s->slots[i]);
        s->slots[i] = NULL;
    }
    s->used = s->confirmed = 0;
}

void rk_nameset_free(rk_nameset *s) {
    rk_nameset_clear(s);
    rk_free(s->slots);
    *s = (rk_nameset){0};
}

int rk_names_check(const rk_str *names, size_t n) {
    if (n > 0 && names == NULL)
        return rk_fail(RK_EINVAL, "NULL names with a non-zero count");
    for (size_t i = 0; i < n; i++) {
        if (names[i].ptr == NULL)
            return rk_fail(RK_EINVAL, "name %zu is NULL", i);
        if (names[i].len > RK_STR_MAX)
            return rk_fail(RK_EINVAL, "name %zu is longer than RK_STR_MAX", i);
    }
    return RK_OK;
}
