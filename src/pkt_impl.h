/*
 * pkt_impl: what the two halves of pkt (private to src/pkt*.c) share: the
 * big-endian accessors, the TCP option kinds and the protocol number. pkt.c
 * parses; pkt_build.c builds, checksums and rewrites.
 */
#ifndef TC_PKT_IMPL_H
#define TC_PKT_IMPL_H

#include <stdint.h>

#define IPPROTO_TCP_NUM 6

/* TCP option kinds (RFC 9293 3.2, RFC 7323, RFC 2018). */
enum {
    TCPOPT_EOL = 0,
    TCPOPT_NOP = 1,
    TCPOPT_MSS = 2,
    TCPOPT_WS = 3,
    TCPOPT_SACK_PERM = 4,
    TCPOPT_SACK = 5,
    TCPOPT_TS = 8,
};

/* RFC 7323 2.3: a larger shift "MUST use 14 instead". */
#define TCP_WS_MAX 14

/* Big-endian accessors. Callers have checked that the bytes exist. */
static inline uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint8_t *wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static inline uint8_t *wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

#endif
