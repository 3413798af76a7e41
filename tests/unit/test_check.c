/*
 * test_check: tcpcopy --check without root. Which finding each combination of
 * what the direct connection and the probe saw turns into (the hop that fails);
 * reply records sorted into the probe they answer (and hostile ones ignored);
 * refusals sorted by chanc's error and BYE reason; and the real handshake path
 * against nothing listening and against an intercept that refuses by --allow.
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "chan.h"
#include "hello.h"
#include "finding.h"
#include "pkt.h"
#include "tcpcopy/check_impl.h"
#include "tcpcopy/opts.h"

static struct tc_opts O;
static struct findings F;
static struct check K;

static void setup_opts(const char *x, const char *s)
{
    char *argv[] = {"tcpcopy", "-x", (char *)x, "-s", (char *)s, "-c", "203.0.113.x", "--check",
                    NULL};
    char err[256];
    tc_opts_init(&O);
    assert_int_equal(tc_opts_parse(&O, 8, argv, err, sizeof(err)), 0);
    findings_init(&F, "tcpcopy");
    memset(&K, 0, sizeof(K));
    K.o = &O;
    K.f = &F;
}

/* The one finding that is not "ok", or the id of the last one when all are. */
static const char *verdict_of(enum check_direct d, enum check_probe p)
{
    setup_opts("80-192.0.2.20:8080", "192.0.2.30");
    K.rules[0].direct = d;
    K.rules[0].probe = p;
    (void)addr_parse(&K.rules[0].psrc, "203.0.113.7");
    K.rules[0].psport = 40000;
    check_verdicts(&K);
    for (size_t i = 0; i < F.n; i++)
        if (F.v[i].level != FINDING_OK)
            return F.v[i].id;
    return F.n > 0 ? F.v[F.n - 1].id : "";
}

