/*
 * test_pkt: build/parse round trips for IPv4 and IPv6 with every option
 * combination, checksums against packets checked by an independent
 * implementation (and by tcpdump -vv when the arrays were made), every
 * truncation length, malformed IP/TCP headers and options, IPv6 extension
 * header chains and every link layer pkt_parse_link accepts.
 *
 * Parsed inputs are copied into heap buffers of exactly their length, so
 * AddressSanitizer sees any read past the end. Documentation addresses only
 * (RFC 5737, RFC 3849).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pcap/pcap.h>
#include <cmocka.h>

#include "pkt.h"

/* The SYN and PSH segments below: made by a separate script, then confirmed
 * by "tcpdump -vv" to carry correct checksums ("cksum 0xbfdd (correct)"). */
static const uint8_t syn_v4[60] = {
    0x45, 0x00, 0x00, 0x3c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x3c, 0x51, 0xc0, 0x00, 0x02,
    0x01, 0xc6, 0x33, 0x64, 0x02, 0x9c, 0x40, 0x00, 0x50, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00,
    0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xbf, 0xdd, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04,
    0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
};
static const uint8_t psh_v6[77] = {
    0x60, 0x00, 0x00, 0x00, 0x00, 0x25, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x50, 0x9c, 0x40, 0xff, 0xff, 0xff, 0xf0,
    0x01, 0x02, 0x03, 0x05, 0x80, 0x18, 0x01, 0xfd, 0x16, 0x1f, 0x00, 0x00, 0x01, 0x01, 0x08, 0x0a,
    0x00, 0x00, 0x1e, 0x61, 0x00, 0x00, 0x00, 0x64, 0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

/* ---- independent reference checksum: plain word sum over one flat buffer ---- */

static uint16_t ref_csum(const uint8_t *b, size_t n)
{
    uint64_t s = 0;

    for (size_t i = 0; i < n; i++)
        s += (i & 1) ? b[i] : (uint64_t)b[i] << 8;
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

/* Build the pseudo-header and the segment side by side, then sum: true if 0. */
static bool ref_tcp_ok(const uint8_t *ip, size_t tcp_off)
{
    static uint8_t flat[40 + 70000];
    size_t n = 0, seg;

    if (ip[0] >> 4 == 4) {
        seg = (size_t)(ip[2] << 8 | ip[3]) - tcp_off;
        memcpy(flat, ip + 12, 8);
        n = 8;
        flat[n++] = 0;
        flat[n++] = 6;
        flat[n++] = (uint8_t)(seg >> 8);
        flat[n++] = (uint8_t)seg;
    } else {
        seg = 40 + (size_t)(ip[4] << 8 | ip[5]) - tcp_off;
        memcpy(flat, ip + 8, 32);
        n = 32;
        flat[n++] = 0;
        flat[n++] = 0;
        flat[n++] = (uint8_t)(seg >> 8);
        flat[n++] = (uint8_t)seg;
        flat[n++] = 0;
        flat[n++] = 0;
        flat[n++] = 0;
        flat[n++] = 6;
    }
    memcpy(flat + n, ip + tcp_off, seg);
    return ref_csum(flat, n + seg) == 0;
}

/* ---- helpers ---- */

static uint8_t *dup_exact(const uint8_t *b, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);

    assert_non_null(d);
    if (n)
        memcpy(d, b, n);
    return d;
}

/* Parse a copy of exactly n bytes so ASan catches any over-read. */
static int parse_n(struct pkt *p, const uint8_t *b, size_t n, unsigned flags)
{
    uint8_t *d = dup_exact(b, n);
    int r = pkt_parse_ip(p, d, n, flags);

    free(d);
    /* p's pointers now dangle; callers look only at the scalar fields. */
    return r;
}

static int parse_link_n(struct pkt *p, int dlt, const uint8_t *b, size_t n, unsigned flags)
{
    uint8_t *d = dup_exact(b, n);
    int r = pkt_parse_link(p, dlt, d, n, flags);

    free(d);
    return r;
}

static void set_addrs(struct pkt_spec *s, int af)
{
    if (af == AF_INET) {
        assert_true(addr_parse(&s->t.src, "192.0.2.1"));
        assert_true(addr_parse(&s->t.dst, "198.51.100.2"));
    } else {
        assert_true(addr_parse(&s->t.src, "2001:db8::1"));
        assert_true(addr_parse(&s->t.dst, "2001:db8:ffff::2"));
    }
}

static uint8_t payload[2000];

static void fill_payload(void)
{
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 3);
}

/* A data segment with MSS+TS options and 5 bytes of payload. */
static size_t build_simple(uint8_t *buf, size_t cap, int af, uint32_t dlen)
{
    struct pkt_spec s;

    memset(&s, 0, sizeof(s));
    set_addrs(&s, af);
    s.t.sport = 40000;
    s.t.dport = 80;
    s.seq = 1000;
    s.ack = 2000;
    s.win = 512;
    s.flags = TCPF_ACK | TCPF_PSH;
    s.opt_ts = true;
    s.opts.tsval = 11;
    s.opts.tsecr = 22;
    fill_payload();
    s.data = payload;
    s.data_len = dlen;
    return pkt_build(buf, cap, &s);
}

/* ---- tests ---- */

static void test_err_str(void **state)
{
    (void)state;
    for (int i = 0; i < PKT_E_COUNT; i++) {
        const char *s = pkt_err_str(i);

        assert_non_null(s);
        assert_string_not_equal(s, pkt_err_str(-1));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(s, pkt_err_str(j));
    }
    assert_string_equal(pkt_err_str(PKT_E_COUNT), pkt_err_str(1000));
}

