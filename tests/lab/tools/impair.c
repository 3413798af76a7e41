/*
 * impair: a userspace impairment relay for the lab (LAB.md, "Network trouble").
 *
 * This kernel has no netem, so delay, reordering and duplication are made here: two
 * interfaces (the two ends of a cut link, for example veths "ia" and "ib" in a relay
 * namespace) are joined through AF_PACKET sockets, and every frame read on one side is
 * written to the other, like a wire, after being dropped, repeated, held back or delayed at
 * the rates given per direction (a2b: read on A, written to B; b2a: the reverse).
 *
 *   impair [options] IFACE_A IFACE_B
 *   impair --offload-off DEV...      turn off TSO, GSO and GRO on DEV (an `ethtool -K`
 *                                    substitute for machines without ethtool) and exit
 *
 * It owns its two sockets, one held frame and one delay queue per direction, and the
 * counters it prints (one "impair final ..." line per direction) at SIGTERM/SIGINT and at
 * exit, and as "impair stats ..." on SIGUSR1. It stops by itself after --max-seconds.
 *
 * Both sockets use PACKET_VNET_HDR: each frame is read with the virtio-net header that
 * describes its offload state (a checksum still to be filled in, a GSO super-frame from
 * TSO/GRO), and written back with the same header, so the kernel completes the checksum or
 * segments the frame on the far side exactly as a wire between the two would have. Without
 * it, veth frames would be re-sent with unfinished checksums and super-frames larger than
 * the MTU would be refused (EMSGSIZE). A super-frame is one frame to the impairments; run
 * --offload-off on the senders' interfaces to make every frame one segment.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IMP_VHDR sizeof(struct virtio_net_hdr)
#define IMP_FRAME_MAX (65536 + 64)              /* a GSO super-frame plus its link header */
#define IMP_BUF_MAX (IMP_VHDR + IMP_FRAME_MAX)
#define IMP_BATCH 32                            /* frames read per direction per turn */
#define IMP_QUEUE_DEFAULT 8192                  /* frames waiting in one delay queue */
#define IMP_QUEUE_BYTES (64u << 20)             /* bytes waiting in one delay queue */

struct imp_frame {
    uint64_t due_ns;  /* when it leaves the delay queue */
    uint32_t len;     /* virtio-net header included */
    uint8_t *data;
};

struct imp_counters {
    uint64_t rx;        /* frames read */
    uint64_t fwd;       /* frames written (duplicates included) */
    uint64_t lost;      /* dropped on purpose (--loss) */
    uint64_t dup;       /* extra copies made (--dup) */
    uint64_t held;      /* frames chosen to be held back (--reorder) */
    uint64_t reordered; /* held frames released after at least one later frame */
    uint64_t delayed;   /* frames that went through the delay queue */
    uint64_t qfull;     /* dropped because a queue was full */
    uint64_t txerr;     /* dropped because the write failed */
    uint64_t trunc;     /* dropped because they did not fit the read buffer */
    uint64_t gso;       /* GSO super-frames seen */
    uint64_t maxlen;    /* largest frame, link header included */
    uint64_t kdrops;    /* dropped by the kernel before we read them (PACKET_STATISTICS) */
};

struct imp_dir {
    const char *name;   /* "a2b" or "b2a" */
    int in_fd, out_fd;
    unsigned loss, dup, reorder;   /* permille */
    uint64_t delay_ns;
    /* The frame held back for reordering, released after `gap` later frames or at its
     * deadline, whichever comes first. */
    bool has_held;
    struct imp_frame held;
    unsigned held_left, held_passed;
    uint64_t held_deadline_ns;
    /* The delay queue: a ring; the delay is constant, so arrival order is due order. */
    struct imp_frame *q;
    size_t qcap, qhead, qlen, qbytes;
    struct imp_counters c;
};

struct imp_ctx {
    struct imp_dir dir[2];
    unsigned gap;
    uint64_t reorder_timeout_ns;
    uint64_t rng;
    uint8_t *rxbuf[IMP_BATCH];
};

