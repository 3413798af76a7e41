/*
 * conn: the connection toward the target, its sending side (see conn.h). Sequence
 * numbers are the client's own, so captured bytes go out unchanged; acknowledgement
 * numbers are ours: the end of what the target has sent (RFC 9293 3.4).
 */
#include <string.h>
#include <sys/socket.h>

#include "conn.h"
#include "sack.h"
#include "tcp_impl.h"

#define RTO_INIT_US 1000000u
/* The retransmission timeout's floor. Lower than the usual 200 ms: a spurious resend
 * costs the target one duplicate segment, while each real loss of a lone request
 * stalls that session until the timer fires, and the copy falls behind production.
 * Still above the 40 ms a Linux receiver may delay its ACK. */
#define RTO_MIN_US 50000u
#define RTO_MAX_US 10000000u
/* A SYN is sent up to CONN_SYN_TRIES times, 0.25, 0.5, 1, 2, 4 and 8 s apart, whether the
 * previous one went unanswered (lost on either path) or was refused (a target
 * restarting); the handshake is given up 16 s after the last one (about 32 s in all).
 * Faster than a kernel's 1 s first retry: until the handshake completes the client's
 * requests only queue, and a duplicate SYN costs the target nothing but another SYN-ACK. */
#define SYN_RTO_US 250000u
#define RTX_MAX_BACKOFF 12
#define OWN_WINDOW 65535

_Static_assert(RTX_MAX_BACKOFF < 16 && PKT_SACK_MAX < 16, "struct conn's 4-bit fields");

/* ---- state ---------------------------------------------------------------- */

void conn_reset(struct conn *c, uint32_t isn)
{
    uint32_t srtt = c->srtt_us, rttvar = c->rttvar_us, rto = c->rto_us;
    uint16_t keep = c->flags & (CF_ACK_PENDING | CF_ACK_FORCE | CF_HS_SLOT | CF_HS_WAIT);
    memset(c, 0, sizeof(*c));
    c->snd_una = c->snd_nxt = c->snd_max = isn;
    c->srtt_us = srtt;
    c->rttvar_us = rttvar;
    c->rto_us = rto ? rto : RTO_INIT_US;
    c->flags = keep;
}

bool conn_pending(const struct sess *s)
{
    const struct conn *c = &s->tc;
    return c->snd_una != c->snd_max || seq_lt(c->snd_max, stream_contig_end(&s->st)) ||
           ((s->flags & SF_CLIENT_FIN) && !(c->flags & CF_FIN_ACKED));
}

bool conn_bytes_waiting(const struct sess *s)
{
    return seq_lt(s->tc.snd_una, stream_contig_end(&s->st));
}

/* The largest segment: the target's MSS within -M. */
static uint32_t seg_size(const struct eng *e, const struct sess *s)
{
    uint32_t hdr = (s->tkey.src.af == AF_INET6 ? PKT_IP6_HLEN : PKT_IP4_HLEN) + PKT_TCP_HLEN;
    if (s->tc.flags & CF_TS)
        hdr += 12;
    uint32_t mss = s->tc.t_mss ? s->tc.t_mss : 536; /* RFC 9293 3.7.1 default */
    uint32_t room = e->conf.mtu > hdr + 1 ? e->conf.mtu - hdr : 1;
    return mss < room ? mss : room;
}

static uint32_t ts_value(const struct eng *e, const struct sess *s)
{
    /* Our clock ticks in milliseconds from the client's own SYN value: monotonic
     * per session, as PAWS on the target requires (RFC 7323 5). */
    return s->c_tsval0 + (uint32_t)((e->now_us - s->t0_us) / 1000);
}

/* Have the session's timer fire no later than at_us. Its handler recomputes the whole
 * schedule (tcp.c), so firing early is harmless and this file needs no other timer. */
