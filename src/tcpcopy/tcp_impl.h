/*
 * tcp_impl: what the engine's files share (tcp.c: the state machine; restart.c: how
 * a session starts again after it began mid-stream, was closed by the target, or
 * lost bytes to the capture). Private to the engine.
 */
#ifndef TC_TCP_IMPL_H
#define TC_TCP_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "gate.h"
#include "log.h"
#include "sess.h"
#include "stale.h"
#include "stream.h"
#include "tcp.h"
#include "wheel.h"

#define REBUILDS_MAX 8

struct eng {
    struct eng_conf conf;
    struct eng_io io;
    struct sess_table tab;
    struct stale stale;        /* target tuples the target still remembers */
    uint32_t hs_active;        /* sessions holding a handshake slot */
    TAILQ_HEAD(, sess) hs_queue; /* sessions waiting for one, oldest first */
    struct chunk_pool pool;
    struct wheel wheel;
    struct sess *ack_list;
    uint64_t now_us;
    uint16_t ip_id;
    struct eng_stats st;
    uint64_t t_start_us;
    uint16_t epoch;
    struct gate_conf gate;
    struct log_rl rl_full, rl_mem, rl_coll, rl_refuse;
};

/* tcp.c */
/* Build and hand over one segment toward the target (len bytes of client data from seq). */
void eng_emit(struct eng *e, struct sess *s, uint8_t flags, uint32_t seq, uint32_t len, bool syn_opts);
/* The session is over: record why, reset the target side if asked, free its bytes, linger. */
void eng_finish(struct eng *e, struct sess *s, int outcome, bool send_rst);
/* Send (or resend) the session's SYN, once it holds a handshake slot; without a free slot
 * it waits in line and sends when one is released. */
void eng_send_syn(struct eng *e, struct sess *s);
/* The session leaves the handshake (established, ended, restarting): its slot, or its
 * place in line, goes to the next session waiting. */
void eng_hs_release(struct eng *e, struct sess *s);
/* Start toward the target with ISN isn: register the route, send the SYN. */
void eng_start(struct eng *e, struct sess *s, uint32_t isn);

/* restart.c */
/* A client packet of a session seen mid-stream (state SS_PROBE). */
void restart_probe(struct eng *e, struct sess *s, const struct pkt *p);
/* The target ended the connection while client bytes wait; false: the session must end. */
bool restart_rebuild(struct eng *e, struct sess *s);
/* When a hole in the captured stream is to be looked at again (UINT64_MAX: no timer; an
 * event will reschedule), and looking at it: skip it, start over, or wait on. */
uint64_t restart_gap_due(const struct eng *e, struct sess *s);
void restart_skip_gap(struct eng *e, struct sess *s);

#endif
