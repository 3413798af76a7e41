/*
 * test_neigh: the rtnetlink answers neigh.c reads, crafted byte by byte: a route
 * with and without a gateway, an IPv4 route via an IPv6 next hop, neighbour
 * entries in usable and unusable states, on the right and the wrong interface,
 * and truncated or foreign messages. Plus the live queries on loopback, which
 * need no privilege. Documentation addresses only.
 */
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "neigh.h"

struct msg {
    uint8_t b[512] __attribute__((aligned(4)));
    size_t len;
};

static void msg_start(struct msg *m, uint16_t type, const void *body, size_t blen)
{
    memset(m, 0, sizeof(*m));
    struct nlmsghdr *nh = (struct nlmsghdr *)m->b;
    nh->nlmsg_type = type;
    memcpy(m->b + NLMSG_HDRLEN, body, blen);
    m->len = NLMSG_HDRLEN + NLMSG_ALIGN(blen);
    nh->nlmsg_len = (uint32_t)m->len;
}

static void msg_attr(struct msg *m, uint16_t type, const void *data, size_t len)
{
    struct rtattr *rta = (struct rtattr *)(m->b + m->len);
    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(rta), data, len);
    m->len += RTA_SPACE(len);
    ((struct nlmsghdr *)m->b)->nlmsg_len = (uint32_t)m->len;
}

static void addr_of(struct addr *a, const char *s)
{
    assert_true(addr_parse(a, s));
}

static void test_route(void **state)
{
    (void)state;
    struct msg m;
    struct rtmsg rtm = {.rtm_family = AF_INET, .rtm_dst_len = 32};
    struct addr gw, want;
    int oif = 7, got_oif;
    uint8_t dst[4] = {192, 0, 2, 20}, via[4] = {192, 0, 2, 1};

    /* On-link: no gateway. */
    msg_start(&m, RTM_NEWROUTE, &rtm, sizeof(rtm));
    msg_attr(&m, RTA_DST, dst, 4);
    msg_attr(&m, RTA_OIF, &oif, 4);
    assert_true(neigh_parse_route(m.b, m.len, &got_oif, &gw));
    assert_int_equal(got_oif, 7);
    assert_true(addr_is_any(&gw));

    /* Through a gateway. */
    msg_attr(&m, RTA_GATEWAY, via, 4);
    assert_true(neigh_parse_route(m.b, m.len, &got_oif, &gw));
    addr_of(&want, "192.0.2.1");
    assert_true(addr_eq(&gw, &want));

    /* Truncated: the header says more than there is. */
    assert_false(neigh_parse_route(m.b, m.len - 4, &got_oif, &gw));
    assert_false(neigh_parse_route(m.b, 8, &got_oif, &gw));
    /* No interface: no use. */
    msg_start(&m, RTM_NEWROUTE, &rtm, sizeof(rtm));
    msg_attr(&m, RTA_GATEWAY, via, 4);
    assert_false(neigh_parse_route(m.b, m.len, &got_oif, &gw));
    /* Not a route. */
    msg_start(&m, RTM_NEWNEIGH, &rtm, sizeof(rtm));
    msg_attr(&m, RTA_OIF, &oif, 4);
    assert_false(neigh_parse_route(m.b, m.len, &got_oif, &gw));

    /* RTA_VIA: an IPv4 route via an IPv6 next hop (RFC 5549). */
    uint8_t v[18] = {0};
    uint16_t fam = AF_INET6;
    memcpy(v, &fam, 2);
    v[2] = 0x20;
    v[3] = 0x01;
    v[4] = 0x0d;
    v[5] = 0xb8;
    v[17] = 1;
    msg_start(&m, RTM_NEWROUTE, &rtm, sizeof(rtm));
    msg_attr(&m, RTA_OIF, &oif, 4);
    msg_attr(&m, RTA_VIA, v, sizeof(v));
    assert_true(neigh_parse_route(m.b, m.len, &got_oif, &gw));
    addr_of(&want, "2001:db8::1");
    assert_true(addr_eq(&gw, &want));
}

