/*
 * test_tcp: the session engine driven by synthetic packets and a fake clock.
 * Each test plays a client (captured packets) and a target (reply headers as
 * intercept would relay them) and checks what the engine sends toward the target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"
#include "tcp.h"
#include "transfer.h"

#include "tcp_fx.h"

static struct fx *fx_new(bool with_c)
{
    return fx_new_mod(with_c, NULL);
}

/* A reply announcing len payload bytes, with only headers relayed (as intercept does). */
static void reply_len(struct fx *f, uint16_t cport, uint8_t flags, uint32_t seq, uint32_t ack,
                      uint32_t len)
{
    char *d = malloc(len + 1);
    memset(d, 'r', len);
    d[len] = '\0';
    reply(f, cport, flags, seq, ack, d);
    free(d);
}

/* Client SYN -> our SYN; target SYN-ACK -> our ACK. */
static void handshake(struct fx *f, uint16_t cport)
{
    struct pkt *p;
    cap(f, cport, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 1);
    reply(f, cport, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_ACK);
    assert_int_equal(p->ack, T_ISN + 1);
    /* The client's handshake ACK, as captured on the online host. */
    cap(f, cport, TCPF_ACK, C_ISN + 1, S_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 0);
}

static void test_syn_forwarded_with_options(void **state)
{
    struct fx *f = fx_new(true);
    struct pkt *p;
    cap(f, 40000, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_equal(p->seq, C_ISN);
    assert_int_equal(p->t.sport, 40000);
    assert_int_equal(p->t.dport, 8080);
    char b[ADDR_STRLEN];
    assert_string_equal(addr_str(&p->t.src, b, sizeof(b)), "203.0.113.7");
    assert_string_equal(addr_str(&p->t.dst, b, sizeof(b)), "192.0.2.20");
    assert_true(p->opts.has_mss);
    assert_int_equal(p->opts.mss, 1460);
    assert_true(p->opts.has_ws);
    assert_int_equal(p->opts.wscale, 7);
    assert_true(p->opts.sack_ok);
    assert_true(p->opts.has_ts);
    assert_int_equal(f->out->routes_added, 1);
    /* A retransmitted client SYN does not make a second session or a second SYN. */
    cap(f, 40000, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 0);
    assert_int_equal(eng_session_count(f->e), 1);
    fx_free(f);
}

static void test_handshake_and_ack_translation(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40001);
    cap(f, 40001, TCPF_ACK | TCPF_PSH, C_ISN + 1, S_ISN + 1, "GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->seq, C_ISN + 1);          /* the client's own sequence number */
    assert_int_equal(p->ack, T_ISN + 1);          /* the target's, not the online server's */
    assert_int_equal(p->data_len, 18);
    assert_memory_equal(p->data, "GET / HTTP/1.1\r\n\r\n", 18);
    assert_true(p->opts.has_ts);
    assert_int_equal(p->opts.tsecr, 111);         /* echoes the SYN-ACK's TSval */
    fx_free(f);
}

static void test_request_waits_for_answer(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40002);
    const char *r1 = "GET /1 HTTP/1.1\r\n\r\n"; /* 19 bytes */
    const char *r2 = "GET /2 HTTP/1.1\r\n\r\n";
    cap(f, 40002, TCPF_ACK | TCPF_PSH, C_ISN + 1, S_ISN + 1, r1);
    assert_int_equal(fresh(f, &p), 1);
    /* The client got a 500-byte answer online, then sent its second request. */
    cap(f, 40002, TCPF_ACK | TCPF_PSH, C_ISN + 20, S_ISN + 501, r2);
    assert_int_equal(fresh(f, &p), 0);            /* held: the target has not answered */
    /* The target acknowledges the request but answers only part: still held, and the
     * part is acknowledged at once (a target under Nagle holds the rest until then). */
    reply_len(f, 40002, TCPF_ACK, T_ISN + 1, C_ISN + 20, 200);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->data_len, 0);
    assert_int_equal(p->ack, T_ISN + 201);
    advance(f, 5000);
    assert_int_equal(fresh(f, &p), 0); /* nothing more owed */
    assert_int_equal(eng_stats(f->e)->acks_delayed, 0);
    /* The rest of the answer: now the second request goes, acknowledging all of it. */
    reply_len(f, 40002, TCPF_ACK | TCPF_PSH, T_ISN + 201, C_ISN + 20, 300);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->seq, C_ISN + 20);
    assert_int_equal(p->ack, T_ISN + 501);
    assert_int_equal(p->data_len, 19);
    fx_free(f);
}

/* Delayed ACKs: two full segments are acknowledged at once, a resent segment (our ACK
 * was lost) too, and the client's next request carries a delayed one. */
static void test_delayed_ack(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40036);
    cap(f, 40036, TCPF_ACK, C_ISN + 1, S_ISN + 1, "GET");
    assert_int_equal(fresh(f, &p), 1);
    reply_len(f, 40036, TCPF_ACK, T_ISN + 1, C_ISN + 4, 1460);
    assert_int_equal(fresh(f, &p), 0);
    reply_len(f, 40036, TCPF_ACK, T_ISN + 1461, C_ISN + 4, 1460);
    assert_int_equal(fresh(f, &p), 1); /* two segments: no waiting */
    assert_int_equal(p->ack, T_ISN + 2921);
    /* The same segment again: the target missed our ACK. */
    reply_len(f, 40036, TCPF_ACK, T_ISN + 1461, C_ISN + 4, 1460);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->ack, T_ISN + 2921);
    /* A short tail, then the client's next request within the delay: one packet. */
    reply_len(f, 40036, TCPF_ACK | TCPF_PSH, T_ISN + 2921, C_ISN + 4, 80);
    assert_int_equal(fresh(f, &p), 0);
    uint64_t acks = eng_stats(f->e)->sent_acks;
    advance(f, 3000);
    cap(f, 40036, TCPF_ACK, C_ISN + 4, S_ISN + 3001, "PUT");
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->data_len, 3);
    assert_int_equal(p->ack, T_ISN + 3001);
    advance(f, 20000);
    assert_int_equal(fresh(f, &p), 0); /* nothing owed any more */
    assert_int_equal(eng_stats(f->e)->sent_acks, acks);
    assert_int_equal(eng_stats(f->e)->acks_delayed, 0);
    /* An answer and no next request: the ACK goes alone once the delay is over. */
    reply_len(f, 40036, TCPF_ACK | TCPF_PSH, T_ISN + 3001, C_ISN + 7, 90);
    advance(f, 9000);
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 1000);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->data_len, 0);
    assert_int_equal(p->ack, T_ISN + 3091);
    assert_int_equal(eng_stats(f->e)->acks_delayed, 1);
    fx_free(f);
}

/* The first part of an answer came, its ACK delayed; then the client's next request
 * arrives and must wait for the rest: the ACK goes at once, so that a target under
 * Nagle (no TCP_NODELAY, the answer written in pieces) sends the rest. */
static void test_request_waiting_acks_partial_answer(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40037);
    cap(f, 40037, TCPF_ACK | TCPF_PSH, C_ISN + 1, S_ISN + 1, "GET /a");
    assert_int_equal(fresh(f, &p), 1);
    reply_len(f, 40037, TCPF_ACK | TCPF_PSH, T_ISN + 1, C_ISN + 7, 120); /* headers */
    assert_int_equal(fresh(f, &p), 0); /* delayed: nothing waits for the rest yet */
    advance(f, 2000);
    cap(f, 40037, TCPF_ACK | TCPF_PSH, C_ISN + 7, S_ISN + 621, "GET /b"); /* online: 620 */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->data_len, 0); /* not the request: the ACK that frees the rest */
    assert_int_equal(p->ack, T_ISN + 121);
    reply_len(f, 40037, TCPF_ACK | TCPF_PSH, T_ISN + 121, C_ISN + 7, 500); /* body */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->data_len, 6);
    assert_int_equal(p->ack, T_ISN + 621);
    assert_int_equal(eng_stats(f->e)->acks_delayed, 0);
    fx_free(f);
}

