/*
 * chanc: tcpcopy's side of the channel (doc/protocol.md).
 *
 * Owns conns_per_server TCP connections to each intercept of the -s list, each
 * with a bounded input buffer, a bounded batching output queue (struct
 * chan_out), a reconnect/deadline timer and a heartbeat timer. A connection
 * goes through:
 *
 *             timer                   writable, SO_ERROR == 0
 *   DOWN ----------------> CONNECTING ------------------------> HELLO
 *     ^   (backoff 200 ms        |                                 |  intercept's HELLO
 *     |    doubling to 5 s)      | error / deadline                |  (version, role ok)
 *     |                          |                   no secret     v    secret: our AUTH sent
 *     +--------------------------+<---------- UP <-------------- (HELLO) ----------> AUTH
 *     |                                        ^                                      |
 *     |                                        +------- intercept's AUTH verified ----+
 *     +--- error, EOF, BYE, malformed frame, bad or missing AUTH, deadline before UP,
 *          intercept silent for dead_after_ms once UP
 *
 * Only UP connections carry routes; a route whose connection is not up is
 * dropped and counted. When a connection comes (back) up, cb->on_up lets the
 * caller register its live sessions again (chanc_route_add_to). Replies are
 * handed to cb->on_reply as they are parsed; the callbacks must not free the
 * chanc.
 *
 * At startup chanc_connect_all() does the same steps blocking, with a deadline,
 * so that a wrong -s is a clear error before anything is captured.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chanc.h"
#include "log.h"
#include "loop.h"

#define CHANC_IN_MAX (256 * 1024) /* > 3 maximal frames: always room for one */
#define CHANC_OUT_DEFAULT (4 * 1024 * 1024)
#define CHANC_TIMEOUT_DEFAULT_MS 3000
#define CHANC_BACKOFF_MIN_MS 200
#define CHANC_BACKOFF_MAX_MS 5000
#define CHANC_HEARTBEAT_MS 5000
/* Intercept sends a HEARTBEAT every 5 s: three missed ones mean a dead host or
 * a cut path that TCP would take minutes to report. */
#define CHANC_DEAD_AFTER_MS 15000
#define CHANC_READS_PER_EVENT 16 /* drain a burst, but let other fds run too */
/* Fixed, so that a route's ADD and DEL always pick the same connection. Clients
 * could pick ports that skew the spread, but that only unbalances our own
 * connections to one intercept; it cannot grow any table. */
#define CHANC_HASH_SEED 0x7463636861636e31ULL
/* Log a failing reconnect on the first attempt and then about once a minute. */
#define CHANC_LOG_EVERY_FAILS 12

enum conn_state { CONN_DOWN, CONN_CONNECTING, CONN_HELLO, CONN_AUTH, CONN_UP };

struct chanc_conn {
    struct chanc *c;
    const struct server *srv;
    char label[ADDR_STRLEN + 24]; /* "intercept 192.0.2.30:36524" (+ "#2" with -C > 1) */
    int fd;
    enum conn_state state;
    bool in_loop;    /* fd registered with the loop */
    bool want_write; /* LOOP_WRITE enabled: output waits for the socket */
    unsigned backoff_ms;
    unsigned fails; /* failed attempts since the last time it was up */
    struct buf in;
    struct chan_out out;
    struct loop_timer timer; /* DOWN: reconnect; CONNECTING/HELLO: deadline */
    struct loop_timer hb;    /* UP: next heartbeat and silence check */
    uint64_t last_rx_us;     /* last bytes received, for the silence check */
    uint8_t nonce[CHAN_NONCE_LEN]; /* ours, sent in this connection's HELLO */
    struct chan_hello peer;
};

struct chanc {
    struct loop *loop;
    struct server_list servers; /* a copy: the caller's may go away */
    int per;
    size_t out_max;
    int timeout_ms;
    unsigned hb_ms, dead_ms;
    struct auth_secret secret; /* len 0: no authentication */
    struct chanc_conn *rereg;  /* the connection on_up is re-registering */
    struct chanc_cb cb;
    void *arg;
    uint64_t instance;        /* sent in every HELLO: intercept sees one tcpcopy */
    struct chanc_conn *conns; /* servers.n * per, server-major */
    size_t nconns;
    size_t up;
    struct chanc_stats st;
};

static void conn_fd_cb(struct loop *l, int fd, unsigned events, void *arg);

/* Replies are urgent: one may release a request that waits for its answer, so
 * they end the loop's coalescing pause. */
static int conn_watch_urgent(struct chanc_conn *cn)
{
    int r = loop_fd_set_urgent(cn->c->loop, cn->fd, true);
    if (r < 0)
        loop_fd_del(cn->c->loop, cn->fd);
    return r;
}
static void conn_timer_cb(struct loop *l, void *arg);
static void conn_hb_cb(struct loop *l, void *arg);

