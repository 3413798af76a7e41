/*
 * pkt: decode link-layer frames down to IPv4/IPv6 + TCP (this file); encoding TCP
 * segments back into IP datagrams and the Internet checksum are in pkt_build.c.
 *
 * Every byte handed to the parsers came off the wire and may be hostile: each
 * read below is preceded by a length check against what was captured, and
 * each length field is checked against the one that encloses it. Nothing is
 * allocated; struct pkt points into the caller's buffer. Depends on addr.c,
 * libc and the libpcap headers (for the DLT_ numbers) only.
 */
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <pcap/pcap.h>

#include "pkt.h"
#include "pkt_impl.h"

/* LINKTYPE_RAW as written in pcap files; DLT_RAW is 12 or 14 depending on the OS. */
#define PKT_LINKTYPE_RAW 101

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100 /* IEEE 802.1Q */
#define ETHERTYPE_QINQ 0x88a8 /* IEEE 802.1ad service tag */
#define PKT_VLAN_MAX 2

/* Extension headers we walk past before giving up (RFC 8200 4.1 gives no limit;
 * a real datagram carries one or two, and a chain costs work per header). */
#define PKT_IP6_EXT_MAX 8

const char *pkt_err_str(int err)
{
    switch (err) {
    case PKT_OK:
        return "ok";
    case PKT_E_TRUNC:
        return "truncated";
    case PKT_E_VERSION:
        return "not IPv4 or IPv6";
    case PKT_E_IPHDR:
        return "bad IP header";
    case PKT_E_NOTTCP:
        return "not TCP";
    case PKT_E_FRAG:
        return "IP fragment";
    case PKT_E_TCPHDR:
        return "bad TCP header";
    case PKT_E_TCPOPT:
        return "bad TCP options";
    case PKT_E_LINK:
        return "bad or non-IP link-layer frame";
    default:
        return "unknown error";
    }
}

int pkt_parse_tcp_opts(struct tcp_opts *o, const uint8_t *buf, size_t len)
{
    size_t i = 0;

    memset(o, 0, sizeof(*o));
    while (i < len) {
        uint8_t kind = buf[i], olen;

        if (kind == TCPOPT_EOL)
            break;
        if (kind == TCPOPT_NOP) {
            i++;
            continue;
        }
        /* RFC 9293 3.2: every other option has a length octet counting kind and
         * length; below 2 the walk would never advance. */
        if (len - i < 2)
            return -PKT_E_TCPOPT;
        olen = buf[i + 1];
        if (olen < 2 || olen > len - i)
            return -PKT_E_TCPOPT;

        const uint8_t *v = buf + i + 2;

        switch (kind) {
        case TCPOPT_MSS:
            if (olen != 4)
                return -PKT_E_TCPOPT;
            o->has_mss = true;
            o->mss = rd16(v);
            break;
        case TCPOPT_WS:
            if (olen != 3)
                return -PKT_E_TCPOPT;
            o->has_ws = true;
            o->wscale = v[0] > TCP_WS_MAX ? TCP_WS_MAX : v[0];
            break;
        case TCPOPT_SACK_PERM:
            if (olen != 2)
                return -PKT_E_TCPOPT;
            o->sack_ok = true;
            break;
        case TCPOPT_SACK: {
            /* RFC 2018 3: length 2 + 8n for n blocks; 40 option bytes hold at most 4. */
            unsigned n;

            if (olen < 10 || (olen - 2) % 8 != 0)
                return -PKT_E_TCPOPT;
            n = (unsigned)(olen - 2) / 8;
            for (unsigned k = 0; k < n && o->nsack < PKT_SACK_MAX; k++) {
                o->sack[o->nsack][0] = rd32(v + 8 * k);
                o->sack[o->nsack][1] = rd32(v + 8 * k + 4);
                o->nsack++;
            }
            break;
        }
        case TCPOPT_TS:
            if (olen != 10)
                return -PKT_E_TCPOPT;
            o->has_ts = true;
            o->tsval = rd32(v);
            o->tsecr = rd32(v + 4);
            break;
        default:
            /* Unknown kinds are skipped by their length (RFC 9293 3.2, MUST-6). */
            break;
        }
        i += olen;
    }
    return PKT_OK;
}

/*
 * Walk the IPv6 extension headers from offset 40 up to the upper-layer header.
 * Only headers that are skipped without semantics of their own are accepted;
 * a fragment header passes only when it is atomic (RFC 6946: offset 0, M 0).
 * *off and *nh come back pointing at the upper-layer header.
 */