static void test_answer_complete_by_quiet_and_timeout(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40003);
    cap(f, 40003, TCPF_ACK, C_ISN + 1, S_ISN + 1, "AAAA");
    cap(f, 40003, TCPF_ACK, C_ISN + 5, S_ISN + 1001, "BBBB");
    assert_int_equal(fresh(f, &p), 1);
    /* The target's answer is shorter than the online one (100 < 1000 bytes). */
    reply_len(f, 40003, TCPF_ACK, T_ISN + 1, C_ISN + 5, 100);
    assert_int_equal(fresh(f, &p), 1); /* a request waits: the ACK goes at once */
    assert_int_equal(p->data_len, 0);
    advance(f, 5000);
    assert_int_equal(fresh(f, &p), 0); /* not quiet long enough yet */
    advance(f, 30000);
    assert_int_equal(fresh(f, &p), 1); /* quiet: the next request goes, carrying the ACK */
    assert_int_equal(p->seq, C_ISN + 5);
    assert_int_equal(p->ack, T_ISN + 101);
    assert_int_equal(eng_stats(f->e)->acks_delayed, 0);
    /* A third request whose answer never comes: sent after the answer timeout (3 s). */
    reply(f, 40003, TCPF_ACK, T_ISN + 101, C_ISN + 9, NULL);
    cap(f, 40003, TCPF_ACK, C_ISN + 9, S_ISN + 2001, "CCCC");
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 2900000);
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 200000);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->seq, C_ISN + 9);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->gate_by_quiet, 1);
    assert_int_equal(st->gate_by_timeout, 1);
    fx_free(f);
}

static void test_no_wait_option(void **state)
{
    struct fx *f = fx_new(false);
    eng_free(f->e);
    f->conf.no_wait = true;
    struct eng_io io = {.arg = f->out, .pkt_buf = io_buf, .pkt_send = io_send, .route = io_route};
    f->e = eng_new(&f->conf, &io, f->now, 42);
    struct pkt *p;
    handshake(f, 40004);
    cap(f, 40004, TCPF_ACK, C_ISN + 1, S_ISN + 1, "AAAA");
    cap(f, 40004, TCPF_ACK, C_ISN + 5, S_ISN + 1001, "BBBB");
    assert_int_equal(fresh(f, &p), 2);
    fx_free(f);
}

static void test_pipelined_requests_go_together(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40005);
    /* Same acknowledgement number: the client did not wait for an answer. */
    cap(f, 40005, TCPF_ACK, C_ISN + 1, S_ISN + 1, "GET /a HTTP/1.1\r\n\r\n");
    cap(f, 40005, TCPF_ACK, C_ISN + 20, S_ISN + 1, "GET /b HTTP/1.1\r\n\r\n");
    assert_int_equal(fresh(f, &p), 2);
    assert_int_equal(p[1].seq, C_ISN + 20);
    fx_free(f);
}

static void test_server_first_greeting_awaited(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40006);
    /* The client spoke only after a 30-byte greeting from the online server. */
    cap(f, 40006, TCPF_ACK, C_ISN + 1, S_ISN + 31, "HELO x\r\n");
    assert_int_equal(fresh(f, &p), 0);
    reply_len(f, 40006, TCPF_ACK | TCPF_PSH, T_ISN + 1, C_ISN + 1, 30);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->data_len, 8);
    assert_int_equal(p->ack, T_ISN + 31);
    fx_free(f);
}

static void test_data_before_synack_is_queued(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40007, TCPF_SYN, C_ISN, 0, NULL);
    cap(f, 40007, TCPF_ACK, C_ISN + 1, S_ISN + 1, NULL);
    cap(f, 40007, TCPF_ACK, C_ISN + 1, S_ISN + 1, "hello");
    assert_int_equal(fresh(f, &p), 1); /* only the SYN */
    reply(f, 40007, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 2); /* handshake ACK, then the data */
    assert_int_equal(p[0].data_len, 0);
    assert_int_equal(p[1].data_len, 5);
    fx_free(f);
}

static void test_segments_cut_to_mss(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40008);
    char *big = malloc(5001);
    for (int i = 0; i < 5000; i++)
        big[i] = (char)('a' + i % 26);
    big[5000] = '\0';
    /* A GRO-merged 5000-byte capture: sent as MSS-sized segments (1460 - 12 of timestamps). */
    struct pkt cp;
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    set_tuple(&sp.t, "198.51.100.10", 40008, "192.0.2.10", 80);
    sp.seq = C_ISN + 1;
    sp.ack = S_ISN + 1;
    sp.flags = TCPF_ACK;
    sp.win = 1000;
    sp.data = (const uint8_t *)big;
    sp.data_len = 5000;
    size_t n = pkt_build(f->out->scratch, sizeof(f->out->scratch), &sp);
    assert_int_equal(pkt_parse_ip(&cp, f->out->scratch, n, 0), PKT_OK);
    eng_on_capture(f->e, &cp, f->now);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 4);
    uint32_t total = 0;
    for (size_t i = 0; i < k; i++) {
        assert_true(p[i].data_len <= 1448);
        assert_true(p[i].ip_len <= 1500);
        assert_int_equal(p[i].seq, C_ISN + 1 + total);
        assert_memory_equal(p[i].data, big + total, p[i].data_len);
        total += p[i].data_len;
    }
    assert_int_equal(total, 5000);
    free(big);
    fx_free(f);
}

static void test_window_respected(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40009, TCPF_SYN, C_ISN, 0, NULL);
    (void)fresh(f, &p);
    /* A SYN-ACK with a 2000-byte window and no window scaling. */
    struct pkt sa;
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    set_tuple(&sp.t, "192.0.2.20", 8080, "198.51.100.10", 40009);
    sp.seq = T_ISN;
    sp.ack = C_ISN + 1;
    sp.flags = TCPF_SYN | TCPF_ACK;
    sp.win = 2000;
    sp.opt_mss = true;
    sp.opts.mss = 1000;
    size_t n = pkt_build(f->out->scratch, sizeof(f->out->scratch), &sp);
    assert_int_equal(pkt_parse_ip(&sa, f->out->scratch, n, 0), PKT_OK);
    eng_on_reply(f->e, &sa, f->now);
    (void)fresh(f, &p);
    char data[5001];
    memset(data, 'x', 5000);
    data[5000] = '\0';
    cap(f, 40009, TCPF_ACK, C_ISN + 1, S_ISN + 1, data);
    size_t k = fresh(f, &p);
    uint32_t sent = 0;
    for (size_t i = 0; i < k; i++)
        sent += p[i].data_len;
    assert_int_equal(sent, 2000); /* two 1000-byte segments fill the window */
    fx_free(f);
}

static void test_retransmit_on_timeout(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40010);
    cap(f, 40010, TCPF_ACK, C_ISN + 1, S_ISN + 1, "lost request");
    assert_int_equal(fresh(f, &p), 1);
    advance(f, 30000);
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 1000000); /* past the RTO (first sample is tiny: the 50 ms floor) */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->seq, C_ISN + 1);
    assert_int_equal(p->data_len, 12);
    assert_true(eng_stats(f->e)->rto_events >= 1);
    /* Acknowledged: no more retransmissions. */
    reply(f, 40010, TCPF_ACK, T_ISN + 1, C_ISN + 13, NULL);
    advance(f, 5000000);
    assert_int_equal(fresh(f, &p), 0);
    fx_free(f);
}

