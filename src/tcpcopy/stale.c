/*
 * stale: the table of tuples a target still remembers (see stale.h). Owns its slots.
 */
#include <stdlib.h>

#include "stale.h"

struct stale_slot {
    uint64_t key;   /* tuple hash | 1 (0: empty) */
    uint64_t until; /* expiry, microseconds */
};

void stale_init(struct stale *st, uint64_t seed)
{
    st->slots = NULL;
    st->seed = seed;
    st->noted = st->hits = st->alloc_failed = 0;
}

void stale_free(struct stale *st)
{
    if (st == NULL)
        return;
    free(st->slots);
    st->slots = NULL;
}

static uint64_t stale_key(const struct stale *st, const struct tuple *t)
{
    return tuple_hash(t, st->seed) | 1;
}

void stale_note(struct stale *st, const struct tuple *t, uint64_t now_us)
{
    if (st->slots == NULL) {
        st->slots = calloc(STALE_SLOTS, sizeof(*st->slots));
        if (st->slots == NULL) {
            st->alloc_failed++; /* only a round trip lost per such tuple */
            return;
        }
    }
    uint64_t k = stale_key(st, t);
    struct stale_slot *sl = &st->slots[(k >> 1) % STALE_SLOTS];
    sl->key = k;
    sl->until = now_us + STALE_TTL_US;
    st->noted++;
}

bool stale_has(struct stale *st, const struct tuple *t, uint64_t now_us)
{
    if (st->slots == NULL)
        return false;
    uint64_t k = stale_key(st, t);
    const struct stale_slot *sl = &st->slots[(k >> 1) % STALE_SLOTS];
    if (sl->key != k || now_us >= sl->until)
        return false;
    st->hits++;
    return true;
}
