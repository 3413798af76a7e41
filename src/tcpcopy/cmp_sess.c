/*
 * cmp_sess: the comparison of one copied session's answers (see cmp_sess.h). Streams fed in
 * sequence order: the client's (stream.c) to the request framer; the online server's segments
 * captured here and the target's reply payload from intercept, tracked by sequence number
 * (retransmissions feed only new bytes; holes are gaps), to answer framers; with a baseline,
 * its copy's replies (cmp_bside.c). Latencies: capture of a request's last byte to capture of
 * the online answer's first; our first send of it to intercept's capture of the target
 * answer's first (arrival minus channel lag). An answer's first byte is found without the
 * framer: each segment is fed as all its bytes but the last, then the last.
 */
#include <stdlib.h>
#include <string.h>

#include "cmp_sess_impl.h"
#include "mod.h"

/* The client's next bytes (in order, at c_fed): a raw request ends at the pending cut. */
static void client_feed(struct cmp_sess *cs, const uint8_t *p, uint32_t n)
{
    if (cs->c_cut_set && seq_ge(cs->c_cut, cs->c_fed) && seq_lt(cs->c_cut, cs->c_fed + n)) {
        uint32_t k = cs->c_cut - cs->c_fed;
        cmp_reqf_feed(cs->rq, p, k);
        cmp_reqf_end(cs->rq);
        cs->c_cut_set = false;
        cs->c_fed += k;
        p += k, n -= k;
    }
    cmp_reqf_feed(cs->rq, p, n);
    cs->c_fed += n;
}

/* A server that spoke first: its greeting is paired with a request of its own, "(greeting)". */
static void greeting(struct cmp_sess *cs)
{
    struct cmp_req g;
    memset(&g, 0, sizeof(g));
    g.proto = cmp_reqf_proto(cs->rq);
    strcpy(g.endpoint, "(greeting)");
    cs->x->st.greetings++;
    cs->x->st.requests++;
    cs->ring[cs->nans_req++ % CS_RING] =
        (struct cs_req){.index = cs->nreq++, .end_seq = cs->c_req_end};
    cmp_pair_request(cs->pair, &g);
}

/* In auto mode, an online answer read before its request (the two come through different
 * sockets) would be held by the framer until the request names the protocol, 4 KB at
 * most, then framed raw: an answer that says it is HTTP is framed as HTTP at once. */
static void online_sniff(struct cmp_sess *cs, const uint8_t *d, uint32_t n)
{
    if (n < 5 || memcmp(d, "HTTP/", 5) != 0)
        return;
    struct cmp_ansf *nf = cmp_ansf_new(CMP_PROTO_HTTP, cs->x->conf.rules, cs_online, cs);
    if (nf == NULL)
        return;
    cmp_ansf_free(cs->af[CMP_ONLINE]);
    cs->af[CMP_ONLINE] = nf;
}

static void cs_free(struct cmp_sess *cs)
{
    cmp_reqf_free(cs->rq);
    cmp_ansf_free(cs->af[0]);
    cmp_ansf_free(cs->af[1]);
    cmp_bside_free(cs->bs);
    cmp_pair_free(cs->pair);
    free(cs);
}

