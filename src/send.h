/*
 * send: where built packets go. The engine writes each packet straight into a
 * slot of the sender's batch (no copy, no malloc); the batch goes out with one
 * sendmmsg() when it is full or when the loop is about to sleep. Send errors are
 * counted by errno and never fatal: the engine's retransmission repairs losses.
 * Backends (send_impl.h, one file each): raw IP (send_raw.c: IPPROTO_RAW, i.e.
 * IP_HDRINCL, for IPv4 and IPv6), and link layer (send_link.c: AF_PACKET on one
 * Ethernet device, --pcap-send), which bypasses the online host's routing,
 * conntrack and iptables. send.c is the front that dispatches to them.
 */
#ifndef TC_SEND_H
#define TC_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "addr.h"

struct sender;

struct sender_conf {
    /* 0 (or NULL conf): the default, defined once in send_impl.h */
    unsigned batch;   /* packets per sendmmsg, 1..1024; 0 = 64 */
    unsigned slot;    /* largest packet, bytes, 40..65535; 0 = 1500 (the -M MTU) */
    int sndbuf_bytes; /* SO_SNDBUF(FORCE); 0 = 8 MB */
};

struct sender_stats {
    uint64_t packets, bytes, batches; /* packets: frames given to the kernel */
    uint64_t err_eperm;    /* EPERM/EACCES: firewall or missing privilege */
    uint64_t err_msgsize;  /* EMSGSIZE: larger than the route MTU */
    uint64_t err_nobufs;   /* ENOBUFS/EAGAIN: kernel queue full */
    uint64_t err_unreach;  /* ENETUNREACH/EHOSTUNREACH: no route to the target */
    uint64_t err_other;
    uint64_t coalesced; /* link layer: segments sent inside the previous one's offload frame */
};

/* Open the raw IPv4 and IPv6 sockets. NULL with a message in err on failure
 * (EPERM means no CAP_NET_RAW: the message says so). */
struct sender *sender_raw_open(const struct sender_conf *c, char *err, size_t errlen);

/* Link-layer send: packets to `ip` leave with destination MAC `mac`. */
struct sender_link_dst {
    struct addr ip;
    uint8_t mac[6];
    uint8_t src_mac[6]; /* used when has_src (-x port@MAC-...): else the device's */
    bool has_src;
};
struct sender_link_conf {
    const char *device;                 /* the output interface (-o) */
    const struct sender_link_dst *dsts; /* copied; a packet to another address is
                                         * refused and counted as unreachable */
    size_t ndst;
};
/* Open an AF_PACKET socket on lc->device; the source MAC is the device's. NULL
 * with a message in err on failure. Same slot API as the raw sender: slots hold
 * the IP datagram, the Ethernet header is written in front of it at commit. */
struct sender *sender_link_open(const struct sender_conf *c, const struct sender_link_conf *lc,
                                char *err, size_t errlen);
void sender_free(struct sender *s); /* flushes, then closes; NULL-safe */

/* The largest packet a slot holds. */
size_t sender_slot_size(const struct sender *s);
/* A slot to build one IP datagram into (sender_slot_size() bytes). Never NULL:
 * a full batch is flushed first. */
uint8_t *sender_buf(struct sender *s);
/* Queue the datagram just built in the slot (len bytes; destination from its IP header). */
void sender_commit(struct sender *s, size_t len);
/* Send everything queued. Returns the number of packets the kernel refused. */
unsigned sender_flush(struct sender *s);
const struct sender_stats *sender_stats(const struct sender *s);

#endif
