/*
 * raw6: what an AF_INET6 raw socket leaves out, put back. Unlike IPv4, such a
 * socket never delivers the IPv6 header (RFC 3542 3, ipv6(7)): a datagram read
 * from an IPPROTO_TCP one starts at the TCP header, its source comes in msg_name
 * and its destination in an IPV6_PKTINFO control message. capture_raw rebuilds
 * a 40-byte header in front of the segment, in room it keeps at the front of
 * each receive slot, so the packet parser sees an ordinary IPv6 datagram.
 *
 * Pure functions over the caller's buffers: no socket, no allocation.
 */
#ifndef TC_RAW6_H
#define TC_RAW6_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msghdr;

#define RAW6_HLEN 40
/* The hop limit written when the socket did not report one. */
#define RAW6_HLIM_DEFAULT 64

struct raw6_addrs {
    uint8_t src[16], dst[16];
    uint8_t hlim;
};

/*
 * Read the source (msg_name, a sockaddr_in6) and the destination (IPV6_PKTINFO,
 * RFC 3542 6.1) of a datagram received on an AF_INET6 raw socket, and its hop
 * limit (IPV6_HOPLIMIT, RFC 3542 6.3; RAW6_HLIM_DEFAULT when absent). False when
 * the source or the destination is missing or malformed.
 */
bool raw6_msg_addrs(const struct msghdr *mh, struct raw6_addrs *a);

/*
 * Write an IPv6 header (RFC 8200 3) at ip6 for the tcp_len bytes of TCP that
 * follow it directly (ip6 + RAW6_HLEN): version 6, traffic class and flow label
 * 0, payload length tcp_len, next header TCP, the given hop limit and addresses.
 * Returns the datagram's length, RAW6_HLEN + tcp_len, or 0 when tcp_len is 0 or
 * more than the 16-bit payload length can say (a GRO aggregate beyond 64 KB:
 * jumbograms, RFC 2675, are not rebuilt).
 */
size_t raw6_hdr_build(uint8_t *ip6, const uint8_t src[16], const uint8_t dst[16], uint8_t hlim,
                      size_t tcp_len);

#endif
