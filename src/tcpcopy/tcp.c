/*
 * tcp: the session engine (see tcp.h). Owns the session table, the pool of
 * queued client bytes and the timer wheel.
 *
 * One session, as the target sees it (we are its client):
 *
 *     client SYN captured           client data first seen mid-stream
 *            |                        v
 *            |                 +-------------+  waits for a request boundary: a data
 *            |                 |    PROBE    |  segment whose ack grew since the client's
 *            |                 +-------------+  previous one (nothing before it is copied)
 *            |                        |  our own SYN (ISN = boundary - 1, -D MSS)
 *            |  register route, send SYN (client's ISN and options)
 *            v
 *     +-------------+  no SYN-ACK after 7 tries: HANDSHAKE_TIMEOUT
 *     |  SYN_SENT   |  (TARGET_REFUSED if the target reset the SYNs)
 *     +-------------+
 *            |  SYN-ACK: send ACK
 *            v
 *     +-------------+  client bytes are queued as captured, and sent in order,
 *     | ESTABLISHED |  within the target's window, each request only once the
 *     +-------------+  target has answered the previous one (see "gate" below);
 *            |         unacknowledged bytes are retransmitted (RTO, 3 dup ACKs)
 *            |  target FIN or RST while client bytes still wait: rebuilt with
 *            |  a new handshake from the first unacknowledged byte (back to SYN_SENT)
 *            |  client FIN delivered and target FIN seen, or client RST,
 *            |  or a timeout
 *            v
 *     +-------------+  stays a moment to ACK a retransmitted FIN and to absorb
 *     |   CLOSED    |  the client's last packets, then is freed (route removed)
 *     +-------------+
 *
 * Sequence numbers: toward the target we keep the client's own sequence
 * numbers, so the captured bytes need no translation; acknowledgement numbers
 * are ours: the end of what the target has sent (RFC 9293 3.4).
 *
 * The gate (gate.c) holds each request until the target has answered the previous
 * one; the SACK scoreboard (sack.c) keeps retransmissions to the holes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "sess.h"
#include "stream.h"
#include "tcp.h"
#include "tcp_impl.h"
#include "wheel.h"
#include "gate.h"
#include "sack.h"


#define RTO_INIT_US 1000000u
/* The retransmission timeout's floor. Lower than the usual 200 ms: a spurious resend
 * costs the target one duplicate segment, while each real loss of a lone request
 * stalls that session until the timer fires, and the copy falls behind production.
 * Still above the 40 ms a Linux receiver may delay its ACK. */
#define RTO_MIN_US 50000u
#define RTO_MAX_US 10000000u
/* A SYN is sent up to 7 times, 0.25, 0.5, 1, 2, 4 and 8 s apart, whether the previous one
 * went unanswered (lost on either path) or was refused (a target restarting); the
 * handshake is given up 16 s after the last one (about 32 s in all). Faster than a
 * kernel's 1 s first retry: until the handshake completes the client's requests only
 * queue, and a duplicate SYN costs the target nothing but another SYN-ACK. */
#define SYN_TRIES 7
#define SYN_RTO_US 250000u
#define RTX_MAX_BACKOFF 12
#define OOO_MAX (1U << 20) /* the largest new hole a segment may open beyond what is held */
#define OWN_WINDOW 65535



static const char *const outcome_names[SO_COUNT] = {
    [SO_NONE] = "none",
    [SO_COMPLETE] = "complete",
    [SO_CLIENT_RESET] = "client_reset",
    [SO_TARGET_RESET] = "target_reset",
    [SO_TARGET_REFUSED] = "target_refused",
    [SO_TARGET_CLOSED] = "target_closed_early",
    [SO_HANDSHAKE_TIMEOUT] = "handshake_timeout",
    [SO_TIMEOUT] = "timeout",
    [SO_IDLE] = "idle",
    [SO_MEMORY] = "memory_limit",
    [SO_SHUTDOWN] = "shutdown",
    [SO_NOT_STARTED] = "not_started",
};

const char *eng_outcome_str(int outcome)
{
    if (outcome < 0 || outcome >= SO_COUNT)
        return "unknown";
    return outcome_names[outcome];
}

void eng_conf_defaults(struct eng_conf *c)
{
    c->mtu = 1500;
    c->max_sessions = 1000000;
    c->mem_max = 512ULL << 20;
    c->sess_mem_max = 256U << 20;
    c->session_timeout_us = 600ULL * 1000000;
    c->idle_timeout_us = 720ULL * 1000000;
    c->answer_timeout_us = 3ULL * 1000000;
    c->linger_us = 2ULL * 1000000;
    c->gap_timeout_us = 2ULL * 1000000;
    c->max_handshakes = 512;
    c->no_wait = false;
    c->syn_only = false;
    c->syn_mss = 1460;
    c->copies = 1;
    c->port_shift = 0;
    c->sample_pct = 100;
    c->ramp = false;
    c->ack_delay_us = 10000;
}

struct eng *eng_new(const struct eng_conf *conf, const struct eng_io *io, uint64_t now_us,
                    uint64_t hash_seed)
{
    struct eng *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->conf = *conf;
    if (e->conf.mtu < 128)
        e->conf.mtu = 128;
    e->io = *io;
    e->now_us = now_us;
    if (sess_table_init(&e->tab, conf->max_sessions, hash_seed) < 0) {
        free(e);
        return NULL;
    }
    chunk_pool_init(&e->pool, conf->mem_max);
    stale_init(&e->stale, hash_seed ^ 0x5354414c45ULL);
    TAILQ_INIT(&e->hs_queue);
    wheel_init(&e->wheel, now_us / 1000);
    e->ip_id = (uint16_t)hash_seed;
    e->t_start_us = now_us;
    if (e->conf.copies == 0)
        e->conf.copies = 1;
    return e;
}

void eng_free(struct eng *e)
{
    if (e == NULL)
        return;
    struct sess *s;
    while ((s = TAILQ_FIRST(&e->tab.all)) != NULL) {
        stream_clear(&s->st, &e->pool);
        sess_del(&e->tab, s);
    }
    sess_table_free(&e->tab);
    chunk_pool_free(&e->pool);
    stale_free(&e->stale);
    free(e);
}

/* ---- small helpers ---------------------------------------------------- */

static const struct gate_conf *gate_conf_of(struct eng *e)
{
    e->gate.no_wait = e->conf.no_wait;
    e->gate.answer_timeout_us = e->conf.answer_timeout_us;
    e->gate.now_us = e->now_us;
    return &e->gate;
}

static uint32_t seg_size(const struct eng *e, const struct sess *s)
{
    uint32_t hdr = (s->tkey.src.af == AF_INET6 ? PKT_IP6_HLEN : PKT_IP4_HLEN) + PKT_TCP_HLEN;
    if (s->flags & SF_TS)
        hdr += 12;
    uint32_t mss = s->t_mss ? s->t_mss : 536; /* RFC 9293 3.7.1 default */
    uint32_t room = e->conf.mtu > hdr + 1 ? e->conf.mtu - hdr : 1;
    return mss < room ? mss : room;
}

