/*
 * wheel: hashed timer wheel (see wheel.h). Owns nothing but the slot heads; the
 * nodes are embedded in their owners (sessions).
 */
#include "wheel.h"

static void bit_set(struct wheel *w, unsigned s)
{
    w->bitmap[s / 64] |= 1ULL << (s % 64);
}

static void bit_clear_if_empty(struct wheel *w, unsigned s)
{
    if (LIST_EMPTY(&w->slots[s]))
        w->bitmap[s / 64] &= ~(1ULL << (s % 64));
}

void wheel_init(struct wheel *w, uint64_t now_ms)
{
    for (unsigned i = 0; i < WHEEL_SLOTS; i++)
        LIST_INIT(&w->slots[i]);
    for (unsigned i = 0; i < WHEEL_SLOTS / 64; i++)
        w->bitmap[i] = 0;
    w->cur_ms = now_ms;
    w->armed = 0;
}

void wheel_del(struct wheel *w, struct wheel_node *n)
{
    if (!n->armed)
        return;
    LIST_REMOVE(n, entry);
    bit_clear_if_empty(w, n->slot);
    n->armed = false;
    w->armed--;
}

void wheel_set(struct wheel *w, struct wheel_node *n, uint64_t deadline_ms)
{
    if (n->armed) {
        if (n->deadline_ms == deadline_ms)
            return;
        wheel_del(w, n);
    }
    /* A deadline already past goes into the current slot so the next advance sees it. */
    uint64_t at = deadline_ms;
    if (at < w->cur_ms)
        at = w->advancing ? w->advance_end + 1 : w->cur_ms;
    n->deadline_ms = deadline_ms;
    n->slot = (uint16_t)(at % WHEEL_SLOTS);
    n->armed = true;
    LIST_INSERT_HEAD(&w->slots[n->slot], n, entry);
    bit_set(w, n->slot);
    w->armed++;
}

static void fire_slot(struct wheel *w, unsigned s, uint64_t now_ms, wheel_cb *cb, void *arg)
{
    struct wheel_node *n, *next;

    /* Collect the due nodes first: a callback may re-arm a node into this very slot. */
    struct wheel_list due;
    LIST_INIT(&due);
    for (n = LIST_FIRST(&w->slots[s]); n != NULL; n = next) {
        next = LIST_NEXT(n, entry);
        if (n->deadline_ms <= now_ms) {
            LIST_REMOVE(n, entry);
            LIST_INSERT_HEAD(&due, n, entry);
        }
    }
    bit_clear_if_empty(w, s);
    while ((n = LIST_FIRST(&due)) != NULL) {
        LIST_REMOVE(n, entry);
        n->armed = false;
        w->armed--;
        cb(arg, n);
    }
}

void wheel_advance(struct wheel *w, uint64_t now_ms, wheel_cb *cb, void *arg)
{
    if (now_ms < w->cur_ms)
        return;
    uint64_t span = now_ms - w->cur_ms + 1;
    if (span > WHEEL_SLOTS)
        span = WHEEL_SLOTS; /* a full revolution visits every slot once */
    uint64_t start = now_ms + 1 - span;
    /* While slot t fires, a callback may re-arm: for a time later in this pass, the
     * node waits in its own slot, still ahead; for a time already passed, it must not
     * land in a slot this pass has left behind (a revolution's delay), so wheel_set
     * puts it just after the pass: it fires on the next advance, never twice in one. */
    w->advancing = true;
    w->advance_end = now_ms;
    for (uint64_t t = start; t <= now_ms; t++) {
        w->cur_ms = t + 1;
        unsigned s = (unsigned)(t % WHEEL_SLOTS);
        if (w->bitmap[s / 64] & (1ULL << (s % 64)))
            fire_slot(w, s, now_ms, cb, arg);
    }
    w->cur_ms = now_ms + 1;
    w->advancing = false;
}

uint64_t wheel_next(const struct wheel *w)
{
    if (w->armed == 0)
        return UINT64_MAX;
    /* The first non-empty slot at or after cur_ms; its nodes fire no earlier than its time.
     * Slots are scanned a bitmap word at a time (WHEEL_SLOTS is a multiple of 64). */
    for (unsigned i = 0; i < WHEEL_SLOTS;) {
        uint64_t t = w->cur_ms + i;
        unsigned s = (unsigned)(t % WHEEL_SLOTS);
        uint64_t word = w->bitmap[s / 64] >> (s % 64);
        if (word != 0)
            return t + (uint64_t)__builtin_ctzll(word);
        i += 64 - (s % 64);
    }
    return w->cur_ms + WHEEL_SLOTS;
}