static volatile sig_atomic_t imp_stop_sig;
static volatile sig_atomic_t imp_dump_req;

static void imp_on_signal(int sig)
{
    if (sig == SIGUSR1)
        imp_dump_req = 1;
    else
        imp_stop_sig = sig;
}

static uint64_t imp_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: small, seedable, good enough for coin flips, and the same on every run. */
static uint64_t imp_rand(struct imp_ctx *ctx)
{
    uint64_t z = (ctx->rng += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static bool imp_chance(struct imp_ctx *ctx, unsigned permille)
{
    return permille > 0 && imp_rand(ctx) % 1000 < permille;
}

static void imp_usage(FILE *f)
{
    fprintf(f,
            "usage: impair [options] IFACE_A IFACE_B\n"
            "       impair --offload-off DEV...\n"
            "  --loss-a2b N, --loss-b2a N        drop N permille of the frames\n"
            "  --dup-a2b N, --dup-b2a N          send N permille twice\n"
            "  --reorder-a2b N, --reorder-b2a N  hold N permille back (see --reorder-gap/-ms)\n"
            "  --delay-a2b MS, --delay-b2a MS    constant delay\n"
            "  --reorder-gap N                   release a held frame after N later ones (3)\n"
            "  --reorder-ms MS                   ... or after MS milliseconds (5)\n"
            "  --queue N                         frames per delay queue (%d)\n"
            "  --seed N                          PRNG seed (1)\n"
            "  --max-seconds N                   exit after N seconds (300; 0: never)\n",
            IMP_QUEUE_DEFAULT);
}

static unsigned long imp_num(const char *opt, const char *s, unsigned long max)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > max || s[0] == '-') {
        fprintf(stderr, "impair: %s: bad value '%s' (0 to %lu)\n", opt, s, max);
        exit(2);
    }
    return v;
}

/* --offload-off: the legacy ethtool ioctls are enough for these three features. */
static int imp_offload_off(int n, char **devs)
{
    static const struct { uint32_t cmd; const char *name; } feats[] = {
        { ETHTOOL_STSO, "tso" }, { ETHTOOL_SGSO, "gso" }, { ETHTOOL_SGRO, "gro" },
    };
    int fd, i, rc = 0;
    size_t k;

    fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("impair: socket");
        return 1;
    }
    for (i = 0; i < n; i++) {
        for (k = 0; k < sizeof(feats) / sizeof(feats[0]); k++) {
            struct ethtool_value ev = { .cmd = feats[k].cmd, .data = 0 };
            struct ifreq ifr;

            memset(&ifr, 0, sizeof(ifr));
            snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", devs[i]);
            ifr.ifr_data = (void *)&ev;
            if (ioctl(fd, SIOCETHTOOL, &ifr) < 0) {
                fprintf(stderr, "impair: %s: %s off: %s\n", devs[i], feats[k].name,
                        strerror(errno));
                rc = 1;
            }
        }
    }
    close(fd);
    return rc;
}

/* One AF_PACKET socket on ifname: every protocol, promiscuous (the frames are addressed to
 * the hosts on either side, not to us), our own writes not read back, vnet headers on. */
static int imp_open(const char *ifname)
{
    struct sockaddr_ll sll;
    struct packet_mreq mr;
    int fd, one = 1, buf = 8 << 20;
    unsigned idx;

    idx = if_nametoindex(ifname);
    if (idx == 0) {
        fprintf(stderr, "impair: %s: %s\n", ifname, strerror(errno));
        return -1;
    }
    /* Protocol 0 at creation: nothing is queued until bind() names the interface, so no
     * frame of another interface slips in. */
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("impair: socket(AF_PACKET)");
        return -1;
    }
    if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one)) < 0) {
        fprintf(stderr, "impair: %s: packet options: %s\n", ifname, strerror(errno));
        goto fail;
    }
    /* Large buffers: a burst on one side must not be lost while we serve the other. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));

    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)idx;
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fprintf(stderr, "impair: bind %s: %s\n", ifname, strerror(errno));
        goto fail;
    }
    memset(&mr, 0, sizeof(mr));
    mr.mr_ifindex = (int)idx;
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
        fprintf(stderr, "impair: %s: promiscuous mode: %s\n", ifname, strerror(errno));
        goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

static void imp_kstats(struct imp_dir *d)
{
    struct tpacket_stats st;
    socklen_t sl = sizeof(st);

    /* Reading resets the kernel's counters, so they are accumulated here. */
    if (getsockopt(d->in_fd, SOL_PACKET, PACKET_STATISTICS, &st, &sl) == 0)
        d->c.kdrops += st.tp_drops;
}

