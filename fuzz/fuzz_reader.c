/* libFuzzer target for the RESP reader.
 *
 * The first input byte picks how the rest is split into feeds and which
 * limits apply. Every reply is read twice (owned and borrowed; they must
 * agree), then encoded again with rk_writer_reply and read back: RESP3 must
 * give an equal reply, RESP2 any valid one. A copy of each is also bent
 * into every reply shape the typed commands use (src/commands/shape.c),
 * then formatted and freed. Any crash, sanitizer report, leak or
 * disagreement is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commands/shape.h"
#include "rediskit/rediskit.h"

/* Every shape form, nested, as the typed commands use them. */
static const char *const shapes[] = {
    "d",
    "s",
    "m..",
    "p.d",
    "k.a(.m..)",
    "(.p.d)",
    "a(.d(dd))",
    "i",
    "ad",
    "{flags=s,selectors=a{}}",
    "{db.*={},fragmentation=d}",
    "m.$D",
    "a$I",
    "(.a(.m..).)",
    "a{functions=a{flags=s}}",
};

/* Shapes a copy of r every way; each must leave a reply that frees. */
static void check_shapes(const rk_reply *r) {
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
        rk_reply copy;
        if (rk_reply_dup(&copy, r) != RK_OK)
            abort();
        if (rk_reshape(&copy, shapes[i]) != RK_OK)
            abort();
        char *text = rk_reply_format(&copy, 0, NULL);
        rk_free(text);
        rk_reply_free(&copy);
    }
}

static int equal(const rk_reply *a, const rk_reply *b);

static int equal_attr(const rk_reply *a, const rk_reply *b) {
    const rk_reply *x = rk_reply_attr(a), *y = rk_reply_attr(b);
    if (!x || !y)
        return x == y;
    return equal(x, y);
}

static int equal(const rk_reply *a, const rk_reply *b) {
    rk_type t = rk_reply_type(a);
    if (t != rk_reply_type(b) || rk_reply_len(a) != rk_reply_len(b) || !equal_attr(a, b))
        return 0;
    if (rk_reply_int(a) != rk_reply_int(b))
        return 0;
    const char *sa = rk_reply_str(a), *sb = rk_reply_str(b);
    if ((sa == NULL) != (sb == NULL))
        return 0;
    if (sa && memcmp(sa, sb, rk_reply_len(a) + 1) != 0) /* NUL included */
        return 0;
    if (t == RK_REPLY_VERBATIM &&
        strcmp(rk_reply_verbatim_format(a), rk_reply_verbatim_format(b)) != 0)
        return 0;
    for (size_t i = 0; i < rk_reply_len(a); i++) {
        if (t == RK_REPLY_MAP || t == RK_REPLY_ATTR) {
            if (!equal(rk_reply_map_key(a, i), rk_reply_map_key(b, i)) ||
                !equal(rk_reply_map_value(a, i), rk_reply_map_value(b, i)))
                return 0;
        } else if (rk_reply_at(a, i) && !equal(rk_reply_at(a, i), rk_reply_at(b, i))) {
            return 0;
        }
    }
    return 1;
}

/* Encodes r with protocol proto and reads it back into *out. */
static int reencode(const rk_reply *r, int proto, rk_reply *out) {
    rk_writer *w = rk_writer_new(NULL);
    rk_reader *rd = rk_reader_new(&(rk_reader_opts){.max_depth = 4096});
    if (!w || !rd)
        abort();
    if (rk_writer_reply(w, r, proto) != RK_OK)
        abort();
    struct iovec iov[4];
    int n = rk_writer_iov(w, iov, 4);
    for (int i = 0; i < n; i++)
        rk_reader_feed(rd, iov[i].iov_base, iov[i].iov_len);
    int rc = rk_reader_next(rd, out);
    rk_reply extra;
    if (rc == 1 && rk_reader_next(rd, &extra) != 0)
        abort(); /* one reply encodes to exactly one reply */
    rk_reader_free(rd);
    rk_writer_free(w);
    return rc;
}

static void check_reply(const rk_reply *owned, const rk_reply *borrowed) {
    if (!equal(owned, borrowed))
        abort();
    rk_reply back;
    if (reencode(owned, 3, &back) != 1 || !equal(owned, &back))
        abort();
    rk_reply_free(&back);
    if (reencode(owned, 2, &back) != 1)
        abort();
    rk_reply_free(&back);
    rk_reply copy;
    if (rk_reply_dup(&copy, borrowed) != RK_OK || !equal(&copy, owned))
        abort();
    rk_reply_free(&copy);
    char *text = rk_reply_format(owned, 0, NULL);
    rk_free(text);
    text = rk_reply_format(owned, RK_FORMAT_RAW, NULL);
    rk_free(text);
    check_shapes(owned);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++, size--;
    rk_reader_opts lim = {0};
    if (mode & 0x80) /* small limits, to reach the limit paths */
        lim =
            (rk_reader_opts){.max_bulk = 64, .max_elements = 16, .max_depth = 4, .max_buffer = 256};
    rk_reader *a = rk_reader_new(&lim), *b = rk_reader_new(&lim);
    if (!a || !b)
        abort();
    size_t chunk = (mode & 0x7f) + 1, off = 0;
    int done = 0;
    while (off < size && !done) {
        size_t n = size - off < chunk ? size - off : chunk;
        int ra = rk_reader_feed(a, data + off, n);
        int rb = rk_reader_feed(b, data + off, n);
        if ((ra == RK_OK) != (rb == RK_OK))
            abort();
        off += n;
        for (;;) {
            rk_reply owned, borrowed;
            ra = rk_reader_next(a, &owned);
            rb = rk_reader_next_borrowed(b, &borrowed);
            if (ra != rb)
                abort();
            if (ra == 1)
                check_reply(&owned, &borrowed);
            rk_reply_free(&owned);
            if (ra != 1) {
                done = ra < 0;
                break;
            }
        }
    }
    rk_reader_free(a);
    rk_reader_free(b);
    return 0;
}