static uint32_t ts_value(const struct eng *e, const struct sess *s)
{
    /* Our clock ticks in milliseconds from the client's own SYN value: monotonic
     * per session, as PAWS on the target requires (RFC 7323 5). */
    return s->c_tsval0 + (uint32_t)((e->now_us - s->t0_us) / 1000);
}

static void route_notify(struct eng *e, const struct sess *s, bool add)
{
    struct chan_route r;
    r.client = s->tkey.src;
    r.cport = s->tkey.sport;
    r.target = s->tkey.dst;
    r.tport = s->tkey.dport;
    e->io.route(e->io.arg, add, &r);
}

/*
 * Build and hand over one segment toward the target. len bytes of client data
 * from seq are copied straight from the queue into the sender's buffer.
 */
void eng_emit(struct eng *e, struct sess *s, uint8_t flags, uint32_t seq, uint32_t len,
                 bool syn_opts)
{
    size_t cap = 0;
    uint8_t *buf = e->io.pkt_buf(e->io.arg, &cap);
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    sp.t = s->tkey;
    sp.seq = seq;
    sp.flags = flags;
    sp.ack = (flags & TCPF_ACK) ? s->rcv_nxt : 0;
    sp.win = (s->flags & SF_FAKED) ? OWN_WINDOW : s->c_win;
    sp.ip_id = e->ip_id++;
    if (syn_opts) {
        if (s->c_mss) {
            sp.opt_mss = true;
            sp.opts.mss = s->c_mss;
        }
        sp.opt_ws = (s->flags & SF_C_WS) != 0;
        sp.opts.wscale = s->c_ws;
        sp.opt_sack_ok = (s->flags & SF_C_SACK) != 0;
        if (s->flags & SF_C_TS) {
            sp.opt_ts = true;
            sp.opts.tsval = ts_value(e, s);
            sp.opts.tsecr = 0;
        }
    } else if (s->flags & SF_TS) {
        sp.opt_ts = true;
        sp.opts.tsval = ts_value(e, s);
        sp.opts.tsecr = s->ts_recent;
    }
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
        s->acked_rcv = s->rcv_nxt;
        s->ack_at_us = 0;
    }
}

static void ack_now(struct eng *e, struct sess *s)
{
    eng_emit(e, s, TCPF_ACK, s->snd_nxt, 0, false);
    e->st.sent_acks++;
}

/* Owe the target an ACK at the end of this batch; force: even a repeated one (a
 * keepalive probe or a repeated SYN-ACK asks for exactly that). */
static void ack_later(struct eng *e, struct sess *s, bool force)
{
    if (force)
        s->flags |= SF_ACK_FORCE;
    if (s->flags & SF_ACK_PENDING)
        return;
    s->flags |= SF_ACK_PENDING;
    s->next_ack = e->ack_list;
    e->ack_list = s;
}

static void ack_list_remove(struct eng *e, struct sess *s)
{
    if (!(s->flags & SF_ACK_PENDING))
        return;
    for (struct sess **pp = &e->ack_list; *pp != NULL; pp = &(*pp)->next_ack) {
        if (*pp == s) {
            *pp = s->next_ack;
            break;
        }
    }
    s->flags &= ~SF_ACK_PENDING;
}

/* ---- timers and the end of a session ---------------------------------- */

static void rtt_sample(struct sess *s, uint64_t rtt)
{
    /* RFC 6298 2.2-2.3 with alpha 1/8, beta 1/4. */
    uint32_t r = rtt > 60000000 ? 60000000 : (uint32_t)rtt;
    if (s->srtt_us == 0) {
        s->srtt_us = r ? r : 1;
        s->rttvar_us = r / 2;
    } else {
        uint32_t d = s->srtt_us > r ? s->srtt_us - r : r - s->srtt_us;
        s->rttvar_us = (3 * s->rttvar_us + d) / 4;
        s->srtt_us = (7 * s->srtt_us + r) / 8;
    }
    uint64_t rto = (uint64_t)s->srtt_us + 4 * (uint64_t)s->rttvar_us;
    if (rto < RTO_MIN_US)
        rto = RTO_MIN_US;
    if (rto > RTO_MAX_US)
        rto = RTO_MAX_US;
    s->rto_us = (uint32_t)rto;
}

static uint32_t rto_backed_off(const struct sess *s)
{
    uint64_t rto = (uint64_t)s->rto_us << s->backoff;
    return rto > RTO_MAX_US ? RTO_MAX_US : (uint32_t)rto;
}

static bool has_pending_data(const struct sess *s)
{
    return s->snd_una != s->snd_max || seq_lt(s->snd_max, stream_contig_end(&s->st)) ||
           ((s->flags & SF_CLIENT_FIN) && !(s->flags & SF_FIN_ACKED));
}

/* Client bytes the target has not acknowledged (sent or not). */
static bool bytes_waiting(const struct sess *s)
{
    return seq_lt(s->snd_una, stream_contig_end(&s->st));
}

static void schedule(struct eng *e, struct sess *s)
{
    uint64_t d = UINT64_MAX;
    if (s->state == SS_CLOSED) {
        d = s->last_active_us + e->conf.linger_us;
    } else {
        if (s->ack_at_us && s->ack_at_us < d)
            d = s->ack_at_us;
        if (s->rto_at_us)
            d = s->rto_at_us;
        if (s->gate_since_us) {
            /* An answer wait that has already run out needs no timer: the gate opens as
             * soon as output() reaches it (the window or a retransmission may be what
             * holds it back now), and re-arming a past deadline would spin. */
            uint64_t g = s->gate_since_us + e->conf.answer_timeout_us;
            uint64_t q = s->last_resp_us + gate_quiet_us(s);
            if (gate_answer_bytes(s) != s->resp_at_mark && q < g)
                g = q;
            if (g > e->now_us && g < d)
                d = g;
        }
        if ((s->flags & SF_FIN_ACKED) && !(s->flags & SF_TARGET_FIN)) {
            uint64_t t = s->last_progress_us + e->conf.linger_us;
            if (t < d)
                d = t;
        }
        if (s->hole_since_us) {
            /* Unlike an answer wait, a gap whose time has come is acted on when the timer
             * fires (skipped, or the session starts over), so a deadline already past is
             * kept: it fires on the next tick and cannot spin. */
            uint64_t t = restart_gap_due(e, s);
            if (t < d)
                d = t;
        }
        uint64_t idle = s->last_active_us + e->conf.idle_timeout_us;
        if (idle < d)
            d = idle;
        if (has_pending_data(s)) {
            uint64_t t = s->last_progress_us + e->conf.session_timeout_us;
            if (t < d)
                d = t;
        }
    }
    /* Round up so a timer never fires a hair early and spins. */
    wheel_set(&e->wheel, &s->timer, (d + 999) / 1000);
}

