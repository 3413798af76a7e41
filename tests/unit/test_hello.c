/*
 * test_hello: the channel's handshake module, shared by tcpcopy and intercept:
 * HELLO, AUTH and BYE encoded and decoded (round trips and malformed bodies),
 * our HELLO made fresh for each connection, and the judgement of a peer's
 * HELLO (magic, version, role, a secret on one side only) and AUTH (good
 * proof, wrong secret, reflected proof, swapped nonces, not an AUTH).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth.h"
#include "chan.h"
#include "hello.h"

/* The first frame of o, as a receiver parses it. */
static struct chan_frame first_frame(struct chan_out *o)
{
    struct chan_frame f;
    chan_out_seal(o);
    ssize_t n = chan_frame_next(&f, buf_head(&o->buf), buf_len(&o->buf));
    assert_true(n > 0);
    return f;
}

/* Bytes queued in o, as a stream the peer would read. */
static const uint8_t *out_bytes(struct chan_out *o, size_t *len)
{
    *len = buf_len(&o->buf);
    return *len ? buf_head(&o->buf) : (const uint8_t *)"";
}

/* A frame built by hand, bypassing chan_frame_next's bounds (as a fuzzer may). */
static struct chan_frame raw_frame(uint8_t type, const uint8_t *body, size_t len)
{
    struct chan_frame f = {.type = type, .flags = 0, .len = (uint16_t)len, .body = body};
    return f;
}

static void peer_hello(struct chan_out *o, uint16_t version, uint8_t role, uint32_t feat)
{
    struct hello h;
    assert_int_equal(hello_make(&h, role, feat, 0), 0);
    h.version = version;
    assert_int_equal(hello_put(o, &h), 0);
}

static void test_hello_round_trip(void **state)
{
    (void)state;
    struct chan_out o;
    struct hello h, g;
    chan_out_init(&o, 1024);
    assert_int_equal(hello_make(&h, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT | CHAN_FEAT_INSTANCE,
                                0x1122334455667789ULL),
                     0);
    assert_int_equal(h.version, CHAN_VERSION);
    assert_int_equal(hello_put(&o, &h), 0);
    struct chan_frame f = first_frame(&o);
    assert_int_equal(f.type, CHAN_HELLO);
    assert_int_equal(f.len, CHAN_HELLO_INSTANCE_LEN);
    assert_int_equal(hello_decode(&g, &f), 0);
    assert_int_equal(g.role, CHAN_ROLE_TCPCOPY);
    assert_int_equal(g.features, CHAN_FEAT_HEARTBEAT | CHAN_FEAT_INSTANCE);
    assert_memory_equal(g.nonce, h.nonce, CHAN_NONCE_LEN);
    assert_true(g.instance == 0x1122334455667789ULL);
    chan_out_free(&o);

    /* Without CHAN_FEAT_INSTANCE the id is neither sent nor read. */
    chan_out_init(&o, 1024);
    h.features = CHAN_FEAT_HEARTBEAT;
    assert_int_equal(hello_put(&o, &h), 0);
    f = first_frame(&o);
    assert_int_equal(f.len, CHAN_HELLO_LEN);
    assert_int_equal(hello_decode(&g, &f), 0);
    assert_true(g.instance == 0);
    chan_out_free(&o);
}

static void test_hello_decode_malformed(void **state)
{
    (void)state;
    uint8_t b[CHAN_HELLO_LEN];
    struct hello h;
    memset(b, 0, sizeof(b));
    memcpy(b, CHAN_MAGIC, 4);
    b[5] = CHAN_VERSION;
    b[6] = CHAN_ROLE_INTERCEPT;
    struct chan_frame f = raw_frame(CHAN_HELLO, b, sizeof(b));
    assert_int_equal(hello_decode(&h, &f), 0);
    f = raw_frame(CHAN_HELLO, b, sizeof(b) - 1);
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_SIZE);
    f = raw_frame(CHAN_AUTH, b, sizeof(b));
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_TYPE);
    b[5] = 2; /* version 2: refused, but named */
    f = raw_frame(CHAN_HELLO, b, sizeof(b));
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_VERSION);
    assert_int_equal(h.version, 2);
    b[0] = 'X';
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_MAGIC);
    /* CHAN_FEAT_INSTANCE announced on a body too short to carry it: no id. */
    memcpy(b, CHAN_MAGIC, 4);
    b[5] = CHAN_VERSION;
    b[11] = CHAN_FEAT_INSTANCE;
    assert_int_equal(hello_decode(&h, &f), 0);
    assert_true(h.instance == 0);
}

