/*
 * send: the raw IP sender. Packets built by the engine go to the test server
 * through two raw sockets, AF_INET and AF_INET6, both IPPROTO_RAW so that the
 * kernel takes our IP header as is (IP_HDRINCL / IPV6_HDRINCL) and only routes
 * the datagram.
 *
 * The sender owns one block of fixed-size slots, allocated at open, and the
 * mmsghdr/iovec/sockaddr arrays that describe them: the engine builds each
 * packet in place (sender_buf), queues it (sender_commit), and sender_flush
 * hands the queue to the kernel with sendmmsg(), one call per run of packets of
 * the same family so that the order within a family is kept.
 *
 * Nothing here blocks, logs or exits: a datagram the kernel refuses is counted
 * by errno and skipped. The engine's retransmission timers repair the loss.
 *
 * The link-layer backend (--pcap-send) lives in send_link.c and shares struct
 * sender (send_impl.h): each slot then has room for an Ethernet header in front
 * of the datagram, and commit/flush go to that backend.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "send.h"
#include "send_impl.h"

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36 /* Linux 4.5; older libcs do not name it */
#endif

#define SEND_BATCH_DEFAULT 64U
#define SEND_BATCH_MAX 1024U
#define SEND_SLOT_DEFAULT 1500U
#define SEND_SLOT_MAX 65535U
#define SEND_SNDBUF_DEFAULT (8 * 1024 * 1024)

/*
 * Open one raw socket. EPERM gets its own wording because it is what an
 * unprivileged start produces and "Operation not permitted" alone does not say
 * which privilege is missing. Returns the fd or -errno.
 */
static int send_socket(int af, const char *what, int sndbuf, char *err, size_t errlen)
{
    int fd, e;

    fd = socket(af, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) {
        e = errno;
        if (e == EPERM || e == EACCES)
            errbuf_set(err, errlen, "%s raw socket: %s (tcpcopy needs root or CAP_NET_RAW)", what,
                         strerror(e));
        else
            errbuf_set(err, errlen, "%s raw socket: %s", what, strerror(e));
        return -e;
    }
    /* IPPROTO_RAW implies header inclusion for both families on Linux; setting
     * it explicitly for IPv6 documents the intent and covers older kernels. */
    if (af == AF_INET6) {
        int one = 1;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof(one)) < 0) {
            e = errno;
            errbuf_set(err, errlen, "%s raw socket: IPV6_HDRINCL: %s", what, strerror(e));
            close(fd);
            return -e;
        }
    }
    /* A large send buffer absorbs a burst of replayed traffic without EAGAIN.
     * SO_SNDBUFFORCE ignores net.core.wmem_max but needs CAP_NET_ADMIN; the
     * capped SO_SNDBUF is the best an unprivileged-but-CAP_NET_RAW run gets. */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    return fd;
}

struct sender *sender_raw_open(const struct sender_conf *c, char *err, size_t errlen)
{
    struct sender *s = NULL;
    unsigned batch = c && c->batch ? c->batch : SEND_BATCH_DEFAULT;
    size_t slot = c && c->slot ? c->slot : SEND_SLOT_DEFAULT;
    int sndbuf = c && c->sndbuf_bytes > 0 ? c->sndbuf_bytes : SEND_SNDBUF_DEFAULT;
    char err6[128];
    int fd;

    if (batch > SEND_BATCH_MAX) {
        errbuf_set(err, errlen, "sender: batch %u out of range 1..%u", batch, SEND_BATCH_MAX);
        return NULL;
    }
    /* An IPv4 datagram cannot be longer than its 16-bit total length. */
    if (slot < 40 || slot > SEND_SLOT_MAX) {
        errbuf_set(err, errlen, "sender: slot size %zu out of range 40..%u", slot, SEND_SLOT_MAX);
        return NULL;
    }

    s = calloc(1, sizeof(*s));
    if (!s)
        goto nomem;
    s->fd4 = -1;
    s->fd6 = -1;
    s->batch = batch;
    s->slot = slot;
    if (sender_alloc_slots(s) < 0)
        goto nomem;

