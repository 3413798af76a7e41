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

#include "cmp_bside.h"
#include "cmp_sess.h"
#include "mod.h"
#include "tcp_impl.h"

#define CS_RING CMP_PAIR_SLOTS /* the latest requests that expect an answer: times, flags */
#define CS_COPY 4096
#define CS_CUTS 16           /* raw: online answer boundaries known before their bytes arrived */
#define CS_RX_MAX (1U << 20) /* target answer bytes held beyond a hole, waiting for it to fill */

struct cs_req {
    uint64_t index;
    uint32_t flags, end_seq;
    uint64_t cap_us, sent_us; /* 0: unknown */
};

struct cmp_sess {
    struct cmp_ctx *x;
    struct tuple ckey;
    struct cmp_reqf *rq;
    struct cmp_ansf *af[2];
    struct cmp_pair *pair;
    struct cmp_bside *bs; /* --compare-baseline (cmp_bside.c) */
    uint64_t now_us;           /* when the bytes being fed were seen */
    uint32_t c_fed, c_req_end; /* client: next byte to feed; where the next request starts */
    uint32_t c_cut;            /* raw: a request ends there */
    bool c_cut_set;
    uint8_t o_ncuts; /* raw: online answers end at o_cuts[0..n), in order */
    uint32_t o_cuts[CS_CUTS];
    bool dead;               /* the client's stream lost its place: nothing more is fed */
    uint64_t nreq, nans_req; /* requests; those expecting an answer */
    uint64_t unsent;         /* the first answerable request not seen sent yet */
    struct cs_req ring[CS_RING];
    uint64_t nans[2];           /* answers passed on, per side (pushes left out) */
    uint64_t start_us[2];       /* first byte of the answer in progress (0: none yet) */
    uint64_t early_at[CS_RING]; /* online answers passed on before their request: first byte */
    bool in_feed[2], in_tail[2];
    bool o_have, o_done, t_have, t_done;
    uint32_t o_nxt, o_isn1, t_nxt, t_mark;
    uint16_t t_rebuilds;
    /* Target segments beyond a hole (a reply lost before intercept, then resent), held in
     * the engine's pool until the hole fills; the target's FIN once its bytes are in. */
    bool t_rx_on, t_fin;
    uint32_t t_fin_seq;
    struct stream t_rx;
    /* Raw framing: online bytes beyond the last known answer boundary wait here for the
     * client's next acknowledgement (read from the other socket, often later). */
    bool o_rx_on;
    uint32_t o_fed;    /* online bytes given to the framer end here (raw) */
    uint64_t o_held_t; /* capture time of the first byte held */
    struct stream o_rx;
};

static void cs_result(void *arg, const struct cmp_result *r)
{
    struct cmp_sess *cs = arg;
    struct cmp_ctx *x = cs->x;
    if (r->noise) /* counted apart, as in summary.json */
        x->st.noise++;
    else
        x->st.results[r->verdict <= CMP_NOT_COMPARED ? r->verdict : CMP_NOT_COMPARED]++;
    if (r->verdict == CMP_NOT_COMPARED && (unsigned)r->reason < CMP_REASON_COUNT)
        x->st.reasons[r->reason]++;
    x->st.baseline_missing += r->baseline_missing;
    if (x->conf.sink != NULL)
        x->conf.sink(x->conf.sink_arg, r, &cs->ckey);
}

static bool is_raw(const struct cmp_sess *cs)
{
    return cmp_reqf_proto(cs->rq) == CMP_PROTO_RAW;
}

static void cs_request(void *arg, const struct cmp_req *r)
{
    struct cmp_sess *cs = arg;
    cs->x->st.requests++;
    uint64_t index = cs->nreq++;
    cs->c_req_end += (uint32_t)r->len;
    cmp_ansf_expect(cs->af[CMP_ONLINE], r);
    cmp_ansf_expect(cs->af[CMP_TARGET], r);
    if (cs->bs != NULL)
        cmp_bside_expect(cs->bs, r);
    uint64_t lat[CMP_SIDES] = {0, 0, 0};
    if (!(r->flags & CMP_R_NOREPLY)) {
        uint64_t a = cs->nans_req++;
        cs->ring[a % CS_RING] = (struct cs_req){
            .index = index, .flags = r->flags, .end_seq = cs->c_req_end, .cap_us = cs->now_us};
        /* Its online answer was read first (another socket): the latency is known now. */
        uint64_t at = cs->early_at[a % CS_RING];
        if (cs->nans[CMP_ONLINE] > a && cs->nans[CMP_ONLINE] - a <= CS_RING && at >= cs->now_us)
            lat[CMP_ONLINE] = at - cs->now_us + (at == cs->now_us);
    }
    cmp_pair_request_lat(cs->pair, r, lat);
}

/* The request an answer of a side answers, if its times are still kept. */
static const struct cs_req *answered(const struct cmp_sess *cs, uint64_t k)
{
    if (k >= cs->nans_req || cs->nans_req - k > CS_RING)
        return NULL;
    return &cs->ring[k % CS_RING];
}

