/*
 * mod_sess: one session's glue between the engine and a protocol module (see mod.h for the
 * two sequence numberings). The client's captured bytes wait in the session's own stream
 * (client's numbering) until the module consumes them; its output goes into the engine's
 * stream (target's numbering) at t_next. Request boundaries are held here until the module
 * reaches them and then pushed to the gate at the output position, so the engine's answer
 * wait works on the rewritten bytes. Nothing here runs without --module.
 */
#include <stdlib.h>
#include <string.h>

#include "mod.h"
#include "tcp_impl.h"

static void sess_fail(struct eng *e, struct sess *s, const char *why)
{
    struct mod *m = e->conf.mod;
    s->mod->flags |= MS_FAILED;
    e->st.mod_errors++;
    log_warnx_rl(&m->rl_err, e->now_us, "module %s: %s: the session from port %u ends", m->t->name,
                 why, s->ckey.sport);
}

/* Append n bytes of the module's output (in m->out, or at src) to the engine's stream. */
static int put_out(struct eng *e, struct sess *s, const uint8_t *src, long n)
{
    struct mod_sess *ms = s->mod;
    if (n < 0 || n > MOD_OUT_MAX) {
        sess_fail(e, s, n < 0 ? "the module failed" : "the module wrote past its buffer");
        return -MOD_E_MODULE;
    }
    if (n == 0)
        return 0;
    if (s->flags & SF_CLIENT_FIN) {
        sess_fail(e, s, "the module wrote bytes after the client's FIN");
        return -MOD_E_MODULE;
    }
    int r = stream_put(&s->st, &e->pool, ms->t_next, src, (uint32_t)n, e->conf.sess_mem_max);
    if (r < 0) {
        e->st.drop_bytes_memory += (uint64_t)n;
        return -MOD_E_NOMEM;
    }
    ms->t_next += (uint32_t)n;
    e->st.mod_out_bytes += (uint64_t)n;
    return 0;
}

int mod_sess_open(struct eng *e, struct sess *s)
{
    struct mod *m = e->conf.mod;
    struct mod_sess *ms = calloc(1, sizeof(*ms));
    if (ms == NULL) {
        e->st.mod_refused++;
        return -MOD_E_NOMEM;
    }
    struct tcm_sess_info info = {.af = s->ckey.src.af,
                                 .client_port = s->ckey.sport,
                                 .target_port = s->tkey.dport,
                                 .copy = s->copy};
    memcpy(info.client, s->ckey.src.u.b, sizeof(info.client));
    memcpy(info.target, s->tkey.dst.u.b, sizeof(info.target));
    if (m->t->sess_new(m->state, &info, &ms->state) < 0) {
        free(ms);
        e->st.mod_refused++;
        log_warnx_rl(&m->rl_err, e->now_us, "module %s: session from port %u refused", m->t->name,
                     s->ckey.sport);
        return -MOD_E_MODULE;
    }
    uint32_t first = s->c_isn + 1;
    stream_init(&ms->cst, first);
    ms->c_next = ms->t_next = first;
    s->mod = ms;
    e->st.mod_sessions++;
    if (m->t->start == NULL)
        return 0;
    enum tcm_start why = (s->flags & SF_FAKED) ? TCM_START_MIDSTREAM : TCM_START_SYN;
    long n = m->t->start(ms->state, why, m->out, sizeof(m->out));
    int rc = put_out(e, s, m->out, n);
    if (rc < 0) {
        mod_sess_close(e, s);
        return rc;
    }
    e->st.mod_starts += n > 0;
    return 0;
}

void mod_sess_close(struct eng *e, struct sess *s)
{
    struct mod_sess *ms = s->mod;
    if (ms == NULL)
        return;
    struct mod *m = e->conf.mod;
    m->t->sess_end(m->state, ms->state);
    stream_clear(&ms->cst, &e->pool);
    free(ms);
    s->mod = NULL;
}

static struct mod_mark *mark_at(struct mod_sess *ms, unsigned i)
{
    return &ms->marks[(ms->mark_head + i) % MOD_MARKS];
}

