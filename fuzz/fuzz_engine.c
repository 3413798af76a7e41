/*
 * fuzz_engine: drive the session engine (tcp.h) with synthetic traffic and a fake
 * clock, and check every packet it sends.
 *
 * Input: one configuration byte, then operations until the input ends:
 *
 *   op & 7 = 0, 1  capture: a client packet 198.51.100.10:port -> 192.0.2.10:80
 *            2, 3  reply:   a target packet 192.0.2.20:8080 -> 203.0.113.x:port,
 *                           headers only, as intercept relays it
 *            4     tick:    the clock moves (ms) and eng_tick runs
 *            5     flush:   end of a batch (eng_flush)
 *            6     jump:    the clock moves by seconds, then eng_tick at the engine's
 *                           own next deadline if it is due
 *            7     other:   a packet for no rule (with --compare: the online server's
 *                           answer to that port's client), an IPv6 client, or a client
 *                           from a second address
 *
 * The configuration byte with both MTU bits set (0x0c) turns --compare on: replies then
 * carry their payload, and every result the comparison gives is checked for sense. With
 * 0x10 too it is the module below instead, and with 0x30 both (the database scenarios).
 *
 * op >> 3 picks the client port among four, so sessions collide, end and are
 * reused. Packet fields follow: flags, a sequence and an acknowledgement delta
 * relative to what that port has sent and received so far (so a plain input
 * stays in window and reaches deep states), a payload length, TCP options. The
 * fake sender parses every datagram the engine builds and aborts if it does not
 * parse, if its TCP checksum is wrong, if it is bigger than the MTU, or if it
 * goes anywhere but the target. With configuration bits 4 and 8 both set (MTU 576), a
 * protocol module (mod.h) that passes the bytes unchanged but consumes them in small,
 * varying pieces sits in every session: the glue's reordering, boundaries and FIN must
 * still put every byte at its own sequence number. At the end eng_shutdown and eng_free run; ASan
 * finds what leaked.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cmp_sess.h"
#include "log.h"
#include "mod.h"
#include "pkt.h"
#include "tcp.h"
#include "transfer.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NPORTS 4
#define MAX_SESSIONS 64
#define MEM_MAX (1U << 20)

struct side {
    /* Client, as captured: next sequence number and what it acknowledges. */
    uint32_t c_seq, c_ack;
    /* Target, as relayed: its next sequence number. */
    uint32_t t_seq;
    /* What the engine sent to the target for this port. */
    uint32_t e_isn, e_max;
    bool e_syn;
    /* The online server's next sequence number (its answers, with --compare). */
    uint32_t o_seq;
};

struct fz {
    const uint8_t *p, *end;
    uint64_t now;
    uint32_t mtu;
    struct side side[NPORTS];
    struct addr client, client2, client6, online, target, fake;
    struct eng *eng;
    struct cmp_ctx *cmp; /* --compare, or NULL */
    uint64_t results;
};

static struct xfer_map xfer;
static struct client_map cmap;
static struct fz fz;
static uint8_t out_buf[65535];
static uint8_t in_buf[PKT_HDR_MAX + 65536];
static uint8_t payload[65536];
static const uint16_t ports[NPORTS] = {40000, 40001, 40002, 50000};

/* The client's byte at sequence number seq: the same whatever packet carries it, so
 * every byte the engine sends can be checked against where it claims it belongs. */
static uint8_t byte_at(uint32_t seq)
{
    return (uint8_t)(seq ^ (seq >> 8) ^ (seq >> 16) ^ (seq >> 24) ^ 0xa5);
}

static void fill_payload(uint32_t seq, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        payload[i] = byte_at(seq + i);
}

static uint8_t get8(void)
{
    return fz.p < fz.end ? *fz.p++ : 0;
}

static uint16_t get16(void)
{
    uint16_t v = get8();
    return (uint16_t)(v << 8 | get8());
}

static uint32_t get32(void)
{
    uint32_t v = get16();
    return v << 16 | get16();
}

static int port_index(uint16_t port)
{
    for (int i = 0; i < NPORTS; i++)
        if (ports[i] == port)
            return i;
    return -1;
}

/* ---- a module that keeps every byte where it was, in pieces ---------------- */

static int pm_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    *sess = NULL;
    return 0;
}

static void pm_end(void *mod, void *sess)
{
}

static long pm_data(void *sess, const uint8_t *in, size_t len, size_t *consumed, uint8_t *out,
                    size_t cap)
{
    size_t n = 1 + in[0] % 7;
    if (n > len)
        n = len;
    memcpy(out, in, n);
    *consumed = n;
    return (long)n;
}

