/*
 * icpt: the intercept daemon (see icpt.h). Owns the loop, the captures, the
 * listening sockets, the peers (one per connected tcpcopy), the route table and
 * the FIFO of replies waiting for their route.
 *
 * A peer's life:
 *
 *   accept -- not in --allow --> closed
 *     |
 *   WAIT_HELLO -- no HELLO in 5 s, or a bad one --> closed
 *     |  HELLO (role tcpcopy): we answer with ours
 *     |  (--secret-file: ours is followed by our AUTH proof, then
 *   WAIT_AUTH -- no AUTH within the same 5 s, a bad one, a secret on one side only
 *     |          --> BYE code 3, "refused peer A:P: ...", closed)
 *   UP: ROUTE_ADD / ROUTE_DEL / HEARTBEAT in, REPLY records and HEARTBEAT out
 *     |  BYE, EOF, a malformed frame, a write error, 30 s of silence
 *   closed: its routes are removed (O(its routes)), nothing else is affected
 *
 * Output never blocks the daemon: each peer has a bounded chan_out, replies that
 * do not fit are counted as dropped for that peer, and all peers with something
 * queued are written once per loop iteration (before_sleep), so a burst of
 * captured replies leaves in a few large writes.
 *
 * With exactly one peer up, every captured reply goes to it without a route
 * lookup (the original's --single, chosen automatically): a reply that tcpcopy
 * does not know is harmless there (it counts it as "no session"), and no reply
 * waits in the hold FIFO for a registration. Routes are still kept, so a
 * second peer joining switches back to routing with nothing lost.
 */
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
#include "icpt.h"
#include "log.h"
#include "loop.h"
#include "pkt.h"
#include "route.h"

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
    uint64_t forwarded, dropped;
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
    bool stopping;             /* icpt_free: peers go without a word */
    struct peer_queue flush;
    uint64_t next_peer_id;
    struct loop_timer hb_timer, stats_timer;
    struct icpt_stats st;
    struct log_rl rl_parse, rl_full, rl_drop, rl_toolong, rl_refused, rl_accept, rl_auth;
    int exit_err;
};

/* ---- small helpers ---- */

static uint64_t icpt_now(struct icpt *ic)
{
    return loop_now(ic->loop);
}

static struct peer *peer_of_owner(struct route_owner *o)
{
    return (struct peer *)((char *)o - offsetof(struct peer, routes));
}

static bool icpt_allowed(const struct icpt *ic, const struct addr *a)
{
    if (ic->allow_any)
        return true;
    for (size_t i = 0; i < ic->nallow; i++)
        if (addr_in_prefix(a, &ic->allow[i].net, ic->allow[i].prefix))
            return true;
    return false;
}

static int icpt_allow_push(struct icpt *ic, size_t *cap, const struct icpt_cidr *c)
{
    for (size_t i = 0; i < ic->nallow; i++)
        if (ic->allow[i].prefix == c->prefix && addr_eq(&ic->allow[i].net, &c->net))
            return 0;
    if (ic->nallow == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        struct icpt_cidr *p = realloc(ic->allow, ncap * sizeof(*p));
        if (p == NULL)
            return -ENOMEM;
        ic->allow = p;
        *cap = ncap;
    }
    ic->allow[ic->nallow++] = *c;
    return 0;
}

static unsigned icpt_mask_prefix(const uint8_t *m, size_t n)
{
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++)
        bits += (unsigned)__builtin_popcount(m[i]);
    return bits;
}

/* Loopback plus every subnet this host has an address in: where a tcpcopy on the
 * production LAN (or on this host) will connect from. */
static int icpt_allow_defaults(struct icpt *ic, char *err, size_t errlen)
{
    size_t cap = 0;
    struct icpt_cidr c;
    struct ifaddrs *ifa0, *ifa;

    if (!icpt_cidr_parse(&c, "127.0.0.0/8") || icpt_allow_push(ic, &cap, &c) != 0)
        goto nomem;
    if (!icpt_cidr_parse(&c, "::1/128") || icpt_allow_push(ic, &cap, &c) != 0)
        goto nomem;
    if (getifaddrs(&ifa0) != 0) {
        snprintf(err, errlen, "getifaddrs: %s", strerror(errno));
        return -errno;
    }
    for (ifa = ifa0; ifa != NULL; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || ifa->ifa_netmask == NULL)
            continue;
        uint16_t port;
        memset(&c, 0, sizeof(c));
        if (!addr_from_sockaddr(&c.net, &port, ifa->ifa_addr))
            continue;
        if (c.net.af == AF_INET) {
            const struct sockaddr_in *m = (const void *)ifa->ifa_netmask;
            c.prefix = (uint8_t)icpt_mask_prefix((const uint8_t *)&m->sin_addr, 4);
        } else {
            const struct sockaddr_in6 *m = (const void *)ifa->ifa_netmask;
            c.prefix = (uint8_t)icpt_mask_prefix((const uint8_t *)&m->sin6_addr, 16);
        }
        /* Normalise to the network address through the parser (clears host bits). */
        char a[ADDR_STRLEN], s[ADDR_STRLEN + 8];
        snprintf(s, sizeof(s), "%s/%u", addr_str(&c.net, a, sizeof(a)), c.prefix);
        if (!icpt_cidr_parse(&c, s))
            continue;
        if (icpt_allow_push(ic, &cap, &c) != 0) {
            freeifaddrs(ifa0);
            goto nomem;
        }
    }
    freeifaddrs(ifa0);
    return 0;
nomem:
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}

