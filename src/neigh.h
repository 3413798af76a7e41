/*
 * neigh: link-layer addresses for tcpcopy's link-layer send (--pcap-send).
 *
 * Given a destination and the output device, find the next hop the kernel would
 * use (rtnetlink RTM_GETROUTE, as `ip route get DST oif DEV`), then that next hop's
 * MAC in the neighbour table (RTM_GETNEIGH). A missing entry is resolved by the
 * kernel itself: a one-byte UDP datagram to the next hop's discard port (9) makes
 * it send the ARP request / neighbour solicitation, and the table is read again.
 *
 * Startup only: the calls block (bounded). The message parsers are separate, pure
 * functions over (buf, len) so the unit tests drive them with crafted messages.
 */
#ifndef TC_NEIGH_H
#define TC_NEIGH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

#define NEIGH_MAC_LEN 6

/* Index, MAC and MTU of a local interface. 0 or -errno with a message in err. */
int neigh_if_info(const char *dev, int *ifindex, uint8_t mac[NEIGH_MAC_LEN], int *mtu, char *err,
                  size_t errlen);

/*
 * The next hop toward dst through interface ifindex (0: any): the gateway of the
 * route, or dst itself on a directly connected network; *oif is the route's
 * interface. 0, or -errno with a message in err (no route: -ENETUNREACH).
 */
int neigh_route(const struct addr *dst, int ifindex, struct addr *nexthop, int *oif, char *err,
                size_t errlen);

/* The MAC of ip on ifindex from the neighbour table. 0, or -ENOENT if there is no
 * usable entry (absent, incomplete or failed), or another -errno. */
int neigh_lookup(const struct addr *ip, int ifindex, uint8_t mac[NEIGH_MAC_LEN]);

/*
 * The destination MAC for packets to dst sent on dev: route, lookup, and if the
 * entry is missing, trigger resolution and retry for up to timeout_ms. On failure
 * err says what to do ("cannot find the MAC of 192.0.2.20 on eth0: give it as
 * -x ...@MAC").
 */
int neigh_resolve(const struct addr *dst, const char *dev, uint8_t mac[NEIGH_MAC_LEN],
                  int timeout_ms, char *err, size_t errlen);

/* ---- parsers (pure) ---- */

/*
 * One RTM_NEWROUTE message (nlmsghdr included): its output interface and its
 * gateway (RTA_GATEWAY or RTA_VIA; af 0 when the destination is on-link).
 * False if the message is not a well-formed route.
 */
bool neigh_parse_route(const uint8_t *buf, size_t len, int *oif, struct addr *gw);

/*
 * One RTM_NEWNEIGH message: true and the MAC if it is the usable entry for ip on
 * ifindex (ifindex 0: any interface). Incomplete and failed entries do not count.
 */
bool neigh_parse_neigh(const uint8_t *buf, size_t len, const struct addr *ip, int ifindex,
                       uint8_t mac[NEIGH_MAC_LEN]);

/* "aa:bb:cc:dd:ee:ff" into buf (18 bytes at least); returns buf. */
char *neigh_mac_str(const uint8_t mac[NEIGH_MAC_LEN], char *buf, size_t len);

#endif
