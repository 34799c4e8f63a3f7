/** @file rediskit/options.h
 * rediskit: how to reach a server and how to behave there.
 *
 * One options struct serves rk_conn_new (which ignores the pool fields) and
 * rk_client_new. Fill it with designated initializers; every zeroed field
 * means the default written beside it:
 *
 *     rk_client *c = rk_client_new(&(rk_options){
 *         .host = "cache.local", .password = "s3cret", .db = 2,
 *         .command_timeout_ms = 500, .pool_size = 32});
 *
 * The same can be said as a URL (see rk_client_new_url in client.h).
 * Strings are copied by the function that takes the options.
 *
 * Options structs grow without breaking built programs. Every function
 * that takes one (rk_client_new, rk_conn_new, rk_pipeline_new,
 * rk_client_call_argv_opts...) has a last parameter `size_t opts_size`,
 * and a macro of the same name passes sizeof the struct as the caller's
 * header declared it, so calls are written without it:
 *
 *     rk_client *(rk_client_new)(const rk_options *opts, size_t opts_size);
 *     #define rk_client_new(...) (rk_client_new)(__VA_ARGS__, sizeof(rk_options))
 *
 * New fields are only ever appended. A program built against an older,
 * shorter struct passes its smaller size: the fields it did not know
 * take their defaults. A program built against a newer header passes a
 * larger size: accepted when every field this library does not know is
 * zero (left at its default), RK_EINVAL otherwise. A size of 0 is
 * RK_EINVAL. (Calling through the parenthesized name, `(rk_client_new)(o,
 * n)`, passes a size by hand, as bindings from other languages do.)
 *
 * The structs nested inside rk_options (rk_tls_options, rk_retry,
 * rk_reader_opts) cannot grow in place: a field appended to them would
 * move every rk_options field after them. They are frozen; a new TLS,
 * retry or limit setting is appended to rk_options itself. The ABI test
 * (tests/test_abi.c and tests/abi/layout.txt) fails when a field of a
 * public options struct moves or a frozen struct changes size. */
#ifndef RK_OPTIONS_H
#define RK_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "reader.h"
#include "reply.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Defaults of the fields below. */
#define RK_DEFAULT_HOST "127.0.0.1"        /**< Default of rk_options.host. */
#define RK_DEFAULT_PORT 6379               /**< Default of rk_options.port. */
#define RK_DEFAULT_CONNECT_TIMEOUT_MS 5000 /**< Default of rk_options.connect_timeout_ms. */
#define RK_DEFAULT_COMMAND_TIMEOUT_MS 5000 /**< Default of rk_options.command_timeout_ms. */
#define RK_DEFAULT_KEEPALIVE_S 60          /**< Default of rk_options.keepalive_s. */
#define RK_DEFAULT_HEALTH_CHECK_MS 30000   /**< Default of rk_options.health_check_ms. */
#define RK_DEFAULT_POOL_SIZE 16            /**< Default of rk_options.pool_size. */
#define RK_DEFAULT_POOL_TIMEOUT_MS 5000    /**< Default of rk_options.pool_timeout_ms. */
#define RK_DEFAULT_RETRY_ATTEMPTS 3        /**< Default of rk_retry.attempts. */
#define RK_DEFAULT_RETRY_BASE_MS 8         /**< Default of rk_retry.base_ms. */
#define RK_DEFAULT_RETRY_CAP_MS 512        /**< Default of rk_retry.cap_ms. */
#define RK_DEFAULT_MUX_CONNECTIONS 1       /**< Default of rk_options.mux_connections. */
#define RK_MAX_MUX_CONNECTIONS 64          /**< Most of rk_options.mux_connections. */

/** How a client (rk_client) runs its calls; see rk_options.mode. */
typedef enum rk_mode {
    /** Each call takes a connection of the node's pool for itself (the
     *  default). */
    RK_MODE_POOL = 0,
    /** Multiplexed: the calls of every thread share a few connections per
     *  node, carried by an engine thread of the client's; each call waits
     *  for its own reply. Commands that need a connection of their own
     *  (blocking ones, pipelines, transactions, pub/sub, rk_client_acquire)
     *  still use the pool. See rk_client_new in client.h. */
    RK_MODE_MUX = 1
} rk_mode;

/** TLS settings. The server's certificate is verified, and its name
 *  checked, unless `insecure` is set explicitly. TLS 1.2 or newer.
 *  Frozen (nested in rk_options): new TLS settings go into rk_options. */