static int ip6_walk_ext(const uint8_t *buf, size_t cap, size_t ip_len, size_t *off, uint8_t *nh)
{
    for (int n = 0;; n++) {
        size_t o = *off, hlen;

        switch (*nh) {
        case 0: /* hop-by-hop: RFC 8200 4.3, only directly after the IPv6 header */
            if (n != 0)
                return -PKT_E_IPHDR;
            __attribute__((fallthrough));
        case 43: /* routing, RFC 8200 4.4 */
        case 60: /* destination options, RFC 8200 4.6 */
            if (o + 2 > ip_len)
                return -PKT_E_IPHDR;
            if (o + 2 > cap)
                return -PKT_E_TRUNC;
            hlen = ((size_t)buf[o + 1] + 1) * 8;
            break;
        case 44: { /* fragment, RFC 8200 4.5: fixed 8 bytes */
            uint16_t fo;

            if (o + 8 > ip_len)
                return -PKT_E_IPHDR;
            if (o + 8 > cap)
                return -PKT_E_TRUNC;
            fo = rd16(buf + o + 2);
            if ((fo & 0xfff8) != 0 || (fo & 1) != 0)
                return -PKT_E_FRAG;
            hlen = 8;
            break;
        }
        default:
            return PKT_OK;
        }
        if (n >= PKT_IP6_EXT_MAX)
            return -PKT_E_IPHDR;
        if (o + hlen > ip_len)
            return -PKT_E_IPHDR;
        if (o + hlen > cap)
            return -PKT_E_TRUNC;
        *nh = buf[o];
        *off = o + hlen;
    }
}

/* The lengths the IP header announces, as parse_ip4/parse_ip6 found them. */
struct ip_lens {
    size_t ip_len;  /* the datagram's length per its header */
    size_t ip_hlen; /* IP header, IPv6 extension headers included */
    size_t cap;     /* bytes of the datagram present */
    uint8_t proto;  /* the transport protocol after the IP header(s) */
};

static int parse_ip4(struct pkt *p, const uint8_t *buf, size_t len, bool hdronly,
                     struct ip_lens *l)
{
    uint16_t frag;

    if (len < PKT_IP4_HLEN)
        return -PKT_E_TRUNC;
    l->ip_hlen = (size_t)(buf[0] & 0x0f) * 4;
    l->ip_len = rd16(buf + 2);
    if (l->ip_hlen < PKT_IP4_HLEN || l->ip_len < l->ip_hlen)
        return -PKT_E_IPHDR;
    if (len < l->ip_hlen || (!hdronly && len < l->ip_len))
        return -PKT_E_TRUNC;
    /* RFC 791: MF set or a non-zero offset means part of a larger datagram. */
    frag = rd16(buf + 6);
    if ((frag & 0x3fff) != 0)
        return -PKT_E_FRAG;
    l->proto = buf[9];
    p->af = AF_INET;
    p->ttl = buf[8];
    addr_set_v4(&p->t.src, buf + 12);
    addr_set_v4(&p->t.dst, buf + 16);
    l->cap = len < l->ip_len ? len : l->ip_len;
    return PKT_OK;
}

static int parse_ip6(struct pkt *p, const uint8_t *buf, size_t len, bool hdronly,
                     struct ip_lens *l)
{
    size_t plen;
    int err;

    if (len < PKT_IP6_HLEN)
        return -PKT_E_TRUNC;
    plen = rd16(buf + 4);
    /* Payload length 0 announces a jumbogram (RFC 2675); we do not follow
     * its hop-by-hop length, and no TCP segment fits in zero bytes anyway. */
    if (plen == 0)
        return -PKT_E_IPHDR;
    l->ip_len = PKT_IP6_HLEN + plen;
    if (!hdronly && len < l->ip_len)
        return -PKT_E_TRUNC;
    l->cap = len < l->ip_len ? len : l->ip_len;
    l->ip_hlen = PKT_IP6_HLEN;
    l->proto = buf[6];
    err = ip6_walk_ext(buf, l->cap, l->ip_len, &l->ip_hlen, &l->proto);
    if (err != PKT_OK)
        return err;
    p->af = AF_INET6;
    p->ttl = buf[7];
    addr_set_v6(&p->t.src, buf + 8);
    addr_set_v6(&p->t.dst, buf + 24);
    return PKT_OK;
}

