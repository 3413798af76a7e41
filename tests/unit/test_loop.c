/*
 * test_loop: timers (order, re-arming, cancelling, never early), fd callbacks
 * on socketpairs (readiness, hang-up, paused fds), changes to registrations made
 * from inside callbacks, the before-sleep hook and loop_stop; event coalescing
 * (batches under a stream of events, no delay after a pause, urgent fds) with a
 * writer thread.
 */
#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop.h"

static int setup(void **state)
{
    struct loop *l = loop_new();
    assert_non_null(l);
    *state = l;
    return 0;
}

static int teardown(void **state)
{
    loop_free(*state);
    return 0;
}

static void make_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
}

static void stop_cb(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

/* A safety net so a broken loop fails the test instead of hanging it. */
static struct loop_timer guard;
static bool guard_fired;

static void guard_cb(struct loop *l, void *arg)
{
    (void)arg;
    guard_fired = true;
    loop_stop(l);
}

static void arm_guard(struct loop *l, uint64_t ms)
{
    guard_fired = false;
    loop_timer_set(l, &guard, loop_update_time(l) + ms * 1000, guard_cb, NULL);
}

/* --- timers --- */

struct rec {
    int order[16];
    int n;
    uint64_t deadline[16];
    bool early;
};

struct tctx {
    struct rec *rec;
    struct loop_timer *t;
    int id;
    bool stop;
};

static void rec_cb(struct loop *l, void *arg)
{
    struct tctx *c = arg;
    assert_false(c->t->armed);
    if (loop_now(l) < c->t->deadline_us)
        c->rec->early = true;
    c->rec->order[c->rec->n++] = c->id;
    if (c->stop)
        loop_stop(l);
}

static void test_timers_fire_in_order(void **state)
{
    struct loop *l = *state;
    struct loop_timer t[4] = {0};
    struct rec rec = {0};
    struct tctx c[4];
    const uint64_t at_ms[4] = {3, 1, 2, 2};
    uint64_t now = loop_update_time(l);

    for (int i = 0; i < 4; i++) {
        c[i] = (struct tctx){&rec, &t[i], i, i == 0};
        loop_timer_set(l, &t[i], now + at_ms[i] * 1000 + 500, rec_cb, &c[i]);
        assert_true(t[i].armed);
    }
    arm_guard(l, 2000);
    assert_int_equal(loop_run(l), 0);
    assert_false(guard_fired);
    loop_timer_cancel(l, &guard);
    assert_int_equal(rec.n, 4);
    /* Equal deadlines fire in arming order. */
    assert_int_equal(rec.order[0], 1);
    assert_int_equal(rec.order[1], 2);
    assert_int_equal(rec.order[2], 3);
    assert_int_equal(rec.order[3], 0);
    assert_false(rec.early);
    for (int i = 0; i < 4; i++)
        assert_false(t[i].armed);
}

struct periodic {
    struct loop_timer t;
    int count;
    int limit;
};

static void periodic_cb(struct loop *l, void *arg)
{
    struct periodic *p = arg;
    if (++p->count == p->limit) {
        loop_stop(l);
        return;
    }
    loop_timer_set(l, &p->t, loop_now(l) + 1000, periodic_cb, p);
}

static void test_timer_rearm_from_callback(void **state)
{
    struct loop *l = *state;
    struct periodic p = {.limit = 5};

    arm_guard(l, 2000);
    loop_timer_set(l, &p.t, loop_now(l) + 1000, periodic_cb, &p);
    uint64_t start = loop_now(l);
    assert_int_equal(loop_run(l), 0);
    assert_false(guard_fired);
    assert_int_equal(p.count, 5);
    assert_true(loop_now(l) - start >= 5000);
    assert_false(p.t.armed);
}

static void test_timer_cancel(void **state)
{
    struct loop *l = *state;
    struct loop_timer a = {0}, b = {0}, never = {0};
    struct rec rec = {0};
    struct tctx ca = {&rec, &a, 1, true}, cb = {&rec, &b, 2, false};
    uint64_t now = loop_now(l);

    loop_timer_set(l, &b, now + 1000, rec_cb, &cb);
    loop_timer_set(l, &a, now + 3000, rec_cb, &ca);
    loop_timer_cancel(l, &b);
    assert_false(b.armed);
    loop_timer_cancel(l, &b);     /* twice: harmless */
    loop_timer_cancel(l, &never); /* never armed: harmless */
    arm_guard(l, 2000);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(rec.n, 1);
    assert_int_equal(rec.order[0], 1);
}

static void test_timer_reset_moves_it(void **state)
{
    struct loop *l = *state;
    struct loop_timer a = {0}, s = {0};
    struct rec rec = {0};
    struct tctx ca = {&rec, &a, 7, false};
    uint64_t now = loop_now(l);

    loop_timer_set(l, &a, now + 1000, rec_cb, &ca);
    loop_timer_set(l, &a, now + 8000, rec_cb, &ca); /* re-arm later: fires once, late */
    loop_timer_set(l, &s, now + 4000, stop_cb, NULL);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(rec.n, 0);
    assert_true(a.armed);
    loop_timer_set(l, &s, loop_now(l) + 20000, stop_cb, NULL);
    ca.stop = true;
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(rec.n, 1);
    assert_true(s.armed);
    loop_timer_cancel(l, &s);
}

struct cancel_other {
    struct loop_timer self, other;
    int other_fired;
};

static void other_cb(struct loop *l, void *arg)
{
    (void)l;
    ((struct cancel_other *)arg)->other_fired++;
}

static void cancel_other_cb(struct loop *l, void *arg)
{
    struct cancel_other *c = arg;
    loop_timer_cancel(l, &c->other);
    loop_stop(l);
}

static void test_timer_cancels_other_due_timer(void **state)
{
    struct loop *l = *state;
    struct cancel_other c = {0};
    uint64_t now = loop_now(l);

    /* Both due in the same iteration; the first cancels the second. */
    loop_timer_set(l, &c.self, now + 1000, cancel_other_cb, &c);
    loop_timer_set(l, &c.other, now + 1001, other_cb, &c);
    usleep(5000);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(c.other_fired, 0);
    assert_false(c.other.armed);
}

static void asap_cb(struct loop *l, void *arg)
{
    struct periodic *p = arg;
    p->count++;
    /* Re-arm for "now": must not starve the fds. */
    loop_timer_set(l, &p->t, loop_now(l), asap_cb, p);
}

static void read_stop_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    char buf[64];
    (void)events;
    (void)arg;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    loop_stop(l);
}

