/*
 * chanc: tcpcopy's side of the channel: one or more TCP connections to each
 * intercept (-s, -C), the HELLO exchange, route registration (batched, sent to
 * every intercept), reply records handed to the session engine, heartbeats.
 * Output per connection is bounded; what does not fit is counted, never blocks.
 */
#ifndef TC_CHANC_H
#define TC_CHANC_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "transfer.h"

struct loop;
struct chanc;

struct chanc_cb {
    /* One reply record: the IP+TCP headers the target sent, as captured by intercept. */
    void (*on_reply)(void *arg, const uint8_t *hdr, size_t len);
    /* The number of connected intercepts changed. */
    void (*on_state)(void *arg, size_t up, size_t total);
};

struct chanc_stats {
    uint64_t frames_in, replies_in, routes_added, routes_deleted;
    uint64_t out_dropped;      /* records not queued: output buffer full */
    uint64_t bad_frames;       /* malformed frames received (connection closed) */
    uint64_t connects, disconnects;
};

struct chanc_conf {
    const struct server_list *servers;
    int conns_per_server;      /* -C, 1..11 */
    size_t out_max;            /* per-connection output bound, bytes */
    int connect_timeout_ms;
};

/* NULL on failure (errno). Nothing is connected yet. */
struct chanc *chanc_new(struct loop *l, const struct chanc_conf *c, const struct chanc_cb *cb,
                        void *arg);
void chanc_free(struct chanc *c); /* NULL-safe, closes connections */

/*
 * Connect to every server and complete the HELLO exchange, blocking up to the
 * configured timeout: used at startup so an unreachable intercept is a clear error.
 * 0 when all are up; -errno with a message naming the server in err otherwise.
 */
int chanc_connect_all(struct chanc *c, char *err, size_t errlen);

/* Register / forget a session with every intercept (queued; flushed by chanc_flush). */
void chanc_route_add(struct chanc *c, const struct chan_route *r);
void chanc_route_del(struct chanc *c, const struct chan_route *r);
/* Write queued output (call once per loop iteration, before sleeping). */
void chanc_flush(struct chanc *c);
size_t chanc_up(const struct chanc *c);
const struct chanc_stats *chanc_stats(const struct chanc *c);

#endif
