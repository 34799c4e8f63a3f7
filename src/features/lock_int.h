/* Internal: what the synchronous lock (lock.c) and the async one
 * (lock_async.c) share: the Lua scripts, the commands they send, how their
 * answers read, the token, and the settling of rk_lock_opts. One place for
 * each, so the two locks keep the same semantics. */
#ifndef RK_LOCK_INT_H
#define RK_LOCK_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "rediskit/lock.h"
#include "rediskit/script.h"
#include "rediskit/str.h"

#pragma GCC visibility push(hidden)

/* Bytes of a token with its NUL. */
#define RK_LOCK_TOKEN_SIZE (RK_LOCK_TOKEN_LEN + 1)

/* A lock command: a script with its keys and arguments (as rk_script_run
 * takes them), or with script NULL a plain command in keys[0..nkeys) (the
 * SET of an acquire without fencing). The strings point into the struct
 * (num) and into the caller's name and token: filled in place, used
 * there, never copied. */
typedef struct rk_lock_cmd {
    const rk_script *script;
    rk_str keys[6];
    size_t nkeys;
    rk_str args[3];
    size_t nargs;
    char num[24];
} rk_lock_cmd;

/* Acquire with token for ttl_ms (negative: no TTL): SET name token NX
 * [PX ttl], or with fence_key the script that also increments the fencing
 * counter (its answer: the fencing token, 0 when held elsewhere). */
void rk_lock_acquire_cmd(rk_lock_cmd *c, const char *name, const char *fence_key, const char *token,
                         int ttl_ms);
/* Release: deletes name while it holds token (answer 1, else 0). */
void rk_lock_release_cmd(rk_lock_cmd *c, const char *name, const char *token);
/* Extend: adds ms to the time name has left, or with replace sets it to
 * ms, while it holds token (answer 1; 0 not the token; 2 no TTL). */
void rk_lock_extend_cmd(rk_lock_cmd *c, const char *name, const char *token, long long ms,
                        bool replace);

/* What SET NX's answer means, given the status of its call (RK_NIL too):
 * RK_OK for +OK (acquired), RK_ELOCKED for nil (held elsewhere), the
 * status when it failed, and RK_EPROTO for anything else (a +QUEUED, an
 * integer): never taken for an acquired lock. */
int rk_lock_set_answer(const char *name, int status, const rk_reply *reply);

/* What the scripts' answers mean: RK_OK, or RK_ENOTOWNER / RK_EINVAL with
 * a message naming the lock; a number the script never answers is
 * RK_EPROTO. */
int rk_lock_release_answer(const char *name, long long answer);
int rk_lock_extend_answer(const char *name, long long answer);

/* What the fencing acquire's answer means: RK_OK for a token (positive),
 * RK_ELOCKED for 0 (held elsewhere), RK_EPROTO for anything else. */
int rk_lock_fence_answer(const char *name, long long fence);

/* Whether a lock may be extended by ms: RK_OK, RK_EINVAL (no TTL, ms not
 * positive) or RK_ENOTOWNER (not held). */
int rk_lock_extend_check(const char *name, int ttl_ms, long long ms, bool held);

/* An acquire's RK_ELOCKED, with the message for a non-blocking try or a
 * blocking one that ran out of time. */
int rk_lock_locked_elsewhere(const char *name, const rk_lock_opts *o);

/* A failure after which a command that was sent may have run (no reply
 * came): the lock may have been taken, and must be released. */
bool rk_lock_may_have_run(int rc);

/* A new token: 128 random bits as 32 lowercase hex characters. */
int rk_lock_new_token(char out[RK_LOCK_TOKEN_SIZE]);

/* Settles opts (rk_opts_settle, defaults, checks) for a lock named name,
 * into *o; *names_size gets the bytes the name and fence key copies need.
 * RK_OK, or RK_EINVAL with the reason. */
int rk_lock_settle(rk_lock_opts *o, const rk_lock_opts *opts, size_t opts_size, const char *name,
                   size_t *names_size);

/* Copies name and the fence key (o's, or the default) into block
 * (names_size bytes), pointing o->fence_key at its copy; returns the
 * name's copy. */
const char *rk_lock_copy_names(char *block, const char *name, rk_lock_opts *o);

#pragma GCC visibility pop

#endif
