/*
 * capture_raw: the raw-socket capture backend (tcpcopy's default).
 *
 * An AF_INET/SOCK_RAW/IPPROTO_TCP socket gets a copy of every IPv4 TCP datagram
 * the host delivers locally, IP header included and already reassembled. An
 * AF_INET6 one gets the IPv6 TCP datagrams, but from the TCP header on (the
 * kernel has walked the extension headers and reassembled): raw6.c rebuilds the
 * IPv6 header in room kept at the front of each slot, so both families reach
 * the callback as DLT_RAW datagrams. A classic BPF filter attached to each
 * socket keeps only the service ports, and recvmmsg() reads them in batches
 * into buffers allocated once at open.
 *
 * This file owns the sockets, the filters and the receive buffers (struct
 * capture_raw, one per socket, behind the capture_impl.h ops table; with both
 * families, capture_multi puts the two behind one fd). Packets handed to the
 * callback point into those buffers and are valid only during the call.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <arpa/inet.h>
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
#include "raw6.h"

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SK_MEMINFO_DROPS
#define SK_MEMINFO_DROPS 8
#define SK_MEMINFO_VARS 9
#endif

#define RAW_SLOTS 64
/* GRO and loopback TSO hand whole aggregated datagrams to raw sockets, up to
 * the 64 KB an IPv4 total length (or an IPv6 payload length) can describe. */
#define RAW_SLOT_BYTES 65536
/* Room in front of each slot's data for the IPv6 header raw6 rebuilds. */
#define RAW_HEAD RAW6_HLEN
#define RAW_RCVBUF_DEFAULT (256 * 1024 * 1024) /* a second of a saturating upload; only a backlog uses it */
/* Classic BPF jump offsets are 8 bits; 64 ports keep every branch in range
 * (and a longer linear list would cost more per packet than it saves). */
#define RAW_FILTER_MAX_PORTS 64

struct capture_raw {
    int fd;
    int af;        /* AF_INET or AF_INET6; AF_PACKET: whole datagrams of either (outgoing) */
    uint8_t *bufs; /* RAW_SLOTS * (RAW_HEAD + RAW_SLOT_BYTES); data at RAW_HEAD */
    struct mmsghdr msgs[RAW_SLOTS];
    struct iovec iov[RAW_SLOTS];
    struct sockaddr_in6 names[RAW_SLOTS]; /* IPv6: the source of each datagram */
    /* One control buffer per message: the SO_RXQ_OVFL counter, and for IPv6 the
     * destination (IPV6_PKTINFO) and hop limit. */
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) +
                 CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct timespec))];
    } ctl[RAW_SLOTS];
    uint32_t ovfl_last; /* last SO_RXQ_OVFL value seen (wraps at 2^32) */
    uint64_t ovfl_high; /* wraps of ovfl_last, times 2^32 */
    uint64_t unusable;  /* IPv6 datagrams read but not deliverable (see raw_deliver6) */
    bool warned_big;
    bool stamps; /* SO_TIMESTAMPNS asked (capture_raw_conf.stamps) */
};

static uint64_t raw_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts); /* the clock of the kernel's stamps (SO_TIMESTAMPNS) */
    return (uint64_t)ts.tv_sec * 1000000U + (uint64_t)ts.tv_nsec / 1000U;
}

/*
 * Build the filter for ports[0..n) into prog (room for n + 8 instructions).
 * An IPv4 socket sees data from the IP header on:
 *
 *   ldb  [9]                  ; protocol
 *   jeq  #6, next, drop       ; the socket is IPPROTO_TCP: defensive only
 *   ldh  [6]                  ; flags + fragment offset
 *   jset #0x1fff, drop, next  ; a non-first fragment has no TCP header
 *   ldxb 4*([0]&0xf)          ; IPv4 header length: options move the ports
 *   ldh  [x+2]                ; TCP destination port
 *
 * An IPv6 socket sees data from the TCP header on (the kernel pulled the IPv6
 * and extension headers before raw delivery), so only "ldh [2]". Then:
 *
 *   jeq  #port_i, keep, next  ; one per port
 *   drop: ret #0
 *   keep: ret #-1
 *
 * The kernel reassembles before raw delivery, so fragments should not reach
 * us; the check keeps the port test honest if that ever changes. A load past
 * the end of a short datagram makes the filter return 0, so runts are dropped.
 */