void cmp_sess_open(struct eng *e, struct sess *s)
{
    struct cmp_ctx *x = e->conf.cmp;
    if (s->copy != (uint16_t)(e->epoch * e->conf.copies) || s->cmp != NULL)
        return; /* one copy of a client session is compared: the first */
    if (x->st.sessions_active >= x->conf.max_sessions) {
        x->st.sessions_over_cap++;
        return;
    }
    struct cmp_sess *cs = calloc(1, sizeof(*cs));
    if (cs != NULL) {
        cs->x = x;
        cs->rq = cmp_reqf_new(x->conf.proto, cs_request, cs);
        cs->af[CMP_ONLINE] = cmp_ansf_new(x->conf.proto, x->conf.rules, cs_online, cs);
        cs->af[CMP_TARGET] = cmp_ansf_new(x->conf.proto, x->conf.rules, cs_target, cs);
        cs->pair = cmp_pair_new(cs_result, cs);
        if (cs->pair && x->conf.baseline) {
            cmp_pair_baseline(cs->pair);
            cs->bs = cmp_bside_new(x->conf.proto, x->conf.rules, cs->pair, &x->bst);
        }
    }
    if (!cs || !cs->rq || !cs->af[0] || !cs->af[1] || !cs->pair || (x->conf.baseline && !cs->bs)) {
        if (cs != NULL)
            cs_free(cs);
        x->st.sessions_no_memory++;
        return;
    }
    cs->ckey = s->ckey;
    cs->c_fed = cs->c_req_end = s->c_isn + 1;
    if (s->flags & SF_FAKED) /* first seen mid-stream, started at a request boundary: the */
        cs->o_nxt = cs->o_isn1 = s->ack_base, cs->o_have = true,
        cs->o_fed = cs->o_nxt; /* answer too */
    x->st.sessions++;
    x->st.sessions_active++;
    s->cmp = cs;
}

/* The client's stream lost bytes we never fed (a capture gap skipped, a resync): the
 * requests from there cannot be told apart any more. What is waiting gets its result. */
static void abandon(struct cmp_sess *cs)
{
    cs->dead = true;
    cs->x->st.sessions_abandoned++;
    cmp_pair_finish(cs->pair);
}

void cmp_sess_client(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct cmp_sess *cs = s->cmp;
    struct stream *st = mod_cstream(s); /* the client's bytes before a module rewrote them */
    if (cs->dead)
        return;
    if (s->state == SS_PROBE || seq_gt(stream_start(st), cs->c_fed)) {
        abandon(cs);
        return;
    }
    uint32_t end = stream_contig_end(st);
    if (!seq_gt(end, cs->c_fed))
        return;
    /* The client's first bytes acknowledge answer bytes: the server spoke first. (Not the
     * online segments seen so far: they come through another socket, in another order.) */
    if (cs->nreq == 0 && cs->c_fed == cs->c_req_end && (s->flags & SF_HAVE_ACKBASE) &&
        (p->flags & TCPF_ACK) && seq_gt(p->ack, s->ack_base))
        greeting(cs);
    cs->now_us = p->ts_us ? p->ts_us : e->now_us; /* online latencies: capture times */
    if (p->seq == cs->c_fed && seq_ge(p->seq + p->data_len, end)) {
        client_feed(cs, p->data, end - cs->c_fed);
        return;
    }
    uint8_t buf[CS_COPY]; /* a hole was filled: the bytes come from the stream */
    while (seq_lt(cs->c_fed, end)) {
        uint32_t n = end - cs->c_fed < CS_COPY ? end - cs->c_fed : CS_COPY;
        stream_copy(st, cs->c_fed, buf, n);
        client_feed(cs, buf, n);
    }
}

/* Raw: the held online bytes up to `at` go to the framer; with cut, an answer ends at `at`
 * (now, or when the bytes up to it arrive). */
static void online_release(struct eng *e, struct cmp_sess *cs, uint32_t at, bool cut)
{
    if (cs->o_rx_on) {
        struct stream *st = &cs->o_rx;
        uint32_t end = stream_contig_end(st);
        uint32_t upto = seq_lt(at, end) ? at : end;
        uint8_t buf[CS_COPY];
        while (seq_lt(cs->o_fed, upto)) {
            uint32_t k = upto - cs->o_fed < CS_COPY ? upto - cs->o_fed : CS_COPY;
            stream_copy(st, cs->o_fed, buf, k);
            cs_side_feed(cs, CMP_ONLINE, buf, k, cs->o_held_t);
            cs->o_fed += k;
            stream_release(st, &e->pool, cs->o_fed);
        }
        if (stream_held_bytes(st) == 0) {
            stream_clear(st, &e->pool);
            cs->o_rx_on = false;
        }
    }
    if (!cut)
        return;
    if (!seq_gt(at, cs->o_fed)) {
        cmp_ansf_end(cs->af[CMP_ONLINE]);
        cs->start_us[CMP_ONLINE] = 0;
        return;
    }
    if (cs->o_ncuts == CS_CUTS) { /* too many ahead of their bytes: the oldest ends here */
        cmp_ansf_end(cs->af[CMP_ONLINE]);
        memmove(cs->o_cuts, cs->o_cuts + 1, (CS_CUTS - 1) * sizeof(cs->o_cuts[0]));
        cs->o_ncuts--;
    }
    cs->o_cuts[cs->o_ncuts++] = at;
}

