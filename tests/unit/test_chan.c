/*
 * test_chan: the channel's frames and records (doc/protocol.md): a round trip
 * for every frame type, IPv4/IPv6 routes, REPLY iteration, truncation at every
 * length, per-type size bounds, batching into frames of at most CHAN_BODY_MAX,
 * and a full output buffer that stays decodable. HELLO, AUTH and BYE bodies
 * are test_hello.c's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chan.h"
#include "hello.h"

/* Bytes queued in o, as a stream the peer would read. */
static const uint8_t *out_bytes(struct chan_out *o, size_t *len)
{
    *len = buf_len(&o->buf);
    return *len ? buf_head(&o->buf) : (const uint8_t *)"";
}

static struct chan_route mk_route4(const char *c, uint16_t cport, const char *t, uint16_t tport)
{
    struct chan_route r;
    uint8_t a[4];
    memset(&r, 0, sizeof(r));
    assert_int_equal(inet_pton(AF_INET, c, a), 1);
    addr_set_v4(&r.client, a);
    assert_int_equal(inet_pton(AF_INET, t, a), 1);
    addr_set_v4(&r.target, a);
    r.cport = cport;
    r.tport = tport;
    return r;
}

static struct chan_route mk_route6(const char *c, uint16_t cport, const char *t, uint16_t tport)
{
    struct chan_route r;
    uint8_t a[16];
    memset(&r, 0, sizeof(r));
    assert_int_equal(inet_pton(AF_INET6, c, a), 1);
    addr_set_v6(&r.client, a);
    assert_int_equal(inet_pton(AF_INET6, t, a), 1);
    addr_set_v6(&r.target, a);
    r.cport = cport;
    r.tport = tport;
    return r;
}

static void assert_route_eq(const struct chan_route *a, const struct chan_route *b)
{
    assert_int_equal(a->client.af, b->client.af);
    assert_int_equal(a->target.af, b->target.af);
    assert_memory_equal(a->client.u.b, b->client.u.b, 16);
    assert_memory_equal(a->target.u.b, b->target.u.b, 16);
    assert_int_equal(a->cport, b->cport);
    assert_int_equal(a->tport, b->tport);
}

static void test_route_v4_v6_roundtrip(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 4096);
    struct chan_route r4 = mk_route4("62.135.200.7", 40000, "192.0.2.10", 8080);
    struct chan_route r6 = mk_route6("2001:db8::7", 1, "2001:db8:ffff::1", 65535);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r4), 0);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r6), 0);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_DEL, &r4), 0);

    size_t len;
    const uint8_t *p = out_bytes(&o, &len);
    /* Two records batched into one ADD frame, then a DEL frame. */
    assert_int_equal(len, 4 + 80 + 4 + 40);
    static const uint8_t rec4[] = {
        0x03, 0x00, 0x00, 0x50, /* ROUTE_ADD, 80 bytes */
        0x04, 0x00, 0x9c, 0x40, 0x1f, 0x90, 0x00, 0x00, 62, 135, 200, 7, 0, 0, 0, 0, 0, 0, 0, 0,
        0,    0,    0,    0,    192,  0,    2,    10,   0,  0,   0,   0, 0, 0, 0, 0, 0, 0, 0, 0};
    assert_memory_equal(p, rec4, sizeof(rec4));

    struct chan_frame f;
    struct chan_route g;
    ssize_t n = chan_frame_next(&f, p, len);
    assert_int_equal(n, 84);
    assert_int_equal(f.type, CHAN_ROUTE_ADD);
    assert_int_equal(chan_route_count(&f), 2);
    assert_int_equal(chan_route_get(&g, &f, 0), 0);
    assert_route_eq(&g, &r4);
    assert_int_equal(g.client.af, AF_INET);
    assert_int_equal(chan_route_get(&g, &f, 1), 0);
    assert_route_eq(&g, &r6);
    assert_int_equal(g.client.af, AF_INET6);
    assert_int_equal(chan_route_get(&g, &f, 2), -CHAN_E_SIZE);

    n = chan_frame_next(&f, p + 84, len - 84);
    assert_int_equal(n, 44);
    assert_int_equal(f.type, CHAN_ROUTE_DEL);
    assert_int_equal(chan_route_count(&f), 1);
    assert_int_equal(chan_route_get(&g, &f, 0), 0);
    assert_route_eq(&g, &r4);
    chan_out_free(&o);
}

