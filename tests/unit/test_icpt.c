/*
 * test_icpt: intercept as a whole (icpt.c: captures, listening, peers, routes, stamps),
 * in a network namespace of its own with only a loopback (as test_rawio: needs root, and
 * fails rather than skips without it). A child runs intercept on lo; the test plays a
 * tcpcopy: HELLO with the clock feature, a timestamped heartbeat (answered at once, with
 * our time echoed), a route for a real TCP connection on lo whose server then writes 5
 * bytes; intercept must forward that segment's headers in a REPLY record, after a STAMP
 * with its capture time, and stop cleanly on SIGTERM.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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

#include "buf.h"
#include "chan.h"
#include "hello.h"
#include "icpt.h"
#include "loop.h"
#include "opts.h"
#include "pkt.h"
#include "sock_fx.h"


/* A listening TCP socket on 127.0.0.1 and its port. */
static int listen_any(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int connect_to(uint16_t port, uint16_t *local_port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return -1;
    }
    if (local_port != NULL) {
        socklen_t al = sizeof(a);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
        *local_port = ntohs(a.sin_port);
    }
    return fd;
}

/* The child: intercept on lo, replies from the target port, the channel on chan_port. */
static void run_intercept(uint16_t target_port, uint16_t chan_port)
{
    char filter[64], port[16];
    snprintf(filter, sizeof(filter), "tcp and src port %u", target_port);
    snprintf(port, sizeof(port), "%u", chan_port);
    char *argv[] = {"intercept", "-i", "lo", "-F", filter, "-p", port, "-b", "127.0.0.1", NULL};
    struct icpt_opts o;
    char err[256];
    icpt_opts_init(&o);
    if (icpt_opts_parse(&o, 9, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "test_icpt: %s\n", err);
        _exit(2);
    }
    struct icpt *ic = icpt_new(&o, err, sizeof(err));
    if (ic == NULL) {
        fprintf(stderr, "test_icpt: %s\n", err);
        _exit(3);
    }
    int rc = icpt_run(ic);
    icpt_free(ic);
    icpt_opts_free(&o);
    _exit(rc == 0 ? 0 : 4);
}

struct peer_io {
    int fd;
    struct buf in;
};

/* The next whole frame from intercept within ms; its body stays valid until the next. */
static bool next_frame(struct peer_io *p, struct chan_frame *f, int ms)
{
    static size_t used;
    buf_consume(&p->in, used);
    used = 0;
    for (int waited = 0; waited <= ms; waited += 10) {
        ssize_t n = chan_frame_next(f, buf_head(&p->in), buf_len(&p->in));
        assert_true(n >= 0);
        if (n > 0) {
            used = (size_t)n;
            return true;
        }
        ssize_t r = buf_read_fd(&p->in, p->fd);
        if (r == -EAGAIN || r == 0)
            usleep(10000);
        else
            assert_true(r > 0);
    }
    return false;
}

static void send_out(int fd, struct chan_out *o)
{
    for (int i = 0; i < 100 && buf_len(&o->buf) > 0; i++)
        assert_true(chan_out_flush(o, fd) >= 0);
    assert_int_equal(buf_len(&o->buf), 0);
}

static void test_forward_with_stamp(void **state)
{
    (void)state;
    uint16_t tport, cport_unused;
    int lfd = listen_any(&tport);
    int tmp = listen_any(&cport_unused); /* a free port for the channel */
    close(tmp);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        run_intercept(tport, cport_unused);

    /* tcpcopy: connect (intercept is starting), HELLO with the clock feature. */
    struct peer_io p = {.fd = -1};
    for (int i = 0; i < 500 && p.fd < 0; i++) {
        p.fd = connect_to(cport_unused, NULL);
        if (p.fd < 0)
            usleep(10000);
    }
    assert_true(p.fd >= 0);
    assert_int_equal(fcntl(p.fd, F_SETFL, fcntl(p.fd, F_GETFL) | O_NONBLOCK), 0);
    buf_init(&p.in, 1U << 20);
    struct chan_out out;
    chan_out_init(&out, 1U << 20);
    struct hello me, them;
    assert_int_equal(hello_make(&me, CHAN_ROLE_TCPCOPY, CHAN_FEAT_HEARTBEAT | CHAN_FEAT_CLOCK, 0), 0);
    assert_int_equal(hello_put(&out, &me), 0);
    struct chan_hb hb = {.sent_us = 123456789};
    assert_int_equal(chan_put_heartbeat(&out, &hb), 0);
    send_out(p.fd, &out);
    struct chan_frame f;
    assert_true(next_frame(&p, &f, 3000));
    assert_int_equal(hello_judge(&them, &f, CHAN_ROLE_INTERCEPT, false), HELLO_OK);
    assert_true(them.features & CHAN_FEAT_CLOCK);
    /* The first timestamped heartbeat is answered at once, our time echoed. */
    assert_true(next_frame(&p, &f, 3000));
    assert_int_equal(f.type, CHAN_HEARTBEAT);
    struct chan_hb echo;
    assert_int_equal(chan_heartbeat_decode(&echo, &f), 0);
    assert_true(echo.echo_us == 123456789 && echo.sent_us != 0);

    /* A real connection on lo, its route registered, then its server speaks. */
    uint16_t cport;
    int cfd = connect_to(tport, &cport);
    assert_true(cfd >= 0);
    int sfd = accept(lfd, NULL, NULL);
    assert_true(sfd >= 0);
    struct chan_route r = {.cport = cport, .tport = tport};
    assert_true(addr_parse(&r.client, "127.0.0.1"));
    assert_true(addr_parse(&r.target, "127.0.0.1"));
    assert_int_equal(chan_put_route(&out, CHAN_ROUTE_ADD, &r), 0);
    send_out(p.fd, &out);
    usleep(100000); /* the route first (a reply before it would be held, then delivered) */
    assert_int_equal(write(sfd, "hello", 5), 5);

    /* Its segment comes back as a REPLY record, after a STAMP. */
    bool stamped = false, got = false;
    while (!got && next_frame(&p, &f, 3000)) {
        uint64_t ts;
        if (f.type == CHAN_STAMP) {
            assert_int_equal(chan_stamp_decode(&ts, &f), 0);
            assert_true(ts > 1600000000ULL * 1000000); /* a realtime capture time */
            stamped = true;
        } else if (f.type == CHAN_REPLY) {
            struct chan_iter it;
            const uint8_t *rec;
            size_t rlen;
            chan_iter_init(&it, &f);
            while (chan_reply_next(&it, &rec, &rlen) > 0) {
                struct pkt q;
                assert_int_equal(pkt_parse_ip(&q, rec, rlen, PKT_PARSE_HDRONLY), PKT_OK);
                assert_int_equal(q.t.sport, tport);
                assert_int_equal(q.t.dport, cport);
                got = got || q.data_len == 5;
            }
        }
    }
    assert_true(got);
    assert_true(stamped);

    assert_int_equal(kill(pid, SIGTERM), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(cfd);
    close(sfd);
    close(lfd);
    close(p.fd);
    buf_free(&p.in);
    chan_out_free(&out);
}

static int setup(void **state)
{
    (void)state;
    return netns_lo("test_icpt");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_with_stamp),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