/* Raw: new online bytes at o_fed: up to the pending cuts they go to the framer (each cut
 * ends an answer), the rest waits for the next one. */
static void online_hold(struct eng *e, struct cmp_sess *cs, const uint8_t *d, uint32_t n,
                        uint64_t t)
{
    uint32_t seq = cs->o_nxt;
    while (!cs->o_rx_on && cs->o_ncuts > 0 && n > 0) {
        uint32_t cut = cs->o_cuts[0];
        uint32_t k = seq_lt(cut, seq + n) ? cut - seq : n;
        if (seq_gt(cut, seq)) {
            cs_side_feed(cs, CMP_ONLINE, d, k, t);
            cs->o_fed += k;
            d += k, n -= k, seq += k;
        }
        if (!seq_gt(cut, seq)) {
            cmp_ansf_end(cs->af[CMP_ONLINE]);
            cs->start_us[CMP_ONLINE] = 0;
            memmove(cs->o_cuts, cs->o_cuts + 1, (size_t)(cs->o_ncuts - 1) * sizeof(cs->o_cuts[0]));
            cs->o_ncuts--;
        }
    }
    if (n == 0)
        return;
    if (!cs->o_rx_on) {
        stream_init(&cs->o_rx, seq);
        cs->o_rx_on = true;
        cs->o_held_t = t;
    }
    if (stream_put(&cs->o_rx, &e->pool, seq, d, n, CS_RX_MAX) < 0) {
        online_release(e, cs, seq, false); /* too much waits: framed without the boundary */
        cs_side_feed(cs, CMP_ONLINE, d, n, t);
        cs->o_fed += n;
    }
}

void cmp_sess_mark(struct eng *e, struct sess *s, uint32_t seq, uint32_t resp)
{
    struct cmp_sess *cs = s->cmp;
    if (cs->dead || !cs_is_raw(cs))
        return;
    if (seq_le(seq, cs->c_fed)) {
        cmp_reqf_end(cs->rq);
    } else {
        if (cs->c_cut_set) /* one cut waits at a time: the older one ends here */
            cmp_reqf_end(cs->rq);
        cs->c_cut = seq;
        cs->c_cut_set = true;
    }
    if (!cs->o_have) /* the SYN-ACK not read yet (the other socket): the client knows it */
        cs->o_nxt = cs->o_isn1 = s->ack_base, cs->o_have = true, cs->o_fed = cs->o_nxt;
    online_release(e, cs, cs->o_isn1 + resp, true);
}

/* Bytes [seq, seq+n) of an answer stream whose next expected byte is *nxt: the part not
 * seen yet, after a gap report for what is missing before it. Returns the bytes to feed. */
static uint32_t side_take(struct cmp_sess *cs, enum cmp_side side, uint32_t *nxt, uint32_t *seq,
                          const uint8_t **d, uint32_t n)
{
    struct cmp_stats *st = &cs->x->st;
    if (seq_lt(*seq, *nxt)) { /* a retransmission: only its new bytes */
        uint32_t old = *nxt - *seq;
        if (old >= n)
            return 0;
        *d += old, n -= old, *seq = *nxt;
    }
    if (n > 0 && seq_gt(*seq, *nxt)) {
        uint32_t gap = *seq - *nxt;
        if (side == CMP_ONLINE)
            st->online_gaps++, st->online_gap_bytes += gap;
        else
            st->target_gaps++, st->target_gap_bytes += gap;
        cmp_ansf_gap(cs->af[side], gap);
        cs->start_us[side] = 0;
        *nxt = *seq;
    }
    return n;
}

