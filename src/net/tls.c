/* TLS over a connected transport, with OpenSSL 3.
 *
 * rk_tls_ctx wraps one SSL_CTX (trust store, client certificate, TLS 1.2+)
 * shared by every connection. Each transport's SSL talks to its socket
 * through a small BIO of our own that sends with MSG_NOSIGNAL, so a peer
 * that went away can never raise SIGPIPE, with no signal mask games. */
#define _GNU_SOURCE
#include <string.h>

#include "net/net.h"
#include "util/common.h"

#if defined(RK_HAVE_TLS) && RK_HAVE_TLS

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

/* The largest TLS record payload: writev hands SSL_write at most this much
 * per call, so a blocked record is always retried with a valid length. */
#define TLS_CHUNK 16384

struct rk_tls_ctx {
    SSL_CTX *ssl_ctx;
    BIO_METHOD *bio_method; /* the socket BIO below; lives as long as we do */
    bool insecure;
    atomic_int refs; /* the creator's, plus one per transport using it */
};

/* ---- OpenSSL's error queue ------------------------------------------------ */

/* Empties this thread's OpenSSL error queue into buf: the reason of the
 * earliest error (the root cause), or `fallback` if there is none. */
static const char *queue_reason(char *buf, size_t len, const char *fallback) {
    unsigned long first = ERR_get_error();
    while (ERR_get_error() != 0) {
    }
    if (first == 0)
        return fallback;
    if (ERR_SYSTEM_ERROR(first)) /* e.g. a file that cannot be opened */
        return rk_net_strerror(ERR_GET_REASON(first), buf, len);
    const char *r = ERR_reason_error_string(first);
    if (r != NULL)
        return r;
    ERR_error_string_n(first, buf, len);
    return buf;
}

static int openssl_fail(int code, const char *what, const char *arg) {
    char eb[256];
    return rk_fail(code, "%s%s: %s", what, arg,
                   queue_reason(eb, sizeof(eb), "unknown OpenSSL error"));
}

/* ---- the socket BIO --------------------------------------------------------- */

static int bio_write(BIO *b, const char *data, int len) {
    rk_transport *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t r = send(t->fd, data, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r >= 0)
            return (int)r;
        if (errno == EINTR)
            continue;
        if (RK_WOULD_BLOCK(errno))
            BIO_set_retry_write(b);
        else
            t->io_errno = errno;
        return -1;
    }
}

static int bio_read(BIO *b, char *buf, int len) {
    rk_transport *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    for (;;) {
        ssize_t r = recv(t->fd, buf, (size_t)len, MSG_DONTWAIT);
        if (r > 0)
            return (int)r;
        if (r == 0) {
            t->peer_closed = true;
            return 0;
        }
        if (errno == EINTR)
            continue;
        if (RK_WOULD_BLOCK(errno))
            BIO_set_retry_read(b);
        else
            t->io_errno = errno;
        return -1;
    }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    RK_UNUSED(num);
    RK_UNUSED(ptr);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1; /* nothing is buffered here */
    case BIO_CTRL_EOF: return ((rk_transport *)BIO_get_data(b))->peer_closed;
    default: return 0;
    }
}

/* A method per context rather than a process-wide one: no global state,
 * and BIO_get_new_index() is not needed (its indices run out). */
static BIO_METHOD *socket_bio_method(void) {
    BIO_METHOD *m = BIO_meth_new(BIO_TYPE_SOURCE_SINK, "rediskit socket");
    if (m == NULL)
        return NULL;
    if (!BIO_meth_set_write(m, bio_write) || !BIO_meth_set_read(m, bio_read) ||
        !BIO_meth_set_ctrl(m, bio_ctrl)) {
        BIO_meth_free(m);
        return NULL;
    }
    return m;
}

/* ---- the context -------------------------------------------------------------- */

