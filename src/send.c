/*
 * send: the front of send.h. It owns what every backend shares: one block of
 * fixed-size slots, allocated at open, and the mmsghdr/iovec/sockaddr arrays
 * that describe them; the engine builds each packet in place (sender_buf),
 * queues it (sender_commit), and sender_flush hands the queue to the backend,
 * which gives it to the kernel with sendmmsg() (sender_send_run).
 *
 * Backends (send_impl.h): send_raw.c (raw IP sockets, the default) and
 * send_link.c (AF_PACKET, --pcap-send). This file calls them only through the
 * ops table, and holds the defaults and limits of struct sender_conf.
 *
 * Nothing here blocks, logs or exits: a datagram that is malformed or that the
 * kernel refuses is counted by errno and skipped. The engine's retransmission
 * timers repair the loss.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "send.h"
#include "send_impl.h"

int sender_conf_resolve(struct sender_conf *out, const struct sender_conf *c, const char *what,
                        char *err, size_t errlen)
{
    out->batch = c && c->batch ? c->batch : SEND_BATCH_DEFAULT;
    out->slot = c && c->slot ? c->slot : SEND_SLOT_DEFAULT;
    out->sndbuf_bytes = c && c->sndbuf_bytes > 0 ? c->sndbuf_bytes : SEND_SNDBUF_DEFAULT;
    if (out->batch > SEND_BATCH_MAX) {
        errbuf_set(err, errlen, "%s: batch %u out of range 1..%u", what, out->batch,
                   SEND_BATCH_MAX);
        return -EINVAL;
    }
    if (out->slot < SEND_SLOT_MIN || out->slot > SEND_SLOT_MAX) {
        errbuf_set(err, errlen, "%s: slot size %u out of range %u..%u", what, out->slot,
                   SEND_SLOT_MIN, SEND_SLOT_MAX);
        return -EINVAL;
    }
    return 0;
}

struct sender *sender_new(const struct sender_ops *ops, const struct sender_conf *c,
                          size_t headroom, const char *what, char *err, size_t errlen)
{
    struct sender *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        errbuf_set(err, errlen, "%s: %s", what, strerror(ENOMEM));
        return NULL;
    }
    s->ops = ops;
    if (sender_conf_resolve(&s->conf, c, what, err, errlen) < 0) {
        sender_free(s);
        return NULL;
    }
    s->batch = s->conf.batch;
    s->slot = s->conf.slot;
    s->headroom = headroom;
    s->slots = malloc((size_t)s->batch * (s->headroom + s->slot));
    s->msgs = calloc(s->batch, sizeof(*s->msgs));
    s->iov = calloc(s->batch, sizeof(*s->iov));
    s->names = calloc(s->batch, sizeof(*s->names));
    if (!s->slots || !s->msgs || !s->iov || !s->names) {
        errbuf_set(err, errlen, "%s: %s", what, strerror(ENOMEM));
        sender_free(s);
        return NULL;
    }
    return s;
}

void sender_free(struct sender *s)
{
    if (!s)
        return;
    if (s->priv != NULL) {
        sender_flush(s);
        s->ops->free(s->priv);
    }
    free(s->slots);
    free(s->msgs);
    free(s->iov);
    free(s->names);
    free(s);
}

void sender_sndbuf_set(const struct sender_conf *c, int fd)
{
    int sndbuf = c->sndbuf_bytes;

    /* A large send buffer absorbs a burst of replayed traffic without EAGAIN.
     * SO_SNDBUFFORCE ignores net.core.wmem_max but needs CAP_NET_ADMIN; the
     * capped SO_SNDBUF is the best an unprivileged-but-CAP_NET_RAW run gets. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
}

size_t sender_slot_size(const struct sender *s)
{
    return s->slot;
}

uint8_t *sender_buf(struct sender *s)
{
    if (s->n == s->batch)
        sender_flush(s);
    return sender_slot(s, s->n) + s->headroom;
}

void sender_count_err(struct sender_stats *st, int e)
{
    switch (e) {
    case EPERM:
    case EACCES:
        st->err_eperm++;
        break;
    case EMSGSIZE:
        st->err_msgsize++;
        break;
    case ENOBUFS:
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        st->err_nobufs++;
        break;
    case ENETUNREACH:
    case EHOSTUNREACH:
        st->err_unreach++;
        break;
    default:
        st->err_other++;
        break;
    }
}

/* The destination of the datagram ip[0..len); false if it is too short for its
 * IP header or neither IPv4 nor IPv6. */
static bool sender_ip_dst(const uint8_t *ip, size_t len, struct addr *dst)
{
    if (len < 1)
        return false;
    switch (ip[0] >> 4) {
    case 4:
        if (len < 20)
            return false;
        addr_set_v4(dst, ip + 16);
        return true;
    case 6:
        if (len < 40)
            return false;
        addr_set_v6(dst, ip + 24);
        return true;
    default:
        return false;
    }
}

void sender_commit(struct sender *s, size_t len)
{
    uint8_t *ip = sender_slot(s, s->n) + s->headroom;
    struct addr dst;
    int rc;

    /* The engine builds headers itself, so a bad length or version here is a
     * bug upstream; count it rather than let the kernel see garbage. */
    if (s->n == s->batch || len > s->slot || !sender_ip_dst(ip, len, &dst)) {
        s->st.err_other++;
        return;
    }
    rc = s->ops->commit(s, s->n, ip, len, &dst);
    if (rc < 0) {
        sender_count_err(&s->st, -rc);
        return;
    }
    s->n++;
}

void sender_msg_set(struct sender *s, unsigned i, void *base, size_t len, socklen_t namelen)
{
    struct mmsghdr *m = &s->msgs[i];

    s->iov[i].iov_base = base;
    s->iov[i].iov_len = len;
    memset(m, 0, sizeof(*m));
    m->msg_hdr.msg_name = &s->names[i];
    m->msg_hdr.msg_namelen = namelen;
    m->msg_hdr.msg_iov = &s->iov[i];
    m->msg_hdr.msg_iovlen = 1;
}

/*
 * Send msgs[0..n) on fd. sendmmsg stops at the first datagram the kernel
 * refuses and, having sent some, returns their count and drops the errno; the
 * next call then starts at the refused one and reports its errno, so that one
 * can be counted and skipped. Returns how many were refused.
 */
unsigned sender_send_run(struct sender *s, int fd, struct mmsghdr *msgs, unsigned n)
{
    unsigned i = 0, refused = 0;

    while (i < n) {
        int r = sendmmsg(fd, msgs + i, n - i, MSG_DONTWAIT);
        if (r <= 0) {
            /* r == 0 cannot happen for n - i > 0; treat it as a refusal so the
             * loop always advances. */
            int e = r < 0 ? errno : EIO;
            if (e == EINTR)
                continue;
            sender_count_err(&s->st, e);
            refused++;
            i++;
            continue;
        }
        s->st.batches++;
        for (int k = 0; k < r; k++)
            s->st.bytes += msgs[i + k].msg_len;
        s->st.packets += (unsigned)r;
        i += (unsigned)r;
    }
    return refused;
}

unsigned sender_flush(struct sender *s)
{
    unsigned refused;

    if (s->n == 0)
        return 0;
    refused = s->ops->flush(s);
    s->n = 0;
    return refused;
}

const struct sender_stats *sender_stats(const struct sender *s)
{
    return &s->st;
}
