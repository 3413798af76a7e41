/*
 * gate: request boundaries and the answer wait (see gate.c).
 */
#ifndef TC_GATE_H
#define TC_GATE_H

#include <stdbool.h>
#include <stdint.h>

#include "pkt.h"
#include "sess.h"
#include "tcp.h"

struct gate_conf {
    bool no_wait;               /* -W: every gate is open */
    uint64_t answer_timeout_us; /* the longest wait */
    uint64_t now_us;
};

/* Target answer so far on this connection: its payload, and its FIN as one more byte
 * (the client's acknowledgement numbers count the online server's FIN so). */
uint32_t gate_answer_bytes(const struct sess *s);
/* The oldest mark not yet passed, or NULL. */
struct sess_mark *gate_peek(struct sess *s);
/* The newest mark, or NULL. */
struct sess_mark *gate_last(struct sess *s);
void gate_pop(struct sess *s);
/* Append a mark; false (counted in st) when the ring is full and cannot grow. */
bool gate_push(struct sess *s, uint32_t seq, uint32_t resp, bool exact, struct eng_stats *st);
/* A client segment p whose data starts at seq: record a mark if its
 * acknowledgement number shows a new answer. */
void gate_note(struct sess *s, const struct pkt *p, uint32_t seq, struct eng_stats *st);
/* How long an answer may pause before it counts as complete: 4 RTT, 20-500 ms. */
uint64_t gate_quiet_us(const struct sess *s);
/* May the bytes after mark m go now? Starts the wait's clock on first ask. */
bool gate_open(struct sess *s, const struct sess_mark *m, const struct gate_conf *c,
               struct eng_stats *st);
/* m (the oldest mark) has been passed: the next answer is counted from here. */
void gate_pass(struct sess *s, const struct sess_mark *m);

#endif