/* The TCP header at buf + l->ip_hlen, within the datagram and the capture. */
static int parse_tcp(struct pkt *p, const uint8_t *buf, const struct ip_lens *l)
{
    size_t tcp_hlen;
    int err;

    /* The TCP header must lie inside the datagram (else the header is lying:
     * TCPHDR) and inside the capture (else we simply lack bytes: TRUNC). */
    if (l->ip_hlen + PKT_TCP_HLEN > l->ip_len)
        return -PKT_E_TCPHDR;
    if (l->ip_hlen + PKT_TCP_HLEN > l->cap)
        return -PKT_E_TRUNC;

    const uint8_t *th = buf + l->ip_hlen;

    tcp_hlen = (size_t)(th[12] >> 4) * 4;
    if (tcp_hlen < PKT_TCP_HLEN || l->ip_hlen + tcp_hlen > l->ip_len)
        return -PKT_E_TCPHDR;
    if (l->ip_hlen + tcp_hlen > l->cap)
        return -PKT_E_TRUNC;
    err = pkt_parse_tcp_opts(&p->opts, th + PKT_TCP_HLEN, tcp_hlen - PKT_TCP_HLEN);
    if (err != PKT_OK)
        return err;

    p->ip = buf;
    p->tcp = th;
    p->ip_len = (uint32_t)l->ip_len;
    p->cap_len = (uint32_t)l->cap;
    p->ip_hlen = (uint16_t)l->ip_hlen;
    p->tcp_hlen = (uint16_t)tcp_hlen;
    p->data_len = (uint32_t)(l->ip_len - l->ip_hlen - tcp_hlen);
    p->data = l->cap == l->ip_len ? th + tcp_hlen : NULL;
    p->t.sport = rd16(th);
    p->t.dport = rd16(th + 2);
    p->seq = rd32(th + 4);
    p->ack = rd32(th + 8);
    p->flags = th[13];
    p->win = rd16(th + 14);
    return PKT_OK;
}

int pkt_parse_ip(struct pkt *p, const uint8_t *buf, size_t len, unsigned flags)
{
    bool hdronly = (flags & PKT_PARSE_HDRONLY) != 0;
    struct ip_lens l = {0};
    int err;

    memset(p, 0, sizeof(*p));
    if (len < 1)
        return -PKT_E_TRUNC;
    switch (buf[0] >> 4) {
    case 4:
        err = parse_ip4(p, buf, len, hdronly, &l);
        break;
    case 6:
        err = parse_ip6(p, buf, len, hdronly, &l);
        break;
    default:
        return -PKT_E_VERSION;
    }
    if (err != PKT_OK)
        return err;
    if (l.proto != IPPROTO_TCP_NUM)
        return -PKT_E_NOTTCP;
    return parse_tcp(p, buf, &l);
}

/* Parse IP of the family a link header announced; a mismatch is a lying frame. */
static int parse_ip_af(struct pkt *p, int af, const uint8_t *buf, size_t len, unsigned flags)
{
    int want = af == AF_INET ? 4 : 6;

    if (len >= 1 && (buf[0] >> 4) != want) {
        memset(p, 0, sizeof(*p));
        return -PKT_E_VERSION;
    }
    return pkt_parse_ip(p, buf, len, flags);
}

/* An Ethernet type field followed by up to two VLAN tags, then IP. */
static int parse_ethertype(struct pkt *p, uint16_t type, const uint8_t *buf, size_t len,
                           unsigned flags)
{
    size_t off = 0;

    for (int tags = 0; type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ; tags++) {
        /* Each tag is TCI (2) then the next type (2). */
        if (tags >= PKT_VLAN_MAX || len - off < 4)
            return -PKT_E_LINK;
        type = rd16(buf + off + 2);
        off += 4;
    }
    if (type == ETHERTYPE_IPV4)
        return parse_ip_af(p, AF_INET, buf + off, len - off, flags);
    if (type == ETHERTYPE_IPV6)
        return parse_ip_af(p, AF_INET6, buf + off, len - off, flags);
    return -PKT_E_LINK;
}

/*
 * BSD loopback: a 4-byte address family in the capturing host's byte order
 * (DLT_NULL) or in network order (DLT_LOOP). Files travel between hosts, so
 * both orders are accepted for both types. AF_INET6 is 10 on Linux, 24 on
 * NetBSD/OpenBSD, 28 on FreeBSD, 30 on macOS.
 */
static int null_family(const uint8_t *b)
{
    uint32_t be = rd32(b);
    uint32_t le = (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];

    if (be == 2 || le == 2)
        return AF_INET;
    for (int i = 0; i < 2; i++) {
        uint32_t v = i == 0 ? be : le;

        if (v == 10 || v == 24 || v == 28 || v == 30)
            return AF_INET6;
    }
    return 0;
}

bool pkt_link_supported(int dlt)
{
    return dlt == DLT_EN10MB || dlt == DLT_LINUX_SLL || dlt == DLT_LINUX_SLL2 || dlt == DLT_RAW ||
           dlt == PKT_LINKTYPE_RAW || dlt == DLT_IPV4 || dlt == DLT_IPV6 || dlt == DLT_NULL ||
           dlt == DLT_LOOP;
}

