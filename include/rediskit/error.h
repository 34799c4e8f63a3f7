/** @file rediskit/error.h
 * rediskit: error codes and the per-thread error detail.
 *
 * Every fallible function returns an int: RK_OK (0) or a negative RK_E...
 * code naming the kind of failure. The human detail (a message, and for a
 * server's error reply its prefix such as "WRONGTYPE") is kept per thread
 * and read with rk_error_last(), as libgit2 does.
 *
 * Constructors are alike: every rk_x_new (rk_client_new, rk_conn_new,
 * rk_pipeline_new, rk_pubsub_new, rk_lock_new, rk_redlock_new,
 * rk_scanner_new, rk_reader_new, rk_writer_new, rk_script_new,
 * rk_client_new_url) returns the new object, or NULL with the reason
 * recorded for rk_error_last(): RK_EINVAL and a message for a bad
 * argument or option, RK_ENOMEM when out of memory, or what else stopped
 * it (RK_ETLS when a certificate does not load). The object is freed with
 * the matching rk_x_free, which takes NULL.
 *
 * One positive code exists: a typed command whose output is a single
 * value (rk_get, rk_zscore...) returns RK_NIL when the server answered nil
 * (no such key or member). It is not a failure: test `rc < 0` for those. */
#ifndef RK_ERROR_H
#define RK_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes. Zero is success; every failure is negative; RK_NIL
 *  (positive) says a typed command's single value was nil. It is 2, not 1,
 *  so that it is never taken for the 1 with which rk_reader_next,
 *  rk_pubsub_get_message and the iterators say "here is one". */
typedef enum rk_status {
    RK_NIL = 2,          /**< Not a failure: a typed command's value is nil. */
    RK_OK = 0,           /**< Success. */
    RK_EIO = -1,         /**< Socket read or write failed, or the peer closed. */
    RK_ETIMEOUT = -2,    /**< A connect, read or write timeout expired. */
    RK_EPROTO = -3,      /**< The peer broke the protocol or a reader limit. */
    RK_ESERVER = -4,     /**< The server answered with an error reply. */
    RK_EREDIRECT = -5,   /**< A MOVED or ASK redirection (cluster). */
    RK_EAUTH = -6,       /**< Authentication was refused. */
    RK_ENOMEM = -7,      /**< Out of memory. */
    RK_EINVAL = -8,      /**< A bad argument, URL or option. */
    RK_ECLOSED = -9,     /**< The object was closed or is broken. */
    RK_EPOOL = -10,      /**< The pool stayed exhausted past the timeout. */
    RK_ECONNECT = -11,   /**< Could not connect (refused, unreachable). */
    RK_ERESOLVE = -12,   /**< The host name did not resolve. */
    RK_ETLS = -13,       /**< TLS handshake or certificate check failed. */
    RK_EWATCH = -14,     /**< EXEC aborted: a WATCHed key changed. */
    RK_EEXECABORT = -15, /**< EXEC refused: a queued command was rejected. */
    RK_ENOTOWNER = -16,  /**< Lock release/extend by someone not holding it. */
    RK_ELOCKED = -17,    /**< The lock is held by someone else. */
    RK_EAGAIN = -18,     /**< Would block; try again when ready. */
    RK_ECANCELED = -19   /**< The command was cancelled, or its async client
                              freed, before it completed. */
} rk_status;

/** What rk_error_last() reports about the last failure on this thread. */
typedef struct rk_error {
    int code;            /**< The RK_E... code of the failure, or RK_OK. */
    const char *message; /**< A human-readable sentence; never NULL. */
    const char *prefix;  /**< Server error prefix ("WRONGTYPE", "MOVED"),
                              or "" when the failure is not a server error. */
} rk_error;

/** The last failure recorded on the calling thread. The strings stay valid
 *  until the next rediskit call on this thread that fails. Never NULL.
 *  A call that succeeds does not clear it: read it only right after a call
 *  returned a failure (or clear it first with rk_error_clear). */
const rk_error *rk_error_last(void);

/** Forgets the calling thread's last error. */
void rk_error_clear(void);

/** A short constant name for a status code ("timeout", "protocol error"). */
const char *rk_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
