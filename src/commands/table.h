/* The generated table of every command of the server the functions were
 * generated from (src/commands/gen/table.c), for the coverage test: its
 * rows point at every typed function, so the library proper must not need
 * it (a command's classes come from the metadata table, meta/classes.h). */
#ifndef RK_TABLE_H
#define RK_TABLE_H

#include <stddef.h>

#pragma GCC visibility push(hidden)

enum {
    RK_CMDF_READONLY = 1,   /* flagged readonly, not write, by COMMAND INFO */
    RK_CMDF_WRITE = 2,      /* flagged write */
    RK_CMDF_BLOCKING = 4,   /* may block the connection */
    RK_CMDF_CONNECTION = 8, /* changes its connection's state */
    RK_CMDF_SAFE = 16,      /* only reads: safe to repeat after a lost reply */
};

typedef void (*rk_command_fn)(void);

typedef struct rk_command_entry {
    const char *name;     /* "set", "config|get" */
    const char *function; /* its C function's name */
    const char *kind;     /* "client", "conn" (runs on an rk_conn) or "hand" */
    unsigned flags;       /* RK_CMDF_* */
    rk_command_fn fn;     /* the function itself: the linker vouches it exists */
} rk_command_entry;

extern const rk_command_entry rk_command_table[];
extern const size_t rk_command_table_len;

#pragma GCC visibility pop

#endif
