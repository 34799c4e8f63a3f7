/* Test certificates made with the `openssl` command line, and a one-shot
 * TLS client built on OpenSSL for readiness checks and TLS tests.
 *
 * The certificates use EC P-256 keys (fast to make) and an openssl config
 * file written next to them, so the host's openssl.cnf plays no part. */
#define _GNU_SOURCE

#include "rkt_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "rkt_server.h"

#define DAYS "3"

static const char openssl_cnf[] =
    "# openssl config for rkt_tls_make(): extensions of each certificate\n"
    "[req]\n"
    "distinguished_name = dn\n"
    "prompt = no\n"
    "[dn]\n"
    "CN = rediskit-test\n"
    "[ca_ext]\n"
    "basicConstraints = critical, CA:TRUE\n"
    "keyUsage = critical, keyCertSign, cRLSign\n"
    "subjectKeyIdentifier = hash\n"
    "[server_ext]\n"
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n"
    "authorityKeyIdentifier = keyid\n"
    "[client_ext]\n"
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = clientAuth\n"
    "authorityKeyIdentifier = keyid\n"
    "[wrong_ext]\n"
    "basicConstraints = CA:FALSE\n"
    "keyUsage = critical, digitalSignature\n"
    "extendedKeyUsage = serverAuth\n"
    "subjectAltName = DNS:wrong-name.invalid\n"
    "authorityKeyIdentifier = keyid\n";

static int path_in(char *out, const char *dir, const char *name) {
    int n = snprintf(out, RKT_PATH_MAX, "%s/%s", dir, name);
    return n < 0 || n >= RKT_PATH_MAX ? -1 : 0;
}

/* Runs openssl with the given NULL-terminated arguments, logging to log. */
static int run_openssl(const char *log, ...) {
    const char *argv[40];
    int argc = 0;
    argv[argc++] = "openssl";
    va_list ap;
    va_start(ap, log);
    for (const char *a = va_arg(ap, const char *); a && argc < 39; a = va_arg(ap, const char *))
        argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    if (rkt_run(argv, log, 30000) == 0)
        return 0;
    fprintf(stderr, "rkt_tls: openssl %s failed\n", argv[1]);
    rkt_print_tail(log, 2048);
    return -1;
}

/* A self-signed CA certificate and key. */
static int make_ca(const char *log, const char *cnf, const char *cert, const char *key,
                   const char *cn, const char *serial) {
    return run_openssl(log, "req", "-x509", "-new", "-config", cnf, "-extensions", "ca_ext",
                       "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                       key, "-out", cert, "-days", DAYS, "-subj", cn, "-set_serial", serial, NULL);
}

/* A key, and a certificate for it signed by the CA with extensions ext. */
static int make_leaf(const char *log, const char *cnf, const rkt_tls_files *f, const char *cert,
                     const char *key, const char *cn, const char *ext, const char *serial) {
    char csr[RKT_PATH_MAX];
    if (snprintf(csr, sizeof csr, "%s.csr", cert) >= (int)sizeof csr)
        return -1;
    int rc = run_openssl(log, "req", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt",
                         "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj",
                         cn, NULL);
    if (rc == 0)
        rc = run_openssl(log, "x509", "-req", "-in", csr, "-CA", f->ca_cert, "-CAkey", f->ca_key,
                         "-set_serial", serial, "-days", DAYS, "-extfile", cnf, "-extensions", ext,
                         "-out", cert, NULL);
    unlink(csr);
    return rc;
}

static int write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f) == 0 ? 0 : -1;
}