/*
 * The session is over: record why, reset the target side if it is still open and
 * the end was not graceful, free the queued bytes, and linger.
 */
void eng_finish(struct eng *e, struct sess *s, int outcome, bool send_rst)
{
    if (s->state == SS_CLOSED)
        return;
    if (send_rst && (s->state == SS_SYN_SENT || s->state == SS_ESTAB) &&
        !(s->flags & (SF_TARGET_RST | SF_RST_SENT))) {
        eng_emit(e, s, TCPF_RST | TCPF_ACK, s->snd_nxt, 0, false);
        s->flags |= SF_RST_SENT;
        e->st.sent_rsts++;
    }
    s->outcome = (uint8_t)outcome;
    e->st.outcome[outcome]++;
    if (s->state != SS_PROBE) {
        uint32_t held = stream_held_bytes(&s->st);
        if (held > 0) {
            /* Each mark not passed starts a request; the bytes before the first
             * one are the rest of the request in progress. */
            const struct sess_mark *m = gate_peek(s);
            e->st.lost_requests[outcome] += s->nmarks + (m == NULL || m->seq != stream_start(&s->st));
            e->st.lost_bytes[outcome] += held;
        }
    }
    eng_hs_release(e, s);
    s->state = SS_CLOSED;
    s->rto_at_us = 0;
    s->ack_at_us = 0;
    s->gate_since_us = 0;
    stream_clear(&s->st, &e->pool);
    free(s->marks);
    s->marks = NULL;
    s->nmarks = s->marks_cap = s->mark_head = 0;
    s->last_active_us = e->now_us;
    log_debug("session %u -> %u: %s", s->ckey.sport, s->tkey.dport, eng_outcome_str(outcome));
}

static void sess_free(struct eng *e, struct sess *s)
{
    eng_hs_release(e, s);
    ack_list_remove(e, s);
    wheel_del(&e->wheel, &s->timer);
    stream_clear(&s->st, &e->pool);
    if (s->flags & SF_ROUTED)
        route_notify(e, s, false);
    sess_del(&e->tab, s);
    e->st.sess_freed++;
}

/* ---- sending ------------------------------------------------------------ */

static void send_data(struct eng *e, struct sess *s, uint32_t seq, uint32_t len, bool psh)
{
    eng_emit(e, s, TCPF_ACK | (psh ? TCPF_PSH : 0), seq, len, false);
    if (seq_lt(seq, s->snd_max)) {
        e->st.rtx_packets++;
    } else {
        e->st.sent_payload_bytes += len;
        s->bytes_out += len;
    }
}

/*
 * Send what may be sent: queued client bytes up to the next request boundary the
 * target has not answered yet, within the target's window, then the client's FIN
 * or RST once everything before it is out.
 */
