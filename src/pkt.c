/*
 * pkt: decode link-layer frames down to IPv4/IPv6 + TCP, encode TCP segments
 * back into IP datagrams, and the Internet checksum both directions need.
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

/* LINKTYPE_RAW as written in pcap files; DLT_RAW is 12 or 14 depending on the OS. */
#define PKT_LINKTYPE_RAW 101

#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_IPV6 0x86dd
#define ETHERTYPE_VLAN 0x8100 /* IEEE 802.1Q */
#define ETHERTYPE_QINQ 0x88a8 /* IEEE 802.1ad service tag */
#define PKT_VLAN_MAX 2

#define IPPROTO_TCP_NUM 6
/* Extension headers we walk past before giving up (RFC 8200 4.1 gives no limit;
 * a real datagram carries one or two, and a chain costs work per header). */
#define PKT_IP6_EXT_MAX 8

enum {
    TCPOPT_EOL = 0,
    TCPOPT_NOP = 1,
    TCPOPT_MSS = 2,
    TCPOPT_WS = 3,
    TCPOPT_SACK_PERM = 4,
    TCPOPT_SACK = 5,
    TCPOPT_TS = 8,
};

/* RFC 7323 2.3: a larger shift "MUST use 14 instead". */
#define TCP_WS_MAX 14

/* Big-endian accessors. Callers have checked that the bytes exist. */
static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

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
            return PKT_E_TCPOPT;
        olen = buf[i + 1];
        if (olen < 2 || olen > len - i)
            return PKT_E_TCPOPT;

        const uint8_t *v = buf + i + 2;

        switch (kind) {
        case TCPOPT_MSS:
            if (olen != 4)
                return PKT_E_TCPOPT;
            o->has_mss = true;
            o->mss = rd16(v);
            break;
        case TCPOPT_WS:
            if (olen != 3)
                return PKT_E_TCPOPT;
            o->has_ws = true;
            o->wscale = v[0] > TCP_WS_MAX ? TCP_WS_MAX : v[0];
            break;
        case TCPOPT_SACK_PERM:
            if (olen != 2)
                return PKT_E_TCPOPT;
            o->sack_ok = true;
            break;
        case TCPOPT_SACK: {
            /* RFC 2018 3: length 2 + 8n for n blocks; 40 option bytes hold at most 4. */
            unsigned n;

            if (olen < 10 || (olen - 2) % 8 != 0)
                return PKT_E_TCPOPT;
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
                return PKT_E_TCPOPT;
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
                return PKT_E_IPHDR;
            __attribute__((fallthrough));
        case 43: /* routing, RFC 8200 4.4 */
        case 60: /* destination options, RFC 8200 4.6 */
            if (o + 2 > ip_len)
                return PKT_E_IPHDR;
            if (o + 2 > cap)
                return PKT_E_TRUNC;
            hlen = ((size_t)buf[o + 1] + 1) * 8;
            break;
        case 44: { /* fragment, RFC 8200 4.5: fixed 8 bytes */
            uint16_t fo;

            if (o + 8 > ip_len)
                return PKT_E_IPHDR;
            if (o + 8 > cap)
                return PKT_E_TRUNC;
            fo = rd16(buf + o + 2);
            if ((fo & 0xfff8) != 0 || (fo & 1) != 0)
                return PKT_E_FRAG;
            hlen = 8;
            break;
        }
        default:
            return PKT_OK;
        }
        if (n >= PKT_IP6_EXT_MAX)
            return PKT_E_IPHDR;
        if (o + hlen > ip_len)
            return PKT_E_IPHDR;
        if (o + hlen > cap)
            return PKT_E_TRUNC;
        *nh = buf[o];
        *off = o + hlen;
    }
}