static void test_timer_asap_does_not_starve_fds(void **state)
{
    struct loop *l = *state;
    struct periodic p = {0};
    int sv[2];

    make_pair(sv);
    assert_int_equal(write(sv[1], "x", 1), 1);
    loop_timer_set(l, &p.t, loop_now(l), asap_cb, &p);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, read_stop_cb, NULL), 0);
    assert_int_equal(loop_run(l), 0);
    assert_true(p.count >= 0 && p.count <= 2);
    loop_timer_cancel(l, &p.t);
    loop_fd_del(l, sv[0]);
    close(sv[0]);
    close(sv[1]);
}

/* --- fds --- */

struct fdctx {
    int calls;
    unsigned last_events;
    char buf[32];
    ssize_t got;
};

static void fd_record_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct fdctx *c = arg;
    c->calls++;
    c->last_events = events;
    if (events & LOOP_READ)
        c->got = read(fd, c->buf, sizeof(c->buf));
    loop_stop(l);
}

static void test_fd_read(void **state)
{
    struct loop *l = *state;
    struct fdctx c = {0};
    int sv[2];

    make_pair(sv);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, fd_record_cb, &c), 0);
    assert_int_equal(write(sv[1], "ping", 4), 4);
    arm_guard(l, 2000);
    assert_int_equal(loop_run(l), 0);
    assert_false(guard_fired);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.last_events, LOOP_READ);
    assert_int_equal(c.got, 4);
    assert_memory_equal(c.buf, "ping", 4);

    /* Switch to write interest: a socketpair with room is writable at once. */
    assert_int_equal(loop_fd_mod(l, sv[0], LOOP_WRITE), 0);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(c.calls, 2);
    assert_int_equal(c.last_events, LOOP_WRITE);

    loop_timer_cancel(l, &guard);
    loop_fd_del(l, sv[0]);
    close(sv[0]);
    close(sv[1]);
}

static void test_fd_hangup_is_readable(void **state)
{
    struct loop *l = *state;
    struct fdctx c = {0};
    int sv[2];

    make_pair(sv);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, fd_record_cb, &c), 0);
    close(sv[1]);
    arm_guard(l, 2000);
    assert_int_equal(loop_run(l), 0);
    assert_false(guard_fired);
    assert_int_equal(c.calls, 1);
    assert_true(c.last_events & LOOP_READ);
    assert_int_equal(c.got, 0); /* EOF, seen by the read callback */
    loop_timer_cancel(l, &guard);
    loop_fd_del(l, sv[0]);
    close(sv[0]);
}

