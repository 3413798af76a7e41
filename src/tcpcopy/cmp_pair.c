/*
 * cmp_pair: pairing of requests with both sides' answers (see cmp_pair.h).
 *
 * A ring of CMP_PAIR_SLOTS slots, one per request still waiting for an answer, in request
 * order; requests that expect no answer (memcached noreply) get their result at once and no
 * slot. Each side's answers fill the slots in order; an answer may come before its request
 * (a slot without request is made for it). A slot resolves as soon as it has its request
 * and both answers (or a reason not to wait for one), so results may leave out of order;
 * each carries its request index. When a new slot is needed and the ring is full, the oldest
 * slot is resolved as over_limit (an answer that comes for it later is dropped, counted).
 * Answers are kept only until both sides of their slot are there: at most 2 * 256 units
 * (about 5 KB each) per session, 3 * 256 with a baseline (cmp_pair_baseline), whose answers
 * fill a third side like the target's; its reasons not to answer only flag the result. The
 * answer that completes a slot (usually the target's: it comes last) is compared where it
 * is, never copied; a few freed units are kept for the next answers (PAIR_SPARE).
 */
#include "cmp_pair.h"

#include <stdlib.h>
#include <string.h>

#include "cmp_base.h"

#define PAIR_SPARE 4 /* freed units kept for reuse: a keep-alive session needs one or two */

struct cmp_slot {
    bool has_req, done;
    uint64_t index;
    struct cmp_req req;
    struct cmp_unit *ans[CMP_SIDES];
    enum cmp_reason missing[CMP_SIDES]; /* a side that will not answer, and why */
};

struct cmp_pair {
    cmp_result_cb cb;
    void *arg;
    uint64_t base;     /* absolute number of the oldest slot kept */
    uint64_t tail;     /* absolute number of the next new slot */
    uint64_t next_req; /* slot of the next request that expects an answer */
    uint64_t next_ans[CMP_SIDES];
    int nsides;        /* 2, or 3 with a baseline */
    uint64_t nreq;     /* requests seen: the next request's index */
    enum cmp_reason lost[CMP_SIDES]; /* a side gives no more answers, and why */
    struct cmp_pair_stats st;
    const struct cmp_unit *borrowed; /* the caller's answer, resolved without a copy */
    unsigned nspare;
    struct cmp_unit *spare[PAIR_SPARE];
    struct cmp_slot slot[CMP_PAIR_SLOTS];
};

const char *cmp_reason_name(enum cmp_reason r)
{
    static const char *const n[] = {"none", "online_incomplete", "target_incomplete",
                                    "no_answer_online", "no_answer_target", "unparsable",
                                    "over_limit", "noreply"};
    return (unsigned)r < CMP_REASON_COUNT ? n[r] : "?";
}

const char *cmp_verdict_name(enum cmp_verdict v)
{
    static const char *const n[] = {"equal", "different", "not_compared"};
    return (unsigned)v <= CMP_NOT_COMPARED ? n[v] : "?";
}

struct cmp_pair *cmp_pair_new(cmp_result_cb cb, void *arg)
{
    struct cmp_pair *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->cb = cb;
    p->arg = arg;
    p->nsides = 2;
    return p;
}

void cmp_pair_baseline(struct cmp_pair *p)
{
    p->nsides = CMP_SIDES;
}

static struct cmp_slot *slot_at(struct cmp_pair *p, uint64_t abs)
{
    return &p->slot[abs % CMP_PAIR_SLOTS];
}

static struct cmp_unit *unit_get(struct cmp_pair *p)
{
    return p->nspare > 0 ? p->spare[--p->nspare] : malloc(sizeof(struct cmp_unit));
}

/* Give back a slot's answer (NULL, or the borrowed one: nothing to do). */
static void unit_put(struct cmp_pair *p, struct cmp_unit *u)
{
    if (u == NULL || u == p->borrowed)
        return;
    if (p->nspare < PAIR_SPARE)
        p->spare[p->nspare++] = u;
    else
        free(u);
}

static void slot_clear(struct cmp_pair *p, struct cmp_slot *s)
{
    for (int i = 0; i < CMP_SIDES; i++)
        unit_put(p, s->ans[i]);
    memset(s, 0, sizeof(*s));
}

void cmp_pair_free(struct cmp_pair *p)
{
    if (!p)
        return;
    for (uint32_t i = 0; i < CMP_PAIR_SLOTS; i++)
        slot_clear(p, &p->slot[i]);
    while (p->nspare > 0)
        free(p->spare[--p->nspare]);
    free(p);
}

const struct cmp_pair_stats *cmp_pair_stats(const struct cmp_pair *p)
{
    return &p->st;
}

