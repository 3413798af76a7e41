/*
 * chanc_conn: one connection of tcpcopy to an intercept, as a state machine
 * driven by the event loop (the diagram is in doc/design.md, "The channel
 * connection"):
 *
 *   DOWN -> CONNECTING -> HELLO [-> AUTH] -> UP -> DOWN (backoff) -> ...
 *
 * Every step is non-blocking, at startup too: chanc_connect_all() runs the loop
 * until the connections are up or have failed. Every failure goes through
 * conn_fail(): at startup its message is kept for chanc_connect_all() to
 * report; later it is logged (a failing attempt on the first try and then
 * about once a minute) and the connection retries with a doubling backoff.
 * What a received frame means is chanc_frame.c's to judge.
 */
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chanc_impl.h"
#include "log.h"

static void conn_fd_cb(struct loop *l, int fd, unsigned events, void *arg);
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

/* The handshake frame this connection waits for, for messages. */
static const char *awaited(const struct chanc_conn *cn)
{
    return cn->state == CONN_AUTH ? "AUTH" : cn->state == CONN_TLS ? "TLS handshake" : "HELLO";
}

/* Watch the socket. Replies are urgent: one may release a request that waits
 * for its answer, so they end the loop's coalescing pause. */
static int conn_watch(struct chanc_conn *cn, unsigned events)
{
    struct loop *l = cn->c->loop;
    int r = loop_fd_add(l, cn->fd, events, conn_fd_cb, cn);
    if (r == 0 && (r = loop_fd_set_urgent(l, cn->fd, true)) < 0)
        loop_fd_del(l, cn->fd);
    cn->in_loop = r == 0;
    return r;
}