static int load_trust(SSL_CTX *sc, const rk_tls_opts *o) {
    if (o->ca_file == NULL && o->ca_dir == NULL) {
        if (!SSL_CTX_set_default_verify_paths(sc))
            return openssl_fail(RK_ETLS, "cannot load the system CA store", "");
        return RK_OK;
    }
    if (o->ca_file != NULL && !SSL_CTX_load_verify_file(sc, o->ca_file))
        return openssl_fail(RK_ETLS, "cannot load TLS CA file ", o->ca_file);
    if (o->ca_dir != NULL && !SSL_CTX_load_verify_dir(sc, o->ca_dir))
        return openssl_fail(RK_ETLS, "cannot load TLS CA directory ", o->ca_dir);
    return RK_OK;
}

static int load_client_cert(SSL_CTX *sc, const rk_tls_opts *o) {
    if (!SSL_CTX_use_certificate_chain_file(sc, o->cert_file))
        return openssl_fail(RK_ETLS, "cannot load TLS certificate ", o->cert_file);
    if (!SSL_CTX_use_PrivateKey_file(sc, o->key_file, SSL_FILETYPE_PEM))
        return openssl_fail(RK_ETLS, "cannot load TLS private key ", o->key_file);
    if (!SSL_CTX_check_private_key(sc))
        return openssl_fail(RK_ETLS, "TLS private key does not match ", o->cert_file);
    return RK_OK;
}