static void output(struct eng *e, struct sess *s)
{
    if (s->state != SS_ESTAB)
        return;
    uint32_t mss = seg_size(e, s);
    for (;;) {
        uint32_t avail = stream_contig_end(&s->st);
        struct sess_mark *m = gate_peek(s);
        if (m != NULL && seq_le(m->seq, s->snd_nxt)) {
            if (!gate_open(s, m, gate_conf_of(e), &e->st))
                break;
            gate_pass(s, m);
            continue;
        }
        if (s->nsacked && seq_lt(s->snd_nxt, s->snd_max)) {
            /* Resending after a timeout: what the target SACKed needs no second copy. */
            uint32_t skip = sack_skip(s, s->snd_nxt);
            if (skip != s->snd_nxt) {
                s->snd_nxt = skip;
                continue;
            }
        }
        uint32_t lim = avail;
        if (m != NULL && seq_lt(m->seq, lim))
            lim = m->seq;
        uint32_t sacked_lo;
        if (seq_lt(s->snd_nxt, s->snd_max) && sack_next_lo(s, s->snd_nxt, &sacked_lo) &&
            seq_lt(sacked_lo, lim))
            lim = sacked_lo;
        /* With nothing in flight a zero window still lets one byte through: the
         * probe that learns when the window reopens (RFC 9293 3.8.6.1). */
        uint32_t wnd = s->snd_wnd;
        if (wnd == 0 && s->snd_una == s->snd_max)
            wnd = 1;
        uint32_t wnd_end = s->snd_una + wnd;
        if (seq_gt(lim, wnd_end))
            lim = wnd_end;
        if (!seq_lt(s->snd_nxt, lim))
            break;
        uint32_t len = lim - s->snd_nxt;
        if (len > mss)
            len = mss;
        bool psh = s->snd_nxt + len == lim;
        if (s->rtt_seq == 0 && !seq_lt(s->snd_nxt, s->snd_max)) {
            s->rtt_seq = s->snd_nxt + len;
            s->rtt_t0_us = e->now_us;
        }
        send_data(e, s, s->snd_nxt, len, psh);
        s->snd_nxt += len;
        if (seq_gt(s->snd_nxt, s->snd_max))
            s->snd_max = s->snd_nxt;
    }

    if ((s->flags & SF_CLIENT_FIN) && !(s->flags & SF_FIN_SENT) && s->snd_nxt == s->c_fin_seq &&
        stream_contig_end(&s->st) == s->c_fin_seq) {
        struct sess_mark *m = gate_peek(s);
        bool go = true;
        if (m != NULL && seq_le(m->seq, s->c_fin_seq)) {
            go = gate_open(s, m, gate_conf_of(e), &e->st);
            if (go)
                gate_pass(s, m);
        }
        if (go) {
            eng_emit(e, s, TCPF_FIN | TCPF_ACK, s->c_fin_seq, 0, false);
            s->flags |= SF_FIN_SENT;
            s->snd_nxt = s->c_fin_seq + 1;
            if (seq_gt(s->snd_nxt, s->snd_max))
                s->snd_max = s->snd_nxt;
        }
    }

    /* Bytes held beyond a capture gap are still to come (once the gap is skipped): a
     * client that reset right after a capture loss must not take them with it. */
    if ((s->flags & SF_CLIENT_RST) && s->snd_una == s->snd_max &&
        s->snd_una == stream_contig_end(&s->st) && stream_ooo_bytes(&s->st) == 0) {
        eng_finish(e, s, SO_CLIENT_RESET, true);
        return;
    }

    if (s->snd_una != s->snd_max) {
        if (s->rto_at_us == 0)
            s->rto_at_us = e->now_us + rto_backed_off(s);
    } else {
        s->rto_at_us = 0;
    }
    /* A request waits for the rest of an answer: what came of it is acknowledged at
     * once (see eng_flush), since a target that writes an answer in pieces without
     * TCP_NODELAY holds the rest back until its first bytes are acknowledged (Nagle). */
    if (s->gate_since_us != 0 && s->acked_rcv != s->rcv_nxt)
        ack_later(e, s, false);
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
void eng_send_syn(struct eng *e, struct sess *s)
{
    if (!(s->flags & SF_HS_SLOT)) {
        if (e->hs_active >= e->conf.max_handshakes) {
            if (!(s->flags & SF_HS_WAIT)) {
                TAILQ_INSERT_TAIL(&e->hs_queue, s, hs_wait);
                s->flags |= SF_HS_WAIT;
                e->st.syn_waits++;
                e->st.syn_waiting++;
            }
            s->rto_at_us = 0;
            return;
        }
        s->flags |= SF_HS_SLOT;
        e->hs_active++;
    }
    eng_emit(e, s, TCPF_SYN, s->c_isn, 0, true);
    s->syn_tries++;
    s->rto_at_us = e->now_us + ((uint64_t)SYN_RTO_US << (s->syn_tries - 1));
}

static void schedule(struct eng *e, struct sess *s);

void eng_hs_release(struct eng *e, struct sess *s)
{
    if (s->flags & SF_HS_WAIT) {
        TAILQ_REMOVE(&e->hs_queue, s, hs_wait);
        s->flags &= ~SF_HS_WAIT;
        e->st.syn_waiting--;
    }
    if (!(s->flags & SF_HS_SLOT))
        return;
    s->flags &= ~SF_HS_SLOT;
    e->hs_active--;
    struct sess *n;
    while (e->hs_active < e->conf.max_handshakes && (n = TAILQ_FIRST(&e->hs_queue)) != NULL) {
        TAILQ_REMOVE(&e->hs_queue, n, hs_wait);
        n->flags &= ~SF_HS_WAIT;
        e->st.syn_waiting--;
        eng_send_syn(e, n);
        schedule(e, n);
    }
}

/* ---- capture side ------------------------------------------------------- */

/*
 * The client port copy `copy` of a session from port sport uses toward the target,
 * on attempt `attempt`. Copy 0 of the only instance keeps the port; the others are
 * spread over 1024-65535 by copy number and by -f, so instances and copies do not
 * meet; a collision anyway makes the caller try the next attempt.
 */
static uint16_t copy_port(const struct eng *e, uint16_t sport, uint16_t copy, unsigned attempt)
{
    if (copy == 0 && e->conf.port_shift == 0 && attempt == 0)
        return sport;
    const uint32_t span = 65536 - 1024;
    uint32_t step = span / e->conf.copies;
    uint32_t base = sport >= 1024 ? sport - 1024u : sport;
    /* copy = epoch * copies + n: copies are spread a step apart, epochs (-T passes) by
     * a prime offset, instances (-f) by another. */
    uint32_t off = base + (uint32_t)(copy % e->conf.copies) * step +
                   (uint32_t)(copy / e->conf.copies) * 4099u +
                   (uint32_t)e->conf.port_shift * 61u + attempt * 7919u;
    return (uint16_t)(1024 + off % span);
}

#define PLACE_ATTEMPTS 8

/* A new session for client packet p under rule r (copy number copy), linked in the
 * table, in no state yet. NULL (counted) if it cannot be placed. */
static struct sess *sess_alloc(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                               uint16_t copy)
{
    /* Past 90% of the queue memory bound, new sessions are refused: the ones in
     * flight keep the memory they need to finish. */
    if (chunk_pool_bytes(&e->pool) > e->conf.mem_max / 10 * 9) {
        e->st.sess_refused_memory++;
        log_warnx_rl(&e->rl_refuse, e->now_us,
                     "memory limit: %zu of %llu bytes queued, new sessions refused",
                     chunk_pool_bytes(&e->pool), (unsigned long long)e->conf.mem_max);
        return NULL;
    }
    struct tuple tkey;
    const struct addr *fake = e->conf.cmap ? cmap_pick_copy(e->conf.cmap, &p->t.src, copy) : NULL;
    if (fake == NULL && addr_is_loopback(&p->t.src) && !addr_is_any(&e->conf.localhost))
        fake = &e->conf.localhost;
    tkey.src = fake ? *fake : p->t.src;
    tkey.dst = r->target;
    tkey.dport = r->target_port;
    if (tkey.src.af != tkey.dst.af) {
        e->st.sess_family_mismatch++;
        return NULL;
    }
    unsigned attempt;
    for (attempt = 0; attempt < PLACE_ATTEMPTS; attempt++) {
        tkey.sport = copy_port(e, p->t.sport, copy, attempt);
        if (stale_has(&e->stale, &tkey, e->now_us)) {
            e->st.sess_stale_avoided++;
            continue;
        }
        struct sess *old = sess_find_t(&e->tab, &tkey);
        if (old == NULL)
            break;
        if (old->state == SS_CLOSED) {
            sess_free(e, old);
            break;
        }
        /* Two sessions that map to one rewritten address and port: try another port. */
        e->st.sess_collisions++;
    }
    if (attempt == PLACE_ATTEMPTS) {
        e->st.sess_unplaced++;
        log_warnx_rl(&e->rl_coll, e->now_us,
                     "no free client port toward the target for port %u (copy %u): not copied",
                     p->t.sport, copy);
        return NULL;
    }
    struct sess *s = sess_new(&e->tab, &p->t, copy, &tkey);
    if (s == NULL) {
        e->st.sess_table_full++;
        log_warnx_rl(&e->rl_full, e->now_us, "session table full (%zu): new session not copied",
                     e->tab.count);
        return NULL;
    }
    s->c_win = p->win;
    s->t0_us = e->now_us;
    s->last_active_us = s->last_progress_us = e->now_us;
    s->rto_us = RTO_INIT_US;
    return s;
}

/*
 * The target still holds this session's tuple (its ACK of an older connection answered our
 * SYN, or the SYN went unanswered): note it, and move the session to a free tuple with
 * another client port, its route re-registered. The queued bytes stay. False if no port was
 * free within PLACE_ATTEMPTS (the caller retries on the same tuple).
 */
static bool sess_move(struct eng *e, struct sess *s)
{
    const uint32_t span = 65536 - 1024;
    struct tuple k = s->tkey;
    stale_note(&e->stale, &s->tkey, e->now_us);
    for (unsigned i = 1; i <= PLACE_ATTEMPTS; i++) {
        uint32_t base = s->tkey.sport >= 1024 ? s->tkey.sport - 1024u : s->tkey.sport;
        k.sport = (uint16_t)(1024 + (base + i * 7919u) % span);
        if (sess_find_t(&e->tab, &k) != NULL || stale_has(&e->stale, &k, e->now_us))
            continue;
        if (s->flags & SF_ROUTED)
            route_notify(e, s, false);
        sess_retarget(&e->tab, s, &k);
        route_notify(e, s, true);
        s->flags |= SF_ROUTED;
        e->st.sess_moved++;
        return true;
    }
    return false;
}

/* Start toward the target with the ISN isn: register the route, send the SYN. */
void eng_start(struct eng *e, struct sess *s, uint32_t isn)
{
    s->state = SS_SYN_SENT;
    s->c_isn = isn;
    s->snd_una = s->snd_nxt = s->snd_max = isn;
    stream_init(&s->st, isn + 1);
    route_notify(e, s, true);
    s->flags |= SF_ROUTED;
    eng_send_syn(e, s);
}

static struct sess *sess_create(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                                uint16_t copy)
{
    struct sess *s = sess_alloc(e, p, r, copy);
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
    eng_start(e, s, p->seq);
    return s;
}

static void client_data(struct eng *e, struct sess *s, const struct pkt *p)
{
    uint32_t seq = p->seq;
    uint32_t before_end = stream_end(&s->st);
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
    gate_note(s, p, seq_lt(seq, stream_start(&s->st)) ? stream_start(&s->st) : seq, &e->st);
    int n = stream_put(&s->st, &e->pool, seq, p->data, p->data_len, e->conf.sess_mem_max);
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
    if (p->flags & TCPF_ACK)
        s->c_last_ack = p->ack;
    if ((uint32_t)n < p->data_len)
        e->st.cap_dup_bytes += p->data_len - (uint32_t)n;
    if (n > 0 && seq_gt(seq, before_end))
        e->st.cap_ooo_segments++;
    if (stream_ooo_bytes(&s->st) == 0)
        s->hole_since_us = 0;
    else if (s->hole_since_us == 0)
        s->hole_since_us = e->now_us;
}

/*
 * -r and -g: is this client session one to copy? Decided from its address and port
 * with a fixed hash, so every packet of a session (and every run) agrees.
 */
static bool sampled(const struct eng *e, const struct pkt *p)
{
    unsigned pct = e->conf.sample_pct;
    if (e->conf.ramp) {
        uint64_t ramp = 1 + (e->now_us - e->t_start_us) / 1000000;
        if (ramp < pct)
            pct = (unsigned)ramp;
    }
    if (pct >= 100)
        return true;
    uint8_t key[18];
    memcpy(key, p->t.src.u.b, 16);
    key[16] = (uint8_t)(p->t.sport >> 8);
    key[17] = (uint8_t)p->t.sport;
    return hash_bytes(key, sizeof(key), 0x7463706379ULL) % 100 < pct;
}

static void capture_one(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                        uint16_t copy, uint64_t now_us);

void eng_on_capture(struct eng *e, const struct pkt *p, uint64_t now_us)
{
    e->now_us = now_us;
    e->st.cap_packets++;
    const struct xfer_rule *r = xfer_match(e->conf.xfer, &p->t.dst, p->t.dport);
    if (r == NULL) {
        e->st.cap_ignored++;
        return;
    }
    if (!sampled(e, p)) {
        e->st.cap_sampled_out++;
        return;
    }
    for (uint16_t copy = 0; copy < e->conf.copies; copy++)
        capture_one(e, p, r, (uint16_t)(e->epoch * e->conf.copies + copy), now_us);
}

void eng_set_epoch(struct eng *e, uint16_t epoch)
{
    e->epoch = epoch;
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
        if (s->state != SS_CLOSED && s->state != SS_PROBE && has_pending_data(s)) {
            /* The client opened a new connection from the port of one whose replay is
             * still behind (the copy lags the online server in a burst). Both go on: the
             * old one keeps its target tuple and finishes its backlog, no longer fed by
             * the capture; the new one takes another target port. */
            sess_detach_c(&e->tab, s);
            e->st.sess_overlapped++;
        } else {
            if (s->state != SS_CLOSED)
                eng_finish(e, s, s->state == SS_PROBE ? SO_NOT_STARTED : SO_COMPLETE, true);
            sess_free(e, s);
        }
    }
    s = sess_create(e, p, r, copy);
    if (s != NULL)
        schedule(e, s);
}

