/*
 * test_offline: capture-file replay. The replay clock as a pure function
 * (recorded pace, -a, -I, timestamps going backwards), opening files (missing,
 * not a capture, a bad filter), and whole replays on a real loop and engine of
 * tiny pcaps written here with pcap_dump: packets reach the engine at their
 * relative times divided by -a, every link type decodes, a truncated file is
 * replayed up to the cut and reported; and captures recorded in the lab
 * (tests/data: Ethernet, Linux cooked v2, pcapng). Documentation addresses only.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "loop.h"
#include "offline.h"
#include "pkt.h"
#include "tcp.h"
#include "transfer.h"

/* ---- the clock ---- */

static void test_clock_pace(void **state)
{
    (void)state;
    struct offline_clock c;

    offline_clock_init(&c, 1, 0);
    offline_clock_start(&c, 5000000);
    assert_int_equal(offline_clock_due(&c, 1000000000), 5000000);
    assert_int_equal(offline_clock_due(&c, 1000100000), 5100000);
    assert_int_equal(offline_clock_due(&c, 1003100000), 8100000);
    /* The same timestamp twice: no gap. */
    assert_int_equal(offline_clock_due(&c, 1003100000), 8100000);

    /* -a 10: a tenth of each offset. */
    offline_clock_init(&c, 10, 0);
    offline_clock_start(&c, 0);
    assert_int_equal(offline_clock_due(&c, 7000000), 0);
    assert_int_equal(offline_clock_due(&c, 7100000), 10000);
    assert_int_equal(offline_clock_due(&c, 9000000), 200000);

    /* accel 0 means 1. */
    offline_clock_init(&c, 0, 0);
    offline_clock_start(&c, 100);
    offline_clock_due(&c, 0);
    assert_int_equal(offline_clock_due(&c, 50), 150);
}

static void test_clock_idle_skip(void **state)
{
    (void)state;
    struct offline_clock c;

    /* -I 500 ms: a 10 s gap counts as 0.5 s, short gaps are kept. */
    offline_clock_init(&c, 1, 500000);
    offline_clock_start(&c, 0);
    assert_int_equal(offline_clock_due(&c, 1000000), 0);
    assert_int_equal(offline_clock_due(&c, 1200000), 200000);
    assert_int_equal(offline_clock_due(&c, 11200000), 700000);
    assert_int_equal(offline_clock_due(&c, 11300000), 800000);

    /* With -a 2 as well: cut first, then divided. */
    offline_clock_init(&c, 2, 500000);
    offline_clock_start(&c, 0);
    offline_clock_due(&c, 0);
    assert_int_equal(offline_clock_due(&c, 60000000), 250000);
    assert_int_equal(offline_clock_due(&c, 60400000), 450000);

    /* A new pass starts over at its own time. */
    offline_clock_start(&c, 9000000);
    assert_int_equal(offline_clock_due(&c, 0), 9000000);
    assert_int_equal(offline_clock_due(&c, 200000), 9100000);
}

static void test_clock_backwards(void **state)
{
    (void)state;
    struct offline_clock c;

    offline_clock_init(&c, 1, 0);
    offline_clock_start(&c, 0);
    offline_clock_due(&c, 1000000);
    assert_int_equal(offline_clock_due(&c, 1500000), 500000);
    /* 0.2 s back: due at once (no gap), and the next gap counts from here. */
    assert_int_equal(offline_clock_due(&c, 1300000), 500000);
    assert_int_equal(offline_clock_due(&c, 1400000), 600000);
}

/* ---- files ---- */

static char tmpdir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_offline.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    log_init("test_offline", NULL, false);
    log_set_level(LOG_LVL_WARN);
    return 0;
}

static int teardown_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static void path_of(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", tmpdir, name);
}

/* A client SYN from 198.51.100.10:sport to 192.0.2.10:80, link type dlt, into buf. */
static size_t mk_syn(uint8_t *buf, size_t cap, int dlt, uint16_t sport)
{
    struct pkt_spec sp;
    size_t hl;

    memset(&sp, 0, sizeof(sp));
    assert_true(addr_parse(&sp.t.src, "198.51.100.10"));
    assert_true(addr_parse(&sp.t.dst, "192.0.2.10"));
    sp.t.sport = sport;
    sp.t.dport = 80;
    sp.seq = 1000u * sport;
    sp.flags = TCPF_SYN;
    sp.win = 65535;
    sp.opt_mss = true;
    sp.opts.mss = 1460;
    switch (dlt) {
    case DLT_EN10MB:
        hl = 14;
        memset(buf, 0, hl);
        buf[0] = 0x02;
        buf[6] = 0x02;
        buf[11] = 1;
        buf[12] = 0x08;
        break;
    case DLT_LINUX_SLL:
        hl = 16;
        memset(buf, 0, hl);
        buf[5] = 6;
        buf[14] = 0x08;
        break;
    case DLT_NULL:
        hl = 4;
        {
            uint32_t af = AF_INET;
            memcpy(buf, &af, 4);
        }
        break;
    default: /* DLT_RAW */
        hl = 0;
        break;
    }
    size_t n = pkt_build(buf + hl, cap - hl, &sp);
    assert_true(n > 0);
    return hl + n;
}

