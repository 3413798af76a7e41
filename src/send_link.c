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
 */
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
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

struct send_link {
    int fd;
    int ifindex;
    uint8_t src_mac[6];
    struct sender_link_dst *dsts;
    size_t ndst;
};

static void send_link_free(void *priv)
{
    struct send_link *l = priv;

    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    free(l->dsts);
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
    sender_msg_set(s, i, eth, len + LINK_ETH_HLEN, sizeof(*sll));
    return 0;
}

/* A refused frame is counted and skipped, the rest go on (sender_send_run). */
static unsigned send_link_flush(struct sender *s)
{
    struct send_link *l = s->priv;

    return sender_send_run(s, l->fd, s->msgs, s->n);
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
                                int fd, int ifindex, const uint8_t src_mac[6], char *err,
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
    memcpy(l->src_mac, src_mac, 6);
    if (!send_link_conf_ok(lc, err, errlen))
        goto fail;
    s = sender_new(&send_link_ops, c, LINK_HEADROOM, "link-layer send", err, errlen);
    if (s == NULL)
        goto fail;
    l->dsts = calloc(lc->ndst ? lc->ndst : 1, sizeof(*l->dsts));
    if (l->dsts == NULL) {
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
    return sender_link_wrap(&rc, lc, fd, ifindex, src_mac, err, errlen);
}