static void imp_print(struct imp_ctx *ctx, const char *what)
{
    int i;

    for (i = 0; i < 2; i++) {
        struct imp_dir *d = &ctx->dir[i];
        struct imp_counters *c = &d->c;

        imp_kstats(d);
        printf("impair %s %s rx=%" PRIu64 " fwd=%" PRIu64 " lost=%" PRIu64 " dup=%" PRIu64
               " held=%" PRIu64 " reordered=%" PRIu64 " delayed=%" PRIu64 " qfull=%" PRIu64
               " txerr=%" PRIu64 " trunc=%" PRIu64 " gso=%" PRIu64 " maxlen=%" PRIu64 " kdrops=%" PRIu64 "\n",
               what, d->name, c->rx, c->fwd, c->lost, c->dup, c->held, c->reordered,
               c->delayed, c->qfull, c->txerr, c->trunc, c->gso, c->maxlen, c->kdrops);
    }
    fflush(stdout);
}

static void imp_write(struct imp_dir *d, const uint8_t *data, size_t len)
{
    static unsigned warned;

    if (send(d->out_fd, data, len, MSG_DONTWAIT) == (ssize_t)len) {
        d->c.fwd++;
        return;
    }
    d->c.txerr++;
    if (warned < 5) {
        warned++;
        fprintf(stderr, "impair: %s: write of %zu bytes: %s\n", d->name, len, strerror(errno));
    }
}

/* The last stage: straight out, or into the delay queue (a copy: the caller's buffer is
 * reused). Takes ownership of `owned` when given. */
static void imp_emit(struct imp_dir *d, const uint8_t *data, size_t len, uint8_t *owned,
                     uint64_t now)
{
    struct imp_frame *f;

    if (d->delay_ns == 0) {
        imp_write(d, data, len);
        free(owned);
        return;
    }
    if (d->qlen == d->qcap || d->qbytes + len > IMP_QUEUE_BYTES) {
        d->c.qfull++;
        free(owned);
        return;
    }
    if (!owned) {
        owned = malloc(len);
        if (!owned) {
            d->c.qfull++;
            return;
        }
        memcpy(owned, data, len);
    }
    f = &d->q[(d->qhead + d->qlen) % d->qcap];
    f->due_ns = now + d->delay_ns;
    f->len = (uint32_t)len;
    f->data = owned;
    d->qlen++;
    d->qbytes += len;
    d->c.delayed++;
}

static void imp_release_held(struct imp_dir *d, uint64_t now)
{
    if (!d->has_held)
        return;
    d->has_held = false;
    if (d->held_passed > 0)
        d->c.reordered++;
    imp_emit(d, d->held.data, d->held.len, d->held.data, now);
    d->held.data = NULL;
}

/* The reorder stage, for each copy of a frame that survived the loss. */
static void imp_pass(struct imp_ctx *ctx, struct imp_dir *d, const uint8_t *data, size_t len,
                     uint64_t now)
{
    if (!d->has_held && imp_chance(ctx, d->reorder)) {
        uint8_t *copy = malloc(len);

        if (copy) {
            memcpy(copy, data, len);
            d->held.data = copy;
            d->held.len = (uint32_t)len;
            d->has_held = true;
            d->held_left = ctx->gap;
            d->held_passed = 0;
            d->held_deadline_ns = now + ctx->reorder_timeout_ns;
            d->c.held++;
            return;
        }
    }
    imp_emit(d, data, len, NULL, now);
    if (d->has_held) {
        d->held_passed++;
        if (--d->held_left == 0)
            imp_release_held(d, now);
    }
}

