/*
 * test_send_link: the link-layer backend's frames, without root.
 * sender_link_wrap takes the descriptor sender_link_open would have opened;
 * here it is a connected loopback TCP socket (which ignores msg_name), so each
 * frame sendmmsg() sends arrives at the other end as bytes: the Ethernet header
 * written in front of the datagram (the destination's MAC, the device's or the
 * rule's source MAC, the EtherType of the IP version), the sockaddr_ll each
 * frame is addressed with, a destination without a MAC refused as unreachable,
 * and the conf checks. Documentation addresses only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/virtio_net.h>

#include "pkt.h"
#include "send.h"
#include "send_impl.h"
#include "sock_fx.h"

static const uint8_t DEV_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};
static const uint8_t MAC_V4[6] = {0x02, 0, 0, 0, 0, 0x44};
static const uint8_t MAC_V6[6] = {0x02, 0, 0, 0, 0, 0x66};
static const uint8_t RULE_SRC[6] = {0x02, 0, 0, 0, 0, 0x99};
#define IFINDEX 7


struct fixture {
    struct sender *s;
    int rx;
};

static int setup(void **state)
{
    static struct sender_link_dst dsts[2];
    struct fixture *f = calloc(1, sizeof(*f));
    char err[128] = "";
    int tx;

    memset(dsts, 0, sizeof(dsts));
    assert_true(addr_parse(&dsts[0].ip, "192.0.2.20"));
    memcpy(dsts[0].mac, MAC_V4, 6);
    memcpy(dsts[0].src_mac, RULE_SRC, 6);
    dsts[0].has_src = true;
    assert_true(addr_parse(&dsts[1].ip, "2001:db8::20"));
    memcpy(dsts[1].mac, MAC_V6, 6);
    struct sender_link_conf lc = {.device = "eth9", .dsts = dsts, .ndst = 2};
    tcp_pair(&tx, &f->rx);
    f->s = sender_link_wrap(NULL, &lc, tx, IFINDEX, DEV_MAC, false, err, sizeof(err));
    assert_non_null(f->s);
    memset(dsts, 0, sizeof(dsts)); /* the sender keeps its own copy */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    sender_free(f->s);
    close(f->rx);
    free(f);
    return 0;
}

/* Build a datagram of len bytes to dst in the next slot, last byte id, and commit it. */
static void put(struct sender *s, const char *dst, size_t len, uint8_t id)
{
    uint8_t *b = sender_buf(s);
    struct addr a;

    assert_true(addr_parse(&a, dst));
    memset(b, 0xcd, len);
    if (a.af == AF_INET) {
        b[0] = 0x45;
        memcpy(b + 16, a.u.b, 4);
    } else {
        b[0] = 0x60;
        memcpy(b + 24, a.u.b, 16);
    }
    b[len - 1] = id;
    sender_commit(s, len);
}

/* One frame of 14 + len bytes from rx, checked against what was built. */
static void get_frame(int rx, size_t len, const uint8_t *dmac, const uint8_t *smac,
                      uint16_t type, uint8_t id)
{
    uint8_t b[1600];

    assert_int_equal(recv(rx, b, 14 + len, MSG_WAITALL), (ssize_t)(14 + len));
    assert_memory_equal(b, dmac, 6);
    assert_memory_equal(b + 6, smac, 6);
    assert_int_equal((b[12] << 8) | b[13], type);
    assert_int_equal(b[14] >> 4, type == ETH_P_IP ? 4 : 6);
    assert_int_equal(b[14 + len - 1], id);
}

static void test_frames(void **state)
{
    struct fixture *f = *state;

    put(f->s, "192.0.2.20", 60, 1);
    put(f->s, "2001:db8::20", 80, 2);
    put(f->s, "192.0.2.20", 1500, 3);

    /* The address of each frame: the device, the EtherType, the next hop's MAC. */
    const struct sockaddr_ll *sll = (const struct sockaddr_ll *)&f->s->names[1];
    assert_int_equal(sll->sll_family, AF_PACKET);
    assert_int_equal(ntohs(sll->sll_protocol), ETH_P_IPV6);
    assert_int_equal(sll->sll_ifindex, IFINDEX);
    assert_int_equal(sll->sll_halen, 6);
    assert_memory_equal(sll->sll_addr, MAC_V6, 6);
    assert_int_equal(f->s->msgs[1].msg_hdr.msg_namelen, sizeof(*sll));
    assert_int_equal(f->s->iov[0].iov_len, 14 + 60);

    assert_int_equal(sender_flush(f->s), 0);
    const struct sender_stats *st = sender_stats(f->s);
    assert_int_equal(st->packets, 3);
    assert_int_equal(st->bytes, 3 * 14 + 60 + 80 + 1500);
    assert_int_equal(st->batches, 1);
    get_frame(f->rx, 60, MAC_V4, RULE_SRC, ETH_P_IP, 1);
    get_frame(f->rx, 80, MAC_V6, DEV_MAC, ETH_P_IPV6, 2);
    get_frame(f->rx, 1500, MAC_V4, RULE_SRC, ETH_P_IP, 3);
}

