/*
 * restart: how a session starts (again) toward the target when it cannot simply go
 * on: first seen mid-stream (wait for a request boundary, then a handshake of our
 * own), closed or reset by the target while client bytes wait (a new connection
 * from a request boundary), or left with a gap the capture will never fill (skip to
 * the next exact boundary, or start over from the client's next request). The
 * design is in doc/design.md, "Sessions that do not start cleanly".
 */
#include "tcp_impl.h"

/*
 * A client packet of a session whose SYN we did not see (tcpcopy started late, or
 * the SYN was lost). Nothing is copied until a request boundary: a data segment
 * whose acknowledgement number grew since the client's previous data segment (or
 * since the first packet seen), i.e. the client received an answer and then spoke.
 * From there a session of our own starts: SYN with ISN = boundary - 1, the -D MSS,
 * SACK, timestamps if the client uses them, and our own window (the client's
 * window scale is unknown).
 */
int restart_probe(struct eng *e, struct sess *s, const struct pkt *p)
{
    if (p->flags & (TCPF_FIN | TCPF_RST))
        return SO_NOT_STARTED;
    if (p->data_len == 0 || p->data == NULL || !(p->flags & TCPF_ACK)) {
        e->st.probe_skipped_packets++;
        return SO_NONE;
    }
    bool boundary = seq_gt(p->ack, s->ack_base);
    if (!boundary) {
        s->ack_base = p->ack;
        s->flags |= SF_PROBE_DATA;
        e->st.probe_skipped_bytes += p->data_len;
        return SO_NONE;
    }
    e->st.sess_created++;
    e->st.sess_midstream++;
    s->flags |= SF_FAKED | SF_C_SACK | SF_HAVE_ACKBASE;
    s->c_mss = e->conf.syn_mss;
    if (p->opts.has_ts) {
        s->flags |= SF_C_TS;
        s->c_tsval0 = p->opts.tsval;
    }
    s->ack_base = p->ack; /* answers before this point are not ours to wait for */
    s->last_resp = 0;
    admit_start(e, s, p->seq - 1);
    if (e->conf.cmp != NULL)
        cmp_sess_open(e, s);
    return (s->flags & SF_MOD_FAILED) ? SO_MODULE : SO_NONE;
}

/*
 * A module's session (its module has a start hook: a login of its own) whose target closed
 * the connection while nothing waited (a server's idle timeout, a KILL, a restart): the
 * client's next request would go to a dead connection, be refused, and be lost, since
 * restart_rebuild cannot put the module's login before bytes it already rewrote. True when
 * p is that next request (new bytes, nothing held or unanswered before them): the caller
 * ends the session and p starts a new one as if seen mid-stream (TCM_START_MIDSTREAM: the
 * module logs in again, then this request follows).
 */
bool restart_relogin(struct eng *e, struct sess *s, const struct pkt *p)
{
    if (s->mod == NULL || mod_can_rebuild(e, s) || s->state != SS_ESTAB ||
        !(s->tc.flags & CF_TARGET_FIN) || (s->tc.flags & CF_TARGET_RST) ||
        (s->flags & SF_CLIENT_FIN) || p->data_len == 0 || p->data == NULL ||
        conn_bytes_waiting(s) || stream_held_bytes(mod_cstream(s)) != 0 ||
        seq_lt(p->seq, stream_end(mod_cstream(s))))
        return false;
    e->st.mod_relogins++;
    return true;
}

/* Restart toward the target with a new connection whose first byte is from. */
static void restart_from(struct eng *e, struct sess *s, uint32_t from);
static void restart_resync(struct eng *e, struct sess *s);

/* Is seq where a request starts: the stream's first byte, or a request boundary? */
static bool restart_at_boundary(struct sess *s, uint32_t seq)
{
    if (seq == s->c_isn + 1 && !(s->flags & SF_FAKED) && s->rebuilds == 0)
        return true;
    if (seq == s->last_mark_seq && s->last_mark_seq != 0)
        return true;
    struct sess_mark *m = gate_peek(s);
    return m != NULL && m->seq == seq;
}

/*
 * The target ended the connection while client bytes wait. If they start at a request
 * boundary, continue on a new connection from there. If the target stopped in the middle
 * of a request, that request cannot be finished: continue from the next exact boundary
 * (counting the bytes in between as lost), or end the session when there is none yet
 * (a client that goes on talking is then copied again from its next request). A target
 * that keeps failing the same session ends it after REBUILDS_MAX new connections.
 */
