/** @file rediskit/lock.h
 * rediskit: distributed locks, on one server (rk_lock) or on several
 * independent servers (rk_redlock, the Redlock algorithm).
 *
 * rk_lock follows redis-py's Lock. The lock is a key, `name`, holding a
 * random token that says who holds it. Acquiring is
 * `SET name token NX PX ttl`; releasing, extending and reacquiring run Lua
 * scripts that act only while the key still holds this owner's token, so
 * nobody can free or prolong a lock that has expired and passed to someone
 * else: they get RK_ENOTOWNER. The key expires after its TTL by itself, so
 * a crashed owner does not hold the lock for ever.
 *
 *     rk_lock *l = rk_lock_new(client, "orders:42", &(rk_lock_opts){
 *         .ttl_ms = 10000, .blocking_timeout_ms = 2000});
 *     if (rk_lock_acquire(l) == RK_OK) {
 *         ... critical section, shorter than the TTL ...
 *         rk_lock_release(l);
 *     }
 *     rk_lock_free(l);
 *
 * Beyond redis-py: a watchdog thread that keeps extending a held lock until
 * it is released (as Redisson does), and fencing tokens.
 *
 * **Why a lock can still be lost, and fencing tokens.** A lock with a TTL
 * is a lease: it ends when the TTL runs out, whether or not its owner is
 * done. An owner paused for longer than the TTL (a garbage collection, a
 * swapped-out page, a stopped VM, a slow network) wakes up believing it
 * holds the lock while someone else does, and both write to the shared
 * resource. No client-side check can close that window, because the pause
 * may fall between the check and the write. The fix (Martin Kleppmann's
 * argument) is on the resource's side: with `fencing` set, each successful
 * acquisition also gets a number from a counter that only grows
 * (rk_lock_fence); the owner sends it with every write, and the resource
 * refuses a write whose number is lower than one it has already seen. The
 * stale owner's writes then fail instead of corrupting data.
 *
 * **Threads.** An rk_lock belongs to one thread at a time, as the design's
 * convention says for locks. The token is stored in the rk_lock object,
 * not per thread (redis-py's `thread_local=False`, made explicit): whoever
 * holds the object holds the lock. So:
 * - Two threads that must exclude each other each make their own rk_lock
 *   with the same name (sharing one rk_client is fine). They never share
 *   one rk_lock: calls on one object from two threads at once are a data
 *   race, and worse, the second thread's release would free the first
 *   one's lock, because the object carries the token.
 * - Handing a held rk_lock to another thread (through a queue, a mutex, a
 *   thread start) hands over the lock: that thread may then extend or
 *   release it, which is how work started under a lock is finished
 *   elsewhere. The giving thread must not touch the object afterwards.
 * - The watchdog and the on_lost callback run on a thread of their own;
 *   that is internal and needs no care beyond what on_lost says.
 * - After fork(), a lock held by the parent stays the parent's: the child
 *   has no watchdog and must not use the object.
 *
 * A NULL rk_lock or rk_redlock (or a NULL answer pointer) is RK_EINVAL for
 * the calls that return a code; rk_lock_fence gives 0 and the accessors
 * that return a pointer NULL.
 */
#ifndef RK_LOCK_H
#define RK_LOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "async.h"
#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default of rk_lock_opts.ttl_ms and rk_redlock_opts.ttl_ms. */
#define RK_LOCK_DEFAULT_TTL_MS 30000
/** Default of rk_lock_opts.sleep_ms. */
#define RK_LOCK_DEFAULT_SLEEP_MS 100
/** Default of rk_redlock_opts.instance_timeout_ms. */
#define RK_REDLOCK_DEFAULT_INSTANCE_TIMEOUT_MS 50
/** Default of rk_redlock_opts.attempts. */
#define RK_REDLOCK_DEFAULT_ATTEMPTS 3
/** Default of rk_redlock_opts.retry_delay_ms. */
#define RK_REDLOCK_DEFAULT_RETRY_DELAY_MS 200

/** Hex characters of a token (128 random bits), without the NUL. */
#define RK_LOCK_TOKEN_LEN 32

