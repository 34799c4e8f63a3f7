/* The TLS layer, with OpenSSL 3: a transport whose operations wrap a
 * connected socket transport.
 *
 * rk_tls_ctx wraps one SSL_CTX (trust store, client certificate, TLS 1.2+)
 * shared by every connection. Each transport's SSL talks to its socket
 * through a small BIO of our own over the socket layer's raw calls, which
 * send with MSG_NOSIGNAL, so a peer that went away can never raise SIGPIPE,
 * with no signal mask games. */
#define _GNU_SOURCE
#include <string.h>

#include "net/socket.h"
#include "net/tls.h"
#include "util/common.h"

#if defined(RK_HAVE_TLS) && RK_HAVE_TLS

#include <arpa/inet.h>
#include <errno.h>
#include <stdatomic.h>

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

/* The layer's state (t->impl once TLS is started). The wrapped socket's
 * operations and state are kept to free it; its bytes are moved with the
 * socket layer's raw calls on t->fd. */
typedef struct tls_layer {
    SSL *ssl;
    rk_tls_ctx *ctx;
    const rk_transport_ops *lower_ops;
    void *lower_impl;
    int io_errno;     /* errno of the last failed socket call */
    bool peer_closed; /* the BIO read end-of-file */
} tls_layer;

static const rk_transport_ops tls_ops;

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

/* The BIO's data is the transport: its fd, and in t->impl the layer that
 * keeps the socket's errno and end of file for tls_error. */
static tls_layer *bio_layer(BIO *b) {
    return ((rk_transport *)BIO_get_data(b))->impl;
}

static int bio_write(BIO *b, const char *data, int len) {
    rk_transport *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    ssize_t r = rk_socket_send(t->fd, data, (size_t)len);
    if (r >= 0)
        return (int)r;
    if (RK_WOULD_BLOCK(errno))
        BIO_set_retry_write(b);
    else
        bio_layer(b)->io_errno = errno;
    return -1;
}