static void roundtrip_one(int af, unsigned mask, uint32_t dlen, uint8_t flags)
{
    static uint8_t buf[4096];
    struct pkt_spec s;
    struct pkt p;
    size_t n, hlen;

    memset(&s, 0, sizeof(s));
    set_addrs(&s, af);
    s.t.sport = (uint16_t)(40000 + mask);
    s.t.dport = 80;
    s.seq = 0xfffffff0u + mask;
    s.ack = 0x80000000u + dlen;
    s.win = (uint16_t)(65535 - mask);
    s.flags = flags;
    s.ttl = (mask & 1) ? 0 : 33;
    s.ip_id = (uint16_t)(mask * 7919);
    s.opt_mss = mask & 1;
    s.opt_ws = mask & 2;
    s.opt_sack_ok = mask & 4;
    s.opt_ts = mask & 8;
    s.opts.mss = (uint16_t)(1400 + mask);
    s.opts.wscale = (uint8_t)(mask + dlen % 3); /* reaches 15+: clamped to 14 */
    s.opts.tsval = 0xdeadbeef;
    s.opts.tsecr = mask;
    s.data = payload;
    s.data_len = dlen;

    hlen = pkt_spec_hlen(&s);
    assert_int_equal(hlen % 4, 0);
    memset(buf, 0xee, sizeof(buf));
    n = pkt_build(buf, sizeof(buf), &s);
    assert_int_equal(n, hlen + dlen);
    assert_int_equal(parse_n(&p, buf, n, 0), PKT_OK);
    assert_int_equal(pkt_parse_ip(&p, buf, n, 0), PKT_OK);

    assert_int_equal(p.af, af);
    assert_true(tuple_eq(&p.t, &s.t));
    assert_int_equal(p.seq, s.seq);
    assert_int_equal(p.ack, s.ack);
    assert_int_equal(p.win, s.win);
    assert_int_equal(p.flags, flags);
    assert_int_equal(p.ttl, s.ttl ? s.ttl : 64);
    assert_int_equal(p.ip_len, n);
    assert_int_equal(p.cap_len, n);
    assert_int_equal(p.ip_hlen, af == AF_INET ? 20 : 40);
    assert_int_equal(p.ip_hlen + p.tcp_hlen, hlen);
    assert_int_equal(p.data_len, dlen);
    assert_ptr_equal(p.data, buf + hlen);
    if (dlen)
        assert_memory_equal(p.data, payload, dlen);
    assert_ptr_equal(p.tcp, buf + p.ip_hlen);

    assert_int_equal(p.opts.has_mss, s.opt_mss);
    assert_int_equal(p.opts.has_ws, s.opt_ws);
    assert_int_equal(p.opts.sack_ok, s.opt_sack_ok);
    assert_int_equal(p.opts.has_ts, s.opt_ts);
    assert_int_equal(p.opts.nsack, 0);
    if (s.opt_mss)
        assert_int_equal(p.opts.mss, s.opts.mss);
    if (s.opt_ws)
        assert_int_equal(p.opts.wscale, s.opts.wscale > 14 ? 14 : s.opts.wscale);
    if (s.opt_ts) {
        assert_int_equal(p.opts.tsval, s.opts.tsval);
        assert_int_equal(p.opts.tsecr, s.opts.tsecr);
    }

    assert_true(pkt_tcp_csum_ok(&p));
    assert_true(ref_tcp_ok(buf, p.ip_hlen));
    if (af == AF_INET) {
        assert_int_equal(ref_csum(buf, 20), 0);
        assert_int_equal(buf[6] & 0x40, 0x40); /* DF */
        assert_int_equal(buf[4] << 8 | buf[5], s.ip_id);
    }
    /* Nothing written past the datagram. */
    assert_int_equal(buf[n], 0xee);

    /* Any single flipped bit in the segment breaks the checksum. */
    buf[n - 1] ^= 0x01;
    assert_false(pkt_tcp_csum_ok(&p));
    buf[n - 1] ^= 0x01;
    assert_true(pkt_tcp_csum_ok(&p));
}

static void test_roundtrip(void **state)
{
    static const uint32_t lens[] = {0, 1, 2, 3, 1460, 1461};
    static const uint8_t flags[] = {
        TCPF_SYN, TCPF_SYN | TCPF_ACK, TCPF_ACK | TCPF_PSH, TCPF_FIN | TCPF_ACK, TCPF_RST, 0xff};

    (void)state;
    fill_payload();
    for (int f = 0; f < 2; f++)
        for (unsigned mask = 0; mask < 16; mask++)
            for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
                for (size_t k = 0; k < sizeof(flags); k++)
                    roundtrip_one(f ? AF_INET6 : AF_INET, mask, lens[l], flags[k]);
}

static void test_golden_v4(void **state)
{
    uint8_t buf[128], bad[sizeof(syn_v4)];
    struct pkt_spec s;
    struct pkt p;

    (void)state;
    assert_true(ref_tcp_ok(syn_v4, 20));
    assert_int_equal(ref_csum(syn_v4, 20), 0);

    memset(&s, 0, sizeof(s));
    set_addrs(&s, AF_INET);
    s.t.sport = 40000;
    s.t.dport = 80;
    s.seq = 0x01020304;
    s.flags = TCPF_SYN;
    s.win = 64240;
    s.ip_id = 0x1234;
    s.opt_mss = s.opt_sack_ok = s.opt_ts = s.opt_ws = true;
    s.opts.mss = 1460;
    s.opts.tsval = 100;
    s.opts.wscale = 7;
    assert_int_equal(pkt_build(buf, sizeof(buf), &s), sizeof(syn_v4));
    assert_memory_equal(buf, syn_v4, sizeof(syn_v4));

    assert_int_equal(parse_n(&p, syn_v4, sizeof(syn_v4), 0), PKT_OK);
    memcpy(bad, syn_v4, sizeof(bad));
    assert_int_equal(pkt_parse_ip(&p, bad, sizeof(bad), 0), PKT_OK);
    assert_true(pkt_tcp_csum_ok(&p));
    assert_int_equal(p.opts.mss, 1460);
    assert_int_equal(p.opts.wscale, 7);
    /* A changed address breaks the TCP checksum through the pseudo-header. */
    bad[15] ^= 0x80;
    assert_int_equal(pkt_parse_ip(&p, bad, sizeof(bad), 0), PKT_OK);
    assert_false(pkt_tcp_csum_ok(&p));
}

static void test_golden_v6(void **state)
{
    uint8_t buf[128];
    struct pkt_spec s;
    struct pkt p;

    (void)state;
    assert_true(ref_tcp_ok(psh_v6, 40));
    memset(&s, 0, sizeof(s));
    assert_true(addr_parse(&s.t.src, "2001:db8::1"));
    assert_true(addr_parse(&s.t.dst, "2001:db8::2"));
    s.t.sport = 80;
    s.t.dport = 40000;
    s.seq = 0xfffffff0;
    s.ack = 0x01020305;
    s.flags = TCPF_PSH | TCPF_ACK;
    s.win = 509;
    s.opt_ts = true;
    s.opts.tsval = 7777;
    s.opts.tsecr = 100;
    s.data = (const uint8_t *)"hello";
    s.data_len = 5;
    assert_int_equal(pkt_spec_hlen(&s), 72);
    assert_int_equal(pkt_build(buf, sizeof(buf), &s), sizeof(psh_v6));
    assert_memory_equal(buf, psh_v6, sizeof(psh_v6));

    memcpy(buf, psh_v6, sizeof(psh_v6));
    assert_int_equal(pkt_parse_ip(&p, buf, sizeof(psh_v6), 0), PKT_OK);
    assert_true(pkt_tcp_csum_ok(&p));
    assert_int_equal(p.data_len, 5);
    assert_memory_equal(p.data, "hello", 5);
    assert_int_equal(p.ttl, 64);
    buf[76] ^= 1; /* last, odd payload byte */
    assert_false(pkt_tcp_csum_ok(&p));
}

