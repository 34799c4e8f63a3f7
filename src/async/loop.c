/* The built-in event loop (loop.h): the async contract over epoll on
 * Linux, or poll() anywhere.
 *
 * Each attached client has a registration: the fd and events it asked
 * for, and its one timer as an absolute deadline. An iteration waits until
 * the earliest deadline, hands readiness to the clients, then fires the
 * timers due. A client may free itself (or another) from a callback: its
 * registration is only marked dead then, and freed at the end of the
 * iteration, since the batch of events in hand may still name it. A pipe
 * wakes the loop for rk_loop_stop and the contract's wake. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#include "async/async_int.h"
#include "rediskit/conn.h"
#include "rediskit/loop.h"
#include "util/common.h"

/* Events handled per wait, at most. */
#define BATCH 64

typedef struct reg {
    rk_loop *loop;
    rk_async *ac;
    int fd, events;
    int64_t deadline; /* -1: no timer */
    bool dead;
    struct reg *next;
} reg;

struct rk_loop {
    int epfd; /* -1 with poll() */
    int wake[2];
    volatile sig_atomic_t stop;
    reg *regs;
    struct pollfd *pfd; /* poll(): room for cap entries */
    reg **pfd_reg;
    size_t cap;
};

/* ---- the contract -------------------------------------------------------- */

#ifdef __linux__
static uint32_t epoll_events(int events) {
    return (events & RK_WANT_READ ? EPOLLIN : 0u) | (events & RK_WANT_WRITE ? EPOLLOUT : 0u);
}
#endif

/* With epoll the kernel's set follows the registration; with poll() the
 * set is built anew at each wait. A closed fd has left the epoll set
 * already, so a failed DEL is fine. */
static void loop_watch(void *data, int fd, int events) {
    reg *g = data;
#ifdef __linux__
    int epfd = g->loop->epfd;
    if (epfd >= 0 && g->fd >= 0 && (fd != g->fd || events == 0))
        epoll_ctl(epfd, EPOLL_CTL_DEL, g->fd, NULL);
    if (epfd >= 0 && events != 0) {
        struct epoll_event ev = {.events = epoll_events(events), .data.ptr = g};
        int op = g->fd == fd && g->events != 0 ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (epoll_ctl(epfd, op, fd, &ev) != 0 && errno == EEXIST)
            epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    }
#endif
    g->fd = events ? fd : -1;
    g->events = events;
}

static void loop_timer(void *data, int64_t delay_ms) {
    reg *g = data;
    g->deadline = delay_ms < 0 ? -1 : rk_now_ms() + delay_ms;
}

static void wake_up(rk_loop *l) {
    char b = 1;
    ssize_t n = write(l->wake[1], &b, 1); /* a full pipe wakes it as well */
    (void)n;
}

static void loop_wake(void *data) {
    wake_up(((reg *)data)->loop);
}

static void loop_detach(void *data) {
    reg *g = data;
    loop_watch(g, -1, 0);
    g->dead = true;
}

static int loop_attach_other(void *data, rk_async *other) {
    return rk_loop_attach(((reg *)data)->loop, other);
}

static const rk_loop_ops loop_ops = {
    .watch = loop_watch,
    .timer = loop_timer,
    .wake = loop_wake,
    .detach = loop_detach,
    .attach_other = loop_attach_other,
};

/* ---- life cycle ---------------------------------------------------------- */

static int nonblocking_pipe(int fds[2]) {
    if (pipe(fds) != 0)
        return rk_fail(RK_EIO, "the loop's wake-up pipe could not be made");
    for (int i = 0; i < 2; i++) {
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        fcntl(fds[i], F_SETFD, FD_CLOEXEC);
    }
    return RK_OK;
}

rk_loop *rk_loop_new(unsigned flags) {
    if (flags & ~(unsigned)RK_LOOP_POLL) {
        rk_fail(RK_EINVAL, "rk_loop_new: unknown flags 0x%x", flags & ~(unsigned)RK_LOOP_POLL);
        return NULL;
    }
    rk_loop *l = rk_calloc(1, sizeof(*l));
    if (l == NULL) {
        rk_fail(RK_ENOMEM, "out of memory creating a loop");
        return NULL;
    }
    l->epfd = -1;
    if (nonblocking_pipe(l->wake) != RK_OK) {
        rk_free(l);
        return NULL;
    }
#ifdef __linux__
    if (!(flags & RK_LOOP_POLL)) {
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = l};
        if (l->epfd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wake[0], &ev) != 0) {
            rk_loop_free(l);
            rk_fail(RK_EIO, "epoll could not be set up");
            return NULL;
        }
    }
#else
    (void)flags;
#endif
    return l;
}

/* Frees the registrations marked dead. */
static void sweep(rk_loop *l) {
    for (reg **p = &l->regs; *p;) {
        reg *g = *p;
        if (!g->dead) {
            p = &g->next;
            continue;
        }
        *p = g->next;
        rk_free(g);
    }
}

void rk_loop_free(rk_loop *l) {
    if (l == NULL)
        return;
    for (reg *g = l->regs; g; g = g->next)
        if (!g->dead)
            rk_async_detach(g->ac);
    sweep(l);
    if (l->epfd >= 0)
        close(l->epfd);
    close(l->wake[0]);
    close(l->wake[1]);
    rk_free(l->pfd);
    rk_free(l->pfd_reg);
    rk_free(l);
}