void mod_count_lost(struct eng *e, struct sess *s, int outcome)
{
    struct mod_sess *ms = s->mod;
    uint32_t held = stream_held_bytes(&ms->cst);
    if (held == 0)
        return;
    /* Each boundary not reached starts a request; bytes before the first one finish the
     * request in progress, unless the engine's stream already counted that one. */
    bool mid = ms->nmarks == 0 || mark_at(ms, 0)->cseq != ms->c_next;
    e->st.lost_requests[outcome] += ms->nmarks + (mid && stream_held_bytes(&s->st) == 0);
    e->st.lost_bytes[outcome] += held;
}

uint32_t mod_ooo_bytes(const struct sess *s)
{
    return stream_ooo_bytes(&s->mod->cst);
}

bool mod_can_rebuild(const struct eng *e, const struct sess *s)
{
    return s->mod == NULL || e->conf.mod->t->start == NULL;
}

/* A client segment from seq (client's numbering) carried acknowledgement p->ack: a request
 * starts there if the client had received new answer bytes (as gate_note, before the
 * module has reached those bytes). */
static void mark_note(struct eng *e, struct sess *s, const struct pkt *p, uint32_t seq, bool exact)
{
    struct mod_sess *ms = s->mod;
    if (!(p->flags & TCPF_ACK) || !(s->flags & SF_HAVE_ACKBASE) || seq_lt(seq, ms->c_next))
        return;
    uint32_t resp = p->ack - s->ack_base;
    if ((int32_t)(resp - s->last_resp) <= 0)
        return; /* no new answer bytes: same request (or a pipelined one) */
    struct mod_mark *last = ms->nmarks ? mark_at(ms, ms->nmarks - 1u) : NULL;
    if (last != NULL && seq_le(seq, last->cseq)) {
        if (last->cseq == seq) {
            last->resp = resp;
            s->last_resp = resp;
        }
        return;
    }
    if (ms->nmarks == MOD_MARKS) {
        e->st.marks_dropped++;
        return;
    }
    *mark_at(ms, ms->nmarks) = (struct mod_mark){seq, resp, exact};
    ms->nmarks++;
    s->last_resp = resp;
    e->st.requests_marked++;
}

int mod_client_put(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct mod_sess *ms = s->mod;
    bool exact = p->seq == stream_end(&ms->cst);
    int n = stream_put(&ms->cst, &e->pool, p->seq, p->data, p->data_len, e->conf.sess_mem_max);
    if (n > 0)
        mark_note(e, s, p, seq_lt(p->seq, ms->c_next) ? ms->c_next : p->seq, exact);
    return n;
}

int mod_client_fin(struct eng *e, struct sess *s, const struct pkt *p, uint32_t seq)
{
    struct mod_sess *ms = s->mod;
    if (!(ms->flags & MS_CFIN)) {
        ms->flags |= MS_CFIN;
        ms->c_fin = seq;
        mark_note(e, s, p, seq, seq == stream_end(&ms->cst));
    }
    return mod_pump(e, s);
}

/* The oldest boundary, if the module has reached it: pushed to the gate where the module's
 * output for the request begins. */
static void mark_carry(struct eng *e, struct sess *s)
{
    struct mod_sess *ms = s->mod;
    while (ms->nmarks > 0 && seq_lt(mark_at(ms, 0)->cseq, ms->c_next)) {
        ms->mark_head = (uint8_t)((ms->mark_head + 1) % MOD_MARKS); /* passed unseen */
        ms->nmarks--;
    }
    if (ms->nmarks == 0 || mark_at(ms, 0)->cseq != ms->c_next)
        return;
    const struct mod_mark *mk = mark_at(ms, 0);
    if (!gate_push(s, ms->t_next, mk->resp, mk->exact))
        e->st.marks_dropped++;
    ms->mark_head = (uint8_t)((ms->mark_head + 1) % MOD_MARKS);
    ms->nmarks--;
}