static void test_fd_paused(void **state)
{
    struct loop *l = *state;
    struct fdctx c = {0};
    struct loop_timer s = {0};
    int sv[2];

    make_pair(sv);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, fd_record_cb, &c), 0);
    assert_int_equal(loop_fd_mod(l, sv[0], 0), 0);
    close(sv[1]); /* readable and hung up, but nobody asked */
    loop_timer_set(l, &s, loop_now(l) + 20000, stop_cb, NULL);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(c.calls, 0);
    assert_int_equal(loop_fd_mod(l, sv[0], LOOP_READ), 0);
    arm_guard(l, 2000);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(c.calls, 1);
    loop_timer_cancel(l, &guard);
    loop_fd_del(l, sv[0]);
    close(sv[0]);
}

struct pair_ctx {
    struct loop *l;
    int fd[2];
    int calls[2];
    int stale_calls;
    int new_calls;
    bool readd;
};

static void new_reg_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct pair_ctx *p = arg;
    char buf[16];
    (void)events;
    p->new_calls++;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    loop_fd_del(l, fd);
    loop_stop(l);
}

static void pair_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct pair_ctx *p = arg;
    int me = fd == p->fd[0] ? 0 : 1;
    int other = p->fd[1 - me];
    char buf[16];
    (void)events;

    p->calls[me]++;
    if (p->calls[0] + p->calls[1] > 1)
        p->stale_calls++;
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    /* Delete the other fd, whose event is probably in this same batch. */
    loop_fd_del(l, other);
    if (p->readd) {
        /* Same fd number, new registration: the stale event must not reach it
         * (nor the old callback); it is seen on the next wait instead. */
        assert_int_equal(loop_fd_add(l, other, LOOP_READ, new_reg_cb, p), 0);
    }
    loop_fd_del(l, fd); /* and ourselves */
}

static void run_delete_other(struct loop *l, bool readd)
{
    struct pair_ctx p = {.l = l, .readd = readd};
    struct loop_timer s = {0};
    int a[2], b[2];

    make_pair(a);
    make_pair(b);
    p.fd[0] = a[0];
    p.fd[1] = b[0];
    assert_int_equal(loop_fd_add(l, a[0], LOOP_READ, pair_cb, &p), 0);
    assert_int_equal(loop_fd_add(l, b[0], LOOP_READ, pair_cb, &p), 0);
    assert_int_equal(write(a[1], "a", 1), 1);
    assert_int_equal(write(b[1], "b", 1), 1);
    usleep(1000);
    /* With re-adding, new_reg_cb stops the loop and the timer is only a guard;
     * without, nothing else happens and a short wait shows it. */
    loop_timer_set(l, &s, loop_update_time(l) + (readd ? 2000000 : 30000), stop_cb, NULL);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(p.calls[0] + p.calls[1], 1);
    assert_int_equal(p.stale_calls, 0);
    if (readd) {
        /* The re-added fd still had its byte; its new callback ran. */
        assert_int_equal(p.new_calls, 1);
    }
    loop_timer_cancel(l, &s);
    loop_fd_del(l, a[0]);
    loop_fd_del(l, b[0]);
    close(a[0]);
    close(a[1]);
    close(b[0]);
    close(b[1]);
}

static void test_fd_delete_other_in_callback(void **state)
{
    run_delete_other(*state, false);
}

static void test_fd_delete_and_readd_in_callback(void **state)
{
    run_delete_other(*state, true);
}

#define MANY 300

struct many_ctx {
    int served;
};

static void many_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct many_ctx *c = arg;
    char buf[8];
    (void)events;
    /* Exactly once per fd: a second call would find nothing to read. */
    assert_int_equal(read(fd, buf, sizeof(buf)), 1);
    loop_fd_del(l, fd);
    if (++c->served == MANY)
        loop_stop(l);
}