/* Write a pcap of link type dlt: one SYN per entry of ts_us (ports 40000 + i),
 * plus a non-IP frame after the first when dlt is Ethernet. */
static void write_pcap(const char *path, int dlt, const uint64_t *ts_us, size_t n)
{
    pcap_t *dead = pcap_open_dead(dlt, 65535);
    assert_non_null(dead);
    pcap_dumper_t *d = pcap_dump_open(dead, path);
    assert_non_null(d);
    for (size_t i = 0; i < n; i++) {
        uint8_t buf[256];
        struct pcap_pkthdr h;
        size_t len = mk_syn(buf, sizeof(buf), dlt, (uint16_t)(40000 + i));
        h.ts.tv_sec = (time_t)(ts_us[i] / 1000000);
        h.ts.tv_usec = (suseconds_t)(ts_us[i] % 1000000);
        h.caplen = h.len = (bpf_u_int32)len;
        pcap_dump((u_char *)d, &h, buf);
        if (i == 0 && dlt == DLT_EN10MB) {
            /* An ARP frame: skipped, counted, harmless. */
            uint8_t arp[42] = {0};
            arp[12] = 0x08;
            arp[13] = 0x06;
            h.caplen = h.len = sizeof(arp);
            pcap_dump((u_char *)d, &h, arp);
        }
    }
    pcap_dump_close(d);
    pcap_close(dead);
}

static void test_open_errors(void **state)
{
    (void)state;
    char path[128], err[256];
    struct offline_conf oc = {.loops = 1, .accel = 1};

    path_of(path, sizeof(path), "missing.pcap");
    oc.path = path;
    assert_null(offline_open(&oc, err, sizeof(err)));
    assert_non_null(strstr(err, "missing.pcap"));
    assert_non_null(strstr(err, "No such file"));
    assert_null(strchr(err, '\n'));

    /* Random bytes are no capture. */
    path_of(path, sizeof(path), "junk.pcap");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (int i = 0; i < 3000; i++)
        fputc((i * 7919 + 13) & 0xff, f);
    fclose(f);
    assert_null(offline_open(&oc, err, sizeof(err)));
    assert_non_null(strstr(err, "junk.pcap"));
    assert_non_null(strstr(err, "cannot replay"));

    /* An empty file neither. */
    path_of(path, sizeof(path), "empty.pcap");
    f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_null(offline_open(&oc, err, sizeof(err)));
    assert_non_null(strstr(err, "empty.pcap"));

    /* A directory is not a file. */
    oc.path = tmpdir;
    assert_null(offline_open(&oc, err, sizeof(err)));
    assert_non_null(strstr(err, "not a regular file"));

    /* A good file with a bad filter. */
    uint64_t ts[1] = {1000000};
    path_of(path, sizeof(path), "one.pcap");
    write_pcap(path, DLT_EN10MB, ts, 1);
    oc.path = path;
    oc.filter = "tcp and and port";
    assert_null(offline_open(&oc, err, sizeof(err)));
    assert_non_null(strstr(err, "bad filter"));
    oc.filter = "tcp port 80";
    struct offline *o = offline_open(&oc, err, sizeof(err));
    assert_non_null(o);
    offline_free(o);
    offline_free(NULL);
}

/* ---- whole replays on a real loop and engine ---- */

#define SENT_MAX 64

struct rig {
    struct loop *loop;
    struct eng *eng;
    struct eng_conf ec;
    struct xfer_map xfer;
    uint8_t buf[2048];
    size_t nsent;
    uint64_t t0;
    uint64_t sent_at[SENT_MAX]; /* when each SYN toward the target left, from t0 */
    uint16_t sent_sport[SENT_MAX];
};

static uint8_t *rig_buf(void *arg, size_t *cap)
{
    struct rig *r = arg;
    *cap = sizeof(r->buf);
    return r->buf;
}

static void rig_send(void *arg, size_t len)
{
    struct rig *r = arg;
    struct pkt p;
    if (pkt_parse_ip(&p, r->buf, len, 0) != PKT_OK || !(p.flags & TCPF_SYN) ||
        r->nsent == SENT_MAX)
        return;
    /* SYN retries of a session already seen are not new deliveries. */
    for (size_t i = 0; i < r->nsent; i++)
        if (r->sent_sport[i] == p.t.sport)
            return;
    r->sent_at[r->nsent] = now_monotonic_us() - r->t0;
    r->sent_sport[r->nsent] = p.t.sport;
    r->nsent++;
}

