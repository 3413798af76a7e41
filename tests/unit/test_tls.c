/*
 * test_tls: the channel's TLS 1.3 layer (src/tls.c) over a non-blocking socketpair,
 * both ends driven in turn as the event loop would: a handshake keyed by a PSK from
 * the secret, then 300 KB each way through tls_write_buf/tls_read_buf (partial writes,
 * a full socket, several records per read); a wrong secret refused on both ends; a
 * handshake keyed by certificates made here with the openssl CLI (a CA, a server and
 * a client certificate), and a client whose certificate comes from another CA
 * refused; the options that cannot key TLS refused with a message naming them.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "tls.h"

static char dir[64];

static void secret_set(struct auth_secret *s, const char *v)
{
    memset(s, 0, sizeof(*s));
    s->len = strlen(v);
    memcpy(s->key, v, s->len);
}

struct pair {
    int fd[2];
    struct tls_ctx *x[2]; /* 0: client (tcpcopy), 1: server (intercept) */
    struct tls *t[2];
};

static void pair_new(struct pair *p, const struct tls_conf *cc, const struct tls_conf *sc)
{
    char err[256];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p->fd), 0);
    p->x[0] = tls_ctx_new(cc, false, err, sizeof(err));
    p->x[1] = tls_ctx_new(sc, true, err, sizeof(err));
    assert_non_null(p->x[0]);
    assert_non_null(p->x[1]);
    for (int i = 0; i < 2; i++) {
        p->t[i] = tls_new(p->x[i], p->fd[i], err, sizeof(err));
        assert_non_null(p->t[i]);
    }
}

static void pair_free(struct pair *p)
{
    for (int i = 0; i < 2; i++) {
        tls_free(p->t[i]);
        close(p->fd[i]);
        tls_ctx_free(p->x[i]);
    }
}

/* Step both handshakes until both are done (1) or one fails: that one's rc, its
 * reason in err. Bounded by steps, not time. */
static int pair_handshake(struct pair *p, char *err, size_t errlen)
{
    int done[2] = {0, 0};
    for (int step = 0; step < 100 && !(done[0] && done[1]); step++)
        for (int i = 0; i < 2; i++) {
            if (done[i])
                continue;
            bool ww;
            int r = tls_handshake(p->t[i], &ww, err, errlen);
            if (r < 0)
                return r;
            done[i] = r;
        }
    return done[0] && done[1] ? 1 : 0;
}

/* n bytes from side a to side b, through buffers as the channel uses them. */
static void pair_transfer(struct pair *p, int a, size_t n)
{
    struct buf out, in;
    buf_init(&out, 1 << 20);
    buf_init(&in, 1 << 20);
    uint8_t *w = buf_reserve(&out, n);
    assert_non_null(w);
    for (size_t i = 0; i < n; i++)
        w[i] = (uint8_t)(i * 13 + 1);
    buf_commit(&out, n);
    size_t got = 0;
    for (int step = 0; step < 10000 && got < n; step++) {
        ssize_t r = tls_write_buf(p->t[a], &out);
        assert_true(r >= 0);
        r = tls_read_buf(p->t[1 - a], &in);
        assert_true(r > 0 || r == -EAGAIN);
        got = buf_len(&in);
    }
    assert_int_equal(got, n);
    assert_int_equal(buf_len(&out), 0);
    for (size_t i = 0; i < n; i++)
        if (buf_head(&in)[i] != (uint8_t)(i * 13 + 1))
            fail_msg("byte %zu differs", i);
    buf_free(&out);
    buf_free(&in);
}

static void test_psk(void **state)
{
    (void)state;
    struct auth_secret s;
    char err[256];
    secret_set(&s, "correct horse battery staple");
    struct tls_conf c = {.secret = &s};
    struct pair p;
    pair_new(&p, &c, &c);
    assert_string_equal(tls_ctx_mode(p.x[0]), "PSK");
    assert_int_equal(pair_handshake(&p, err, sizeof(err)), 1);
    pair_transfer(&p, 0, 300 * 1024);
    pair_transfer(&p, 1, 300 * 1024);
    /* A close_notify is an EOF on the other side. */
    tls_free(p.t[0]);
    p.t[0] = NULL;
    struct buf in;
    buf_init(&in, 4096);
    assert_int_equal(tls_read_buf(p.t[1], &in), 0);
    buf_free(&in);
    pair_free(&p);
}

