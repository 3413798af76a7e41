/*
 * test_wheel: the hashed timer wheel. Firing order and exact firing times,
 * re-arm and delete, past deadlines, deadlines several revolutions away, the
 * wheel_next bound, big time jumps, and callbacks that re-arm nodes while the
 * wheel advances.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wheel.h"

#define NMAX 64

struct rec {
    struct wheel *w;
    struct wheel_node *fired[4096];
    uint64_t at[4096];      /* deadline of each firing */
    size_t n;
    uint64_t now;           /* the advance in progress */
    /* Re-arm behaviour for the callback: node -> new deadline (0: none). */
    struct wheel_node *rearm_node;
    uint64_t rearm_to;
    int rearm_times;
};

static void on_fire(void *arg, struct wheel_node *n)
{
    struct rec *r = arg;
    assert_false(n->armed); /* disarmed before the callback */
    assert_true(n->deadline_ms <= r->now);
    assert_true(r->n < 4096);
    r->fired[r->n] = n;
    r->at[r->n] = n->deadline_ms;
    r->n++;
    if (n == r->rearm_node && r->rearm_times > 0) {
        r->rearm_times--;
        wheel_set(r->w, n, r->rearm_to);
    }
}

static void advance(struct rec *r, uint64_t now)
{
    r->now = now;
    wheel_advance(r->w, now, on_fire, r);
}

/* One recorder, reset per test: static so that a failing test leaks nothing. */
static struct rec the_rec;

static struct rec *rec_new(struct wheel *w)
{
    struct rec *r = &the_rec;
    memset(r, 0, sizeof(*r));
    r->w = w;
    return r;
}

static void test_fire_order(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node n[5];
    struct rec *r = rec_new(&w);

    memset(n, 0, sizeof(n));
    wheel_init(&w, 1000);
    assert_int_equal(wheel_next(&w), UINT64_MAX);
    wheel_set(&w, &n[0], 1005);
    wheel_set(&w, &n[1], 1003);
    wheel_set(&w, &n[2], 1010);
    wheel_set(&w, &n[3], 1003);
    wheel_set(&w, &n[4], 1001);
    assert_int_equal(w.armed, 5);
    assert_int_equal(wheel_next(&w), 1001);

    advance(r, 1000);
    assert_int_equal(r->n, 0);
    advance(r, 1010);
    assert_int_equal(r->n, 5);
    /* In deadline order; equal deadlines in either order. */
    assert_ptr_equal(r->fired[0], &n[4]);
    assert_true((r->fired[1] == &n[1] && r->fired[2] == &n[3]) ||
                (r->fired[1] == &n[3] && r->fired[2] == &n[1]));
    assert_ptr_equal(r->fired[3], &n[0]);
    assert_ptr_equal(r->fired[4], &n[2]);
    for (size_t i = 1; i < r->n; i++)
        assert_true(r->at[i - 1] <= r->at[i]);
    assert_int_equal(w.armed, 0);
    assert_int_equal(wheel_next(&w), UINT64_MAX);
    for (int i = 0; i < 5; i++)
        assert_false(n[i].armed);
}

static void test_fires_exactly_on_time(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node n[3];
    struct rec *r = rec_new(&w);

    memset(n, 0, sizeof(n));
    wheel_init(&w, 0);
    wheel_set(&w, &n[0], 7);
    wheel_set(&w, &n[1], 8);
    wheel_set(&w, &n[2], 4095);
    for (uint64_t t = 0; t <= 5000; t++) {
        size_t before = r->n;
        advance(r, t);
        if (t == 7 || t == 8 || t == 4095) {
            assert_int_equal(r->n, before + 1);
            assert_int_equal(r->at[before], t);
        } else {
            assert_int_equal(r->n, before);
        }
    }
    assert_int_equal(r->n, 3);
}