/* ---- segmentation offload (PACKET_VNET_HDR) ---- */

static int setup_vnet(void **state)
{
    static struct sender_link_dst dsts[2];
    struct fixture *f = calloc(1, sizeof(*f));
    char err[128] = "";
    int tx;

    memset(dsts, 0, sizeof(dsts));
    assert_true(addr_parse(&dsts[0].ip, "192.0.2.20"));
    memcpy(dsts[0].mac, MAC_V4, 6);
    assert_true(addr_parse(&dsts[1].ip, "2001:db8::20"));
    memcpy(dsts[1].mac, MAC_V6, 6);
    struct sender_link_conf lc = {.device = "eth9", .dsts = dsts, .ndst = 2};
    tcp_pair(&tx, &f->rx);
    f->s = sender_link_wrap(NULL, &lc, tx, IFINDEX, DEV_MAC, true, err, sizeof(err));
    assert_non_null(f->s);
    *state = f;
    return 0;
}

static void wr16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    wr16(p, v >> 16);
    wr16(p + 2, v & 0xffff);
}

/* Queue a TCP segment (20-byte header, flags, pay bytes of payload: byte k of the
 * connection's stream is (seq + k) & 0xff) from port sport to dst port 8080. */
static void put_seg(struct sender *s, bool v6, uint16_t sport, uint32_t seq, uint8_t flags,
                    size_t pay)
{
    uint8_t *b = sender_buf(s), *th;
    size_t iphl = v6 ? 40 : 20;
    struct addr src, dst;

    assert_true(addr_parse(&src, v6 ? "2001:db8::10" : "192.0.2.10"));
    assert_true(addr_parse(&dst, v6 ? "2001:db8::20" : "192.0.2.20"));
    memset(b, 0, iphl + 20);
    if (v6) {
        b[0] = 0x60;
        wr16(b + 4, (unsigned)(20 + pay));
        b[6] = IPPROTO_TCP;
        b[7] = 64;
        memcpy(b + 8, src.u.b, 16);
        memcpy(b + 24, dst.u.b, 16);
    } else {
        b[0] = 0x45;
        wr16(b + 2, (unsigned)(20 + 20 + pay));
        b[6] = 0x40; /* DF */
        b[8] = 64;
        b[9] = IPPROTO_TCP;
        memcpy(b + 12, src.u.b, 4);
        memcpy(b + 16, dst.u.b, 4);
    }
    th = b + iphl;
    wr16(th, sport);
    wr16(th + 2, 8080);
    wr32(th + 4, seq);
    wr32(th + 8, 777);
    th[12] = 5 << 4;
    th[13] = flags;
    wr16(th + 14, 5000);
    for (size_t k = 0; k < pay; k++)
        th[20 + k] = (uint8_t)(seq + k);
    sender_commit(s, iphl + 20 + pay);
}

/* Read one frame: the virtio_net_hdr, the Ethernet header, the IP datagram (its length
 * from its own header). Returns the datagram's length; the frame is in b. */
static size_t get_vnet_frame(int rx, uint8_t *b, struct virtio_net_hdr *vh)
{
    size_t len;

    assert_int_equal(recv(rx, b, 10 + 14 + 20, MSG_WAITALL), 10 + 14 + 20);
    memcpy(vh, b, sizeof(*vh));
    if (b[24] >> 4 == 4)
        len = (size_t)(b[26] << 8 | b[27]);
    else
        len = 40 + (size_t)(b[28] << 8 | b[29]);
    assert_true(len >= 20);
    assert_int_equal(recv(rx, b + 44, len - 20, MSG_WAITALL), (ssize_t)(len - 20));
    return len;
}

