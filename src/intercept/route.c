/*
 * route: intercept's route table and the FIFO of replies waiting for a route
 * (see route.h). Owns the entry pool, the bucket array and the FIFO's records.
 *
 * Entries are referred to by pool index + 1 so that 0 means "none" and calloc'd
 * memory is a valid empty table: nothing is written until it is used, so a large
 * -s costs address space, not memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

#define ROUTE_NIL 0

struct route_ent {
    struct route_key key;
    uint32_t next;             /* hash chain, or free list when unused */
    uint32_t oprev, onext;     /* owner's list */
    struct route_owner *owner; /* NULL when free */
    uint8_t flags;             /* the registration's CHAN_ROUTE_F_* */
};

struct route_table {
    struct route_ent *pool;
    uint32_t *buckets; /* heads of the hash chains */
    uint32_t mask;     /* buckets - 1 */
    uint32_t max;      /* pool size */
    uint32_t hi;       /* pool entries ever used; beyond it memory is untouched */
    uint32_t free;     /* free list of released entries */
    uint32_t count;
    uint64_t seed;
    struct route_stats st;
};

static void route_addr_copy(struct addr *dst, const struct addr *src)
{
    dst->af = src->af;
    if (src->af == AF_INET)
        memcpy(dst->u.b, src->u.b, 4);
    else if (src->af == AF_INET6)
        memcpy(dst->u.b, src->u.b, 16);
}

void route_key_set(struct route_key *k, const struct addr *client, uint16_t cport,
                   const struct addr *target, uint16_t tport)
{
    /* Zero everything first, padding and unused address bytes included: keys are
     * hashed and compared as bytes. */
    memset(k, 0, sizeof(*k));
    route_addr_copy(&k->client, client);
    route_addr_copy(&k->target, target);
    k->cport = cport;
    k->tport = tport;
}

void route_owner_init(struct route_owner *o, uint64_t id)
{
    o->head = ROUTE_NIL;
    o->count = 0;
    o->id = id;
}

struct route_table *route_table_new(uint32_t max, uint64_t seed)
{
    if (max < ROUTE_TABLE_MIN)
        max = ROUTE_TABLE_MIN;
    if (max > ROUTE_TABLE_MAX)
        max = ROUTE_TABLE_MAX;
    uint32_t nb = 1;
    while (nb < max)
        nb <<= 1;

    struct route_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->pool = calloc(max, sizeof(*t->pool));
    t->buckets = calloc(nb, sizeof(*t->buckets));
    if (t->pool == NULL || t->buckets == NULL) {
        route_table_free(t);
        return NULL;
    }
    t->mask = nb - 1;
    t->max = max;
    t->seed = seed;
    return t;
}

void route_table_free(struct route_table *t)
{
    if (t == NULL)
        return;
    free(t->pool);
    free(t->buckets);
    free(t);
}

static inline struct route_ent *route_ent(const struct route_table *t, uint32_t idx)
{
    return &t->pool[idx - 1];
}

static inline uint32_t route_bucket(const struct route_table *t, const struct route_key *k)
{
    return (uint32_t)hash_bytes(k, sizeof(*k), t->seed) & t->mask;
}

/* Index of k's entry, or ROUTE_NIL; *pprev gets the link that points to it. */
static uint32_t route_find(const struct route_table *t, const struct route_key *k, uint32_t **pprev)
{
    uint32_t *link = &t->buckets[route_bucket(t, k)];
    while (*link != ROUTE_NIL) {
        struct route_ent *e = route_ent(t, *link);
        if (memcmp(&e->key, k, sizeof(*k)) == 0) {
            if (pprev != NULL)
                *pprev = link;
            return *link;
        }
        link = &e->next;
    }
    return ROUTE_NIL;
}