static const struct tcm_module pieces_module = {
    .api_version = TCM_API_VERSION, .name = "pieces", .sess_new = pm_new, .sess_end = pm_end,
    .client_data = pm_data};

/* ---- the fake sender ---------------------------------------------------- */

static uint8_t *io_buf(void *arg, size_t *cap)
{
    (void)arg;
    *cap = sizeof(out_buf);
    return out_buf;
}

static void io_send(void *arg, size_t len)
{
    (void)arg;
    struct pkt p;
    CHECK(len > 0 && len <= sizeof(out_buf));
    CHECK(pkt_parse_ip(&p, out_buf, len, 0) == PKT_OK);
    CHECK(p.ip_len == len);
    CHECK(pkt_tcp_csum_ok(&p));
    CHECK(len <= fz.mtu);
    CHECK(addr_eq(&p.t.dst, &fz.target));
    CHECK(p.t.dport == 8080);
    CHECK(!(p.flags & TCPF_SYN) || p.data_len == 0);
    /* Every byte goes out at the sequence number it was captured at. */
    for (uint32_t k = 0; k < p.data_len; k++)
        CHECK(p.data[k] == byte_at(p.seq + k));
    int i = port_index(p.t.sport);
    if (i < 0)
        return;
    /* Remember what the target would have seen, so replies can acknowledge it. */
    struct side *s = &fz.side[i];
    if (p.flags & TCPF_SYN) {
        s->e_isn = p.seq;
        s->e_max = p.seq + 1;
        s->e_syn = true;
        return;
    }
    uint32_t end = p.seq + p.data_len + ((p.flags & TCPF_FIN) ? 1 : 0);
    if (s->e_syn && seq_gt(end, s->e_max) && seq_lt(end - s->e_max, 1U << 24))
        s->e_max = end;
}

static void io_route(void *arg, bool add, const struct chan_route *r)
{
    (void)arg;
    (void)add;
    CHECK(r->client.af == r->target.af);
}

/* ---- packets ------------------------------------------------------------ */

/* TCP options from a bit set: MSS, window scale, SACK permitted, timestamps. */
static void put_opts(struct pkt_spec *sp, uint8_t bits)
{
    sp->opt_mss = bits & 1;
    sp->opts.mss = (uint16_t)(bits & 0x10 ? 88 : 1460);
    sp->opt_ws = (bits & 2) != 0;
    sp->opts.wscale = (uint8_t)((bits >> 5) * 2); /* 0..14 */
    sp->opt_sack_ok = (bits & 4) != 0;
    sp->opt_ts = (bits & 8) != 0;
    sp->opts.tsval = (uint32_t)(fz.now / 1000);
    sp->opts.tsecr = 0;
}

/* Build the packet into in_buf and parse it back as the capture would (hdr_only:
 * as intercept relays replies, without the payload). */
static bool build_parse(struct pkt *p, struct pkt_spec *sp, bool hdr_only)
{
    size_t n = pkt_build(in_buf, sizeof(in_buf), sp);
    if (n == 0)
        return false;
    size_t have = hdr_only ? pkt_spec_hlen(sp) : n;
    int rc = pkt_parse_ip(p, in_buf, have, hdr_only ? PKT_PARSE_HDRONLY : 0);
    CHECK(rc == PKT_OK);
    return true;
}

static uint32_t payload_len(uint16_t raw)
{
    /* Mostly small; sometimes large enough to need many chunks and segments. */
    switch (raw >> 14) {
    case 0: return 0;
    case 1: return raw & 0x3f;
    case 2: return raw & 0x7ff;
    default: return raw & 0x3fff;
    }
}

