/* TCP (IPv4/IPv6) and Unix socket transports.
 *
 * A connect walks the getaddrinfo() list: each address gets a fresh
 * non-blocking, close-on-exec socket; the first that connects wins. Plain
 * reads and writes live here (sendmsg with MSG_NOSIGNAL: no SIGPIPE), TLS
 * ones in tls.c, and the poll()-based blocking helpers serve both. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net.h"
#include "util/common.h"

/* How many iovecs rk_transport_write_all hands to one writev. */
#define WRITE_WINDOW 64

static const rk_net_opts no_opts;

const char *rk_net_strerror(int err, char *buf, size_t len) {
    return strerror_r(err, buf, len); /* the GNU one: may ignore buf */
}

static int sys_fail(int code, int err, const char *what, const char *peer) {
    char eb[128];
    return rk_fail(code, "%s %s failed: %s", what, peer, rk_net_strerror(err, eb, sizeof(eb)));
}

static rk_transport *transport_new(const rk_net_opts *o) {
    rk_transport *t = rk_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->fd = -1;
    t->want = RK_NET_READ;
    t->nodelay = o->tcp_nodelay;
    t->keepalive = o->keepalive;
    t->ka_idle = o->keepalive_idle_s;
    t->ka_interval = o->keepalive_interval_s;
    t->ka_count = o->keepalive_count;
    return t;
}

/* ---- connecting ---------------------------------------------------------- */

static int set_opt(rk_transport *t, int level, int name, int value, const char *what) {
    if (setsockopt(t->fd, level, name, &value, sizeof(value)) == 0)
        return RK_OK;
    char eb[128];
    return rk_fail(RK_EINVAL, "setsockopt(%s, %d) for %s failed: %s", what, value, t->peer,
                   rk_net_strerror(errno, eb, sizeof(eb)));
}