/* strerror() with a lower-case first letter, to read well after a colon. */
static const char *errstr(int e, char *buf, size_t len)
{
    snprintf(buf, len, "%s", strerror(e));
    if (buf[0] != '\0')
        buf[0] = (char)tolower((unsigned char)buf[0]);
    return buf;
}

/* A BYE's reason as printable text. It is peer-supplied and goes into our log:
 * control characters are replaced so it cannot forge log lines. */
static unsigned bye_reason(const struct chan_frame *f, char *text, size_t len)
{
    size_t n = (size_t)f->len - 2;
    if (n > len - 1)
        n = len - 1;
    for (size_t i = 0; i < n; i++)
        text[i] = isprint(f->body[2 + i]) ? (char)f->body[2 + i] : '?';
    text[n] = '\0';
    return (unsigned)f->body[0] << 8 | f->body[1];
}

static uint64_t ms_to_us(unsigned ms)
{
    return (uint64_t)ms * 1000;
}

struct chanc *chanc_new(struct loop *l, const struct chanc_conf *conf, const struct chanc_cb *cb,
                        void *arg)
{
    if (l == NULL || conf == NULL || conf->servers == NULL || conf->servers->n == 0 ||
        conf->servers->n > SERVERS_MAX || conf->conns_per_server < 1 ||
        conf->conns_per_server > 11) {
        errno = EINVAL;
        return NULL;
    }
    struct chanc *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = l;
    if (getrandom(&c->instance, sizeof(c->instance), GRND_NONBLOCK) != (ssize_t)sizeof(c->instance))
        c->instance = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    c->instance |= 1; /* never 0, which means "not given" */
    c->servers = *conf->servers;
    c->per = conf->conns_per_server;
    c->out_max = conf->out_max ? conf->out_max : CHANC_OUT_DEFAULT;
    c->timeout_ms =
        conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : CHANC_TIMEOUT_DEFAULT_MS;
    c->hb_ms = conf->heartbeat_ms > 0 ? (unsigned)conf->heartbeat_ms : CHANC_HEARTBEAT_MS;
    c->dead_ms = conf->dead_after_ms > 0 ? (unsigned)conf->dead_after_ms : CHANC_DEAD_AFTER_MS;
    if (conf->secret != NULL && conf->secret->len > 0) {
        memcpy(c->secret.key, conf->secret->key, conf->secret->len);
        c->secret.len = conf->secret->len;
    }
    if (cb != NULL)
        c->cb = *cb;
    c->arg = arg;
    c->nconns = c->servers.n * (size_t)c->per;
    /* calloc: the embedded timers must start unarmed. */
    c->conns = calloc(c->nconns, sizeof(*c->conns));
    if (c->conns == NULL) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < c->nconns; i++) {
        struct chanc_conn *cn = &c->conns[i];
        char ap[ADDR_STRLEN];
        cn->c = c;
        cn->srv = &c->servers.s[i / (size_t)c->per];
        cn->fd = -1;
        cn->state = CONN_DOWN;
        cn->backoff_ms = CHANC_BACKOFF_MIN_MS;
        addr_port_str(&cn->srv->addr, cn->srv->port, ap, sizeof(ap));
        if (c->per > 1)
            snprintf(cn->label, sizeof(cn->label), "intercept %s#%u", ap,
                     (unsigned)(i % (size_t)c->per) + 1);
        else
            snprintf(cn->label, sizeof(cn->label), "intercept %s", ap);
        buf_init(&cn->in, CHANC_IN_MAX);
        chan_out_init(&cn->out, c->out_max);
    }
    return c;
}

/* Release the socket and the buffers; no state change, no callbacks. */
static void conn_close_fd(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    loop_timer_cancel(c->loop, &cn->hb);
    if (cn->in_loop)
        loop_fd_del(c->loop, cn->fd); /* before close(): the fd number is reused */
    cn->in_loop = false;
    cn->want_write = false;
    if (cn->fd >= 0)
        close(cn->fd);
    cn->fd = -1;
    /* A new connection starts with a HELLO and whole frames: whatever was
     * queued or half-read for the old one cannot be continued. */
    buf_free(&cn->in);
    chan_out_free(&cn->out);
    chan_out_init(&cn->out, c->out_max);
}

static void set_up_count(struct chanc *c, size_t up)
{
    if (up == c->up)
        return;
    c->up = up;
    if (c->cb.on_state != NULL)
        c->cb.on_state(c->arg, c->up, c->nconns);
}

/* Close, count, and schedule the next attempt. The reason was logged by the caller. */
static void conn_down(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    bool was_up = cn->state == CONN_UP;

    conn_close_fd(cn);
    cn->state = CONN_DOWN;
    if (was_up) {
        c->st.disconnects++;
        log_info("%s: down, reconnecting in %u ms; its routes are dropped meanwhile", cn->label,
                 cn->backoff_ms);
        set_up_count(c, c->up - 1);
    } else {
        cn->fails++;
    }
    uint64_t now = loop_update_time(c->loop);
    loop_timer_set(c->loop, &cn->timer, now + ms_to_us(cn->backoff_ms), conn_timer_cb, cn);
    /* Doubling backoff: an intercept that is restarting is not hammered by
     * every tcpcopy's connections at once, and one that is back is found soon. */
    cn->backoff_ms =
        cn->backoff_ms >= CHANC_BACKOFF_MAX_MS / 2 ? CHANC_BACKOFF_MAX_MS : cn->backoff_ms * 2;
}

