/*
 * neigh: next-hop MAC resolution over rtnetlink (see neigh.h). Owns nothing past
 * a call: each query opens a NETLINK_ROUTE socket, asks, reads the answer and
 * closes it.
 */
#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "neigh.h"

#define NEIGH_NL_BUF 32768
#define NEIGH_NL_TIMEOUT_MS 1000
#define NEIGH_RETRY_MS 20
#define NEIGH_DISCARD_PORT 9
#define NEIGH_TRIGGER_EVERY_MS 250

static uint64_t neigh_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

char *neigh_mac_str(const uint8_t mac[NEIGH_MAC_LEN], char *buf, size_t len)
{
    snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
             mac[5]);
    return buf;
}

int neigh_if_info(const char *dev, int *ifindex, uint8_t mac[NEIGH_MAC_LEN], int *mtu, char *err,
                  size_t errlen)
{
    struct ifreq ifr;
    int fd, e, ret = 0;

    if (dev == NULL || strlen(dev) >= IFNAMSIZ) {
        errbuf_set(err, errlen, "bad interface name '%s'", dev ? dev : "");
        return -EINVAL;
    }
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        e = errno;
        errbuf_set(err, errlen, "%s: socket: %s", dev, strerror(e));
        return -e;
    }
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
    if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
        e = errno;
        errbuf_set(err, errlen, "%s: no such interface (%s)", dev, strerror(e));
        ret = -e;
        goto cleanup;
    }
    if (ifindex != NULL)
        *ifindex = ifr.ifr_ifindex;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        e = errno;
        errbuf_set(err, errlen, "%s: cannot read its MAC address (%s)", dev, strerror(e));
        ret = -e;
        goto cleanup;
    }
    /* Ethernet framing is all we write: a tunnel or an IP-only device has no
     * link-layer header to fill in, and the raw IP sender serves it better. */
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
        errbuf_set(err, errlen,
                  "%s: not an Ethernet interface (type %u): link-layer send needs Ethernet",
                  dev, ifr.ifr_hwaddr.sa_family);
        ret = -EPROTONOSUPPORT;
        goto cleanup;
    }
    if (mac != NULL)
        memcpy(mac, ifr.ifr_hwaddr.sa_data, NEIGH_MAC_LEN);
    if (mtu != NULL) {
        *mtu = 1500;
        if (ioctl(fd, SIOCGIFMTU, &ifr) == 0)
            *mtu = ifr.ifr_mtu;
    }

cleanup:
    close(fd);
    return ret;
}

/* ---- parsers ---- */

/* Walk the rtattrs of [p, p + len): call f for each well-formed one. */
#define NEIGH_FOR_RTA(rta, p, len)                                                                 \
    for (struct rtattr *rta = (struct rtattr *)(p); RTA_OK(rta, (len)); rta = RTA_NEXT(rta, (len)))

static bool neigh_addr_from(struct addr *a, int family, const void *data, size_t len)
{
    if (family == AF_INET && len == 4) {
        addr_set_v4(a, data);
        return true;
    }
    if (family == AF_INET6 && len == 16) {
        addr_set_v6(a, data);
        return true;
    }
    return false;
}

bool neigh_parse_route(const uint8_t *buf, size_t len, int *oif, struct addr *gw)
{
    const struct nlmsghdr *nh = (const void *)buf;
    struct rtmsg rtm;

    if (len < NLMSG_HDRLEN + sizeof(rtm) || nh->nlmsg_len > len ||
        nh->nlmsg_len < NLMSG_HDRLEN + sizeof(rtm) || nh->nlmsg_type != RTM_NEWROUTE)
        return false;
    memcpy(&rtm, buf + NLMSG_HDRLEN, sizeof(rtm));
    *oif = 0;
    memset(gw, 0, sizeof(*gw));
    unsigned int alen = nh->nlmsg_len - NLMSG_HDRLEN - (unsigned)NLMSG_ALIGN(sizeof(rtm));
    if (nh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(rtm)))
        alen = 0;
    NEIGH_FOR_RTA(rta, buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(rtm)), alen)
    {
        size_t plen = RTA_PAYLOAD(rta);
        const uint8_t *d = RTA_DATA(rta);
        if (rta->rta_type == RTA_OIF && plen == 4) {
            int v;
            memcpy(&v, d, 4);
            *oif = v;
        } else if (rta->rta_type == RTA_GATEWAY) {
            neigh_addr_from(gw, rtm.rtm_family, d, plen);
        } else if (rta->rta_type == RTA_VIA && plen >= 2) {
            /* An IPv4 route via an IPv6 next hop (RFC 5549): struct rtvia. */
            uint16_t fam;
            memcpy(&fam, d, 2);
            neigh_addr_from(gw, fam, d + 2, plen - 2);
        }
    }
    return *oif > 0;
}

