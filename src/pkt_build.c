/*
 * pkt_build: the writing half of pkt.h: IPv4/IPv6 + TCP datagrams built from a
 * struct pkt_spec, the Internet checksum (RFC 1071) and its incremental update
 * (RFC 1624) for a rewritten source address. Nothing is allocated; every write
 * stays within the caller's capacity.
 */
#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "pkt.h"
#include "pkt_impl.h"

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
    size_t i = 0;

    /* Four bytes at a time, loaded with memcpy so that the buffer's alignment never
     * matters: a big-endian 32-bit word is two 16-bit words, and 2^16 == 1 modulo
     * 0xffff, so it adds the same once folded (the top of a bulk copy's profile was
     * this loop, two bytes at a time). Only the stream position matters: an
     * odd-length chunk is padded with a zero byte (RFC 1071), so in a chain of calls
     * only the last chunk may be odd. */
    for (; i + 4 <= len; i += 4) {
        uint32_t w;
        memcpy(&w, b + i, 4);
        acc += ntohl(w);
    }
    for (; i + 1 < len; i += 2)
        acc += (uint32_t)(b[i] << 8 | b[i + 1]);
    if (i < len)
        acc += (uint32_t)b[i] << 8;
    /* End-around carry down to 16 bits (a nonzero sum stays nonzero), so that callers
     * may add small numbers to the result and chain it without overflow. */
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
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

/* The IP header of a datagram of total bytes (IPv4 with its checksum and DF). */
static void build_ip(uint8_t *buf, const struct pkt_spec *s, size_t total, size_t tcp_len)
{
    if (s->t.src.af == AF_INET) {
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
}

/*
 * The options the spec chooses, at o, in the layout Linux uses, so replayed SYNs
 * look like the originals: MSS, SACK_PERM+TS (or NOP NOP TS / NOP NOP SACK_PERM),
 * NOP WS. spec_optlen() bytes at most; the caller zeroed the rest (EOL padding).
 */
static void build_tcp_opts(uint8_t *o, const struct pkt_spec *s)
{
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
        *o = s->opts.wscale > TCP_WS_MAX ? TCP_WS_MAX : s->opts.wscale;
    }
}

size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_spec *s)
{
    size_t hlen = pkt_spec_hlen(s), total, tcp_len, iph;
    uint8_t *th;
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
    build_ip(buf, s, total, tcp_len);

    th = buf + iph;
    memset(th, 0, hlen - iph);
    wr16(th, s->t.sport);
    wr16(th + 2, s->t.dport);
    wr32(th + 4, s->seq);
    wr32(th + 8, s->ack);
    th[12] = (uint8_t)(((hlen - iph) / 4) << 4);
    th[13] = s->flags;
    wr16(th + 14, s->win);
    build_tcp_opts(th + PKT_TCP_HLEN, s);
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