static void capture_one(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                        uint16_t copy, uint64_t now_us)
{
    struct sess *s = sess_find_c(&e->tab, &p->t, copy);

    if (p->flags & TCPF_SYN) {
        capture_syn(e, s, p, r, copy);
        return;
    }

    if (s != NULL && s->state == SS_CLOSED) {
        /* After a graceful end the client's last packets are stragglers. After the
         * target failed it, a client that keeps talking is copied again, as a
         * session first seen mid-stream. */
        bool graceful = s->outcome == SO_COMPLETE || s->outcome == SO_CLIENT_RESET ||
                        s->outcome == SO_NOT_STARTED || s->outcome == SO_SHUTDOWN;
        if (graceful || p->data_len == 0 || e->conf.syn_only) {
            e->st.cap_after_close++;
            return;
        }
        uint32_t last_ack = s->c_last_ack;
        sess_free(e, s);
        s = sess_alloc(e, p, r, copy);
        if (s == NULL)
            return;
        s->state = SS_PROBE;
        s->ack_base = last_ack; /* so this very segment can be a request boundary */
        s->flags |= SF_PROBE_DATA;
    }
    if (s == NULL) {
        if (p->flags & TCPF_RST)
            return;
        if (e->conf.syn_only || (p->flags & TCPF_FIN)) {
            e->st.cap_no_syn++;
            return;
        }
        s = sess_alloc(e, p, r, copy);
        if (s == NULL)
            return;
        s->state = SS_PROBE;
        s->ack_base = p->ack;
    }
    if (s->state == SS_PROBE) {
        s->last_active_us = now_us;
        restart_probe(e, s, p);
        if (s->state == SS_CLOSED || s->state == SS_PROBE) {
            schedule(e, s);
            return;
        }
    }
    sess_touch(&e->tab, s, now_us);
    if (!(p->flags & TCPF_RST))
        s->c_win = p->win; /* a reset's window (0) says nothing about the client's */

    if (p->flags & TCPF_ACK && !(s->flags & SF_HAVE_ACKBASE)) {
        s->ack_base = p->ack;
        s->flags |= SF_HAVE_ACKBASE;
        if (!(s->flags & SF_FAKED)) /* the handshake ACK, one client round trip after its SYN */
            s->c_rtt_us = (uint32_t)(now_us - s->t0_us < UINT32_MAX ? now_us - s->t0_us + 1
                                                                      : UINT32_MAX);
    }
    if (p->flags & TCPF_RST) {
        /* Deliver what came before the reset, then reset (output() does it). */
        s->flags |= SF_CLIENT_RST;
        if (s->state == SS_SYN_SENT && !bytes_waiting(s)) {
            eng_finish(e, s, SO_CLIENT_RESET, true);
            schedule(e, s);
            return;
        }
        /* Bytes are queued (even before the handshake finished): they were sent to
         * the online server, so they go to the target before the reset does. */
    } else {
        if (p->data_len > 0 && p->data != NULL)
            client_data(e, s, p);
        if (s->state == SS_CLOSED) {
            schedule(e, s);
            return;
        }
        if ((p->flags & TCPF_FIN) && !(s->flags & SF_CLIENT_FIN)) {
            s->flags |= SF_CLIENT_FIN;
            s->c_fin_seq = p->seq + p->data_len;
            gate_note(s, p, s->c_fin_seq, &e->st);
        }
    }
    output(e, s);
    schedule(e, s);
}