static void test_fd_more_than_one_batch(void **state)
{
    struct loop *l = *state;
    static int sv[MANY][2];
    struct many_ctx c = {0};

    /* More ready fds than one epoll_wait returns: later waits pick up the rest. */
    for (int i = 0; i < MANY; i++) {
        make_pair(sv[i]);
        assert_int_equal(loop_fd_add(l, sv[i][0], LOOP_READ, many_cb, &c), 0);
        assert_int_equal(write(sv[i][1], "x", 1), 1);
    }
    arm_guard(l, 5000);
    assert_int_equal(loop_run(l), 0);
    assert_false(guard_fired);
    assert_int_equal(c.served, MANY);
    loop_timer_cancel(l, &guard);
    for (int i = 0; i < MANY; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
}

static void noop_fd_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    (void)arg;
}

static void test_fd_errors(void **state)
{
    struct loop *l = *state;
    int sv[2];

    make_pair(sv);
    assert_int_equal(loop_fd_add(l, -1, LOOP_READ, noop_fd_cb, NULL), -EBADF);
    assert_int_equal(loop_fd_mod(l, sv[0], LOOP_READ), -ENOENT);
    assert_int_equal(loop_fd_mod(l, -3, LOOP_READ), -ENOENT);
    assert_int_equal(loop_fd_mod(l, 100000, LOOP_READ), -ENOENT);
    loop_fd_del(l, sv[0]);  /* not registered: harmless */
    loop_fd_del(l, 100000); /* beyond the table: harmless */
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, noop_fd_cb, NULL), 0);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_WRITE, noop_fd_cb, NULL), -EEXIST);
    loop_fd_del(l, sv[0]);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_WRITE, noop_fd_cb, NULL), 0);

    /* A closed fd: epoll refuses it and the slot stays free. */
    int dead = dup(sv[1]);
    assert_true(dead >= 0);
    close(dead);
    assert_int_equal(loop_fd_add(l, dead, LOOP_READ, noop_fd_cb, NULL), -EBADF);
    assert_int_equal(loop_fd_mod(l, dead, LOOP_READ), -ENOENT);

    /* A high fd number grows the table. */
    int high = dup2(sv[1], 900);
    assert_int_equal(high, 900);
    assert_int_equal(loop_fd_add(l, high, LOOP_READ, noop_fd_cb, NULL), 0);
    assert_int_equal(loop_fd_mod(l, high, LOOP_READ | LOOP_WRITE), 0);
    loop_fd_del(l, high);
    close(high);

    /* Closed before deleted: the kernel dropped it already; del must cope. */
    close(sv[0]);
    loop_fd_del(l, sv[0]);
    close(sv[1]);
}

/* --- hook and stop --- */

static void hook_cb(struct loop *l, void *arg)
{
    int *n = arg;
    if (++*n == 3)
        loop_stop(l);
}

static void test_before_sleep(void **state)
{
    struct loop *l = *state;
    struct periodic p = {.limit = 100};
    int n = 0;

    loop_set_before_sleep(l, hook_cb, &n);
    loop_timer_set(l, &p.t, loop_now(l) + 1000, periodic_cb, &p);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(n, 3);
    /* Hook before each wait: the third call stops before the third wait, so at
     * most two waits (normally each ending with the timer) have happened. */
    assert_in_range(p.count, 1, 2);
    /* The hook can be read back, to be set aside and restored. */
    loop_hook_cb *cb;
    void *arg;
    loop_get_before_sleep(l, &cb, &arg);
    assert_ptr_equal(cb, hook_cb);
    assert_ptr_equal(arg, &n);
    loop_set_before_sleep(l, NULL, NULL);
    loop_get_before_sleep(l, &cb, &arg);
    assert_null(cb);
    assert_null(arg);
    loop_timer_cancel(l, &p.t);
}

static void test_stop_and_rerun(void **state)
{
    struct loop *l = *state;
    struct loop_timer s = {0};

    for (int i = 0; i < 3; i++) {
        loop_timer_set(l, &s, loop_now(l) + 1000, stop_cb, NULL);
        assert_int_equal(loop_run(l), 0);
        assert_false(s.armed);
    }
}

static void test_time(void **state)
{
    struct loop *l = *state;
    uint64_t a = loop_now(l);
    usleep(2000);
    assert_int_equal(loop_now(l), a); /* cached */
    uint64_t b = loop_update_time(l);
    assert_true(b >= a + 1000);
    assert_int_equal(loop_now(l), b);
}

static void test_free_with_armed_timers(void **state)
{
    (void)state;
    struct loop *l = loop_new();
    struct loop_timer t = {0};
    int sv[2];

    assert_non_null(l);
    make_pair(sv);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, noop_fd_cb, NULL), 0);
    loop_timer_set(l, &t, loop_now(l) + 1000000, stop_cb, NULL);
    loop_free(l);
    assert_false(t.armed);
    loop_free(NULL);
    close(sv[0]);
    close(sv[1]);
}

