/*
 * test_conn: the connection toward the target, driven directly (below the engine's
 * dispatch): reset keeps what was learnt of the path; the SYN carries the client's
 * options and is retried on its schedule; handshake slots queue sessions in order;
 * segments respect the MSS, -M and the window (with a one-byte zero-window probe); an
 * RTT sample sets the RTO within its bounds; three duplicate ACKs resend the first hole;
 * the retransmission timer gives up after its backoffs; after a timeout one segment goes
 * until the next ACK, whose timestamp echo tells a spurious timeout (undone) from a loss.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn.h"
#include "eng_fx.h"

#define ISN 1000u

static struct efx *fx_new(uint32_t max_handshakes, uint32_t mtu)
{
    struct efx *f = efx_alloc();
    f->conf.max_handshakes = max_handshakes;
    f->conf.mtu = mtu;
    efx_start(f);
    return f;
}

/* A session of client port cport, its SYN (with MSS, window scale, SACK) sent. */
static struct sess *open_sess(struct efx *f, uint16_t cport)
{
    struct pkt p = efx_client("198.51.100.10", cport);
    struct sess *s = admit_alloc(f->e, &p, &f->xfer.rules[0], 0);
    assert_non_null(s);
    s->c_mss = 1460;
    s->flags |= SF_C_WS | SF_C_SACK;
    s->c_ws = 7;
    admit_start(f->e, s, ISN);
    return s;
}

static void synack(struct efx *f, struct sess *s, uint16_t mss, uint16_t win)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    p.flags = TCPF_SYN | TCPF_ACK;
    p.seq = 50000;
    p.ack = ISN + 1;
    p.win = win;
    p.opts.has_mss = true;
    p.opts.mss = mss;
    p.opts.sack_ok = true;
    conn_establish(f->e, s, &p);
}

static void queue(struct efx *f, struct sess *s, uint32_t len)
{
    static uint8_t data[65536];
    assert_true(stream_put(&s->st, &f->e->pool, ISN + 1, data, len, 1U << 20) >= 0);
}

static void ack(struct efx *f, struct sess *s, uint32_t a, uint16_t win)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    p.flags = TCPF_ACK;
    p.seq = 50001;
    p.ack = a;
    p.win = win;
    conn_on_ack(f->e, s, &p);
}

static void test_reset_keeps_path(void **state)
{
    (void)state;
    struct conn c;
    memset(&c, 0, sizeof(c));
    c.srtt_us = 12345;
    c.rto_us = 99999;
    c.snd_nxt = 77;
    c.flags = CF_ACK_PENDING | CF_TS | CF_FIN_SENT | CF_HS_SLOT;
    c.syn_tries = 3;
    conn_reset(&c, 500);
    assert_int_equal(c.snd_una, 500);
    assert_int_equal(c.snd_nxt, 500);
    assert_int_equal(c.snd_max, 500);
    assert_int_equal(c.srtt_us, 12345);
    assert_int_equal(c.rto_us, 99999);
    assert_int_equal(c.syn_tries, 0);
    assert_int_equal(c.flags, CF_ACK_PENDING | CF_HS_SLOT);
}

static void test_syn_and_retry(void **state)
{
    (void)state;
    struct efx *f = fx_new(512, 1500);
    struct sess *s = open_sess(f, 40000);
    assert_int_equal(f->n, 1);
    struct pkt *syn = &f->p[0];
    assert_int_equal(syn->flags, TCPF_SYN);
    assert_int_equal(syn->seq, ISN);
    assert_true(syn->opts.has_mss && syn->opts.mss == 1460);
    assert_true(syn->opts.has_ws && syn->opts.wscale == 7);
    assert_true(syn->opts.sack_ok);
    assert_int_equal(s->tc.rto_at_us, f->e->now_us + 250000);
    conn_send_syn(f->e, s);
    assert_int_equal(s->tc.syn_tries, 2);
    assert_int_equal(s->tc.rto_at_us, f->e->now_us + 500000);
    efx_free(f);
}

static void test_handshake_slots(void **state)
{
    (void)state;
    struct efx *f = fx_new(1, 1500);
    struct sess *a = open_sess(f, 40000);
    struct sess *b = open_sess(f, 40001);
    assert_int_equal(f->n, 1); /* b waits for the only slot */
    assert_true(b->tc.flags & CF_HS_WAIT);
    assert_int_equal(f->e->st.syn_waiting, 1);
    synack(f, a, 1460, 65535); /* nothing queued: the slot is released at once */
    assert_false(a->tc.flags & CF_HS_SLOT);
    assert_true(b->tc.flags & CF_HS_SLOT);
    assert_int_equal(f->e->st.syn_waiting, 0);
    assert_int_equal(f->p[1].flags, TCPF_SYN); /* b's SYN, as soon as the slot is free */
    assert_int_equal(f->p[1].t.sport, 40001);
    assert_int_equal(f->p[2].flags, TCPF_ACK); /* a's handshake ACK */
    efx_free(f);
}

static void test_segments_and_window(void **state)
{
    (void)state;
    struct efx *f = fx_new(512, 600); /* -M 600: segments of 560 bytes */
    struct sess *s = open_sess(f, 40000);
    queue(f, s, 3000);
    synack(f, s, 1460, 2000);
    size_t before = f->n;
    assert_false(conn_output(f->e, s));
    /* A window of 2,000 bytes: 560 + 560 + 560 + 320. */
    assert_int_equal(f->n - before, 4);
    assert_int_equal(f->p[before].data_len, 560);
    assert_int_equal(f->p[before + 3].data_len, 320);
    assert_int_equal(s->tc.snd_nxt, ISN + 1 + 2000);
    assert_true(s->tc.rto_at_us > 0);
    /* All acknowledged, window zero: one byte probes it. */
    ack(f, s, ISN + 1 + 2000, 0);
    before = f->n;
    conn_output(f->e, s);
    assert_int_equal(f->n - before, 1);
    assert_int_equal(f->p[before].data_len, 1);
    assert_true(s->tc.srtt_us > 0);
    assert_true(s->tc.rto_us >= 50000);
    efx_free(f);
}

