/* Protocol-layer test helpers (see rkt_resp.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rediskit/error.h"
#include "rediskit/reader.h"
#include "rkt_resp.h"

void rkt_parse(const char *wire, size_t len, rk_reply *out) {
    rk_reader *rd = rk_reader_new(NULL);
    assert_non_null(rd);
    assert_int_equal(rk_reader_feed(rd, wire, len), RK_OK);
    assert_int_equal(rk_reader_next(rd, out), 1);
    assert_int_equal(rk_reader_buffered(rd), 0);
    rk_reply extra;
    assert_int_equal(rk_reader_next(rd, &extra), 0);
    rk_reader_free(rd);
}

char *rkt_drain(rk_writer *w, size_t *len) {
    size_t total = rk_writer_pending(w);
    char *out = malloc(total + 1);
    assert_non_null(out);
    struct iovec iov[16];
    size_t at = 0;
    for (int n; (n = rk_writer_iov(w, iov, 16)) > 0;) {
        size_t sent = 0;
        for (int i = 0; i < n; i++) {
            assert_true(at + sent + iov[i].iov_len <= total);
            memcpy(out + at + sent, iov[i].iov_base, iov[i].iov_len);
            sent += iov[i].iov_len;
        }
        rk_writer_consume(w, sent);
        at += sent;
    }
    assert_int_equal(at, total);
    assert_int_equal(rk_writer_pending(w), 0);
    out[at] = '\0';
    *len = at;
    return out;
}

char *rkt_encode(const rk_reply *r, int protocol, size_t *len) {
    rk_writer *w = rk_writer_new(NULL);
    assert_non_null(w);
    assert_int_equal(rk_writer_reply(w, r, protocol), RK_OK);
    char *out = rkt_drain(w, len);
    rk_writer_free(w);
    return out;
}

bool rkt_same_reply(const rk_reply *a, const rk_reply *b) {
    rk_type t = rk_reply_type(a);
    size_t len = rk_reply_len(a);
    if (t != rk_reply_type(b) || len != rk_reply_len(b))
        return false;
    if (rk_reply_int(a) != rk_reply_int(b))
        return false;
    const rk_reply *aa = rk_reply_attr(a), *ab = rk_reply_attr(b);
    if ((aa == NULL) != (ab == NULL) || (aa && !rkt_same_reply(aa, ab)))
        return false;
    const char *sa = rk_reply_str(a), *sb = rk_reply_str(b);
    if ((sa == NULL) != (sb == NULL))
        return false;
    if (sa && (memcmp(sa, sb, len) != 0 || sa[len] != '\0' || sb[len] != '\0'))
        return false;
    const char *fa = rk_reply_verbatim_format(a), *fb = rk_reply_verbatim_format(b);
    if ((fa == NULL) != (fb == NULL) || (fa && strcmp(fa, fb) != 0))
        return false;
    for (size_t i = 0; sa == NULL && i < len; i++) {
        if (t == RK_REPLY_MAP || t == RK_REPLY_ATTR) {
            if (!rkt_same_reply(rk_reply_map_key(a, i), rk_reply_map_key(b, i)) ||
                !rkt_same_reply(rk_reply_map_value(a, i), rk_reply_map_value(b, i)))
                return false;
        } else if (!rkt_same_reply(rk_reply_at(a, i), rk_reply_at(b, i))) {
            return false;
        }
    }
    return true;
}