static void conn_arm(struct eng *e, struct sess *s, uint64_t at_us)
{
    uint64_t ms = (at_us + 999) / 1000;
    if (!s->timer.armed || s->timer.deadline_ms > ms)
        wheel_set(&e->wheel, &s->timer, ms);
}

/* ---- segments ---------------------------------------------------------------- */

static void emit_opts(const struct eng *e, const struct sess *s, struct pkt_spec *sp,
                      bool syn_opts)
{
    if (syn_opts) {
        if (s->c_mss) {
            sp->opt_mss = true;
            sp->opts.mss = s->c_mss;
        }
        sp->opt_ws = (s->flags & SF_C_WS) != 0;
        sp->opts.wscale = s->c_ws;
        sp->opt_sack_ok = (s->flags & SF_C_SACK) != 0;
        if (s->flags & SF_C_TS) {
            sp->opt_ts = true;
            sp->opts.tsval = ts_value(e, s);
            sp->opts.tsecr = 0;
        }
    } else if (s->tc.flags & CF_TS) {
        sp->opt_ts = true;
        sp->opts.tsval = ts_value(e, s);
        sp->opts.tsecr = s->tc.ts_recent;
    }
}

/*
 * Build and hand over one segment toward the target. len bytes of client data
 * from seq are copied straight from the queue into the sender's buffer.
 */
void conn_emit(struct eng *e, struct sess *s, uint8_t flags, uint32_t seq, uint32_t len,
               bool syn_opts)
{
    size_t cap = 0;
    uint8_t *buf = e->io.pkt_buf(e->io.arg, &cap);
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    sp.t = s->tkey;
    sp.seq = seq;
    sp.flags = flags;
    sp.ack = (flags & TCPF_ACK) ? s->tc.rcv_nxt : 0;
    sp.win = (s->flags & SF_FAKED) ? OWN_WINDOW : s->c_win;
    sp.ip_id = e->ip_id++;
    emit_opts(e, s, &sp, syn_opts);
    if (len > 0) {
        size_t hlen = pkt_spec_hlen(&sp);
        if (hlen + len > cap) {
            e->st.build_errors++;
            return;
        }
        stream_copy(&s->st, seq, buf + hlen, len);
        sp.data = NULL; /* already in place */
        sp.data_len = len;
    }
    size_t n = pkt_build(buf, cap, &sp);
    if (n == 0) {
        e->st.build_errors++;
        return;
    }
    e->io.pkt_send(e->io.arg, n);
    e->st.sent_packets++;
    if (len > 0)
        e->st.sent_data_packets++;
    if (flags & TCPF_ACK) {
        s->tc.acked_rcv = s->tc.rcv_nxt;
        s->tc.ack_at_us = 0;
    }
}

void conn_send_rst(struct eng *e, struct sess *s)
{
    if (s->tc.flags & (CF_TARGET_RST | CF_RST_SENT))
        return;
    conn_emit(e, s, TCPF_RST | TCPF_ACK, s->tc.snd_nxt, 0, false);
    s->tc.flags |= CF_RST_SENT;
    e->st.sent_rsts++;
}

/* ---- ACKs ------------------------------------------------------------------- */

void conn_ack_now(struct eng *e, struct sess *s)
{
    conn_emit(e, s, TCPF_ACK, s->tc.snd_nxt, 0, false);
    e->st.sent_acks++;
}

void conn_ack_later(struct eng *e, struct sess *s, bool force)
{
    if (force)
        s->tc.flags |= CF_ACK_FORCE;
    if (s->tc.flags & CF_ACK_PENDING)
        return;
    s->tc.flags |= CF_ACK_PENDING;
    s->next_ack = e->ack_list;
    e->ack_list = s;
}

void conn_ack_unlist(struct eng *e, struct sess *s)
{
    if (!(s->tc.flags & CF_ACK_PENDING))
        return;
    for (struct sess **pp = &e->ack_list; *pp != NULL; pp = &(*pp)->next_ack) {
        if (*pp == s) {
            *pp = s->next_ack;
            break;
        }
    }
    s->tc.flags &= ~CF_ACK_PENDING;
}