static void test_hello_make_fresh_nonces(void **state)
{
    (void)state;
    struct hello a, b;
    for (int auth = 0; auth < 2; auth++) {
        uint32_t feat = CHAN_FEAT_HEARTBEAT | (auth ? CHAN_FEAT_AUTH : 0);
        assert_int_equal(hello_make(&a, CHAN_ROLE_INTERCEPT, feat, 0), 0);
        assert_int_equal(hello_make(&b, CHAN_ROLE_INTERCEPT, feat, 0), 0);
        assert_int_equal(a.role, CHAN_ROLE_INTERCEPT);
        assert_int_equal(a.features, feat);
        assert_memory_not_equal(a.nonce, b.nonce, CHAN_NONCE_LEN);
    }
}

/* Judge a HELLO with these fields as intercept (wants tcpcopy) would. */
static enum hello_verdict judge(uint16_t version, uint8_t role, uint32_t feat, bool secret)
{
    struct chan_out o;
    struct hello peer;
    chan_out_init(&o, 1024);
    peer_hello(&o, version, role, feat);
    struct chan_frame f = first_frame(&o);
    enum hello_verdict v = hello_judge(&peer, &f, CHAN_ROLE_TCPCOPY, secret);
    if (v != HELLO_E_MAGIC)
        assert_int_equal(peer.version, version);
    chan_out_free(&o);
    return v;
}

static void test_hello_judge(void **state)
{
    (void)state;
    const uint32_t HB = CHAN_FEAT_HEARTBEAT, AU = CHAN_FEAT_AUTH;
    assert_int_equal(judge(CHAN_VERSION, CHAN_ROLE_TCPCOPY, HB, false), HELLO_OK);
    assert_int_equal(judge(CHAN_VERSION, CHAN_ROLE_TCPCOPY, HB | AU, true), HELLO_OK);
    assert_int_equal(judge(2, CHAN_ROLE_TCPCOPY, HB, false), HELLO_E_VERSION);
    assert_int_equal(judge(0x0101, CHAN_ROLE_TCPCOPY, HB, false), HELLO_E_VERSION);
    assert_int_equal(judge(CHAN_VERSION, CHAN_ROLE_INTERCEPT, HB, false), HELLO_E_ROLE);
    assert_int_equal(judge(CHAN_VERSION, 0, HB, false), HELLO_E_ROLE);
    assert_int_equal(judge(CHAN_VERSION, CHAN_ROLE_TCPCOPY, HB, true), HELLO_E_AUTH_MISSING);
    assert_int_equal(judge(CHAN_VERSION, CHAN_ROLE_TCPCOPY, HB | AU, false), HELLO_E_AUTH_UNWANTED);

    /* Not a HELLO at all, or a body that is not one. */
    struct hello peer;
    uint8_t b[CHAN_HELLO_LEN] = {'T', 'C', 'P', 'X'};
    struct chan_frame f = raw_frame(CHAN_HEARTBEAT, NULL, 0);
    assert_int_equal(hello_judge(&peer, &f, CHAN_ROLE_TCPCOPY, false), HELLO_E_TYPE);
    f = raw_frame(CHAN_HELLO, b, sizeof(b));
    assert_int_equal(hello_judge(&peer, &f, CHAN_ROLE_TCPCOPY, false), HELLO_E_MAGIC);
    f = raw_frame(CHAN_HELLO, b, 4);
    assert_int_equal(hello_judge(&peer, &f, CHAN_ROLE_TCPCOPY, false), HELLO_E_SIZE);
}

