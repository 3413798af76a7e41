/*
 * stale: target-side tuples the target still remembers, so that new sessions do not pick
 * them for a while.
 *
 * A target keeps a connection's tuple after it ends: in TIME-WAIT for a minute when it
 * closed first (RFC 9293 3.6.1), or as a half-open entry. A SYN on such a tuple is answered
 * by a bare ACK of the old connection instead of a SYN-ACK (when the new SYN's sequence
 * number and timestamp are not above the old connection's). The engine learns these tuples
 * from that ACK and notes them here.
 *
 * A small direct-mapped table of seeded tuple hashes with an expiry each: a collision
 * forgets an older entry (the cost is one round trip to learn it again), and nothing is
 * allocated until the first tuple is noted.
 */
#ifndef TC_STALE_H
#define TC_STALE_H

#include <stdbool.h>
#include <stdint.h>

#include "addr.h"

#define STALE_SLOTS 16384
#define STALE_TTL_US (60ULL * 1000000) /* Linux's TIME-WAIT length */

struct stale_slot;

struct stale {
    struct stale_slot *slots; /* NULL until the first stale_note */
    uint64_t seed;
    uint64_t noted, hits, alloc_failed;
};

void stale_init(struct stale *st, uint64_t seed);
void stale_free(struct stale *st); /* NULL-safe */
/* Remember t as unusable until now_us + STALE_TTL_US. */
void stale_note(struct stale *st, const struct tuple *t, uint64_t now_us);
/* Is t remembered and not expired? Counts a hit. */
bool stale_has(struct stale *st, const struct tuple *t, uint64_t now_us);

#endif
