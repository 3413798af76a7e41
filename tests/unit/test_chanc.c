/*
 * test_chanc: tcpcopy's channel client against a fake intercept in this
 * process, over loopback only (127.0.0.1, ports chosen by the kernel).
 *
 * chanc_connect_all() runs the event loop until the connections are up (it
 * returns only then), so during it the fake intercept runs in a thread
 * (accept, read the client's HELLO, answer as told). Afterwards the test holds
 * the accepted sockets and drives the real event loop: routes must arrive as
 * ROUTE_ADD/ROUTE_DEL frames, REPLY records must reach on_reply, a garbage
 * frame must close the connection, count it, and a reconnect must follow.
 * Issue 5: the AUTH exchange (good secret, wrong secret, a secret on one side
 * only), an intercept that falls silent, and re-registration of every live
 * route with an intercept that restarted.
 * Issue 19: startup as the event loop (the caller's hook set aside, connections
 * in parallel, the first failure named, failures retried in the background),
 * our AUTH sent before the intercept's, the routes callback per connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "chan.h"
#include "hello.h"
#include "chanc.h"
#include "log.h"
#include "loop.h"
#include "transfer.h"

#define MAXC 11

/* FAKE_AUTH_LATE: HELLO with CHAN_FEAT_AUTH, then wait for the client's proof
 * before sending ours (our AUTH must not wait for the intercept's). */
/* FAKE_BYE_NOW: a BYE code 5 at once, before reading anything (intercept's --allow). */
enum fake_mode {
    FAKE_ANSWER,
    FAKE_SILENT,
    FAKE_VERSION2,
    FAKE_BYE,
    FAKE_AUTH,
    FAKE_AUTH_LATE,
    FAKE_BYE_NOW
};

/* A fake intercept: a listener and the connections it accepted. */
struct fake {
    int lfd;
    uint16_t port;
    enum fake_mode mode;
    int want; /* connections to accept in the thread */
    int cfd[MAXC];
    int n;
    bool hello_ok; /* every client HELLO was well-formed, role tcpcopy */
    /* FAKE_AUTH: announce CHAN_FEAT_AUTH, prove this secret, check the client's. */
    const struct auth_secret *secret;
    bool client_auth; /* the client's HELLO announced CHAN_FEAT_AUTH */
    uint32_t client_feat; /* the features of the client's (last) HELLO */
    bool auth_ok;     /* the client's AUTH verified */
    int bye_code;     /* code of a BYE the client sent during the handshake, or -1 */
    pthread_t th;
};

static void fake_listen(struct fake *f)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < MAXC; i++)
        f->cfd[i] = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    /* Inherited by accepted sockets: their TIME_WAIT must not block a restart
     * on the same port (Linux wants SO_REUSEADDR on both sides of that check). */
    int one = 1;
    assert_int_equal(setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(f->lfd, 16), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
    f->port = ntohs(sin.sin_port);
}

static void fake_close(struct fake *f)
{
    for (int i = 0; i < f->n; i++)
        if (f->cfd[i] >= 0)
            close(f->cfd[i]);
    if (f->lfd >= 0)
        close(f->lfd);
    f->lfd = -1;
    f->n = 0;
}

/* Read one whole frame from a blocking fd into p (at most cap). Frame length, or -1. */
static ssize_t read_frame(int fd, uint8_t *p, size_t cap, int timeout_ms)
{
    size_t have = 0;
    for (;;) {
        struct chan_frame fr;
        ssize_t n = chan_frame_next(&fr, p, have);
        if (n != 0)
            return n;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, timeout_ms) <= 0 || have == cap)
            return -1;
        ssize_t r = read(fd, p + have, 1); /* byte by byte: never read past the frame */
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
}

static uint32_t fake_feat_extra; /* more features in the fake's HELLO (CHAN_FEAT_PAYLOAD) */

static void send_hello(int fd, uint16_t version)
{
    struct chan_out o;
    struct hello h = {.version = version,
                      .role = CHAN_ROLE_INTERCEPT,
                      .features = CHAN_FEAT_HEARTBEAT | fake_feat_extra};
    chan_out_init(&o, 1024);
    assert_int_equal(hello_put(&o, &h), 0);
    assert_int_equal(chan_out_flush(&o, fd), CHAN_HDR_LEN + CHAN_HELLO_LEN);
    chan_out_free(&o);
}

/* As intercept does with a secret: HELLO with CHAN_FEAT_AUTH and a nonce, then
 * our AUTH proof right behind it. A NULL secret proves nothing but still
 * announces the feature (an intercept that wants a proof). */
static void send_hello_auth(int fd, const struct auth_secret *s, const uint8_t client_nonce[16],
                            uint8_t nonce[16])
{
    struct chan_out o;
    struct hello h = {.version = CHAN_VERSION,
                           .role = CHAN_ROLE_INTERCEPT,
                           .features = CHAN_FEAT_HEARTBEAT | CHAN_FEAT_AUTH};
    for (int i = 0; i < 16; i++)
        h.nonce[i] = (uint8_t)(rand() & 0xff);
    memcpy(nonce, h.nonce, 16);
    chan_out_init(&o, 1024);
    assert_int_equal(hello_put(&o, &h), 0);
    if (s != NULL) {
        uint8_t mac[CHAN_MAC_LEN];
        assert_int_equal(auth_mac(mac, s, CHAN_ROLE_INTERCEPT, nonce, client_nonce), 0);
        assert_int_equal(hello_auth_put(&o, mac), 0);
    }
    assert_true(chan_out_flush(&o, fd) > 0);
    chan_out_free(&o);
}

/* Read the client's answer to our AUTH: its AUTH (checked) and/or a BYE. */
static void fake_read_auth(struct fake *f, int fd, const uint8_t client_nonce[16],
                           const uint8_t nonce[16])
{
    for (int k = 0; k < 2; k++) {
        uint8_t b[300];
        struct chan_frame fr;
        ssize_t n = read_frame(fd, b, sizeof(b), 3000);
        if (n <= 0 || chan_frame_next(&fr, b, (size_t)n) != n)
            return;
        if (fr.type == CHAN_BYE) {
            f->bye_code = fr.body[0] << 8 | fr.body[1];
            return;
        }
        uint8_t mac[CHAN_MAC_LEN];
        if (fr.type == CHAN_AUTH && hello_auth_decode(mac, &fr) == 0 && f->secret != NULL &&
            auth_verify(mac, f->secret, CHAN_ROLE_TCPCOPY, client_nonce, nonce)) {
            f->auth_ok = true;
            return; /* a good proof: nothing follows */
        }
    }
}

/* Accept one client, check its HELLO, answer per mode. */
static int fake_serve_one(struct fake *f)
{
    struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1)
        return -1;
    int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return -1;
    f->cfd[f->n++] = fd;
    if (f->mode == FAKE_BYE_NOW) {
        (void)!write(fd, "\x07\x00\x00\x0d\x00\x05not allowed", 17);
        return 0;
    }
    uint8_t b[300];
    ssize_t n = read_frame(fd, b, sizeof(b), 5000);
    struct chan_frame fr;
    struct hello h;
    if (n <= 0 || chan_frame_next(&fr, b, (size_t)n) != n || hello_decode(&h, &fr) != 0 ||
        h.role != CHAN_ROLE_TCPCOPY || !(h.features & CHAN_FEAT_HEARTBEAT))
        f->hello_ok = false;
    f->client_auth = (h.features & CHAN_FEAT_AUTH) != 0;
    f->client_feat = h.features;
    switch (f->mode) {
    case FAKE_AUTH: {
        uint8_t nonce[16];
        send_hello_auth(fd, f->secret, h.nonce, nonce);
        fake_read_auth(f, fd, h.nonce, nonce);
        break;
    }
    case FAKE_AUTH_LATE: {
        uint8_t nonce[16], mac[CHAN_MAC_LEN];
        struct chan_out o;
        send_hello_auth(fd, NULL, h.nonce, nonce);
        fake_read_auth(f, fd, h.nonce, nonce);
        if (!f->auth_ok)
            break;
        assert_int_equal(auth_mac(mac, f->secret, CHAN_ROLE_INTERCEPT, nonce, h.nonce), 0);
        chan_out_init(&o, 1024);
        assert_int_equal(hello_auth_put(&o, mac), 0);
        assert_true(chan_out_flush(&o, fd) > 0);
        chan_out_free(&o);
        break;
    }
    case FAKE_ANSWER:
        send_hello(fd, CHAN_VERSION);
        break;
    case FAKE_VERSION2:
        send_hello(fd, 2);
        break;
    case FAKE_BYE:
        (void)!write(fd,
                     "\x07\x00\x00\x06\x00\x09"
                     "full",
                     10);
        break;
    case FAKE_SILENT:
    case FAKE_BYE_NOW:
        break;
    }
    return 0;
}