static void test_build_in_place(void **state)
{
    uint8_t buf[256];
    struct pkt_spec s;
    struct pkt p;
    size_t hlen, n;

    (void)state;
    for (int f = 0; f < 2; f++) {
        memset(&s, 0, sizeof(s));
        set_addrs(&s, f ? AF_INET6 : AF_INET);
        s.opt_mss = true;
        s.opts.mss = 536;
        s.data_len = 3;
        hlen = pkt_spec_hlen(&s);
        memset(buf, 0, sizeof(buf));
        memcpy(buf + hlen, "abc", 3);
        n = pkt_build(buf, sizeof(buf), &s);
        assert_int_equal(n, hlen + 3);
        assert_memory_equal(buf + hlen, "abc", 3);
        assert_int_equal(pkt_parse_ip(&p, buf, n, 0), PKT_OK);
        assert_true(pkt_tcp_csum_ok(&p));
        assert_true(ref_tcp_ok(buf, p.ip_hlen));
        assert_int_equal(p.flags, 0);
    }
}

static void test_build_invalid(void **state)
{
    uint8_t buf[128], ref[128];
    struct pkt_spec s;
    size_t full;

    (void)state;
    fill_payload();
    for (int f = 0; f < 2; f++) {
        memset(&s, 0, sizeof(s));
        set_addrs(&s, f ? AF_INET6 : AF_INET);
        s.opt_ts = s.opt_ws = true;
        s.data = payload;
        s.data_len = 7;
        full = pkt_spec_hlen(&s) + 7;
        /* Too small a buffer: refused before anything is written. */
        for (size_t cap = 0; cap < full; cap++) {
            memset(buf, 0x5a, sizeof(buf));
            memcpy(ref, buf, sizeof(ref));
            assert_int_equal(pkt_build(buf, cap, &s), 0);
            assert_memory_equal(buf, ref, sizeof(buf));
        }
        assert_int_equal(pkt_build(buf, full, &s), full);
    }

    memset(&s, 0, sizeof(s));
    assert_int_equal(pkt_spec_hlen(&s), 0);
    assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0); /* unset */
    assert_true(addr_parse(&s.t.src, "192.0.2.1"));
    assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0); /* dst unset */
    assert_true(addr_parse(&s.t.dst, "2001:db8::2"));
    assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0); /* mixed */
    assert_true(addr_parse(&s.t.dst, "192.0.2.2"));
    assert_int_equal(pkt_build(buf, sizeof(buf), &s), 40);
    s.t.src.af = AF_UNIX;
    s.t.dst.af = AF_UNIX;
    assert_int_equal(pkt_build(buf, sizeof(buf), &s), 0);
}

static void test_build_max(void **state)
{
    size_t cap = 70000;
    uint8_t *big = calloc(1, cap);
    struct pkt_spec s;
    struct pkt p;

    (void)state;
    assert_non_null(big);
    memset(&s, 0, sizeof(s));
    set_addrs(&s, AF_INET);
    s.data_len = 65535 - 40; /* data NULL: payload is the zeroes already there */
    assert_int_equal(pkt_build(big, cap, &s), 65535);
    assert_int_equal(pkt_parse_ip(&p, big, 65535, 0), PKT_OK);
    assert_true(pkt_tcp_csum_ok(&p));
    s.data_len++;
    assert_int_equal(pkt_build(big, cap, &s), 0);

    memset(&s, 0, sizeof(s));
    set_addrs(&s, AF_INET6);
    s.data_len = 65535 - 20;
    assert_int_equal(pkt_build(big, cap, &s), 65575);
    assert_int_equal(pkt_parse_ip(&p, big, 65575, 0), PKT_OK);
    assert_int_equal(p.data_len, 65515);
    assert_true(pkt_tcp_csum_ok(&p));
    assert_true(ref_tcp_ok(big, 40));
    s.data_len++;
    assert_int_equal(pkt_build(big, cap, &s), 0);
    free(big);
}

/* Every prefix shorter than the datagram fails without HDRONLY and parses with
 * it exactly when the IP and TCP headers are present. */
static void truncate_all(const uint8_t *pk, size_t full)
{
    struct pkt whole, p;
    size_t hdr;

    assert_int_equal(parse_n(&whole, pk, full, 0), PKT_OK);
    hdr = (size_t)whole.ip_hlen + whole.tcp_hlen;
    for (size_t n = 0; n < full; n++) {
        int r = parse_n(&p, pk, n, 0);

        assert_int_not_equal(r, PKT_OK);
        uint8_t *d = dup_exact(pk, n);
        r = pkt_parse_ip(&p, d, n, PKT_PARSE_HDRONLY);
        if (n >= hdr) {
            assert_int_equal(r, PKT_OK);
            assert_null(p.data);
            assert_int_equal(p.data_len, whole.data_len);
            assert_int_equal(p.cap_len, n);
            assert_int_equal(p.ip_len, full);
            assert_int_equal(p.seq, whole.seq);
            assert_false(pkt_tcp_csum_ok(&p));
        } else {
            assert_int_not_equal(r, PKT_OK);
        }
        free(d);
    }
    assert_int_equal(parse_n(&p, pk, full, PKT_PARSE_HDRONLY), PKT_OK);
}

static void test_truncated(void **state)
{
    uint8_t buf[256];
    size_t n;

    (void)state;
    truncate_all(syn_v4, sizeof(syn_v4));
    truncate_all(psh_v6, sizeof(psh_v6));
    n = build_simple(buf, sizeof(buf), AF_INET, 33);
    truncate_all(buf, n);
    n = build_simple(buf, sizeof(buf), AF_INET6, 1);
    truncate_all(buf, n);
}

static void test_eth_padding(void **state)
{
    uint8_t buf[128];
    struct pkt p;
    size_t n;

    (void)state;
    memset(buf, 0, sizeof(buf));
    n = build_simple(buf, sizeof(buf), AF_INET, 1); /* 53 bytes */
    assert_int_equal(parse_n(&p, buf, n + 7, 0), PKT_OK);
    assert_int_equal(pkt_parse_ip(&p, buf, n + 7, 0), PKT_OK);
    assert_int_equal(p.ip_len, n);
    assert_int_equal(p.cap_len, n);
    assert_int_equal(p.data_len, 1);
    assert_true(pkt_tcp_csum_ok(&p));
    n = build_simple(buf, sizeof(buf), AF_INET6, 1);
    assert_int_equal(pkt_parse_ip(&p, buf, n + 20, 0), PKT_OK);
    assert_int_equal(p.cap_len, n);
    assert_true(pkt_tcp_csum_ok(&p));
}