/* The partial checksum the kernel completes: the pseudo-header's folded sum. */
static void check_partial_csum(const uint8_t *ip, size_t iphl, size_t tcplen)
{
    uint32_t sum = iphl == 20 ? csum_add(0, ip + 12, 8) : csum_add(0, ip + 8, 32);
    sum += IPPROTO_TCP + (uint32_t)tcplen;
    assert_int_equal(ip[iphl + 16] << 8 | ip[iphl + 17], (uint16_t)~csum_fold(sum));
}

/* Three full segments and a shorter last of one connection leave as one offload frame;
 * a gap in the sequence, a FIN, another connection or family start new frames. */
static void test_gso_coalesce(void **state)
{
    struct fixture *f = *state;
    static uint8_t b[70000];
    struct virtio_net_hdr vh;
    size_t len;

    put_seg(f->s, false, 1000, 100, TCPF_ACK, 1000);
    put_seg(f->s, false, 1000, 1100, TCPF_ACK, 1000);
    put_seg(f->s, false, 1000, 2100, TCPF_ACK, 1000);
    put_seg(f->s, false, 1000, 3100, TCPF_ACK | TCPF_PSH, 300);
    put_seg(f->s, false, 1000, 5000, TCPF_ACK, 1000);            /* after a short one */
    put_seg(f->s, false, 1000, 6500, TCPF_ACK, 1000);            /* a gap: new frame */
    put_seg(f->s, false, 1000, 7500, TCPF_ACK | TCPF_FIN, 10);   /* FIN: alone */
    put_seg(f->s, false, 1001, 100, TCPF_ACK, 1000);             /* another port */
    put_seg(f->s, true, 1000, 100, TCPF_ACK, 1000);              /* IPv6 */
    put_seg(f->s, true, 1000, 1100, TCPF_ACK, 500);
    assert_int_equal(sender_flush(f->s), 0);
    const struct sender_stats *st = sender_stats(f->s);
    assert_int_equal(st->packets, 6);
    assert_int_equal(st->coalesced, 3 + 1);

    len = get_vnet_frame(f->rx, b, &vh);
    assert_int_equal(len, 20 + 20 + 3300);
    assert_int_equal(vh.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    assert_int_equal(vh.gso_size, 1000);
    assert_int_equal(vh.hdr_len, 14 + 20 + 20);
    assert_int_equal(vh.csum_start, 14 + 20);
    assert_int_equal(vh.csum_offset, 16);
    assert_memory_equal(b + 10, MAC_V4, 6);
    assert_int_equal(csum_fold(csum_add(0, b + 24, 20)), 0); /* a valid IP header sum */
    assert_int_equal(b[24 + 20 + 13], TCPF_ACK | TCPF_PSH);
    check_partial_csum(b + 24, 20, 20 + 3300);
    for (size_t k = 0; k < 3300; k++)
        assert_int_equal(b[24 + 40 + k], (uint8_t)(100 + k));

    len = get_vnet_frame(f->rx, b, &vh);
    assert_int_equal(len, 40 + 1000);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    assert_int_equal(vh.flags, 0);
    len = get_vnet_frame(f->rx, b, &vh);
    assert_int_equal(len, 40 + 1000);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    len = get_vnet_frame(f->rx, b, &vh);
    assert_int_equal(len, 40 + 10);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_NONE);
    len = get_vnet_frame(f->rx, b, &vh);
    assert_int_equal(len, 40 + 1000);
    assert_int_equal(b[24 + 20] << 8 | b[24 + 21], 1001);

    len = get_vnet_frame(f->rx, b, &vh);
    assert_int_equal(len, 40 + 20 + 1500);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV6);
    assert_int_equal(vh.gso_size, 1000);
    assert_int_equal(vh.csum_start, 14 + 40);
    assert_memory_equal(b + 10, MAC_V6, 6);
    check_partial_csum(b + 24, 40, 20 + 1500);
    for (size_t k = 0; k < 1500; k++)
        assert_int_equal(b[24 + 60 + k], (uint8_t)(100 + k));
}

/* A run stops at 16 segments, and at 64 KB of datagram: the next segment heads a frame of
 * its own. */