void conn_flush_acks(struct eng *e)
{
    struct sess *s;
    while ((s = e->ack_list) != NULL) {
        struct conn *c = &s->tc;
        e->ack_list = s->next_ack;
        bool force = (c->flags & CF_ACK_FORCE) != 0;
        c->flags &= ~(CF_ACK_PENDING | CF_ACK_FORCE);
        if (s->state != SS_ESTAB || (!force && c->acked_rcv == c->rcv_nxt))
            continue;
        /* Delayed ACK (RFC 9293 3.8.6.3): the client's next request usually follows the
         * answer within milliseconds and carries the ACK for free, one packet fewer for
         * the target to handle. Two full segments, a FIN, a forced ACK and the part of an
         * answer a request waits for (see conn_output) go at once. */
        uint32_t mss = s->c_mss ? s->c_mss : e->conf.syn_mss;
        if (force || e->conf.ack_delay_us == 0 || (c->flags & CF_TARGET_FIN) ||
            s->gate_since_us != 0 || c->rcv_nxt - c->acked_rcv >= 2 * mss) {
            conn_ack_now(e, s);
        } else if (c->ack_at_us == 0) {
            c->ack_at_us = e->now_us + e->conf.ack_delay_us;
            conn_arm(e, s, c->ack_at_us);
        }
    }
}

void conn_ack_due(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    if (!c->ack_at_us || e->now_us < c->ack_at_us)
        return;
    c->ack_at_us = 0;
    if (s->state == SS_ESTAB && c->acked_rcv != c->rcv_nxt) {
        e->st.acks_delayed++;
        conn_ack_now(e, s);
    }
}

/* ---- round trips --------------------------------------------------------------- */

static void rtt_sample(struct conn *c, uint64_t rtt)
{
    /* RFC 6298 2.2-2.3 with alpha 1/8, beta 1/4. */
    uint32_t r = rtt > 60000000 ? 60000000 : (uint32_t)rtt;
    if (c->srtt_us == 0) {
        c->srtt_us = r ? r : 1;
        c->rttvar_us = r / 2;
    } else {
        uint32_t d = c->srtt_us > r ? c->srtt_us - r : r - c->srtt_us;
        c->rttvar_us = (3 * c->rttvar_us + d) / 4;
        c->srtt_us = (7 * c->srtt_us + r) / 8;
        if (c->srtt_us == 0)
            c->srtt_us = 1; /* 0 means never measured */
    }
    uint64_t rto = (uint64_t)c->srtt_us + 4 * (uint64_t)c->rttvar_us;
    if (rto < RTO_MIN_US)
        rto = RTO_MIN_US;
    if (rto > RTO_MAX_US)
        rto = RTO_MAX_US;
    c->rto_us = (uint32_t)rto;
}

static uint32_t rto_backed_off(const struct conn *c)
{
    uint64_t rto = (uint64_t)c->rto_us << c->backoff;
    return rto > RTO_MAX_US ? RTO_MAX_US : (uint32_t)rto;
}

/* ---- the handshake ------------------------------------------------------------ */

void conn_open(struct eng *e, struct sess *s, uint32_t isn)
{
    conn_reset(&s->tc, isn);
    conn_send_syn(e, s);
}

uint64_t conn_syn_retry_at(const struct eng *e, const struct sess *s)
{
    unsigned tries = s->tc.syn_tries ? s->tc.syn_tries : 1;
    return e->now_us + ((uint64_t)SYN_RTO_US << (tries - 1));
}

