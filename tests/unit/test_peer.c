/*
 * test_peer: intercept's side of a tcpcopy connection (src/intercept/peer.c),
 * without root: a struct icpt assembled by hand (event loop, route table,
 * allowlist, secret, no captures), a listener on 127.0.0.1 whose connections
 * peer.c accepts, and a blocking client socket playing tcpcopy.
 *
 * Checked: the allowlist (a refused address reads a BYE code 5 naming the
 * --allow that would admit it), the HELLO judgement (good, wrong version, wrong
 * role, a frame before the HELLO, malformed bytes), the AUTH exchange (good
 * proof, wrong secret, a secret on one side only, a frame instead of the
 * proof), routes registered and removed, a BYE, a REPLY sent the wrong way, and
 * the bounded output (replies past ICPT_OUT_MAX are counted, not queued).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "chan.h"
#include "hello.h"
#include "intercept/icpt_impl.h"
#include "log.h"

struct tp {
    struct icpt ic;
    struct icpt_opts opts;
    int lfd;
    uint16_t port;
    int cfd; /* the test's client: tcpcopy */
    struct loop_timer stop;
};

static void tp_flush(struct loop *l, void *arg)
{
    struct icpt *ic = arg;
    struct peer *pe;
    (void)l;
    /* As icpt.c's before-sleep hook: one write per peer per turn. */
    while ((pe = TAILQ_FIRST(&ic->flush)) != NULL) {
        TAILQ_REMOVE(&ic->flush, pe, flush_link);
        pe->in_flush = false;
        peer_flush(pe);
    }
}

static void tp_stop_cb(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
}

/* Turn the loop for ms: accept, read, answer, flush. What is ready is handled
 * in the first turn however late it starts (fds before timers), and the output
 * is flushed at the end, so a slow machine changes nothing. */
static void tp_run(struct tp *t, int ms)
{
    struct loop *l = t->ic.loop;
    loop_timer_set(l, &t->stop, loop_update_time(l) + (uint64_t)ms * 1000, tp_stop_cb, t);
    assert_int_equal(loop_run(l), 0);
    tp_flush(l, &t->ic);
}