static void rig_route(void *arg, bool add, const struct chan_route *cr)
{
    (void)arg;
    (void)add;
    (void)cr;
}

static void rig_init(struct rig *r)
{
    char err[128];
    memset(r, 0, sizeof(*r));
    assert_int_equal(xfer_parse(&r->xfer, "80-192.0.2.20:8080", err, sizeof(err)), 0);
    r->loop = loop_new();
    assert_non_null(r->loop);
    eng_conf_defaults(&r->ec);
    r->ec.xfer = &r->xfer;
    struct eng_io io = {.arg = r, .pkt_buf = rig_buf, .pkt_send = rig_send, .route = rig_route};
    r->eng = eng_new(&r->ec, &io, loop_update_time(r->loop), 42);
    assert_non_null(r->eng);
}

static void rig_free(struct rig *r)
{
    eng_free(r->eng);
    loop_free(r->loop);
}

static void guard_fired(struct loop *l, void *arg)
{
    (void)arg;
    loop_stop(l);
    fail_msg("the replay did not stop the loop within 10 s");
}

/* Replay path with conf c until the replay stops the loop (bounded by a guard timer). */
static struct offline *rig_run(struct rig *r, struct offline_conf *c)
{
    char err[256];
    struct loop_timer guard = {0};
    c->drain_max_us = 200000; /* the SYNs get no answer here: do not wait for one */
    struct offline *o = offline_open(c, err, sizeof(err));
    if (o == NULL)
        fail_msg("offline_open: %s", err);
    r->t0 = now_monotonic_us();
    offline_start(o, r->loop, r->eng);
    loop_timer_set(r->loop, &guard, loop_update_time(r->loop) + 10000000, guard_fired, NULL);
    assert_int_equal(loop_run(r->loop), 0);
    loop_timer_cancel(r->loop, &guard);
    return o;
}

static void assert_near(uint64_t got_us, uint64_t want_us, const char *what)
{
    /* The loop sleeps in whole milliseconds, and a loaded test machine (or valgrind) is
     * late; 80 ms still tells every pace tested here from its neighbours. */
    if (got_us + 2000 < want_us || got_us > want_us + 80000)
        fail_msg("%s: at %llu us, expected about %llu us", what, (unsigned long long)got_us,
                 (unsigned long long)want_us);
}

static void test_replay_pace(void **state)
{
    (void)state;
    struct rig r;
    char path[128];
    uint64_t ts[3] = {1700000000000000ULL, 1700000000300000ULL, 1700000000900000ULL};
    uint64_t rd, rp;

    path_of(path, sizeof(path), "pace.pcap");
    write_pcap(path, DLT_EN10MB, ts, 3);

    /* -a 3: 0, 100, 300 ms. */
    rig_init(&r);
    struct offline_conf c = {.path = path, .accel = 3, .loops = 1};
    struct offline *o = rig_run(&r, &c);
    assert_int_equal(r.nsent, 3);
    /* Times are from the replay's start, which is what the scheduler paces from. */
    assert_near(r.sent_at[0], 0, "first packet");
    assert_near(r.sent_at[1], 100000, "second packet (-a 3)");
    assert_near(r.sent_at[2], 300000, "third packet (-a 3)");
    offline_counts(o, &rd, &rp);
    assert_int_equal(rd, 4); /* the ARP frame is read ... */
    assert_int_equal(rp, 3); /* ... and skipped */
    assert_false(offline_failed(o));
    offline_free(o);
    rig_free(&r);

    /* -I 100 ms with -a 2: gaps 300 -> 100 and 600 -> 100, then halved: 0, 50, 100 ms. */
    rig_init(&r);
    struct offline_conf c2 = {.path = path, .accel = 2, .idle_skip_ms = 100, .loops = 1};
    o = rig_run(&r, &c2);
    assert_int_equal(r.nsent, 3);
    assert_near(r.sent_at[1], 50000, "second packet (-I 100 -a 2)");
    assert_near(r.sent_at[2], 100000, "third packet (-I 100 -a 2)");
    offline_free(o);
    rig_free(&r);

    /* --fast: all at once. */
    rig_init(&r);
    struct offline_conf c3 = {.path = path, .fast = true, .loops = 1};
    o = rig_run(&r, &c3);
    assert_int_equal(r.nsent, 3);
    assert_near(r.sent_at[2], 0, "third packet (--fast)");
    offline_free(o);
    rig_free(&r);
}