/* ---- reply side ----------------------------------------------------------- */

static void establish(struct eng *e, struct sess *s, const struct pkt *p)
{
    s->t_isn = p->seq;
    s->rcv_nxt = p->seq + 1;
    s->t_mss = p->opts.has_mss ? p->opts.mss : 536;
    /* Window scaling only if both offered it (RFC 7323 2.2); the SYN-ACK's own
     * window is never scaled. */
    if ((s->flags & SF_C_WS) && p->opts.has_ws) {
        s->t_ws = p->opts.wscale;
    } else {
        s->t_ws = 0;
    }
    if ((s->flags & SF_C_TS) && p->opts.has_ts) {
        s->flags |= SF_TS;
        s->ts_recent = p->opts.tsval;
    }
    if ((s->flags & SF_C_SACK) && p->opts.sack_ok)
        s->flags |= SF_SACK;
    s->snd_una = s->snd_nxt = s->snd_max = s->c_isn + 1;
    s->snd_wnd = p->win;
    if (s->syn_tries == 1)
        rtt_sample(s, e->now_us - s->t0_us);
    s->backoff = 0;
    s->rto_at_us = 0;
    /* The slot is kept until the target acknowledges our first bytes: a target whose
     * accept queue is full completes handshakes in its kernel but drops what follows (and
     * keeps resending its SYN-ACK), so an answered SYN alone does not show it is keeping
     * up. A session with nothing to send yet needs no proof. */
    if (!bytes_waiting(s))
        eng_hs_release(e, s);
    s->state = SS_ESTAB;
    s->last_progress_us = e->now_us;
    ack_now(e, s);
}

/* Retransmit one segment of the hole at seq (bounded by the next SACKed range). */
static uint32_t retransmit_hole(struct eng *e, struct sess *s, uint32_t seq)
{
    uint32_t len = seg_size(e, s);
    uint32_t end = stream_contig_end(&s->st);
    if (seq_gt(end, s->snd_max))
        end = s->snd_max;
    uint32_t lo;
    if (sack_next_lo(s, seq, &lo) && seq_lt(lo, end))
        end = lo;
    if (!seq_lt(seq, end))
        return 0;
    if (seq_gt(seq + len, end))
        len = end - seq;
    send_data(e, s, seq, len, true);
    s->rtt_seq = 0; /* Karn: no RTT sample across a retransmission */
    return len;
}