/* Best effort: tell the peer why we close (after whatever is still queued,
 * such as our AUTH, so that the intercept can log the real reason), then close. */
static void conn_bye(struct chanc_conn *cn, uint16_t code, const char *text)
{
    if (cn->fd < 0)
        return;
    if (text != NULL)
        (void)chan_put_bye(&cn->out, code, text);
    (void)chan_out_flush(&cn->out, cn->fd);
}

static int sock_opts(int fd)
{
    int one = 1;
    /* NODELAY: replies and routes are latency-bound (a session waits on the
     * route); batching is done by chan_out, not by Nagle. KEEPALIVE: notice a
     * vanished intercept host even while nothing is sent. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        return -errno;
    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0)
        return -errno;
    return 0;
}

/* Create a non-blocking socket and start connecting. 0 (connected), -EINPROGRESS,
 * or another -errno. */
static int conn_start_connect(struct chanc_conn *cn)
{
    struct sockaddr_storage ss;
    size_t sl = addr_to_sockaddr(&cn->srv->addr, cn->srv->port, &ss);
    if (sl == 0)
        return -EAFNOSUPPORT;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    cn->fd = fd;
    int r = sock_opts(fd);
    if (r < 0)
        return r;
    if (connect(fd, (struct sockaddr *)&ss, (socklen_t)sl) == 0)
        return 0;
    return -errno;
}

static int sock_error(int fd)
{
    int e = 0;
    socklen_t el = sizeof(e);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
        return -errno;
    return -e;
}

static int conn_queue_hello(struct chanc_conn *cn)
{
    struct chan_hello h;
    memset(&h, 0, sizeof(h));
    h.version = CHAN_VERSION;
    h.role = CHAN_ROLE_TCPCOPY;
    h.features = CHAN_FEAT_HEARTBEAT | CHAN_FEAT_INSTANCE |
                 (cn->c->secret.len > 0 ? CHAN_FEAT_AUTH : 0);
    h.instance = cn->c->instance;
    /* The nonce is the challenge of the AUTH exchange: it must never repeat, or
     * a recorded proof could be replayed. getrandom() blocks only before the
     * kernel's pool is first initialised (early boot); without a secret a weak
     * nonce is harmless, so that case does not wait. */
    ssize_t got = getrandom(h.nonce, sizeof(h.nonce), cn->c->secret.len > 0 ? 0 : GRND_NONBLOCK);
    if (got != (ssize_t)sizeof(h.nonce)) {
        if (cn->c->secret.len > 0)
            return got < 0 ? -errno : -EIO;
        uint64_t t = now_monotonic_us() ^ (uint64_t)getpid() << 32;
        memcpy(h.nonce, &t, sizeof(t));
    }
    memcpy(cn->nonce, h.nonce, sizeof(cn->nonce));
    return chan_put_hello(&cn->out, &h);
}

/* Judge the intercept's HELLO. 0, or -errno with a message in err. */
static int check_hello(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen)
{
    if (f->type == CHAN_BYE) {
        char text[256];
        unsigned code = bye_reason(f, text, sizeof(text));
        snprintf(err, errlen, "%s: refused by intercept (code %u): %s", cn->label, code, text);
        return -ECONNREFUSED;
    }
    if (f->type != CHAN_HELLO) {
        snprintf(err, errlen, "%s: expected HELLO, got frame type %u", cn->label, f->type);
        return -EPROTO;
    }
    int r = chan_hello_decode(&cn->peer, f);
    if (r == -CHAN_E_VERSION) {
        snprintf(err, errlen, "%s: protocol version %u, we speak %u", cn->label, cn->peer.version,
                 (unsigned)CHAN_VERSION);
        return -EPROTONOSUPPORT;
    }
    if (r < 0) {
        snprintf(err, errlen, "%s: bad HELLO: %s", cn->label, chan_err_str(-r));
        return -EPROTO;
    }
    if (cn->peer.role != CHAN_ROLE_INTERCEPT) {
        snprintf(err, errlen, "%s: peer is not an intercept (role %u)", cn->label, cn->peer.role);
        return -EPROTO;
    }
    return 0;
}

/*
 * After a good HELLO: agree on authentication. A secret on one side only is a
 * configuration error, named on both sides. With a secret, queue our proof and
 * wait for the intercept's (it may already be in the input). 1: the connection
 * is up (no authentication); 0: waiting for AUTH; -errno with a message in err.
 */
static int conn_start_auth(struct chanc_conn *cn, char *err, size_t errlen)
{
    struct chanc *c = cn->c;
    bool mine = c->secret.len > 0;
    bool theirs = (cn->peer.features & CHAN_FEAT_AUTH) != 0;

    if (mine && !theirs) {
        snprintf(err, errlen,
                 "%s: intercept does not authenticate, but tcpcopy has --secret-file: start "
                 "intercept with the same --secret-file",
                 cn->label);
        (void)chan_put_bye(&cn->out, CHAN_BYE_AUTH,
                           "tcpcopy requires authentication: start intercept with --secret-file");
        return -EACCES;
    }
    if (!mine && theirs) {
        snprintf(err, errlen,
                 "%s: intercept requires authentication: start tcpcopy with --secret-file "
                 "(the same secret as intercept's)",
                 cn->label);
        (void)chan_put_bye(&cn->out, CHAN_BYE_AUTH, "tcpcopy has no --secret-file");
        return -EACCES;
    }
    if (!mine)
        return 1;
    uint8_t mac[CHAN_MAC_LEN];
    if (auth_mac(mac, &c->secret, CHAN_ROLE_TCPCOPY, cn->nonce, cn->peer.nonce) != 0 ||
        chan_put_auth(&cn->out, mac) != 0) {
        snprintf(err, errlen, "%s: cannot compute our AUTH proof", cn->label);
        return -EIO;
    }
    cn->state = CONN_AUTH;
    return 0;
}

/* Judge the intercept's AUTH. 1 (proved), or -errno with a message in err. */
static int check_auth(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen)
{
    struct chanc *c = cn->c;
    uint8_t mac[CHAN_MAC_LEN];
    if (f->type == CHAN_BYE) {
        char text[256];
        unsigned code = bye_reason(f, text, sizeof(text));
        snprintf(err, errlen, "%s: refused by intercept (code %u): %s", cn->label, code, text);
        return -ECONNREFUSED;
    }
    if (f->type != CHAN_AUTH || chan_auth_decode(mac, f) != 0) {
        snprintf(err, errlen, "%s: no authentication: expected AUTH, got frame type %u", cn->label,
                 f->type);
        (void)chan_put_bye(&cn->out, CHAN_BYE_AUTH, "no authentication");
        return -EACCES;
    }
    if (!auth_verify(mac, &c->secret, CHAN_ROLE_INTERCEPT, cn->peer.nonce, cn->nonce)) {
        snprintf(err, errlen,
                 "%s: bad secret: intercept's proof does not match our --secret-file (the two "
                 "secrets differ)",
                 cn->label);
        (void)chan_put_bye(&cn->out, CHAN_BYE_AUTH, "bad secret");
        return -EACCES;
    }
    return 1;
}

/*
 * One frame of the handshake (states HELLO and AUTH). 1: the connection is up;
 * 0: more frames needed; -errno with a message in err (a BYE explaining it may
 * be queued: flush before closing).
 */
static int conn_handshake_frame(struct chanc_conn *cn, const struct chan_frame *f, char *err,
                                size_t errlen)
{
    if (cn->state == CONN_AUTH) {
        int r = check_auth(cn, f, err, errlen);
        if (r == -EACCES)
            cn->c->st.auth_failed++;
        return r;
    }
    int r = check_hello(cn, f, err, errlen);
    if (r == -EPROTONOSUPPORT)
        (void)chan_put_bye(&cn->out, CHAN_BYE_VERSION, "unsupported protocol version");
    else if (r < 0 && r != -ECONNREFUSED)
        (void)chan_put_bye(&cn->out, CHAN_BYE_PROTOCOL, "expected HELLO");
    if (r < 0)
        return r;
    r = conn_start_auth(cn, err, errlen);
    if (r == -EACCES)
        cn->c->st.auth_failed++;
    return r;
}

static void conn_set_write(struct chanc_conn *cn, bool on)
{
    if (cn->want_write == on || !cn->in_loop)
        return;
    if (loop_fd_mod(cn->c->loop, cn->fd, LOOP_READ | (on ? LOOP_WRITE : 0)) == 0)
        cn->want_write = on;
}

/* Write queued output; toggle LOOP_WRITE on whether some is left. false if the
 * connection was closed. */
static bool conn_flush(struct chanc_conn *cn)
{
    if (cn->fd < 0 || (cn->state != CONN_UP && cn->state != CONN_HELLO && cn->state != CONN_AUTH))
        return true;
    ssize_t r = chan_out_flush(&cn->out, cn->fd);
    if (r < 0) {
        char eb[64];
        log_warnx("%s: write failed: %s", cn->label, errstr((int)-r, eb, sizeof(eb)));
        conn_down(cn);
        return false;
    }
    conn_set_write(cn, buf_len(&cn->out.buf) > 0);
    return true;
}

static void conn_became_up(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    loop_timer_cancel(c->loop, &cn->timer);
    cn->state = CONN_UP;
    cn->backoff_ms = CHANC_BACKOFF_MIN_MS;
    cn->fails = 0;
    c->st.connects++;
    uint64_t now = loop_update_time(c->loop);
    cn->last_rx_us = now;
    loop_timer_set(c->loop, &cn->hb, now + ms_to_us(c->hb_ms), conn_hb_cb, cn);
    log_info("%s: connected (protocol %u, features 0x%x%s)", cn->label, cn->peer.version,
             cn->peer.features, c->secret.len > 0 ? ", authenticated" : "");
    set_up_count(c, c->up + 1);
    if (c->cb.on_up != NULL && cn->state == CONN_UP) {
        /* chanc_route_add_to() sends only on this connection while it runs. */
        c->rereg = cn;
        c->cb.on_up(c->arg, (size_t)(cn - c->conns) / (size_t)c->per);
        c->rereg = NULL;
    }
}

/*
 * Handle the complete frames in the input buffer. false if the connection was
 * closed (then nothing of cn->in may be touched).
 */
static bool conn_process(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    size_t used = 0;

    while (used < buf_len(&cn->in)) {
        struct chan_frame f;
        ssize_t n = chan_frame_next(&f, buf_head(&cn->in) + used, buf_len(&cn->in) - used);
        if (n == 0)
            break;
        if (n < 0) {
            c->st.bad_frames++;
            log_warnx("%s: malformed frame (%s), closing", cn->label, chan_err_str((int)-n));
            conn_bye(cn, CHAN_BYE_PROTOCOL, chan_err_str((int)-n));
            conn_down(cn);
            return false;
        }
        used += (size_t)n;
        c->st.frames_in++;

        if (cn->state == CONN_HELLO || cn->state == CONN_AUTH) {
            char err[384];
            int r = conn_handshake_frame(cn, &f, err, sizeof(err));
            if (r < 0) {
                /* A BYE is the peer's word, an auth failure a configuration
                 * matter: neither is a malformed frame. */
                if (r != -ECONNREFUSED && r != -EACCES)
                    c->st.bad_frames++;
                /* A wrong secret persists across retries: say it on the first
                 * attempt and then about once a minute, like other failures. */
                if (cn->fails % CHANC_LOG_EVERY_FAILS == 0)
                    log_warnx("%s, closing (attempt %u, next in %u ms)", err, cn->fails + 1,
                              cn->backoff_ms);
                conn_bye(cn, 0, NULL);
                conn_down(cn);
                return false;
            }
            if (r == 0)
                continue;
            conn_became_up(cn);
            if (cn->state != CONN_UP)
                return false;
            continue;
        }

        switch (f.type) {
        case CHAN_REPLY: {
            /* Validate the whole frame before delivering any record: a frame is
             * accepted or refused as a unit. */
            struct chan_iter it;
            const uint8_t *rec;
            size_t rlen;
            int r;
            chan_iter_init(&it, &f);
            while ((r = chan_reply_next(&it, &rec, &rlen)) > 0)
                ;
            if (r < 0) {
                c->st.bad_frames++;
                log_warnx("%s: malformed REPLY frame (%s), closing", cn->label, chan_err_str(-r));
                conn_bye(cn, CHAN_BYE_PROTOCOL, chan_err_str(-r));
                conn_down(cn);
                return false;
            }
            chan_iter_init(&it, &f);
            while (chan_reply_next(&it, &rec, &rlen) > 0) {
                c->st.replies_in++;
                if (c->cb.on_reply != NULL)
                    c->cb.on_reply(c->arg, rec, rlen);
            }
            break;
        }
        case CHAN_HEARTBEAT:
            break;
        case CHAN_BYE: {
            char text[256];
            unsigned code = bye_reason(&f, text, sizeof(text));
            log_warnx("%s: closed by intercept (code %u): %s", cn->label, code, text);
            conn_down(cn);
            return false;
        }
        default:
            /* HELLO or AUTH twice, routes travel the other way. */
            c->st.bad_frames++;
            log_warnx("%s: unexpected frame type %u from intercept, closing", cn->label, f.type);
            conn_bye(cn, CHAN_BYE_PROTOCOL, "unexpected frame type");
            conn_down(cn);
            return false;
        }
    }
    buf_consume(&cn->in, used);
    return true;
}

/* Read what is there and handle it. false if the connection was closed. */
static bool conn_read(struct chanc_conn *cn)
{
    for (int i = 0; i < CHANC_READS_PER_EVENT; i++) {
        size_t room = buf_room(&cn->in);
        ssize_t r = buf_read_fd(&cn->in, cn->fd);
        if (r == -EAGAIN || r == -EWOULDBLOCK)
            return true;
        if (r == 0) {
            log_warnx("%s: connection closed by intercept", cn->label);
            conn_down(cn);
            return false;
        }
        if (r > 0)
            cn->last_rx_us = loop_now(cn->c->loop);
        if (r < 0) {
            char eb[64];
            /* -ENOBUFS cannot happen (the buffer holds several maximal frames
             * and complete ones are always consumed) but is handled alike. */
            log_warnx("%s: read failed: %s", cn->label, errstr((int)-r, eb, sizeof(eb)));
            conn_down(cn);
            return false;
        }
        if (!conn_process(cn))
            return false;
        /* A read that did not fill the room drained the socket: the loop (level
         * triggered) says when there is more, without a read that only returns EAGAIN. */
        if ((size_t)r < room)
            return true;
    }
    return true;
}

/* The non-blocking connect finished (or failed): on success send our HELLO. */
static void conn_connected(struct chanc_conn *cn)
{
    char eb[64];
    int r = sock_error(cn->fd);
    if (r == 0)
        r = conn_queue_hello(cn);
    if (r < 0) {
        if (cn->fails % CHANC_LOG_EVERY_FAILS == 0)
            log_warnx("%s: reconnect failed: %s (attempt %u, next in %u ms)", cn->label,
                      errstr(-r, eb, sizeof(eb)), cn->fails + 1, cn->backoff_ms);
        conn_down(cn);
        return;
    }
    cn->state = CONN_HELLO;
    if (loop_fd_mod(cn->c->loop, cn->fd, LOOP_READ) < 0) {
        conn_down(cn);
        return;
    }
    cn->want_write = false;
    conn_flush(cn);
}

static void conn_fd_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct chanc_conn *cn = arg;
    (void)l;
    (void)fd;

    if (cn->state == CONN_CONNECTING) {
        if (events & (LOOP_WRITE | LOOP_READ))
            conn_connected(cn);
        return;
    }
    if ((events & LOOP_READ) && !conn_read(cn))
        return;
    if ((events & LOOP_WRITE) && cn->state != CONN_DOWN)
        conn_flush(cn);
}

