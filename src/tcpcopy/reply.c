/*
 * reply: the engine's reply side. A target packet's headers, relayed by intercept, find
 * the session by the target tuple: a SYN-ACK establishes the connection, an ACK releases
 * queued bytes, answer bytes advance what we acknowledge (and may open the gate for the
 * next request), a FIN or RST ends the connection, and a session whose client still has
 * bytes for the target is rebuilt on a new connection (restart.c).
 */
#include "tcp_impl.h"

/* A retransmitted FIN or late data after a graceful end: acknowledge it. */
static void reply_after_close(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct conn *c = &s->tc;
    if ((c->flags & (CF_RST_SENT | CF_TARGET_RST)) || (p->flags & TCPF_RST) ||
        (p->data_len == 0 && !(p->flags & TCPF_FIN)))
        return;
    uint32_t end = p->seq + p->data_len + ((p->flags & TCPF_FIN) ? 1 : 0);
    if (seq_gt(end, c->rcv_nxt))
        c->rcv_nxt = end;
    conn_ack_now(e, s);
}

static void reply_rst(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    c->flags |= CF_TARGET_RST;
    if (s->state == SS_SYN_SENT) {
        /* Refused: the target may be restarting. Keep the session (and what the
         * client keeps sending, within bounds) and try again a little later. */
        if (c->syn_tries < CONN_SYN_TRIES) {
            c->flags &= ~CF_TARGET_RST;
            c->flags |= CF_REFUSED;
            c->rto_at_us = conn_syn_retry_at(e, s);
            e->st.syn_refused_retries++;
        } else {
            eng_finish(e, s, SO_TARGET_REFUSED, false);
        }
    } else if (conn_bytes_waiting(s) && !(s->flags & SF_CLIENT_RST) && restart_rebuild(e, s)) {
        /* a new connection carries on */
    } else if (conn_pending(s)) {
        eng_finish(e, s, SO_TARGET_RESET, false);
    } else {
        eng_finish(e, s, (s->flags & SF_CLIENT_FIN) ? SO_COMPLETE : SO_TARGET_RESET, false);
    }
}

static void reply_syn_sent(struct eng *e, struct sess *s, const struct pkt *p)
{
    if ((p->flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK) && p->ack == s->c_isn + 1) {
        conn_establish(e, s, p);
        eng_output(e, s);
    } else if ((p->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_ACK) {
        /* An ACK of an older connection on this tuple answers our SYN: the target holds
         * it in TIME-WAIT (RFC 9293 3.10.7.4; a SYN whose ISN is not above the old
         * connection's end is not accepted) or half-open. A client's kernel would reset it
         * and try the same tuple a second later; a copy cannot wait. The RST (with the
         * sequence number the ACK asks for) clears the old entry, and the SYN goes out
         * again at once on a fresh tuple. */
        e->st.syn_stale_tuples++;
        conn_emit(e, s, TCPF_RST, p->ack, 0, false);
        e->st.sent_rsts++;
        if (s->tc.syn_tries < CONN_SYN_TRIES) {
            admit_move(e, s);
            conn_send_syn(e, s);
        }
    }
}

/* Answer bytes or a FIN from the target. */
static void reply_data(struct eng *e, struct sess *s, const struct pkt *p, uint64_t now_us)
{
    struct conn *c = &s->tc;
    uint32_t end = p->seq + p->data_len;
    e->st.replies_data_bytes += p->data_len;
    int rc = s->mod != NULL ? mod_target_data(e, s, p) : 0;
    if (rc < 0) {
        eng_mod_fail(e, s, rc);
        return;
    }
    if (s->cmp != NULL)
        cmp_sess_target(e, s, p);
    else if (s->copy == CMP_BASE_COPY && e->conf.cmp != NULL)
        cmp_sess_base(e, s, p);
    if (c->flags & CF_HS_SLOT)
        conn_hs_release(e, s); /* an accepted connection speaks (or closes) */
    if (p->data_len > 0 && seq_gt(end, c->rcv_nxt)) {
        s->last_resp_us = now_us;
        s->last_progress_us = now_us;
    }
    if (p->flags & TCPF_FIN) {
        /* Closed first, the target keeps the tuple in TIME-WAIT for a minute, but that
         * is no reason to avoid it: the copy keeps the client's ISN and timestamp clock,
         * so a SYN that the online server accepted on a reused tuple is accepted by the
         * target alike (RFC 6191); avoiding every such tuple ran a soak of short
         * connections out of ports. Only an old connection's ACK marks one stale. */
        c->flags |= CF_TARGET_FIN;
        end += 1;
    }
    /* Acknowledge the highest byte seen, even past a reply we never saw: the
     * target's bytes are not ours to keep, and a gap would only make it resend. */
    if (seq_gt(end, c->rcv_nxt)) {
        c->rcv_nxt = end;
        conn_ack_later(e, s, false);
    } else {
        /* Nothing new: the target resends because our ACK was lost. Say it again
         * now, or it keeps resending until the client's next request. */
        conn_ack_later(e, s, true);
    }
}

/* The target closed its side. False when the session goes on as usual. */
static bool reply_closed(struct eng *e, struct sess *s)
{
    if (s->tc.flags & CF_FIN_ACKED) {
        conn_ack_now(e, s);
        eng_finish(e, s, SO_COMPLETE, false);
        return true;
    }
    if (seq_lt(s->tc.snd_max, stream_contig_end(&s->st))) {
        /* The target closed while the client still had bytes for it. */
        conn_ack_now(e, s);
        if (!restart_rebuild(e, s))
            eng_finish(e, s, SO_TARGET_CLOSED, true);
        return true;
    }
    return false;
}

/* A packet of an established connection. */
static void reply_estab(struct eng *e, struct sess *s, const struct pkt *p, uint64_t now_us)
{
    struct conn *c = &s->tc;
    if (p->flags & TCPF_SYN) {
        conn_ack_later(e, s, true); /* our handshake ACK was lost: the SYN-ACK is repeated */
        return;
    }
    if ((c->flags & CF_TS) && p->opts.has_ts && seq_ge(p->opts.tsval, c->ts_recent))
        c->ts_recent = p->opts.tsval;
    if (p->flags & TCPF_ACK)
        conn_on_ack(e, s, p);
    if (p->data_len == 0 && !(p->flags & TCPF_FIN) && seq_lt(p->seq, c->rcv_nxt))
        conn_ack_later(e, s, true); /* a keepalive probe (RFC 9293 3.8.4): answer it */
    if (p->data_len > 0 || (p->flags & TCPF_FIN))
        reply_data(e, s, p, now_us);
    if ((c->flags & CF_TARGET_FIN) && reply_closed(e, s))
        return;
    eng_output(e, s);
}

void eng_on_reply(struct eng *e, const struct pkt *p, uint64_t now_us)
{
    e->now_us = now_us;
    e->st.replies++;
    struct tuple k;
    tuple_reverse(&k, &p->t);
    struct sess *s = sess_find_t(&e->tab, &k);
    if (s == NULL) {
        e->st.replies_no_session++;
        return;
    }
    if (s->state == SS_CLOSED) {
        reply_after_close(e, s, p);
        return;
    }
    s->last_active_us = now_us;
    sess_touch(&e->tab, s, now_us);
    if (p->flags & TCPF_RST)
        reply_rst(e, s);
    else if (s->state == SS_SYN_SENT)
        reply_syn_sent(e, s, p);
    else
        reply_estab(e, s, p, now_us);
    eng_schedule(e, s);
}
