/*
 * fuzz_chan: the channel decoder (src/chan.c) fed hostile byte streams.
 *
 * The input is read as what a peer sent, in either direction: every frame is
 * decoded as far as its type allows (HELLO fields, each route record, each
 * REPLY record). The first byte chooses a split point, and the stream is also
 * delivered in two reads through a bounded struct buf, as a socket would, so
 * partial frames and reassembly are exercised. Both deliveries must see the
 * same frames. Decoded routes and replies are re-encoded with chan_out and must
 * decode to the same values (the encoder and decoder agree on every input).
 * HELLOs are also judged as both programs judge them (src/hello.c), and BYE
 * texts must come out printable. A REPLY record that parses as a TCP segment is
 * also re-encoded with its payload (src/intercept/payload.c) in pieces of a size
 * the record chooses: the pieces must parse whole and carry the payload back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chan.h"
#include "chanlag.h"
#include "hello.h"
#include "intercept/payload.h"
#include "pkt.h"

#define STREAM_MAX (256 * 1024)

/* A digest of what was decoded, to compare the two deliveries. */
struct seen {
    uint64_t frames, records, sum;
    int err; /* last error, 0 if the stream ended cleanly (maybe mid-frame) */
};

static void mix(struct seen *s, uint64_t v)
{
    s->sum = (s->sum ^ v) * 0x100000001b3ULL;
}

static void check_route_roundtrip(const struct chan_route *r)
{
    struct chan_out o;
    struct chan_frame f;
    struct chan_route g;

    chan_out_init(&o, 256);
    if (chan_put_route(&o, CHAN_ROUTE_ADD, r) != 0)
        abort();
    if (chan_frame_next(&f, buf_head(&o.buf), buf_len(&o.buf)) != (ssize_t)buf_len(&o.buf) ||
        chan_route_count(&f) != 1 || chan_route_get(&g, &f, 0) != 0)
        abort();
    if (g.cport != r->cport || g.tport != r->tport || !addr_eq(&g.client, &r->client) ||
        !addr_eq(&g.target, &r->target) || g.flags != r->flags)
        abort();
    chan_out_free(&o);
}

static void check_reply_roundtrip(const uint8_t *rec, size_t len)
{
    struct chan_out o;
    struct chan_frame f;
    struct chan_iter it;
    const uint8_t *got;
    size_t glen;

    chan_out_init(&o, 70000);
    if (chan_put_reply(&o, rec, len) != 0)
        abort();
    if (chan_frame_next(&f, buf_head(&o.buf), buf_len(&o.buf)) != (ssize_t)buf_len(&o.buf))
        abort();
    chan_iter_init(&it, &f);
    if (chan_reply_next(&it, &got, &glen) != 1 || glen != len || memcmp(got, rec, len) != 0)
        abort();
    if (chan_reply_next(&it, &got, &glen) != 0)
        abort();
    chan_out_free(&o);
}

/* A record that is a TCP segment, split by payload_put and put back together. */
static void check_payload_split(const uint8_t *rec, size_t len)
{
    struct pkt p;
    if (pkt_parse_ip(&p, rec, len, PKT_PARSE_HDRONLY) != PKT_OK)
        return;
    size_t hlen = (size_t)p.ip_hlen + p.tcp_hlen;
    if (hlen > PKT_HDR_MAX)
        return;
    static struct chan_out o;
    static uint8_t back[70000];
    struct payload_stats st = {0};
    size_t max_rec = hlen + 1 + rec[len - 1] * 16u; /* pieces of 1 to 4081 bytes */
    chan_out_init(&o, 1 << 20);
    int n = payload_put(&o, &p, rec, hlen, max_rec, &st);
    if (n < 1)
        abort(); /* the room is ample: only a bad argument could refuse it */
    chan_out_seal(&o);
    size_t used = 0, total = 0, got = 0;
    struct chan_frame f;
    ssize_t k;
    while ((k = chan_frame_next(&f, buf_head(&o.buf) + used, buf_len(&o.buf) - used)) > 0) {
        struct chan_iter it;
        const uint8_t *r;
        size_t rl;
        chan_iter_init(&it, &f);
        while (chan_reply_next(&it, &r, &rl) > 0) {
            struct pkt q;
            got++;
            if (pkt_parse_ip(&q, r, rl, PKT_PARSE_HDRONLY) != PKT_OK || rl > max_rec)
                abort();
            if (st.records > 0) {
                if (q.cap_len != q.ip_len || q.seq != p.seq + (uint32_t)total ||
                    total + q.data_len > sizeof(back))
                    abort();
                memcpy(back + total, q.data, q.data_len);
                total += q.data_len;
            }
        }
        used += (size_t)k;
    }
    if (k < 0 || got != (size_t)n || (st.records > 0 && (total != p.data_len ||
                                                          memcmp(back, p.data, total) != 0)))
        abort();
    chan_out_free(&o);
}

