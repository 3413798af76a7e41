/*
 * test_raw6: the IPv6 header rebuilt in front of a segment read from an IPv6 raw
 * socket, and the addresses read from beside it (msg_name, IPV6_PKTINFO,
 * IPV6_HOPLIMIT), without a socket: the packet parser must see exactly the
 * datagram that was on the wire, and every length limit must hold.
 * Only documentation addresses (RFC 3849) appear here.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "pkt.h"
#include "raw6.h"

static void t_addr6(uint8_t out[16], const char *s)
{
    assert_int_equal(inet_pton(AF_INET6, s, out), 1);
}

/* The datagram pkt_build makes, and the same rebuilt from its TCP part alone. */
static void test_rebuild_matches_wire(void **state)
{
    (void)state;
    static uint8_t wire[2000], slot[RAW6_HLEN + 2000];
    uint8_t payload[1200];
    struct pkt_spec sp;
    struct pkt p;

    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 13);
    memset(&sp, 0, sizeof(sp));
    assert_true(addr_parse(&sp.t.src, "2001:db8:2::10"));
    assert_true(addr_parse(&sp.t.dst, "2001:db8:1::10"));
    sp.t.sport = 40000;
    sp.t.dport = 80;
    sp.seq = 12345;
    sp.ack = 777;
    sp.win = 512;
    sp.flags = TCPF_ACK | TCPF_PSH;
    sp.ttl = 64;
    sp.opt_ts = true;
    sp.opts.tsval = 1;
    sp.opts.tsecr = 2;
    sp.data = payload;
    sp.data_len = sizeof(payload);
    size_t len = pkt_build(wire, sizeof(wire), &sp);
    assert_true(len > RAW6_HLEN);

    /* What the socket gives: the TCP bytes, at the room's end. */
    memcpy(slot + RAW6_HLEN, wire + RAW6_HLEN, len - RAW6_HLEN);
    assert_int_equal(raw6_hdr_build(slot, sp.t.src.u.b, sp.t.dst.u.b, 64, len - RAW6_HLEN), len);
    assert_memory_equal(slot, wire, len);

    assert_int_equal(pkt_parse_link(&p, DLT_RAW, slot, len, 0), PKT_OK);
    assert_int_equal(p.af, AF_INET6);
    assert_true(addr_eq(&p.t.src, &sp.t.src));
    assert_true(addr_eq(&p.t.dst, &sp.t.dst));
    assert_int_equal(p.t.dport, 80);
    assert_int_equal(p.data_len, sizeof(payload));
    assert_memory_equal(p.data, payload, sizeof(payload));
    assert_true(pkt_tcp_csum_ok(&p));
}

/* Payload lengths: 0 is no segment, 65535 the largest, 65536 (a GRO aggregate
 * past 64 KB) cannot be described and is refused, never truncated. */
static void test_lengths(void **state)
{
    (void)state;
    uint8_t *slot = calloc(1, RAW6_HLEN + 65536);
    uint8_t a[16], b[16];
    struct pkt p;

    assert_non_null(slot);
    t_addr6(a, "2001:db8::1");
    t_addr6(b, "2001:db8::2");
    assert_int_equal(raw6_hdr_build(slot, a, b, 64, 0), 0);
    assert_int_equal(raw6_hdr_build(slot, a, b, 64, 65536), 0);
    assert_int_equal(raw6_hdr_build(slot, a, b, 64, (size_t)-1), 0);
    assert_int_equal(raw6_hdr_build(slot, a, b, 64, 65535), RAW6_HLEN + 65535);
    assert_int_equal(slot[4], 0xff);
    assert_int_equal(slot[5], 0xff);

    /* A runt of TCP is rebuilt, and the parser refuses it by reason. */
    assert_int_equal(raw6_hdr_build(slot, a, b, 64, 4), RAW6_HLEN + 4);
    assert_int_equal(pkt_parse_link(&p, DLT_RAW, slot, RAW6_HLEN + 4, 0), -PKT_E_TCPHDR);
    /* A TCP header whose data offset reaches past the segment: refused too. */
    memset(slot + RAW6_HLEN, 0, 20);
    slot[RAW6_HLEN + 12] = 15 << 4;
    assert_int_equal(raw6_hdr_build(slot, a, b, 64, 20), RAW6_HLEN + 20);
    assert_int_equal(pkt_parse_link(&p, DLT_RAW, slot, RAW6_HLEN + 20, 0), -PKT_E_TCPHDR);
    free(slot);
}

