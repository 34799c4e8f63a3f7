/* Settling options: defaults filled in, values checked, strings copied.
 *
 * Connections and clients keep a settled copy, so that no code below has
 * to know which zero means which default, and the caller's strings may go
 * away as soon as rk_conn_new / rk_client_new returns. */
#include <string.h>

#include "conn/options_int.h"
#include "util/common.h"

/* The string fields of rk_options, for copying them in one loop. */
static const char **string_field(rk_options *o, int i) {
    const char **fields[] = {
        &o->host,        &o->unix_path,  &o->username,      &o->password,     &o->client_name,
        &o->tls.ca_file, &o->tls.ca_dir, &o->tls.cert_file, &o->tls.key_file, &o->tls.server_name,
    };
    return i < (int)RK_ARRAY_LEN(fields) ? fields[i] : NULL;
}

static int copy_strings(rk_options *o, char **storage) {
    size_t total = 0;
    const char **f;
    for (int i = 0; (f = string_field(o, i)) != NULL; i++)
        if (*f)
            total += strlen(*f) + 1;
    *storage = NULL;
    if (total == 0)
        return RK_OK;
    char *p = rk_malloc(total);
    if (p == NULL)
        return rk_fail(RK_ENOMEM, "out of memory copying options");
    *storage = p;
    for (int i = 0; (f = string_field(o, i)) != NULL; i++) {
        if (*f == NULL)
            continue;
        size_t n = strlen(*f) + 1;
        memcpy(p, *f, n);
        *f = p;
        p += n;
    }
    return RK_OK;
}

static int check(const rk_options *o) {
    if (o->port < 1 || o->port > 65535)
        return rk_fail(RK_EINVAL, "options: port %d is not in 1..65535", o->port);
    if (o->db < 0)
        return rk_fail(RK_EINVAL, "options: db %d is negative", o->db);
    if (o->protocol != 2 && o->protocol != 3)
        return rk_fail(RK_EINVAL, "options: protocol must be 2 or 3, not %d", o->protocol);
    if (o->host[0] == '\0' && o->unix_path == NULL)
        return rk_fail(RK_EINVAL, "options: empty host");
    if (o->unix_path && o->unix_path[0] == '\0')
        return rk_fail(RK_EINVAL, "options: empty unix_path");
    if (o->tls.server_name && o->tls.server_name[0] == '\0') /* would check no name */
        return rk_fail(RK_EINVAL, "options: empty tls.server_name (NULL means the host)");
    if ((o->tls.cert_file == NULL) != (o->tls.key_file == NULL))
        return rk_fail(RK_EINVAL, "options: tls.cert_file and tls.key_file go together");
    if (o->pool_size < 0)
        return rk_fail(RK_EINVAL, "options: pool_size %d is negative", o->pool_size);
    if (o->mode != RK_MODE_POOL && o->mode != RK_MODE_MUX)
        return rk_fail(RK_EINVAL, "options: mode %d is neither RK_MODE_POOL nor RK_MODE_MUX",
                       (int)o->mode);
    if (o->mux_connections < 0 || o->mux_connections > RK_MAX_MUX_CONNECTIONS)
        return rk_fail(RK_EINVAL, "options: mux_connections %d is not in 1..%d", o->mux_connections,
                       RK_MAX_MUX_CONNECTIONS);
    if (o->retry.attempts < 0 || o->retry.base_ms < 0 || o->retry.cap_ms < 0)
        return rk_fail(RK_EINVAL, "options: retry values must not be negative");
    if (o->limits.max_depth > 4096) /* the reader's ceiling (reader.h) */
        return rk_fail(RK_EINVAL, "options: limits.max_depth %u is over 4096", o->limits.max_depth);
    if (o->limits.max_memory != 0 && o->limits.max_memory < 4096) /* reader.h */
        return rk_fail(RK_EINVAL, "options: limits.max_memory %zu is under 4096",
                       o->limits.max_memory);
    if (o->client_name && strpbrk(o->client_name, " \r\n"))
        return rk_fail(RK_EINVAL, "options: client_name must not contain spaces or newlines");
    return RK_OK;
}

static void fill_defaults(rk_options *o) {
    if (o->host == NULL)
        o->host = RK_DEFAULT_HOST;
    if (o->port == 0)
        o->port = RK_DEFAULT_PORT;
    if (o->protocol == 0)
        o->protocol = 3;
    if (o->connect_timeout_ms == 0)
        o->connect_timeout_ms = RK_DEFAULT_CONNECT_TIMEOUT_MS;
    if (o->keepalive_s == 0)
        o->keepalive_s = RK_DEFAULT_KEEPALIVE_S;
    if (o->health_check_ms == 0)
        o->health_check_ms = RK_DEFAULT_HEALTH_CHECK_MS;
    if (o->pool_size == 0)
        o->pool_size = RK_DEFAULT_POOL_SIZE;
    if (o->pool_timeout_ms == 0)
        o->pool_timeout_ms = RK_DEFAULT_POOL_TIMEOUT_MS;
    if (o->mux_connections == 0)
        o->mux_connections = RK_DEFAULT_MUX_CONNECTIONS;
    if (o->retry.attempts == 0)
        o->retry.attempts = RK_DEFAULT_RETRY_ATTEMPTS;
    if (o->retry.base_ms == 0)
        o->retry.base_ms = RK_DEFAULT_RETRY_BASE_MS;
    if (o->retry.cap_ms == 0)
        o->retry.cap_ms = RK_DEFAULT_RETRY_CAP_MS;
    if (o->retry.backoff == RK_BACKOFF_DEFAULT)
        o->retry.backoff = RK_BACKOFF_EQUAL_JITTER;
    if (o->retry.on_errors == 0)
        o->retry.on_errors = RK_RETRY_LOADING | RK_RETRY_MASTERDOWN | RK_RETRY_TRYAGAIN;
}

int rk_options_settle(const rk_options *src, size_t src_size, rk_options *dst, char **storage) {
    *storage = NULL;
    int rc = rk_opts_settle(dst, sizeof(*dst), src, src_size, "rk_options");
    if (rc != RK_OK)
        return rc;
    fill_defaults(dst);
    rc = check(dst);
    if (rc == RK_OK)
        rc = copy_strings(dst, storage);
    return rc;
}

void rk_options_free_storage(const rk_options *o, char *storage) {
    if (storage && o->password)
        explicit_bzero((char *)o->password, strlen(o->password));
    rk_free(storage);
}

int rk_options_tls_ctx(const rk_options *o, rk_tls_ctx **out) {
    *out = NULL;
    if (!o->tls.enabled)
        return RK_OK;
    rk_tls_opts t = {.ca_file = o->tls.ca_file,
                     .ca_dir = o->tls.ca_dir,
                     .cert_file = o->tls.cert_file,
                     .key_file = o->tls.key_file,
                     .insecure = o->tls.insecure};
    return rk_tls_ctx_new(&t, out);
}