static void test_fin_after_answer_and_close(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40011);
    cap(f, 40011, TCPF_ACK, C_ISN + 1, S_ISN + 1, "req");
    assert_int_equal(fresh(f, &p), 1);
    /* Client FIN after a 50-byte answer: our FIN waits for the target's answer. */
    cap(f, 40011, TCPF_ACK | TCPF_FIN, C_ISN + 4, S_ISN + 51, NULL);
    assert_int_equal(fresh(f, &p), 0);
    reply_len(f, 40011, TCPF_ACK, T_ISN + 1, C_ISN + 4, 50);
    assert_int_equal(fresh(f, &p), 1);
    assert_true(p->flags & TCPF_FIN);
    assert_int_equal(p->seq, C_ISN + 4);
    assert_int_equal(p->ack, T_ISN + 51);
    /* The target acknowledges our FIN and closes: we acknowledge its FIN. */
    reply(f, 40011, TCPF_ACK | TCPF_FIN, T_ISN + 51, C_ISN + 5, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_ACK);
    assert_int_equal(p->ack, T_ISN + 52);
    assert_int_equal(eng_stats(f->e)->outcome[SO_COMPLETE], 1);
    /* It lingers to re-acknowledge a repeated FIN, then is freed and its route removed. */
    reply(f, 40011, TCPF_ACK | TCPF_FIN, T_ISN + 51, C_ISN + 5, NULL);
    assert_int_equal(fresh(f, &p), 1);
    advance(f, 3000000);
    assert_int_equal(eng_session_count(f->e), 0);
    assert_int_equal(f->out->routes_deleted, 1);
    fx_free(f);
}

static void test_close_delimited_answer_complete_by_bytes(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40013);
    cap(f, 40013, TCPF_ACK, C_ISN + 1, S_ISN + 1, "req");
    assert_int_equal(fresh(f, &p), 1);
    /* HTTP/1.0: the online server answered 50 bytes and closed; the client acknowledged
     * both (+1 for the FIN) and closed too. */
    cap(f, 40013, TCPF_ACK | TCPF_FIN, C_ISN + 4, S_ISN + 52, NULL);
    assert_int_equal(fresh(f, &p), 0);
    /* The target does the same: its answer and FIN complete the wait by bytes. */
    reply_len(f, 40013, TCPF_ACK | TCPF_FIN, T_ISN + 1, C_ISN + 4, 50);
    size_t k = fresh(f, &p);
    assert_true(k >= 1);
    assert_true(p[k - 1].flags & TCPF_FIN);
    assert_int_equal(p[k - 1].ack, T_ISN + 52);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->gate_by_bytes, 1);
    assert_int_equal(st->gate_by_quiet, 0);
    fx_free(f);
}

static void test_client_rst_after_delivery(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40012);
    cap(f, 40012, TCPF_ACK, C_ISN + 1, S_ISN + 1, "data");
    assert_int_equal(fresh(f, &p), 1);
    cap(f, 40012, TCPF_RST | TCPF_ACK, C_ISN + 5, S_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 0); /* the data is not acknowledged yet */
    reply(f, 40012, TCPF_ACK, T_ISN + 1, C_ISN + 5, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_true(p->flags & TCPF_RST);
    assert_int_equal(p->seq, C_ISN + 5);
    assert_int_equal(eng_stats(f->e)->outcome[SO_CLIENT_RESET], 1);
    fx_free(f);
}

static void test_target_rst_and_refused(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40013, TCPF_SYN, C_ISN, 0, NULL);
    (void)fresh(f, &p);
    /* Refused: retried after 0.25, 0.5, 1, 2, 4, 8 s, then given up. */
    int syns = 1;
    for (int i = 0; i < 20 && eng_stats(f->e)->outcome[SO_TARGET_REFUSED] == 0; i++) {
        reply(f, 40013, TCPF_RST | TCPF_ACK, 0, C_ISN + 1, NULL);
        advance(f, 8100000);
        syns += (int)fresh(f, &p);
    }
    assert_int_equal(syns, 7);
    assert_int_equal(eng_stats(f->e)->outcome[SO_TARGET_REFUSED], 1);
    handshake(f, 40014);
    cap(f, 40014, TCPF_ACK, C_ISN + 1, S_ISN + 1, "data");
    (void)fresh(f, &p);
    reply(f, 40014, TCPF_ACK, T_ISN + 1, C_ISN + 5, NULL); /* everything acknowledged */
    reply(f, 40014, TCPF_RST, T_ISN + 1, 0, NULL);
    assert_int_equal(eng_stats(f->e)->outcome[SO_TARGET_RESET], 1);
    /* Nothing is sent at once; the client's later packets are not lost for good: the
     * next request boundary starts a new session of our own. */
    (void)fresh(f, &p);
    cap(f, 40014, TCPF_ACK, C_ISN + 5, S_ISN + 101, "more");
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 4);
    fx_free(f);
}

static void test_rebuild_after_target_reset(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40030);
    cap(f, 40030, TCPF_ACK, C_ISN + 1, S_ISN + 1, "first");
    reply_len(f, 40030, TCPF_ACK, T_ISN + 1, C_ISN + 6, 10);
    cap(f, 40030, TCPF_ACK, C_ISN + 6, S_ISN + 11, "second");
    (void)fresh(f, &p);
    /* The target resets before acknowledging "second": a new connection from there. */
    reply(f, 40030, TCPF_RST, T_ISN + 11, 0, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 5);
    assert_int_equal(eng_stats(f->e)->sess_rebuilt, 1);
    reply(f, 40030, TCPF_SYN | TCPF_ACK, T_ISN + 9000, C_ISN + 6, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_int_equal(p[1].seq, C_ISN + 6);
    assert_int_equal(p[1].ack, T_ISN + 9001);
    assert_memory_equal(p[1].data, "second", 6);
    fx_free(f);
}

static void test_handshake_timeout(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40015, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 1);
    /* The client's two requests queue while no SYN-ACK comes. */
    cap(f, 40015, TCPF_ACK, C_ISN + 1, S_ISN + 1, "first");
    cap(f, 40015, TCPF_ACK, C_ISN + 6, S_ISN + 11, "second");
    (void)fresh(f, &p);
    /* SYN again after 0.25, 0.5, 1, 2, 4 and 8 s: seven in all. */
    uint64_t gap = 250000;
    for (int i = 0; i < 6; i++, gap *= 2) {
        advance(f, gap - 1000);
        assert_int_equal(fresh(f, &p), 0);
        advance(f, 1000);
        assert_int_equal(fresh(f, &p), 1);
        assert_int_equal(p->flags, TCPF_SYN);
        assert_int_equal(p->seq, C_ISN);
    }
    assert_int_equal(eng_stats(f->e)->syn_retries, 6);
    advance(f, gap - 1000);
    assert_int_equal(eng_stats(f->e)->outcome[SO_HANDSHAKE_TIMEOUT], 0);
    advance(f, 1000);
    assert_int_equal(eng_stats(f->e)->outcome[SO_HANDSHAKE_TIMEOUT], 1);
    /* What the target never got is counted against the outcome. */
    assert_int_equal(eng_stats(f->e)->lost_requests[SO_HANDSHAKE_TIMEOUT], 2);
    assert_int_equal(eng_stats(f->e)->lost_bytes[SO_HANDSHAKE_TIMEOUT], 11);
    fx_free(f);
}

/* A SYN lost once: the second one, 0.25 s later, completes the handshake and the queued
 * request follows. */