static int bio_read(BIO *b, char *buf, int len) {
    rk_transport *t = BIO_get_data(b);
    tls_layer *s = bio_layer(b);
    BIO_clear_retry_flags(b);
    ssize_t r = rk_socket_recv(t->fd, buf, (size_t)len);
    if (r > 0)
        return (int)r;
    if (r == 0) {
        s->peer_closed = true;
        return 0;
    }
    if (RK_WOULD_BLOCK(errno))
        BIO_set_retry_read(b);
    else
        s->io_errno = errno;
    return -1;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
    RK_UNUSED(num);
    RK_UNUSED(ptr);
    switch (cmd) {
    case BIO_CTRL_FLUSH: return 1; /* nothing is buffered here */
    case BIO_CTRL_EOF: return bio_layer(b)->peer_closed;
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

/* OpenSSL's default for an encrypted PEM file is to ask for the passphrase
 * on the terminal and wait: a library must not. This one gives none, so
 * such a key fails to load, and notes (in *userdata) that it was asked. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
    RK_UNUSED(buf);
    RK_UNUSED(size);
    RK_UNUSED(rwflag);
    if (userdata != NULL)
        *(bool *)userdata = true;
    return -1;
}

static int load_cert_and_key(SSL_CTX *sc, const rk_tls_opts *o, const bool *encrypted) {
    if (!SSL_CTX_use_certificate_chain_file(sc, o->cert_file))
        return openssl_fail(RK_ETLS, "cannot load TLS certificate ", o->cert_file);
    if (!SSL_CTX_use_PrivateKey_file(sc, o->key_file, SSL_FILETYPE_PEM)) {
        if (!*encrypted)
            return openssl_fail(RK_ETLS, "cannot load TLS private key ", o->key_file);
        ERR_clear_error();
        return rk_fail(RK_ETLS, "TLS private key %s is encrypted: rediskit takes no passphrase",
                       o->key_file);
    }
    if (!SSL_CTX_check_private_key(sc))
        return openssl_fail(RK_ETLS, "TLS private key does not match ", o->cert_file);
    return RK_OK;
}

static int load_client_cert(SSL_CTX *sc, const rk_tls_opts *o) {
    bool encrypted = false;
    SSL_CTX_set_default_passwd_cb(sc, no_passphrase);
    SSL_CTX_set_default_passwd_cb_userdata(sc, &encrypted);
    int rc = load_cert_and_key(sc, o, &encrypted);
    SSL_CTX_set_default_passwd_cb_userdata(sc, NULL); /* it pointed here */
    return rc;
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

/* The address of an IP literal, in buf (size INET6_ADDRSTRLEN) without
 * the zone of an IPv6 one ("fe80::1%eth0": a URL's [fe80::1%25eth0]);
 * NULL for a host name. */
static const char *ip_literal(const char *name, char *buf) {
    unsigned char addr[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, name, addr) == 1)
        return name;
    size_t n = strcspn(name, "%");
    if (n >= INET6_ADDRSTRLEN)
        return NULL;
    memcpy(buf, name, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1 ? buf : NULL;
}

/* A fully qualified name's final dot ("cache.example.com.") is no part
 * of the name in SNI (RFC 6066) nor in a certificate: name without it, in
 * buf (size DNS_NAME_MAX) when it had one. */
#define DNS_NAME_MAX 256
static const char *without_final_dot(const char *name, char *buf) {
    size_t n = strlen(name);
    if (n < 2 || name[n - 1] != '.' || n > DNS_NAME_MAX)
        return name;
    memcpy(buf, name, n - 1);
    buf[n - 1] = '\0';
    return buf;
}

/* SNI for host names (RFC 6066 forbids IP literals) and the name the
 * certificate must carry, as a DNS name or an IP address. */
static int set_server_name(SSL *ssl, const char *name, bool verify) {
    if (name[0] == '\0') /* OpenSSL would take it as "check no name" */
        return rk_fail(RK_EINVAL, "empty TLS server name");
    char buf[INET6_ADDRSTRLEN], dns[DNS_NAME_MAX];
    const char *ip = ip_literal(name, buf);
    if (ip == NULL) {
        name = without_final_dot(name, dns);
        if (!SSL_set_tlsext_host_name(ssl, name))
            return openssl_fail(RK_ETLS, "bad TLS server name ", name);
    }
    if (!verify)
        return RK_OK;
    X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    int ok =
        ip ? X509_VERIFY_PARAM_set1_ip_asc(param, ip) : X509_VERIFY_PARAM_set1_host(param, name, 0);
    return ok ? RK_OK : openssl_fail(RK_ETLS, "bad TLS server name ", name);
}

/* A session for ctx whose BIO moves t's bytes. */
static int new_session(rk_transport *t, rk_tls_ctx *ctx, const char *server_name, SSL **out) {
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
    if (server_name != NULL) {
        int rc = set_server_name(ssl, server_name, !ctx->insecure);
        if (rc != RK_OK) {
            SSL_free(ssl);
            return rc;
        }
    }
    *out = ssl;
    return RK_OK;
}

int rk_net_tls_start(rk_transport *t, rk_tls_ctx *ctx, const char *server_name) {
    if (ctx == NULL)
        return rk_fail(RK_EINVAL, "%s: no TLS context", t->peer);
    if (rk_transport_is_tls(t))
        return rk_fail(RK_EINVAL, "%s: TLS already started", t->peer);
    if (t->fd < 0 || t->connecting)
        return rk_fail(RK_ECLOSED, "%s: not connected", t->peer);
    tls_layer *s = rk_calloc(1, sizeof(*s));
    if (s == NULL)
        return rk_fail(RK_ENOMEM, "out of memory");
    int rc = new_session(t, ctx, server_name, &s->ssl);
    if (rc != RK_OK) {
        rk_free(s);
        return rc;
    }
    s->ctx = ctx;
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    s->lower_ops = t->ops;
    s->lower_impl = t->impl;
    t->ops = &tls_ops;
    t->impl = s;
    return RK_OK;
}

/* Turns a failed SSL call (ret as it returned) into a status; `what` names
 * the operation for the message, NULL for the handshake. In the handshake
 * every failure is RK_ETLS; afterwards a closed or failing socket is RK_EIO
 * and a TLS-level error RK_ETLS. */
static int tls_error(rk_transport *t, int ret, const char *what) {
    tls_layer *s = t->impl;
    char eb[256], sb[128];
    const char *why;
    int code = RK_EIO;
    bool handshake = what == NULL;
    switch (SSL_get_error(s->ssl, ret)) {
    case SSL_ERROR_WANT_READ: t->want = RK_NET_READ; return RK_EAGAIN;
    case SSL_ERROR_WANT_WRITE: t->want = RK_NET_WRITE; return RK_EAGAIN;
    case SSL_ERROR_ZERO_RETURN: why = NULL; break;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        why = s->io_errno ? rk_net_strerror(s->io_errno, sb, sizeof(sb)) : NULL;
        break;
    default:
        code = RK_ETLS;
        why = queue_reason(eb, sizeof(eb), "unknown TLS error");
        break;
    }
    if (handshake) {
        long vr = SSL_get_verify_result(s->ssl);
        if (code == RK_ETLS && vr != X509_V_OK && !s->ctx->insecure)
            return rk_fail(RK_ETLS, "TLS handshake with %s failed: %s: %s", t->peer, why,
                           X509_verify_cert_error_string(vr));
        return rk_fail(RK_ETLS, "TLS handshake with %s failed: %s", t->peer,
                       why ? why : "connection closed by server");
    }
    if (why == NULL)
        return rk_fail(RK_EIO, "connection closed by server (%s)", t->peer);
    return rk_fail(code, "TLS %s %s failed: %s", what, t->peer, why);
}

/* The layer's state, ready for one SSL call. */
static tls_layer *begin_call(rk_transport *t) {
    tls_layer *s = t->impl;
    ERR_clear_error();
    s->io_errno = 0;
    return s;
}

/* connect_step: the handshake. */
static int tls_connect_step(rk_transport *t) {
    int r = SSL_connect(begin_call(t)->ssl);
    return r == 1 ? RK_OK : tls_error(t, r, NULL);
}

int rk_net_tls_handshake(rk_transport *t) {
    if (!rk_transport_is_tls(t))
        return rk_fail(RK_EINVAL, "%s: TLS not started", t->peer);
    return tls_connect_step(t);
}

/* Returns at most one record's payload (16 KiB); what does not fit in buf
 * stays in OpenSSL, where rk_transport_pending sees it. */
static ssize_t tls_read(rk_transport *t, void *buf, size_t n) {
    size_t got = 0;
    if (!SSL_read_ex(begin_call(t)->ssl, buf, n, &got))
        return tls_error(t, 0, "read from");
    return (ssize_t)got;
}

/* A server that refuses the client after the handshake (TLS 1.3: "client
 * certificate required") sends an alert and closes, so a write then fails
 * with EPIPE/ECONNRESET. One read picks up the alert, if it is still there,
 * to give the server's reason instead. */
static int explain_write_failure(rk_transport *t, int rc) {
    SSL *ssl = ((tls_layer *)t->impl)->ssl;
    char scratch[512];
    size_t r = 0;
    if (rc != RK_EIO)
        return rc;
    ERR_clear_error();
    if (SSL_read_ex(ssl, scratch, sizeof(scratch), &r) || SSL_get_error(ssl, 0) != SSL_ERROR_SSL) {
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
static ssize_t tls_writev(rk_transport *t, const struct iovec *iov, int iovcnt) {
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
        if (!SSL_write_ex(begin_call(t)->ssl, p, len, &w)) {
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

static bool tls_pending(const rk_transport *t) {
    return SSL_pending(((const tls_layer *)t->impl)->ssl) > 0;
}

/* Frees the session (no close_notify: see rk_transport_close), then the
 * socket layer below. */
static void tls_free(void *impl) {
    tls_layer *s = impl;
    SSL_free(s->ssl); /* also frees the BIO */
    rk_tls_ctx_free(s->ctx);
    s->lower_ops->free(s->lower_impl);
    rk_free(s);
}

/* TLS stays non-blocking (OpenSSL reads ahead; poll must see the fd), so
 * it has no set_blocking nor read_block. */
static const rk_transport_ops tls_ops = {
    .name = "tls",
    .connect_step = tls_connect_step,
    .read = tls_read,
    .writev = tls_writev,
    .pending = tls_pending,
    .set_blocking = NULL,
    .read_block = NULL,
    .free = tls_free,
};

bool rk_transport_is_tls(const rk_transport *t) {
    return t->ops == &tls_ops;
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

bool rk_transport_is_tls(const rk_transport *t) {
    RK_UNUSED(t);
    return false;
}

#endif