static void test_route_bad(void **state)
{
    (void)state;
    uint8_t body[40];
    memset(body, 0, sizeof(body));
    struct chan_frame f = {.type = CHAN_ROUTE_ADD, .len = 40, .body = body};
    struct chan_route r;
    static const uint8_t bad_af[] = {0, 1, 2, 5, 10, 0x44, 0xff};
    for (size_t i = 0; i < sizeof(bad_af); i++) {
        body[0] = bad_af[i];
        assert_int_equal(chan_route_get(&r, &f, 0), -CHAN_E_RECORD);
    }
    f.type = CHAN_REPLY; /* not a route frame */
    assert_int_equal(chan_route_count(&f), 0);

    /* Encoder refuses what it cannot express. */
    struct chan_out o;
    chan_out_init(&o, 4096);
    struct chan_route mixed = mk_route4("198.51.100.1", 1, "203.0.113.2", 2);
    struct chan_route r6 = mk_route6("::1", 1, "::2", 2);
    mixed.target = r6.target;
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &mixed), -EINVAL);
    struct chan_route unset;
    memset(&unset, 0, sizeof(unset));
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &unset), -EINVAL);
    assert_int_equal(chan_put_route(&o, CHAN_REPLY, &r6), -EINVAL);
    assert_int_equal(buf_len(&o.buf), 0);
    chan_out_free(&o);
}

static void test_reply_iteration(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 1 << 20);
    uint8_t hdr[CHAN_REPLY_HDR_MAX];
    for (size_t i = 0; i < sizeof(hdr); i++)
        hdr[i] = (uint8_t)i;
    size_t lens[] = {40, 1, 60, CHAN_REPLY_HDR_MAX, 20};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(chan_put_reply(&o, hdr, lens[i]), 0);
    assert_int_equal(chan_put_reply(&o, hdr, 0), -EINVAL);
    assert_int_equal(chan_put_reply(&o, hdr, 65534), -EINVAL); /* cannot fit any frame */

    size_t len;
    const uint8_t *p = out_bytes(&o, &len);
    struct chan_frame f;
    assert_int_equal(chan_frame_next(&f, p, len), (ssize_t)len); /* one frame */
    assert_int_equal(f.type, CHAN_REPLY);
    struct chan_iter it;
    const uint8_t *rec;
    size_t rl;
    chan_iter_init(&it, &f);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(chan_reply_next(&it, &rec, &rl), 1);
        assert_int_equal(rl, lens[i]);
        assert_memory_equal(rec, hdr, rl);
    }
    assert_int_equal(chan_reply_next(&it, &rec, &rl), 0);
    assert_int_equal(chan_reply_next(&it, &rec, &rl), 0);
    chan_out_free(&o);
}

static void test_reply_bad_records(void **state)
{
    (void)state;
    struct chan_iter it;
    const uint8_t *rec;
    size_t rl;

    /* Zero-length record. */
    uint8_t zero[] = {0x00, 0x00};
    struct chan_frame f = {.type = CHAN_REPLY, .len = 2, .body = zero};
    chan_iter_init(&it, &f);
    assert_int_equal(chan_reply_next(&it, &rec, &rl), -CHAN_E_RECORD);

    /* A record overrunning the frame by one byte. */
    uint8_t over[] = {0x00, 0x03, 'a', 'b'};
    f.body = over;
    f.len = sizeof(over);
    chan_iter_init(&it, &f);
    assert_int_equal(chan_reply_next(&it, &rec, &rl), -CHAN_E_RECORD);

    /* A good record followed by one lone byte (half a length). */
    uint8_t tail[] = {0x00, 0x01, 'x', 0x00};
    f.body = tail;
    f.len = sizeof(tail);
    chan_iter_init(&it, &f);
    assert_int_equal(chan_reply_next(&it, &rec, &rl), 1);
    assert_int_equal(rl, 1);
    assert_int_equal(rec[0], 'x');
    assert_int_equal(chan_reply_next(&it, &rec, &rl), -CHAN_E_RECORD);

    /* Length 0xffff in a short frame. */
    uint8_t huge[] = {0xff, 0xff, 1, 2, 3};
    f.body = huge;
    f.len = sizeof(huge);
    chan_iter_init(&it, &f);
    assert_int_equal(chan_reply_next(&it, &rec, &rl), -CHAN_E_RECORD);
}