static void test_verdicts(void **state)
{
    (void)state;
    static const struct {
        enum check_direct d;
        enum check_probe p;
        const char *id;
    } cases[] = {
        {DIRECT_OPEN, PROBE_SYNACK, "probe"},
        {DIRECT_SILENT, PROBE_SYNACK, "probe"}, /* the probe's answer outranks our own try */
        {DIRECT_OPEN, PROBE_RST, "target_port_closed"},
        {DIRECT_REFUSED, PROBE_SILENT, "target_port_closed"},
        {DIRECT_OPEN, PROBE_SILENT, "probe_no_reply"},
        {DIRECT_SILENT, PROBE_SILENT, "target_unreachable"},
        {DIRECT_OPEN, PROBE_EPERM, "send_blocked"},
        {DIRECT_SILENT, PROBE_EPERM, "send_blocked"},
        {DIRECT_OPEN, PROBE_ACK_EPERM, "send_blocked"}, /* conntrack: the ACK refused */
        {DIRECT_NOROUTE, PROBE_UNREACH, "target_no_route"},
        {DIRECT_NOROUTE, PROBE_NOT_RUN, "target_no_route"},
        {DIRECT_OPEN, PROBE_NOT_RUN, "target_port"},
        {DIRECT_REFUSED, PROBE_NOT_RUN, "target_port_closed"},
        {DIRECT_SILENT, PROBE_NOT_RUN, "target_unreachable"},
        {DIRECT_OPEN, PROBE_ERROR, "probe_error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *id = verdict_of(cases[i].d, cases[i].p);
        if (strcmp(id, cases[i].id) != 0)
            fail_msg("case %zu: direct %d probe %d: got %s, want %s", i, cases[i].d, cases[i].p,
                     id, cases[i].id);
    }
    /* The fix of probe_no_reply names the route to add on the target. */
    verdict_of(DIRECT_OPEN, PROBE_SILENT);
    assert_non_null(strstr(F.v[0].fix, "ip route add 203.0.113.0/24 via 192.0.2.30"));
    /* A rule whose target an earlier one has is judged once. */
    setup_opts("80-192.0.2.20:8080,81-192.0.2.20:8080", "192.0.2.30");
    K.rules[0].direct = DIRECT_OPEN;
    K.rules[0].probe = PROBE_SYNACK;
    K.rules[1].dup = true;
    check_verdicts(&K);
    assert_int_equal(F.n, 1);
    /* No probe source: a warning that says why, the path otherwise fine. */
    setup_opts("80-192.0.2.20:8080", "192.0.2.30");
    K.rules[0].direct = DIRECT_OPEN;
    snprintf(K.rules[0].why, sizeof(K.rules[0].why), "no source");
    check_verdicts(&K);
    assert_true(findings_has(&F, "probe_skipped"));
    assert_int_equal(findings_count(&F, FINDING_FAIL), 0);
}

static size_t build(uint8_t *buf, const char *src, uint16_t sport, const char *dst, uint16_t dport,
                    uint8_t flags)
{
    struct pkt_spec sp;
    memset(&sp, 0, sizeof(sp));
    assert_true(addr_parse(&sp.t.src, src));
    assert_true(addr_parse(&sp.t.dst, dst));
    sp.t.sport = sport;
    sp.t.dport = dport;
    sp.flags = flags;
    sp.seq = 1;
    sp.ack = 2;
    size_t n = pkt_build(buf, 128, &sp);
    assert_true(n > 0);
    return n;
}

static void arm_probe(void)
{
    setup_opts("80-192.0.2.20:8080", "192.0.2.30");
    K.rules[0].probe = PROBE_SILENT;
    (void)addr_parse(&K.rules[0].psrc, "203.0.113.7");
    K.rules[0].psport = 40000;
    K.pending = 1;
}

static void test_on_reply(void **state)
{
    (void)state;
    uint8_t b[128];
    size_t n;

    arm_probe();
    n = build(b, "192.0.2.20", 8081, "203.0.113.7", 40000, TCPF_SYN | TCPF_ACK);
    check_probe_on_reply(&K, b, n); /* another port: not ours */
    n = build(b, "192.0.2.20", 8080, "203.0.113.8", 40000, TCPF_SYN | TCPF_ACK);
    check_probe_on_reply(&K, b, n); /* another client */
    n = build(b, "192.0.2.20", 8080, "203.0.113.7", 40000, TCPF_ACK);
    check_probe_on_reply(&K, b, n); /* neither SYN-ACK nor RST */
    assert_int_equal(K.rules[0].probe, PROBE_SILENT);
    n = build(b, "192.0.2.20", 8080, "203.0.113.7", 40000, TCPF_SYN | TCPF_ACK);
    check_probe_on_reply(&K, b, n);
    assert_int_equal(K.rules[0].probe, PROBE_SYNACK);
    assert_int_equal(K.pending, 0);

    arm_probe();
    n = build(b, "192.0.2.20", 8080, "203.0.113.7", 40000, TCPF_RST | TCPF_ACK);
    check_probe_on_reply(&K, b, n);
    assert_int_equal(K.rules[0].probe, PROBE_RST);

    /* Hostile records: every truncation and random bytes are ignored. */
    arm_probe();
    n = build(b, "192.0.2.20", 8080, "203.0.113.7", 40000, TCPF_SYN | TCPF_ACK);
    for (size_t cut = 0; cut < n; cut++)
        check_probe_on_reply(&K, b, cut);
    srand(7);
    for (int i = 0; i < 2000; i++) {
        for (size_t j = 0; j < sizeof(b); j++)
            b[j] = (uint8_t)rand();
        check_probe_on_reply(&K, b, (size_t)rand() % sizeof(b));
    }
    assert_int_equal(K.rules[0].probe, PROBE_SILENT);
}

static const char *refusal_of(int r, const char *err)
{
    setup_opts("80-192.0.2.20:8080", "192.0.2.30");
    check_chan_refusal(&K, "intercept 192.0.2.30:36524", r, err);
    assert_int_equal(F.n, 1);
    return F.v[0].id;
}

static void test_refusals(void **state)
{
    (void)state;
    assert_string_equal(refusal_of(-ECONNREFUSED, "intercept 192.0.2.30:36524: refused by "
                                                  "intercept (code 5): not allowed"),
                        "intercept_not_allowed");
    assert_string_equal(refusal_of(-ECONNREFUSED, "x: refused by intercept (code 3): bad secret"),
                        "intercept_secret");
    assert_string_equal(refusal_of(-EACCES, "x: bad secret: intercept's proof does not match"),
                        "intercept_secret");
    assert_string_equal(refusal_of(-ECONNREFUSED, "x: refused by intercept (code 4): busy"),
                        "intercept_refused");
    assert_string_equal(refusal_of(-ECONNREFUSED, "x: Connection refused"), "intercept_not_running");
    assert_string_equal(refusal_of(-ETIMEDOUT, "x: no connection within 3000 ms"),
                        "intercept_unreachable");
    assert_string_equal(refusal_of(-EPROTONOSUPPORT, "x: protocol version 2, we speak 1"),
                        "intercept_version");
    assert_string_equal(refusal_of(-EPROTO, "x: bad HELLO"), "intercept_error");
    /* A hostile BYE text reaches the finding sanitized. */
    assert_string_equal(refusal_of(-ECONNREFUSED, "x: refused by intercept (code 5): \x1b[31m"),
                        "intercept_not_allowed");
    assert_null(strchr(F.v[0].what, '\x1b'));
}

/* A loopback port that nothing listens on (bound, then closed). */
static uint16_t free_port(int *keep_fd, bool listen_on_it)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    if (listen_on_it) {
        assert_int_equal(listen(fd, 4), 0);
        *keep_fd = fd;
    } else {
        close(fd);
    }
    return ntohs(a.sin_port);
}