static unsigned raw_filter_build(struct sock_filter *prog, int af, const uint16_t *ports,
                                 unsigned n)
{
    unsigned i = 0;
    const unsigned head = af == AF_INET6 ? 1 : 6;
    const unsigned drop = head + n; /* index of "ret #0" */

    if (af == AF_INET6) {
        prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 2);
    } else {
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
    }
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
static int raw_filter_attach(int fd, int af, const uint16_t *ports, unsigned n, char *err,
                             size_t errlen)
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
    fp.len = (unsigned short)raw_filter_build(prog, af, ports, n);
    fp.filter = prog;
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0)
        goto fail;
    return 0;

fail:
    e = errno;
    errbuf_set(err, errlen, "%s: SO_ATTACH_FILTER: %s",
               af == AF_INET6 ? "IPv6 raw socket" : "raw socket", strerror(e));
    return -e;
}

static int raw_fd(void *priv)
{
    struct capture_raw *r = priv;
    return r->fd;
}

/* Remember the kernel's drop counter from one message's control data; its receive time
 * (SO_TIMESTAMPNS, realtime µs), or 0 when the kernel gave none. */
static uint64_t raw_note_ovfl(struct capture_raw *r, const struct msghdr *mh)
{
    uint64_t ts_us = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        uint32_t v;

        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS &&
            cm->cmsg_len >= CMSG_LEN(sizeof(struct timespec))) {
            struct timespec ts;
            memcpy(&ts, CMSG_DATA(cm), sizeof(ts));
            ts_us = (uint64_t)ts.tv_sec * 1000000U + (uint64_t)ts.tv_nsec / 1000U;
            continue;
        }
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SO_RXQ_OVFL ||
            cm->cmsg_len < CMSG_LEN(sizeof(v)))
            continue;
        memcpy(&v, CMSG_DATA(cm), sizeof(v));
        if (v < r->ovfl_last)
            r->ovfl_high += 1ULL << 32;
        r->ovfl_last = v;
    }
    return ts_us;
}

/*
 * Make the IPv6 datagram in slot i whole: its header goes into the room in
 * front of the TCP segment. False (counted) when it cannot be: no destination
 * reported, or a GRO aggregate too long for a payload length (BIG TCP).
 */
static bool raw_deliver6(struct capture_raw *r, unsigned i, struct capture_pkt *p)
{
    struct msghdr *mh = &r->msgs[i].msg_hdr;
    uint8_t *tcp = r->iov[i].iov_base;
    struct raw6_addrs a;
    size_t len = r->msgs[i].msg_len;

    if (!raw6_msg_addrs(mh, &a) || (mh->msg_flags & MSG_TRUNC) != 0 ||
        raw6_hdr_build(tcp - RAW6_HLEN, a.src, a.dst, a.hlim, len) == 0) {
        r->unusable++;
        if (len > 0xffff && !r->warned_big) {
            r->warned_big = true;
            log_warnx("IPv6 capture: a %zu-byte GRO segment does not fit an IPv6 header's "
                      "length (BIG TCP?): such segments are lost; lower gro_max_size",
                      len);
        }
        return false;
    }
    p->data = tcp - RAW6_HLEN;
    p->caplen = p->len = (uint32_t)(RAW6_HLEN + len);
    return true;
}

