/*
 * test_cmp_sess: the comparison wired into the engine. Whole sessions go through
 * eng_on_capture (client packets and the online server's segments, as the capture on the
 * online host sees them) and eng_on_reply (the target's packets with their payload, as
 * intercept forwards them): equal answers, a difference with its kind and request index,
 * a capture gap counted as not compared, pipelined requests, a server-first greeting, a
 * rebuilt target connection, a target without payload, the cap on compared sessions, and
 * an engine without --compare that keeps no comparison state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eng_fx.h"

#define C_ISN 1000u
#define O_ISN 7000u
#define T_ISN 50000u

struct got {
    size_t n;
    struct cmp_result r[16];
};

struct tfx {
    struct efx *f;
    struct cmp_ctx *x;
    struct got got;
    uint64_t now;
    uint32_t c_seq, o_seq, t_seq;
    struct tuple tkey; /* the engine's tuple toward the target */
    uint16_t cport;
};

static void sink(void *arg, const struct cmp_result *r, const struct tuple *ckey)
{
    struct got *g = arg;
    assert_int_equal(ckey->dport, 80);
    if (g->n < 16)
        g->r[g->n] = *r;
    g->n++;
}

/* An engine with --compare as cc says (its results go to t->got). */
static struct tfx *tfx_with(struct cmp_conf cc)
{
    struct tfx *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    cc.sink = sink;
    cc.sink_arg = &t->got;
    t->x = cmp_ctx_new(&cc);
    assert_non_null(t->x);
    t->f = efx_alloc();
    t->f->conf.cmp = t->x;
    efx_start(t->f);
    t->now = 2000000;
    t->cport = 5000;
    return t;
}

static struct tfx *tfx_new(enum cmp_proto proto, uint32_t max_sessions)
{
    return tfx_with((struct cmp_conf){.proto = proto, .max_sessions = max_sessions});
}

static void tfx_free(struct tfx *t)
{
    efx_free(t->f);
    cmp_ctx_free(t->x);
    free(t);
}

static void fill(struct pkt *p, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
    p->flags = flags;
    p->seq = seq;
    p->ack = ack;
    p->ip_hlen = 20;
    p->tcp_hlen = 20;
    p->data = (const uint8_t *)data;
    p->data_len = data ? (uint32_t)strlen(data) : 0;
    p->cap_len = 40 + p->data_len;
    p->af = AF_INET;
}

/* A client packet (acknowledging every online byte so far). */
static void cli(struct tfx *t, uint8_t flags, const char *data)
{
    struct pkt p = efx_client("198.51.100.1", t->cport);
    fill(&p, flags, t->c_seq, t->o_seq, data);
    t->now += 1000;
    eng_on_capture(t->f->e, &p, t->now);
    eng_flush(t->f->e, t->now);
    t->c_seq += p.data_len + ((flags & (TCPF_SYN | TCPF_FIN)) ? 1 : 0);
}

/* The online server's segment, at seq offset skip from where the stream is. */
static void onl_at(struct tfx *t, uint8_t flags, const char *data, uint32_t skip)
{
    struct pkt p = efx_client("198.51.100.1", t->cport);
    tuple_reverse(&p.t, &p.t);
    fill(&p, flags, t->o_seq + skip, t->c_seq, data);
    t->now += 1000;
    eng_on_capture(t->f->e, &p, t->now);
    t->o_seq += skip + p.data_len + ((flags & (TCPF_SYN | TCPF_FIN)) ? 1 : 0);
}

static void onl(struct tfx *t, uint8_t flags, const char *data)
{
    onl_at(t, flags, data, 0);
}

/* The target's packet, relayed with its payload (whole: false, headers only). */
static void tgt_w(struct tfx *t, uint8_t flags, const char *data, bool whole)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    tuple_reverse(&p.t, &t->tkey);
    struct sess *s = sess_find_t(&t->f->e->tab, &t->tkey);
    uint32_t ack = s == NULL ? 0 : (flags & TCPF_SYN) ? s->c_isn + 1 : s->tc.snd_max;
    fill(&p, flags | TCPF_ACK, t->t_seq, ack, data);
    p.win = 65535;
    if (!whole) {
        p.data = NULL;
        p.cap_len = 40;
    }
    t->now += 1000;
    eng_on_reply(t->f->e, &p, t->now);
    eng_flush(t->f->e, t->now);
    t->t_seq += p.data_len + ((flags & (TCPF_SYN | TCPF_FIN)) ? 1 : 0);
}