/* The handshake's judgement of a HELLO agrees with its decoding, for either
 * side, with a secret or without. */
static void check_judgement(const struct chan_frame *f, int decoded)
{
    for (int role = CHAN_ROLE_TCPCOPY; role <= CHAN_ROLE_INTERCEPT; role++) {
        for (int secret = 0; secret < 2; secret++) {
            struct hello h;
            enum hello_verdict v = hello_judge(&h, f, (uint8_t)role, secret);
            if ((v == HELLO_E_VERSION) != (decoded == -CHAN_E_VERSION) ||
                (v == HELLO_E_MAGIC) != (decoded == -CHAN_E_MAGIC))
                abort();
            if (v == HELLO_OK && (decoded != 0 || h.role != role ||
                                  ((h.features & CHAN_FEAT_AUTH) != 0) != secret))
                abort();
            if (hello_verdict_str(v) == NULL)
                abort();
        }
    }
}

static int decode_frame(struct seen *s, const struct chan_frame *f, int roundtrip)
{
    mix(s, (uint64_t)f->type << 16 | f->len);
    switch (f->type) {
    case CHAN_HELLO: {
        struct hello h;
        int r = hello_decode(&h, f);
        if (r == 0 || r == -CHAN_E_VERSION)
            mix(s, (uint64_t)h.version << 40 | (uint64_t)h.role << 32 | h.features);
        check_judgement(f, r);
        return r == -CHAN_E_VERSION ? 0 : r;
    }
    case CHAN_ROUTE_ADD:
    case CHAN_ROUTE_DEL: {
        size_t n = chan_route_count(f);
        if (n == 0 || n * CHAN_ROUTE_LEN != f->len)
            abort(); /* chan_frame_next promised a nonzero multiple of 40 */
        for (size_t i = 0; i < n; i++) {
            struct chan_route r;
            int e = chan_route_get(&r, f, i);
            if (e < 0)
                return e;
            s->records++;
            mix(s, (uint64_t)r.cport << 16 | r.tport);
            if (roundtrip)
                check_route_roundtrip(&r);
        }
        if (chan_route_get(&(struct chan_route){0}, f, n) != -CHAN_E_SIZE)
            abort();
        return 0;
    }
    case CHAN_REPLY: {
        struct chan_iter it;
        const uint8_t *rec;
        size_t len;
        int e;
        chan_iter_init(&it, f);
        while ((e = chan_reply_next(&it, &rec, &len)) > 0) {
            if (len == 0 || rec < f->body || rec + len > f->body + f->len)
                abort();
            s->records++;
            mix(s, len);
            if (roundtrip) {
                check_reply_roundtrip(rec, len);
                check_payload_split(rec, len);
            }
        }
        return e;
    }
    case CHAN_AUTH: {
        uint8_t mac[CHAN_MAC_LEN], again[CHAN_MAC_LEN];
        if (hello_auth_decode(mac, f) != 0)
            abort(); /* chan_frame_next promised at least CHAN_MAC_LEN bytes */
        mix(s, (uint64_t)mac[0] << 8 | mac[CHAN_MAC_LEN - 1]);
        if (roundtrip) {
            struct chan_out o;
            struct chan_frame g;
            chan_out_init(&o, 256);
            if (hello_auth_put(&o, mac) != 0 ||
                chan_frame_next(&g, buf_head(&o.buf), buf_len(&o.buf)) !=
                    (ssize_t)buf_len(&o.buf) ||
                hello_auth_decode(again, &g) != 0 || memcmp(mac, again, CHAN_MAC_LEN) != 0)
                abort();
            chan_out_free(&o);
        }
        return 0;
    }
    case CHAN_BYE: {
        struct hello_bye b;
        if (hello_bye_decode(&b, f) != 0)
            abort(); /* chan_frame_next promised at least the code */
        size_t n = strlen(b.text);
        if (b.code != (f->body[0] << 8 | f->body[1]) || n >= sizeof(b.text) ||
            n != (f->len - 2u < sizeof(b.text) - 1 ? f->len - 2u : sizeof(b.text) - 1))
            abort();
        for (size_t i = 0; i < n; i++)
            if (b.text[i] < 0x20 || b.text[i] > 0x7e)
                abort(); /* the peer's text must not reach our log raw */
        mix(s, b.code);
        return 0;
    }
    case CHAN_HEARTBEAT: {
        struct chan_hb h;
        int r = chan_heartbeat_decode(&h, f);
        if (r != 0 && (r != -CHAN_E_SIZE || f->len == 0 || f->len >= CHAN_HB_CLOCK_LEN))
            abort();
        if (r == 0) {
            struct chanlag l = {0};
            uint64_t lag;
            chanlag_on_heartbeat(&l, &h, h.sent_us ^ h.held_us);
            (void)chanlag_on_stamp(&l, h.echo_us, h.sent_us, &lag);
            mix(s, h.sent_us ^ h.echo_us ^ h.held_us);
        }
        return 0;
    }
    case CHAN_STAMP: {
        uint64_t ts;
        if (chan_stamp_decode(&ts, f) != 0)
            abort(); /* chan_frame_next admits only 8-byte STAMPs */
        mix(s, ts);
        return 0;
    }
    default:
        abort(); /* chan_frame_next admits only known types */
    }
}

