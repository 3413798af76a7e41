/*
 * cmp_report: the comparison's outputs as pure writers over results: one JSON line per
 * differing request (DIR/mismatches.jsonl, DIR/noise.jsonl) and the totals
 * (DIR/summary.json). They write to a FILE the caller opened; nothing else is touched.
 */
#ifndef TC_CMP_REPORT_H
#define TC_CMP_REPORT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmp_pair.h"
#include "cmp_pct.h"

#define CMP_SUM_ENDPOINTS 128 /* endpoints counted apart; the rest are "(other)" */

/* Length of a valid UTF-8 sequence at s[0..n) (RFC 3629 section 4: no overlong form, no
 * surrogate, at most U+10FFFF), or 0; its code point in *cp. n >= 1. */
size_t cmp_utf8_seq(const uint8_t *s, size_t n, uint32_t *cp);

/* Write s[0..n) as a JSON string (with its quotes): valid UTF-8 passes, control characters
 * and quotes are escaped, any other byte becomes \u00XX; mask (may be NULL) blanks its
 * matches with '*' first. */
void cmp_json_string(FILE *out, const uint8_t *s, size_t n, const regex_t *mask);

/* One line of mismatches.jsonl for r: time (seconds since the epoch, written in UTC ISO 8601
 * with milliseconds), session (client address:port), index, endpoint, request, kind, offset,
 * offset_exact, online, target (excerpts around the first difference), online_ms, target_ms
 * (null when unknown). Returns 0 or -EIO. */
int cmp_report_line(FILE *out, const struct cmp_result *r, double time_s, const char *session,
                    const regex_t *mask);

struct cmp_ep_stats {
    char name[CMP_ENDPOINT_MAX];
    uint64_t requests, equal, different, noise, not_compared;
    struct cmp_pct online, target;
};

struct cmp_summary {
    uint64_t compared, equal, different, noise, not_compared;
    uint64_t by_reason[CMP_REASON_COUNT];
    uint64_t by_kind[CMP_KIND_CLOSED + 1];
    uint32_t nep;
    struct cmp_ep_stats ep[CMP_SUM_ENDPOINTS]; /* the last one is "(other)" when full */
    /* ep's index + 1 by name hash (open addressing, 0: free): a result finds its
     * endpoint without comparing every name */
    uint16_t idx[2 * CMP_SUM_ENDPOINTS];
};

/* A summary with nothing counted; NULL when out of memory (it holds about 700 KB). */
struct cmp_summary *cmp_summary_new(void);
void cmp_summary_free(struct cmp_summary *s); /* NULL-safe */
/* Count r; noise: a difference that the baseline shows too. */
void cmp_summary_add(struct cmp_summary *s, const struct cmp_result *r, bool noise);
/* Write summary.json (endpoints sorted by name). Returns 0 or -EIO. */
int cmp_summary_write(const struct cmp_summary *s, FILE *out);

#endif
