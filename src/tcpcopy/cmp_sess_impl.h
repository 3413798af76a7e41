/*
 * cmp_sess_impl: one compared session's state, shared by the files of the wiring (private
 * to cmp_sess.c, cmp_starget.c). cmp_sess.c feeds the client's and the online server's
 * streams and ends sessions; cmp_starget.c feeds the target's (see cmp_sess.h).
 */
#ifndef TC_CMP_SESS_IMPL_H
#define TC_CMP_SESS_IMPL_H

#include "cmp_bside.h"
#include "cmp_sess.h"
#include "tcp_impl.h"

#define CS_RING CMP_PAIR_SLOTS /* the latest requests that expect an answer: times, flags */
#define CS_COPY 4096
#define CS_CUTS 16           /* raw: online answer boundaries known before their bytes arrived */
#define CS_RX_MAX (1U << 20) /* target answer bytes held beyond a hole, waiting for it to fill */

struct cs_req {
    uint64_t index;
    uint32_t flags, end_seq;
    uint64_t cap_us, sent_us; /* 0: unknown */
};

struct cmp_sess {
    struct cmp_ctx *x;
    struct tuple ckey;
    struct cmp_reqf *rq;
    struct cmp_ansf *af[2];
    struct cmp_pair *pair;
    struct cmp_bside *bs; /* --compare-baseline (cmp_bside.c) */
    struct cmp_sess *park_next; /* cmp_ctx.parked: ended, waiting for the baseline */
    uint64_t now_us;           /* when the bytes being fed were seen */
    uint32_t c_fed, c_req_end; /* client: next byte to feed; where the next request starts */
    uint32_t c_cut;            /* raw: a request ends there */
    bool c_cut_set;
    uint8_t o_ncuts; /* raw: online answers end at o_cuts[0..n), in order */
    uint32_t o_cuts[CS_CUTS];
    bool dead;               /* the client's stream lost its place: nothing more is fed */
    uint64_t nreq, nans_req; /* requests; those expecting an answer */
    uint64_t unsent;         /* the first answerable request not seen sent yet */
    struct cs_req ring[CS_RING];
    uint64_t nans[2];           /* answers passed on, per side (pushes left out) */
    uint64_t start_us[2];       /* first byte of the answer in progress (0: none yet) */
    uint64_t early_at[CS_RING]; /* online answers passed on before their request: first byte */
    bool in_feed[2], in_tail[2];
    bool o_have, o_done, t_have, t_done;
    uint32_t o_nxt, o_isn1, t_nxt, t_mark;
    uint16_t t_rebuilds;
    /* Target segments beyond a hole (a reply lost before intercept, then resent), held in
     * the engine's pool until the hole fills; the target's FIN once its bytes are in. */
    bool t_rx_on, t_fin;
    uint32_t t_fin_seq;
    struct stream t_rx;
    /* Raw framing: online bytes beyond the last known answer boundary wait here for the
     * client's next acknowledgement (read from the other socket, often later). */
    bool o_rx_on;
    uint32_t o_fed;    /* online bytes given to the framer end here (raw) */
    uint64_t o_held_t; /* capture time of the first byte held */
    struct stream o_rx;
};

/* cmp_sfeed.c: the framers' and the pairer's callbacks (arg: the cmp_sess) */
void cs_result(void *arg, const struct cmp_result *r);
void cs_request(void *arg, const struct cmp_req *r);
void cs_online(void *arg, const struct cmp_unit *u);
void cs_target(void *arg, const struct cmp_unit *u);
bool cs_is_raw(const struct cmp_sess *cs); /* --compare-proto raw (or auto found it raw) */
/* An answer side's next n bytes (n > 0), seen at t. */
void cs_side_feed(struct cmp_sess *cs, enum cmp_side side, const uint8_t *p, uint32_t n,
                  uint64_t t);

/* cmp_starget.c: the session ends: a hole still open is a gap; a FIN waiting for it
 * closes the answer. */
void cs_target_settle(struct eng *e, struct cmp_sess *cs);

#endif
