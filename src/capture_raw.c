/*
 * capture_raw: the raw-socket capture backend (tcpcopy's default).
 *
 * An AF_INET/SOCK_RAW/IPPROTO_TCP socket gets a copy of every IPv4 TCP datagram
 * the host delivers locally, IP header included and already reassembled. A
 * classic BPF filter attached to the socket keeps only the service ports, and
 * recvmmsg() reads them in batches into buffers allocated once at open.
 *
 * This file owns the socket, the filter and the receive buffers (struct
 * capture_raw, behind the capture_impl.h ops table). Packets handed to the
 * callback point into those buffers and are valid only during the call.
 */
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "capture.h"
#include "capture_impl.h"

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SK_MEMINFO_DROPS
#define SK_MEMINFO_DROPS 8
#define SK_MEMINFO_VARS 9
#endif

#define RAW_SLOTS 64
/* GRO and loopback TSO hand whole aggregated datagrams to raw sockets, up to
 * the 64 KB an IPv4 total length can describe. */
#define RAW_SLOT_BYTES 65536
#define RAW_RCVBUF_DEFAULT (256 * 1024 * 1024) /* a second of a saturating upload; only a backlog uses it */
/* Classic BPF jump offsets are 8 bits; 64 ports keep every branch in range
 * (and a longer linear list would cost more per packet than it saves). */
#define RAW_FILTER_MAX_PORTS 64

struct capture_raw {
    int fd;
    uint8_t *bufs; /* RAW_SLOTS * RAW_SLOT_BYTES */
    struct mmsghdr msgs[RAW_SLOTS];
    struct iovec iov[RAW_SLOTS];
    /* One control buffer per message, for the SO_RXQ_OVFL counter. */
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(uint32_t))];
    } ctl[RAW_SLOTS];
    uint32_t ovfl_last; /* last SO_RXQ_OVFL value seen (wraps at 2^32) */
    uint64_t ovfl_high; /* wraps of ovfl_last, times 2^32 */
};

static uint64_t raw_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000U + (uint64_t)ts.tv_nsec / 1000U;
}

/*
 * Build the filter for ports[0..n) into prog (room for n + 8 instructions).
 * The socket sees data from the IP header on. Returns the instruction count.
 *
 *   ldb  [9]                  ; protocol
 *   jeq  #6, next, drop       ; the socket is IPPROTO_TCP: defensive only
 *   ldh  [6]                  ; flags + fragment offset
 *   jset #0x1fff, drop, next  ; a non-first fragment has no TCP header
 *   ldxb 4*([0]&0xf)          ; IPv4 header length: options move the ports
 *   ldh  [x+2]                ; TCP destination port
 *   jeq  #port_i, keep, next  ; one per port
 *   drop: ret #0
 *   keep: ret #-1
 *
 * The kernel reassembles before raw delivery, so fragments should not reach
 * us; the check keeps the port test honest if that ever changes. A load past
 * the end of a short datagram makes the filter return 0, so runts are dropped.
 */
static unsigned raw_filter_build(struct sock_filter *prog, const uint16_t *ports, unsigned n)
{
    unsigned i = 0;
    const unsigned drop = 6 + n; /* index of "ret #0" */

    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9);
    prog[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0,
                                           (uint8_t)(drop - i - 1));
    i++;
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6);
    prog[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff,
                                           (uint8_t)(drop - i - 1), 0);
    i++;
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0);
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2);
    for (unsigned k = 0; k < n; k++, i++)
        prog[i] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ports[k],
                                               (uint8_t)(drop + 1 - i - 1), 0);
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffU);
    return i;
}

/*
 * Without a filter the raw socket copies every inbound TCP segment of the host
 * (SSH, databases, the test server's replies...) into our receive queue, and a
 * busy production host would overflow it with traffic we then throw away.
 *
 * Packets can be queued between socket() and SO_ATTACH_FILTER. As libpcap does,
 * first attach a filter that rejects everything, drain what slipped in, then
 * swap in the real one: the drain ends because nothing new can arrive.
 */
static int raw_filter_attach(int fd, const uint16_t *ports, unsigned n, char *err, size_t errlen)
{
    struct sock_filter none[1] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_filter prog[RAW_FILTER_MAX_PORTS + 8];
    struct sock_fprog fp = {.len = 1, .filter = none};
    char sink[1];
    int e;

    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0)
        goto fail;
    while (recv(fd, sink, sizeof(sink), MSG_DONTWAIT | MSG_TRUNC) >= 0)
        ;
    fp.len = (unsigned short)raw_filter_build(prog, ports, n);
    fp.filter = prog;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0)
        goto fail;
    return 0;

fail:
    e = errno;
    errbuf_set(err, errlen, "raw socket: SO_ATTACH_FILTER: %s", strerror(e));
    return -e;
}

static int raw_fd(void *priv)
{
    struct capture_raw *r = priv;
    return r->fd;
}

/* Remember the kernel's drop counter from one message's control data. */
static void raw_note_ovfl(struct capture_raw *r, const struct msghdr *mh)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        uint32_t v;

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL ||
            cm->cmsg_len < CMSG_LEN(sizeof(v)))
            continue;
        memcpy(&v, CMSG_DATA(cm), sizeof(v));
        if (v < r->ovfl_last)
            r->ovfl_high += 1ULL << 32;
        r->ovfl_last = v;
    }
}

