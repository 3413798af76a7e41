/*
 * fuzz_pkt: drive the packet parsers with arbitrary frames.
 *
 * The first byte picks the entry point (pkt_parse_ip, pkt_parse_link with one
 * of the link types it accepts, or pkt_parse_tcp_opts); the rest is the frame.
 * Each frame is parsed with and without PKT_PARSE_HDRONLY. A packet that
 * parses is printed, its checksum checked, and it is rebuilt with pkt_build
 * and parsed again: the fields must survive the trip, or we abort so libFuzzer
 * keeps the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pcap/pcap.h>

#include "pkt.h"
#include "fuzz_util.h"

/* -1: pkt_parse_ip without a link header; -2: the option parser alone. */
static const int sel_dlt[] = {-1,       DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW, 101,
                              DLT_IPV4, DLT_IPV6,   DLT_NULL,      DLT_LOOP,       -2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_parsed(const struct pkt *p, const uint8_t *buf, size_t len, unsigned flags)
{
    static uint8_t out[PKT_HDR_MAX + 65536];
    char line[512];
    struct pkt_spec s;
    struct pkt q;
    size_t n;

    /* The parser's own invariants. */
    CHECK(p->af == AF_INET || p->af == AF_INET6);
    CHECK(p->ip >= buf && p->ip + p->cap_len <= buf + len);
    CHECK(p->cap_len <= p->ip_len);
    CHECK(p->tcp == p->ip + p->ip_hlen);
    CHECK(p->tcp_hlen >= PKT_TCP_HLEN && p->tcp_hlen <= PKT_TCP_HLEN + PKT_TCP_OPT_MAX);
    CHECK((uint32_t)p->ip_hlen + p->tcp_hlen + p->data_len == p->ip_len);
    CHECK((uint32_t)p->ip_hlen + p->tcp_hlen <= p->cap_len);
    CHECK(p->opts.nsack <= PKT_SACK_MAX);
    CHECK(!p->opts.has_ws || p->opts.wscale <= 14);
    if (!(flags & PKT_PARSE_HDRONLY))
        CHECK(p->data != NULL);
    if (p->data != NULL)
        CHECK(p->data + p->data_len == p->ip + p->ip_len && p->cap_len == p->ip_len);

    pkt_str(p, line, sizeof(line));
    CHECK(strlen(line) < sizeof(line));
    (void)pkt_tcp_csum_ok(p);

    /* Rebuild from the parsed fields and parse again. */
    memset(&s, 0, sizeof(s));
    s.t = p->t;
    s.seq = p->seq;
    s.ack = p->ack;
    s.win = p->win;
    s.flags = p->flags;
    s.ttl = p->ttl;
    s.opt_mss = p->opts.has_mss;
    s.opt_ws = p->opts.has_ws;
    s.opt_sack_ok = p->opts.sack_ok;
    s.opt_ts = p->opts.has_ts;
    s.opts = p->opts;
    s.data = p->data;
    s.data_len = p->data ? p->data_len : 0;
    n = pkt_build(out, sizeof(out), &s);
    /* Our headers are never longer than the ones parsed, so it always fits. */
    CHECK(n == pkt_spec_hlen(&s) + s.data_len);
    CHECK(pkt_parse_ip(&q, out, n, 0) == PKT_OK);
    CHECK(q.af == p->af);
    CHECK(tuple_eq(&q.t, &p->t));
    CHECK(q.seq == p->seq && q.ack == p->ack);
    CHECK(q.flags == p->flags && q.win == p->win);
    CHECK(q.ttl == (p->ttl ? p->ttl : 64));
    CHECK(q.data_len == s.data_len);
    CHECK(q.opts.has_mss == p->opts.has_mss && (!q.opts.has_mss || q.opts.mss == p->opts.mss));
    CHECK(q.opts.has_ws == p->opts.has_ws && (!q.opts.has_ws || q.opts.wscale == p->opts.wscale));
    CHECK(q.opts.sack_ok == p->opts.sack_ok);
    CHECK(q.opts.has_ts == p->opts.has_ts &&
          (!q.opts.has_ts || (q.opts.tsval == p->opts.tsval && q.opts.tsecr == p->opts.tsecr)));
    CHECK(s.data_len == 0 || memcmp(q.data, p->data, s.data_len) == 0);
    CHECK(pkt_tcp_csum_ok(&q));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned modes[] = {0, PKT_PARSE_HDRONLY};
    const uint8_t *buf;
    size_t len;
    int dlt;

    if (size < 1)
        return 0;
    dlt = sel_dlt[data[0] % (sizeof(sel_dlt) / sizeof(sel_dlt[0]))];
    buf = data + 1;
    len = size - 1;

    if (dlt == -2) {
        struct tcp_opts o;

        if (pkt_parse_tcp_opts(&o, buf, len) == PKT_OK)
            CHECK(o.nsack <= PKT_SACK_MAX && (!o.has_ws || o.wscale <= 14));
        return 0;
    }
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        struct pkt p;
        int r;

        if (dlt == -1)
            r = pkt_parse_ip(&p, buf, len, modes[m]);
        else
            r = pkt_parse_link(&p, dlt, buf, len, modes[m]);
        CHECK(r <= PKT_OK && -r < PKT_E_COUNT);
        CHECK(pkt_err_str(r) != NULL);
        if (r == PKT_OK)
            check_parsed(&p, buf, len, modes[m]);
    }
    return 0;
}