static void op_capture(int pi, const struct addr *src)
{
    struct side *sd = &fz.side[pi];
    uint8_t flags = get8();
    int16_t dseq = (int16_t)get16();
    int8_t dack = (int8_t)get8();
    uint32_t len = payload_len(get16());
    uint8_t optbits = get8();
    struct pkt_spec sp;
    struct pkt p;

    memset(&sp, 0, sizeof(sp));
    sp.t.src = *src;
    sp.t.dst = fz.online;
    sp.t.sport = ports[pi];
    sp.t.dport = 80;
    sp.flags = flags;
    sp.win = (uint16_t)(0xffff >> (optbits >> 6));
    if (flags & TCPF_SYN) {
        /* A new connection: a fresh ISN, and the online server's as the ack base. */
        sd->c_seq = (uint32_t)dseq * 0x10001u + 0xfffff000u;
        sd->c_ack = 0x70000000u + (uint32_t)dack * 1000u;
        sp.seq = sd->c_seq;
        sp.ack = 0;
        if (!(flags & TCPF_ACK))
            len = 0;
        put_opts(&sp, optbits);
        sd->c_seq++;
    } else {
        /* Small deltas mean retransmission, overlap or a hole; zero means in order. */
        sp.seq = sd->c_seq + (uint32_t)(int32_t)dseq;
        if (dack > 0)
            sd->c_ack += (uint32_t)dack * 37u; /* the client got answer bytes: a boundary */
        sp.ack = sd->c_ack;
        if (optbits & 8) {
            sp.opt_ts = true;
            sp.opts.tsval = (uint32_t)(fz.now / 1000);
            sp.opts.tsecr = 1;
        }
    }
    fill_payload(sp.seq, len);
    sp.data = payload;
    sp.data_len = len;
    if (!build_parse(&p, &sp, false))
        return;
    if (!(flags & TCPF_SYN) && dseq <= 0 && seq_gt(sp.seq + len, sd->c_seq))
        sd->c_seq = sp.seq + len + ((flags & TCPF_FIN) ? 1 : 0);
    eng_on_capture(fz.eng, &p, fz.now);
}

static void op_reply(int pi)
{
    struct side *sd = &fz.side[pi];
    uint8_t flags = get8();
    int16_t dseq = (int16_t)get16();
    int16_t dack = (int16_t)get16();
    uint32_t len = payload_len(get16());
    uint8_t optbits = get8();
    struct pkt_spec sp;
    struct pkt p;

    memset(&sp, 0, sizeof(sp));
    sp.t.src = fz.target;
    sp.t.sport = 8080;
    sp.t.dst = fz.fake;
    sp.t.dport = ports[pi];
    sp.flags = flags;
    sp.win = (uint16_t)(optbits & 0x80 ? (optbits & 0x7f) : 0xffff);
    if (flags & TCPF_SYN) {
        sd->t_seq = 0x30000000u + (uint32_t)(uint16_t)dseq * 0x10000u;
        sp.seq = sd->t_seq;
        sp.ack = (flags & TCPF_ACK) ? sd->e_isn + 1 + (uint32_t)(dack == 1) : 0;
        put_opts(&sp, optbits);
        sd->t_seq++;
        len = 0;
    } else {
        sp.seq = sd->t_seq + (uint32_t)(int32_t)(dseq >> 4);
        /* dack 0: everything sent so far; else some bytes short of it (or beyond). */
        sp.ack = sd->e_max - (uint32_t)(int32_t)dack;
        if (optbits & 8) {
            sp.opt_ts = true;
            sp.opts.tsval = (uint32_t)(fz.now / 1000);
            sp.opts.tsecr = 1;
        }
        if (seq_ge(sp.seq + len, sd->t_seq))
            sd->t_seq = sp.seq + len + ((flags & TCPF_FIN) ? 1 : 0);
    }
    sp.data = payload;
    sp.data_len = len;
    if (!build_parse(&p, &sp, fz.cmp == NULL))
        return;
    eng_on_reply(fz.eng, &p, fz.now);
}

/* --compare: the online server's segment to the client of port pi (its own sequence
 * space: a SYN-ACK starts it, small deltas retransmit or leave a hole). */
static void op_online(int pi, struct pkt_spec *sp)
{
    struct side *sd = &fz.side[pi];
    struct pkt p;
    sp->t.src = fz.online;
    sp->t.sport = 80;
    sp->t.dst = fz.client;
    sp->t.dport = ports[pi];
    if (sp->flags & TCPF_SYN) {
        sd->o_seq = sp->seq + 1;
        sp->data_len = 0;
    } else {
        sp->seq = sd->o_seq + (uint32_t)(int32_t)(int8_t)(sp->seq & 0xff);
        if (seq_ge(sp->seq + sp->data_len, sd->o_seq))
            sd->o_seq = sp->seq + sp->data_len;
    }
    fill_payload(sp->seq, sp->data_len);
    if (build_parse(&p, sp, false))
        eng_on_capture(fz.eng, &p, fz.now);
}

/* Every result is one of the verdicts, a reason only when not compared, a kind only when
 * different, and excerpts within their buffers. */
static void on_result(void *arg, const struct cmp_result *r, const struct tuple *ckey)
{
    (void)arg;
    CHECK(r->verdict <= CMP_NOT_COMPARED);
    CHECK((r->verdict == CMP_NOT_COMPARED) == (r->reason != CMP_REASON_NONE));
    CHECK(r->reason < CMP_REASON_COUNT);
    CHECK((r->verdict == CMP_DIFFERENT) == (r->diff.kind != CMP_KIND_NONE));
    CHECK(r->diff.alen <= sizeof(r->diff.a) && r->diff.blen <= sizeof(r->diff.b));
    CHECK(ckey->dport == 80);
    fz.results++;
}

