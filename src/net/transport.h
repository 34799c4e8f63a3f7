/* The generic transport: a byte stream over one file descriptor, whatever
 * carries it (a TCP or Unix socket, TLS over one), as a small table of
 * operations, plus the blocking helpers built on those operations.
 *
 * Every operation is non-blocking. An event loop drives a transport through
 * rk_net_connect_finish, rk_transport_read/writev and rk_transport_want; the
 * synchronous helpers below are thin loops over the same calls with poll()
 * and an absolute deadline. Implementations: socket.h (TCP/Unix), tls.h (a
 * layer over a socket). This file knows neither. */
#ifndef RK_NET_TRANSPORT_H
#define RK_NET_TRANSPORT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
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

typedef struct rk_transport rk_transport;

/* What an implementation provides. Every call is non-blocking (but
 * read_block) and reports as rk_transport_read/writev do: a byte count,
 * RK_EAGAIN after setting t->want, or a failure recorded with rk_fail().
 * The generic calls check what all share (closed, connecting, empty
 * buffers) before they call through, so the operations need not.
 *
 * A layer (TLS) replaces t->ops and t->impl with its own and keeps the
 * ones it wraps; its free() frees the wrapped layer's state too. Adding a
 * transport (an in-memory one for tests, say) is one more table: nothing
 * generic changes. */
typedef struct rk_transport_ops {
    const char *name; /* "socket", "tls": for messages and debugging */
    /* Advances the connect (the socket's, or a TLS handshake): RK_OK once
     * usable, RK_EAGAIN (wait for t->want; t->fd may be a new one), or a
     * failure. Must return RK_OK at once when there is nothing to do. */
    int (*connect_step)(rk_transport *t);
    ssize_t (*read)(rk_transport *t, void *buf, size_t n);                   /* n > 0 */
    ssize_t (*writev)(rk_transport *t, const struct iovec *iov, int iovcnt); /* >= 1 byte */
    /* True when a read would return bytes without touching the fd (TLS
     * holds decrypted bytes). NULL: never. */
    bool (*pending)(const rk_transport *t);
    /* Lets read_block wait in the read itself, and sets t->blocking.
     * NULL: the transport stays non-blocking (read_block is never called). */
    int (*set_blocking)(rk_transport *t);
    /* Waits in the read for at most about timeout_ms (> 0; 0: no limit):
     * > 0 bytes, RK_EAGAIN when none came in time or a signal came, or a
     * failure. Called only once t->blocking is set. */
    ssize_t (*read_block)(rk_transport *t, void *buf, size_t n, int64_t timeout_ms);
    /* Frees the state given as t->impl (and the layers it wraps). The fd is
     * the generic part's: it is closed after this. */
    void (*free)(void *impl);
} rk_transport_ops;

/* The longest peer name kept for messages, with its NUL. */
#define RK_NET_PEER_MAX 300

/* One connection's transport. Owned by one thread at a time. Only src/net/
 * writes the fields; the connection layer reads `blocking` (whether a
 * synchronous wait may be a blocking read instead of poll + read). */
struct rk_transport {
    const rk_transport_ops *ops; /* the top layer's operations */
    void *impl;                  /* the top layer's state, private to it */
    int fd;                      /* what poll() waits on; -1 once closed */
    int want;                    /* RK_NET_READ/RK_NET_WRITE after RK_EAGAIN */
    bool connecting;             /* the socket's connect is in progress */
    bool blocking;               /* set_blocking succeeded */
    char peer[RK_NET_PEER_MAX];  /* "host:port", "[v6]:port" or the socket path */
};

/* A transport with no fd yet (-1), serving `ops` with state `impl` (kept,
 * freed by ops->free at rk_transport_close). NULL when out of memory; the
 * caller still owns impl then. peer names it in messages (truncated). */
rk_transport *rk_transport_new(const rk_transport_ops *ops, void *impl, const char *peer);

/* Closes the fd and frees everything; NULL is fine. A TLS layer sends no
 * close_notify (it could write into a connection a forked parent still
 * uses). */
void rk_transport_close(rk_transport *t);

/* Completes a connect after the fd turned ready for rk_transport_want():
 * RK_OK connected (and, for TLS, handshaken), RK_EAGAIN still in progress
 * -- possibly on a NEW fd, because the previous address failed and the
 * next one is being tried: re-read rk_transport_fd() --, or the failure
 * (RK_ECONNECT/RK_ETIMEOUT once every address failed, RK_ETLS...). On
 * failure the transport stays allocated; the caller closes it. */
int rk_net_connect_finish(rk_transport *t);

/* ---- I/O ----------------------------------------------------------------
 * Both never block. read returns > 0 bytes; writev returns > 0 bytes
 * written (possibly fewer than asked), or 0 when the iovecs hold no bytes.
 * Failures: RK_EAGAIN (would block; rk_transport_want() says which
 * readiness to wait for, which for TLS may be the other direction), RK_EIO
 * (socket error, or the peer closed: "connection closed by server"),
 * RK_ETLS (a TLS alert or protocol error), RK_ECLOSED (not connected). Any
 * failure but RK_EAGAIN leaves the transport unusable except for
 * rk_transport_close.
 *
 * TLS: read may leave decrypted bytes inside OpenSSL when buf is full (see
 * rk_transport_pending). After writev returned RK_EAGAIN, the next writev
 * must begin with the same bytes (at least as many as before, or 16 KiB),
 * as it does when the caller keeps its unsent output queued. */
ssize_t rk_transport_read(rk_transport *t, void *buf, size_t n);
ssize_t rk_transport_writev(rk_transport *t, const struct iovec *iov, int iovcnt);

/* Which readiness the last RK_EAGAIN waits for: RK_NET_READ/RK_NET_WRITE. */
int rk_transport_want(const rk_transport *t);

/* True when a read would return data without touching the socket (TLS
 * buffers already hold decrypted bytes): poll would not report them. */
bool rk_transport_pending(const rk_transport *t);

/* Blocking reads for synchronous callers. rk_transport_set_blocking lets a
 * connected plain socket block (TLS ones stay non-blocking: a no-op); read
 * and writev above still never block. rk_transport_read_block then waits
 * in the read itself until the absolute deadline_ms (negative: no limit):
 * one system call where poll + read take two. Any deadline works, however
 * far. > 0 bytes, RK_ETIMEOUT (also when the deadline has passed already),
 * RK_EIO, or RK_EAGAIN when the transport is not blocking (use poll). */
int rk_transport_set_blocking(rk_transport *t);
ssize_t rk_transport_read_block(rk_transport *t, void *buf, size_t n, int64_t deadline_ms);

/* ---- blocking helpers, over the operations ------------------------------
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
const char *rk_transport_peer(const rk_transport *t); /* for messages */

/* ---- for implementations ------------------------------------------------ */
/* A position in an iovec array. rk_net_iov_advance moves it n bytes on and
 * past empty iovecs; it returns false once no byte is left. */
typedef struct rk_iov_pos {
    int i;
    size_t off;
} rk_iov_pos;
bool rk_net_iov_advance(const struct iovec *iov, int iovcnt, rk_iov_pos *pos, size_t n);

/* strerror_r that always returns the text (buf, or a static string). */
const char *rk_net_strerror(int err, char *buf, size_t len);

/* rk_fail(code, "<what> <peer> failed: <strerror(err)>"); returns code. */
int rk_net_fail_errno(int code, int err, const char *what, const char *peer);

#pragma GCC visibility pop

#endif