/** A lock on one server: its name, options, and while held this owner's
 *  token, fencing token and watchdog. */
typedef struct rk_lock rk_lock;

/** Called on the watchdog's thread when the watchdog finds the lock lost:
 *  error is RK_ENOTOWNER when the key no longer holds this owner's token
 *  (it expired, or was deleted or taken), or the failure (RK_ETIMEOUT,
 *  RK_EIO...) that kept every extension from succeeding until the TTL ran
 *  out. From then on rk_lock_owned says false. The callback must not
 *  release, extend, acquire or free this lock (they wait for the watchdog
 *  thread, which is running the callback); set a flag or wake your thread.
 *  It may call anything else, including rk_lock_owned and rk_lock_name. */
typedef void (*rk_lock_lost_fn)(void *userdata, rk_lock *lock, int error);

/** How an rk_lock behaves. Zeroed fields mean the defaults beside them. */
typedef struct rk_lock_opts {
    int ttl_ms;              /**< How long the lock lives unless extended
                                  (redis-py's `timeout`); default
                                  RK_LOCK_DEFAULT_TTL_MS; negative: it never
                                  expires (then extend, reacquire and the
                                  watchdog are refused with RK_EINVAL). */
    int sleep_ms;            /**< Pause between tries of a blocking
                                  acquire; default RK_LOCK_DEFAULT_SLEEP_MS. */
    bool non_blocking;       /**< Acquire tries once (redis-py's
                                  `blocking=False`); default: keep trying. */
    int blocking_timeout_ms; /**< How long a blocking acquire keeps trying
                                  before RK_ELOCKED; default 0: no limit. */
    bool watchdog;           /**< Start a thread at each acquisition that
                                  resets the TTL every third of it until
                                  release; see rk_lock_acquire. Default off. */
    rk_lock_lost_fn on_lost; /**< Told when the watchdog loses the lock;
                                  default none. */
    void *lost_userdata;     /**< Passed to on_lost. */
    bool fencing;            /**< Give each acquisition a fencing token (see
                                  rk_lock_fence). Costs a counter key that
                                  lives for ever (it must: were it to expire,
                                  numbers would start again at 1). Default
                                  off. */
    const char *fence_key;   /**< The counter's key. Default: `{name}:fence`,
                                  or `name:fence` when name already has a
                                  `{hash tag}`, so both keys fall in one
                                  cluster slot. A name with a `}` but no
                                  tag needs fence_key set for a cluster. */
} rk_lock_opts;

/** A lock named `name` (the key) on client's server. Nothing is sent yet.
 *  client is borrowed and must outlive the lock; name and opts (NULL: all
 *  defaults) are copied. Returns NULL with rk_error_last() on RK_EINVAL
 *  (empty name, a watchdog without a TTL) or RK_ENOMEM. */
rk_lock *(rk_lock_new)(rk_client *client, const char *name, const rk_lock_opts *opts,
                       size_t opts_size);
#define rk_lock_new(...) (rk_lock_new)(__VA_ARGS__, sizeof(rk_lock_opts))

/** Stops the watchdog and frees the object. It does not release the lock:
 *  call rk_lock_release first, or the key stays until its TTL runs out.
 *  NULL is fine. */
void rk_lock_free(rk_lock *lock);

/** Acquires the lock with a new random token: one `SET name token NX PX
 *  ttl` (with `fencing`, a script that does the same and increments the
 *  counter, atomically). When the lock is held elsewhere, a non-blocking
 *  lock fails at once; a blocking one tries again every sleep_ms and gives
 *  up once blocking_timeout_ms has passed (its last try is made at or after
 *  that time, never before). Both failures are RK_ELOCKED, not RK_ETIMEOUT:
 *  the server answered every try, and the answer was "held"; RK_ETIMEOUT
 *  stays a transport failure. With `watchdog`, a thread is started that
 *  resets the TTL every ttl/3 ms; it stops at release, or when an extension
 *  is refused (the lock was lost: on_lost is told) or no extension has
 *  succeeded for a whole TTL.
 *  Returns RK_OK; RK_ELOCKED; RK_EINVAL when this object holds the lock
 *  already (locks are not reentrant; after the watchdog lost it, acquiring
 *  again is fine); or a transport or server error. After RK_EIO,
 *  RK_ETIMEOUT, RK_ECLOSED or RK_EPROTO the SET may have run: a release is
 *  attempted, and failing that the key expires after its TTL. Blocks; one
 *  thread at a time per object. */
