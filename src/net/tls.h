/* TLS as a layer over a connected transport (OpenSSL 3).
 *
 * rk_net_tls_start puts the layer on top of a socket transport, in place:
 * from then on the transport's operations are TLS's, its bytes go through
 * the socket's raw calls (socket.h), and its connect step is the TLS
 * handshake. OpenSSL's types never leave tls.c. */
#ifndef RK_NET_TLS_H
#define RK_NET_TLS_H

#include "net/transport.h"

#pragma GCC visibility push(hidden)

/* A TLS configuration built once and shared by any number of transports and
 * threads (immutable after rk_tls_ctx_new; reference counted). */
typedef struct rk_tls_ctx rk_tls_ctx;

typedef struct rk_tls_opts {
    const char *ca_file;   /* PEM bundle of trusted CAs; NULL: see ca_dir */
    const char *ca_dir;    /* hashed CA directory (c_rehash); with neither
                              set, the system's default trust store */
    const char *cert_file; /* client certificate chain (PEM) for mutual TLS */
    const char *key_file;  /* its private key (PEM, not encrypted); set both
                              or neither */
    bool insecure;         /* no certificate or name check at all */
} rk_tls_opts;

/* Builds a TLS context: TLS 1.2 minimum, peer verification unless
 * o->insecure. Errors: RK_EINVAL (cert without key...), RK_ETLS (a file
 * does not load, or the key does not match the certificate), RK_ENOMEM.
 * Without OpenSSL in the build every TLS call fails with RK_EINVAL. */
int rk_tls_ctx_new(const rk_tls_opts *o, rk_tls_ctx **out);

/* Drops a reference; transports hold their own, so this may be called while
 * they are still open. NULL is fine. */
void rk_tls_ctx_free(rk_tls_ctx *ctx);

/* Puts TLS on a connected socket transport (no I/O). server_name is sent
 * as SNI unless it is an IP literal (an IPv6 one may carry a zone, which
 * the address check ignores; a name's final dot is dropped), and the
 * certificate must match it (DNS name or IP address) unless the context
 * is insecure; NULL skips the name check ("" is RK_EINVAL). Errors:
 * RK_ETLS, RK_ENOMEM, RK_EINVAL (already TLS, empty name), RK_ECLOSED
 * (not connected yet). */
int rk_net_tls_start(rk_transport *t, rk_tls_ctx *ctx, const char *server_name);

/* One step of the TLS handshake (also what rk_net_connect_finish does once
 * TLS is started): RK_OK done, RK_EAGAIN (wait for rk_transport_want()),
 * or RK_ETLS with the reason ("certificate verify failed: hostname
 * mismatch"; also when the socket fails or the server closes mid-
 * handshake). With TLS 1.3 a server that refuses the client certificate
 * says so only after the handshake: the first write or read then fails
 * with RK_ETLS "tlsv13 alert certificate required". */
int rk_net_tls_handshake(rk_transport *t);

/* Whether TLS was started on t. */
bool rk_transport_is_tls(const rk_transport *t);

#pragma GCC visibility pop

#endif