static void icpt_log_allow(struct icpt *ic)
{
    char line[1024], one[ADDR_STRLEN + 8];
    size_t n = 0;
    line[0] = '\0';
    for (size_t i = 0; i < ic->nallow && n < sizeof(line); i++) {
        int w = snprintf(line + n, sizeof(line) - n, "%s%s", i ? ", " : "",
                         icpt_cidr_str(&ic->allow[i], one, sizeof(one)));
        if (w < 0)
            break;
        n += (size_t)w;
    }
    log_info("accepting tcpcopy connections from %s", line);
}

/* ---- peers ---- */

static void peer_io_cb(struct loop *l, int fd, unsigned events, void *arg);

/* nup changed: find the peer of the fast path, if there is exactly one up. Peers
 * come and go rarely; the scan keeps the packet path to one pointer test. */
static void icpt_peers_changed(struct icpt *ic)
{
    /* The fast path: when every connection that is up belongs to one tcpcopy (one
     * peer, or the -C connections of one process, which share its sessions), every
     * reply goes to one of them without a route lookup. */
    struct peer *pe, *one = NULL;
    bool same = ic->nup > 0;
    LIST_FOREACH(pe, &ic->peers, link)
    {
        if (!pe->up)
            continue;
        if (one == NULL)
            one = pe;
        else if (pe->instance == 0 || pe->instance != one->instance)
            same = false;
    }
    if (!same)
        one = NULL;
    if (one != ic->single && !ic->stopping) {
        if (one != NULL)
            log_info("one tcpcopy connected (%s, %zu connection%s): every reply goes to it "
                     "(fast path)", one->name, ic->nup, ic->nup == 1 ? "" : "s");
        else if (ic->single != NULL && ic->nup > 1)
            log_info("%zu connections from several tcpcopy: replies are routed by session",
                     ic->nup);
    }
    ic->single = one;
}

static void peer_free(struct peer *pe)
{
    struct icpt *ic = pe->ic;
    if (pe->up) {
        pe->up = false;
        ic->nup--;
        if (ic->single == pe)
            ic->single = NULL;
        icpt_peers_changed(ic);
    }
    loop_timer_cancel(ic->loop, &pe->hello_timer);
    loop_fd_del(ic->loop, pe->fd);
    close(pe->fd);
    route_remove_all_of(ic->routes, &pe->routes);
    if (pe->in_flush)
        TAILQ_REMOVE(&ic->flush, pe, flush_link);
    LIST_REMOVE(pe, link);
    ic->npeers--;
    buf_free(&pe->in);
    chan_out_free(&pe->out);
    free(pe);
}

/* Close one peer, logging why (level: LOG_LVL_INFO for a normal end, WARN for a
 * protocol error). Only this peer is affected. */