static void *fake_thread(void *arg)
{
    struct fake *f = arg;
    f->hello_ok = true;
    f->auth_ok = false;
    f->bye_code = -1;
    for (int i = 0; i < f->want; i++)
        if (fake_serve_one(f) < 0) {
            f->hello_ok = false;
            break;
        }
    return NULL;
}

static void fake_start(struct fake *f, enum fake_mode mode, int want)
{
    f->mode = mode;
    f->want = want;
    assert_int_equal(pthread_create(&f->th, NULL, fake_thread, f), 0);
}

static void fake_join(struct fake *f)
{
    pthread_join(f->th, NULL);
}

/* ---- the client side ---- */

struct ctx {
    struct loop *loop;
    struct chanc *c;
    struct server_list servers;
    size_t up, total, state_calls;
    uint8_t rec[16][CHAN_REPLY_HDR_MAX];
    size_t rec_len[16];
    size_t nrec;
    size_t rec_bytes, rec_max; /* every record's length: their sum, the largest */
    uint64_t rec_now_us, rec_lag_us; /* at the last record: the loop's time, the lag */
    bool (*until)(struct ctx *);
    struct loop_timer stop;
    bool timed_out;
    /* Set before ctx_new: the channel's options. */
    const struct auth_secret *secret;
    int hb_ms, dead_ms;
    bool want_payload, tls;
    /* The "live sessions" the routes callback hands over, and its calls. */
    struct chan_route *live;
    size_t nlive;
    size_t up_calls;
};

static void on_reply(void *arg, const uint8_t *hdr, size_t len)
{
    struct ctx *x = arg;
    x->rec_now_us = loop_now(x->loop);
    x->rec_lag_us = chanc_stats(x->c)->lag_last_us;
    if (x->nrec < 16 && len <= CHAN_REPLY_HDR_MAX) {
        memcpy(x->rec[x->nrec], hdr, len);
        x->rec_len[x->nrec] = len;
    }
    x->nrec++;
    x->rec_bytes += len;
    if (len > x->rec_max)
        x->rec_max = len;
}

static void on_state(void *arg, size_t up, size_t total)
{
    struct ctx *x = arg;
    x->up = up;
    x->total = total;
    x->state_calls++;
}

/* chanc_cb.routes: a connection came up; hand over every "live session". */
static size_t on_routes(void *arg, chanc_route_fn *emit, void *ctx)
{
    struct ctx *x = arg;
    x->up_calls++;
    for (size_t i = 0; i < x->nlive; i++)
        emit(ctx, &x->live[i]);
    return x->nlive;
}

static void add_server(struct ctx *x, uint16_t port)
{
    struct server *s = &x->servers.s[x->servers.n++];
    assert_true(addr_parse(&s->addr, "127.0.0.1"));
    s->port = port;
}

static void ctx_new(struct ctx *x, int per, size_t out_max, int timeout_ms)
{
    struct chanc_conf conf = {.servers = &x->servers,
                              .conns_per_server = per,
                              .out_max = out_max,
                              .connect_timeout_ms = timeout_ms,
                              .secret = x->secret,
                              .heartbeat_ms = x->hb_ms,
                              .dead_after_ms = x->dead_ms,
                              .want_payload = x->want_payload,
                              .use_tls = x->tls};
    struct chanc_cb cb = {.on_reply = on_reply, .on_state = on_state, .routes = on_routes};
    x->loop = loop_new();
    assert_non_null(x->loop);
    x->c = chanc_new(x->loop, &conf, &cb, x);
    assert_non_null(x->c);
}

static void ctx_free(struct ctx *x)
{
    chanc_free(x->c);
    loop_free(x->loop);
}

static void before_sleep(struct loop *l, void *arg)
{
    struct ctx *x = arg;
    chanc_flush(x->c); /* as the program does, once per iteration */
    if (x->until(x))
        loop_stop(l);
}

static void stop_cb(struct loop *l, void *arg)
{
    struct ctx *x = arg;
    x->timed_out = true;
    loop_stop(l);
}

/* Run the loop until cond holds; false on timeout. */
static bool run_until(struct ctx *x, bool (*cond)(struct ctx *), int timeout_ms)
{
    x->until = cond;
    x->timed_out = false;
    loop_set_before_sleep(x->loop, before_sleep, x);
    loop_timer_set(x->loop, &x->stop, loop_update_time(x->loop) + (uint64_t)timeout_ms * 1000,
                   stop_cb, x);
    assert_int_equal(loop_run(x->loop), 0);
    loop_timer_cancel(x->loop, &x->stop);
    return !x->timed_out;
}

static int setup(void **state)
{
    (void)state;
    log_init("test_chanc", NULL, false);
    return 0;
}

/* ---- tests ---- */

static void test_connect_ok(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 3, 0, 3000);
    fake_start(&f, FAKE_ANSWER, 3);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    assert_true(f.hello_ok);
    assert_int_equal(f.n, 3);
    assert_int_equal(chanc_up(x.c), 3);
    assert_int_equal(x.up, 3);
    assert_int_equal(x.total, 3);
    assert_int_equal(x.state_calls, 3);
    assert_int_equal(chanc_stats(x.c)->connects, 3);
    assert_int_equal(chanc_stats(x.c)->bad_frames, 0);
    ctx_free(&x);
    /* chanc_free says goodbye: each fake connection sees a BYE, then EOF. */
    for (int i = 0; i < f.n; i++) {
        uint8_t b[64];
        ssize_t n = read_frame(f.cfd[i], b, sizeof(b), 2000);
        assert_true(n >= 6);
        assert_int_equal(b[0], CHAN_BYE);
        assert_int_equal(read(f.cfd[i], b, 1), 0);
    }
    fake_close(&f);
}

static void test_connect_refused(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256], want[128];
    fake_listen(&f);
    uint16_t port = f.port;
    fake_close(&f); /* nothing listens there now */
    add_server(&x, port);
    ctx_new(&x, 1, 0, 1000);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -ECONNREFUSED);
    snprintf(want, sizeof(want), "intercept 127.0.0.1:%u: connection refused", port);
    assert_string_equal(err, want);
    assert_int_equal(chanc_up(x.c), 0);
    assert_int_equal(x.state_calls, 0);
    ctx_free(&x);
}

static void test_connect_no_hello(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256], want[128];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 300);
    fake_start(&f, FAKE_SILENT, 1);
    uint64_t t0 = now_monotonic_us();
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -ETIMEDOUT);
    uint64_t ms = (now_monotonic_us() - t0) / 1000;
    fake_join(&f);
    snprintf(want, sizeof(want), "intercept 127.0.0.1:%u: no HELLO within 300 ms", f.port);
    assert_string_equal(err, want);
    assert_true(ms >= 290 && ms < 2000);
    assert_true(f.hello_ok); /* our HELLO went out before we gave up */
    ctx_free(&x);
    fake_close(&f);
}

static void test_connect_wrong_version(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256], want[128];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 2000);
    fake_start(&f, FAKE_VERSION2, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -EPROTONOSUPPORT);
    fake_join(&f);
    snprintf(want, sizeof(want), "intercept 127.0.0.1:%u: protocol version 2, we speak 1", f.port);
    assert_string_equal(err, want);
    /* We told the intercept why before closing. */
    uint8_t b[300];
    ssize_t n = read_frame(f.cfd[0], b, sizeof(b), 2000);
    assert_true(n > 6);
    assert_int_equal(b[0], CHAN_BYE);
    ctx_free(&x);
    fake_close(&f);
}