static void test_rearm_moves(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a, b;
    struct rec *r = rec_new(&w);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    wheel_init(&w, 0);
    wheel_set(&w, &a, 10);
    wheel_set(&w, &b, 20);
    wheel_set(&w, &a, 30); /* later */
    assert_int_equal(w.armed, 2);
    assert_int_equal(wheel_next(&w), 20);
    advance(r, 25);
    assert_int_equal(r->n, 1);
    assert_ptr_equal(r->fired[0], &b);
    wheel_set(&w, &a, 27); /* earlier */
    wheel_set(&w, &a, 27); /* same deadline: no-op */
    assert_int_equal(w.armed, 1);
    assert_int_equal(wheel_next(&w), 27);
    advance(r, 26);
    assert_int_equal(r->n, 1);
    advance(r, 27);
    assert_int_equal(r->n, 2);
    assert_ptr_equal(r->fired[1], &a);
    assert_int_equal(r->at[1], 27);
    advance(r, 100);
    assert_int_equal(r->n, 2); /* fired once only */
    /* Same slot a revolution apart: moving between them works. */
    wheel_set(&w, &a, 200);
    wheel_set(&w, &a, 200 + WHEEL_SLOTS);
    advance(r, 200 + WHEEL_SLOTS - 1);
    assert_int_equal(r->n, 2);
    advance(r, 200 + WHEEL_SLOTS);
    assert_int_equal(r->n, 3);
}

static void test_delete(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a, b, c;
    struct rec *r = rec_new(&w);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    wheel_init(&w, 0);
    wheel_del(&w, &a); /* not armed: no-op */
    assert_int_equal(w.armed, 0);
    wheel_set(&w, &a, 5);
    wheel_set(&w, &b, 5);
    wheel_set(&w, &c, 6);
    wheel_del(&w, &a);
    wheel_del(&w, &a);
    assert_false(a.armed);
    assert_int_equal(w.armed, 2);
    wheel_del(&w, &c);
    assert_int_equal(wheel_next(&w), 5);
    wheel_del(&w, &b);
    assert_int_equal(wheel_next(&w), UINT64_MAX);
    /* The slots' bits are clear once empty. */
    for (unsigned i = 0; i < WHEEL_SLOTS / 64; i++)
        assert_int_equal(w.bitmap[i], 0);
    advance(r, 100);
    assert_int_equal(r->n, 0);
}

static void test_past_deadline(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a, b;
    struct rec *r = rec_new(&w);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    wheel_init(&w, 10000);
    advance(r, 10500);
    wheel_set(&w, &a, 3); /* long past */
    wheel_set(&w, &b, 10500);
    assert_true(wheel_next(&w) <= 10501);
    advance(r, 10501);
    assert_int_equal(r->n, 2);
    assert_int_equal(w.armed, 0);

    /* An advance to a time before the wheel's own is ignored. */
    wheel_set(&w, &a, 10000);
    advance(r, 9000);
    assert_int_equal(r->n, 2);
    advance(r, 10502);
    assert_int_equal(r->n, 3);
}

static void test_beyond_one_revolution(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a, b;
    struct rec *r = rec_new(&w);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    wheel_init(&w, 50);
    wheel_set(&w, &a, 50 + 10000); /* +10 s: 2.4 revolutions */
    wheel_set(&w, &b, 50 + 3 * WHEEL_SLOTS + 1);
    uint64_t next = wheel_next(&w);
    assert_true(next <= 50 + 10000);
    assert_true(next >= 50);
    /* In 1 ms steps: never early. */
    for (uint64_t t = 51; t < 50 + 10000; t++) {
        advance(r, t);
        assert_int_equal(r->n, 0);
        assert_true(wheel_next(&w) <= 50 + 10000);
    }
    advance(r, 50 + 10000);
    assert_int_equal(r->n, 1);
    assert_ptr_equal(r->fired[0], &a);
    advance(r, 50 + 11000);
    assert_int_equal(r->n, 1);
    advance(r, 50 + 3 * WHEEL_SLOTS);
    assert_int_equal(r->n, 1);
    advance(r, 50 + 3 * WHEEL_SLOTS + 1);
    assert_int_equal(r->n, 2);
    assert_ptr_equal(r->fired[1], &b);

    /* In big steps (3 s each) it fires at the first advance past it, not before. */
    wheel_set(&w, &a, 20000 + 10000);
    for (uint64_t t = 20000 - 1; t < 30000; t += 3000) {
        advance(r, t);
        assert_int_equal(r->n, 2);
    }
    advance(r, 32000);
    assert_int_equal(r->n, 3);
    assert_int_equal(r->at[2], 30000);
}