static void test_syn_retry_delivers(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40035, TCPF_SYN, C_ISN, 0, NULL);
    cap(f, 40035, TCPF_ACK, C_ISN + 1, S_ISN + 1, "GET");
    (void)fresh(f, &p);
    advance(f, 250000);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    reply(f, 40035, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_memory_equal(p[1].data, "GET", 3);
    assert_int_equal(eng_stats(f->e)->outcome[SO_HANDSHAKE_TIMEOUT], 0);
    fx_free(f);
}

static void test_idle_timeout_resets(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40016);
    advance(f, 719000000);
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 2000000);
    assert_int_equal(fresh(f, &p), 1);
    assert_true(p->flags & TCPF_RST);
    assert_int_equal(eng_stats(f->e)->outcome[SO_IDLE], 1);
    fx_free(f);
}

static void test_session_timeout_without_progress(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40017);
    cap(f, 40017, TCPF_ACK, C_ISN + 1, S_ISN + 1, "stuck");
    /* The target never acknowledges: retransmissions back off, then the session ends. */
    for (int i = 0; i < 700; i++)
        advance(f, 1000000);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->outcome[SO_TIMEOUT], 1);
    (void)fresh(f, &p);
    fx_free(f);
}

static void two_handshakes(struct eng_conf *c)
{
    c->max_handshakes = 2;
}

static struct fx *fx_with(void (*tweak)(struct eng_conf *c));

static void test_handshakes_wait_for_a_slot(void **state)
{
    struct fx *f = fx_with(two_handshakes);
    struct pkt *p;
    cap(f, 41001, TCPF_SYN, C_ISN, 0, NULL);
    cap(f, 41002, TCPF_SYN, C_ISN, 0, NULL);
    cap(f, 41003, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 2); /* the third waits in line */
    cap(f, 41003, TCPF_ACK, C_ISN + 1, S_ISN + 1, "queued");
    assert_int_equal(fresh(f, &p), 0);
    assert_int_equal(eng_stats(f->e)->syn_waiting, 1);
    advance(f, 100000);
    assert_int_equal(fresh(f, &p), 0);
    /* 41001 is answered: its slot goes to 41003, whose bytes follow its handshake. */
    reply(f, 41001, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2); /* the SYN of 41003 and our ACK of 41001's SYN-ACK */
    struct pkt *syn = p[0].flags == TCPF_SYN ? &p[0] : &p[1];
    assert_int_equal(syn->flags, TCPF_SYN);
    assert_int_equal(syn->t.sport, 41003);
    reply(f, 41003, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_memory_equal(p[1].data, "queued", 6);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->syn_waits, 1);
    assert_int_equal(st->syn_waiting, 0);
    fx_free(f);
}

static void test_syn_unanswered_twice_moves(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40015, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 1);
    advance(f, 260000); /* the first retry: the same tuple */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->t.sport, 40015);
    advance(f, 510000); /* the second: a fresh one, its route registered */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_not_equal(p->t.sport, 40015);
    assert_int_equal(f->out->routes_added, 2);
    assert_int_equal(f->out->routes_deleted, 1);
    uint16_t moved = p->t.sport;
    reply(f, moved, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_ACK);
    assert_int_equal(eng_stats(f->e)->sess_moved, 1);
    fx_free(f);
}

static void test_port_reuse_after_delivery(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40018);
    cap(f, 40018, TCPF_SYN, C_ISN + 99999, 0, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2); /* RST for the old session (nothing left in it), SYN for the new */
    assert_true(p[0].flags & TCPF_RST);
    assert_int_equal(p[1].flags, TCPF_SYN);
    assert_int_equal(p[1].seq, C_ISN + 99999);
    assert_int_equal(eng_stats(f->e)->outcome[SO_COMPLETE], 1);
    assert_int_equal(eng_stats(f->e)->sess_overlapped, 0);
    fx_free(f);
}

static void test_port_reuse_while_replaying(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40017);
    cap(f, 40017, TCPF_ACK, C_ISN + 1, S_ISN + 1, "one");
    assert_int_equal(fresh(f, &p), 1);
    cap(f, 40017, TCPF_ACK, C_ISN + 4, S_ISN + 11, "two"); /* waits for one's answer */
    assert_int_equal(fresh(f, &p), 0);
    /* The client, already done online, opens a new connection from the same port. */
    cap(f, 40017, TCPF_SYN, C_ISN + 99999, 0, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 1); /* no RST: the old session goes on */
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 99999);
    uint16_t new_port = p->t.sport;
    assert_int_not_equal(new_port, 40017);
    assert_int_equal(eng_stats(f->e)->sess_overlapped, 1);
    /* The target answers "one" on the old tuple: "two" follows there. */
    reply_len(f, 40017, TCPF_ACK, T_ISN + 1, C_ISN + 4, 10);
    k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_int_equal(p->t.sport, 40017);
    assert_memory_equal(p->data, "two", 3);
    /* The new session handshakes on its own tuple. */
    reply(f, new_port, TCPF_SYN | TCPF_ACK, T_ISN + 777, C_ISN + 100000, NULL);
    k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_int_equal(p->t.sport, new_port);
    assert_int_equal(p->flags, TCPF_ACK);
    assert_int_equal(eng_stats(f->e)->outcome[SO_COMPLETE], 0);
    fx_free(f);
}

static void test_syn_answered_by_an_old_connection(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40016, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 1);
    /* The target holds 40016 in TIME-WAIT: it answers with its old connection's ACK. */
    reply(f, 40016, TCPF_ACK, T_ISN, 123456789u, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_int_equal(p[0].flags, TCPF_RST); /* clears the old entry */
    assert_int_equal(p[0].seq, 123456789u);
    assert_int_equal(p[0].t.sport, 40016);
    assert_int_equal(p[1].flags, TCPF_SYN); /* at once, on a fresh tuple */
    assert_int_equal(p[1].seq, C_ISN);
    uint16_t moved = p[1].t.sport;
    assert_int_not_equal(moved, 40016);
    assert_int_equal(f->out->routes_added, 2);
    assert_int_equal(f->out->routes_deleted, 1);
    reply(f, moved, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 1);
    cap(f, 40016, TCPF_ACK, C_ISN + 1, S_ISN + 1, "hello");
    k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_int_equal(p->t.sport, moved);
    assert_memory_equal(p->data, "hello", 5);
    /* A later session from the same client port does not pick the remembered tuple. */
    cap(f, 40016, TCPF_RST, C_ISN + 6, 0, NULL);
    advance(f, 3000000);
    (void)fresh(f, &p);
    cap(f, 40016, TCPF_SYN, C_ISN + 5000, 0, NULL);
    k = fresh(f, &p);
    assert_int_equal(p[k - 1].flags, TCPF_SYN);
    assert_int_not_equal(p[k - 1].t.sport, 40016);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->syn_stale_tuples, 1);
    assert_true(st->sess_stale_avoided >= 1);
    fx_free(f);
}

static void test_syn_only_and_other_ports(void **state)
{
    struct fx *f = fx_new(false);
    eng_free(f->e);
    f->conf.syn_only = true;
    struct eng_io io = {.arg = f->out, .pkt_buf = io_buf, .pkt_send = io_send, .route = io_route};
    f->e = eng_new(&f->conf, &io, f->now, 42);
    struct pkt *p;
    cap(f, 40019, TCPF_ACK, C_ISN + 1, S_ISN + 1, "mid-stream");
    cap(f, 40019, TCPF_ACK, C_ISN + 11, S_ISN + 101, "more");
    assert_int_equal(fresh(f, &p), 0);
    assert_int_equal(eng_stats(f->e)->cap_no_syn, 2);
    /* Packets for other ports are not ours. */
    struct pkt q;
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    set_tuple(&sp.t, "198.51.100.10", 40020, "192.0.2.10", 81);
    sp.flags = TCPF_SYN;
    size_t n = pkt_build(f->out->scratch, sizeof(f->out->scratch), &sp);
    assert_int_equal(pkt_parse_ip(&q, f->out->scratch, n, 0), PKT_OK);
    eng_on_capture(f->e, &q, f->now);
    assert_int_equal(eng_stats(f->e)->cap_ignored, 1);
    fx_free(f);
}

