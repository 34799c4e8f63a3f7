/* libFuzzer target for the URL parser (src/client/url.c).
 *
 * The input, cut at its first NUL, is parsed over a base with every string
 * set. On success each string must be readable to its end and those the URL
 * set must lie inside the storage block; on failure storage must be NULL and
 * the base untouched. A URL that parses is also written again, in the one
 * canonical form this file knows (the library has no URL writer): every
 * string percent-encoded, every option spelled out. That URL must parse to
 * the same options. Crashes, sanitizer reports, leaks and disagreements are
 * findings.
 *
 *   make fuzz FUZZ_TARGET=fuzz_url FUZZ_TIME=60 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/url.h"
#include "rediskit/rediskit.h"

static const rk_options base = {
    .host = "base-host",
    .unix_path = "/base.sock",
    .username = "u",
    .password = "p",
    .client_name = "n",
    .port = 1,
    .db = 2,
    .tls = {.ca_file = "a", .ca_dir = "b", .cert_file = "c", .key_file = "d", .server_name = "e"},
};

/* A string the parse left: the base's own, or inside the block. */
static void check_string(const char *s, const char *from_base, const char *block, size_t size) {
    if (s == NULL || s == from_base)
        return;
    if (block == NULL || s < block || s + strlen(s) >= block + size)
        abort();
}

static void check_strings(const rk_options *o, const char *block, size_t size) {
    check_string(o->host, base.host, block, size);
    check_string(o->unix_path, base.unix_path, block, size);
    check_string(o->username, base.username, block, size);
    check_string(o->password, base.password, block, size);
    check_string(o->client_name, base.client_name, block, size);
    check_string(o->tls.ca_file, base.tls.ca_file, block, size);
    check_string(o->tls.ca_dir, base.tls.ca_dir, block, size);
    check_string(o->tls.cert_file, base.tls.cert_file, block, size);
    check_string(o->tls.key_file, base.tls.key_file, block, size);
    check_string(o->tls.server_name, base.tls.server_name, block, size);
}

/* ---- the canonical URL ---------------------------------------------- */

typedef struct out {
    char *p;
    size_t len, cap;
} out;

static void put(out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(out *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= o->cap - o->len)
        abort(); /* the buffer is sized for the worst case */
    o->len += (size_t)n;
}

/* s percent-encoded but for letters, digits, "-._~" and the bytes in keep. */
static void put_encoded(out *o, const char *s, const char *keep) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c) || strchr(keep, c))
            put(o, "%c", c);
        else
            put(o, "%%%02X", c);
    }
}

static void put_string_option(out *o, const char *name, const char *value) {
    if (value == NULL)
        return;
    put(o, "&%s=", name);
    put_encoded(o, value, "");
}

/* Milliseconds as the seconds the URL takes; 0 is left out, -1 (never,
 * off) is written as 0. */
static void put_seconds(out *o, const char *name, int ms) {
    if (ms == -1)
        put(o, "&%s=0", name);
    else if (ms != 0)
        put(o, "&%s=%d.%03d", name, ms / 1000, ms % 1000);
}

static void put_int(out *o, const char *name, int v) {
    if (v != 0)
        put(o, "&%s=%d", name, v == -1 ? 0 : v);
}

static void put_authority(out *o, const rk_options *opt) {
    if (opt->username || opt->password) {
        put_encoded(o, opt->username ? opt->username : "", "");
        if (opt->password) {
            put(o, ":");
            put_encoded(o, opt->password, "");
        }
        put(o, "@");
    }
    if (opt->unix_path) {
        put_encoded(o, opt->unix_path, "/");
        return;
    }
    if (opt->host && strchr(opt->host, ':'))
        put(o, "["), put_encoded(o, opt->host, ":"), put(o, "]");
    else if (opt->host)
        put(o, "%s", opt->host);
    if (opt->port)
        put(o, ":%d", opt->port);
}