int pkt_parse_ip(struct pkt *p, const uint8_t *buf, size_t len, unsigned flags)
{
    bool hdronly = (flags & PKT_PARSE_HDRONLY) != 0;
    size_t ip_len, ip_hlen, cap, tcp_hlen;
    uint8_t proto;
    int err;

    memset(p, 0, sizeof(*p));
    if (len < 1)
        return PKT_E_TRUNC;

    switch (buf[0] >> 4) {
    case 4: {
        uint16_t frag;

        if (len < PKT_IP4_HLEN)
            return PKT_E_TRUNC;
        ip_hlen = (size_t)(buf[0] & 0x0f) * 4;
        ip_len = rd16(buf + 2);
        if (ip_hlen < PKT_IP4_HLEN || ip_len < ip_hlen)
            return PKT_E_IPHDR;
        if (len < ip_hlen || (!hdronly && len < ip_len))
            return PKT_E_TRUNC;
        /* RFC 791: MF set or a non-zero offset means part of a larger datagram. */
        frag = rd16(buf + 6);
        if ((frag & 0x3fff) != 0)
            return PKT_E_FRAG;
        proto = buf[9];
        p->af = AF_INET;
        p->ttl = buf[8];
        addr_set_v4(&p->t.src, buf + 12);
        addr_set_v4(&p->t.dst, buf + 16);
        cap = len < ip_len ? len : ip_len;
        break;
    }
    case 6: {
        size_t plen;

        if (len < PKT_IP6_HLEN)
            return PKT_E_TRUNC;
        plen = rd16(buf + 4);
        /* Payload length 0 announces a jumbogram (RFC 2675); we do not follow
         * its hop-by-hop length, and no TCP segment fits in zero bytes anyway. */
        if (plen == 0)
            return PKT_E_IPHDR;
        ip_len = PKT_IP6_HLEN + plen;
        if (!hdronly && len < ip_len)
            return PKT_E_TRUNC;
        cap = len < ip_len ? len : ip_len;
        ip_hlen = PKT_IP6_HLEN;
        proto = buf[6];
        err = ip6_walk_ext(buf, cap, ip_len, &ip_hlen, &proto);
        if (err != PKT_OK)
            return err;
        p->af = AF_INET6;
        p->ttl = buf[7];
        addr_set_v6(&p->t.src, buf + 8);
        addr_set_v6(&p->t.dst, buf + 24);
        break;
    }
    default:
        return PKT_E_VERSION;
    }
    if (proto != IPPROTO_TCP_NUM)
        return PKT_E_NOTTCP;

    /* The TCP header must lie inside the datagram (else the header is lying:
     * TCPHDR) and inside the capture (else we simply lack bytes: TRUNC). */
    if (ip_hlen + PKT_TCP_HLEN > ip_len)
        return PKT_E_TCPHDR;
    if (ip_hlen + PKT_TCP_HLEN > cap)
        return PKT_E_TRUNC;

    const uint8_t *th = buf + ip_hlen;

    tcp_hlen = (size_t)(th[12] >> 4) * 4;
    if (tcp_hlen < PKT_TCP_HLEN || ip_hlen + tcp_hlen > ip_len)
        return PKT_E_TCPHDR;
    if (ip_hlen + tcp_hlen > cap)
        return PKT_E_TRUNC;
    err = pkt_parse_tcp_opts(&p->opts, th + PKT_TCP_HLEN, tcp_hlen - PKT_TCP_HLEN);
    if (err != PKT_OK)
        return err;

    p->ip = buf;
    p->tcp = th;
    p->ip_len = (uint32_t)ip_len;
    p->cap_len = (uint32_t)cap;
    p->ip_hlen = (uint16_t)ip_hlen;
    p->tcp_hlen = (uint16_t)tcp_hlen;
    p->data_len = (uint32_t)(ip_len - ip_hlen - tcp_hlen);
    p->data = cap == ip_len ? th + tcp_hlen : NULL;
    p->t.sport = rd16(th);
    p->t.dport = rd16(th + 2);
    p->seq = rd32(th + 4);
    p->ack = rd32(th + 8);
    p->flags = th[13];
    p->win = rd16(th + 14);
    return PKT_OK;
}

/* Parse IP of the family a link header announced; a mismatch is a lying frame. */
static int parse_ip_af(struct pkt *p, int af, const uint8_t *buf, size_t len, unsigned flags)
{
    int want = af == AF_INET ? 4 : 6;

    if (len >= 1 && (buf[0] >> 4) != want) {
        memset(p, 0, sizeof(*p));
        return PKT_E_VERSION;
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
            return PKT_E_LINK;
        type = rd16(buf + off + 2);
        off += 4;
    }
    if (type == ETHERTYPE_IPV4)
        return parse_ip_af(p, AF_INET, buf + off, len - off, flags);
    if (type == ETHERTYPE_IPV6)
        return parse_ip_af(p, AF_INET6, buf + off, len - off, flags);
    return PKT_E_LINK;
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
            return PKT_E_LINK;
        return parse_ethertype(p, rd16(buf + 12), buf + 14, len - 14, flags);
    }
    if (dlt == DLT_LINUX_SLL) {
        /* packet type, ARPHRD, address length, address(8), protocol. */
        if (len < 16)
            return PKT_E_LINK;
        return parse_ethertype(p, rd16(buf + 14), buf + 16, len - 16, flags);
    }
    if (dlt == DLT_LINUX_SLL2) {
        /* protocol, reserved, ifindex, ARPHRD, packet type, address length, address(8). */
        if (len < 20)
            return PKT_E_LINK;
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
            return PKT_E_LINK;
        af = null_family(buf);
        if (af == 0)
            return PKT_E_LINK;
        return parse_ip_af(p, af, buf + 4, len - 4, flags);
    }
    return PKT_E_LINK;
}