/* DOWN: time to reconnect. CONNECTING/HELLO: the deadline passed. */
static void conn_timer_cb(struct loop *l, void *arg)
{
    struct chanc_conn *cn = arg;
    struct chanc *c = cn->c;
    char eb[64];

    if (cn->state == CONN_CONNECTING || cn->state == CONN_HELLO || cn->state == CONN_AUTH) {
        if (cn->fails % CHANC_LOG_EVERY_FAILS == 0)
            log_warnx("%s: %s within %d ms (attempt %u)", cn->label,
                      cn->state == CONN_CONNECTING ? "no connection"
                      : cn->state == CONN_HELLO    ? "no HELLO"
                                                   : "no AUTH",
                      c->timeout_ms, cn->fails + 1);
        conn_down(cn);
        return;
    }
    if (cn->state != CONN_DOWN)
        return;

    int r = conn_start_connect(cn);
    if (r < 0 && r != -EINPROGRESS) {
        if (cn->fails % CHANC_LOG_EVERY_FAILS == 0)
            log_warnx("%s: reconnect failed: %s (attempt %u, next in %u ms)", cn->label,
                      errstr(-r, eb, sizeof(eb)), cn->fails + 1, cn->backoff_ms);
        conn_down(cn);
        return;
    }
    cn->state = CONN_CONNECTING;
    r = loop_fd_add(l, cn->fd, LOOP_WRITE, conn_fd_cb, cn);
    if (r == 0)
        r = conn_watch_urgent(cn);
    if (r < 0) {
        log_warnx("%s: cannot watch the socket: %s", cn->label, errstr(-r, eb, sizeof(eb)));
        conn_down(cn);
        return;
    }
    cn->in_loop = true;
    /* One deadline for the connect and the HELLO exchange together. */
    loop_timer_set(l, &cn->timer, loop_now(l) + ms_to_us((unsigned)c->timeout_ms), conn_timer_cb,
                   cn);
}

