/*
 * test_icpt_check: intercept --check without root. --check-target's grammar (good
 * and bad inputs); the -F filter tried on synthetic replies (IPv4 and IPv6, "any"
 * and Ethernet link types, a filter on the wrong port, one that does not
 * compile); the port check when someone listens already; and the peer window with
 * a real tcpcopy-side handshake over loopback (chan.c frames): the peer's route
 * teaches the target, and an --allow that leaves the peer out refuses it.
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

#include "buf.h"
#include "chan.h"
#include "hello.h"
#include "finding.h"
#include "intercept/check_impl.h"
#include "intercept/opts.h"

static void test_targets_parse(void **state)
{
    (void)state;
    struct icheck_target t[4];
    size_t n = 0;
    char err[256];

    assert_int_equal(icheck_targets_parse("192.0.2.20:8080,[2001:db8:1::20]:443", t, 4, &n, err,
                                          sizeof(err)), 0);
    assert_int_equal(n, 2);
    assert_int_equal(t[0].addr.af, AF_INET);
    assert_int_equal(t[0].port, 8080);
    assert_int_equal(t[1].addr.af, AF_INET6);
    assert_int_equal(t[1].port, 443);
    static const char *bad[] = {"", "192.0.2.20", "192.0.2.20:", "192.0.2.20:0",
                                "192.0.2.20:65536", "192.0.2.20:80x", "host:80", "192.0.2.20:80,",
                                ",192.0.2.20:80", "[2001:db8::1:80", "192.0.2.20:-1",
                                "1.2.3.4:1,1.2.3.4:2,1.2.3.4:3,1.2.3.4:4,1.2.3.4:5",
                                "2\n*0:00:0" /* found by fuzz_check: quoted on one line */};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = 0;
        err[0] = '\0';
        if (icheck_targets_parse(bad[i], t, 4, &n, err, sizeof(err)) != -EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(err, "--check-target"));
        assert_null(strchr(err, '\n'));
    }
}

static int matches(const char *filter, const char *dev, const char *addr, uint16_t port)
{
    struct icheck_target t = {.port = port};
    char err[512];
    assert_true(addr_parse(&t.addr, addr));
    return icheck_filter_matches(filter, dev, 256, &t, err, sizeof(err));
}

static void test_filter(void **state)
{
    (void)state;
    const char *devs[] = {"any", "eth0", NULL};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(matches("tcp and src port 8080", devs[i], "192.0.2.20", 8080), 1);
        assert_int_equal(matches("tcp and src port 8081", devs[i], "192.0.2.20", 8080), 0);
        assert_int_equal(matches("tcp and src host 192.0.2.21", devs[i], "192.0.2.20", 8080), 0);
        assert_int_equal(matches("tcp and src host 2001:db8:1::20 and src port 443", devs[i],
                                 "2001:db8:1::20", 443), 1);
        assert_int_equal(matches("ip and tcp", devs[i], "2001:db8:1::20", 443), 0);
        assert_int_equal(matches("tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack)",
                                 devs[i], "192.0.2.20", 80), 1);
        assert_int_equal(matches("udp", devs[i], "192.0.2.20", 8080), 0);
    }
    struct icheck_target t = {.port = 1};
    char err[512] = "";
    assert_true(addr_parse(&t.addr, "192.0.2.20"));
    assert_int_equal(icheck_filter_matches("tcp and and", "any", 256, &t, err, sizeof(err)),
                     -EINVAL);
    assert_true(strlen(err) > 0);
}

static struct icpt_opts O;
static struct findings F;
static struct icheck K;

static void setup_check(uint16_t port, uint32_t wait_s, const char *allow)
{
    char *argv[] = {"intercept", "-F", "tcp and src port 8080", "--check", "--allow",
                    (char *)allow, NULL};
    char err[256];
    icpt_opts_free(&O);
    icpt_opts_init(&O);
    assert_int_equal(icpt_opts_parse(&O, allow != NULL ? 6 : 4, argv, err, sizeof(err)), 0);
    O.port = port;
    O.check_wait_s = wait_s;
    findings_init(&F, "intercept");
    memset(&K, 0, sizeof(K));
    K.o = &O;
    K.f = &F;
    K.listen_fd = -1;
}

