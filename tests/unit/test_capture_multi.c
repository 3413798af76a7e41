/*
 * test_capture_multi: several captures behind one handle, with fake
 * sub-captures that hold a given number of packets each and a pipe as their fd:
 * the shares of a batch and their round-robin start, what a quiet capture
 * leaves going to the busy ones, an error reported only when nothing was read,
 * drops summed, the epoll fd readable while a sub-capture's fd is, and the
 * sub-captures released with the handle (also when it cannot be made).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "capture_impl.h"

struct sub {
    int pipe[2];
    int id;
    int queued;    /* packets it will deliver */
    int err;       /* -errno its dispatch returns, when set */
    uint64_t drops;
    int asked[8];  /* max of each dispatch call */
    int calls;
    bool freed;
    bool bad_fd;   /* its fd is -1: it cannot be watched */
};

static int sub_fd(void *priv)
{
    struct sub *s = priv;
    return s->bad_fd ? -1 : s->pipe[0];
}

static int sub_dispatch(void *priv, int max, capture_cb *cb, void *arg)
{
    struct sub *s = priv;
    struct capture_pkt p = {.dlt = s->id};

    if (s->calls < 8)
        s->asked[s->calls] = max;
    s->calls++;
    if (s->err)
        return s->err;
    int n = s->queued < max ? s->queued : max;
    for (int i = 0; i < n; i++)
        cb(arg, &p);
    s->queued -= n;
    return n;
}

static uint64_t sub_drops(void *priv)
{
    return ((struct sub *)priv)->drops;
}

static void sub_free(void *priv)
{
    struct sub *s = priv;
    close(s->pipe[0]);
    close(s->pipe[1]);
    s->freed = true;
}

static const struct capture_ops sub_ops = {
    .name = "sub", .fd = sub_fd, .dispatch = sub_dispatch, .drops = sub_drops, .free = sub_free};

static struct sub subs[3];

/* The ids of the packets delivered, in order. */
struct got {
    int n;
    int id[256];
};

static void got_cb(void *arg, const struct capture_pkt *p)
{
    struct got *g = arg;
    if (g->n < 256)
        g->id[g->n] = p->dlt;
    g->n++;
}

static struct capture *multi_of(size_t n)
{
    struct capture *caps[3];
    char err[128] = "";

    memset(subs, 0, sizeof(subs));
    for (size_t i = 0; i < n; i++) {
        subs[i].id = (int)i;
        assert_int_equal(pipe(subs[i].pipe), 0);
        caps[i] = capture_new(&sub_ops, &subs[i]);
        assert_non_null(caps[i]);
    }
    struct capture *m = capture_multi_new(caps, n, err, sizeof(err));
    assert_non_null(m);
    return m;
}

static void test_shares_round_robin(void **state)
{
    struct capture *m = multi_of(3);
    struct got g = {0};

    (void)state;
    for (int i = 0; i < 3; i++)
        subs[i].queued = 100;
    /* 30 = 10 each, starting with sub 0. */
    assert_int_equal(capture_dispatch(m, 30, got_cb, &g), 30);
    assert_int_equal(subs[0].asked[0], 10);
    assert_int_equal(subs[1].asked[0], 10);
    assert_int_equal(subs[2].asked[0], 10);
    assert_int_equal(g.id[0], 0);
    assert_int_equal(g.id[10], 1);
    assert_int_equal(g.id[20], 2);
    /* The next call starts one further: sub 1 first. */
    g.n = 0;
    assert_int_equal(capture_dispatch(m, 30, got_cb, &g), 30);
    assert_int_equal(g.id[0], 1);
    assert_int_equal(g.id[10], 2);
    assert_int_equal(g.id[20], 0);
    assert_int_equal(capture_dispatch(m, 0, got_cb, &g), 0); /* max 0: nothing */
    capture_free(m);
    for (int i = 0; i < 3; i++)
        assert_true(subs[i].freed);
}

/* A quiet capture's share goes to those that filled theirs. */
static void test_quiet_share_to_busy(void **state)
{
    struct capture *m = multi_of(2);
    struct got g = {0};

    (void)state;
    subs[0].queued = 1000;
    subs[1].queued = 0;
    assert_int_equal(capture_dispatch(m, 64, got_cb, &g), 64);
    assert_int_equal(subs[0].asked[0], 32);
    assert_int_equal(subs[0].asked[1], 32); /* the second pass */
    assert_int_equal(subs[1].calls, 1);
    assert_int_equal(subs[0].queued, 1000 - 64);
    capture_free(m);
}

/* An error counts only when nothing was read; drops add up. */
static void test_errors_and_drops(void **state)
{
    struct capture *m = multi_of(2);
    struct got g = {0};

    (void)state;
    subs[0].err = -EIO;
    subs[1].queued = 5;
    subs[0].drops = 3;
    subs[1].drops = 4;
    assert_int_equal(capture_dispatch(m, 10, got_cb, &g), 5);
    assert_int_equal(capture_dispatch(m, 10, got_cb, &g), -EIO);
    assert_int_equal(capture_kernel_drops(m), 7);
    capture_free(m);
}

/* The handle's fd is readable while one of the sub-captures' fds is. */
static void test_fd_readable(void **state)
{
    struct capture *m = multi_of(2);
    struct pollfd pfd = {.fd = capture_fd(m), .events = POLLIN};

    (void)state;
    assert_true(pfd.fd >= 0);
    assert_int_equal(poll(&pfd, 1, 0), 0);
    assert_int_equal(write(subs[1].pipe[1], "x", 1), 1);
    assert_int_equal(poll(&pfd, 1, 0), 1);
    capture_free(m);
}

/* A sub-capture whose fd cannot be watched fails the whole, and all are released. */
static void test_new_fails_releases(void **state)
{
    struct capture *caps[2];
    char err[128] = "";

    (void)state;
    memset(subs, 0, sizeof(subs));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pipe(subs[i].pipe), 0);
        caps[i] = capture_new(&sub_ops, &subs[i]);
        assert_non_null(caps[i]);
    }
    subs[1].bad_fd = true;
    assert_null(capture_multi_new(caps, 2, err, sizeof(err)));
    assert_non_null(strstr(err, "capture: epoll: "));
    assert_true(subs[0].freed);
    assert_true(subs[1].freed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shares_round_robin),
        cmocka_unit_test(test_quiet_share_to_busy),
        cmocka_unit_test(test_errors_and_drops),
        cmocka_unit_test(test_fd_readable),
        cmocka_unit_test(test_new_fails_releases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