int rk_lock_acquire(rk_lock *lock);

/** Releases the lock: deletes the key if it still holds this owner's
 *  token. The object forgets its token whatever the outcome (redis-py does
 *  the same), and the watchdog is stopped first. Returns RK_OK;
 *  RK_ENOTOWNER when this object did not hold the lock or the key no
 *  longer holds its token (it expired, and maybe passed to someone else:
 *  the work done under it may have overlapped another owner's); or a
 *  transport or server error. */
int rk_lock_release(rk_lock *lock);

/** Extends the lock held by this object: adds ms to the time it has left,
 *  or with replace_ttl sets the time left to ms (redis-py's `extend`).
 *  Returns RK_OK; RK_ENOTOWNER when the key no longer holds this owner's
 *  token (nothing is changed then); RK_EINVAL when ms <= 0 or the lock
 *  has no TTL; or a transport or server error. */
int rk_lock_extend(rk_lock *lock, int ms, bool replace_ttl);

/** Resets the time left to the lock's ttl_ms (redis-py's `reacquire`);
 *  what the watchdog does. Returns as rk_lock_extend. */
int rk_lock_reacquire(rk_lock *lock);

/** Asks the server whether the key holds this object's token. A lock the
 *  watchdog lost is not owned, without asking. Returns RK_OK with *owned
 *  set, or a transport or server error. */
int rk_lock_owned(rk_lock *lock, bool *owned);

/** Asks the server whether anyone holds the lock (the key exists).
 *  Returns RK_OK with *locked set, or a transport or server error. */
int rk_lock_locked(rk_lock *lock, bool *locked);

/** The lock's remaining time (PTTL): milliseconds left, -1 when it never
 *  expires, -2 when nobody holds it. Whoever holds it: this is about the
 *  key, not this owner. Returns RK_OK with *ttl_ms set, or an error. */
int rk_lock_ttl(rk_lock *lock, long long *ttl_ms);

/** The fencing token of this object's current acquisition: a number larger
 *  than that of every earlier acquisition of the same lock (the counter at
 *  fence_key). 0 when the lock is not held by this object or `fencing` is
 *  off. */
long long rk_lock_fence(const rk_lock *lock);

/** This acquisition's token (RK_LOCK_TOKEN_LEN lowercase hex characters,
 *  NUL-terminated), or NULL when the object does not hold the lock.
 *  Borrowed: valid until the next acquire, release or free. */
const char *rk_lock_token(const rk_lock *lock);

/** The lock's name (its key). Borrowed, valid until rk_lock_free. */
const char *rk_lock_name(const rk_lock *lock);

/* ---- the lock from the async client ------------------------------------- */

/** A lock on one server used from an async client (async.h): rk_lock's
 *  key, token, commands, scripts and fencing, with every operation
 *  returning at once and completing through a callback on the loop's
 *  thread. A blocking acquire tries again every sleep_ms from the client's
 *  timer; it never blocks the loop. No watchdog (extend it from a timer of
 *  yours). One operation at a time per lock; the lock belongs to the
 *  loop's thread, as its client does. */
typedef struct rk_async_lock rk_async_lock;

/** An operation's completion: status as the rk_lock function of the same
 *  name returns it (RK_OK, RK_ELOCKED, RK_ENOTOWNER, RK_EINVAL, a transport
 *  or server error, with rk_error_last() set), or RK_ECANCELED when the
 *  lock or the client was freed first. Inside the callback the lock may
 *  be used again, or freed. */
typedef void (*rk_async_lock_fn)(rk_async_lock *lock, int status, void *userdata);

/** A lock named `name` used through ac (borrowed: free the lock first, or
 *  at least after its last operation completed). opts as rk_lock_new's,
 *  without a watchdog. NULL with rk_error_last() on RK_EINVAL (no client,
 *  empty name, a watchdog) or RK_ENOMEM. */