/* Decode all whole frames in p; returns bytes used, sets s->err on a bad stream. */
static size_t decode_stream(struct seen *s, const uint8_t *p, size_t len, int roundtrip)
{
    size_t used = 0;
    while (s->err == 0) {
        struct chan_frame f;
        ssize_t n = chan_frame_next(&f, p + used, len - used);
        if (n == 0)
            break;
        if (n < 0) {
            s->err = (int)n;
            break;
        }
        if ((size_t)n > len - used || f.body != p + used + CHAN_HDR_LEN ||
            (size_t)n != CHAN_HDR_LEN + (size_t)f.len)
            abort();
        s->frames++;
        int e = decode_frame(s, &f, roundtrip);
        if (e < 0)
            s->err = e;
        used += (size_t)n;
    }
    return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > STREAM_MAX)
        return 0;
    size_t cut = data[0] % size; /* split point, 0..size-1 */
    const uint8_t *p = data + 1;
    size_t len = size - 1;
    if (cut > len)
        cut = len;

    /* Whole stream at once, from an exact-size copy so ASan sees any overread. */
    struct seen whole = {0};
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return 0;
    memcpy(copy, p, len);
    decode_stream(&whole, copy, len, 1);
    free(copy);

    /* The same stream in two reads through a buffer, consuming as frames complete. */
    struct seen split = {0};
    struct buf b;
    buf_init(&b, STREAM_MAX);
    const uint8_t *parts[2] = {p, p + cut};
    size_t plen[2] = {cut, len - cut};
    for (int i = 0; i < 2 && split.err == 0; i++) {
        if (plen[i] > 0) {
            uint8_t *dst = buf_reserve(&b, plen[i]);
            if (dst == NULL)
                abort();
            memcpy(dst, parts[i], plen[i]);
            buf_commit(&b, plen[i]);
        }
        if (buf_len(&b) > 0) {
            size_t used = decode_stream(&split, buf_head(&b), buf_len(&b), 0);
            buf_consume(&b, used);
        }
    }
    buf_free(&b);

    if (whole.frames != split.frames || whole.records != split.records || whole.sum != split.sum ||
        whole.err != split.err)
        abort();
    return 0;
}