int rk_loop_attach(rk_loop *l, rk_async *ac) {
    if (l == NULL || ac == NULL)
        return rk_fail(RK_EINVAL, "rk_loop_attach: the loop and the client are required");
    reg *g = rk_calloc(1, sizeof(*g));
    if (g == NULL)
        return rk_fail(RK_ENOMEM, "out of memory attaching a client");
    *g = (reg){.loop = l, .ac = ac, .fd = -1, .deadline = -1, .next = l->regs};
    l->regs = g;
    int rc = rk_async_attach(ac, &loop_ops, g);
    if (rc != RK_OK)
        g->dead = true;
    return rc;
}

void rk_loop_wake(rk_loop *l) {
    wake_up(l);
}

void rk_loop_stop(rk_loop *l) {
    l->stop = 1;
    wake_up(l);
}

/* ---- one iteration ---------------------------------------------------------- */

/* Milliseconds until the earliest timer, capped by limit (negative: none). */
static int wait_time(const rk_loop *l, int limit) {
    int64_t now = rk_now_ms(), t = limit;
    for (const reg *g = l->regs; g; g = g->next) {
        if (g->dead || g->deadline < 0)
            continue;
        int64_t d = g->deadline > now ? g->deadline - now : 0;
        if (t < 0 || d < t)
            t = d;
    }
    return (int)RK_MIN(t, (int64_t)INT32_MAX);
}

/* Empties the wake-up pipe and lets every client take what other threads
 * posted to it. */
static void drain_wake(rk_loop *l) {
    char buf[64];
    while (read(l->wake[0], buf, sizeof(buf)) > 0)
        ;
    for (reg *g = l->regs; g; g = g->next)
        if (!g->dead)
            rk_async_on_wake(g->ac);
}

/* Readiness of one registration: read first (replies free in-flight
 * room), then write, unless the read freed the client. */
static void deliver(reg *g, bool readable, bool writable) {
    if (readable && !g->dead && (g->events & RK_WANT_READ))
        rk_async_on_readable(g->ac);
    if (writable && !g->dead && (g->events & RK_WANT_WRITE))
        rk_async_on_writable(g->ac);
}

static void fire_timers(rk_loop *l) {
    int64_t now = rk_now_ms();
    for (reg *g = l->regs; g; g = g->next) {
        if (g->dead || g->deadline < 0 || g->deadline > now)
            continue;
        g->deadline = -1;
        rk_async_on_timer(g->ac);
    }
}

#ifdef __linux__
static int wait_epoll(rk_loop *l, int timeout) {
    struct epoll_event ev[BATCH];
    int n = epoll_wait(l->epfd, ev, BATCH, timeout);
    if (n < 0)
        return errno == EINTR ? RK_OK : rk_fail(RK_EIO, "epoll_wait failed");
    for (int i = 0; i < n; i++) {
        if (ev[i].data.ptr == l) {
            drain_wake(l);
            continue;
        }
        uint32_t e = ev[i].events;
        deliver(ev[i].data.ptr, e & (EPOLLIN | EPOLLHUP | EPOLLERR),
                e & (EPOLLOUT | EPOLLHUP | EPOLLERR));
    }
    return RK_OK;
}
#endif

/* Makes room for n pollfds. */
static int poll_room(rk_loop *l, size_t n) {
    if (n <= l->cap)
        return RK_OK;
    size_t cap = n * 2;
    struct pollfd *p = rk_realloc(l->pfd, cap * sizeof(*p));
    if (p == NULL)
        return rk_fail(RK_ENOMEM, "out of memory polling");
    l->pfd = p;
    reg **r = rk_realloc(l->pfd_reg, cap * sizeof(*r));
    if (r == NULL)
        return rk_fail(RK_ENOMEM, "out of memory polling");
    l->pfd_reg = r;
    l->cap = cap;
    return RK_OK;
}

static int wait_poll(rk_loop *l, int timeout) {
    size_t n = 1;
    for (const reg *g = l->regs; g; g = g->next)
        n++;
    if (poll_room(l, n) != RK_OK)
        return RK_ENOMEM;
    l->pfd[0] = (struct pollfd){.fd = l->wake[0], .events = POLLIN};
    n = 1;
    for (reg *g = l->regs; g; g = g->next) {
        if (g->dead || g->fd < 0)
            continue;
        short ev = (short)((g->events & RK_WANT_READ ? POLLIN : 0) |
                           (g->events & RK_WANT_WRITE ? POLLOUT : 0));
        l->pfd_reg[n] = g;
        l->pfd[n++] = (struct pollfd){.fd = g->fd, .events = ev};
    }
    int got = poll(l->pfd, (nfds_t)n, timeout);
    if (got < 0)
        return errno == EINTR ? RK_OK : rk_fail(RK_EIO, "poll failed");
    if (l->pfd[0].revents)
        drain_wake(l);
    for (size_t i = 1; i < n && got > 0; i++) {
        short e = l->pfd[i].revents;
        if (e == 0)
            continue;
        /* A registration whose fd changed during this batch waits for
         * the next wait. */
        reg *g = l->pfd_reg[i];
        if (g->fd == l->pfd[i].fd)
            deliver(g, e & (POLLIN | POLLHUP | POLLERR), e & (POLLOUT | POLLHUP | POLLERR));
    }
    return RK_OK;
}

int rk_loop_run_once(rk_loop *l, int timeout_ms) {
    int timeout = wait_time(l, timeout_ms);
    int rc;
#ifdef __linux__
    rc = l->epfd >= 0 ? wait_epoll(l, timeout) : wait_poll(l, timeout);
#else
    rc = wait_poll(l, timeout);
#endif
    if (rc == RK_OK)
        fire_timers(l);
    sweep(l);
    return rc;
}

int rk_loop_run(rk_loop *l) {
    int rc = RK_OK;
    while (!l->stop && rc == RK_OK)
        rc = rk_loop_run_once(l, -1);
    l->stop = 0;
    return rc;
}