static void test_verdict_words(void **state)
{
    (void)state;
    for (int v = HELLO_OK; v <= HELLO_E_PROOF; v++) {
        const char *s = hello_verdict_str((enum hello_verdict)v);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        for (int w = HELLO_OK; w < v; w++)
            assert_string_not_equal(s, hello_verdict_str((enum hello_verdict)w));
    }
    assert_string_equal(hello_verdict_str((enum hello_verdict)99), "unknown verdict");
    assert_int_equal(hello_verdict_bye(HELLO_E_VERSION), CHAN_BYE_VERSION);
    assert_int_equal(hello_verdict_bye(HELLO_E_AUTH_MISSING), CHAN_BYE_AUTH);
    assert_int_equal(hello_verdict_bye(HELLO_E_AUTH_UNWANTED), CHAN_BYE_AUTH);
    assert_int_equal(hello_verdict_bye(HELLO_E_PROOF), CHAN_BYE_AUTH);
    assert_int_equal(hello_verdict_bye(HELLO_E_MAGIC), CHAN_BYE_PROTOCOL);
    assert_int_equal(hello_verdict_bye(HELLO_E_ROLE), CHAN_BYE_PROTOCOL);
    assert_int_equal(hello_verdict_bye(HELLO_E_TYPE), CHAN_BYE_PROTOCOL);
}

static void set_secret(struct auth_secret *s, const char *text)
{
    memset(s, 0, sizeof(*s));
    s->len = strlen(text);
    memcpy(s->key, text, s->len);
}

/* Judge the AUTH that `sender` (role srole, nonces sn -> rn) makes, as the
 * receiver holding `mine` with nonce rn expects role erole and nonce en. */
static enum hello_verdict auth_exchange(const char *sender, uint8_t srole, const uint8_t *sn,
                                        const uint8_t *rn, const char *mine, uint8_t erole,
                                        const uint8_t *en)
{
    struct auth_secret s, m;
    struct chan_out o;
    set_secret(&s, sender);
    set_secret(&m, mine);
    chan_out_init(&o, 1024);
    assert_int_equal(hello_auth_send(&o, &s, srole, sn, rn), 0);
    struct chan_frame f = first_frame(&o);
    assert_int_equal(f.type, CHAN_AUTH);
    assert_int_equal(f.len, CHAN_MAC_LEN);
    enum hello_verdict v = hello_auth_judge(&f, &m, erole, en, rn);
    chan_out_free(&o);
    return v;
}

static void test_auth_judge(void **state)
{
    (void)state;
    uint8_t nt[CHAN_NONCE_LEN], ni[CHAN_NONCE_LEN];
    memset(nt, 0x11, sizeof(nt));
    memset(ni, 0x22, sizeof(ni));
    const uint8_t T = CHAN_ROLE_TCPCOPY, I = CHAN_ROLE_INTERCEPT;
    /* tcpcopy proves to intercept: accepted with the same secret only. */
    assert_int_equal(auth_exchange("s3cret", T, nt, ni, "s3cret", T, nt), HELLO_OK);
    assert_int_equal(auth_exchange("s3cret", T, nt, ni, "other", T, nt), HELLO_E_PROOF);
    /* A proof reflected as the other role's, or over other nonces: refused. */
    assert_int_equal(auth_exchange("s3cret", I, nt, ni, "s3cret", T, nt), HELLO_E_PROOF);
    assert_int_equal(auth_exchange("s3cret", T, ni, nt, "s3cret", T, nt), HELLO_E_PROOF);

    /* Not an AUTH, or one too short to hold a proof. */
    struct auth_secret m;
    uint8_t b[CHAN_MAC_LEN] = {0};
    set_secret(&m, "s3cret");
    struct chan_frame f = raw_frame(CHAN_HEARTBEAT, NULL, 0);
    assert_int_equal(hello_auth_judge(&f, &m, T, nt, ni), HELLO_E_TYPE);
    f = raw_frame(CHAN_AUTH, b, CHAN_MAC_LEN - 1);
    assert_int_equal(hello_auth_judge(&f, &m, T, nt, ni), HELLO_E_TYPE);
    uint8_t mac[CHAN_MAC_LEN];
    assert_int_equal(hello_auth_decode(mac, &f), -CHAN_E_SIZE);
    f = raw_frame(CHAN_BYE, b, CHAN_MAC_LEN);
    assert_int_equal(hello_auth_decode(mac, &f), -CHAN_E_TYPE);
    /* A longer AUTH (room for a key id): the first 32 bytes are the proof. */
    uint8_t longer[64];
    memset(longer, 0x5a, sizeof(longer));
    f = raw_frame(CHAN_AUTH, longer, sizeof(longer));
    assert_int_equal(hello_auth_decode(mac, &f), 0);
    assert_memory_equal(mac, longer, CHAN_MAC_LEN);
}