bool restart_rebuild(struct eng *e, struct sess *s)
{
    if (s->rebuilds >= REBUILDS_MAX)
        return false;
    if (!mod_can_rebuild(e, s)) {
        e->st.mod_rebuild_refused++; /* its own login cannot go before bytes already sent */
        return false;
    }
    uint32_t from = s->tc.snd_una;
    if (!restart_at_boundary(s, from)) {
        uint32_t ce = stream_contig_end(&s->st);
        struct sess_mark *next = NULL;
        for (uint16_t i = 0; i < s->nmarks && next == NULL; i++) {
            struct sess_mark *m = &s->marks[(s->mark_head + i) % s->marks_cap];
            if (seq_gt(m->seq, s->tc.snd_una) && m->exact && !seq_gt(m->seq, ce))
                next = m;
        }
        e->st.partial_requests_lost++;
        if (next == NULL)
            return false;
        from = next->seq;
        e->st.gap_bytes_lost += from - s->tc.snd_una;
        stream_release(&s->st, &e->pool, from);
    }
    s->rebuilds++;
    e->st.sess_rebuilt++;
    restart_from(e, s, from);
    return true;
}

static void restart_from(struct eng *e, struct sess *s, uint32_t from)
{
    /* The old connection must be gone before a SYN with the same tuple arrives. */
    conn_send_rst(e, s);
    /* A boundary right where the new connection starts was answered on the old one. */
    struct sess_mark *m;
    while ((m = gate_peek(s)) != NULL && seq_le(m->seq, from)) {
        s->passed_resp = m->resp;
        gate_pop(s);
    }
    s->state = SS_SYN_SENT;
    s->c_isn = from - 1;
    s->resp_at_mark = 0;
    s->gate_since_us = 0;
    s->hole_since_us = stream_ooo_bytes(&s->st) ? e->now_us : 0;
    conn_open(e, s, s->c_isn);
}

/* The position in the client's stream is lost: start over as a session seen mid-stream. */
static void restart_resync(struct eng *e, struct sess *s)
{
    if (s->state == SS_SYN_SENT || s->state == SS_ESTAB)
        conn_send_rst(e, s);
    e->st.sess_resynced++;
    conn_hs_release(e, s);
    /* The request the hole hit, and every request that started in what is dropped. */
    uint32_t ce = stream_contig_end(&s->st);
    uint64_t lost = 1;
    for (uint16_t i = 0; i < s->nmarks; i++)
        lost += seq_gt(s->marks[(s->mark_head + i) % s->marks_cap].seq, ce);
    e->st.gap_requests_lost += lost;
    e->st.gap_bytes_lost += stream_ooo_bytes(&s->st);
    stream_clear(&s->st, &e->pool);
    while (gate_peek(s) != NULL)
        gate_pop(s);
    s->state = SS_PROBE;
    s->flags = (s->flags & SF_ROUTED) | SF_PROBE_DATA;
    s->ack_base = s->c_last_ack;
    conn_reset(&s->tc, 0);
    s->resp_at_mark = s->passed_resp = s->last_resp = s->last_mark_seq = 0;
    s->gate_since_us = s->hole_since_us = 0;
}

/*
 * Capture gaps. A hole in the captured stream is either bytes the network lost on the
 * way to the online server (the client resends them within a round trip or two, and the
 * capture sees the resent copy), or bytes the capture itself lost (a kernel drop: the
 * server has them, nothing will ever resend them). The bytes after the hole are kept
 * meanwhile (within the session's memory bound). Once the hole has lasted a grace of a
 * few client round trips, and everything before it is delivered and answered, the session
 * goes on from the first request start after the hole, on a new connection (the target's
 * sequence space cannot jump), and only the requests the hole hit are lost.
 *
 * The first boundary after a hole (a segment whose acknowledgement number grew) is not
 * surely a request start: the hole may have held the beginning of that very request. The
 * answers tell the two apart. The boundary's mark says how many answer bytes the online
 * server had sent since the last request we delivered; if the target, having received
 * everything before the hole, answered as many, no request ended in the hole and the
 * boundary is mid-request (the next exact boundary is used); if it answered fewer, the
 * online server answered a request that ended in the hole, and the boundary starts the
 * next one. Without any usable boundary for gap_timeout, the session starts over from
 * the client's next request (resync).
 */

/* The grace for a hole to be filled by a client's retransmission: two of its round trips
 * (SYN to handshake ACK), within 10 ms and 1 s; 200 ms when it was never measured. */
static uint64_t restart_gap_grace_us(const struct eng *e, const struct sess *s)
{
    uint64_t g = s->c_rtt_us ? 2 * (uint64_t)s->c_rtt_us + 10000 : 200000;
    if (g > 1000000)
        g = 1000000;
    return g < e->conf.gap_timeout_us ? g : e->conf.gap_timeout_us;
}

/* Everything before the hole was delivered and acknowledged (in a handshake, nothing is
 * yet): a new connection would otherwise lose it. */
static bool restart_gap_settled(const struct sess *s)
{
    uint32_t ce = stream_contig_end(&s->st);
    return s->state == SS_ESTAB && s->tc.snd_una == ce && s->tc.snd_max == ce;
}

