/* The transport layer: non-blocking TCP (IPv4/IPv6), Unix and TLS sockets.
 *
 * Everything here is non-blocking underneath. The connection layer drives it
 * either from an event loop (the *_start / *_finish / handshake step calls and
 * rk_transport_want) or synchronously through the blocking helpers, which are
 * thin loops over the same steps with poll() and an absolute deadline. */
#ifndef RK_NET_H
#define RK_NET_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#pragma GCC visibility push(hidden)

/* errno values meaning "would block" (one value on Linux, two elsewhere). */
#if EAGAIN == EWOULDBLOCK
#define RK_WOULD_BLOCK(e) ((e) == EAGAIN)
#else
#define RK_WOULD_BLOCK(e) ((e) == EAGAIN || (e) == EWOULDBLOCK)
#endif

/* Readiness a transport waits for; also the `events` mask of
 * rk_transport_wait(). */
enum { RK_NET_READ = 1, RK_NET_WRITE = 2 };

/* A TLS configuration built once and shared by any number of transports and
 * threads (immutable after rk_tls_ctx_new; reference counted). */
typedef struct rk_tls_ctx rk_tls_ctx;

typedef struct rk_tls_opts {
    const char *ca_file;   /* PEM bundle of trusted CAs; NULL: see ca_dir */
    const char *ca_dir;    /* hashed CA directory (c_rehash); with neither
                              set, the system's default trust store */
    const char *cert_file; /* client certificate chain (PEM) for mutual TLS */
    const char *key_file;  /* its private key (PEM); set both or neither */
    bool insecure;         /* no certificate or name check at all */
} rk_tls_opts;

/* How to connect. A zeroed struct means: no timeout, no TCP_NODELAY, no
 * keepalive, no TLS (the connection layer supplies its own defaults). */
typedef struct rk_net_opts {
    int connect_timeout_ms;      /* whole attempt: every address of the host and
                                    the TLS handshake; <= 0: no limit */
    bool tcp_nodelay;            /* TCP_NODELAY (TCP only) */
    bool keepalive;              /* SO_KEEPALIVE (TCP only) */
    int keepalive_idle_s;        /* TCP_KEEPIDLE; 0: system default */
    int keepalive_interval_s;    /* TCP_KEEPINTVL; 0: system default */
    int keepalive_count;         /* TCP_KEEPCNT; 0: system default */
    rk_tls_ctx *tls;             /* non-NULL: the blocking connects do TLS */
    const char *tls_server_name; /* SNI and name verified; NULL: the host
                                    (no name check over a Unix socket) */
} rk_net_opts;

/* One socket, plus an SSL object once TLS is started. Owned by one thread
 * at a time. The fields are private to src/net/. */
typedef struct rk_transport {
    int fd;
    int want;         /* RK_NET_READ/RK_NET_WRITE after RK_EAGAIN */
    bool connecting;  /* a TCP/Unix connect is in progress */
    int io_errno;     /* errno of the last failed socket call (TLS BIO) */
    bool peer_closed; /* the TLS BIO read end-of-file */
    struct ssl_st *ssl;
    rk_tls_ctx *tls;
    struct addrinfo *addrs, *next_addr; /* while connecting over TCP */
    int connect_errno;                  /* the last address's failure, for the message */
    bool nodelay, keepalive;
    int ka_idle, ka_interval, ka_count;
    bool blocking;   /* O_NONBLOCK cleared (plain sockets, once connected) */
    int rcvtimeo_ms; /* SO_RCVTIMEO last set, 0 = none */
    char peer[300];  /* "host:port", "[v6]:port" or the socket path */
} rk_transport;

/* ---- connecting, non-blocking -------------------------------------------
 * The *_start calls return RK_OK (connected), RK_EAGAIN (in progress: wait
 * until rk_transport_fd() is writable, then call rk_net_connect_finish), or a
 * failure with *out set to NULL. Name resolution (getaddrinfo) blocks unless
 * host is a numeric address; no timeout bounds it. */
int rk_net_tcp_start(const char *host, int port, const rk_net_opts *o, rk_transport **out);
int rk_net_unix_start(const char *path, const rk_net_opts *o, rk_transport **out);

/* Completes a connect after the fd turned writable: RK_OK connected,
 * RK_EAGAIN still in progress -- possibly on a NEW fd, because the previous
 * address failed and the next one is being tried: re-read rk_transport_fd()
 * --, or RK_ECONNECT/RK_ETIMEOUT once every address failed. On failure the
 * transport stays allocated; the caller closes it. */
int rk_net_connect_finish(rk_transport *t);

/* Attaches TLS to a connected transport (no I/O). server_name is sent as
 * SNI unless it is an IP literal, and the certificate must match it (DNS
 * name or IP address) unless the context is insecure; NULL skips the name
 * check. Errors: RK_ETLS, RK_ENOMEM, RK_EINVAL. */
int rk_net_tls_start(rk_transport *t, rk_tls_ctx *ctx, const char *server_name);

/* One step of the TLS handshake: RK_OK done, RK_EAGAIN (wait for
 * rk_transport_want()), or RK_ETLS with the reason ("certificate verify
 * failed: hostname mismatch"; also when the socket fails or the server
 * closes mid-handshake). With TLS 1.3 a server that refuses the client
 * certificate says so only after the handshake: the first write or read
 * then fails with RK_ETLS "tlsv13 alert certificate required". */
int rk_net_tls_handshake(rk_transport *t);

