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
    f->s = sender_link_wrap(NULL, &lc, tx, IFINDEX, DEV_MAC, err, sizeof(err));
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
    assert_null(sender_link_wrap(&c, &lc, tx, 1, DEV_MAC, err, sizeof(err)));
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