static void test_intercept_not_running(void **state)
{
    (void)state;
    char s[64];
    snprintf(s, sizeof(s), "127.0.0.1:%u", free_port(NULL, false));
    setup_opts("80-192.0.2.20:8080", s);
    check_intercepts(&K);
    assert_int_equal(K.nup, 0);
    assert_true(findings_has(&F, "intercept_not_running"));
    check_intercepts_close(&K);
}

static void test_intercept_not_allowed(void **state)
{
    (void)state;
    int lfd = -1;
    char s[64];
    snprintf(s, sizeof(s), "127.0.0.1:%u", free_port(&lfd, true));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* an intercept whose --allow leaves us out: BYE 5 at accept */
        int fd = accept(lfd, NULL, NULL);
        struct chan_out out;
        chan_out_init(&out, 4096);
        if (fd >= 0 && hello_bye_put(&out, CHAN_BYE_REFUSED, "not allowed: intercept needs "
                                                            "--allow 127.0.0.1/32") == 0)
            (void)chan_out_flush(&out, fd);
        shutdown(fd, SHUT_WR);
        char sink[256];
        while (read(fd, sink, sizeof(sink)) > 0)
            ;
        _exit(0);
    }
    close(lfd);
    setup_opts("80-192.0.2.20:8080", s);
    check_intercepts(&K);
    assert_int_equal(K.nup, 0);
    assert_true(findings_has(&F, "intercept_not_allowed"));
    assert_non_null(strstr(F.v[F.n - 1].what, "--allow 127.0.0.1/32"));
    check_intercepts_close(&K);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
}

static int parse(const char *a, const char *b, char *err, size_t errlen)
{
    char *argv[] = {"tcpcopy", "-x", "80-192.0.2.20:8080", "-s", "192.0.2.30", (char *)a,
                    (char *)b, NULL};
    tc_opts_init(&O);
    return tc_opts_parse(&O, b != NULL ? 7 : 6, argv, err, errlen);
}

static void test_options(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(parse("--check", NULL, err, sizeof(err)), 0);
    assert_true(O.check);
    assert_false(O.json);
    assert_int_equal(O.check_wait_s, 5);
    assert_int_equal(parse("--json", NULL, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "tcpcopy: --json needs --check");
    assert_int_equal(parse("--check-wait", "0", err, sizeof(err)), -EINVAL);
    assert_int_equal(parse("--check-wait", "61", err, sizeof(err)), -EINVAL);
    assert_int_equal(parse("--check-wait", "x", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--check-wait"));
    assert_int_equal(parse("--check-wait", "60", err, sizeof(err)), 0);
    assert_int_equal(O.check_wait_s, 60);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_verdicts),
        cmocka_unit_test(test_on_reply),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_intercept_not_running),
        cmocka_unit_test(test_intercept_not_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