static void peer_close(struct peer *pe, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void peer_close(struct peer *pe, int level, const char *fmt, ...)
{
    struct icpt *ic = pe->ic;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (level <= LOG_LVL_WARN)
        ic->st.peers_bad++;
    ic->st.peers_closed++;
    if (log_level_cur >= level)
        log_msg(level, 0,
                "peer %s: %s; closed (%" PRIu32 " routes removed, %" PRIu64
                " replies forwarded, %" PRIu64 " dropped)",
                pe->name, why, pe->routes.count, pe->forwarded, pe->dropped);
    peer_free(pe);
}

static void peer_want_flush(struct peer *pe)
{
    if (!pe->in_flush) {
        pe->in_flush = true;
        TAILQ_INSERT_TAIL(&pe->ic->flush, pe, flush_link);
    }
}

/* Write what the socket takes. -1 if the peer was closed. */
static int peer_flush(struct peer *pe)
{
    if (buf_len(&pe->out.buf) > 0) {
        ssize_t n = chan_out_flush(&pe->out, pe->fd);
        if (n < 0) {
            peer_close(pe, LOG_LVL_WARN, "write: %s", strerror((int)-n));
            return -1;
        }
    }
    bool more = buf_len(&pe->out.buf) > 0;
    if (more != pe->want_write) {
        pe->want_write = more;
        loop_fd_mod(pe->ic->loop, pe->fd, LOOP_READ | (more ? LOOP_WRITE : 0));
    }
    return 0;
}

static void peer_forward(struct peer *pe, const uint8_t *hdr, size_t len)
{
    struct icpt *ic = pe->ic;
    if (chan_put_reply(&pe->out, hdr, len) != 0) {
        pe->dropped++;
        ic->st.dropped++;
        log_warnx_rl(&ic->rl_drop, icpt_now(ic),
                     "peer %s: output buffer full (%d MB), dropping replies (%" PRIu64
                     " so far): the tcpcopy host reads too slowly",
                     pe->name, ICPT_OUT_MAX >> 20, pe->dropped);
        return;
    }
    pe->forwarded++;
    ic->st.forwarded++;
    peer_want_flush(pe);
}

static void peer_hold_deliver(void *arg, const uint8_t *hdr, size_t len)
{
    peer_forward(arg, hdr, len);
}

/* Refuse a peer for authentication (bad, missing, or a secret on one side only):
 * log why with its address, tell it in a BYE (code 3), close. Rate-limited: a
 * scanner must not flood the log. */
static void peer_refuse(struct peer *pe, const char *bye, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void peer_refuse(struct peer *pe, const char *bye, const char *fmt, ...)
{
    struct icpt *ic = pe->ic;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    ic->st.peers_refused++;
    ic->st.auth_refused++;
    ic->st.peers_closed++;
    log_warnx_rl(&ic->rl_auth, icpt_now(ic), "refused peer %s: %s", pe->name, why);
    /* Best effort, after what is queued (our HELLO and AUTH, if sent): the peer
     * then reports the mismatch from its side too. */
    if (chan_put_bye(&pe->out, CHAN_BYE_AUTH, bye) == 0)
        (void)chan_out_flush(&pe->out, pe->fd);
    peer_free(pe);
}

static void peer_hello_timeout(struct loop *l, void *arg)
{
    struct peer *pe = arg;
    if (pe->auth_wait) {
        peer_refuse(pe, "no authentication", "no authentication within %llu s",
                    (unsigned long long)(ICPT_HELLO_TIMEOUT_US / 1000000));
        return;
    }
    peer_close(pe, LOG_LVL_WARN, "no HELLO within %llu s",
               (unsigned long long)(ICPT_HELLO_TIMEOUT_US / 1000000));
}

/* HELLO (and AUTH, if any) done: the peer may register routes. */
static void peer_up(struct peer *pe)
{
    struct icpt *ic = pe->ic;
    pe->auth_wait = false;
    pe->up = true;
    ic->nup++;
    loop_timer_cancel(ic->loop, &pe->hello_timer);
    log_info("peer %s: tcpcopy connected (features 0x%" PRIx32 "%s)", pe->name, pe->features,
             ic->secret.len > 0 ? ", authenticated" : "");
    icpt_peers_changed(ic);
}

static int peer_on_hello(struct peer *pe, const struct chan_frame *f)
{
    struct icpt *ic = pe->ic;
    struct chan_hello h;
    memset(&h, 0, sizeof(h));
    int rc = chan_hello_decode(&h, f);
    if (rc == -CHAN_E_VERSION) {
        if (chan_put_bye(&pe->out, CHAN_BYE_VERSION, "unsupported protocol version") == 0)
            (void)chan_out_flush(&pe->out, pe->fd);
        peer_close(pe, LOG_LVL_WARN, "speaks channel version %u, this intercept speaks %u",
                   h.version, CHAN_VERSION);
        return -1;
    }
    if (rc < 0) {
        peer_close(pe, LOG_LVL_WARN, "bad HELLO: %s", chan_err_str(-rc));
        return -1;
    }
    if (h.role != CHAN_ROLE_TCPCOPY) {
        peer_close(pe, LOG_LVL_WARN, "HELLO with role %u, expected tcpcopy (%u)", h.role,
                   CHAN_ROLE_TCPCOPY);
        return -1;
    }
    bool mine = ic->secret.len > 0, theirs = (h.features & CHAN_FEAT_AUTH) != 0;
    if (mine && !theirs) {
        peer_refuse(pe, "this intercept requires authentication: start tcpcopy with --secret-file",
                    "no authentication (tcpcopy has no --secret-file; give it the same "
                    "--secret-file as this intercept)");
        return -1;
    }
    if (!mine && theirs) {
        peer_refuse(pe, "this intercept has no --secret-file: give it the same one as tcpcopy",
                    "no authentication possible: the tcpcopy has --secret-file, this intercept "
                    "has none (start intercept with the same --secret-file)");
        return -1;
    }
    struct chan_hello mine_h = {
        .version = CHAN_VERSION,
        .role = CHAN_ROLE_INTERCEPT,
        .features = CHAN_FEAT_HEARTBEAT | (mine ? CHAN_FEAT_AUTH : 0),
    };
    /* The nonce is tcpcopy's challenge to us and ours to it: with a secret it
     * must be unpredictable, so wait for the kernel's pool if it is not ready
     * (early boot only). Without a secret, a weaker one does no harm. */
    ssize_t got = getrandom(mine_h.nonce, sizeof(mine_h.nonce), mine ? 0 : GRND_NONBLOCK);
    if (got != (ssize_t)sizeof(mine_h.nonce)) {
        if (mine) {
            peer_close(pe, LOG_LVL_WARN, "getrandom failed: cannot make a nonce");
            return -1;
        }
        uint64_t a = hash_seed_random(), b = hash_seed_random();
        memcpy(mine_h.nonce, &a, 8);
        memcpy(mine_h.nonce + 8, &b, 8);
    }
    memcpy(pe->nonce, mine_h.nonce, sizeof(pe->nonce));
    memcpy(pe->peer_nonce, h.nonce, sizeof(pe->peer_nonce));
    if (chan_put_hello(&pe->out, &mine_h) != 0) {
        peer_close(pe, LOG_LVL_WARN, "cannot queue our HELLO");
        return -1;
    }
    pe->hello_done = true;
    pe->features = h.features;
    pe->instance = h.instance;
    peer_want_flush(pe);
    if (!mine) {
        peer_up(pe);
        return 0;
    }
    /* Our proof goes at once, right behind our HELLO; the peer's must arrive
     * before the HELLO deadline, which keeps running. */
    uint8_t mac[CHAN_MAC_LEN];
    if (auth_mac(mac, &ic->secret, CHAN_ROLE_INTERCEPT, pe->nonce, pe->peer_nonce) != 0 ||
        chan_put_auth(&pe->out, mac) != 0) {
        peer_close(pe, LOG_LVL_WARN, "cannot queue our AUTH");
        return -1;
    }
    pe->auth_wait = true;
    return 0;
}

static int peer_on_auth(struct peer *pe, const struct chan_frame *f)
{
    uint8_t mac[CHAN_MAC_LEN];
    if (chan_auth_decode(mac, f) != 0 ||
        !auth_verify(mac, &pe->ic->secret, CHAN_ROLE_TCPCOPY, pe->peer_nonce, pe->nonce)) {
        peer_refuse(pe, "bad secret",
                    "bad secret (its --secret-file differs from this intercept's)");
        return -1;
    }
    peer_up(pe);
    return 0;
}

static int peer_on_routes(struct peer *pe, const struct chan_frame *f)
{
    struct icpt *ic = pe->ic;
    size_t n = chan_route_count(f);
    for (size_t i = 0; i < n; i++) {
        struct chan_route r;
        int rc = chan_route_get(&r, f, i);
        if (rc < 0) {
            peer_close(pe, LOG_LVL_WARN, "bad route record %zu of %zu: %s", i + 1, n,
                       chan_err_str(-rc));
            return -1;
        }
        struct route_key k;
        route_key_set(&k, &r.client, r.cport, &r.target, r.tport);
        if (f->type == CHAN_ROUTE_DEL) {
            route_del(ic->routes, &k, &pe->routes);
            continue;
        }
        rc = route_add(ic->routes, &k, &pe->routes);
        if (rc == -ENOSPC) {
            log_warnx_rl(&ic->rl_full, icpt_now(ic),
                         "route table full (%zu routes, -s %zu): replies of new sessions are "
                         "not forwarded; raise -s",
                         route_count(ic->routes), route_capacity(ic->routes));
            continue;
        }
        if (rc == ROUTE_REASSIGNED && log_level_cur >= LOG_LVL_DEBUG) {
            char c[ADDR_STRLEN], t[ADDR_STRLEN];
            log_debug("route %s -> %s moved to peer %s",
                      addr_port_str(&r.client, r.cport, c, sizeof(c)),
                      addr_port_str(&r.target, r.tport, t, sizeof(t)), pe->name);
        }
        /* Replies that overtook this registration (the SYN-ACK often does). */
        if (route_hold_count(ic->hold) > 0)
            route_hold_take(ic->hold, &k, icpt_now(ic), peer_hold_deliver, pe);
    }
    return 0;
}

static void peer_on_bye(struct peer *pe, const struct chan_frame *f)
{
    unsigned code = (unsigned)f->body[0] << 8 | f->body[1];
    int tlen = (int)f->len - 2;
    char text[128];
    /* The text is the peer's: keep printable ASCII only for the log. */
    int j = 0;
    for (int i = 0; i < tlen && j < (int)sizeof(text) - 1; i++) {
        uint8_t ch = f->body[2 + i];
        text[j++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    text[j] = '\0';
    peer_close(pe, LOG_LVL_INFO, "said goodbye (code %u%s%s)", code, j ? ": " : "", text);
}

/* Handle one frame. -1 if the peer was closed (pe is gone). */
static int peer_on_frame(struct peer *pe, const struct chan_frame *f)
{
    if (!pe->hello_done) {
        if (f->type != CHAN_HELLO) {
            peer_close(pe, LOG_LVL_WARN, "first frame is type %u, expected HELLO", f->type);
            return -1;
        }
        return peer_on_hello(pe, f);
    }
    if (pe->auth_wait) {
        if (f->type == CHAN_AUTH)
            return peer_on_auth(pe, f);
        if (f->type == CHAN_BYE) {
            peer_on_bye(pe, f);
            return -1;
        }
        peer_refuse(pe, "no authentication", "no authentication (frame type %u before AUTH)",
                    f->type);
        return -1;
    }
    switch (f->type) {
    case CHAN_ROUTE_ADD:
    case CHAN_ROUTE_DEL:
        return peer_on_routes(pe, f);
    case CHAN_HEARTBEAT:
        /* last_rx_us was updated by the read. */
        return 0;
    case CHAN_BYE:
        peer_on_bye(pe, f);
        return -1;
    case CHAN_HELLO:
        peer_close(pe, LOG_LVL_WARN, "second HELLO");
        return -1;
    case CHAN_AUTH:
        peer_close(pe, LOG_LVL_WARN, "%s",
                   pe->ic->secret.len > 0 ? "second AUTH"
                                          : "AUTH, which this intercept did not offer");
        return -1;
    case CHAN_REPLY:
        peer_close(pe, LOG_LVL_WARN, "REPLY frame: only intercept sends those");
        return -1;
    default:
        peer_close(pe, LOG_LVL_WARN, "unexpected frame type %u", f->type);
        return -1;
    }
}

/* Decode the complete frames in pe->in. -1 if the peer was closed. */
static int peer_parse(struct peer *pe)
{
    for (;;) {
        struct chan_frame f;
        ssize_t n = chan_frame_next(&f, buf_head(&pe->in), buf_len(&pe->in));
        if (n == 0)
            return 0;
        if (n < 0) {
            const uint8_t *h = buf_head(&pe->in);
            pe->ic->st.bad_frames++;
            peer_close(pe, LOG_LVL_WARN, "malformed frame (type %u, length %u): %s", h[0],
                       (unsigned)h[2] << 8 | h[3], chan_err_str((int)-n));
            return -1;
        }
        if (peer_on_frame(pe, &f) < 0)
            return -1;
        buf_consume(&pe->in, (size_t)n);
    }
}

static void peer_read(struct peer *pe)
{
    for (int i = 0; i < ICPT_READS_MAX; i++) {
        ssize_t n = buf_read_fd(&pe->in, pe->fd);
        if (n == -EAGAIN || n == -EWOULDBLOCK)
            return;
        if (n == 0) {
            peer_close(pe, LOG_LVL_INFO, "connection closed by the peer");
            return;
        }
        if (n == -ENOBUFS) {
            /* Cannot happen with a correct chan (the buffer holds several maximal
             * frames and complete frames are consumed after each read), but a full
             * buffer that parses to nothing must not spin. */
            peer_close(pe, LOG_LVL_WARN, "input buffer full without a complete frame");
            return;
        }
        if (n < 0) {
            peer_close(pe, LOG_LVL_WARN, "read: %s", strerror((int)-n));
            return;
        }
        pe->last_rx_us = icpt_now(pe->ic);
        if (peer_parse(pe) < 0)
            return;
    }
}

static void peer_io_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct peer *pe = arg;
    if ((events & LOOP_WRITE) && peer_flush(pe) < 0)
        return;
    if (events & LOOP_READ)
        peer_read(pe);
}

static void icpt_refuse(struct icpt *ic, int fd, const struct addr *a, uint16_t port)
{
    char name[ADDR_STRLEN], net[ADDR_STRLEN], s[ADDR_STRLEN + 8];
    struct icpt_cidr c;
    unsigned prefix = a->af == AF_INET ? 24 : 64;
    snprintf(s, sizeof(s), "%s/%u", addr_str(a, net, sizeof(net)), prefix);
    if (!icpt_cidr_parse(&c, s))
        c.net = *a;
    ic->st.peers_refused++;
    log_warnx_rl(&ic->rl_refused, icpt_now(ic),
                 "refused peer %s: not in --allow (add --allow %s to admit it)",
                 addr_port_str(a, port, name, sizeof(name)), icpt_cidr_str(&c, s, sizeof(s)));
    /* Tell it why before closing, so its operator reads the reason rather than a reset:
     * the BYE goes out, then our FIN; whatever it already sent is read and dropped first,
     * because closing with unread bytes would answer with a reset instead. */
    struct chan_out o;
    char why[160];
    snprintf(why, sizeof(why), "not allowed: intercept needs --allow %s", s);
    chan_out_init(&o, 512);
    if (chan_put_bye(&o, CHAN_BYE_REFUSED, why) == 0) {
        chan_out_seal(&o);
        (void)send(fd, buf_head(&o.buf), buf_len(&o.buf), MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    chan_out_free(&o);
    (void)shutdown(fd, SHUT_WR);
    char junk[512];
    for (int i = 0; i < 8 && recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
        ;
    close(fd);
}

static void icpt_accept_one(struct icpt *ic, int fd, const struct sockaddr_storage *ss)
{
    struct addr a;
    uint16_t port = 0;
    if (!addr_from_sockaddr(&a, &port, ss)) {
        close(fd);
        return;
    }
    if (!icpt_allowed(ic, &a)) {
        icpt_refuse(ic, fd, &a, port);
        return;
    }
    if (ic->npeers >= ICPT_PEERS_MAX) {
        char name[ADDR_STRLEN];
        ic->st.peers_refused++;
        log_warnx_rl(&ic->rl_refused, icpt_now(ic), "refused peer %s: already %d peers",
                     addr_port_str(&a, port, name, sizeof(name)), ICPT_PEERS_MAX);
        close(fd);
        return;
    }
    struct peer *pe = calloc(1, sizeof(*pe));
    if (pe == NULL) {
        log_warnx("out of memory accepting a peer");
        close(fd);
        return;
    }
    int one = 1;
    /* Replies are what tcpcopy waits on before sending the next packet: no Nagle
     * delay on top of our own per-iteration batching. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A tcpcopy host that vanishes without heartbeats is found eventually. */
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));

    pe->ic = ic;
    pe->fd = fd;
    pe->id = ++ic->next_peer_id;
    addr_port_str(&a, port, pe->name, sizeof(pe->name));
    buf_init(&pe->in, ICPT_IN_MAX);
    chan_out_init(&pe->out, ICPT_OUT_MAX);
    route_owner_init(&pe->routes, pe->id);
    pe->last_rx_us = icpt_now(ic);
    int rc = loop_fd_add(ic->loop, fd, LOOP_READ, peer_io_cb, pe);
    if (rc < 0) {
        log_warnx("peer %s: cannot watch its socket: %s", pe->name, strerror(-rc));
        buf_free(&pe->in);
        chan_out_free(&pe->out);
        free(pe);
        close(fd);
        return;
    }
    LIST_INSERT_HEAD(&ic->peers, pe, link);
    ic->npeers++;
    ic->st.peers_accepted++;
    loop_timer_set(ic->loop, &pe->hello_timer, icpt_now(ic) + ICPT_HELLO_TIMEOUT_US,
                   peer_hello_timeout, pe);
    log_debug("peer %s: connected, waiting for its HELLO", pe->name);
}

static void icpt_accept_cb(struct loop *l, int lfd, unsigned events, void *arg)
{
    struct icpt *ic = arg;
    for (int i = 0; i < ICPT_ACCEPTS_MAX; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            /* EMFILE and friends: the connection stays queued; say so, slowly. */
            if (errno != ECONNABORTED)
                log_warnx_rl(&ic->rl_accept, icpt_now(ic), "accept: %s", strerror(errno));
            return;
        }
        icpt_accept_one(ic, fd, &ss);
    }
}

/* ---- capture ---- */

static void icpt_on_packet(void *arg, const struct capture_pkt *cp)
{
    struct icpt *ic = arg;
    struct pkt p;

    ic->st.captured++;
    int e = pkt_parse_link(&p, cp->dlt, cp->data, cp->caplen, PKT_PARSE_HDRONLY);
    if (e != PKT_OK) {
        if (e < 0 || e >= PKT_E_COUNT)
            e = PKT_E_TRUNC;
        ic->st.parse_err[e]++;
        log_warnx_rl(&ic->rl_parse, icpt_now(ic), "captured packet not parsed: %s", pkt_err_str(e));
        return;
    }
    /* IP + TCP headers: tcpcopy learns the payload length from the IP length field,
     * which still describes the whole datagram. */
    size_t hlen = (size_t)p.ip_hlen + p.tcp_hlen;
    if (hlen > p.cap_len || hlen > CHAN_REPLY_HDR_MAX) {
        ic->st.toolong++;
        log_warnx_rl(&ic->rl_toolong, icpt_now(ic),
                     "reply headers of %zu bytes (captured %" PRIu32 ") exceed a reply record "
                     "(%d): not forwarded",
                     hlen, p.cap_len, CHAN_REPLY_HDR_MAX);
        return;
    }
    const uint8_t *hdr = p.ip;
    uint8_t copy[CHAN_REPLY_HDR_MAX];
    if (ic->o->docker && addr_eq(&p.t.src, &ic->o->docker_ip)) {
        /* -D: the target answers from its container address; tcpcopy knows it by the
         * address it sends to. The capture buffer is read-only: rewrite a copy. */
        memcpy(copy, p.ip, hlen);
        pkt_set_src(copy, &p, &ic->o->orig_ip);
        hdr = copy;
        ic->st.docker_rewritten++;
    }
    if (ic->single != NULL) {
        ic->st.fast++;
        peer_forward(ic->single, hdr, hlen);
        return;
    }
    if (ic->nup == 0)
        ic->st.nopeer++;
    /* The reply goes target -> client: its destination is the session's client. */
    struct route_key k;
    route_key_set(&k, &p.t.dst, p.t.dport, &p.t.src, p.t.sport);
    struct route_owner *o = route_lookup(ic->routes, &k);
    if (o == NULL) {
        route_hold_put(ic->hold, &k, hdr, hlen, icpt_now(ic));
        return;
    }
    peer_forward(peer_of_owner(o), hdr, hlen);
}

static void icpt_capture_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct icpt_cap *c = arg;
    struct icpt *ic = c->ic;
    int n = capture_dispatch(c->cap, ICPT_DISPATCH_MAX, icpt_on_packet, ic);
    if (n >= 0)
        return;
    log_msg(LOG_LVL_ERR, 0, "capture on %s failed (%s): no longer capturing there", c->dev,
            strerror(-n));
    loop_fd_del(ic->loop, c->fd);
    capture_free(c->cap);
    c->cap = NULL;
    size_t live = 0;
    for (size_t i = 0; i < ic->ncaps; i++)
        live += ic->caps[i].cap != NULL;
    if (live == 0) {
        log_msg(LOG_LVL_ERR, 0, "no capture left: exiting");
        ic->exit_err = -EIO;
        loop_stop(ic->loop);
    }
}

/* ---- listening ---- */

static int icpt_listen_one(struct icpt *ic, const struct addr *a, uint16_t port, char *err,
                           size_t errlen)
{
    struct sockaddr_storage ss;
    char name[ADDR_STRLEN];
    size_t sl = addr_to_sockaddr(a, port, &ss);
    int one = 1;
    int fd = socket(a->af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "listen on %s: socket: %s",
                 addr_port_str(a, port, name, sizeof(name)), strerror(e));
        return -e;
    }
    /* Restarting intercept must not wait for TIME_WAIT of the previous run. */
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* The IPv4 socket serves IPv4: keep the IPv6 one from claiming it (mapped). */
    if (a->af == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) != 0 || listen(fd, ICPT_BACKLOG) != 0) {
        int e = errno;
        snprintf(err, errlen, "listen on %s: %s", addr_port_str(a, port, name, sizeof(name)),
                 strerror(e));
        close(fd);
        return -e;
    }
    int rc = loop_fd_add(ic->loop, fd, LOOP_READ, icpt_accept_cb, ic);
    if (rc < 0) {
        snprintf(err, errlen, "listen on %s: %s", addr_port_str(a, port, name, sizeof(name)),
                 strerror(-rc));
        close(fd);
        return rc;
    }
    ic->lfds[ic->nlfds++] = fd;
    log_info("listening on %s", addr_port_str(a, port, name, sizeof(name)));
    return 0;
}