static void test_bad_ip4(void **state)
{
    uint8_t b[128], w[128];
    struct pkt p;
    size_t n;

    (void)state;
    n = build_simple(b, sizeof(b), AF_INET, 3); /* 20 + 32 + 3 */
    assert_int_equal(n, 55);

#define MUT(stmt, want, fl)                                                                        \
    do {                                                                                           \
        memcpy(w, b, n);                                                                           \
        stmt;                                                                                      \
        assert_int_equal(parse_n(&p, w, n, fl), want);                                             \
    } while (0)

    MUT((void)0, PKT_OK, 0);
    MUT(w[0] = 0x44, -PKT_E_IPHDR, 0);              /* IHL 4 */
    MUT(w[0] = 0x40, -PKT_E_IPHDR, 0);              /* IHL 0 */
    MUT(w[0] = 0x4f, -PKT_E_IPHDR, 0);              /* IHL 60 > total length 55 */
    MUT(w[0] = 0x4b, -PKT_E_TCPHDR, 0);             /* IHL 44: no room left for TCP */
    MUT((w[0] = 0x4f, w[3] = 40), -PKT_E_IPHDR, 0); /* total length < IHL */
    MUT(w[3] = 19, -PKT_E_IPHDR, 0);                /* total length < 20 */
    MUT(w[3] = 30, -PKT_E_TCPHDR, 0);               /* no room for TCP */
    MUT(w[3] = 51, -PKT_E_TCPHDR, 0);               /* options past the datagram */
    MUT(w[3] = 56, -PKT_E_TRUNC, 0);                /* longer than captured */
    MUT(w[3] = 56, PKT_OK, PKT_PARSE_HDRONLY);
    MUT((w[2] = 0xff, w[3] = 0xff), PKT_OK, PKT_PARSE_HDRONLY);
    MUT(w[0] = 0x55, -PKT_E_VERSION, 0);
    MUT(w[0] = 0x05, -PKT_E_VERSION, 0);
    MUT(w[0] = 0xf5, -PKT_E_VERSION, 0);
    MUT(w[6] = 0x20, -PKT_E_FRAG, 0); /* MF */
    MUT(w[7] = 0x01, -PKT_E_FRAG, 0); /* offset 8 */
    MUT(w[6] = 0x1f, -PKT_E_FRAG, 0);
    MUT(w[6] = 0x00, PKT_OK, 0); /* DF clear */
    MUT(w[9] = 17, -PKT_E_NOTTCP, 0);
    MUT(w[9] = 1, -PKT_E_NOTTCP, 0);
    MUT(w[32] = 0x40, -PKT_E_TCPHDR, 0); /* data offset 4 */
    MUT(w[32] = 0x00, -PKT_E_TCPHDR, 0);
    MUT(w[32] = 0xf0, -PKT_E_TCPHDR, 0); /* 60 bytes: beyond datagram */
    MUT(w[32] = 0x50, PKT_OK, 0);       /* 20: options become payload */
    MUT(w[32] = 0x70, -PKT_E_TCPOPT, 0); /* 28: cuts the TS option */
    MUT(w[43] = 9, -PKT_E_TCPOPT, 0);    /* TS length 9 */
    MUT(w[43] = 0, -PKT_E_TCPOPT, 0);    /* zero-length option */
    MUT(w[43] = 13, -PKT_E_TCPOPT, 0);   /* runs past the options */
    MUT(w[42] = 2, -PKT_E_TCPOPT, 0);    /* MSS with length 10 */
#undef MUT

    memcpy(w, b, n);
    w[32] = 0x50;
    assert_int_equal(pkt_parse_ip(&p, w, n, 0), PKT_OK);
    assert_int_equal(p.tcp_hlen, 20);
    assert_int_equal(p.data_len, 55 - 40);
    assert_ptr_equal(p.data, w + 40);

    /* IPv4 options (IHL 6) are skipped. */
    memset(w, 0, sizeof(w));
    memcpy(w, b, 20);
    w[0] = 0x46;
    w[3] = (uint8_t)(n + 4);
    w[20] = 1, w[21] = 1, w[22] = 1, w[23] = 0; /* NOP NOP NOP EOL */
    memcpy(w + 24, b + 20, n - 20);
    assert_int_equal(parse_n(&p, w, n + 4, 0), PKT_OK);
    assert_int_equal(p.ip_hlen, 24);
    assert_int_equal(p.data_len, 3);

    assert_int_equal(parse_n(&p, b, 0, 0), -PKT_E_TRUNC);
    assert_int_equal(parse_n(&p, b, 0, PKT_PARSE_HDRONLY), -PKT_E_TRUNC);
    assert_int_equal(parse_n(&p, b, 19, PKT_PARSE_HDRONLY), -PKT_E_TRUNC);
}

/* IPv6 + a chain of extension headers + the TCP segment of seg. */
struct ext {
    uint8_t type;
    uint8_t len8; /* Hdr Ext Len, or the fragment's offset/flags low byte */
    uint16_t fo;  /* fragment only: offset << 3 | M */
};

static size_t mk_ext6(uint8_t *out, const uint8_t *seg6, size_t seg6_len, const struct ext *e,
                      size_t ne, uint8_t last)
{
    size_t off = 40, tcp_len = seg6_len - 40;

    memcpy(out, seg6, 40);
    out[6] = ne ? e[0].type : last;
    for (size_t i = 0; i < ne; i++) {
        size_t hl = e[i].type == 44 ? 8 : ((size_t)e[i].len8 + 1) * 8;

        memset(out + off, 0, hl);
        out[off] = i + 1 < ne ? e[i + 1].type : last;
        if (e[i].type == 44) {
            out[off + 2] = (uint8_t)(e[i].fo >> 8);
            out[off + 3] = (uint8_t)e[i].fo;
            out[off + 7] = 0x2a; /* identification */
        } else {
            out[off + 1] = e[i].len8;
            out[off + 2] = 1; /* PadN */
            out[off + 3] = (uint8_t)(hl - 4);
        }
        off += hl;
    }
    memcpy(out + off, seg6 + 40, tcp_len);
    off += tcp_len;
    out[4] = (uint8_t)((off - 40) >> 8);
    out[5] = (uint8_t)(off - 40);
    return off;
}

