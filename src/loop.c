/*
 * loop: a small epoll event loop with one-shot timers, in the manner of Redis's
 * ae.c and ae_epoll.c.
 *
 * The loop owns the epoll descriptor, a table of registrations indexed by fd,
 * and the list head of armed timers; the timers themselves and the watched fds
 * belong to the callers. One iteration is:
 *
 *   before_sleep hook -> epoll_wait (until the earliest timer) -> fd callbacks
 *   -> due timers
 *
 * Callbacks may add, modify and delete any registration and arm or cancel any
 * timer, including their own, while the loop is dispatching.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define LOOP_MAX_EVENTS 256
#define LOOP_POLLED_MAX 4
/* A busy loop that skips epoll_wait still polls every fd at least this often. */
#define LOOP_FULL_POLL_US 5000

struct loop_fdent {
    loop_fd_cb *cb; /* NULL: not registered */
    void *arg;
    unsigned events;
    uint32_t gen;  /* changes on every loop_fd_add, see loop_dispatch_fds */
    bool in_epoll; /* false while events == 0 (see loop_fd_apply) */
    bool urgent;   /* loop_fd_set_urgent */
    bool in_uepoll; /* in the urgent set: urgent and LOOP_READ */
    bool polled;    /* loop_fd_set_polled */
};

TAILQ_HEAD(loop_timer_list, loop_timer);

struct loop {
    int epfd;
    int uepfd; /* the urgent fds (LOOP_READ only): they end a coalescing pause; -1 until used */
    int nurgent;
    struct loop_fdent *fds;
    int nfds; /* size of fds[] */
    uint32_t gen_next;
    struct loop_timer_list timers; /* sorted by deadline, earliest first */
    loop_hook_cb *before_sleep;
    void *before_sleep_arg;
    uint64_t now_us;
    uint64_t coalesce_us;   /* 0: off; see loop_set_coalesce */
    uint64_t turn_start_us; /* when the last turn with fd events began */
    bool busy;              /* that turn came within 2 * coalesce_us of the one before */
    uint64_t full_poll_us;  /* the last epoll_wait on every fd */
    int polled[LOOP_POLLED_MAX]; /* loop_fd_set_polled fds */
    int npolled;
    bool stop;
    struct epoll_event evs[LOOP_MAX_EVENTS];
};

static uint64_t loop_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

struct loop *loop_new(void)
{
    struct loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int e = errno;
        free(l);
        errno = e;
        return NULL;
    }
    TAILQ_INIT(&l->timers);
    l->uepfd = -1;
    l->gen_next = 1;
    l->now_us = loop_clock_us();
    return l;
}

void loop_free(struct loop *l)
{
    struct loop_timer *t;

    if (l == NULL)
        return;
    /* The timers outlive the loop (they are embedded in their owners): leave
     * them unarmed so that a later look at t->armed tells the truth. */
    while ((t = TAILQ_FIRST(&l->timers)) != NULL) {
        TAILQ_REMOVE(&l->timers, t, entry);
        t->armed = false;
    }
    close(l->epfd);
    if (l->uepfd >= 0)
        close(l->uepfd);
    free(l->fds);
    free(l);
}

