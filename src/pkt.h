/*
 * pkt: IPv4/IPv6 + TCP parsing and building, TCP options and checksums.
 *
 * Every packet is hostile: the parsers take (buf, len), read only through
 * bounds-checked accessors, touch no globals and report why they refused a
 * packet, so the caller can count it by reason and a fuzzer can drive them.
 * Nothing here allocates; struct pkt points into the caller's buffer.
 */
#ifndef TC_PKT_H
#define TC_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

/* TCP header flags (RFC 9293 section 3.1). */
enum {
    TCPF_FIN = 0x01,
    TCPF_SYN = 0x02,
    TCPF_RST = 0x04,
    TCPF_PSH = 0x08,
    TCPF_ACK = 0x10,
    TCPF_URG = 0x20,
    TCPF_ECE = 0x40,
    TCPF_CWR = 0x80,
};

#define PKT_IP4_HLEN 20
#define PKT_IP6_HLEN 40
#define PKT_TCP_HLEN 20
#define PKT_TCP_OPT_MAX 40
/* Largest IP+TCP header we ever build or forward: IPv6 (40) + TCP with options (60). */
#define PKT_HDR_MAX (PKT_IP6_HLEN + PKT_TCP_HLEN + PKT_TCP_OPT_MAX)
#define PKT_SACK_MAX 4

/* Why a packet was refused: the parsers return 0 (PKT_OK) or a reason negated
 * (-PKT_E_TRUNC, ...), as every decoder here does (doc/design.md, "Errors").
 * Keep pkt_err_str() in step. */
enum pkt_err {
    PKT_OK = 0,
    PKT_E_TRUNC,    /* shorter than its headers say */
    PKT_E_VERSION,  /* not IPv4 or IPv6 */
    PKT_E_IPHDR,    /* bad IPv4 IHL / total length, bad IPv6 payload length */
    PKT_E_NOTTCP,   /* not TCP (after IPv6 extension headers) */
    PKT_E_FRAG,     /* a fragment: only whole datagrams are handled */
    PKT_E_TCPHDR,   /* TCP data offset < 5 or beyond the datagram */
    PKT_E_TCPOPT,   /* malformed TCP option list */
    PKT_E_LINK,     /* unknown or truncated link-layer header */
    PKT_E_COUNT
};
const char *pkt_err_str(int err);

/* TCP options we understand (RFC 9293 3.2, RFC 7323, RFC 2018). */
struct tcp_opts {
    bool has_mss, has_ws, sack_ok, has_ts;
    uint8_t wscale;
    uint8_t nsack;
    uint16_t mss;
    uint32_t tsval, tsecr;
    uint32_t sack[PKT_SACK_MAX][2]; /* left, right edges, host order */
};

/* A parsed packet; pointers are into the caller's buffer. */
struct pkt {
    const uint8_t *ip;    /* start of IP header */
    const uint8_t *tcp;   /* start of TCP header */
    const uint8_t *data;  /* payload; NULL if the capture stopped before it */
    uint32_t ip_len;      /* IP datagram length from the header (may exceed what was captured) */
    uint32_t cap_len;     /* bytes actually present from ip on */
    uint16_t ip_hlen;     /* IPv4 IHL*4, or 40 + extension headers for IPv6 */
    uint16_t tcp_hlen;    /* data offset * 4 */
    uint32_t data_len;    /* payload length per the IP header */
    uint8_t af;           /* AF_INET or AF_INET6 */
    uint8_t flags;        /* TCPF_* */
    uint8_t ttl;
    uint16_t win;         /* raw window field, unscaled */
    uint32_t seq, ack;
    struct tuple t;       /* src/dst addresses and ports */
    struct tcp_opts opts;
    uint64_t ts_us;       /* capture time (realtime µs; 0: unknown): set by the caller */
};

enum {
    /* Accept a datagram whose payload was cut off (snaplen, header-only channel records):
     * data is NULL or short, data_len still comes from the IP header. */
    PKT_PARSE_HDRONLY = 1U << 0,
};

