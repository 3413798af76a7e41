/*
 * test_capture: the capture front (capture.c) behind a fake backend: each public
 * call goes to the ops table with the backend's state, a backend without a drop
 * counter reports 0, and capture_free releases the state once (NULL-safe).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "capture.h"
#include "capture_impl.h"

struct fake {
    int fd;
    int dispatched_max;
    unsigned frees;
};

static int fake_fd(void *priv)
{
    return ((struct fake *)priv)->fd;
}

static int fake_dispatch(void *priv, int max, capture_cb *cb, void *arg)
{
    struct fake *f = priv;
    static const uint8_t b[4] = {0x45, 0, 0, 4};
    struct capture_pkt p = {.data = b, .caplen = 4, .len = 4, .ts_us = 7, .dlt = 12};

    f->dispatched_max = max;
    for (int i = 0; i < max && i < 2; i++)
        cb(arg, &p);
    return max < 2 ? max : 2;
}

static uint64_t fake_drops(void *priv)
{
    return (uint64_t)((struct fake *)priv)->fd * 10;
}

static void fake_free(void *priv)
{
    ((struct fake *)priv)->frees++;
}

static const struct capture_ops with_drops = {
    .name = "fake", .fd = fake_fd, .dispatch = fake_dispatch, .drops = fake_drops,
    .free = fake_free};
static const struct capture_ops without_drops = {
    .name = "fake", .fd = fake_fd, .dispatch = fake_dispatch, .drops = NULL, .free = fake_free};

static void count_cb(void *arg, const struct capture_pkt *p)
{
    unsigned *n = arg;
    assert_int_equal(p->caplen, 4);
    assert_int_equal(p->ts_us, 7);
    (*n)++;
}

static void test_dispatch_through_ops(void **state)
{
    struct fake f = {.fd = 42};
    unsigned n = 0;

    (void)state;
    struct capture *c = capture_new(&with_drops, &f);
    assert_non_null(c);
    assert_int_equal(capture_fd(c), 42);
    assert_int_equal(capture_dispatch(c, 64, count_cb, &n), 2);
    assert_int_equal(f.dispatched_max, 64);
    assert_int_equal(n, 2);
    assert_int_equal(capture_dispatch(c, 1, count_cb, &n), 1);
    assert_int_equal(n, 3);
    assert_int_equal(capture_kernel_drops(c), 420);
    assert_int_equal(f.frees, 0);
    capture_free(c);
    assert_int_equal(f.frees, 1);
    capture_free(NULL);
}

static void test_no_drop_counter(void **state)
{
    struct fake f = {.fd = 5};

    (void)state;
    struct capture *c = capture_new(&without_drops, &f);
    assert_non_null(c);
    assert_int_equal(capture_kernel_drops(c), 0);
    capture_free(c);
    assert_int_equal(f.frees, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dispatch_through_ops),
        cmocka_unit_test(test_no_drop_counter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