static void on_ack(struct eng *e, struct sess *s, const struct pkt *p)
{
    uint32_t ack = p->ack;
    if (seq_gt(ack, s->snd_max) || seq_lt(ack, s->snd_una - (1U << 30))) {
        e->st.replies_bad_ack++;
        return;
    }
    uint32_t wnd = (uint32_t)p->win << s->t_ws;
    if ((s->flags & SF_SACK) && p->opts.nsack)
        sack_update(s, &p->opts);
    if (seq_gt(ack, s->snd_una)) {
        if (s->flags & SF_HS_SLOT)
            eng_hs_release(e, s); /* the target took our first bytes: it keeps up */
        if (s->rtt_seq != 0 && seq_ge(ack, s->rtt_seq)) {
            rtt_sample(s, e->now_us - s->rtt_t0_us);
            s->rtt_seq = 0;
        }
        s->snd_una = ack;
        if (seq_lt(s->snd_nxt, ack))
            s->snd_nxt = ack;
        sack_prune(s);
        uint32_t ce = stream_contig_end(&s->st);
        stream_release(&s->st, &e->pool, seq_lt(ack, ce) ? ack : ce);
        s->backoff = 0;
        s->dupacks = 0;
        s->rto_at_us = s->snd_una != s->snd_max ? e->now_us + rto_backed_off(s) : 0;
        s->last_progress_us = e->now_us;
        if ((s->flags & SF_CLIENT_FIN) && ack == s->c_fin_seq + 1)
            s->flags |= SF_FIN_ACKED;
        if (s->flags & SF_RECOVERY) {
            if (seq_ge(ack, s->recover)) {
                s->flags &= ~SF_RECOVERY;
            } else {
                /* A partial acknowledgement: the next hole is lost too (RFC 6582 3.2). */
                uint32_t n = retransmit_hole(e, s, s->snd_una);
                if (n) {
                    e->st.fast_rtx++;
                    s->rtx_next = seq_max(s->rtx_next, s->snd_una + n);
                }
            }
        }
    } else if (ack == s->snd_una && p->data_len == 0 && !(p->flags & (TCPF_FIN | TCPF_SYN)) &&
               wnd == s->snd_wnd && s->snd_una != s->snd_max) {
        s->dupacks++;
        if (!(s->flags & SF_RECOVERY) && s->dupacks == 3) {
            /* Fast retransmit on the third duplicate (RFC 5681 3.2). */
            s->flags |= SF_RECOVERY;
            s->recover = s->snd_max;
            uint32_t n = retransmit_hole(e, s, s->snd_una);
            if (n)
                e->st.fast_rtx++;
            s->rtx_next = s->snd_una + n;
        } else if ((s->flags & SF_RECOVERY) && s->nsacked) {
            /* Each further duplicate carries SACK news: repair the next hole below the
             * highest SACKed byte, one segment per ACK. */
            uint32_t seq = sack_skip(s, s->rtx_next);
            if (seq_lt(seq, s->sacked[s->nsacked - 1].lo)) {
                uint32_t n = retransmit_hole(e, s, seq);
                if (n) {
                    e->st.sack_rtx++;
                    s->rtx_next = seq + n;
                }
            }
        }
    }
    s->snd_wnd = wnd;
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
        /* A retransmitted FIN or late data after a graceful end: acknowledge it. */
        if (!(s->flags & (SF_RST_SENT | SF_TARGET_RST)) && !(p->flags & TCPF_RST) &&
            (p->data_len > 0 || (p->flags & TCPF_FIN))) {
            uint32_t end = p->seq + p->data_len + ((p->flags & TCPF_FIN) ? 1 : 0);
            if (seq_gt(end, s->rcv_nxt))
                s->rcv_nxt = end;
            ack_now(e, s);
        }
        return;
    }
    s->last_active_us = now_us;
    sess_touch(&e->tab, s, now_us);

    if (p->flags & TCPF_RST) {
        s->flags |= SF_TARGET_RST;
        if (s->state == SS_SYN_SENT) {
            /* Refused: the target may be restarting. Keep the session (and what the
             * client keeps sending, within bounds) and try again a little later. */
            if (s->syn_tries < SYN_TRIES) {
                s->flags &= ~SF_TARGET_RST;
                s->rto_at_us = e->now_us + ((uint64_t)SYN_RTO_US << (s->syn_tries - 1));
                s->refused = true;
                e->st.syn_refused_retries++;
            } else {
                eng_finish(e, s, SO_TARGET_REFUSED, false);
            }
        }
        else if (bytes_waiting(s) && !(s->flags & SF_CLIENT_RST) && restart_rebuild(e, s))
            ; /* a new connection carries on */
        else if (has_pending_data(s))
            eng_finish(e, s, SO_TARGET_RESET, false);
        else
            eng_finish(e, s, (s->flags & SF_CLIENT_FIN) ? SO_COMPLETE : SO_TARGET_RESET, false);
        schedule(e, s);
        return;
    }
    if (s->state == SS_SYN_SENT) {
        if ((p->flags & (TCPF_SYN | TCPF_ACK)) == (TCPF_SYN | TCPF_ACK) &&
            p->ack == s->c_isn + 1) {
            establish(e, s, p);
            output(e, s);
        } else if ((p->flags & (TCPF_SYN | TCPF_ACK)) == TCPF_ACK) {
            /* An ACK of an older connection on this tuple answers our SYN: the target
             * holds it in TIME-WAIT (RFC 9293 3.10.7.4; a SYN whose ISN is not above the
             * old connection's end is not accepted) or half-open. A client's kernel would
             * reset it and try the same tuple a second later; a copy cannot wait. The
             * RST (with the sequence number the ACK asks for) clears the old entry, and
             * the SYN goes out again at once on a fresh tuple. */
            e->st.syn_stale_tuples++;
            eng_emit(e, s, TCPF_RST, p->ack, 0, false);
            e->st.sent_rsts++;
            if (s->syn_tries < SYN_TRIES) {
                sess_move(e, s);
                eng_send_syn(e, s);
            }
        }
        schedule(e, s);
        return;
    }
    if (p->flags & TCPF_SYN) {
        ack_later(e, s, true); /* our handshake ACK was lost: the target repeats its SYN-ACK */
        schedule(e, s);
        return;
    }
    if ((s->flags & SF_TS) && p->opts.has_ts && seq_ge(p->opts.tsval, s->ts_recent))
        s->ts_recent = p->opts.tsval;
    if (p->flags & TCPF_ACK)
        on_ack(e, s, p);
    if (p->data_len == 0 && !(p->flags & TCPF_FIN) && seq_lt(p->seq, s->rcv_nxt))
        ack_later(e, s, true); /* a keepalive probe (RFC 9293 3.8.4): answer it */
    if (p->data_len > 0 || (p->flags & TCPF_FIN)) {
        uint32_t end = p->seq + p->data_len;
        e->st.replies_data_bytes += p->data_len;
        if (s->flags & SF_HS_SLOT)
            eng_hs_release(e, s); /* an accepted connection speaks (or closes) */
        if (p->data_len > 0 && seq_gt(end, s->rcv_nxt)) {
            s->last_resp_us = now_us;
            s->last_progress_us = now_us;
        }
        if (p->flags & TCPF_FIN) {
            /* Closed first, the target keeps the tuple in TIME-WAIT for a minute, but that
             * is no reason to avoid it: the copy keeps the client's ISN and timestamp clock,
             * so a SYN that the online server accepted on a reused tuple is accepted by the
             * target alike (RFC 6191); avoiding every such tuple ran a soak of short
             * connections out of ports. Only an old connection's ACK marks one stale. */
            s->flags |= SF_TARGET_FIN;
            end += 1;
        }
        /* Acknowledge the highest byte seen, even past a reply we never saw: the
         * target's bytes are not ours to keep, and a gap would only make it resend. */
        if (seq_gt(end, s->rcv_nxt)) {
            s->rcv_nxt = end;
            ack_later(e, s, false);
        } else {
            /* Nothing new: the target resends because our ACK was lost. Say it again
             * now, or it keeps resending until the client's next request. */
            ack_later(e, s, true);
        }
    }

    if (s->flags & SF_TARGET_FIN) {
        if (s->flags & SF_FIN_ACKED) {
            ack_now(e, s);
            eng_finish(e, s, SO_COMPLETE, false);
            schedule(e, s);
            return;
        }
        if (seq_lt(s->snd_max, stream_contig_end(&s->st))) {
            /* The target closed while the client still had bytes for it. */
            ack_now(e, s);
            if (!restart_rebuild(e, s))
                eng_finish(e, s, SO_TARGET_CLOSED, true);
            schedule(e, s);
            return;
        }
    }
    output(e, s);
    schedule(e, s);
}

/* ---- time --------------------------------------------------------------- */

static void on_timer(void *arg, struct wheel_node *n)
{
    struct eng *e = arg;
    struct sess *s = (struct sess *)((char *)n - offsetof(struct sess, timer));
    uint64_t now = e->now_us;

    if (s->state == SS_CLOSED) {
        if (now >= s->last_active_us + e->conf.linger_us)
            sess_free(e, s);
        else
            schedule(e, s);
        return;
    }
    if (now >= s->last_active_us + e->conf.idle_timeout_us) {
        eng_finish(e, s, s->state == SS_PROBE ? SO_NOT_STARTED : SO_IDLE, true);
        schedule(e, s);
        return;
    }
    if ((s->flags & SF_FIN_ACKED) && !(s->flags & SF_TARGET_FIN) &&
        now >= s->last_progress_us + e->conf.linger_us) {
        /* Our FIN was acknowledged but the target keeps its side open: end it. */
        eng_finish(e, s, SO_COMPLETE, true);
        schedule(e, s);
        return;
    }
    if (has_pending_data(s) && now >= s->last_progress_us + e->conf.session_timeout_us) {
        eng_finish(e, s, SO_TIMEOUT, true);
        schedule(e, s);
        return;
    }
    if (s->hole_since_us && s->state != SS_PROBE && now >= restart_gap_due(e, s)) {
        restart_skip_gap(e, s);
        if (s->state == SS_CLOSED) {
            schedule(e, s);
            return;
        }
    }
    if (s->rto_at_us && now >= s->rto_at_us) {
        if (s->state == SS_SYN_SENT) {
            if (s->syn_tries >= SYN_TRIES) {
                eng_finish(e, s, s->refused ? SO_TARGET_REFUSED : SO_HANDSHAKE_TIMEOUT, false);
                schedule(e, s);
                return;
            }
            e->st.syn_retries++;
            /* The first retry goes on the same tuple: a lost SYN is the usual reason, and
             * a target whose queues are full would only get one more half-open entry from
             * a fresh one (before handshake slots, moving at every retry moved 320,000
             * times for 2,000 short connections with -n 50). A SYN unanswered twice may
             * meet a target (or a firewall on its way) that silently keeps the tuple: the
             * third goes on a fresh one. A tuple the target still holds usually answers
             * with its old ACK, which moves the session at once (eng_on_reply); a refused
             * SYN (RST) is about the port, not the tuple. */
            if (s->syn_tries >= 2 && !s->refused)
                sess_move(e, s);
            eng_send_syn(e, s);
        } else {
            if (s->backoff >= RTX_MAX_BACKOFF) {
                eng_finish(e, s, SO_TIMEOUT, true);
                schedule(e, s);
                return;
            }
            /* Go back to the first unacknowledged byte (RFC 6298 5.4-5.6). */
            e->st.rto_events++;
            s->backoff++;
            s->flags &= ~SF_RECOVERY;
            s->rtt_seq = 0;
            s->dupacks = 0;
            s->snd_nxt = s->snd_una;
            if ((s->flags & SF_FIN_SENT) && seq_le(s->snd_nxt, s->c_fin_seq))
                s->flags &= ~SF_FIN_SENT;
            s->rto_at_us = 0;
            output(e, s);
        }
    } else if (s->state == SS_ESTAB) {
        output(e, s); /* an answer wait may have ended */
    }
    /* After output(): a request that went out carried the ACK. */
    if (s->ack_at_us && now >= s->ack_at_us) {
        s->ack_at_us = 0;
        if (s->state == SS_ESTAB && s->acked_rcv != s->rcv_nxt) {
            e->st.acks_delayed++;
            ack_now(e, s);
        }
    }
    schedule(e, s);
}