static int icpt_listen(struct icpt *ic, char *err, size_t errlen)
{
    const struct icpt_opts *o = ic->o;
    if (!addr_is_any(&o->bind))
        return icpt_listen_one(ic, &o->bind, o->port, err, errlen);

    struct addr any4, any6;
    static const uint8_t zero[16];
    addr_set_v4(&any4, zero);
    addr_set_v6(&any6, zero);
    int rc4 = icpt_listen_one(ic, &any4, o->port, err, errlen);
    if (rc4 < 0)
        return rc4;
    char err6[256];
    int rc6 = icpt_listen_one(ic, &any6, o->port, err6, sizeof(err6));
    /* A host without IPv6 is fine: IPv4 is enough. */
    if (rc6 < 0)
        log_info("no IPv6 listener (%s)", err6);
    return 0;
}

/* ---- signals, timers ---- */

static void icpt_signal_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct icpt *ic = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        switch (si.ssi_signo) {
        case SIGHUP:
            log_reopen();
            log_info("SIGHUP: log reopened");
            break;
        case SIGTERM:
        case SIGINT:
            log_info("%s: exiting", si.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
            loop_stop(ic->loop);
            break;
        default:
            break;
        }
    }
}

static void icpt_heartbeat_cb(struct loop *l, void *arg)
{
    struct icpt *ic = arg;
    uint64_t now = icpt_now(ic);
    struct peer *pe, *next;
    for (pe = LIST_FIRST(&ic->peers); pe != NULL; pe = next) {
        next = LIST_NEXT(pe, link);
        if (!pe->up)
            continue; /* its HELLO deadline covers it */
        if ((pe->features & CHAN_FEAT_HEARTBEAT) && now - pe->last_rx_us > ICPT_PEER_IDLE_US) {
            peer_close(pe, LOG_LVL_WARN, "silent for %llu s",
                       (unsigned long long)(ICPT_PEER_IDLE_US / 1000000));
            continue;
        }
        /* A full buffer means we are sending anyway: skip, it would only be dropped. */
        if (chan_put_frame(&pe->out, CHAN_HEARTBEAT, NULL, 0) == 0)
            peer_want_flush(pe);
    }
    route_hold_expire(ic->hold, now);
    loop_timer_set(l, &ic->hb_timer, now + ICPT_HEARTBEAT_US, icpt_heartbeat_cb, ic);
}

