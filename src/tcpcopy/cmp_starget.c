/*
 * cmp_starget: the target's side of a compared session (see cmp_sess.h). intercept's reply
 * payload, tracked by sequence number from the target's ISN: retransmissions feed only their
 * new bytes; segments beyond a hole (one lost before intercept, resent later) wait in the
 * engine's pool until it fills (CS_RX_MAX per session), or become a gap; the FIN waits for
 * the bytes before it; a rebuilt connection (restart.c) gets a new framer.
 */
#include <string.h>

#include "cmp_sess_impl.h"

/* The target's connection was rebuilt (restart.c): the old one owed the answers of the
 * requests that ended before the new connection's first byte; the others are sent again
 * and answered on the new one, by a new framer. */
static void target_rebuilt(struct eng *e, struct cmp_sess *cs, struct sess *s)
{
    struct cmp_ctx *x = cs->x;
    if (cs->t_rx_on)
        stream_clear(&cs->t_rx, &e->pool);
    cs->t_rx_on = cs->t_fin = false;
    uint32_t from = s->c_isn + 1;
    uint64_t k = cs->nans_req, idx = cs->nreq;
    for (uint64_t j = cs->nans_req; j > 0 && cs->nans_req - j < CS_RING; j--) {
        struct cs_req *q = &cs->ring[(j - 1) % CS_RING];
        if (!seq_gt(q->end_seq, from))
            break;
        k = j - 1, idx = q->index;
        q->sent_us = 0;
    }
    cs->t_rebuilds = s->rebuilds;
    cs->t_have = cs->t_done = false;
    x->st.rebuilds++;
    struct cmp_ansf *nf = cmp_ansf_new(x->conf.proto, x->conf.rules, cs_target, cs);
    if (nf == NULL) {
        cs->t_done = true; /* no memory: the target side stops here, honestly */
        cmp_pair_side_end(cs->pair, CMP_TARGET, CMP_REASON_NO_ANSWER_TARGET);
        return;
    }
    cmp_ansf_free(cs->af[CMP_TARGET]);
    cs->af[CMP_TARGET] = nf;
    struct cmp_req r;
    memset(&r, 0, sizeof(r));
    r.proto = cmp_reqf_proto(cs->rq);
    for (uint64_t j = k; j < cs->nans_req; j++) {
        r.flags = cs->ring[j % CS_RING].flags;
        cmp_ansf_expect(nf, &r);
    }
    cmp_pair_side_end_before(cs->pair, CMP_TARGET, CMP_REASON_NO_ANSWER_TARGET, idx);
    cs->nans[CMP_TARGET] = k;
    cs->unsent = k < cs->unsent ? k : cs->unsent, cs->start_us[CMP_TARGET] = 0;
}

static void target_gap(struct cmp_sess *cs, uint32_t n)
{
    cs->x->st.target_gaps++, cs->x->st.target_gap_bytes += n;
    cmp_ansf_gap(cs->af[CMP_TARGET], n);
    cs->start_us[CMP_TARGET] = 0;
    cs->t_nxt += n;
}

static void target_fin_due(struct cmp_sess *cs)
{
    if (cs->t_fin && !cs->t_done && !cs->t_rx_on && !seq_lt(cs->t_nxt, cs->t_fin_seq)) {
        cmp_ansf_close(cs->af[CMP_TARGET]);
        cs->t_done = true;
    }
}

/* What the held stream has from t_nxt on goes to the framer; an empty one is given back. */
static void target_drain(struct eng *e, struct cmp_sess *cs, uint64_t at)
{
    struct stream *st = &cs->t_rx;
    uint8_t buf[CS_COPY];
    while (seq_lt(cs->t_nxt, stream_contig_end(st))) {
        uint32_t k = stream_contig_end(st) - cs->t_nxt;
        k = k < CS_COPY ? k : CS_COPY;
        stream_copy(st, cs->t_nxt, buf, k);
        cs->x->st.target_bytes += k;
        cs_side_feed(cs, CMP_TARGET, buf, k, at);
        cs->t_nxt += k;
        stream_release(st, &e->pool, cs->t_nxt);
    }
    if (stream_held_bytes(st) == 0) {
        stream_clear(st, &e->pool);
        cs->t_rx_on = false;
    }
    target_fin_due(cs);
}