/* --- coalescing --- */

static uint64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* A writer thread: `count` bytes to fd, one every `gap_us`, after `delay_us`; the
 * time of each write is kept. */
struct writer {
    int fd;
    int count;
    uint64_t delay_us, gap_us;
    uint64_t at[256];
    pthread_t th;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    usleep((useconds_t)w->delay_us);
    for (int i = 0; i < w->count; i++) {
        w->at[i] = mono_us();
        assert_int_equal(write(w->fd, "x", 1), 1);
        usleep((useconds_t)w->gap_us);
    }
    return NULL;
}

static void writer_start(struct writer *w)
{
    assert_int_equal(pthread_create(&w->th, NULL, writer_main, w), 0);
}

/* Reads what is there; stops the loop once `want` bytes came. */
struct reader {
    int calls;
    int empty; /* calls that found nothing to read */
    int got, want;
    uint64_t first_us; /* when the first byte was read */
};

static void reader_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct reader *r = arg;
    char b[256];
    ssize_t n = read(fd, b, sizeof(b));
    (void)events;
    if (n <= 0) {
        r->empty++;
        return;
    }
    if (r->got == 0)
        r->first_us = mono_us();
    r->calls++;
    r->got += (int)n;
    if (r->got >= r->want)
        loop_stop(l);
}

/* 100 events 1 ms apart under 20 ms coalescing: a handful of turns read them all. */
static void test_coalesce_batches(void **state)
{
    struct loop *l = *state;
    struct reader r = {.want = 100};
    struct writer w = {.count = 100, .gap_us = 1000};
    int sv[2];

    make_pair(sv);
    w.fd = sv[1];
    loop_set_coalesce(l, 20000);
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, reader_cb, &r), 0);
    arm_guard(l, 10000);
    writer_start(&w);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(pthread_join(w.th, NULL), 0);
    assert_false(guard_fired);
    assert_int_equal(r.got, 100);
    /* About 100 ms of writes in 20 ms turns, plus the first turn and slack for a
     * slow machine; uncoalesced it would be close to 100 calls. */
    assert_in_range(r.calls, 2, 20);
    loop_timer_cancel(l, &guard);
    loop_fd_del(l, sv[0]);
    close(sv[0]);
    close(sv[1]);
}

/* A loop that was quiet handles the next event at once, not after the interval. */
static void test_coalesce_quiet_no_delay(void **state)
{
    struct loop *l = *state;
    struct reader r = {.want = 1};
    struct writer w = {.count = 1, .delay_us = 100000};
    int sv[2];

    make_pair(sv);
    w.fd = sv[1];
    loop_set_coalesce(l, 1000000); /* 1 s: any pause would show */
    assert_int_equal(loop_fd_add(l, sv[0], LOOP_READ, reader_cb, &r), 0);
    /* A first event makes a turn; the loop then sits quiet for 100 ms. */
    assert_int_equal(write(sv[1], "y", 1), 1);
    r.want = 2;
    arm_guard(l, 10000);
    writer_start(&w);
    assert_int_equal(loop_run(l), 0);
    assert_int_equal(pthread_join(w.th, NULL), 0);
    assert_false(guard_fired);
    assert_int_equal(r.got, 2);
    assert_int_equal(r.calls, 2);
    assert_true(mono_us() - w.at[0] < 500000);
    loop_timer_cancel(l, &guard);
    loop_fd_del(l, sv[0]);
    close(sv[0]);
    close(sv[1]);
}