/* Reset what recvmmsg writes back in the first want messages. */
static void raw_prepare(struct capture_raw *r, unsigned want)
{
    for (unsigned i = 0; i < want; i++) {
        struct msghdr *mh = &r->msgs[i].msg_hdr;
        mh->msg_control = r->ctl[i].buf;
        mh->msg_controllen = sizeof(r->ctl[i].buf);
        mh->msg_flags = 0;
        if (r->af == AF_INET6) {
            mh->msg_name = &r->names[i];
            mh->msg_namelen = sizeof(r->names[i]);
        }
        r->msgs[i].msg_len = 0;
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

        raw_prepare(r, want);
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

            uint64_t kts = raw_note_ovfl(r, &r->msgs[i].msg_hdr);
            if (kts != 0)
                p.ts_us = kts;
            if (r->af == AF_INET6) {
                if (!raw_deliver6(r, (unsigned)i, &p))
                    continue;
            } else if (p.caplen >= 4 && (d[0] >> 4) == 4) {
                /* A truncated datagram (MSG_TRUNC) still says its size in the header. */
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
        seen = now;
    }
    /* IPv6 datagrams we read but could not rebuild are as lost as dropped ones. */
    return seen + r->unusable;
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

/*
 * Open, configure and filter one socket of family af into r. 0, or -errno with
 * a message in err ("raw socket: ..." for IPv4, "IPv6 raw socket: ..." for IPv6).
 */
static int raw_socket_open(struct capture_raw *r, int af, const uint16_t *ports, size_t nports,
                           int rcvbuf, char *err, size_t errlen)
{
    const char *what = af == AF_INET6 ? "IPv6 raw socket" : "raw socket", *opt;
    int one = 1, e;

    r->fd = socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
    if (r->fd < 0) {
        e = errno;
        if (e == EPERM || e == EACCES)
            errbuf_set(err, errlen, "%s: %s (tcpcopy needs root or CAP_NET_RAW)", what,
                       strerror(e));
        else if (e == EAFNOSUPPORT)
            errbuf_set(err, errlen, "%s: %s (a -x rule is IPv6: is IPv6 disabled here?)", what,
                       strerror(e));
        else
            errbuf_set(err, errlen, "%s: %s", what, strerror(e));
        return -e;
    }
    /* A deep queue rides out bursts while the engine is busy. SO_RCVBUFFORCE
     * passes net.core.rmem_max but needs CAP_NET_ADMIN; otherwise take the
     * capped value rather than fail. */
    if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        (void)setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    /* Have the kernel's drop counter ride along with each packet. */
    opt = "SO_RXQ_OVFL";
    if (setsockopt(r->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0)
        goto fail_opt;
    /* Each datagram's receive time from the kernel (a batch's read time otherwise). */
    if (r->stamps)
        (void)setsockopt(r->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    /* The IPv6 header is not delivered: ask for its destination and hop limit
     * beside the data (RFC 3542 6.1, 6.3); the source comes in msg_name. */
    opt = "IPV6_RECVPKTINFO";
    if (af == AF_INET6 && setsockopt(r->fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0)
        goto fail_opt;
    opt = "IPV6_RECVHOPLIMIT";
    if (af == AF_INET6 && setsockopt(r->fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) < 0)
        goto fail_opt;
    /* With more ports than the filter can hold (or none given) there is no
     * kernel filter at all: every TCP datagram comes up and the caller must
     * pick its ports itself. */
    if (nports > 0 && nports <= RAW_FILTER_MAX_PORTS &&
        raw_filter_attach(r->fd, af, ports, (unsigned)nports, err, errlen) < 0)
        return -EINVAL;
    return 0;

fail_opt:
    e = errno;
    errbuf_set(err, errlen, "%s: %s: %s", what, opt, strerror(e));
    return -e;
}

/* One socket of family af behind its own capture handle. NULL with err on failure. */
static struct capture *raw_open_af(int af, const uint16_t *ports, size_t nports, int rcvbuf,
                                   bool stamps, char *err, size_t errlen)
{
    struct capture_raw *r = calloc(1, sizeof(*r));

    if (!r) {
        errbuf_set(err, errlen, "raw capture: %s", strerror(ENOMEM));
        return NULL;
    }
    r->fd = -1;
    r->af = af;
    r->stamps = stamps;
    r->bufs = malloc((size_t)RAW_SLOTS * (RAW_HEAD + RAW_SLOT_BYTES));
    if (!r->bufs) {
        errbuf_set(err, errlen, "raw capture: %s", strerror(ENOMEM));
        goto fail;
    }
    for (unsigned i = 0; i < RAW_SLOTS; i++) {
        r->iov[i].iov_base = r->bufs + (size_t)i * (RAW_HEAD + RAW_SLOT_BYTES) + RAW_HEAD;
        r->iov[i].iov_len = RAW_SLOT_BYTES;
        r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
        r->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    if (raw_socket_open(r, af, ports, nports, rcvbuf, err, errlen) < 0)
        goto fail;
    struct capture *c = capture_new(&raw_ops, r);
    if (c == NULL)
        errbuf_set(err, errlen, "raw capture: %s", strerror(ENOMEM));
    return c;

fail:
    raw_free(r);
    return NULL;
}

struct capture *capture_raw_open(const struct capture_raw_conf *c, char *err, size_t errlen)
{
    int rcvbuf = c && c->rcvbuf_bytes > 0 ? c->rcvbuf_bytes : RAW_RCVBUF_DEFAULT;
    unsigned fam = c && c->families ? c->families : CAPTURE_RAW_V4;
    struct capture *caps[2];
    size_t n = 0;

    if (fam & CAPTURE_RAW_V4) {
        caps[n] = raw_open_af(AF_INET, c && c->ports ? c->ports : NULL,
                              c && c->ports ? c->nports : 0, rcvbuf, c && c->stamps, err, errlen);
        if (caps[n] == NULL)
            return NULL;
        n++;
    }
    if (fam & CAPTURE_RAW_V6) {
        caps[n] = raw_open_af(AF_INET6, c->ports6, c->ports6 ? c->nports6 : 0, rcvbuf, c->stamps,
                              err, errlen);
        if (caps[n] == NULL) {
            capture_free(n ? caps[0] : NULL);
            return NULL;
        }
        n++;
    }
    /* Both families: one fd to poll for the two sockets. */
    return n == 1 ? caps[0] : capture_multi_new(caps, n, err, errlen);
}

/* ---- the link layer (tcpcopy --compare): the online server's answers, and its requests ---- */

/*
 * One direction's part of the link filter (see raw_link_filter_build), self-contained:
 * TCP, and the port at off past the IPv4 header (not a fragment) or past the IPv6 one (TCP
 * as the first next header: extension headers are not followed) is one of ports4 / ports6.
 * It ends in its own "ret #0" and "ret #-1", so every jump stays within the 8-bit reach of
 * a conditional branch (at most 2 * 64 ports + 15 instructions).
 */
static unsigned raw_link_part(struct sock_filter *prog, unsigned off, const uint16_t *ports4,
                              unsigned n4, const uint16_t *ports6, unsigned n6)
{
    unsigned i = 0;
    const unsigned v6 = 8 + n4 + 1, drop = v6 + 4 + n6, accept = drop + 1;
#define J(cond, k, jt, jf) \
    (struct sock_filter)BPF_JUMP(BPF_JMP | (cond) | BPF_K, (k), (uint8_t)(jt), (uint8_t)(jf))
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL);
    prog[i] = J(BPF_JEQ, ETH_P_IP, 0, v6 - i - 1), i++;
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9);
    prog[i] = J(BPF_JEQ, IPPROTO_TCP, 0, drop - i - 1), i++;
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6);
    prog[i] = J(BPF_JSET, 0x1fff, drop - i - 1, 0), i++;
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0);
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_IND, off);
    for (unsigned k = 0; k < n4; k++, i++)
        prog[i] = J(BPF_JEQ, ports4[k], accept - i - 1, 0);
    prog[i] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, drop - i - 1), i++;
    prog[i] = J(BPF_JEQ, ETH_P_IPV6, 0, drop - i - 1), i++; /* v6: A holds the protocol */
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6);
    prog[i] = J(BPF_JEQ, IPPROTO_TCP, 0, drop - i - 1), i++;
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 40 + off);
    for (unsigned k = 0; k < n6; k++, i++)
        prog[i] = J(BPF_JEQ, ports6[k], accept - i - 1, 0);
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0xffffffffU);
#undef J
    return i;
}

