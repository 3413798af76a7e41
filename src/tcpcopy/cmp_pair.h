/*
 * cmp_pair: per session, the k-th request with the k-th online answer and the k-th target
 * answer, and one verdict per request (see cmp_pair.c and doc/compare.md).
 */
#ifndef TC_CMP_PAIR_H
#define TC_CMP_PAIR_H

#include <stdint.h>

#include "cmp_diff.h"
#include "cmp_frame.h"
#include "cmp_unit.h"

#define CMP_PAIR_SLOTS 256 /* requests waiting for answers, per session (a target that lags) */

/* CMP_BASELINE (--compare-baseline) exists only in a pairer given cmp_pair_baseline(). */
enum cmp_side { CMP_ONLINE = 0, CMP_TARGET = 1, CMP_BASELINE = 2 };
#define CMP_SIDES 3

enum cmp_verdict { CMP_EQUAL = 0, CMP_DIFFERENT, CMP_NOT_COMPARED };

enum cmp_reason {
    CMP_REASON_NONE = 0,
    CMP_REASON_ONLINE_INCOMPLETE, /* a capture gap or lost segment in the online answer */
    CMP_REASON_TARGET_INCOMPLETE,
    CMP_REASON_NO_ANSWER_ONLINE,  /* the online side ended before answering */
    CMP_REASON_NO_ANSWER_TARGET,
    CMP_REASON_UNPARSABLE,        /* a framer could not follow the request or an answer */
    CMP_REASON_OVER_LIMIT,        /* more than CMP_PAIR_SLOTS requests waiting */
    CMP_REASON_NOREPLY,           /* the request asks for no answer (memcached noreply) */
    CMP_REASON_COUNT,
};

struct cmp_result {
    uint64_t index;               /* request number in the session, from 0 */
    enum cmp_verdict verdict;
    enum cmp_reason reason;       /* CMP_NOT_COMPARED only */
    int64_t online_us, target_us; /* latencies, -1 when unknown */
    struct cmp_diff diff;         /* CMP_DIFFERENT only: kind, offset, excerpts */
    bool noise;                   /* CMP_DIFFERENT only: the baseline differs the same way */
    bool baseline_missing;        /* with a baseline: its answer is missing or incomplete, so
                                   * the verdict is the target's alone */
    struct cmp_req req;           /* endpoint and excerpt */
};

typedef void (*cmp_result_cb)(void *arg, const struct cmp_result *r);

struct cmp_pair_stats {
    uint64_t requests, results, orphans, dropped_late, pushes, over_limit;
    uint64_t noise, baseline_missing; /* with a baseline: differences it showed too; results
                                       * without its answer */
};

struct cmp_pair;

/* A pairer calling cb(arg, result) once per request; NULL when out of memory. */
struct cmp_pair *cmp_pair_new(cmp_result_cb cb, void *arg);
/* Pair a third answer per request, the baseline's (before the first request): a difference
 * between target and online that the baseline shows too is noise (cmp_base.c). A baseline
 * answer missing or incomplete never holds a result back for long nor changes its verdict:
 * the result is the target's alone, flagged baseline_missing. */
void cmp_pair_baseline(struct cmp_pair *p);
/* The next request of the session (from the request framer), in order. */
void cmp_pair_request(struct cmp_pair *p, const struct cmp_req *r);
/* The same, with the latencies of its answers that came before it (lat_us[side], 0:
 * unknown; the capture may read an answer before its request): an answer held for it
 * without a latency gets this one. */
void cmp_pair_request_lat(struct cmp_pair *p, const struct cmp_req *r, const uint64_t lat_us[CMP_SIDES]);
/* The next answer of one side (from that side's answer framer), in order. The caller sets
 * u->lat_us (0: unknown) and CMP_U_INCOMPLETE when a capture gap touched it. */
void cmp_pair_answer(struct cmp_pair *p, enum cmp_side side, const struct cmp_unit *u);
/* One side will give no more answers to the requests seen so far (its connection ended, or
 * its capture stopped): those still waiting for it get not_compared with this reason
 * (no_answer_*, or *_incomplete when the caller knows bytes were lost). Later requests (a
 * rebuilt connection) are paired with later answers as usual; but not the baseline's: its
 * later requests are given without it. */
void cmp_pair_side_end(struct cmp_pair *p, enum cmp_side side, enum cmp_reason reason);
/* As cmp_pair_side_end, but only for requests with an index below nreq (a rebuilt
 * connection: the old one owed the answers of those; the requests from nreq on are sent
 * again on the new connection, whose answers pair with them). */
void cmp_pair_side_end_before(struct cmp_pair *p, enum cmp_side side, enum cmp_reason reason,
                              uint64_t nreq);
/* The session ended: every request still waiting gets its result. */
void cmp_pair_finish(struct cmp_pair *p);
const struct cmp_pair_stats *cmp_pair_stats(const struct cmp_pair *p);
void cmp_pair_free(struct cmp_pair *p); /* NULL-safe; does not call back */

const char *cmp_reason_name(enum cmp_reason r);
const char *cmp_verdict_name(enum cmp_verdict v);

#endif