static void conn_hb_cb(struct loop *l, void *arg)
{
    struct chanc_conn *cn = arg;
    struct chanc *c = cn->c;
    if (cn->state != CONN_UP)
        return;
    /* An intercept that promised heartbeats and sent nothing for dead_ms is
     * gone (host down, path cut, process stopped) even if TCP has not noticed:
     * reconnect rather than register sessions into the void. */
    uint64_t now = loop_update_time(l);
    if ((cn->peer.features & CHAN_FEAT_HEARTBEAT) && now - cn->last_rx_us > ms_to_us(c->dead_ms)) {
        c->st.silent++;
        log_warnx("%s: silent for %u ms (no heartbeat), closing", cn->label,
                  (unsigned)((now - cn->last_rx_us) / 1000));
        conn_bye(cn, CHAN_BYE_PROTOCOL, "no heartbeat");
        conn_down(cn);
        return;
    }
    /* A full queue means the intercept is not reading: then the queued data is
     * proof enough that we are alive, and a heartbeat would only be dropped. */
    if (chan_put_frame(&cn->out, CHAN_HEARTBEAT, NULL, 0) == 0 && !cn->want_write &&
        !conn_flush(cn))
        return;
    loop_timer_set(l, &cn->hb, now + ms_to_us(c->hb_ms), conn_hb_cb, cn);
}

