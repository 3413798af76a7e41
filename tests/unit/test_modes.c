/*
 * test_modes: the default BPF filter of --pcap-capture built from -x: its exact
 * text for the usual rule, a rule with an online address, IPv6, shared targets
 * written once, that libpcap compiles each one, and that it matches a client
 * packet and not tcpcopy's own packet to the target. Documentation addresses only.
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modes.h"
#include "pkt.h"
#include "transfer.h"

static void filter_of(const char *x, char *buf, size_t len)
{
    struct xfer_map m;
    char err[128];
    assert_int_equal(xfer_parse(&m, x, err, sizeof(err)), 0);
    assert_int_equal(modes_default_filter(&m, false, buf, len), 0);
}

/* True if filter (compiled for raw IP) accepts a TCP packet src:sport -> dst:dport. */
static bool matches(const char *filter, const char *src, uint16_t sport, const char *dst,
                    uint16_t dport)
{
    pcap_t *p = pcap_open_dead(DLT_RAW, 65535);
    struct bpf_program prog;
    struct pkt_spec sp;
    uint8_t buf[128];

    assert_non_null(p);
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0)
        fail_msg("'%s' does not compile: %s", filter, pcap_geterr(p));
    memset(&sp, 0, sizeof(sp));
    assert_true(addr_parse(&sp.t.src, src));
    assert_true(addr_parse(&sp.t.dst, dst));
    sp.t.sport = sport;
    sp.t.dport = dport;
    sp.flags = TCPF_ACK;
    size_t n = pkt_build(buf, sizeof(buf), &sp);
    assert_true(n > 0);
    struct pcap_pkthdr h = {.caplen = (bpf_u_int32)n, .len = (bpf_u_int32)n};
    bool ok = pcap_offline_filter(&prog, &h, buf) != 0;
    pcap_freecode(&prog);
    pcap_close(p);
    return ok;
}

static void test_default_filter(void **state)
{
    (void)state;
    char f[MODES_FILTER_MAX];

    filter_of("80-192.0.2.20:8080", f, sizeof(f));
    assert_string_equal(f, "((tcp and dst port 80)) and not (dst host 192.0.2.20 and dst port 8080)");
    assert_true(matches(f, "198.51.100.10", 40000, "192.0.2.10", 80));
    assert_false(matches(f, "192.0.2.10", 80, "198.51.100.10", 40000));   /* the answer */
    assert_false(matches(f, "203.0.113.5", 40000, "192.0.2.20", 8080));   /* our own copy */

    /* The same port on both sides: our copies must not be copied again. */
    filter_of("80-192.0.2.20:80", f, sizeof(f));
    assert_true(matches(f, "198.51.100.10", 40000, "192.0.2.10", 80));
    assert_false(matches(f, "203.0.113.5", 40000, "192.0.2.20", 80));

    filter_of("192.0.2.10:80-192.0.2.20:8080,443-192.0.2.20:8443,81-192.0.2.20:8080", f,
              sizeof(f));
    assert_string_equal(f, "((tcp and dst port 80 and dst host 192.0.2.10) or (tcp and dst port "
                           "443) or (tcp and dst port 81)) and not (dst host 192.0.2.20 and dst "
                           "port 8080) and not (dst host 192.0.2.20 and dst port 8443)");
    assert_true(matches(f, "198.51.100.10", 40000, "192.0.2.10", 80));
    assert_false(matches(f, "198.51.100.10", 40000, "192.0.2.11", 80));
    assert_true(matches(f, "198.51.100.10", 40000, "192.0.2.11", 443));

    filter_of("[2001:db8:1::10]:80-[2001:db8:1::20]:8080", f, sizeof(f));
    assert_true(matches(f, "2001:db8:2::10", 40000, "2001:db8:1::10", 80));
    assert_false(matches(f, "2001:db8:3::5", 40000, "2001:db8:1::20", 8080));

    /* Too small a buffer: an error and an empty string, never a cut filter. */
    struct xfer_map m;
    char err[128], small[40];
    assert_int_equal(xfer_parse(&m, "80-192.0.2.20:8080", err, sizeof(err)), 0);
    assert_int_equal(modes_default_filter(&m, false, small, sizeof(small)), -ENOSPC);
    assert_string_equal(small, "");
}

/* --compare: the online server's answers pass too, nothing else more. */
static void test_filter_answers(void **state)
{
    (void)state;
    struct xfer_map m;
    char err[128], f[1024];
    assert_int_equal(xfer_parse(&m, "192.0.2.10:80-192.0.2.20:8080", err, sizeof(err)), 0);
    assert_int_equal(modes_default_filter(&m, true, f, sizeof(f)), 0);
    assert_true(matches(f, "198.51.100.1", 40000, "192.0.2.10", 80));  /* a request */
    assert_true(matches(f, "192.0.2.10", 80, "198.51.100.1", 40000));  /* its answer */
    assert_false(matches(f, "192.0.2.11", 80, "198.51.100.1", 40000)); /* another server */
    assert_false(matches(f, "192.0.2.10", 81, "198.51.100.1", 40000));
    assert_false(matches(f, "198.51.100.1", 40000, "192.0.2.20", 8080)); /* ours, to the target */
    assert_int_equal(modes_default_filter(&m, false, f, sizeof(f)), 0);
    assert_false(matches(f, "192.0.2.10", 80, "198.51.100.1", 40000));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_answers),
        cmocka_unit_test(test_default_filter),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
