/* The socket transport: TCP (IPv4/IPv6) and Unix stream sockets.
 *
 * A connect walks the getaddrinfo() list: each address gets a fresh
 * non-blocking, close-on-exec socket; the first that connects wins. Reads
 * and writes pass MSG_DONTWAIT (and MSG_NOSIGNAL: no SIGPIPE), so they never
 * block even once the socket is put in blocking mode for read_block, which
 * waits in recv itself, bounded by SO_RCVTIMEO. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/socket.h"
#include "util/common.h"

/* A socket transport's own state (t->impl). */
typedef struct sock {
    struct addrinfo *addrs, *next_addr; /* while connecting over TCP */
    int connect_errno;                  /* the last address's failure, for the message */
    bool nodelay, keepalive;
    int ka_idle, ka_interval, ka_count;
    int rcvtimeo_ms; /* SO_RCVTIMEO last set, 0 = none */
} sock;

static const rk_net_opts no_opts;
static const rk_transport_ops socket_ops;

static rk_transport *socket_new(const rk_net_opts *o, const char *peer) {
    sock *s = rk_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->nodelay = o->tcp_nodelay;
    s->keepalive = o->keepalive;
    s->ka_idle = o->keepalive_idle_s;
    s->ka_interval = o->keepalive_interval_s;
    s->ka_count = o->keepalive_count;
    rk_transport *t = rk_transport_new(&socket_ops, s, peer);
    if (t == NULL)
        rk_free(s);
    return t;
}

static void drop_addrs(sock *s) {
    if (s->addrs != NULL)
        freeaddrinfo(s->addrs);
    s->addrs = s->next_addr = NULL;
}

static void socket_free(void *impl) {
    drop_addrs(impl);
    rk_free(impl);
}

/* ---- raw I/O, for this file and the layers above ---------------------------- */