rk_async_lock *(rk_async_lock_new)(rk_async *ac, const char *name, const rk_lock_opts *opts,
                                   size_t opts_size);
#define rk_async_lock_new(...) (rk_async_lock_new)(__VA_ARGS__, sizeof(rk_lock_opts))

/** Frees the lock without releasing it (release first, or the key stays
 *  until its TTL runs out). An operation in progress completes with
 *  RK_ECANCELED from inside this call (the lock must not be used in that
 *  callback); an acquire whose command was sent is released once its
 *  answer comes, if it won. Allowed after the client was freed. NULL is
 *  fine. */
void rk_async_lock_free(rk_async_lock *lock);

/** Acquires the lock with a new token, as rk_lock_acquire: RK_OK, or
 *  RK_ELOCKED when held elsewhere (at once when non_blocking, else once
 *  blocking_timeout_ms passed, trying every sleep_ms); after a failure
 *  that may have let the SET run (RK_EIO, RK_ETIMEOUT, RK_ECLOSED,
 *  RK_EPROTO, RK_ECANCELED) a release is sent. Returns RK_OK when the
 *  operation started (cb will run exactly once, maybe before this returns
 *  if the connection fails at once), or a refusal (cb never runs):
 *  RK_EINVAL (no lock or callback, an operation in progress, this object
 *  holds the lock already), or the client's refusal (RK_ECLOSED...). */
int rk_async_lock_acquire(rk_async_lock *lock, rk_async_lock_fn cb, void *userdata);

/** Releases the lock, as rk_lock_release (the token is forgotten
 *  whatever the outcome): cb gets RK_OK, RK_ENOTOWNER when the key no
 *  longer holds this owner's token (it expired, maybe passed to another),
 *  or a failure. Refusals as rk_async_lock_acquire's, and RK_ENOTOWNER at
 *  once when this object does not hold the lock. */
int rk_async_lock_release(rk_async_lock *lock, rk_async_lock_fn cb, void *userdata);

/** Extends the lock, as rk_lock_extend: cb gets RK_OK, RK_ENOTOWNER (the
 *  token is gone; nothing changed), RK_EINVAL (the key lost its TTL), or a
 *  failure. Refusals as rk_async_lock_acquire's; RK_EINVAL at once when
 *  ms <= 0 or the lock has no TTL, RK_ENOTOWNER when not held. */
int rk_async_lock_extend(rk_async_lock *lock, int ms, bool replace_ttl, rk_async_lock_fn cb,
                         void *userdata);

/** As rk_lock_fence, rk_lock_token and rk_lock_name. */
long long rk_async_lock_fence(const rk_async_lock *lock);
const char *rk_async_lock_token(const rk_async_lock *lock);
const char *rk_async_lock_name(const rk_async_lock *lock);

/* ---- Redlock ------------------------------------------------------------ */

/** A lock over N independent servers (the Redlock algorithm of redis.io's
 *  "Distributed locks with Redis"): it is held when a majority (N/2 + 1)
 *  of them hold the key with this owner's token, and only for a validity
 *  time shorter than the TTL. Safe as long as no more than a minority of
 *  servers fail or lose their data (run them with persistence, or delay
 *  restarts by a TTL). It gives no fencing token: the instances' counters
 *  are independent, so no number is certain to grow across owners; a
 *  resource that needs fencing needs a lock service that provides it. One
 *  thread at a time per object, as for rk_lock. */
typedef struct rk_redlock rk_redlock;