/*
 * A filter for an AF_PACKET SOCK_DGRAM socket (data from the IP header on): outgoing
 * packets (pkttype PACKET_OUTGOING, so a loopback packet counts once) whose TCP source
 * port is one of the rules', and with inbound, packets to this host (PACKET_HOST) whose
 * destination port is:
 *
 *   ld   pkttype
 *   jeq  #OUTGOING, next, +1 ; ja out
 *   jeq  #HOST, next, +1     ; ja in       (inbound only)
 *   ret  #0
 *   out: raw_link_part(source port)
 *   in:  raw_link_part(destination port)
 *
 * Returns the program's length.
 */
static unsigned raw_link_filter_build(struct sock_filter *prog, bool inbound,
                                      const uint16_t *ports4, unsigned n4,
                                      const uint16_t *ports6, unsigned n6)
{
    const unsigned out = inbound ? 6 : 4; /* where the first part starts */
    unsigned i = 0;

    prog[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
    prog[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 0, 1);
    prog[i] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, out - i - 1), i++;
    unsigned ja_in = 0;
    if (inbound) {
        prog[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_HOST, 0, 1);
        ja_in = i++;
    }
    prog[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
    i += raw_link_part(prog + i, 0, ports4, n4, ports6, n6);
    if (inbound) {
        prog[ja_in] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, i - ja_in - 1);
        i += raw_link_part(prog + i, 2, ports4, n4, ports6, n6);
    }
    return i;
}

