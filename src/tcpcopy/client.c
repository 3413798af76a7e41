/*
 * client: the engine's capture side. A client packet seen on the online host finds its
 * session (or makes one), its bytes join the session's stream, its acknowledgement
 * numbers become request boundaries (gate.c), and what may go is sent.
 */
#include "tcp_impl.h"

#define OOO_MAX (1U << 20) /* the largest new hole a segment may open beyond what is held */

void eng_set_epoch(struct eng *e, uint16_t epoch)
{
    e->epoch = epoch;
}

static void note_mark(struct eng *e, struct sess *s, const struct pkt *p, uint32_t seq)
{
    enum gate_note n = gate_note(s, p, seq);
    e->st.requests_marked += n == GATE_NOTE_MARK;
    if (s->cmp != NULL && n == GATE_NOTE_MARK)
        cmp_sess_mark(e, s, seq, s->last_resp);
    e->st.marks_dropped += n == GATE_NOTE_LOST;
}

static struct sess *sess_create(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                                uint16_t copy)
{
    struct sess *s = admit_alloc(e, p, r, copy);
    if (s == NULL)
        return NULL;
    e->st.sess_created++;
    if (p->opts.has_mss)
        s->c_mss = p->opts.mss;
    if (p->opts.has_ws) {
        s->flags |= SF_C_WS;
        s->c_ws = p->opts.wscale;
    }
    if (p->opts.sack_ok)
        s->flags |= SF_C_SACK;
    if (p->opts.has_ts) {
        s->flags |= SF_C_TS;
        s->c_tsval0 = p->opts.tsval;
    }
    admit_start(e, s, p->seq);
    if (e->conf.cmp != NULL)
        cmp_sess_open(e, s);
    return s;
}

/* Note where the capture has a hole (or has none any more). */
static void note_hole(struct eng *e, struct sess *s)
{
    if (stream_ooo_bytes(mod_cstream(s)) == 0)
        s->hole_since_us = 0;
    else if (s->hole_since_us == 0)
        s->hole_since_us = e->now_us;
}

/* The segment p was stored (n new bytes) or refused (-STREAM_E_*): count it, and with a
 * module offer it what it may have now. */
static void client_stored(struct eng *e, struct sess *s, const struct pkt *p, int n,
                          uint32_t before_end)
{
    if (n == -STREAM_E_NOMEM) {
        e->st.drop_bytes_memory += p->data_len;
        e->st.sess_shed_memory++;
        log_warnx_rl(&e->rl_mem, e->now_us,
                     "queue limit reached (%zu bytes queued in all): session on port %u dropped",
                     chunk_pool_bytes(&e->pool), s->ckey.sport);
        eng_finish(e, s, SO_MEMORY, true);
        return;
    }
    if (n == -STREAM_E_HOLES) {
        e->st.drop_segments_holes++;
        return;
    }
    e->st.cap_payload_bytes += (uint64_t)n;
    s->bytes_in += (uint64_t)n;
    if (s->cmp != NULL)
        cmp_sess_client(e, s, p);
    if (p->flags & TCPF_ACK)
        s->c_last_ack = p->ack;
    if ((uint32_t)n < p->data_len)
        e->st.cap_dup_bytes += p->data_len - (uint32_t)n;
    if (n > 0 && seq_gt(p->seq, before_end))
        e->st.cap_ooo_segments++;
    note_hole(e, s);
    int rc = s->mod != NULL ? mod_pump(e, s) : 0;
    if (rc < 0)
        eng_mod_fail(e, s, rc);
}