static void test_heartbeat_bye_auth_roundtrip(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 4096);
    uint8_t mac[CHAN_MAC_LEN];
    memset(mac, 0x5a, sizeof(mac));
    assert_int_equal(chan_put_frame(&o, CHAN_HEARTBEAT, NULL, 0), 0);
    assert_int_equal(chan_put_frame(&o, CHAN_AUTH, mac, sizeof(mac)), 0);
    assert_int_equal(chan_put_frame(&o, CHAN_BYE, "\x00\x02version", 9), 0);

    size_t len, off = 0;
    const uint8_t *p = out_bytes(&o, &len);
    struct chan_frame f;
    ssize_t n = chan_frame_next(&f, p, len);
    assert_int_equal(n, 4);
    assert_int_equal(f.type, CHAN_HEARTBEAT);
    assert_int_equal(f.len, 0);
    off += (size_t)n;
    n = chan_frame_next(&f, p + off, len - off);
    assert_int_equal(n, 4 + CHAN_MAC_LEN);
    assert_int_equal(f.type, CHAN_AUTH);
    assert_memory_equal(f.body, mac, CHAN_MAC_LEN);
    off += (size_t)n;
    n = chan_frame_next(&f, p + off, len - off);
    assert_int_equal(n, 13);
    assert_int_equal(f.type, CHAN_BYE);
    assert_memory_equal(f.body, "\x00\x02version", 9);
    off += (size_t)n;
    assert_int_equal(off, len);
    assert_int_equal(chan_frame_next(&f, p + off, 0), 0);

    assert_int_equal(chan_put_frame(&o, CHAN_REPLY, mac, 65536), -EMSGSIZE);
    chan_out_free(&o);
}

/* Every prefix of a valid stream asks for more; the whole stream parses. */
static void test_truncation_every_length(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 1 << 20);
    struct hello h = {.version = CHAN_VERSION, .role = CHAN_ROLE_INTERCEPT};
    struct chan_route r = mk_route6("2001:db8::1", 5, "2001:db8::2", 6);
    uint8_t hdr[60] = {0x45};
    assert_int_equal(hello_put(&o, &h), 0);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    assert_int_equal(chan_put_reply(&o, hdr, sizeof(hdr)), 0);
    assert_int_equal(chan_put_frame(&o, CHAN_HEARTBEAT, NULL, 0), 0);
    assert_int_equal(chan_put_frame(&o, CHAN_BYE, "\0\0bye", 5), 0);
    uint8_t mac[CHAN_MAC_LEN] = {1};
    assert_int_equal(chan_put_frame(&o, CHAN_AUTH, mac, sizeof(mac)), 0);

    size_t len;
    const uint8_t *p = out_bytes(&o, &len);
    size_t off = 0;
    int frames = 0;
    while (off < len) {
        struct chan_frame f;
        ssize_t full = chan_frame_next(&f, p + off, len - off);
        assert_true(full > 0);
        for (size_t cut = 0; cut < (size_t)full; cut++) {
            /* Copy so ASan would see a read past the cut. */
            uint8_t *c = malloc(cut ? cut : 1);
            memcpy(c, p + off, cut);
            assert_int_equal(chan_frame_next(&f, c, cut), 0);
            free(c);
        }
        off += (size_t)full;
        frames++;
    }
    assert_int_equal(frames, 6);
    chan_out_free(&o);
}

static ssize_t hdr_only(uint8_t type, uint16_t len)
{
    /* A header claiming len, followed by len bytes of a body that passes. */
    uint8_t *p = calloc(1, 4 + (size_t)len);
    struct chan_frame f;
    p[0] = type;
    p[2] = (uint8_t)(len >> 8);
    p[3] = (uint8_t)len;
    ssize_t r = chan_frame_next(&f, p, 4 + (size_t)len);
    /* The verdict on a bad size comes from the header alone. */
    if (r < 0)
        assert_int_equal(chan_frame_next(&f, p, 4), r);
    free(p);
    return r;
}

