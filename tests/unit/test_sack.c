/*
 * test_sack: the SACK scoreboard (RFC 2018 blocks, used as in RFC 6675): blocks merge
 * and stay sorted, stale and impossible blocks are ignored, at most PKT_SACK_MAX ranges
 * are kept (the highest is forgotten), the cumulative ACK prunes, and the holes are found.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sack.h"

static void blocks(struct tcp_opts *o, unsigned n, const uint32_t (*b)[2])
{
    memset(o, 0, sizeof(*o));
    o->nsack = (uint8_t)n;
    for (unsigned i = 0; i < n; i++) {
        o->sack[i][0] = b[i][0];
        o->sack[i][1] = b[i][1];
    }
}

static void test_merge_sorted(void **state)
{
    (void)state;
    struct conn c = {.snd_una = 1000, .snd_max = 9000};
    struct tcp_opts o;
    const uint32_t b1[][2] = {{5000, 6000}, {2000, 3000}};
    blocks(&o, 2, b1);
    sack_update(&c, &o);
    assert_int_equal(c.nsacked, 2);
    assert_int_equal(c.sacked[0].lo, 2000);
    assert_int_equal(c.sacked[1].lo, 5000);
    /* A block bridging both merges them into one. */
    const uint32_t b2[][2] = {{2500, 5500}};
    blocks(&o, 1, b2);
    sack_update(&c, &o);
    assert_int_equal(c.nsacked, 1);
    assert_int_equal(c.sacked[0].lo, 2000);
    assert_int_equal(c.sacked[0].hi, 6000);
}

static void test_ignores_bad_blocks(void **state)
{
    (void)state;
    struct conn c = {.snd_una = 1000, .snd_max = 9000};
    struct tcp_opts o;
    const uint32_t b[][2] = {{500, 900}, {3000, 3000}, {4000, 3500}, {8000, 9500}};
    blocks(&o, 4, b);
    sack_update(&c, &o);
    assert_int_equal(c.nsacked, 0);
    /* A block starting below snd_una is cut to it. */
    const uint32_t b2[][2] = {{800, 1500}};
    blocks(&o, 1, b2);
    sack_update(&c, &o);
    assert_int_equal(c.nsacked, 1);
    assert_int_equal(c.sacked[0].lo, 1000);
}

static void test_limit_and_prune(void **state)
{
    (void)state;
    struct conn c = {.snd_una = 0, .snd_max = 100000};
    struct tcp_opts o;
    for (uint32_t i = 0; i < PKT_SACK_MAX + 2; i++) {
        const uint32_t b[][2] = {{1000 * (i + 1), 1000 * (i + 1) + 100}};
        blocks(&o, 1, b);
        sack_update(&c, &o);
    }
    assert_int_equal(c.nsacked, PKT_SACK_MAX);
    assert_int_equal(c.sacked[0].lo, 1000); /* the lowest ranges are kept */
    c.snd_una = 2050;
    sack_prune(&c);
    assert_int_equal(c.nsacked, PKT_SACK_MAX - 1);
    assert_int_equal(c.sacked[0].lo, 2050);
    assert_int_equal(c.sacked[0].hi, 2100);
}

static void test_holes(void **state)
{
    (void)state;
    struct conn c = {.snd_una = 1000, .snd_max = 9000};
    struct tcp_opts o;
    const uint32_t b[][2] = {{2000, 3000}, {5000, 6000}};
    blocks(&o, 2, b);
    sack_update(&c, &o);
    assert_int_equal(sack_skip(&c, 1500), 1500);
    assert_int_equal(sack_skip(&c, 2000), 3000);
    assert_int_equal(sack_skip(&c, 5999), 6000);
    uint32_t lo = 0;
    assert_true(sack_next_lo(&c, 1000, &lo));
    assert_int_equal(lo, 2000);
    assert_true(sack_next_lo(&c, 3000, &lo));
    assert_int_equal(lo, 5000);
    assert_false(sack_next_lo(&c, 6000, &lo));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_sorted),
        cmocka_unit_test(test_ignores_bad_blocks),
        cmocka_unit_test(test_limit_and_prune),
        cmocka_unit_test(test_holes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