static int configure(rk_tls_ctx *c, const rk_tls_opts *o) {
    c->ssl_ctx = SSL_CTX_new(TLS_client_method());
    c->bio_method = socket_bio_method();
    if (c->ssl_ctx == NULL || c->bio_method == NULL)
        return openssl_fail(RK_ENOMEM, "cannot create a TLS context", "");
    SSL_CTX *sc = c->ssl_ctx;
    if (!SSL_CTX_set_min_proto_version(sc, TLS1_2_VERSION))
        return openssl_fail(RK_ETLS, "cannot require TLS 1.2", "");
    SSL_CTX_set_mode(sc, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* RESP frames itself, so a close without close_notify cannot truncate
     * a reply unnoticed: report it as a plain "connection closed". */
    SSL_CTX_set_options(sc, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
    c->insecure = o->insecure;
    SSL_CTX_set_verify(sc, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    int rc = o->insecure ? RK_OK : load_trust(sc, o);
    if (rc == RK_OK && o->cert_file != NULL)
        rc = load_client_cert(sc, o);
    return rc;
}

static void ctx_destroy(rk_tls_ctx *c) {
    SSL_CTX_free(c->ssl_ctx);
    BIO_meth_free(c->bio_method);
    rk_free(c);
}

int rk_tls_ctx_new(const rk_tls_opts *o, rk_tls_ctx **out) {
    static const rk_tls_opts defaults;
    *out = NULL;
    o = o ? o : &defaults;
    if ((o->cert_file == NULL) != (o->key_file == NULL))
        return rk_fail(RK_EINVAL,
                       "a TLS client certificate needs its key, and a key its certificate");
    if (!OPENSSL_init_ssl(0, NULL))
        return openssl_fail(RK_ETLS, "cannot initialize OpenSSL", "");
    rk_tls_ctx *c = rk_calloc(1, sizeof(*c));
    if (c == NULL)
        return rk_fail(RK_ENOMEM, "out of memory");
    atomic_init(&c->refs, 1);
    ERR_clear_error();
    int rc = configure(c, o);
    if (rc != RK_OK) {
        ctx_destroy(c);
        return rc;
    }
    *out = c;
    return RK_OK;
}

void rk_tls_ctx_free(rk_tls_ctx *c) {
    if (c != NULL && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        ctx_destroy(c);
}

/* ---- per connection ---------------------------------------------------------- */

static bool is_ip_literal(const char *name) {
    unsigned char addr[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* SNI for host names (RFC 6066 forbids IP literals) and the name the
 * certificate must carry, as a DNS name or an IP address. */
static int set_server_name(SSL *ssl, const char *name, bool verify) {
    bool ip = is_ip_literal(name);
    if (!ip && !SSL_set_tlsext_host_name(ssl, name))
        return openssl_fail(RK_ETLS, "bad TLS server name ", name);
    if (!verify)
        return RK_OK;
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name)
                : X509_VERIFY_PARAM_set1_host(param, name, 0);
    return ok ? RK_OK : openssl_fail(RK_ETLS, "bad TLS server name ", name);
}

int rk_net_tls_start(rk_transport *t, rk_tls_ctx *ctx, const char *server_name) {
    if (ctx == NULL)
        return rk_fail(RK_EINVAL, "%s: no TLS context", t->peer);
    if (t->ssl != NULL)
        return rk_fail(RK_EINVAL, "%s: TLS already started", t->peer);
    if (t->fd < 0 || t->connecting)
        return rk_fail(RK_ECLOSED, "%s: not connected", t->peer);
    ERR_clear_error();
    SSL *ssl = SSL_new(ctx->ssl_ctx);
    BIO *bio = BIO_new(ctx->bio_method);
    if (ssl == NULL || bio == NULL) {
        SSL_free(ssl);
        BIO_free(bio);
        return openssl_fail(RK_ENOMEM, "cannot create a TLS session for ", t->peer);
    }
    BIO_set_data(bio, t);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl, bio, bio); /* ssl owns bio now */
    SSL_set_connect_state(ssl);
    if (server_name != NULL && server_name[0] != '\0') {
        int rc = set_server_name(ssl, server_name, !ctx->insecure);
        if (rc != RK_OK) {
            SSL_free(ssl);
            return rc;
        }
    }
    t->ssl = ssl;
    t->tls = ctx;
    t->io_errno = 0;
    t->peer_closed = false;
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    return RK_OK;
}

/* Turns a failed SSL call (ret as it returned) into a status; `what` names
 * the operation for the message, NULL for the handshake. In the handshake
 * every failure is RK_ETLS; afterwards a closed or failing socket is RK_EIO
 * and a TLS-level error RK_ETLS. */
static int tls_error(rk_transport *t, int ret, const char *what) {
    char eb[256], sb[128];
    const char *why;
    int code = RK_EIO;
    bool handshake = what == NULL;
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ: t->want = RK_NET_READ; return RK_EAGAIN;
    case SSL_ERROR_WANT_WRITE: t->want = RK_NET_WRITE; return RK_EAGAIN;
    case SSL_ERROR_ZERO_RETURN: why = NULL; break;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        why = t->io_errno ? rk_net_strerror(t->io_errno, sb, sizeof(sb)) : NULL;
        break;
    default:
        code = RK_ETLS;
        why = queue_reason(eb, sizeof(eb), "unknown TLS error");
        break;
    }
    if (handshake) {
        long vr = SSL_get_verify_result(t->ssl);
        if (code == RK_ETLS && vr != X509_V_OK && !t->tls->insecure)
            return rk_fail(RK_ETLS, "TLS handshake with %s failed: %s: %s", t->peer, why,
                           X509_verify_cert_error_string(vr));
        return rk_fail(RK_ETLS, "TLS handshake with %s failed: %s", t->peer,
                       why ? why : "connection closed by server");
    }
    if (why == NULL)
        return rk_fail(RK_EIO, "connection closed by server (%s)", t->peer);
    return rk_fail(code, "TLS %s %s failed: %s", what, t->peer, why);
}

int rk_net_tls_handshake(rk_transport *t) {
    if (t->ssl == NULL)
        return rk_fail(RK_EINVAL, "%s: TLS not started", t->peer);
    ERR_clear_error();
    t->io_errno = 0;
    int r = SSL_connect(t->ssl);
    return r == 1 ? RK_OK : tls_error(t, r, NULL);
}

/* Returns at most one record's payload (16 KiB); what does not fit in buf
 * stays in OpenSSL, where rk_transport_pending sees it. */
ssize_t rk_net_tls_read(rk_transport *t, void *buf, size_t n) {
    size_t got = 0;
    ERR_clear_error();
    t->io_errno = 0;
    if (!SSL_read_ex(t->ssl, buf, n, &got))
        return tls_error(t, 0, "read from");
    return (ssize_t)got;
}

/* A server that refuses the client after the handshake (TLS 1.3: "client
 * certificate required") sends an alert and closes, so a write then fails
 * with EPIPE/ECONNRESET. One read picks up the alert, if it is still there,
 * to give the server's reason instead. */
static int explain_write_failure(rk_transport *t, int rc) {
    char scratch[512];
    size_t r = 0;
    if (rc != RK_EIO)
        return rc;
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, scratch, sizeof(scratch), &r) ||
        SSL_get_error(t->ssl, 0) != SSL_ERROR_SSL) {
        ERR_clear_error();
        return rc;
    }
    char eb[256];
    return rk_fail(RK_ETLS, "TLS write to %s failed: %s", t->peer,
                   queue_reason(eb, sizeof(eb), "unknown TLS error"));
}

/* Copies up to cap bytes of the iovecs from pos into buf. */
static size_t gather(const struct iovec *iov, int iovcnt, rk_iov_pos pos, char *buf, size_t cap) {
    size_t len = 0;
    for (int i = pos.i; i < iovcnt && len < cap; i++) {
        size_t off = i == pos.i ? pos.off : 0;
        size_t take = RK_MIN(iov[i].iov_len - off, cap - len);
        memcpy(buf + len, (const char *)iov[i].iov_base + off, take);
        len += take;
    }
    return len;
}

/* Each SSL_write gets the next min(16 KiB, bytes left) of the stream:
 * straight from the iovec when it holds that much, else gathered into a
 * stack buffer. Being a function of the bytes alone, not of how the caller
 * split them, this keeps OpenSSL's rule that a blocked write is retried with
 * the same data, whatever the iovecs look like on the retry. */
ssize_t rk_net_tls_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
    char stack[TLS_CHUNK];
    rk_iov_pos pos = {0, 0};
    size_t done = 0;
    while (rk_net_iov_advance(iov, iovcnt, &pos, 0)) {
        const char *p = (const char *)iov[pos.i].iov_base + pos.off;
        size_t len = TLS_CHUNK;
        if (iov[pos.i].iov_len - pos.off < TLS_CHUNK) {
            len = gather(iov, iovcnt, pos, stack, sizeof(stack));
            p = stack;
        }
        size_t w = 0;
        ERR_clear_error();
        t->io_errno = 0;
        if (!SSL_write_ex(t->ssl, p, len, &w)) {
            int rc = tls_error(t, 0, "write to");
            if (rc == RK_EAGAIN)
                return done > 0 ? (ssize_t)done : rc;
            return explain_write_failure(t, rc);
        }
        done += w;
        rk_net_iov_advance(iov, iovcnt, &pos, w);
    }
    return (ssize_t)done;
}