static void op_other(int pi)
{
    uint8_t kind = get8();
    struct pkt_spec sp;
    struct pkt p;

    memset(&sp, 0, sizeof(sp));
    sp.t.sport = ports[pi];
    sp.flags = (uint8_t)(kind & 0x1f);
    sp.seq = get32();
    sp.ack = get32();
    sp.win = 1000;
    sp.data = payload;
    sp.data_len = payload_len(get16());
    switch (kind >> 6) {
    case 0: /* no rule for this port; with --compare, an online answer */
        if (fz.cmp != NULL) {
            op_online(pi, &sp);
            return;
        }
        sp.t.src = fz.client;
        sp.t.dst = fz.online;
        sp.t.dport = 81;
        break;
    case 1: /* an IPv6 client: the rule's target and the client map are IPv4 */
        sp.t.src = fz.client6;
        CHECK(addr_parse(&sp.t.dst, "2001:db8::80"));
        sp.t.dport = 80;
        break;
    case 2: /* a second real client that maps to a rewritten address of its own */
        sp.t.src = fz.client2;
        sp.t.dst = fz.online;
        sp.t.dport = 80;
        break;
    default: /* a reply for no session */
        sp.t.src = fz.target;
        sp.t.sport = 8080;
        sp.t.dst = fz.fake;
        sp.t.dport = (uint16_t)(ports[pi] + 7);
        if (!build_parse(&p, &sp, true))
            return;
        eng_on_reply(fz.eng, &p, fz.now);
        return;
    }
    if (sp.flags & TCPF_SYN)
        put_opts(&sp, kind);
    fill_payload(sp.seq, sp.data_len);
    if (!build_parse(&p, &sp, false))
        return;
    eng_on_capture(fz.eng, &p, fz.now);
}

/* ---- the driver ----------------------------------------------------------- */