bool cmp_sess_online(struct eng *e, const struct pkt *p, uint64_t now_us)
{
    struct cmp_ctx *x = e->conf.cmp;
    if (xfer_match(e->conf.xfer, &p->t.src, p->t.sport) == NULL)
        return false;
    struct tuple k;
    tuple_reverse(&k, &p->t);
    struct sess *s = sess_find_c(&e->tab, &k, (uint16_t)(e->epoch * e->conf.copies));
    x->st.online_segments++;
    if (s == NULL || s->cmp == NULL) {
        x->st.online_no_session++;
        log_debug("compare: online segment %u -> %u (seq %u, %u bytes): no compared session%s",
                  p->t.sport, p->t.dport, p->seq, p->data_len, s ? " (not compared)" : "");
        return true;
    }
    struct cmp_sess *cs = s->cmp;
    if (cs->dead || cs->o_done)
        return true;
    if (p->flags & TCPF_SYN) {
        if ((p->flags & TCPF_ACK) && !cs->o_have)
            cs->o_nxt = cs->o_isn1 = p->seq + 1, cs->o_have = true, cs->o_fed = cs->o_nxt;
        return true;
    }
    if (!cs->o_have) {
        if (!(s->flags & SF_HAVE_ACKBASE))
            return true;
        cs->o_nxt = cs->o_isn1 = s->ack_base, cs->o_have = true, cs->o_fed = cs->o_nxt;
    }
    uint32_t seq = p->seq;
    const uint8_t *d = p->data;
    bool raw = cs_is_raw(cs);
    if (raw && p->data_len > 0 && seq_gt(seq, cs->o_nxt) &&
        cs->o_rx_on) /* a gap: held bytes first */
        online_release(e, cs, cs->o_nxt, false);
    uint32_t n = side_take(cs, CMP_ONLINE, &cs->o_nxt, &seq, &d, p->data_len);
    if (raw && !cs->o_rx_on)
        cs->o_fed = cs->o_nxt; /* past a gap */
    if (n > 0 && d == NULL) {  /* cut by the snaplen: those bytes are a gap too */
        cmp_ansf_gap(cs->af[CMP_ONLINE], n);
        x->st.online_gaps++, x->st.online_gap_bytes += n;
        cs->o_nxt += n;
    } else if (n > 0) {
        x->st.online_bytes += n;
        if (cs->o_nxt == cs->o_isn1 && cmp_reqf_proto(cs->rq) == CMP_PROTO_AUTO)
            online_sniff(cs, d, n);
        if (raw)
            online_hold(e, cs, d, n, p->ts_us ? p->ts_us : now_us);
        else
            cs_side_feed(cs, CMP_ONLINE, d, n, p->ts_us ? p->ts_us : now_us);
        cs->o_nxt += n;
    }
    if (p->flags & (TCPF_FIN | TCPF_RST)) {
        /* The framer is closed with the session: the client's last request may not have
         * been read yet (--pcap-capture on several devices reads each from its own
         * handle), and in auto mode it decides how the answer is framed. */
        cs->o_done = true;
        if (s->state == SS_CLOSED)
            cmp_sess_close(e, s);
    }
    return true;
}

void cmp_sess_sent(struct eng *e, struct sess *s)
{
    struct cmp_sess *cs = s->cmp;
    if (cs->nans_req - cs->unsent > CS_RING)
        cs->unsent = cs->nans_req - CS_RING;
    for (; cs->unsent < cs->nans_req; cs->unsent++) {
        struct cs_req *q = &cs->ring[cs->unsent % CS_RING];
        if (s->state != SS_ESTAB || seq_gt(q->end_seq, s->tc.snd_max))
            break;
        if (q->sent_us == 0)
            q->sent_us = e->now_us;
    }
}

