/*
 * route: intercept's table of routes, "replies of this session go to that peer".
 *
 * A route is keyed by the session as tcpcopy registered it: the (rewritten) client
 * address and port, and the target address and port. A captured reply travels
 * target -> client, so its key is (client = its destination, target = its source).
 *
 * The table is a chained hash with a seeded hash (the keys come from the network)
 * and exact key comparison. Entries come from a pool allocated once at its maximum
 * size; pages are touched only as the table fills. Each entry also sits on its
 * owner's list, so a disconnecting peer's routes go in O(its routes).
 *
 * route_hold is the small FIFO of replies whose route is not known yet (a SYN-ACK
 * can overtake its registration), delivered when the route arrives.
 */
#ifndef TC_ROUTE_H
#define TC_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define ROUTE_TABLE_MIN 1024
#define ROUTE_TABLE_MAX (1U << 26)

/* Compared byte for byte: build it with route_key_set(), which zeroes the padding. */
struct route_key {
    struct addr client;
    struct addr target;
    uint16_t cport;
    uint16_t tport;
};

void route_key_set(struct route_key *k, const struct addr *client, uint16_t cport,
                   const struct addr *target, uint16_t tport);

/*
 * The owner of routes (one per connected tcpcopy), embedded in the caller's struct.
 * The table links its entries through it; the caller gets it back from route_lookup()
 * and finds its own struct around it. Initialise with route_owner_init().
 */
struct route_owner {
    uint32_t head;  /* first entry (pool index + 1), 0 if none */
    uint32_t count; /* routes owned */
    uint64_t id;    /* the caller's id for this owner, for messages */
};
void route_owner_init(struct route_owner *o, uint64_t id);

struct route_stats {
    uint64_t added;      /* new routes */
    uint64_t reassigned; /* an existing route taken over by another owner */
    uint64_t refreshed;  /* ROUTE_ADD of a route the owner already had */
    uint64_t deleted;    /* by route_del */
    uint64_t full;       /* adds refused because the table was full */
};

struct route_table;

/* A table for up to max routes (clamped to ROUTE_TABLE_MIN..MAX), hashed with seed.
 * NULL if memory is short. */
struct route_table *route_table_new(uint32_t max, uint64_t seed);
/* NULL-safe. Owners still pointing into the table must not be used afterwards. */
void route_table_free(struct route_table *t);

enum route_add_result {
    ROUTE_ADDED = 0,
    ROUTE_REFRESHED = 1,  /* already owned by o */
    ROUTE_REASSIGNED = 2, /* was owned by another owner, now by o */
};
/* Add or take over the route k for o. Returns a route_add_result, or -ENOSPC if the
 * table is full (counted in stats.full). */
int route_add(struct route_table *t, const struct route_key *k, struct route_owner *o);
/* As route_add, keeping the registration's flags (CHAN_ROUTE_F_*: 0 for route_add); a
 * refresh or a takeover replaces them. */
int route_add_flags(struct route_table *t, const struct route_key *k, struct route_owner *o,
                    uint8_t flags);
/* Remove route k if o owns it (o NULL: whoever does). True if removed. */
bool route_del(struct route_table *t, const struct route_key *k, const struct route_owner *o);
/* The owner of k, or NULL. */
struct route_owner *route_lookup(const struct route_table *t, const struct route_key *k);
/* As route_lookup, with the route's flags in *flags (untouched when NULL is returned). */
struct route_owner *route_lookup_flags(const struct route_table *t, const struct route_key *k,
                                       uint8_t *flags);
/* Remove every route of o; returns how many. o is left empty. */
size_t route_remove_all_of(struct route_table *t, struct route_owner *o);
size_t route_count(const struct route_table *t);
size_t route_capacity(const struct route_table *t);
const struct route_stats *route_table_stats(const struct route_table *t);

/* ---- replies waiting for their route ---- */

#define ROUTE_HOLD_REC_MAX 120 /* = CHAN_REPLY_HDR_MAX: the largest header record kept */

struct route_hold_stats {
    uint64_t held;      /* replies put on hold */
    uint64_t delivered; /* handed over by route_hold_take() */
    uint64_t expired;   /* older than max_age when their route had not come */
    uint64_t overflow;  /* pushed out by newer ones when the FIFO was full */
    uint64_t toolong;   /* longer than ROUTE_HOLD_REC_MAX, not held */
};

struct route_hold;

/* A FIFO of up to nrec records of up to ROUTE_HOLD_REC_MAX bytes, kept max_age_us. */
struct route_hold *route_hold_new(size_t nrec, uint64_t max_age_us);
void route_hold_free(struct route_hold *h); /* NULL-safe */

/* Keep a copy of hdr (len bytes) for key k, received at now_us. Expired records go
 * first; if the FIFO is still full the oldest is dropped (overflow). 0, or -EMSGSIZE
 * if len > ROUTE_HOLD_REC_MAX. */
int route_hold_put(struct route_hold *h, const struct route_key *k, const uint8_t *hdr, size_t len,
                   uint64_t now_us);

typedef void route_hold_cb(void *arg, const uint8_t *hdr, size_t len);
/* Hand every unexpired record for k to cb, oldest first, and forget them. Returns how
 * many. Cheap when the FIFO is empty. */
size_t route_hold_take(struct route_hold *h, const struct route_key *k, uint64_t now_us,
                       route_hold_cb *cb, void *arg);
/* Drop the records older than max_age (counted as expired). */
void route_hold_expire(struct route_hold *h, uint64_t now_us);
/* Records waiting. */
size_t route_hold_count(const struct route_hold *h);
const struct route_hold_stats *route_hold_stats(const struct route_hold *h);

#endif
