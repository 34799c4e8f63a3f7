/* The per-thread error detail behind rk_error_last().
 *
 * Each thread has one fixed record; a failure overwrites it. Messages are
 * truncated to the record's size rather than allocated, so recording an
 * error can never itself fail. */
#include <stdio.h>
#include <string.h>

#include "util/common.h"

typedef struct error_slot {
    rk_error pub;
    char message[512];
    char prefix[64];
} error_slot;

static _Thread_local error_slot last_error = {
    .pub = {.code = RK_OK, .message = "", .prefix = ""},
};

static error_slot *slot(void) {
    error_slot *s = &last_error;
    s->pub.message = s->message; /* thread-local addresses differ per thread */
    s->pub.prefix = s->prefix;
    return s;
}

const rk_error *rk_error_last(void) {
    return &slot()->pub;
}

void rk_error_clear(void) {
    error_slot *s = slot();
    s->pub.code = RK_OK;
    s->message[0] = '\0';
    s->prefix[0] = '\0';
}

int rk_vfail(int code, const char *fmt, va_list ap) {
    error_slot *s = slot();
    s->pub.code = code;
    s->prefix[0] = '\0';
    vsnprintf(s->message, sizeof(s->message), fmt, ap);
    return code;
}

int rk_fail(int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    rk_vfail(code, fmt, ap);
    va_end(ap);
    return code;
}

int rk_fail_server(int code, const char *msg, size_t len) {
    error_slot *s = slot();
    size_t n = RK_MIN(len, sizeof(s->message) - 1);
    memcpy(s->message, msg, n);
    s->message[n] = '\0';
    size_t p = 0;
    while (p < n && p < sizeof(s->prefix) - 1 && msg[p] != ' ')
        p++;
    memcpy(s->prefix, msg, p);
    s->prefix[p] = '\0';
    s->pub.code = code;
    return code;
}

const char *rk_strerror(int code) {
    switch (code) {
    case RK_OK: return "success";
    case RK_NIL: return "nil value";
    case RK_EIO: return "I/O error";
    case RK_ETIMEOUT: return "timeout";
    case RK_EPROTO: return "protocol error";
    case RK_ESERVER: return "server error reply";
    case RK_EREDIRECT: return "cluster redirection";
    case RK_EAUTH: return "authentication failed";
    case RK_ENOMEM: return "out of memory";
    case RK_EINVAL: return "invalid argument";
    case RK_ECLOSED: return "closed";
    case RK_EPOOL: return "connection pool exhausted";
    case RK_ECONNECT: return "connection failed";
    case RK_ERESOLVE: return "host name resolution failed";
    case RK_ETLS: return "TLS error";
    case RK_EWATCH: return "transaction aborted: watched key changed";
    case RK_EEXECABORT: return "transaction aborted: command refused";
    case RK_ENOTOWNER: return "lock not owned";
    case RK_ELOCKED: return "lock held by another owner";
    case RK_EAGAIN: return "try again";
    case RK_ECANCELED: return "cancelled";
    default: return "unknown error";
    }
}