static void icpt_stats_cb(struct loop *l, void *arg)
{
    struct icpt *ic = arg;
    icpt_log_stats(ic);
    loop_timer_set(l, &ic->stats_timer, icpt_now(ic) + ICPT_STATS_US, icpt_stats_cb, ic);
}

static void icpt_before_sleep(struct loop *l, void *arg)
{
    struct icpt *ic = arg;
    struct peer *pe;
    /* One write per peer per iteration: everything captured in this turn leaves
     * together. */
    while ((pe = TAILQ_FIRST(&ic->flush)) != NULL) {
        TAILQ_REMOVE(&ic->flush, pe, flush_link);
        pe->in_flush = false;
        peer_flush(pe);
    }
}

void icpt_log_stats(struct icpt *ic)
{
    char perr[512];
    size_t n = 0;
    uint64_t perr_total = 0;
    perr[0] = '\0';
    for (int i = 1; i < PKT_E_COUNT; i++) {
        if (ic->st.parse_err[i] == 0)
            continue;
        perr_total += ic->st.parse_err[i];
        int w = snprintf(perr + n, sizeof(perr) - n, "%s%s %" PRIu64, n ? ", " : " (",
                         pkt_err_str(i), ic->st.parse_err[i]);
        if (w > 0 && (size_t)w < sizeof(perr) - n)
            n += (size_t)w;
    }
    if (n > 0 && n < sizeof(perr) - 1) {
        perr[n++] = ')';
        perr[n] = '\0';
    }
    uint64_t kdrops = 0;
    for (size_t i = 0; i < ic->ncaps; i++)
        if (ic->caps[i].cap != NULL)
            kdrops += capture_kernel_drops(ic->caps[i].cap);
    const struct route_hold_stats *hs = route_hold_stats(ic->hold);
    const struct route_stats *rs = route_table_stats(ic->routes);
    log_info("stats: captured %" PRIu64 ", parse errors %" PRIu64 "%s, forwarded %" PRIu64
             " (fast path %" PRIu64 "), unrouted %" PRIu64 " (expired %" PRIu64
             ", overflow %" PRIu64 "; captured with no tcpcopy up %" PRIu64 "), held %zu"
             " (delivered late %" PRIu64 "), oversize %" PRIu64 ", dropped %" PRIu64
             " (peer buffer full), peers %zu (up %zu, refused %" PRIu64 ", auth refused %" PRIu64
             ", closed for bad frames %" PRIu64 "), -D rewritten %" PRIu64 ", routes %zu (reassigned %" PRIu64 ", table full %" PRIu64
             "), kernel drops %" PRIu64,
             ic->st.captured, perr_total, perr, ic->st.forwarded, ic->st.fast,
             hs->expired + hs->overflow, hs->expired, hs->overflow, ic->st.nopeer,
             route_hold_count(ic->hold), hs->delivered, ic->st.toolong + hs->toolong,
             ic->st.dropped, ic->npeers, ic->nup, ic->st.peers_refused, ic->st.auth_refused,
             ic->st.bad_frames, ic->st.docker_rewritten, route_count(ic->routes), rs->reassigned, rs->full, kdrops);
}