static void route_owner_link(struct route_table *t, uint32_t idx, struct route_owner *o)
{
    struct route_ent *e = route_ent(t, idx);
    e->owner = o;
    e->oprev = ROUTE_NIL;
    e->onext = o->head;
    if (o->head != ROUTE_NIL)
        route_ent(t, o->head)->oprev = idx;
    o->head = idx;
    o->count++;
}

static void route_owner_unlink(struct route_table *t, uint32_t idx)
{
    struct route_ent *e = route_ent(t, idx);
    struct route_owner *o = e->owner;
    if (e->oprev != ROUTE_NIL)
        route_ent(t, e->oprev)->onext = e->onext;
    else
        o->head = e->onext;
    if (e->onext != ROUTE_NIL)
        route_ent(t, e->onext)->oprev = e->oprev;
    o->count--;
    e->owner = NULL;
    e->oprev = e->onext = ROUTE_NIL;
}

int route_add(struct route_table *t, const struct route_key *k, struct route_owner *o)
{
    return route_add_flags(t, k, o, 0);
}

int route_add_flags(struct route_table *t, const struct route_key *k, struct route_owner *o,
                    uint8_t flags)
{
    uint32_t idx = route_find(t, k, NULL);
    if (idx != ROUTE_NIL) {
        struct route_ent *e = route_ent(t, idx);
        e->flags = flags; /* the latest registration says what it wants */
        if (e->owner == o) {
            t->st.refreshed++;
            return ROUTE_REFRESHED;
        }
        /* The session moved to another tcpcopy (a restart, or two instances
         * rewriting to the same addresses): the latest registration wins. */
        route_owner_unlink(t, idx);
        route_owner_link(t, idx, o);
        t->st.reassigned++;
        return ROUTE_REASSIGNED;
    }

    if (t->free != ROUTE_NIL) {
        idx = t->free;
        t->free = route_ent(t, idx)->next;
    } else if (t->hi < t->max) {
        idx = ++t->hi;
    } else {
        t->st.full++;
        return -ENOSPC;
    }
    struct route_ent *e = route_ent(t, idx);
    e->key = *k;
    e->flags = flags;
    uint32_t *head = &t->buckets[route_bucket(t, k)];
    e->next = *head;
    *head = idx;
    route_owner_link(t, idx, o);
    t->count++;
    t->st.added++;
    return ROUTE_ADDED;
}

/* Unlink idx (found through *link) from its chain and its owner, and free it. */
static void route_release(struct route_table *t, uint32_t idx, uint32_t *link)
{
    struct route_ent *e = route_ent(t, idx);
    *link = e->next;
    route_owner_unlink(t, idx);
    e->next = t->free;
    t->free = idx;
    t->count--;
}

bool route_del(struct route_table *t, const struct route_key *k, const struct route_owner *o)
{
    uint32_t *link;
    uint32_t idx = route_find(t, k, &link);
    if (idx == ROUTE_NIL)
        return false;
    /* A tcpcopy that lost a route to another must not remove the other's. */
    if (o != NULL && route_ent(t, idx)->owner != o)
        return false;
    route_release(t, idx, link);
    t->st.deleted++;
    return true;
}

struct route_owner *route_lookup(const struct route_table *t, const struct route_key *k)
{
    uint32_t idx = route_find(t, k, NULL);
    return idx == ROUTE_NIL ? NULL : route_ent(t, idx)->owner;
}

struct route_owner *route_lookup_flags(const struct route_table *t, const struct route_key *k,
                                       uint8_t *flags)
{
    uint32_t idx = route_find(t, k, NULL);
    if (idx == ROUTE_NIL)
        return NULL;
    *flags = route_ent(t, idx)->flags;
    return route_ent(t, idx)->owner;
}

size_t route_remove_all_of(struct route_table *t, struct route_owner *o)
{
    size_t n = 0;
    while (o->head != ROUTE_NIL) {
        uint32_t idx = o->head;
        uint32_t *link = NULL;
        /* The chain walk is short (load factor <= 1); it finds the link to rewrite. */
        route_find(t, &route_ent(t, idx)->key, &link);
        route_release(t, idx, link);
        n++;
    }
    return n;
}

