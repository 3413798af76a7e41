/*
 * tcp_fx.h: the engine fixture of test_tcp and test_mod: a fake sender that parses and
 * keeps every packet the engine builds (checksums checked), the routes it registers, one
 * -x rule (80 -> 192.0.2.20:8080, optionally -c 203.0.113.7), a fake clock, and builders
 * of captured client packets and relayed target replies.
 */
#ifndef TC_TEST_TCP_FX_H
#define TC_TEST_TCP_FX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pkt.h"
#include "tcp.h"
#include "transfer.h"

#define MAXOUT 4096
#define C_ISN 1000000u
#define T_ISN 5000000u
#define S_ISN 7000000u /* the online server's ISN, as the client acknowledges it */

struct out {
    uint8_t buf[MAXOUT][1600];
    size_t len[MAXOUT];
    struct pkt p[MAXOUT];
    size_t n;
    size_t routes_added, routes_deleted;
    uint8_t scratch[65536];
};

struct fx {
    struct out *out;
    struct xfer_map xfer;
    struct client_map cmap;
    struct eng_conf conf;
    struct eng *e;
    uint64_t now;
    size_t seen; /* packets already looked at by the test */
};

static inline uint8_t *io_buf(void *arg, size_t *cap)
{
    struct out *o = arg;
    assert_true(o->n < MAXOUT);
    *cap = sizeof(o->buf[0]);
    return o->buf[o->n];
}

static inline void io_send(void *arg, size_t len)
{
    struct out *o = arg;
    o->len[o->n] = len;
    assert_int_equal(pkt_parse_ip(&o->p[o->n], o->buf[o->n], len, 0), PKT_OK);
    assert_true(pkt_tcp_csum_ok(&o->p[o->n]));
    o->n++;
}

static inline void io_route(void *arg, bool add, const struct chan_route *r)
{
    struct out *o = arg;
    if (add)
        o->routes_added++;
    else
        o->routes_deleted++;
}

static inline struct fx *fx_new_mod(bool with_c, struct mod *m)
{
    struct fx *f = calloc(1, sizeof(*f));
    char err[256];
    f->out = calloc(1, sizeof(*f->out));
    assert_int_equal(xfer_parse(&f->xfer, "80-192.0.2.20:8080", err, sizeof(err)), 0);
    if (with_c)
        assert_int_equal(cmap_parse(&f->cmap, "203.0.113.7", err, sizeof(err)), 0);
    eng_conf_defaults(&f->conf);
    f->conf.max_handshakes = 100000; /* tests that open thousands of sessions count SYNs */
    f->conf.xfer = &f->xfer;
    f->conf.cmap = with_c ? &f->cmap : NULL;
    f->conf.mod = m;
    struct eng_io io = {.arg = f->out, .pkt_buf = io_buf, .pkt_send = io_send, .route = io_route};
    f->now = 1000000;
    f->e = eng_new(&f->conf, &io, f->now, 42);
    assert_non_null(f->e);
    return f;
}

static inline void fx_free(struct fx *f)
{
    eng_free(f->e);
    free(f->out);
    free(f);
}

/* The packets the engine sent since the last call. */
static inline size_t fresh(struct fx *f, struct pkt **first)
{
    size_t n = f->out->n - f->seen;
    *first = &f->out->p[f->seen];
    f->seen = f->out->n;
    return n;
}

static inline void set_tuple(struct tuple *t, const char *src, uint16_t sport, const char *dst,
                      uint16_t dport)
{
    memset(t, 0, sizeof(*t));
    assert_true(addr_parse(&t->src, src));
    assert_true(addr_parse(&t->dst, dst));
    t->sport = sport;
    t->dport = dport;
}

/* Build a packet into scratch and parse it back, as capture or intercept would. */
static inline void mk(struct fx *f, struct pkt *p, bool from_client, uint16_t cport, uint8_t flags,
               uint32_t seq, uint32_t ack, const char *data, bool syn_opts)
{
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    if (from_client)
        set_tuple(&sp.t, "198.51.100.10", cport, "192.0.2.10", 80);
    else
        set_tuple(&sp.t, "192.0.2.20", 8080, f->conf.cmap ? "203.0.113.7" : "198.51.100.10", cport);
    sp.seq = seq;
    sp.ack = ack;
    sp.flags = flags;
    sp.win = 65535;
    if (syn_opts) {
        sp.opt_mss = true;
        sp.opts.mss = 1460;
        sp.opt_ws = true;
        sp.opts.wscale = 7;
        sp.opt_sack_ok = true;
        sp.opt_ts = true;
        sp.opts.tsval = 111;
    }
    if (data != NULL) {
        sp.data = (const uint8_t *)data;
        sp.data_len = (uint32_t)strlen(data);
    }
    size_t n = pkt_build(f->out->scratch, sizeof(f->out->scratch), &sp);
    assert_true(n > 0);
    assert_int_equal(pkt_parse_ip(p, f->out->scratch, n, 0), PKT_OK);
}

static inline void cap(struct fx *f, uint16_t cport, uint8_t flags, uint32_t seq, uint32_t ack,
                const char *data)
{
    struct pkt p;
    mk(f, &p, true, cport, flags, seq, ack, data, (flags & TCPF_SYN) != 0);
    eng_on_capture(f->e, &p, f->now);
    eng_flush(f->e, f->now);
}

static inline void reply(struct fx *f, uint16_t cport, uint8_t flags, uint32_t seq, uint32_t ack,
                  const char *data)
{
    struct pkt p;
    mk(f, &p, false, cport, flags, seq, ack, data, (flags & TCPF_SYN) != 0);
    eng_on_reply(f->e, &p, f->now);
    eng_flush(f->e, f->now);
}

static inline void advance(struct fx *f, uint64_t us)
{
    f->now += us;
    eng_tick(f->e, f->now);
    eng_flush(f->e, f->now);
}

#endif