int pkt_parse_link(struct pkt *p, int dlt, const uint8_t *buf, size_t len, unsigned flags)
{
    memset(p, 0, sizeof(*p));

    if (dlt == DLT_EN10MB) {
        /* dst(6) src(6) type(2); a type below 0x0600 is an 802.3 length, not IP. */
        if (len < 14)
            return -PKT_E_LINK;
        return parse_ethertype(p, rd16(buf + 12), buf + 14, len - 14, flags);
    }
    if (dlt == DLT_LINUX_SLL) {
        /* packet type, ARPHRD, address length, address(8), protocol. */
        if (len < 16)
            return -PKT_E_LINK;
        return parse_ethertype(p, rd16(buf + 14), buf + 16, len - 16, flags);
    }
    if (dlt == DLT_LINUX_SLL2) {
        /* protocol, reserved, ifindex, ARPHRD, packet type, address length, address(8). */
        if (len < 20)
            return -PKT_E_LINK;
        return parse_ethertype(p, rd16(buf), buf + 20, len - 20, flags);
    }
    if (dlt == DLT_RAW || dlt == PKT_LINKTYPE_RAW)
        return pkt_parse_ip(p, buf, len, flags);
    if (dlt == DLT_IPV4)
        return parse_ip_af(p, AF_INET, buf, len, flags);
    if (dlt == DLT_IPV6)
        return parse_ip_af(p, AF_INET6, buf, len, flags);
    if (dlt == DLT_NULL || dlt == DLT_LOOP) {
        int af;

        if (len < 4)
            return -PKT_E_LINK;
        af = null_family(buf);
        if (af == 0)
            return -PKT_E_LINK;
        return parse_ip_af(p, af, buf + 4, len - 4, flags);
    }
    return -PKT_E_LINK;
}

/* snprintf at *pos without ever running past len; *pos saturates at len - 1. */
__attribute__((format(printf, 4, 5))) static void str_add(char *buf, size_t len, size_t *pos,
                                                          const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*pos + 1 >= len)
        return;
    va_start(ap, fmt);
    n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    *pos = (size_t)n >= len - *pos ? len - 1 : *pos + (size_t)n;
}

char *pkt_str(const struct pkt *p, char *buf, size_t len)
{
    /* tcpdump's flag letters and order, so logs read like its output. */
    static const struct {
        uint8_t f;
        char c;
    } fl[] = {
        {TCPF_FIN, 'F'}, {TCPF_SYN, 'S'}, {TCPF_RST, 'R'}, {TCPF_PSH, 'P'},
        {TCPF_ACK, '.'}, {TCPF_URG, 'U'}, {TCPF_ECE, 'E'}, {TCPF_CWR, 'W'},
    };
    char src[ADDR_STRLEN], dst[ADDR_STRLEN], f[9];
    const struct tcp_opts *o = &p->opts;
    size_t pos = 0, nf = 0;
    const char *sep = "";

    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
        if (p->flags & fl[i].f)
            f[nf++] = fl[i].c;
    f[nf] = '\0';

    str_add(buf, len, &pos, "%s > %s [%s] seq %u",
            addr_port_str(&p->t.src, p->t.sport, src, sizeof(src)),
            addr_port_str(&p->t.dst, p->t.dport, dst, sizeof(dst)), nf ? f : "none",
            (unsigned)p->seq);
    if (p->flags & TCPF_ACK)
        str_add(buf, len, &pos, " ack %u", (unsigned)p->ack);
    str_add(buf, len, &pos, " win %u len %u", (unsigned)p->win, (unsigned)p->data_len);

    if (!(o->has_mss || o->has_ws || o->sack_ok || o->has_ts || o->nsack))
        return buf;
    str_add(buf, len, &pos, " <");
    if (o->has_mss) {
        str_add(buf, len, &pos, "%smss %u", sep, (unsigned)o->mss);
        sep = ",";
    }
    if (o->has_ws) {
        str_add(buf, len, &pos, "%sws %u", sep, (unsigned)o->wscale);
        sep = ",";
    }
    if (o->sack_ok) {
        str_add(buf, len, &pos, "%ssackOK", sep);
        sep = ",";
    }
    if (o->has_ts) {
        str_add(buf, len, &pos, "%sts %u %u", sep, (unsigned)o->tsval, (unsigned)o->tsecr);
        sep = ",";
    }
    if (o->nsack) {
        str_add(buf, len, &pos, "%ssack %u", sep, (unsigned)o->nsack);
        for (unsigned i = 0; i < o->nsack && i < PKT_SACK_MAX; i++)
            str_add(buf, len, &pos, " {%u:%u}", (unsigned)o->sack[i][0], (unsigned)o->sack[i][1]);
    }
    str_add(buf, len, &pos, ">");
    return buf;
}