/* TCP_NODELAY and keepalive; a value the kernel refuses is RK_EINVAL. */
static int tune_tcp(rk_transport *t) {
    int rc = RK_OK;
    if (t->nodelay)
        rc = set_opt(t, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    if (rc != RK_OK || !t->keepalive)
        return rc;
    rc = set_opt(t, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
    if (rc == RK_OK && t->ka_idle > 0)
        rc = set_opt(t, IPPROTO_TCP, TCP_KEEPIDLE, t->ka_idle, "TCP_KEEPIDLE");
    if (rc == RK_OK && t->ka_interval > 0)
        rc = set_opt(t, IPPROTO_TCP, TCP_KEEPINTVL, t->ka_interval, "TCP_KEEPINTVL");
    if (rc == RK_OK && t->ka_count > 0)
        rc = set_opt(t, IPPROTO_TCP, TCP_KEEPCNT, t->ka_count, "TCP_KEEPCNT");
    return rc;
}

static void close_fd(rk_transport *t) {
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

/* Opens a socket and starts connecting it: RK_OK (connected), RK_EAGAIN (in
 * progress), RK_ECONNECT (this address failed: fd closed, connect_errno set;
 * try the next) or RK_EINVAL (a socket option was refused). */
static int connect_one(rk_transport *t, int family, int protocol, const struct sockaddr *addr,
                       socklen_t len) {
    t->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (t->fd < 0) {
        t->connect_errno = errno; /* e.g. no IPv6 here: next address */
        return RK_ECONNECT;
    }
    if (family != AF_UNIX) {
        int rc = tune_tcp(t);
        if (rc != RK_OK) {
            close_fd(t);
            return rc;
        }
    }
    if (connect(t->fd, addr, len) == 0)
        return RK_OK;
    if (errno == EINPROGRESS || errno == EINTR) { /* EINTR: still going on */
        t->connecting = true;
        t->want = RK_NET_WRITE;
        return RK_EAGAIN;
    }
    /* A Unix socket whose listen queue is full fails with EAGAIN at once;
     * it is reported as a refused connect. */
    t->connect_errno = errno;
    close_fd(t);
    return RK_ECONNECT;
}

static void drop_addrs(rk_transport *t) {
    if (t->addrs != NULL)
        freeaddrinfo(t->addrs);
    t->addrs = t->next_addr = NULL;
}

static int connected(rk_transport *t) {
    t->connecting = false;
    t->want = RK_NET_READ;
    drop_addrs(t);
    return RK_OK;
}

/* Every address failed; the last one's error speaks for all. */
static int all_failed(rk_transport *t) {
    int err = t->connect_errno;
    t->connecting = false;
    drop_addrs(t);
    return sys_fail(err == ETIMEDOUT ? RK_ETIMEOUT : RK_ECONNECT, err, "connect to", t->peer);
}

/* Starts on the remaining addresses until one connects or is in progress. */
static int try_addresses(rk_transport *t) {
    while (t->next_addr != NULL) {
        const struct addrinfo *ai = t->next_addr;
        t->next_addr = ai->ai_next;
        int rc = connect_one(t, ai->ai_family, ai->ai_protocol, ai->ai_addr, ai->ai_addrlen);
        if (rc == RK_OK)
            return connected(t);
        if (rc != RK_ECONNECT)
            return rc;
    }
    return all_failed(t);
}

static int resolve(rk_transport *t, const char *host, int port) {
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int g = getaddrinfo(host, service, &hints, &t->addrs);
    if (g == 0) {
        t->next_addr = t->addrs;
        return RK_OK;
    }
    t->addrs = NULL;
    if (g == EAI_MEMORY)
        return rk_fail(RK_ENOMEM, "out of memory resolving %s", host);
    if (g == EAI_SYSTEM)
        return sys_fail(RK_ERESOLVE, errno, "resolving", host);
    return rk_fail(RK_ERESOLVE, "could not resolve %s: %s", host, gai_strerror(g));
}

static int check_opts(const rk_net_opts *o) {
    if (o->keepalive_idle_s < 0 || o->keepalive_interval_s < 0 || o->keepalive_count < 0)
        return rk_fail(RK_EINVAL, "keepalive settings must not be negative");
    return RK_OK;
}

int rk_net_tcp_start(const char *host, int port, const rk_net_opts *o, rk_transport **out) {
    *out = NULL;
    o = o ? o : &no_opts;
    if (host == NULL || host[0] == '\0')
        return rk_fail(RK_EINVAL, "no host to connect to");
    if (port <= 0 || port > 65535)
        return rk_fail(RK_EINVAL, "bad port %d", port);
    int rc = check_opts(o);
    if (rc != RK_OK)
        return rc;
    rk_transport *t = transport_new(o);
    if (t == NULL)
        return rk_fail(RK_ENOMEM, "out of memory");
    snprintf(t->peer, sizeof(t->peer), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    rc = resolve(t, host, port);
    if (rc == RK_OK)
        rc = try_addresses(t);
    if (rc != RK_OK && rc != RK_EAGAIN) {
        rk_transport_close(t);
        return rc;
    }
    *out = t;
    return rc;
}

int rk_net_unix_start(const char *path, const rk_net_opts *o, rk_transport **out) {
    *out = NULL;
    o = o ? o : &no_opts;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (path == NULL || path[0] == '\0')
        return rk_fail(RK_EINVAL, "no Unix socket path");
    if (strlen(path) >= sizeof(sa.sun_path))
        return rk_fail(RK_EINVAL, "Unix socket path longer than %zu bytes: %s",
                       sizeof(sa.sun_path) - 1, path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    rk_transport *t = transport_new(o);
    if (t == NULL)
        return rk_fail(RK_ENOMEM, "out of memory");
    snprintf(t->peer, sizeof(t->peer), "%s", path);
    int rc = connect_one(t, AF_UNIX, 0, (const struct sockaddr *)&sa, (socklen_t)sizeof(sa));
    if (rc == RK_ECONNECT)
        rc = all_failed(t);
    if (rc != RK_OK && rc != RK_EAGAIN) {
        rk_transport_close(t);
        return rc;
    }
    *out = t;
    return rc;
}

int rk_net_connect_finish(rk_transport *t) {
    if (!t->connecting)
        return t->fd >= 0 ? RK_OK : rk_fail(RK_ECLOSED, "%s: not connected", t->peer);
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        /* No error yet is not success: the connect may still be going on
         * if we were called before the fd turned writable. */
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        if (getpeername(t->fd, (struct sockaddr *)&ss, &sl) == 0)
            return connected(t);
        if (errno == ENOTCONN)
            return RK_EAGAIN;
        err = errno;
    }
    if (err == EINPROGRESS || err == EALREADY)
        return RK_EAGAIN;
    t->connect_errno = err;
    close_fd(t);
    t->connecting = false;
    return try_addresses(t);
}

/* ---- blocking connects ----------------------------------------------------- */

static int handshake_blocking(rk_transport *t, const rk_net_opts *o, const char *name,
                              int64_t deadline) {
    int rc = rk_net_tls_start(t, o->tls, name);
    if (rc == RK_OK)
        rc = rk_net_tls_handshake(t);
    while (rc == RK_EAGAIN) {
        rc = rk_transport_wait(t, t->want, deadline);
        if (rc == RK_ETIMEOUT)
            return rk_fail(rc, "TLS handshake with %s timed out after %d ms", t->peer,
                           o->connect_timeout_ms);
        if (rc == RK_OK)
            rc = rk_net_tls_handshake(t);
    }
    return rc;
}

/* Drives a started connect (rc from *_start) and the TLS handshake. */
static int finish_blocking(rk_transport *t, int rc, const rk_net_opts *o, const char *name,
                           int64_t deadline) {
    while (rc == RK_EAGAIN) {
        rc = rk_transport_wait(t, RK_NET_WRITE, deadline);
        if (rc == RK_ETIMEOUT)
            return rk_fail(rc, "connect to %s timed out after %d ms", t->peer,
                           o->connect_timeout_ms);
        if (rc == RK_OK)
            rc = rk_net_connect_finish(t);
    }
    if (rc == RK_OK && o->tls != NULL)
        rc = handshake_blocking(t, o, name, deadline);
    return rc;
}

int rk_net_connect_tcp(const char *host, int port, const rk_net_opts *o, rk_transport **out) {
    o = o ? o : &no_opts;
    int64_t deadline = rk_net_deadline(o->connect_timeout_ms);
    rk_transport *t;
    int rc = rk_net_tcp_start(host, port, o, &t);
    if (t != NULL)
        rc = finish_blocking(t, rc, o, o->tls_server_name ? o->tls_server_name : host, deadline);
    if (rc != RK_OK) {
        rk_transport_close(t);
        t = NULL;
    }
    *out = t;
    return rc;
}

int rk_net_connect_unix(const char *path, const rk_net_opts *o, rk_transport **out) {
    o = o ? o : &no_opts;
    int64_t deadline = rk_net_deadline(o->connect_timeout_ms);
    rk_transport *t;
    int rc = rk_net_unix_start(path, o, &t);
    if (t != NULL)
        rc = finish_blocking(t, rc, o, o->tls_server_name, deadline);
    if (rc != RK_OK) {
        rk_transport_close(t);
        t = NULL;
    }
    *out = t;
    return rc;
}

/* ---- I/O ------------------------------------------------------------------- */

/* Reads into buf with recv flags: > 0 bytes, RK_EAGAIN when it would
 * block (or when a blocking read's SO_RCVTIMEO ran out, or a signal
 * interrupted it: its caller then checks its deadline), or a failure. */
static ssize_t plain_recv(rk_transport *t, void *buf, size_t n, int flags) {
    for (;;) {
        ssize_t r = recv(t->fd, buf, n, flags);
        if (r > 0)
            return r;
        if (r == 0)
            return rk_fail(RK_EIO, "connection closed by server (%s)", t->peer);
        if (errno == EINTR && (flags & MSG_DONTWAIT))
            continue;
        if (RK_WOULD_BLOCK(errno) || errno == EINTR) {
            t->want = RK_NET_READ;
            return RK_EAGAIN;
        }
        return sys_fail(RK_EIO, errno, "read from", t->peer);
    }
}

static ssize_t plain_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
    struct msghdr m;
    memset(&m, 0, sizeof(m));
    m.msg_iov = (struct iovec *)iov; /* sendmsg does not write to it */
    m.msg_iovlen = (size_t)RK_MIN(iovcnt, IOV_MAX);
    for (;;) {
        /* One iovec is the common case; send spares the kernel a msghdr. */
        ssize_t r = iovcnt == 1
                        ? send(t->fd, iov->iov_base, iov->iov_len, MSG_NOSIGNAL | MSG_DONTWAIT)
                        : sendmsg(t->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0)
            return r;
        if (errno == EINTR)
            continue;
        if (RK_WOULD_BLOCK(errno)) {
            t->want = RK_NET_WRITE;
            return RK_EAGAIN;
        }
        return sys_fail(RK_EIO, errno, "write to", t->peer);
    }
}

int rk_transport_set_blocking(rk_transport *t) {
    if (t->ssl != NULL || t->blocking)
        return RK_OK;
    int fl = fcntl(t->fd, F_GETFL);
    if (fl < 0 || fcntl(t->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return sys_fail(RK_EIO, errno, "fcntl on", t->peer);
    t->blocking = true;
    return RK_OK;
}

/* A blocking read's SO_RCVTIMEO is the time left rounded up to this, so
 * that a steady command timeout gives the same value call after call (set
 * once), and at most RCVTIMEO_MAX_MS: a longer wait is several recvs, so
 * that no deadline, however far, overflows a timeval or a kernel limit. */
#define RCVTIMEO_QUANTUM_MS 10
#define RCVTIMEO_MAX_MS (3600 * 1000)

/* The SO_RCVTIMEO for a recv with left > 0 ms to go. */
static int rcvtimeo_for(int64_t left) {
    left = RK_MIN(left, (int64_t)RCVTIMEO_MAX_MS);
    return (int)((left + RCVTIMEO_QUANTUM_MS - 1) / RCVTIMEO_QUANTUM_MS * RCVTIMEO_QUANTUM_MS);
}

static int set_rcvtimeo(rk_transport *t, int ms) {
    if (ms == t->rcvtimeo_ms)
        return RK_OK;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        return sys_fail(RK_EIO, errno, "setsockopt SO_RCVTIMEO on", t->peer);
    t->rcvtimeo_ms = ms;
    return RK_OK;
}

ssize_t rk_transport_read_block(rk_transport *t, void *buf, size_t n, int64_t deadline_ms) {
    if (!t->blocking)
        return RK_EAGAIN;
    for (;;) {
        int timeout = 0; /* none */
        if (deadline_ms >= 0) {
            int64_t left = deadline_ms - rk_now_ms();
            if (left <= 0)
                return rk_fail(RK_ETIMEOUT, "timed out waiting for a reply from %s", t->peer);
            timeout = rcvtimeo_for(left);
        }
        int rc = set_rcvtimeo(t, timeout);
        if (rc != RK_OK)
            return rc;
        ssize_t r = plain_recv(t, buf, n, 0);
        if (r != RK_EAGAIN)
            return r;
    }
}

static int check_open(const rk_transport *t) {
    if (RK_UNLIKELY(t->fd < 0 || t->connecting))
        return rk_fail(RK_ECLOSED, "%s: not connected", t->peer);
    return RK_OK;
}

ssize_t rk_transport_read(rk_transport *t, void *buf, size_t n) {
    int rc = check_open(t);
    if (rc != RK_OK)
        return rc;
    if (n == 0)
        return rk_fail(RK_EINVAL, "read into an empty buffer");
    return t->ssl ? rk_net_tls_read(t, buf, n) : plain_recv(t, buf, n, MSG_DONTWAIT);
}

ssize_t rk_transport_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
    int rc = check_open(t);
    if (rc != RK_OK)
        return rc;
    while (iovcnt > 0 && iov->iov_len == 0) {
        iov++;
        iovcnt--;
    }
    if (iovcnt <= 0)
        return 0;
    return t->ssl ? rk_net_tls_writev(t, iov, iovcnt) : plain_writev(t, iov, iovcnt);
}

bool rk_net_iov_advance(const struct iovec *iov, int iovcnt, rk_iov_pos *pos, size_t n) {
    while (pos->i < iovcnt && n >= iov[pos->i].iov_len - pos->off) {
        n -= iov[pos->i].iov_len - pos->off;
        pos->i++;
        pos->off = 0;
    }
    if (pos->i < iovcnt)
        pos->off += n;
    return pos->i < iovcnt;
}

int rk_transport_want(const rk_transport *t) {
    return t->want;
}

bool rk_transport_pending(const rk_transport *t) {
    return t->ssl != NULL && rk_net_tls_pending(t);
}

/* ---- blocking helpers -------------------------------------------------------- */

int64_t rk_net_deadline(int timeout_ms) {
    return timeout_ms > 0 ? rk_now_ms() + timeout_ms : -1;
}

/* The poll() timeout until deadline: -1 (none) or 0..INT_MAX ms. */
static int poll_timeout(int64_t deadline) {
    if (deadline < 0)
        return -1;
    int64_t left = deadline - rk_now_ms();
    return left <= 0 ? 0 : (int)RK_MIN(left, (int64_t)INT_MAX);
}

int rk_transport_wait(rk_transport *t, int events, int64_t deadline_ms) {
    if (t->fd < 0) /* poll() would ignore it and sleep */
        return rk_fail(RK_ECLOSED, "%s: not connected", t->peer);
    if ((events & RK_NET_READ) && rk_transport_pending(t))
        return RK_OK;
    struct pollfd p = {.fd = t->fd, .events = 0, .revents = 0};
    if (events & RK_NET_READ)
        p.events |= POLLIN;
    if (events & RK_NET_WRITE)
        p.events |= POLLOUT;
    for (;;) {
        int timeout = poll_timeout(deadline_ms);
        int n = poll(&p, 1, timeout);
        if (n > 0) {
            if (p.revents & POLLNVAL)
                return rk_fail(RK_EIO, "%s: socket is not open", t->peer);
            return RK_OK; /* POLLERR/POLLHUP: the next call tells which */
        }
        if (n == 0 && timeout == 0)
            return rk_fail(RK_ETIMEOUT, "timed out waiting for %s", t->peer);
        if (n < 0 && errno != EINTR)
            return sys_fail(RK_EIO, errno, "poll on", t->peer);
    }
}

ssize_t rk_transport_read_wait(rk_transport *t, void *buf, size_t n, int64_t deadline_ms) {
    /* Waiting first saves a failed read when the caller just sent a
     * request; poll() returns at once if bytes are already there. */
    int want = RK_NET_READ;
    for (;;) {
        int rc = rk_transport_wait(t, want, deadline_ms);
        if (rc == RK_ETIMEOUT)
            return rk_fail(rc, "read from %s timed out", t->peer);
        if (rc != RK_OK)
            return rc;
        ssize_t r = rk_transport_read(t, buf, n);
        if (r != RK_EAGAIN)
            return r;
        want = t->want;
    }
}

int rk_transport_write_all(rk_transport *t, const struct iovec *iov, int iovcnt,
                           int64_t deadline_ms) {
    struct iovec win[WRITE_WINDOW];
    rk_iov_pos pos = {0, 0};
    while (rk_net_iov_advance(iov, iovcnt, &pos, 0)) {
        int k = RK_MIN(iovcnt - pos.i, WRITE_WINDOW);
        memcpy(win, iov + pos.i, (size_t)k * sizeof(win[0]));
        win[0].iov_base = (char *)win[0].iov_base + pos.off;
        win[0].iov_len -= pos.off;
        ssize_t w = rk_transport_writev(t, win, k);
        if (w >= 0) {
            rk_net_iov_advance(iov, iovcnt, &pos, (size_t)w);
            continue;
        }
        if (w != RK_EAGAIN)
            return (int)w;
        int rc = rk_transport_wait(t, t->want, deadline_ms);
        if (rc == RK_ETIMEOUT)
            return rk_fail(rc, "write to %s timed out", t->peer);
        if (rc != RK_OK)
            return rc;
    }
    return RK_OK;
}

/* ---- the rest ------------------------------------------------------------------ */

int rk_transport_fd(const rk_transport *t) {
    return t->fd;
}

bool rk_transport_is_tls(const rk_transport *t) {
    return t->ssl != NULL;
}

const char *rk_transport_peer(const rk_transport *t) {
    return t->peer;
}

void rk_transport_close(rk_transport *t) {
    if (t == NULL)
        return;
    if (t->ssl != NULL || t->tls != NULL)
        rk_net_tls_free(t);
    close_fd(t);
    drop_addrs(t);
    rk_free(t);
}