static void tp_new(struct tp *t, const char *allow, const char *secret)
{
    memset(t, 0, sizeof(*t));
    struct icpt *ic = &t->ic;
    icpt_opts_init(&t->opts);
    ic->o = &t->opts;
    LIST_INIT(&ic->peers);
    TAILQ_INIT(&ic->flush);
    ic->loop = loop_new();
    ic->routes = route_table_new(1024, 7);
    ic->hold = route_hold_new(64, ICPT_HOLD_AGE_US);
    assert_non_null(ic->loop);
    assert_non_null(ic->routes);
    assert_non_null(ic->hold);
    ic->allow = calloc(1, sizeof(*ic->allow));
    assert_non_null(ic->allow);
    assert_true(icpt_cidr_parse(&ic->allow[0], allow));
    ic->nallow = 1;
    if (secret != NULL) {
        ic->secret.len = strlen(secret);
        memcpy(ic->secret.key, secret, ic->secret.len);
    }
    loop_update_time(ic->loop);
    loop_set_before_sleep(ic->loop, tp_flush, ic);

    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(t->lfd >= 0);
    assert_int_equal(bind(t->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(t->lfd, 8), 0);
    assert_int_equal(getsockname(t->lfd, (struct sockaddr *)&sin, &sl), 0);
    t->port = ntohs(sin.sin_port);
    assert_int_equal(loop_fd_add(ic->loop, t->lfd, LOOP_READ, icpt_accept_cb, ic), 0);

    t->cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(t->cfd >= 0);
    /* As tcpcopy does: without it, a small frame written behind another waits
     * for the delayed ACK of the first (Nagle), longer than a test's turn. */
    int one = 1;
    assert_int_equal(setsockopt(t->cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
    assert_int_equal(connect(t->cfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    tp_run(t, 20); /* accepted (or refused) */
}

static void tp_free(struct tp *t)
{
    struct icpt *ic = &t->ic;
    struct peer *pe;
    while ((pe = LIST_FIRST(&ic->peers)) != NULL)
        peer_free(pe);
    if (t->cfd >= 0)
        close(t->cfd);
    loop_timer_cancel(ic->loop, &t->stop);
    loop_fd_del(ic->loop, t->lfd);
    close(t->lfd);
    route_table_free(ic->routes);
    route_hold_free(ic->hold);
    free(ic->allow);
    loop_free(ic->loop);
}

/* Send what o holds on the client socket. */
static void client_send(struct tp *t, struct chan_out *o)
{
    chan_out_seal(o);
    assert_int_equal(write(t->cfd, buf_head(&o->buf), buf_len(&o->buf)), (ssize_t)buf_len(&o->buf));
    chan_out_free(o);
}

/* Read one whole frame on the client, into b (body at b + 4). Its length, 0 at
 * EOF, -1 if nothing came. */
static ssize_t client_frame(struct tp *t, uint8_t *b, size_t cap, struct chan_frame *f)
{
    size_t have = 0;
    for (;;) {
        ssize_t n = chan_frame_next(f, b, have);
        if (n != 0)
            return n;
        struct pollfd pfd = {.fd = t->cfd, .events = POLLIN};
        if (poll(&pfd, 1, 2000) <= 0 || have == cap)
            return -1;
        ssize_t r = read(t->cfd, b + have, 1); /* byte by byte: never past the frame */
        if (r <= 0)
            return r == 0 && have == 0 ? 0 : -1;
        have += (size_t)r;
    }
}

static void client_hello(struct tp *t, uint16_t version, uint8_t role, uint32_t feat,
                         uint8_t nonce[CHAN_NONCE_LEN])
{
    struct chan_out o;
    struct hello h;
    chan_out_init(&o, 1024);
    assert_int_equal(hello_make(&h, role, feat, 0), 0);
    h.version = version;
    if (nonce != NULL)
        memcpy(nonce, h.nonce, CHAN_NONCE_LEN);
    assert_int_equal(hello_put(&o, &h), 0);
    client_send(t, &o);
}

/* The client expects a BYE with this code, then EOF. */
static void expect_bye(struct tp *t, uint16_t code)
{
    uint8_t b[2048];
    struct chan_frame f;
    struct hello_bye bye;
    for (;;) {
        ssize_t n = client_frame(t, b, sizeof(b), &f);
        assert_true(n > 0);
        if (f.type == CHAN_BYE)
            break; /* what came before (our HELLO, AUTH) is not the point */
    }
    assert_int_equal(hello_bye_decode(&bye, &f), 0);
    assert_int_equal(bye.code, code);
    assert_int_equal(client_frame(t, b, sizeof(b), &f), 0);
}

/* The client expects a plain close. */
static void expect_eof(struct tp *t)
{
    uint8_t b[2048];
    struct chan_frame f;
    assert_int_equal(client_frame(t, b, sizeof(b), &f), 0);
}

static void test_allowlist_refuses(void **state)
{
    (void)state;
    struct tp t;
    tp_new(&t, "198.51.100.0/24", NULL);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.st.peers_refused, 1);
    uint8_t b[2048];
    struct chan_frame f;
    struct hello_bye bye;
    assert_true(client_frame(&t, b, sizeof(b), &f) > 0);
    assert_int_equal(hello_bye_decode(&bye, &f), 0);
    assert_int_equal(bye.code, CHAN_BYE_REFUSED);
    assert_non_null(strstr(bye.text, "--allow 127.0.0.0/24"));
    assert_int_equal(client_frame(&t, b, sizeof(b), &f), 0);
    tp_free(&t);
}

/* A good HELLO: answered, the peer is up; routes come and go; a BYE ends it. */
static void test_hello_routes_bye(void **state)
{
    (void)state;
    struct tp t;
    uint8_t b[2048];
    struct chan_frame f;
    struct hello h;
    tp_new(&t, "127.0.0.0/8", NULL);
    assert_int_equal(t.ic.npeers, 1);
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT | CHAN_FEAT_INSTANCE,
                 NULL);
    tp_run(&t, 20);
    assert_true(client_frame(&t, b, sizeof(b), &f) > 0);
    assert_int_equal(hello_decode(&h, &f), 0);
    assert_int_equal(h.role, CHAN_ROLE_INTERCEPT);
    assert_int_equal(h.features & CHAN_FEAT_AUTH, 0);
    assert_int_equal(t.ic.nup, 1);
    assert_ptr_equal(t.ic.single, LIST_FIRST(&t.ic.peers));

    struct chan_out o;
    struct chan_route r;
    uint32_t c = htonl(0x0a000001), tg = htonl(0xc000020a);
    memset(&r, 0, sizeof(r));
    addr_set_v4(&r.client, &c);
    addr_set_v4(&r.target, &tg);
    r.cport = 40000;
    r.tport = 80;
    chan_out_init(&o, 1024);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    client_send(&t, &o);
    tp_run(&t, 20);
    assert_int_equal(route_count(t.ic.routes), 1);
    chan_out_init(&o, 1024);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_DEL, &r), 0);
    client_send(&t, &o);
    tp_run(&t, 20);
    assert_int_equal(route_count(t.ic.routes), 0);

    chan_out_init(&o, 1024);
    assert_int_equal(hello_bye_put(&o, CHAN_BYE_NORMAL, "tcpcopy exiting\n"), 0);
    client_send(&t, &o);
    tp_run(&t, 20);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.nup, 0);
    assert_null(t.ic.single);
    assert_int_equal(t.ic.st.peers_closed, 1);
    assert_int_equal(t.ic.st.peers_bad, 0); /* a goodbye is not an error */
    tp_free(&t);
}