/* A busy loop pauses for the interval, but input on an urgent fd ends the pause. */
static void test_coalesce_urgent(void **state)
{
    struct loop *l = *state;
    struct reader busy = {.want = 1000}, urg = {.want = 1};
    struct writer wb = {.count = 200, .gap_us = 1000}, wu = {.count = 1, .delay_us = 50000};
    int sb[2], su[2];

    make_pair(sb);
    make_pair(su);
    wb.fd = sb[1];
    wu.fd = su[1];
    loop_set_coalesce(l, 1000000); /* 1 s pauses while busy */
    assert_int_equal(loop_fd_add(l, sb[0], LOOP_READ, reader_cb, &busy), 0);
    assert_int_equal(loop_fd_add(l, su[0], LOOP_READ, reader_cb, &urg), 0);
    assert_int_equal(loop_fd_set_urgent(l, su[0], true), 0);
    /* The mark survives a change of interest. */
    assert_int_equal(loop_fd_mod(l, su[0], LOOP_READ | LOOP_WRITE), 0);
    assert_int_equal(loop_fd_mod(l, su[0], LOOP_READ), 0);
    arm_guard(l, 10000);
    writer_start(&wb);
    writer_start(&wu);
    assert_int_equal(loop_run(l), 0); /* stops on the urgent byte */
    assert_false(guard_fired);
    assert_int_equal(urg.got, 1);
    /* Read well within the 1 s pause the busy stream put the loop in. */
    assert_true(urg.first_us - wu.at[0] < 500000);
    assert_int_equal(pthread_join(wb.th, NULL), 0);
    assert_int_equal(pthread_join(wu.th, NULL), 0);
    assert_int_equal(loop_fd_set_urgent(l, su[0], false), 0);
    assert_int_equal(loop_fd_set_urgent(l, 999, true), -ENOENT);
    loop_timer_cancel(l, &guard);
    loop_fd_del(l, sb[0]);
    loop_fd_del(l, su[0]);
    close(sb[0]);
    close(sb[1]);
    close(su[0]);
    close(su[1]);
}

/* A polled fd is read after each pause that urgent input ended, without epoll (so it
 * is also called when empty); a plain fd is still polled within a few ms. */
static void test_coalesce_polled(void **state)
{
    struct loop *l = *state;
    struct reader urg = {.want = 100}, pol = {.want = 1000}, oth = {.want = 1000};
    struct writer wu = {.count = 100, .gap_us = 1000}, wp = {.count = 10, .gap_us = 5000},
                  wo = {.count = 1, .delay_us = 30000};
    int su[2], sp[2], so[2];

    make_pair(su);
    make_pair(sp);
    make_pair(so);
    wu.fd = su[1];
    wp.fd = sp[1];
    wo.fd = so[1];
    loop_set_coalesce(l, 2000);
    assert_int_equal(loop_fd_add(l, su[0], LOOP_READ, reader_cb, &urg), 0);
    assert_int_equal(loop_fd_add(l, sp[0], LOOP_READ, reader_cb, &pol), 0);
    assert_int_equal(loop_fd_add(l, so[0], LOOP_READ, reader_cb, &oth), 0);
    assert_int_equal(loop_fd_set_urgent(l, su[0], true), 0);
    assert_int_equal(loop_fd_set_polled(l, sp[0], true), 0);
    assert_int_equal(loop_fd_set_polled(l, sp[0], true), 0); /* twice is once */
    assert_int_equal(loop_fd_set_polled(l, 999, true), -ENOENT);
    arm_guard(l, 10000);
    writer_start(&wp);
    writer_start(&wo);
    writer_start(&wu);
    assert_int_equal(loop_run(l), 0); /* stops on the 100th urgent byte */
    assert_false(guard_fired);
    assert_int_equal(pthread_join(wu.th, NULL), 0);
    assert_int_equal(pthread_join(wp.th, NULL), 0);
    assert_int_equal(pthread_join(wo.th, NULL), 0);
    assert_int_equal(urg.got, 100);
    assert_int_equal(pol.got, 10);
    assert_true(pol.empty > 0);      /* read without asking epoll */
    assert_int_equal(oth.empty, 0);  /* only read when epoll said so ... */
    assert_int_equal(oth.got, 1);    /* ... and not starved */
    assert_true(oth.first_us - wo.at[0] < 60000);
    /* Unmarked, it is read only when readable again; a deleted fd is forgotten. */
    assert_int_equal(loop_fd_set_polled(l, sp[0], false), 0);
    loop_fd_del(l, so[0]);
    assert_int_equal(loop_fd_set_polled(l, so[0], true), -ENOENT);
    loop_timer_cancel(l, &guard);
    loop_fd_del(l, su[0]);
    loop_fd_del(l, sp[0]);
    for (int i = 0; i < 2; i++) {
        close(su[i]);
        close(sp[i]);
        close(so[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timers_fire_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_quiet_no_delay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_urgent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_coalesce_polled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_rearm_from_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_reset_moves_it, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_cancels_other_due_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timer_asap_does_not_starve_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_hangup_is_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_paused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_delete_other_in_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_delete_and_readd_in_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_more_than_one_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_before_sleep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_and_rerun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_free_with_armed_timers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