static void test_connect_bye(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256], want[128];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 2000);
    fake_start(&f, FAKE_BYE, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -ECONNREFUSED);
    fake_join(&f);
    snprintf(want, sizeof(want), "intercept 127.0.0.1:%u: refused by intercept (code 9): full",
             f.port);
    assert_string_equal(err, want);
    ctx_free(&x);
    fake_close(&f);
}

/* One server fails: the error names it, and the others are not left half-done. */
static void test_connect_second_server_fails(void **state)
{
    (void)state;
    struct fake a, dead;
    struct ctx x = {0};
    char err[256], want[128];
    fake_listen(&a);
    fake_listen(&dead);
    uint16_t dport = dead.port;
    fake_close(&dead);
    add_server(&x, a.port);
    add_server(&x, dport);
    ctx_new(&x, 1, 0, 1000);
    fake_start(&a, FAKE_ANSWER, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -ECONNREFUSED);
    fake_join(&a);
    snprintf(want, sizeof(want), "intercept 127.0.0.1:%u: connection refused", dport);
    assert_string_equal(err, want);
    assert_int_equal(chanc_up(x.c), 1);
    ctx_free(&x);
    fake_close(&a);
}

static struct chan_route route(uint32_t client, uint16_t cport)
{
    struct chan_route r;
    uint32_t c = htonl(client), t = htonl(0xc000020a); /* 192.0.2.10 */
    memset(&r, 0, sizeof(r));
    addr_set_v4(&r.client, &c);
    addr_set_v4(&r.target, &t);
    r.cport = cport;
    r.tport = 8080;
    return r;
}

static void test_routes_to_every_server(void **state)
{
    (void)state;
    struct fake f[2];
    struct ctx x = {0};
    char err[256];
    for (int i = 0; i < 2; i++) {
        fake_listen(&f[i]);
        add_server(&x, f[i].port);
        fake_start(&f[i], FAKE_ANSWER, 1);
    }
    ctx_new(&x, 1, 0, 3000);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    for (int i = 0; i < 2; i++)
        fake_join(&f[i]);

    for (uint16_t k = 0; k < 3; k++) {
        struct chan_route r = route(0x3e87c801 + k, (uint16_t)(40000 + k));
        chanc_route_add(x.c, &r);
    }
    struct chan_route r0 = route(0x3e87c801, 40000);
    chanc_route_del(x.c, &r0);
    chanc_flush(x.c);
    assert_int_equal(chanc_stats(x.c)->routes_added, 6);
    assert_int_equal(chanc_stats(x.c)->routes_deleted, 2);
    assert_int_equal(chanc_stats(x.c)->out_dropped, 0);

    for (int i = 0; i < 2; i++) {
        uint8_t b[300];
        struct chan_frame fr;
        struct chan_route g;
        ssize_t n = read_frame(f[i].cfd[0], b, sizeof(b), 2000);
        assert_int_equal(n, 4 + 3 * 40); /* three records batched into one frame */
        assert_int_equal(chan_frame_next(&fr, b, (size_t)n), n);
        assert_int_equal(fr.type, CHAN_ROUTE_ADD);
        assert_int_equal(chan_route_count(&fr), 3);
        for (uint16_t k = 0; k < 3; k++) {
            assert_int_equal(chan_route_get(&g, &fr, k), 0);
            assert_int_equal(g.cport, 40000 + k);
            assert_int_equal(g.tport, 8080);
            assert_int_equal(ntohl(g.client.u.v4.s_addr), 0x3e87c801 + k);
            assert_int_equal(ntohl(g.target.u.v4.s_addr), 0xc000020a);
        }
        n = read_frame(f[i].cfd[0], b, sizeof(b), 2000);
        assert_int_equal(n, 44);
        assert_int_equal(chan_frame_next(&fr, b, (size_t)n), n);
        assert_int_equal(fr.type, CHAN_ROUTE_DEL);
        assert_int_equal(chan_route_get(&g, &fr, 0), 0);
        assert_int_equal(g.cport, 40000);
    }
    ctx_free(&x);
    for (int i = 0; i < 2; i++)
        fake_close(&f[i]);
}

/* With -C 4, a route's ADD and DEL travel on the same connection. */
/* TLS (doc/protocol.md 14): an intercept that refuses us in clear before any TLS (its
 * --allow) is reported with its own reason, not as a TLS error; TLS without a key is
 * a startup error naming the options, never a plain connection. */
static void test_tls_refused_in_clear(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    struct auth_secret s = {.len = 6};
    char err[256];
    memcpy(s.key, "s3cret", 6);
    fake_listen(&f);
    add_server(&x, f.port);
    x.secret = &s;
    x.tls = true;
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_BYE_NOW, 1);
    assert_true(chanc_connect_all(x.c, err, sizeof(err)) < 0);
    fake_join(&f);
    assert_non_null(strstr(err, "refused by intercept (code 5): not allowed"));
    ctx_free(&x);
    fake_close(&f);

    struct ctx y = {0};
    fake_listen(&f);
    add_server(&y, f.port);
    y.tls = true; /* and no secret, no certificates */
    ctx_new(&y, 1, 0, 3000);
    assert_int_equal(chanc_connect_all(y.c, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--secret-file"));
    assert_int_equal(chanc_up(y.c), 0);
    ctx_free(&y);
    fake_close(&f);
}

static bool got_2_replies(struct ctx *x)
{
    return x->nrec >= 2;
}

/* Reply payload (doc/protocol.md 6.1): asked for in the HELLO; an intercept that does
 * not offer it is refused at startup with the fix named; one that does gets every
 * route flagged; without the option nothing is asked or flagged. */
static void test_payload_asked(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256];
    fake_listen(&f);
    add_server(&x, f.port);
    x.want_payload = true;
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_ANSWER, 1);
    assert_true(chanc_connect_all(x.c, err, sizeof(err)) < 0);
    fake_join(&f);
    assert_true(f.client_feat & CHAN_FEAT_PAYLOAD);
    assert_non_null(strstr(err, "reply payload"));
    assert_non_null(strstr(err, "--payload")); /* a local intercept: in clear is allowed */
    assert_int_equal(chanc_stats(x.c)->bad_frames, 0);
    ctx_free(&x);
    fake_close(&f);

    for (int want = 1; want >= 0; want--) {
        struct ctx y = {0};
        fake_listen(&f);
        add_server(&y, f.port);
        y.want_payload = want;
        fake_feat_extra = CHAN_FEAT_PAYLOAD;
        ctx_new(&y, 1, 0, 3000);
        fake_start(&f, FAKE_ANSWER, 1);
        assert_int_equal(chanc_connect_all(y.c, err, sizeof(err)), 0);
        fake_join(&f);
        fake_feat_extra = 0;
        assert_int_equal((f.client_feat & CHAN_FEAT_PAYLOAD) != 0, want);
        struct chan_route r = route(0x0a000001, 40000);
        chanc_route_add(y.c, &r);
        chanc_flush(y.c);
        uint8_t b[256];
        struct chan_frame fr;
        struct chan_route g;
        ssize_t n = read_frame(f.cfd[0], b, sizeof(b), 2000);
        assert_true(n > 0);
        assert_int_equal(chan_frame_next(&fr, b, (size_t)n), n);
        assert_int_equal(fr.type, CHAN_ROUTE_ADD);
        assert_int_equal(chan_route_get(&g, &fr, 0), 0);
        assert_int_equal(g.flags, want ? CHAN_ROUTE_F_PAYLOAD : 0);
        if (want) {
            /* Records with payload: up to a whole frame each, delivered as they are. */
            static uint8_t big[CHAN_REPLY_REC_MAX];
            struct chan_out o;
            memset(big, 0x45, sizeof(big));
            chan_out_init(&o, 1 << 20);
            assert_int_equal(chan_put_reply(&o, big, sizeof(big)), 0);
            assert_int_equal(chan_put_reply(&o, big, 2000), 0);
            assert_int_equal(chan_put_reply(&o, big, sizeof(big) + 1), -EINVAL);
            chan_out_seal(&o);
            size_t len = buf_len(&o.buf), off = 0;
            while (off < len) {
                ssize_t w = write(f.cfd[0], buf_head(&o.buf) + off, len - off);
                assert_true(w > 0);
                off += (size_t)w;
                (void)run_until(&y, got_2_replies, off < len ? 50 : 3000);
            }
            chan_out_free(&o);
            assert_int_equal(y.nrec, 2);
            assert_int_equal(y.rec_max, CHAN_REPLY_REC_MAX);
            assert_int_equal(y.rec_bytes, CHAN_REPLY_REC_MAX + 2000);
            assert_int_equal(chanc_stats(y.c)->bad_frames, 0);
        }
        ctx_free(&y);
        fake_close(&f);
    }
}

