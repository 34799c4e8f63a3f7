/* The fault-injecting proxy: one thread, one poll loop, non-blocking sockets.
 *
 * Each accepted connection is a conn with two flows (client -> upstream is
 * "up", upstream -> client is "down"). A flow is a queue of chunks, each due
 * at a time (now, or now + delay), written in order once due. Control calls
 * from other threads set a flag under the lock, wake the loop through a
 * pipe and wait until the loop has acted on it. */
#define _GNU_SOURCE

#include "rkt_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define QUEUE_LIMIT (4u << 20) /* stop reading a side with this much queued */
#define LINGER_MS 2000         /* how long a FIN'd client may take to close */
#define CONTROL_WAIT_MS 5000
#define MAX_POLL_MS 1000

typedef struct chunk {
    struct chunk *next;
    long long due_ms;
    size_t len, off;
    char data[];
} chunk;

/* One direction. Invariant: queued == the unsent bytes of all chunks. */
typedef struct flow {
    chunk *head, *tail;
    size_t queued;
    bool eof;  /* the source sent FIN */
    bool shut; /* we passed that FIN on (shutdown SHUT_WR) */
} flow;

typedef struct conn {
    int cfd, ufd; /* -1 once closed */
    rkt_proxy_mode mode;
    long delay_ms;
    bool connecting;       /* upstream connect in progress */
    bool draining;         /* client got our FIN: read and drop until EOF */
    bool cut_pending;      /* CUT budget spent: cut once down is flushed */
    bool reset_when_acked; /* CUT_RESET: RST once the client has it all */
    bool dead;
    long long linger_until;    /* for draining and reset_when_acked */
    unsigned long long budget; /* CUT: bytes the client may still get */
    flow up, down;
    int cpoll, upoll; /* index in this round's pollfd array, or -1 */
} conn;

struct rkt_proxy {
    int lfd, port;
    int wake[2];
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t acted;
    /* Under lock. */
    rkt_proxy_mode mode;
    long arg;
    struct sockaddr_storage up_addr;
    socklen_t up_len;
    unsigned long req_gen, done_gen;
    bool op_drop, op_reset, op_pause, op_resume, op_stop;
    /* Proxy thread only. */
    conn **conns;
    size_t n_conns, cap_conns;
    bool accepting;
    int filler_fd, filler_port; /* the connection that fills the backlog */
    /* Counters, read by any thread. */
    atomic_ulong accepted, active;
    atomic_ullong bytes_up, bytes_down;
};

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd, bool reset) {
    if (*fd < 0)
        return;
    if (reset) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(*fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    close(*fd);
    *fd = -1;
}

static int resolve(const char *host, int port, struct sockaddr_storage *out, socklen_t *out_len) {
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, service, &hints, &res) != 0 || !res) {
        fprintf(stderr, "rkt_proxy: cannot resolve %s\n", host);
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *out_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* ---- Flows -------------------------------------------------------------- */

static int flow_push(flow *f, const char *data, size_t len, long long due) {
    chunk *k = malloc(sizeof *k + len);
    if (!k)
        return -1;
    k->next = NULL;
    k->due_ms = due;
    k->len = len;
    k->off = 0;
    memcpy(k->data, data, len);
    if (f->tail)
        f->tail->next = k;
    else
        f->head = k;
    f->tail = k;
    f->queued += len;
    return 0;
}

static void flow_clear(flow *f) {
    while (f->head) {
        chunk *k = f->head;
        f->head = k->next;
        free(k);
    }
    f->tail = NULL;
    f->queued = 0;
}

/* Writes the due chunks to fd. Returns 0, or -1 when fd is broken. Bytes
 * are counted before the send and uncounted if it fails, so that a client
 * which has read them also sees them counted. */
static int flow_flush(flow *f, int fd, long long now, atomic_ullong *counter) {
    while (f->head && f->head->due_ms <= now) {
        chunk *k = f->head;
        size_t want = k->len - k->off;
        atomic_fetch_add(counter, want);
        ssize_t n = send(fd, k->data + k->off, want, MSG_NOSIGNAL | MSG_DONTWAIT);
        atomic_fetch_sub(counter, want - (n > 0 ? (size_t)n : 0));
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        k->off += (size_t)n;
        f->queued -= (size_t)n;
        if (k->off < k->len)
            return 0;
        f->head = k->next;
        if (!f->head)
            f->tail = NULL;
        free(k);
    }
    return 0;
}

/* ---- Connections -------------------------------------------------------- */

/* Ends c; a reset side gets RST instead of FIN. */
static void conn_end(conn *c, bool reset_client, bool reset_upstream) {
    close_fd(&c->cfd, reset_client);
    close_fd(&c->ufd, reset_upstream);
    c->dead = true;
}

static void conn_free(rkt_proxy *p, conn *c) {
    close_fd(&c->cfd, false);
    close_fd(&c->ufd, false);
    flow_clear(&c->up);
    flow_clear(&c->down);
    free(c);
    atomic_fetch_sub(&p->active, 1);
}

/* Sends the client a FIN now and keeps reading (and dropping) what it sends
 * until it closes, so that our close() does not turn into a RST. */
static void start_draining(conn *c, long long now) {
    shutdown(c->cfd, SHUT_WR);
    c->draining = true;
    c->linger_until = now + LINGER_MS;
    flow_clear(&c->up);
}

/* CUT: the client has its budget; close upstream and end the client. */
static void do_cut(conn *c, long long now) {
    close_fd(&c->ufd, false);
    c->cut_pending = false;
    if (c->mode == RKT_PROXY_CUT_RESET) {
        c->reset_when_acked = true;
        c->linger_until = now + LINGER_MS;
        flow_clear(&c->up);
    } else {
        start_draining(c, now);
    }
}

static bool add_conn(rkt_proxy *p, conn *c) {
    if (p->n_conns == p->cap_conns) {
        size_t cap = p->cap_conns ? p->cap_conns * 2 : 16;
        conn **bigger = realloc(p->conns, cap * sizeof *bigger);
        if (!bigger)
            return false;
        p->conns = bigger;
        p->cap_conns = cap;
    }
    p->conns[p->n_conns++] = c;
    atomic_fetch_add(&p->active, 1);
    return true;
}

static int local_port(int fd) {
    struct sockaddr_storage a;
    socklen_t len = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &len) < 0 || a.ss_family != AF_INET)
        return -1;
    return ntohs(((struct sockaddr_in *)&a)->sin_port);
}