static void test_next_bound(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a, b;
    struct rec *r = rec_new(&w);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    wheel_init(&w, 123456);
    /* A near timer alone: wheel_next is exactly it, not earlier. */
    for (uint64_t d = 0; d < 300; d += 7) {
        wheel_set(&w, &a, 123456 + d);
        assert_int_equal(wheel_next(&w), 123456 + d);
    }
    /* Slots across bitmap-word boundaries and the wrap of the slot index. */
    advance(r, 123456 + 4000);
    assert_int_equal(r->n, 1);
    for (uint64_t d = 1; d < WHEEL_SLOTS; d += 61) {
        wheel_set(&w, &a, 127456 + d);
        assert_int_equal(wheel_next(&w), 127456 + d);
    }
    /* Two timers: the earlier counts. */
    wheel_set(&w, &a, 127456 + 900);
    wheel_set(&w, &b, 127456 + 300);
    assert_int_equal(wheel_next(&w), 127456 + 300);
    wheel_del(&w, &b);
    assert_int_equal(wheel_next(&w), 127456 + 900);
    /* A far timer: at or before it, and within a revolution of now. */
    wheel_set(&w, &a, 127456 + 1000000);
    uint64_t nx = wheel_next(&w);
    assert_true(nx <= 127456 + 1000000);
    assert_true(nx >= 127456 + 1 && nx <= 127456 + 1 + WHEEL_SLOTS);
}

static void test_big_jump(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node *n = calloc(NMAX, sizeof(*n));
    struct rec *r = rec_new(&w);

    assert_non_null(n);
    wheel_init(&w, 0);
    /* Deadlines spread over 20 s; the wheel is advanced once, 15 s later. */
    for (int i = 0; i < NMAX; i++)
        wheel_set(&w, &n[i], (uint64_t)i * 20000 / NMAX + 1);
    advance(r, 15000);
    size_t due = 0;
    for (int i = 0; i < NMAX; i++)
        if ((uint64_t)i * 20000 / NMAX + 1 <= 15000)
            due++;
    assert_int_equal(r->n, due);
    for (size_t i = 0; i < r->n; i++)
        assert_true(r->at[i] <= 15000);
    assert_int_equal(w.armed, NMAX - due);
    /* A jump of many revolutions at once. */
    advance(r, 15000 + 100 * WHEEL_SLOTS);
    assert_int_equal(r->n, NMAX);
    assert_int_equal(w.armed, 0);
    free(n);
}

static void test_callback_rearms_future(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a, b;
    struct rec *r = rec_new(&w);

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    wheel_init(&w, 0);
    wheel_set(&w, &a, 5);
    wheel_set(&w, &b, 9);
    /* a re-arms to 8, still inside this advance: it fires again in it. */
    r->rearm_node = &a;
    r->rearm_to = 8;
    r->rearm_times = 1;
    advance(r, 10);
    assert_int_equal(r->n, 3);
    assert_ptr_equal(r->fired[0], &a);
    assert_ptr_equal(r->fired[1], &a);
    assert_int_equal(r->at[1], 8);
    assert_ptr_equal(r->fired[2], &b);

    /* Re-arm beyond the advance: fires later, not now. */
    r->rearm_to = 20;
    r->rearm_times = 1;
    wheel_set(&w, &a, 11);
    advance(r, 15);
    assert_int_equal(r->n, 4);
    assert_true(a.armed);
    advance(r, 19);
    assert_int_equal(r->n, 4);
    advance(r, 20);
    assert_int_equal(r->n, 5);
    assert_false(a.armed);

    /* Re-arm into the very slot being processed, a revolution later. */
    r->rearm_to = 30 + WHEEL_SLOTS;
    r->rearm_times = 1;
    wheel_set(&w, &a, 30);
    advance(r, 30);
    assert_int_equal(r->n, 6);
    assert_true(a.armed);
    advance(r, 29 + WHEEL_SLOTS);
    assert_int_equal(r->n, 6);
    advance(r, 30 + WHEEL_SLOTS);
    assert_int_equal(r->n, 7);
}