/* The first byte captured after the hole at the contiguous end. */
static uint32_t restart_after_hole(const struct stream *st)
{
    const struct stream_range *r = stream_ranges_c(st);
    unsigned i = st->nranges > 0 && r[0].lo == st->start ? 1 : 0;
    return i < st->nranges ? r[i].lo : stream_contig_end(st);
}

/*
 * Where the session can go on after the hole at the contiguous end: *to, a request start
 * (see above). False when there is none yet, or when the answer that decides is still
 * coming (*answer_pending).
 */
static bool restart_gap_target(const struct eng *e, struct sess *s, uint32_t *to,
                               bool *answer_pending)
{
    uint32_t ce = stream_contig_end(&s->st);
    uint32_t after = restart_after_hole(&s->st);
    bool first = true;
    *answer_pending = false;
    for (uint16_t i = 0; i < s->nmarks; i++) {
        struct sess_mark *m = &s->marks[(s->mark_head + i) % s->marks_cap];
        if (!seq_gt(m->seq, ce))
            continue;
        if (m->exact) {
            *to = m->seq;
            return true;
        }
        if (first && m->seq == after) {
            uint32_t need = m->resp - s->passed_resp;
            uint32_t got = gate_answer_bytes(s) - s->resp_at_mark;
            if (got < need) {
                if (e->now_us < s->last_progress_us + gate_quiet_us(s)) {
                    *answer_pending = true; /* the target may still be answering */
                    return false;
                }
                *to = m->seq;
                return true;
            }
        }
        first = false;
    }
    return false;
}

uint64_t restart_gap_due(const struct eng *e, struct sess *s)
{
    if (s->mod != NULL) /* a module's parser cannot skip: see restart_skip_gap */
        return restart_gap_settled(s) ? s->hole_since_us + e->conf.gap_timeout_us : UINT64_MAX;
    if (!s->hole_since_us || !restart_gap_settled(s))
        return UINT64_MAX; /* first deliver what came before the hole: its ACK reschedules */
    uint32_t to;
    bool pending;
    if (restart_gap_target(e, s, &to, &pending)) {
        uint64_t t = s->hole_since_us + restart_gap_grace_us(e, s);
        uint64_t q = s->last_progress_us + gate_quiet_us(s);
        return t > q ? t : q;
    }
    if (pending)
        return s->last_progress_us + gate_quiet_us(s);
    return s->hole_since_us + e->conf.gap_timeout_us;
}

int restart_skip_gap(struct eng *e, struct sess *s)
{
    if (s->mod != NULL) {
        /* A protocol module's parser cannot jump over lost bytes. Once the client had its
         * chance to resend them, the session starts over from its next request as one seen
         * mid-stream: a new module session (TCM_START_MIDSTREAM) on a new connection. */
        if (!restart_gap_settled(s) || e->now_us < s->hole_since_us + e->conf.gap_timeout_us)
            return SO_NONE;
        e->st.mod_gaps++;
        e->st.gap_bytes_lost += stream_held_bytes(&s->mod->cst);
        mod_sess_close(e, s);
        restart_resync(e, s);
        return SO_NONE;
    }
    if (!restart_gap_settled(s))
        return SO_NONE;
    uint32_t ce = stream_contig_end(&s->st);
    uint32_t to;
    bool pending;
    if (!restart_gap_target(e, s, &to, &pending)) {
        if (!pending && e->now_us >= s->hole_since_us + e->conf.gap_timeout_us) {
            /* No request start after the hole that can be trusted: the position in the
             * client's stream is lost. Start over as if the session had been seen
             * mid-stream, from the client's next request. */
            restart_resync(e, s);
        }
        return SO_NONE;
    }
    if (e->now_us < s->hole_since_us + restart_gap_grace_us(e, s))
        return SO_NONE;
    e->st.gaps_skipped++;
    /* The request the hole hit, and those that started after a further hole in the
     * skipped bytes (the first boundary after the hole was inside the hit request). */
    uint32_t starts = 0;
    for (uint16_t i = 0; i < s->nmarks; i++) {
        uint32_t q = s->marks[(s->mark_head + i) % s->marks_cap].seq;
        starts += seq_gt(q, ce) && seq_lt(q, to);
    }
    e->st.gap_requests_lost += starts > 1 ? starts : 1;
    e->st.gap_bytes_lost += to - ce;
    stream_skip_to(&s->st, &e->pool, to);
    if ((s->flags & SF_CLIENT_FIN) && to == s->c_fin_seq && stream_held_bytes(&s->st) == 0) {
        return SO_COMPLETE; /* nothing after the hole but the client's close */
    }
    restart_from(e, s, to);
    return SO_NONE;
}