static void mk_neigh(struct msg *m, int family, int ifindex, uint16_t state, const void *ip,
                     size_t iplen, const uint8_t *mac)
{
    struct ndmsg nd = {.ndm_family = (uint8_t)family, .ndm_ifindex = ifindex, .ndm_state = state};
    msg_start(m, RTM_NEWNEIGH, &nd, sizeof(nd));
    if (ip != NULL)
        msg_attr(m, NDA_DST, ip, iplen);
    if (mac != NULL)
        msg_attr(m, NDA_LLADDR, mac, 6);
}

static void test_neigh(void **state)
{
    (void)state;
    struct msg m;
    struct addr ip, other;
    uint8_t a4[4] = {192, 0, 2, 20};
    const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x20};
    uint8_t got[6];
    char buf[24];

    addr_of(&ip, "192.0.2.20");
    addr_of(&other, "192.0.2.21");
    const uint16_t good[] = {NUD_REACHABLE, NUD_STALE, NUD_DELAY, NUD_PROBE, NUD_PERMANENT};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        memset(got, 0, sizeof(got));
        mk_neigh(&m, AF_INET, 3, good[i], a4, 4, mac);
        assert_true(neigh_parse_neigh(m.b, m.len, &ip, 3, got));
        assert_memory_equal(got, mac, 6);
        assert_true(neigh_parse_neigh(m.b, m.len, &ip, 0, got)); /* any interface */
    }
    assert_string_equal(neigh_mac_str(mac, buf, sizeof(buf)), "02:00:00:00:00:20");

    mk_neigh(&m, AF_INET, 3, NUD_REACHABLE, a4, 4, mac);
    assert_false(neigh_parse_neigh(m.b, m.len, &ip, 4, got));     /* another interface */
    assert_false(neigh_parse_neigh(m.b, m.len, &other, 3, got));  /* another address */
    assert_false(neigh_parse_neigh(m.b, m.len - 1, &ip, 3, got)); /* truncated */
    mk_neigh(&m, AF_INET, 3, NUD_INCOMPLETE, a4, 4, mac);
    assert_false(neigh_parse_neigh(m.b, m.len, &ip, 3, got));
    mk_neigh(&m, AF_INET, 3, NUD_FAILED, a4, 4, mac);
    assert_false(neigh_parse_neigh(m.b, m.len, &ip, 3, got));
    mk_neigh(&m, AF_INET, 3, NUD_REACHABLE, a4, 4, NULL); /* no MAC */
    assert_false(neigh_parse_neigh(m.b, m.len, &ip, 3, got));
    mk_neigh(&m, AF_INET, 3, NUD_REACHABLE, a4, 3, mac); /* a 3-byte IPv4 address */
    assert_false(neigh_parse_neigh(m.b, m.len, &ip, 3, got));

    /* IPv6. */
    struct addr ip6;
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8};
    a6[15] = 0x20;
    addr_of(&ip6, "2001:db8::20");
    mk_neigh(&m, AF_INET6, 3, NUD_STALE, a6, 16, mac);
    assert_true(neigh_parse_neigh(m.b, m.len, &ip6, 3, got));
    assert_false(neigh_parse_neigh(m.b, m.len, &ip, 3, got));
}

/* The live queries, on loopback: no privilege, no traffic leaves the host. */
static void test_live_loopback(void **state)
{
    (void)state;
    struct addr lo, hop;
    int ifindex = 0, oif = 0, mtu = 0;
    uint8_t mac[6];
    char err[256];

    addr_of(&lo, "127.0.0.1");
    assert_int_equal(neigh_route(&lo, 0, &hop, &oif, err, sizeof(err)), 0);
    assert_true(oif > 0);
    assert_true(addr_eq(&hop, &lo));
    /* lo is not Ethernet: link-layer send refuses it with a reason. */
    assert_true(neigh_if_info("lo", &ifindex, mac, &mtu, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "not an Ethernet interface"));
    assert_true(neigh_if_info("no-such-if0", &ifindex, mac, &mtu, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "no-such-if0"));
    assert_true(neigh_resolve(&lo, "no-such-if0", mac, 100, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "cannot find the MAC of 127.0.0.1 on no-such-if0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route),
        cmocka_unit_test(test_neigh),
        cmocka_unit_test(test_live_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