static void test_ip6_ext(void **state)
{
    uint8_t seg[256], b[1024];
    struct pkt p, plain;
    size_t sn, n;

    (void)state;
    sn = build_simple(seg, sizeof(seg), AF_INET6, 3);
    assert_int_equal(pkt_parse_ip(&plain, seg, sn, 0), PKT_OK);

    const struct ext chain[] = {{0, 0, 0}, {60, 1, 0}, {43, 0, 0}, {44, 0, 0}, {60, 0, 0}};
    n = mk_ext6(b, seg, sn, chain, 5, 6);
    assert_int_equal(parse_n(&p, b, n, 0), PKT_OK);
    assert_int_equal(pkt_parse_ip(&p, b, n, 0), PKT_OK);
    assert_int_equal(p.ip_hlen, 40 + 8 + 16 + 8 + 8 + 8);
    assert_int_equal(p.data_len, 3);
    assert_int_equal(p.seq, plain.seq);
    assert_true(tuple_eq(&p.t, &plain.t));
    /* The upper-layer length in the pseudo-header excludes extension headers. */
    assert_true(pkt_tcp_csum_ok(&p));
    truncate_all(b, n);

    const struct ext frag_m[] = {{44, 0, 1}};
    n = mk_ext6(b, seg, sn, frag_m, 1, 6);
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_FRAG);
    const struct ext frag_off[] = {{60, 0, 0}, {44, 0, 8 << 3}};
    n = mk_ext6(b, seg, sn, frag_off, 2, 6);
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_FRAG);
    const struct ext frag_atomic[] = {{44, 0, 0x0006}}; /* reserved bits set, still atomic */
    n = mk_ext6(b, seg, sn, frag_atomic, 1, 6);
    assert_int_equal(parse_n(&p, b, n, 0), PKT_OK);

    const struct ext hbh_late[] = {{60, 0, 0}, {0, 0, 0}};
    n = mk_ext6(b, seg, sn, hbh_late, 2, 6);
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_IPHDR);

    struct ext many[9];
    for (int i = 0; i < 9; i++)
        many[i] = (struct ext){60, 0, 0};
    n = mk_ext6(b, seg, sn, many, 8, 6);
    assert_int_equal(parse_n(&p, b, n, 0), PKT_OK);
    n = mk_ext6(b, seg, sn, many, 9, 6);
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_IPHDR);

    const struct ext one[] = {{43, 0, 0}};
    n = mk_ext6(b, seg, sn, one, 1, 17);
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_NOTTCP);
    n = mk_ext6(b, seg, sn, one, 1, 59); /* no next header */
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_NOTTCP);
    n = mk_ext6(b, seg, sn, one, 1, 51); /* AH: not walked */
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_NOTTCP);

    /* An extension header longer than the datagram. */
    n = mk_ext6(b, seg, sn, one, 1, 6);
    b[41] = 200;
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_IPHDR);
    assert_int_equal(parse_n(&p, b, n, PKT_PARSE_HDRONLY), -PKT_E_IPHDR);
    /* Within the datagram (HDRONLY, payload length large) but not captured. */
    b[4] = 0x0f;
    assert_int_equal(parse_n(&p, b, n, PKT_PARSE_HDRONLY), -PKT_E_TRUNC);
    /* Payload length ends inside the extension header. */
    n = mk_ext6(b, seg, sn, one, 1, 6);
    b[4] = 0, b[5] = 1;
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_IPHDR);
    b[5] = 4;
    assert_int_equal(parse_n(&p, b, n, 0), -PKT_E_IPHDR);

    /* Jumbogram marker. */
    memcpy(b, seg, sn);
    b[4] = b[5] = 0;
    assert_int_equal(parse_n(&p, b, sn, 0), -PKT_E_IPHDR);
    assert_int_equal(parse_n(&p, b, sn, PKT_PARSE_HDRONLY), -PKT_E_IPHDR);
    /* Payload too short for TCP; then too long for the capture. */
    b[5] = 10;
    assert_int_equal(parse_n(&p, b, sn, 0), -PKT_E_TCPHDR);
    b[5] = (uint8_t)(sn - 40 + 1);
    assert_int_equal(parse_n(&p, b, sn, 0), -PKT_E_TRUNC);
    assert_int_equal(parse_n(&p, b, sn, PKT_PARSE_HDRONLY), PKT_OK);
    assert_int_equal(p.data_len, 4);
    memcpy(b, seg, sn);
    b[6] = 17;
    assert_int_equal(parse_n(&p, b, sn, 0), -PKT_E_NOTTCP);
    assert_int_equal(parse_n(&p, b, 39, 0), -PKT_E_TRUNC);
}

static int opts(struct tcp_opts *o, const char *bytes, size_t n)
{
    uint8_t *d = dup_exact((const uint8_t *)bytes, n);
    int r = pkt_parse_tcp_opts(o, d, n);

    free(d);
    return r;
}

