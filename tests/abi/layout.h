/* The layout of the public options structs as this build compiles them:
 * one row per struct (size, alignment, frozen) and one per field (offset,
 * size), from the lists of fields.h. Shared by the generator of
 * layout.txt (layout_gen.c) and the guard that compares with it
 * (tests/test_abi.c). */
#ifndef RK_ABI_LAYOUT_H
#define RK_ABI_LAYOUT_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "abi/fields.h"

typedef struct rk_abi_struct {
    const char *type;
    size_t size, align;
    bool frozen;
} rk_abi_struct;

typedef struct rk_abi_field {
    const char *type, *field;
    size_t offset, size;
} rk_abi_field;

#define RK_ABI_STRUCT_ROW(T, frozen) {#T, sizeof(T), alignof(T), frozen},
#define RK_ABI_FIELD_ROW(T, f) {#T, #f, offsetof(T, f), sizeof(((T *)0)->f)},

static const rk_abi_struct rk_abi_structs[] = {RK_ABI_STRUCTS(RK_ABI_STRUCT_ROW)};
static const rk_abi_field rk_abi_fields[] = {RK_ABI_FIELDS(RK_ABI_FIELD_ROW)};

#define RK_ABI_NSTRUCTS (sizeof(rk_abi_structs) / sizeof(rk_abi_structs[0]))
#define RK_ABI_NFIELDS (sizeof(rk_abi_fields) / sizeof(rk_abi_fields[0]))

/* A line of layout.txt: "TYPE FIELD OFFSET" for a field, "TYPE frozen
 * SIZE" for a frozen struct. Writes it into buf (size n). */
static inline void rk_abi_field_line(const rk_abi_field *f, char *buf, size_t n) {
    snprintf(buf, n, "%s %s %zu", f->type, f->field, f->offset);
}

static inline void rk_abi_frozen_line(const rk_abi_struct *s, char *buf, size_t n) {
    snprintf(buf, n, "%s frozen %zu", s->type, s->size);
}

#endif
