/*
 * send_link: the link-layer backend of send.h (tcpcopy --pcap-send -o DEV).
 *
 * An AF_PACKET/SOCK_RAW socket on one Ethernet device takes whole frames: the
 * packets to the target skip the online host's IP stack (routing, conntrack,
 * iptables, rp_filter), which is the point of the mode. Each slot of the sender
 * (send_impl.h) has LINK_HEADROOM bytes in front of the datagram; the Ethernet
 * header goes into the last 14 of them at commit, so the IP header stays 16-byte
 * aligned and nothing is copied.
 *
 * This file owns the packet socket and the table of destination MACs (one per
 * target address, resolved by the caller: -x ...@MAC or neigh_resolve()).
 *
 * Segmentation offload (issue 23): the socket is opened with PACKET_VNET_HDR, so each
 * frame starts with a struct virtio_net_hdr (10 bytes, in the headroom before the
 * Ethernet header). At flush, a run of queued segments of one connection that the
 * target would see back to back (same addresses, ports, acknowledgement, window and
 * header sizes; contiguous sequence numbers; only ACK and PSH set; all full-sized but
 * the last) leaves as one frame of up to 16 segments and 64 KB: the first segment's
 * headers with the lengths of the whole, a partial TCP checksum, and a virtio_net_hdr
 * asking for TCP segmentation at the first segment's size (as tun/tap and QEMU do).
 * The kernel (or the NIC, with TSO) cuts it into the same segments on the wire; a veth
 * hands it to the target's stack whole. The payloads are not copied: the frame is an iovec over the
 * slots. Every segment keeps the first's TCP options (its timestamp), as kernel GSO
 * does. Without PACKET_VNET_HDR (an old kernel) each segment leaves as before.
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "neigh.h"
#include "pkt.h"
#include "send.h"
#include "send_impl.h"

/* 8 spare bytes, the 10-byte virtio_net_hdr, then the 14-byte Ethernet header: the IP
 * header stays 16-byte aligned. */
#define LINK_HEADROOM 32U
#define LINK_ETH_HLEN 14U
#define LINK_VNET_HLEN 10U /* sizeof(struct virtio_net_hdr) */
#define LINK_DST_MAX 256U
#define LINK_GSO_MAX 65535U /* an IPv4 total length, an IPv6 payload length */
/* Segments per frame: 16 (23 KB at the usual MSS) cost as little CPU as 44 (64 KB) in the
 * bulk benchmark, and a target short of receive memory drops smaller units: with 64 KB
 * frames 2 runs of 29 stalled after the target dropped two whole frames (TCPRcvQDrop). */
#define LINK_GSO_SEGS 16U

struct send_link {
    int fd;
    int ifindex;
    bool vnet; /* PACKET_VNET_HDR: frames start with a virtio_net_hdr, runs coalesce */
    uint8_t src_mac[6];
    struct sender_link_dst *dsts;
    size_t ndst;
    struct mmsghdr *out; /* vnet: the frames of one flush, batch of them at most */
    struct iovec *iov;   /* vnet: their pieces (one per segment) */
};

/* One queued TCP segment, as the coalescing sees it. */
struct link_seg {
    uint8_t *ip, *th;
    size_t iphl, thl, pay;
    uint32_t seq;
    uint8_t v;
};

static void send_link_free(void *priv)
{
    struct send_link *l = priv;

    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->dsts);
    free(l->out);
    free(l->iov);
    free(l);
}

static const struct sender_link_dst *link_dst(const struct send_link *l, const struct addr *ip)
{
    for (size_t i = 0; i < l->ndst; i++)
        if (addr_eq(&l->dsts[i].ip, ip))
            return &l->dsts[i];
    return NULL;
}

