/*
 * test_rawio: the raw-socket capture backend and the raw IP sender, end to end
 * through a real kernel. Each test moves the process into a fresh network
 * namespace (unshare(CLONE_NEWNET)) so that only its own packets cross the
 * loopback there; that needs root, and without it the tests fail rather than
 * skip, so that CI cannot go green without having run them.
 *
 * Packets are built by hand here (IPv4 + TCP with checksums) so that the test
 * depends on nothing but the two modules under test.
 *
 * An IPv6 raw socket delivers no IPv6 header: the capture rebuilds it, and
 * test_v6_rebuilt_and_filtered checks that rebuild against what was sent.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pcap/dlt.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "pkt.h"
#include "send.h"
#include "sock_fx.h"

#define PORT_KEEP 8080
#define PORT_DROP 9090
#define SPORT 40000
#define MAXPKT 512

/* What the capture callback saw, copied out of the backend's buffers. */
struct seen {
    unsigned n;
    struct {
        uint8_t data[1500];
        uint32_t caplen, len;
        int dlt;
    } pkt[MAXPKT];
};

struct fixture {
    struct capture *cap;
    struct sender *snd;
    struct seen *seen;
};

static uint32_t t_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

static uint16_t t_csum_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void t_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void t_put32(uint8_t *p, uint32_t v)
{
    t_put16(p, (uint16_t)(v >> 16));
    t_put16(p + 2, (uint16_t)v);
}

/*
 * 20-byte IPv4 header + 20-byte TCP header + payload, both checksums
 * right and a non-zero IP id: with IP_HDRINCL the kernel rewrites the IP
 * checksum and fills a zero id, and the test compares bytes.
 */
static size_t t_build4f(uint8_t *b, size_t cap, const char *src, uint16_t sport, const char *dst,
                        uint16_t dport, uint32_t seq, uint8_t flags, const uint8_t *data,
                        size_t dlen)
{
    size_t len = 40 + dlen;
    uint32_t sum;

    assert_true(len <= cap);
    memset(b, 0, 40);
    b[0] = 0x45;
    t_put16(b + 2, (uint16_t)len);
    t_put16(b + 4, (uint16_t)(seq | 1));
    b[6] = 0x40; /* DF */
    b[8] = 64;
    b[9] = IPPROTO_TCP;
    assert_int_equal(inet_pton(AF_INET, src, b + 12), 1);
    assert_int_equal(inet_pton(AF_INET, dst, b + 16), 1);
    t_put16(b + 10, t_csum_fold(t_csum_add(0, b, 20)));

    t_put16(b + 20, sport);
    t_put16(b + 22, dport);
    t_put32(b + 24, seq);
    t_put32(b + 28, 1);
    b[32] = 5 << 4;
    b[33] = flags;
    t_put16(b + 34, 65535);
    if (dlen)
        memcpy(b + 40, data, dlen);
    /* RFC 9293 3.1: the checksum covers a pseudo-header of addresses, protocol, length. */
    sum = t_csum_add(0, b + 12, 8);
    sum += IPPROTO_TCP + (uint32_t)(len - 20);
    sum = t_csum_add(sum, b + 20, len - 20);
    t_put16(b + 36, t_csum_fold(sum));
    return len;
}

/* An ACK|PSH segment. */
static size_t t_build4(uint8_t *b, size_t cap, const char *src, uint16_t sport, const char *dst,
                       uint16_t dport, uint32_t seq, const uint8_t *data, size_t dlen)
{
    return t_build4f(b, cap, src, sport, dst, dport, seq, 0x18, data, dlen);
}

/* A minimal IPv6 + TCP datagram (checksum not needed: it never leaves). */
static size_t t_build6(uint8_t *b, size_t cap, const char *src, const char *dst, uint16_t dport)
{
    assert_true(cap >= 60);
    memset(b, 0, 60);
    b[0] = 0x60;
    t_put16(b + 4, 20);
    b[6] = IPPROTO_TCP;
    b[7] = 64;
    assert_int_equal(inet_pton(AF_INET6, src, b + 8), 1);
    assert_int_equal(inet_pton(AF_INET6, dst, b + 24), 1);
    t_put16(b + 40, SPORT);
    t_put16(b + 42, dport);
    b[52] = 5 << 4;
    b[53] = 0x10;
    return 60;
}