/*
 * Parse an IP datagram (version from the first nibble) holding TCP.
 * Fills *p and returns PKT_OK, or -PKT_E_* (the reason). Trailing bytes beyond the IP
 * length (Ethernet padding) are ignored. Without PKT_PARSE_HDRONLY the whole
 * payload must be present.
 */
int pkt_parse_ip(struct pkt *p, const uint8_t *buf, size_t len, unsigned flags);

/*
 * Parse a frame of libpcap link type dlt (DLT_EN10MB with 802.1Q/802.1ad tags,
 * DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW / LINKTYPE_RAW, DLT_IPV4, DLT_IPV6,
 * DLT_NULL, DLT_LOOP), then the IP datagram inside. Non-IP frames: -PKT_E_LINK.
 */
int pkt_parse_link(struct pkt *p, int dlt, const uint8_t *buf, size_t len, unsigned flags);

/* True if pkt_parse_link() understands link type dlt. */
bool pkt_link_supported(int dlt);

/* Parse a TCP option list (RFC 9293 3.2). Unknown options are skipped. PKT_OK or
 * -PKT_E_TCPOPT. */
int pkt_parse_tcp_opts(struct tcp_opts *o, const uint8_t *buf, size_t len);

/* A packet to build. The address family comes from t.src.af (t.dst must match). */
struct pkt_spec {
    struct tuple t;
    uint32_t seq, ack;
    uint16_t win;
    uint8_t flags;
    uint8_t ttl;         /* 0 means 64 */
    uint16_t ip_id;      /* IPv4 identification */
    bool opt_mss, opt_ws, opt_sack_ok, opt_ts; /* which of opts to write */
    struct tcp_opts opts;
    const uint8_t *data; /* payload to copy; NULL: already placed at buf + pkt_spec_hlen() */
    uint32_t data_len;
};

/* Length of the IP + TCP headers (with the chosen options, padded to 4) that pkt_build writes. */
size_t pkt_spec_hlen(const struct pkt_spec *s);

/*
 * Write the datagram into buf (cap bytes): IP header (IPv4 with its checksum and DF,
 * or IPv6), TCP header with the options chosen and its checksum, then the payload.
 * Returns the datagram length, or 0 if it does not fit or the spec is invalid.
 */
size_t pkt_build(uint8_t *buf, size_t cap, const struct pkt_spec *s);

/* Internet checksum (RFC 1071): add len bytes (odd lengths padded) to a running sum. */
uint32_t csum_add(uint32_t sum, const void *buf, size_t len);
uint16_t csum_fold(uint32_t sum);
/* True if the TCP checksum of a fully captured parsed packet is right. */
bool pkt_tcp_csum_ok(const struct pkt *p);

/* Sequence-number comparisons modulo 2^32 (RFC 9293 3.4). */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }
static inline bool seq_gt(uint32_t a, uint32_t b) { return (int32_t)(a - b) > 0; }
static inline bool seq_ge(uint32_t a, uint32_t b) { return (int32_t)(a - b) >= 0; }
static inline uint32_t seq_max(uint32_t a, uint32_t b) { return seq_gt(a, b) ? a : b; }
static inline uint32_t seq_min(uint32_t a, uint32_t b) { return seq_lt(a, b) ? a : b; }

/*
 * Replace the source address of the parsed datagram p, whose bytes start at ip (the
 * caller's writable copy, at least ip_hlen + tcp_hlen bytes), by a of the same family.
 * The IPv4 header checksum and the TCP checksum are updated incrementally (RFC 1624),
 * so this works on a header-only copy too. p->t.src is updated. False if the
 * families differ.
 */
bool pkt_set_src(uint8_t *ip, struct pkt *p, const struct addr *a);

/* Human-readable one-line summary, for debug logs and golden tests. */
char *pkt_str(const struct pkt *p, char *buf, size_t len);

#endif