/*
 * Handshake slots. A burst of new sessions online (a client opening thousands of short
 * connections at once, times -n) would otherwise send as many SYNs to the target in the
 * same millisecond: beyond its listen queue they are dropped, resent every quarter second
 * and dropped again, and the target's TCP work, charged to our sends on a shared host,
 * starves the channel (measured: -n 50 on 2,000 short connections sent 368,000 SYN
 * retransmissions and made intercept drop 480,000 replies). At most max_handshakes SYNs
 * await an answer; other sessions queue their client's bytes and wait in line, so the copy
 * lags during a burst at the pace the target accepts connections, and loses nothing.
 */
void conn_send_syn(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    if (!(c->flags & CF_HS_SLOT)) {
        if (e->hs_active >= e->conf.max_handshakes) {
            if (!(c->flags & CF_HS_WAIT)) {
                TAILQ_INSERT_TAIL(&e->hs_queue, s, hs_wait);
                c->flags |= CF_HS_WAIT;
                e->st.syn_waits++;
                e->st.syn_waiting++;
            }
            c->rto_at_us = 0;
            return;
        }
        c->flags |= CF_HS_SLOT;
        e->hs_active++;
    }
    conn_emit(e, s, TCPF_SYN, s->c_isn, 0, true);
    c->syn_tries++;
    c->rto_at_us = conn_syn_retry_at(e, s);
}

void conn_hs_release(struct eng *e, struct sess *s)
{
    if (s->tc.flags & CF_HS_WAIT) {
        TAILQ_REMOVE(&e->hs_queue, s, hs_wait);
        s->tc.flags &= ~CF_HS_WAIT;
        e->st.syn_waiting--;
    }
    if (!(s->tc.flags & CF_HS_SLOT))
        return;
    s->tc.flags &= ~CF_HS_SLOT;
    e->hs_active--;
    struct sess *n;
    while (e->hs_active < e->conf.max_handshakes && (n = TAILQ_FIRST(&e->hs_queue)) != NULL) {
        TAILQ_REMOVE(&e->hs_queue, n, hs_wait);
        n->tc.flags &= ~CF_HS_WAIT;
        e->st.syn_waiting--;
        conn_send_syn(e, n);
        conn_arm(e, n, n->tc.rto_at_us);
    }
}

void conn_establish(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct conn *c = &s->tc;
    c->t_isn = p->seq;
    c->rcv_nxt = p->seq + 1;
    c->t_mss = p->opts.has_mss ? p->opts.mss : 536;
    /* Window scaling only if both offered it (RFC 7323 2.2); the SYN-ACK's own
     * window is never scaled. */
    c->t_ws = (s->flags & SF_C_WS) && p->opts.has_ws ? p->opts.wscale : 0;
    if ((s->flags & SF_C_TS) && p->opts.has_ts) {
        c->flags |= CF_TS;
        c->ts_recent = p->opts.tsval;
    }
    if ((s->flags & SF_C_SACK) && p->opts.sack_ok)
        c->flags |= CF_SACK;
    c->snd_una = c->snd_nxt = c->snd_max = s->c_isn + 1;
    c->snd_wnd = p->win;
    if (c->syn_tries == 1)
        rtt_sample(c, e->now_us - s->t0_us);
    c->backoff = 0;
    c->rto_at_us = 0;
    /* The slot is kept until the target acknowledges our first bytes: a target whose
     * accept queue is full completes handshakes in its kernel but drops what follows (and
     * keeps resending its SYN-ACK), so an answered SYN alone does not show it is keeping
     * up. A session with nothing to send yet needs no proof. */
    if (!conn_bytes_waiting(s))
        conn_hs_release(e, s);
    s->state = SS_ESTAB;
    s->last_progress_us = e->now_us;
    conn_ack_now(e, s);
}

/* ---- sending ------------------------------------------------------------------ */

static void send_data(struct eng *e, struct sess *s, uint32_t seq, uint32_t len, bool psh)
{
    conn_emit(e, s, TCPF_ACK | (psh ? TCPF_PSH : 0), seq, len, false);
    if (seq_lt(seq, s->tc.snd_max)) {
        e->st.rtx_packets++;
    } else {
        e->st.sent_payload_bytes += len;
        s->bytes_out += len;
    }
}

