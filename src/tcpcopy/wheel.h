/*
 * wheel: a hashed timer wheel for per-session deadlines (1 ms slots, 4096 of them).
 * Add, delete and re-arm are O(1); a deadline beyond one revolution simply stays
 * in its slot and is skipped until its turn, which costs one compare per
 * revolution (4 s) for an idle session. A bitmap of non-empty slots lets the
 * owner find the next wake-up without walking empty slots.
 */
#ifndef TC_WHEEL_H
#define TC_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#define WHEEL_SLOTS 4096

struct wheel_node {
    LIST_ENTRY(wheel_node) entry;
    uint64_t deadline_ms;
    uint16_t slot;
    bool armed;
};

LIST_HEAD(wheel_list, wheel_node);

struct wheel {
    struct wheel_list slots[WHEEL_SLOTS];
    uint64_t bitmap[WHEEL_SLOTS / 64];
    uint64_t cur_ms; /* every slot before this time has been processed */
    uint64_t armed;
    uint64_t advance_end; /* while advancing: the time the pass runs to */
    bool advancing;       /* inside wheel_advance */
};

typedef void wheel_cb(void *arg, struct wheel_node *n);

void wheel_init(struct wheel *w, uint64_t now_ms);
/* Arm (or move) n to fire at deadline_ms (a past deadline fires on the next advance). */
void wheel_set(struct wheel *w, struct wheel_node *n, uint64_t deadline_ms);
void wheel_del(struct wheel *w, struct wheel_node *n); /* no-op if not armed */
/* Fire every node whose deadline is <= now_ms; the node is disarmed before cb runs,
 * and cb may re-arm it or others. */
void wheel_advance(struct wheel *w, uint64_t now_ms, wheel_cb *cb, void *arg);
/* A time at or before the earliest deadline (UINT64_MAX if nothing is armed). */
uint64_t wheel_next(const struct wheel *w);

#endif
