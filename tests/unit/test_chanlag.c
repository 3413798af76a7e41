/*
 * test_chanlag: the channel's lag across two clocks. With intercept's clock ahead of ours
 * (or behind) by any amount, and a symmetric path, the offset is found exactly and the lag
 * of a reply is the time from its capture to its arrival; the shortest round trip wins; an
 * echo held longer than its round trip, a stamp before any offset, and a stamp far in the
 * future are refused; the codec round-trips the clock fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chanlag.h"

/* Our t1 sent at `t1`; one way takes `owd` each direction; intercept holds `held`; its
 * clock is ours + skew. Returns the heartbeat as received, and when (our clock). */
static struct chan_hb exchange(uint64_t t1, uint64_t owd, uint64_t held, int64_t skew,
                               uint64_t *t4)
{
    uint64_t r2 = (uint64_t)((int64_t)(t1 + owd) + skew);
    struct chan_hb h = {.sent_us = r2 + held, .echo_us = t1, .held_us = held};
    *t4 = t1 + owd + held + owd;
    return h;
}

static uint64_t lag;

static void test_offset_and_lag(void **state)
{
    (void)state;
    const int64_t skews[] = {0, 3600000000LL, -7200000000LL, 12345, -1};
    for (size_t i = 0; i < sizeof(skews) / sizeof(skews[0]); i++) {
        struct chanlag l;
        memset(&l, 0, sizeof(l));
        uint64_t t4;
        uint64_t base = 1700000000000000ULL;
        struct chan_hb h = exchange(base, 300, 250000, skews[i], &t4);
        assert_false(chanlag_on_stamp(&l, base, base, &lag)); /* no offset yet */
        chanlag_on_heartbeat(&l, &h, t4);
        assert_true(l.have_offset);
        assert_true(l.offset_us - skews[i] <= 1 && skews[i] - l.offset_us <= 1);
        assert_int_equal(l.rtt_us, 600);
        /* A reply captured at our time T (intercept: T + skew) arrives 2 ms later. */
        uint64_t T = t4 + 5000000;
        assert_true(chanlag_on_stamp(&l, (uint64_t)((int64_t)T + skews[i]), T + 2000, &lag));
        assert_true(l.lag_sum_us >= 1999 && l.lag_sum_us <= 2001);
        assert_int_equal(l.lag_samples, 1);
    }
}

static void test_best_round_trip(void **state)
{
    (void)state;
    struct chanlag l;
    memset(&l, 0, sizeof(l));
    uint64_t t4, base = 1000000000;
    /* An asymmetric, slow exchange gives a wrong offset; a faster one replaces it. */
    struct chan_hb h = {.sent_us = base + 50000, .echo_us = base, .held_us = 0};
    chanlag_on_heartbeat(&l, &h, base + 60000);
    assert_int_equal(l.rtt_us, 60000);
    h = exchange(base + 1000000, 100, 0, 0, &t4);
    chanlag_on_heartbeat(&l, &h, t4);
    assert_int_equal(l.rtt_us, 200);
    assert_true(l.offset_us >= -1 && l.offset_us <= 1);
    /* A slower one does not replace it... */
    h = exchange(base + 2000000, 5000, 0, 777, &t4);
    chanlag_on_heartbeat(&l, &h, t4);
    assert_int_equal(l.rtt_us, 200);
    /* ... until the best is a minute old. */
    h = exchange(base + 1000000 + CHANLAG_KEEP_US + 10, 5000, 0, 777, &t4);
    chanlag_on_heartbeat(&l, &h, t4);
    assert_int_equal(l.rtt_us, 10000);
    assert_true(l.offset_us >= 776 && l.offset_us <= 778);
}

static void test_refused(void **state)
{
    (void)state;
    struct chanlag l;
    memset(&l, 0, sizeof(l));
    struct chan_hb none = {.sent_us = 5, .echo_us = 0, .held_us = 0};
    chanlag_on_heartbeat(&l, &none, 100);
    assert_false(l.have_offset);
    struct chan_hb held_too_long = {.sent_us = 500, .echo_us = 100, .held_us = 1000};
    chanlag_on_heartbeat(&l, &held_too_long, 200);
    assert_false(l.have_offset);
    uint64_t t4;
    struct chan_hb h = exchange(1000000, 100, 0, 0, &t4);
    chanlag_on_heartbeat(&l, &h, t4);
    assert_true(l.have_offset);
    assert_false(chanlag_on_stamp(&l, t4 + 10000000, t4, &lag)); /* 10 s in the future */
    assert_true(chanlag_on_stamp(&l, t4 + 50, t4, &lag));        /* within the offset's error: 0 */
    assert_int_equal(l.lag_sum_us, 0);
}

static void test_codec(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 4096);
    struct chan_hb h = {.sent_us = 0x0102030405060708ULL, .echo_us = 42, .held_us = 7};
    assert_int_equal(chan_put_heartbeat(&o, &h), 0);
    assert_int_equal(chan_put_heartbeat(&o, NULL), 0);
    assert_int_equal(chan_put_stamp(&o, 0xfffffffffffffffeULL), 0);
    chan_out_seal(&o);
    const uint8_t *p = buf_head(&o.buf);
    size_t len = buf_len(&o.buf);
    struct chan_frame f;
    struct chan_hb g;
    ssize_t n = chan_frame_next(&f, p, len);
    assert_true(n > 0);
    assert_int_equal(chan_heartbeat_decode(&g, &f), 0);
    assert_memory_equal(&g, &h, sizeof(g));
    p += n, len -= (size_t)n;
    n = chan_frame_next(&f, p, len);
    assert_int_equal(chan_heartbeat_decode(&g, &f), 0);
    assert_int_equal(g.sent_us, 0);
    p += n, len -= (size_t)n;
    n = chan_frame_next(&f, p, len);
    uint64_t ts;
    assert_int_equal(chan_stamp_decode(&ts, &f), 0);
    assert_true(ts == 0xfffffffffffffffeULL);
    /* A heartbeat too short for the clock fields; a STAMP of the wrong size. */
    uint8_t bad[] = {CHAN_HEARTBEAT, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    assert_true(chan_frame_next(&f, bad, sizeof(bad)) > 0);
    assert_int_equal(chan_heartbeat_decode(&g, &f), -CHAN_E_SIZE);
    uint8_t bad2[] = {CHAN_STAMP, 0, 0, 4, 1, 2, 3, 4};
    assert_true(chan_frame_next(&f, bad2, sizeof(bad2)) < 0);
    chan_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offset_and_lag),
        cmocka_unit_test(test_best_round_trip),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_codec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