static void put_query(out *o, const rk_options *opt) {
    put(o, "?db=%d", opt->db);
    put_int(o, "protocol", opt->protocol);
    put_string_option(o, "client_name", opt->client_name);
    put_seconds(o, "connect_timeout", opt->connect_timeout_ms);
    put_seconds(o, "socket_timeout", opt->command_timeout_ms);
    put_int(o, "pool_size", opt->pool_size);
    put_seconds(o, "pool_timeout", opt->pool_timeout_ms);
    put_seconds(o, "health_check_interval", opt->health_check_ms);
    put_int(o, "retry_attempts", opt->retry.attempts);
    put_int(o, "keepalive", opt->keepalive_s);
    put_string_option(o, "ssl_ca_certs", opt->tls.ca_file);
    put_string_option(o, "ssl_ca_path", opt->tls.ca_dir);
    put_string_option(o, "ssl_certfile", opt->tls.cert_file);
    put_string_option(o, "ssl_keyfile", opt->tls.key_file);
    put_string_option(o, "ssl_server_name", opt->tls.server_name);
    if (opt->tls.insecure)
        put(o, "&ssl_cert_reqs=none");
}

/* opt (parsed over zeroes) as a URL, in a buffer the caller frees. */
static char *canonical(const rk_options *opt, size_t url_len) {
    out o = {.cap = 3 * url_len + 512};
    if ((o.p = malloc(o.cap)) == NULL)
        abort();
    put(&o, "%s://", opt->unix_path ? "unix" : opt->tls.enabled ? "rediss" : "redis");
    put_authority(&o, opt);
    put_query(&o, opt);
    return o.p;
}

static bool same_string(const char *a, const char *b) {
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_options(const rk_options *a, const rk_options *b) {
    return same_string(a->host, b->host) && same_string(a->unix_path, b->unix_path) &&
           same_string(a->username, b->username) && same_string(a->password, b->password) &&
           same_string(a->client_name, b->client_name) &&
           same_string(a->tls.ca_file, b->tls.ca_file) &&
           same_string(a->tls.ca_dir, b->tls.ca_dir) &&
           same_string(a->tls.cert_file, b->tls.cert_file) &&
           same_string(a->tls.key_file, b->tls.key_file) &&
           same_string(a->tls.server_name, b->tls.server_name) && a->port == b->port &&
           a->db == b->db && a->protocol == b->protocol &&
           a->connect_timeout_ms == b->connect_timeout_ms &&
           a->command_timeout_ms == b->command_timeout_ms && a->pool_size == b->pool_size &&
           a->pool_timeout_ms == b->pool_timeout_ms && a->health_check_ms == b->health_check_ms &&
           a->retry.attempts == b->retry.attempts && a->keepalive_s == b->keepalive_s &&
           a->tls.enabled == b->tls.enabled && a->tls.insecure == b->tls.insecure;
}

/* url parses over zeroes; so must its canonical form, to the same. */
static void check_round_trip(const char *url, size_t len) {
    rk_options first = {0}, second = {0};
    char *block1, *block2;
    if (rk_url_parse(url, &first, &block1) != RK_OK)
        abort();
    char *again = canonical(&first, len);
    if (rk_url_parse(again, &second, &block2) != RK_OK || !same_options(&first, &second))
        abort();
    rk_free(block1);
    rk_free(block2);
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *url = malloc(size + 1);
    if (url == NULL)
        return 0;
    memcpy(url, data, size);
    url[size] = '\0';
    rk_options opts = base;
    char *block = NULL;
    int rc = rk_url_parse(url, &opts, &block);
    if (rc == RK_OK) {
        check_strings(&opts, block, size + 1);
        check_round_trip(url, size);
    } else if (block != NULL || memcmp(&opts, &base, sizeof(opts)) != 0) {
        abort();
    }
    rk_free(block);
    free(url);
    return 0;
}
