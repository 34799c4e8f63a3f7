/* rk-bench: a latency histogram with log-linear buckets, in microseconds.
 *
 * As HdrHistogram does: values below 128 us have a bucket each; above,
 * every power-of-two range [2^k, 2^(k+1)) is split into 64 equal buckets,
 * so a value is known within 1/64 (1.6 %) of itself. Recording is one
 * index computation and an increment; histograms of threads are merged. */
#ifndef RKB_HIST_H
#define RKB_HIST_H

#include <stdint.h>

#define RKB_HIST_SUB_BITS 6                    /* 64 buckets per doubling */
#define RKB_HIST_SUB (1u << RKB_HIST_SUB_BITS) /* 64 */
#define RKB_HIST_MAX_BITS 36                   /* values up to 2^36 us (19 h) */
#define RKB_HIST_BUCKETS ((RKB_HIST_MAX_BITS - RKB_HIST_SUB_BITS) * RKB_HIST_SUB + RKB_HIST_SUB)

typedef struct rkb_hist {
    uint64_t count; /* values recorded */
    uint64_t sum;   /* their sum, for the mean */
    uint64_t min;   /* exact; UINT64_MAX when empty */
    uint64_t max;   /* exact */
    uint64_t buckets[RKB_HIST_BUCKETS];
} rkb_hist;

/** Empties h. */
void rkb_hist_reset(rkb_hist *h);

/** Records one value (us); values past the top are kept in the last bucket
 *  (and exactly in max). */
void rkb_hist_record(rkb_hist *h, uint64_t us);

/** Records n equal values at once (a pipeline batch read together). */
void rkb_hist_record_n(rkb_hist *h, uint64_t us, uint64_t n);

/** Adds everything src holds into dst. */
void rkb_hist_merge(rkb_hist *dst, const rkb_hist *src);

/** The value at percentile p (0..100): the highest value of the bucket
 *  where the cumulative count reaches p % of the total, never above the
 *  exact max nor below the exact min. 0 when empty. Monotonic in p. */
uint64_t rkb_hist_percentile(const rkb_hist *h, double p);

/** The mean (us), 0 when empty. */
double rkb_hist_mean(const rkb_hist *h);

/** Bucket index of a value, and the highest value that bucket holds
 *  (exposed for the tests). */
unsigned rkb_hist_index(uint64_t us);
uint64_t rkb_hist_bucket_high(unsigned index);

#endif