/** How an rk_redlock behaves. Zeroed fields mean the defaults beside them. */
typedef struct rk_redlock_opts {
    int ttl_ms;              /**< The key's TTL on every instance; default
                                  RK_LOCK_DEFAULT_TTL_MS; 4 ms at least:
                                  a TTL no longer than the drift allowed
                                  (TTL/100 + 2 ms) plus 1 ms leaves no
                                  validity and is RK_EINVAL, here and in
                                  rk_redlock_extend. */
    int instance_timeout_ms; /**< Limit on each instance, far below the
                                  TTL, so that a dead instance costs little:
                                  it bounds waiting for a pooled connection,
                                  connecting and the round trip together
                                  (rk_call_opts.timeout_ms); default
                                  RK_REDLOCK_DEFAULT_INSTANCE_TIMEOUT_MS. */
    int attempts;            /**< Rounds of acquisition in all, the first
                                  included; default
                                  RK_REDLOCK_DEFAULT_ATTEMPTS; 1: no retry. */
    int retry_delay_ms;      /**< Before each retry, a random pause between
                                  half of this and this, so that competing
                                  clients fall out of step; default
                                  RK_REDLOCK_DEFAULT_RETRY_DELAY_MS. */
} rk_redlock_opts;

/** A Redlock over clients[0..n-1], one client per independent server
 *  (n >= 1; 5 is usual). The array is copied, the clients are borrowed
 *  and must outlive the lock; name and opts (NULL: defaults) are copied.
 *  Returns NULL with rk_error_last() on RK_EINVAL or RK_ENOMEM. */
rk_redlock *(rk_redlock_new)(rk_client *const *clients, size_t n, const char *name,
                             const rk_redlock_opts *opts, size_t opts_size);
#define rk_redlock_new(...) (rk_redlock_new)(__VA_ARGS__, sizeof(rk_redlock_opts))

/** Frees the object without releasing the lock (call rk_redlock_release
 *  first, or the keys stay until their TTL). NULL is fine. */
void rk_redlock_free(rk_redlock *lock);

/** Acquires the lock: with a new token, `SET name token NX PX ttl` on every
 *  instance in turn, each bounded by instance_timeout_ms and never retried.
 *  The validity is ttl - the time all that took - the clock drift allowed
 *  (1% of the TTL + 2 ms). With a majority and a positive validity the lock
 *  is held: RK_OK, and *validity_ms (may be NULL) says for how long from
 *  the call's return, at most. Otherwise the key is deleted from every
 *  instance again (even where the SET seemed to fail: it may have run),
 *  and after a random pause the round is tried again, up to `attempts`
 *  rounds. Failure: RK_ELOCKED when some instance answered that the lock
 *  is held by another; RK_ETIMEOUT when a majority was reached but too
 *  late (no validity left); else the last instance's failure (RK_ECONNECT,
 *  RK_ETIMEOUT, RK_EIO...). rk_error_last() says how many instances
 *  agreed; rk_redlock_instance_status says which. RK_EINVAL when this
 *  object holds the lock already. */
int rk_redlock_acquire(rk_redlock *lock, long long *validity_ms);

/** Sets the key's TTL to ttl_ms (0: the configured ttl_ms) on every
 *  instance that still holds this owner's token. Succeeds, with a new
 *  *validity_ms (may be NULL) computed as for acquire, only when a
 *  majority did so within a positive validity. Otherwise the lock must be
 *  taken as lost (release it): RK_ENOTOWNER when instances answered that
 *  the token is gone, RK_ETIMEOUT when there was no validity left, else
 *  the last instance's failure. */
int rk_redlock_extend(rk_redlock *lock, int ttl_ms, long long *validity_ms);

/** Deletes the key, where it holds this owner's token, on every instance
 *  (each bounded by instance_timeout_ms), and forgets the token. Returns
 *  RK_OK when a majority released it; RK_ENOTOWNER when the object did not
 *  hold it or too few instances still had the token (it had expired);
 *  else, when failures kept the majority from answering, the last one. */
int rk_redlock_release(rk_redlock *lock);

/** What instance i (its index in the clients array) answered in the last
 *  acquire, extend or release: RK_OK (it holds, or released, the key),
 *  RK_ELOCKED (held by another), RK_ENOTOWNER (token gone), or its
 *  failure. RK_EINVAL when i is out of range. */
int rk_redlock_instance_status(const rk_redlock *lock, size_t i);

/** This acquisition's token, or NULL when the object does not hold the
 *  lock. Borrowed: valid until the next acquire, release or free. */
const char *rk_redlock_token(const rk_redlock *lock);

#ifdef __cplusplus
}
#endif
#endif