static void test_route_add_del_same_conn(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256];
    enum { PER = 4, N = 64 };
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, PER, 0, 3000);
    fake_start(&f, FAKE_ANSWER, PER);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    for (int k = 0; k < N; k++) {
        struct chan_route r = route(0x0a000000 + (uint32_t)k * 7, (uint16_t)(1024 + k));
        chanc_route_add(x.c, &r);
    }
    chanc_flush(x.c);
    for (int k = N - 1; k >= 0; k--) {
        struct chan_route r = route(0x0a000000 + (uint32_t)k * 7, (uint16_t)(1024 + k));
        chanc_route_del(x.c, &r);
    }
    chanc_flush(x.c);

    int used = 0, total = 0;
    for (int i = 0; i < PER; i++) {
        uint8_t b[8192];
        struct chan_frame fr;
        struct chan_route g;
        uint8_t added[N] = {0};
        int na = 0;
        for (int phase = 0; phase < 2; phase++) {
            /* A connection with no route gets no frame: look without blocking long. */
            ssize_t n = read_frame(f.cfd[i], b, sizeof(b), phase == 0 ? 300 : 2000);
            if (n < 0 && phase == 0)
                break;
            assert_true(n > 0);
            assert_int_equal(chan_frame_next(&fr, b, (size_t)n), n);
            assert_int_equal(fr.type, phase == 0 ? CHAN_ROUTE_ADD : CHAN_ROUTE_DEL);
            for (size_t k = 0; k < chan_route_count(&fr); k++) {
                assert_int_equal(chan_route_get(&g, &fr, k), 0);
                int idx = g.cport - 1024;
                assert_true(idx >= 0 && idx < N);
                if (phase == 0) {
                    added[idx] = 1;
                    na++;
                } else {
                    assert_int_equal(added[idx], 1); /* deleted where it was added */
                    na--;
                }
            }
            if (phase == 0) {
                used++;
                total += (int)chan_route_count(&fr);
            }
        }
        assert_int_equal(na, 0);
    }
    assert_int_equal(total, N);
    assert_true(used >= 2); /* 64 routes over 4 connections: spread, not all on one */
    ctx_free(&x);
    fake_close(&f);
}

static bool got_3_replies(struct ctx *x)
{
    return x->nrec >= 3;
}

static bool is_down(struct ctx *x)
{
    return chanc_up(x->c) == 0;
}

static bool is_up(struct ctx *x)
{
    return chanc_up(x->c) == 1;
}

static void connect_one(struct fake *f, struct ctx *x, size_t out_max)
{
    char err[256];
    fake_listen(f);
    add_server(x, f->port);
    ctx_new(x, 1, out_max, 3000);
    fake_start(f, FAKE_ANSWER, 1);
    assert_int_equal(chanc_connect_all(x->c, err, sizeof(err)), 0);
    fake_join(f);
}

static void test_replies_reach_on_reply(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 0);

    struct chan_out o;
    chan_out_init(&o, 4096);
    uint8_t h1[40], h2[60], h3[1];
    memset(h1, 0x45, sizeof(h1));
    memset(h2, 0x60, sizeof(h2));
    h3[0] = 0x99;
    assert_int_equal(chan_put_frame(&o, CHAN_HEARTBEAT, NULL, 0), 0);
    assert_int_equal(chan_put_reply(&o, h1, sizeof(h1)), 0);
    assert_int_equal(chan_put_reply(&o, h2, sizeof(h2)), 0);
    chan_out_seal(&o);
    assert_int_equal(chan_put_reply(&o, h3, sizeof(h3)), 0);
    /* Dribble the stream a byte at a time: frames cut anywhere must reassemble. */
    size_t len = buf_len(&o.buf);
    const uint8_t *p = buf_head(&o.buf);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(write(f.cfd[0], p + i, 1), 1);
    chan_out_free(&o);

    assert_true(run_until(&x, got_3_replies, 3000));
    assert_int_equal(x.nrec, 3);
    assert_int_equal(x.rec_len[0], 40);
    assert_memory_equal(x.rec[0], h1, 40);
    assert_int_equal(x.rec_len[1], 60);
    assert_memory_equal(x.rec[1], h2, 60);
    assert_int_equal(x.rec_len[2], 1);
    assert_int_equal(x.rec[2][0], 0x99);
    const struct chanc_stats *st = chanc_stats(x.c);
    assert_int_equal(st->replies_in, 3);
    assert_int_equal(st->frames_in, 1 + 3); /* HELLO, HEARTBEAT, 2 REPLY */
    assert_int_equal(st->bad_frames, 0);
    assert_int_equal(chanc_up(x.c), 1);
    ctx_free(&x);
    fake_close(&f);
}

/* A pipe whose callback takes 30 ms: an event loop iteration that is long before the
 * channel's turn comes. */
static void slow_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    uint8_t b;
    (void)l, (void)events, (void)arg;
    assert_int_equal(read(fd, &b, 1), 1);
    usleep(30000);
}

/* --compare places a target answer at the reply's loop time minus the lag of the STAMP
 * before it. A STAMP read after a long iteration (a stale loop time) must refresh the loop's
 * time, or the answer is placed 30 ms before it was captured (before its request). */
static void test_stamp_refreshes_loop_time(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    fake_feat_extra = CHAN_FEAT_CLOCK;
    connect_one(&f, &x, 0);
    fake_feat_extra = 0;
    /* Our timestamped heartbeat, sent when the connection came up: echo it. */
    uint8_t b[300];
    struct chan_frame fr;
    struct chan_hb hb = {0}, echo;
    (void)run_until(&x, got_3_replies, 100); /* flushes what the client queued */
    for (int i = 0; i < 8 && hb.sent_us == 0; i++) {
        ssize_t n = read_frame(f.cfd[0], b, sizeof(b), 1000);
        assert_true(n > 0);
        assert_true(chan_frame_next(&fr, b, (size_t)n) > 0);
        if (fr.type == CHAN_HEARTBEAT)
            assert_int_equal(chan_heartbeat_decode(&hb, &fr), 0);
    }
    assert_true(hb.sent_us != 0);
    uint64_t rt = loop_realtime_us(); /* held since it was sent: one clock, no transit */
    echo = (struct chan_hb){.sent_us = rt, .echo_us = hb.sent_us, .held_us = rt - hb.sent_us};
    struct chan_out o;
    chan_out_init(&o, 4096);
    assert_int_equal(chan_put_heartbeat(&o, &echo), 0);
    assert_true(chan_out_flush(&o, f.cfd[0]) > 0);
    (void)run_until(&x, got_3_replies, 100); /* the offset is known */

    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    assert_int_equal(loop_fd_add(x.loop, pfd[0], LOOP_READ, slow_cb, NULL), 0);
    assert_int_equal(write(pfd[1], "s", 1), 1); /* ready first: its callback runs first */
    usleep(2000);
    uint64_t mono_cap = loop_update_time(x.loop); /* the "capture", on our monotonic clock */
    uint8_t h[40];
    memset(h, 0x45, sizeof(h));
    assert_int_equal(chan_put_stamp(&o, loop_realtime_us()), 0);
    assert_int_equal(chan_put_reply(&o, h, sizeof(h)), 0);
    assert_true(chan_out_flush(&o, f.cfd[0]) > 0);
    chan_out_free(&o);
    x.nrec = 0;
    (void)run_until(&x, got_3_replies, 300);
    assert_int_equal(x.nrec, 1);
    assert_int_equal(chanc_stats(x.c)->lag_samples, 1);
    assert_true(x.rec_lag_us >= 25000); /* the 30 ms callback ran before the channel's */
    uint64_t at = x.rec_now_us - x.rec_lag_us;
    /* Within the offset's error (half a loopback round trip) and the test's own steps. */
    assert_true(at + 5000 >= mono_cap);
    assert_true(at <= mono_cap + 5000);
    loop_fd_del(x.loop, pfd[0]);
    close(pfd[0]);
    close(pfd[1]);
    ctx_free(&x);
    fake_close(&f);
}

