/*
 * admit: which client sessions are copied, and as whom. Sampling (-r, -g), the memory
 * bound for new sessions, the rewritten client address (-c, -H) and port (-n copies,
 * -f instances, collisions, tuples the target still holds), the route registered with
 * intercept, and the release of everything a session holds.
 */
#include <string.h>

#include "tcp_impl.h"

#define PLACE_ATTEMPTS 8
#define PORT_SPAN (65536 - 1024)

static void route_notify(struct eng *e, const struct sess *s, bool add)
{
    struct chan_route r = {
        .client = s->tkey.src, .cport = s->tkey.sport, .target = s->tkey.dst, .tport = s->tkey.dport};
    e->io.route(e->io.arg, add, &r);
}

/* The client's address and port, hashed with a fixed seed: every packet, every run and
 * every host agrees. */
static uint64_t client_hash(const struct pkt *p, uint64_t seed)
{
    uint8_t key[18];
    memcpy(key, p->t.src.u.b, 16);
    key[16] = (uint8_t)(p->t.sport >> 8);
    key[17] = (uint8_t)p->t.sport;
    return hash_bytes(key, sizeof(key), seed);
}

/* Independent of sampling (another seed): -r 50 with --shard 0/2 keeps a quarter. */
bool admit_shard(const struct eng *e, const struct pkt *p)
{
    return e->conf.shard_n <= 1 ||
           client_hash(p, 0x7368617264ULL) % e->conf.shard_n == e->conf.shard_k;
}

bool admit_sampled(const struct eng *e, const struct pkt *p)
{
    unsigned pct = e->conf.sample_pct;
    if (e->conf.ramp) {
        uint64_t ramp = 1 + (e->now_us - e->t_start_us) / 1000000;
        if (ramp < pct)
            pct = (unsigned)ramp;
    }
    if (pct >= 100)
        return true;
    return client_hash(p, 0x7463706379ULL) % 100 < pct;
}

/*
 * The client port copy `copy` of a session from port sport uses toward the target,
 * on attempt `attempt`. Copy 0 of the only instance keeps the port; the others are
 * spread over 1024-65535 by copy number and by -f, so instances and copies do not
 * meet; a collision anyway makes the caller try the next attempt.
 */
static uint16_t copy_port(const struct eng *e, uint16_t sport, uint16_t copy, unsigned attempt)
{
    if (copy == 0 && e->conf.port_shift == 0 && attempt == 0)
        return sport;
    uint32_t step = PORT_SPAN / e->conf.copies;
    uint32_t base = sport >= 1024 ? sport - 1024u : sport;
    /* copy = epoch * copies + n: copies are spread a step apart, epochs (-T passes) by
     * a prime offset, instances (-f) by another. */
    uint32_t off = base + (uint32_t)(copy % e->conf.copies) * step +
                   (uint32_t)(copy / e->conf.copies) * 4099u +
                   (uint32_t)e->conf.port_shift * 61u + attempt * 7919u;
    return (uint16_t)(1024 + off % PORT_SPAN);
}

/* The rewritten client address for p's copy; false (counted) if its family cannot reach
 * the target. */
static bool pick_source(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                        uint16_t copy, struct tuple *tkey)
{
    const struct addr *fake = e->conf.cmap ? cmap_pick_copy(e->conf.cmap, &p->t.src, copy) : NULL;
    if (fake == NULL && addr_is_loopback(&p->t.src) && !addr_is_any(&e->conf.localhost))
        fake = &e->conf.localhost;
    tkey->src = fake ? *fake : p->t.src;
    tkey->dst = r->target;
    tkey->dport = r->target_port;
    if (tkey->src.af != tkey->dst.af) {
        e->st.sess_family_mismatch++;
        return false;
    }
    return true;
}

