/*
 * test_decap: mirrored frames inside VXLAN (RFC 7348), GRE (RFC 2784/2890: Ethernet, IPv4
 * and IPv6 inside, with checksum, key and sequence fields) and ERSPAN types II and III,
 * over IPv4 and IPv6 and behind VLAN tags; the inner TCP packet must parse as if captured
 * at the source. Fragments, other protocols and ports, cut and malformed headers are
 * refused with their reason, and the option grammar.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "decap.h"
#include "pkt.h"

static uint8_t frame[4096];
static size_t flen;

static void put(const void *p, size_t n)
{
    if (n == 0)
        return;
    assert_true(flen + n <= sizeof(frame));
    memcpy(frame + flen, p, n);
    flen += n;
}

static void put16(uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(b, 2);
}

static void eth(uint16_t type, int vlans)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    put(macs, 12);
    for (int i = 0; i < vlans; i++) {
        put16(i == 0 && vlans == 2 ? 0x88a8 : 0x8100);
        put16(100 + (uint16_t)i);
    }
    put16(type);
}

/* An inner IPv4 TCP packet: 198.51.100.10:40000 -> 192.0.2.10:80 with "GET /". */
static size_t inner_ip(uint8_t *buf, size_t cap)
{
    struct pkt_spec s;
    memset(&s, 0, sizeof(s));
    assert_true(addr_parse(&s.t.src, "198.51.100.10"));
    assert_true(addr_parse(&s.t.dst, "192.0.2.10"));
    s.t.sport = 40000;
    s.t.dport = 80;
    s.seq = 1234;
    s.flags = TCPF_ACK | TCPF_PSH;
    s.data = (const uint8_t *)"GET /";
    s.data_len = 5;
    size_t n = pkt_build(buf, cap, &s);
    assert_true(n > 0);
    return n;
}

/* Outer IPv4 header (no options) for a payload of len bytes of protocol proto. */
static void ip4(uint8_t proto, size_t len, uint16_t frag)
{
    uint8_t h[20] = {0x45, 0, 0, 0, 0, 1, 0, 0, 64, proto, 0, 0, 192, 0, 2, 10, 192, 0, 2, 41};
    h[2] = (uint8_t)((20 + len) >> 8);
    h[3] = (uint8_t)(20 + len);
    h[6] = (uint8_t)(frag >> 8);
    h[7] = (uint8_t)frag;
    put(h, sizeof(h));
}

static void ip6(uint8_t proto, size_t len)
{
    uint8_t h[40] = {0x60};
    h[4] = (uint8_t)(len >> 8);
    h[5] = (uint8_t)len;
    h[6] = proto;
    h[7] = 64;
    put(h, sizeof(h));
}

static void vxlan_frame(uint16_t port, bool outer6, int vlans, uint8_t flags)
{
    uint8_t in[1600], inner_eth[1700];
    size_t n = inner_ip(in, sizeof(in));
    size_t save = flen = 0;
    eth(0x0800, 0);
    memcpy(inner_eth, frame, 14);
    memcpy(inner_eth + 14, in, n);
    size_t ilen = 14 + n;
    flen = save;
    eth(outer6 ? 0x86dd : 0x0800, vlans);
    size_t udp_len = 8 + 8 + ilen;
    if (outer6)
        ip6(17, udp_len);
    else
        ip4(17, udp_len, 0x4000);
    put16(54321);
    put16(port);
    put16((uint16_t)udp_len);
    put16(0);
    uint8_t vx[8] = {flags, 0, 0, 0, 0, 0, 42, 0};
    put(vx, 8);
    put(inner_eth, ilen);
}

static void expect_inner(const struct decap *d, int dlt, size_t len)
{
    const uint8_t *in;
    size_t in_len;
    int in_dlt;
    assert_int_equal(decap_frame(d, dlt, frame, len, &in, &in_len, &in_dlt), DECAP_OK);
    struct pkt p;
    assert_int_equal(pkt_parse_link(&p, in_dlt, in, in_len, 0), PKT_OK);
    assert_int_equal(p.t.sport, 40000);
    assert_int_equal(p.t.dport, 80);
    assert_int_equal(p.seq, 1234);
    assert_int_equal(p.data_len, 5);
    assert_memory_equal(p.data, "GET /", 5);
}

static int decap_rc(const struct decap *d, int dlt, size_t len)
{
    const uint8_t *in;
    size_t in_len;
    int in_dlt;
    return decap_frame(d, dlt, frame, len, &in, &in_len, &in_dlt);
}

static void test_vxlan(void **state)
{
    (void)state;
    struct decap d;
    char err[128];
    assert_int_equal(decap_parse(&d, "vxlan", err, sizeof(err)), 0);
    assert_int_equal(d.port, 4789);
    vxlan_frame(4789, false, 0, 0x08);
    expect_inner(&d, DLT_EN10MB, flen);
    vxlan_frame(4789, true, 2, 0x08);
    expect_inner(&d, DLT_EN10MB, flen);
    /* Another port, the I flag missing, cut anywhere. */
    vxlan_frame(4790, false, 0, 0x08);
    assert_int_equal(decap_rc(&d, DLT_EN10MB, flen), -DECAP_E_OTHER);
    vxlan_frame(4789, false, 0, 0x00);
    assert_int_equal(decap_rc(&d, DLT_EN10MB, flen), -DECAP_E_TUNNEL);
    vxlan_frame(4789, false, 0, 0x08);
    for (size_t cut = 0; cut < 14 + 20 + 16; cut++)
        assert_int_not_equal(decap_rc(&d, DLT_EN10MB, cut), DECAP_OK);
    assert_int_equal(decap_parse(&d, "vxlan:8472", err, sizeof(err)), 0);
    assert_int_equal(d.port, 8472);
    vxlan_frame(8472, false, 1, 0x08);
    expect_inner(&d, DLT_EN10MB, flen);
}