/* The fake intercept, event-driven, for reconnects made from the loop. */
struct lfake {
    struct fake *f;
    int accepted;
};

static void lfake_conn_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    uint8_t b[300];
    struct lfake *lf = arg;
    (void)events;
    ssize_t n = read_frame(fd, b, sizeof(b), 1000);
    loop_fd_del(l, fd);
    if (n > 0 && b[0] == CHAN_HELLO) {
        send_hello(fd, CHAN_VERSION);
        lf->accepted++;
    }
}

static void lfake_accept_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct lfake *lf = arg;
    (void)events;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return;
    lf->f->cfd[lf->f->n++] = c;
    assert_int_equal(loop_fd_add(l, c, LOOP_READ, lfake_conn_cb, lf), 0);
}

static void test_garbage_closes_and_reconnects(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 0);

    /* A frame type nobody defined. */
    assert_int_equal(write(f.cfd[0], "\xee\x00\x00\x00", 4), 4);
    assert_true(run_until(&x, is_down, 3000));
    const struct chanc_stats *st = chanc_stats(x.c);
    assert_int_equal(st->bad_frames, 1);
    assert_int_equal(st->disconnects, 1);
    assert_int_equal(x.up, 0);
    assert_int_equal(x.state_calls, 2); /* up, then down */

    /* It told us why, then closed. */
    uint8_t b[300];
    ssize_t n = read_frame(f.cfd[0], b, sizeof(b), 2000);
    assert_true(n > 6);
    assert_int_equal(b[0], CHAN_BYE);
    assert_int_equal(read(f.cfd[0], b, 1), 0);

    /* While down, routes are dropped and counted. */
    struct chan_route r = route(0x0a000001, 1234);
    chanc_route_add(x.c, &r);
    assert_int_equal(st->out_dropped, 1);
    assert_int_equal(st->routes_added, 0);

    /* Reconnect from the loop (first retry after 200 ms), HELLO and all. */
    struct lfake lf = {.f = &f};
    assert_int_equal(loop_fd_add(x.loop, f.lfd, LOOP_READ, lfake_accept_cb, &lf), 0);
    uint64_t t0 = now_monotonic_us();
    assert_true(run_until(&x, is_up, 3000));
    uint64_t ms = (now_monotonic_us() - t0) / 1000;
    assert_true(ms >= 150);
    assert_int_equal(lf.accepted, 1);
    assert_int_equal(st->connects, 2);
    assert_int_equal(x.up, 1);

    /* And the new connection carries routes. */
    chanc_route_add(x.c, &r);
    chanc_flush(x.c);
    n = read_frame(f.cfd[f.n - 1], b, sizeof(b), 2000);
    assert_int_equal(n, 44);
    assert_int_equal(b[0], CHAN_ROUTE_ADD);
    loop_fd_del(x.loop, f.lfd);
    ctx_free(&x);
    fake_close(&f);
}

static void test_bad_reply_record_closes(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 0);
    /* A REPLY whose second record overruns the frame: nothing is delivered. */
    static const uint8_t bad[] = {0x05, 0x00, 0x00, 0x07, 0x00, 0x01, 0xaa, 0x00, 0x09, 1, 2};
    assert_int_equal(write(f.cfd[0], bad, sizeof(bad)), (ssize_t)sizeof(bad));
    assert_true(run_until(&x, is_down, 3000));
    assert_int_equal(chanc_stats(x.c)->bad_frames, 1);
    assert_int_equal(x.nrec, 0);
    ctx_free(&x);
    fake_close(&f);
}

static void test_bye_closes(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 0);
    assert_int_equal(write(f.cfd[0], "\x07\x00\x00\x0a\x00\x00restart\n", 14), 14);
    assert_true(run_until(&x, is_down, 3000));
    assert_int_equal(chanc_stats(x.c)->bad_frames, 0); /* a BYE is not an error */
    assert_int_equal(chanc_stats(x.c)->disconnects, 1);
    ctx_free(&x);
    fake_close(&f);
}

static void test_peer_eof_closes(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 0);
    close(f.cfd[0]);
    f.cfd[0] = -1;
    assert_true(run_until(&x, is_down, 3000));
    assert_int_equal(chanc_stats(x.c)->disconnects, 1);
    assert_int_equal(chanc_stats(x.c)->bad_frames, 0);
    ctx_free(&x);
    fake_close(&f);
}

static void test_out_bounded(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 100); /* room for a frame of two routes (84 bytes), not three */
    for (int k = 0; k < 5; k++) {
        struct chan_route r = route(0x0a000001, (uint16_t)(2000 + k));
        chanc_route_add(x.c, &r);
    }
    const struct chanc_stats *st = chanc_stats(x.c);
    assert_int_equal(st->routes_added, 2);
    assert_int_equal(st->out_dropped, 3);
    chanc_flush(x.c);
    uint8_t b[300];
    assert_int_equal(read_frame(f.cfd[0], b, sizeof(b), 2000), 84);
    ctx_free(&x);
    fake_close(&f);
}

/* The loop side of a fake intercept that counts the routes it receives. */
struct sink {
    struct buf in;
    size_t routes;
    uint16_t next_port;
    bool in_order;
};

static void sink_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct sink *s = arg;
    (void)l;
    (void)events;
    ssize_t r = buf_read_fd(&s->in, fd);
    if (r <= 0)
        return;
    for (;;) {
        struct chan_frame fr;
        ssize_t n = chan_frame_next(&fr, buf_head(&s->in), buf_len(&s->in));
        if (n <= 0) {
            assert_true(n == 0);
            break;
        }
        if (fr.type == CHAN_ROUTE_ADD) {
            for (size_t k = 0; k < chan_route_count(&fr); k++) {
                struct chan_route g;
                assert_int_equal(chan_route_get(&g, &fr, k), 0);
                if (g.cport != s->next_port)
                    s->in_order = false;
                s->next_port++;
                s->routes++;
            }
        }
        buf_consume(&s->in, (size_t)n);
    }
}

static struct sink *the_sink;
static size_t sink_want;

static bool sink_done(struct ctx *x)
{
    (void)x;
    return the_sink->routes >= sink_want;
}

/* More output than the socket takes at once: LOOP_WRITE carries the rest. */
static void test_flush_continues_on_writable(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    enum { N = 100000 }; /* 4 MB of records: more than the kernel queues for one socket */
    fake_listen(&f);
    int small = 4096;
    /* Inherited by the accepted socket: a small window keeps data queued on our side. */
    assert_int_equal(setsockopt(f.lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_ANSWER, 1);
    char err[256];
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);

    for (int k = 0; k < N; k++) {
        struct chan_route r = route(0x0a000001, (uint16_t)k);
        chanc_route_add(x.c, &r);
    }
    assert_int_equal(chanc_stats(x.c)->routes_added, N);
    struct sink s = {.in_order = true};
    buf_init(&s.in, 1 << 20);
    fcntl(f.cfd[0], F_SETFL, O_NONBLOCK);
    assert_int_equal(loop_fd_add(x.loop, f.cfd[0], LOOP_READ, sink_cb, &s), 0);
    the_sink = &s;
    sink_want = N;
    assert_true(run_until(&x, sink_done, 10000));
    assert_int_equal(s.routes, N);
    assert_true(s.in_order);
    loop_fd_del(x.loop, f.cfd[0]);
    buf_free(&s.in);
    ctx_free(&x);
    fake_close(&f);
}