static void test_tcp_opts(void **state)
{
    struct tcp_opts o;

    (void)state;
    assert_int_equal(opts(&o, "", 0), PKT_OK);
    assert_false(o.has_mss || o.has_ws || o.sack_ok || o.has_ts || o.nsack);
    assert_int_equal(opts(&o, "\x01\x01\x01\x00", 4), PKT_OK);
    /* After EOL anything goes. */
    assert_int_equal(opts(&o, "\x02\x04\x05\xb4\x00\xff\x00\x07", 8), PKT_OK);
    assert_true(o.has_mss);
    assert_int_equal(o.mss, 1460);

    assert_int_equal(opts(&o, "\x02\x00\x05\xb4", 4), -PKT_E_TCPOPT); /* length 0 */
    assert_int_equal(opts(&o, "\x02\x01\x05\xb4", 4), -PKT_E_TCPOPT); /* length 1 */
    assert_int_equal(opts(&o, "\x02\x03\x05\xb4", 4), -PKT_E_TCPOPT); /* wrong MSS length */
    assert_int_equal(opts(&o, "\x02\x05\x05\xb4\x00", 5), -PKT_E_TCPOPT);
    assert_int_equal(opts(&o, "\x02\x04\x05", 3), -PKT_E_TCPOPT);       /* overrun */
    assert_int_equal(opts(&o, "\x01\x02", 2), -PKT_E_TCPOPT);           /* kind, no length */
    assert_int_equal(opts(&o, "\x1e\x01", 2), -PKT_E_TCPOPT);           /* unknown, length 1 */
    assert_int_equal(opts(&o, "\x1e\x02\x01\x01", 4), PKT_OK);         /* unknown, skipped */
    assert_int_equal(opts(&o, "\xfe\x06\xf9\x89\x00\x00", 6), PKT_OK); /* experimental */
    assert_int_equal(opts(&o, "\xfe\x07\xf9\x89\x00\x00", 6), -PKT_E_TCPOPT);

    assert_int_equal(opts(&o, "\x03\x03\x07\x01", 4), PKT_OK);
    assert_true(o.has_ws);
    assert_int_equal(o.wscale, 7);
    assert_int_equal(opts(&o, "\x03\x03\x0e", 3), PKT_OK);
    assert_int_equal(o.wscale, 14);
    assert_int_equal(opts(&o, "\x03\x03\x0f", 3), PKT_OK); /* RFC 7323 2.3 clamp */
    assert_int_equal(o.wscale, 14);
    assert_int_equal(opts(&o, "\x03\x03\xff", 3), PKT_OK);
    assert_int_equal(o.wscale, 14);
    assert_int_equal(opts(&o, "\x03\x04\x07\x00", 4), -PKT_E_TCPOPT);

    assert_int_equal(opts(&o, "\x04\x02", 2), PKT_OK);
    assert_true(o.sack_ok);
    assert_int_equal(opts(&o, "\x04\x03\x00", 3), -PKT_E_TCPOPT);

    assert_int_equal(opts(&o, "\x08\x0a\x00\x00\x00\x01\xff\xff\xff\xfe", 10), PKT_OK);
    assert_true(o.has_ts);
    assert_int_equal(o.tsval, 1);
    assert_int_equal(o.tsecr, 0xfffffffe);
    assert_int_equal(opts(&o, "\x08\x08\x00\x00\x00\x01\xff\xff", 8), -PKT_E_TCPOPT);

    /* SACK: NOP NOP + 1..4 blocks (RFC 2018 3). */
    uint8_t s[44] = {1, 1, 5};
    for (unsigned nb = 1; nb <= 5; nb++) {
        s[3] = (uint8_t)(2 + 8 * nb);
        /* Block k is {16k+1, 16k+9}; five blocks (42 bytes) overfill the table. */
        for (unsigned k = 0; k < nb; k++) {
            s[4 + 8 * k + 3] = (uint8_t)(16 * k + 1);
            s[4 + 8 * k + 7] = (uint8_t)(16 * k + 9);
        }
        assert_int_equal(opts(&o, (const char *)s, 4 + 8 * nb), PKT_OK);
        assert_int_equal(o.nsack, nb > 4 ? 4 : nb);
        for (unsigned k = 0; k < o.nsack; k++) {
            assert_int_equal(o.sack[k][0], 16 * k + 1);
            assert_int_equal(o.sack[k][1], 16 * k + 9);
        }
        /* One byte short: overrun. */
        assert_int_equal(opts(&o, (const char *)s, 3 + 8 * nb), -PKT_E_TCPOPT);
    }
    assert_int_equal(opts(&o, "\x05\x02", 2), -PKT_E_TCPOPT);
    assert_int_equal(opts(&o, "\x05\x0b\x00\x00\x00\x00\x00\x00\x00\x00\x00", 11), -PKT_E_TCPOPT);

    /* A full SYN list, Linux layout. */
    assert_int_equal(opts(&o,
                          "\x02\x04\x05\xb4\x04\x02\x08\x0a\x00\x00\x00\x64\x00\x00\x00\x00"
                          "\x01\x03\x03\x07",
                          20),
                     PKT_OK);
    assert_true(o.has_mss && o.sack_ok && o.has_ts && o.has_ws);
    assert_int_equal(o.tsval, 100);
}

/* ---- link layers ---- */

static size_t frame(uint8_t *out, const uint8_t *hdr, size_t hlen, const uint8_t *ip, size_t n)
{
    memcpy(out, hdr, hlen);
    memcpy(out + hlen, ip, n);
    return hlen + n;
}

static void expect_link(int dlt, const uint8_t *f, size_t n, size_t ip_off, int af)
{
    struct pkt p;
    uint8_t *d = dup_exact(f, n);

    assert_int_equal(pkt_parse_link(&p, dlt, d, n, 0), PKT_OK);
    assert_ptr_equal(p.ip, d + ip_off);
    assert_int_equal(p.af, af);
    assert_int_equal(p.t.sport, 40000);
    assert_int_equal(p.t.dport, 80);
    assert_true(pkt_tcp_csum_ok(&p));
    /* Every shorter frame is refused without a crash. */
    for (size_t k = 0; k < n; k++)
        assert_int_not_equal(parse_link_n(&p, dlt, f, k, 0), PKT_OK);
    free(d);
}

