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
void restart_probe(struct eng *e, struct sess *s, const struct pkt *p)
{
    if (p->flags & (TCPF_FIN | TCPF_RST)) {
        eng_finish(e, s, SO_NOT_STARTED, false);
        return;
    }
    if (p->data_len == 0 || p->data == NULL || !(p->flags & TCPF_ACK)) {
        e->st.probe_skipped_packets++;
        return;
    }
    bool boundary = seq_gt(p->ack, s->ack_base);
    if (!boundary) {
        s->ack_base = p->ack;
        s->flags |= SF_PROBE_DATA;
        e->st.probe_skipped_bytes += p->data_len;
        return;
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
    eng_start(e, s, p->seq - 1);
}

/*
 * The target ended its side while client bytes still wait: open a new connection
 * from the first byte it did not acknowledge, so the rest of the stream still
 * arrives (the original does this too). Returns false when the session has been
 * rebuilt too often, and must end.
 */
static bool restart_rebuild_from(struct eng *e, struct sess *s, uint32_t from);

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
 * (a client that goes on talking is then copied again from its next request).
 */
bool restart_rebuild(struct eng *e, struct sess *s)
{
    if (restart_at_boundary(s, s->snd_una))
        return restart_rebuild_from(e, s, s->snd_una);
    uint32_t ce = stream_contig_end(&s->st);
    for (uint16_t i = 0; i < s->nmarks; i++) {
        struct sess_mark *m = &s->marks[(s->mark_head + i) % s->marks_cap];
        if (!seq_gt(m->seq, s->snd_una) || !m->exact || seq_gt(m->seq, ce))
            continue;
        e->st.partial_requests_lost++;
        e->st.gap_bytes_lost += m->seq - s->snd_una;
        stream_release(&s->st, &e->pool, m->seq);
        return restart_rebuild_from(e, s, m->seq);
    }
    e->st.partial_requests_lost++;
    return false;
}

/* Restart toward the target with a new connection whose first byte is from. */
static bool restart_rebuild_from(struct eng *e, struct sess *s, uint32_t from)
{
    if (s->rebuilds >= REBUILDS_MAX)
        return false;
    if (!(s->flags & (SF_TARGET_RST | SF_RST_SENT))) {
        /* The old connection must be gone before a SYN with the same tuple arrives. */
        eng_emit(e, s, TCPF_RST | TCPF_ACK, s->snd_nxt, 0, false);
        e->st.sent_rsts++;
    }
    /* A boundary right where the new connection starts was answered on the old one. */
    struct sess_mark *m;
    while ((m = gate_peek(s)) != NULL && seq_le(m->seq, from)) {
        s->passed_resp = m->resp;
        gate_pop(s);
    }
    s->flags &= ~(SF_TARGET_FIN | SF_TARGET_RST | SF_FIN_SENT | SF_FIN_ACKED | SF_TS | SF_RST_SENT);
    s->state = SS_SYN_SENT;
    s->c_isn = from - 1;
    s->snd_una = s->snd_nxt = s->snd_max = s->c_isn;
    s->t_isn = s->rcv_nxt = s->acked_rcv = 0;
    s->resp_at_mark = 0;
    s->gate_since_us = 0;
    s->rtt_seq = 0;
    s->backoff = 0;
    s->dupacks = 0;
    s->syn_tries = 0;
    s->nsacked = 0;
    s->hole_since_us = 0;
    s->ack_at_us = 0;
    s->rebuilds++;
    e->st.sess_rebuilt++;
    eng_send_syn(e, s);
    return true;
}

static void restart_resync(struct eng *e, struct sess *s)
{
    if ((s->state == SS_SYN_SENT || s->state == SS_ESTAB) &&
        !(s->flags & (SF_TARGET_RST | SF_RST_SENT))) {
        eng_emit(e, s, TCPF_RST | TCPF_ACK, s->snd_nxt, 0, false);
        e->st.sent_rsts++;
    }
    e->st.sess_resynced++;
    e->st.gap_bytes_lost += stream_ooo_bytes(&s->st);
    stream_clear(&s->st, &e->pool);
    while (gate_peek(s) != NULL)
        gate_pop(s);
    s->state = SS_PROBE;
    /* SF_ACK_PENDING says the session is on the engine's ACK list: it must survive, or
     * the session could be listed twice and the list would loop. */
    s->flags = (s->flags & (SF_ROUTED | SF_ACK_PENDING | SF_ACK_FORCE)) | SF_PROBE_DATA;
    s->ack_base = s->c_last_ack;
    s->snd_una = s->snd_nxt = s->snd_max = 0;
    s->rcv_nxt = s->acked_rcv = s->t_isn = 0;
    s->resp_at_mark = s->passed_resp = s->last_resp = s->last_mark_seq = 0;
    s->gate_since_us = s->rto_at_us = s->hole_since_us = s->ack_at_us = 0;
    s->rtt_seq = 0;
    s->nsacked = 0;
    s->backoff = s->dupacks = 0;
    s->syn_tries = 0;
    s->refused = false;
}

/*
 * The captured stream has had a hole for gap_timeout: the capture lost those bytes
 * (the client never resends what the online server received). Bytes cannot be made
 * up, so once everything before the hole is delivered, the session continues on a
 * new connection from the next request boundary after the hole; the bytes between
 * are counted as lost. Without such a boundary yet, it keeps waiting.
 */
void restart_skip_gap(struct eng *e, struct sess *s)
{
    uint32_t ce = stream_contig_end(&s->st);
    if (s->state == SS_ESTAB && (s->snd_una != ce || s->snd_max != ce))
        return; /* first deliver what came before the hole */
    for (uint16_t i = 0; i < s->nmarks; i++) {
        struct sess_mark *m = &s->marks[(s->mark_head + i) % s->marks_cap];
        if (!seq_gt(m->seq, ce) || !m->exact)
            continue; /* a mark right after lost bytes may be mid-request: not a start */
        uint32_t to = m->seq;
        e->st.gaps_skipped++;
        e->st.gap_bytes_lost += to - ce;
        stream_skip_to(&s->st, &e->pool, to);
        if (!restart_rebuild_from(e, s, to)) {
            eng_finish(e, s, SO_TIMEOUT, true);
            return;
        }
        s->hole_since_us = stream_ooo_bytes(&s->st) ? e->now_us : 0;
        return;
    }
    /* No request boundary directly after captured bytes: the position in the client's
     * stream cannot be trusted any more. Start over as if the session had been seen
     * mid-stream: the target's connection is reset and the client's next request
     * (its acknowledgement number grows) opens a new one. */
    restart_resync(e, s);
}
