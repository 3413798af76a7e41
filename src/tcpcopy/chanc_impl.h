/*
 * chanc_impl: what the files of tcpcopy's channel client share. Private to
 * chanc; the public API is chanc.h.
 *
 *   chanc.c        the object, startup (chanc_connect_all), flushing, stats
 *   chanc_conn.c   one connection's state machine (connect, read, write,
 *                  deadlines, heartbeats, backoff); diagram in doc/design.md
 *   chanc_frame.c  what a received frame means in each state (handshake
 *                  through hello.c, REPLY, HEARTBEAT, BYE): verdicts, no I/O
 *   chanc_route.c  route registration: sharding over -C connections, and
 *                  re-registration when a connection comes up
 *
 * Calls go one way only: chanc.c -> chanc_conn.c -> chanc_frame.c, chanc_route.c.
 */
#ifndef TC_CHANC_IMPL_H
#define TC_CHANC_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "chanc.h"
#include "chanlag.h"
#include "hello.h"
#include "loop.h"
#include "tls.h"

#define CHANC_IN_MAX (256 * 1024) /* > 3 maximal frames: always room for one */
#define CHANC_OUT_DEFAULT (4 * 1024 * 1024)
#define CHANC_TIMEOUT_DEFAULT_MS 3000
#define CHANC_BACKOFF_MIN_MS 200
#define CHANC_BACKOFF_MAX_MS 5000
#define CHANC_HEARTBEAT_MS 5000
/* Intercept sends a HEARTBEAT every 5 s: three missed ones mean a dead host or
 * a cut path that TCP would take minutes to report. */
#define CHANC_DEAD_AFTER_MS 15000
#define CHANC_READS_PER_EVENT 16 /* drain a burst, but let other fds run too */
/* Log a failing reconnect on the first attempt and then about once a minute. */
#define CHANC_LOG_EVERY_FAILS 12
#define CHANC_ERR_LEN 384 /* one failure's message: the label and the reason */

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_TLS, CONN_HELLO, CONN_AUTH, CONN_UP };

struct chanc_conn {
    struct chanc *c;
    const struct server *srv;
    char label[ADDR_STRLEN + 24]; /* "intercept 192.0.2.30:36524" (+ "#2" with -C > 1) */
    int fd;
    struct tls *tls; /* NULL: plain */
    enum conn_state state;
    bool in_loop;    /* fd registered with the loop */
    bool want_write; /* LOOP_WRITE enabled: output waits for the socket */
    unsigned backoff_ms;
    unsigned fails; /* failed attempts since the last time it was up */
    int start_rc;   /* startup: 0, or the -errno this connection failed with */
    struct buf in;
    struct chan_out out;
    struct loop_timer timer;       /* DOWN: reconnect; CONNECTING/HELLO/AUTH: deadline */
    struct loop_timer hb;          /* UP: next heartbeat and silence check */
    uint64_t last_rx_us;           /* last bytes received, for the silence check */
    uint8_t nonce[CHAN_NONCE_LEN]; /* ours, sent in this connection's HELLO */
    struct hello peer;
    struct chanlag lag;            /* the clocks' offset and the lag (CHAN_FEAT_CLOCK) */
};

struct chanc {
    struct loop *loop;
    struct server_list servers; /* a copy: the caller's may go away */
    int per;
    size_t out_max;
    int timeout_ms;
    unsigned hb_ms, dead_ms;
    struct auth_secret secret; /* len 0: no authentication */
    struct tls_ctx *tls;       /* NULL: plain */
    char tls_err[CHANC_ERR_LEN]; /* why the TLS key could not be set up ("": fine) */
    uint8_t route_flags;       /* CHAN_ROUTE_F_PAYLOAD with want_payload */
    struct chanc_cb cb;
    void *arg;
    uint64_t instance;        /* sent in every HELLO: intercept sees one tcpcopy */
    struct chanc_conn *conns; /* servers.n * per, server-major */
    size_t nconns;
    size_t up;
    /* chanc_connect_all runs the loop: failures are kept, not logged, and the
     * first one (in -s order) is what it reports. */
    bool starting;
    size_t start_idx; /* index of the connection whose failure start_err holds */
    char start_err[CHANC_ERR_LEN];
    struct chanc_stats st;
};

static inline uint64_t chanc_ms_to_us(unsigned ms)
{
    return (uint64_t)ms * 1000;
}

/* chanc_conn.c */
/* Start connecting a DOWN connection (a timer or chanc_connect_all). */
void chanc_conn_open(struct chanc_conn *cn);
/* Write queued output; false if that closed the connection. */
bool chanc_conn_flush(struct chanc_conn *cn);
/* Best effort: queue a BYE (text non-NULL) and write what is queued. */
void chanc_conn_bye(struct chanc_conn *cn, uint16_t code, const char *text);
/* Release the socket and buffers: no state change, no callbacks. */
void chanc_conn_close_fd(struct chanc_conn *cn);
/* Arm the reconnect timer of a DOWN connection that has none. */
void chanc_conn_schedule(struct chanc_conn *cn);
/* Startup is over when a connection failed and every one before it (in -s
 * order) is up, or when all are up. */
bool chanc_conn_startup_settled(const struct chanc *c);

/* chanc_frame.c: each returns -errno with "label: reason" in err to close. */
/* One frame in state HELLO or AUTH. 1: up; 0: more needed (a frame we must
 * send may be queued). A BYE explaining a refusal may be queued. */
int chanc_frame_handshake(struct chanc_conn *cn, const struct chan_frame *f, char *err,
                          size_t errlen);
/* One frame once UP: replies go to cb.on_reply. 0 or -errno. */
int chanc_frame_up(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen);

/* chanc_route.c */
/* cn just came up: queue ROUTE_ADD for every live route its hash gives it. */
void chanc_rereg(struct chanc_conn *cn);

#endif