ssize_t rk_socket_recv(int fd, void *buf, size_t n) {
    ssize_t r;
    do
        r = recv(fd, buf, n, MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r;
}

ssize_t rk_socket_send(int fd, const void *buf, size_t n) {
    ssize_t r;
    do
        r = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
    while (r < 0 && errno == EINTR);
    return r;
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
static int tune_tcp(rk_transport *t, const sock *s) {
    int rc = RK_OK;
    if (s->nodelay)
        rc = set_opt(t, IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    if (rc != RK_OK || !s->keepalive)
        return rc;
    rc = set_opt(t, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
    if (rc == RK_OK && s->ka_idle > 0)
        rc = set_opt(t, IPPROTO_TCP, TCP_KEEPIDLE, s->ka_idle, "TCP_KEEPIDLE");
    if (rc == RK_OK && s->ka_interval > 0)
        rc = set_opt(t, IPPROTO_TCP, TCP_KEEPINTVL, s->ka_interval, "TCP_KEEPINTVL");
    if (rc == RK_OK && s->ka_count > 0)
        rc = set_opt(t, IPPROTO_TCP, TCP_KEEPCNT, s->ka_count, "TCP_KEEPCNT");
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
    sock *s = t->impl;
    t->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
    if (t->fd < 0) {
        s->connect_errno = errno; /* e.g. no IPv6 here: next address */
        return RK_ECONNECT;
    }
    if (family != AF_UNIX) {
        int rc = tune_tcp(t, s);
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
    s->connect_errno = errno;
    close_fd(t);
    return RK_ECONNECT;
}

static int connected(rk_transport *t) {
    t->connecting = false;
    t->want = RK_NET_READ;
    drop_addrs(t->impl);
    return RK_OK;
}

/* Every address failed; the last one's error speaks for all. */
static int all_failed(rk_transport *t) {
    sock *s = t->impl;
    int err = s->connect_errno;
    t->connecting = false;
    drop_addrs(s);
    return rk_net_fail_errno(err == ETIMEDOUT ? RK_ETIMEOUT : RK_ECONNECT, err, "connect to",
                             t->peer);
}

/* Starts on the remaining addresses until one connects or is in progress. */
static int try_addresses(rk_transport *t) {
    sock *s = t->impl;
    while (s->next_addr != NULL) {
        const struct addrinfo *ai = s->next_addr;
        s->next_addr = ai->ai_next;
        int rc = connect_one(t, ai->ai_family, ai->ai_protocol, ai->ai_addr, ai->ai_addrlen);
        if (rc == RK_OK)
            return connected(t);
        if (rc != RK_ECONNECT)
            return rc;
    }
    return all_failed(t);
}

static int resolve(sock *s, const char *host, int port) {
    char service[16];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int g = getaddrinfo(host, service, &hints, &s->addrs);
    if (g == 0) {
        s->next_addr = s->addrs;
        return RK_OK;
    }
    s->addrs = NULL;
    if (g == EAI_MEMORY)
        return rk_fail(RK_ENOMEM, "out of memory resolving %s", host);
    if (g == EAI_SYSTEM)
        return rk_net_fail_errno(RK_ERESOLVE, errno, "resolving", host);
    return rk_fail(RK_ERESOLVE, "could not resolve %s: %s", host, gai_strerror(g));
}

static int check_opts(const rk_net_opts *o) {
    if (o->keepalive_idle_s < 0 || o->keepalive_interval_s < 0 || o->keepalive_count < 0)
        return rk_fail(RK_EINVAL, "keepalive settings must not be negative");
    return RK_OK;
}

/* Hands a started transport out, or closes it on failure. */
static int started(rk_transport *t, int rc, rk_transport **out) {
    if (rc != RK_OK && rc != RK_EAGAIN) {
        rk_transport_close(t);
        return rc;
    }
    *out = t;
    return rc;
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
    char peer[RK_NET_PEER_MAX];
    snprintf(peer, sizeof(peer), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    rk_transport *t = socket_new(o, peer);
    if (t == NULL)
        return rk_fail(RK_ENOMEM, "out of memory");
    rc = resolve(t->impl, host, port);
    if (rc == RK_OK)
        rc = try_addresses(t);
    return started(t, rc, out);
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
    rk_transport *t = socket_new(o, path);
    if (t == NULL)
        return rk_fail(RK_ENOMEM, "out of memory");
    int rc = connect_one(t, AF_UNIX, 0, (const struct sockaddr *)&sa, (socklen_t)sizeof(sa));
    if (rc == RK_ECONNECT)
        rc = all_failed(t);
    return started(t, rc, out);
}

/* connect_step: completes a connect after the fd turned writable. */
static int socket_connect_step(rk_transport *t) {
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
    ((sock *)t->impl)->connect_errno = err;
    close_fd(t);
    t->connecting = false;
    return try_addresses(t);
}

/* ---- I/O ------------------------------------------------------------------- */

/* Turns what recv returned into the transport's answer: > 0 bytes, RK_EAGAIN
 * when it would block (or when a blocking read's SO_RCVTIMEO ran out, or a
 * signal interrupted it: its caller then checks its deadline), or a
 * failure. */
static ssize_t recv_result(rk_transport *t, ssize_t r) {
    if (r > 0)
        return r;
    if (r == 0)
        return rk_fail(RK_EIO, "connection closed by server (%s)", t->peer);
    if (RK_WOULD_BLOCK(errno) || errno == EINTR) {
        t->want = RK_NET_READ;
        return RK_EAGAIN;
    }
    return rk_net_fail_errno(RK_EIO, errno, "read from", t->peer);
}

static ssize_t socket_read(rk_transport *t, void *buf, size_t n) {
    return recv_result(t, rk_socket_recv(t->fd, buf, n));
}

RK_HOT static ssize_t socket_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
    ssize_t r;
    if (iovcnt == 1) { /* the common case; send spares the kernel a msghdr */
        r = rk_socket_send(t->fd, iov->iov_base, iov->iov_len);
    } else {
        struct msghdr m;
        memset(&m, 0, sizeof(m));
        m.msg_iov = (struct iovec *)iov; /* sendmsg does not write to it */
        m.msg_iovlen = (size_t)RK_MIN(iovcnt, IOV_MAX);
        do
            r = sendmsg(t->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (r < 0 && errno == EINTR);
    }
    if (r >= 0)
        return r;
    if (RK_WOULD_BLOCK(errno)) {
        t->want = RK_NET_WRITE;
        return RK_EAGAIN;
    }
    return rk_net_fail_errno(RK_EIO, errno, "write to", t->peer);
}

/* Clears O_NONBLOCK: reads and writes pass MSG_DONTWAIT, so only
 * read_block's recv waits. */
static int socket_set_blocking(rk_transport *t) {
    int fl = fcntl(t->fd, F_GETFL);
    if (fl < 0 || fcntl(t->fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
        return rk_net_fail_errno(RK_EIO, errno, "fcntl on", t->peer);
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

/* Sets SO_RCVTIMEO to ms (0: none), unless it is already ms or at most a
 * quantum longer: the time left, read off a clock that ticks, comes out a
 * quantum higher now and then, and setting it back and forth would cost a
 * system call each time for nothing. */
static int set_rcvtimeo(rk_transport *t, sock *s, int ms) {
    int cur = s->rcvtimeo_ms;
    if (cur == ms || (ms > 0 && cur > ms && cur - ms <= RCVTIMEO_QUANTUM_MS))
        return RK_OK;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
    if (setsockopt(t->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        return rk_net_fail_errno(RK_EIO, errno, "setsockopt SO_RCVTIMEO on", t->peer);
    s->rcvtimeo_ms = ms;
    return RK_OK;
}

RK_HOT static ssize_t socket_read_block(rk_transport *t, void *buf, size_t n, int64_t timeout_ms) {
    int rc = set_rcvtimeo(t, t->impl, timeout_ms > 0 ? rcvtimeo_for(timeout_ms) : 0);
    if (rc != RK_OK)
        return rc;
    return recv_result(t, recv(t->fd, buf, n, 0));
}

static const rk_transport_ops socket_ops = {
    .name = "socket",
    .connect_step = socket_connect_step,
    .read = socket_read,
    .writev = socket_writev,
    .pending = NULL,
    .set_blocking = socket_set_blocking,
    .read_block = socket_read_block,
    .free = socket_free,
};
