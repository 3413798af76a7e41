/*
 * decap: the frame inside a mirrored packet (see decap.h). Every length is checked
 * before it is read: the outer packets come from the network.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pcap/pcap.h>

#include "decap.h"
#include "log.h"

#define LINKTYPE_RAW 101 /* as written in pcap files; DLT_RAW is 12 or 14 by OS */
#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define GRE_TEB 0x6558       /* transparent Ethernet bridging */
#define GRE_ERSPAN2 0x88be   /* ERSPAN type II */
#define GRE_ERSPAN3 0x22eb   /* ERSPAN type III */
#define PROTO_UDP 17
#define PROTO_GRE 47

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

int decap_parse(struct decap *d, const char *s, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    if (strcmp(s, "gre") == 0 || strcmp(s, "erspan") == 0) {
        d->kind = DECAP_GRE;
        return 0;
    }
    if (strncmp(s, "vxlan", 5) == 0 && (s[5] == '\0' || s[5] == ':')) {
        d->kind = DECAP_VXLAN;
        d->port = DECAP_VXLAN_PORT;
        if (s[5] == '\0')
            return 0;
        unsigned long v = 0;
        const char *q = s + 6;
        for (; *q >= '0' && *q <= '9' && v <= 65535; q++)
            v = v * 10 + (unsigned long)(*q - '0');
        if (q != s + 6 && *q == '\0' && v >= 1 && v <= 65535) {
            d->port = (uint16_t)v;
            return 0;
        }
    }
    errbuf_set(err, errlen, "--decap '%s': expected vxlan, vxlan:PORT (1-65535), gre or erspan", s);
    d->kind = DECAP_NONE;
    return -EINVAL;
}

const char *decap_str(const struct decap *d, char *buf, size_t len)
{
    if (d->kind == DECAP_VXLAN)
        snprintf(buf, len, "vxlan:%u", d->port);
    else
        snprintf(buf, len, "%s", d->kind == DECAP_GRE ? "gre" : "none");
    return buf;
}

const char *decap_filter(const struct decap *d, char *buf, size_t len)
{
    if (d->kind == DECAP_VXLAN)
        snprintf(buf, len, "udp dst port %u", d->port);
    else
        snprintf(buf, len, "ip proto 47 or ip6 proto 47");
    return buf;
}

const char *decap_err_str(int e)
{
    static const char *const names[DECAP_E_COUNT] = {
        [DECAP_OK] = "ok", [DECAP_E_LINK] = "link", [DECAP_E_IP] = "ip",
        [DECAP_E_FRAG] = "fragment", [DECAP_E_OTHER] = "other", [DECAP_E_TUNNEL] = "tunnel",
    };
    return e >= 0 && e < DECAP_E_COUNT ? names[e] : "unknown";
}

/* The outer IP header's offset in buf, from the link layer; -1 if there is none. */
static long outer_ip(int dlt, const uint8_t *buf, size_t len)
{
    size_t off;
    uint16_t type;
    if (dlt == DLT_EN10MB) {
        if (len < 14)
            return -1;
        off = 14;
        type = rd16(buf + 12);
        for (int tags = 0; type == ETH_VLAN || type == ETH_QINQ; tags++) {
            if (tags == 2 || len < off + 4)
                return -1;
            type = rd16(buf + off + 2);
            off += 4;
        }
    } else if (dlt == DLT_LINUX_SLL) {
        if (len < 16)
            return -1;
        off = 16;
        type = rd16(buf + 14);
    } else if (dlt == DLT_LINUX_SLL2) {
        if (len < 20)
            return -1;
        off = 20;
        type = rd16(buf);
    } else if (dlt == DLT_RAW || dlt == LINKTYPE_RAW) {
        return 0;
    } else {
        return -1;
    }
    return type == ETH_IPV4 || type == ETH_IPV6 ? (long)off : -1;
}

/* The outer IP header at ip: its payload (*pl, *pl_len) and protocol. */
static int outer_payload(const uint8_t *ip, size_t len, const uint8_t **pl, size_t *pl_len,
                         uint8_t *proto)
{
    if (len < 1)
        return -DECAP_E_IP;
    if (ip[0] >> 4 == 4) {
        size_t hl = (size_t)(ip[0] & 0x0f) * 4, tot;
        if (len < 20 || hl < 20 || (tot = rd16(ip + 2)) < hl || tot > len)
            return -DECAP_E_IP;
        if (rd16(ip + 6) & 0x3fff) /* MF, or a fragment offset */
            return -DECAP_E_FRAG;
        *proto = ip[9];
        *pl = ip + hl;
        *pl_len = tot - hl;
        return DECAP_OK;
    }
    if (ip[0] >> 4 == 6) {
        /* Extension headers are not walked: mirrors send UDP or GRE right after. */
        if (len < 40 || 40 + (size_t)rd16(ip + 4) > len)
            return -DECAP_E_IP;
        if (ip[6] == 44)
            return -DECAP_E_FRAG;
        *proto = ip[6];
        *pl = ip + 40;
        *pl_len = rd16(ip + 4);
        return DECAP_OK;
    }
    return -DECAP_E_IP;
}