/* May the bytes after mark m go now? If so the mark is passed. Counts the verdict. */
static bool conn_gate(struct eng *e, struct sess *s, const struct sess_mark *m)
{
    struct gate_conf gc = {.no_wait = e->conf.no_wait,
                           .answer_timeout_us = e->conf.answer_timeout_us,
                           .now_us = e->now_us};
    bool began;
    enum gate_verdict v = gate_open(s, m, &gc, &began);
    e->st.gate_waits += began;
    e->st.gate_by_bytes += v == GATE_BY_BYTES;
    e->st.gate_by_quiet += v == GATE_BY_QUIET;
    e->st.gate_by_timeout += v == GATE_BY_TIMEOUT;
    if (v == GATE_WAIT)
        return false;
    gate_pass(s, m);
    return true;
}

/* Where the segment at snd_nxt must end: the stream's contiguous end, the next request
 * whose answer has not come, the next SACKed range, the window. */
static uint32_t send_limit(const struct sess *s, const struct sess_mark *m)
{
    const struct conn *c = &s->tc;
    uint32_t lim = stream_contig_end(&s->st);
    if (m != NULL && seq_lt(m->seq, lim))
        lim = m->seq;
    uint32_t sacked_lo;
    if (seq_lt(c->snd_nxt, c->snd_max) && sack_next_lo(c, c->snd_nxt, &sacked_lo) &&
        seq_lt(sacked_lo, lim))
        lim = sacked_lo;
    /* With nothing in flight a zero window still lets one byte through: the
     * probe that learns when the window reopens (RFC 9293 3.8.6.1). */
    uint32_t wnd = c->snd_wnd;
    if (wnd == 0 && c->snd_una == c->snd_max)
        wnd = 1;
    uint32_t wnd_end = c->snd_una + wnd;
    return seq_gt(lim, wnd_end) ? wnd_end : lim;
}

/* Queued client bytes up to the next request boundary the target has not answered yet,
 * within the target's window, cut to segments. */
static void output_data(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    uint32_t mss = seg_size(e, s);
    for (;;) {
        struct sess_mark *m = gate_peek(s);
        if (m != NULL && seq_le(m->seq, c->snd_nxt)) {
            if (!conn_gate(e, s, m))
                break;
            continue;
        }
        if (c->nsacked && seq_lt(c->snd_nxt, c->snd_max)) {
            /* Resending after a timeout: what the target SACKed needs no second copy. */
            uint32_t skip = sack_skip(c, c->snd_nxt);
            if (skip != c->snd_nxt) {
                c->snd_nxt = skip;
                continue;
            }
        }
        uint32_t lim = send_limit(s, m);
        if (!seq_lt(c->snd_nxt, lim) || ((c->flags & CF_RTO_WAIT) && c->snd_nxt != c->snd_una))
            break;
        uint32_t len = lim - c->snd_nxt;
        if (len > mss)
            len = mss;
        if (c->rtt_seq == 0 && !seq_lt(c->snd_nxt, c->snd_max)) {
            c->rtt_seq = c->snd_nxt + len;
            c->rtt_t0_us = e->now_us;
        }
        send_data(e, s, c->snd_nxt, len, c->snd_nxt + len == lim);
        c->snd_nxt += len;
        if (seq_gt(c->snd_nxt, c->snd_max))
            c->snd_max = c->snd_nxt;
    }
}

