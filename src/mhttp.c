/*
 * mhttp: the metrics endpoint (see mhttp.h). Owns the listening socket and a
 * fixed array of client slots; a slot holds the request read so far and, once
 * it is complete, the whole answer, which leaves as the socket takes it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "mhttp.h"

#define MHTTP_HEAD_MAX 160 /* the status line and headers of an answer */

struct mhttp_client {
    int fd; /* -1: a free slot */
    uint64_t deadline_us;
    size_t inlen;
    char in[MHTTP_REQ_MAX];
    char *out; /* the answer (malloc'd once the request is complete) */
    size_t outlen, outoff;
};

struct mhttp {
    struct loop *loop;
    int lfd;
    uint16_t port;
    mhttp_render_cb *cb;
    void *arg;
    struct loop_timer timer; /* closes clients past their deadline */
    struct mhttp_client cl[MHTTP_CLIENTS_MAX];
};

bool mhttp_parse_addr(const char *spec, struct addr *a, uint16_t *port)
{
    char host[64];
    const char *colon, *hs = spec;
    size_t hl;

    if (spec == NULL)
        return false;
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (end == NULL || end[1] != ':')
            return false;
        hs = spec + 1;
        hl = (size_t)(end - hs);
        colon = end + 1;
    } else {
        colon = strrchr(spec, ':');
        if (colon == NULL || memchr(spec, ':', (size_t)(colon - spec)) != NULL)
            return false; /* an IPv6 address needs brackets */
        hl = (size_t)(colon - spec);
    }
    if (hl >= sizeof(host))
        return false;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    const char *ps = colon + 1;
    if (*ps == '\0' || strlen(ps) > 5 || strspn(ps, "0123456789") != strlen(ps))
        return false;
    unsigned long p = strtoul(ps, NULL, 10);
    if (p > 65535)
        return false;
    *port = (uint16_t)p;
    if (hl == 0 && spec[0] != '[') {
        static const uint8_t zero[4];
        addr_set_v4(a, zero);
        return true;
    }
    return addr_parse(a, host);
}

/* ---- requests ---- */

/* The end of the headers (an empty line), or NULL. */
static const char *req_end(const char *buf, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (buf[i] != '\n')
            continue;
        if (buf[i + 1] == '\n')
            return buf + i + 2;
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
            return buf + i + 3;
    }
    return NULL;
}

int mhttp_parse_request(const char *buf, size_t len)
{
    if (req_end(buf, len) == NULL)
        return len >= MHTTP_REQ_MAX ? 400 : 0;
    /* Request line (RFC 9112 section 3): method SP request-target SP HTTP-version. */
    const char *eol = memchr(buf, '\n', len);
    size_t ll = (size_t)(eol - buf);
    if (ll > 0 && buf[ll - 1] == '\r')
        ll--;
    const char *sp1 = memchr(buf, ' ', ll);
    if (sp1 == NULL || sp1 == buf)
        return 400;
    const char *tgt = sp1 + 1;
    const char *sp2 = memchr(tgt, ' ', ll - (size_t)(tgt - buf));
    if (sp2 == NULL || sp2 == tgt)
        return 400;
    const char *ver = sp2 + 1;
    size_t vl = ll - (size_t)(ver - buf);
    if (vl != 8 || memcmp(ver, "HTTP/1.", 7) != 0)
        return 400;
    size_t ml = (size_t)(sp1 - buf), tl = (size_t)(sp2 - tgt);
    if (ml != 3 || memcmp(buf, "GET", 3) != 0)
        return 405;
    if (tl >= 8 && memcmp(tgt, "/metrics", 8) == 0 && (tl == 8 || tgt[8] == '?'))
        return 200;
    return 404;
}

/* ---- clients ---- */

static void client_close(struct mhttp *h, struct mhttp_client *c)
{
    if (c->fd < 0)
        return;
    loop_fd_del(h->loop, c->fd);
    close(c->fd);
    free(c->out);
    c->out = NULL;
    c->fd = -1;
}

static void client_write(struct mhttp *h, struct mhttp_client *c)
{
    while (c->outoff < c->outlen) {
        ssize_t w = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            (void)loop_fd_mod(h->loop, c->fd, LOOP_WRITE);
            return;
        }
        if (w <= 0)
            break;
        c->outoff += (size_t)w;
    }
    client_close(h, c); /* sent, or the client went away */
}

static const char *status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    default: return "Bad Request";
    }
}

/* Build the answer for status code into c->out. */
static void client_answer(struct mhttp *h, struct mhttp_client *c, int code)
{
    size_t cap = MHTTP_HEAD_MAX + (code == 200 ? MHTTP_BODY_MAX : 64);
    c->out = malloc(cap);
    if (c->out == NULL) {
        client_close(h, c);
        return;
    }
    char *body = c->out + MHTTP_HEAD_MAX;
    long blen;
    if (code == 200) {
        blen = h->cb(h->arg, body, MHTTP_BODY_MAX);
        if (blen < 0 || (size_t)blen > MHTTP_BODY_MAX)
            code = 500;
    }
    if (code != 200)
        blen = snprintf(body, 64, "%d %s\n", code, status_text(code));
    int hl = snprintf(c->out, MHTTP_HEAD_MAX,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %ld\r\n%s"
                      "Connection: close\r\n\r\n",
                      code, status_text(code),
                      code == 200 ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain",
                      blen, code == 405 ? "Allow: GET\r\n" : "");
    /* The headers go right before the body, so the answer is one contiguous run. */
    memmove(body - hl, c->out, (size_t)hl);
    c->outoff = MHTTP_HEAD_MAX - (size_t)hl;
    c->outlen = MHTTP_HEAD_MAX + (size_t)blen;
    shutdown(c->fd, SHUT_RD);
    client_write(h, c);
}

