/*
 * capture_multi: several captures as one (capture.h). Owns the sub-captures and
 * an epoll set of their fds; that set's fd is what the caller's loop polls (an
 * epoll fd is readable while any fd in it is). Dispatch walks the sub-captures
 * round-robin from where the last call stopped, so a busy device cannot starve
 * a quiet one; what a quiet one leaves of the batch goes to those that filled
 * their share, so a single busy device (or the IPv4 socket of a raw capture
 * whose IPv6 one is idle) still reads whole batches.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "capture.h"
#include "capture_impl.h"
#include "log.h"

struct capture_multi {
    int epfd;
    size_t n, next;
    struct capture **caps;
    bool *full; /* per sub-capture: it filled its share in this call's first pass */
};

static int multi_fd(void *priv)
{
    struct capture_multi *m = priv;
    return m->epfd;
}

static int multi_dispatch(void *priv, int max, capture_cb *cb, void *arg)
{
    struct capture_multi *m = priv;
    int total = 0, err = 0;

    if (m->n == 0 || max <= 0)
        return 0;
    int share = max / (int)m->n > 0 ? max / (int)m->n : 1;
    for (int pass = 0; pass < 2 && total < max; pass++) {
        for (size_t k = 0; k < m->n && total < max; k++) {
            size_t i = (m->next + k) % m->n;
            int want = pass == 0 ? share : max - total;
            if (pass == 1 && !m->full[i])
                continue;
            int r = capture_dispatch(m->caps[i], want, cb, arg);
            if (r < 0)
                err = r;
            else
                total += r;
            m->full[i] = r >= want;
        }
    }
    m->next = (m->next + 1) % m->n;
    return total > 0 || err == 0 ? total : err;
}

static uint64_t multi_drops(void *priv)
{
    struct capture_multi *m = priv;
    uint64_t d = 0;
    for (size_t i = 0; i < m->n; i++)
        d += capture_kernel_drops(m->caps[i]);
    return d;
}

static void multi_free(void *priv)
{
    struct capture_multi *m = priv;
    for (size_t i = 0; i < m->n; i++)
        capture_free(m->caps[i]);
    if (m->epfd >= 0)
        close(m->epfd);
    free(m->caps);
    free(m->full);
    free(m);
}

static const struct capture_ops multi_ops = {
    .name = "multi",
    .fd = multi_fd,
    .dispatch = multi_dispatch,
    .drops = multi_drops,
    .free = multi_free,
};

struct capture *capture_multi_new(struct capture **caps, size_t n, char *err, size_t errlen)
{
    struct capture_multi *m = calloc(1, sizeof(*m));
    if (m == NULL || (m->caps = calloc(n ? n : 1, sizeof(*m->caps))) == NULL ||
        (m->full = calloc(n ? n : 1, sizeof(*m->full))) == NULL) {
        for (size_t i = 0; i < n; i++)
            capture_free(caps[i]);
        if (m != NULL)
            free(m->caps);
        free(m);
        errbuf_set(err, errlen, "capture: %s", strerror(ENOMEM));
        return NULL;
    }
    memcpy(m->caps, caps, n * sizeof(*caps));
    m->n = n;
    m->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (m->epfd < 0) {
        errbuf_set(err, errlen, "capture: epoll: %s", strerror(errno));
        multi_free(m);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = i};
        if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, capture_fd(caps[i]), &ev) < 0) {
            errbuf_set(err, errlen, "capture: epoll: %s", strerror(errno));
            multi_free(m);
            return NULL;
        }
    }
    struct capture *c = capture_new(&multi_ops, m);
    if (c == NULL)
        errbuf_set(err, errlen, "capture: %s", strerror(ENOMEM));
    return c;
}