static bool always_false(struct ctx *x)
{
    (void)x;
    return false;
}

/* The intercept restarts: retries are refused, back off, and succeed once it is back. */
static void test_reconnect_after_restart(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 0);
    uint16_t port = f.port;
    fake_close(&f); /* listener and connection gone */
    assert_true(run_until(&x, is_down, 3000));

    /* Attempts at about 200 and 600 ms are refused; we stay down. */
    assert_false(run_until(&x, always_false, 700));
    assert_int_equal(chanc_up(x.c), 0);

    /* Back on the same port. */
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    memset(&f, 0, sizeof(f));
    f.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    f.port = port;
    setsockopt(f.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(f.lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        fail_msg("bind 127.0.0.1:%u: %s", port, strerror(errno));
    assert_int_equal(listen(f.lfd, 4), 0);
    struct lfake lf = {.f = &f};
    assert_int_equal(loop_fd_add(x.loop, f.lfd, LOOP_READ, lfake_accept_cb, &lf), 0);
    assert_true(run_until(&x, is_up, 4000));
    assert_int_equal(lf.accepted, 1);
    assert_int_equal(chanc_stats(x.c)->connects, 2);
    assert_int_equal(chanc_stats(x.c)->disconnects, 1);
    loop_fd_del(x.loop, f.lfd);
    ctx_free(&x);
    fake_close(&f);
}

static bool got_heartbeat(struct ctx *x)
{
    (void)x;
    return the_sink->routes > 0;
}

static void hb_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct sink *s = arg;
    uint8_t b[16];
    (void)l;
    (void)events;
    ssize_t n = read(fd, b, sizeof(b));
    if (n == 4 && b[0] == CHAN_HEARTBEAT && b[3] == 0)
        s->routes++; /* counts heartbeats here */
}

static void test_heartbeat_sent(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    connect_one(&f, &x, 0);
    struct sink s = {0};
    fcntl(f.cfd[0], F_SETFL, O_NONBLOCK);
    assert_int_equal(loop_fd_add(x.loop, f.cfd[0], LOOP_READ, hb_cb, &s), 0);
    the_sink = &s;
    uint64_t t0 = now_monotonic_us();
    /* Not before its period; the bound on its arrival is generous (valgrind runs this). */
    assert_true(run_until(&x, got_heartbeat, 15000));
    uint64_t ms = (now_monotonic_us() - t0) / 1000;
    assert_true(ms >= 4500);
    assert_int_equal(chanc_up(x.c), 1);
    loop_fd_del(x.loop, f.cfd[0]);
    ctx_free(&x);
    fake_close(&f);
}

/* ---- issue 5: authentication, liveness, re-registration ---- */

static const struct auth_secret *secret_of(struct auth_secret *s, const char *k)
{
    memset(s, 0, sizeof(*s));
    s->len = strlen(k);
    memcpy(s->key, k, s->len);
    return s;
}

static void test_auth_ok(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    struct auth_secret s;
    char err[384];
    x.secret = secret_of(&s, "same secret");
    fake_listen(&f);
    f.secret = &s;
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_AUTH, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    assert_true(f.hello_ok);
    assert_true(f.client_auth); /* tcpcopy announced CHAN_FEAT_AUTH */
    assert_true(f.auth_ok);     /* and its proof verified with the secret */
    assert_int_equal(f.bye_code, -1);
    assert_int_equal(chanc_up(x.c), 1);
    assert_int_equal(chanc_stats(x.c)->auth_failed, 0);
    /* Authenticated, the connection carries routes. */
    struct chan_route r = route(0x0a000001, 1234);
    chanc_route_add(x.c, &r);
    chanc_flush(x.c);
    uint8_t b[300];
    assert_int_equal(read_frame(f.cfd[0], b, sizeof(b), 2000), 44);
    assert_int_equal(b[0], CHAN_ROUTE_ADD);
    ctx_free(&x);
    fake_close(&f);
}

static void test_auth_wrong_secret(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    struct auth_secret mine, theirs;
    char err[384], want[384];
    x.secret = secret_of(&mine, "our secret");
    fake_listen(&f);
    f.secret = secret_of(&theirs, "their secret");
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_AUTH, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -EACCES);
    fake_join(&f);
    snprintf(want, sizeof(want),
             "intercept 127.0.0.1:%u: bad secret: intercept's proof does not match our "
             "--secret-file (the two secrets differ)",
             f.port);
    assert_string_equal(err, want);
    /* The intercept got our (wrong) proof, then a BYE code 3 saying why. */
    assert_false(f.auth_ok);
    assert_int_equal(f.bye_code, CHAN_BYE_AUTH);
    assert_int_equal(chanc_up(x.c), 0);
    assert_int_equal(chanc_stats(x.c)->auth_failed, 1);
    assert_int_equal(chanc_stats(x.c)->bad_frames, 0);
    ctx_free(&x);
    fake_close(&f);
}

/* A secret on one side only: a clear error naming --secret-file, either way. */
static void test_auth_one_sided(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    struct auth_secret s;
    char err[384];

    /* tcpcopy has a secret, the intercept announces no authentication. */
    x.secret = secret_of(&s, "k");
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_ANSWER, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -EACCES);
    fake_join(&f);
    assert_true(f.client_auth);
    assert_non_null(strstr(err, "intercept does not authenticate, but tcpcopy has --secret-file: "
                                "start intercept with the same --secret-file"));
    ctx_free(&x);
    fake_close(&f);

    /* The intercept wants a proof, tcpcopy has no secret. */
    memset(&x, 0, sizeof(x));
    fake_listen(&f);
    f.secret = NULL;
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_AUTH, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -EACCES);
    fake_join(&f);
    assert_false(f.client_auth);
    assert_non_null(strstr(err, "intercept requires authentication: start tcpcopy with "
                                "--secret-file"));
    assert_int_equal(f.bye_code, CHAN_BYE_AUTH);
    ctx_free(&x);
    fake_close(&f);
}

/* An intercept that stops talking (no heartbeat) is closed and reconnected. */
static void test_silent_intercept_reconnects(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {.hb_ms = 100, .dead_ms = 400};
    connect_one(&f, &x, 0);
    uint64_t t0 = now_monotonic_us();
    assert_true(run_until(&x, is_down, 3000));
    uint64_t ms = (now_monotonic_us() - t0) / 1000;
    assert_true(ms >= 390 && ms < 1500);
    assert_int_equal(chanc_stats(x.c)->silent, 1);
    assert_int_equal(chanc_stats(x.c)->disconnects, 1);
    assert_int_equal(chanc_stats(x.c)->bad_frames, 0);

    /* Bytes from the intercept keep it alive: it answers the reconnect and then
     * sends heartbeats, so it stays up well past dead_ms. */
    struct lfake lf = {.f = &f};
    assert_int_equal(loop_fd_add(x.loop, f.lfd, LOOP_READ, lfake_accept_cb, &lf), 0);
    assert_true(run_until(&x, is_up, 3000));
    assert_int_equal(chanc_stats(x.c)->connects, 2);
    int fd = f.cfd[f.n - 1];
    for (int i = 0; i < 8; i++) {
        assert_false(run_until(&x, always_false, 150));
        assert_int_equal(write(fd, "\x06\x00\x00\x00", 4), 4);
    }
    assert_int_equal(chanc_up(x.c), 1);
    assert_int_equal(chanc_stats(x.c)->silent, 1);
    loop_fd_del(x.loop, f.lfd);
    ctx_free(&x);
    fake_close(&f);
}

/* A restartable intercept driven by the test's loop: HELLO (and AUTH with a
 * secret), then it counts the ROUTE_ADD records it receives, per client port. */
#define RF_PORTS 4096
struct rconn {
    struct rfake *rf;
    int fd;
    struct buf in;
    bool hello, up;
    uint8_t cnonce[16], nonce[16];
    size_t routes;
};
struct rfake {
    int lfd;
    struct loop *loop;
    const struct auth_secret *secret;
    struct rconn c[MAXC];
    int n;
    uint8_t seen[RF_PORTS];
    size_t routes, dup, auth_bad, ups;
};

