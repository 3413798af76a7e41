/*
 * gate: request boundaries and the answer wait (see gate.c).
 */
#ifndef TC_GATE_H
#define TC_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"
#include "sess.h"

struct gate_conf {
    bool no_wait;               /* -W: every gate is open */
    uint64_t answer_timeout_us; /* the longest wait */
    uint64_t now_us;
};

/* Why the bytes after a mark may go (or that they wait). The engine counts these. */
enum gate_verdict {
    GATE_WAIT = 0,
    GATE_NO_WAIT,    /* -W */
    GATE_BY_BYTES,   /* the target answered as many bytes as the online server */
    GATE_BY_QUIET,   /* the target's answer went quiet for a few round trips */
    GATE_BY_TIMEOUT, /* the answer timeout passed */
};

/* Target answer so far on this connection: its payload, and its FIN as one more byte
 * (the client's acknowledgement numbers count the online server's FIN so). */
uint32_t gate_answer_bytes(const struct sess *s);
/* The oldest mark not yet passed, or NULL. */
struct sess_mark *gate_peek(struct sess *s);
/* The newest mark, or NULL. */
struct sess_mark *gate_last(struct sess *s);
void gate_pop(struct sess *s);
/* Take back the newest mark (its segment was not stored after all). */
void gate_unpush(struct sess *s);
/* Forget every mark and free the ring (the session ended). */
void gate_clear(struct sess *s);
/* Append a mark; false when the ring is full and cannot grow (the mark is lost). */
bool gate_push(struct sess *s, uint32_t seq, uint32_t resp, bool exact);
/* What gate_note did. */
enum gate_note {
    GATE_NOTE_NONE = 0, /* no new request starts there */
    GATE_NOTE_MARK,     /* a mark was recorded: a request starts after an answer */
    GATE_NOTE_LOST,     /* one should have been, but the ring is full */
};
/* A client segment p whose data starts at seq: record a mark if its acknowledgement
 * number shows a new answer. */
enum gate_note gate_note(struct sess *s, const struct pkt *p, uint32_t seq);
/* How long an answer may pause before it counts as complete: 4 RTT, 20-500 ms. */
uint64_t gate_quiet_us(const struct sess *s);
/* May the bytes after mark m go now? The wait's clock starts on the first ask; *began
 * is then set when the answer was not complete yet (a wait really began). */
enum gate_verdict gate_open(struct sess *s, const struct sess_mark *m, const struct gate_conf *c,
                            bool *began);
/* m (the oldest mark) has been passed: the next answer is counted from here. */
void gate_pass(struct sess *s, const struct sess_mark *m);

#endif
