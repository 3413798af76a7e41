/*
 * check_peers: intercept --check's channel port and peer window. The port is
 * bound as intercept binds it; with --check-wait the tcpcopy peers that connect
 * are judged like intercept judges them (--allow or its default of this host's
 * subnets, the HELLO, the shared secret: protocol.md sections 4 and 8), and the
 * targets of the routes they register are kept for the filter check. The
 * handshake is a small blocking one of its own, on the same codec (chan.c) and
 * proofs (auth.c) as peer.c; no reply is ever forwarded.
 */
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "chan.h"
#include "check_impl.h"
#include "hello.h"
#include "log.h"

#define PEERS_MAX 16

enum cpeer_state { CP_HELLO, CP_AUTH, CP_UP, CP_DONE };

struct cpeer {
    int fd;
    enum cpeer_state st;
    char label[ADDR_STRLEN + 8];
    struct buf in;
    struct chan_out out;
    uint8_t nonce[CHAN_NONCE_LEN];
    struct hello h;
    size_t routes;
    bool was_up;
};

struct window {
    struct icheck *k;
    struct auth_secret secret;
    struct cpeer peers[PEERS_MAX];
    size_t npeers;
};

int icheck_listen(struct icheck *k)
{
    struct sockaddr_storage ss;
    struct addr any6;
    const struct addr *a = &k->o->bind;
    int one = 1, zero = 0;

    memset(&any6, 0, sizeof(any6));
    any6.af = AF_INET6;
    if (a->af == 0)
        a = &any6; /* dual stack, as intercept listens by default */
    socklen_t sl = (socklen_t)addr_to_sockaddr(a, k->o->port, &ss);
    int fd = socket(a->af, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (a == &any6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 16) != 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (k->o->check_wait_s == 0)
        close(fd);
    else
        k->listen_fd = fd;
    return 0;
}

/* The peer's address as intercept's allowlist sees it (IPv4-mapped: IPv4). */
static void peer_addr(struct addr *a, const struct sockaddr_storage *ss)
{
    uint16_t port;
    (void)addr_from_sockaddr(a, &port, ss);
    if (a->af == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&a->u.v6)) {
        uint8_t v4[4];
        memcpy(v4, &a->u.b[12], 4);
        addr_set_v4(a, v4);
    }
}

static unsigned mask_prefix(const struct sockaddr *m)
{
    const uint8_t *b = m->sa_family == AF_INET ? (const uint8_t *)&((const struct sockaddr_in *)m)->sin_addr
                                               : (const uint8_t *)&((const struct sockaddr_in6 *)m)->sin6_addr;
    size_t n = m->sa_family == AF_INET ? 4 : 16;
    unsigned p = 0;
    for (size_t i = 0; i < n; i++)
        p += (unsigned)__builtin_popcount(b[i]);
    return p;
}

/* --allow, or its default: loopback and the subnets of this host's interfaces. */
static bool allowed(const struct icpt_opts *o, const struct addr *a)
{
    struct ifaddrs *ifs, *i;
    bool ok = false;

    if (o->allow_any)
        return true;
    if (o->nallow > 0) {
        for (size_t j = 0; j < o->nallow; j++)
            if (addr_in_prefix(a, &o->allow[j].net, o->allow[j].prefix))
                return true;
        return false;
    }
    if (addr_is_loopback(a))
        return true;
    if (getifaddrs(&ifs) != 0)
        return false;
    for (i = ifs; i != NULL && !ok; i = i->ifa_next) {
        struct addr net;
        uint16_t port;
        if (i->ifa_addr == NULL || i->ifa_netmask == NULL || i->ifa_addr->sa_family != a->af)
            continue;
        if (addr_from_sockaddr(&net, &port, i->ifa_addr))
            ok = addr_in_prefix(a, &net, mask_prefix(i->ifa_netmask));
    }
    freeifaddrs(ifs);
    return ok;
}

static void peer_close(struct cpeer *p, uint16_t code, const char *text)
{
    if (p->st == CP_DONE)
        return;
    if (p->fd >= 0) {
        if (text != NULL && hello_bye_put(&p->out, code, text) == 0)
            (void)chan_out_flush(&p->out, p->fd);
        close(p->fd);
    }
    p->fd = -1;
    p->st = CP_DONE;
    buf_free(&p->in);
    chan_out_free(&p->out);
}

/* A tcpcopy retries after a refusal: one finding per reason, not one per attempt. */
static bool seen_before(const struct findings *f, const char *id, const char *what)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->v[i].id, id) == 0 && strcmp(f->v[i].what, what) == 0)
            return true;
    return false;
}

