/*
 * send_impl: the sender's state, shared by its backends (private to src/send*.c).
 *
 * send.c owns the slot block and the raw IP path; send_link.c adds the
 * link-layer path (AF_PACKET) behind the same public API. A slot is
 * `headroom + slot` bytes: the engine builds the IP datagram at slot + headroom,
 * and the link backend writes the Ethernet header into the headroom just before
 * it, so nothing is copied.
 */
#ifndef TC_SEND_IMPL_H
#define TC_SEND_IMPL_H

#include <stdint.h>
#include <sys/socket.h>

#include "send.h"

struct sender_link; /* send_link.c */

struct sender {
    int fd4;
    int fd6;          /* -1 if the IPv6 socket could not be opened */
    int fd6_err;      /* why not: IPv6 packets are counted under this errno */
    unsigned batch;   /* number of slots */
    size_t slot;      /* bytes of IP datagram per slot */
    size_t headroom;  /* bytes before the datagram in each slot (link header) */
    unsigned n;       /* slots committed and waiting for sender_flush */
    uint8_t *slots;   /* batch * (headroom + slot) bytes */
    uint8_t *fam;     /* per queued slot: AF_INET or AF_INET6 */
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *names;
    struct sender_link *link; /* NULL: raw IP sockets */
    struct sender_stats st;
};

/* The start of slot i (its headroom). */
static inline uint8_t *sender_slot(struct sender *s, unsigned i)
{
    return s->slots + (size_t)i * (s->headroom + s->slot);
}

/* send.c: allocate the slot arrays; 0 or -ENOMEM. */
int sender_alloc_slots(struct sender *s);
/* send.c: count a refusal under its errno. */
void sender_count_err(struct sender_stats *st, int e);
/* sendmmsg the n messages on fd; a refused one is counted by errno and skipped.
 * Returns how many were refused. */
unsigned sender_send_run(struct sender *s, int fd, struct mmsghdr *msgs, unsigned n);
/* send_link.c: queue / send / release for the link backend. */
void sender_link_commit(struct sender *s, size_t len);
unsigned sender_link_flush(struct sender *s);
void sender_link_free(struct sender_link *l);

#endif