struct cross {
    struct wheel *w;
    struct wheel_node a, b, c;
    int fired_a, fired_b, fired_c;
};

static void on_cross(void *arg, struct wheel_node *n)
{
    struct cross *x = arg;
    if (n == &x->a) {
        x->fired_a++;
        wheel_del(x->w, &x->c);      /* c was due in this same advance */
        wheel_set(x->w, &x->b, 500); /* b was due too: moved out */
    } else if (n == &x->b) {
        x->fired_b++;
    } else {
        x->fired_c++;
    }
}

static void test_callback_touches_others(void **state)
{
    (void)state;
    struct wheel w;
    struct cross x;

    memset(&x, 0, sizeof(x));
    x.w = &w;
    wheel_init(&w, 0);
    wheel_set(&w, &x.a, 5);
    wheel_set(&w, &x.b, 5); /* same slot as a */
    wheel_set(&w, &x.c, 7);
    wheel_advance(&w, 10, on_cross, &x);
    assert_int_equal(x.fired_a, 1);
    assert_int_equal(x.fired_c, 0);
    /* b was collected with a; whichever ran first, b ends at 500 exactly once more. */
    wheel_advance(&w, 499, on_cross, &x);
    int early = x.fired_b;
    wheel_advance(&w, 500, on_cross, &x);
    /* If b fired with a's slot before a moved it, it was re-armed and fires again. */
    assert_true(early == 0 || early == 1);
    assert_int_equal(x.fired_b, early + 1);
    assert_int_equal(w.armed, 0);
}

/*
 * wheel.h: "a past deadline fires on the next advance". A callback that re-arms
 * a node for a time that has already passed in the advance running now (a retry
 * "as soon as possible", or a deadline computed from an older timestamp) must
 * see it fire on the next advance, not one revolution (4 s) later.
 */
static void test_callback_rearms_past(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a;
    struct rec *r = rec_new(&w);

    memset(&a, 0, sizeof(a));
    wheel_init(&w, 0);
    wheel_set(&w, &a, 5);
    r->rearm_node = &a;
    r->rearm_to = 3; /* before the slot being processed (5) */
    r->rearm_times = 1;
    advance(r, 10);
    assert_int_equal(r->n, 1);
    assert_true(a.armed);
    advance(r, 11);
    assert_int_equal(r->n, 2); /* fails: it fires at 3 + 4096 */
}

static void test_callback_rearms_now(void **state)
{
    (void)state;
    struct wheel w;
    struct wheel_node a;
    struct rec *r = rec_new(&w);

    /* Re-armed to "now" while the slot of now is being processed. */
    memset(&a, 0, sizeof(a));
    wheel_init(&w, 0);
    wheel_set(&w, &a, 20);
    r->rearm_node = &a;
    r->rearm_to = 20;
    r->rearm_times = 1;
    advance(r, 20);
    assert_int_equal(r->n, 1);
    assert_true(a.armed);
    assert_true(wheel_next(&w) <= 21); /* fails: 20 + 4096 */
    advance(r, 21);
    assert_int_equal(r->n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fire_order),
        cmocka_unit_test(test_fires_exactly_on_time),
        cmocka_unit_test(test_rearm_moves),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_past_deadline),
        cmocka_unit_test(test_beyond_one_revolution),
        cmocka_unit_test(test_next_bound),
        cmocka_unit_test(test_big_jump),
        cmocka_unit_test(test_callback_rearms_future),
        cmocka_unit_test(test_callback_touches_others),
        cmocka_unit_test(test_callback_rearms_past),
        cmocka_unit_test(test_callback_rearms_now),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