static void test_midstream_starts_at_request_boundary(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    /* Seen mid-request: where it started is unknown, so it is not copied. */
    cap(f, 40031, TCPF_ACK, C_ISN + 1, S_ISN + 1, "tail of a request");
    assert_int_equal(fresh(f, &p), 0);
    /* The client acknowledges the answer, then sends its next request. */
    cap(f, 40031, TCPF_ACK, C_ISN + 18, S_ISN + 301, NULL);
    assert_int_equal(fresh(f, &p), 0);
    cap(f, 40031, TCPF_ACK | TCPF_PSH, C_ISN + 18, S_ISN + 301, "GET /next HTTP/1.1\r\n\r\n");
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 17);
    assert_true(p->opts.has_mss);
    assert_int_equal(p->opts.mss, 1460);
    assert_false(p->opts.has_ws);
    assert_true(p->opts.sack_ok);
    assert_int_equal(f->out->routes_added, 1);
    reply(f, 40031, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 18, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_int_equal(p[1].seq, C_ISN + 18);
    assert_int_equal(p[1].data_len, 22);
    assert_int_equal(p[1].win, 65535);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->sess_midstream, 1);
    assert_int_equal(st->probe_skipped_bytes, 17);
    /* The next answer-then-request is gated as usual. */
    cap(f, 40031, TCPF_ACK, C_ISN + 40, S_ISN + 501, "GET /after HTTP/1.1\r\n\r\n");
    assert_int_equal(fresh(f, &p), 0);
    reply_len(f, 40031, TCPF_ACK, T_ISN + 1, C_ISN + 40, 200);
    k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_int_equal(p->seq, C_ISN + 40);
    fx_free(f);
}

static void test_midstream_fin_ends_probe(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40032, TCPF_ACK, C_ISN + 1, S_ISN + 1, "x");
    cap(f, 40032, TCPF_ACK | TCPF_FIN, C_ISN + 2, S_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 0);
    assert_int_equal(eng_stats(f->e)->outcome[SO_NOT_STARTED], 1);
    assert_int_equal(f->out->routes_added, 0);
    advance(f, 3000000);
    assert_int_equal(eng_session_count(f->e), 0);
    assert_int_equal(f->out->routes_deleted, 0);
    fx_free(f);
}

static void test_keepalive_probe_answered(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40033);
    reply(f, 40033, TCPF_ACK, T_ISN, C_ISN + 1, NULL); /* seq = rcv_nxt - 1: a probe */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_ACK);
    assert_int_equal(p->ack, T_ISN + 1);
    /* A client keepalive probe (one old byte) is not new data. */
    cap(f, 40033, TCPF_ACK, C_ISN, S_ISN + 1, "k");
    assert_int_equal(fresh(f, &p), 0);
    fx_free(f);
}

static void test_out_of_order_capture_waits_for_gap(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40021);
    cap(f, 40021, TCPF_ACK, C_ISN + 6, S_ISN + 1, "world");
    assert_int_equal(fresh(f, &p), 0);
    cap(f, 40021, TCPF_ACK, C_ISN + 1, S_ISN + 1, "hello");
    size_t k = fresh(f, &p);
    uint32_t total = 0;
    for (size_t i = 0; i < k; i++)
        total += p[i].data_len;
    assert_int_equal(total, 10);
    assert_memory_equal(p[0].data, "helloworld", p[0].data_len);
    /* A duplicate of captured data is not sent again. */
    cap(f, 40021, TCPF_ACK, C_ISN + 1, S_ISN + 1, "hello");
    assert_int_equal(fresh(f, &p), 0);
    fx_free(f);
}

static void test_fast_retransmit(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40022);
    char data[6001];
    memset(data, 'z', 6000);
    data[6000] = '\0';
    cap(f, 40022, TCPF_ACK, C_ISN + 1, S_ISN + 1, data);
    size_t k = fresh(f, &p);
    assert_true(k >= 4);
    /* The first ACK scales the window up (a window update, RFC 5681 2), then three duplicates. */
    for (int i = 0; i < 4; i++)
        reply(f, 40022, TCPF_ACK, T_ISN + 1, C_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->seq, C_ISN + 1);
    assert_int_equal(eng_stats(f->e)->fast_rtx, 1);
    fx_free(f);
}

static void test_target_closes_early_rebuilt(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40023);
    cap(f, 40023, TCPF_ACK, C_ISN + 1, S_ISN + 1, "one");
    (void)fresh(f, &p);
    cap(f, 40023, TCPF_ACK, C_ISN + 4, S_ISN + 11, "two");
    assert_int_equal(fresh(f, &p), 0);
    /* The target answers 5 bytes and closes while "two" still waits: we acknowledge its
     * FIN, reset the old connection and open a new one from "two". */
    reply_len(f, 40023, TCPF_ACK | TCPF_FIN, T_ISN + 1, C_ISN + 4, 5);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 3);
    assert_int_equal(p[0].flags, TCPF_ACK);
    assert_true(p[1].flags & TCPF_RST);
    assert_int_equal(p[2].flags, TCPF_SYN);
    assert_int_equal(p[2].seq, C_ISN + 3);
    reply(f, 40023, TCPF_SYN | TCPF_ACK, T_ISN + 7777, C_ISN + 4, NULL);
    k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_memory_equal(p[1].data, "two", 3);
    assert_int_equal(eng_stats(f->e)->outcome[SO_TARGET_CLOSED], 0);
    assert_int_equal(eng_stats(f->e)->sess_rebuilt, 1);
    fx_free(f);
}

static void test_shutdown_resets_live_sessions(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40024);
    handshake(f, 40025);
    eng_shutdown(f->e, f->now);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_true(p[0].flags & TCPF_RST);
    assert_true(p[1].flags & TCPF_RST);
    assert_int_equal(eng_stats(f->e)->outcome[SO_SHUTDOWN], 2);
    fx_free(f);
}


/* A target ACK with SACK blocks (relative to C_ISN + 1), as intercept would relay it. */
static void reply_sack(struct fx *f, uint16_t cport, uint32_t ack, int nblocks,
                       const uint32_t (*blocks)[2])
{
    struct pkt p;
    mk(f, &p, false, cport, TCPF_ACK, T_ISN + 1, ack, NULL, false);
    p.opts.nsack = (uint8_t)nblocks;
    for (int i = 0; i < nblocks; i++) {
        p.opts.sack[i][0] = C_ISN + 1 + blocks[i][0];
        p.opts.sack[i][1] = C_ISN + 1 + blocks[i][1];
    }
    eng_on_reply(f->e, &p, f->now);
    eng_flush(f->e, f->now);
}