static void test_gso_limit(void **state)
{
    struct fixture *f = *state;
    static uint8_t b[70000];
    struct virtio_net_hdr vh;

    for (unsigned k = 0; k < 20; k++)
        put_seg(f->s, false, 1000, 1 + k * 1400, TCPF_ACK, 1400);
    assert_int_equal(sender_flush(f->s), 0);
    assert_int_equal(get_vnet_frame(f->rx, b, &vh), 40 + 16 * 1400);
    assert_int_equal(vh.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
    assert_int_equal(get_vnet_frame(f->rx, b, &vh), 40 + 4 * 1400);
    assert_int_equal(sender_stats(f->s)->coalesced, 15 + 3);
    sender_free(f->s);
    close(f->rx);

    /* Slots of 9,000 bytes (a jumbo -M): 8 segments of 8,000 fill 64 KB. */
    static struct sender_link_dst dst;
    struct sender_conf c = {.slot = 9000};
    struct sender_link_conf lc = {.device = "eth9", .dsts = &dst, .ndst = 1};
    char err[128] = "";
    int tx;

    memset(&dst, 0, sizeof(dst));
    assert_true(addr_parse(&dst.ip, "192.0.2.20"));
    memcpy(dst.mac, MAC_V4, 6);
    tcp_pair(&tx, &f->rx);
    f->s = sender_link_wrap(&c, &lc, tx, IFINDEX, DEV_MAC, true, err, sizeof(err));
    assert_non_null(f->s);
    for (unsigned k = 0; k < 10; k++)
        put_seg(f->s, false, 1000, 1 + k * 8000, TCPF_ACK, 8000);
    assert_int_equal(sender_flush(f->s), 0);
    assert_int_equal(get_vnet_frame(f->rx, b, &vh), 40 + 8 * 8000);
    assert_int_equal(vh.gso_size, 8000);
    assert_int_equal(get_vnet_frame(f->rx, b, &vh), 40 + 2 * 8000);
}

/* A destination with no MAC is refused as unreachable and takes no slot. */
static void test_unknown_destination(void **state)
{
    struct fixture *f = *state;

    put(f->s, "192.0.2.21", 40, 1);
    put(f->s, "2001:db8::21", 40, 2);
    assert_int_equal(f->s->n, 0);
    assert_int_equal(sender_stats(f->s)->err_unreach, 2);
    put(f->s, "192.0.2.20", 40, 3);
    put(f->s, "192.0.2.20", 19, 4); /* shorter than its header: the front's refusal */
    assert_int_equal(sender_stats(f->s)->err_other, 1);
    assert_int_equal(sender_flush(f->s), 0);
    assert_int_equal(sender_stats(f->s)->packets, 1);
    get_frame(f->rx, 40, MAC_V4, RULE_SRC, ETH_P_IP, 3);
}

/* The slot the engine builds in has the Ethernet header's room in front of it. */
static void test_headroom(void **state)
{
    struct fixture *f = *state;
    uint8_t *b = sender_buf(f->s);

    assert_ptr_equal(b, sender_slot(f->s, 0) + f->s->headroom);
    assert_true(f->s->headroom >= 14);
    assert_int_equal(sender_slot_size(f->s), 1500);
}

static void test_conf_checks(void **state)
{
    struct sender_link_dst many[257];
    struct sender_link_conf lc = {.device = "eth9", .dsts = many, .ndst = 257};
    char err[160] = "";

    (void)state;
    memset(many, 0, sizeof(many));
    assert_null(sender_link_open(NULL, NULL, err, sizeof(err)));
    assert_string_equal(err, "link-layer send: no device or too many destinations");
    err[0] = '\0';
    assert_null(sender_link_open(NULL, &lc, err, sizeof(err)));
    assert_string_equal(err, "link-layer send: no device or too many destinations");
    lc.ndst = 1;
    struct sender_conf c = {.batch = 2000};
    assert_null(sender_link_open(&c, &lc, err, sizeof(err)));
    assert_string_equal(err, "link-layer send: batch 2000 out of range 1..1024");
    /* A device that does not exist is named in the message (no root needed). */
    lc.device = "tcnosuchdev0";
    assert_null(sender_link_open(NULL, &lc, err, sizeof(err)));
    assert_non_null(strstr(err, "link-layer send: "));
    assert_non_null(strstr(err, "tcnosuchdev0"));
    /* A failed wrap closes the descriptor it was given. */
    int tx, rx;
    char b;
    tcp_pair(&tx, &rx);
    assert_null(sender_link_wrap(&c, &lc, tx, 1, DEV_MAC, false, err, sizeof(err)));
    assert_int_equal(recv(rx, &b, 1, 0), 0);
    close(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_frames, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_destination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headroom, setup, teardown),
        cmocka_unit_test(test_conf_checks),
        cmocka_unit_test_setup_teardown(test_gso_coalesce, setup_vnet, teardown),
        cmocka_unit_test_setup_teardown(test_gso_limit, setup_vnet, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