/* The socket: it takes nothing until the filter is on, then every interface's packets. */
static int raw_out_socket(struct capture_raw *r, const struct capture_raw_conf *c, int rcvbuf,
                          char *err, size_t errlen)
{
    struct sock_filter prog[4 * RAW_FILTER_MAX_PORTS + 40];
    struct sock_fprog fp = {.filter = prog};
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL)};
    int one = 1;
    const char *what = "socket";

    if (c->nports > RAW_FILTER_MAX_PORTS || c->nports6 > RAW_FILTER_MAX_PORTS) {
        errbuf_set(err, errlen, "link capture: more than %d ports", RAW_FILTER_MAX_PORTS);
        return -EINVAL;
    }
    r->fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (r->fd < 0)
        goto fail;
    if (setsockopt(r->fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
        (void)setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    what = "SO_RXQ_OVFL";
    if (setsockopt(r->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) < 0)
        goto fail;
    (void)setsockopt(r->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
    fp.len = (unsigned short)raw_link_filter_build(
        prog, c->inbound, c->ports, c->ports ? (unsigned)c->nports : 0, c->ports6,
        c->ports6 ? (unsigned)c->nports6 : 0);
    what = "SO_ATTACH_FILTER";
    if (setsockopt(r->fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp)) < 0)
        goto fail;
    what = "bind";
    if (bind(r->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        goto fail;
    return 0;

fail:;
    int e = errno;
    errbuf_set(err, errlen, "link capture (AF_PACKET): %s: %s%s", what, strerror(e),
               e == EPERM || e == EACCES ? " (needs root or CAP_NET_RAW)" : "");
    return -e;
}

struct capture *capture_raw_out_open(const struct capture_raw_conf *c, char *err, size_t errlen)
{
    int rcvbuf = c->rcvbuf_bytes > 0 ? c->rcvbuf_bytes : RAW_RCVBUF_DEFAULT;
    struct capture_raw *r = calloc(1, sizeof(*r));
    if (r == NULL || (r->bufs = malloc((size_t)RAW_SLOTS * (RAW_HEAD + RAW_SLOT_BYTES))) == NULL) {
        free(r);
        errbuf_set(err, errlen, "link capture: %s", strerror(ENOMEM));
        return NULL;
    }
    r->fd = -1;
    r->af = AF_PACKET;
    for (unsigned i = 0; i < RAW_SLOTS; i++) {
        r->iov[i].iov_base = r->bufs + (size_t)i * (RAW_HEAD + RAW_SLOT_BYTES) + RAW_HEAD;
        r->iov[i].iov_len = RAW_SLOT_BYTES;
        r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
        r->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    if (raw_out_socket(r, c, rcvbuf, err, errlen) < 0) {
        raw_free(r);
        return NULL;
    }
    struct capture *cap = capture_new(&raw_ops, r);
    if (cap == NULL)
        errbuf_set(err, errlen, "link capture: %s", strerror(ENOMEM));
    return cap;
}