static bool is_filler(const rkt_proxy *p, const struct sockaddr_storage *peer) {
    return p->filler_port > 0 && peer->ss_family == AF_INET &&
           ntohs(((const struct sockaddr_in *)peer)->sin_port) == p->filler_port;
}

/* Sets up a new client connection in the mode current at accept time. */
static void take_client(rkt_proxy *p, int fd, long long now) {
    pthread_mutex_lock(&p->lock);
    rkt_proxy_mode mode = p->mode;
    long arg = p->arg;
    struct sockaddr_storage addr = p->up_addr;
    socklen_t addr_len = p->up_len;
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_add(&p->accepted, 1);
    if (mode == RKT_PROXY_RESET) {
        close_fd(&fd, true);
        return;
    }
    conn *c = calloc(1, sizeof *c);
    if (!c) {
        close_fd(&fd, true);
        return;
    }
    c->cfd = fd;
    c->ufd = -1;
    c->mode = mode;
    c->delay_ms = mode == RKT_PROXY_DELAY && arg > 0 ? arg : 0;
    c->budget = arg > 0 ? (unsigned long long)arg : 0;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (mode == RKT_PROXY_CLOSE) {
        start_draining(c, now);
    } else if (mode != RKT_PROXY_BLACKHOLE) {
        c->ufd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (c->ufd >= 0)
            setsockopt(c->ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = c->ufd < 0 ? -1 : connect(c->ufd, (struct sockaddr *)&addr, addr_len);
        if (rc < 0 && c->ufd >= 0 && errno == EINPROGRESS)
            c->connecting = true;
        else if (rc < 0)
            conn_end(c, true, false); /* refused at once: reset the client */
    }
    if (!add_conn(p, c)) {
        close_fd(&c->cfd, true);
        close_fd(&c->ufd, false);
        free(c);
    }
}

static void accept_clients(rkt_proxy *p, long long now) {
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int fd = accept4(p->lfd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (is_filler(p, &peer)) {
            p->filler_port = 0;
            close(fd);
            continue;
        }
        take_client(p, fd, now);
    }
}

/* Reads what the client sent. */
static void read_client(conn *c, long long now) {
    char buf[READ_CHUNK];
    for (int i = 0; i < 4 && c->cfd >= 0; i++) {
        ssize_t n = recv(c->cfd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                conn_end(c, false, true);
            return;
        }
        if (n == 0) {
            c->up.eof = true;
            if (c->draining || c->ufd < 0)
                conn_end(c, false, false);
            return;
        }
        if (c->draining || c->reset_when_acked || c->mode == RKT_PROXY_BLACKHOLE)
            continue;
        if (flow_push(&c->up, buf, (size_t)n, now + c->delay_ms) < 0)
            conn_end(c, true, true);
    }
}

/* Reads what the upstream sent; CUT modes forward only their budget. */
static void read_upstream(conn *c, long long now) {
    char buf[READ_CHUNK];
    bool cut = c->mode == RKT_PROXY_CUT || c->mode == RKT_PROXY_CUT_RESET;
    ssize_t n = recv(c->ufd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_end(c, true, false); /* pass an upstream reset on */
        return;
    }
    if (n == 0) {
        c->down.eof = true;
        return;
    }
    size_t take = (size_t)n;
    if (cut) {
        take = c->budget < take ? (size_t)c->budget : take;
        c->budget -= take;
        c->cut_pending = c->budget == 0;
    }
    if (take > 0 && flow_push(&c->down, buf, take, now + c->delay_ms) < 0)
        conn_end(c, true, true);
}

static void finish_connect(conn *c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(c->ufd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
        conn_end(c, true, false); /* refused: the client sees a reset */
        return;
    }
    c->connecting = false;
}

/* Passes a FIN on once everything before it is written. */
static void forward_eofs(conn *c) {
    if (c->up.eof && !c->up.head && !c->up.shut && c->ufd >= 0 && !c->connecting) {
        shutdown(c->ufd, SHUT_WR);
        c->up.shut = true;
    }
    if (c->down.eof && !c->down.head && !c->down.shut && c->cfd >= 0) {
        shutdown(c->cfd, SHUT_WR);
        c->down.shut = true;
    }
    if (c->up.shut && c->down.shut)
        conn_end(c, false, false);
}

static bool client_has_everything(const conn *c) {
    int unacked = 0;
    return ioctl(c->cfd, SIOCOUTQ, &unacked) == 0 && unacked == 0;
}

/* One connection's work after poll. */
static void service(rkt_proxy *p, conn *c, const struct pollfd *pfds, long long now) {
    short cre = c->cpoll >= 0 ? pfds[c->cpoll].revents : 0;
    short ure = c->upoll >= 0 ? pfds[c->upoll].revents : 0;
    if (c->connecting && ure)
        finish_connect(c);
    else if (!c->dead && ure)
        read_upstream(c, now);
    if (!c->dead && cre)
        read_client(c, now);
    if (!c->dead && c->ufd >= 0 && !c->connecting &&
        flow_flush(&c->up, c->ufd, now, &p->bytes_up) < 0)
        conn_end(c, true, true);
    if (!c->dead && c->cfd >= 0 && flow_flush(&c->down, c->cfd, now, &p->bytes_down) < 0)
        conn_end(c, true, true);
    if (c->dead)
        return;
    if (c->cut_pending && !c->down.head)
        do_cut(c, now);
    if (c->reset_when_acked && (client_has_everything(c) || now >= c->linger_until)) {
        conn_end(c, true, false);
        return;
    }
    if (c->draining) {
        if (now >= c->linger_until)
            conn_end(c, false, false);
        return;
    }
    if (!c->reset_when_acked)
        forward_eofs(c);
}

/* Adds c's sockets to pfds and lowers *timeout to its next due chunk. */
static void watch(conn *c, struct pollfd *pfds, size_t *n, long long now, int *timeout) {
    c->cpoll = c->upoll = -1;
    short cev = 0, uev = 0;
    const flow *due_flows[2] = {&c->up, &c->down};
    for (int i = 0; i < 2; i++) {
        const chunk *head = due_flows[i]->head;
        if (head && head->due_ms > now && head->due_ms - now < *timeout)
            *timeout = (int)(head->due_ms - now);
    }
    if (c->cfd >= 0) {
        if (!c->up.eof && c->up.queued < QUEUE_LIMIT)
            cev |= POLLIN;
        if (c->down.head && c->down.head->due_ms <= now)
            cev |= POLLOUT;
    }
    if (c->ufd >= 0 && c->connecting) {
        uev = POLLOUT;
    } else if (c->ufd >= 0) {
        if (!c->down.eof && !c->cut_pending && c->down.queued < QUEUE_LIMIT)
            uev |= POLLIN;
        if (c->up.head && c->up.head->due_ms <= now)
            uev |= POLLOUT;
    }
    if (c->draining || c->reset_when_acked) {
        long long left = c->linger_until - now;
        int wait = c->reset_when_acked ? 1 : (int)(left < 0 ? 0 : left);
        if (wait < *timeout)
            *timeout = wait;
    }
    if (cev) {
        c->cpoll = (int)*n;
        pfds[(*n)++] = (struct pollfd){.fd = c->cfd, .events = cev};
    }
    if (uev) {
        c->upoll = (int)*n;
        pfds[(*n)++] = (struct pollfd){.fd = c->ufd, .events = uev};
    }
}

static void reap_dead(rkt_proxy *p) {
    size_t kept = 0;
    for (size_t i = 0; i < p->n_conns; i++) {
        if (p->conns[i]->dead)
            conn_free(p, p->conns[i]);
        else
            p->conns[kept++] = p->conns[i];
    }
    p->n_conns = kept;
}

/* ---- Control ------------------------------------------------------------ */

/* Shrinks the backlog to 0 and parks one connection in it (see header). */
static void pause_accepting(rkt_proxy *p) {
    p->accepting = false;
    listen(p->lfd, 0);
    p->filler_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (p->filler_fd < 0)
        return;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(p->filler_fd, (struct sockaddr *)&a, sizeof a);
    p->filler_port = local_port(p->filler_fd);
    /* On loopback this completes at once unless the queue was already full. */
    struct pollfd w = {.fd = p->filler_fd, .events = POLLOUT};
    poll(&w, 1, MAX_POLL_MS);
}

static void resume_accepting(rkt_proxy *p) {
    listen(p->lfd, 128);
    close_fd(&p->filler_fd, false);
    p->accepting = true;
}

/* Acts on the requests of other threads. Returns true on stop. */
static bool handle_control(rkt_proxy *p) {
    pthread_mutex_lock(&p->lock);
    bool drop = p->op_drop, reset = p->op_reset, pause = p->op_pause, resume = p->op_resume,
         stop = p->op_stop;
    p->op_drop = p->op_reset = p->op_pause = p->op_resume = false;
    unsigned long gen = p->req_gen;
    pthread_mutex_unlock(&p->lock);
    if (drop || reset) {
        for (size_t i = 0; i < p->n_conns; i++)
            conn_end(p->conns[i], reset, reset);
        reap_dead(p);
    }
    if (pause && p->accepting)
        pause_accepting(p);
    if (resume && !p->accepting)
        resume_accepting(p);
    pthread_mutex_lock(&p->lock);
    p->done_gen = gen;
    pthread_cond_broadcast(&p->acted);
    pthread_mutex_unlock(&p->lock);
    return stop;
}

/* Sets *op, wakes the loop and waits (bounded) until it has acted. */
static void request(rkt_proxy *p, bool *op) {
    pthread_mutex_lock(&p->lock);
    *op = true;
    unsigned long mine = ++p->req_gen;
    pthread_mutex_unlock(&p->lock);
    ssize_t w = write(p->wake[1], "x", 1);
    (void)w; /* a full pipe already wakes the loop */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += CONTROL_WAIT_MS / 1000;
    pthread_mutex_lock(&p->lock);
    while (p->done_gen < mine) {
        if (pthread_cond_timedwait(&p->acted, &p->lock, &until) != 0) {
            fprintf(stderr, "rkt_proxy: the proxy thread did not answer\n");
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
}

/* ---- The loop ----------------------------------------------------------- */

static void *proxy_main(void *arg) {
    rkt_proxy *p = arg;
    struct pollfd *pfds = NULL;
    size_t pcap = 0;
    while (!handle_control(p)) {
        if (pcap < 2 + 2 * p->n_conns) {
            size_t cap = 2 * (2 + 2 * p->n_conns);
            struct pollfd *bigger = realloc(pfds, cap * sizeof *bigger);
            if (!bigger) {
                fprintf(stderr, "rkt_proxy: out of memory\n");
                break;
            }
            pfds = bigger;
            pcap = cap;
        }
        long long now = now_ms();
        int timeout = MAX_POLL_MS;
        size_t n = 0;
        pfds[n++] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        int lidx = -1;
        if (p->accepting) {
            lidx = (int)n;
            pfds[n++] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        }
        for (size_t i = 0; i < p->n_conns; i++)
            watch(p->conns[i], pfds, &n, now, &timeout);
        if (poll(pfds, n, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "rkt_proxy: poll: %s\n", strerror(errno));
            break;
        }
        if (pfds[0].revents) {
            char drain[64];
            while (read(p->wake[0], drain, sizeof drain) > 0) {
            }
        }
        now = now_ms();
        size_t before = p->n_conns; /* conns accepted below were not polled */
        if (lidx >= 0 && pfds[lidx].revents)
            accept_clients(p, now);
        for (size_t i = 0; i < before; i++)
            service(p, p->conns[i], pfds, now);
        reap_dead(p);
    }
    for (size_t i = 0; i < p->n_conns; i++)
        conn_end(p->conns[i], false, false);
    reap_dead(p);
    free(pfds);
    return NULL;
}

/* ---- Public API --------------------------------------------------------- */

static int listen_loopback(int backlog, int *port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, backlog) < 0 ||
        (*port = local_port(fd)) <= 0) {
        close(fd);
        return -1;
    }
    return fd;
}

rkt_proxy *rkt_proxy_start(const char *upstream_host, int upstream_port) {
    rkt_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->lfd = p->wake[0] = p->wake[1] = p->filler_fd = -1;
    p->accepting = true;
    if (resolve(upstream_host, upstream_port, &p->up_addr, &p->up_len) < 0)
        goto fail;
    p->lfd = listen_loopback(128, &p->port);
    if (p->lfd < 0 || pipe2(p->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
        fprintf(stderr, "rkt_proxy: cannot listen: %s\n", strerror(errno));
        goto fail;
    }
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->acted, NULL);
    /* The thread takes no signals: they belong to the test's main thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&p->thread, NULL, proxy_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        return p;
    fprintf(stderr, "rkt_proxy: pthread_create: %s\n", strerror(rc));
    pthread_cond_destroy(&p->acted);
    pthread_mutex_destroy(&p->lock);
fail:
    close_fd(&p->lfd, false);
    close_fd(&p->wake[0], false);
    close_fd(&p->wake[1], false);
    free(p);
    return NULL;
}

int rkt_proxy_port(const rkt_proxy *p) {
    return p->port;
}

void rkt_proxy_set_mode(rkt_proxy *p, rkt_proxy_mode mode, long arg) {
    pthread_mutex_lock(&p->lock);
    p->mode = mode;
    p->arg = arg;
    pthread_mutex_unlock(&p->lock);
}

int rkt_proxy_set_upstream(rkt_proxy *p, const char *host, int port) {
    struct sockaddr_storage addr;
    socklen_t len;
    if (resolve(host, port, &addr, &len) < 0)
        return -1;
    pthread_mutex_lock(&p->lock);
    p->up_addr = addr;
    p->up_len = len;
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void rkt_proxy_drop_all(rkt_proxy *p) {
    request(p, &p->op_drop);
}

void rkt_proxy_reset_all(rkt_proxy *p) {
    request(p, &p->op_reset);
}

void rkt_proxy_set_accepting(rkt_proxy *p, bool accepting) {
    request(p, accepting ? &p->op_resume : &p->op_pause);
}

void rkt_proxy_get_stats(rkt_proxy *p, rkt_proxy_stats *out) {
    out->accepted = atomic_load(&p->accepted);
    out->active = atomic_load(&p->active);
    out->bytes_up = atomic_load(&p->bytes_up);
    out->bytes_down = atomic_load(&p->bytes_down);
}

void rkt_proxy_stop(rkt_proxy *p) {
    if (!p)
        return;
    request(p, &p->op_stop);
    pthread_join(p->thread, NULL);
    free(p->conns);
    close_fd(&p->filler_fd, false);
    close_fd(&p->lfd, false);
    close_fd(&p->wake[0], false);
    close_fd(&p->wake[1], false);
    pthread_cond_destroy(&p->acted);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

/* ---- Black-hole listener ------------------------------------------------ */

struct rkt_blackhole {
    int lfd, filler, port;
};

rkt_blackhole *rkt_blackhole_start(void) {
    rkt_blackhole *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->filler = -1;
    b->lfd = listen_loopback(0, &b->port);
    if (b->lfd >= 0)
        b->filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (b->filler >= 0) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)b->port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connect(b->filler, (struct sockaddr *)&a, sizeof a);
        struct pollfd w = {.fd = b->filler, .events = POLLOUT};
        int err = 1;
        socklen_t len = sizeof err;
        if (poll(&w, 1, MAX_POLL_MS) == 1 &&
            getsockopt(b->filler, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
            return b; /* the one-slot accept queue is now full */
    }
    fprintf(stderr, "rkt_blackhole: cannot fill the backlog\n");
    rkt_blackhole_stop(b);
    return NULL;
}

int rkt_blackhole_port(const rkt_blackhole *b) {
    return b->port;
}

void rkt_blackhole_stop(rkt_blackhole *b) {
    if (!b)
        return;
    close_fd(&b->filler, false);
    close_fd(&b->lfd, false);
    free(b);
}