static void tgt(struct tfx *t, uint8_t flags, const char *data)
{
    tgt_w(t, flags, data, true);
}

/* The engine's latest SYN toward the target: its tuple, answered with a SYN-ACK. */
static void tgt_accept(struct tfx *t)
{
    size_t i = t->f->n;
    while (i > 0 && t->f->p[i - 1].flags != TCPF_SYN)
        i--;
    assert_true(i > 0);
    t->tkey = t->f->p[i - 1].t;
    t->t_seq = T_ISN;
    tgt(t, TCPF_SYN, NULL);
}

/* Client SYN, the online server's SYN-ACK, the client's ACK. */
static void open_handshake(struct tfx *t)
{
    t->c_seq = C_ISN;
    t->o_seq = 0;
    cli(t, TCPF_SYN, NULL);
    t->o_seq = O_ISN;
    onl(t, TCPF_SYN | TCPF_ACK, NULL);
    cli(t, TCPF_ACK, NULL);
}

/* The handshake, then the target's SYN-ACK. */
static void open_session(struct tfx *t)
{
    open_handshake(t);
    tgt_accept(t);
}

static void close_session(struct tfx *t)
{
    cli(t, TCPF_FIN | TCPF_ACK, NULL);
    onl(t, TCPF_FIN | TCPF_ACK, NULL);
    tgt(t, TCPF_FIN, NULL);
}

#define REQ(path) "GET " path " HTTP/1.1\r\nHost: x\r\n\r\n"
#define ANS(body) "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" body

static const struct cmp_result *result(struct tfx *t, uint64_t index)
{
    for (size_t i = 0; i < t->got.n && i < 16; i++)
        if (t->got.r[i].index == index)
            return &t->got.r[i];
    fail_msg("no result for request %u", (unsigned)index);
    return NULL;
}

static void test_equal_and_different(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_AUTO, 10);
    open_session(t);
    cli(t, TCPF_ACK, REQ("/a"));
    onl(t, TCPF_ACK, ANS("hello"));
    tgt(t, 0, ANS("hello"));
    cli(t, TCPF_ACK, REQ("/b?x=1"));
    onl(t, TCPF_ACK, ANS("world"));
    tgt(t, 0, ANS("w0rld"));
    close_session(t);
    assert_int_equal(t->got.n, 2);
    assert_int_equal(result(t, 0)->verdict, CMP_EQUAL);
    assert_string_equal(result(t, 0)->req.endpoint, "GET /a");
    const struct cmp_result *r = result(t, 1);
    assert_int_equal(r->verdict, CMP_DIFFERENT);
    assert_int_equal(r->diff.kind, CMP_KIND_BODY);
    assert_int_equal(r->diff.offset, 1);
    assert_string_equal(r->req.endpoint, "GET /b");
    /* latencies in this fake clock: the online answer 1 ms after the request's capture,
     * the target's 2 ms after its send (the channel's lag is 0 here) */
    assert_int_equal(r->online_us, 1000);
    assert_int_equal(r->target_us, 2000);
    const struct cmp_stats *st = &t->x->st;
    assert_int_equal(st->sessions, 1);
    assert_int_equal(st->sessions_active, 0);
    assert_int_equal(st->results[CMP_EQUAL], 1);
    assert_int_equal(st->results[CMP_DIFFERENT], 1);
    assert_int_equal(st->online_bytes, 2 * strlen(ANS("hello")));
    assert_int_equal(t->f->e->st.cap_ignored, 0); /* the online segments were taken */
    tfx_free(t);
}

static void test_gap_not_compared(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_HTTP, 10);
    open_session(t);
    cli(t, TCPF_ACK, REQ("/a"));
    /* the online answer's head was never captured: 10 bytes missing before this */
    onl_at(t, TCPF_ACK, "Content-Length: 5\r\n\r\nhello", 10);
    tgt(t, 0, ANS("hello"));
    close_session(t);
    assert_int_equal(t->got.n, 1);
    assert_int_equal(result(t, 0)->verdict, CMP_NOT_COMPARED);
    assert_int_equal(result(t, 0)->reason, CMP_REASON_ONLINE_INCOMPLETE);
    assert_int_equal(t->x->st.online_gaps, 1);
    assert_int_equal(t->x->st.online_gap_bytes, 10);
    assert_int_equal(t->x->st.results[CMP_DIFFERENT], 0);
    tfx_free(t);
}