/* Option bytes pkt_build writes for s; each group below is already a multiple of 4. */
static size_t spec_optlen(const struct pkt_spec *s)
{
    size_t n = 0;

    if (s->opt_mss)
        n += 4;
    if (s->opt_ts)
        n += 12; /* SACK_PERM + TS, or NOP NOP TS */
    else if (s->opt_sack_ok)
        n += 4; /* NOP NOP SACK_PERM */
    if (s->opt_ws)
        n += 4; /* NOP WS */
    return (n + 3) & ~(size_t)3;
}

/* 0 for a spec pkt_build would refuse (family unset, unknown or mixed), so a
 * caller that places the payload first never computes a bogus offset. */
size_t pkt_spec_hlen(const struct pkt_spec *s)
{
    size_t ip;

    if (s->t.src.af == AF_INET && s->t.dst.af == AF_INET)
        ip = PKT_IP4_HLEN;
    else if (s->t.src.af == AF_INET6 && s->t.dst.af == AF_INET6)
        ip = PKT_IP6_HLEN;
    else
        return 0;
    return ip + PKT_TCP_HLEN + spec_optlen(s);
}

uint32_t csum_add(uint32_t sum, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    uint64_t acc = sum;
    size_t i;

    /* Bytes are read one by one, so the buffer's alignment never matters. Only
     * the stream position does: an odd-length chunk is padded with a zero byte
     * (RFC 1071), so in a chain of calls only the last chunk may be odd. */
    for (i = 0; i + 1 < len; i += 2)
        acc += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (i < len)
        acc += (uint32_t)b[i] << 8;
    /* End-around carry: 2^32 == 1 modulo 0xffff, so folding keeps the sum. */
    while (acc >> 32)
        acc = (acc & 0xffffffffu) + (acc >> 32);
    return (uint32_t)acc;
}

uint16_t csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Pseudo-header sum: RFC 9293 3.1 (IPv4), RFC 8200 8.1 (IPv6). Protocol is TCP. */
static uint32_t csum_pseudo(const struct tuple *t, uint32_t tcp_len)
{
    uint32_t sum = 0;
    size_t alen = t->src.af == AF_INET ? 4 : 16;

    sum = csum_add(sum, t->src.u.b, alen);
    sum = csum_add(sum, t->dst.u.b, alen);
    /* For IPv4 the length is 16 bits; for IPv6 it is 32 bits, but the high
     * half is zero for any non-jumbo datagram, so both reduce to this. */
    sum += IPPROTO_TCP_NUM;
    sum += tcp_len >> 16;
    sum += tcp_len & 0xffff;
    return sum;
}

