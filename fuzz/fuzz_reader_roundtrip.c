/* libFuzzer target for what is done with a reply once read: encoding it
 * again, copying it, formatting it.
 *
 * Every reply the input yields (input format: support.h) is encoded with
 * rk_writer_reply and read back: RESP3 must give an equal reply, RESP2 any
 * one reply. rk_reply_dup must give an equal copy, and rk_reply_format
 * (both styles) must return. Any crash, sanitizer report, leak or
 * disagreement is a finding.
 *
 *   make fuzz FUZZ_TARGET=fuzz_reader_roundtrip FUZZ_TIME=60 */
#include <stdint.h>
#include <stdlib.h>

#include "support.h"

/* Encodes r with protocol proto and reads it back into *out. The reader
 * has the default limits, which any reply a reader accepted fits; the
 * writer copies every string, so its bytes are one buffer. */
static void reencode(const rk_reply *r, int proto, rk_reply *out) {
    rk_writer *w = rk_writer_new(&(rk_writer_opts){.ref_threshold = SIZE_MAX});
    rk_reader *rd = rk_reader_new(NULL);
    if (!w || !rd || rk_writer_reply(w, r, proto) != RK_OK)
        abort();
    struct iovec iov;
    if (rk_writer_iov(w, &iov, 1) == 1 && rk_reader_feed(rd, iov.iov_base, iov.iov_len) != RK_OK)
        abort();
    rk_reply extra;
    if (rk_reader_next(rd, out) != 1 || rk_reader_next(rd, &extra) != 0)
        abort(); /* one reply encodes to exactly one reply */
    rk_reader_free(rd);
    rk_writer_free(w);
}

static void check_reply(const rk_reply *r, void *ctx) {
    (void)ctx;
    rk_reply back;
    reencode(r, 3, &back);
    if (!rkf_equal(r, &back))
        abort();
    rk_reply_free(&back);
    reencode(r, 2, &back);
    rk_reply_free(&back);
    if (rk_reply_dup(&back, r) != RK_OK || !rkf_equal(&back, r))
        abort();
    rk_reply_free(&back);
    rk_free(rk_reply_format(r, 0, NULL));
    rk_free(rk_reply_format(r, RK_FORMAT_RAW, NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rkf_each_reply(data, size, check_reply, NULL);
    return 0;
}