/* VXLAN (RFC 7348 5): UDP to the port, then flags (I set), reserved, VNI, reserved. */
static int vxlan_inner(const struct decap *d, const uint8_t *udp, size_t len,
                       const uint8_t **inner, size_t *inner_len, int *inner_dlt)
{
    if (len < 8)
        return -DECAP_E_IP;
    if (rd16(udp + 2) != d->port)
        return -DECAP_E_OTHER;
    size_t ulen = rd16(udp + 4);
    if (ulen < 8 || ulen > len)
        return -DECAP_E_IP;
    if (ulen < 16 || !(udp[8] & 0x08))
        return -DECAP_E_TUNNEL;
    *inner = udp + 16;
    *inner_len = ulen - 16;
    *inner_dlt = DLT_EN10MB;
    return DECAP_OK;
}

/* ERSPAN (draft-foschiano-erspan): type II has an 8-byte header (version 1), type III a
 * 12-byte one (version 2), followed by 8 more bytes when its O bit says so. */
static int erspan_inner(uint16_t proto, const uint8_t *h, size_t len, const uint8_t **inner,
                        size_t *inner_len, int *inner_dlt)
{
    size_t hl;
    if (proto == GRE_ERSPAN2) {
        if (len < 8 || h[0] >> 4 != 1)
            return -DECAP_E_TUNNEL;
        hl = 8;
    } else {
        if (len < 12 || h[0] >> 4 != 2)
            return -DECAP_E_TUNNEL;
        hl = (h[11] & 0x01) ? 20 : 12;
        if (len < hl)
            return -DECAP_E_TUNNEL;
    }
    *inner = h + hl;
    *inner_len = len - hl;
    *inner_dlt = DLT_EN10MB;
    return DECAP_OK;
}

/* GRE (RFC 2784, keys and sequence numbers RFC 2890), version 0. */
static int gre_inner(const uint8_t *g, size_t len, const uint8_t **inner, size_t *inner_len,
                     int *inner_dlt)
{
    if (len < 4)
        return -DECAP_E_TUNNEL;
    uint16_t flags = rd16(g), proto = rd16(g + 2);
    if ((flags & 0x0007) != 0 || (flags & 0x4000)) /* version 0, no source routing */
        return -DECAP_E_TUNNEL;
    size_t hl = 4 + ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) +
                ((flags & 0x1000) ? 4 : 0);
    if (len < hl)
        return -DECAP_E_TUNNEL;
    g += hl;
    len -= hl;
    switch (proto) {
    case GRE_TEB:
        *inner_dlt = DLT_EN10MB;
        break;
    case ETH_IPV4:
    case ETH_IPV6:
        *inner_dlt = LINKTYPE_RAW;
        break;
    case GRE_ERSPAN2:
    case GRE_ERSPAN3:
        return erspan_inner(proto, g, len, inner, inner_len, inner_dlt);
    default:
        return -DECAP_E_OTHER;
    }
    *inner = g;
    *inner_len = len;
    return DECAP_OK;
}

int decap_frame(const struct decap *d, int dlt, const uint8_t *buf, size_t len,
                const uint8_t **inner, size_t *inner_len, int *inner_dlt)
{
    long off = outer_ip(dlt, buf, len);
    if (off < 0)
        return -DECAP_E_LINK;
    const uint8_t *pl;
    size_t pl_len;
    uint8_t proto;
    int rc = outer_payload(buf + off, len - (size_t)off, &pl, &pl_len, &proto);
    if (rc != DECAP_OK)
        return rc;
    if (d->kind == DECAP_VXLAN && proto == PROTO_UDP)
        return vxlan_inner(d, pl, pl_len, inner, inner_len, inner_dlt);
    if (d->kind == DECAP_GRE && proto == PROTO_GRE)
        return gre_inner(pl, pl_len, inner, inner_len, inner_dlt);
    return -DECAP_E_OTHER;
}

int decap_apply(const struct decap *d, int *dlt, const uint8_t **buf, size_t *len)
{
    if (d->kind == DECAP_NONE)
        return DECAP_OK;
    return decap_frame(d, *dlt, *buf, *len, buf, len, dlt);
}

void decap_log_counts(const struct decap *d, const uint64_t err[DECAP_E_COUNT], const char *when)
{
    char name[32];
    uint64_t total = 0;
    if (d->kind == DECAP_NONE)
        return;
    for (int i = 1; i < DECAP_E_COUNT; i++)
        total += err[i];
    log_info("%s: decap %s: %llu captured packets not decapsulated (outer link %llu, outer IP "
             "%llu, fragments %llu, other protocols or ports %llu, bad tunnel headers %llu)",
             when, decap_str(d, name, sizeof(name)), (unsigned long long)total,
             (unsigned long long)err[DECAP_E_LINK], (unsigned long long)err[DECAP_E_IP],
             (unsigned long long)err[DECAP_E_FRAG], (unsigned long long)err[DECAP_E_OTHER],
             (unsigned long long)err[DECAP_E_TUNNEL]);
}