static int raw_dispatch(void *priv, int max, capture_cb *cb, void *arg)
{
    struct capture_raw *r = priv;
    int total = 0;

    if (max <= 0)
        return 0;
    for (;;) {
        unsigned want = (unsigned)(max - total) < RAW_SLOTS ? (unsigned)(max - total) : RAW_SLOTS;
        int got;
        uint64_t now;

        /* recvmmsg writes the lengths back: reset them for every batch. */
        for (unsigned i = 0; i < want; i++) {
            struct msghdr *mh = &r->msgs[i].msg_hdr;
            mh->msg_control = r->ctl[i].buf;
            mh->msg_controllen = sizeof(r->ctl[i].buf);
            mh->msg_flags = 0;
            r->msgs[i].msg_len = 0;
        }
        got = recvmmsg(r->fd, r->msgs, want, MSG_DONTWAIT, NULL);
        if (got < 0) {
            int e = errno;
            if (e == EINTR)
                continue;
            if (e == EAGAIN || e == EWOULDBLOCK)
                return total;
            /* Hand over what was read; the error, if it persists, shows next time. */
            return total > 0 ? total : -e;
        }
        now = raw_now_us();
        for (int i = 0; i < got; i++) {
            const uint8_t *d = r->iov[i].iov_base;
            struct capture_pkt p = {
                .data = d,
                .caplen = r->msgs[i].msg_len,
                .len = r->msgs[i].msg_len,
                .ts_us = now,
                .dlt = DLT_RAW,
            };

            raw_note_ovfl(r, &r->msgs[i].msg_hdr);
            /* A truncated datagram (MSG_TRUNC) still says its size in the header. */
            if (p.caplen >= 4) {
                uint32_t tot = (uint32_t)d[2] << 8 | d[3];
                if (tot > p.len)
                    p.len = tot;
            }
            cb(arg, &p);
        }
        total += got;
        if ((unsigned)got < want || total >= max)
            return total;
    }
}

/*
 * The drop counter is the socket's sk_drops. SO_MEMINFO reads it at any time;
 * the SO_RXQ_OVFL copy only arrives with a packet, so it lags when the queue
 * overflowed after the last packet we read. Both only grow: report the larger.
 * Recent kernels test for a full queue before running the socket filter, so
 * while the queue is full this also counts packets the filter would have
 * rejected: read it as "the queue overflowed", not as lost service packets.
 */
static uint64_t raw_drops(void *priv)
{
    struct capture_raw *r = priv;
    uint64_t seen = r->ovfl_high | r->ovfl_last;
    uint32_t mi[SK_MEMINFO_VARS];
    socklen_t len = sizeof(mi);

    if (getsockopt(r->fd, SOL_SOCKET, SO_MEMINFO, mi, &len) == 0 &&
        len > SK_MEMINFO_DROPS * sizeof(uint32_t)) {
        uint64_t now = (seen & ~0xffffffffULL) | mi[SK_MEMINFO_DROPS];
        if (now < seen)
            now += 1ULL << 32;
        return now;
    }
    return seen;
}

static void raw_free(void *priv)
{
    struct capture_raw *r = priv;

    if (r->fd >= 0)
        close(r->fd);
    free(r->bufs);
    free(r);
}

static const struct capture_ops raw_ops = {
    .name = "raw",
    .fd = raw_fd,
    .dispatch = raw_dispatch,
    .drops = raw_drops,
    .free = raw_free,
};

struct capture *capture_raw_open(const struct capture_raw_conf *c, char *err, size_t errlen)
{
    struct capture_raw *r;
    int rcvbuf = c && c->rcvbuf_bytes > 0 ? c->rcvbuf_bytes : RAW_RCVBUF_DEFAULT;
    size_t nports = c && c->ports ? c->nports : 0;
    int one = 1;

    r = calloc(1, sizeof(*r));
    if (!r) {
        errbuf_set(err, errlen, "raw capture: %s", strerror(ENOMEM));
        return NULL;
    }
    r->fd = -1;
    r->bufs = malloc((size_t)RAW_SLOTS * RAW_SLOT_BYTES);
    if (!r->bufs) {
        errbuf_set(err, errlen, "raw capture: %s", strerror(ENOMEM));
        goto fail;
    }
    for (unsigned i = 0; i < RAW_SLOTS; i++) {
        r->iov[i].iov_base = r->bufs + (size_t)i * RAW_SLOT_BYTES;
        r->iov[i].iov_len = RAW_SLOT_BYTES;
        r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
        r->msgs[i].msg_hdr.msg_iovlen = 1;
    }

    r->fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (r->fd < 0) {
        if (errno == EPERM || errno == EACCES)
            errbuf_set(err, errlen, "raw socket: %s (tcpcopy needs root or CAP_NET_RAW)",
                        strerror(errno));
        else
            errbuf_set(err, errlen, "raw socket: %s", strerror(errno));
        goto fail;
    }
    /* A deep queue rides out bursts while the engine is busy. SO_RCVBUFFORCE
     * passes net.core.rmem_max but needs CAP_NET_ADMIN; otherwise take the
     * capped value rather than fail. */
    if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        (void)setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    /* Have the kernel's drop counter ride along with each packet. */
    if (setsockopt(r->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0) {
        errbuf_set(err, errlen, "raw socket: SO_RXQ_OVFL: %s", strerror(errno));
        goto fail;
    }
    /* With more ports than the filter can hold (or none given) there is no
     * kernel filter at all: every TCP datagram comes up and the caller must
     * pick its ports itself. */
    if (nports > 0 && nports <= RAW_FILTER_MAX_PORTS &&
        raw_filter_attach(r->fd, c->ports, (unsigned)nports, err, errlen) < 0)
        goto fail;

    return capture_new(&raw_ops, r);

fail:
    raw_free(r);
    return NULL;
}
