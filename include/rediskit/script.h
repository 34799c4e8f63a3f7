/** @file rediskit/script.h
 * rediskit: Lua scripts (EVAL, EVALSHA and their _RO forms) and functions (FCALL).
 *
 * An rk_script is a Lua script and the SHA-1 of its text, the name the
 * server's script cache knows it by. rk_script_run follows redis-py's
 * Script: it sends EVALSHA, and only when the server answers NOSCRIPT (the
 * script was never loaded, or SCRIPT FLUSH or a restart emptied the cache)
 * sends the whole text with EVAL, which runs it and caches it again.
 *
 *     static const char src[] = "return redis.call('incrby', KEYS[1], ARGV[1])";
 *     rk_script *s = rk_script_new(src, sizeof src - 1);
 *     rk_str keys[] = {RK_STR("counter")}, args[] = {RK_STR("5")};
 *     rk_reply r;
 *     if (rk_script_run(client, s, keys, 1, args, 1, &r) == RK_OK)
 *         printf("%lld\n", rk_reply_int(&r));
 *     rk_reply_free(&r);
 *     rk_script_free(s);
 *
 * Keys and arguments come as arrays of rk_str (binary safe), each followed
 * by its count; either array may be NULL when its count is 0 (a NULL array
 * with a count above 0, or an element whose ptr is NULL, is RK_EINVAL).
 * Functions (Redis 7) are loaded once per library with rk_functionload and
 * called by name with rk_fcall (both generated, in
 * rediskit/commands/scripting.h).
 *
 * An rk_script does not change once made: any number of threads may use
 * one at once. A NULL script is RK_EINVAL for the calls that return a
 * code, and NULL from rk_script_sha and rk_script_source. */
#ifndef RK_SCRIPT_H
#define RK_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include "client.h"
#include "pipeline.h"
#include "reply.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A Lua script and its SHA-1, immutable once made. */
typedef struct rk_script rk_script;

/** A script from `len` bytes of Lua source (copied; need not end in NUL).
 *  Its SHA-1 is computed here, with no call to the server. NULL with
 *  rk_error_last() on RK_ENOMEM, or RK_EINVAL when source is NULL. */
rk_script *rk_script_new(const char *source, size_t len);

/** Frees the script. NULL is allowed. */
void rk_script_free(rk_script *s);

/** The script's SHA-1: 40 lowercase hex digits, NUL-terminated, owned by
 *  the script. */
const char *rk_script_sha(const rk_script *s);

/** The script's source (owned by the script, NUL-terminated); its length
 *  goes to *len unless len is NULL. */
const char *rk_script_source(const rk_script *s, size_t *len);

/** Runs the script with nkeys keys and nargs arguments: EVALSHA, then
 *  EVAL when the server answers NOSCRIPT (caching the script again).
 *  Returns as rk_client_call: RK_OK with the script's reply in *reply,
 *  RK_ESERVER with the error reply (a script that raised an error, or
 *  returned redis.error_reply) in *reply and rk_error_last(), or a failure
 *  (RK_EIO, RK_ETIMEOUT, RK_EINVAL for a NULL array with a count...)
 *  with *reply nil. A script may write, so a call that may have run is not retried;
 *  see rk_script_run_opts. */
int rk_script_run(rk_client *c, const rk_script *s, const rk_str *keys, size_t nkeys,
                  const rk_str *args, size_t nargs, rk_reply *reply);

/** As rk_script_run(), with per-call settings (NULL: the defaults): mark
 *  a script that only reads, or is safe to repeat, `idempotent` to have it
 *  retried after a connection failure. */
int(rk_script_run_opts)(rk_client *c, const rk_script *s, const rk_call_opts *opts,
                        const rk_str *keys, size_t nkeys, const rk_str *args, size_t nargs,
                        rk_reply *reply, size_t opts_size);
#define rk_script_run_opts(...) (rk_script_run_opts)(__VA_ARGS__, sizeof(rk_call_opts))

/** As rk_script_run(), as a read-only script: EVALSHA_RO, then EVAL_RO on
 *  NOSCRIPT (Redis 7.0 and later). The server refuses any write the script
 *  tries (RK_ESERVER, "Write commands are not allowed from read-only
 *  scripts"), so the call is retried after a connection failure like any
 *  read. */
int rk_script_run_ro(rk_client *c, const rk_script *s, const rk_str *keys, size_t nkeys,
                     const rk_str *args, size_t nargs, rk_reply *reply);

/** Loads the script into the server's cache (SCRIPT LOAD) without running
 *  it, and checks that the server names it by the same SHA-1: RK_EPROTO
 *  when it does not. Returns RK_OK, RK_ESERVER (e.g. a Lua syntax error,
 *  its text in rk_error_last()) or a failure. */
int rk_script_preload(rk_client *c, const rk_script *s);

/** Queues the script in a pipeline, by EVALSHA only. A pipeline cannot
 *  fall back to EVAL on NOSCRIPT midway (later commands may depend on the
 *  script having run), so call rk_script_preload first, as redis-py's
 *  pipelines load their scripts before executing: an unloaded script's
 *  command gets a NOSCRIPT error reply (status RK_ESERVER). Keys and
 *  arguments are copied, as in rk_pipeline_append (unless the pipeline
 *  borrows large values). Returns RK_OK, or RK_EINVAL / RK_ENOMEM. */
int rk_script_append(rk_pipeline *p, const rk_script *s, const rk_str *keys, size_t nkeys,
                     const rk_str *args, size_t nargs);

#ifdef __cplusplus
}
#endif
#endif