static void test_bounds_per_type(void **state)
{
    (void)state;
    struct {
        uint8_t type;
        uint16_t len;
        bool ok;
    } cases[] = {
        {CHAN_HELLO, 27, false},        {CHAN_HELLO, 28, true},      {CHAN_HELLO, 256, true},
        {CHAN_HELLO, 257, false},       {CHAN_HELLO, 0, false},      {CHAN_AUTH, 31, false},
        {CHAN_AUTH, 32, true},          {CHAN_AUTH, 256, true},      {CHAN_AUTH, 257, false},
        {CHAN_ROUTE_ADD, 0, false},     {CHAN_ROUTE_ADD, 39, false}, {CHAN_ROUTE_ADD, 40, true},
        {CHAN_ROUTE_ADD, 41, false},    {CHAN_ROUTE_ADD, 80, true},  {CHAN_ROUTE_ADD, 65520, true},
        {CHAN_ROUTE_ADD, 65535, false}, {CHAN_ROUTE_DEL, 0, false},  {CHAN_ROUTE_DEL, 40, true},
        {CHAN_ROUTE_DEL, 79, false},    {CHAN_REPLY, 0, false},      {CHAN_REPLY, 1, false},
        {CHAN_REPLY, 2, true},          {CHAN_REPLY, 65535, true},   {CHAN_HEARTBEAT, 0, true},
        {CHAN_HEARTBEAT, 64, true},     {CHAN_HEARTBEAT, 65, false}, {CHAN_BYE, 0, false},
        {CHAN_BYE, 1, false},           {CHAN_BYE, 2, true},         {CHAN_BYE, 1024, true},
        {CHAN_BYE, 1025, false},        {CHAN_STAMP, 8, true},       {CHAN_STAMP, 0, false},
        {CHAN_STAMP, 7, false},         {CHAN_STAMP, 9, false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ssize_t r = hdr_only(cases[i].type, cases[i].len);
        if (cases[i].ok)
            assert_int_equal(r, 4 + cases[i].len);
        else
            assert_int_equal(r, -CHAN_E_SIZE);
    }
    static const uint8_t unknown[] = {0x00, 0x09, 0x7f, 0x80, 0xff};
    for (size_t i = 0; i < sizeof(unknown); i++)
        assert_int_equal(hdr_only(unknown[i], 0), -CHAN_E_TYPE);
    /* Fewer than four bytes: cannot judge yet. */
    struct chan_frame f;
    assert_int_equal(chan_frame_next(&f, (const uint8_t *)"\xff\xff\xff", 3), 0);
}

static void test_batching_2000_routes(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 1 << 20);
    enum { N = 2000 };
    for (int i = 0; i < N; i++) {
        struct chan_route r = mk_route4("198.51.100.0", (uint16_t)(1024 + i), "192.0.2.1", 80);
        r.client.u.b[2] = (uint8_t)(i >> 8);
        r.client.u.b[3] = (uint8_t)i;
        assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    }
    size_t len;
    const uint8_t *p = out_bytes(&o, &len);
    size_t off = 0;
    int frames = 0, seen = 0;
    while (off < len) {
        struct chan_frame f;
        ssize_t n = chan_frame_next(&f, p + off, len - off);
        assert_true(n > 0);
        assert_int_equal(f.type, CHAN_ROUTE_ADD);
        assert_true(f.len <= CHAN_BODY_MAX);
        for (size_t k = 0; k < chan_route_count(&f); k++) {
            struct chan_route g;
            assert_int_equal(chan_route_get(&g, &f, k), 0);
            assert_int_equal(g.cport, 1024 + seen);
            assert_int_equal(g.client.u.b[2], (uint8_t)(seen >> 8));
            assert_int_equal(g.client.u.b[3], (uint8_t)seen);
            seen++;
        }
        off += (size_t)n;
        frames++;
    }
    assert_int_equal(seen, N);
    /* 65535 / 40 = 1638 records per frame: 2000 need exactly two. */
    assert_int_equal(frames, 2);
    assert_int_equal(len, 2 * 4 + N * 40);
    chan_out_free(&o);
}

static void test_seal_starts_new_frame(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 4096);
    struct chan_route r = mk_route4("198.51.100.1", 1, "203.0.113.2", 2);
    uint8_t hdr[20] = {0x45};
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    chan_out_seal(&o);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    assert_int_equal(chan_put_reply(&o, hdr, sizeof(hdr)), 0);   /* other type: new frame */
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0); /* not merged backwards */
    assert_int_equal(chan_put_frame(&o, CHAN_HEARTBEAT, NULL, 0), 0);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    size_t len, off = 0;
    const uint8_t *p = out_bytes(&o, &len);
    uint8_t types[8];
    uint16_t lens[8];
    int n = 0;
    while (off < len) {
        struct chan_frame f;
        ssize_t k = chan_frame_next(&f, p + off, len - off);
        assert_true(k > 0 && n < 8);
        types[n] = f.type;
        lens[n++] = f.len;
        off += (size_t)k;
    }
    assert_int_equal(n, 6);
    uint8_t wt[] = {CHAN_ROUTE_ADD, CHAN_ROUTE_ADD, CHAN_REPLY,
                    CHAN_ROUTE_ADD, CHAN_HEARTBEAT, CHAN_ROUTE_ADD};
    uint16_t wl[] = {40, 40, 22, 40, 0, 80};
    assert_memory_equal(types, wt, sizeof(wt));
    assert_memory_equal(lens, wl, sizeof(wl));
    chan_out_free(&o);
}