static void test_sack_repairs_each_hole_once(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40040);
    char data[7241];
    memset(data, 's', 7240); /* five segments of 1448 */
    data[7240] = '\0';
    cap(f, 40040, TCPF_ACK, C_ISN + 1, S_ISN + 1, data);
    assert_int_equal(fresh(f, &p), 5);
    /* Segments 2 and 4 were lost: the target SACKs 3 and 5. */
    reply_sack(f, 40040, C_ISN + 1 + 1448, 0, NULL); /* new ack, also a window update */
    const uint32_t b1[][2] = {{2896, 4344}};
    const uint32_t b2[][2] = {{2896, 4344}, {5792, 7240}};
    reply_sack(f, 40040, C_ISN + 1 + 1448, 1, b1);
    reply_sack(f, 40040, C_ISN + 1 + 1448, 2, b2);
    assert_int_equal(fresh(f, &p), 0);
    reply_sack(f, 40040, C_ISN + 1 + 1448, 2, b2); /* third duplicate: segment 2 again */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->seq, C_ISN + 1 + 1448);
    assert_int_equal(p->data_len, 1448);
    reply_sack(f, 40040, C_ISN + 1 + 1448, 2, b2); /* next duplicate: segment 4, not 3 */
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->seq, C_ISN + 1 + 4344);
    assert_int_equal(p->data_len, 1448);
    reply_sack(f, 40040, C_ISN + 1 + 1448, 2, b2); /* nothing left to repair */
    assert_int_equal(fresh(f, &p), 0);
    reply(f, 40040, TCPF_ACK, T_ISN + 1, C_ISN + 1 + 7240, NULL);
    advance(f, 5000000);
    assert_int_equal(fresh(f, &p), 0); /* all acknowledged: no timeout retransmission */
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->fast_rtx, 1);
    assert_int_equal(st->sack_rtx, 1);
    assert_int_equal(st->rto_events, 0);
    fx_free(f);
}

/* AAAA is sent and answered with 10 bytes; the caller's capture then has a hole. */
static void gap_setup(struct fx *f, uint16_t port)
{
    struct pkt *p;
    handshake(f, port);
    cap(f, port, TCPF_ACK, C_ISN + 1, S_ISN + 1, "AAAA");
    assert_int_equal(fresh(f, &p), 1);
    reply_len(f, port, TCPF_ACK, T_ISN + 1, C_ISN + 5, 10);
    advance(f, 10000); /* the delayed ACK */
    (void)fresh(f, &p);
}

/* The new connection a skipped gap opens: RST of the old one, SYN from seq, then data. */
static void gap_expect_restart(struct fx *f, uint16_t port, uint32_t seq, const char *data)
{
    struct pkt *p;
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_true(p[0].flags & TCPF_RST);
    assert_int_equal(p[1].flags, TCPF_SYN);
    assert_int_equal(p[1].seq, seq - 1);
    reply(f, port, TCPF_SYN | TCPF_ACK, T_ISN + 5000, seq, NULL);
    k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_int_equal(p[1].seq, seq);
    assert_memory_equal(p[1].data, data, strlen(data));
}

static void test_capture_gap_skipped_to_next_request(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    gap_setup(f, 40041);
    /* "BBBB" (C_ISN + 5), the head of the next request, is never captured; its tail
     * "CCCC" and the request after it "DDDD" are. The target answered AAAA in full (10
     * bytes, as online), so no request ended in the hole: CCCC is mid-request. */
    cap(f, 40041, TCPF_ACK, C_ISN + 9, S_ISN + 11, "CCCC");
    cap(f, 40041, TCPF_ACK, C_ISN + 13, S_ISN + 21, "DDDD");
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 5000);
    assert_int_equal(fresh(f, &p), 0); /* a resent copy could still fill the hole */
    advance(f, 30000);
    gap_expect_restart(f, 40041, C_ISN + 13, "DDDD"); /* not mid-request at "CCCC" */
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->gaps_skipped, 1);
    assert_int_equal(st->gap_bytes_lost, 8);
    assert_int_equal(st->gap_requests_lost, 1);
    fx_free(f);
}

static void test_capture_gap_of_a_whole_request(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    gap_setup(f, 40042);
    /* The whole request "BBBB" is lost to the capture; the online server answered it
     * (10 more bytes) before the client sent "CCCC". The target answered 10 bytes of the
     * 20 the online server had sent by then: BBBB's answer is what is missing, so CCCC
     * starts a request, and only BBBB is lost. */
    cap(f, 40042, TCPF_ACK, C_ISN + 9, S_ISN + 21, "CCCC");
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 30000);
    gap_expect_restart(f, 40042, C_ISN + 9, "CCCC");
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->gaps_skipped, 1);
    assert_int_equal(st->gap_bytes_lost, 4);
    assert_int_equal(st->gap_requests_lost, 1);
    assert_int_equal(st->sess_resynced, 0);
    fx_free(f);
}

static void test_capture_gap_filled_by_a_resent_copy(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    gap_setup(f, 40043);
    /* The network lost "BBBB" before the online server: the client resends it within a
     * round trip, and the capture sees both. Nothing is skipped, all goes in order. */
    cap(f, 40043, TCPF_ACK, C_ISN + 9, S_ISN + 21, "CCCC");
    advance(f, 2000);
    assert_int_equal(fresh(f, &p), 0);
    cap(f, 40043, TCPF_ACK, C_ISN + 5, S_ISN + 11, "BBBB");
    size_t k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_int_equal(p->seq, C_ISN + 5);
    assert_memory_equal(p->data, "BBBB", 4);
    reply_len(f, 40043, TCPF_ACK, T_ISN + 11, C_ISN + 9, 10);
    k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_memory_equal(p->data, "CCCC", 4);
    advance(f, 3000000);
    assert_int_equal(eng_stats(f->e)->gaps_skipped, 0);
    assert_int_equal(eng_stats(f->e)->gap_requests_lost, 0);
    fx_free(f);
}

static void test_capture_gap_waits_for_the_answer(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40044);
    cap(f, 40044, TCPF_ACK, C_ISN + 1, S_ISN + 1, "AAAA");
    assert_int_equal(fresh(f, &p), 1);
    /* AAAA is acknowledged but not answered yet when the hole appears. */
    reply(f, 40044, TCPF_ACK, T_ISN + 1, C_ISN + 5, NULL);
    cap(f, 40044, TCPF_ACK, C_ISN + 9, S_ISN + 11, "CCCC");
    advance(f, 15000);
    assert_int_equal(fresh(f, &p), 0); /* the target may still be answering AAAA */
    /* It answers AAAA as online did (10 bytes): CCCC is then the tail of the lost request. */
    reply_len(f, 40044, TCPF_ACK, T_ISN + 1, C_ISN + 5, 10);
    advance(f, 10000);
    (void)fresh(f, &p);
    cap(f, 40044, TCPF_ACK, C_ISN + 13, S_ISN + 21, "DDDD");
    advance(f, 60000);
    gap_expect_restart(f, 40044, C_ISN + 13, "DDDD");
    fx_free(f);
}

static void test_capture_gap_then_client_reset(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    gap_setup(f, 40045);
    /* BBBB and CCCC are lost to the capture; DDDD and EEEE, after it, are captured,
     * then the client resets. The requests after the hole still go, then the RST. */
    cap(f, 40045, TCPF_ACK, C_ISN + 13, S_ISN + 31, "DDDD");
    cap(f, 40045, TCPF_ACK, C_ISN + 17, S_ISN + 41, "EEEE");
    cap(f, 40045, TCPF_RST | TCPF_ACK, C_ISN + 21, S_ISN + 51, NULL);
    assert_int_equal(fresh(f, &p), 0);
    advance(f, 30000);
    gap_expect_restart(f, 40045, C_ISN + 13, "DDDD");
    reply_len(f, 40045, TCPF_ACK, T_ISN + 5001, C_ISN + 17, 10);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_memory_equal(p->data, "EEEE", 4);
    reply_len(f, 40045, TCPF_ACK, T_ISN + 5011, C_ISN + 21, 10);
    k = fresh(f, &p);
    assert_true(k >= 1);
    assert_true(p[k - 1].flags & TCPF_RST);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->gaps_skipped, 1);
    assert_int_equal(st->gap_requests_lost, 1);
    assert_int_equal(st->outcome[SO_CLIENT_RESET], 1);
    assert_int_equal(st->lost_requests[SO_CLIENT_RESET], 0);
    fx_free(f);
}