static void rconn_close(struct rconn *rc)
{
    if (rc->fd < 0)
        return;
    loop_fd_del(rc->rf->loop, rc->fd);
    close(rc->fd);
    rc->fd = -1;
    buf_free(&rc->in);
}

static void rconn_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct rconn *rc = arg;
    struct rfake *rf = rc->rf;
    (void)l;
    (void)events;
    ssize_t r = buf_read_fd(&rc->in, fd);
    if (r == -EAGAIN)
        return;
    if (r <= 0) {
        rconn_close(rc);
        return;
    }
    for (;;) {
        struct chan_frame fr;
        ssize_t n = chan_frame_next(&fr, buf_head(&rc->in), buf_len(&rc->in));
        assert_true(n >= 0);
        if (n == 0)
            break;
        if (!rc->hello) {
            struct hello h;
            assert_int_equal(hello_decode(&h, &fr), 0);
            memcpy(rc->cnonce, h.nonce, 16);
            rc->hello = true;
            if (rf->secret != NULL) {
                send_hello_auth(fd, rf->secret, rc->cnonce, rc->nonce);
            } else {
                send_hello(fd, CHAN_VERSION);
                rc->up = true;
                rf->ups++;
            }
        } else if (!rc->up) {
            uint8_t mac[CHAN_MAC_LEN];
            if (fr.type == CHAN_AUTH && hello_auth_decode(mac, &fr) == 0 &&
                auth_verify(mac, rf->secret, CHAN_ROLE_TCPCOPY, rc->cnonce, rc->nonce)) {
                rc->up = true;
                rf->ups++;
            } else {
                rf->auth_bad++;
                (void)!write(fd,
                             "\x07\x00\x00\x0c\x00\x03"
                             "bad secret",
                             16);
                rconn_close(rc);
                return;
            }
        } else if (fr.type == CHAN_ROUTE_ADD) {
            for (size_t k = 0; k < chan_route_count(&fr); k++) {
                struct chan_route g;
                assert_int_equal(chan_route_get(&g, &fr, k), 0);
                assert_true(g.cport < RF_PORTS);
                if (rf->seen[g.cport]++)
                    rf->dup++;
                rf->routes++;
                rc->routes++;
            }
        }
        buf_consume(&rc->in, (size_t)n);
    }
}

static void rfake_accept_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    struct rfake *rf = arg;
    (void)events;
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0)
        return;
    assert_true(rf->n < MAXC);
    struct rconn *rc = &rf->c[rf->n++];
    memset(rc, 0, sizeof(*rc));
    rc->rf = rf;
    rc->fd = c;
    buf_init(&rc->in, 1 << 20);
    assert_int_equal(loop_fd_add(l, c, LOOP_READ, rconn_cb, rc), 0);
}

/* Listen again on port (the intercept restarted), served from x's loop. */
static void rfake_start(struct rfake *rf, struct ctx *x, uint16_t port,
                        const struct auth_secret *secret)
{
    struct sockaddr_in sin = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int one = 1;
    memset(rf, 0, sizeof(*rf));
    rf->loop = x->loop;
    rf->secret = secret;
    rf->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(rf->lfd >= 0);
    setsockopt(rf->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(rf->lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
        fail_msg("bind 127.0.0.1:%u: %s", port, strerror(errno));
    assert_int_equal(listen(rf->lfd, 16), 0);
    assert_int_equal(loop_fd_add(x->loop, rf->lfd, LOOP_READ, rfake_accept_cb, rf), 0);
}

static void rfake_stop(struct rfake *rf)
{
    for (int i = 0; i < rf->n; i++)
        rconn_close(&rf->c[i]);
    loop_fd_del(rf->loop, rf->lfd);
    close(rf->lfd);
}

static struct rfake *the_rfake;
static size_t rfake_want;

static bool rfake_done(struct ctx *x)
{
    return the_rfake->routes >= rfake_want && chanc_up(x->c) == (size_t)the_rfake->n;
}

static bool all_down(struct ctx *x)
{
    return chanc_up(x->c) == 0;
}

/* The intercept restarts: every live route reaches the new one, each exactly
 * once, on the connection its hash picks (-C 2). */
static void test_reregister_after_restart(void **state)
{
    (void)state;
    enum { PER = 2, N = 300 };
    struct fake f;
    struct ctx x = {0};
    char err[256];
    struct chan_route live[N];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, PER, 0, 3000);
    fake_start(&f, FAKE_ANSWER, PER);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    assert_int_equal(x.up_calls, PER); /* asked at startup too (nothing live yet) */
    assert_int_equal(chanc_stats(x.c)->reregistered, 0);

    /* Sessions registered normally while up. */
    for (int k = 0; k < N; k++) {
        live[k] = route(0x0a000000 + (uint32_t)k * 13, (uint16_t)(1000 + k));
        chanc_route_add(x.c, &live[k]);
    }
    chanc_flush(x.c);
    x.live = live;
    x.nlive = N;

    uint16_t port = f.port;
    fake_close(&f);
    assert_true(run_until(&x, all_down, 3000));
    assert_int_equal(chanc_stats(x.c)->disconnects, PER);

    struct rfake rf;
    rfake_start(&rf, &x, port, NULL);
    the_rfake = &rf;
    rfake_want = N;
    assert_true(run_until(&x, rfake_done, 5000));
    /* Give a duplicate, if any, time to show up. */
    assert_false(run_until(&x, always_false, 200));
    assert_int_equal(rf.n, PER);
    assert_int_equal(rf.routes, N);
    assert_int_equal(rf.dup, 0);
    for (int k = 0; k < N; k++)
        assert_int_equal(rf.seen[1000 + k], 1);
    assert_true(rf.c[0].routes > 0 && rf.c[1].routes > 0); /* spread over both */
    /* Each connection was handed all N and kept its own share. */
    assert_int_equal(x.up_calls, 2 * PER);
    assert_int_equal(chanc_stats(x.c)->reregistered, N);
    assert_int_equal(chanc_stats(x.c)->out_dropped, 0);
    rfake_stop(&rf);
    ctx_free(&x);
}

/* Re-registration respects the output bound: what does not fit is counted. */
static void test_reregister_bounded(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    struct chan_route live[5];
    connect_one(&f, &x, 100); /* a frame of two routes fits (84 bytes), not three */
    for (int k = 0; k < 5; k++)
        live[k] = route(0x0a000001, (uint16_t)(3000 + k));
    x.live = live;
    x.nlive = 5;
    close(f.cfd[0]);
    f.cfd[0] = -1;
    assert_true(run_until(&x, is_down, 3000));
    struct rfake rf;
    uint16_t port = f.port;
    fake_close(&f);
    rfake_start(&rf, &x, port, NULL);
    the_rfake = &rf;
    rfake_want = 2;
    assert_true(run_until(&x, rfake_done, 3000));
    assert_int_equal(chanc_stats(x.c)->reregistered, 2);
    assert_int_equal(chanc_stats(x.c)->out_dropped, 3);
    assert_int_equal(rf.routes, 2);
    rfake_stop(&rf);
    ctx_free(&x);
}

static bool two_auth_failures(struct ctx *x)
{
    return chanc_stats(x->c)->auth_failed >= 2;
}

/* At runtime a wrong secret is logged and retried with backoff; once the
 * intercept has the right one again, the connection comes back. */
static void test_runtime_wrong_secret_retries(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    struct auth_secret good, bad;
    char err[384];
    x.secret = secret_of(&good, "good");
    secret_of(&bad, "bad");
    fake_listen(&f);
    f.secret = &good;
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_AUTH, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    assert_true(f.auth_ok);

    uint16_t port = f.port;
    fake_close(&f);
    assert_true(run_until(&x, is_down, 3000));
    struct rfake rf;
    rfake_start(&rf, &x, port, &bad);
    uint64_t t0 = now_monotonic_us();
    assert_true(run_until(&x, two_auth_failures, 4000));
    uint64_t ms = (now_monotonic_us() - t0) / 1000;
    assert_true(ms >= 500); /* 200 ms, then 400 ms: backoff, not a busy loop */
    assert_int_equal(chanc_up(x.c), 0);
    assert_false(run_until(&x, always_false, 100)); /* let the fake read our last AUTH */
    assert_true(rf.auth_bad >= 2);                  /* the intercept saw our proofs fail too */
    assert_int_equal(chanc_stats(x.c)->bad_frames, 0);

    rf.secret = &good;
    assert_true(run_until(&x, is_up, 6000));
    assert_false(run_until(&x, always_false, 100)); /* the fake checks our AUTH */
    assert_int_equal(rf.ups, 1);
    assert_int_equal(chanc_up(x.c), 1);
    rfake_stop(&rf);
    ctx_free(&x);
}

static void test_new_invalid(void **state)
{
    (void)state;
    struct server_list sl = {.n = 0};
    struct chanc_conf conf = {.servers = &sl, .conns_per_server = 1};
    struct loop *l = loop_new();
    assert_null(chanc_new(l, &conf, NULL, NULL));
    sl.n = 1;
    conf.conns_per_server = 12;
    assert_null(chanc_new(l, &conf, NULL, NULL));
    assert_int_equal(errno, EINVAL);
    chanc_free(NULL);
    loop_free(l);
}

/* ---- startup runs the event loop (issue 19) ---- */

static int hook_calls;
static void stopping_hook(struct loop *l, void *arg)
{
    (void)arg;
    hook_calls++;
    loop_stop(l);
}

/* The caller's before-sleep hook (here one that stops the loop at once) is
 * set aside while the connections come up, and is in place again after. */
static void test_startup_sets_hook_aside(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 2, 0, 3000);
    loop_set_before_sleep(x.loop, stopping_hook, &x);
    hook_calls = 0;
    fake_start(&f, FAKE_ANSWER, 2);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    assert_int_equal(chanc_up(x.c), 2);
    assert_int_equal(hook_calls, 0);
    loop_hook_cb *cb;
    void *arg;
    loop_get_before_sleep(x.loop, &cb, &arg);
    assert_ptr_equal(cb, stopping_hook);
    assert_ptr_equal(arg, &x);
    ctx_free(&x);
    fake_close(&f);
}

