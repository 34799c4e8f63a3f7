/* The generated table of every command of the server the functions were
 * generated from (src/commands/gen/table.c), for the coverage test: its
 * rows point at every typed function, so the library proper must not need
 * it (a command's classes come from the metadata table, meta/classes.h). */
#ifndef RK_TABLE_H
#define RK_TABLE_H

#include <stddef.h>

#pragma GCC visibility push(hidden)

enum {
    RK_TYPEDF_READONLY = 1,   /* flagged readonly, not write, by COMMAND INFO */
    RK_TYPEDF_WRITE = 2,      /* flagged write */
    RK_TYPEDF_BLOCKING = 4,   /* may block the connection */
    RK_TYPEDF_CONNECTION = 8, /* changes its connection's state */
    RK_TYPEDF_SAFE = 16,      /* only reads: safe to repeat after a lost reply */
};

typedef void (*rk_typed_fn)(void);

typedef struct rk_typed_entry {
    const char *name;     /* "set", "config|get" */
    const char *builder;  /* its builder's name ("rk_cmd_set"); NULL when hand-written */
    const char *function; /* its convenience's name ("rk_set"), or the hand-written one */
    const char *kind;     /* "client", "conn" (runs on an rk_conn), "hand" or "pubsub"
                             (a method of rk_pubsub, src/features) */
    unsigned flags;       /* RK_TYPEDF_* */
    rk_typed_fn build;    /* the builder: the linker vouches it exists */
    rk_typed_fn fn;       /* the convenience (NULL for "pubsub": a layer above) */
} rk_typed_entry;

extern const rk_typed_entry rk_typed_table[];
extern const size_t rk_typed_table_len;

#pragma GCC visibility pop

#endif
