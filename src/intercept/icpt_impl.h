/*
 * icpt_impl: what icpt.c (captures, listening, the daemon's life) and peer.c (the
 * connected tcpcopy peers, admission, the channel's frames) share. Private to
 * intercept.
 */
#ifndef TC_ICPT_IMPL_H
#define TC_ICPT_IMPL_H

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "capture.h"
#include "chan.h"
#include "hello.h"
#include "icpt.h"
#include "log.h"
#include "loop.h"
#include "pkt.h"
#include "payload.h"
#include "route.h"
#include "tls.h"

#define ICPT_IN_MAX (256 * 1024)
#define ICPT_OUT_MAX (8 * 1024 * 1024)
#define ICPT_HELLO_TIMEOUT_US (5 * 1000000ULL)
#define ICPT_HEARTBEAT_US (5 * 1000000ULL)
/* A peer that promised heartbeats (CHAN_FEAT_HEARTBEAT) and sent nothing for six of
 * their periods is gone (a host that died without a FIN): free its routes. */
#define ICPT_PEER_IDLE_US (30 * 1000000ULL)
#define ICPT_STATS_US (30 * 1000000ULL)
#define ICPT_HOLD_RECS 4096
#define ICPT_HOLD_AGE_US (2 * 1000000ULL)
#define ICPT_BACKLOG 128
#define ICPT_LISTEN_MAX 2
/* Packets per capture per wake-up: 0 is "one kernel buffer" (a TPACKET_V3 block).
 * A smaller count could leave packets in a block that libpcap has half read,
 * where the fd no longer reports them until the next packet arrives. */
#define ICPT_DISPATCH_MAX 0
#define ICPT_READS_MAX 8 /* reads per peer per wake-up */
#define ICPT_ACCEPTS_MAX 64
/* Each peer may hold ICPT_OUT_MAX + ICPT_IN_MAX bytes: bound their number too. */
#define ICPT_PEERS_MAX 1024

struct icpt;

struct icpt_cap {
    struct icpt *ic;
    struct capture *cap;
    const char *dev;
    int fd;
};

struct peer {
    LIST_ENTRY(peer) link;        /* icpt.peers */
    TAILQ_ENTRY(peer) flush_link; /* icpt.flush, while in_flush */
    struct icpt *ic;
    int fd;
    uint64_t id;
    char name[ADDR_STRLEN];
    struct buf in;
    struct chan_out out;
    struct route_owner routes; /* the route table links this peer's routes here */
    struct loop_timer hello_timer;
    uint64_t last_rx_us;
    uint32_t features; /* from its HELLO */
    uint64_t instance; /* the tcpcopy process it belongs to (0: unknown) */
    uint8_t nonce[CHAN_NONCE_LEN];      /* ours, in the HELLO we sent it */
    uint8_t peer_nonce[CHAN_NONCE_LEN]; /* its, from its HELLO */
    bool hello_done;
    bool auth_wait; /* HELLO done, its AUTH not yet verified */
    bool up;        /* HELLO (and AUTH) done: counted in icpt.nup */
    bool in_flush;
    bool want_write; /* LOOP_WRITE registered: the socket did not take everything */
    bool sniffed;    /* its first byte was seen: TLS or plain decided */
    bool tls_hs;     /* TLS handshake under way */
    bool loopback;   /* connected from this host: payload may go in clear */
    bool payload;    /* CHAN_FEAT_PAYLOAD in both HELLOs */
    struct tls *tls; /* NULL: plain */
    uint64_t forwarded, dropped;
    /* CHAN_FEAT_CLOCK (doc/protocol.md, section 7): the latest time the peer sent in a
     * heartbeat, when it arrived (realtime), and whether this batch of replies has had its
     * STAMP yet. */
    uint64_t hb_echo_us, hb_echo_at_us;
    bool stamped;
};

LIST_HEAD(peer_list, peer);
TAILQ_HEAD(peer_queue, peer);