static int loop_fd_grow(struct loop *l, int fd)
{
    if (fd < l->nfds)
        return 0;
    int n = l->nfds > 0 ? l->nfds : 64;
    while (n <= fd) {
        if (n > INT_MAX / 2)
            return -ENOMEM;
        n *= 2;
    }
    struct loop_fdent *p = realloc(l->fds, (size_t)n * sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    memset(p + l->nfds, 0, (size_t)(n - l->nfds) * sizeof(*p));
    l->fds = p;
    l->nfds = n;
    return 0;
}

/* Bring epoll in line with fe->events. An fd with no events is taken out of
 * the epoll set: epoll reports EPOLLHUP and EPOLLERR even for an empty mask,
 * and a level-triggered HUP nobody asked for would spin the loop. */
/* The urgent set follows fe->urgent and LOOP_READ. */
static int loop_fd_apply_urgent(struct loop *l, int fd, struct loop_fdent *fe)
{
    struct epoll_event ev;
    bool want = fe->urgent && (fe->events & LOOP_READ);

    if (want == fe->in_uepoll)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = (uint64_t)fe->gen << 32 | (uint32_t)fd; /* as in the main set */
    if (want && l->uepfd < 0 && (l->uepfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return -errno;
    if (epoll_ctl(l->uepfd, want ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, fd, &ev) < 0)
        return -errno;
    fe->in_uepoll = want;
    l->nurgent += want ? 1 : -1;
    return 0;
}

static int loop_fd_apply(struct loop *l, int fd, struct loop_fdent *fe)
{
    struct epoll_event ev;
    int op;
    int r;

    if ((r = loop_fd_apply_urgent(l, fd, fe)) < 0)
        return r;
    memset(&ev, 0, sizeof(ev));
    if (fe->events == 0) {
        if (fe->in_epoll && epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, &ev) < 0)
            return -errno;
        fe->in_epoll = false;
        return 0;
    }
    if (fe->events & LOOP_READ)
        ev.events |= EPOLLIN;
    if (fe->events & LOOP_WRITE)
        ev.events |= EPOLLOUT;
    /* The generation rides with the event, so a stale event for an fd number
     * that was deleted and re-added within one batch is recognised. */
    ev.data.u64 = (uint64_t)fe->gen << 32 | (uint32_t)fd;
    op = fe->in_epoll ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) < 0)
        return -errno;
    fe->in_epoll = true;
    return 0;
}

static void loop_polled_forget(struct loop *l, int fd)
{
    for (int i = 0; i < l->npolled; i++) {
        if (l->polled[i] == fd) {
            l->polled[i] = l->polled[--l->npolled];
            return;
        }
    }
}

int loop_fd_add(struct loop *l, int fd, unsigned events, loop_fd_cb *cb, void *arg)
{
    int r;

    if (fd < 0 || cb == NULL)
        return fd < 0 ? -EBADF : -EINVAL;
    if ((r = loop_fd_grow(l, fd)) < 0)
        return r;
    struct loop_fdent *fe = &l->fds[fd];
    if (fe->cb != NULL)
        return -EEXIST;
    fe->events = events & (LOOP_READ | LOOP_WRITE);
    fe->gen = l->gen_next++;
    fe->in_epoll = false;
    if ((r = loop_fd_apply(l, fd, fe)) < 0) {
        memset(fe, 0, sizeof(*fe));
        return r;
    }
    fe->cb = cb;
    fe->arg = arg;
    return 0;
}

int loop_fd_mod(struct loop *l, int fd, unsigned events)
{
    if (fd < 0 || fd >= l->nfds || l->fds[fd].cb == NULL)
        return -ENOENT;
    struct loop_fdent *fe = &l->fds[fd];
    unsigned old = fe->events;
    int r;

    fe->events = events & (LOOP_READ | LOOP_WRITE);
    if (fe->events == old)
        return 0;
    if ((r = loop_fd_apply(l, fd, fe)) < 0)
        fe->events = old;
    return r;
}

void loop_fd_del(struct loop *l, int fd)
{
    struct epoll_event ev;

    if (fd < 0 || fd >= l->nfds || l->fds[fd].cb == NULL)
        return;
    /* Errors are ignored: if the caller closed the fd first, the kernel has
     * already dropped it from the epoll set (EBADF or ENOENT here). */
    memset(&ev, 0, sizeof(ev));
    if (l->fds[fd].in_epoll)
        (void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, &ev);
    if (l->fds[fd].in_uepoll) {
        (void)epoll_ctl(l->uepfd, EPOLL_CTL_DEL, fd, &ev);
        l->nurgent--;
    }
    if (l->fds[fd].polled)
        loop_polled_forget(l, fd);
    memset(&l->fds[fd], 0, sizeof(l->fds[fd]));
}

int loop_fd_set_urgent(struct loop *l, int fd, bool urgent)
{
    if (fd < 0 || fd >= l->nfds || l->fds[fd].cb == NULL)
        return -ENOENT;
    struct loop_fdent *fe = &l->fds[fd];
    bool old = fe->urgent;
    int r;

    fe->urgent = urgent;
    if ((r = loop_fd_apply_urgent(l, fd, fe)) < 0)
        fe->urgent = old;
    return r;
}