bool rk_net_tls_pending(const rk_transport *t) {
    return SSL_pending(t->ssl) > 0;
}

void rk_net_tls_free(rk_transport *t) {
    SSL_free(t->ssl); /* also frees the BIO */
    t->ssl = NULL;
    rk_tls_ctx_free(t->tls);
    t->tls = NULL;
}

#else /* no OpenSSL in this build: every TLS entry point refuses */

static int no_tls(void) {
    return rk_fail(RK_EINVAL, "rediskit was built without TLS support");
}

int rk_tls_ctx_new(const rk_tls_opts *o, rk_tls_ctx **out) {
    RK_UNUSED(o);
    *out = NULL;
    return no_tls();
}

void rk_tls_ctx_free(rk_tls_ctx *ctx) {
    RK_UNUSED(ctx);
}

int rk_net_tls_start(rk_transport *t, rk_tls_ctx *ctx, const char *server_name) {
    RK_UNUSED(t);
    RK_UNUSED(ctx);
    RK_UNUSED(server_name);
    return no_tls();
}

int rk_net_tls_handshake(rk_transport *t) {
    RK_UNUSED(t);
    return no_tls();
}

ssize_t rk_net_tls_read(rk_transport *t, void *buf, size_t n) {
    RK_UNUSED(t);
    RK_UNUSED(buf);
    RK_UNUSED(n);
    return no_tls();
}

ssize_t rk_net_tls_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
    RK_UNUSED(t);
    RK_UNUSED(iov);
    RK_UNUSED(iovcnt);
    return no_tls();
}

bool rk_net_tls_pending(const rk_transport *t) {
    RK_UNUSED(t);
    return false;
}

void rk_net_tls_free(rk_transport *t) {
    t->ssl = NULL;
    t->tls = NULL;
}

#endif
