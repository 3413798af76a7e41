/*
 * peer: intercept's side of each tcpcopy connection: admission (--allow, HELLO,
 * --secret-file), the frames it sends (routes, heartbeats, BYE), the replies we
 * forward to it through a bounded output, and its end. See the state diagram in
 * icpt.c.
 */
#include "icpt_impl.h"
#include "log.h"

/* ---- small helpers ---- */

struct peer *peer_of_owner(struct route_owner *o)
{
    return (struct peer *)((char *)o - offsetof(struct peer, routes));
}

/* ---- peers ---- */

static void peer_io_cb(struct loop *l, int fd, unsigned events, void *arg);

/* nup changed: find the peer of the fast path, if there is exactly one up. Peers
 * come and go rarely; the scan keeps the packet path to one pointer test. */
static void icpt_peers_changed(struct icpt *ic)
{
    /* The fast path: when every connection that is up belongs to one tcpcopy (one
     * peer, or the -C connections of one process, which share its sessions), every
     * reply goes to one of them without a route lookup. */
    struct peer *pe, *one = NULL;
    bool same = ic->nup > 0;
    LIST_FOREACH(pe, &ic->peers, link)
    {
        if (!pe->up)
            continue;
        if (one == NULL)
            one = pe;
        else if (pe->instance == 0 || pe->instance != one->instance)
            same = false;
    }
    if (!same)
        one = NULL;
    if (one != ic->single && !ic->stopping) {
        if (one != NULL)
            log_info("one tcpcopy connected (%s, %zu connection%s): every reply goes to it "
                     "(fast path)",
                     one->name, ic->nup, ic->nup == 1 ? "" : "s");
        else if (ic->single != NULL && ic->nup > 1)
            log_info("%zu connections from several tcpcopy: replies are routed by session",
                     ic->nup);
    }
    ic->single = one;
}

void peer_free(struct peer *pe)
{
    struct icpt *ic = pe->ic;
    if (pe->up) {
        pe->up = false;
        ic->nup--;
        if (ic->single == pe)
            ic->single = NULL;
        icpt_peers_changed(ic);
    }
    loop_timer_cancel(ic->loop, &pe->hello_timer);
    loop_fd_del(ic->loop, pe->fd);
    tls_free(pe->tls);
    close(pe->fd);
    route_remove_all_of(ic->routes, &pe->routes);
    if (pe->in_flush)
        TAILQ_REMOVE(&ic->flush, pe, flush_link);
    LIST_REMOVE(pe, link);
    ic->npeers--;
    buf_free(&pe->in);
    chan_out_free(&pe->out);
    free(pe);
}

/* Close one peer, logging why (level: LOG_LVL_INFO for a normal end, WARN for a
 * protocol error). Only this peer is affected. */
