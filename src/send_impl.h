/*
 * send_impl: what a sender backend provides (private to src/send*.c and the unit tests).
 *
 * struct sender is the front's (send.c): the conf with its defaults resolved, the
 * block of slots and the mmsghdr/iovec/sockaddr arrays that describe them, the
 * stats, and an ops table with the backend's state. A slot is `headroom + slot`
 * bytes: the engine builds the IP datagram at slot + headroom, and a backend that
 * needs a link header (send_link.c) writes it into the headroom just before, so
 * nothing is copied.
 *
 * The front checks each datagram (length, IP version, destination) before the
 * backend sees it, and backends call only the front (sender_new, sender_msg_set,
 * sender_send_run, sender_sndbuf_set), never each other.
 */
#ifndef TC_SEND_IMPL_H
#define TC_SEND_IMPL_H

#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "send.h"

#define SEND_BATCH_DEFAULT 64U
#define SEND_BATCH_MAX 1024U
#define SEND_SLOT_DEFAULT 1500U
#define SEND_SLOT_MIN 40U
#define SEND_SLOT_MAX 65535U /* an IPv4 datagram's 16-bit total length */
#define SEND_SNDBUF_DEFAULT (8 * 1024 * 1024)

struct sender_ops {
    const char *name; /* "raw", "link": for messages */
    /* Queue the datagram ip[0..len), checked by the front and bound for dst, as
     * message i: fill s->names[i] and call sender_msg_set(). 0, or -errno to refuse
     * it (the front counts it under that errno). */
    int (*commit)(struct sender *s, unsigned i, uint8_t *ip, size_t len, const struct addr *dst);
    /* Send messages [0, s->n); the front empties the queue after. Returns how many
     * the kernel refused (each counted with sender_count_err). */
    unsigned (*flush)(struct sender *s);
    /* Close and release priv (NULL-safe). */
    void (*free)(void *priv);
};

struct sender {
    const struct sender_ops *ops;
    void *priv;       /* the backend's state; NULL until its open sets it */
    struct sender_conf conf; /* defaults resolved */
    unsigned batch;   /* number of slots */
    size_t slot;      /* bytes of IP datagram per slot */
    size_t headroom;  /* bytes before the datagram in each slot (link header) */
    unsigned n;       /* slots committed and waiting for sender_flush */
    uint8_t *slots;   /* batch * (headroom + slot) bytes */
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *names;
    struct sender_stats st;
};

/*
 * The conf c with its defaults filled in (c may be NULL), checked. 0, or -EINVAL
 * with "<what>: ..." in err. Backends call it first, so that a bad conf is reported
 * before any socket is tried.
 */
int sender_conf_resolve(struct sender_conf *out, const struct sender_conf *c, const char *what,
                        char *err, size_t errlen);
/*
 * A sender with the slots of the resolved conf c, headroom bytes before each, and
 * no backend state yet (priv NULL: the backend's open sets it, and on failure calls
 * sender_free, which calls ops->free(priv)). NULL with "<what>: ..." in err.
 */
struct sender *sender_new(const struct sender_ops *ops, const struct sender_conf *c,
                          size_t headroom, const char *what, char *err, size_t errlen);
/* The start of slot i (its headroom). */
static inline uint8_t *sender_slot(struct sender *s, unsigned i)
{
    return s->slots + (size_t)i * (s->headroom + s->slot);
}
/* Point message i at base[0..len) for the name in s->names[i] (namelen bytes). */
void sender_msg_set(struct sender *s, unsigned i, void *base, size_t len, socklen_t namelen);
/* Count a refusal under its errno. */
void sender_count_err(struct sender_stats *st, int e);
/* sendmmsg the n messages on fd; a refused one is counted by errno and skipped.
 * Returns how many were refused. */
unsigned sender_send_run(struct sender *s, int fd, struct mmsghdr *msgs, unsigned n);
/* The resolved conf's send buffer on fd: SO_SNDBUFFORCE, else the capped SO_SNDBUF. */
void sender_sndbuf_set(const struct sender_conf *c, int fd);

/*
 * The backends over descriptors the caller opened (sender_raw_open and
 * sender_link_open open theirs, then call these; the unit tests pass their own).
 * They take ownership of the descriptors, also on failure.
 */
/* fd6 -1: IPv6 datagrams are refused and counted under fd6_err. */
struct sender *sender_raw_wrap(const struct sender_conf *c, int fd4, int fd6, int fd6_err,
                               char *err, size_t errlen);
/* vnet: fd has PACKET_VNET_HDR on: frames carry a virtio_net_hdr and runs of segments
 * of one connection leave as one segmentation-offload frame (send_link.c). */
struct sender *sender_link_wrap(const struct sender_conf *c, const struct sender_link_conf *lc,
                                int fd, int ifindex, const uint8_t src_mac[6], bool vnet,
                                char *err, size_t errlen);

#endif
