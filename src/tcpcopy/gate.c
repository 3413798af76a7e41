/*
 * gate: request boundaries ("marks") and the decision to send the next request.
 *
 * A client segment carries its acknowledgement number, which tells how many answer
 * bytes the client had received from the online server before it sent that
 * segment. Where that number grows between segments a new request starts, after an
 * answer of that many bytes: gate_note() records such a mark. The bytes after a mark
 * are held (gate_open() false) until the target has answered at least as many bytes
 * since the previous mark passed, or its answer went quiet for a few round trips, or
 * the answer timeout passed. Pipelined requests share an acknowledgement number and
 * go together; a server that speaks first is waited for; no protocol knowledge and no
 * packet-size rule is involved. The marks live in a per-session ring (struct sess).
 */
#include <stdlib.h>

#include "gate.h"
#include "stream.h"

#define MARKS_MAX 65535
#define QUIET_MIN_US 20000u
#define QUIET_MAX_US 500000u

uint32_t gate_answer_bytes(const struct sess *s)
{
    /* rcv_nxt without the SYN. A server that closes after its answer (HTTP/1.0,
     * Connection: close) has its FIN acknowledged by the client before the client's own
     * FIN, whose mark then asks for the answer plus one: counting the target's FIN the
     * same way completes such an answer by its bytes, not by a quiet interval. */
    return s->tc.rcv_nxt - (s->tc.t_isn + 1);
}

struct sess_mark *gate_peek(struct sess *s)
{
    return s->nmarks ? &s->marks[s->mark_head] : NULL;
}

struct sess_mark *gate_last(struct sess *s)
{
    if (s->nmarks == 0)
        return NULL;
    return &s->marks[(s->mark_head + s->nmarks - 1) % s->marks_cap];
}

void gate_unpush(struct sess *s)
{
    if (s->nmarks > 0)
        s->nmarks--;
}

void gate_pop(struct sess *s)
{
    s->mark_head = (uint16_t)((s->mark_head + 1) % s->marks_cap);
    s->nmarks--;
}

void gate_clear(struct sess *s)
{
    free(s->marks);
    s->marks = NULL;
    s->nmarks = s->marks_cap = s->mark_head = 0;
}

bool gate_push(struct sess *s, uint32_t seq, uint32_t resp, bool exact)
{
    if (s->nmarks == s->marks_cap) {
        if (s->marks_cap >= MARKS_MAX)
            return false;
        uint32_t ncap = s->marks_cap ? (uint32_t)s->marks_cap * 2 : 4;
        if (ncap > MARKS_MAX)
            ncap = MARKS_MAX;
        struct sess_mark *nm = malloc(ncap * sizeof(*nm));
        if (nm == NULL)
            return false;
        /* Unroll the ring into the new array. */
        for (uint16_t i = 0; i < s->nmarks; i++)
            nm[i] = s->marks[(s->mark_head + i) % s->marks_cap];
        free(s->marks);
        s->marks = nm;
        s->marks_cap = (uint16_t)ncap;
        s->mark_head = 0;
    }
    s->marks[(s->mark_head + s->nmarks) % s->marks_cap] = (struct sess_mark){seq, resp, exact};
    s->nmarks++;
    return true;
}

/* A client segment starting at seq carried acknowledgement `ack`. */
enum gate_note gate_note(struct sess *s, const struct pkt *p, uint32_t seq)
{
    bool exact = seq == stream_end(&s->st);
    if (!(p->flags & TCPF_ACK) || !(s->flags & SF_HAVE_ACKBASE))
        return GATE_NOTE_NONE;
    uint32_t resp = p->ack - s->ack_base;
    if ((int32_t)(resp - s->last_resp) <= 0)
        return GATE_NOTE_NONE; /* no new answer bytes: same request (or a pipelined one) */
    struct sess_mark *last = gate_last(s);
    if (last != NULL && seq_le(seq, last->seq)) {
        if (last->seq == seq) {
            last->resp = resp;
            s->last_resp = resp;
        }
        return GATE_NOTE_NONE;
    }
    if (seq_lt(seq, s->tc.snd_max))
        return GATE_NOTE_NONE; /* those bytes already went out */
    if (!gate_push(s, seq, resp, exact))
        return GATE_NOTE_LOST;
    s->last_resp = resp;
    return GATE_NOTE_MARK;
}

uint64_t gate_quiet_us(const struct sess *s)
{
    uint64_t q = (uint64_t)s->tc.srtt_us * 4;
    if (q < QUIET_MIN_US)
        q = QUIET_MIN_US;
    if (q > QUIET_MAX_US)
        q = QUIET_MAX_US;
    return q;
}

/* May the bytes after mark m go? See "The gate" at the top of this file. */
enum gate_verdict gate_open(struct sess *s, const struct sess_mark *m, const struct gate_conf *c,
                            bool *began)
{
    *began = false;
    if (c->no_wait)
        return GATE_NO_WAIT;
    uint32_t need = m->resp - s->passed_resp;
    uint32_t got = gate_answer_bytes(s) - s->resp_at_mark;
    if (s->gate_since_us == 0) {
        s->gate_since_us = c->now_us;
        *began = got < need;
    }
    if (got >= need)
        return GATE_BY_BYTES;
    if (got > 0 && c->now_us - s->last_resp_us >= gate_quiet_us(s))
        return GATE_BY_QUIET;
    if (c->now_us - s->gate_since_us >= c->answer_timeout_us)
        return GATE_BY_TIMEOUT;
    return GATE_WAIT;
}

void gate_pass(struct sess *s, const struct sess_mark *m)
{
    s->last_mark_seq = m->seq;
    s->passed_resp = m->resp;
    s->resp_at_mark = gate_answer_bytes(s);
    s->gate_since_us = 0;
    gate_pop(s);
}