static void client_data(struct eng *e, struct sess *s, const struct pkt *p)
{
    uint32_t seq = p->seq;
    uint32_t before_end = stream_end(mod_cstream(s));
    if (seq_gt(seq, before_end + OOO_MAX)) {
        /* Far beyond everything held: no receiver would accept it (a forged or mangled
         * segment, or a capture that lost a great deal). Storing it would reserve memory
         * for the whole gap; it is dropped and counted, and the missing bytes are handled
         * as a capture gap. What follows bytes already held is kept, however far the
         * client has gone past a hole (within the session's memory bound): while a hole
         * is waited for, the requests after it are not lost too. */
        e->st.cap_beyond_window++;
        if (s->hole_since_us == 0)
            s->hole_since_us = e->now_us;
        return;
    }
    if (s->mod != NULL) { /* the module's own stream, in the client's numbering */
        client_stored(e, s, p, mod_client_put(e, s, p), before_end);
        return;
    }
    uint16_t nmarks = s->nmarks;
    uint32_t last_resp = s->last_resp;
    note_mark(e, s, p, seq_lt(seq, stream_start(&s->st)) ? stream_start(&s->st) : seq);
    int n = stream_put(&s->st, &e->pool, seq, p->data, p->data_len, e->conf.sess_mem_max);
    if (n < 0 && s->nmarks > nmarks) {
        /* The segment was not stored: neither is the request boundary it carried (its
         * bytes are now part of a hole, whose handling finds the next boundary). */
        gate_unpush(s);
        s->last_resp = last_resp;
        e->st.requests_marked--;
    }
    client_stored(e, s, p, n, before_end);
}

/* A client SYN (s: the session the client key finds, if any). */
static void capture_syn(struct eng *e, struct sess *s, const struct pkt *p,
                        const struct xfer_rule *r, uint16_t copy)
{
    if (p->flags & TCPF_ACK) {
        e->st.cap_syn_ack++; /* the online host is the client here: not ours */
        return;
    }
    if (s != NULL) {
        if (s->state != SS_CLOSED && s->c_isn == p->seq)
            return; /* the client retransmitted its SYN; ours has its own timer */
        if (s->state != SS_CLOSED && s->state != SS_PROBE && conn_pending(s)) {
            /* The client opened a new connection from the port of one whose replay is
             * still behind (the copy lags the online server in a burst). Both go on: the
             * old one keeps its target tuple and finishes its backlog, no longer fed by
             * the capture; the new one takes another target port. */
            sess_detach_c(&e->tab, s);
            e->st.sess_overlapped++;
        } else {
            if (s->state != SS_CLOSED)
                eng_finish(e, s, s->state == SS_PROBE ? SO_NOT_STARTED : SO_COMPLETE, true);
            admit_free(e, s);
        }
    }
    s = sess_create(e, p, r, copy);
    if (s != NULL && (s->flags & SF_MOD_FAILED))
        eng_finish(e, s, SO_MODULE, false);
    if (s != NULL)
        eng_schedule(e, s);
}

/* A packet of a session seen mid-stream: a new session that waits for a request boundary
 * (ack_base: the acknowledgement number it must grow past). */
static struct sess *probe_new(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                              uint16_t copy, uint32_t ack_base)
{
    struct sess *s = admit_alloc(e, p, r, copy);
    if (s == NULL)
        return NULL;
    s->state = SS_PROBE;
    s->ack_base = ack_base;
    return s;
}

/*
 * The session a non-SYN client packet belongs to, or NULL when it is not copied. After a
 * graceful end the client's last packets are stragglers. After the target failed the
 * session, a client that keeps talking is copied again, as a session first seen
 * mid-stream; so is a client whose SYN was not seen (unless -O).
 */
static struct sess *session_of(struct eng *e, struct sess *s, const struct pkt *p,
                               const struct xfer_rule *r, uint16_t copy)
{
    if (s != NULL && s->state == SS_CLOSED) {
        bool graceful = s->outcome == SO_COMPLETE || s->outcome == SO_CLIENT_RESET ||
                        s->outcome == SO_NOT_STARTED || s->outcome == SO_SHUTDOWN;
        if (graceful || p->data_len == 0 || e->conf.syn_only) {
            e->st.cap_after_close++;
            return NULL;
        }
        uint32_t last_ack = s->c_last_ack;
        admit_free(e, s);
        s = probe_new(e, p, r, copy, last_ack); /* this very segment can be a boundary */
        if (s != NULL)
            s->flags |= SF_PROBE_DATA;
        return s;
    }
    if (s != NULL)
        return s;
    if (p->flags & TCPF_RST)
        return NULL;
    if (e->conf.syn_only || (p->flags & TCPF_FIN)) {
        e->st.cap_no_syn++;
        return NULL;
    }
    return probe_new(e, p, r, copy, p->ack);
}