void chanc_conn_close_fd(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    loop_timer_cancel(c->loop, &cn->hb);
    if (cn->in_loop)
        loop_fd_del(c->loop, cn->fd); /* before close(): the fd number is reused */
    cn->in_loop = false;
    cn->want_write = false;
    tls_free(cn->tls);
    cn->tls = NULL;
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

void chanc_conn_schedule(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    if (cn->state != CONN_DOWN || cn->timer.armed)
        return;
    uint64_t now = loop_update_time(c->loop);
    loop_timer_set(c->loop, &cn->timer, now + chanc_ms_to_us(cn->backoff_ms), conn_timer_cb, cn);
    /* Doubling backoff: an intercept that is restarting is not hammered by
     * every tcpcopy's connections at once, and one that is back is found soon. */
    cn->backoff_ms =
        cn->backoff_ms >= CHANC_BACKOFF_MAX_MS / 2 ? CHANC_BACKOFF_MAX_MS : cn->backoff_ms * 2;
}

bool chanc_conn_startup_settled(const struct chanc *c)
{
    for (size_t i = 0; i < c->nconns; i++) {
        if (c->conns[i].start_rc < 0)
            return true;
        if (c->conns[i].state != CONN_UP)
            return false;
    }
    return true;
}

static void startup_progress(struct chanc *c)
{
    if (c->starting && chanc_conn_startup_settled(c))
        loop_stop(c->loop);
}

/*
 * The connection (or the attempt) failed for the reason in msg ("label:
 * reason"): keep or log it, flush what is queued (a BYE saying why), close,
 * and retry later (not at startup: chanc_connect_all decides).
 */
static void conn_fail(struct chanc_conn *cn, int rc, const char *msg)
{
    struct chanc *c = cn->c;
    size_t idx = (size_t)(cn - c->conns);
    bool was_up = cn->state == CONN_UP;

    if (c->starting) {
        if (cn->start_rc == 0)
            cn->start_rc = rc;
        if (idx < c->start_idx) {
            c->start_idx = idx;
            snprintf(c->start_err, sizeof(c->start_err), "%s", msg);
        }
    } else if (was_up) {
        log_warnx("%s", msg);
    } else if (cn->fails % CHANC_LOG_EVERY_FAILS == 0) {
        /* A wrong secret or a missing intercept persists across retries. */
        log_warnx("%s (attempt %u, next in %u ms)", msg, cn->fails + 1, cn->backoff_ms);
    }
    chanc_conn_bye(cn, 0, NULL);
    chanc_conn_close_fd(cn);
    /* The attempt's deadline goes with it: the next attempt waits for the
     * backoff, not for the deadline of this one. */
    loop_timer_cancel(c->loop, &cn->timer);
    cn->state = CONN_DOWN;
    if (was_up) {
        c->st.disconnects++;
        if (!c->starting)
            log_info("%s: down, reconnecting in %u ms; its routes are dropped meanwhile", cn->label,
                     cn->backoff_ms);
        set_up_count(c, c->up - 1);
    } else {
        cn->fails++;
    }
    if (!c->starting)
        chanc_conn_schedule(cn);
    startup_progress(c);
}

/* As conn_fail, with the reason an errno. */
static void conn_fail_errno(struct chanc_conn *cn, int rc, const char *what)
{
    char msg[CHANC_ERR_LEN], eb[64];
    snprintf(msg, sizeof(msg), "%s: %s%s", cn->label, what, errstr(-rc, eb, sizeof(eb)));
    conn_fail(cn, rc, msg);
}

/* Best effort: tell the peer why we close (after whatever is still queued,
 * such as our AUTH, so that the intercept can log the real reason). */
void chanc_conn_bye(struct chanc_conn *cn, uint16_t code, const char *text)
{
    if (cn->fd < 0)
        return;
    if (text != NULL)
        (void)hello_bye_put(&cn->out, code, text);
    if (buf_len(&cn->out.buf) > 0 && cn->state != CONN_TLS)
        (void)tls_io_flush(cn->tls, &cn->out, cn->fd);
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

void chanc_conn_open(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    loop_timer_cancel(c->loop, &cn->timer);
    if (c->tls_err[0] != '\0') { /* TLS was asked for: never fall back to plain */
        char msg[CHANC_ERR_LEN];
        errbuf_set(msg, sizeof(msg), "%s: %s", cn->label, c->tls_err);
        conn_fail(cn, -EINVAL, msg);
        return;
    }
    int r = conn_start_connect(cn);
    if (r < 0 && r != -EINPROGRESS) {
        conn_fail_errno(cn, r, "");
        return;
    }
    cn->state = CONN_CONNECTING;
    if ((r = conn_watch(cn, LOOP_WRITE)) < 0) {
        conn_fail_errno(cn, r, "cannot watch the socket: ");
        return;
    }
    /* One deadline for the connect and the HELLO (and AUTH) exchange together. */
    loop_timer_set(c->loop, &cn->timer,
                   loop_update_time(c->loop) + chanc_ms_to_us((unsigned)c->timeout_ms),
                   conn_timer_cb, cn);
}

static void conn_set_write(struct chanc_conn *cn, bool on)
{
    if (cn->want_write == on || !cn->in_loop)
        return;
    if (loop_fd_mod(cn->c->loop, cn->fd, LOOP_READ | (on ? LOOP_WRITE : 0)) == 0)
        cn->want_write = on;
}

bool chanc_conn_flush(struct chanc_conn *cn)
{
    if (cn->fd < 0 || cn->state == CONN_DOWN || cn->state == CONN_CONNECTING ||
        cn->state == CONN_TLS)
        return true;
    ssize_t r = tls_io_flush(cn->tls, &cn->out, cn->fd);
    if (r < 0) {
        conn_fail_errno(cn, (int)r, cn->state == CONN_UP ? "write failed: " : "");
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
    memset(&cn->lag, 0, sizeof(cn->lag)); /* perhaps another intercept process, or host */
    c->st.connects++;
    uint64_t now = loop_update_time(c->loop);
    cn->last_rx_us = now;
    loop_timer_set(c->loop, &cn->hb, now + chanc_ms_to_us(c->hb_ms), conn_hb_cb, cn);
    /* A first timestamped heartbeat at once: intercept answers it at once, and the clocks'
     * offset (so the channel's lag) is known from the start (doc/protocol.md, 7). */
    if (cn->peer.features & CHAN_FEAT_CLOCK) {
        struct chan_hb hb = {.sent_us = loop_realtime_us()};
        (void)chan_put_heartbeat(&cn->out, &hb);
    }
    log_info("%s: connected (protocol %u, features 0x%x%s)", cn->label, cn->peer.version,
             cn->peer.features, c->secret.len > 0 ? ", authenticated" : "");
    set_up_count(c, c->up + 1);
    chanc_rereg(cn);
    startup_progress(c);
}

/* One whole frame. false if the connection was closed. */
static bool conn_frame(struct chanc_conn *cn, const struct chan_frame *f)
{
    struct chanc *c = cn->c;
    char err[CHANC_ERR_LEN];
    bool handshake = cn->state != CONN_UP;
    int r = handshake ? chanc_frame_handshake(cn, f, err, sizeof(err))
                      : chanc_frame_up(cn, f, err, sizeof(err));
    if (r < 0) {
        /* A BYE is the peer's word, an auth failure a configuration matter:
         * neither is a malformed frame. */
        if (r != -ECONNREFUSED && r != -EACCES && r != -ENOPROTOOPT)
            c->st.bad_frames++;
        conn_fail(cn, r, err);
        return false;
    }
    if (handshake && r == 1)
        conn_became_up(cn);
    /* Our AUTH (and, once up, the routes re-registered) go at once: the
     * intercept's deadline must not be spent waiting for our next turn. */
    return !handshake || cn->state == CONN_DOWN || chanc_conn_flush(cn);
}

/*
 * Handle the complete frames in the input buffer. false if the connection was
 * closed (then nothing of cn->in may be touched).
 */
static bool conn_process(struct chanc_conn *cn)
{
    size_t used = 0;
    while (used < buf_len(&cn->in)) {
        struct chan_frame f;
        ssize_t n = chan_frame_next(&f, buf_head(&cn->in) + used, buf_len(&cn->in) - used);
        if (n == 0)
            break;
        if (n < 0) {
            char msg[CHANC_ERR_LEN];
            cn->c->st.bad_frames++;
            snprintf(msg, sizeof(msg), "%s: malformed frame: %s", cn->label, chan_err_str((int)-n));
            (void)hello_bye_put(&cn->out, CHAN_BYE_PROTOCOL, chan_err_str((int)-n));
            conn_fail(cn, -EPROTO, msg);
            return false;
        }
        used += (size_t)n;
        cn->c->st.frames_in++;
        if (!conn_frame(cn, &f) || cn->state == CONN_DOWN)
            return false;
    }
    buf_consume(&cn->in, used);
    return true;
}

/* Read what is there and handle it. false if the connection was closed. */
static bool conn_read(struct chanc_conn *cn)
{
    for (int i = 0; i < CHANC_READS_PER_EVENT; i++) {
        size_t room = buf_room(&cn->in);
        ssize_t r = tls_io_read(cn->tls, &cn->in, cn->fd);
        if (r == -EAGAIN || r == -EWOULDBLOCK)
            return true;
        if (r == 0) {
            char msg[CHANC_ERR_LEN];
            if (cn->state == CONN_UP)
                snprintf(msg, sizeof(msg), "%s: connection closed by intercept", cn->label);
            else
                snprintf(msg, sizeof(msg), "%s: connection closed before %s", cn->label,
                         awaited(cn));
            conn_fail(cn, -ECONNRESET, msg);
            return false;
        }
        if (r < 0) {
            /* -ENOBUFS cannot happen (the buffer holds several maximal frames
             * and complete ones are always consumed) but is handled alike. */
            conn_fail_errno(cn, (int)r, cn->state == CONN_UP ? "read failed: " : "");
            return false;
        }
        cn->last_rx_us = loop_now(cn->c->loop);
        if (!conn_process(cn))
            return false;
        /* A read that did not fill the room drained the socket: the loop (level
         * triggered) says when there is more, without a read that only returns EAGAIN. */
        if ((size_t)r < room)
            return true;
    }
    return true;
}

/* The connection (and its TLS, if any) is up: send our HELLO. */
static void conn_send_hello(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    struct hello h = {0};
    uint32_t feat = CHAN_FEAT_HEARTBEAT | CHAN_FEAT_INSTANCE | CHAN_FEAT_CLOCK;
    if (c->secret.len > 0)
        feat |= CHAN_FEAT_AUTH;
    if (c->route_flags & CHAN_ROUTE_F_PAYLOAD)
        feat |= CHAN_FEAT_PAYLOAD;
    int r = hello_make(&h, CHAN_ROLE_TCPCOPY, feat, c->instance);
    if (r == 0 && (r = hello_put(&cn->out, &h)) == 0)
        r = loop_fd_mod(c->loop, cn->fd, LOOP_READ);
    if (r < 0) {
        conn_fail_errno(cn, r, "");
        return;
    }
    memcpy(cn->nonce, h.nonce, sizeof(cn->nonce));
    cn->state = CONN_HELLO;
    cn->want_write = false;
    (void)chanc_conn_flush(cn);
}

/* An intercept that refuses us before any TLS (its --allow) answers with a plain BYE:
 * read it as such, so the reason is the intercept's, not a TLS parse error. */
static bool conn_tls_plain_bye(struct chanc_conn *cn)
{
    uint8_t b0;
    if (recv(cn->fd, &b0, 1, MSG_PEEK | MSG_DONTWAIT) != 1 || b0 != CHAN_BYE)
        return false; /* a TLS record starts with its content type, never 0x07 */
    char msg[CHANC_ERR_LEN];
    struct chan_frame f;
    struct hello_bye bye;
    (void)buf_read_fd(&cn->in, cn->fd);
    if (chan_frame_next(&f, buf_head(&cn->in), buf_len(&cn->in)) > 0 &&
        hello_bye_decode(&bye, &f) == 0)
        errbuf_set(msg, sizeof(msg), "%s: refused by intercept (code %u): %s", cn->label,
                   bye.code, bye.text);
    else
        errbuf_set(msg, sizeof(msg), "%s: intercept answered in clear, not TLS", cn->label);
    conn_fail(cn, -ECONNREFUSED, msg);
    return true;
}

/* One step of the TLS handshake; its end sends the HELLO. */
static void conn_tls_step(struct chanc_conn *cn)
{
    char err[160], msg[CHANC_ERR_LEN];
    bool ww = false;
    if (conn_tls_plain_bye(cn))
        return;
    int r = tls_handshake(cn->tls, &ww, err, sizeof(err));
    if (r == 1) {
        conn_send_hello(cn);
        return;
    }
    if (r < 0) {
        errbuf_set(msg, sizeof(msg), "%s: %s (does intercept have the same --secret-file, or "
                   "certificates from the same CA?)", cn->label, err);
        cn->c->st.auth_failed++;
        conn_fail(cn, r, msg);
        return;
    }
    if (loop_fd_mod(cn->c->loop, cn->fd, LOOP_READ | (ww ? LOOP_WRITE : 0)) < 0)
        conn_fail_errno(cn, -EIO, "cannot watch the socket: ");
}

/* The non-blocking connect finished (or failed): start TLS, or send our HELLO. */
static void conn_connected(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    int e = 0;
    socklen_t el = sizeof(e);
    int r = getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0 ? -errno : -e;
    if (r < 0) {
        conn_fail_errno(cn, r, "");
        return;
    }
    if (c->tls == NULL) {
        conn_send_hello(cn);
        return;
    }
    char err[256], msg[CHANC_ERR_LEN];
    cn->tls = tls_new(c->tls, cn->fd, err, sizeof(err));
    if (cn->tls == NULL) {
        snprintf(msg, sizeof(msg), "%s: %s", cn->label, err);
        conn_fail(cn, -ENOMEM, msg);
        return;
    }
    cn->state = CONN_TLS;
    conn_tls_step(cn);
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
    if (cn->state == CONN_TLS) {
        conn_tls_step(cn);
        return;
    }
    if ((events & LOOP_READ) && !conn_read(cn))
        return;
    if ((events & LOOP_WRITE) && cn->state != CONN_DOWN)
        (void)chanc_conn_flush(cn);
}

/* DOWN: time to reconnect. CONNECTING/HELLO/AUTH: the deadline passed. */
static void conn_timer_cb(struct loop *l, void *arg)
{
    struct chanc_conn *cn = arg;
    char msg[CHANC_ERR_LEN];
    (void)l;
    switch (cn->state) {
    case CONN_DOWN:
        chanc_conn_open(cn);
        return;
    case CONN_CONNECTING:
    case CONN_TLS:
    case CONN_HELLO:
    case CONN_AUTH:
        snprintf(msg, sizeof(msg), "%s: no %s within %d ms", cn->label,
                 cn->state == CONN_CONNECTING ? "connection" : awaited(cn), cn->c->timeout_ms);
        conn_fail(cn, -ETIMEDOUT, msg);
        return;
    case CONN_UP:
        return;
    }
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
    if ((cn->peer.features & CHAN_FEAT_HEARTBEAT) &&
        now - cn->last_rx_us > chanc_ms_to_us(c->dead_ms)) {
        char msg[CHANC_ERR_LEN];
        c->st.silent++;
        snprintf(msg, sizeof(msg), "%s: silent for %u ms (no heartbeat), closing", cn->label,
                 (unsigned)((now - cn->last_rx_us) / 1000));
        (void)hello_bye_put(&cn->out, CHAN_BYE_PROTOCOL, "no heartbeat");
        conn_fail(cn, -ETIMEDOUT, msg);
        return;
    }
    /* A full queue means the intercept is not reading: then the queued data is
     * proof enough that we are alive, and a heartbeat would only be dropped. */
    struct chan_hb hb = {.sent_us = loop_realtime_us()};
    bool clock = (cn->peer.features & CHAN_FEAT_CLOCK) != 0;
    if (chan_put_heartbeat(&cn->out, clock ? &hb : NULL) == 0 && !cn->want_write &&
        !chanc_conn_flush(cn))
        return;
    loop_timer_set(l, &cn->hb, now + chanc_ms_to_us(c->hb_ms), conn_hb_cb, cn);
}