static void test_pipelined_and_retransmitted(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_AUTO, 10);
    open_session(t);
    cli(t, TCPF_ACK, REQ("/1") REQ("/2") REQ("/3"));
    /* online: the three answers in two segments, the first one sent twice */
    onl(t, TCPF_ACK, ANS("aaaaa") "HTTP/1.1 200");
    t->o_seq -= (uint32_t)strlen(ANS("aaaaa") "HTTP/1.1 200");
    onl(t, TCPF_ACK, ANS("aaaaa") "HTTP/1.1 200");
    onl(t, TCPF_ACK, " OK\r\nContent-Length: 5\r\n\r\nbbbbb" ANS("ccccc"));
    /* target: split elsewhere, the last answer different */
    tgt(t, 0, ANS("aaaaa") ANS("bbbbb") "HTTP/1.1 2");
    tgt(t, 0, "00 OK\r\nContent-Length: 5\r\n\r\ncccXc");
    close_session(t);
    assert_int_equal(t->got.n, 3);
    assert_int_equal(result(t, 0)->verdict, CMP_EQUAL);
    assert_int_equal(result(t, 1)->verdict, CMP_EQUAL);
    assert_string_equal(result(t, 1)->req.endpoint, "GET /2");
    assert_int_equal(result(t, 2)->verdict, CMP_DIFFERENT);
    assert_int_equal(result(t, 2)->diff.offset, 3);
    assert_int_equal(t->x->st.online_gaps, 0);
    tfx_free(t);
}

/* Auto mode, the online answer (over 4 KB) read before its request: framed as HTTP. */
static void test_answer_before_request(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_AUTO, 10);
    static char big[6000], ans[6100];
    memset(big, 'b', sizeof(big) - 1);
    snprintf(ans, sizeof(ans), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s", strlen(big),
             big);
    open_session(t);
    uint32_t o = t->o_seq;
    onl(t, TCPF_ACK, ans);
    uint32_t o2 = t->o_seq;
    t->o_seq = o; /* the request was sent before the answer: it acknowledges none of it */
    cli(t, TCPF_ACK, REQ("/big"));
    t->o_seq = o2;
    tgt(t, 0, ans);
    close_session(t);
    assert_int_equal(t->got.n, 1);
    assert_int_equal(result(t, 0)->verdict, CMP_EQUAL);
    assert_int_equal(result(t, 0)->online_us, -1); /* the answer's first byte came first */
    assert_int_equal(t->x->st.greetings, 0);
    tfx_free(t);
}

/* The target's reply segments out of order (one was lost before intercept and resent): held
 * until the hole fills, then equal. A hole that never fills: target_incomplete, not
 * different. */
static void test_target_reordered(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_HTTP, 10);
    open_session(t);
    const char *a = ANS("hello");
    size_t half = strlen(a) / 2;
    char first[64];
    memcpy(first, a, half);
    first[half] = '\0';
    cli(t, TCPF_ACK, REQ("/a"));
    onl(t, TCPF_ACK, a);
    uint32_t t0 = t->t_seq;
    t->t_seq += (uint32_t)half;
    tgt(t, 0, a + half); /* the second part first */
    uint32_t t1 = t->t_seq;
    t->t_seq = t0;
    tgt(t, 0, first);
    t->t_seq = t1;
    assert_int_equal(t->got.n, 1);
    assert_int_equal(result(t, 0)->verdict, CMP_EQUAL);
    cli(t, TCPF_ACK, REQ("/b"));
    onl(t, TCPF_ACK, a);
    t->t_seq += (uint32_t)half; /* the first part never comes */
    tgt(t, 0, a + half);
    close_session(t);
    assert_int_equal(t->got.n, 2);
    assert_int_equal(result(t, 1)->verdict, CMP_NOT_COMPARED);
    assert_int_equal(result(t, 1)->reason, CMP_REASON_TARGET_INCOMPLETE);
    assert_int_equal(t->x->st.target_gaps, 1);
    assert_int_equal(t->x->st.target_gap_bytes, half);
    tfx_free(t);
}

/* A session first seen mid-stream: compared from its first request boundary, the online
 * answer from the client's acknowledgement number there. */
static void test_midstream(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_AUTO, 10);
    t->c_seq = C_ISN + 1;
    t->o_seq = O_ISN + 1 + 300; /* answers the copy never saw */
    cli(t, TCPF_ACK, REQ("/old"));
    onl(t, TCPF_ACK, ANS("olddd"));
    cli(t, TCPF_ACK, REQ("/a")); /* acknowledges an answer: a request boundary */
    assert_int_equal(t->f->e->st.sess_midstream, 1);
    onl(t, TCPF_ACK, ANS("hello"));
    tgt_accept(t);
    tgt(t, 0, ANS("hellO"));
    close_session(t);
    assert_int_equal(t->got.n, 1);
    assert_string_equal(result(t, 0)->req.endpoint, "GET /a");
    assert_int_equal(result(t, 0)->verdict, CMP_DIFFERENT);
    assert_int_equal(result(t, 0)->diff.offset, 4);
    assert_int_equal(t->x->st.online_gaps, 0);
    tfx_free(t);
}

