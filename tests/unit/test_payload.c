/*
 * test_payload: reply records with payload (src/intercept/payload.c) and their
 * decoding (src/chan.c): a segment that fits goes as one record holding the whole
 * packet; a 60 KB IPv4 and an IPv6 segment (what GRO hands the capture) split into
 * records that are each a valid segment (IP length, IPv4 header checksum, sequence
 * numbers end to end, FIN and PSH only on the last) and whose payloads put together
 * are the original; a payload cut by the snaplen goes as headers only (counted); a
 * full output queues nothing of the segment (counted); route flags round-trip.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chan.h"
#include "intercept/payload.h"
#include "pkt.h"

/* Build a TCP segment of plen payload bytes (pattern i * 7) into buf; returns its length. */
static size_t build(uint8_t *buf, size_t cap, int af, uint32_t seq, uint8_t flags, size_t plen)
{
    static uint8_t data[70000];
    for (size_t i = 0; i < plen; i++)
        data[i] = (uint8_t)(i * 7);
    struct pkt_spec s = {0};
    if (af == AF_INET) {
        assert_true(addr_parse(&s.t.src, "192.0.2.10"));
        assert_true(addr_parse(&s.t.dst, "198.51.100.7"));
    } else {
        assert_true(addr_parse(&s.t.src, "2001:db8::10"));
        assert_true(addr_parse(&s.t.dst, "2001:db8::7"));
    }
    s.t.sport = 8080;
    s.t.dport = 40000;
    s.seq = seq;
    s.ack = 1000;
    s.win = 512;
    s.flags = flags;
    s.opt_ts = true;
    s.opts.has_ts = true;
    s.opts.tsval = 5;
    s.data = data;
    s.data_len = (uint32_t)plen;
    size_t n = pkt_build(buf, cap, &s);
    assert_true(n > 0);
    return n;
}

/* Parse a segment of len bytes that the IP header may say is longer (cut). */
static void parse(struct pkt *p, const uint8_t *b, size_t len)
{
    assert_int_equal(pkt_parse_ip(p, b, len, PKT_PARSE_HDRONLY), PKT_OK);
}

/* Walk every REPLY record in o: check each, and rebuild the payload into out. */
static size_t walk(struct chan_out *o, int af, uint32_t seq0, uint8_t flags0, uint8_t *out,
                   size_t *nrec)
{
    size_t used = 0, total = 0;
    *nrec = 0;
    chan_out_seal(o);
    const uint8_t *b = buf_head(&o->buf);
    size_t len = buf_len(&o->buf), n_all = 0;
    struct chan_frame f;
    struct chan_iter it;
    const uint8_t *rec;
    size_t rlen;
    ssize_t n;
    for (size_t u = 0; (n = chan_frame_next(&f, b + u, len - u)) > 0; u += (size_t)n)
        for (chan_iter_init(&it, &f); chan_reply_next(&it, &rec, &rlen) > 0;)
            n_all++;
    while ((n = chan_frame_next(&f, b + used, len - used)) > 0) {
        assert_int_equal(f.type, CHAN_REPLY);
        chan_iter_init(&it, &f);
        while (chan_reply_next(&it, &rec, &rlen) > 0) {
            struct pkt p;
            (*nrec)++;
            assert_int_equal(pkt_parse_ip(&p, rec, rlen, 0), PKT_OK); /* whole */
            assert_int_equal(p.af, af);
            assert_int_equal(p.ip_len, rlen);
            assert_int_equal(p.seq, seq0 + (uint32_t)total);
            bool last = *nrec == n_all;
            uint8_t want = last ? flags0 : (uint8_t)(flags0 & ~(TCPF_FIN | TCPF_PSH));
            assert_int_equal(p.flags, want);
            if (af == AF_INET)
                assert_int_equal(csum_fold(csum_add(0, rec, p.ip_hlen)), 0);
            memcpy(out + total, p.data, p.data_len);
            total += p.data_len;
        }
        used += (size_t)n;
    }
    assert_int_equal(used, len);
    return total;
}

static void split_case(int af, size_t plen, size_t max_rec, size_t want_recs)
{
    static uint8_t seg[70000], got[70000];
    size_t n = build(seg, sizeof(seg), af, 4000000000U, TCPF_ACK | TCPF_PSH | TCPF_FIN, plen);
    struct pkt p;
    parse(&p, seg, n);
    struct chan_out o;
    struct payload_stats st = {0};
    chan_out_init(&o, 1 << 20);
    size_t hlen = (size_t)p.ip_hlen + p.tcp_hlen;
    assert_int_equal(payload_put(&o, &p, seg, hlen, max_rec, &st), (int)want_recs);
    size_t nrec;
    /* The sequence number wraps past 2^32 on the way: the arithmetic is modular. */
    assert_int_equal(walk(&o, af, p.seq, p.flags, got, &nrec), plen);
    assert_int_equal(nrec, want_recs);
    assert_memory_equal(got, p.data, plen);
    assert_int_equal(st.records, want_recs);
    assert_int_equal(st.bytes, plen);
    assert_int_equal(st.split, want_recs > 1 ? 1 : 0);
    chan_out_free(&o);
}