/* ---- startup: blocking connect with a deadline ---- */

static int ms_left(uint64_t deadline)
{
    uint64_t now = now_monotonic_us();
    if (now >= deadline)
        return 0;
    return (int)((deadline - now + 999) / 1000);
}

static int connect_blocking(struct chanc_conn *cn, char *err, size_t errlen)
{
    struct chanc *c = cn->c;
    uint64_t deadline = now_monotonic_us() + ms_to_us((unsigned)c->timeout_ms);
    char eb[64];
    int r;

    r = conn_start_connect(cn);
    if (r == -EINPROGRESS) {
        struct pollfd pfd = {.fd = cn->fd, .events = POLLOUT};
        int pr;
        do {
            pr = poll(&pfd, 1, ms_left(deadline));
        } while (pr < 0 && errno == EINTR);
        if (pr == 0) {
            snprintf(err, errlen, "%s: no connection within %d ms", cn->label, c->timeout_ms);
            return -ETIMEDOUT;
        }
        r = pr < 0 ? -errno : sock_error(cn->fd);
    }
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", cn->label, errstr(-r, eb, sizeof(eb)));
        return r;
    }

    cn->state = CONN_HELLO;
    if ((r = conn_queue_hello(cn)) < 0) {
        snprintf(err, errlen, "%s: %s", cn->label, errstr(-r, eb, sizeof(eb)));
        return r;
    }
    /* Our HELLO and theirs may cross: wait for both directions at once. */
    for (;;) {
        struct pollfd pfd = {.fd = cn->fd, .events = POLLIN};
        if (buf_len(&cn->out.buf) > 0) {
            ssize_t w = chan_out_flush(&cn->out, cn->fd);
            if (w < 0) {
                snprintf(err, errlen, "%s: %s", cn->label, errstr((int)-w, eb, sizeof(eb)));
                return (int)w;
            }
            if (buf_len(&cn->out.buf) > 0)
                pfd.events |= POLLOUT;
        }
        int left = ms_left(deadline);
        int pr = left > 0 ? poll(&pfd, 1, left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            r = -errno;
            snprintf(err, errlen, "%s: %s", cn->label, errstr(-r, eb, sizeof(eb)));
            return r;
        }
        if (pr == 0) {
            snprintf(err, errlen, "%s: no %s within %d ms", cn->label,
                     cn->state == CONN_AUTH ? "AUTH" : "HELLO", c->timeout_ms);
            return -ETIMEDOUT;
        }
        if (!(pfd.revents & (POLLIN | POLLERR | POLLHUP)))
            continue;
        ssize_t n = buf_read_fd(&cn->in, cn->fd);
        if (n == -EAGAIN || n == -EWOULDBLOCK)
            continue;
        if (n == 0) {
            snprintf(err, errlen, "%s: connection closed before %s", cn->label,
                     cn->state == CONN_AUTH ? "AUTH" : "HELLO");
            return -ECONNRESET;
        }
        if (n < 0) {
            snprintf(err, errlen, "%s: %s", cn->label, errstr((int)-n, eb, sizeof(eb)));
            return (int)n;
        }
        /* HELLO and AUTH may arrive in one read: take every whole frame. */
        for (;;) {
            struct chan_frame f;
            ssize_t fl = chan_frame_next(&f, buf_head(&cn->in), buf_len(&cn->in));
            if (fl == 0)
                break;
            if (fl < 0) {
                c->st.bad_frames++;
                snprintf(err, errlen, "%s: malformed frame: %s", cn->label, chan_err_str((int)-fl));
                conn_bye(cn, CHAN_BYE_PROTOCOL, chan_err_str((int)-fl));
                return -EPROTO;
            }
            c->st.frames_in++;
            r = conn_handshake_frame(cn, &f, err, errlen);
            buf_consume(&cn->in, (size_t)fl);
            if (r < 0) {
                if (r != -ECONNREFUSED && r != -EACCES)
                    c->st.bad_frames++;
                conn_bye(cn, 0, NULL); /* what conn_handshake_frame queued */
                return r;
            }
            if (r == 1) {
                /* Our AUTH may still be queued: send it now, not at the first
                 * loop turn, so the intercept's deadline is not spent waiting. */
                ssize_t w = chan_out_flush(&cn->out, cn->fd);
                if (w < 0) {
                    snprintf(err, errlen, "%s: %s", cn->label, errstr((int)-w, eb, sizeof(eb)));
                    return (int)w;
                }
                return 0;
            }
        }
    }
}