/* The client's FIN, once every byte before it is out and its request may go. */
static void output_fin(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    if (!(s->flags & SF_CLIENT_FIN) || (c->flags & CF_FIN_SENT) || c->snd_nxt != s->c_fin_seq ||
        stream_contig_end(&s->st) != s->c_fin_seq)
        return;
    struct sess_mark *m = gate_peek(s);
    if (m != NULL && seq_le(m->seq, s->c_fin_seq) && !conn_gate(e, s, m))
        return;
    conn_emit(e, s, TCPF_FIN | TCPF_ACK, s->c_fin_seq, 0, false);
    c->flags |= CF_FIN_SENT;
    c->snd_nxt = s->c_fin_seq + 1;
    if (seq_gt(c->snd_nxt, c->snd_max))
        c->snd_max = c->snd_nxt;
}

bool conn_output(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    if (s->state != SS_ESTAB)
        return false;
    output_data(e, s);
    output_fin(e, s);
    /* Bytes held beyond a capture gap are still to come (once the gap is skipped): a
     * client that reset right after a capture loss must not take them with it. */
    if ((s->flags & SF_CLIENT_RST) && c->snd_una == c->snd_max &&
        c->snd_una == stream_contig_end(&s->st) && stream_ooo_bytes(&s->st) == 0)
        return true;
    if (c->snd_una != c->snd_max) {
        if (c->rto_at_us == 0)
            c->rto_at_us = e->now_us + rto_backed_off(c);
    } else {
        c->rto_at_us = 0;
    }
    /* A request waits for the rest of an answer: what came of it is acknowledged at
     * once (see conn_flush_acks), since a target that writes an answer in pieces without
     * TCP_NODELAY holds the rest back until its first bytes are acknowledged (Nagle). */
    if (s->gate_since_us != 0 && c->acked_rcv != c->rcv_nxt)
        conn_ack_later(e, s, false);
    return false;
}

/* ---- acknowledgements and retransmission ------------------------------------- */

/* Retransmit one segment of the hole at seq (bounded by the next SACKed range). */
static uint32_t retransmit_hole(struct eng *e, struct sess *s, uint32_t seq)
{
    struct conn *c = &s->tc;
    uint32_t len = seg_size(e, s);
    uint32_t end = stream_contig_end(&s->st);
    if (seq_gt(end, c->snd_max))
        end = c->snd_max;
    uint32_t lo;
    if (sack_next_lo(c, seq, &lo) && seq_lt(lo, end))
        end = lo;
    if (!seq_lt(seq, end))
        return 0;
    if (seq_gt(seq + len, end))
        len = end - seq;
    send_data(e, s, seq, len, true);
    c->rtt_seq = 0; /* Karn: no RTT sample across a retransmission */
    return len;
}

/* New data acknowledged up to ack. */
static void on_new_ack(struct eng *e, struct sess *s, uint32_t ack)
{
    struct conn *c = &s->tc;
    if (c->flags & CF_HS_SLOT)
        conn_hs_release(e, s); /* the target took our first bytes: it keeps up */
    if (c->rtt_seq != 0 && seq_ge(ack, c->rtt_seq)) {
        rtt_sample(c, e->now_us - c->rtt_t0_us);
        c->rtt_seq = 0;
    }
    c->snd_una = ack;
    if (seq_lt(c->snd_nxt, ack))
        c->snd_nxt = ack;
    sack_prune(c);
    uint32_t ce = stream_contig_end(&s->st);
    stream_release(&s->st, &e->pool, seq_lt(ack, ce) ? ack : ce);
    c->backoff = 0;
    c->dupacks = 0;
    c->rto_at_us = c->snd_una != c->snd_max ? e->now_us + rto_backed_off(c) : 0;
    s->last_progress_us = e->now_us;
    if ((s->flags & SF_CLIENT_FIN) && ack == s->c_fin_seq + 1)
        c->flags |= CF_FIN_ACKED;
    if (!(c->flags & CF_RECOVERY))
        return;
    if (seq_ge(ack, c->recover)) {
        c->flags &= ~CF_RECOVERY;
    } else {
        /* A partial acknowledgement: the next hole is lost too (RFC 6582 3.2). */
        uint32_t n = retransmit_hole(e, s, c->snd_una);
        if (n) {
            e->st.fast_rtx++;
            c->rtx_next = seq_max(c->rtx_next, c->snd_una + n);
        }
    }
}