int rkt_tls_make(const char *dir, rkt_tls_files *out) {
    memset(out, 0, sizeof *out);
    char cnf[RKT_PATH_MAX], log[RKT_PATH_MAX];
    if (snprintf(out->dir, sizeof out->dir, "%s", dir) >= RKT_PATH_MAX ||
        path_in(cnf, dir, "openssl.cnf") || path_in(log, dir, "openssl.log") ||
        path_in(out->ca_cert, dir, "ca.crt") || path_in(out->ca_key, dir, "ca.key") ||
        path_in(out->server_cert, dir, "server.crt") ||
        path_in(out->server_key, dir, "server.key") ||
        path_in(out->client_cert, dir, "client.crt") ||
        path_in(out->client_key, dir, "client.key") ||
        path_in(out->other_ca_cert, dir, "other-ca.crt") ||
        path_in(out->other_ca_key, dir, "other-ca.key") ||
        path_in(out->wrong_name_cert, dir, "wrong-name.crt") ||
        path_in(out->wrong_name_key, dir, "wrong-name.key")) {
        fprintf(stderr, "rkt_tls: path too long: %s\n", dir);
        return -1;
    }
    if (write_file(cnf, openssl_cnf) < 0) {
        fprintf(stderr, "rkt_tls: cannot write %s\n", cnf);
        return -1;
    }
    /* Distinct serials per run, so that no client cache mixes two CAs. */
    char serial[5][32];
    unsigned long base = ((unsigned long)time(NULL) << 8) ^ (unsigned long)getpid();
    for (int i = 0; i < 5; i++)
        snprintf(serial[i], sizeof serial[i], "%lu", (base << 3) + (unsigned long)i);
    if (make_ca(log, cnf, out->ca_cert, out->ca_key, "/CN=rediskit test CA", serial[0]) < 0 ||
        make_leaf(log, cnf, out, out->server_cert, out->server_key, "/CN=localhost", "server_ext",
                  serial[1]) < 0 ||
        make_leaf(log, cnf, out, out->client_cert, out->client_key, "/CN=rediskit-test-client",
                  "client_ext", serial[2]) < 0 ||
        make_leaf(log, cnf, out, out->wrong_name_cert, out->wrong_name_key,
                  "/CN=wrong-name.invalid", "wrong_ext", serial[3]) < 0 ||
        make_ca(log, cnf, out->other_ca_cert, out->other_ca_key, "/CN=rediskit unrelated CA",
                serial[4]) < 0)
        return -1;
    return 0;
}

/* ---- Client ------------------------------------------------------------- */

static void set_why(char *why, size_t size, const char *prefix, SSL *ssl) {
    if (!why || size == 0)
        return;
    unsigned long e = ERR_peek_last_error();
    char detail[256] = "";
    if (e)
        ERR_error_string_n(e, detail, sizeof detail);
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    snprintf(why, size, "%s: %s%s%s", prefix, detail, v != X509_V_OK ? "; verify: " : "",
             v != X509_V_OK ? X509_verify_cert_error_string(v) : "");
}

static SSL_CTX *client_ctx(const rkt_tls_client_opts *o) {
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    bool ok = true;
    if (o->ca_file) {
        ok = SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) == 1;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    }
    if (ok && o->cert_file)
        ok = SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) == 1;
    if (ok && o->key_file)
        ok = SSL_CTX_use_PrivateKey_file(ctx, o->key_file, SSL_FILETYPE_PEM) == 1;
    if (!ok) {
        fprintf(stderr, "rkt_tls: cannot load CA, certificate or key\n");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* Makes ssl check that the server certificate is for name (an IP or a DNS
 * name), and sends a DNS name as SNI. */
static void expect_name(SSL *ssl, const char *name) {
    unsigned char addr[16];
    if (inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
        return;
    }
    SSL_set1_host(ssl, name);
    SSL_set_tlsext_host_name(ssl, name);
}

/* Reads until one complete reply is buffered. */
static int read_reply(SSL *ssl, char **reply, size_t *len, char *why, size_t why_size) {
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap + 1);
    for (int reads = 0; buf && reads < 100000; reads++) {
        if (used == cap) {
            char *bigger = realloc(buf, cap * 2 + 1);
            if (!bigger)
                break;
            buf = bigger;
            cap *= 2;
        }
        int n = SSL_read(ssl, buf + used, (int)(cap - used));
        if (n <= 0) {
            /* With TLS 1.3 a refused client certificate shows up here. */
            int err = SSL_get_error(ssl, n);
            set_why(why, why_size, "read", ssl);
            free(buf);
            return err == SSL_ERROR_SSL ? RKT_TLS_EHANDSHAKE : RKT_TLS_EIO;
        }
        used += (size_t)n;
        long r = rkt_resp_reply_len(buf, used);
        if (r < 0)
            break;
        if (r > 0) {
            buf[r] = '\0';
            *reply = buf;
            if (len)
                *len = (size_t)r;
            return RKT_TLS_OK;
        }
    }
    free(buf);
    return RKT_TLS_EIO;
}