static struct fx *fx_with(void (*tweak)(struct eng_conf *c))
{
    struct fx *f = fx_new(false);
    eng_free(f->e);
    tweak(&f->conf);
    struct eng_io io = {.arg = f->out, .pkt_buf = io_buf, .pkt_send = io_send, .route = io_route};
    f->e = eng_new(&f->conf, &io, f->now, 42);
    return f;
}

static void three_copies(struct eng_conf *c)
{
    c->copies = 3;
}

static void test_copies_use_distinct_ports(void **state)
{
    struct fx *f = fx_with(three_copies);
    struct pkt *p;
    cap(f, 40050, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 3);
    assert_int_equal(p[0].t.sport, 40050); /* the first copy keeps the client's port */
    assert_true(p[1].t.sport != p[0].t.sport && p[2].t.sport != p[0].t.sport);
    assert_true(p[1].t.sport != p[2].t.sport);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(p[i].seq, C_ISN);
        assert_true(p[i].t.sport >= 1024);
    }
    assert_int_equal(f->out->routes_added, 3);
    uint16_t ports[3] = {p[0].t.sport, p[1].t.sport, p[2].t.sport};
    /* Each copy is a whole session: handshake and data on each. */
    for (int i = 0; i < 3; i++)
        reply(f, ports[i], TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 3);
    cap(f, 40050, TCPF_ACK, C_ISN + 1, S_ISN + 1, "hello");
    size_t k = fresh(f, &p);
    assert_int_equal(k, 3);
    for (size_t i = 0; i < k; i++)
        assert_memory_equal(p[i].data, "hello", 5);
    fx_free(f);
}

static void half_sampled(struct eng_conf *c)
{
    c->sample_pct = 50;
}

static void test_sampling_is_per_session_and_stable(void **state)
{
    struct fx *f = fx_with(half_sampled);
    struct pkt *p;
    int copied = 0;
    for (uint16_t port = 20000; port < 22000; port++) {
        cap(f, port, TCPF_SYN, C_ISN, 0, NULL);
        size_t k = fresh(f, &p);
        copied += (int)k;
        /* The same session decides the same way on its later packets. */
        cap(f, port, TCPF_SYN, C_ISN, 0, NULL);
        (void)fresh(f, &p);
        assert_int_equal(eng_session_count(f->e), (size_t)copied);
    }
    assert_true(copied > 900 && copied < 1100); /* 50% of 2000, +- 5% */
    assert_int_equal(eng_stats(f->e)->cap_sampled_out, (uint64_t)(2 * (2000 - copied)));
    fx_free(f);
}

static void small_memory(struct eng_conf *c)
{
    c->mem_max = 64 * 1024;
    c->sess_mem_max = 64 * 1024;
}

static void test_memory_limit_refuses_then_recovers(void **state)
{
    struct fx *f = fx_with(small_memory);
    struct pkt *p;
    handshake(f, 40060);
    /* 62 KB queued behind an unanswered request: past 90% of the 64 KB bound. */
    cap(f, 40060, TCPF_ACK, C_ISN + 1, S_ISN + 1, "req");
    char *big = malloc(62 * 1024 + 1);
    memset(big, 'm', 62 * 1024);
    big[62 * 1024] = '\0';
    cap(f, 40060, TCPF_ACK, C_ISN + 4, S_ISN + 101, big);
    (void)fresh(f, &p);
    cap(f, 40061, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 0);
    assert_int_equal(eng_stats(f->e)->sess_refused_memory, 1);
    /* More than the bound: that session is shed, the memory comes back. */
    cap(f, 40060, TCPF_ACK, C_ISN + 4 + 62 * 1024, S_ISN + 101, big);
    assert_int_equal(eng_stats(f->e)->outcome[SO_MEMORY], 1);
    assert_int_equal(eng_stats(f->e)->mem_bytes, 0);
    (void)fresh(f, &p);
    cap(f, 40062, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 1); /* accepted again */
    free(big);
    fx_free(f);
}

static void localhost_rewrite(struct eng_conf *c)
{
    assert_true(addr_parse(&c->localhost, "203.0.113.99"));
}

static void test_localhost_client_replaced(void **state)
{
    struct fx *f = fx_with(localhost_rewrite);
    struct pkt *p;
    struct pkt q;
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    set_tuple(&sp.t, "127.0.0.1", 40070, "127.0.0.1", 80);
    sp.seq = C_ISN;
    sp.flags = TCPF_SYN;
    size_t n = pkt_build(f->out->scratch, sizeof(f->out->scratch), &sp);
    assert_int_equal(pkt_parse_ip(&q, f->out->scratch, n, 0), PKT_OK);
    eng_on_capture(f->e, &q, f->now);
    assert_int_equal(fresh(f, &p), 1);
    char b[ADDR_STRLEN];
    assert_string_equal(addr_str(&p->t.src, b, sizeof(b)), "203.0.113.99");
    fx_free(f);
}

static void test_refused_target_comes_back(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40080, TCPF_SYN, C_ISN, 0, NULL);
    cap(f, 40080, TCPF_ACK, C_ISN + 1, S_ISN + 1, "GET /queued HTTP/1.1\r\n\r\n");
    (void)fresh(f, &p);
    reply(f, 40080, TCPF_RST | TCPF_ACK, 0, C_ISN + 1, NULL); /* the target is restarting */
    advance(f, 300000);
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    reply(f, 40080, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL); /* and is back */
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_memory_equal(p[1].data, "GET /queued", 11);
    assert_int_equal(eng_stats(f->e)->syn_refused_retries, 1);
    fx_free(f);
}

static void test_rebuild_only_at_request_boundary(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40081);
    /* A request in two segments; the target acknowledges only the first, then resets. */
    cap(f, 40081, TCPF_ACK, C_ISN + 1, S_ISN + 1, "POST /x HTTP/1.1\r\n");
    cap(f, 40081, TCPF_ACK, C_ISN + 19, S_ISN + 1, "body-body");
    reply(f, 40081, TCPF_ACK, T_ISN + 1, C_ISN + 19, NULL);
    /* The next request (after a 10-byte answer online) is already captured. */
    cap(f, 40081, TCPF_ACK, C_ISN + 28, S_ISN + 11, "GET /next HTTP/1.1\r\n\r\n");
    (void)fresh(f, &p);
    reply(f, 40081, TCPF_RST, T_ISN + 1, 0, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 27); /* not mid-request at "body-body" */
    reply(f, 40081, TCPF_SYN | TCPF_ACK, T_ISN + 100, C_ISN + 28, NULL);
    k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_memory_equal(p[1].data, "GET /next", 9);
    assert_int_equal(eng_stats(f->e)->partial_requests_lost, 1);
    fx_free(f);
}

static void test_client_rst_window_not_advertised(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40082);
    cap(f, 40082, TCPF_ACK, C_ISN + 1, S_ISN + 1, "one");
    cap(f, 40082, TCPF_ACK, C_ISN + 4, S_ISN + 11, "two");
    (void)fresh(f, &p);
    struct pkt r;
    mk(f, &r, true, 40082, TCPF_RST | TCPF_ACK, C_ISN + 7, S_ISN + 11, NULL, false);
    r.win = 0;
    eng_on_capture(f->e, &r, f->now);
    reply_len(f, 40082, TCPF_ACK, T_ISN + 1, C_ISN + 4, 10);
    size_t k = fresh(f, &p);
    assert_true(k >= 1);
    for (size_t i = 0; i < k; i++)
        assert_true(p[i].win > 0 || (p[i].flags & TCPF_RST));
    fx_free(f);
}