/* A duplicate acknowledgement: fast retransmit on the third (RFC 5681 3.2), then one
 * SACK hole per further duplicate. */
static void on_dup_ack(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    c->dupacks++;
    if (!(c->flags & CF_RECOVERY) && c->dupacks == 3) {
        c->flags |= CF_RECOVERY;
        c->recover = c->snd_max;
        uint32_t n = retransmit_hole(e, s, c->snd_una);
        if (n)
            e->st.fast_rtx++;
        c->rtx_next = c->snd_una + n;
    } else if ((c->flags & CF_RECOVERY) && c->nsacked) {
        /* Each further duplicate carries SACK news: repair the next hole below the
         * highest SACKed byte, one segment per ACK. */
        uint32_t seq = sack_skip(c, c->rtx_next);
        if (seq_lt(seq, c->sacked[c->nsacked - 1].lo)) {
            uint32_t n = retransmit_hole(e, s, seq);
            if (n) {
                e->st.sack_rtx++;
                c->rtx_next = seq + n;
            }
        }
    }
}

/* The first new ACK after a timeout. If it echoes a timestamp older than the
 * retransmission's, it acknowledges the segments sent before: the timeout was spurious
 * (RFC 3522; our ACKs were late, not lost, when tcpcopy or its channel was busy), and
 * what was in flight need not go again. Until this ACK only one segment went out
 * (CF_RTO_WAIT), so a spurious timeout costs one segment, not a window. */
static void rto_judge(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct conn *c = &s->tc;
    c->flags &= ~CF_RTO_WAIT;
    if (!(c->flags & CF_TS) || !p->opts.has_ts || (int32_t)(p->opts.tsecr - c->rto_tsval) >= 0)
        return;
    e->st.rto_spurious++;
    c->snd_nxt = c->snd_max;
    if ((s->flags & SF_CLIENT_FIN) && seq_gt(c->snd_max, s->c_fin_seq))
        c->flags |= CF_FIN_SENT;
}

void conn_on_ack(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct conn *c = &s->tc;
    uint32_t ack = p->ack;
    if (seq_gt(ack, c->snd_max) || seq_lt(ack, c->snd_una - (1U << 30))) {
        e->st.replies_bad_ack++;
        return;
    }
    uint32_t wnd = (uint32_t)p->win << c->t_ws;
    if ((c->flags & CF_SACK) && p->opts.nsack)
        sack_update(c, &p->opts);
    if (seq_gt(ack, c->snd_una)) {
        if (c->flags & CF_RTO_WAIT)
            rto_judge(e, s, p);
        on_new_ack(e, s, ack);
    }
    else if (ack == c->snd_una && p->data_len == 0 && !(p->flags & (TCPF_FIN | TCPF_SYN)) &&
             wnd == c->snd_wnd && c->snd_una != c->snd_max)
        on_dup_ack(e, s);
    c->snd_wnd = wnd;
}

bool conn_on_rto(struct eng *e, struct sess *s)
{
    struct conn *c = &s->tc;
    if (c->backoff >= RTX_MAX_BACKOFF)
        return false;
    /* Go back to the first unacknowledged byte (RFC 6298 5.4-5.6). */
    e->st.rto_events++;
    c->backoff++;
    c->flags &= ~CF_RECOVERY;
    c->rtt_seq = 0;
    c->dupacks = 0;
    c->snd_nxt = c->snd_una;
    if ((c->flags & CF_FIN_SENT) && seq_le(c->snd_nxt, s->c_fin_seq))
        c->flags &= ~CF_FIN_SENT;
    c->rto_at_us = 0;
    c->flags |= CF_RTO_WAIT;
    c->rto_tsval = ts_value(e, s); /* what the retransmission (sent now) carries */
    return true;
}
