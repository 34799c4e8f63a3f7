/* Internal side of rk_client for the features built on it (pipelines,
 * pub/sub): what a dedicated connection outside the pool needs to be made
 * exactly as the pool makes its own, and the pause between retries. */
#ifndef RK_CLIENT_INT_H
#define RK_CLIENT_INT_H

#include <stdint.h>

#include "net/net.h"
#include "rediskit/client.h"
#include "rediskit/pipeline.h"
#include "rediskit/writer.h"
#include "util/backoff.h"

#pragma GCC visibility push(hidden)

/* The settled options of the node a command of this slot goes to
 * (RK_SLOT_NONE: a keyless one) and the client's TLS context (NULL without
 * TLS), both owned by the client and valid until rk_client_free: pass them
 * to rk_conn_new_shared for a connection outside the pool. */
void rk_client_settled(rk_client *client, int slot, const rk_options **opts, rk_tls_ctx **tls);

/* rk_client_acquire for a command of this slot (RK_SLOT_NONE: any node
 * the topology picks for keyless commands): transactions take their
 * connection where their keys live. */
int rk_client_acquire_for(rk_client *client, int slot, rk_conn **out);

/* Sends again, to the node a MOVED or ASK reply (redirected) names and
 * with the client's retry loop, a command already encoded: the len bytes
 * at off in writer from (which must not change meanwhile). For pipelines,
 * whose commands are answered on their own when redirected. Returns as
 * rk_client_call; RK_EPROTO when redirected is not a redirect. */
int rk_client_resend(rk_client *client, const rk_reply *redirected, const rk_writer *from,
                     size_t off, size_t len, rk_reply *out);

/* rk_client_call_argv_opts for a command whose keys are known (argument
 * indexes, as a built command records them), so that a topology that
 * routes by slot need not look for them. */
int rk_client_call_keyed(rk_client *client, rk_reply *reply, const rk_call_opts *opts,
                         const rk_str *argv, size_t argc, const uint32_t *keys, size_t nkeys);

/* Queues in a pipeline a command whose reply gets shape after the run. */
int rk_pipeline_append_shaped(rk_pipeline *p, const rk_str *argv, size_t argc, const char *shape);

#pragma GCC visibility pop

#endif
