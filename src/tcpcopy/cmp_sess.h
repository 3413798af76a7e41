/*
 * cmp_sess: the response comparison wired into the engine (issue 20; doc/compare.md,
 * "The wiring"). Per copied session, only with --compare and only for the first of the -n
 * copies of a session whose SYN was seen: a request framer fed with the client's bytes in
 * stream order, an answer framer fed with the online server's captured segments, another
 * fed with the target's reply payload, and a pairer giving one verdict per request.
 *
 * The engine calls the hooks below from its own files (one line each, only when
 * e->conf.cmp is set, or s->cmp for a compared session). Like the engine, this file does
 * no I/O and reads no clock: results go to the context's sink (cmp_out.c writes them).
 * State is allocated when a compared session starts (about 75 KB), never per packet, and
 * the number of compared sessions at once is capped (counted).
 */
#ifndef TC_CMP_SESS_H
#define TC_CMP_SESS_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"
#include "cmp_bside.h"
#include "cmp_frame.h"
#include "cmp_pair.h"
#include "pkt.h"

struct eng;
struct sess;

/* The copy number of a session's baseline copy (--compare-baseline): beyond any -n copy. */
#define CMP_BASE_COPY 0xffffu

/* One result of a session (client address and port in ckey) for the outputs. */
typedef void (*cmp_sink_cb)(void *arg, const struct cmp_result *r, const struct tuple *ckey);

struct cmp_conf {
    enum cmp_proto proto;          /* --compare-proto (auto) */
    const struct cmp_rules *rules; /* --compare-ignore (NULL: the defaults); outlives the context */
    uint32_t max_sessions;         /* compared sessions at once */
    bool baseline;                 /* pair a baseline's answers too (noise learning) */
    struct addr base;              /* --compare-baseline IP:PORT */
    uint16_t base_port;
    cmp_sink_cb sink;
    void *sink_arg;
};

/* What the wiring counted (tcstats rows "compare.*", doc/metrics.md). */
struct cmp_stats {
    uint64_t sessions, sessions_active, sessions_over_cap, sessions_no_memory;
    uint64_t sessions_abandoned; /* the client's stream lost its place (a gap, a resync) */
    uint64_t requests, greetings, rebuilds;
    uint64_t results[3]; /* by enum cmp_verdict */
    uint64_t reasons[CMP_REASON_COUNT];
    uint64_t online_segments, online_bytes, online_gaps, online_gap_bytes, online_no_session;
    uint64_t target_bytes, target_gaps, target_gap_bytes, target_no_payload;
    uint64_t orphans, dropped_late;
    uint64_t lines_written, lines_dropped; /* mismatches.jsonl (cmp_out.c) */
    uint64_t noise, baseline_missing; /* with a baseline (cmp_pair.h) */
};

struct cmp_ctx {
    struct cmp_conf conf;
    struct cmp_stats st;
    struct cmp_bside_stats bst; /* the baseline's side (cmp_bside.c) */
    /* the channel's lag of the replies being read, intercept's capture to our arrival
     * (chanc_stats.lag_last_us; NULL: 0) */
    const uint64_t *lag_us;
    /* Sessions whose compared copy ended while the baseline's copy still owed answers:
     * their results wait for it (cmp_sess.c); closing: cmp_sess_close_all is running. */
    struct cmp_sess *parked;
    bool closing;
};

/* A context for the engine's conf (eng_conf.cmp); NULL when out of memory. */
struct cmp_ctx *cmp_ctx_new(const struct cmp_conf *c);
void cmp_ctx_free(struct cmp_ctx *x); /* NULL-safe */

/* --- engine hooks (e->conf.cmp set) --- */
/* A session has started toward the target (its client SYN was seen, or it was first seen
 * mid-stream and starts at a request boundary): compare it (within the cap). */
void cmp_sess_open(struct eng *e, struct sess *s);
/* A captured packet no -x rule takes as a client packet: an online answer segment of a
 * compared session? True when it was one (taken). */
bool cmp_sess_online(struct eng *e, const struct pkt *p, uint64_t now_us);
/* s->cmp set: client segment p was stored in the session's stream. */
void cmp_sess_client(struct eng *e, struct sess *s, const struct pkt *p);
/* s->cmp set: a request boundary (gate.c) at client seq, after resp online answer bytes. */
void cmp_sess_mark(struct eng *e, struct sess *s, uint32_t seq, uint32_t resp);
/* s->cmp set: a target packet with answer bytes or a FIN (before the engine takes it). */
void cmp_sess_target(struct eng *e, struct sess *s, const struct pkt *p);
/* s->cmp set: the engine may have sent new client bytes to the target. */
void cmp_sess_sent(struct eng *e, struct sess *s);
/* s->cmp set: the session ended toward the target; the comparison ends once the online
 * side has too (or when the session is freed). */
void cmp_sess_ended(struct eng *e, struct sess *s);
/* s->cmp set: the session is freed: every request still waiting gets its result, or, when
 * the baseline's copy still owes answers, once it has given them (the comparison is parked:
 * cmp_ctx.parked). */
void cmp_sess_close(struct eng *e, struct sess *s);
/* The baseline's copy of a session (copy CMP_BASE_COPY, s->cmp NULL): a target packet p with
 * answer bytes or a FIN, or NULL when that session is freed. Fed to the baseline side of the
 * compared copy, or of its parked comparison (whose results it then gives, once the
 * baseline has ended). */
void cmp_sess_base(struct eng *e, struct sess *s, const struct pkt *p);
/* Close the comparison of every session (tcpcopy stops). */
void cmp_sess_close_all(struct eng *e);

#endif