static int send_link_commit(struct sender *s, unsigned i, uint8_t *ip, size_t len,
                            const struct addr *dst)
{
    struct send_link *l = s->priv;
    uint8_t *eth = ip - LINK_ETH_HLEN;
    uint16_t type = dst->af == AF_INET6 ? ETH_P_IPV6 : ETH_P_IP;
    const struct sender_link_dst *d = link_dst(l, dst);

    if (d == NULL)
        return -EHOSTUNREACH; /* no MAC for this address: counted as unreachable */
    memcpy(eth, d->mac, 6);
    memcpy(eth + 6, d->has_src ? d->src_mac : l->src_mac, 6);
    eth[12] = (uint8_t)(type >> 8);
    eth[13] = (uint8_t)type;

    /* The kernel takes skb->protocol from sll_protocol: give the real one so that
     * qdiscs and offloads see an IP packet. */
    struct sockaddr_ll *sll = (struct sockaddr_ll *)&s->names[i];
    memset(sll, 0, sizeof(*sll));
    sll->sll_family = AF_PACKET;
    sll->sll_protocol = htons(type);
    sll->sll_ifindex = l->ifindex;
    sll->sll_halen = 6;
    memcpy(sll->sll_addr, d->mac, 6);
    if (!l->vnet) {
        sender_msg_set(s, i, eth, len + LINK_ETH_HLEN, sizeof(*sll));
        return 0;
    }
    /* No offload asked: the engine's checksums are complete. */
    memset(eth - LINK_VNET_HLEN, 0, LINK_VNET_HLEN);
    sender_msg_set(s, i, eth - LINK_VNET_HLEN, len + LINK_ETH_HLEN + LINK_VNET_HLEN, sizeof(*sll));
    return 0;
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* The queued datagram ip[0..len) as a TCP segment with data and only ACK (and PSH) set;
 * false for anything else, which then leaves alone. */
static bool link_seg_parse(uint8_t *ip, size_t len, struct link_seg *g)
{
    g->ip = ip;
    g->v = ip[0] >> 4;
    if (g->v == 4) {
        g->iphl = (size_t)(ip[0] & 15) * 4;
        if (ip[9] != IPPROTO_TCP || ((ip[6] & 0x3f) | ip[7]) != 0 || g->iphl < 20 ||
            (size_t)(ip[2] << 8 | ip[3]) != len)
            return false;
    } else if (g->v == 6) {
        g->iphl = 40;
        if (len < 40 || ip[6] != IPPROTO_TCP || (size_t)(ip[4] << 8 | ip[5]) + 40 != len)
            return false;
    } else {
        return false;
    }
    if (len < g->iphl + 20)
        return false;
    g->th = ip + g->iphl;
    g->thl = (size_t)(g->th[12] >> 4) * 4;
    if (g->thl < 20 || g->iphl + g->thl >= len || (g->th[13] & ~TCPF_PSH) != TCPF_ACK)
        return false;
    g->pay = len - g->iphl - g->thl;
    g->seq = rd32(g->th + 4);
    return true;
}

/* Whether segment b may follow prev in the frame headed by h (see the file's comment). */
static bool link_seg_follows(const struct link_seg *h, const struct link_seg *prev,
                             const struct link_seg *b, size_t total, unsigned segs)
{
    size_t alen = h->v == 4 ? 8 : 32, aoff = h->v == 4 ? 12 : 8;

    return b->v == h->v && b->iphl == h->iphl && b->thl == h->thl && prev->pay == h->pay &&
           b->pay <= h->pay && b->seq == prev->seq + (uint32_t)prev->pay && segs < LINK_GSO_SEGS &&
           total + b->pay <= LINK_GSO_MAX && memcmp(b->ip + aoff, h->ip + aoff, alen) == 0 &&
           (h->v == 6 || (b->ip[1] == h->ip[1] && b->ip[8] == h->ip[8])) &&
           memcmp(b->th, h->th, 4) == 0 &&           /* ports */
           memcmp(b->th + 8, h->th + 8, 4) == 0 &&   /* acknowledgement */
           memcmp(b->th + 14, h->th + 14, 2) == 0 && /* window */
           memcmp(b->ip - LINK_ETH_HLEN, h->ip - LINK_ETH_HLEN, LINK_ETH_HLEN) == 0;
}

/* Turn the head's headers into those of the whole frame (payload bytes pay in all,
 * PSH if any segment had it) and ask the kernel to cut it at the head's size. */
static void link_gso_head(struct link_seg *h, size_t pay, bool psh)
{
    struct virtio_net_hdr *vh = (struct virtio_net_hdr *)(h->ip - LINK_ETH_HLEN - LINK_VNET_HLEN);
    size_t tcplen = h->thl + pay;
    uint32_t sum;

    if (h->v == 4) {
        wr16(h->ip + 2, (uint16_t)(h->iphl + tcplen));
        wr16(h->ip + 10, 0);
        wr16(h->ip + 10, csum_fold(csum_add(0, h->ip, h->iphl)));
        sum = csum_add(0, h->ip + 12, 8);
    } else {
        wr16(h->ip + 4, (uint16_t)tcplen);
        sum = csum_add(0, h->ip + 8, 32);
    }
    if (psh)
        h->th[13] |= TCPF_PSH;
    /* A partial checksum: the pseudo-header's sum, folded, not complemented (the
     * kernel adds the rest per segment). */
    sum += IPPROTO_TCP + (uint32_t)tcplen;
    wr16(h->th + 16, (uint16_t)~csum_fold(sum));
    memset(vh, 0, sizeof(*vh));
    vh->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh->gso_type = h->v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6;
    vh->hdr_len = (uint16_t)(LINK_ETH_HLEN + h->iphl + h->thl);
    vh->gso_size = (uint16_t)h->pay;
    vh->csum_start = (uint16_t)(LINK_ETH_HLEN + h->iphl);
    vh->csum_offset = 16;
}

/* The queued messages as frames in l->out, runs of segments coalesced; their number. */
static unsigned link_coalesce(struct sender *s, struct send_link *l)
{
    unsigned i = 0, nout = 0, niov = 0;

    while (i < s->n) {
        struct link_seg h, prev, b;
        const size_t hl = LINK_VNET_HLEN + LINK_ETH_HLEN;
        unsigned j = i + 1;
        size_t pay = 0;
        bool psh = false, ok;
        struct msghdr *m = &l->out[nout].msg_hdr;

        *m = s->msgs[i].msg_hdr;
        m->msg_iov = &l->iov[niov];
        m->msg_iovlen = 1;
        l->iov[niov++] = s->iov[i];
        ok = link_seg_parse((uint8_t *)s->iov[i].iov_base + hl, s->iov[i].iov_len - hl, &h);
        if (ok) {
            prev = h;
            pay = h.pay;
            psh = (h.th[13] & TCPF_PSH) != 0;
        }
        while (ok && j < s->n && m->msg_name != NULL &&
               memcmp(s->msgs[j].msg_hdr.msg_name, m->msg_name, m->msg_namelen) == 0 &&
               link_seg_parse((uint8_t *)s->iov[j].iov_base + hl, s->iov[j].iov_len - hl, &b) &&
               link_seg_follows(&h, &prev, &b, h.iphl + h.thl + pay, j - i)) {
            l->iov[niov++] = (struct iovec){.iov_base = b.th + b.thl, .iov_len = b.pay};
            m->msg_iovlen++;
            pay += b.pay;
            psh = psh || (b.th[13] & TCPF_PSH);
            prev = b;
            j++;
        }
        if (j - i > 1) {
            link_gso_head(&h, pay, psh);
            s->st.coalesced += j - i - 1;
        }
        nout++;
        i = j;
    }
    return nout;
}

/* A refused frame is counted and skipped, the rest go on (sender_send_run). */
static unsigned send_link_flush(struct sender *s)
{
    struct send_link *l = s->priv;

    if (!l->vnet)
        return sender_send_run(s, l->fd, s->msgs, s->n);
    return sender_send_run(s, l->fd, l->out, link_coalesce(s, l));
}

static const struct sender_ops send_link_ops = {
    .name = "link",
    .commit = send_link_commit,
    .flush = send_link_flush,
    .free = send_link_free,
};

static bool send_link_conf_ok(const struct sender_link_conf *lc, char *err, size_t errlen)
{
    if (lc == NULL || lc->device == NULL || lc->ndst > LINK_DST_MAX) {
        errbuf_set(err, errlen, "link-layer send: no device or too many destinations");
        return false;
    }
    return true;
}

struct sender *sender_link_wrap(const struct sender_conf *c, const struct sender_link_conf *lc,
                                int fd, int ifindex, const uint8_t src_mac[6], bool vnet, char *err,
                                size_t errlen)
{
    struct sender *s = NULL;
    struct send_link *l = calloc(1, sizeof(*l));

    /* The descriptor goes to l first: from here on send_link_free closes it. */
    if (l == NULL) {
        if (fd >= 0)
            close(fd);
        errbuf_set(err, errlen, "link-layer send: %s", strerror(ENOMEM));
        return NULL;
    }
    l->fd = fd;
    l->ifindex = ifindex;
    l->vnet = vnet;
    memcpy(l->src_mac, src_mac, 6);
    if (!send_link_conf_ok(lc, err, errlen))
        goto fail;
    s = sender_new(&send_link_ops, c, LINK_HEADROOM, "link-layer send", err, errlen);
    if (s == NULL)
        goto fail;
    l->dsts = calloc(lc->ndst ? lc->ndst : 1, sizeof(*l->dsts));
    if (vnet) {
        l->out = calloc(s->batch, sizeof(*l->out));
        l->iov = calloc(s->batch, sizeof(*l->iov));
    }
    if (l->dsts == NULL || (vnet && (l->out == NULL || l->iov == NULL))) {
        errbuf_set(err, errlen, "link-layer send: %s", strerror(ENOMEM));
        goto fail;
    }
    if (lc->ndst > 0)
        memcpy(l->dsts, lc->dsts, lc->ndst * sizeof(*l->dsts));
    l->ndst = lc->ndst;
    s->priv = l;
    return s;

fail:
    send_link_free(l);
    sender_free(s);
    return NULL;
}

struct sender *sender_link_open(const struct sender_conf *c, const struct sender_link_conf *lc,
                                char *err, size_t errlen)
{
    struct sender_conf rc;
    uint8_t src_mac[6];
    char why[160];
    int e, fd, ifindex, mtu;

    if (!send_link_conf_ok(lc, err, errlen) ||
        sender_conf_resolve(&rc, c, "link-layer send", err, errlen) < 0)
        return NULL;
    if (neigh_if_info(lc->device, &ifindex, src_mac, &mtu, why, sizeof(why)) < 0) {
        errbuf_set(err, errlen, "link-layer send: %s", why);
        return NULL;
    }
    /* Protocol 0: this socket sends only; it must not get a copy of every frame. */
    fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        e = errno;
        errbuf_set(err, errlen, "link-layer send: packet socket: %s%s", strerror(e),
                   e == EPERM || e == EACCES ? " (tcpcopy needs root or CAP_NET_RAW)" : "");
        return NULL;
    }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        e = errno;
        errbuf_set(err, errlen, "link-layer send: bind to %s: %s", lc->device, strerror(e));
        close(fd);
        return NULL;
    }
    sender_sndbuf_set(&rc, fd);
    /* Segmentation offload where the kernel has it (Linux 2.6.37); else frame by frame. */
    int one = 1;
    bool vnet = setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) == 0;
    return sender_link_wrap(&rc, lc, fd, ifindex, src_mac, vnet, err, errlen);
}