/* HELLOs intercept refuses, and what the peer reads. */
static void test_hello_refused(void **state)
{
    (void)state;
    struct tp t;
    struct chan_out o;

    tp_new(&t, "127.0.0.0/8", NULL);
    client_hello(&t, 2, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT, NULL);
    tp_run(&t, 20);
    expect_bye(&t, CHAN_BYE_VERSION);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.st.peers_bad, 1);
    tp_free(&t);

    tp_new(&t, "127.0.0.0/8", NULL);
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_INTERCEPT, CHAN_FEAT_HEARTBEAT, NULL);
    tp_run(&t, 20);
    expect_eof(&t);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.st.peers_bad, 1);
    tp_free(&t);

    /* A heartbeat before the HELLO. */
    tp_new(&t, "127.0.0.0/8", NULL);
    chan_out_init(&o, 64);
    assert_int_equal(chan_put_frame(&o, CHAN_HEARTBEAT, NULL, 0), 0);
    client_send(&t, &o);
    tp_run(&t, 20);
    expect_eof(&t);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.st.peers_bad, 1);
    tp_free(&t);

    /* A HELLO without the magic. */
    tp_new(&t, "127.0.0.0/8", NULL);
    uint8_t bad[4 + CHAN_HELLO_LEN] = {CHAN_HELLO, 0, 0, CHAN_HELLO_LEN, 'N', 'O', 'P', 'E'};
    assert_int_equal(write(t.cfd, bad, sizeof(bad)), (ssize_t)sizeof(bad));
    tp_run(&t, 20);
    expect_eof(&t);
    assert_int_equal(t.ic.npeers, 0);
    tp_free(&t);
}

/* Bytes that are no frame, and frames that go the wrong way, once up. */
static void test_bad_frames_close(void **state)
{
    (void)state;
    struct tp t;
    uint8_t b[2048];
    struct chan_frame f;

    tp_new(&t, "127.0.0.0/8", NULL);
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT, NULL);
    tp_run(&t, 20);
    assert_true(client_frame(&t, b, sizeof(b), &f) > 0);
    assert_int_equal(write(t.cfd, "\x55\x00\x00\x00", 4), 4);
    tp_run(&t, 20);
    expect_eof(&t);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.st.bad_frames, 1);
    tp_free(&t);

    tp_new(&t, "127.0.0.0/8", NULL);
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT, NULL);
    tp_run(&t, 20);
    assert_true(client_frame(&t, b, sizeof(b), &f) > 0);
    struct chan_out o;
    uint8_t hdr[40] = {0x45};
    chan_out_init(&o, 1024);
    assert_int_equal(chan_put_reply(&o, hdr, sizeof(hdr)), 0);
    client_send(&t, &o);
    tp_run(&t, 20);
    expect_eof(&t);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.st.peers_bad, 1);
    tp_free(&t);
}

/* The client's side of AUTH: read intercept's HELLO and proof, check it, and
 * answer with a proof under `secret`. */