static void imp_frame_in(struct imp_ctx *ctx, struct imp_dir *d, const uint8_t *buf, size_t len,
                         uint64_t now)
{
    const struct virtio_net_hdr *vh = (const void *)buf;

    if (len <= IMP_VHDR)
        return;
    d->c.rx++;
    if (len - IMP_VHDR > d->c.maxlen)
        d->c.maxlen = len - IMP_VHDR;
    if (vh->gso_type != VIRTIO_NET_HDR_GSO_NONE)
        d->c.gso++;
    if (imp_chance(ctx, d->loss)) {
        d->c.lost++;
        return;
    }
    imp_pass(ctx, d, buf, len, now);
    if (imp_chance(ctx, d->dup)) {
        d->c.dup++;
        imp_pass(ctx, d, buf, len, now);
    }
}

static void imp_read(struct imp_ctx *ctx, struct imp_dir *d)
{
    struct mmsghdr msgs[IMP_BATCH];
    struct iovec iov[IMP_BATCH];
    struct sockaddr_ll from[IMP_BATCH];
    int n, i, turns;

    /* A few batches per turn, then the other direction gets its chance. */
    for (turns = 0; turns < 4; turns++) {
        memset(msgs, 0, sizeof(msgs));
        for (i = 0; i < IMP_BATCH; i++) {
            iov[i].iov_base = ctx->rxbuf[i];
            iov[i].iov_len = IMP_BUF_MAX;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            msgs[i].msg_hdr.msg_name = &from[i];
            msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
        }
        n = recvmmsg(d->in_fd, msgs, IMP_BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return;
        for (i = 0; i < n; i++) {
            /* PACKET_IGNORE_OUTGOING already hides our writes; this is the belt. */
            if (from[i].sll_pkttype == PACKET_OUTGOING)
                continue;
            if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
                d->c.trunc++;
                continue;
            }
            imp_frame_in(ctx, d, ctx->rxbuf[i], msgs[i].msg_len, imp_now_ns());
        }
        if (n < IMP_BATCH)
            return;
    }
}

/* Timers: the held frame's deadline and the delay queue's head. Returns the next event. */
static uint64_t imp_timers(struct imp_dir *d, uint64_t now)
{
    uint64_t next = UINT64_MAX;

    if (d->has_held && d->held_deadline_ns <= now)
        imp_release_held(d, now);
    while (d->qlen > 0 && d->q[d->qhead].due_ns <= now) {
        struct imp_frame *f = &d->q[d->qhead];

        imp_write(d, f->data, f->len);
        free(f->data);
        f->data = NULL;
        d->qbytes -= f->len;
        d->qhead = (d->qhead + 1) % d->qcap;
        d->qlen--;
    }
    if (d->has_held)
        next = d->held_deadline_ns;
    if (d->qlen > 0 && d->q[d->qhead].due_ns < next)
        next = d->q[d->qhead].due_ns;
    return next;
}

static void imp_dir_free(struct imp_dir *d)
{
    free(d->held.data);
    while (d->qlen > 0) {
        free(d->q[d->qhead].data);
        d->qhead = (d->qhead + 1) % d->qcap;
        d->qlen--;
    }
    free(d->q);
    if (d->in_fd >= 0)
        close(d->in_fd);
}

