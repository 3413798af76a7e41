/*
 * send: where built packets go. The engine writes each packet straight into a
 * slot of the sender's batch (no copy, no malloc); the batch goes out with one
 * sendmmsg() when it is full or when the loop is about to sleep. Send errors are
 * counted by errno and never fatal: the engine's retransmission repairs losses.
 * Backend now: raw IP (IPPROTO_RAW, i.e. IP_HDRINCL) for IPv4 and IPv6.
 */
#ifndef TC_SEND_H
#define TC_SEND_H

#include <stddef.h>
#include <stdint.h>

struct sender;

struct sender_conf {
    unsigned batch;   /* packets per sendmmsg, 1..1024; 0 = 64 */
    unsigned slot;    /* largest packet, bytes; 0 = 1500 (the -M MTU) */
    int sndbuf_bytes; /* SO_SNDBUF(FORCE); 0 = 8 MB */
};

struct sender_stats {
    uint64_t packets, bytes, batches;
    uint64_t err_eperm;    /* EPERM/EACCES: firewall or missing privilege */
    uint64_t err_msgsize;  /* EMSGSIZE: larger than the route MTU */
    uint64_t err_nobufs;   /* ENOBUFS/EAGAIN: kernel queue full */
    uint64_t err_unreach;  /* ENETUNREACH/EHOSTUNREACH: no route to the target */
    uint64_t err_other;
};

/* Open the raw IPv4 and IPv6 sockets. NULL with a message in err on failure
 * (EPERM means no CAP_NET_RAW: the message says so). */
struct sender *sender_raw_open(const struct sender_conf *c, char *err, size_t errlen);
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