static void accept_one(struct window *w)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    struct addr a;
    int fd = accept4(w->k->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    char ab[ADDR_STRLEN];

    if (fd < 0)
        return;
    peer_addr(&a, &ss);
    addr_str(&a, ab, sizeof(ab));
    if (!allowed(w->k->o, &a)) {
        char text[FINDING_TEXT_MAX];
        snprintf(text, sizeof(text), "tcpcopy %s connected, and is refused: not in %s", ab,
                 w->k->o->nallow > 0 ? "--allow" : "this host's subnets (the default of --allow)");
        if (!seen_before(w->k->f, "peer_not_allowed", text))
            finding_fix(findings_add(w->k->f, FINDING_FAIL, "peer_not_allowed", "%s", text),
                        "add it to intercept's --allow: --allow %s/%u", ab,
                        a.af == AF_INET ? 32U : 128U);
        struct chan_out out;
        chan_out_init(&out, 4096);
        if (hello_bye_put(&out, CHAN_BYE_REFUSED, "not allowed (intercept --check)") == 0)
            (void)chan_out_flush(&out, fd);
        chan_out_free(&out);
        close(fd);
        return;
    }
    if (w->npeers == PEERS_MAX) {
        close(fd);
        return;
    }
    struct cpeer *p = &w->peers[w->npeers++];
    memset(p, 0, sizeof(*p));
    p->fd = fd;
    snprintf(p->label, sizeof(p->label), "%s", ab);
    buf_init(&p->in, 1U << 17);
    chan_out_init(&p->out, 1U << 16);
}

static void peer_fail(struct window *w, struct cpeer *p, const char *id, uint16_t code,
                      const char *what, const char *fix)
{
    char text[FINDING_TEXT_MAX];

    snprintf(text, sizeof(text), "tcpcopy %s: %s", p->label, what);
    if (!seen_before(w->k->f, id, text))
        finding_fix(findings_add(w->k->f, FINDING_FAIL, id, "%s", text), "%s", fix);
    peer_close(p, code, what);
}

static void learn_routes(struct window *w, struct cpeer *p, const struct chan_frame *f)
{
    struct icheck *k = w->k;
    size_t n = chan_route_count(f);

    for (size_t i = 0; i < n; i++) {
        struct chan_route r;
        size_t j;
        if (chan_route_get(&r, f, i) != 0)
            continue;
        p->routes++;
        for (j = 0; j < k->ntargets; j++)
            if (addr_eq(&k->targets[j].addr, &r.target) && k->targets[j].port == r.tport)
                break;
        if (j == k->ntargets && k->ntargets < ICHECK_TARGETS_MAX)
            k->targets[k->ntargets++] = (struct icheck_target){.addr = r.target, .port = r.tport};
    }
}

/* Our HELLO (and AUTH) after theirs (hello.c judges theirs); the peer's state after it. */
static void on_hello(struct window *w, struct cpeer *p, const struct chan_frame *f)
{
    bool mine = w->secret.len > 0;
    struct hello me;

    enum hello_verdict v = hello_judge(&p->h, f, CHAN_ROLE_TCPCOPY, mine);
    if (v == HELLO_E_AUTH_MISSING || v == HELLO_E_AUTH_UNWANTED) {
        peer_fail(w, p, "peer_secret", CHAN_BYE_AUTH,
                  mine ? "tcpcopy has no --secret-file, intercept has one"
                       : "tcpcopy has a --secret-file, intercept has none",
                  "give both programs the same --secret-file, or neither");
        return;
    }
    if (v != HELLO_OK) {
        peer_fail(w, p, "peer_protocol", hello_verdict_bye(v), "no valid tcpcopy HELLO",
                  "run the same release of tcpcopy and intercept");
        return;
    }
    if (hello_make(&me, CHAN_ROLE_INTERCEPT, CHAN_FEAT_HEARTBEAT | (mine ? CHAN_FEAT_AUTH : 0), 0) != 0 ||
        hello_put(&p->out, &me) != 0 ||
        (mine && hello_auth_send(&p->out, &w->secret, CHAN_ROLE_INTERCEPT, me.nonce, p->h.nonce) != 0)) {
        peer_close(p, 0, NULL);
        return;
    }
    memcpy(p->nonce, me.nonce, sizeof(p->nonce));
    (void)chan_out_flush(&p->out, p->fd);
    p->st = mine ? CP_AUTH : CP_UP;
    p->was_up = !mine;
}

