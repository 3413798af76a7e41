/*
 * sess: the session table (see sess.h). Owns the session objects and the buckets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sess.h"

#define SESS_SLAB 256

int sess_table_init(struct sess_table *t, size_t max, uint64_t seed)
{
    memset(t, 0, sizeof(*t));
    t->max = max ? max : 1;
    t->seed = seed;
    t->nbuckets = 1024;
    t->by_c = calloc(t->nbuckets, sizeof(*t->by_c));
    t->by_t = calloc(t->nbuckets, sizeof(*t->by_t));
    TAILQ_INIT(&t->all);
    if (t->by_c == NULL || t->by_t == NULL) {
        sess_table_free(t);
        return -ENOMEM;
    }
    return 0;
}

void sess_table_free(struct sess_table *t)
{
    free(t->by_c);
    free(t->by_t);
    for (size_t i = 0; i < t->nslabs; i++)
        free(t->slabs[i]);
    free(t->slabs);
    memset(t, 0, sizeof(*t));
}

static size_t bucket(const struct sess_table *t, const struct tuple *k)
{
    return (size_t)tuple_hash(k, t->seed) & (t->nbuckets - 1);
}

/* The client key is the captured tuple and the copy number (-n). */
static size_t bucket_c(const struct sess_table *t, const struct tuple *k, uint16_t copy)
{
    return (size_t)(tuple_hash(k, t->seed) + copy * 0x9E3779B97F4A7C15ULL) & (t->nbuckets - 1);
}

/* Double the buckets when the load passes 1: chains stay short under any load. */
static void grow(struct sess_table *t)
{
    size_t n = t->nbuckets * 2;
    struct sess **bc = calloc(n, sizeof(*bc));
    struct sess **bt = calloc(n, sizeof(*bt));
    if (bc == NULL || bt == NULL) {
        free(bc);
        free(bt);
        return; /* keep the old buckets: longer chains, still correct */
    }
    struct sess **oc = t->by_c, **ot = t->by_t;
    size_t on = t->nbuckets;
    t->by_c = bc;
    t->by_t = bt;
    t->nbuckets = n;
    for (size_t i = 0; i < on; i++) {
        struct sess *s = oc[i];
        while (s != NULL) {
            struct sess *nx = s->next_c;
            size_t b = bucket_c(t, &s->ckey, s->copy);
            s->next_c = t->by_c[b];
            t->by_c[b] = s;
            s = nx;
        }
        s = ot[i];
        while (s != NULL) {
            struct sess *nx = s->next_t;
            size_t b = bucket(t, &s->tkey);
            s->next_t = t->by_t[b];
            t->by_t[b] = s;
            s = nx;
        }
    }
    free(oc);
    free(ot);
}

static struct sess *alloc_one(struct sess_table *t)
{
    if (t->free == NULL) {
        if (t->nslabs == t->slabs_cap) {
            size_t ncap = t->slabs_cap ? t->slabs_cap * 2 : 16;
            void **ns = realloc(t->slabs, ncap * sizeof(*ns));
            if (ns == NULL)
                return NULL;
            t->slabs = ns;
            t->slabs_cap = ncap;
        }
        struct sess *slab = malloc(SESS_SLAB * sizeof(*slab));
        if (slab == NULL)
            return NULL;
        t->slabs[t->nslabs++] = slab;
        for (int i = SESS_SLAB - 1; i >= 0; i--) {
            slab[i].next_c = t->free;
            t->free = &slab[i];
        }
    }
    struct sess *s = t->free;
    t->free = s->next_c;
    return s;
}

struct sess *sess_new(struct sess_table *t, const struct tuple *ckey, uint16_t copy,
                      const struct tuple *tkey)
{
    if (t->count >= t->max)
        return NULL;
    struct sess *s = alloc_one(t);
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof(*s));
    s->ckey = *ckey;
    s->copy = copy;
    s->tkey = *tkey;
    if (t->count + 1 > t->nbuckets)
        grow(t);
    size_t b = bucket_c(t, ckey, copy);
    s->next_c = t->by_c[b];
    t->by_c[b] = s;
    b = bucket(t, tkey);
    s->next_t = t->by_t[b];
    t->by_t[b] = s;
    TAILQ_INSERT_TAIL(&t->all, s, all);
    t->count++;
    return s;
}

static void unlink_c(struct sess_table *t, struct sess *s);
static void unlink_t(struct sess_table *t, struct sess *s);

void sess_del(struct sess_table *t, struct sess *s)
{
    unlink_c(t, s);
    unlink_t(t, s);
    TAILQ_REMOVE(&t->all, s, all);
    free(s->marks);
    s->marks = NULL;
    t->count--;
    s->next_c = t->free;
    t->free = s;
}

/* Unlink s from the chain of bucket *pp that next points into (by client or target key). */
static void unlink_c(struct sess_table *t, struct sess *s)
{
    struct sess **pp = &t->by_c[bucket_c(t, &s->ckey, s->copy)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->next_c;
    if (*pp == s)
        *pp = s->next_c;
    s->next_c = NULL;
}

static void unlink_t(struct sess_table *t, struct sess *s)
{
    struct sess **pp = &t->by_t[bucket(t, &s->tkey)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->next_t;
    if (*pp == s)
        *pp = s->next_t;
    s->next_t = NULL;
}

void sess_detach_c(struct sess_table *t, struct sess *s)
{
    unlink_c(t, s);
}

void sess_retarget(struct sess_table *t, struct sess *s, const struct tuple *tkey)
{
    unlink_t(t, s);
    s->tkey = *tkey;
    size_t b = bucket(t, tkey);
    s->next_t = t->by_t[b];
    t->by_t[b] = s;
}

struct sess *sess_find_c(const struct sess_table *t, const struct tuple *ckey, uint16_t copy)
{
    for (struct sess *s = t->by_c[bucket_c(t, ckey, copy)]; s != NULL; s = s->next_c)
        if (s->copy == copy && tuple_eq(&s->ckey, ckey))
            return s;
    return NULL;
}

struct sess *sess_find_t(const struct sess_table *t, const struct tuple *tkey)
{
    for (struct sess *s = t->by_t[bucket(t, tkey)]; s != NULL; s = s->next_t)
        if (tuple_eq(&s->tkey, tkey))
            return s;
    return NULL;
}

void sess_touch(struct sess_table *t, struct sess *s, uint64_t now_us)
{
    s->last_active_us = now_us;
    if (TAILQ_NEXT(s, all) != NULL) {
        TAILQ_REMOVE(&t->all, s, all);
        TAILQ_INSERT_TAIL(&t->all, s, all);
    }
}