/* Connections come up together, not one after the other: a silent first
 * intercept is reported after one timeout, named, while the second came up. */
static void test_startup_parallel_first_failure_named(void **state)
{
    (void)state;
    struct fake a, b;
    struct ctx x = {0};
    char err[256], want[128];
    fake_listen(&a);
    fake_listen(&b);
    add_server(&x, a.port);
    add_server(&x, b.port);
    ctx_new(&x, 1, 0, 3000); /* ample for the second's thread to answer, even under valgrind */
    fake_start(&a, FAKE_SILENT, 1);
    fake_start(&b, FAKE_ANSWER, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -ETIMEDOUT);
    fake_join(&a);
    fake_join(&b);
    snprintf(want, sizeof(want), "intercept 127.0.0.1:%u: no HELLO within 3000 ms", a.port);
    assert_string_equal(err, want);
    /* The second's HELLO was answered during the first's wait: it is up. */
    assert_int_equal(chanc_up(x.c), 1);
    assert_int_equal(chanc_stats(x.c)->connects, 1);
    ctx_free(&x);
    fake_close(&a);
    fake_close(&b);
}

/* A connection that failed at startup is retried in the background, should
 * the caller keep running (-L). */
static void test_startup_failure_retried(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256];
    fake_listen(&f);
    uint16_t port = f.port;
    fake_close(&f);
    add_server(&x, port);
    ctx_new(&x, 1, 0, 1000);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), -ECONNREFUSED);
    assert_int_equal(chanc_up(x.c), 0);
    struct rfake rf;
    rfake_start(&rf, &x, port, NULL);
    assert_true(run_until(&x, is_up, 4000));
    assert_int_equal(rf.ups, 1);
    assert_int_equal(chanc_stats(x.c)->connects, 1);
    rfake_stop(&rf);
    ctx_free(&x);
}

/* Our proof leaves as soon as the intercept's HELLO is in, not behind its
 * proof: an intercept that waits for ours first still gets it. */
static void test_auth_ours_first(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    struct auth_secret s;
    char err[384];
    x.secret = secret_of(&s, "same secret");
    fake_listen(&f);
    f.secret = &s;
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 3000);
    fake_start(&f, FAKE_AUTH_LATE, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    assert_true(f.auth_ok);
    assert_int_equal(chanc_up(x.c), 1);
    assert_int_equal(chanc_stats(x.c)->auth_failed, 0);
    ctx_free(&x);
    fake_close(&f);
}

/* The routes callback is asked once per connection that comes up, at startup
 * too; with nothing live nothing is sent or counted. */
static void test_routes_asked_per_connection(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 3, 0, 3000);
    fake_start(&f, FAKE_ANSWER, 3);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    assert_int_equal(x.up_calls, 3);
    assert_int_equal(chanc_stats(x.c)->reregistered, 0);
    assert_int_equal(chanc_stats(x.c)->routes_added, 0);
    assert_int_equal(chanc_stats(x.c)->out_dropped, 0);
    ctx_free(&x);
    fake_close(&f);
}

/* A refused attempt is retried after the backoff (200 ms, 400 ms, ...), not
 * after the attempt's connect deadline (here 20 s). */
static void test_retry_after_backoff_not_deadline(void **state)
{
    (void)state;
    struct fake f;
    struct ctx x = {0};
    char err[256];
    fake_listen(&f);
    add_server(&x, f.port);
    ctx_new(&x, 1, 0, 20000);
    fake_start(&f, FAKE_ANSWER, 1);
    assert_int_equal(chanc_connect_all(x.c, err, sizeof(err)), 0);
    fake_join(&f);
    uint16_t port = f.port;
    fake_close(&f);
    assert_true(run_until(&x, is_down, 3000));
    /* Attempts at about 200 and 600 ms are refused. */
    assert_false(run_until(&x, always_false, 700));
    struct rfake rf;
    rfake_start(&rf, &x, port, NULL);
    /* Up at the next attempt (about 1.4 s after the close), long before 20 s. */
    assert_true(run_until(&x, is_up, 10000));
    assert_int_equal(rf.ups, 1);
    rfake_stop(&rf);
    ctx_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_connect_ok),
        cmocka_unit_test(test_payload_asked),
        cmocka_unit_test(test_tls_refused_in_clear),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_connect_no_hello),
        cmocka_unit_test(test_connect_wrong_version),
        cmocka_unit_test(test_connect_bye),
        cmocka_unit_test(test_connect_second_server_fails),
        cmocka_unit_test(test_routes_to_every_server),
        cmocka_unit_test(test_route_add_del_same_conn),
        cmocka_unit_test(test_replies_reach_on_reply),
        cmocka_unit_test(test_stamp_refreshes_loop_time),
        cmocka_unit_test(test_garbage_closes_and_reconnects),
        cmocka_unit_test(test_bad_reply_record_closes),
        cmocka_unit_test(test_bye_closes),
        cmocka_unit_test(test_peer_eof_closes),
        cmocka_unit_test(test_out_bounded),
        cmocka_unit_test(test_flush_continues_on_writable),
        cmocka_unit_test(test_reconnect_after_restart),
        cmocka_unit_test(test_heartbeat_sent),
        cmocka_unit_test(test_new_invalid),
        cmocka_unit_test(test_auth_ok),
        cmocka_unit_test(test_auth_wrong_secret),
        cmocka_unit_test(test_auth_one_sided),
        cmocka_unit_test(test_silent_intercept_reconnects),
        cmocka_unit_test(test_reregister_after_restart),
        cmocka_unit_test(test_reregister_bounded),
        cmocka_unit_test(test_runtime_wrong_secret_retries),
        cmocka_unit_test(test_startup_sets_hook_aside),
        cmocka_unit_test(test_startup_parallel_first_failure_named),
        cmocka_unit_test(test_startup_failure_retried),
        cmocka_unit_test(test_auth_ours_first),
        cmocka_unit_test(test_routes_asked_per_connection),
        cmocka_unit_test(test_retry_after_backoff_not_deadline),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
