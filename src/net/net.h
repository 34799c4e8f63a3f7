/* The transport layer as the connection layer sees it: the generic
 * transport and its blocking helpers (transport.h), the socket transport
 * that connects over TCP or Unix (socket.h), and TLS, a layer put on a
 * connected socket (tls.h).
 *
 * Whoever builds a transport chooses its layers: start a socket, step it
 * with rk_net_connect_finish until connected, then, for TLS,
 * rk_net_tls_start and step again until handshaken. */
#ifndef RK_NET_H
#define RK_NET_H

#include "net/socket.h"
#include "net/tls.h"
#include "net/transport.h"

#endif