/* The client's first acknowledgement: the online server's ISN + 1, and its round trip. */
static void note_ack_base(struct sess *s, const struct pkt *p, uint64_t now_us)
{
    if (!(p->flags & TCPF_ACK) || (s->flags & SF_HAVE_ACKBASE))
        return;
    s->ack_base = p->ack;
    s->flags |= SF_HAVE_ACKBASE;
    if (!(s->flags & SF_FAKED)) /* the handshake ACK, one client round trip after its SYN */
        s->c_rtt_us = (uint32_t)(now_us - s->t0_us < UINT32_MAX ? now_us - s->t0_us + 1
                                                                  : UINT32_MAX);
}

/* A packet of a session that has started toward the target. */
static void client_packet(struct eng *e, struct sess *s, const struct pkt *p, uint64_t now_us)
{
    sess_touch(&e->tab, s, now_us);
    if (!(p->flags & TCPF_RST))
        s->c_win = p->win; /* a reset's window (0) says nothing about the client's */
    note_ack_base(s, p, now_us);
    if (p->flags & TCPF_RST) {
        /* Deliver what came before the reset, then reset (eng_output does it). Bytes
         * queued even before the handshake finished were sent to the online server, so
         * they go to the target before the reset does. */
        s->flags |= SF_CLIENT_RST;
        if (s->state == SS_SYN_SENT && !conn_bytes_waiting(s)) {
            eng_finish(e, s, SO_CLIENT_RESET, true);
            return;
        }
    } else {
        if (p->data_len > 0 && p->data != NULL)
            client_data(e, s, p);
        if (s->state == SS_CLOSED)
            return;
        if ((p->flags & TCPF_FIN) && !(s->flags & SF_CLIENT_FIN) && s->mod != NULL) {
            int rc = mod_client_fin(e, s, p, p->seq + p->data_len); /* carried over later */
            if (rc < 0) {
                eng_mod_fail(e, s, rc);
                return;
            }
        } else if ((p->flags & TCPF_FIN) && !(s->flags & SF_CLIENT_FIN)) {
            s->flags |= SF_CLIENT_FIN;
            s->c_fin_seq = p->seq + p->data_len;
            note_mark(e, s, p, s->c_fin_seq);
        }
    }
    eng_output(e, s);
}

static void capture_one(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                        uint16_t copy, uint64_t now_us)
{
    struct sess *s = sess_find_c(&e->tab, &p->t, copy);
    if (p->flags & TCPF_SYN) {
        capture_syn(e, s, p, r, copy);
        return;
    }
    s = session_of(e, s, p, r, copy);
    if (s != NULL && restart_relogin(e, s, p)) { /* the target closed: log in again, go on */
        eng_finish(e, s, SO_TARGET_CLOSED, true);
        s = session_of(e, s, p, r, copy);
    }
    if (s == NULL)
        return;
    if (s->state == SS_PROBE) {
        s->last_active_us = now_us;
        int outcome = restart_probe(e, s, p);
        if (outcome != SO_NONE)
            eng_finish(e, s, outcome, false);
        if (s->state == SS_CLOSED || s->state == SS_PROBE) {
            eng_schedule(e, s);
            return;
        }
    }
    client_packet(e, s, p, now_us);
    eng_schedule(e, s);
}

void eng_on_capture(struct eng *e, const struct pkt *p, uint64_t now_us)
{
    e->now_us = now_us;
    e->st.cap_packets++;
    const struct xfer_rule *r = xfer_match(e->conf.xfer, &p->t.dst, p->t.dport);
    if (r == NULL) {
        if (e->conf.cmp == NULL || !cmp_sess_online(e, p, now_us))
            e->st.cap_ignored++;
        return;
    }
    if (!admit_shard(e, p)) {
        e->st.cap_sharded_out++;
        return;
    }
    if (!admit_sampled(e, p)) {
        e->st.cap_sampled_out++;
        return;
    }
    for (uint16_t copy = 0; copy < e->conf.copies; copy++)
        capture_one(e, p, r, (uint16_t)(e->epoch * e->conf.copies + copy), now_us);
    if (e->conf.cmp != NULL && e->conf.cmp->conf.baseline) { /* one more copy, to the baseline */
        struct xfer_rule rb = *r;
        rb.target = e->conf.cmp->conf.base, rb.target_port = e->conf.cmp->conf.base_port;
        capture_one(e, p, &rb, CMP_BASE_COPY, now_us);
    }
}
