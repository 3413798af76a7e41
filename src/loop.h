/*
 * loop: a small epoll event loop with one-shot timers, in the manner of Redis's ae.
 * File callbacks run when their fd is ready; timers are kept in a short sorted
 * list (programs here have a handful; per-session timers live in the session
 * engine's own wheel, which registers one loop timer). A "before sleep" hook runs
 * once per iteration so batched output is flushed before the loop blocks.
 */
#ifndef TC_LOOP_H
#define TC_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

struct loop;

enum { LOOP_READ = 1U << 0, LOOP_WRITE = 1U << 1 };

typedef void loop_fd_cb(struct loop *l, int fd, unsigned events, void *arg);
typedef void loop_timer_cb(struct loop *l, void *arg);
typedef void loop_hook_cb(struct loop *l, void *arg);

/* A timer owned by the caller (embedded in its struct); loop_timer_set re-arms it. */
struct loop_timer {
    TAILQ_ENTRY(loop_timer) entry;
    uint64_t deadline_us;
    loop_timer_cb *cb;
    void *arg;
    bool armed;
};

/* NULL on failure (errno set). */
struct loop *loop_new(void);
void loop_free(struct loop *l); /* NULL-safe; does not close fds */

/* Watch fd for events (LOOP_READ|LOOP_WRITE). 0 or -errno. */
int loop_fd_add(struct loop *l, int fd, unsigned events, loop_fd_cb *cb, void *arg);
int loop_fd_mod(struct loop *l, int fd, unsigned events);
void loop_fd_del(struct loop *l, int fd);
/* Readable input on an urgent fd ends a coalescing pause (loop_set_coalesce). The
 * mark survives loop_fd_mod. 0 or -errno. */
int loop_fd_set_urgent(struct loop *l, int fd, bool urgent);
/* A polled fd's read callback is called after every coalescing pause that urgent
 * input ended, without asking epoll first: under load it is always readable, and
 * the epoll_wait saved is a syscall per turn. The callback must expect to find
 * nothing (EAGAIN). Other fds are still polled at least every few milliseconds,
 * and after any pause that ran out. 0 or -errno. */
int loop_fd_set_polled(struct loop *l, int fd, bool polled);

/* Arm (or re-arm) t to fire once at deadline_us (monotonic clock, see loop_now). */
void loop_timer_set(struct loop *l, struct loop_timer *t, uint64_t deadline_us, loop_timer_cb *cb,
                    void *arg);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

void loop_set_before_sleep(struct loop *l, loop_hook_cb *cb, void *arg);
/* The hook in place and its argument, to set it aside for a while and restore it. */
void loop_get_before_sleep(const struct loop *l, loop_hook_cb **cb, void **arg);

/* Coalesce events: under a steady stream of events, at most one turn every
 * usecs (0, a new loop's setting, turns it off). Adds at most usecs to an event's delay. */
void loop_set_coalesce(struct loop *l, uint64_t usecs);
/* Both programs' --coalesce default, microseconds (doc/design.md, "Event coalescing"). */
#define LOOP_COALESCE_DEFAULT_US 300

/* Run until loop_stop(). Returns 0, or -errno if epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* The monotonic time in microseconds, refreshed each iteration and after each wait. */
uint64_t loop_now(struct loop *l);
/* Refresh and return the cached time. */
uint64_t loop_update_time(struct loop *l);

/* The realtime clock in microseconds (CLOCK_REALTIME: comparable across hosts, unlike the
 * loop's monotonic time; for timestamps that travel). */
uint64_t loop_realtime_us(void);

#endif
