/*
 * send_raw: the raw IP backend of send.h (tcpcopy's default). Packets built by
 * the engine go to the test server through two raw sockets, AF_INET and
 * AF_INET6, both IPPROTO_RAW so that the kernel takes our IP header as is
 * (IP_HDRINCL / IPV6_HDRINCL) and only routes the datagram.
 *
 * This file owns the two sockets and, per queued slot, its family: a flush makes
 * one sendmmsg() per run of packets of the same family, so that the order within
 * a family is kept.
 */
#include <errno.h>
#include <netinet/in.h>
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

struct send_raw {
    int fd4;
    int fd6;      /* -1 if the IPv6 socket could not be opened */
    int fd6_err;  /* why not: IPv6 packets are counted under this errno */
    uint8_t *fam; /* per queued slot: AF_INET or AF_INET6 */
};

static void send_raw_free(void *priv)
{
    struct send_raw *r = priv;

    if (r == NULL)
        return;
    if (r->fd4 >= 0)
        close(r->fd4);
    if (r->fd6 >= 0)
        close(r->fd6);
    free(r->fam);
    free(r);
}

static int send_raw_commit(struct sender *s, unsigned i, uint8_t *ip, size_t len,
                           const struct addr *dst)
{
    struct send_raw *r = s->priv;

    /* With IP_HDRINCL the route comes from msg_name, not from the header: both
     * must name the same host. The port must stay 0 on raw sockets. */
    size_t salen = addr_to_sockaddr(dst, 0, &s->names[i]);
    sender_msg_set(s, i, ip, len, (socklen_t)salen);
    r->fam[i] = dst->af;
    return 0;
}

static unsigned send_raw_flush(struct sender *s)
{
    struct send_raw *r = s->priv;
    unsigned i = 0, refused = 0;

    while (i < s->n) {
        uint8_t af = r->fam[i];
        unsigned j = i + 1;

        while (j < s->n && r->fam[j] == af)
            j++;
        if (af == AF_INET6 && r->fd6 < 0) {
            for (unsigned k = i; k < j; k++)
                sender_count_err(&s->st, r->fd6_err);
            refused += j - i;
        } else {
            refused += sender_send_run(s, af == AF_INET ? r->fd4 : r->fd6, s->msgs + i, j - i);
        }
        i = j;
    }
    return refused;
}

static const struct sender_ops send_raw_ops = {
    .name = "raw",
    .commit = send_raw_commit,
    .flush = send_raw_flush,
    .free = send_raw_free,
};

struct sender *sender_raw_wrap(const struct sender_conf *c, int fd4, int fd6, int fd6_err,
                               char *err, size_t errlen)
{
    struct sender *s = sender_new(&send_raw_ops, c, 0, "sender", err, errlen);
    struct send_raw *r = calloc(1, sizeof(*r));

    if (r != NULL) {
        r->fd4 = fd4;
        r->fd6 = fd6;
        r->fd6_err = fd6_err;
    }
    if (s == NULL || r == NULL || (r->fam = calloc(s->batch, sizeof(*r->fam))) == NULL) {
        if (s != NULL)
            errbuf_set(err, errlen, "sender: %s", strerror(ENOMEM));
        if (r == NULL) {
            if (fd4 >= 0)
                close(fd4);
            if (fd6 >= 0)
                close(fd6);
        }
        send_raw_free(r);
        sender_free(s);
        return NULL;
    }
    s->priv = r;
    return s;
}

/*
 * Open one raw socket. EPERM gets its own wording because it is what an
 * unprivileged start produces and "Operation not permitted" alone does not say
 * which privilege is missing. Returns the fd or -errno.
 */
static int send_raw_socket(int af, const char *what, const struct sender_conf *c, char *err,
                           size_t errlen)
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
    sender_sndbuf_set(c, fd);
    return fd;
}

struct sender *sender_raw_open(const struct sender_conf *c, char *err, size_t errlen)
{
    struct sender_conf rc;
    char err6[128];
    int fd4, fd6;

    if (sender_conf_resolve(&rc, c, "sender", err, errlen) < 0)
        return NULL;
    fd4 = send_raw_socket(AF_INET, "IPv4", &rc, err, errlen);
    if (fd4 < 0)
        return NULL;
    /* IPv6 is optional: a host without it (ipv6.disable=1) still replays IPv4.
     * Its packets are then refused one by one under the errno we got here. */
    fd6 = send_raw_socket(AF_INET6, "IPv6", &rc, err6, sizeof(err6));
    return sender_raw_wrap(&rc, fd4, fd6 < 0 ? -1 : fd6, fd6 < 0 ? -fd6 : 0, err, errlen);
}