static void client_auth(struct tp *t, const uint8_t cn[CHAN_NONCE_LEN], const char *secret)
{
    uint8_t b[2048];
    struct chan_frame f;
    struct hello h;
    struct auth_secret s = {.len = strlen(secret)};
    memcpy(s.key, secret, s.len);
    assert_true(client_frame(t, b, sizeof(b), &f) > 0);
    assert_int_equal(hello_decode(&h, &f), 0);
    assert_true(h.features & CHAN_FEAT_AUTH);
    uint8_t hn[CHAN_NONCE_LEN];
    memcpy(hn, h.nonce, sizeof(hn));
    assert_true(client_frame(t, b, sizeof(b), &f) > 0);
    if (strcmp(secret, "s3cret") == 0)
        assert_int_equal(hello_auth_judge(&f, &s, CHAN_ROLE_INTERCEPT, hn, cn), HELLO_OK);
    struct chan_out o;
    chan_out_init(&o, 1024);
    assert_int_equal(hello_auth_send(&o, &s, CHAN_ROLE_TCPCOPY, cn, hn), 0);
    client_send(t, &o);
}

static void test_auth(void **state)
{
    (void)state;
    struct tp t;
    uint8_t cn[CHAN_NONCE_LEN];
    const uint32_t HA = CHAN_FEAT_HEARTBEAT | CHAN_FEAT_AUTH;

    tp_new(&t, "127.0.0.0/8", "s3cret");
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, HA, cn);
    tp_run(&t, 20);
    client_auth(&t, cn, "s3cret");
    tp_run(&t, 20);
    assert_int_equal(t.ic.nup, 1);
    assert_int_equal(t.ic.st.auth_refused, 0);
    tp_free(&t);

    tp_new(&t, "127.0.0.0/8", "s3cret");
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, HA, cn);
    tp_run(&t, 20);
    client_auth(&t, cn, "wrong");
    tp_run(&t, 20);
    expect_bye(&t, CHAN_BYE_AUTH);
    assert_int_equal(t.ic.nup, 0);
    assert_int_equal(t.ic.npeers, 0);
    assert_int_equal(t.ic.st.auth_refused, 1);
    tp_free(&t);

    /* A secret on one side only, either side. */
    tp_new(&t, "127.0.0.0/8", "s3cret");
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT, NULL);
    tp_run(&t, 20);
    expect_bye(&t, CHAN_BYE_AUTH);
    assert_int_equal(t.ic.st.auth_refused, 1);
    tp_free(&t);
    tp_new(&t, "127.0.0.0/8", NULL);
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, HA, NULL);
    tp_run(&t, 20);
    expect_bye(&t, CHAN_BYE_AUTH);
    assert_int_equal(t.ic.st.auth_refused, 1);
    tp_free(&t);

    /* Routes instead of the proof. */
    tp_new(&t, "127.0.0.0/8", "s3cret");
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, HA, cn);
    tp_run(&t, 20);
    struct chan_out o;
    chan_out_init(&o, 64);
    assert_int_equal(chan_put_frame(&o, CHAN_HEARTBEAT, NULL, 0), 0);
    client_send(&t, &o);
    tp_run(&t, 20);
    expect_bye(&t, CHAN_BYE_AUTH);
    assert_int_equal(t.ic.nup, 0);
    assert_int_equal(t.ic.st.auth_refused, 1);
    tp_free(&t);
}

/* A tcpcopy that does not read costs at most ICPT_OUT_MAX: the rest is counted. */
static void test_output_bounded(void **state)
{
    (void)state;
    struct tp t;
    uint8_t b[2048], hdr[CHAN_REPLY_HDR_MAX];
    struct chan_frame f;
    tp_new(&t, "127.0.0.0/8", NULL);
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT, NULL);
    tp_run(&t, 20);
    assert_true(client_frame(&t, b, sizeof(b), &f) > 0);
    struct peer *pe = LIST_FIRST(&t.ic.peers);
    assert_non_null(pe);
    memset(hdr, 0x45, sizeof(hdr));
    size_t n = ICPT_OUT_MAX / sizeof(hdr) + 1000;
    for (size_t i = 0; i < n; i++)
        peer_forward(pe, hdr, sizeof(hdr), 0);
    assert_true(pe->dropped > 0);
    assert_int_equal(pe->forwarded + pe->dropped, n);
    assert_int_equal(t.ic.st.dropped, pe->dropped);
    assert_true(buf_len(&pe->out.buf) <= ICPT_OUT_MAX);
    tp_free(&t);
}

static int setup(void **state)
{
    (void)state;
    log_init("test_peer", NULL, false);
    return 0;
}