static void test_bye_round_trip(void **state)
{
    (void)state;
    struct chan_out o;
    struct hello_bye b;
    chan_out_init(&o, 4096);
    assert_int_equal(hello_bye_put(&o, CHAN_BYE_AUTH, "bad secret"), 0);
    struct chan_frame f = first_frame(&o);
    assert_int_equal(hello_bye_decode(&b, &f), 0);
    assert_int_equal(b.code, CHAN_BYE_AUTH);
    assert_string_equal(b.text, "bad secret");
    chan_out_free(&o);

    chan_out_init(&o, 4096);
    assert_int_equal(hello_bye_put(&o, CHAN_BYE_NORMAL, NULL), 0);
    f = first_frame(&o);
    assert_int_equal(f.len, 2);
    assert_int_equal(hello_bye_decode(&b, &f), 0);
    assert_int_equal(b.code, CHAN_BYE_NORMAL);
    assert_string_equal(b.text, "");
    chan_out_free(&o);

    /* A text past the limit is cut on the wire, and again for our log. */
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    chan_out_init(&o, 4096);
    assert_int_equal(hello_bye_put(&o, 77, big), 0);
    f = first_frame(&o);
    assert_int_equal(f.len, 2 + CHAN_BYE_TEXT_MAX);
    assert_int_equal(hello_bye_decode(&b, &f), 0);
    assert_int_equal(b.code, 77);
    assert_int_equal(strlen(b.text), HELLO_BYE_TEXT_LOG - 1);
    chan_out_free(&o);
}

/* The peer's text cannot forge log lines, and a short or foreign frame is refused. */
static void test_bye_decode_hostile(void **state)
{
    (void)state;
    struct hello_bye b;
    const uint8_t body[] = {0x00, 0x05, 'o', 'k', '\n', 'x', 0x1b, 0x80, 0xff, 0x7f, '!'};
    struct chan_frame f = raw_frame(CHAN_BYE, body, sizeof(body));
    assert_int_equal(hello_bye_decode(&b, &f), 0);
    assert_int_equal(b.code, CHAN_BYE_REFUSED);
    assert_string_equal(b.text, "ok?x????"
                                "!");
    f = raw_frame(CHAN_BYE, body, 1);
    assert_int_equal(hello_bye_decode(&b, &f), -CHAN_E_SIZE);
    assert_string_equal(b.text, "");
    f = raw_frame(CHAN_HELLO, body, sizeof(body));
    assert_int_equal(hello_bye_decode(&b, &f), -CHAN_E_TYPE);
}

/* A full output queue leaves nothing behind: the frame is all or nothing. */
static void test_put_bounded(void **state)
{
    (void)state;
    struct chan_out o;
    struct hello h;
    uint8_t mac[CHAN_MAC_LEN] = {0};
    chan_out_init(&o, 10);
    assert_int_equal(hello_make(&h, CHAN_ROLE_TCPCOPY, 0, 0), 0);
    assert_int_equal(hello_put(&o, &h), -ENOBUFS);
    assert_int_equal(hello_auth_put(&o, mac), -ENOBUFS);
    assert_int_equal(hello_bye_put(&o, 0, "a reason longer than ten"), -ENOBUFS);
    assert_int_equal(buf_len(&o.buf), 0);
    chan_out_free(&o);
}

