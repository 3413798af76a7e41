/*
 * raw6: the IPv6 header of a datagram read from an AF_INET6 raw socket, rebuilt
 * from what the socket reports beside the data (see raw6.h).
 */
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "raw6.h"

#define RAW6_NH_TCP 6

bool raw6_msg_addrs(const struct msghdr *mh, struct raw6_addrs *a)
{
    const struct sockaddr_in6 *from = mh->msg_name;
    bool have_dst = false;

    /* The kernel fills msg_namelen; a shorter name is not an IPv6 source. */
    if (from == NULL || mh->msg_namelen < sizeof(*from) || from->sin6_family != AF_INET6)
        return false;
    memcpy(a->src, &from->sin6_addr, 16);
    a->hlim = RAW6_HLIM_DEFAULT;
    if (mh->msg_control == NULL)
        return false;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR((struct msghdr *)mh, cm)) {
        if (cm->cmsg_level != IPPROTO_IPV6)
            continue;
        if (cm->cmsg_type == IPV6_PKTINFO && cm->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
            memcpy(a->dst, &pi.ipi6_addr, 16);
            have_dst = true;
        } else if (cm->cmsg_type == IPV6_HOPLIMIT && cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
            int h;
            memcpy(&h, CMSG_DATA(cm), sizeof(h));
            if (h >= 0 && h <= 255)
                a->hlim = (uint8_t)h;
        }
    }
    return have_dst;
}

size_t raw6_hdr_build(uint8_t *ip6, const uint8_t src[16], const uint8_t dst[16], uint8_t hlim,
                      size_t tcp_len)
{
    /* RFC 8200 3: payload length is 16 bits and counts everything after the
     * fixed header; 0 would announce a jumbogram. */
    if (tcp_len == 0 || tcp_len > 0xffff)
        return 0;
    ip6[0] = 0x60;
    ip6[1] = ip6[2] = ip6[3] = 0;
    ip6[4] = (uint8_t)(tcp_len >> 8);
    ip6[5] = (uint8_t)tcp_len;
    ip6[6] = RAW6_NH_TCP;
    ip6[7] = hlim;
    memcpy(ip6 + 8, src, 16);
    memcpy(ip6 + 24, dst, 16);
    return RAW6_HLEN + tcp_len;
}