bool neigh_parse_neigh(const uint8_t *buf, size_t len, const struct addr *ip, int ifindex,
                       uint8_t mac[NEIGH_MAC_LEN])
{
    const struct nlmsghdr *nh = (const void *)buf;
    struct ndmsg ndm;
    struct addr dst = {0};
    const uint8_t *ll = NULL;
    bool have_dst = false;

    if (len < NLMSG_HDRLEN + sizeof(ndm) || nh->nlmsg_len > len ||
        nh->nlmsg_len < NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ndm)) || nh->nlmsg_type != RTM_NEWNEIGH)
        return false;
    memcpy(&ndm, buf + NLMSG_HDRLEN, sizeof(ndm));
    if (ifindex != 0 && ndm.ndm_ifindex != ifindex)
        return false;
    /* INCOMPLETE: resolution in progress; FAILED: nobody answered; NONE: no
     * entry. Everything else (REACHABLE, STALE, DELAY, PROBE, PERMANENT,
     * NOARP) holds an address the kernel itself would still use. */
    if (ndm.ndm_state & (NUD_INCOMPLETE | NUD_FAILED) || ndm.ndm_state == NUD_NONE)
        return false;
    unsigned int alen = nh->nlmsg_len - NLMSG_HDRLEN - (unsigned)NLMSG_ALIGN(sizeof(ndm));
    NEIGH_FOR_RTA(rta, buf + NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(ndm)), alen)
    {
        if (rta->rta_type == NDA_DST)
            have_dst = neigh_addr_from(&dst, ndm.ndm_family, RTA_DATA(rta), RTA_PAYLOAD(rta));
        else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == NEIGH_MAC_LEN)
            ll = RTA_DATA(rta);
    }
    if (!have_dst || ll == NULL || !addr_eq(&dst, ip))
        return false;
    memcpy(mac, ll, NEIGH_MAC_LEN);
    return true;
}

/* ---- rtnetlink queries ---- */

static int nl_open(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -errno;
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

/*
 * Send req and hand each answer message to f until NLMSG_DONE (dumps) or, for a
 * plain request, the first answer. f returns true to stop early. Returns 0,
 * -errno from an NLMSG_ERROR, or -ETIMEDOUT.
 */
static int nl_query(struct nlmsghdr *req, bool (*f)(void *arg, const uint8_t *m, size_t len),
                    void *arg)
{
    static uint8_t buf[NEIGH_NL_BUF] __attribute__((aligned(4)));
    int fd = nl_open(), ret = 0;
    bool dump = req->nlmsg_flags & NLM_F_DUMP;
    uint64_t end = neigh_now_ms() + NEIGH_NL_TIMEOUT_MS;

    if (fd < 0)
        return fd;
    req->nlmsg_seq = (uint32_t)neigh_now_ms();
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        ret = -errno;
        goto cleanup;
    }
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        uint64_t now = neigh_now_ms();
        if (now >= end || poll(&pfd, 1, (int)(end - now)) <= 0) {
            ret = -ETIMEDOUT;
            goto cleanup;
        }
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            ret = -errno;
            goto cleanup;
        }
        size_t left = (size_t)n;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, left);
             nh = NLMSG_NEXT(nh, left)) {
            if (nh->nlmsg_seq != req->nlmsg_seq)
                continue;
            if (nh->nlmsg_type == NLMSG_DONE)
                goto cleanup;
            if (nh->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr e;
                if (nh->nlmsg_len >= NLMSG_LENGTH(sizeof(e))) {
                    memcpy(&e, NLMSG_DATA(nh), sizeof(e));
                    ret = e.error; /* 0: an ACK */
                } else {
                    ret = -EPROTO;
                }
                goto cleanup;
            }
            if (f((void *)arg, (const uint8_t *)nh, nh->nlmsg_len) || !dump)
                goto cleanup;
        }
    }

cleanup:
    close(fd);
    return ret;
}

struct route_ans {
    bool found;
    int oif;
    struct addr gw;
};

static bool route_cb(void *arg, const uint8_t *m, size_t len)
{
    struct route_ans *a = arg;
    a->found = neigh_parse_route(m, len, &a->oif, &a->gw);
    return true;
}

static void nl_put_attr(struct nlmsghdr *nh, size_t cap, unsigned short type, const void *data,
                        size_t len)
{
    struct rtattr *rta = (struct rtattr *)((uint8_t *)nh + NLMSG_ALIGN(nh->nlmsg_len));
    if (NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len) > cap)
        return;
    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    nh->nlmsg_len = (uint32_t)(NLMSG_ALIGN(nh->nlmsg_len) + RTA_SPACE(len));
}