static void test_client_rst_before_handshake_delivers(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    cap(f, 40090, TCPF_SYN, C_ISN, 0, NULL);
    cap(f, 40090, TCPF_ACK, C_ISN + 1, S_ISN + 1, "GET /last HTTP/1.1\r\n\r\n");
    cap(f, 40090, TCPF_RST | TCPF_ACK, C_ISN + 23, S_ISN + 1, NULL); /* client gone */
    (void)fresh(f, &p);
    assert_int_equal(eng_stats(f->e)->outcome[SO_CLIENT_RESET], 0);
    reply(f, 40090, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 2);
    assert_memory_equal(p[1].data, "GET /last", 9);
    reply(f, 40090, TCPF_ACK, T_ISN + 1, C_ISN + 23, NULL);
    assert_int_equal(fresh(f, &p), 1);
    assert_true(p->flags & TCPF_RST);
    assert_int_equal(eng_stats(f->e)->outcome[SO_CLIENT_RESET], 1);
    fx_free(f);
}

static void ramp(struct eng_conf *c)
{
    c->ramp = true;
}

static void test_ramp_up_grows_one_percent_a_second(void **state)
{
    struct fx *f = fx_with(ramp);
    struct pkt *p;
    int at_start = 0, after_20s = 0;
    for (uint16_t port = 20000; port < 24000; port++) {
        cap(f, port, TCPF_SYN, C_ISN, 0, NULL);
        at_start += (int)fresh(f, &p);
    }
    f->now += 19 * 1000000ULL; /* 20% from t = 19 s */
    for (uint16_t port = 30000; port < 34000; port++) {
        cap(f, port, TCPF_SYN, C_ISN, 0, NULL);
        after_20s += (int)fresh(f, &p);
    }
    assert_true(at_start >= 20 && at_start <= 80);     /* 1% of 4000 */
    assert_true(after_20s >= 700 && after_20s <= 900); /* 20% of 4000 */
    fx_free(f);
}

static void test_far_ahead_segment_reserves_nothing(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40100);
    /* One forged byte 100 MB ahead: no memory is reserved for the gap. */
    cap(f, 40100, TCPF_ACK, C_ISN + 1 + 100000000u, S_ISN + 1, "x");
    assert_int_equal(fresh(f, &p), 0);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->cap_beyond_window, 1);
    assert_int_equal(st->mem_bytes, 0);
    /* In-order data still flows. */
    cap(f, 40100, TCPF_ACK, C_ISN + 1, S_ISN + 1, "GET / HTTP/1.1\r\n\r\n");
    assert_int_equal(fresh(f, &p), 1);
    fx_free(f);
}

static void test_gap_without_boundary_resyncs(void **state)
{
    struct fx *f = fx_new(false);
    struct pkt *p;
    handshake(f, 40101);
    cap(f, 40101, TCPF_ACK, C_ISN + 1, S_ISN + 1, "AAAA");
    reply_len(f, 40101, TCPF_ACK, T_ISN + 1, C_ISN + 5, 10);
    (void)fresh(f, &p);
    /* The next request's first bytes are lost to the capture; only a later part of
     * it arrives: no exact boundary after the gap. */
    cap(f, 40101, TCPF_ACK, C_ISN + 9, S_ISN + 11, "CCCC");
    advance(f, 2100000);
    size_t k = fresh(f, &p);
    assert_int_equal(k, 1);
    assert_true(p->flags & TCPF_RST); /* the old connection is given up */
    assert_int_equal(eng_stats(f->e)->sess_resynced, 1);
    /* The rest of that request is skipped; the client's next request starts anew. */
    cap(f, 40101, TCPF_ACK, C_ISN + 13, S_ISN + 11, "DDDD");
    assert_int_equal(fresh(f, &p), 0);
    cap(f, 40101, TCPF_ACK, C_ISN + 17, S_ISN + 21, "EEEE");
    assert_int_equal(fresh(f, &p), 1);
    assert_int_equal(p->flags, TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 16);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_syn_forwarded_with_options),
        cmocka_unit_test(test_handshake_and_ack_translation),
        cmocka_unit_test(test_request_waits_for_answer),
        cmocka_unit_test(test_delayed_ack),
        cmocka_unit_test(test_request_waiting_acks_partial_answer),
        cmocka_unit_test(test_answer_complete_by_quiet_and_timeout),
        cmocka_unit_test(test_no_wait_option),
        cmocka_unit_test(test_pipelined_requests_go_together),
        cmocka_unit_test(test_server_first_greeting_awaited),
        cmocka_unit_test(test_data_before_synack_is_queued),
        cmocka_unit_test(test_segments_cut_to_mss),
        cmocka_unit_test(test_window_respected),
        cmocka_unit_test(test_retransmit_on_timeout),
        cmocka_unit_test(test_fin_after_answer_and_close),
        cmocka_unit_test(test_close_delimited_answer_complete_by_bytes),
        cmocka_unit_test(test_client_rst_after_delivery),
        cmocka_unit_test(test_target_rst_and_refused),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_syn_retry_delivers),
        cmocka_unit_test(test_idle_timeout_resets),
        cmocka_unit_test(test_session_timeout_without_progress),
        cmocka_unit_test(test_port_reuse_after_delivery),
        cmocka_unit_test(test_syn_unanswered_twice_moves),
        cmocka_unit_test(test_handshakes_wait_for_a_slot),
        cmocka_unit_test(test_port_reuse_while_replaying),
        cmocka_unit_test(test_syn_answered_by_an_old_connection),
        cmocka_unit_test(test_syn_only_and_other_ports),
        cmocka_unit_test(test_midstream_starts_at_request_boundary),
        cmocka_unit_test(test_midstream_fin_ends_probe),
        cmocka_unit_test(test_keepalive_probe_answered),
        cmocka_unit_test(test_rebuild_after_target_reset),
        cmocka_unit_test(test_out_of_order_capture_waits_for_gap),
        cmocka_unit_test(test_fast_retransmit),
        cmocka_unit_test(test_target_closes_early_rebuilt),
        cmocka_unit_test(test_shutdown_resets_live_sessions),
        cmocka_unit_test(test_sack_repairs_each_hole_once),
        cmocka_unit_test(test_capture_gap_skipped_to_next_request),
        cmocka_unit_test(test_capture_gap_of_a_whole_request),
        cmocka_unit_test(test_capture_gap_filled_by_a_resent_copy),
        cmocka_unit_test(test_capture_gap_waits_for_the_answer),
        cmocka_unit_test(test_capture_gap_then_client_reset),
        cmocka_unit_test(test_copies_use_distinct_ports),
        cmocka_unit_test(test_sampling_is_per_session_and_stable),
        cmocka_unit_test(test_memory_limit_refuses_then_recovers),
        cmocka_unit_test(test_localhost_client_replaced),
        cmocka_unit_test(test_refused_target_comes_back),
        cmocka_unit_test(test_rebuild_only_at_request_boundary),
        cmocka_unit_test(test_client_rst_window_not_advertised),
        cmocka_unit_test(test_client_rst_before_handshake_delivers),
        cmocka_unit_test(test_ramp_up_grows_one_percent_a_second),
        cmocka_unit_test(test_far_ahead_segment_reserves_nothing),
        cmocka_unit_test(test_gap_without_boundary_resyncs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
