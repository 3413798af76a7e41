/*
 * test_peer_tls: how intercept tells a new peer's protocol and runs its TLS
 * (src/intercept/peer_tls.c), over socketpairs: a plain first byte ('T'... of a HELLO
 * starts nothing and consumes nothing; --tls-required refuses it (-EACCES); a TLS
 * ClientHello without a key here is refused (-EPROTONOSUPPORT); with the PSK of the
 * secret the handshake completes against tls.c's client side and is counted, with
 * another secret it fails and is counted; payload is offered over TLS or loopback only,
 * and only with --payload.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "intercept/icpt_impl.h"

struct tp {
    struct icpt ic;
    struct icpt_opts o;
    struct peer pe;
    int sv[2]; /* 0: intercept's end, 1: tcpcopy's */
};

static void nop_cb(struct loop *l, int fd, unsigned events, void *arg)
{
    (void)l;
    (void)fd;
    (void)events;
    (void)arg;
}

static void tp_new(struct tp *t)
{
    memset(t, 0, sizeof(*t));
    icpt_opts_init(&t->o);
    t->ic.o = &t->o;
    t->ic.loop = loop_new();
    assert_non_null(t->ic.loop);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, t->sv), 0);
    t->pe.ic = &t->ic;
    t->pe.fd = t->sv[0];
    assert_int_equal(loop_fd_add(t->ic.loop, t->sv[0], LOOP_READ, nop_cb, NULL), 0);
}

static void tp_free(struct tp *t)
{
    tls_free(t->pe.tls);
    loop_fd_del(t->ic.loop, t->sv[0]);
    close(t->sv[0]);
    if (t->sv[1] >= 0)
        close(t->sv[1]);
    tls_ctx_free(t->ic.tls);
    loop_free(t->ic.loop);
}

static void secret(struct auth_secret *s, const char *v)
{
    memset(s, 0, sizeof(*s));
    s->len = strlen(v);
    memcpy(s->key, v, s->len);
}

static void test_plain(void **state)
{
    (void)state;
    struct tp t;
    char err[256];
    tp_new(&t);
    assert_int_equal(peer_tls_sniff(&t.pe, err, sizeof(err)), 0); /* nothing yet */
    assert_false(t.pe.sniffed);
    assert_int_equal(write(t.sv[1], "\x01\x00\x00\x1cTCPC", 8), 8);
    assert_int_equal(peer_tls_sniff(&t.pe, err, sizeof(err)), PEER_SNIFF_PLAIN);
    assert_true(t.pe.sniffed);
    assert_null(t.pe.tls);
    uint8_t b[8];
    assert_int_equal(read(t.sv[0], b, sizeof(b)), 8); /* only peeked: all still there */
    assert_int_equal(b[0], CHAN_HELLO);
    tp_free(&t);

    tp_new(&t);
    t.o.tls_required = true;
    assert_int_equal(write(t.sv[1], "\x01", 1), 1);
    assert_int_equal(peer_tls_sniff(&t.pe, err, sizeof(err)), -EACCES);
    assert_non_null(strstr(err, "--tls"));
    tp_free(&t);

    tp_new(&t);
    assert_int_equal(write(t.sv[1], "\x16\x03\x01", 3), 3);
    assert_int_equal(peer_tls_sniff(&t.pe, err, sizeof(err)), -EPROTONOSUPPORT);
    assert_non_null(strstr(err, "--secret-file"));
    tp_free(&t);

    tp_new(&t);
    close(t.sv[1]);
    t.sv[1] = -1;
    assert_int_equal(peer_tls_sniff(&t.pe, err, sizeof(err)), -ECONNRESET);
    tp_free(&t);
}

/* tcpcopy's side (tls.c, client) against peer_tls.c; the handshake's outcome. */
static int handshake(const char *ours, const char *theirs, struct tp *t)
{
    char err[256];
    struct auth_secret s1, s2;
    secret(&s1, ours);
    secret(&s2, theirs);
    struct tls_conf sc = {.secret = &s1}, cc = {.secret = &s2};
    tp_new(t);
    t->ic.tls = tls_ctx_new(&sc, true, err, sizeof(err));
    struct tls_ctx *cx = tls_ctx_new(&cc, false, err, sizeof(err));
    assert_non_null(t->ic.tls);
    assert_non_null(cx);
    struct tls *c = tls_new(cx, t->sv[1], err, sizeof(err));
    assert_non_null(c);
    bool ww;
    int rc = 0, cr = 0;
    assert_int_equal(tls_handshake(c, &ww, err, sizeof(err)), 0); /* ClientHello out */
    assert_int_equal(peer_tls_sniff(&t->pe, err, sizeof(err)), PEER_SNIFF_TLS);
    assert_true(t->pe.tls_hs);
    for (int i = 0; i < 50 && rc == 0; i++) {
        rc = peer_tls_step(&t->pe, err, sizeof(err));
        if (cr == 0)
            cr = tls_handshake(c, &ww, err, sizeof(err));
    }
    tls_free(c);
    tls_ctx_free(cx);
    return rc;
}

static void test_tls(void **state)
{
    (void)state;
    struct tp t;
    assert_int_equal(handshake("same secret", "same secret", &t), 1);
    assert_false(t.pe.tls_hs);
    assert_int_equal(t.ic.st.tls_peers, 1);
    assert_int_equal(t.ic.st.tls_failed, 0);
    tp_free(&t);
    assert_true(handshake("one secret", "another", &t) < 0);
    assert_int_equal(t.ic.st.tls_peers, 0);
    assert_int_equal(t.ic.st.tls_failed, 1);
    tp_free(&t);
}

static void test_payload_offer(void **state)
{
    (void)state;
    struct tp t;
    tp_new(&t);
    assert_int_equal(peer_payload_offer(&t.pe), 0); /* no --payload */
    t.o.payload = true;
    assert_int_equal(peer_payload_offer(&t.pe), 0); /* plain, another host */
    t.pe.loopback = true;
    assert_int_equal(peer_payload_offer(&t.pe), CHAN_FEAT_PAYLOAD);
    tp_free(&t);
    assert_int_equal(handshake("s", "s", &t), 1);
    t.o.payload = true;
    assert_int_equal(peer_payload_offer(&t.pe), CHAN_FEAT_PAYLOAD); /* TLS, another host */
    tp_free(&t);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_payload_offer),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