size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_spec *s)
{
    size_t hlen = pkt_spec_hlen(s), total, tcp_len, iph;
    uint8_t *th, *o;
    int af = s->t.src.af;

    if (hlen == 0)
        return 0;
    iph = af == AF_INET ? PKT_IP4_HLEN : PKT_IP6_HLEN;
    total = hlen + s->data_len;
    tcp_len = total - iph;
    if (total > cap)
        return 0;
    /* The length fields are 16 bits; we build no jumbograms. */
    if ((af == AF_INET && total > 0xffff) || (af == AF_INET6 && tcp_len > 0xffff))
        return 0;

    /* Payload first: memmove, since data may already lie inside buf. */
    if (s->data != NULL && s->data_len > 0)
        memmove(buf + hlen, s->data, s->data_len);

    if (af == AF_INET) {
        memset(buf, 0, PKT_IP4_HLEN);
        buf[0] = 0x45;
        wr16(buf + 2, (uint16_t)total);
        wr16(buf + 4, s->ip_id);
        wr16(buf + 6, 0x4000); /* DF: PMTU discovery, as the stacks we imitate do */
        buf[8] = s->ttl ? s->ttl : 64;
        buf[9] = IPPROTO_TCP_NUM;
        memcpy(buf + 12, s->t.src.u.b, 4);
        memcpy(buf + 16, s->t.dst.u.b, 4);
        wr16(buf + 10, csum_fold(csum_add(0, buf, PKT_IP4_HLEN)));
    } else {
        memset(buf, 0, PKT_IP6_HLEN);
        buf[0] = 0x60;
        wr16(buf + 4, (uint16_t)tcp_len);
        buf[6] = IPPROTO_TCP_NUM;
        buf[7] = s->ttl ? s->ttl : 64;
        memcpy(buf + 8, s->t.src.u.b, 16);
        memcpy(buf + 24, s->t.dst.u.b, 16);
    }

    th = buf + iph;
    memset(th, 0, hlen - iph);
    wr16(th, s->t.sport);
    wr16(th + 2, s->t.dport);
    wr32(th + 4, s->seq);
    wr32(th + 8, s->ack);
    th[12] = (uint8_t)(((hlen - iph) / 4) << 4);
    th[13] = s->flags;
    wr16(th + 14, s->win);

    /* The layout Linux uses, so replayed SYNs look like the originals:
     * MSS, SACK_PERM+TS (or NOP NOP TS / NOP NOP SACK_PERM), NOP WS. */
    o = th + PKT_TCP_HLEN;
    if (s->opt_mss) {
        *o++ = TCPOPT_MSS;
        *o++ = 4;
        o = wr16(o, s->opts.mss);
    }
    if (s->opt_ts) {
        if (s->opt_sack_ok) {
            *o++ = TCPOPT_SACK_PERM;
            *o++ = 2;
        } else {
            *o++ = TCPOPT_NOP;
            *o++ = TCPOPT_NOP;
        }
        *o++ = TCPOPT_TS;
        *o++ = 10;
        o = wr32(o, s->opts.tsval);
        o = wr32(o, s->opts.tsecr);
    } else if (s->opt_sack_ok) {
        *o++ = TCPOPT_NOP;
        *o++ = TCPOPT_NOP;
        *o++ = TCPOPT_SACK_PERM;
        *o++ = 2;
    }
    if (s->opt_ws) {
        *o++ = TCPOPT_NOP;
        *o++ = TCPOPT_WS;
        *o++ = 3;
        *o++ = s->opts.wscale > TCP_WS_MAX ? TCP_WS_MAX : s->opts.wscale;
    }
    /* Remaining bytes up to the data offset stay zero: EOL padding. */

    wr16(th + 16, csum_fold(csum_add(csum_pseudo(&s->t, (uint32_t)tcp_len), th, tcp_len)));
    return total;
}

bool pkt_tcp_csum_ok(const struct pkt *p)
{
    uint32_t tcp_len;

    if (p->tcp == NULL || p->data == NULL || p->cap_len < p->ip_len)
        return false;
    tcp_len = p->ip_len - p->ip_hlen;
    /* A correct segment sums, checksum field included, to 0xffff. With an IPv6
     * routing header the pseudo-header should use the final destination; we
     * check against the address in the IPv6 header. */
    return csum_fold(csum_add(csum_pseudo(&p->t, tcp_len), p->tcp, tcp_len)) == 0;
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

/* One's complement update of a 16-bit checksum field at sum for old -> new bytes
 * (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')), over len bytes (even). */
static void csum_replace(uint8_t *sum, const uint8_t *old, const uint8_t *new, size_t len)
{
    uint32_t acc = (uint16_t)~((uint16_t)(sum[0] << 8 | sum[1]));
    for (size_t i = 0; i + 1 < len; i += 2) {
        acc += (uint16_t)~((uint16_t)(old[i] << 8 | old[i + 1]));
        acc += (uint16_t)(new[i] << 8 | new[i + 1]);
    }
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    uint16_t r = (uint16_t)~acc;
    sum[0] = (uint8_t)(r >> 8);
    sum[1] = (uint8_t)r;
}

bool pkt_set_src(uint8_t *ip, struct pkt *p, const struct addr *a)
{
    if (a->af != p->af)
        return false;
    size_t alen = p->af == AF_INET ? 4 : 16;
    size_t off = p->af == AF_INET ? 12 : 8;
    uint8_t old[16];
    memcpy(old, ip + off, alen);
    memcpy(ip + off, a->u.b, alen);
    if (p->af == AF_INET)
        csum_replace(ip + 10, old, a->u.b, alen);
    /* The TCP checksum covers the pseudo-header, hence the addresses. */
    csum_replace(ip + p->ip_hlen + 16, old, a->u.b, alen);
    p->t.src = *a;
    return true;
}