/* The hole before the held bytes will not be filled (too much waits behind it, or the
 * session ends): it is a gap, and what follows it is fed. */
static void target_hole(struct eng *e, struct cmp_sess *cs, uint64_t at)
{
    struct stream *st = &cs->t_rx;
    uint32_t lo = st->nranges ? stream_ranges(st)[0].lo : cs->t_nxt;
    if (seq_gt(lo, cs->t_nxt)) {
        target_gap(cs, lo - cs->t_nxt);
        stream_skip_to(st, &e->pool, lo);
    }
    target_drain(e, cs, at);
}

void cs_target_settle(struct eng *e, struct cmp_sess *cs)
{
    if (cs->t_rx_on)
        target_hole(e, cs, e->now_us);
    if (cs->t_rx_on) { /* could not drain (no memory): what is held is lost */
        stream_clear(&cs->t_rx, &e->pool);
        cs->t_rx_on = false;
    }
    if (cs->t_fin && !cs->t_done && seq_lt(cs->t_nxt, cs->t_fin_seq))
        target_gap(cs, cs->t_fin_seq - cs->t_nxt);
    target_fin_due(cs);
}

/* Answer bytes [seq, seq+n) of the target, in order or not. */
static void target_bytes(struct eng *e, struct cmp_sess *cs, uint32_t seq, const uint8_t *d,
                         uint32_t n, uint64_t at)
{
    if (!cs->t_rx_on && seq == cs->t_nxt) {
        cs->x->st.target_bytes += n;
        cs_side_feed(cs, CMP_TARGET, d, n, at);
        cs->t_nxt += n;
        return;
    }
    if (!cs->t_rx_on) {
        stream_init(&cs->t_rx, cs->t_nxt);
        cs->t_rx_on = true;
    }
    if (stream_put(&cs->t_rx, &e->pool, seq, d, n, CS_RX_MAX) < 0) {
        target_hole(e, cs, at); /* too much waits behind the hole: give it up */
        if (!cs->t_rx_on) {
            stream_init(&cs->t_rx, cs->t_nxt);
            cs->t_rx_on = true;
        }
        (void)stream_put(&cs->t_rx, &e->pool, seq, d, n, CS_RX_MAX); /* else: a hole */
    }
    target_drain(e, cs, at);
}

void cmp_sess_target(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct cmp_sess *cs = s->cmp;
    struct cmp_ctx *x = e->conf.cmp;
    if (s->rebuilds != cs->t_rebuilds)
        target_rebuilt(e, cs, s);
    if (cs->t_done)
        return;
    if (!cs->t_have)
        cs->t_nxt = s->tc.t_isn + 1, cs->t_have = true, cs->t_mark = s->last_mark_seq;
    if (s->last_mark_seq != cs->t_mark && cs_is_raw(cs)) {
        cs->t_mark = s->last_mark_seq; /* the next request went: a raw answer ended */
        cmp_ansf_end(cs->af[CMP_TARGET]);
        cs->start_us[CMP_TARGET] = 0;
    }
    uint32_t seq = p->seq, n = p->data_len;
    const uint8_t *d = p->data;
    bool whole = d != NULL && p->cap_len >= (uint32_t)p->ip_hlen + p->tcp_hlen + p->data_len;
    if (seq_lt(seq, cs->t_nxt)) { /* a retransmission: only its new bytes */
        uint32_t old = cs->t_nxt - seq;
        n = old >= n ? 0 : n - old;
        d = d != NULL && n > 0 ? d + old : d;
        seq = cs->t_nxt;
    }
    if (n > 0 && !whole) { /* headers only: intercept did not forward the payload */
        x->st.target_no_payload++;
        if (!cs->t_rx_on && seq == cs->t_nxt)
            target_gap(cs, n); /* else a hole, given up when the session ends */
    } else if (n > 0) {
        uint64_t lag = x->lag_us != NULL ? *x->lag_us : 0;
        target_bytes(e, cs, seq, d, n, e->now_us > lag ? e->now_us - lag : e->now_us);
    }
    if (p->flags & TCPF_FIN) {
        cs->t_fin = true;
        cs->t_fin_seq = p->seq + p->data_len;
        target_fin_due(cs);
    }
}