typedef struct rk_tls_options {
    bool enabled;            /**< Use TLS (a rediss:// URL sets it). */
    const char *ca_file;     /**< PEM file of trusted CAs; default: ca_dir,
                                  or the system's trust store. */
    const char *ca_dir;      /**< Hashed directory of trusted CAs. */
    const char *cert_file;   /**< Client certificate, for mutual TLS. */
    const char *key_file;    /**< Its private key, not encrypted (no
                                  passphrase is asked); set both or
                                  neither. */
    const char *server_name; /**< SNI and the name verified; default the
                                  host. "" is RK_EINVAL. */
    bool insecure;           /**< No certificate or name check at all. */
} rk_tls_options;

/** The kinds of delay between retries (see rk_backoff_delay). */
typedef enum rk_backoff {
    RK_BACKOFF_DEFAULT = 0,        /**< RK_BACKOFF_EQUAL_JITTER. */
    RK_BACKOFF_NONE,               /**< Retry at once. */
    RK_BACKOFF_CONSTANT,           /**< Always base. */
    RK_BACKOFF_EXPONENTIAL,        /**< base * 2^n, at most cap. */
    RK_BACKOFF_FULL_JITTER,        /**< random in [0, exponential]. */
    RK_BACKOFF_EQUAL_JITTER,       /**< exponential/2 + random in
                                        [0, exponential/2]. */
    RK_BACKOFF_DECORRELATED_JITTER /**< random in [base, 3 * previous],
                                        at most cap. */
} rk_backoff;

/** Server error replies that may be retried (the command did not run). */
enum {
    RK_RETRY_LOADING = 1,         /**< LOADING: the server is loading its data. */
    RK_RETRY_MASTERDOWN = 2,      /**< MASTERDOWN: a replica lost its master. */
    RK_RETRY_TRYAGAIN = 4,        /**< TRYAGAIN (cluster, during resharding). */
    RK_RETRY_NO_ERRORS = 1u << 30 /**< Retry on none of them. */
};

/** When and how to retry a command that failed.
 *
 *  A command that was never sent (the connection could not be made or was
 *  found broken before writing) is always safe to retry. A command whose
 *  bytes were sent but whose reply never came is retried only if it is
 *  read-only or the call marked it idempotent; otherwise its error is
 *  returned and it is never repeated behind the caller's back.
 *  Frozen (nested in rk_options): new retry settings go into rk_options. */
typedef struct rk_retry {
    int attempts;       /**< Tries in all, the first included; default
                             RK_DEFAULT_RETRY_ATTEMPTS, 1 = never retry. */
    rk_backoff backoff; /**< Default RK_BACKOFF_EQUAL_JITTER. */
    int base_ms;        /**< Default RK_DEFAULT_RETRY_BASE_MS. */
    int cap_ms;         /**< Default RK_DEFAULT_RETRY_CAP_MS. */
    unsigned on_errors; /**< RK_RETRY_* mask; default LOADING |
                             MASTERDOWN | TRYAGAIN. */
    /** Called before each retry (attempt is 2 for the first retry), with
     *  the delay about to be slept and the error that caused it. The async
     *  client calls it on its loop's thread for each command it will send
     *  again on a new connection, with the wait before that connection is
     *  tried (0: at once), as it calls a command's callback (async.h: the
     *  client may be freed from it). */
    void (*on_retry)(void *userdata, int attempt, int delay_ms, int error);
    void *userdata; /**< Passed to on_retry. */
} rk_retry;

/** Called at every connect (and when RESET makes the connection
 *  authenticate again) for a user name and password, e.g. to fetch a
 *  short-lived token. Write NUL-terminated strings into the buffers (leave
 *  user empty for the default user) and return 0, or return non-zero to
 *  fail the connect with RK_EAUTH. The buffers hold 4096 bytes (user) and
 *  65536 bytes (password); a string that fills its buffer without a NUL
 *  fails the connect with RK_EINVAL. They are wiped once the handshake
 *  ends, whether it succeeded or not. */
typedef int (*rk_credentials_fn)(void *userdata, char *user, size_t user_size, char *password,
                                 size_t password_size);

/** Called with each RESP3 push message (for example a client-tracking
 *  invalidation) that arrives on a connection outside pub/sub. The push is
 *  borrowed for the duration of the call. Runs on the thread reading. */
typedef void (*rk_push_fn)(void *userdata, const rk_reply *push);

/** Connection, client and pool settings.
 *
 *  Timeouts (the *_ms fields) take any value up to INT_MAX: deadlines are
 *  kept in 64 bits, so INT_MAX (about 24.8 days) simply behaves as a very
 *  long limit. 0 keeps the default written beside each field. */