/* A port on :: that this test holds (listening), so the check finds it in use. */
static uint16_t held_port(int *fd)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    socklen_t al = sizeof(a);
    int zero = 0;
    *fd = socket(AF_INET6, SOCK_STREAM, 0);
    assert_true(*fd >= 0);
    (void)setsockopt(*fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    assert_int_equal(bind(*fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(*fd, 4), 0);
    assert_int_equal(getsockname(*fd, (struct sockaddr *)&a, &al), 0);
    return ntohs(a.sin6_port);
}

static void test_port_in_use(void **state)
{
    (void)state;
    int fd;
    uint16_t port = held_port(&fd);
    setup_check(port, 0, NULL);
    assert_int_equal(icheck_listen(&K), -EADDRINUSE);
    close(fd);
    setup_check(port, 0, NULL);
    assert_int_equal(icheck_listen(&K), 0);
    assert_int_equal(K.listen_fd, -1); /* no window: not kept */
}

/* A tcpcopy in a child: HELLO, wait for intercept's HELLO, one ROUTE_ADD, then wait
 * for the close that ends the window. */
static void fake_tcpcopy(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
        _exit(1);
    struct chan_out out;
    struct hello h = {.version = CHAN_VERSION, .role = CHAN_ROLE_TCPCOPY};
    struct chan_route r = {.cport = 40000, .tport = 8080};
    (void)addr_parse(&r.client, "203.0.113.7");
    (void)addr_parse(&r.target, "192.0.2.20");
    chan_out_init(&out, 1U << 16);
    if (hello_put(&out, &h) != 0 || chan_out_flush(&out, fd) < 0)
        _exit(1);
    uint8_t in[512];
    if (read(fd, in, sizeof(in)) <= 0) /* intercept's HELLO, or a refusal */
        _exit(0);
    if (chan_put_route(&out, CHAN_ROUTE_ADD, &r) != 0 || chan_out_flush(&out, fd) < 0)
        _exit(1);
    while (read(fd, in, sizeof(in)) > 0)
        ;
    _exit(0);
}

static void run_window(const char *allow)
{
    int fd;
    uint16_t port = held_port(&fd);
    close(fd);
    setup_check(port, 2, allow);
    assert_int_equal(icheck_listen(&K), 0);
    assert_true(K.listen_fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        fake_tcpcopy(port);
    icheck_peers(&K);
    assert_int_equal(K.listen_fd, -1);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
}

static void test_peer_window(void **state)
{
    (void)state;
    run_window(NULL); /* the default --allow admits loopback */
    assert_true(findings_has(&F, "peer"));
    assert_int_equal(findings_count(&F, FINDING_FAIL), 0);
    assert_int_equal(K.ntargets, 1);
    assert_int_equal(K.targets[0].port, 8080);

    run_window("192.0.2.0/24");
    assert_true(findings_has(&F, "peer_not_allowed"));
    assert_non_null(strstr(F.v[0].fix, "--allow 127.0.0.1/32"));
    assert_int_equal(K.ntargets, 0);
    icpt_opts_free(&O);
}

static void test_options(void **state)
{
    (void)state;
    char err[256];
    char *alone[] = {"intercept", "-F", "tcp", "--check-target", "192.0.2.20:80", NULL};
    char *wait[] = {"intercept", "-F", "tcp", "--check", "--check-wait", "601", NULL};
    char *good[] = {"intercept", "-F", "tcp", "--check", "--json", "--check-wait", "600",
                    "--check-target", "192.0.2.20:80", NULL};
    icpt_opts_init(&O);
    assert_int_equal(icpt_opts_parse(&O, 5, alone, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "need --check"));
    icpt_opts_free(&O);
    icpt_opts_init(&O);
    assert_int_equal(icpt_opts_parse(&O, 6, wait, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "--check-wait 601"));
    icpt_opts_free(&O);
    icpt_opts_init(&O);
    assert_int_equal(icpt_opts_parse(&O, 9, good, err, sizeof(err)), 0);
    assert_true(O.check && O.json);
    assert_int_equal(O.check_wait_s, 600);
    assert_string_equal(O.check_targets, "192.0.2.20:80");
    icpt_opts_free(&O);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_targets_parse),
        cmocka_unit_test(test_filter),
        cmocka_unit_test(test_port_in_use),
        cmocka_unit_test(test_peer_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