/* A msghdr as recvmsg fills it on an IPv6 raw socket. */
struct t_msg {
    struct msghdr mh;
    struct sockaddr_in6 from;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(uint32_t)) + CMSG_SPACE(sizeof(struct in6_pktinfo)) +
                 CMSG_SPACE(sizeof(int))];
    } ctl;
};

/* Fill m with the source, and the control messages asked: an SO_RXQ_OVFL counter
 * first (as the capture's socket has one), then PKTINFO and HOPLIMIT. */
static void t_msg(struct t_msg *m, const char *src, const char *dst, int hlim)
{
    struct cmsghdr *cm;
    size_t used = 0;

    memset(m, 0, sizeof(*m));
    m->from.sin6_family = AF_INET6;
    t_addr6(m->from.sin6_addr.s6_addr, src);
    m->mh.msg_name = &m->from;
    m->mh.msg_namelen = sizeof(m->from);
    m->mh.msg_control = m->ctl.buf;
    m->mh.msg_controllen = sizeof(m->ctl.buf);

    cm = CMSG_FIRSTHDR(&m->mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SO_RXQ_OVFL;
    cm->cmsg_len = CMSG_LEN(sizeof(uint32_t));
    used += CMSG_SPACE(sizeof(uint32_t));
    if (dst != NULL) {
        struct in6_pktinfo pi = {.ipi6_ifindex = 3};
        cm = CMSG_NXTHDR(&m->mh, cm);
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_PKTINFO;
        cm->cmsg_len = CMSG_LEN(sizeof(pi));
        t_addr6(pi.ipi6_addr.s6_addr, dst);
        memcpy(CMSG_DATA(cm), &pi, sizeof(pi));
        used += CMSG_SPACE(sizeof(pi));
    }
    if (hlim >= 0) {
        cm = CMSG_NXTHDR(&m->mh, cm);
        cm->cmsg_level = IPPROTO_IPV6;
        cm->cmsg_type = IPV6_HOPLIMIT;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &hlim, sizeof(hlim));
        used += CMSG_SPACE(sizeof(int));
    }
    m->mh.msg_controllen = used; /* as the kernel reports what it wrote */
}

static void test_msg_addrs(void **state)
{
    (void)state;
    static struct t_msg m;
    struct raw6_addrs a;
    uint8_t want[16];

    t_msg(&m, "2001:db8:2::10", "2001:db8:1::10", 61);
    assert_true(raw6_msg_addrs(&m.mh, &a));
    t_addr6(want, "2001:db8:2::10");
    assert_memory_equal(a.src, want, 16);
    t_addr6(want, "2001:db8:1::10");
    assert_memory_equal(a.dst, want, 16);
    assert_int_equal(a.hlim, 61);

    /* No hop limit reported: the default. */
    t_msg(&m, "2001:db8:2::10", "2001:db8:1::10", -1);
    assert_true(raw6_msg_addrs(&m.mh, &a));
    assert_int_equal(a.hlim, RAW6_HLIM_DEFAULT);

    /* No destination, no usable source, no control data at all: refused. */
    t_msg(&m, "2001:db8:2::10", NULL, 64);
    assert_false(raw6_msg_addrs(&m.mh, &a));
    t_msg(&m, "2001:db8:2::10", "2001:db8:1::10", 64);
    m.mh.msg_namelen = sizeof(struct sockaddr_in);
    assert_false(raw6_msg_addrs(&m.mh, &a));
    t_msg(&m, "2001:db8:2::10", "2001:db8:1::10", 64);
    m.from.sin6_family = AF_INET;
    assert_false(raw6_msg_addrs(&m.mh, &a));
    t_msg(&m, "2001:db8:2::10", "2001:db8:1::10", 64);
    m.mh.msg_name = NULL;
    assert_false(raw6_msg_addrs(&m.mh, &a));
    t_msg(&m, "2001:db8:2::10", "2001:db8:1::10", 64);
    m.mh.msg_control = NULL;
    m.mh.msg_controllen = 0;
    assert_false(raw6_msg_addrs(&m.mh, &a));
    /* A PKTINFO cut short (MSG_CTRUNC) is not read past its length. */
    t_msg(&m, "2001:db8:2::10", "2001:db8:1::10", -1);
    struct cmsghdr *cm = CMSG_NXTHDR(&m.mh, CMSG_FIRSTHDR(&m.mh));
    cm->cmsg_len = CMSG_LEN(8);
    assert_false(raw6_msg_addrs(&m.mh, &a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rebuild_matches_wire),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_msg_addrs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