/* ---- connecting, blocking -------------------------------------------------
 * Connect (trying each address of host in turn) and, when o->tls is set, do
 * the TLS handshake, all within o->connect_timeout_ms. Errors: RK_EINVAL,
 * RK_ERESOLVE, RK_ECONNECT, RK_ETIMEOUT, RK_ETLS, RK_EIO, RK_ENOMEM. */
int rk_net_connect_tcp(const char *host, int port, const rk_net_opts *o, rk_transport **out);
int rk_net_connect_unix(const char *path, const rk_net_opts *o, rk_transport **out);

/* ---- I/O ----------------------------------------------------------------
 * Both never block. read returns > 0 bytes; writev returns > 0 bytes
 * written (possibly fewer than asked), or 0 when the iovecs hold no bytes.
 * Failures: RK_EAGAIN (would block; rk_transport_want() says which
 * readiness to wait for, which for TLS may be the other direction), RK_EIO
 * (socket error, or the peer closed: "connection closed by server"),
 * RK_ETLS (a TLS alert or protocol error). Any failure but RK_EAGAIN leaves
 * the transport unusable except for rk_transport_close.
 *
 * TLS: read may leave decrypted bytes inside OpenSSL when buf is full (see
 * rk_transport_pending). After writev returned RK_EAGAIN, the next writev
 * must begin with the same bytes (at least as many as before, or 16 KiB),
 * as it does when the caller keeps its unsent output queued. */
ssize_t rk_transport_read(rk_transport *t, void *buf, size_t n);
ssize_t rk_transport_writev(rk_transport *t, const struct iovec *iov, int iovcnt);

/* Blocking reads for synchronous callers. rk_transport_set_blocking clears
 * O_NONBLOCK on a connected plain socket (TLS ones stay non-blocking: a
 * no-op); read and writev above still never block, as they pass
 * MSG_DONTWAIT. rk_transport_read_block then waits in recv itself until
 * the absolute deadline_ms (negative: no limit), bounded with SO_RCVTIMEO
 * (set only when it changes): one system call where poll + read take two.
 * Any deadline works, however far (a far one costs a recv an hour).
 * > 0 bytes, RK_ETIMEOUT (also when the deadline has passed already),
 * RK_EIO, or RK_EAGAIN when the transport is not blocking (use poll). */
int rk_transport_set_blocking(rk_transport *t);
ssize_t rk_transport_read_block(rk_transport *t, void *buf, size_t n, int64_t deadline_ms);

/* Which readiness the last RK_EAGAIN waits for: RK_NET_READ/RK_NET_WRITE. */
int rk_transport_want(const rk_transport *t);

/* True when a read would return data without touching the socket (TLS
 * buffers already hold decrypted bytes): poll would not report them. */
bool rk_transport_pending(const rk_transport *t);

/* ---- blocking helpers -------------------------------------------------------
 * Deadlines are absolute rk_now_ms() times; a negative one never expires. */
int64_t rk_net_deadline(int timeout_ms); /* now + timeout; <= 0: -1 */

/* Waits until the fd is ready for `events` (RK_NET_READ|RK_NET_WRITE; also
 * ready when an error or hang-up is pending, so the next call reports it):
 * RK_OK, RK_ETIMEOUT, or RK_EIO. Returns at once for a read when
 * rk_transport_pending(). */
int rk_transport_wait(rk_transport *t, int events, int64_t deadline_ms);

/* read, waiting as needed (poll first: meant for a reply not yet there):
 * > 0 bytes, or a failure as above incl. RK_ETIMEOUT. */
ssize_t rk_transport_read_wait(rk_transport *t, void *buf, size_t n, int64_t deadline_ms);

/* Writes every byte of the iovecs (left unchanged) before the deadline:
 * RK_OK or a failure as above incl. RK_ETIMEOUT (some bytes may be sent). */
int rk_transport_write_all(rk_transport *t, const struct iovec *iov, int iovcnt,
                           int64_t deadline_ms);

/* ---- the rest -------------------------------------------------------------- */
int rk_transport_fd(const rk_transport *t);
bool rk_transport_is_tls(const rk_transport *t);
const char *rk_transport_peer(const rk_transport *t); /* for messages */

/* Closes the socket and frees everything; NULL is fine. No TLS close_notify
 * is sent (it could write into a connection a forked parent still uses). */
void rk_transport_close(rk_transport *t);

/* Builds a TLS context: TLS 1.2 minimum, peer verification unless
 * o->insecure. Errors: RK_EINVAL (cert without key...), RK_ETLS (a file
 * does not load, or the key does not match the certificate), RK_ENOMEM.
 * Without OpenSSL in the build every TLS call fails with RK_EINVAL. */
int rk_tls_ctx_new(const rk_tls_opts *o, rk_tls_ctx **out);

/* Drops a reference; transports hold their own, so this may be called while
 * they are still open. NULL is fine. */
void rk_tls_ctx_free(rk_tls_ctx *ctx);

/* ---- between tcp.c and tls.c ------------------------------------------- */
/* A position in an iovec array. rk_net_iov_advance moves it n bytes on and
 * past empty iovecs; it returns false once no byte is left. */
typedef struct rk_iov_pos {
    int i;
    size_t off;
} rk_iov_pos;
bool rk_net_iov_advance(const struct iovec *iov, int iovcnt, rk_iov_pos *pos, size_t n);
ssize_t rk_net_tls_read(rk_transport *t, void *buf, size_t n);
ssize_t rk_net_tls_writev(rk_transport *t, const struct iovec *iov, int iovcnt);
bool rk_net_tls_pending(const rk_transport *t);
void rk_net_tls_free(rk_transport *t);
const char *rk_net_strerror(int err, char *buf, size_t len);

#pragma GCC visibility pop

#endif