static int64_t lat(const struct cmp_unit *u)
{
    return u && u->lat_us > 0 ? (int64_t)u->lat_us : -1;
}

static enum cmp_reason unit_reason(const struct cmp_unit *u, enum cmp_side side)
{
    if (u->flags & CMP_U_UNPARSABLE)
        return CMP_REASON_UNPARSABLE;
    if (u->flags & CMP_U_INCOMPLETE)
        return side == CMP_ONLINE ? CMP_REASON_ONLINE_INCOMPLETE : CMP_REASON_TARGET_INCOMPLETE;
    return CMP_REASON_NONE;
}

/* With a baseline: is r's difference noise, or does r stand without the baseline? */
static void baseline(struct cmp_pair *p, const struct cmp_slot *s, struct cmp_result *r)
{
    if (p->nsides < CMP_SIDES)
        return;
    const struct cmp_unit *b = s->ans[CMP_BASELINE];
    if (s->missing[CMP_BASELINE] != CMP_REASON_NONE || !b ||
        (b->flags & (CMP_U_INCOMPLETE | CMP_U_UNPARSABLE))) {
        r->baseline_missing = true;
        p->st.baseline_missing++;
        return;
    }
    if (r->verdict == CMP_DIFFERENT && cmp_base_noise(s->ans[0], s->ans[1], b, &r->diff)) {
        r->noise = true;
        p->st.noise++;
    }
}

/* Emit s's result, either a reason or the comparison. */
static void resolve(struct cmp_pair *p, struct cmp_slot *s, enum cmp_reason why)
{
    struct cmp_result r;
    memset(&r, 0, sizeof(r));
    r.index = s->index;
    r.req = s->req;
    r.online_us = lat(s->ans[0]);
    r.target_us = lat(s->ans[1]);
    if (why == CMP_REASON_NONE && (s->req.flags & CMP_R_UNPARSABLE))
        why = CMP_REASON_UNPARSABLE;
    for (int i = 0; i < 2 && why == CMP_REASON_NONE; i++)
        why = s->missing[i] != CMP_REASON_NONE ? s->missing[i]
                                                : unit_reason(s->ans[i], (enum cmp_side)i);
    if (why != CMP_REASON_NONE) {
        r.verdict = CMP_NOT_COMPARED;
        r.reason = why;
    } else {
        r.verdict = cmp_diff_units(s->ans[0], s->ans[1], &r.diff) ? CMP_EQUAL : CMP_DIFFERENT;
        baseline(p, s, &r);
    }
    for (int i = 0; i < CMP_SIDES; i++) {
        unit_put(p, s->ans[i]);
        s->ans[i] = NULL;
    }
    s->done = true;
    p->st.results++;
    p->cb(p->arg, &r);
}

/* Would side's answer complete slot s (its request and every other side are there)? */
static bool completes(const struct cmp_pair *p, const struct cmp_slot *s, enum cmp_side side)
{
    if (!s->has_req)
        return false;
    for (int i = 0; i < p->nsides; i++)
        if (i != (int)side && !s->ans[i] && s->missing[i] == CMP_REASON_NONE)
            return false;
    return true;
}

/* A slot resolves when it has its request and each side an answer or a reason. */
static void try_resolve(struct cmp_pair *p, struct cmp_slot *s)
{
    if (s->done || !s->has_req)
        return;
    for (int i = 0; i < p->nsides; i++)
        if (!s->ans[i] && s->missing[i] == CMP_REASON_NONE)
            return;
    resolve(p, s, CMP_REASON_NONE);
}

/* Forget resolved slots at the front of the ring. */
static void compact(struct cmp_pair *p)
{
    while (p->base < p->tail && slot_at(p, p->base)->done) {
        slot_clear(p, slot_at(p, p->base));
        p->base++;
    }
}

/* A new slot at the tail, making room by resolving the oldest one if needed. */
static struct cmp_slot *slot_new(struct cmp_pair *p)
{
    if (p->tail - p->base == CMP_PAIR_SLOTS) {
        struct cmp_slot *old = slot_at(p, p->base);
        if (old->has_req) {
            p->st.over_limit++;
            resolve(p, old, CMP_REASON_OVER_LIMIT);
        } else {
            p->st.orphans++;
        }
        slot_clear(p, old);
        p->base++;
        compact(p);
    }
    struct cmp_slot *s = slot_at(p, p->tail++);
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < CMP_SIDES; i++)
        s->missing[i] = p->lost[i];
    return s;
}

void cmp_pair_request(struct cmp_pair *p, const struct cmp_req *r)
{
    static const uint64_t none[CMP_SIDES];
    cmp_pair_request_lat(p, r, none);
}