/* ---- life cycle ---- */

static void icpt_sigset(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGHUP);
}

static int icpt_signals(struct icpt *ic, char *err, size_t errlen)
{
    sigset_t set;
    icpt_sigset(&set);
    /* Blocked, they queue for the signalfd and are handled in the loop, between
     * callbacks, instead of interrupting one. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        snprintf(err, errlen, "sigprocmask: %s", strerror(errno));
        return -errno;
    }
    signal(SIGPIPE, SIG_IGN);
    ic->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (ic->sigfd < 0) {
        snprintf(err, errlen, "signalfd: %s", strerror(errno));
        return -errno;
    }
    int rc = loop_fd_add(ic->loop, ic->sigfd, LOOP_READ, icpt_signal_cb, ic);
    if (rc < 0) {
        snprintf(err, errlen, "signalfd: %s", strerror(-rc));
        return rc;
    }
    return 0;
}

static int icpt_captures(struct icpt *ic, char *err, size_t errlen)
{
    const struct icpt_opts *o = ic->o;
    for (size_t i = 0; i < o->ndevices; i++) {
        struct capture_pcap_conf pc = {
            .device = o->devices[i],
            .filter = o->filter,
            .snaplen = o->snaplen,
            /* Headers only (snaplen 256): an 8 MB ring holds tens of thousands of
             * replies, and its pages are most of intercept's memory. */
            .buffer_mb = 8,
            /* Both directions: intercept may run on the target itself, where the
             * replies are outbound. The filter decides what is a reply. */
            .in_only = 0,
        };
        struct icpt_cap *c = &ic->caps[ic->ncaps];
        c->cap = capture_pcap_open(&pc, err, errlen);
        if (c->cap == NULL)
            return -ENODEV;
        c->ic = ic;
        c->dev = o->devices[i];
        c->fd = capture_fd(c->cap);
        ic->ncaps++;
        int rc = loop_fd_add(ic->loop, c->fd, LOOP_READ, icpt_capture_cb, c);
        if (rc < 0) {
            snprintf(err, errlen, "capture on %s: %s", c->dev, strerror(-rc));
            return rc;
        }
        log_info("capturing on %s with filter '%s'", c->dev, o->filter);
    }
    return 0;
}

