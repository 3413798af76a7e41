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
 * one; the connection toward the target (conn.c) sends, retransmits and acknowledges.
 * The engine's files and who calls whom: tcp_impl.h.
 */
#include <stdio.h>
#include <stdlib.h>

#include "tcp_impl.h"

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

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
    [SO_MODULE] = "module_ended",
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
    c->shard_k = 0;
    c->shard_n = 1;
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
        mod_sess_close(e, s);
        stream_clear(&s->st, &e->pool);
        gate_clear(s);
        sess_del(&e->tab, s);
    }
    sess_table_free(&e->tab);
    chunk_pool_free(&e->pool);
    stale_free(&e->stale);
    free(e);
}

/* ---- outcomes and timers ------------------------------------------------------ */

void eng_schedule(struct eng *e, struct sess *s)
{
    uint64_t d = UINT64_MAX;
    const struct conn *c = &s->tc;
    if (s->state == SS_CLOSED) {
        d = s->last_active_us + e->conf.linger_us;
        wheel_set(&e->wheel, &s->timer, (d + 999) / 1000);
        return;
    }
    if (c->ack_at_us && c->ack_at_us < d)
        d = c->ack_at_us;
    if (c->rto_at_us)
        d = c->rto_at_us;
    if (s->gate_since_us) {
        /* An answer wait that has already run out needs no timer: the gate opens as
         * soon as output reaches it (the window or a retransmission may be what
         * holds it back now), and re-arming a past deadline would spin. */
        uint64_t g = s->gate_since_us + e->conf.answer_timeout_us;
        uint64_t q = s->last_resp_us + gate_quiet_us(s);
        if (gate_answer_bytes(s) != s->resp_at_mark && q < g)
            g = q;
        if (g > e->now_us && g < d)
            d = g;
    }
    if ((c->flags & CF_FIN_ACKED) && !(c->flags & CF_TARGET_FIN))
        d = min_u64(d, s->last_progress_us + e->conf.linger_us);
    /* Unlike an answer wait, a gap whose time has come is acted on when the timer fires
     * (skipped, or the session starts over), so a deadline already past is kept: it fires
     * on the next tick and cannot spin. */
    if (s->hole_since_us)
        d = min_u64(d, restart_gap_due(e, s));
    d = min_u64(d, s->last_active_us + e->conf.idle_timeout_us);
    if (conn_pending(s))
        d = min_u64(d, s->last_progress_us + e->conf.session_timeout_us);
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
    if (send_rst && (s->state == SS_SYN_SENT || s->state == SS_ESTAB))
        conn_send_rst(e, s);
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
        if (s->mod != NULL)
            mod_count_lost(e, s, outcome);
    }
    conn_hs_release(e, s);
    s->state = SS_CLOSED;
    s->tc.rto_at_us = 0;
    s->tc.ack_at_us = 0;
    s->gate_since_us = 0;
    stream_clear(&s->st, &e->pool);
    gate_clear(s);
    mod_sess_close(e, s);
    s->last_active_us = e->now_us;
    log_debug("session %u -> %u: %s", s->ckey.sport, s->tkey.dport, eng_outcome_str(outcome));
}

void eng_output(struct eng *e, struct sess *s)
{
    if (conn_output(e, s))
        eng_finish(e, s, SO_CLIENT_RESET, true);
}

void eng_mod_fail(struct eng *e, struct sess *s, int rc)
{
    eng_finish(e, s, rc == -MOD_E_NOMEM ? SO_MEMORY : SO_MODULE, true);
}

/* A deadline of an open session's life (not its connection's) has passed: the outcome it
 * ends with, or SO_NONE. */
static int timer_outcome(struct eng *e, struct sess *s)
{
    uint64_t now = e->now_us;
    if (now >= s->last_active_us + e->conf.idle_timeout_us)
        return s->state == SS_PROBE ? SO_NOT_STARTED : SO_IDLE;
    /* Our FIN was acknowledged but the target keeps its side open: end it. */
    if ((s->tc.flags & CF_FIN_ACKED) && !(s->tc.flags & CF_TARGET_FIN) &&
        now >= s->last_progress_us + e->conf.linger_us)
        return SO_COMPLETE;
    if (conn_pending(s) && now >= s->last_progress_us + e->conf.session_timeout_us)
        return SO_TIMEOUT;
    if (s->hole_since_us && s->state != SS_PROBE && now >= restart_gap_due(e, s))
        return restart_skip_gap(e, s);
    return SO_NONE;
}