void cmp_pair_request_lat(struct cmp_pair *p, const struct cmp_req *r, const uint64_t lat_us[CMP_SIDES])
{
    p->st.requests++;
    uint64_t index = p->nreq++;
    if (r->flags & CMP_R_NOREPLY) {
        struct cmp_slot tmp;
        memset(&tmp, 0, sizeof(tmp));
        tmp.index = index;
        tmp.req = *r;
        resolve(p, &tmp, CMP_REASON_NOREPLY);
        return;
    }
    if (p->next_req < p->base)
        p->next_req = p->base; /* its slot was given up (over_limit): start a new one */
    struct cmp_slot *s = p->next_req < p->tail ? slot_at(p, p->next_req) : slot_new(p);
    p->next_req++;
    s->has_req = true;
    s->index = index;
    s->req = *r;
    for (int i = 0; i < CMP_SIDES; i++)
        if (s->ans[i] && s->ans[i]->lat_us == 0)
            s->ans[i]->lat_us = lat_us[i];
    try_resolve(p, s);
    compact(p);
}

void cmp_pair_answer(struct cmp_pair *p, enum cmp_side side, const struct cmp_unit *u)
{
    if (u->flags & CMP_U_PUSH) {
        p->st.pushes++; /* a RESP3 push answers no request */
        return;
    }
    if ((int)side >= p->nsides)
        return; /* no baseline asked for */
    if (p->next_ans[side] < p->base) {
        p->next_ans[side]++; /* its slot was given up */
        p->st.dropped_late++;
        return;
    }
    struct cmp_slot *s = p->next_ans[side] < p->tail ? slot_at(p, p->next_ans[side]) : slot_new(p);
    p->next_ans[side]++;
    if (s->done || s->ans[side] || s->missing[side] != CMP_REASON_NONE) {
        p->st.dropped_late++;
    } else if (completes(p, s, side)) { /* compared at once: no copy */
        p->borrowed = u;
        s->ans[side] = (struct cmp_unit *)u;
        resolve(p, s, CMP_REASON_NONE);
        p->borrowed = NULL;
    } else {
        s->ans[side] = unit_get(p);
        if (s->ans[side])
            cmp_unit_copy(s->ans[side], u);
        else
            s->missing[side] = side == CMP_ONLINE ? CMP_REASON_ONLINE_INCOMPLETE
                                                   : CMP_REASON_TARGET_INCOMPLETE;
    }
    try_resolve(p, s);
    if (u->flags & CMP_U_LAST) { /* the framer stopped: later requests too, for its reason */
        enum cmp_reason why = unit_reason(u, side);
        why = why != CMP_REASON_NONE ? why : CMP_REASON_UNPARSABLE;
        cmp_pair_side_end(p, side, why);
        p->lost[side] = why;
    }
    compact(p);
}

void cmp_pair_side_end(struct cmp_pair *p, enum cmp_side side, enum cmp_reason reason)
{
    for (uint64_t a = p->base; a < p->tail; a++) {
        struct cmp_slot *s = slot_at(p, a);
        if (s->done || s->ans[side])
            continue;
        s->missing[side] = reason;
        try_resolve(p, s);
    }
    p->next_ans[side] = p->tail;
    if (side == CMP_BASELINE)
        p->lost[side] = reason; /* never rebuilt: later requests do not wait for it */
    compact(p);
}

void cmp_pair_side_end_before(struct cmp_pair *p, enum cmp_side side, enum cmp_reason reason,
                              uint64_t nreq)
{
    uint64_t a = p->base;
    for (; a < p->tail; a++) {
        struct cmp_slot *s = slot_at(p, a);
        if (s->has_req ? s->index >= nreq : a >= p->next_req)
            break; /* slots are in request order: the rest is the new connection's */
        if (s->done || s->ans[side])
            continue;
        s->missing[side] = reason;
        try_resolve(p, s);
    }
    if (a > p->next_ans[side])
        p->next_ans[side] = a;
    compact(p);
}

void cmp_pair_finish(struct cmp_pair *p)
{
    for (uint64_t a = p->base; a < p->tail; a++) {
        struct cmp_slot *s = slot_at(p, a);
        if (s->done)
            continue;
        if (!s->has_req) {
            p->st.orphans++; /* answers to no request seen */
            continue;
        }
        for (int i = 0; i < p->nsides; i++)
            if (!s->ans[i] && s->missing[i] == CMP_REASON_NONE)
                s->missing[i] = i == 0 ? CMP_REASON_NO_ANSWER_ONLINE : CMP_REASON_NO_ANSWER_TARGET;
        try_resolve(p, s);
    }
    for (uint64_t a = p->base; a < p->tail; a++)
        slot_clear(p, slot_at(p, a));
    p->base = p->tail = p->next_req = 0;
    memset(p->next_ans, 0, sizeof(p->next_ans));
}
