/* rk-bench: the latency histogram (see hist.h for the bucket layout).
 *
 * Index of a value v: v itself below 2 * RKB_HIST_SUB; above, with
 * shift = (highest set bit of v) - RKB_HIST_SUB_BITS, the top
 * RKB_HIST_SUB_BITS + 1 bits of v (64..127) plus shift * 64. Buckets are
 * thus contiguous and ordered by value, which the percentile walk needs. */
#include "hist.h"

#include <string.h>

void rkb_hist_reset(rkb_hist *h) {
    memset(h, 0, sizeof(*h));
    h->min = UINT64_MAX;
}

unsigned rkb_hist_index(uint64_t us) {
    if (us < 2 * RKB_HIST_SUB)
        return (unsigned)us;
    unsigned msb = 63u - (unsigned)__builtin_clzll(us);
    if (msb >= RKB_HIST_MAX_BITS)
        return RKB_HIST_BUCKETS - 1;
    unsigned shift = msb - RKB_HIST_SUB_BITS;
    return shift * RKB_HIST_SUB + (unsigned)(us >> shift);
}

uint64_t rkb_hist_bucket_high(unsigned index) {
    if (index < 2 * RKB_HIST_SUB)
        return index;
    unsigned shift = index / RKB_HIST_SUB - 1;
    uint64_t sub = index - shift * RKB_HIST_SUB;
    return ((sub + 1) << shift) - 1;
}

void rkb_hist_record_n(rkb_hist *h, uint64_t us, uint64_t n) {
    if (n == 0)
        return;
    h->buckets[rkb_hist_index(us)] += n;
    h->count += n;
    h->sum += us * n;
    if (us < h->min)
        h->min = us;
    if (us > h->max)
        h->max = us;
}

void rkb_hist_record(rkb_hist *h, uint64_t us) {
    rkb_hist_record_n(h, us, 1);
}

void rkb_hist_merge(rkb_hist *dst, const rkb_hist *src) {
    for (unsigned i = 0; i < RKB_HIST_BUCKETS; i++)
        dst->buckets[i] += src->buckets[i];
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
}

uint64_t rkb_hist_percentile(const rkb_hist *h, double p) {
    if (h->count == 0)
        return 0;
    if (p < 0)
        p = 0;
    if (p > 100)
        p = 100;
    /* The rank of the value wanted, 1-based: ceil(p % of the count). */
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    if (rank > h->count)
        rank = h->count;
    uint64_t seen = 0;
    unsigned i = 0;
    for (; i < RKB_HIST_BUCKETS - 1; i++) {
        seen += h->buckets[i];
        if (seen >= rank)
            break;
    }
    uint64_t v = rkb_hist_bucket_high(i);
    if (v > h->max)
        v = h->max;
    if (v < h->min)
        v = h->min;
    return v;
}

double rkb_hist_mean(const rkb_hist *h) {
    return h->count ? (double)h->sum / (double)h->count : 0.0;
}