/* The SYN's retransmission timer ran out. SO_NONE, or the outcome the session ends with. */
static int syn_timer(struct eng *e, struct sess *s)
{
    if (s->tc.syn_tries >= CONN_SYN_TRIES)
        return (s->tc.flags & CF_REFUSED) ? SO_TARGET_REFUSED : SO_HANDSHAKE_TIMEOUT;
    e->st.syn_retries++;
    /* The first retry goes on the same tuple: a lost SYN is the usual reason, and a target
     * whose queues are full would only get one more half-open entry from a fresh one
     * (before handshake slots, moving at every retry moved 320,000 times for 2,000 short
     * connections with -n 50). A SYN unanswered twice may meet a target (or a firewall on
     * its way) that silently keeps the tuple: the third goes on a fresh one. A tuple the
     * target still holds usually answers with its old ACK, which moves the session at once
     * (reply.c); a refused SYN (RST) is about the port, not the tuple. */
    if (s->tc.syn_tries >= 2 && !(s->tc.flags & CF_REFUSED))
        admit_move(e, s);
    conn_send_syn(e, s);
    return SO_NONE;
}

static void on_timer(void *arg, struct wheel_node *n)
{
    struct eng *e = arg;
    struct sess *s = (struct sess *)((char *)n - offsetof(struct sess, timer));
    uint64_t now = e->now_us;

    if (s->state == SS_CLOSED) {
        if (now >= s->last_active_us + e->conf.linger_us)
            admit_free(e, s);
        else
            eng_schedule(e, s);
        return;
    }
    int outcome = timer_outcome(e, s);
    if (outcome == SO_NONE && s->state != SS_CLOSED && s->tc.rto_at_us &&
        now >= s->tc.rto_at_us) {
        if (s->state == SS_SYN_SENT)
            outcome = syn_timer(e, s);
        else if (conn_on_rto(e, s))
            eng_output(e, s);
        else
            outcome = SO_TIMEOUT;
    } else if (outcome == SO_NONE && s->state == SS_ESTAB) {
        eng_output(e, s); /* an answer wait may have ended */
    }
    if (outcome != SO_NONE)
        eng_finish(e, s, outcome, outcome != SO_TARGET_REFUSED &&
                                      outcome != SO_HANDSHAKE_TIMEOUT);
    else
        conn_ack_due(e, s); /* after output: a request that went out carried the ACK */
    eng_schedule(e, s);
}

void eng_tick(struct eng *e, uint64_t now_us)
{
    e->now_us = now_us;
    wheel_advance(&e->wheel, now_us / 1000, on_timer, e);
}

void eng_flush(struct eng *e, uint64_t now_us)
{
    e->now_us = now_us;
    conn_flush_acks(e);
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
    const struct conn *c = &s->tc;
    uint32_t unsent = seq_gt(ce, c->snd_max) ? ce - c->snd_max : 0;
    uint32_t unacked = c->snd_max - c->snd_una;
    if (unsent == 0 && unacked == 0 && s->nmarks == 0)
        return;
    char cb[ADDR_STRLEN];
    addr_port_str(&s->ckey.src, s->ckey.sport, cb, sizeof(cb));
    const char *why;
    char detail[160] = "";
    struct sess_mark *m = gate_peek(s);
    if (s->state == SS_PROBE) {
        why = "never started: no request boundary seen";
    } else if (c->flags & CF_HS_WAIT) {
        why = "waiting for a handshake slot (the target accepts connections slower than "
              "the client opened them)";
    } else if (s->state == SS_SYN_SENT) {
        why = "handshake with the target not complete";
        snprintf(detail, sizeof(detail), " (%u SYNs sent)", c->syn_tries);
    } else if (m != NULL && seq_le(m->seq, c->snd_nxt)) {
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
                 c->snd_wnd, c->backoff);
    } else {
        why = "waiting for the target's window";
        snprintf(detail, sizeof(detail), " (window %u)", c->snd_wnd);
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