void eng_tick(struct eng *e, uint64_t now_us)
{
    e->now_us = now_us;
    wheel_advance(&e->wheel, now_us / 1000, on_timer, e);
}

void eng_flush(struct eng *e, uint64_t now_us)
{
    e->now_us = now_us;
    struct sess *s;
    while ((s = e->ack_list) != NULL) {
        e->ack_list = s->next_ack;
        bool force = (s->flags & SF_ACK_FORCE) != 0;
        s->flags &= ~(SF_ACK_PENDING | SF_ACK_FORCE);
        if (s->state != SS_ESTAB || (!force && s->acked_rcv == s->rcv_nxt))
            continue;
        /* Delayed ACK (RFC 9293 3.8.6.3): the client's next request usually follows the
         * answer within milliseconds and carries the ACK for free, one packet fewer for
         * the target to handle. Two full segments, a FIN, a forced ACK and the part of an
         * answer a request waits for (see output) go at once. */
        uint32_t mss = s->c_mss ? s->c_mss : e->conf.syn_mss;
        if (force || e->conf.ack_delay_us == 0 || (s->flags & SF_TARGET_FIN) ||
            s->gate_since_us != 0 || s->rcv_nxt - s->acked_rcv >= 2 * mss) {
            ack_now(e, s);
        } else if (s->ack_at_us == 0) {
            s->ack_at_us = now_us + e->conf.ack_delay_us;
            schedule(e, s);
        }
    }
}

uint64_t eng_next_deadline(const struct eng *e)
{
    uint64_t ms = wheel_next(&e->wheel);
    return ms == UINT64_MAX ? UINT64_MAX : ms * 1000;
}

/* Say why a session still holds client bytes (at exit, so a loss is explained). */
static void explain_pending(struct eng *e, struct sess *s)
{
    uint32_t ce = stream_contig_end(&s->st);
    uint32_t unsent = seq_gt(ce, s->snd_max) ? ce - s->snd_max : 0;
    uint32_t unacked = s->snd_max - s->snd_una;
    if (unsent == 0 && unacked == 0 && s->nmarks == 0)
        return;
    char cb[ADDR_STRLEN];
    addr_port_str(&s->ckey.src, s->ckey.sport, cb, sizeof(cb));
    const char *why;
    char detail[160] = "";
    struct sess_mark *m = gate_peek(s);
    if (s->state == SS_PROBE) {
        why = "never started: no request boundary seen";
    } else if (s->flags & SF_HS_WAIT) {
        why = "waiting for a handshake slot (the target accepts connections slower than "
              "the client opened them)";
    } else if (s->state == SS_SYN_SENT) {
        why = "handshake with the target not complete";
        snprintf(detail, sizeof(detail), " (%u SYNs sent)", s->syn_tries);
    } else if (m != NULL && seq_le(m->seq, s->snd_nxt)) {
        why = "waiting for the target's answer to the previous request";
        snprintf(detail, sizeof(detail), " (%u of %u answer bytes, for %llu ms)",
                 gate_answer_bytes(s) - s->resp_at_mark, m->resp - s->passed_resp,
                 s->gate_since_us ? (unsigned long long)((e->now_us - s->gate_since_us) / 1000)
                                  : 0ULL);
    } else if (s->hole_since_us) {
        why = "waiting for bytes the capture missed";
    } else if (unacked) {
        why = "waiting for the target to acknowledge";
        snprintf(detail, sizeof(detail), " (%u bytes, window %u, %u retransmissions)", unacked,
                 s->snd_wnd, s->backoff);
    } else {
        why = "waiting for the target's window";
        snprintf(detail, sizeof(detail), " (window %u)", s->snd_wnd);
    }
    log_warnx("session %s: %u bytes unsent, %u unacknowledged, %u requests waiting: %s%s", cb,
              unsent, unacked, s->nmarks, why, detail);
}

void eng_shutdown(struct eng *e, uint64_t now_us)
{
    e->now_us = now_us;
    struct sess *s;
    TAILQ_FOREACH(s, &e->tab.all, all)
    {
        if (s->state != SS_CLOSED) {
            explain_pending(e, s);
            eng_finish(e, s, SO_SHUTDOWN, true);
        }
    }
}

size_t eng_routes_foreach(struct eng *e, void (*cb)(void *arg, const struct chan_route *r),
                          void *arg)
{
    size_t n = 0;
    struct sess *s;
    TAILQ_FOREACH(s, &e->tab.all, all)
    {
        if (!(s->flags & SF_ROUTED))
            continue;
        struct chan_route r = {.client = s->tkey.src, .cport = s->tkey.sport,
                               .target = s->tkey.dst, .tport = s->tkey.dport};
        cb(arg, &r);
        n++;
    }
    return n;
}

const struct eng_stats *eng_stats(struct eng *e)
{
    uint64_t probing = 0, closed = 0;
    struct sess *s;
    TAILQ_FOREACH(s, &e->tab.all, all)
    {
        probing += s->state == SS_PROBE;
        closed += s->state == SS_CLOSED;
    }
    e->st.sessions_probing = probing;
    e->st.sessions_closed = closed;
    e->st.sessions_active = e->tab.count - probing - closed;
    e->st.mem_bytes = chunk_pool_bytes(&e->pool);
    e->st.mem_peak_bytes = (uint64_t)e->pool.peak_used * STREAM_CHUNK;
    return &e->st;
}

size_t eng_session_count(const struct eng *e)
{
    return e->tab.count;
}