int chanc_connect_all(struct chanc *c, char *err, size_t errlen)
{
    char eb[64];
    int ret = 0;

    if (errlen > 0)
        err[0] = '\0';
    for (size_t i = 0; i < c->nconns && ret == 0; i++) {
        struct chanc_conn *cn = &c->conns[i];
        if (cn->state != CONN_DOWN)
            continue; /* up, or already reconnecting in the loop */
        loop_timer_cancel(c->loop, &cn->timer);
        int r = connect_blocking(cn, err, errlen);
        if (r == 0) {
            r = loop_fd_add(c->loop, cn->fd, LOOP_READ, conn_fd_cb, cn);
            if (r == 0)
                r = conn_watch_urgent(cn);
            if (r < 0)
                snprintf(err, errlen, "%s: cannot watch the socket: %s", cn->label,
                         errstr(-r, eb, sizeof(eb)));
        }
        if (r < 0) {
            conn_close_fd(cn);
            cn->state = CONN_DOWN;
            ret = r;
            break;
        }
        cn->in_loop = true;
        conn_became_up(cn);
        conn_set_write(cn, buf_len(&cn->out.buf) > 0);
        /* Frames that followed the HELLO in the same read are not announced
         * again by epoll: handle them now. */
        if (buf_len(&cn->in) > 0 && !conn_process(cn)) {
            snprintf(err, errlen, "%s: closed right after HELLO", cn->label);
            ret = -ECONNRESET;
        }
    }
    if (ret < 0) {
        /* Leave the rest to the loop: a caller that keeps running (-L) gets
         * every connection retried in the background. */
        uint64_t now = loop_update_time(c->loop);
        for (size_t i = 0; i < c->nconns; i++) {
            struct chanc_conn *cn = &c->conns[i];
            if (cn->state == CONN_DOWN && !cn->timer.armed)
                loop_timer_set(c->loop, &cn->timer, now + ms_to_us(cn->backoff_ms), conn_timer_cb,
                               cn);
        }
    }
    return ret;
}

