/*
 * capture: where packets come from. One interface, several backends:
 *   raw  - an AF_INET raw socket at the IP layer, batched with recvmmsg (tcpcopy default)
 *   pcap - libpcap live capture on one device (or "any") with a BPF filter (intercept,
 *          tcpcopy --pcap-capture)
 * Packets are handed to a callback while their buffer is valid; the callback must
 * copy what it keeps.
 */
#ifndef TC_CAPTURE_H
#define TC_CAPTURE_H

#include <stddef.h>
#include <stdint.h>

struct capture;

struct capture_pkt {
    const uint8_t *data; /* starts at the link-layer header (or IP header for dlt DLT_RAW) */
    uint32_t caplen;     /* bytes present */
    uint32_t len;        /* bytes on the wire */
    uint64_t ts_us;      /* capture time (realtime clock for pcap, monotonic for raw) */
    int dlt;             /* libpcap link type: parse with pkt_parse_link() */
};

typedef void capture_cb(void *arg, const struct capture_pkt *p);

struct capture_raw_conf {
    const uint16_t *ports; /* destination ports to keep (kernel BPF filter); NULL = all TCP */
    size_t nports;
    int rcvbuf_bytes;      /* SO_RCVBUF(FORCE); 0 = 16 MB */
};

/* Open an IPv4 raw TCP socket. NULL on failure with a message in err. */
struct capture *capture_raw_open(const struct capture_raw_conf *c, char *err, size_t errlen);

struct capture_pcap_conf {
    const char *device; /* interface name or "any" */
    const char *filter; /* BPF expression, may be NULL */
    int snaplen;        /* 0 = 65535 */
    int buffer_mb;      /* 0 = 16 */
    int in_only;        /* capture only inbound (PCAP_D_IN) */
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