static void test_fast_retransmit(void **state)
{
    (void)state;
    struct efx *f = fx_new(512, 1500);
    struct sess *s = open_sess(f, 40000);
    queue(f, s, 6000);
    synack(f, s, 1000, 65535);
    conn_output(f->e, s);
    assert_int_equal(s->tc.snd_max, ISN + 1 + 6000);
    size_t before = f->n;
    ack(f, s, ISN + 1 + 1000, 65535); /* new data acknowledged */
    assert_int_equal(f->n, before);
    for (int i = 0; i < 3; i++)
        ack(f, s, ISN + 1 + 1000, 65535); /* three duplicates */
    assert_true(s->tc.flags & CF_RECOVERY);
    assert_int_equal(f->n - before, 1);
    assert_int_equal(f->p[before].seq, ISN + 1 + 1000);
    assert_int_equal(f->e->st.fast_rtx, 1);
    efx_free(f);
}

static void test_rto_gives_up(void **state)
{
    (void)state;
    struct efx *f = fx_new(512, 1500);
    struct sess *s = open_sess(f, 40000);
    queue(f, s, 100);
    synack(f, s, 1460, 65535);
    conn_output(f->e, s);
    unsigned n = 0;
    while (conn_on_rto(f->e, s)) {
        assert_int_equal(s->tc.snd_nxt, s->tc.snd_una);
        conn_output(f->e, s);
        n++;
        assert_true(n <= 12);
    }
    assert_int_equal(n, 12);
    assert_int_equal(f->e->st.rto_events, 12);
    efx_free(f);
}

static void ack_ts(struct efx *f, struct sess *s, uint32_t a, uint32_t tsecr)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    p.flags = TCPF_ACK;
    p.seq = 50001;
    p.ack = a;
    p.win = 65535;
    p.opts.has_ts = true;
    p.opts.tsval = 9000;
    p.opts.tsecr = tsecr;
    conn_on_ack(f->e, s, &p);
}

/* 6,000 bytes in flight in 6 segments with timestamps, then a timeout one second later:
 * one segment goes again (the first), nothing else until an ACK. */
static struct sess *rto_after_window(struct efx *f, uint16_t cport)
{
    struct sess *s = open_sess(f, cport);
    s->flags |= SF_C_TS;
    s->c_tsval0 = 100;
    queue(f, s, 6000);
    struct pkt p;
    memset(&p, 0, sizeof(p));
    p.flags = TCPF_SYN | TCPF_ACK;
    p.seq = 50000;
    p.ack = ISN + 1;
    p.win = 65535;
    p.opts.has_mss = true;
    p.opts.mss = 1000;
    p.opts.has_ts = true;
    p.opts.tsval = 8000;
    conn_establish(f->e, s, &p);
    conn_output(f->e, s);
    assert_int_equal(s->tc.snd_max, ISN + 1 + 6000);
    f->e->now_us += 1000000;
    assert_true(conn_on_rto(f->e, s));
    size_t before = f->n;
    conn_output(f->e, s);
    conn_output(f->e, s);
    assert_int_equal(f->n - before, 1);
    assert_int_equal(f->p[before].seq, ISN + 1);
    assert_int_equal(s->tc.snd_nxt, ISN + 1 + 1000);
    return s;
}

static void test_rto_spurious_undone(void **state)
{
    (void)state;
    struct efx *f = fx_new(512, 1500);
    struct sess *s = rto_after_window(f, 40000);
    /* The ACK of the first three original segments (their TSval echoed, older than the
     * retransmission's): the timeout was spurious, the rest is not sent again. */
    uint32_t orig_ts = s->tc.rto_tsval - 1000;
    size_t before = f->n;
    ack_ts(f, s, ISN + 1 + 3000, orig_ts);
    assert_int_equal(f->e->st.rto_spurious, 1);
    assert_false(s->tc.flags & CF_RTO_WAIT);
    assert_int_equal(s->tc.snd_nxt, ISN + 1 + 6000);
    conn_output(f->e, s);
    assert_int_equal(f->n, before);
    efx_free(f);
}

static void test_rto_genuine_goes_back(void **state)
{
    (void)state;
    struct efx *f = fx_new(512, 1500);
    struct sess *s = rto_after_window(f, 40000);
    /* The ACK of the retransmission itself (its TSval echoed): a real loss, so the
     * segments after it go again (RFC 6298 5.4), now the window is open again. */
    size_t before = f->n;
    ack_ts(f, s, ISN + 1 + 1000, s->tc.rto_tsval);
    assert_int_equal(f->e->st.rto_spurious, 0);
    conn_output(f->e, s);
    assert_int_equal(f->n - before, 5);
    assert_int_equal(f->p[before].seq, ISN + 1 + 1000);
    assert_int_equal(s->tc.snd_nxt, ISN + 1 + 6000);
    efx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_keeps_path),
        cmocka_unit_test(test_syn_and_retry),
        cmocka_unit_test(test_handshake_slots),
        cmocka_unit_test(test_segments_and_window),
        cmocka_unit_test(test_fast_retransmit),
        cmocka_unit_test(test_rto_gives_up),
        cmocka_unit_test(test_rto_spurious_undone),
        cmocka_unit_test(test_rto_genuine_goes_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