static void test_one_record(void **state)
{
    (void)state;
    split_case(AF_INET, 1400, CHAN_REPLY_REC_MAX, 1);
    split_case(AF_INET6, 1400, CHAN_REPLY_REC_MAX, 1);
    /* Longer than a header record: the decoder takes it as it is. */
    split_case(AF_INET, CHAN_REPLY_HDR_MAX * 10, CHAN_REPLY_REC_MAX, 1);
}

static void test_split_gro(void **state)
{
    (void)state;
    /* IPv4: a 65533-byte packet fills one record exactly; at its largest (65535) it
     * needs two. 52 bytes of headers (TCP with timestamps). */
    split_case(AF_INET, 65533 - 52, CHAN_REPLY_REC_MAX, 1);
    split_case(AF_INET, 65535 - 52, CHAN_REPLY_REC_MAX, 2);
    /* IPv6 GRO: 65535 bytes of TCP (header + payload) after the 40 of IPv6 do not fit. */
    split_case(AF_INET6, 65535 - 32, CHAN_REPLY_REC_MAX, 2);
    /* Smaller pieces: 60000 bytes in 1448-byte records. */
    split_case(AF_INET, 60000, 1448 + 52, (60000 + 1447) / 1448);
    split_case(AF_INET6, 60000, 1448 + 72, (60000 + 1447) / 1448);
}

static void test_truncated_and_full(void **state)
{
    (void)state;
    static uint8_t seg[70000];
    size_t n = build(seg, sizeof(seg), AF_INET, 1, TCPF_ACK, 3000);
    struct pkt p;
    parse(&p, seg, 256); /* snaplen 256 */
    struct chan_out o;
    struct payload_stats st = {0};
    size_t hlen = (size_t)p.ip_hlen + p.tcp_hlen;
    chan_out_init(&o, 1 << 20);
    assert_int_equal(payload_put(&o, &p, seg, hlen, CHAN_REPLY_REC_MAX, &st), 1);
    assert_int_equal(st.truncated, 1);
    assert_int_equal(st.records, 0);
    /* Headers only: 4 frame + 2 length + hlen. */
    assert_int_equal(buf_len(&o.buf), 4 + 2 + hlen);
    chan_out_free(&o);

    /* A queue with room for half the segment takes none of it. */
    parse(&p, seg, n);
    chan_out_init(&o, 2000);
    assert_int_equal(payload_put(&o, &p, seg, hlen, 1000, &st), -ENOBUFS);
    assert_int_equal(buf_len(&o.buf), 0);
    assert_int_equal(st.refused, 1);
    /* And a record must hold more than the headers. */
    assert_int_equal(payload_put(&o, &p, seg, hlen, hlen, &st), -EINVAL);
    chan_out_free(&o);
}

static void test_route_flags(void **state)
{
    (void)state;
    struct chan_out o;
    struct chan_route r = {0}, got;
    assert_true(addr_parse(&r.client, "198.51.100.7"));
    assert_true(addr_parse(&r.target, "192.0.2.10"));
    r.cport = 40000;
    r.tport = 8080;
    r.flags = CHAN_ROUTE_F_PAYLOAD;
    chan_out_init(&o, 4096);
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    r.flags = 0;
    assert_int_equal(chan_put_route(&o, CHAN_ROUTE_ADD, &r), 0);
    chan_out_seal(&o);
    struct chan_frame f;
    assert_true(chan_frame_next(&f, buf_head(&o.buf), buf_len(&o.buf)) > 0);
    assert_int_equal(f.body[1], CHAN_ROUTE_F_PAYLOAD); /* byte 1 of the record */
    assert_int_equal(chan_route_get(&got, &f, 0), 0);
    assert_int_equal(got.flags, CHAN_ROUTE_F_PAYLOAD);
    assert_int_equal(chan_route_get(&got, &f, 1), 0);
    assert_int_equal(got.flags, 0);
    chan_out_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_record),
        cmocka_unit_test(test_split_gro),
        cmocka_unit_test(test_truncated_and_full),
        cmocka_unit_test(test_route_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
