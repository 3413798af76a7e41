/*
 * test_capture_pcap: the libpcap backend driven by a small capture file
 * (tests/data/offline_curl_eth.pcap: 40 client packets of 5 HTTP sessions, 5 of
 * them SYNs, 8 from port 34852) through capture_pcap_wrap, the half of
 * capture_pcap_open that follows activation: every packet delivered with its
 * link type, length and time stamp, the batch limit, a filter applied, a bad
 * filter and an impossible direction refused with a message. Plus what the live
 * open refuses before it needs a device or a privilege.
 */
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture.h"
#include "capture_impl.h"

struct seen {
    unsigned n;
    uint64_t first_ts;
    uint32_t first_len;
    int dlt;
};

static void seen_cb(void *arg, const struct capture_pkt *p)
{
    struct seen *s = arg;
    if (s->n == 0) {
        s->first_ts = p->ts_us;
        s->first_len = p->len;
    }
    assert_true(p->caplen <= p->len);
    s->dlt = p->dlt;
    s->n++;
}

static pcap_t *open_file(const char *name)
{
    char path[1024], ebuf[PCAP_ERRBUF_SIZE];
    const char *dir = getenv("TC_DATA");

    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data", name);
    pcap_t *p = pcap_open_offline(path, ebuf);
    if (p == NULL)
        fail_msg("%s: %s", path, ebuf);
    return p;
}

/* Dispatch batches of max until the file is exhausted. */
static unsigned drain(struct capture *c, int max, struct seen *s)
{
    unsigned calls = 0;
    int r;

    while ((r = capture_dispatch(c, max, seen_cb, s)) > 0) {
        assert_true(max <= 0 || r <= max);
        calls++;
    }
    assert_int_equal(r, 0);
    return calls;
}

static void test_every_packet(void **state)
{
    struct capture_pcap_conf pc = {.device = "file"};
    struct seen s = {0};
    char err[256] = "";

    (void)state;
    struct capture *c = capture_pcap_wrap((struct pcap *)open_file("offline_curl_eth.pcap"),
                                          "file", &pc, err, sizeof(err));
    if (c == NULL)
        fail_msg("%s", err);
    assert_true(capture_fd(c) >= 0);
    assert_int_equal(drain(c, 16, &s), 3); /* 16 + 16 + 8 */
    assert_int_equal(s.n, 40);
    assert_int_equal(s.dlt, DLT_EN10MB);
    assert_int_equal(s.first_ts, 1795317329233740ULL); /* tcpdump -tt: 1795317329.233740 */
    assert_int_equal(s.first_len, 14 + 20 + 40);       /* Ethernet, IPv4, TCP with options */
    assert_int_equal(capture_kernel_drops(c), 0);      /* a file cannot tell */
    capture_free(c);
}

static void test_filter(void **state)
{
    struct capture_pcap_conf pc = {.device = "file", .filter = "tcp[tcpflags] & tcp-syn != 0"};
    struct seen s = {0};
    char err[256] = "";

    (void)state;
    struct capture *c = capture_pcap_wrap((struct pcap *)open_file("offline_curl_eth.pcap"),
                                          "file", &pc, err, sizeof(err));
    assert_non_null(c);
    drain(c, 0, &s); /* 0: all that is ready */
    assert_int_equal(s.n, 5);
    capture_free(c);

    memset(&s, 0, sizeof(s));
    pc.filter = "tcp and src port 34852";
    c = capture_pcap_wrap((struct pcap *)open_file("offline_curl_eth.pcap"), "file", &pc, err,
                          sizeof(err));
    assert_non_null(c);
    drain(c, 64, &s);
    assert_int_equal(s.n, 8);
    capture_free(c);

    /* An empty filter is no filter. */
    memset(&s, 0, sizeof(s));
    pc.filter = "";
    c = capture_pcap_wrap((struct pcap *)open_file("offline_curl_any.pcap"), "file", &pc, err,
                          sizeof(err));
    assert_non_null(c);
    drain(c, 64, &s);
    assert_int_equal(s.n, 40);
    assert_int_equal(s.dlt, DLT_LINUX_SLL2);
    capture_free(c);
}

static void test_refusals(void **state)
{
    struct capture_pcap_conf pc = {.device = "file", .filter = "tcp and port"};
    char err[256] = "";

    (void)state;
    assert_null(capture_pcap_wrap((struct pcap *)open_file("offline_curl_eth.pcap"), "file", &pc,
                                  err, sizeof(err)));
    assert_non_null(strstr(err, "pcap file: bad filter 'tcp and port': "));

    /* A file has no direction: inbound only cannot be honoured. */
    pc = (struct capture_pcap_conf){.device = "file", .in_only = 1};
    assert_null(capture_pcap_wrap((struct pcap *)open_file("offline_curl_eth.pcap"), "file", &pc,
                                  err, sizeof(err)));
    assert_non_null(strstr(err, "pcap file: cannot capture inbound only: "));

    /* The live open checks the ring size before it touches a device. */
    pc = (struct capture_pcap_conf){.device = "eth0", .buffer_mb = CAPTURE_PCAP_BUFFER_MB_MAX + 1};
    assert_null(capture_pcap_open(&pc, err, sizeof(err)));
    assert_string_equal(err, "pcap eth0: a buffer of 2048 MB is too large (at most 2047)");

    /* A device that does not exist (or, unprivileged, no permission to look). */
    pc = (struct capture_pcap_conf){.device = "tcnosuchdev0"};
    assert_null(capture_pcap_open(&pc, err, sizeof(err)));
    assert_true(strstr(err, "pcap tcnosuchdev0: no such device") != NULL ||
                strstr(err, "pcap tcnosuchdev0: permission denied") != NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_packet),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