static void test_replay_loops(void **state)
{
    (void)state;
    struct rig r;
    char path[128];
    uint64_t ts[2] = {1000000, 1010000};
    uint64_t rd, rp;

    path_of(path, sizeof(path), "loops.pcap");
    write_pcap(path, DLT_RAW, ts, 2);
    rig_init(&r);
    struct offline_conf c = {.path = path, .accel = 1, .loops = 3};
    struct offline *o = rig_run(&r, &c);
    /* Each pass is an epoch of its own: 3 x 2 distinct sessions toward the target. */
    assert_int_equal(r.nsent, 6);
    offline_counts(o, &rd, &rp);
    assert_int_equal(rd, 6);
    assert_int_equal(rp, 6);
    assert_int_equal(eng_stats(r.eng)->sess_created, 6);
    offline_free(o);
    rig_free(&r);
}

static void test_replay_link_types(void **state)
{
    (void)state;
    const int dlts[] = {DLT_EN10MB, DLT_LINUX_SLL, DLT_RAW, DLT_NULL};
    uint64_t ts[2] = {1000000, 1001000};
    char path[128];

    for (size_t i = 0; i < sizeof(dlts) / sizeof(dlts[0]); i++) {
        struct rig r;
        uint64_t rd, rp;
        path_of(path, sizeof(path), "link.pcap");
        write_pcap(path, dlts[i], ts, 2);
        rig_init(&r);
        struct offline_conf c = {.path = path, .fast = true, .loops = 1};
        struct offline *o = rig_run(&r, &c);
        offline_counts(o, &rd, &rp);
        if (rp != 2 || r.nsent != 2)
            fail_msg("link type %d: replayed %llu, sent %zu", dlts[i], (unsigned long long)rp,
                     r.nsent);
        offline_free(o);
        rig_free(&r);
    }
}

static void test_replay_truncated(void **state)
{
    (void)state;
    struct rig r;
    char path[128];
    uint64_t ts[5] = {1000000, 1001000, 1002000, 1003000, 1004000};
    uint64_t rd, rp;

    path_of(path, sizeof(path), "trunc.pcap");
    write_pcap(path, DLT_RAW, ts, 5);
    /* Cut the last packet in half. */
    FILE *f = fopen(path, "rb+");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long size = ftell(f);
    fclose(f);
    assert_int_equal(truncate(path, size - 20), 0);

    rig_init(&r);
    struct offline_conf c = {.path = path, .accel = 1, .loops = 1};
    struct offline *o = rig_run(&r, &c);
    offline_counts(o, &rd, &rp);
    assert_int_equal(rp, 4);
    assert_int_equal(r.nsent, 4);
    assert_true(offline_failed(o));
    offline_free(o);
    rig_free(&r);
}

/*
 * Captures recorded in the lab (tests/data): five curl connections of three
 * requests each to 192.0.2.10:80, client side only, taken with tcpdump on eth0
 * (Ethernet), on "any" (Linux cooked v2), and the eth0 file rewritten as pcapng.
 * All three must give the engine the same five sessions and the same bytes.
 */
static void test_replay_fixtures(void **state)
{
    (void)state;
    const char *names[] = {"offline_curl_eth.pcap", "offline_curl_any.pcap",
                           "offline_curl_eth.pcapng"};
    const char *dir = getenv("TC_DATA");
    uint64_t bytes0 = 0;

    if (dir == NULL)
        skip(); /* run by ctest, which says where tests/data is */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct rig r;
        char path[512];
        uint64_t rd, rp;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        rig_init(&r);
        struct offline_conf c = {.path = path, .fast = true, .loops = 1};
        struct offline *o = rig_run(&r, &c);
        offline_counts(o, &rd, &rp);
        const struct eng_stats *st = eng_stats(r.eng);
        if (rd != 40 || rp != 40 || st->sess_created != 5 || r.nsent != 5)
            fail_msg("%s: read %llu, replayed %llu, sessions %llu, SYNs %zu", names[i],
                     (unsigned long long)rd, (unsigned long long)rp,
                     (unsigned long long)st->sess_created, r.nsent);
        if (i == 0)
            bytes0 = st->cap_payload_bytes;
        assert_true(bytes0 > 15 * 60); /* fifteen GET requests */
        assert_int_equal(st->cap_payload_bytes, bytes0);
        assert_false(offline_failed(o));
        offline_free(o);
        rig_free(&r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clock_pace),
        cmocka_unit_test(test_clock_idle_skip),
        cmocka_unit_test(test_clock_backwards),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_replay_pace),
        cmocka_unit_test(test_replay_loops),
        cmocka_unit_test(test_replay_link_types),
        cmocka_unit_test(test_replay_truncated),
        cmocka_unit_test(test_replay_fixtures),
    };
    return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