int loop_fd_set_polled(struct loop *l, int fd, bool polled)
{
    if (fd < 0 || fd >= l->nfds || l->fds[fd].cb == NULL)
        return -ENOENT;
    struct loop_fdent *fe = &l->fds[fd];
    if (fe->polled == polled)
        return 0;
    if (polled) {
        if (l->npolled == LOOP_POLLED_MAX)
            return -ENOSPC;
        l->polled[l->npolled++] = fd;
    } else {
        loop_polled_forget(l, fd);
    }
    fe->polled = polled;
    return 0;
}

void loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t deadline_us, loop_timer_cb *cb,
                    void *arg)
{
    struct loop_timer *it;

    loop_timer_cancel(l, t);
    t->deadline_us = deadline_us;
    t->cb = cb;
    t->arg = arg;
    t->armed = true;
    /* Walk from the back: new deadlines are usually the latest. Equal deadlines
     * keep their arming order (insert after the last one not later than ours). */
    TAILQ_FOREACH_REVERSE(it, &l->timers, loop_timer_list, entry)
    {
        if (it->deadline_us <= deadline_us) {
            TAILQ_INSERT_AFTER(&l->timers, it, t, entry);
            return;
        }
    }
    TAILQ_INSERT_HEAD(&l->timers, t, entry);
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
    if (!t->armed)
        return;
    TAILQ_REMOVE(&l->timers, t, entry);
    t->armed = false;
}

void loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *arg)
{
    l->before_sleep = cb;
    l->before_sleep_arg = arg;
}

void loop_get_before_sleep(const struct loop *l, loop_hook_cb **cb, void **arg)
{
    *cb = l->before_sleep;
    *arg = l->before_sleep_arg;
}

void loop_set_coalesce(struct loop *l, uint64_t usecs)
{
    l->coalesce_us = usecs;
    l->busy = false;
}

/* Event coalescing, as a NIC moderates its interrupts: while events keep coming
 * faster than one turn per coalesce_us, the loop sleeps out the rest of the
 * interval before it polls again, so that each turn reads, handles and sends a
 * batch instead of a packet. A quiet loop never sleeps: the first event after a
 * pause is handled at once, and the delay added to any event is at most
 * coalesce_us. Input on an urgent fd ends the pause early: tcpcopy marks its
 * channel so, since a reply it waits for may release the next request. */
static int loop_coalesce(struct loop *l)
{
    if (l->coalesce_us == 0 || !l->busy)
        return 0;
    uint64_t until = l->turn_start_us + l->coalesce_us;
    uint64_t now = loop_update_time(l);
    if (now >= until)
        return 0;
    if (l->nurgent > 0) {
        /* Input from an urgent fd ends the pause (whatever else is ready then is
         * handled in the same turn). Without epoll_pwait2 (before Linux 5.11, or
         * under valgrind), epoll_wait in whole milliseconds, rounded up. */
        uint64_t left = until - now;
        struct timespec rel = {.tv_sec = (time_t)(left / 1000000),
                               .tv_nsec = (long)(left % 1000000) * 1000};
        int n = epoll_pwait2(l->uepfd, l->evs, LOOP_MAX_EVENTS, &rel, NULL);
        if (n < 0 && errno == ENOSYS)
            n = epoll_wait(l->uepfd, l->evs, LOOP_MAX_EVENTS, (int)((left + 999) / 1000));
        return n > 0 ? n : 0;
    }
    struct timespec ts = {.tv_sec = (time_t)(until / 1000000),
                          .tv_nsec = (long)(until % 1000000) * 1000};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !l->stop)
        ;
    return 0;
}

/* After a pause that urgent input ended: the polled fds are read without asking. */
static void loop_dispatch_polled(struct loop *l)
{
    for (int i = 0; i < l->npolled && !l->stop; i++) {
        int fd = l->polled[i];
        struct loop_fdent *fe = &l->fds[fd];
        if (fe->cb != NULL && (fe->events & LOOP_READ))
            fe->cb(l, fd, LOOP_READ, fe->arg);
    }
}

