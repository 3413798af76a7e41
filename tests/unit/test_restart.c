/*
 * test_restart: sessions that do not start cleanly, driven directly. A session seen
 * mid-stream starts only at a request boundary (an acknowledgement number that grew), with
 * its own handshake; FIN or RST before that ends it as not started. A target that closes
 * while bytes wait gets a new connection from the request boundary (the sequence state
 * reset, the RTT kept), and a target that stops mid-request costs that request only; after
 * REBUILDS_MAX the session must end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eng_fx.h"

static struct pkt seg(uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    assert_true(addr_parse(&p.t.src, "198.51.100.10"));
    assert_true(addr_parse(&p.t.dst, "192.0.2.10"));
    p.t.sport = 40000;
    p.t.dport = 80;
    p.flags = flags;
    p.seq = seq;
    p.ack = ack;
    p.win = 1000;
    if (data != NULL) {
        p.data = (const uint8_t *)data;
        p.data_len = (uint32_t)strlen(data);
    }
    return p;
}

static struct sess *probe(struct efx *f, uint32_t ack_base)
{
    struct pkt p = seg(TCPF_ACK, 5000, ack_base, NULL);
    struct sess *s = admit_alloc(f->e, &p, &f->xfer.rules[0], 0);
    assert_non_null(s);
    s->state = SS_PROBE;
    s->ack_base = ack_base;
    return s;
}

static void test_probe_waits_for_boundary(void **state)
{
    (void)state;
    struct efx *f = efx_new();
    struct sess *s = probe(f, 700);
    struct pkt tail = seg(TCPF_ACK, 5000, 700, "rest of a request");
    assert_int_equal(restart_probe(f->e, s, &tail), SO_NONE);
    assert_int_equal(s->state, SS_PROBE);
    assert_int_equal(f->n, 0);
    assert_int_equal(f->e->st.probe_skipped_bytes, 17);
    /* The client received an answer, then spoke: a request starts here. */
    struct pkt req = seg(TCPF_ACK, 5017, 900, "GET / HTTP/1.1\r\n");
    assert_int_equal(restart_probe(f->e, s, &req), SO_NONE);
    assert_int_equal(s->state, SS_SYN_SENT);
    assert_int_equal(f->n, 1);
    assert_int_equal(f->p[0].flags, TCPF_SYN);
    assert_int_equal(f->p[0].seq, 5016); /* ISN = boundary - 1 */
    assert_true(f->p[0].opts.has_mss && f->p[0].opts.mss == f->conf.syn_mss);
    assert_true(s->flags & SF_FAKED);
    assert_int_equal(f->e->st.sess_midstream, 1);
    efx_free(f);
}

static void test_probe_ends_on_close(void **state)
{
    (void)state;
    struct efx *f = efx_new();
    struct sess *s = probe(f, 700);
    struct pkt fin = seg(TCPF_ACK | TCPF_FIN, 5000, 700, NULL);
    assert_int_equal(restart_probe(f->e, s, &fin), SO_NOT_STARTED);
    struct pkt rst = seg(TCPF_RST, 5000, 0, NULL);
    assert_int_equal(restart_probe(f->e, s, &rst), SO_NOT_STARTED);
    struct pkt bare = seg(TCPF_ACK, 5000, 800, NULL); /* no data: no boundary */
    assert_int_equal(restart_probe(f->e, s, &bare), SO_NONE);
    assert_int_equal(s->state, SS_PROBE);
    assert_int_equal(f->e->st.probe_skipped_packets, 1);
    efx_free(f);
}

/* An established session with bytes from isn + 1 queued and a request boundary at mark. */
static struct sess *established(struct efx *f, uint32_t isn, const char *bytes, uint32_t mark)
{
    struct pkt p = seg(TCPF_SYN, isn, 0, NULL);
    struct sess *s = admit_alloc(f->e, &p, &f->xfer.rules[0], 0);
    assert_non_null(s);
    admit_start(f->e, s, isn);
    assert_true(stream_put(&s->st, &f->e->pool, isn + 1, (const uint8_t *)bytes,
                           (uint32_t)strlen(bytes), 1U << 20) > 0);
    if (mark)
        assert_true(gate_push(s, mark, 100, true));
    struct pkt sa = seg(TCPF_SYN | TCPF_ACK, 90000, isn + 1, NULL);
    sa.opts.has_mss = true;
    sa.opts.mss = 1460;
    conn_establish(f->e, s, &sa);
    s->tc.srtt_us = 4321;
    return s;
}

static void test_rebuild_from_boundary(void **state)
{
    (void)state;
    struct efx *f = efx_new();
    /* Nothing acknowledged yet: the stream's first byte is a request start. */
    struct sess *s = established(f, 1000, "GET /a\r\n\r\nGET /b\r\n\r\n", 1011);
    size_t before = f->n;
    assert_true(restart_rebuild(f->e, s));
    assert_int_equal(s->state, SS_SYN_SENT);
    assert_int_equal(f->e->st.sess_rebuilt, 1);
    assert_int_equal(f->p[before].flags, TCPF_RST | TCPF_ACK); /* the old connection first */
    assert_int_equal(f->p[before + 1].flags, TCPF_SYN);
    assert_int_equal(f->p[before + 1].seq, 1000);
    assert_int_equal(s->tc.snd_una, 1000);
    assert_int_equal(s->tc.rcv_nxt, 0);
    assert_int_equal(s->tc.srtt_us, 4321); /* what was learnt of the path stays */
    efx_free(f);
}

static void test_rebuild_mid_request(void **state)
{
    (void)state;
    struct efx *f = efx_new();
    struct sess *s = established(f, 1000, "GET /a\r\n\r\nGET /b\r\n\r\n", 1011);
    s->rebuilds = 1; /* not the stream's first byte any more */
    s->tc.snd_una = 1005; /* the target took part of the first request */
    assert_true(restart_rebuild(f->e, s));
    assert_int_equal(f->e->st.partial_requests_lost, 1);
    assert_int_equal(f->e->st.gap_bytes_lost, 1011 - 1005);
    assert_int_equal(s->c_isn, 1010); /* from the next request */
    s->rebuilds = REBUILDS_MAX;
    assert_false(restart_rebuild(f->e, s));
    efx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_waits_for_boundary),
        cmocka_unit_test(test_probe_ends_on_close),
        cmocka_unit_test(test_rebuild_from_boundary),
        cmocka_unit_test(test_rebuild_mid_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