/* Results given, state freed: the session's comparison is over. */
static void cs_finish(struct cmp_ctx *x, struct cmp_sess *cs)
{
    cmp_pair_finish(cs->pair);
    x->st.orphans += cmp_pair_stats(cs->pair)->orphans;
    x->st.dropped_late += cmp_pair_stats(cs->pair)->dropped_late;
    x->st.sessions_active--;
    cs_free(cs);
}

/* Where the parked comparison of client session k is linked (*at NULL: none). */
static struct cmp_sess **parked_at(struct cmp_ctx *x, const struct tuple *k)
{
    struct cmp_sess **at = &x->parked;
    while (*at != NULL && !tuple_eq(&(*at)->ckey, k))
        at = &(*at)->park_next;
    return at;
}

void cmp_sess_base(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct cmp_ctx *x = e->conf.cmp;
    /* A parked comparison first: a session of the same client port may have started since. */
    struct cmp_sess **at = x->parked != NULL ? parked_at(x, &s->ckey) : NULL, *cs = NULL;
    if (at != NULL && *at != NULL) {
        cs = *at;
    } else {
        struct sess *s0 = sess_find_c(&e->tab, &s->ckey, (uint16_t)(e->epoch * e->conf.copies));
        cs = s0 != NULL ? s0->cmp : NULL; /* NULL: no longer compared */
        at = NULL;
    }
    struct cmp_bside *b = cs != NULL ? cs->bs : NULL;
    bool whole = p && p->data && p->cap_len >= (uint32_t)p->ip_hlen + p->tcp_hlen + p->data_len;
    if (b != NULL && p == NULL)
        cmp_bside_end(b);
    else if (b != NULL)
        cmp_bside_segment(b, s->tc.t_isn, s->rebuilds, p->seq, whole ? p->data : NULL,
                          p->data_len, (p->flags & TCPF_FIN) != 0);
    if (at != NULL && cmp_bside_done(b)) { /* the baseline has answered all it will */
        *at = cs->park_next;
        cs_finish(x, cs);
    }
}

void cmp_sess_close(struct eng *e, struct sess *s)
{
    struct cmp_sess *cs = s->cmp;
    struct cmp_ctx *x = e->conf.cmp;
    cs_target_settle(e, cs);
    if (cs->o_rx_on)
        online_release(e, cs, cs->o_nxt, false);
    if (cs->o_rx_on) { /* not drained (no memory) */
        stream_clear(&cs->o_rx, &e->pool);
        cs->o_rx_on = false;
    }
    if (!cs->dead) {
        cmp_reqf_close(cs->rq);
        if (cs->o_done)
            cmp_ansf_close(cs->af[CMP_ONLINE]);
    }
    s->cmp = NULL;
    /* The baseline's copy runs on its own: when it still owes answers, the results wait for
     * them (its FIN or its end finishes the comparison, cmp_sess_base), instead of calling
     * them baseline_missing. Still counted active, so --compare-sessions bounds the wait. */
    if (cs->bs != NULL && !cmp_bside_done(cs->bs) && !x->closing &&
        sess_find_c(&e->tab, &cs->ckey, CMP_BASE_COPY) != NULL) {
        cs->park_next = x->parked;
        x->parked = cs;
        return;
    }
    cs_finish(x, cs);
}

void cmp_sess_close_all(struct eng *e)
{
    struct cmp_ctx *x = e->conf.cmp;
    struct sess *s;
    x->closing = true;
    TAILQ_FOREACH(s, &e->tab.all, all)
    if (s->cmp != NULL)
        cmp_sess_close(e, s);
    while (x->parked != NULL) {
        struct cmp_sess *cs = x->parked;
        x->parked = cs->park_next;
        cmp_bside_end(cs->bs);
        cs_finish(x, cs);
    }
    x->closing = false;
}

void cmp_sess_ended(struct eng *e, struct sess *s)
{
    if (s->cmp->o_done || s->cmp->dead)
        cmp_sess_close(e, s);
}
