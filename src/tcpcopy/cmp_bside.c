/*
 * cmp_bside: the baseline's answers of one compared session (see cmp_bside.h).
 *
 * Kept simpler than the target's side on purpose: the baseline only decides whether a
 * difference is noise, and an answer it cannot give whole costs nothing but that decision
 * (the result is flagged baseline_missing and counted). So segments are fed in sequence
 * order, retransmitted bytes are trimmed, a segment beyond the next expected byte is a gap
 * (the framer marks the answer incomplete), and a rebuilt baseline connection ends the side.
 * No latency is kept: the report's latencies are online's and the target's.
 */
#include "cmp_bside.h"

#include <stdlib.h>

#include "pkt.h"

struct cmp_bside {
    struct cmp_ansf *f;
    struct cmp_pair *pair;
    struct cmp_bside_stats *st;
    bool have, done;
    uint16_t conn;
    uint32_t nxt;
};

static void on_answer(void *arg, const struct cmp_unit *u)
{
    struct cmp_bside *b = arg;
    cmp_pair_answer(b->pair, CMP_BASELINE, u);
}

struct cmp_bside *cmp_bside_new(enum cmp_proto proto, const struct cmp_rules *rules,
                                struct cmp_pair *pair, struct cmp_bside_stats *st)
{
    struct cmp_bside *b = calloc(1, sizeof(*b));
    if (b == NULL)
        return NULL;
    b->pair = pair;
    b->st = st;
    b->f = cmp_ansf_new(proto, rules, on_answer, b);
    if (b->f == NULL) {
        free(b);
        return NULL;
    }
    return b;
}

void cmp_bside_expect(struct cmp_bside *b, const struct cmp_req *r)
{
    if (!b->done)
        cmp_ansf_expect(b->f, r);
}

bool cmp_bside_done(const struct cmp_bside *b)
{
    return b == NULL || b->done;
}

void cmp_bside_end(struct cmp_bside *b)
{
    if (b->done)
        return;
    b->done = true;
    cmp_ansf_close(b->f); /* an answer ended by the close is given; the rest is missing */
    cmp_pair_side_end(b->pair, CMP_BASELINE, CMP_REASON_NO_ANSWER_TARGET);
}

void cmp_bside_segment(struct cmp_bside *b, uint32_t isn, uint16_t conn, uint32_t seq,
                       const uint8_t *d, uint32_t n, bool fin)
{
    if (b->done)
        return;
    if (!b->have)
        b->have = true, b->nxt = isn + 1, b->conn = conn;
    if (conn != b->conn) { /* rebuilt: the answers of the old connection are not all known */
        cmp_bside_end(b);
        return;
    }
    if (seq_lt(seq, b->nxt)) { /* a retransmission: only its new bytes */
        uint32_t old = b->nxt - seq;
        n = old >= n ? 0 : n - old;
        d = d != NULL && n > 0 ? d + old : d;
        seq = b->nxt;
    }
    if (n > 0 && seq_gt(seq, b->nxt)) { /* bytes before it were lost on the way */
        b->st->gaps++;
        cmp_ansf_gap(b->f, seq - b->nxt);
        b->nxt = seq;
    }
    if (n > 0 && d == NULL) {
        b->st->gaps++;
        cmp_ansf_gap(b->f, n);
    } else if (n > 0) {
        b->st->bytes += n;
        cmp_ansf_feed(b->f, d, n);
    }
    b->nxt += n;
    if (fin)
        cmp_bside_end(b);
}

void cmp_bside_free(struct cmp_bside *b)
{
    if (b == NULL)
        return;
    cmp_ansf_free(b->f);
    free(b);
}
