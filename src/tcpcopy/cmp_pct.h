/*
 * cmp_pct: a bounded-memory percentile estimator (a log-bucketed histogram, as HdrHistogram
 * does it with 4 bits of precision).
 *
 * Values below 16 have a bucket each; above, each power of two is cut into 16 buckets, so a
 * value is known within 1/16 of itself and a percentile is returned as its bucket's middle:
 * within 1/32 (3.2 %) of the exact order statistic, clamped to [min, max]. 2.4 KB each.
 */
#ifndef TC_CMP_PCT_H
#define TC_CMP_PCT_H

#include <stdint.h>

#define CMP_PCT_SUB 16
#define CMP_PCT_MAXEXP 44 /* values up to 2^44 (microseconds: 200 days) */
#define CMP_PCT_BUCKETS (CMP_PCT_SUB + (CMP_PCT_MAXEXP - 4) * CMP_PCT_SUB)

struct cmp_pct {
    uint64_t n, min, max;
    uint32_t b[CMP_PCT_BUCKETS];
};

/* An empty histogram. */
void cmp_pct_init(struct cmp_pct *h);
/* Count one value (values past 2^44 share the last bucket; min and max stay exact). */
void cmp_pct_add(struct cmp_pct *h, uint64_t v);
/* The q-quantile (0 <= q <= 1) as the value of rank ceil(q * n); 0 when empty; the largest
 * value (rank n) exactly. */
uint64_t cmp_pct_get(const struct cmp_pct *h, double q);

#endif