static void test_link(void **state)
{
    uint8_t ip4[128], ip6[128], f[256];
    size_t n4, n6, n;
    struct pkt p;
    static const uint8_t mac[12] = {0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2};
    uint8_t h[32];

    (void)state;
    n4 = build_simple(ip4, sizeof(ip4), AF_INET, 2);
    n6 = build_simple(ip6, sizeof(ip6), AF_INET6, 2);

    /* Ethernet II */
    memcpy(h, mac, 12);
    h[12] = 0x08, h[13] = 0x00;
    n = frame(f, h, 14, ip4, n4);
    expect_link(DLT_EN10MB, f, n, 14, AF_INET);
    memset(f + n, 0, 8); /* minimum-frame padding */
    assert_int_equal(parse_link_n(&p, DLT_EN10MB, f, n + 8, 0), PKT_OK);
    assert_int_equal(p.data_len, 2);
    h[12] = 0x86, h[13] = 0xdd;
    n = frame(f, h, 14, ip6, n6);
    expect_link(DLT_EN10MB, f, n, 14, AF_INET6);
    /* Ethertype and version disagree. */
    n = frame(f, h, 14, ip4, n4);
    assert_int_equal(parse_link_n(&p, DLT_EN10MB, f, n, 0), -PKT_E_VERSION);
    h[12] = 0x08, h[13] = 0x06; /* ARP */
    n = frame(f, h, 14, ip4, n4);
    assert_int_equal(parse_link_n(&p, DLT_EN10MB, f, n, 0), -PKT_E_LINK);
    h[12] = 0x05, h[13] = 0xdc; /* 802.3 length */
    n = frame(f, h, 14, ip4, n4);
    assert_int_equal(parse_link_n(&p, DLT_EN10MB, f, n, 0), -PKT_E_LINK);

    /* 802.1Q */
    uint8_t vlan[] = {0x81, 0x00, 0x20, 0x64, 0x08, 0x00};
    memcpy(h + 12, vlan, sizeof(vlan));
    n = frame(f, h, 18, ip4, n4);
    expect_link(DLT_EN10MB, f, n, 18, AF_INET);

    /* 802.1ad + 802.1Q */
    uint8_t qinq[] = {0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x86, 0xdd};
    memcpy(h + 12, qinq, sizeof(qinq));
    n = frame(f, h, 22, ip6, n6);
    expect_link(DLT_EN10MB, f, n, 22, AF_INET6);
    /* Three tags: refused. */
    uint8_t three[] = {0x88, 0xa8, 0, 1, 0x81, 0x00, 0, 2, 0x81, 0x00, 0, 3, 0x08, 0x00};
    memcpy(h + 12, three, sizeof(three));
    n = frame(f, h, 26, ip4, n4);
    assert_int_equal(parse_link_n(&p, DLT_EN10MB, f, n, 0), -PKT_E_LINK);
    /* A tag on a non-IP type. */
    uint8_t vlan_arp[] = {0x81, 0x00, 0x00, 0x01, 0x08, 0x06};
    memcpy(h + 12, vlan_arp, sizeof(vlan_arp));
    n = frame(f, h, 18, ip4, n4);
    assert_int_equal(parse_link_n(&p, DLT_EN10MB, f, n, 0), -PKT_E_LINK);

    /* Linux cooked v1: type, ARPHRD, addr len, addr[8], protocol. */
    uint8_t sll[16] = {0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00};
    n = frame(f, sll, 16, ip4, n4);
    expect_link(DLT_LINUX_SLL, f, n, 16, AF_INET);
    sll[14] = 0x86, sll[15] = 0xdd;
    n = frame(f, sll, 16, ip6, n6);
    expect_link(DLT_LINUX_SLL, f, n, 16, AF_INET6);
    sll[14] = 0x00, sll[15] = 0x03;
    n = frame(f, sll, 16, ip6, n6);
    assert_int_equal(parse_link_n(&p, DLT_LINUX_SLL, f, n, 0), -PKT_E_LINK);

    /* Linux cooked v2: protocol, reserved, ifindex, ARPHRD, type, addr len, addr[8]. */
    uint8_t sll2[20] = {0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0};
    n = frame(f, sll2, 20, ip4, n4);
    expect_link(DLT_LINUX_SLL2, f, n, 20, AF_INET);
    sll2[0] = 0x86, sll2[1] = 0xdd;
    n = frame(f, sll2, 20, ip6, n6);
    expect_link(DLT_LINUX_SLL2, f, n, 20, AF_INET6);
    sll2[0] = 0x88, sll2[1] = 0xcc; /* LLDP */
    n = frame(f, sll2, 20, ip6, n6);
    assert_int_equal(parse_link_n(&p, DLT_LINUX_SLL2, f, n, 0), -PKT_E_LINK);

    /* Raw IP, under every name. */
    expect_link(DLT_RAW, ip4, n4, 0, AF_INET);
    expect_link(DLT_RAW, ip6, n6, 0, AF_INET6);
    expect_link(101, ip4, n4, 0, AF_INET);
    expect_link(101, ip6, n6, 0, AF_INET6);
    expect_link(DLT_IPV4, ip4, n4, 0, AF_INET);
    expect_link(DLT_IPV6, ip6, n6, 0, AF_INET6);
    assert_int_equal(parse_link_n(&p, DLT_IPV4, ip6, n6, 0), -PKT_E_VERSION);
    assert_int_equal(parse_link_n(&p, DLT_IPV6, ip4, n4, 0), -PKT_E_VERSION);

    /* BSD loopback: family in either byte order, for both link types. */
    static const struct {
        uint8_t h[4];
        int af;
    } nul[] = {
        {{2, 0, 0, 0}, AF_INET},   {{0, 0, 0, 2}, AF_INET},   {{10, 0, 0, 0}, AF_INET6},
        {{0, 0, 0, 24}, AF_INET6}, {{28, 0, 0, 0}, AF_INET6}, {{0, 0, 0, 30}, AF_INET6},
    };
    for (size_t i = 0; i < sizeof(nul) / sizeof(nul[0]); i++) {
        const uint8_t *ip = nul[i].af == AF_INET ? ip4 : ip6;
        size_t ipn = nul[i].af == AF_INET ? n4 : n6;

        n = frame(f, nul[i].h, 4, ip, ipn);
        expect_link(DLT_NULL, f, n, 4, nul[i].af);
        expect_link(DLT_LOOP, f, n, 4, nul[i].af);
    }
    static const uint8_t nul_bad[][4] = {{7, 0, 0, 0}, {0, 0, 0, 0}, {2, 0, 0, 2}, {0, 2, 0, 0}};
    for (size_t i = 0; i < sizeof(nul_bad) / sizeof(nul_bad[0]); i++) {
        n = frame(f, nul_bad[i], 4, ip4, n4);
        assert_int_equal(parse_link_n(&p, DLT_NULL, f, n, 0), -PKT_E_LINK);
        assert_int_equal(parse_link_n(&p, DLT_LOOP, f, n, 0), -PKT_E_LINK);
    }
    n = frame(f, nul[0].h, 4, ip6, n6);
    assert_int_equal(parse_link_n(&p, DLT_NULL, f, n, 0), -PKT_E_VERSION);

    /* Unknown link types. */
    assert_int_equal(parse_link_n(&p, DLT_IEEE802_11, ip4, n4, 0), -PKT_E_LINK);
    assert_int_equal(parse_link_n(&p, 147, ip4, n4, 0), -PKT_E_LINK);
    assert_int_equal(parse_link_n(&p, -1, ip4, n4, 0), -PKT_E_LINK);

    /* Header-only through a link layer. */
    h[12] = 0x08, h[13] = 0x00;
    n = frame(f, h, 14, ip4, n4);
    assert_int_equal(parse_link_n(&p, DLT_EN10MB, f, n - 2, PKT_PARSE_HDRONLY), PKT_OK);
    assert_int_equal(p.data_len, 2);
    assert_null(p.data);
}

/* ---- text ---- */

static void test_str(void **state)
{
    char buf[256], small[300];
    struct pkt p;
    uint8_t b[128];

    (void)state;
    memcpy(b, syn_v4, sizeof(syn_v4));
    assert_int_equal(pkt_parse_ip(&p, b, sizeof(syn_v4), 0), PKT_OK);
    assert_string_equal(pkt_str(&p, buf, sizeof(buf)),
                        "192.0.2.1:40000 > 198.51.100.2:80 [S] seq 16909060 win 64240 len 0 "
                        "<mss 1460,ws 7,sackOK,ts 100 0>");

    memcpy(b, psh_v6, sizeof(psh_v6));
    assert_int_equal(pkt_parse_ip(&p, b, sizeof(psh_v6), 0), PKT_OK);
    assert_string_equal(pkt_str(&p, buf, sizeof(buf)),
                        "[2001:db8::1]:80 > [2001:db8::2]:40000 [P.] seq 4294967280 "
                        "ack 16909061 win 509 len 5 <ts 7777 100>");

    memset(&p, 0, sizeof(p));
    assert_true(addr_parse(&p.t.src, "203.0.113.1"));
    assert_true(addr_parse(&p.t.dst, "203.0.113.2"));
    p.t.sport = 1;
    p.t.dport = 2;
    p.seq = 1;
    p.ack = 2;
    p.win = 100;
    assert_string_equal(pkt_str(&p, buf, sizeof(buf)),
                        "203.0.113.1:1 > 203.0.113.2:2 [none] seq 1 win 100 len 0");
    p.flags = 0xff;
    p.opts.nsack = 2;
    p.opts.sack[0][0] = 10, p.opts.sack[0][1] = 20;
    p.opts.sack[1][0] = 30, p.opts.sack[1][1] = 4294967295u;
    p.opts.sack_ok = true;
    assert_string_equal(pkt_str(&p, buf, sizeof(buf)),
                        "203.0.113.1:1 > 203.0.113.2:2 [FSRP.UEW] seq 1 ack 2 win 100 len 0 "
                        "<sackOK,sack 2 {10:20} {30:4294967295}>");

    /* Short buffers: truncated, terminated, never overrun. */
    size_t full = strlen(buf);
    for (size_t len = 1; len <= full + 2; len++) {
        memset(small, 'Z', sizeof(small));
        pkt_str(&p, small, len);
        assert_int_equal(small[len], 'Z');
        assert_int_equal(strlen(small), len - 1 < full ? len - 1 : full);
        assert_memory_equal(small, buf, strlen(small));
    }
    memset(small, 'Z', sizeof(small));
    pkt_str(&p, small, 0);
    assert_int_equal(small[0], 'Z');
}