    fd = send_socket(AF_INET, "IPv4", sndbuf, err, errlen);
    if (fd < 0)
        goto fail;
    s->fd4 = fd;

    /* IPv6 is optional: a host without it (ipv6.disable=1) still replays IPv4.
     * Its packets are then refused one by one under the errno we got here. */
    fd = send_socket(AF_INET6, "IPv6", sndbuf, err6, sizeof(err6));
    if (fd < 0)
        s->fd6_err = -fd;
    else
        s->fd6 = fd;
    return s;

nomem:
    errbuf_set(err, errlen, "sender: %s", strerror(ENOMEM));
fail:
    sender_free(s);
    return NULL;
}

int sender_alloc_slots(struct sender *s)
{
    s->slots = malloc((size_t)s->batch * (s->headroom + s->slot));
    s->fam = calloc(s->batch, sizeof(*s->fam));
    s->msgs = calloc(s->batch, sizeof(*s->msgs));
    s->iov = calloc(s->batch, sizeof(*s->iov));
    s->names = calloc(s->batch, sizeof(*s->names));
    if (!s->slots || !s->fam || !s->msgs || !s->iov || !s->names)
        return -ENOMEM;
    return 0;
}

void sender_free(struct sender *s)
{
    if (!s)
        return;
    if (s->fd4 >= 0 || s->link)
        sender_flush(s);
    sender_link_free(s->link);
    if (s->fd4 >= 0)
        close(s->fd4);
    if (s->fd6 >= 0)
        close(s->fd6);
    free(s->slots);
    free(s->fam);
    free(s->msgs);
    free(s->iov);
    free(s->names);
    free(s);
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

void sender_commit(struct sender *s, size_t len)
{
    if (s->link) {
        sender_link_commit(s, len);
        return;
    }
    uint8_t *p = sender_slot(s, s->n);
    struct sockaddr_storage *ss = &s->names[s->n];
    struct mmsghdr *m = &s->msgs[s->n];
    socklen_t salen;
    uint8_t af;

    /* The engine builds headers itself, so a bad length or version here is a
     * bug upstream; count it rather than let the kernel see garbage. */
    if (s->n == s->batch || len > s->slot || len < 1) {
        s->st.err_other++;
        return;
    }
    memset(ss, 0, sizeof(*ss));
    switch (p[0] >> 4) {
    case 4: {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        if (len < 20) {
            s->st.err_other++;
            return;
        }
        /* With IP_HDRINCL the route comes from msg_name, not from the header:
         * both must name the same host. The port must stay 0 on raw sockets. */
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, p + 16, 4);
        salen = sizeof(*sin);
        af = AF_INET;
        break;
    }
    case 6: {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        if (len < 40) {
            s->st.err_other++;
            return;
        }
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, p + 24, 16);
        salen = sizeof(*sin6);
        af = AF_INET6;
        break;
    }
    default:
        s->st.err_other++;
        return;
    }

    s->iov[s->n].iov_base = p;
    s->iov[s->n].iov_len = len;
    memset(m, 0, sizeof(*m));
    m->msg_hdr.msg_name = ss;
    m->msg_hdr.msg_namelen = salen;
    m->msg_hdr.msg_iov = &s->iov[s->n];
    m->msg_hdr.msg_iovlen = 1;
    s->fam[s->n] = af;
    s->n++;
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
    unsigned i = 0, refused = 0;

    if (s->link)
        return sender_link_flush(s);

    while (i < s->n) {
        uint8_t af = s->fam[i];
        unsigned j = i + 1;

        while (j < s->n && s->fam[j] == af)
            j++;
        if (af == AF_INET6 && s->fd6 < 0) {
            for (unsigned k = i; k < j; k++)
                sender_count_err(&s->st, s->fd6_err);
            refused += j - i;
        } else {
            refused += sender_send_run(s, af == AF_INET ? s->fd4 : s->fd6, s->msgs + i, j - i);
        }
        i = j;
    }
    s->n = 0;
    return refused;
}

const struct sender_stats *sender_stats(const struct sender *s)
{
    return &s->st;
}