static void test_greeting(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_RESP, 10);
    open_session(t);
    onl(t, TCPF_ACK, "+hello there\r\n");
    tgt(t, 0, "+hello there\r\n");
    cli(t, TCPF_ACK, "*1\r\n$4\r\nPING\r\n");
    onl(t, TCPF_ACK, "+PONG\r\n");
    tgt(t, 0, "+PONG\r\n");
    cli(t, TCPF_ACK, "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    onl(t, TCPF_ACK, "$1\r\nv\r\n");
    tgt(t, 0, "$1\r\nw\r\n");
    close_session(t);
    assert_int_equal(t->got.n, 3);
    assert_int_equal(t->x->st.greetings, 1);
    assert_string_equal(result(t, 0)->req.endpoint, "(greeting)");
    assert_int_equal(result(t, 0)->verdict, CMP_EQUAL);
    assert_string_equal(result(t, 1)->req.endpoint, "PING");
    assert_int_equal(result(t, 1)->verdict, CMP_EQUAL);
    assert_string_equal(result(t, 2)->req.endpoint, "GET");
    assert_int_equal(result(t, 2)->verdict, CMP_DIFFERENT);
    tfx_free(t);
}

/* The target resets while the second request waits unacknowledged: the session goes on
 * on a new connection, which answers the second request again. */
static void test_rebuilt(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_HTTP, 10);
    open_session(t);
    cli(t, TCPF_ACK, REQ("/1"));
    onl(t, TCPF_ACK, ANS("aaaaa"));
    tgt(t, 0, ANS("aaaaa"));
    cli(t, TCPF_ACK, REQ("/2"));
    onl(t, TCPF_ACK, ANS("bbbbb"));
    struct sess *s = sess_find_t(&t->f->e->tab, &t->tkey);
    assert_non_null(s);
    assert_true(s->tc.snd_max != s->tc.snd_una); /* /2 went, not acknowledged */
    struct pkt rst;
    memset(&rst, 0, sizeof(rst));
    tuple_reverse(&rst.t, &t->tkey);
    fill(&rst, TCPF_RST, t->t_seq, 0, NULL);
    eng_on_reply(t->f->e, &rst, t->now += 1000);
    assert_int_equal(t->f->e->st.sess_rebuilt, 1);
    tgt_accept(t);
    tgt(t, 0, ANS("bbbbb"));
    close_session(t);
    assert_int_equal(t->got.n, 2);
    assert_int_equal(result(t, 0)->verdict, CMP_EQUAL);
    assert_int_equal(result(t, 1)->verdict, CMP_EQUAL);
    assert_int_equal(t->x->st.rebuilds, 1);
    tfx_free(t);
}

static void test_no_payload_and_cap(void **state)
{
    (void)state;
    struct tfx *t = tfx_new(CMP_PROTO_HTTP, 1);
    open_session(t);
    /* a second session while the first is compared: over the cap of one */
    t->cport = 5001;
    uint32_t c = t->c_seq, o = t->o_seq, ts = t->t_seq;
    struct tuple tk = t->tkey;
    cli(t, TCPF_SYN, NULL);
    assert_int_equal(t->x->st.sessions_over_cap, 1);
    t->cport = 5000, t->c_seq = c, t->o_seq = o, t->t_seq = ts, t->tkey = tk;
    cli(t, TCPF_ACK, REQ("/a"));
    onl(t, TCPF_ACK, ANS("hello"));
    tgt_w(t, 0, ANS("hello"), false); /* an intercept that forwards headers only */
    close_session(t);
    assert_int_equal(t->got.n, 1);
    assert_int_equal(result(t, 0)->verdict, CMP_NOT_COMPARED);
    assert_int_equal(result(t, 0)->reason, CMP_REASON_TARGET_INCOMPLETE);
    assert_int_equal(t->x->st.target_no_payload, 1);
    assert_int_equal(t->x->st.sessions, 1);
    tfx_free(t);
}