static void client_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct mhttp *h = arg;
    struct mhttp_client *c = NULL;
    for (size_t i = 0; i < MHTTP_CLIENTS_MAX; i++)
        if (h->cl[i].fd == fd)
            c = &h->cl[i];
    if (c == NULL)
        return;
    if (c->out != NULL) {
        client_write(h, c);
        return;
    }
    for (;;) {
        ssize_t r = recv(fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            client_close(h, c); /* gone before its request was complete */
            return;
        }
        c->inlen += (size_t)r;
        int code = mhttp_parse_request(c->in, c->inlen);
        if (code != 0) {
            client_answer(h, c, code);
            return;
        }
    }
}

static void timer_cb(struct loop *l, void *arg)
{
    struct mhttp *h = arg;
    uint64_t now = loop_now(l), next = UINT64_MAX;
    for (size_t i = 0; i < MHTTP_CLIENTS_MAX; i++) {
        struct mhttp_client *c = &h->cl[i];
        if (c->fd >= 0 && now >= c->deadline_us)
            client_close(h, c);
        else if (c->fd >= 0 && c->deadline_us < next)
            next = c->deadline_us;
    }
    if (next != UINT64_MAX)
        loop_timer_set(l, &h->timer, next, timer_cb, h);
}

static void accept_cb(struct loop *l, int lfd, unsigned events, void *arg)
{
    struct mhttp *h = arg;
    for (int n = 0; n < MHTTP_CLIENTS_MAX * 2; n++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return; /* EAGAIN, or an error the next readiness retries */
        struct mhttp_client *c = NULL;
        for (size_t i = 0; i < MHTTP_CLIENTS_MAX && c == NULL; i++)
            if (h->cl[i].fd < 0)
                c = &h->cl[i];
        if (c == NULL || loop_fd_add(l, fd, LOOP_READ, client_cb, h) < 0) {
            close(fd); /* every slot busy: the scraper retries later */
            continue;
        }
        c->fd = fd;
        c->inlen = 0;
        c->outlen = c->outoff = 0;
        c->deadline_us = loop_update_time(l) + MHTTP_CLIENT_US;
        if (!h->timer.armed)
            loop_timer_set(l, &h->timer, c->deadline_us, timer_cb, h);
    }
}

/* ---- life cycle ---- */

static int mhttp_listen(struct mhttp *h, const struct addr *a, uint16_t port, char *err,
                        size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl = (socklen_t)addr_to_sockaddr(a, port, &ss);
    char name[ADDR_STRLEN];
    int one = 1;
    addr_port_str(a, port, name, sizeof(name));
    h->lfd = socket(a->af, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->lfd < 0) {
        errbuf_set(err, errlen, "--metrics %s: socket: %s", name, strerror(errno));
        return -1;
    }
    (void)setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(h->lfd, (struct sockaddr *)&ss, sl) != 0 || listen(h->lfd, 16) != 0) {
        errbuf_set(err, errlen, "--metrics %s: %s", name, strerror(errno));
        return -1;
    }
    sl = sizeof(ss);
    if (getsockname(h->lfd, (struct sockaddr *)&ss, &sl) == 0)
        (void)addr_from_sockaddr(&(struct addr){0}, &h->port, &ss);
    int rc = loop_fd_add(h->loop, h->lfd, LOOP_READ, accept_cb, h);
    if (rc < 0) {
        errbuf_set(err, errlen, "--metrics %s: %s", name, strerror(-rc));
        return -1;
    }
    return 0;
}

struct mhttp *mhttp_new(struct loop *l, const char *spec, mhttp_render_cb *cb, void *arg,
                        char *err, size_t errlen)
{
    struct addr a;
    uint16_t port;
    if (!mhttp_parse_addr(spec, &a, &port)) {
        errbuf_set(err, errlen, "--metrics %s: expected ADDR:PORT, [IPV6]:PORT or :PORT", spec);
        return NULL;
    }
    struct mhttp *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        errbuf_set(err, errlen, "out of memory");
        return NULL;
    }
    h->loop = l;
    h->cb = cb;
    h->arg = arg;
    for (size_t i = 0; i < MHTTP_CLIENTS_MAX; i++)
        h->cl[i].fd = -1;
    if (mhttp_listen(h, &a, port, err, errlen) != 0) {
        if (h->lfd >= 0)
            close(h->lfd);
        free(h);
        return NULL;
    }
    return h;
}

uint16_t mhttp_port(const struct mhttp *h)
{
    return h->port;
}

void mhttp_free(struct mhttp *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < MHTTP_CLIENTS_MAX; i++)
        client_close(h, &h->cl[i]);
    loop_timer_cancel(h->loop, &h->timer);
    loop_fd_del(h->loop, h->lfd);
    close(h->lfd);
    free(h);
}