int neigh_route(const struct addr *dst, int ifindex, struct addr *nexthop, int *oif, char *err,
                size_t errlen)
{
    struct {
        struct nlmsghdr nh;
        struct rtmsg rtm;
        uint8_t attrs[64];
    } req;
    struct route_ans ans = {0};
    char ab[ADDR_STRLEN];
    size_t alen = dst->af == AF_INET ? 4 : 16;

    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.rtm));
    req.nh.nlmsg_type = RTM_GETROUTE;
    req.nh.nlmsg_flags = NLM_F_REQUEST;
    req.rtm.rtm_family = dst->af;
    req.rtm.rtm_dst_len = (unsigned char)(alen * 8);
    nl_put_attr(&req.nh, sizeof(req), RTA_DST, dst->u.b, alen);
    if (ifindex > 0)
        nl_put_attr(&req.nh, sizeof(req), RTA_OIF, &ifindex, sizeof(ifindex));
    int r = nl_query(&req.nh, route_cb, &ans);
    addr_str(dst, ab, sizeof(ab));
    if (r < 0) {
        errbuf_set(err, errlen, "no route to %s%s: %s", ab, ifindex > 0 ? " on that interface" : "",
                  strerror(-r));
        return r;
    }
    if (!ans.found) {
        errbuf_set(err, errlen, "no route to %s: no usable answer from the kernel", ab);
        return -ENETUNREACH;
    }
    *nexthop = addr_is_any(&ans.gw) ? *dst : ans.gw;
    *oif = ans.oif;
    return 0;
}

struct neigh_ans {
    const struct addr *ip;
    int ifindex;
    bool found;
    uint8_t mac[NEIGH_MAC_LEN];
};

static bool neigh_cb(void *arg, const uint8_t *m, size_t len)
{
    struct neigh_ans *a = arg;
    if (!a->found && neigh_parse_neigh(m, len, a->ip, a->ifindex, a->mac))
        a->found = true;
    return false; /* read the whole dump: stopping early would leave it queued */
}

int neigh_lookup(const struct addr *ip, int ifindex, uint8_t mac[NEIGH_MAC_LEN])
{
    struct {
        struct nlmsghdr nh;
        struct ndmsg ndm;
    } req;
    struct neigh_ans ans = {.ip = ip, .ifindex = ifindex};

    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.ndm));
    req.nh.nlmsg_type = RTM_GETNEIGH;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.ndm.ndm_family = ip->af;
    req.ndm.ndm_ifindex = ifindex;
    int r = nl_query(&req.nh, neigh_cb, &ans);
    if (r < 0)
        return r;
    if (!ans.found)
        return -ENOENT;
    memcpy(mac, ans.mac, NEIGH_MAC_LEN);
    return 0;
}

/*
 * Make the kernel resolve ip on dev: a datagram to it must first learn its MAC.
 * The discard port keeps the probe harmless; the datagram itself may be
 * answered with a port unreachable, which nobody reads.
 */
static void neigh_trigger(const struct addr *ip, const char *dev)
{
    struct sockaddr_storage ss;
    size_t sl = addr_to_sockaddr(ip, NEIGH_DISCARD_PORT, &ss);
    int fd = socket(ip->af, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || sl == 0)
        goto cleanup;
    (void)setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, (socklen_t)strlen(dev) + 1);
    (void)sendto(fd, "", 1, 0, (struct sockaddr *)&ss, (socklen_t)sl);

cleanup:
    if (fd >= 0)
        close(fd);
}

int neigh_resolve(const struct addr *dst, const char *dev, uint8_t mac[NEIGH_MAC_LEN],
                  int timeout_ms, char *err, size_t errlen)
{
    char ab[ADDR_STRLEN], hb[ADDR_STRLEN], why[160];
    struct addr hop;
    int ifindex, oif, r;

    addr_str(dst, ab, sizeof(ab));
    r = neigh_if_info(dev, &ifindex, NULL, NULL, why, sizeof(why));
    if (r < 0) {
        errbuf_set(err, errlen, "cannot find the MAC of %s on %s: %s", ab, dev, why);
        return r;
    }
    r = neigh_route(dst, ifindex, &hop, &oif, why, sizeof(why));
    if (r < 0) {
        errbuf_set(err, errlen, "cannot find the MAC of %s on %s: %s; give it as -x ...@MAC", ab,
                  dev, why);
        return r;
    }
    uint64_t end = neigh_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    uint64_t next_trigger = 0;
    for (;;) {
        r = neigh_lookup(&hop, ifindex, mac);
        if (r == 0)
            return 0;
        uint64_t now = neigh_now_ms();
        if (now >= end)
            break;
        if (now >= next_trigger) {
            /* Again now and then: a FAILED entry needs a new packet to retry. */
            neigh_trigger(&hop, dev);
            next_trigger = now + NEIGH_TRIGGER_EVERY_MS;
        }
        struct timespec ts = {0, NEIGH_RETRY_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    addr_str(&hop, hb, sizeof(hb));
    if (addr_eq(&hop, dst))
        errbuf_set(err, errlen, "cannot find the MAC of %s on %s: give it as -x ...@MAC", ab, dev);
    else
        errbuf_set(err, errlen,
                  "cannot find the MAC of %s on %s (next hop %s): give it as -x ...@MAC", ab, dev,
                  hb);
    return r == 0 ? -ENOENT : r;
}