static void cs_answer(struct cmp_sess *cs, enum cmp_side side, const struct cmp_unit *u0)
{
    struct cmp_unit u = *u0;
    u.lat_us = 0;
    if (!(u.flags & CMP_U_PUSH)) {
        if (side == CMP_ONLINE)
            cs->early_at[cs->nans[side] % CS_RING] = cs->start_us[side];
        const struct cs_req *q = answered(cs, cs->nans[side]++);
        uint64_t from = q == NULL || q->cap_us == 0 ? 0
                        : side == CMP_ONLINE        ? q->cap_us
                                                    : q->sent_us;
        uint64_t at = cs->start_us[side];
        if (from != 0 && at != 0 && at >= from)
            u.lat_us = at - from + (at == from); /* 0 means unknown */
    }
    /* Ended before the segment's last byte: the next answer starts in the same segment. */
    cs->start_us[side] = cs->in_feed[side] && !cs->in_tail[side] ? cs->now_us : 0;
    cmp_pair_answer(cs->pair, side, &u);
}

static void cs_online(void *arg, const struct cmp_unit *u)
{
    cs_answer(arg, CMP_ONLINE, u);
}

static void cs_target(void *arg, const struct cmp_unit *u)
{
    cs_answer(arg, CMP_TARGET, u);
}

/* An answer side's next n bytes (n > 0), seen at t. */
static void side_feed(struct cmp_sess *cs, enum cmp_side side, const uint8_t *p, uint32_t n,
                      uint64_t t)
{
    cs->now_us = t;
    if (cs->start_us[side] == 0)
        cs->start_us[side] = t;
    cs->in_feed[side] = true;
    if (n > 1)
        cmp_ansf_feed(cs->af[side], p, n - 1);
    cs->in_tail[side] = true;
    cmp_ansf_feed(cs->af[side], p + n - 1, 1);
    cs->in_feed[side] = cs->in_tail[side] = false;
}

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
            side_feed(cs, CMP_ONLINE, buf, k, cs->o_held_t);
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
            side_feed(cs, CMP_ONLINE, d, k, t);
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
        side_feed(cs, CMP_ONLINE, d, n, t);
        cs->o_fed += n;
    }
}

void cmp_sess_mark(struct eng *e, struct sess *s, uint32_t seq, uint32_t resp)
{
    struct cmp_sess *cs = s->cmp;
    if (cs->dead || !is_raw(cs))
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
    bool raw = is_raw(cs);
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
            side_feed(cs, CMP_ONLINE, d, n, p->ts_us ? p->ts_us : now_us);
        cs->o_nxt += n;
    }
    if (p->flags & (TCPF_FIN | TCPF_RST)) {
        /* The framer is closed with the session: the client's last request may not have
         * been read yet (its socket is another one), and in auto mode it decides how the
         * answer is framed. */
        cs->o_done = true;
        if (s->state == SS_CLOSED)
            cmp_sess_close(e, s);
    }
    return true;
}

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
        side_feed(cs, CMP_TARGET, buf, k, at);
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

/* The session ends: a hole still open is a gap; a FIN waiting for it closes the answer. */
static void target_settle(struct eng *e, struct cmp_sess *cs)
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
        side_feed(cs, CMP_TARGET, d, n, at);
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
    if (s->last_mark_seq != cs->t_mark && is_raw(cs)) {
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

void cmp_sess_base(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct sess *s0 = sess_find_c(&e->tab, &s->ckey, (uint16_t)(e->epoch * e->conf.copies));
    struct cmp_bside *b = s0 && s0->cmp ? s0->cmp->bs : NULL; /* NULL: no longer compared */
    bool whole = p && p->data && p->cap_len >= (uint32_t)p->ip_hlen + p->tcp_hlen + p->data_len;
    if (b != NULL && p == NULL)
        cmp_bside_end(b);
    else if (b != NULL)
        cmp_bside_segment(b, s->tc.t_isn, s->rebuilds, p->seq, whole ? p->data : NULL,
                          p->data_len, (p->flags & TCPF_FIN) != 0);
}

void cmp_sess_close(struct eng *e, struct sess *s)
{
    struct cmp_sess *cs = s->cmp;
    struct cmp_ctx *x = e->conf.cmp;
    target_settle(e, cs);
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
    cmp_pair_finish(cs->pair);
    x->st.orphans += cmp_pair_stats(cs->pair)->orphans;
    x->st.dropped_late += cmp_pair_stats(cs->pair)->dropped_late;
    x->st.sessions_active--;
    cs_free(cs);
    s->cmp = NULL;
}

void cmp_sess_close_all(struct eng *e)
{
    struct sess *s;
    TAILQ_FOREACH(s, &e->tab.all, all)
    if (s->cmp != NULL)
        cmp_sess_close(e, s);
}

void cmp_sess_ended(struct eng *e, struct sess *s)
{
    if (s->cmp->o_done || s->cmp->dead)
        cmp_sess_close(e, s);
}
