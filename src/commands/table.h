/* The generated table of every command of the server the functions were
 * generated from (src/commands/gen/table.c), for the coverage test and
 * for anyone who needs a command's flags by name. */
#ifndef RK_TABLE_H
#define RK_TABLE_H

#include <stddef.h>
#include <stdint.h>

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

/* A quick look for the connection-state commands (RK_CMDF_CONNECTION):
 * bit n of entry c is set when such a command's name (before any "|")
 * starts with a byte whose low 5 bits are c, lower-cased, and is n bytes
 * long. Most names (GET, SET, HSET...) miss it. */
extern const uint64_t rk_command_stateful_lengths[32];

#pragma GCC visibility pop

#endif
