/*
 * cmp_bside: the baseline's side of a compared session (--compare-baseline, noise learning):
 * the baseline connection's answer bytes, tracked by sequence number, framed, and handed to
 * the session's pairer as CMP_BASELINE answers. See doc/compare.md, "Noise learning".
 */
#ifndef TC_CMP_BSIDE_H
#define TC_CMP_BSIDE_H

#include <stdbool.h>
#include <stdint.h>

#include "cmp_frame.h"
#include "cmp_pair.h"

struct cmp_bside;

struct cmp_bside_stats {
    uint64_t bytes, gaps; /* answer bytes fed; holes (their answers: baseline_missing) */
};

/* A baseline side feeding pair (owned by the caller, outliving the side); NULL when out of
 * memory. The caller has called cmp_pair_baseline(pair). */
struct cmp_bside *cmp_bside_new(enum cmp_proto proto, const struct cmp_rules *rules,
                                struct cmp_pair *pair, struct cmp_bside_stats *st);
/* The session's next request, in order (as the other sides' framers get it). */
void cmp_bside_expect(struct cmp_bside *b, const struct cmp_req *r);
/* A baseline segment: bytes [seq, seq + n) (d NULL or !whole: not forwarded, a hole) after
 * the connection's ISN isn, conn the connection's number (a rebuilt one ends the side), fin
 * its FIN. Out of order is not held: bytes beyond a hole make the answer they hit
 * incomplete (the target's verdict then stands alone). */
void cmp_bside_segment(struct cmp_bside *b, uint32_t isn, uint16_t conn, uint32_t seq,
                       const uint8_t *d, uint32_t n, bool fin);
/* The baseline's session is gone: answers still owed are missing. */
void cmp_bside_end(struct cmp_bside *b);
/* The side ended (its FIN, its end, a rebuilt connection): no more answers. NULL: true. */
bool cmp_bside_done(const struct cmp_bside *b);
void cmp_bside_free(struct cmp_bside *b); /* NULL-safe */

#endif