/* The latest SYN the engine sent toward port: its tuple, answered with a SYN-ACK. */
static void tgt_accept_port(struct tfx *t, uint16_t port)
{
    size_t i = t->f->n;
    while (i > 0 && !(t->f->p[i - 1].flags == TCPF_SYN && t->f->p[i - 1].t.dport == port))
        i--;
    assert_true(i > 0);
    t->tkey = t->f->p[i - 1].t;
    t->t_seq = T_ISN;
    tgt(t, TCPF_SYN, NULL);
}

/* An engine comparing with a baseline (--compare-baseline 192.0.2.20:8081). */
static struct tfx *tfx_base_new(void)
{
    struct cmp_conf cc = {
        .proto = CMP_PROTO_AUTO, .max_sessions = 10, .baseline = true, .base_port = 8081};
    assert_true(addr_parse(&cc.base, "192.0.2.20"));
    return tfx_with(cc);
}

/* --compare-baseline: the baseline's copy still answers after the compared copy ended (a
 * one-request session whose baseline is slower): the result waits for the baseline's
 * answer, and a difference the baseline shows too is noise, not baseline_missing. */
static void test_baseline_after_end(void **state)
{
    (void)state;
    struct tfx *t = tfx_base_new();
    open_handshake(t);
    tgt_accept_port(t, 8081);
    struct tuple bkey = t->tkey;
    uint32_t bseq = t->t_seq;
    tgt_accept_port(t, 8080);
    cli(t, TCPF_ACK, REQ("/a"));
    onl(t, TCPF_ACK, ANS("hello"));
    tgt(t, 0, ANS("hellx"));
    close_session(t); /* the compared copy ends: its result waits for the baseline */
    assert_int_equal(t->got.n, 0);
    assert_int_equal(t->x->st.sessions_active, 1);
    t->tkey = bkey, t->t_seq = bseq;
    tgt(t, 0, ANS("helly"));
    tgt(t, TCPF_FIN, NULL);
    assert_int_equal(t->got.n, 1);
    assert_true(result(t, 0)->noise);
    assert_false(result(t, 0)->baseline_missing);
    assert_int_equal(t->x->st.noise, 1);
    assert_int_equal(t->x->st.sessions_active, 0);
    assert_null(t->x->parked);
    tfx_free(t);
}

/* A parked comparison whose baseline never answers is finished at exit: baseline_missing. */
static void test_baseline_parked_at_exit(void **state)
{
    (void)state;
    struct tfx *t = tfx_base_new();
    open_handshake(t);
    tgt_accept_port(t, 8080);
    cli(t, TCPF_ACK, REQ("/a"));
    onl(t, TCPF_ACK, ANS("hello"));
    tgt(t, 0, ANS("hellx"));
    close_session(t);
    assert_int_equal(t->got.n, 0);
    eng_shutdown(t->f->e, t->now);
    assert_int_equal(t->got.n, 1);
    assert_int_equal(result(t, 0)->verdict, CMP_DIFFERENT);
    assert_true(result(t, 0)->baseline_missing);
    assert_null(t->x->parked);
    tfx_free(t);
}

static void test_off_keeps_nothing(void **state)
{
    (void)state;
    struct efx *f = efx_new(); /* no --compare */
    struct pkt p = efx_client("198.51.100.1", 6000);
    fill(&p, TCPF_SYN, C_ISN, 0, NULL);
    eng_on_capture(f->e, &p, 2000000);
    struct sess *s = sess_find_c(&f->e->tab, &p.t, 0);
    assert_non_null(s);
    assert_null(s->cmp);
    struct pkt o = efx_client("198.51.100.1", 6000);
    tuple_reverse(&o.t, &o.t);
    fill(&o, TCPF_SYN | TCPF_ACK, O_ISN, C_ISN + 1, NULL);
    eng_on_capture(f->e, &o, 2001000);
    assert_int_equal(f->e->st.cap_ignored, 1); /* an online answer is not taken: as before */
    /* the session grows by one pointer at most */
    assert_true(sizeof(struct sess) <= offsetof(struct sess, cmp) + sizeof(void *));
    efx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal_and_different),
        cmocka_unit_test(test_gap_not_compared),
        cmocka_unit_test(test_pipelined_and_retransmitted),
        cmocka_unit_test(test_answer_before_request),
        cmocka_unit_test(test_target_reordered),
        cmocka_unit_test(test_midstream),
        cmocka_unit_test(test_greeting),
        cmocka_unit_test(test_rebuilt),
        cmocka_unit_test(test_no_payload_and_cap),
        cmocka_unit_test(test_baseline_after_end),
        cmocka_unit_test(test_baseline_parked_at_exit),
        cmocka_unit_test(test_off_keeps_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
