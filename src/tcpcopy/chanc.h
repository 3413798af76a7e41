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

#include "auth.h"
#include "chan.h"
#include "transfer.h"

struct loop;
struct chanc;

struct chanc_cb {
    /* One reply record: the IP+TCP headers the target sent, as captured by intercept. */
    void (*on_reply)(void *arg, const uint8_t *hdr, size_t len);
    /* The number of connected intercepts changed. */
    void (*on_state)(void *arg, size_t up, size_t total);
    /*
     * A connection to intercept number `server` (index in the -s list) came up,
     * at startup or after a reconnect. The intercept may have lost the routes of
     * that connection (it restarted, or freed them when the connection dropped):
     * call chanc_route_add_to() for every live session's route from here.
     */
    void (*on_up)(void *arg, size_t server);
};

struct chanc_stats {
    uint64_t frames_in, replies_in, routes_added, routes_deleted;
    uint64_t out_dropped;      /* records not queued: output buffer full */
    uint64_t bad_frames;       /* malformed frames received (connection closed) */
    uint64_t connects, disconnects;
    uint64_t auth_failed;  /* handshakes refused for authentication (either side) */
    uint64_t silent;       /* connections closed: intercept silent too long */
    uint64_t reregistered; /* routes queued again by chanc_route_add_to */
};

struct chanc_conf {
    const struct server_list *servers;
    int conns_per_server;      /* -C, 1..11 */
    size_t out_max;            /* per-connection output bound, bytes */
    int connect_timeout_ms;    /* connect + HELLO (+ AUTH) deadline (3000) */
    /* Shared secret (--secret-file), copied; NULL or len 0: no authentication. */
    const struct auth_secret *secret;
    int heartbeat_ms;  /* HEARTBEAT period (0: 5000) */
    int dead_after_ms; /* close an intercept silent this long (0: 15000) */
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
/*
 * Register r with intercept `server` only, on the connection its hash picks
 * (re-registration, from cb->on_up). Inside on_up, only the connection that just
 * came up takes routes: the server's other connections already have theirs, or
 * get them when they come up. Returns 1 if queued, 0 if r belongs to another
 * connection, -ENOTCONN if its connection is down, -ENOBUFS if the output queue
 * is full; the last two are counted in out_dropped. -EINVAL for a bad server.
 */
int chanc_route_add_to(struct chanc *c, size_t server, const struct chan_route *r);
/* Write queued output (call once per loop iteration, before sleeping). */
void chanc_flush(struct chanc *c);
size_t chanc_up(const struct chanc *c);
const struct chanc_stats *chanc_stats(const struct chanc *c);

#endif
