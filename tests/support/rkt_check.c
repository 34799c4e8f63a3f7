/* Connection test helpers (see rkt_check.h). */
#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rediskit/error.h"
#include "rkt_check.h"

void rkt_connect_ok(rk_conn *c) {
    int rc = rk_conn_connect(c);
    if (rc != RK_OK)
        fail_msg("rk_conn_connect: %s (%s)", rk_strerror(rc), rk_error_last()->message);
}

rk_reply rkt_call_ok(rk_conn *c, const char *fmt, ...) {
    rk_reply r;
    va_list ap;
    va_start(ap, fmt);
    int rc = rk_conn_vcall(c, &r, fmt, ap);
    va_end(ap);
    if (rc != RK_OK)
        fail_msg("'%s': %s (%s)", fmt, rk_strerror(rc), rk_error_last()->message);
    return r;
}

void rkt_assert_text(const rk_reply *r, rk_type type, const char *text) {
    assert_int_equal(rk_reply_type(r), type);
    assert_string_equal(rk_reply_str(r), text);
}

void rkt_expect_pong(rk_conn *c) {
    rk_reply r = rkt_call_ok(c, "PING");
    rkt_assert_text(&r, RK_REPLY_STATUS, "PONG");
    rk_reply_free(&r);
}

void rkt_assert_bytes(const rk_reply *r, const void *data, size_t len) {
    assert_int_equal(rk_reply_type(r), RK_REPLY_STRING);
    assert_int_equal(rk_reply_len(r), len);
    assert_memory_equal(rk_reply_str(r), data, len);
}

void rkt_wait_conn(rk_conn *c) {
    int want = rk_conn_want(c);
    struct pollfd p = {.fd = rk_conn_fd(c), .events = 0};
    assert_true(p.fd >= 0);
    assert_true(want != 0);
    if (want & RK_WANT_READ)
        p.events |= POLLIN;
    if (want & RK_WANT_WRITE)
        p.events |= POLLOUT;
    assert_int_equal(poll(&p, 1, 10000), 1);
}

char *rkt_pattern(size_t n, unsigned seed) {
    char *p = malloc(n);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 131u + seed + (i >> 9)) & 0xff);
    return p;
}

int rkt_open_fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        skip();
    int n = 0;
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}
