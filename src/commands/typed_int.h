/* What the generated command functions (src/commands/gen/) are made of,
 * besides the argument appenders of resp/command_int.h.
 *
 * A builder starts its command with rk_typed_begin (its words, and its row
 * of the metadata table), settles its options struct with rk_typed_opts,
 * and appends its arguments. A convenience runs the built command with
 * rk_client_run or rk_conn_run and, for a command whose answer is one
 * value, turns the reply into that value with an rk_typed_* below. */
#ifndef RK_TYPED_INT_H
#define RK_TYPED_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "rediskit/client.h"
#include "rediskit/conn.h"
#include "resp/command_int.h"
#include "resp/shape.h"

#pragma GCC visibility push(hidden)

/* rk_command_begin(cmd, words), and the command's metadata row: row is
 * its index in rk_meta_table (-1: unknown), checked against the words,
 * which are looked up when it does not match. NULL for a NULL cmd. */
rk_command_int *rk_typed_begin(rk_command *cmd, const char *words, int row);

/* Settles the caller's options struct (src of src_size bytes, NULL for
 * none) into dst (dst_size, this library's), as rk_opts_settle does;
 * false, with the failure kept in cmd, when it cannot be (or cmd is NULL). */
bool rk_typed_opts(rk_command_int *cmd, void *dst, size_t dst_size, const void *src,
                   size_t src_size);

/* A list of strings given either as rk_str (v) or as C strings (cv). */
void rk_arg_list(rk_command_int *cmd, const char *what, const char *each, const rk_str *v,
                 const char *const *cv, size_t n, bool key);

/* The typed results. rc is what the runner returned for the command name
 * and r its reply, which these free. They return rc (RK_NIL too), or
 * RK_EPROTO for a reply of a type the command never sends, or RK_ENOMEM. */
int rk_typed_ok(int rc, rk_reply *r, const char *name);
int rk_typed_integer(int rc, rk_reply *r, const char *name, long long *out);
int rk_typed_number(int rc, rk_reply *r, const char *name, double *out);
/* *out (NULL when there is none; free with rk_free) and *len (may be NULL). */
int rk_typed_string(int rc, rk_reply *r, const char *name, char **out, size_t *len);

#pragma GCC visibility pop

#endif