struct icpt *icpt_new(const struct icpt_opts *o, char *err, size_t errlen)
{
    struct icpt *ic = calloc(1, sizeof(*ic));
    if (ic == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ic->o = o;
    ic->sigfd = -1;
    LIST_INIT(&ic->peers);
    TAILQ_INIT(&ic->flush);
    ic->loop = loop_new();
    ic->routes = route_table_new(o->table_size, hash_seed_random());
    ic->hold = route_hold_new(ICPT_HOLD_RECS, ICPT_HOLD_AGE_US);
    if (ic->loop == NULL || ic->routes == NULL || ic->hold == NULL) {
        snprintf(err, errlen, "out of memory (route table of %" PRIu32 " entries)", o->table_size);
        goto fail;
    }
    loop_update_time(ic->loop);
    /* Blocked from now on: a SIGTERM before icpt_run waits for the signalfd there
     * instead of killing us between writing the pid file and removing it. */
    sigset_t set;
    icpt_sigset(&set);
    (void)sigprocmask(SIG_BLOCK, &set, NULL);

    if (o->allow_any) {
        ic->allow_any = true;
        log_warnx("--allow any: every host that can reach port %u may register sessions "
                  "and receive the target's replies",
                  o->port);
    } else if (o->nallow > 0) {
        ic->allow = calloc(o->nallow, sizeof(*ic->allow));
        if (ic->allow == NULL) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        memcpy(ic->allow, o->allow, o->nallow * sizeof(*ic->allow));
        ic->nallow = o->nallow;
    } else if (icpt_allow_defaults(ic, err, errlen) != 0) {
        goto fail;
    }
    if (!ic->allow_any)
        icpt_log_allow(ic);
    if (o->secret_file != NULL) {
        if (auth_load_secret(&ic->secret, o->secret_file, err, errlen) < 0)
            goto fail;
        log_info("channel authentication on: every tcpcopy must prove --secret-file %s",
                 o->secret_file);
    }

    if (icpt_captures(ic, err, errlen) != 0 || icpt_listen(ic, err, errlen) != 0)
        goto fail;

    loop_set_before_sleep(ic->loop, icpt_before_sleep, ic);
    uint64_t now = icpt_now(ic);
    loop_timer_set(ic->loop, &ic->hb_timer, now + ICPT_HEARTBEAT_US, icpt_heartbeat_cb, ic);
    loop_timer_set(ic->loop, &ic->stats_timer, now + ICPT_STATS_US, icpt_stats_cb, ic);
    return ic;

fail:
    icpt_free(ic);
    return NULL;
}

int icpt_run(struct icpt *ic)
{
    char err[256];
    /* Here rather than in icpt_new: a signalfd watched by epoll wakes the process
     * that registered it, so it must be created after daemon_detach() forked. */
    if (ic->sigfd < 0 && icpt_signals(ic, err, sizeof(err)) != 0) {
        log_msg(LOG_LVL_ERR, 0, "%s", err);
        return -EINVAL;
    }
    log_info("intercept running: routes up to %zu, snaplen %d", route_capacity(ic->routes),
             ic->o->snaplen);
    int rc = loop_run(ic->loop);
    if (rc < 0)
        log_msg(LOG_LVL_ERR, 0, "event loop: %s", strerror(-rc));
    icpt_log_stats(ic);
    return rc < 0 ? rc : ic->exit_err;
}

void icpt_free(struct icpt *ic)
{
    if (ic == NULL)
        return;
    struct peer *pe;
    ic->stopping = true;
    while ((pe = LIST_FIRST(&ic->peers)) != NULL)
        peer_free(pe);
    if (ic->loop != NULL) {
        loop_timer_cancel(ic->loop, &ic->hb_timer);
        loop_timer_cancel(ic->loop, &ic->stats_timer);
    }
    for (size_t i = 0; i < ic->ncaps; i++) {
        if (ic->caps[i].cap == NULL)
            continue;
        if (ic->loop != NULL)
            loop_fd_del(ic->loop, ic->caps[i].fd);
        capture_free(ic->caps[i].cap);
    }
    for (size_t i = 0; i < ic->nlfds; i++) {
        if (ic->loop != NULL)
            loop_fd_del(ic->loop, ic->lfds[i]);
        close(ic->lfds[i]);
    }
    if (ic->sigfd >= 0) {
        if (ic->loop != NULL)
            loop_fd_del(ic->loop, ic->sigfd);
        close(ic->sigfd);
    }
    route_hold_free(ic->hold);
    route_table_free(ic->routes);
    loop_free(ic->loop);
    free(ic->allow);
    auth_secret_clear(&ic->secret);
    free(ic);
}
