/* Input cutting and reply comparison for the reply-reading fuzz targets;
 * see support.h for the input format. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* max_bulk of the large limits. A reader allocates a large bulk's whole
 * length when its header arrives, so the default (512 MiB) would make
 * every input that declares a long string slow; this is still above the
 * 64 KiB from which a bulk is received into its own block. */
#define LARGE_BULK (256u * 1024)

/* AddressSanitizer keeps freed memory from reuse for a while to catch use
 * after free; its default 256 MiB makes every allocation touch fresh pages
 * (page faults are most of a run's time). 16 MiB is still far more than
 * one input allocates. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
    return "quarantine_size_mb=16";
}

bool rkf_input_start(rkf_input *in, const uint8_t *data, size_t size) {
    if (size < 1)
        return false;
    *in = (rkf_input){.data = data + 1, .size = size - 1, .rng = data[0] & 0x7f};
    in->lim.max_bulk = LARGE_BULK;
    if (data[0] & 0x80)
        in->lim =
            (rk_reader_opts){.max_bulk = 64, .max_elements = 16, .max_depth = 4, .max_buffer = 256};
    return true;
}

/* xorshift32: cheap, and the same sizes for the same input every run. */
static uint32_t next_random(uint32_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Mostly short chunks, to stop the reader inside every kind of token,
 * sometimes longer ones or all the rest. */
static size_t chunk_size(uint32_t *rng, size_t left) {
    if (*rng == 0)
        return left;
    uint32_t r = next_random(rng);
    size_t n;
    switch (r & 3) {
    case 0: n = 1 + (r >> 2) % 4; break;
    case 1: n = 1 + (r >> 2) % 32; break;
    case 2: n = 1 + (r >> 2) % 512; break;
    default: n = left; break;
    }
    return n < left ? n : left;
}

bool rkf_input_chunk(rkf_input *in, const uint8_t **p, size_t *n) {
    if (in->off >= in->size)
        return false;
    *p = in->data + in->off;
    *n = chunk_size(&in->rng, in->size - in->off);
    in->off += *n;
    return true;
}

rk_reader *rkf_reader(const rkf_input *in, int which) {
    static rk_reader *readers[2][2]; /* [small limits][which] */
    rk_reader **rd = &readers[in->lim.max_depth != 0][which];
    if (*rd == NULL && (*rd = rk_reader_new(&in->lim)) == NULL)
        abort();
    rk_reader_reset(*rd);
    return *rd;
}

void rkf_each_reply(const uint8_t *data, size_t size,
                    void (*each)(const rk_reply *reply, void *ctx), void *ctx) {
    rkf_input in;
    if (!rkf_input_start(&in, data, size))
        return;
    rk_reader *rd = rkf_reader(&in, 0);
    const uint8_t *p;
    size_t n;
    int rc = 0;
    while (rc >= 0 && rkf_input_chunk(&in, &p, &n)) {
        if (rk_reader_feed(rd, p, n) != RK_OK)
            break;
        rk_reply r;
        while ((rc = rk_reader_next(rd, &r)) == 1) {
            each(&r, ctx);
            rk_reply_free(&r);
        }
    }
}

static bool equal_attr(const rk_reply *a, const rk_reply *b) {
    const rk_reply *x = rk_reply_attr(a), *y = rk_reply_attr(b);
    if (!x || !y)
        return x == y;
    return rkf_equal(x, y);
}

static bool equal_elements(const rk_reply *a, const rk_reply *b) {
    rk_type t = rk_reply_type(a);
    bool map = t == RK_REPLY_MAP || t == RK_REPLY_ATTR;
    for (size_t i = 0; i < rk_reply_len(a); i++) {
        if (map && (!rkf_equal(rk_reply_map_key(a, i), rk_reply_map_key(b, i)) ||
                    !rkf_equal(rk_reply_map_value(a, i), rk_reply_map_value(b, i))))
            return false;
        if (!map && rk_reply_at(a, i) && !rkf_equal(rk_reply_at(a, i), rk_reply_at(b, i)))
            return false;
    }
    return true;
}

bool rkf_equal(const rk_reply *a, const rk_reply *b) {
    rk_type t = rk_reply_type(a);
    if (t != rk_reply_type(b) || rk_reply_len(a) != rk_reply_len(b) || !equal_attr(a, b))
        return false;
    if (rk_reply_int(a) != rk_reply_int(b))
        return false;
    const char *sa = rk_reply_str(a), *sb = rk_reply_str(b);
    if ((sa == NULL) != (sb == NULL))
        return false;
    if (sa && memcmp(sa, sb, rk_reply_len(a) + 1) != 0) /* NUL included */
        return false;
    if (t == RK_REPLY_VERBATIM &&
        strcmp(rk_reply_verbatim_format(a), rk_reply_verbatim_format(b)) != 0)
        return false;
    return equal_elements(a, b);
}