static void test_psk_wrong(void **state)
{
    (void)state;
    struct auth_secret s1, s2;
    char err[256] = "";
    secret_set(&s1, "one secret");
    secret_set(&s2, "another secret");
    struct tls_conf c1 = {.secret = &s1}, c2 = {.secret = &s2};
    struct pair p;
    pair_new(&p, &c1, &c2);
    assert_true(pair_handshake(&p, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "TLS handshake failed"));
    pair_free(&p);
}

static void sh(const char *cmd)
{
    char line[2048];
    snprintf(line, sizeof(line), "cd %s && (%s) >/dev/null 2>&1", dir, cmd);
    assert_int_equal(system(line), 0);
}

/* A CA and a certificate signed by it, for name (key name.key, cert name.pem). */
static void make_cert(const char *ca, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
             "%s.key -subj /CN=%s -out %s.csr && openssl x509 -req -in %s.csr -CA %s.pem "
             "-CAkey %s.key -CAcreateserial -days 2 -out %s.pem",
             name, name, name, name, ca, ca, name);
    sh(cmd);
}

static void make_ca(const char *name)
{
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "
             "%s.key -subj /CN=%s -days 2 -out %s.pem",
             name, name, name);
    sh(cmd);
}

static void paths(char (*b)[128], const char *cert, const char *ca)
{
    snprintf(b[0], 128, "%s/%s.pem", dir, cert);
    snprintf(b[1], 128, "%s/%s.key", dir, cert);
    snprintf(b[2], 128, "%s/%s.pem", dir, ca);
}

static void test_certs(void **state)
{
    (void)state;
    char err[256] = "", cb[3][128], sb[3][128], eb[3][128];
    make_ca("ca");
    make_ca("otherca");
    make_cert("ca", "server");
    make_cert("ca", "client");
    make_cert("otherca", "intruder");
    paths(cb, "client", "ca");
    paths(sb, "server", "ca");
    paths(eb, "intruder", "ca");
    struct tls_conf cc = {.cert = cb[0], .key = cb[1], .ca = cb[2]};
    struct tls_conf sc = {.cert = sb[0], .key = sb[1], .ca = sb[2]};
    struct tls_conf ec = {.cert = eb[0], .key = eb[1], .ca = eb[2]};
    struct pair p;
    pair_new(&p, &cc, &sc);
    assert_string_equal(tls_ctx_mode(p.x[1]), "certificates");
    assert_int_equal(pair_handshake(&p, err, sizeof(err)), 1);
    pair_transfer(&p, 1, 70 * 1024);
    pair_free(&p);

    /* A client certificate from another CA: the server refuses it. */
    pair_new(&p, &ec, &sc);
    assert_true(pair_handshake(&p, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "TLS handshake failed"));
    pair_free(&p);

    /* A missing file is named. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope.pem", dir);
    struct tls_conf bad = {.cert = missing, .key = sb[1], .ca = sb[2]};
    assert_null(tls_ctx_new(&bad, true, err, sizeof(err)));
    assert_non_null(strstr(err, "--tls-cert"));
    assert_non_null(strstr(err, "nope.pem"));
}

static void test_unusable(void **state)
{
    (void)state;
    char err[256];
    struct auth_secret none = {.len = 0};
    struct tls_conf c = {.secret = &none, .cert = "a.pem"}; /* no key, no CA, no secret */
    assert_false(tls_conf_usable(&c));
    assert_false(tls_conf_usable(NULL));
    assert_null(tls_ctx_new(&c, false, err, sizeof(err)));
    assert_non_null(strstr(err, "--secret-file"));
    /* Plain I/O when no TLS: the channel's own functions. */
    int fd[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0);
    struct chan_out o;
    chan_out_init(&o, 1024);
    assert_int_equal(chan_put_heartbeat(&o, NULL), 0);
    assert_int_equal(tls_io_flush(NULL, &o, fd[0]), CHAN_HDR_LEN);
    struct buf in;
    buf_init(&in, 1024);
    assert_int_equal(tls_io_read(NULL, &in, fd[1]), CHAN_HDR_LEN);
    assert_int_equal(buf_head(&in)[0], CHAN_HEARTBEAT);
    buf_free(&in);
    chan_out_free(&o);
    close(fd[0]);
    close(fd[1]);
}

static int setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof(dir), "/tmp/test_tls.XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_psk),
        cmocka_unit_test(test_psk_wrong),
        cmocka_unit_test(test_certs),
        cmocka_unit_test(test_unusable),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