/* A client port toward the target that no live session and no stale tuple holds. */
static bool pick_port(struct eng *e, const struct pkt *p, uint16_t copy, struct tuple *tkey)
{
    for (unsigned attempt = 0; attempt < PLACE_ATTEMPTS; attempt++) {
        tkey->sport = copy_port(e, p->t.sport, copy, attempt);
        if (stale_has(&e->stale, tkey, e->now_us)) {
            e->st.sess_stale_avoided++;
            continue;
        }
        struct sess *old = sess_find_t(&e->tab, tkey);
        if (old == NULL)
            return true;
        if (old->state == SS_CLOSED) {
            admit_free(e, old);
            return true;
        }
        /* Two sessions that map to one rewritten address and port: try another port. */
        e->st.sess_collisions++;
    }
    e->st.sess_unplaced++;
    log_warnx_rl(&e->rl_coll, e->now_us,
                 "no free client port toward the target for port %u (copy %u): not copied",
                 p->t.sport, copy);
    return false;
}

struct sess *admit_alloc(struct eng *e, const struct pkt *p, const struct xfer_rule *r,
                         uint16_t copy)
{
    /* Past 90% of the queue memory bound, new sessions are refused: the ones in
     * flight keep the memory they need to finish. */
    if (chunk_pool_bytes(&e->pool) > e->conf.mem_max / 10 * 9) {
        e->st.sess_refused_memory++;
        log_warnx_rl(&e->rl_refuse, e->now_us,
                     "memory limit: %zu of %llu bytes queued, new sessions refused",
                     chunk_pool_bytes(&e->pool), (unsigned long long)e->conf.mem_max);
        return NULL;
    }
    struct tuple tkey;
    if (!pick_source(e, p, r, copy, &tkey) || !pick_port(e, p, copy, &tkey))
        return NULL;
    struct sess *s = sess_new(&e->tab, &p->t, copy, &tkey);
    if (s == NULL) {
        e->st.sess_table_full++;
        log_warnx_rl(&e->rl_full, e->now_us, "session table full (%zu): new session not copied",
                     e->tab.count);
        return NULL;
    }
    s->c_win = p->win;
    s->t0_us = e->now_us;
    s->last_active_us = s->last_progress_us = e->now_us;
    return s;
}

/*
 * The target still holds this session's tuple (its ACK of an older connection answered our
 * SYN, or the SYN went unanswered): note it, and move the session to a free tuple with
 * another client port, its route re-registered. The queued bytes stay. False if no port was
 * free within PLACE_ATTEMPTS (the caller retries on the same tuple).
 */
bool admit_move(struct eng *e, struct sess *s)
{
    struct tuple k = s->tkey;
    stale_note(&e->stale, &s->tkey, e->now_us);
    for (unsigned i = 1; i <= PLACE_ATTEMPTS; i++) {
        uint32_t base = s->tkey.sport >= 1024 ? s->tkey.sport - 1024u : s->tkey.sport;
        k.sport = (uint16_t)(1024 + (base + i * 7919u) % PORT_SPAN);
        if (sess_find_t(&e->tab, &k) != NULL || stale_has(&e->stale, &k, e->now_us))
            continue;
        if (s->flags & SF_ROUTED)
            route_notify(e, s, false);
        sess_retarget(&e->tab, s, &k);
        route_notify(e, s, true);
        s->flags |= SF_ROUTED;
        e->st.sess_moved++;
        return true;
    }
    return false;
}

void admit_start(struct eng *e, struct sess *s, uint32_t isn)
{
    s->state = SS_SYN_SENT;
    s->c_isn = isn;
    stream_init(&s->st, isn + 1);
    if (e->conf.mod != NULL && mod_sess_open(e, s) < 0) {
        s->flags |= SF_MOD_FAILED; /* the caller ends the session: nothing was sent */
        return;
    }
    route_notify(e, s, true);
    s->flags |= SF_ROUTED;
    conn_open(e, s, isn);
}

void admit_free(struct eng *e, struct sess *s)
{
    if (s->cmp != NULL)
        cmp_sess_close(e, s);
    else if (s->copy == CMP_BASE_COPY && e->conf.cmp != NULL)
        cmp_sess_base(e, s, NULL);
    conn_hs_release(e, s);
    conn_ack_unlist(e, s);
    wheel_del(&e->wheel, &s->timer);
    stream_clear(&s->st, &e->pool);
    gate_clear(s);
    mod_sess_close(e, s);
    if (s->flags & SF_ROUTED)
        route_notify(e, s, false);
    sess_del(&e->tab, s);
    e->st.sess_freed++;
}
