/* Internal: turning a caller's rk_options into the settled copy that a
 * connection or client keeps (defaults filled in, strings owned). */
#ifndef RK_OPTIONS_INT_H
#define RK_OPTIONS_INT_H

#include "net/net.h"
#include "rediskit/options.h"

#pragma GCC visibility push(hidden)

/* Copies src (NULL: all defaults; src_size bytes: the caller's sizeof, as
 * rk_opts_settle reads it) into *dst with every default filled in and
 * every string copied into one block returned in *storage (free it with
 * rk_options_free_storage when dst is no longer used). Checks the values:
 * RK_EINVAL with a message naming the bad field. */
int rk_options_settle(const rk_options *src, size_t src_size, rk_options *dst, char **storage);

/* Frees the block rk_options_settle returned for o (settled options: all
 * their strings are in it), wiping the password first. NULL is allowed. */
void rk_options_free_storage(const rk_options *o, char *storage);

/* The TLS context settled options ask for (*out NULL when TLS is off),
 * for the connections made with them to share. RK_ETLS, RK_EINVAL. */
int rk_options_tls_ctx(const rk_options *o, rk_tls_ctx **out);

#pragma GCC visibility pop

#endif