static int imp_run(struct imp_ctx *ctx, unsigned long max_seconds)
{
    struct sigaction sa;
    sigset_t block, orig;
    uint64_t end = UINT64_MAX, now, next;
    int i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = imp_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    /* Signals are only delivered inside ppoll(), so a flag set between the check and the
     * wait cannot be missed. */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, &orig);

    if (max_seconds > 0)
        end = imp_now_ns() + (uint64_t)max_seconds * 1000000000u;
    while (!imp_stop_sig) {
        struct pollfd pfd[2];
        struct timespec ts, *tsp = NULL;

        if (imp_dump_req) {
            imp_dump_req = 0;
            imp_print(ctx, "stats");
        }
        now = imp_now_ns();
        if (now >= end) {
            fprintf(stderr, "impair: --max-seconds %lu reached\n", max_seconds);
            break;
        }
        next = end;
        for (i = 0; i < 2; i++) {
            uint64_t t = imp_timers(&ctx->dir[i], now);

            if (t < next)
                next = t;
        }
        if (next != UINT64_MAX) {
            uint64_t wait = next > now ? next - now : 0;

            ts.tv_sec = (time_t)(wait / 1000000000u);
            ts.tv_nsec = (long)(wait % 1000000000u);
            tsp = &ts;
        }
        for (i = 0; i < 2; i++) {
            pfd[i].fd = ctx->dir[i].in_fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
        }
        if (ppoll(pfd, 2, tsp, &orig) < 0) {
            if (errno == EINTR)
                continue;
            perror("impair: ppoll");
            return 1;
        }
        for (i = 0; i < 2; i++) {
            if (pfd[i].revents & (POLLERR | POLLNVAL)) {
                fprintf(stderr, "impair: %s: socket error\n", ctx->dir[i].name);
                return 1;
            }
            if (pfd[i].revents & POLLIN)
                imp_read(ctx, &ctx->dir[i]);
        }
    }
    if (imp_stop_sig)
        fprintf(stderr, "impair: stopped by signal %d\n", (int)imp_stop_sig);
    return 0;
}