static void setup_once(void)
{
    static bool done;
    char err[256];
    if (done)
        return;
    done = true;
    log_level_cur = LOG_LVL_ERR; /* rate-limited warnings would only slow the fuzzer */
    CHECK(xfer_parse(&xfer, "80-192.0.2.20:8080", err, sizeof(err)) == 0);
    CHECK(cmap_parse(&cmap, "203.0.113.x", err, sizeof(err)) == 0);
    cmap_exclude_targets(&cmap, &xfer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct eng_conf conf;
    struct eng_io io = {.arg = NULL, .pkt_buf = io_buf, .pkt_send = io_send, .route = io_route};

    setup_once();
    memset(&fz, 0, sizeof(fz));
    fz.p = data;
    fz.end = data + size;
    fz.now = 1000000000ULL;
    CHECK(addr_parse(&fz.client, "198.51.100.10"));
    CHECK(addr_parse(&fz.client2, "198.51.100.11"));
    CHECK(addr_parse(&fz.client6, "2001:db8::10"));
    CHECK(addr_parse(&fz.online, "192.0.2.10"));
    CHECK(addr_parse(&fz.target, "192.0.2.20"));
    fz.fake = *cmap_pick_copy(&cmap, &fz.client, 0);

    uint8_t cfg = get8();
    memset(&conf, 0, sizeof(conf));
    eng_conf_defaults(&conf);
    conf.xfer = &xfer;
    conf.cmap = (cfg & 0x80) ? NULL : &cmap;
    if (conf.cmap == NULL)
        fz.fake = fz.client;
    conf.max_sessions = (cfg & 0x40) ? 2 : MAX_SESSIONS;
    conf.mem_max = MEM_MAX;
    conf.sess_mem_max = (cfg & 0x20) ? 20000 : MEM_MAX / 2;
    conf.no_wait = (cfg & 1) != 0;
    conf.syn_only = (cfg & 2) != 0;
    conf.mtu = (cfg & 4) ? 576 : (cfg & 8) ? 9000 : 1500;
    conf.answer_timeout_us = (cfg & 0x10) ? 100000 : 3000000;
    /* Short session timeouts: the drain after each input ends within a few simulated
     * seconds (the defaults, 600 and 720 s, cost thousands of wake-ups per input), and
     * the timeout paths run often. */
    conf.session_timeout_us = 8000000;
    conf.idle_timeout_us = 10000000;
    fz.mtu = conf.mtu;
    struct mod *m = NULL;
    char err[256];
    if ((cfg & 0x1c) == 0x1c) /* mtu bits both set: a module, or (0x10 clear) compare */
        CHECK(mod_open_table(&pieces_module, NULL, &m, err, sizeof(err)) == 0);
    conf.mod = m;
    if ((cfg & 0x1c) == 0x0c || (cfg & 0x3c) == 0x3c) { /* 0x3c: the module and compare */
        struct cmp_conf cc = {.proto = CMP_PROTO_AUTO, .max_sessions = 3, .sink = on_result};
        fz.cmp = cmp_ctx_new(&cc);
        CHECK(fz.cmp != NULL);
        conf.cmp = fz.cmp;
    }

    fz.eng = eng_new(&conf, &io, fz.now, 0x1234567890abcdefULL);
    CHECK(fz.eng != NULL);

    int ops = 0;
    while (fz.p < fz.end && ops++ < 4096) {
        uint8_t op = get8();
        int pi = (op >> 3) % NPORTS;
        switch (op & 7) {
        case 0:
        case 1:
            op_capture(pi, (op & 0x80) ? &fz.client2 : &fz.client);
            break;
        case 2:
        case 3:
            op_reply(pi);
            break;
        case 4:
            fz.now += (uint64_t)get16() * 1000 / 16;
            eng_tick(fz.eng, fz.now);
            break;
        case 5:
            eng_flush(fz.eng, fz.now);
            break;
        case 6: {
            uint64_t dl = eng_next_deadline(fz.eng);
            fz.now += (uint64_t)get8() * 1000000;
            if (dl != UINT64_MAX && dl > fz.now && (op & 0x80))
                fz.now = dl; /* exactly at the engine's own deadline */
            eng_tick(fz.eng, fz.now);
            break;
        }
        default:
            op_other(pi);
            break;
        }
        CHECK(eng_session_count(fz.eng) <= conf.max_sessions);
        const struct eng_stats *st = eng_stats(fz.eng);
        CHECK(st->mem_bytes <= MEM_MAX);
        /* Every session in the table is live, probing (seen mid-stream) or lingering. */
        CHECK(st->sessions_active + st->sessions_probing + st->sessions_closed ==
              eng_session_count(fz.eng));
    }
    eng_flush(fz.eng, fz.now);
    /* Let time run out at the engine's own pace: each wake-up must make progress.
     * A timer re-armed for a time already past (or every millisecond) is a spin
     * in the real event loop. */
    uint64_t window_start = fz.now;
    int wakeups = 0;
    for (int i = 0; i < 3000; i++) {
        uint64_t dl = eng_next_deadline(fz.eng);
        if (dl == UINT64_MAX)
            break;
        if (dl > fz.now)
            fz.now = dl;
        eng_tick(fz.eng, fz.now);
        if (fz.now - window_start >= 1000000) {
            window_start = fz.now;
            wakeups = 0;
        }
        if (++wakeups > 200) {
            fprintf(stderr, "engine spins: >200 timer wake-ups within 1 s at %llu us\n",
                    (unsigned long long)fz.now);
            abort();
        }
    }
    if (getenv("FUZZ_ENGINE_VERBOSE") != NULL) {
        /* To check that a seed reaches what it was written for. */
        const struct eng_stats *st = eng_stats(fz.eng);
        fprintf(stderr, "created %llu sent %llu data %llu bytes %llu rtx %llu gate %llu/%llu/%llu\n",
                (unsigned long long)st->sess_created, (unsigned long long)st->sent_packets,
                (unsigned long long)st->sent_data_packets,
                (unsigned long long)st->sent_payload_bytes, (unsigned long long)st->rtx_packets,
                (unsigned long long)st->gate_by_bytes, (unsigned long long)st->gate_by_quiet,
                (unsigned long long)st->gate_by_timeout);
        for (int i = 0; i < SO_COUNT; i++)
            if (st->outcome[i])
                fprintf(stderr, "  %s: %llu\n", eng_outcome_str(i),
                        (unsigned long long)st->outcome[i]);
    }
    eng_shutdown(fz.eng, fz.now);
    eng_free(fz.eng);
    fz.eng = NULL;
    mod_free(m);
    if (fz.cmp != NULL) {
        /* every compared session gave its results when it was freed: one per request */
        const struct cmp_stats *cs = &fz.cmp->st;
        CHECK(cs->sessions_active == 0);
        CHECK(fz.results == cs->results[0] + cs->results[1] + cs->results[2]);
        CHECK(fz.results == cs->requests);
        cmp_ctx_free(fz.cmp);
        fz.cmp = NULL;
    }
    return 0;
}
