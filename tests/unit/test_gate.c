/*
 * test_gate: request boundaries (marks) and the answer wait. Marks come from growing
 * acknowledgement numbers only; pipelined segments share one; the ring grows and wraps;
 * each verdict of gate_open (bytes, quiet, timeout, -W, wait) and when a wait begins.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gate.h"
#include "sess.h"

#define ACK0 5000u
#define SEQ0 100u

static struct sess *mk_sess(void)
{
    struct sess *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    stream_init(&s->st, SEQ0);
    s->ack_base = ACK0;
    s->flags = SF_HAVE_ACKBASE;
    s->tc.t_isn = 9000;
    s->tc.rcv_nxt = 9001; /* no answer yet */
    s->tc.snd_max = SEQ0;
    return s;
}

static struct pkt seg(uint32_t ack)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    p.flags = TCPF_ACK;
    p.ack = ack;
    return p;
}

static void test_marks_from_acks(void **state)
{
    (void)state;
    struct sess *s = mk_sess();
    struct pkt p = seg(ACK0);
    assert_int_equal(gate_note(s, &p, SEQ0), GATE_NOTE_NONE);
    assert_null(gate_peek(s)); /* no answer before: the first request needs no mark */
    p = seg(ACK0 + 300);
    assert_int_equal(gate_note(s, &p, SEQ0 + 50), GATE_NOTE_MARK);
    assert_non_null(gate_peek(s));
    assert_int_equal(gate_peek(s)->seq, SEQ0 + 50);
    assert_int_equal(gate_peek(s)->resp, 300);
    /* A pipelined segment with the same acknowledgement number: the same request group. */
    assert_int_equal(gate_note(s, &p, SEQ0 + 80), GATE_NOTE_NONE);
    assert_int_equal(s->nmarks, 1);
    /* Bytes that already went out get no mark. */
    s->tc.snd_max = SEQ0 + 500;
    p = seg(ACK0 + 600);
    assert_int_equal(gate_note(s, &p, SEQ0 + 100), GATE_NOTE_NONE);
    assert_int_equal(s->nmarks, 1);
    /* Without the client's first acknowledgement nothing is known. */
    s->flags = 0;
    p = seg(ACK0 + 900);
    assert_int_equal(gate_note(s, &p, SEQ0 + 600), GATE_NOTE_NONE);
    assert_int_equal(s->nmarks, 1);
    gate_clear(s);
    assert_null(gate_peek(s));
    assert_null(s->marks);
    free(s);
}

static void test_ring_grows_and_wraps(void **state)
{
    (void)state;
    struct sess *s = mk_sess();
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < 100; i++)
            assert_true(gate_push(s, 1000 * round + i, i, true));
        assert_int_equal(s->nmarks, 100);
        assert_int_equal(gate_last(s)->seq, 1000 * round + 99);
        for (uint32_t i = 0; i < 100; i++) {
            assert_int_equal(gate_peek(s)->seq, 1000 * round + i);
            gate_pop(s);
        }
        assert_null(gate_peek(s));
        assert_null(gate_last(s));
    }
    assert_true(s->marks_cap >= 100 && s->marks_cap <= 256);
    gate_clear(s);
    free(s);
}

static void test_verdicts(void **state)
{
    (void)state;
    struct sess *s = mk_sess();
    struct gate_conf c = {.no_wait = false, .answer_timeout_us = 3000000, .now_us = 1000000};
    struct sess_mark m = {.seq = SEQ0 + 10, .resp = 300, .exact = true};
    bool began;

    assert_int_equal(gate_open(s, &m, &c, &began), GATE_WAIT);
    assert_true(began);
    assert_int_equal(s->gate_since_us, 1000000);
    c.now_us += 10000;
    assert_int_equal(gate_open(s, &m, &c, &began), GATE_WAIT);
    assert_false(began); /* the same wait goes on */

    /* Part of the answer, then quiet for long enough (at least 20 ms). */
    s->tc.rcv_nxt += 100;
    s->last_resp_us = c.now_us;
    assert_int_equal(gate_open(s, &m, &c, &began), GATE_WAIT);
    c.now_us += gate_quiet_us(s);
    assert_int_equal(gate_open(s, &m, &c, &began), GATE_BY_QUIET);

    /* The whole answer. */
    s->tc.rcv_nxt += 200;
    assert_int_equal(gate_open(s, &m, &c, &began), GATE_BY_BYTES);
    gate_push(s, m.seq, m.resp, true);
    gate_pass(s, gate_peek(s));
    assert_int_equal(s->gate_since_us, 0);
    assert_int_equal(s->passed_resp, 300);
    assert_int_equal(s->resp_at_mark, 300);

    /* No answer at all: the timeout. */
    struct sess_mark m2 = {.seq = SEQ0 + 20, .resp = 700, .exact = true};
    assert_int_equal(gate_open(s, &m2, &c, &began), GATE_WAIT);
    c.now_us += c.answer_timeout_us;
    assert_int_equal(gate_open(s, &m2, &c, &began), GATE_BY_TIMEOUT);

    c.no_wait = true;
    assert_int_equal(gate_open(s, &m2, &c, &began), GATE_NO_WAIT);
    gate_clear(s);
    free(s);
}

static void test_quiet_bounds(void **state)
{
    (void)state;
    struct sess *s = mk_sess();
    s->tc.srtt_us = 0;
    assert_int_equal(gate_quiet_us(s), 20000);
    s->tc.srtt_us = 10000;
    assert_int_equal(gate_quiet_us(s), 40000);
    s->tc.srtt_us = 10000000;
    assert_int_equal(gate_quiet_us(s), 500000);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marks_from_acks),
        cmocka_unit_test(test_ring_grows_and_wraps),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_quiet_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