/* ---- checksum primitives ---- */

static void test_csum(void **state)
{
    /* RFC 1071 section 3 example: the sum is 0xddf2, so the checksum is 0x220d. */
    static const uint8_t ex[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    static uint8_t big[200001];
    uint8_t un[16];
    uint32_t sum;

    (void)state;
    assert_int_equal(csum_fold(csum_add(0, ex, sizeof(ex))), 0x220d);
    assert_int_equal(csum_fold(0), 0xffff);
    assert_int_equal(csum_fold(0xffff), 0);
    assert_int_equal(csum_fold(0x1fffe), 0);
    assert_int_equal(csum_fold(0xffffffff), 0);

    /* Chained chunks of even length, then an odd last chunk, equal one pass. */
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31 + (i >> 8));
    for (size_t len = 0; len < 200; len++) {
        for (size_t cut = 0; cut <= len; cut += 2) {
            sum = csum_add(0, big, cut);
            sum = csum_add(sum, big + cut, len - cut);
            assert_int_equal(csum_fold(sum), ref_csum(big, len));
        }
    }
    /* Odd lengths: 1 and 3 bytes pad with a zero low byte. */
    assert_int_equal(csum_fold(csum_add(0, "\xab", 1)), (uint16_t)~0xab00);
    assert_int_equal(csum_fold(csum_add(0, "\x12\x34\x56", 3)), (uint16_t) ~(0x1234 + 0x5600));
    /* Memory alignment does not matter. */
    memcpy(un + 1, ex, sizeof(ex));
    assert_int_equal(csum_fold(csum_add(0, un + 1, sizeof(ex))), 0x220d);
    /* Long input: carries are never lost. */
    memset(big, 0xff, sizeof(big));
    sum = 0;
    for (int i = 0; i < 50; i++)
        sum = csum_add(sum, big, sizeof(big) - 1);
    assert_int_equal(csum_fold(sum), 0);
    assert_int_equal(csum_fold(csum_add(0, big, sizeof(big))), ref_csum(big, sizeof(big)));
}

static void test_seq(void **state)
{
    (void)state;
    assert_true(seq_lt(0xfffffff0u, 5));
    assert_true(seq_gt(5, 0xfffffff0u));
    assert_true(seq_le(7, 7));
    assert_true(seq_ge(7, 7));
    assert_false(seq_lt(7, 7));
    assert_int_equal(seq_max(0xffffffffu, 1), 1);
    assert_int_equal(seq_min(0xffffffffu, 1), 0xffffffffu);
}

static void test_csum_ok_partial(void **state)
{
    struct pkt p;

    (void)state;
    memset(&p, 0, sizeof(p));
    assert_false(pkt_tcp_csum_ok(&p));
    assert_int_equal(parse_n(&p, syn_v4, sizeof(syn_v4), 0), PKT_OK);
    uint8_t b[sizeof(syn_v4)];
    memcpy(b, syn_v4, sizeof(b));
    /* Header-only capture: even a right checksum cannot be confirmed. */
    b[3] = 61;
    assert_int_equal(pkt_parse_ip(&p, b, sizeof(b), PKT_PARSE_HDRONLY), PKT_OK);
    assert_null(p.data);
    assert_false(pkt_tcp_csum_ok(&p));
}

/* -D in intercept: a reply's source rewritten in place keeps valid checksums. */
static void test_set_src_keeps_checksums(void **state)
{
    uint8_t buf[256];
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    assert_true(addr_parse(&sp.t.src, "198.51.100.5"));
    assert_true(addr_parse(&sp.t.dst, "203.0.113.7"));
    sp.t.sport = 8080;
    sp.t.dport = 40000;
    sp.flags = TCPF_ACK | TCPF_PSH;
    sp.seq = 12345;
    sp.ack = 678;
    sp.data = (const uint8_t *)"hello, world!";
    sp.data_len = 13;
    size_t n = pkt_build(buf, sizeof(buf), &sp);
    struct pkt p;
    assert_int_equal(pkt_parse_ip(&p, buf, n, 0), PKT_OK);
    struct addr to;
    assert_true(addr_parse(&to, "192.0.2.20"));
    assert_true(pkt_set_src(buf, &p, &to));
    struct pkt q;
    assert_int_equal(pkt_parse_ip(&q, buf, n, 0), PKT_OK);
    assert_true(addr_eq(&q.t.src, &to));
    assert_true(pkt_tcp_csum_ok(&q));
    assert_int_equal(csum_fold(csum_add(0, buf, 20)), 0); /* IPv4 header checksum */
    /* IPv6 too, and a family mismatch is refused. */
    assert_true(addr_parse(&sp.t.src, "2001:db8:9::5"));
    assert_true(addr_parse(&sp.t.dst, "2001:db8:3::7"));
    n = pkt_build(buf, sizeof(buf), &sp);
    assert_int_equal(pkt_parse_ip(&p, buf, n, 0), PKT_OK);
    assert_false(pkt_set_src(buf, &p, &to));
    assert_true(addr_parse(&to, "2001:db8:1::20"));
    assert_true(pkt_set_src(buf, &p, &to));
    assert_int_equal(pkt_parse_ip(&q, buf, n, 0), PKT_OK);
    assert_true(addr_eq(&q.t.src, &to));
    assert_true(pkt_tcp_csum_ok(&q));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_src_keeps_checksums),
        cmocka_unit_test(test_err_str),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_golden_v4),
        cmocka_unit_test(test_golden_v6),
        cmocka_unit_test(test_build_in_place),
        cmocka_unit_test(test_build_invalid),
        cmocka_unit_test(test_build_max),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_eth_padding),
        cmocka_unit_test(test_bad_ip4),
        cmocka_unit_test(test_ip6_ext),
        cmocka_unit_test(test_tcp_opts),
        cmocka_unit_test(test_link),
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_csum),
        cmocka_unit_test(test_seq),
        cmocka_unit_test(test_csum_ok_partial),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
