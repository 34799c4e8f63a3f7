/* libFuzzer target for the RESP reader alone, at full speed.
 *
 * The input (mode byte, then RESP bytes: see support.h) goes in random-
 * sized chunks to two readers: one fed with rk_reader_feed and read with
 * rk_reader_next (owned replies), one fed through rk_reader_space/commit
 * and read with rk_reader_next_borrowed. They must agree on every result
 * and every reply. The slower checks (re-encoding, copies, formatting) are
 * fuzz_reader_roundtrip's, the shapes fuzz_shapes'.
 *
 *   make fuzz FUZZ_TARGET=fuzz_reader FUZZ_TIME=60 */
#include <stdlib.h>
#include <string.h>

#include "support.h"

/* Copies a chunk in through the zero-copy interface. */
static int feed_space(rk_reader *rd, const uint8_t *p, size_t n) {
    while (n > 0) {
        size_t avail;
        void *area = rk_reader_space(rd, n, &avail);
        if (area == NULL)
            return rk_error_last()->code;
        size_t k = avail < n ? avail : n;
        memcpy(area, p, k);
        int rc = rk_reader_commit(rd, k);
        if (rc != RK_OK)
            return rc;
        p += k, n -= k;
    }
    return RK_OK;
}

/* Takes every complete reply from both; false once they failed. */
static bool drain(rk_reader *a, rk_reader *b) {
    for (;;) {
        rk_reply owned, borrowed;
        int ra = rk_reader_next(a, &owned);
        int rb = rk_reader_next_borrowed(b, &borrowed);
        if (ra != rb || (ra == 1 && !rkf_equal(&owned, &borrowed)))
            abort();
        rk_reply_free(&owned);
        if (ra != 1)
            return ra == 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    rkf_input in;
    if (!rkf_input_start(&in, data, size))
        return 0;
    rk_reader *a = rkf_reader(&in, 0), *b = rkf_reader(&in, 1);
    const uint8_t *p;
    size_t n;
    bool ok = true;
    while (ok && rkf_input_chunk(&in, &p, &n)) {
        int ra = rk_reader_feed(a, p, n);
        int rb = feed_space(b, p, n);
        if (ra != rb)
            abort();
        ok = ra == RK_OK && drain(a, b);
    }
    return 0;
}