int main(int argc, char **argv)
{
    enum { O_LA = 256, O_LB, O_DA, O_DB, O_RA, O_RB, O_YA, O_YB, O_GAP, O_RMS, O_Q, O_SEED,
           O_MAX, O_OFF, O_HELP };
    static const struct option opts[] = {
        { "loss-a2b", required_argument, NULL, O_LA },
        { "loss-b2a", required_argument, NULL, O_LB },
        { "dup-a2b", required_argument, NULL, O_DA },
        { "dup-b2a", required_argument, NULL, O_DB },
        { "reorder-a2b", required_argument, NULL, O_RA },
        { "reorder-b2a", required_argument, NULL, O_RB },
        { "delay-a2b", required_argument, NULL, O_YA },
        { "delay-b2a", required_argument, NULL, O_YB },
        { "reorder-gap", required_argument, NULL, O_GAP },
        { "reorder-ms", required_argument, NULL, O_RMS },
        { "queue", required_argument, NULL, O_Q },
        { "seed", required_argument, NULL, O_SEED },
        { "max-seconds", required_argument, NULL, O_MAX },
        { "offload-off", no_argument, NULL, O_OFF },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    struct imp_ctx ctx;
    unsigned long max_seconds = 300, qcap = IMP_QUEUE_DEFAULT;
    bool offload_off = false;
    int c, i, rc = 1;

    memset(&ctx, 0, sizeof(ctx));
    ctx.dir[0].name = "a2b";
    ctx.dir[1].name = "b2a";
    ctx.dir[0].in_fd = ctx.dir[1].in_fd = -1;
    ctx.gap = 3;
    ctx.reorder_timeout_ns = 5000000u;
    ctx.rng = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_LA: ctx.dir[0].loss = (unsigned)imp_num("--loss-a2b", optarg, 1000); break;
        case O_LB: ctx.dir[1].loss = (unsigned)imp_num("--loss-b2a", optarg, 1000); break;
        case O_DA: ctx.dir[0].dup = (unsigned)imp_num("--dup-a2b", optarg, 1000); break;
        case O_DB: ctx.dir[1].dup = (unsigned)imp_num("--dup-b2a", optarg, 1000); break;
        case O_RA: ctx.dir[0].reorder = (unsigned)imp_num("--reorder-a2b", optarg, 1000); break;
        case O_RB: ctx.dir[1].reorder = (unsigned)imp_num("--reorder-b2a", optarg, 1000); break;
        case O_YA:
            ctx.dir[0].delay_ns = imp_num("--delay-a2b", optarg, 60000) * 1000000u;
            break;
        case O_YB:
            ctx.dir[1].delay_ns = imp_num("--delay-b2a", optarg, 60000) * 1000000u;
            break;
        case O_GAP: ctx.gap = (unsigned)imp_num("--reorder-gap", optarg, 1000); break;
        case O_RMS:
            ctx.reorder_timeout_ns = imp_num("--reorder-ms", optarg, 10000) * 1000000u;
            break;
        case O_Q: qcap = imp_num("--queue", optarg, 1000000); break;
        case O_SEED: ctx.rng = imp_num("--seed", optarg, ULONG_MAX); break;
        case O_MAX: max_seconds = imp_num("--max-seconds", optarg, 86400); break;
        case O_OFF: offload_off = true; break;
        case O_HELP:
        case 'h': imp_usage(stdout); return 0;
        default: imp_usage(stderr); return 2;
        }
    }
    if (offload_off) {
        if (optind >= argc) {
            imp_usage(stderr);
            return 2;
        }
        return imp_offload_off(argc - optind, argv + optind);
    }
    if (argc - optind != 2 || ctx.gap == 0 || qcap == 0) {
        imp_usage(stderr);
        return 2;
    }
    for (i = 0; i < IMP_BATCH; i++) {
        ctx.rxbuf[i] = malloc(IMP_BUF_MAX);
        if (!ctx.rxbuf[i]) {
            perror("impair: malloc");
            goto cleanup;
        }
    }
    for (i = 0; i < 2; i++) {
        ctx.dir[i].q = calloc(qcap, sizeof(struct imp_frame));
        ctx.dir[i].qcap = qcap;
        if (!ctx.dir[i].q) {
            perror("impair: calloc");
            goto cleanup;
        }
    }
    ctx.dir[0].in_fd = imp_open(argv[optind]);
    if (ctx.dir[0].in_fd < 0)
        goto cleanup;
    ctx.dir[1].in_fd = imp_open(argv[optind + 1]);
    if (ctx.dir[1].in_fd < 0)
        goto cleanup;
    /* Each socket reads one side and writes the other. */
    ctx.dir[0].out_fd = ctx.dir[1].in_fd;
    ctx.dir[1].out_fd = ctx.dir[0].in_fd;
    fprintf(stderr,
            "impair: %s <-> %s: a2b loss %u dup %u reorder %u delay %" PRIu64
            " ms; b2a loss %u dup %u reorder %u delay %" PRIu64
            " ms (permille); gap %u, hold %" PRIu64 " ms, seed %" PRIu64 ", max %lu s\n",
            argv[optind], argv[optind + 1], ctx.dir[0].loss, ctx.dir[0].dup, ctx.dir[0].reorder,
            ctx.dir[0].delay_ns / 1000000u, ctx.dir[1].loss, ctx.dir[1].dup,
            ctx.dir[1].reorder, ctx.dir[1].delay_ns / 1000000u, ctx.gap,
            ctx.reorder_timeout_ns / 1000000u, ctx.rng, max_seconds);
    rc = imp_run(&ctx, max_seconds);
    /* Frames still held or queued are delivered, as a wire would, before the counts. */
    for (i = 0; i < 2; i++) {
        uint64_t now = imp_now_ns();

        imp_release_held(&ctx.dir[i], now);
        ctx.dir[i].delay_ns = 0;
        while (ctx.dir[i].qlen > 0) {
            struct imp_frame *f = &ctx.dir[i].q[ctx.dir[i].qhead];

            imp_write(&ctx.dir[i], f->data, f->len);
            free(f->data);
            f->data = NULL;
            ctx.dir[i].qhead = (ctx.dir[i].qhead + 1) % ctx.dir[i].qcap;
            ctx.dir[i].qlen--;
        }
    }
    imp_print(&ctx, "final");
cleanup:
    for (i = 0; i < 2; i++)
        imp_dir_free(&ctx.dir[i]);
    for (i = 0; i < IMP_BATCH; i++)
        free(ctx.rxbuf[i]);
    return rc;
}