/* Moved from test_chan.c with the functions they test. */
static void test_hello_roundtrip(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 1024);
    struct hello h = {.version = CHAN_VERSION,
                      .role = CHAN_ROLE_TCPCOPY,
                      .features = CHAN_FEAT_HEARTBEAT | CHAN_FEAT_AUTH};
    for (int i = 0; i < CHAN_NONCE_LEN; i++)
        h.nonce[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(hello_put(&o, &h), 0);

    size_t len;
    const uint8_t *p = out_bytes(&o, &len);
    assert_int_equal(len, CHAN_HDR_LEN + CHAN_HELLO_LEN);
    /* The exact bytes of doc/protocol.md. */
    static const uint8_t want[] = {0x01, 0x00, 0x00, 0x1c, 'T',  'C',  'P',  'C',
                                   0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05};
    assert_memory_equal(p, want, sizeof(want));

    struct chan_frame f;
    assert_int_equal(chan_frame_next(&f, p, len), (ssize_t)len);
    assert_int_equal(f.type, CHAN_HELLO);
    assert_int_equal(f.flags, 0);
    struct hello g;
    assert_int_equal(hello_decode(&g, &f), 0);
    assert_int_equal(g.version, CHAN_VERSION);
    assert_int_equal(g.role, CHAN_ROLE_TCPCOPY);
    assert_int_equal(g.features, CHAN_FEAT_HEARTBEAT | CHAN_FEAT_AUTH);
    assert_memory_equal(g.nonce, h.nonce, CHAN_NONCE_LEN);
    chan_out_free(&o);
}

static void test_hello_bad(void **state)
{
    (void)state;
    uint8_t body[40];
    memset(body, 0, sizeof(body));
    memcpy(body, "TCPC", 4);
    body[5] = CHAN_VERSION;
    body[6] = CHAN_ROLE_INTERCEPT;
    struct chan_frame f = {.type = CHAN_HELLO, .len = 28, .body = body};
    struct hello h;
    assert_int_equal(hello_decode(&h, &f), 0);

    /* Longer HELLO from a later minor revision: extra bytes ignored. */
    f.len = 40;
    assert_int_equal(hello_decode(&h, &f), 0);
    f.len = 28;

    body[0] = 'X';
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_MAGIC);
    body[0] = 'T';

    body[4] = 0;
    body[5] = 2;
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_VERSION);
    assert_int_equal(h.version, 2); /* filled, for the error message */
    body[4] = 1;
    body[5] = 1;
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_VERSION); /* 0x0101 */
    body[4] = 0;

    f.len = 27;
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_SIZE);
    f.len = 28;
    f.type = CHAN_AUTH;
    assert_int_equal(hello_decode(&h, &f), -CHAN_E_TYPE);
}