size_t route_count(const struct route_table *t)
{
    return t->count;
}

size_t route_capacity(const struct route_table *t)
{
    return t->max;
}

const struct route_stats *route_table_stats(const struct route_table *t)
{
    return &t->st;
}

/* ---- route_hold ---- */

struct route_hold_rec {
    struct route_key key;
    uint64_t t_us;
    uint16_t len;
    bool live; /* false once delivered: a hole until it reaches the head */
    uint8_t hdr[ROUTE_HOLD_REC_MAX];
};

struct route_hold {
    struct route_hold_rec *recs;
    size_t cap;
    size_t head; /* oldest slot */
    size_t used; /* slots from head, holes included */
    size_t live; /* records still waiting */
    uint64_t max_age_us;
    struct route_hold_stats st;
};

struct route_hold *route_hold_new(size_t nrec, uint64_t max_age_us)
{
    struct route_hold *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    if (nrec == 0)
        nrec = 1;
    h->recs = calloc(nrec, sizeof(*h->recs));
    if (h->recs == NULL) {
        free(h);
        return NULL;
    }
    h->cap = nrec;
    h->max_age_us = max_age_us;
    return h;
}

void route_hold_free(struct route_hold *h)
{
    if (h == NULL)
        return;
    free(h->recs);
    free(h);
}

static void route_hold_pop(struct route_hold *h)
{
    h->head = (h->head + 1) % h->cap;
    h->used--;
}

void route_hold_expire(struct route_hold *h, uint64_t now_us)
{
    /* Records are in arrival order, so the expired ones are all at the head. */
    while (h->used > 0) {
        struct route_hold_rec *r = &h->recs[h->head];
        if (r->live) {
            if (now_us - r->t_us <= h->max_age_us)
                break;
            r->live = false;
            h->live--;
            h->st.expired++;
        }
        route_hold_pop(h);
    }
}

int route_hold_put(struct route_hold *h, const struct route_key *k, const uint8_t *hdr, size_t len,
                   uint64_t now_us)
{
    if (len > ROUTE_HOLD_REC_MAX) {
        h->st.toolong++;
        return -EMSGSIZE;
    }
    route_hold_expire(h, now_us);
    if (h->used == h->cap) {
        struct route_hold_rec *old = &h->recs[h->head];
        if (old->live) {
            old->live = false;
            h->live--;
            h->st.overflow++;
        }
        route_hold_pop(h);
    }
    struct route_hold_rec *r = &h->recs[(h->head + h->used) % h->cap];
    r->key = *k;
    r->t_us = now_us;
    r->len = (uint16_t)len;
    r->live = true;
    memcpy(r->hdr, hdr, len);
    h->used++;
    h->live++;
    h->st.held++;
    return 0;
}

size_t route_hold_take(struct route_hold *h, const struct route_key *k, uint64_t now_us,
                       route_hold_cb *cb, void *arg)
{
    if (h->live == 0)
        return 0;
    route_hold_expire(h, now_us);
    size_t n = 0;
    for (size_t i = 0; i < h->used && h->live > 0; i++) {
        struct route_hold_rec *r = &h->recs[(h->head + i) % h->cap];
        if (!r->live || memcmp(&r->key, k, sizeof(*k)) != 0)
            continue;
        r->live = false;
        h->live--;
        h->st.delivered++;
        n++;
        cb(arg, r->hdr, r->len);
    }
    /* Drop the holes at the head so they do not take room. */
    while (h->used > 0 && !h->recs[h->head].live)
        route_hold_pop(h);
    return n;
}

size_t route_hold_count(const struct route_hold *h)
{
    return h->live;
}

const struct route_hold_stats *route_hold_stats(const struct route_hold *h)
{
    return &h->st;
}
