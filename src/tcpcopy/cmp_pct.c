/*
 * cmp_pct: log-bucketed histogram (see cmp_pct.h).
 */
#include "cmp_pct.h"

#include <string.h>

void cmp_pct_init(struct cmp_pct *h)
{
    memset(h, 0, sizeof(*h));
}

static unsigned bucket_of(uint64_t v)
{
    if (v < CMP_PCT_SUB)
        return (unsigned)v;
    unsigned e = 63 - (unsigned)__builtin_clzll(v); /* 2^e <= v < 2^(e+1), e >= 4 */
    if (e >= CMP_PCT_MAXEXP)
        return CMP_PCT_BUCKETS - 1;
    unsigned sub = (unsigned)(v >> (e - 4)) & (CMP_PCT_SUB - 1);
    return CMP_PCT_SUB + (e - 4) * CMP_PCT_SUB + sub;
}

/* The middle of bucket i. */
static uint64_t bucket_mid(unsigned i)
{
    if (i < CMP_PCT_SUB)
        return i;
    unsigned e = (i - CMP_PCT_SUB) / CMP_PCT_SUB + 4, sub = (i - CMP_PCT_SUB) % CMP_PCT_SUB;
    uint64_t width = 1ULL << (e - 4);
    uint64_t low = (1ULL << e) + sub * width;
    return low + width / 2;
}

void cmp_pct_add(struct cmp_pct *h, uint64_t v)
{
    if (h->n == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->n++;
    h->b[bucket_of(v)]++;
}

uint64_t cmp_pct_get(const struct cmp_pct *h, double q)
{
    if (h->n == 0)
        return 0;
    double x = q * (double)h->n;
    uint64_t rank = (uint64_t)x;
    if ((double)rank < x)
        rank++; /* ceil without libm */
    if (rank < 1)
        rank = 1;
    if (rank >= h->n)
        return h->max; /* the largest is known exactly */
    uint64_t seen = 0;
    for (unsigned i = 0; i < CMP_PCT_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t v = bucket_mid(i);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}