static void on_pkt(void *arg, const struct capture_pkt *p)
{
    struct seen *s = arg;

    assert_true(s->n < MAXPKT);
    assert_true(p->caplen <= sizeof(s->pkt[0].data));
    memcpy(s->pkt[s->n].data, p->data, p->caplen);
    s->pkt[s->n].caplen = p->caplen;
    s->pkt[s->n].len = p->len;
    s->pkt[s->n].dlt = p->dlt;
    s->n++;
}

static uint64_t t_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Read until want packets have come or nothing more arrives for quiet_ms
 * (loopback delivery runs in softirq context, usually before sendmmsg returns,
 * but nothing promises it). Returns how many were seen.
 */
static unsigned t_collect(struct capture *c, struct seen *s, unsigned want, int quiet_ms)
{
    uint64_t deadline = t_now_ms() + 2000;

    while (t_now_ms() < deadline) {
        struct pollfd pfd = {.fd = capture_fd(c), .events = POLLIN};
        int r = poll(&pfd, 1, s->n >= want ? quiet_ms : 200);
        assert_true(r >= 0);
        if (r == 0) {
            if (s->n >= want)
                break;
            continue;
        }
        r = capture_dispatch(c, 1000, on_pkt, s);
        assert_true(r >= 0);
    }
    return s->n;
}

/* Bring lo up in the current namespace: a new one starts with it down. */


static struct fixture *t_open_ports(int rcvbuf, const uint16_t *ports, size_t nports)
{
    struct capture_raw_conf cc = {.ports = ports, .nports = nports, .rcvbuf_bytes = rcvbuf};
    struct sender_conf sc = {0};
    char err[256] = "";
    struct fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->seen = calloc(1, sizeof(*f->seen));
    assert_non_null(f->seen);
    f->cap = capture_raw_open(&cc, err, sizeof(err));
    if (!f->cap)
        fail_msg("capture_raw_open: %s", err);
    f->snd = sender_raw_open(&sc, err, sizeof(err));
    if (!f->snd)
        fail_msg("sender_raw_open: %s", err);
    return f;
}

static struct fixture *t_open(int rcvbuf)
{
    static const uint16_t ports[] = {PORT_KEEP};
    return t_open_ports(rcvbuf, ports, 1);
}

static int setup(void **state)
{
    if (netns_lo("test_rawio") < 0)
        return -1;
    *state = t_open(0);
    return 0;
}

static int setup_small_rcvbuf(void **state)
{
    if (netns_lo("test_rawio") < 0)
        return -1;
    *state = t_open(4096);
    return 0;
}

/* Without ports, or with more than the kernel filter holds: no filter. */
static int setup_all_ports(void **state)
{
    if (netns_lo("test_rawio") < 0)
        return -1;
    *state = t_open_ports(0, NULL, 0);
    return 0;
}

static int setup_many_ports(void **state)
{
    static uint16_t ports[65];

    for (unsigned i = 0; i < 65; i++)
        ports[i] = (uint16_t)(20000 + i);
    if (netns_lo("test_rawio") < 0)
        return -1;
    *state = t_open_ports(0, ports, 65);
    return 0;
}

/* The longest filter: 64 ports, the last one ours. */
static int setup_64_ports(void **state)
{
    static uint16_t ports[64];

    for (unsigned i = 0; i < 63; i++)
        ports[i] = (uint16_t)(20000 + i);
    ports[63] = PORT_KEEP;
    if (netns_lo("test_rawio") < 0)
        return -1;
    *state = t_open_ports(0, ports, 64);
    return 0;
}