static void test_fragment_refused(void **state)
{
    (void)state;
    struct decap d = {.kind = DECAP_VXLAN, .port = 4789};
    vxlan_frame(4789, false, 0, 0x08);
    frame[14 + 6] = 0x20; /* MF */
    assert_int_equal(decap_rc(&d, DLT_EN10MB, flen), -DECAP_E_FRAG);
}

/* A GRE packet: flags, protocol, optional fields, then payload. */
static void gre_frame(uint16_t flags, uint16_t proto, const uint8_t *extra, size_t extra_len,
                      const uint8_t *pl, size_t pl_len)
{
    size_t opt = ((flags & 0x8000) ? 4 : 0) + ((flags & 0x2000) ? 4 : 0) + ((flags & 0x1000) ? 4 : 0);
    flen = 0;
    eth(0x0800, 0);
    ip4(47, 4 + opt + extra_len + pl_len, 0);
    put16(flags);
    put16(proto);
    static const uint8_t zeros[12];
    put(zeros, opt);
    put(extra, extra_len);
    put(pl, pl_len);
}

static void test_gre_and_erspan(void **state)
{
    (void)state;
    struct decap d;
    char err[128];
    assert_int_equal(decap_parse(&d, "gre", err, sizeof(err)), 0);
    uint8_t ip[1600], eframe[1700];
    size_t n = inner_ip(ip, sizeof(ip));
    memcpy(eframe, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02\x08\x00", 14);
    memcpy(eframe + 14, ip, n);

    gre_frame(0x0000, 0x0800, NULL, 0, ip, n); /* IPv4 inside */
    expect_inner(&d, DLT_EN10MB, flen);
    gre_frame(0xb000, 0x6558, NULL, 0, eframe, 14 + n); /* checksum, key, sequence; Ethernet */
    expect_inner(&d, DLT_EN10MB, flen);
    assert_int_equal(decap_parse(&d, "erspan", err, sizeof(err)), 0);
    const uint8_t e2[8] = {0x10, 0x64, 0, 1, 0, 0, 0, 0}; /* version 1, VLAN 100, session 1 */
    gre_frame(0x1000, 0x88be, e2, 8, eframe, 14 + n);
    expect_inner(&d, DLT_EN10MB, flen);
    uint8_t e3[20] = {0x20, 0x64, 0, 1};
    gre_frame(0x1000, 0x22eb, e3, 12, eframe, 14 + n); /* type III, no subheader */
    expect_inner(&d, DLT_EN10MB, flen);
    e3[11] = 0x01; /* O: an 8-byte platform subheader follows */
    gre_frame(0x1000, 0x22eb, e3, 20, eframe, 14 + n);
    expect_inner(&d, DLT_EN10MB, flen);

    const uint8_t bad_ver[8] = {0x30};
    gre_frame(0x1000, 0x88be, bad_ver, 8, eframe, 14 + n);
    assert_int_equal(decap_rc(&d, DLT_EN10MB, flen), -DECAP_E_TUNNEL);
    gre_frame(0x0001, 0x0800, NULL, 0, ip, n); /* GRE version 1 (PPTP) */
    assert_int_equal(decap_rc(&d, DLT_EN10MB, flen), -DECAP_E_TUNNEL);
    gre_frame(0x0000, 0x880b, NULL, 0, ip, n); /* PPP inside */
    assert_int_equal(decap_rc(&d, DLT_EN10MB, flen), -DECAP_E_OTHER);
    /* Plain TCP is not GRE. */
    flen = 0;
    eth(0x0800, 0);
    put(ip, n);
    assert_int_equal(decap_rc(&d, DLT_EN10MB, flen), -DECAP_E_OTHER);
    assert_int_equal(decap_rc(&d, DLT_EN10MB, 10), -DECAP_E_LINK);
    assert_int_equal(decap_rc(&d, 9999, flen), -DECAP_E_LINK);
}

static void test_grammar(void **state)
{
    (void)state;
    struct decap d;
    char err[128], b[64];
    const char *bad[] = {"", "vx", "vxlan:", "vxlan:0", "vxlan:65536", "vxlan:12a", "geneve",
                         "gre:1", "vxlan4789"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(decap_parse(&d, bad[i], err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "--decap"));
    }
    assert_int_equal(decap_parse(&d, "vxlan:65535", err, sizeof(err)), 0);
    assert_string_equal(decap_str(&d, b, sizeof(b)), "vxlan:65535");
    assert_string_equal(decap_filter(&d, b, sizeof(b)), "udp dst port 65535");
    assert_int_equal(decap_parse(&d, "gre", err, sizeof(err)), 0);
    assert_string_equal(decap_filter(&d, b, sizeof(b)), "ip proto 47 or ip6 proto 47");
    assert_string_equal(decap_err_str(DECAP_E_FRAG), "fragment");
    assert_string_equal(decap_err_str(99), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vxlan),
        cmocka_unit_test(test_fragment_refused),
        cmocka_unit_test(test_gre_and_erspan),
        cmocka_unit_test(test_grammar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