/* The client's bytes offered next: up to the contiguous end, never across a boundary. */
static uint32_t offer_len(struct mod_sess *ms)
{
    uint32_t lim = stream_contig_end(&ms->cst);
    for (unsigned i = 0; i < ms->nmarks; i++) {
        uint32_t q = mark_at(ms, i)->cseq;
        if (seq_gt(q, ms->c_next) && seq_lt(q, lim)) {
            lim = q;
            break;
        }
    }
    uint32_t len = seq_gt(lim, ms->c_next) ? lim - ms->c_next : 0;
    return len > MOD_IN_MAX ? MOD_IN_MAX : len;
}

/* One offer to the module. 1: it consumed bytes (offer the rest); 0: it waits (what it
 * wrote without consuming is kept, but it is not asked again until something new comes:
 * a module cannot spin); -MOD_E_*. */
static int offer(struct eng *e, struct sess *s, uint32_t len)
{
    struct mod *m = e->conf.mod;
    struct mod_sess *ms = s->mod;
    stream_copy(&ms->cst, ms->c_next, m->in, len);
    size_t used = len;
    long n = len;
    const uint8_t *out = m->in;
    if (m->t->client_data != NULL) {
        used = 0;
        out = m->out;
        n = m->t->client_data(ms->state, m->in, len, &used, m->out, sizeof(m->out));
        if (used > len) {
            sess_fail(e, s, "the module consumed more bytes than offered");
            return -MOD_E_MODULE;
        }
    }
    if (n == 0 && used == 0)
        return 0;
    if (n > 0 || used > 0)
        mark_carry(e, s);
    int rc = put_out(e, s, out, n);
    if (rc < 0)
        return rc;
    ms->c_next += (uint32_t)used;
    stream_release(&ms->cst, &e->pool, ms->c_next);
    e->st.mod_in_bytes += used;
    return used > 0;
}

int mod_pump(struct eng *e, struct sess *s)
{
    struct mod_sess *ms = s->mod;
    if (ms == NULL)
        return 0;
    if (ms->flags & MS_FAILED)
        return -MOD_E_MODULE;
    uint32_t len;
    while ((len = offer_len(ms)) > 0) {
        int rc = offer(e, s, len);
        if (rc <= 0)
            return rc;
    }
    if ((ms->flags & MS_CFIN) && ms->c_next == ms->c_fin && !(s->flags & SF_CLIENT_FIN)) {
        /* Everything before the client's FIN was rewritten: it goes after the output. */
        mark_carry(e, s);
        s->flags |= SF_CLIENT_FIN;
        s->c_fin_seq = ms->t_next;
    }
    return 0;
}

int mod_target_data(struct eng *e, struct sess *s, const struct pkt *p)
{
    struct mod *m = e->conf.mod;
    struct mod_sess *ms = s->mod;
    const struct conn *c = &s->tc;
    uint32_t len = p->data_len, end = p->seq + p->data_len;
    if (ms == NULL || m->t->target_data == NULL || len == 0 || !seq_gt(end, c->rcv_nxt))
        return 0;
    size_t off = p->data != NULL ? (size_t)(p->data - p->ip) : 0;
    if (p->data == NULL || p->cap_len < off + len) {
        e->st.mod_answer_unseen_bytes += len; /* intercept relayed headers only */
        return 0;
    }
    const uint8_t *d = p->data;
    uint64_t lost = 0;
    if (seq_lt(p->seq, c->rcv_nxt)) {
        d += c->rcv_nxt - p->seq;
        len = end - c->rcv_nxt;
    } else {
        lost = p->seq - c->rcv_nxt;
    }
    unsigned flags = 0;
    long n = m->t->target_data(ms->state, d, len, lost, &flags, m->out, sizeof(m->out));
    if (flags & TCM_ANSWER_OWN) {
        /* Not an answer to the client: the gate counts answers from resp_at_mark on. */
        s->resp_at_mark += len + (uint32_t)lost;
        e->st.mod_own_answer_bytes += len;
    }
    e->st.mod_own_done += (flags & TCM_ANSWER_DONE) != 0;
    int rc = put_out(e, s, m->out, n);
    return rc < 0 ? rc : mod_pump(e, s);
}
