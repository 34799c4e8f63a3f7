/* A fault-injecting TCP proxy for timeout, reconnect and retry tests.
 *
 * rkt_proxy_start() listens on a free 127.0.0.1 port and forwards each
 * connection to an upstream server from one thread inside the test process
 * (poll loop, non-blocking sockets). A mode picks what happens to the
 * connections it accepts next: pass, delay, close, reset, black-hole, or cut
 * the reply after n bytes. rkt_blackhole gives real connect timeouts. */
#ifndef RKT_PROXY_H
#define RKT_PROXY_H

#include <stdbool.h>

/* Typical use:
 *
 *     rkt_proxy *p = rkt_proxy_start("127.0.0.1", rkt_server_port(&srv));
 *     rkt_proxy_set_mode(p, RKT_PROXY_BLACKHOLE, 0);
 *     ... point the client at 127.0.0.1:rkt_proxy_port(p), expect a timeout ...
 *     rkt_proxy_set_mode(p, RKT_PROXY_PASS, 0);
 *     rkt_proxy_drop_all(p); (the client must reconnect, and now gets through)
 *     rkt_proxy_stop(p);
 */

typedef enum rkt_proxy_mode {
    RKT_PROXY_PASS = 0,  /**< Forward both ways, half-closes and resets too
                              (an upstream RST, or an upstream that refuses
                              the connect, resets the client). */
    RKT_PROXY_DELAY,     /**< Hold each chunk, either way, arg ms before
                              forwarding it; order is kept. */
    RKT_PROXY_CLOSE,     /**< Accept, then FIN at once: the client reads EOF.
                              What it sends is read and dropped (closing with
                              unread bytes would send RST instead). */
    RKT_PROXY_RESET,     /**< Accept, then close with SO_LINGER 0 at once:
                              the client sees ECONNRESET (or EPIPE), from
                              connect() itself if the RST beats its check. */
    RKT_PROXY_BLACKHOLE, /**< Accept and read, never answer, never connect
                              upstream: command timeouts. */
    RKT_PROXY_CUT,       /**< Forward, but the client gets only the first arg
                              bytes the server sends, then EOF (the upstream
                              connection is closed too): a server dying in
                              mid-reply. arg 0 cuts when the server first
                              sends anything. */
    RKT_PROXY_CUT_RESET  /**< Like CUT, but the client gets those arg bytes
                              and then RST (ECONNRESET) instead of EOF. */
} rkt_proxy_mode;

typedef struct rkt_proxy rkt_proxy;

/** What the proxy has done since it started. A client that has received
 *  bytes through the proxy sees them counted already. */
typedef struct rkt_proxy_stats {
    unsigned long accepted;        /**< Client connections accepted. */
    unsigned long active;          /**< Client connections open now. */
    unsigned long long bytes_up;   /**< Forwarded client -> server. */
    unsigned long long bytes_down; /**< Forwarded server -> client. */
} rkt_proxy_stats;

/** Starts a proxy to upstream_host:upstream_port (numeric or "localhost";
 *  looked up once, now) in PASS mode. Returns NULL after printing why.
 *  Free it with rkt_proxy_stop(). */
rkt_proxy *rkt_proxy_start(const char *upstream_host, int upstream_port);

/** The 127.0.0.1 port clients connect to. */
int rkt_proxy_port(const rkt_proxy *p);

/** Sets the mode (and its arg) of connections accepted from now on;
 *  connections already open keep theirs. Any thread, any time. */
void rkt_proxy_set_mode(rkt_proxy *p, rkt_proxy_mode mode, long arg);

/** Points connections accepted from now on at another upstream (a failover
 *  or a restarted server). Returns 0, or -1 if the name did not resolve. */
int rkt_proxy_set_upstream(rkt_proxy *p, const char *host, int port);

/** Closes every open connection (FIN to both sides) and returns once they
 *  are closed. */
void rkt_proxy_drop_all(rkt_proxy *p);

/** The same with RST (SO_LINGER 0) to both sides. */
void rkt_proxy_reset_all(rkt_proxy *p);

/** accepting false stops accepting: the listen backlog shrinks to 0 and one
 *  parked connection fills it, so that new connects hang in SYN-SENT (a
 *  real connect timeout) until accepting is true again; then the queued
 *  connects complete (at the client's next SYN retry, about 1-3 s) and are
 *  served. Returns once the change is made. */
void rkt_proxy_set_accepting(rkt_proxy *p, bool accepting);

/** A snapshot of the counters. */
void rkt_proxy_get_stats(rkt_proxy *p, rkt_proxy_stats *out);

/** Stops the thread, closes every socket and frees p. NULL is fine. */
void rkt_proxy_stop(rkt_proxy *p);

/* ---- Connect timeouts ---------------------------------------------------
 *
 * A loopback connect() completes in the kernel as soon as a listener has
 * room in its accept queue, whether or not anyone calls accept(), so "a
 * server that does not accept" does not time out a connect. What does, on
 * Linux: a listener with backlog 0 whose queue already holds one
 * connection; the kernel then drops every new SYN (the accept queue is
 * full; SYN cookies do not apply) and the connecting client waits, resending
 * SYNs, until its own timeout. Non-routable addresses are not an option
 * (loopback only). */

typedef struct rkt_blackhole rkt_blackhole;

/** A 127.0.0.1 listener whose connects never complete. NULL on failure. */
rkt_blackhole *rkt_blackhole_start(void);
int rkt_blackhole_port(const rkt_blackhole *b);
void rkt_blackhole_stop(rkt_blackhole *b);

#endif