/* A bounded output that fills: every -ENOBUFS leaves whole frames only. */
static void test_enobufs_consistent(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 1000);
    struct chan_route r = mk_route4("198.51.100.1", 1, "203.0.113.2", 2);
    uint8_t hdr[100];
    memset(hdr, 0xee, sizeof(hdr));
    int ok = 0, full = 0;
    for (int i = 0; i < 200; i++) {
        int e;
        switch (i % 3) {
        case 0:
            e = chan_put_route(&o, CHAN_ROUTE_ADD, &r);
            break;
        case 1:
            e = chan_put_reply(&o, hdr, (size_t)(i % 100) + 1);
            break;
        default:
            e = chan_put_route(&o, CHAN_ROUTE_DEL, &r);
            break;
        }
        if (e == 0)
            ok++;
        else {
            assert_int_equal(e, -ENOBUFS);
            full++;
        }
        assert_true(buf_len(&o.buf) <= 1000);
    }
    assert_true(ok > 0 && full > 0);
    struct hello h = {.version = 1};
    static const uint8_t big[1000];
    assert_int_equal(chan_put_frame(&o, CHAN_REPLY, big, sizeof(big)), -ENOBUFS);
    (void)hello_put(&o, &h);

    size_t len, off = 0;
    const uint8_t *p = out_bytes(&o, &len);
    while (off < len) {
        struct chan_frame f;
        ssize_t k = chan_frame_next(&f, p + off, len - off);
        assert_true(k > 0);
        if (f.type == CHAN_REPLY) {
            struct chan_iter it;
            const uint8_t *rec;
            size_t rl;
            int e;
            chan_iter_init(&it, &f);
            while ((e = chan_reply_next(&it, &rec, &rl)) > 0)
                ;
            assert_int_equal(e, 0);
        }
        off += (size_t)k;
    }
    assert_int_equal(off, len);
    chan_out_free(&o);
}

/* Batching stays correct while the front of the buffer is consumed (flushes). */
static void test_open_frame_survives_compaction(void **state)
{
    (void)state;
    struct chan_out o;
    chan_out_init(&o, 1 << 20);
    uint8_t hdr[100];
    memset(hdr, 0x11, sizeof(hdr));
    uint8_t pad[40] = {0};
    assert_int_equal(chan_put_frame(&o, CHAN_HEARTBEAT, pad, sizeof(pad)), 0);
    for (int i = 0; i < 60; i++)
        assert_int_equal(chan_put_reply(&o, hdr, sizeof(hdr)), 0);
    /* What chan_out_flush does on a partial write: seal, then the written
     * bytes leave the front (off > 0). The next REPLY frame is opened behind
     * them and must stay right while reserve compacts and reallocates. */
    chan_out_seal(&o);
    buf_consume(&o.buf, 44);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(chan_put_reply(&o, hdr, sizeof(hdr)), 0);
    size_t len, off = 0, recs = 0;
    const uint8_t *p = out_bytes(&o, &len);
    while (off < len) {
        struct chan_frame f;
        ssize_t k = chan_frame_next(&f, p + off, len - off);
        assert_true(k > 0);
        assert_int_equal(f.type, CHAN_REPLY);
        struct chan_iter it;
        const uint8_t *rec;
        size_t rl;
        chan_iter_init(&it, &f);
        while (chan_reply_next(&it, &rec, &rl) > 0)
            recs++;
        off += (size_t)k;
    }
    assert_int_equal(recs, 1060);
    chan_out_free(&o);
}

static void test_err_str(void **state)
{
    (void)state;
    for (int e = CHAN_E_TYPE; e <= CHAN_E_RECORD; e++)
        assert_non_null(chan_err_str(e));
    assert_string_equal(chan_err_str(CHAN_E_VERSION), "unsupported protocol version");
    assert_non_null(chan_err_str(999));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_v4_v6_roundtrip),
        cmocka_unit_test(test_route_bad),
        cmocka_unit_test(test_reply_iteration),
        cmocka_unit_test(test_reply_bad_records),
        cmocka_unit_test(test_heartbeat_bye_auth_roundtrip),
        cmocka_unit_test(test_truncation_every_length),
        cmocka_unit_test(test_bounds_per_type),
        cmocka_unit_test(test_batching_2000_routes),
        cmocka_unit_test(test_seal_starts_new_frame),
        cmocka_unit_test(test_enobufs_consistent),
        cmocka_unit_test(test_open_frame_survives_compaction),
        cmocka_unit_test(test_err_str),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
