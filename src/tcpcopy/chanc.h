/*
 * chanc: tcpcopy's side of the channel: one or more TCP connections to each
 * intercept (-s, -C), the HELLO (and AUTH) exchange, route registration
 * (batched, sent to every intercept), reply records handed to the session
 * engine, heartbeats, reconnection with backoff, and re-registration of the
 * live sessions when a connection comes back. Output per connection is
 * bounded; what does not fit is counted, never blocks. Everything runs in the
 * caller's event loop, startup included. The connection's state machine is
 * drawn in doc/design.md ("The channel connection").
 */
#ifndef TC_CHANC_H
#define TC_CHANC_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "chan.h"
#include "transfer.h"

struct loop;
struct tls_ctx;
struct chanc;

/* Called by the routes callback for each live route. */
typedef void chanc_route_fn(void *ctx, const struct chan_route *r);

struct chanc_cb {
    /* One reply record: the IP+TCP headers the target sent, as captured by intercept. */
    void (*on_reply)(void *arg, const uint8_t *hdr, size_t len);
    /* The number of connected intercepts changed. */
    void (*on_state)(void *arg, size_t up, size_t total);
    /*
     * Re-registration: "this connection came up, give me every route". When a
     * connection to an intercept comes up (at startup, or after a reconnect),
     * that intercept may have lost the routes of that connection (it
     * restarted, or freed them when the connection dropped). chanc then calls
     * routes(arg, emit, ctx): call emit(ctx, r) once for every live session's
     * route, and return the number of live sessions. chanc queues ROUTE_ADD on
     * the new connection for the routes whose hash picks it (the intercept's
     * other connections have theirs, or get them when they come up), counts
     * those that do not fit (out_dropped; the others in reregistered) and logs
     * the outcome. Must not call back into chanc. NULL: nothing to re-register.
     */
    size_t (*routes)(void *arg, chanc_route_fn *emit, void *ctx);
};

struct chanc_stats {
    uint64_t frames_in, replies_in, routes_added, routes_deleted;
    uint64_t out_dropped; /* records not queued: output buffer full */
    uint64_t bad_frames;  /* malformed frames received (connection closed) */
    uint64_t connects, disconnects;
    uint64_t auth_failed;  /* handshakes refused for authentication (either side) */
    uint64_t silent;       /* connections closed: intercept silent too long */
    uint64_t reregistered; /* routes queued again when a connection came up */
    /* The channel's lag, intercept's capture of a reply to its arrival here, measured with
     * CHAN_FEAT_CLOCK (chanlag.h): samples (one per batch of replies), their sum, the
     * largest, and the recent lag (weighted toward the latest). 0 samples: not measured
     * (an intercept without the feature, or no reply yet). */
    uint64_t lag_samples, lag_sum_us, lag_max_us, lag_recent_us;
    int64_t clock_offset_us; /* the latest connection's: intercept's clock minus ours */
};

struct chanc_conf {
    const struct server_list *servers;
    int conns_per_server;   /* -C, 1..11 */
    size_t out_max;         /* per-connection output bound, bytes */
    int connect_timeout_ms; /* connect + HELLO (+ AUTH) deadline (3000) */
    /* Shared secret (--secret-file), copied; NULL or len 0: no authentication. */
    const struct auth_secret *secret;
    /* TLS 1.3 on every connection (tls.h), before the HELLO: keyed by the certificate
     * files when all three are given, else by the secret (a PSK). A key that cannot be
     * loaded is chanc_connect_all's error. Without use_tls: plain, nothing changes. */
    bool use_tls;
    const char *tls_cert, *tls_key, *tls_ca;
    /* Ask for reply payload (CHAN_FEAT_PAYLOAD): every route is flagged
     * CHAN_ROUTE_F_PAYLOAD, and an intercept that does not offer the feature is
     * refused with a message naming the fix (--compare, --channel-payload). */
    bool want_payload;
    int heartbeat_ms;  /* HEARTBEAT period (0: 5000) */
    int dead_after_ms; /* close an intercept silent this long (0: 15000) */
};

/* NULL on failure (errno). Nothing is connected yet. */
struct chanc *chanc_new(struct loop *l, const struct chanc_conf *c, const struct chanc_cb *cb,
                        void *arg);
void chanc_free(struct chanc *c); /* NULL-safe, closes connections */

/*
 * Startup: connect to every server and complete the HELLO (and AUTH) exchange,
 * running the loop (the caller's other fds and timers included; its
 * before-sleep hook is set aside meanwhile) until every connection is up, or
 * one has failed and every one before it in -s order is up, or the
 * configured timeout passed. An unreachable or misconfigured intercept is then
 * a clear error before anything is captured. 0 when all are up; otherwise the
 * -errno of the first connection (in -s order) that failed, with a message
 * naming its server in err ("intercept 192.0.2.30:36524: connection
 * refused"). Connections that failed are retried in the background with the
 * usual backoff, should the caller keep running.
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
