/*
 * capture: where packets come from. One interface, several backends:
 *   raw  - AF_INET and/or AF_INET6 raw sockets at the IP layer, batched with recvmmsg
 *          (tcpcopy default); IPv6 datagrams get their header rebuilt (raw6.h)
 *   pcap - libpcap live capture on one device (or "any") with a BPF filter (intercept,
 *          tcpcopy --pcap-capture)
 * Packets are handed to a callback while their buffer is valid; the callback must
 * copy what it keeps.
 */
#ifndef TC_CAPTURE_H
#define TC_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capture;

struct capture_pkt {
    const uint8_t *data; /* starts at the link-layer header (or IP header for dlt DLT_RAW) */
    uint32_t caplen;     /* bytes present */
    uint32_t len;        /* bytes on the wire */
    uint64_t ts_us;      /* capture time, realtime clock (the kernel's stamp where it gives one) */
    int dlt;             /* libpcap link type: parse with pkt_parse_link() */
};

typedef void capture_cb(void *arg, const struct capture_pkt *p);

enum { CAPTURE_RAW_V4 = 1U << 0, CAPTURE_RAW_V6 = 1U << 1 };

struct capture_raw_conf {
    const uint16_t *ports;  /* IPv4 destination ports to keep (kernel BPF filter); NULL = all TCP */
    size_t nports;
    const uint16_t *ports6; /* the same for IPv6 */
    size_t nports6;
    unsigned families;      /* CAPTURE_RAW_V4 | CAPTURE_RAW_V6; 0 = CAPTURE_RAW_V4 */
    int rcvbuf_bytes;       /* SO_RCVBUF(FORCE) of each socket; 0 = 256 MB */
    bool stamps;            /* the kernel's receive time of each datagram (SO_TIMESTAMPNS);
                             * else ts_us is when its batch was read */
    bool inbound;           /* capture_raw_out_open: the arriving segments too */
};

/*
 * Open a raw TCP socket for each family asked (both behind one fd when there are
 * two). Packets reach the callback as DLT_RAW IP datagrams of either family.
 * NULL on failure with a message in err.
 */
struct capture *capture_raw_open(const struct capture_raw_conf *c, char *err, size_t errlen);

/*
 * The host's own outgoing TCP segments whose source port is in c->ports (IPv4) or
 * c->ports6 (IPv6), and with c->inbound also the segments arriving for this host whose
 * destination port is: one AF_PACKET socket on every interface (tcpcopy --compare: the
 * online server's answers, which the inbound-only raw socket of capture_raw_open never
 * sees, in one queue with the requests that caused them, so in the kernel's order).
 * DLT_RAW datagrams of either family. NULL on failure with a message in err.
 */
struct capture *capture_raw_out_open(const struct capture_raw_conf *c, char *err, size_t errlen);

/*
 * Delivery: libpcap on Linux has two ring layouts, and the caller chooses by its traffic.
 *   immediate  - each packet is readable at once (TPACKET_V2: one ring frame per packet,
 *                each frame sized for the snaplen; with a 65 KB snaplen a "16 MB" ring is
 *                256 frames in 128 KB blocks, 32 MB). For small snaplens, or packets whose
 *                latency matters (intercept's reply headers, snaplen 256).
 *   buffered   - packets are packed one after another into 256 KB blocks (TPACKET_V3); a
 *                block becomes readable when it is full or timeout_ms after its first
 *                packet. The same ring holds hundreds of times more small packets: for a
 *                full-rate capture of whole packets (tcpcopy --pcap-capture).
 */
#define CAPTURE_PCAP_BUFFER_MB_MAX 2047 /* libpcap takes the size in bytes as an int */
struct capture_pcap_conf {
    const char *device; /* interface name or "any" */
    const char *filter; /* BPF expression, may be NULL */
    int snaplen;        /* 0 = 65535 */
    int buffer_mb;      /* 0 = 16; at most CAPTURE_PCAP_BUFFER_MB_MAX */
    int in_only;        /* capture only inbound (PCAP_D_IN) */
    int immediate;      /* nonzero: immediate mode; 0: buffered (see above) */
    int timeout_ms;     /* buffered: the longest a packet waits for its block; 0 = 1 */
    int promisc;        /* nonzero: frames addressed to other hosts too (a mirror port) */
};
struct capture *capture_pcap_open(const struct capture_pcap_conf *c, char *err, size_t errlen);

/*
 * Several captures behind one handle (tcpcopy --pcap-capture -i eth0,eth1): one
 * fd to poll (an epoll set of theirs), dispatch shares max among those ready.
 * Takes ownership of caps[0..n) (also on failure); NULL with err on failure.
 */
struct capture *capture_multi_new(struct capture **caps, size_t n, char *err, size_t errlen);

/* The fd to poll for readability. */
int capture_fd(struct capture *c);
/* Deliver up to max packets to cb. Returns how many, 0 if none was ready, -errno on error. */
int capture_dispatch(struct capture *c, int max, capture_cb *cb, void *arg);
/* Packets the kernel dropped for this capture so far (0 if the backend cannot tell). */
uint64_t capture_kernel_drops(struct capture *c);
void capture_free(struct capture *c); /* NULL-safe */

#endif