struct icpt_stats {
    uint64_t captured;
    uint64_t parse_err[PKT_E_COUNT];
    uint64_t toolong;   /* headers longer than a reply record may be */
    uint64_t forwarded; /* reply records queued to a peer */
    uint64_t dropped;   /* not queued: the peer's output buffer was full */
    uint64_t fast;      /* of forwarded: delivered by the single-peer fast path */
    uint64_t nopeer;    /* captured while no tcpcopy was up (held for a returning one) */
    uint64_t peers_accepted, peers_refused, peers_closed, peers_bad;
    uint64_t auth_refused; /* of peers_refused: bad, missing or one-sided authentication */
    uint64_t bad_frames;   /* peers closed for a malformed frame */
    uint64_t docker_rewritten; /* replies whose source -D rewrote */
    uint64_t lag_us, lag_samples; /* capture timestamp to forwarding: sum, and how many */
    struct payload_stats pay;     /* records with payload (CHAN_FEAT_PAYLOAD) */
    uint64_t pay_held;            /* header-only records from the hold queue for flagged routes */
    uint64_t pay_refused_plain;   /* HELLOs asking for payload on a plain non-loopback channel */
    uint64_t tls_peers, tls_failed, plain_refused; /* TLS handshakes done, failed; --tls-required */
};

struct icpt {
    const struct icpt_opts *o;
    struct loop *loop;
    struct icpt_cap caps[ICPT_DEVICES_MAX];
    size_t ncaps;
    int lfds[ICPT_LISTEN_MAX];
    size_t nlfds;
    int sigfd;
    struct icpt_cidr *allow;
    size_t nallow;
    bool allow_any;
    struct route_table *routes;
    struct route_hold *hold;
    struct peer_list peers;
    size_t npeers;
    size_t nup;                /* peers up (HELLO and AUTH done) */
    struct peer *single;       /* the only peer up, when nup == 1: the fast path */
    struct auth_secret secret; /* --secret-file; len 0: no authentication */
    struct tls_ctx *tls;       /* TLS key (PSK or certificates); NULL: plain peers only */
    bool stopping;             /* icpt_free: peers go without a word */
    struct peer_queue flush;
    uint64_t next_peer_id;
    struct loop_timer hb_timer, stats_timer;
    struct icpt_stats st;
    struct log_rl rl_parse, rl_full, rl_drop, rl_toolong, rl_refused, rl_accept, rl_auth;
    int exit_err;
    struct statsout *so;   /* --stats-json, --metrics */
    uint64_t t0_us;        /* started serving */
    uint64_t rt_now_us;    /* the realtime clock when this capture batch began (lag) */
};


void icpt_accept_cb(struct loop *l, int lfd, unsigned events, void *arg);
/* allow.c */
int icpt_allow_defaults(struct icpt *ic, char *err, size_t errlen);
void icpt_log_allow(struct icpt *ic);
bool icpt_allowed(const struct icpt *ic, const struct addr *a);
/* Refuse a connection from a not allowed address: BYE code 5 naming the --allow that
 * would admit it, then close fd. */
void icpt_refuse(struct icpt *ic, int fd, const struct addr *a, uint16_t port);
static inline uint64_t icpt_now(struct icpt *ic)
{
    return loop_now(ic->loop);
}
void peer_close(struct peer *pe, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int peer_flush(struct peer *pe);
/* Queue a reply's headers for the peer; ts_us: its capture time (realtime; 0: unknown),
 * sent ahead of the batch in a STAMP when the peer measures the channel's lag. */
void peer_forward(struct peer *pe, const uint8_t *hdr, size_t len, uint64_t ts_us);
/* Queue a heartbeat for the peer (with clock fields when it measures the lag). */
int peer_put_heartbeat(struct peer *pe);
void peer_free(struct peer *pe);
struct peer *peer_of_owner(struct route_owner *o);
void peer_want_flush(struct peer *pe);
/* As peer_forward, with the reply's payload (a route flagged CHAN_ROUTE_F_PAYLOAD of a
 * peer that negotiated CHAN_FEAT_PAYLOAD): split into several records if need be. */
void peer_forward_payload(struct peer *pe, const struct pkt *p, const uint8_t *hdr, size_t hlen,
                          uint64_t ts_us);

/* peer_tls.c */
enum { PEER_SNIFF_PLAIN = 1, PEER_SNIFF_TLS = 2 };
/* Peek at the new peer's first byte: 0 (none yet), PEER_SNIFF_PLAIN, PEER_SNIFF_TLS
 * (pe->tls made, handshake to run), or -errno with the reason in err (-EACCES: a plain
 * peer and --tls-required; -EPROTONOSUPPORT: TLS and no key here). */
int peer_tls_sniff(struct peer *pe, char *err, size_t errlen);
/* One step of the TLS handshake: 1 done, 0 more (socket interest updated), -errno. */
int peer_tls_step(struct peer *pe, char *err, size_t errlen);
/* CHAN_FEAT_PAYLOAD if --payload and the channel is TLS or from this host, else 0. */
uint32_t peer_payload_offer(const struct peer *pe);

#endif