/* hello_auth_put / hello_auth_decode, hello_bye_put (issue 5). */
static void test_auth_bye_encoders(void **state)
{
    (void)state;
    struct chan_out o;
    struct chan_frame f;
    uint8_t mac[CHAN_MAC_LEN], got[CHAN_MAC_LEN];
    size_t len;
    chan_out_init(&o, 4096);
    for (int i = 0; i < CHAN_MAC_LEN; i++)
        mac[i] = (uint8_t)(i * 7);
    assert_int_equal(hello_auth_put(&o, mac), 0);
    const uint8_t *p = out_bytes(&o, &len);
    assert_int_equal(len, 4 + CHAN_MAC_LEN);
    assert_memory_equal(p, "\x02\x00\x00\x20", 4);
    assert_int_equal(chan_frame_next(&f, p, len), (ssize_t)len);
    assert_int_equal(hello_auth_decode(got, &f), 0);
    assert_memory_equal(got, mac, CHAN_MAC_LEN);
    buf_consume(&o.buf, len);

    /* A longer AUTH body (a later key id) keeps the MAC in its first 32 bytes. */
    uint8_t body[40];
    memcpy(body, mac, CHAN_MAC_LEN);
    memset(body + CHAN_MAC_LEN, 0xee, 8);
    assert_int_equal(chan_put_frame(&o, CHAN_AUTH, body, sizeof(body)), 0);
    p = out_bytes(&o, &len);
    assert_int_equal(chan_frame_next(&f, p, len), (ssize_t)len);
    memset(got, 0, sizeof(got));
    assert_int_equal(hello_auth_decode(got, &f), 0);
    assert_memory_equal(got, mac, CHAN_MAC_LEN);
    buf_consume(&o.buf, len);
    /* Not an AUTH frame. */
    f.type = CHAN_HELLO;
    assert_int_equal(hello_auth_decode(got, &f), -CHAN_E_TYPE);
    /* Shorter than a MAC: refused by the frame bounds already. */
    assert_int_equal(chan_frame_next(&f, (const uint8_t *)"\x02\x00\x00\x1f", 4), -CHAN_E_SIZE);

    assert_int_equal(hello_bye_put(&o, CHAN_BYE_AUTH, "bad secret"), 0);
    p = out_bytes(&o, &len);
    assert_int_equal(len, 4 + 2 + 10);
    assert_memory_equal(p,
                        "\x07\x00\x00\x0c\x00\x03"
                        "bad secret",
                        len);
    buf_consume(&o.buf, len);
    assert_int_equal(hello_bye_put(&o, CHAN_BYE_NORMAL, NULL), 0);
    p = out_bytes(&o, &len);
    assert_memory_equal(p, "\x07\x00\x00\x02\x00\x00", 6);
    buf_consume(&o.buf, len);
    /* A long text is cut so that the frame stays within BYE's bounds. */
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(hello_bye_put(&o, CHAN_BYE_PROTOCOL, big), 0);
    p = out_bytes(&o, &len);
    assert_int_equal(len, 4 + 2 + CHAN_BYE_TEXT_MAX);
    assert_int_equal(chan_frame_next(&f, p, len), (ssize_t)len);
    assert_int_equal(f.type, CHAN_BYE);
    chan_out_free(&o);
}

static void test_hello_instance_extension(void **state)
{
    struct chan_out o;
    chan_out_init(&o, 4096);
    struct hello h;
    memset(&h, 0, sizeof(h));
    h.version = CHAN_VERSION;
    h.role = CHAN_ROLE_TCPCOPY;
    h.features = CHAN_FEAT_HEARTBEAT | CHAN_FEAT_INSTANCE;
    h.instance = 0x0123456789abcdefULL;
    assert_int_equal(hello_put(&o, &h), 0);
    h.features = CHAN_FEAT_HEARTBEAT; /* an older sender: base HELLO, no instance */
    assert_int_equal(hello_put(&o, &h), 0);
    chan_out_seal(&o);
    struct chan_frame f;
    const uint8_t *b = buf_head(&o.buf);
    size_t len = buf_len(&o.buf);
    ssize_t n = chan_frame_next(&f, b, len);
    assert_int_equal(n, CHAN_HDR_LEN + CHAN_HELLO_INSTANCE_LEN);
    struct hello d;
    assert_int_equal(hello_decode(&d, &f), 0);
    assert_true(d.instance == 0x0123456789abcdefULL);
    n = chan_frame_next(&f, b + n, len - (size_t)n);
    assert_int_equal(n, CHAN_HDR_LEN + CHAN_HELLO_LEN);
    assert_int_equal(hello_decode(&d, &f), 0);
    assert_true(d.instance == 0);
    chan_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hello_round_trip),
        cmocka_unit_test(test_hello_decode_malformed),
        cmocka_unit_test(test_hello_make_fresh_nonces),
        cmocka_unit_test(test_hello_judge),
        cmocka_unit_test(test_verdict_words),
        cmocka_unit_test(test_auth_judge),
        cmocka_unit_test(test_bye_round_trip),
        cmocka_unit_test(test_bye_decode_hostile),
        cmocka_unit_test(test_put_bounded),
        cmocka_unit_test(test_hello_roundtrip),
        cmocka_unit_test(test_hello_bad),
        cmocka_unit_test(test_auth_bye_encoders),
        cmocka_unit_test(test_hello_instance_extension),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