/* Both families, each filtered on the kept port. */
static int setup_v4v6(void **state)
{
    static const uint16_t ports[] = {PORT_KEEP};
    struct capture_raw_conf cc = {.ports = ports,
                                  .nports = 1,
                                  .ports6 = ports,
                                  .nports6 = 1,
                                  .families = CAPTURE_RAW_V4 | CAPTURE_RAW_V6};
    struct sender_conf sc = {0};
    char err[256] = "";
    struct fixture *f;

    if (netns_lo("test_rawio") < 0)
        return -1;
    f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->seen = calloc(1, sizeof(*f->seen));
    assert_non_null(f->seen);
    f->cap = capture_raw_open(&cc, err, sizeof(err));
    if (!f->cap)
        fail_msg("capture_raw_open: %s", err);
    f->snd = sender_raw_open(&sc, err, sizeof(err));
    if (!f->snd)
        fail_msg("sender_raw_open: %s", err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    if (f) {
        capture_free(f->cap);
        sender_free(f->snd);
        free(f->seen);
        free(f);
    }
    return 0;
}

/* Queue one datagram built elsewhere. */
static void t_queue(struct sender *s, const uint8_t *p, size_t len)
{
    uint8_t *slot = sender_buf(s);

    assert_true(len <= sender_slot_size(s));
    memcpy(slot, p, len);
    sender_commit(s, len);
}

/* 100 packets to the kept port interleaved with 100 to another: the filter
 * lets exactly the first hundred through, byte for byte and in order, and the
 * sender's automatic flushes (batch 64) keep the order. */
static void test_filter_and_order(void **state)
{
    struct fixture *f = *state;
    static uint8_t sent[100][128];
    size_t sent_len[100];
    uint64_t bytes = 0;

    for (unsigned i = 0; i < 100; i++) {
        uint8_t other[128], payload[32];
        size_t n;

        memset(payload, (int)i, sizeof(payload));
        sent_len[i] = t_build4(sent[i], sizeof(sent[i]), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP,
                               1000 + i, payload, 1 + i % 32);
        t_queue(f->snd, sent[i], sent_len[i]);
        n = t_build4(other, sizeof(other), "127.0.0.1", SPORT, "127.0.0.1", PORT_DROP, 5000 + i,
                     payload, 8);
        t_queue(f->snd, other, n);
        bytes += sent_len[i] + n;
    }
    assert_int_equal(sender_flush(f->snd), 0);

    const struct sender_stats *st = sender_stats(f->snd);
    assert_int_equal(st->packets, 200);
    assert_int_equal(st->bytes, bytes);
    assert_true(st->batches >= 4); /* 64 + 64 + 64 + 8 */
    assert_int_equal(
        st->err_eperm + st->err_msgsize + st->err_nobufs + st->err_unreach + st->err_other, 0);

    assert_int_equal(t_collect(f->cap, f->seen, 100, 200), 100);
    for (unsigned i = 0; i < 100; i++) {
        assert_int_equal(f->seen->pkt[i].dlt, DLT_RAW);
        assert_int_equal(f->seen->pkt[i].caplen, sent_len[i]);
        assert_int_equal(f->seen->pkt[i].len, sent_len[i]);
        assert_memory_equal(f->seen->pkt[i].data, sent[i], sent_len[i]);
    }
    assert_int_equal(capture_kernel_drops(f->cap), 0);
}

/* A full-size payload (the default slot is 1500) arrives intact. */
static void test_payload_1400(void **state)
{
    struct fixture *f = *state;
    uint8_t pkt[1500], payload[1400];
    size_t len;

    for (unsigned i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    len = t_build4(pkt, sizeof(pkt), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP, 42, payload,
                   sizeof(payload));
    assert_int_equal(len, 1440);
    t_queue(f->snd, pkt, len);
    assert_int_equal(sender_flush(f->snd), 0);
    assert_int_equal(sender_stats(f->snd)->packets, 1);
    assert_int_equal(sender_stats(f->snd)->bytes, 1440);

    assert_int_equal(t_collect(f->cap, f->seen, 1, 100), 1);
    assert_int_equal(f->seen->pkt[0].caplen, 1440);
    assert_int_equal(f->seen->pkt[0].len, 1440);
    assert_memory_equal(f->seen->pkt[0].data, pkt, len);
}

/* Unroutable datagrams among good ones: each is refused and counted, the
 * flush goes on with the rest and the good ones keep their order. */
static void test_refused_skipped(void **state)
{
    struct fixture *f = *state;
    uint8_t good1[64], good2[64], bad4[64], bad6[64];
    size_t l1, l2, lb4, lb6;
    const struct sender_stats *st = sender_stats(f->snd);

    l1 = t_build4(good1, sizeof(good1), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP, 1, NULL, 0);
    lb4 = t_build4(bad4, sizeof(bad4), "127.0.0.1", SPORT, "192.0.2.1", PORT_KEEP, 2, NULL, 0);
    lb6 = t_build6(bad6, sizeof(bad6), "2001:db8::2", "2001:db8::1", PORT_KEEP);
    l2 = t_build4(good2, sizeof(good2), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP, 3, NULL, 0);

    t_queue(f->snd, good1, l1);
    t_queue(f->snd, bad4, lb4);
    t_queue(f->snd, bad6, lb6);
    t_queue(f->snd, good2, l2);
    assert_int_equal(sender_flush(f->snd), 2);
    assert_int_equal(st->packets, 2);
    assert_int_equal(st->bytes, l1 + l2);
    /* No route in a namespace that has only lo. If this host has no IPv6 at
     * all, the v6 packet is refused under the socket's open errno instead. */
    assert_true(st->err_unreach >= 1);
    assert_int_equal(
        st->err_eperm + st->err_msgsize + st->err_nobufs + st->err_unreach + st->err_other, 2);

    /* An empty flush is harmless. */
    assert_int_equal(sender_flush(f->snd), 0);

    assert_int_equal(t_collect(f->cap, f->seen, 2, 100), 2);
    assert_memory_equal(f->seen->pkt[0].data, good1, l1);
    assert_memory_equal(f->seen->pkt[1].data, good2, l2);
}

/* The filter finds the TCP header after IP options (IHL 6): a filter that
 * assumed 20 bytes would read the options instead of the port. */
static void test_filter_ip_options(void **state)
{
    struct fixture *f = *state;
    uint8_t a[64], b[64];
    size_t la, lb;

    for (int k = 0; k < 2; k++) {
        uint8_t *p = k ? b : a;
        size_t *l = k ? &lb : &la;
        uint8_t plain[64];
        size_t n = t_build4f(plain, sizeof(plain), "127.0.0.1", SPORT, "127.0.0.1",
                             k ? PORT_DROP : PORT_KEEP, 7, 0x14, NULL, 0);

        /* Insert NOP NOP NOP EOL after the fixed header and redo the IP checksum. */
        memcpy(p, plain, 20);
        memcpy(p + 20, "\x01\x01\x01\x00", 4);
        memcpy(p + 24, plain + 20, n - 20);
        *l = n + 4;
        p[0] = 0x46;
        t_put16(p + 2, (uint16_t)*l);
        t_put16(p + 10, 0);
        t_put16(p + 10, t_csum_fold(t_csum_add(0, p, 24)));
    }
    t_queue(f->snd, b, lb);
    t_queue(f->snd, a, la);
    assert_int_equal(sender_flush(f->snd), 0);
    assert_int_equal(t_collect(f->cap, f->seen, 1, 200), 1);
    assert_int_equal(f->seen->pkt[0].caplen, la);
    assert_memory_equal(f->seen->pkt[0].data, a, la);
}

/* Without a kernel filter every TCP datagram comes up, both ports here. RST
 * segments, so that the closed ports add no replies to count. */
static void test_no_filter(void **state)
{
    struct fixture *f = *state;
    uint8_t a[64], b[64];
    size_t la, lb;

    la = t_build4f(a, sizeof(a), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP, 1, 0x14, NULL, 0);
    lb = t_build4f(b, sizeof(b), "127.0.0.1", SPORT, "127.0.0.1", PORT_DROP, 2, 0x14, NULL, 0);
    t_queue(f->snd, a, la);
    t_queue(f->snd, b, lb);
    assert_int_equal(sender_flush(f->snd), 0);
    assert_int_equal(t_collect(f->cap, f->seen, 2, 200), 2);
    assert_memory_equal(f->seen->pkt[0].data, a, la);
    assert_memory_equal(f->seen->pkt[1].data, b, lb);
}

/* 64 ports fit in the filter (jump offsets are 8 bits): the last still matches. */
static void test_filter_64_ports(void **state)
{
    struct fixture *f = *state;
    uint8_t a[64], b[64];
    size_t la, lb;

    la = t_build4f(a, sizeof(a), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP, 1, 0x14, NULL, 0);
    lb = t_build4f(b, sizeof(b), "127.0.0.1", SPORT, "127.0.0.1", PORT_DROP, 2, 0x14, NULL, 0);
    t_queue(f->snd, b, lb);
    t_queue(f->snd, a, la);
    assert_int_equal(sender_flush(f->snd), 0);
    assert_int_equal(t_collect(f->cap, f->seen, 1, 200), 1);
    assert_memory_equal(f->seen->pkt[0].data, a, la);
}

/* A commit the sender cannot route (not IPv4 or IPv6) is counted, not sent. */
static void test_commit_garbage(void **state)
{
    struct fixture *f = *state;
    uint8_t *slot = sender_buf(f->snd);

    memset(slot, 0, 40);
    sender_commit(f->snd, 40);
    slot = sender_buf(f->snd);
    slot[0] = 0x45;
    sender_commit(f->snd, 10); /* shorter than an IPv4 header */
    assert_int_equal(sender_flush(f->snd), 0);
    assert_int_equal(sender_stats(f->snd)->err_other, 2);
    assert_int_equal(sender_stats(f->snd)->packets, 0);
}

/*
 * With a tiny receive queue and nobody reading, the kernel drops; the backend
 * reports how many, and together with what was read they account for all.
 * The segments carry RST so that the closed port sends nothing back: recent
 * kernels test a full raw queue before running the filter, so the replies
 * (which the filter would reject) would be counted as drops too.
 */
static void test_kernel_drops(void **state)
{
    struct fixture *f = *state;
    uint8_t pkt[1500], payload[1000];
    unsigned got;
    uint64_t drops;

    memset(payload, 0xa5, sizeof(payload));
    for (unsigned i = 0; i < 200; i++) {
        size_t len = t_build4f(pkt, sizeof(pkt), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP, i,
                               0x14 /* RST|ACK */, payload, sizeof(payload));
        t_queue(f->snd, pkt, len);
    }
    assert_int_equal(sender_flush(f->snd), 0);
    assert_int_equal(sender_stats(f->snd)->packets, 200);

    got = t_collect(f->cap, f->seen, 200, 100);
    assert_true(got > 0 && got < 200);

    /* With the queue drained, a few more all arrive and carry the kernel's
     * counter along (SO_RXQ_OVFL); the total stays the same. */
    for (unsigned i = 0; i < 5; i++) {
        size_t len = t_build4f(pkt, sizeof(pkt), "127.0.0.1", SPORT, "127.0.0.1", PORT_KEEP,
                               1000 + i, 0x14, payload, 100);
        t_queue(f->snd, pkt, len);
    }
    assert_int_equal(sender_flush(f->snd), 0);
    assert_int_equal(t_collect(f->cap, f->seen, got + 5, 100), got + 5);

    drops = capture_kernel_drops(f->cap);
    assert_true(drops > 0);
    assert_int_equal(got + drops, 200);
}

/*
 * IPv6 from a source that is not the destination (so the two cannot be mixed
 * up), with a hop limit of 77 and payloads of 1 to 1400 bytes, to the kept and
 * to another port, interleaved with IPv4: each kept IPv6 segment comes back
 * behind a rebuilt header (addresses, hop limit, payload length) with its TCP
 * bytes unchanged, the other port is filtered out, IPv4 still comes whole.
 */
static void test_v6_rebuilt_and_filtered(void **state)
{
    struct fixture *f = *state;
    static uint8_t sent[20][1500];
    size_t sent_len[20];
    uint8_t src[16], dst[16];
    unsigned n4 = 0, n6 = 0;

    assert_int_equal(inet_pton(AF_INET6, "2001:db8::99", src), 1);
    assert_int_equal(inet_pton(AF_INET6, "::1", dst), 1);
    for (unsigned i = 0; i < 20; i++) {
        uint8_t other[1500], payload[1400];
        size_t dlen = i == 19 ? sizeof(payload) : 1 + i;
        size_t n;

        memset(payload, (int)(0xa0 + i), dlen);
        if (i % 2 == 0) {
            sent_len[i] = t_build6(sent[i], sizeof(sent[i]), "2001:db8::99", "::1", PORT_KEEP);
            sent[i][7] = 77;
            memcpy(sent[i] + 60, payload, dlen);
            sent_len[i] += dlen;
            t_put16(sent[i] + 4, (uint16_t)(sent_len[i] - 40));
            t_put32(sent[i] + 44, 1000 + i);
        } else {
            sent_len[i] = t_build4(sent[i], sizeof(sent[i]), "127.0.0.1", SPORT, "127.0.0.1",
                                   PORT_KEEP, 1000 + i, payload, dlen);
        }
        t_queue(f->snd, sent[i], sent_len[i]);
        n = t_build6(other, sizeof(other), "2001:db8::99", "::1", PORT_DROP);
        t_queue(f->snd, other, n);
    }
    assert_int_equal(sender_flush(f->snd), 0);

    /* The two sockets may be read in either order: match by family and sequence. */
    assert_int_equal(t_collect(f->cap, f->seen, 20, 200), 20);
    for (unsigned k = 0; k < 20; k++) {
        const uint8_t *d = f->seen->pkt[k].data;
        bool v6 = (d[0] >> 4) == 6;
        unsigned i = (unsigned)((uint32_t)d[v6 ? 44 : 24] << 24 | (uint32_t)d[v6 ? 45 : 25] << 16 |
                                (uint32_t)d[v6 ? 46 : 26] << 8 | d[v6 ? 47 : 27]) - 1000;

        assert_int_equal(f->seen->pkt[k].dlt, DLT_RAW);
        assert_true(i < 20);
        assert_int_equal(v6, i % 2 == 0);
        assert_int_equal(f->seen->pkt[k].caplen, sent_len[i]);
        assert_int_equal(f->seen->pkt[k].len, sent_len[i]);
        assert_memory_equal(d, sent[i], sent_len[i]);
        if (v6) {
            assert_memory_equal(d + 8, src, 16);
            assert_memory_equal(d + 24, dst, 16);
            n6++;
        } else {
            n4++;
        }
    }
    assert_int_equal(n4, 10);
    assert_int_equal(n6, 10);
    assert_int_equal(capture_kernel_drops(f->cap), 0);
}

/* Without CAP_NET_RAW both opens fail and say what is missing. */
static void test_eperm_message(void **state)
{
    pid_t pid;
    int status;

    (void)state;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct capture_raw_conf cc = {0};
        struct sender_conf sc = {0};
        char err[256] = "";
        int bad = 0;

        if (setgid(65534) < 0 || setuid(65534) < 0)
            _exit(2);
        if (capture_raw_open(&cc, err, sizeof(err)) != NULL ||
            strcmp(err, "raw socket: Operation not permitted (tcpcopy needs root or "
                        "CAP_NET_RAW)") != 0) {
            fprintf(stderr, "capture: '%s'\n", err);
            bad = 1;
        }
        err[0] = '\0';
        if (sender_raw_open(&sc, err, sizeof(err)) != NULL || !strstr(err, "CAP_NET_RAW")) {
            fprintf(stderr, "sender: '%s'\n", err);
            bad = 1;
        }
        _exit(bad);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Bad configurations are refused at open with a message. */
static void test_sender_conf(void **state)
{
    struct sender_conf sc = {.batch = 1025};
    char err[256] = "";

    (void)state;
    assert_null(sender_raw_open(&sc, err, sizeof(err)));
    assert_non_null(strstr(err, "batch"));
    sc = (struct sender_conf){.slot = 65536};
    assert_null(sender_raw_open(&sc, err, sizeof(err)));
    assert_non_null(strstr(err, "slot"));
    sender_free(NULL);
    capture_free(NULL);
}


/* --compare's link capture: the host's outgoing segments from the server's port, each
 * once (loopback delivers every packet twice: out and in); toward that port nothing, or
 * with inbound each segment once, the request before the answer it caused. */
struct out_seen {
    int answers, toward, other;
    int asks_before_answer; /* the client's "ask" segments seen before the answer */
    uint16_t port;
    uint64_t ts_us; /* the answer's capture time */
};

static void out_cb(void *arg, const struct capture_pkt *cp)
{
    struct out_seen *o = arg;
    struct pkt p;
    assert_int_equal(cp->dlt, DLT_RAW);
    assert_int_equal(pkt_parse_ip(&p, cp->data, cp->caplen, 0), PKT_OK);
    if (p.t.dport == o->port) {
        o->toward++;
        if (o->answers == 0 && p.data_len == 3 && memcmp(p.data, "ask", 3) == 0)
            o->asks_before_answer++;
    } else if (p.t.sport == o->port && p.data_len == 5 && memcmp(p.data, "hello", 5) == 0)
        o->answers++, o->ts_us = cp->ts_us;
    else if (p.t.sport != o->port)
        o->other++;
}

/* A connected TCP pair over ::1 (tx connects, rx accepted); the server's port. */
static uint16_t tcp_pair6(int *tx, int *rx)
{
    struct sockaddr_in6 sin = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    socklen_t sl = sizeof(sin);
    int l = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
    *tx = socket(AF_INET6, SOCK_STREAM, 0);
    assert_int_equal(connect(*tx, (struct sockaddr *)&sin, sizeof(sin)), 0);
    *rx = accept(l, NULL, NULL);
    assert_true(*rx >= 0);
    close(l);
    return ntohs(sin.sin6_port);
}

static void out_answers(bool v6, bool inbound)
{
    if (netns_lo("test_rawio") < 0)
        fail();
    int tx, rx;
    struct out_seen o = {0};
    if (v6) {
        o.port = tcp_pair6(&tx, &rx);
    } else {
        tcp_pair(&tx, &rx);
        struct sockaddr_in sin;
        socklen_t sl = sizeof(sin);
        assert_int_equal(getsockname(rx, (struct sockaddr *)&sin, &sl), 0);
        o.port = ntohs(sin.sin_port);
    }
    uint16_t ports[1] = {o.port};
    struct capture_raw_conf cc = {.ports = v6 ? NULL : ports, .nports = v6 ? 0 : 1,
                                  .ports6 = v6 ? ports : NULL, .nports6 = v6 ? 1 : 0,
                                  .inbound = inbound};
    char err[256], buf[16];
    struct capture *c = capture_raw_out_open(&cc, err, sizeof(err));
    if (c == NULL)
        fail_msg("capture_raw_out_open: %s", err);
    assert_int_equal(send(tx, "ask", 3, 0), 3);
    assert_int_equal(recv(rx, buf, sizeof(buf), 0), 3);
    assert_int_equal(send(rx, "hello", 5, 0), 5);
    assert_int_equal(recv(tx, buf, sizeof(buf), 0), 5);
    for (int i = 0; i < 1000 && o.answers == 0; i++) {
        struct pollfd pf = {.fd = capture_fd(c), .events = POLLIN};
        poll(&pf, 1, 10);
        assert_true(capture_dispatch(c, 64, out_cb, &o) >= 0);
    }
    close(tx);
    close(rx);
    for (int i = 0; i < 20; i++) { /* the FINs and ACKs: counted like the rest */
        poll(NULL, 0, 5);
        assert_true(capture_dispatch(c, 64, out_cb, &o) >= 0);
    }
    assert_int_equal(o.answers, 1);
    /* the kernel's stamp, on the realtime clock: before now, and not long before */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    uint64_t now_us = (uint64_t)now.tv_sec * 1000000 + (uint64_t)now.tv_nsec / 1000;
    assert_true(o.ts_us <= now_us && o.ts_us + 20000000 > now_us);
    if (inbound) {
        /* the request once, before the answer; then the client's ACK and FIN at least */
        assert_int_equal(o.asks_before_answer, 1);
        assert_true(o.toward >= 3);
    } else {
        assert_int_equal(o.toward, 0);
    }
    assert_int_equal(o.other, 0);
    capture_free(c);
}

static void test_out_answers(void **state)
{
    (void)state;
    out_answers(false, false);
}

static void test_out_answers6(void **state)
{
    (void)state;
    out_answers(true, false);
}

static void test_both_ways(void **state)
{
    (void)state;
    out_answers(false, true);
}

static void test_both_ways6(void **state)
{
    (void)state;
    out_answers(true, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_filter_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_1400, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_ip_options, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_filter, setup_all_ports, teardown),
        cmocka_unit_test_setup_teardown(test_no_filter, setup_many_ports, teardown),
        cmocka_unit_test_setup_teardown(test_filter_64_ports, setup_64_ports, teardown),
        cmocka_unit_test_setup_teardown(test_commit_garbage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kernel_drops, setup_small_rcvbuf, teardown),
        cmocka_unit_test_setup_teardown(test_v6_rebuilt_and_filtered, setup_v4v6, teardown),
        cmocka_unit_test(test_out_answers),
        cmocka_unit_test(test_out_answers6),
        cmocka_unit_test(test_both_ways),
        cmocka_unit_test(test_both_ways6),
        cmocka_unit_test(test_eperm_message),
        cmocka_unit_test(test_sender_conf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