/* Reply payload (doc/protocol.md 6.1): offered with --payload to a peer on this host,
 * a flagged route keeps its flag, and a reply of it goes out whole; never offered in
 * clear to another host; --tls-required refuses a plain peer with a BYE code 3. */
static void test_payload_and_tls_rules(void **state)
{
    (void)state;
    struct tp t;
    uint8_t b[4096];
    struct chan_frame f;
    struct hello h;
    tp_new(&t, "127.0.0.0/8", NULL);
    t.opts.payload = true;
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT | CHAN_FEAT_PAYLOAD,
                 NULL);
    tp_run(&t, 20);
    assert_true(client_frame(&t, b, sizeof(b), &f) > 0);
    assert_int_equal(hello_decode(&h, &f), 0);
    assert_true(h.features & CHAN_FEAT_PAYLOAD);
    struct peer *pe = LIST_FIRST(&t.ic.peers);
    assert_true(pe->payload);
    assert_true(pe->loopback);
    assert_null(pe->tls);

    struct chan_out o;
    struct chan_route r;
    uint32_t c = htonl(0x0a000001), tg = htonl(0xc000020a);
    memset(&r, 0, sizeof(r));
    addr_set_v4(&r.client, &c);
    addr_set_v4(&r.target, &tg);
    r.cport = 40000;
    r.tport = 80;
    r.flags = CHAN_ROUTE_F_PAYLOAD;
    chan_out_init(&o, 1024);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    client_send(&t, &o);
    tp_run(&t, 20);
    struct route_key k;
    uint8_t fl = 0;
    route_key_set(&k, &r.client, r.cport, &r.target, r.tport);
    assert_ptr_equal(route_lookup_flags(t.ic.routes, &k, &fl), &pe->routes);
    assert_int_equal(fl, CHAN_ROUTE_F_PAYLOAD);

    /* A 2000-byte answer of that session goes out whole, in one record. */
    struct pkt_spec sp = {0};
    static uint8_t data[2000], seg[2100];
    memset(data, 'x', sizeof(data));
    sp.t.src = r.target;
    sp.t.dst = r.client;
    sp.t.sport = 80;
    sp.t.dport = 40000;
    sp.flags = TCPF_ACK;
    sp.data = data;
    sp.data_len = sizeof(data);
    size_t n = pkt_build(seg, sizeof(seg), &sp);
    struct pkt p;
    assert_int_equal(pkt_parse_ip(&p, seg, n, 0), PKT_OK);
    peer_forward_payload(pe, &p, seg, (size_t)p.ip_hlen + p.tcp_hlen, 0);
    tp_flush(t.ic.loop, &t.ic);
    assert_true(client_frame(&t, b, sizeof(b), &f) > 0);
    assert_int_equal(f.type, CHAN_REPLY);
    assert_int_equal(f.len, 2 + n);
    assert_memory_equal(f.body + 2, seg, n);
    assert_int_equal(t.ic.st.pay.records, 1);
    assert_int_equal(t.ic.st.pay.bytes, sizeof(data));

    /* The rule itself: in clear only to this host; without --payload never. */
    pe->loopback = false;
    assert_int_equal(peer_payload_offer(pe), 0);
    pe->tls = (struct tls *)1; /* only tested for NULL */
    assert_int_equal(peer_payload_offer(pe), CHAN_FEAT_PAYLOAD);
    t.opts.payload = false;
    assert_int_equal(peer_payload_offer(pe), 0);
    pe->tls = NULL;
    tp_free(&t);

    /* --tls-required: a plain HELLO reads a BYE code 3 naming --tls. */
    tp_new(&t, "127.0.0.0/8", "s3cret");
    t.opts.tls_required = true;
    client_hello(&t, CHAN_VERSION, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT | CHAN_FEAT_AUTH, NULL);
    tp_run(&t, 20);
    expect_bye(&t, CHAN_BYE_AUTH);
    assert_int_equal(t.ic.st.plain_refused, 1);
    assert_int_equal(t.ic.npeers, 0);
    tp_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowlist_refuses),
        cmocka_unit_test(test_hello_routes_bye),
        cmocka_unit_test(test_hello_refused),
        cmocka_unit_test(test_bad_frames_close),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_output_bounded),
        cmocka_unit_test(test_payload_and_tls_rules),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
