/* The socket transport: TCP (IPv4/IPv6) and Unix stream sockets, one
 * implementation of transport.h for both.
 *
 * Besides the transport it builds, it offers the raw non-blocking socket
 * calls that a layer above (TLS) uses to move its bytes. */
#ifndef RK_NET_SOCKET_H
#define RK_NET_SOCKET_H

#include "net/transport.h"

#pragma GCC visibility push(hidden)

/* How to connect. A zeroed struct means: no TCP_NODELAY, no keepalive (the
 * connection layer supplies its own defaults). Timeouts are the caller's:
 * it stops stepping the connect at its deadline. */
typedef struct rk_net_opts {
    bool tcp_nodelay;         /* TCP_NODELAY (TCP only) */
    bool keepalive;           /* SO_KEEPALIVE (TCP only) */
    int keepalive_idle_s;     /* TCP_KEEPIDLE; 0: system default */
    int keepalive_interval_s; /* TCP_KEEPINTVL; 0: system default */
    int keepalive_count;      /* TCP_KEEPCNT; 0: system default */
} rk_net_opts;

/* Start connecting: RK_OK (connected), RK_EAGAIN (in progress: wait until
 * rk_transport_fd() is writable, then call rk_net_connect_finish), or a
 * failure with *out set to NULL. A TCP connect walks the addresses of host
 * in turn. Name resolution (getaddrinfo) blocks unless host is a numeric
 * address; no timeout bounds it. Errors: RK_EINVAL, RK_ERESOLVE,
 * RK_ECONNECT, RK_ETIMEOUT, RK_ENOMEM. o may be NULL. */
int rk_net_tcp_start(const char *host, int port, const rk_net_opts *o, rk_transport **out);
int rk_net_unix_start(const char *path, const rk_net_opts *o, rk_transport **out);

/* Raw non-blocking I/O on a connected socket, for the layers above it:
 * recv/send with MSG_DONTWAIT (send also with MSG_NOSIGNAL, so a peer that
 * went away never raises SIGPIPE), retried on EINTR. They return what the
 * system call did: a byte count (0 from recv: end of file), or -1 with
 * errno set. Nothing is recorded with rk_fail. */
ssize_t rk_socket_recv(int fd, void *buf, size_t n);
ssize_t rk_socket_send(int fd, const void *buf, size_t n);

#pragma GCC visibility pop

#endif