static void loop_note_turn(struct loop *l)
{
    uint64_t now = l->now_us;
    l->busy = l->coalesce_us > 0 && now - l->turn_start_us < 2 * l->coalesce_us;
    l->turn_start_us = now;
}

void loop_stop(struct loop *l)
{
    l->stop = true;
}

uint64_t loop_now(struct loop *l)
{
    return l->now_us;
}

uint64_t loop_update_time(struct loop *l)
{
    l->now_us = loop_clock_us();
    return l->now_us;
}

/* Milliseconds until the earliest timer, rounded up so that we never wake
 * before it is due and spin; -1 (block) without timers. */
static int loop_timeout_ms(struct loop *l)
{
    struct loop_timer *t = TAILQ_FIRST(&l->timers);
    uint64_t now, ms;

    if (t == NULL)
        return -1;
    now = loop_update_time(l);
    if (t->deadline_us <= now)
        return 0;
    ms = (t->deadline_us - now + 999) / 1000;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void loop_dispatch_fds(struct loop *l, int n)
{
    for (int i = 0; i < n && !l->stop; i++) {
        uint64_t data = l->evs[i].data.u64;
        uint32_t ev = l->evs[i].events;
        int fd = (int)(uint32_t)data;
        uint32_t gen = (uint32_t)(data >> 32);
        unsigned mask = 0;

        /* An earlier callback in this batch may have deleted this fd, or
         * deleted it and registered the same number again for something else:
         * either way this event is stale. */
        if (fd >= l->nfds || l->fds[fd].cb == NULL || l->fds[fd].gen != gen)
            continue;
        struct loop_fdent *fe = &l->fds[fd];
        if (ev & EPOLLIN)
            mask |= LOOP_READ;
        if (ev & EPOLLOUT)
            mask |= LOOP_WRITE;
        /* Errors and hang-ups are delivered as readiness, so that the
         * callback's read() or write() returns the error and handles it. */
        if (ev & (EPOLLERR | EPOLLHUP))
            mask |= LOOP_READ | LOOP_WRITE;
        mask &= fe->events;
        if (mask != 0)
            fe->cb(l, fd, mask, fe->arg);
    }
}

static void loop_fire_timers(struct loop *l)
{
    uint64_t now = loop_update_time(l);
    struct loop_timer *t;
    size_t due = 0;

    /* Fire at most the timers due at this moment: a callback that re-arms
     * itself for "now" runs again next iteration instead of starving the fds. */
    TAILQ_FOREACH(t, &l->timers, entry)
    {
        if (t->deadline_us > now)
            break;
        due++;
    }
    while (due-- > 0 && !l->stop) {
        t = TAILQ_FIRST(&l->timers);
        if (t == NULL || t->deadline_us > now)
            break;
        /* Unlinked and unarmed before the call, so the callback may re-arm it
         * or free the structure that embeds it. */
        TAILQ_REMOVE(&l->timers, t, entry);
        t->armed = false;
        t->cb(l, t->arg);
    }
}

int loop_run(struct loop *l)
{
    l->stop = false;
    while (!l->stop) {
        if (l->before_sleep != NULL) {
            l->before_sleep(l, l->before_sleep_arg);
            if (l->stop)
                break;
        }
        int nu = loop_coalesce(l);
        if (nu > 0 && l->npolled > 0 && l->now_us - l->full_poll_us < LOOP_FULL_POLL_US) {
            /* A busy turn: the urgent fds that ended the pause and the polled ones
             * are all there is to look at (the rest wait for the next full poll). */
            loop_update_time(l);
            loop_note_turn(l);
            loop_dispatch_fds(l, nu);
            loop_dispatch_polled(l);
            if (!l->stop)
                loop_fire_timers(l);
            continue;
        }
        int timeout = loop_timeout_ms(l);
        int n = epoll_wait(l->epfd, l->evs, LOOP_MAX_EVENTS, timeout);
        l->full_poll_us = loop_update_time(l);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n > 0)
            loop_note_turn(l);
        else
            l->busy = false;
        loop_dispatch_fds(l, n);
        if (!l->stop)
            loop_fire_timers(l);
    }
    return 0;
}

uint64_t loop_realtime_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}
