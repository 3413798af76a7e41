/*
 * send_link: the link-layer backend of send.h (tcpcopy --pcap-send -o DEV).
 *
 * An AF_PACKET/SOCK_RAW socket on one Ethernet device takes whole frames: the
 * packets to the target skip the online host's IP stack (routing, conntrack,
 * iptables, rp_filter), which is the point of the mode. Each slot of the shared
 * sender (send_impl.h) has LINK_HEADROOM bytes in front of the datagram; the
 * Ethernet header goes into the last 14 of them at commit, so the IP header stays
 * 16-byte aligned and nothing is copied.
 *
 * This file owns the packet socket and the table of destination MACs (one per
 * target address, resolved by the caller: -x ...@MAC or neigh_resolve()).
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "neigh.h"
#include "send.h"
#include "send_impl.h"

#define LINK_HEADROOM 16U /* 2 spare bytes, then the 14-byte Ethernet header */
#define LINK_ETH_HLEN 14U
#define LINK_DST_MAX 256U

struct sender_link {
    int fd;
    int ifindex;
    uint8_t src_mac[6];
    struct sender_link_dst *dsts;
    size_t ndst;
};

void sender_link_free(struct sender_link *l)
{
    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->dsts);
    free(l);
}

struct sender *sender_link_open(const struct sender_conf *c, const struct sender_link_conf *lc,
                                char *err, size_t errlen)
{
    struct sender *s = NULL;
    struct sender_link *l = NULL;
    int sndbuf = c && c->sndbuf_bytes > 0 ? c->sndbuf_bytes : 8 * 1024 * 1024;
    char why[160];
    int e, mtu;

    if (lc == NULL || lc->device == NULL || lc->ndst > LINK_DST_MAX) {
        errbuf_set(err, errlen, "link-layer send: no device or too many destinations");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    l = calloc(1, sizeof(*l));
    /* Descriptors to -1 before any way out: a zeroed one is fd 0, which the cleanup
     * would close. */
    if (l != NULL)
        l->fd = -1;
    if (s != NULL) {
        s->fd4 = -1;
        s->fd6 = -1;
        s->link = l;
    }
    if (!s || !l)
        goto nomem;
    s->batch = c && c->batch ? c->batch : 64;
    s->slot = c && c->slot ? c->slot : 1500;
    s->headroom = LINK_HEADROOM;
    if (s->batch > 1024 || s->slot < 40 || s->slot > 65535) {
        errbuf_set(err, errlen, "link-layer send: batch %u or slot %zu out of range", s->batch,
                     s->slot);
        goto fail;
    }
    if (sender_alloc_slots(s) < 0)
        goto nomem;
    l->dsts = calloc(lc->ndst ? lc->ndst : 1, sizeof(*l->dsts));
    if (!l->dsts)
        goto nomem;
    memcpy(l->dsts, lc->dsts, lc->ndst * sizeof(*l->dsts));
    l->ndst = lc->ndst;

    if (neigh_if_info(lc->device, &l->ifindex, l->src_mac, &mtu, why, sizeof(why)) < 0) {
        errbuf_set(err, errlen, "link-layer send: %s", why);
        goto fail;
    }
    /* Protocol 0: this socket sends only; it must not get a copy of every frame. */
    l->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        e = errno;
        errbuf_set(err, errlen, "link-layer send: packet socket: %s%s", strerror(e),
                     e == EPERM || e == EACCES ? " (tcpcopy needs root or CAP_NET_RAW)" : "");
        goto fail;
    }
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = l->ifindex};
    if (bind(l->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        e = errno;
        errbuf_set(err, errlen, "link-layer send: bind to %s: %s", lc->device, strerror(e));
        goto fail;
    }
    if (setsockopt(l->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
        (void)setsockopt(l->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return s;

nomem:
    errbuf_set(err, errlen, "link-layer send: %s", strerror(ENOMEM));
fail:
    if (s == NULL)
        sender_link_free(l); /* otherwise s->link: sender_free releases it */
    sender_free(s);
    return NULL;
}

static const struct sender_link_dst *link_dst(const struct sender_link *l, const struct addr *ip)
{
    for (size_t i = 0; i < l->ndst; i++)
        if (addr_eq(&l->dsts[i].ip, ip))
            return &l->dsts[i];
    return NULL;
}

void sender_link_commit(struct sender *s, size_t len)
{
    struct sender_link *l = s->link;
    uint8_t *slot = sender_slot(s, s->n);
    uint8_t *ip = slot + s->headroom;
    uint8_t *eth = ip - LINK_ETH_HLEN;
    struct addr dst;
    uint16_t type;

    if (s->n == s->batch || len > s->slot || len < 20) {
        s->st.err_other++;
        return;
    }
    switch (ip[0] >> 4) {
    case 4:
        addr_set_v4(&dst, ip + 16);
        type = ETH_P_IP;
        break;
    case 6:
        if (len < 40) {
            s->st.err_other++;
            return;
        }
        addr_set_v6(&dst, ip + 24);
        type = ETH_P_IPV6;
        break;
    default:
        s->st.err_other++;
        return;
    }
    const struct sender_link_dst *d = link_dst(l, &dst);
    if (d == NULL) {
        s->st.err_unreach++;
        return;
    }
    const uint8_t *mac = d->mac;
    memcpy(eth, mac, 6);
    memcpy(eth + 6, d->has_src ? d->src_mac : l->src_mac, 6);
    eth[12] = (uint8_t)(type >> 8);
    eth[13] = (uint8_t)type;

    /* The kernel takes skb->protocol from sll_protocol: give the real one so that
     * qdiscs and offloads see an IP packet. */
    struct sockaddr_ll *sll = (struct sockaddr_ll *)&s->names[s->n];
    memset(sll, 0, sizeof(*sll));
    sll->sll_family = AF_PACKET;
    sll->sll_protocol = htons(type);
    sll->sll_ifindex = l->ifindex;
    sll->sll_halen = 6;
    memcpy(sll->sll_addr, mac, 6);

    struct mmsghdr *m = &s->msgs[s->n];
    s->iov[s->n].iov_base = eth;
    s->iov[s->n].iov_len = len + LINK_ETH_HLEN;
    memset(m, 0, sizeof(*m));
    m->msg_hdr.msg_name = sll;
    m->msg_hdr.msg_namelen = sizeof(*sll);
    m->msg_hdr.msg_iov = &s->iov[s->n];
    m->msg_hdr.msg_iovlen = 1;
    s->n++;
}

/* As send.c's send_run: a refused frame is counted and skipped, the rest go on. */
unsigned sender_link_flush(struct sender *s)
{
    unsigned refused = sender_send_run(s, s->link->fd, s->msgs, s->n);
    s->n = 0;
    return refused;
}