/* ---- routes and output ---- */

static struct chanc_conn *route_conn(struct chanc *c, size_t server, const struct chan_route *r)
{
    size_t k = 0;
    if (c->per > 1) {
        struct tuple t;
        memset(&t, 0, sizeof(t));
        t.src = r->client;
        t.sport = r->cport;
        t.dst = r->target;
        t.dport = r->tport;
        k = (size_t)(tuple_hash(&t, CHANC_HASH_SEED) % (uint64_t)c->per);
    }
    return &c->conns[server * (size_t)c->per + k];
}

static void route_put(struct chanc *c, uint8_t type, const struct chan_route *r)
{
    for (size_t s = 0; s < c->servers.n; s++) {
        struct chanc_conn *cn = route_conn(c, s, r);
        if (cn->state != CONN_UP || chan_put_route(&cn->out, type, r) < 0) {
            c->st.out_dropped++;
            continue;
        }
        if (type == CHAN_ROUTE_ADD)
            c->st.routes_added++;
        else
            c->st.routes_deleted++;
    }
}

void chanc_route_add(struct chanc *c, const struct chan_route *r)
{
    route_put(c, CHAN_ROUTE_ADD, r);
}

void chanc_route_del(struct chanc *c, const struct chan_route *r)
{
    route_put(c, CHAN_ROUTE_DEL, r);
}

int chanc_route_add_to(struct chanc *c, size_t server, const struct chan_route *r)
{
    if (server >= c->servers.n)
        return -EINVAL;
    struct chanc_conn *cn = route_conn(c, server, r);
    if (c->rereg != NULL && cn != c->rereg)
        return 0;
    if (cn->state != CONN_UP) {
        c->st.out_dropped++;
        return -ENOTCONN;
    }
    int rc = chan_put_route(&cn->out, CHAN_ROUTE_ADD, r);
    if (rc < 0) {
        c->st.out_dropped++;
        return rc == -EINVAL ? rc : -ENOBUFS;
    }
    c->st.routes_added++;
    c->st.reregistered++;
    return 1;
}

void chanc_flush(struct chanc *c)
{
    for (size_t i = 0; i < c->nconns; i++) {
        struct chanc_conn *cn = &c->conns[i];
        /* With LOOP_WRITE on, the socket is full: the write callback flushes
         * when it drains, and meanwhile new records keep batching. */
        if (cn->state == CONN_UP && !cn->want_write && buf_len(&cn->out.buf) > 0)
            conn_flush(cn);
    }
}

size_t chanc_up(const struct chanc *c)
{
    return c->up;
}

const struct chanc_stats *chanc_stats(const struct chanc *c)
{
    return &c->st;
}

void chanc_free(struct chanc *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nconns; i++) {
        struct chanc_conn *cn = &c->conns[i];
        loop_timer_cancel(c->loop, &cn->timer);
        if (cn->state == CONN_UP)
            conn_bye(cn, CHAN_BYE_NORMAL, "tcpcopy exiting");
        conn_close_fd(cn);
        buf_free(&cn->in);
        chan_out_free(&cn->out);
    }
    free(c->conns);
    free(c);
}