static void on_frame(struct window *w, struct cpeer *p, const struct chan_frame *f)
{
    if (f->type == CHAN_BYE) {
        if (p->st != CP_UP)
            peer_fail(w, p, "peer_refused_us", 0, "closed the handshake with a BYE",
                      "see tcpcopy's message: it names the reason (secret, version)");
        else
            peer_close(p, 0, NULL);
        return;
    }
    switch (p->st) {
    case CP_HELLO:
        on_hello(w, p, f);
        break;
    case CP_AUTH:
        if (hello_auth_judge(f, &w->secret, CHAN_ROLE_TCPCOPY, p->h.nonce, p->nonce) != HELLO_OK) {
            peer_fail(w, p, "peer_secret", CHAN_BYE_AUTH, "bad secret: its proof does not match",
                      "give both programs the same --secret-file content");
            return;
        }
        p->st = CP_UP;
        p->was_up = true;
        break;
    case CP_UP:
        if (f->type == CHAN_ROUTE_ADD)
            learn_routes(w, p, f);
        break;
    case CP_DONE:
        break;
    }
}

static void peer_read(struct window *w, struct cpeer *p)
{
    ssize_t n = buf_read_fd(&p->in, p->fd);

    if (n == -EAGAIN || n == -EWOULDBLOCK)
        return;
    if (n <= 0) {
        if (p->st == CP_UP)
            peer_close(p, 0, NULL);
        else
            peer_fail(w, p, "peer_refused_us", 0, "closed the connection during the handshake",
                      "see tcpcopy's message: it names the reason (secret, version)");
        return;
    }
    while (p->st != CP_DONE) {
        struct chan_frame f;
        ssize_t fl = chan_frame_next(&f, buf_head(&p->in), buf_len(&p->in));
        if (fl == 0)
            return;
        if (fl < 0) {
            peer_fail(w, p, "peer_protocol", CHAN_BYE_PROTOCOL, chan_err_str((int)-fl),
                      "run the same release of tcpcopy and intercept");
            return;
        }
        on_frame(w, p, &f);
        if (p->st != CP_DONE)
            buf_consume(&p->in, (size_t)fl);
    }
}

/* Serve the window: the listening socket and every live peer, until the deadline. */
static void serve(struct window *w, uint64_t deadline)
{
    for (;;) {
        struct pollfd pfd[PEERS_MAX + 1];
        struct cpeer *who[PEERS_MAX + 1];
        size_t n = 0;
        uint64_t now = now_monotonic_us();
        if (now >= deadline)
            return;
        pfd[n] = (struct pollfd){.fd = w->k->listen_fd, .events = POLLIN};
        who[n++] = NULL;
        for (size_t i = 0; i < w->npeers; i++)
            if (w->peers[i].fd >= 0) {
                pfd[n] = (struct pollfd){.fd = w->peers[i].fd, .events = POLLIN};
                who[n++] = &w->peers[i];
            }
        if (poll(pfd, (nfds_t)n, (int)((deadline - now) / 1000) + 1) <= 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            if (!(pfd[i].revents & (POLLIN | POLLERR | POLLHUP)))
                continue;
            if (who[i] == NULL)
                accept_one(w);
            else
                peer_read(w, who[i]);
        }
    }
}

void icheck_peers(struct icheck *k)
{
    static struct window w;
    char err[512];

    if (k->listen_fd < 0)
        return;
    memset(&w, 0, sizeof(w));
    w.k = k;
    if (k->o->secret_file != NULL &&
        auth_load_secret(&w.secret, k->o->secret_file, err, sizeof(err)) < 0) {
        struct finding *x = findings_add(k->f, FINDING_FAIL, "secret_file", "%s", err);
        finding_fix(x, "make the file readable by intercept only (chmod 600), holding the secret");
        return;
    }
    serve(&w, now_monotonic_us() + (uint64_t)k->o->check_wait_s * 1000000);
    for (size_t i = 0; i < w.npeers; i++) {
        struct cpeer *p = &w.peers[i];
        if (p->was_up)
            findings_add(k->f, FINDING_OK, "peer", "tcpcopy %s connected%s, %zu route%s registered",
                         p->label, w.secret.len > 0 ? " and proved the secret" : "", p->routes,
                         p->routes == 1 ? "" : "s");
        else if (p->st != CP_DONE)
            findings_add(k->f, FINDING_WARN, "peer_silent", "tcpcopy %s connected but sent no "
                         "HELLO within the window", p->label);
        peer_close(p, 0, p->fd >= 0 ? "intercept --check is over" : NULL);
    }
    if (w.npeers == 0)
        findings_add(k->f, FINDING_WARN, "peer_none",
                     "no tcpcopy connected within %u s", k->o->check_wait_s);
    auth_secret_clear(&w.secret);
    close(k->listen_fd);
    k->listen_fd = -1;
}