void peer_close(struct peer *pe, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

void peer_close(struct peer *pe, int level, const char *fmt, ...)
{
    struct icpt *ic = pe->ic;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (level <= LOG_LVL_WARN)
        ic->st.peers_bad++;
    ic->st.peers_closed++;
    if (log_level_cur >= level)
        log_msg(level, 0,
                "peer %s: %s; closed (%" PRIu32 " routes removed, %" PRIu64
                " replies forwarded, %" PRIu64 " dropped)",
                pe->name, why, pe->routes.count, pe->forwarded, pe->dropped);
    peer_free(pe);
}

void peer_want_flush(struct peer *pe)
{
    if (!pe->in_flush) {
        pe->in_flush = true;
        TAILQ_INSERT_TAIL(&pe->ic->flush, pe, flush_link);
    }
}

/* Write what the socket takes. -1 if the peer was closed. */
int peer_flush(struct peer *pe)
{
    pe->stamped = false; /* the replies queued after this write are a new batch */
    if (buf_len(&pe->out.buf) > 0) {
        ssize_t n = tls_io_flush(pe->tls, &pe->out, pe->fd);
        if (n < 0) {
            peer_close(pe, LOG_LVL_WARN, "write: %s", strerror((int)-n));
            return -1;
        }
    }
    bool more = buf_len(&pe->out.buf) > 0;
    if (more != pe->want_write) {
        pe->want_write = more;
        loop_fd_mod(pe->ic->loop, pe->fd, LOOP_READ | (more ? LOOP_WRITE : 0));
    }
    return 0;
}

int peer_put_heartbeat(struct peer *pe)
{
    if (!(pe->features & CHAN_FEAT_CLOCK))
        return chan_put_heartbeat(&pe->out, NULL);
    uint64_t now = loop_realtime_us();
    struct chan_hb h = {.sent_us = now, .echo_us = pe->hb_echo_us,
                        .held_us = pe->hb_echo_us && now > pe->hb_echo_at_us
                                       ? now - pe->hb_echo_at_us
                                       : 0};
    return chan_put_heartbeat(&pe->out, &h);
}

/* The first reply of a batch with a known capture time: its STAMP goes first (one
 * 12-byte frame per write, and only to a peer that measures the lag). */
static void peer_stamp(struct peer *pe, uint64_t ts_us)
{
    if (!pe->stamped && ts_us != 0 && (pe->features & CHAN_FEAT_CLOCK) &&
        chan_put_stamp(&pe->out, ts_us) == 0)
        pe->stamped = true;
}

/* Count a reply queued as n records (n < 0: not queued). */
static void peer_queued(struct peer *pe, int n)
{
    struct icpt *ic = pe->ic;
    if (n < 0) {
        pe->dropped++;
        ic->st.dropped++;
        log_warnx_rl(&ic->rl_drop, icpt_now(ic),
                     "peer %s: output buffer full (%d MB), dropping replies (%" PRIu64
                     " so far): the tcpcopy host reads too slowly",
                     pe->name, ICPT_OUT_MAX >> 20, pe->dropped);
        return;
    }
    pe->forwarded += (unsigned)n;
    ic->st.forwarded += (unsigned)n;
    peer_want_flush(pe);
}

void peer_forward(struct peer *pe, const uint8_t *hdr, size_t len, uint64_t ts_us)
{
    peer_stamp(pe, ts_us);
    peer_queued(pe, chan_put_reply(&pe->out, hdr, len) != 0 ? -1 : 1);
}

void peer_forward_payload(struct peer *pe, const struct pkt *p, const uint8_t *hdr, size_t hlen,
                          uint64_t ts_us)
{
    peer_stamp(pe, ts_us);
    peer_queued(pe, payload_put(&pe->out, p, hdr, hlen, CHAN_REPLY_REC_MAX, &pe->ic->st.pay));
}

static void peer_hold_deliver(void *arg, const uint8_t *hdr, size_t len)
{
    /* Held replies keep no capture time: they are not lag samples. */
    peer_forward(arg, hdr, len, 0);
}

/* Refuse a peer for authentication (bad, missing, or a secret on one side only):
 * log why with its address, tell it in a BYE (code 3), close. Rate-limited: a
 * scanner must not flood the log. */
static void peer_refuse(struct peer *pe, const char *bye, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void peer_refuse(struct peer *pe, const char *bye, const char *fmt, ...)
{
    struct icpt *ic = pe->ic;
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    ic->st.peers_refused++;
    ic->st.auth_refused++;
    ic->st.peers_closed++;
    log_warnx_rl(&ic->rl_auth, icpt_now(ic), "refused peer %s: %s", pe->name, why);
    /* Best effort, after what is queued (our HELLO and AUTH, if sent): the peer
     * then reports the mismatch from its side too. */
    if (hello_bye_put(&pe->out, CHAN_BYE_AUTH, bye) == 0)
        (void)tls_io_flush(pe->tls, &pe->out, pe->fd);
    peer_free(pe);
}

static void peer_hello_timeout(struct loop *l, void *arg)
{
    struct peer *pe = arg;
    if (pe->auth_wait) {
        peer_refuse(pe, "no authentication", "no authentication within %llu s",
                    (unsigned long long)(ICPT_HELLO_TIMEOUT_US / 1000000));
        return;
    }
    peer_close(pe, LOG_LVL_WARN, "no HELLO within %llu s",
               (unsigned long long)(ICPT_HELLO_TIMEOUT_US / 1000000));
}

/* HELLO (and AUTH, if any) done: the peer may register routes. */
static void peer_up(struct peer *pe)
{
    struct icpt *ic = pe->ic;
    pe->auth_wait = false;
    pe->up = true;
    ic->nup++;
    loop_timer_cancel(ic->loop, &pe->hello_timer);
    log_info("peer %s: tcpcopy connected (features 0x%" PRIx32 "%s)", pe->name, pe->features,
             ic->secret.len > 0 ? ", authenticated" : "");
    icpt_peers_changed(ic);
}

/* A HELLO that hello_judge() refused: say why, in the log and (for a version
 * or a secret) in a BYE. Returns -1: the peer is gone. */
static int peer_hello_refused(struct peer *pe, enum hello_verdict v, const struct hello *h)
{
    switch (v) {
    case HELLO_E_VERSION:
        if (hello_bye_put(&pe->out, CHAN_BYE_VERSION, "unsupported protocol version") == 0)
            (void)tls_io_flush(pe->tls, &pe->out, pe->fd);
        peer_close(pe, LOG_LVL_WARN, "speaks channel version %u, this intercept speaks %u",
                   h->version, CHAN_VERSION);
        break;
    case HELLO_E_ROLE:
        peer_close(pe, LOG_LVL_WARN, "HELLO with role %u, expected tcpcopy (%u)", h->role,
                   CHAN_ROLE_TCPCOPY);
        break;
    case HELLO_E_AUTH_MISSING:
        peer_refuse(pe, "this intercept requires authentication: start tcpcopy with --secret-file",
                    "no authentication (tcpcopy has no --secret-file; give it the same "
                    "--secret-file as this intercept)");
        break;
    case HELLO_E_AUTH_UNWANTED:
        peer_refuse(pe, "this intercept has no --secret-file: give it the same one as tcpcopy",
                    "no authentication possible: the tcpcopy has --secret-file, this intercept "
                    "has none (start intercept with the same --secret-file)");
        break;
    default:
        peer_close(pe, LOG_LVL_WARN, "bad HELLO: %s", hello_verdict_str(v));
        break;
    }
    return -1;
}

/* The peer's first frame: judge its HELLO, answer with ours and, with a
 * secret, our proof right behind it. -1 if the peer was closed. */
static int peer_on_hello(struct peer *pe, const struct chan_frame *f)
{
    struct icpt *ic = pe->ic;
    struct hello h, mine_h;
    bool mine = ic->secret.len > 0;
    enum hello_verdict v = hello_judge(&h, f, CHAN_ROLE_TCPCOPY, mine);
    if (v != HELLO_OK)
        return peer_hello_refused(pe, v, &h);
    uint32_t feat = CHAN_FEAT_HEARTBEAT | CHAN_FEAT_CLOCK | (mine ? CHAN_FEAT_AUTH : 0) |
                    peer_payload_offer(pe);
    if ((h.features & CHAN_FEAT_PAYLOAD) && !(feat & CHAN_FEAT_PAYLOAD)) {
        ic->st.pay_refused_plain += ic->o->payload;
        log_warnx("peer %s: asks for reply payload, not offered: %s", pe->name,
                  ic->o->payload ? "payload crosses the network only over TLS (start tcpcopy "
                                   "with --tls and both with --secret-file or --tls-cert)"
                                 : "start intercept with --payload");
    }
    if (hello_make(&mine_h, CHAN_ROLE_INTERCEPT, feat, 0) != 0) {
        peer_close(pe, LOG_LVL_WARN, "getrandom failed: cannot make a nonce");
        return -1;
    }
    memcpy(pe->nonce, mine_h.nonce, sizeof(pe->nonce));
    memcpy(pe->peer_nonce, h.nonce, sizeof(pe->peer_nonce));
    if (hello_put(&pe->out, &mine_h) != 0) {
        peer_close(pe, LOG_LVL_WARN, "cannot queue our HELLO");
        return -1;
    }
    pe->hello_done = true;
    pe->features = h.features;
    pe->instance = h.instance;
    pe->payload = (feat & h.features & CHAN_FEAT_PAYLOAD) != 0;
    peer_want_flush(pe);
    if (!mine) {
        peer_up(pe);
        return 0;
    }
    /* The peer's proof must arrive before the HELLO deadline, which keeps running. */
    if (hello_auth_send(&pe->out, &ic->secret, CHAN_ROLE_INTERCEPT, pe->nonce, pe->peer_nonce) !=
        0) {
        peer_close(pe, LOG_LVL_WARN, "cannot queue our AUTH");
        return -1;
    }
    pe->auth_wait = true;
    return 0;
}

static int peer_on_auth(struct peer *pe, const struct chan_frame *f)
{
    if (hello_auth_judge(f, &pe->ic->secret, CHAN_ROLE_TCPCOPY, pe->peer_nonce, pe->nonce) !=
        HELLO_OK) {
        peer_refuse(pe, "bad secret",
                    "bad secret (its --secret-file differs from this intercept's)");
        return -1;
    }
    peer_up(pe);
    return 0;
}

static int peer_on_routes(struct peer *pe, const struct chan_frame *f)
{
    struct icpt *ic = pe->ic;
    size_t n = chan_route_count(f);
    for (size_t i = 0; i < n; i++) {
        struct chan_route r;
        int rc = chan_route_get(&r, f, i);
        if (rc < 0) {
            peer_close(pe, LOG_LVL_WARN, "bad route record %zu of %zu: %s", i + 1, n,
                       chan_err_str(-rc));
            return -1;
        }
        struct route_key k;
        route_key_set(&k, &r.client, r.cport, &r.target, r.tport);
        if (f->type == CHAN_ROUTE_DEL) {
            route_del(ic->routes, &k, &pe->routes);
            continue;
        }
        uint8_t fl = pe->payload ? r.flags & CHAN_ROUTE_F_PAYLOAD : 0;
        rc = route_add_flags(ic->routes, &k, &pe->routes, fl);
        if (rc == -ENOSPC) {
            log_warnx_rl(&ic->rl_full, icpt_now(ic),
                         "route table full (%zu routes, -s %zu): replies of new sessions are "
                         "not forwarded; raise -s",
                         route_count(ic->routes), route_capacity(ic->routes));
            continue;
        }
        if (rc == ROUTE_REASSIGNED && log_level_cur >= LOG_LVL_DEBUG) {
            char c[ADDR_STRLEN], t[ADDR_STRLEN];
            log_debug("route %s -> %s moved to peer %s",
                      addr_port_str(&r.client, r.cport, c, sizeof(c)),
                      addr_port_str(&r.target, r.tport, t, sizeof(t)), pe->name);
        }
        /* Replies that overtook this registration (the SYN-ACK often does). */
        /* Held records are headers only (route.h): counted for a flagged route. */
        if (route_hold_count(ic->hold) > 0) {
            size_t nh = route_hold_take(ic->hold, &k, icpt_now(ic), peer_hold_deliver, pe);
            ic->st.pay_held += fl ? nh : 0;
        }
    }
    return 0;
}

static void peer_on_bye(struct peer *pe, const struct chan_frame *f)
{
    struct hello_bye b;
    (void)hello_bye_decode(&b, f); /* the text made printable for the log */
    peer_close(pe, LOG_LVL_INFO, "said goodbye (code %u%s%s)", b.code, b.text[0] ? ": " : "",
               b.text);
}

/* Handle one frame. -1 if the peer was closed (pe is gone). */
static int peer_on_frame(struct peer *pe, const struct chan_frame *f)
{
    if (!pe->hello_done) {
        if (f->type != CHAN_HELLO) {
            peer_close(pe, LOG_LVL_WARN, "first frame is type %u, expected HELLO", f->type);
            return -1;
        }
        return peer_on_hello(pe, f);
    }
    if (pe->auth_wait) {
        if (f->type == CHAN_AUTH)
            return peer_on_auth(pe, f);
        if (f->type == CHAN_BYE) {
            peer_on_bye(pe, f);
            return -1;
        }
        peer_refuse(pe, "no authentication", "no authentication (frame type %u before AUTH)",
                    f->type);
        return -1;
    }
    switch (f->type) {
    case CHAN_ROUTE_ADD:
    case CHAN_ROUTE_DEL:
        return peer_on_routes(pe, f);
    case CHAN_HEARTBEAT: {
        /* last_rx_us was updated by the read; the clock fields are echoed in ours. */
        struct chan_hb h;
        if (chan_heartbeat_decode(&h, f) != 0) {
            peer_close(pe, LOG_LVL_WARN, "malformed heartbeat");
            return -1;
        }
        if ((pe->features & CHAN_FEAT_CLOCK) && h.sent_us != 0) {
            bool first = pe->hb_echo_us == 0;
            pe->hb_echo_us = h.sent_us;
            pe->hb_echo_at_us = loop_realtime_us();
            /* The first is answered at once: tcpcopy knows the clocks' offset, and so
             * the channel's lag, from the start rather than a heartbeat period later. */
            if (first && peer_put_heartbeat(pe) == 0)
                peer_want_flush(pe);
        }
        return 0;
    }
    case CHAN_BYE:
        peer_on_bye(pe, f);
        return -1;
    case CHAN_HELLO:
        peer_close(pe, LOG_LVL_WARN, "second HELLO");
        return -1;
    case CHAN_AUTH:
        peer_close(pe, LOG_LVL_WARN, "%s",
                   pe->ic->secret.len > 0 ? "second AUTH"
                                          : "AUTH, which this intercept did not offer");
        return -1;
    case CHAN_REPLY:
        peer_close(pe, LOG_LVL_WARN, "REPLY frame: only intercept sends those");
        return -1;
    default:
        peer_close(pe, LOG_LVL_WARN, "unexpected frame type %u", f->type);
        return -1;
    }
}

/* Decode the complete frames in pe->in. -1 if the peer was closed. */
static int peer_parse(struct peer *pe)
{
    for (;;) {
        struct chan_frame f;
        ssize_t n = chan_frame_next(&f, buf_head(&pe->in), buf_len(&pe->in));
        if (n == 0)
            return 0;
        if (n < 0) {
            const uint8_t *h = buf_head(&pe->in);
            pe->ic->st.bad_frames++;
            peer_close(pe, LOG_LVL_WARN, "malformed frame (type %u, length %u): %s", h[0],
                       (unsigned)h[2] << 8 | h[3], chan_err_str((int)-n));
            return -1;
        }
        if (peer_on_frame(pe, &f) < 0)
            return -1;
        buf_consume(&pe->in, (size_t)n);
    }
}

static void peer_read(struct peer *pe)
{
    for (int i = 0; i < ICPT_READS_MAX; i++) {
        ssize_t n = tls_io_read(pe->tls, &pe->in, pe->fd);
        if (n == -EAGAIN || n == -EWOULDBLOCK)
            return;
        if (n == 0) {
            peer_close(pe, LOG_LVL_INFO, "connection closed by the peer");
            return;
        }
        if (n == -ENOBUFS) {
            /* Cannot happen with a correct chan (the buffer holds several maximal
             * frames and complete frames are consumed after each read), but a full
             * buffer that parses to nothing must not spin. */
            peer_close(pe, LOG_LVL_WARN, "input buffer full without a complete frame");
            return;
        }
        if (n < 0) {
            peer_close(pe, LOG_LVL_WARN, "read: %s", strerror((int)-n));
            return;
        }
        pe->last_rx_us = icpt_now(pe->ic);
        if (peer_parse(pe) < 0)
            return;
    }
}

/* Before the HELLO: TLS or plain, and the TLS handshake. false: not done yet, or the
 * peer is gone. */
static bool peer_io_start(struct peer *pe)
{
    char err[256];
    int r = 1;
    if (!pe->sniffed && (r = peer_tls_sniff(pe, err, sizeof(err))) == 0)
        return false;
    if (r == -EACCES) {
        /* Its HELLO was only peeked at: read it, or the close would be a reset that
         * loses our BYE on the way. */
        char junk[512];
        for (int i = 0; i < 8 && recv(pe->fd, junk, sizeof(junk), MSG_DONTWAIT) > 0; i++)
            ;
        pe->ic->st.plain_refused++;
        peer_refuse(pe, "this intercept requires TLS: start tcpcopy with --tls", "%s", err);
        return false;
    }
    if (r > 0 && pe->tls_hs && (r = peer_tls_step(pe, err, sizeof(err))) == 1)
        log_debug("peer %s: TLS (%s) established", pe->name, tls_ctx_mode(pe->ic->tls));
    if (r < 0)
        peer_close(pe, LOG_LVL_WARN, "%s", err);
    return r > 0 && !pe->tls_hs;
}

static void peer_io_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct peer *pe = arg;
    if ((!pe->sniffed || pe->tls_hs) && !peer_io_start(pe))
        return;
    if ((events & LOOP_WRITE) && peer_flush(pe) < 0)
        return;
    if (events & LOOP_READ)
        peer_read(pe);
}

static void icpt_accept_one(struct icpt *ic, int fd, const struct sockaddr_storage *ss)
{
    struct addr a;
    uint16_t port = 0;
    if (!addr_from_sockaddr(&a, &port, ss)) {
        close(fd);
        return;
    }
    if (!icpt_allowed(ic, &a)) {
        icpt_refuse(ic, fd, &a, port);
        return;
    }
    if (ic->npeers >= ICPT_PEERS_MAX) {
        char name[ADDR_STRLEN];
        ic->st.peers_refused++;
        log_warnx_rl(&ic->rl_refused, icpt_now(ic), "refused peer %s: already %d peers",
                     addr_port_str(&a, port, name, sizeof(name)), ICPT_PEERS_MAX);
        close(fd);
        return;
    }
    struct peer *pe = calloc(1, sizeof(*pe));
    if (pe == NULL) {
        log_warnx("out of memory accepting a peer");
        close(fd);
        return;
    }
    int one = 1;
    /* Replies are what tcpcopy waits on before sending the next packet: no Nagle
     * delay on top of our own per-iteration batching. */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* A tcpcopy host that vanishes without heartbeats is found eventually. */
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));

    pe->ic = ic;
    pe->fd = fd;
    pe->loopback = addr_is_loopback(&a);
    pe->id = ++ic->next_peer_id;
    addr_port_str(&a, port, pe->name, sizeof(pe->name));
    buf_init(&pe->in, ICPT_IN_MAX);
    chan_out_init(&pe->out, ICPT_OUT_MAX);
    route_owner_init(&pe->routes, pe->id);
    pe->last_rx_us = icpt_now(ic);
    int rc = loop_fd_add(ic->loop, fd, LOOP_READ, peer_io_cb, pe);
    if (rc < 0) {
        log_warnx("peer %s: cannot watch its socket: %s", pe->name, strerror(-rc));
        buf_free(&pe->in);
        chan_out_free(&pe->out);
        free(pe);
        close(fd);
        return;
    }
    LIST_INSERT_HEAD(&ic->peers, pe, link);
    ic->npeers++;
    ic->st.peers_accepted++;
    loop_timer_set(ic->loop, &pe->hello_timer, icpt_now(ic) + ICPT_HELLO_TIMEOUT_US,
                   peer_hello_timeout, pe);
    log_debug("peer %s: connected, waiting for its HELLO", pe->name);
}

void icpt_accept_cb(struct loop *l, int lfd, unsigned events, void *arg)
{
    struct icpt *ic = arg;
    for (int i = 0; i < ICPT_ACCEPTS_MAX; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            /* EMFILE and friends: the connection stays queued; say so, slowly. */
            if (errno != ECONNABORTED)
                log_warnx_rl(&ic->rl_accept, icpt_now(ic), "accept: %s", strerror(errno));
            return;
        }
        icpt_accept_one(ic, fd, &ss);
    }
}
