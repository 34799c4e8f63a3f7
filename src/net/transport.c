/* The generic transport: dispatch through the operations table, the checks
 * every implementation shares, and the poll()-based blocking helpers.
 *
 * Nothing here knows sockets or TLS apart from the fd that poll() waits
 * on; the implementations (socket.c, tls.c) call only the helpers at the
 * end of this file, so the dependencies run one way. */
#define _GNU_SOURCE
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/transport.h"
#include "util/common.h"

/* How many iovecs rk_transport_write_all hands to one writev. */
#define WRITE_WINDOW 64

rk_transport *rk_transport_new(const rk_transport_ops *ops, void *impl, const char *peer) {
    rk_transport *t = rk_calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->ops = ops;
    t->impl = impl;
    t->fd = -1;
    t->want = RK_NET_READ;
    snprintf(t->peer, sizeof(t->peer), "%s", peer);
    return t;
}

void rk_transport_close(rk_transport *t) {
    if (t == NULL)
        return;
    t->ops->free(t->impl);
    if (t->fd >= 0)
        close(t->fd);
    rk_free(t);
}

int rk_net_connect_finish(rk_transport *t) {
    return t->ops->connect_step(t);
}

/* ---- I/O ------------------------------------------------------------------- */

static int check_open(const rk_transport *t) {
    if (RK_UNLIKELY(t->fd < 0 || t->connecting))
        return rk_fail(RK_ECLOSED, "%s: not connected", t->peer);
    return RK_OK;
}

ssize_t rk_transport_read(rk_transport *t, void *buf, size_t n) {
    int rc = check_open(t);
    if (rc != RK_OK)
        return rc;
    if (RK_UNLIKELY(n == 0))
        return rk_fail(RK_EINVAL, "read into an empty buffer");
    return t->ops->read(t, buf, n);
}

RK_HOT ssize_t rk_transport_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
    int rc = check_open(t);
    if (rc != RK_OK)
        return rc;
    while (iovcnt > 0 && iov->iov_len == 0) {
        iov++;
        iovcnt--;
    }
    if (iovcnt <= 0)
        return 0;
    return t->ops->writev(t, iov, iovcnt);
}

int rk_transport_want(const rk_transport *t) {
    return t->want;
}

bool rk_transport_pending(const rk_transport *t) {
    return t->ops->pending != NULL && t->ops->pending(t);
}

int rk_transport_set_blocking(rk_transport *t) {
    if (t->blocking || t->ops->set_blocking == NULL)
        return RK_OK;
    return t->ops->set_blocking(t);
}

/* The time left until a deadline is read off the coarse clock: it lags by
 * less than a tick, so a wait may end that much after its deadline, never
 * before it, and a call with a timeout pays one precise clock read (its
 * deadline), not two. */
RK_HOT ssize_t rk_transport_read_block(rk_transport *t, void *buf, size_t n, int64_t deadline_ms) {
    if (!t->blocking)
        return RK_EAGAIN;
    for (;;) {
        int64_t left = 0; /* no limit */
        if (deadline_ms >= 0) {
            left = deadline_ms - rk_now_ms_coarse();
            if (left <= 0)
                return rk_fail(RK_ETIMEOUT, "timed out waiting for a reply from %s", t->peer);
        }
        ssize_t r = t->ops->read_block(t, buf, n, left);
        if (r != RK_EAGAIN)
            return r;
    }
}

/* ---- blocking helpers -------------------------------------------------------- */

RK_HOT int64_t rk_net_deadline(int timeout_ms) {
    return timeout_ms > 0 ? rk_now_ms() + timeout_ms : -1;
}

/* The poll() timeout until deadline: -1 (none) or 0..INT_MAX ms, by the
 * coarse clock as in rk_transport_read_block. */
static int poll_timeout(int64_t deadline) {
    if (deadline < 0)
        return -1;
    int64_t left = deadline - rk_now_ms_coarse();
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
            return rk_net_fail_errno(RK_EIO, errno, "poll on", t->peer);
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

const char *rk_transport_peer(const rk_transport *t) {
    return t->peer;
}

/* ---- for implementations ------------------------------------------------------- */

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

const char *rk_net_strerror(int err, char *buf, size_t len) {
    return strerror_r(err, buf, len); /* the GNU one: may ignore buf */
}

int rk_net_fail_errno(int code, int err, const char *what, const char *peer) {
    char eb[128];
    return rk_fail(code, "%s %s failed: %s", what, peer, rk_net_strerror(err, eb, sizeof(eb)));
}