typedef struct rk_options {
    const char *host;              /**< Default RK_DEFAULT_HOST; IPv4, IPv6 or name. */
    int port;                      /**< Default RK_DEFAULT_PORT. */
    const char *unix_path;         /**< Connect to this Unix socket instead. */
    const char *username;          /**< ACL user; default: the default user.
                                        Given without a password, it is
                                        sent with an empty one (a nopass
                                        user; any other: WRONGPASS). */
    const char *password;          /**< Password, any length; default none.
                                        The settled copy is wiped when the
                                        client or connection is freed. */
    rk_credentials_fn credentials; /**< Overrides username/password. */
    /** Passed to credentials. */
    void *credentials_userdata;
    int db;                  /**< Database selected on connect; default 0. */
    int protocol;            /**< 2 or 3; default 3 (RESP3), falling back
                                  to 2 on a server without HELLO. */
    const char *client_name; /**< CLIENT SETNAME on connect; default none. */
    int connect_timeout_ms;  /**< Limit for connecting: the TCP or Unix
                                  connect, TLS and the HELLO handshake;
                                  default RK_DEFAULT_CONNECT_TIMEOUT_MS;
                                  negative: no limit. */
    int command_timeout_ms;  /**< Limit for sending a command and reading
                                  its reply, and for the health check's
                                  PING; default (0)
                                  RK_DEFAULT_COMMAND_TIMEOUT_MS; negative:
                                  no limit. A blocking command (BLPOP,
                                  XREAD BLOCK, WAIT...) gets its own
                                  blocking time on top, whichever API sent
                                  it, and none at all when it may block
                                  for ever. The default does not bound
                                  rk_conn_read (MONITOR lines, pipelined
                                  replies) nor pub/sub reads: only a
                                  value set here does. Read back through
                                  rk_client_options() it stays 0 for the
                                  default. */
    bool no_tcp_nodelay;     /**< Leave Nagle's algorithm on. */
    int keepalive_s;         /**< TCP keepalive idle time; default
                                  RK_DEFAULT_KEEPALIVE_S; negative: off. */
    int health_check_ms;     /**< PING a connection idle longer than this
                                  before using it; default
                                  RK_DEFAULT_HEALTH_CHECK_MS; negative:
                                  never. The PING must answer within the
                                  call's timeout (rk_call_opts), else the
                                  command timeout, else the connect
                                  timeout; if not, the connection is
                                  dropped (and another tried while the
                                  call has time left). Any answer will
                                  do: an error reply (NOPERM for a user
                                  denied PING) keeps it. */
    rk_tls_options tls;      /**< TLS; off by default. */
    rk_reader_opts limits;   /**< Reply size limits (see reader.h). */
    rk_push_fn on_push;      /**< Push messages; default: dropped. */
    void *push_userdata;     /**< Passed to on_push. */

    /* Client only. */
    int pool_size;       /**< Most connections open at once; default
                              RK_DEFAULT_POOL_SIZE. */
    int pool_timeout_ms; /**< How long to wait for a free connection
                              before RK_EPOOL; default
                              RK_DEFAULT_POOL_TIMEOUT_MS; negative: no
                              limit. */
    rk_retry retry;      /**< Retry policy; see rk_retry. */
    rk_mode mode;        /**< RK_MODE_POOL (default) or RK_MODE_MUX; URL
                              `mode=pool|mux`. */
    int mux_connections; /**< RK_MODE_MUX: multiplexed connections per node,
                              1 to RK_MAX_MUX_CONNECTIONS; default
                              RK_DEFAULT_MUX_CONNECTIONS; URL
                              `mux_connections=N`. */
} rk_options;

/** Reads a redis://, rediss:// or unix:// URL (the forms and options listed
 *  above rk_client_new_url in client.h) into *opts, which the caller fills
 *  with a base first (zeroes for the defaults): the URL overrides only
 *  what it says. The strings it sets point into one block returned in
 *  *storage: rk_free it once done with *opts (NULL when none was needed).
 *  RK_EINVAL with a message saying what is wrong, or RK_ENOMEM; *opts is
 *  untouched then. Only opts_size bytes of *opts are read and written
 *  (the macro passes the caller's sizeof): a URL option whose field the
 *  caller's older struct does not have is RK_EINVAL. */
int(rk_options_from_url)(const char *url, rk_options *opts, char **storage, size_t opts_size);
#define rk_options_from_url(...) (rk_options_from_url)(__VA_ARGS__, sizeof(rk_options))

/** The delay before retry number `attempt` (1 for the first retry) under
 *  the policy, given the previous delay (for decorrelated jitter) and a
 *  random seed updated in place. Never negative, never over the cap. */
int rk_backoff_delay(const rk_retry *policy, int attempt, int previous_ms, unsigned *seed);

#ifdef __cplusplus
}
#endif
#endif
