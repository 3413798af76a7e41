/*
 * tcp_impl: what the engine's files share. Private to the engine. The files, each
 * calling only those listed after it (no cycles):
 *
 *   client.c   the capture side: a client packet (eng_on_capture)
 *   reply.c    the reply side: a target packet relayed by intercept (eng_on_reply)
 *   tcp.c      the engine's life, the timers (eng_tick), outcomes, reports
 *   restart.c  sessions that start mid-stream, are rebuilt, or lose bytes to the capture
 *   admit.c    admission: sampling, memory, client addresses and ports, routes
 *   mod_sess.c --module: a session's glue to the protocol module (mod.h)
 *   conn.c     the connection toward the target (its sender)
 *   gate.c, sack.c, stream.c, sess.c, stale.c, wheel.c: data structures
 */
#ifndef TC_TCP_IMPL_H
#define TC_TCP_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "cmp_sess.h"
#include "conn.h"
#include "gate.h"
#include "log.h"
#include "mod.h"
#include "sess.h"
#include "stale.h"
#include "stream.h"
#include "tcp.h"
#include "transfer.h"
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
    struct log_rl rl_full, rl_mem, rl_coll, rl_refuse;
};

/* tcp.c */
/* The session is over: record why, reset the target side if asked, free its bytes, linger. */
void eng_finish(struct eng *e, struct sess *s, int outcome, bool send_rst);
/* Arm the session's timer for its earliest deadline. */
void eng_schedule(struct eng *e, struct sess *s);
/* Send what may be sent (conn_output); a client reset whose bytes are all delivered ends
 * the session. */
void eng_output(struct eng *e, struct sess *s);
/* --module: the module's hook failed with rc (-MOD_E_*): the session ends. */
void eng_mod_fail(struct eng *e, struct sess *s, int rc);

/* restart.c */
/* A client packet of a session seen mid-stream (state SS_PROBE). SO_NONE, or the outcome
 * the session ends with. */
int restart_probe(struct eng *e, struct sess *s, const struct pkt *p);
/* The target ended the connection while client bytes wait; false: the session must end. */
bool restart_rebuild(struct eng *e, struct sess *s);
/* A module's session whose target closed while nothing waited: is client packet p the next
 * request, to start over with (counted)? The caller ends s and copies p as mid-stream. */
bool restart_relogin(struct eng *e, struct sess *s, const struct pkt *p);
/* When a hole in the captured stream is to be looked at again (UINT64_MAX: no timer; an
 * event will reschedule), and looking at it: skip it, start over, or wait on. SO_NONE, or
 * the outcome the session ends with (nothing but the client's close followed the hole). */
uint64_t restart_gap_due(const struct eng *e, struct sess *s);
int restart_skip_gap(struct eng *e, struct sess *s);

/* admit.c */
/* -r and -g: is this client session one to copy? */
bool admit_sampled(const struct eng *e, const struct pkt *p);
/* --shard K/N: is this client session this host's to copy? */
bool admit_shard(const struct eng *e, const struct pkt *p);
/* A new session for client packet p under rule r (copy number copy), linked in the table,
 * in no state yet. NULL (counted) if it cannot be placed. */
struct sess *admit_alloc(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                         uint16_t copy);
/* Start toward the target with ISN isn: register the route, open the connection. */
void admit_start(struct eng *e, struct sess *s, uint32_t isn);
/* Move s to a fresh target tuple (the target still holds this one); false if none free. */
bool admit_move(struct eng *e, struct sess *s);
/* Release everything s holds (route, timer, bytes, slot) and recycle it. */
void admit_free(struct eng *e, struct sess *s);

#endif
