/*
 * cmp_sfeed: what the framers of a compared session call back (a request, an answer, a
 * result) and how answer bytes are fed to them (see cmp_sess_impl.h), shared by the
 * client's and online server's side (cmp_sess.c) and the target's (cmp_starget.c).
 */
#include "cmp_sess_impl.h"

void cs_result(void *arg, const struct cmp_result *r)
{
    struct cmp_sess *cs = arg;
    struct cmp_ctx *x = cs->x;
    if (r->noise) /* counted apart, as in summary.json */
        x->st.noise++;
    else
        x->st.results[r->verdict <= CMP_NOT_COMPARED ? r->verdict : CMP_NOT_COMPARED]++;
    if (r->verdict == CMP_NOT_COMPARED && (unsigned)r->reason < CMP_REASON_COUNT)
        x->st.reasons[r->reason]++;
    x->st.baseline_missing += r->baseline_missing;
    if (x->conf.sink != NULL)
        x->conf.sink(x->conf.sink_arg, r, &cs->ckey);
}

bool cs_is_raw(const struct cmp_sess *cs)
{
    return cmp_reqf_proto(cs->rq) == CMP_PROTO_RAW;
}

void cs_request(void *arg, const struct cmp_req *r)
{
    struct cmp_sess *cs = arg;
    cs->x->st.requests++;
    uint64_t index = cs->nreq++;
    cs->c_req_end += (uint32_t)r->len;
    cmp_ansf_expect(cs->af[CMP_ONLINE], r);
    cmp_ansf_expect(cs->af[CMP_TARGET], r);
    if (cs->bs != NULL)
        cmp_bside_expect(cs->bs, r);
    uint64_t lat[CMP_SIDES] = {0, 0, 0};
    if (!(r->flags & CMP_R_NOREPLY)) {
        uint64_t a = cs->nans_req++;
        cs->ring[a % CS_RING] = (struct cs_req){
            .index = index, .flags = r->flags, .end_seq = cs->c_req_end, .cap_us = cs->now_us};
        /* Its online answer was read first (another socket): the latency is known now. */
        uint64_t at = cs->early_at[a % CS_RING];
        if (cs->nans[CMP_ONLINE] > a && cs->nans[CMP_ONLINE] - a <= CS_RING && at >= cs->now_us)
            lat[CMP_ONLINE] = at - cs->now_us + (at == cs->now_us);
    }
    cmp_pair_request_lat(cs->pair, r, lat);
}

/* The request an answer of a side answers, if its times are still kept. */
static const struct cs_req *answered(const struct cmp_sess *cs, uint64_t k)
{
    if (k >= cs->nans_req || cs->nans_req - k > CS_RING)
        return NULL;
    return &cs->ring[k % CS_RING];
}

static void cs_answer(struct cmp_sess *cs, enum cmp_side side, const struct cmp_unit *u0)
{
    struct cmp_unit u = *u0;
    u.lat_us = 0;
    if (!(u.flags & CMP_U_PUSH)) {
        if (side == CMP_ONLINE)
            cs->early_at[cs->nans[side] % CS_RING] = cs->start_us[side];
        const struct cs_req *q = answered(cs, cs->nans[side]++);
        uint64_t from = q == NULL || q->cap_us == 0 ? 0
                        : side == CMP_ONLINE        ? q->cap_us
                                                    : q->sent_us;
        uint64_t at = cs->start_us[side];
        if (from != 0 && at != 0 && at >= from)
            u.lat_us = at - from + (at == from); /* 0 means unknown */
    }
    /* Ended before the segment's last byte: the next answer starts in the same segment. */
    cs->start_us[side] = cs->in_feed[side] && !cs->in_tail[side] ? cs->now_us : 0;
    cmp_pair_answer(cs->pair, side, &u);
}

void cs_online(void *arg, const struct cmp_unit *u)
{
    cs_answer(arg, CMP_ONLINE, u);
}

void cs_target(void *arg, const struct cmp_unit *u)
{
    cs_answer(arg, CMP_TARGET, u);
}

void cs_side_feed(struct cmp_sess *cs, enum cmp_side side, const uint8_t *p, uint32_t n,
                  uint64_t t)
{
    cs->now_us = t;
    if (cs->start_us[side] == 0)
        cs->start_us[side] = t;
    cs->in_feed[side] = true;
    if (n > 1)
        cmp_ansf_feed(cs->af[side], p, n - 1);
    cs->in_tail[side] = true;
    cmp_ansf_feed(cs->af[side], p + n - 1, 1);
    cs->in_feed[side] = cs->in_tail[side] = false;
}
