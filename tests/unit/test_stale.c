/*
 * test_stale: tuples the target still holds. Nothing is allocated before the first note;
 * a noted tuple is avoided until its TTL runs out; other tuples are not; a hit is counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stale.h"

static struct tuple tup(uint16_t sport)
{
    struct tuple t;
    memset(&t, 0, sizeof(t));
    assert_true(addr_parse(&t.src, "203.0.113.7"));
    assert_true(addr_parse(&t.dst, "192.0.2.20"));
    t.sport = sport;
    t.dport = 8080;
    return t;
}

static void test_note_and_expire(void **state)
{
    (void)state;
    struct stale st;
    stale_init(&st, 42);
    struct tuple a = tup(40000), b = tup(40001);
    assert_false(stale_has(&st, &a, 1000));
    assert_null(st.slots);
    stale_note(&st, &a, 1000);
    assert_int_equal(st.noted, 1);
    assert_true(stale_has(&st, &a, 2000));
    assert_int_equal(st.hits, 1);
    assert_false(stale_has(&st, &b, 2000));
    assert_true(stale_has(&st, &a, 1000 + STALE_TTL_US - 1));
    assert_false(stale_has(&st, &a, 1000 + STALE_TTL_US));
    stale_free(&st);
    stale_free(&st); /* twice is harmless */
}

static void test_many(void **state)
{
    (void)state;
    struct stale st;
    stale_init(&st, 7);
    for (uint16_t p = 1024; p < 1024 + 1000; p++) {
        struct tuple t = tup(p);
        stale_note(&st, &t, 0);
    }
    unsigned found = 0;
    for (uint16_t p = 1024; p < 1024 + 1000; p++) {
        struct tuple t = tup(p);
        found += stale_has(&st, &t, 1);
    }
    /* Direct-mapped: a collision forgets an older entry, but most survive. */
    assert_true(found >= 900);
    stale_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_note_and_expire),
        cmocka_unit_test(test_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