static int exchange(SSL *ssl, int argc, const char *const *argv, char **reply, size_t *len,
                    char *why, size_t why_size) {
    if (SSL_connect(ssl) != 1) {
        set_why(why, why_size, "handshake", ssl);
        return RKT_TLS_EHANDSHAKE;
    }
    size_t out_len;
    char *out = rkt_resp_encode(argc, argv, NULL, &out_len);
    if (!out)
        return RKT_TLS_ESETUP;
    int n = SSL_write(ssl, out, (int)out_len);
    free(out);
    if (n != (int)out_len) {
        set_why(why, why_size, "write", ssl);
        return SSL_get_error(ssl, n) == SSL_ERROR_SSL ? RKT_TLS_EHANDSHAKE : RKT_TLS_EIO;
    }
    return read_reply(ssl, reply, len, why, why_size);
}

/* OpenSSL writes with write(), which raises SIGPIPE when the server has
 * closed; block it on this thread and swallow one that we caused. */
static void sigpipe_block(sigset_t *old, bool *was_pending) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    *was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, old);
}

static void sigpipe_restore(const sigset_t *old, bool was_pending) {
    sigset_t pipe_set, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    if (!was_pending && sigismember(&pending, SIGPIPE)) {
        struct timespec zero = {0, 0};
        sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

static int tls_command(const char *host, int port, const rkt_tls_client_opts *o, int argc,
                       const char *const *argv, char **reply, size_t *len, char *why,
                       size_t why_size) {
    static const rkt_tls_client_opts defaults;
    if (!o)
        o = &defaults;
    *reply = NULL;
    if (why && why_size)
        why[0] = '\0';
    int timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 5000;
    ERR_clear_error();
    SSL_CTX *ctx = client_ctx(o);
    if (!ctx)
        return RKT_TLS_ESETUP;
    int fd = rkt_raw_connect(host, port, timeout_ms);
    if (fd < 0) {
        SSL_CTX_free(ctx);
        return RKT_TLS_ECONNECT;
    }
    /* OpenSSL does blocking I/O here; socket timeouts bound each call. */
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(ctx);
    int rc = RKT_TLS_ESETUP;
    if (ssl && SSL_set_fd(ssl, fd) == 1) {
        if (o->ca_file)
            expect_name(ssl, o->verify_name ? o->verify_name : host);
        rc = exchange(ssl, argc, argv, reply, len, why, why_size);
        if (rc == RKT_TLS_OK)
            SSL_shutdown(ssl);
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    ERR_clear_error();
    return rc;
}

int rkt_tls_command(const char *host, int port, const rkt_tls_client_opts *o, int argc,
                    const char *const *argv, char **reply, size_t *len, char *why,
                    size_t why_size) {
    sigset_t old;
    bool was_pending;
    sigpipe_block(&old, &was_pending);
    int rc = tls_command(host, port, o, argc, argv, reply, len, why, why_size);
    sigpipe_restore(&old, was_pending);
    return rc;
}

int rkt_tls_ping(const char *host, int port, const rkt_tls_client_opts *o) {
    const char *argv[] = {"PING"};
    char *reply = NULL;
    int rc = rkt_tls_command(host, port, o, 1, argv, &reply, NULL, NULL, 0);
    if (rc == RKT_TLS_OK && strcmp(reply, "+PONG\r\n") != 0)
        rc = RKT_TLS_EIO;
    free(reply);
    return rc;
}
