/*
 * test_copy: tcpcopy's daemon wiring (copy.c) as a whole, in a network namespace of its
 * own with only a loopback (as test_icpt: needs root, and fails rather than skips without
 * it). A forked child plays intercept: it answers the HELLO and, in the live test, watches
 * for the route of the session the test starts, then sends reply records, asks for the
 * counters with SIGUSR1 until they show what happened, and stops tcpcopy with SIGTERM. What copy.c owns and this checks:
 *  - copy_new's order of refusals: a bad secret file and a missing capture file are
 *    reported before anything needs privilege; an intercept that refuses the connection
 *    fails startup with a message naming it; copy_free(NULL) is a no-op;
 *  - the capture path (on_packet): a malformed packet counted (capture.malformed), a SYN to
 *    the -x port made a session whose SYN reaches the sender (send.packets) and whose route
 *    reaches intercept (before_sleep flushes the channel);
 *  - the reply path (on_reply): an unparsable record counted (replies.unparsable), a
 *    parsable one of no session counted (replies.no_session); one that comes with
 *    intercept's HELLO, while copy_new waits for the channel and there is no engine yet,
 *    dropped (it crashed tcpcopy before);
 *  - signals: SIGUSR1 rewrites the --stats-json file while copying, SIGTERM stops copy_run
 *    with status 0; the final counters are written at exit;
 *  - offline replay: copy_run ends by itself at the end of the file, its reader's counters
 *    in the stats file (offline.packets_read = the file's records); a file cut inside a
 *    record is replayed but copy_run returns -EIO.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "addr.h"
#include "buf.h"
#include "chan.h"
#include "copy.h"
#include "hello.h"
#include "opts.h"
#include "pkt.h"
#include "sock_fx.h"

#define ONLINE "127.0.0.1"
#define CLIENT "127.0.0.2"
#define TARGET "127.0.0.3"

static char dir[64];       /* the test's temporary directory */
static char stats_path[96];

/* ---- the stats file ---- */

/* The whole file at path, NUL-terminated, or NULL. */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    char *s = calloc(1, 1 << 16);
    size_t n = s ? fread(s, 1, (1 << 16) - 1, fp) : 0;
    fclose(fp);
    if (s != NULL)
        s[n] = '\0';
    return s;
}

/* The number at "sec":{... "key": N ...} (key directly inside sec), or -1. */
static long long stat_of(const char *json, const char *sec, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":{", sec);
    const char *p = json ? strstr(json, k) : NULL;
    if (p == NULL)
        return -1;
    p += strlen(k);
    snprintf(k, sizeof(k), "\"%s\":", key);
    size_t kl = strlen(k);
    for (int depth = 0; *p != '\0' && depth >= 0; p++) {
        if (*p == '{')
            depth++;
        else if (*p == '}')
            depth--;
        else if (depth == 0 && strncmp(p, k, kl) == 0)
            return strtoll(p + kl, NULL, 10);
    }
    return -1;
}

static long long stat_file(const char *sec, const char *key)
{
    char *s = slurp(stats_path);
    long long v = stat_of(s, sec, key);
    free(s);
    return v;
}

/* ---- the fake intercept (a child process: no cmocka there, an exit status) ---- */

struct fake {
    int lfd;
    uint16_t port;
    pid_t pid;
};

static void fake_listen(struct fake *f)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(f->lfd >= 0);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(f->lfd, 4), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &al), 0);
    f->port = ntohs(a.sin_port);
}

/* The next whole frame from fd within ms (0: only what has come), its body valid until the
 * next call. tcpcopy closing the channel ends the child (status 0). */
static bool fake_frame(int fd, struct buf *in, struct chan_frame *fr, int ms)
{
    static size_t used;
    buf_consume(in, used);
    used = 0;
    for (int waited = 0;; waited += 10) {
        ssize_t n = chan_frame_next(fr, buf_head(in), buf_len(in));
        if (n < 0)
            _exit(10);
        if (n > 0) {
            used = (size_t)n;
            return true;
        }
        if (waited > ms)
            return false;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, ms > 0 ? 10 : 0) == 1 && buf_read_fd(in, fd) <= 0)
            _exit(0); /* tcpcopy closed the channel */
    }
}

/* Accept tcpcopy's connection, check its HELLO, answer ours (with early, if not NULL, a
 * reply record in the same write: tcpcopy reads it while still starting). */
static int fake_accept(struct fake *f, struct buf *in, const uint8_t *early, size_t early_len)
{
    struct pollfd pfd = {.fd = f->lfd, .events = POLLIN};
    if (poll(&pfd, 1, 10000) != 1)
        _exit(11);
    int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
    struct chan_frame fr;
    struct hello h;
    if (fd < 0 || !fake_frame(fd, in, &fr, 10000) || hello_decode(&h, &fr) != 0 ||
        h.role != CHAN_ROLE_TCPCOPY)
        _exit(12);
    struct hello mine = {
        .version = CHAN_VERSION, .role = CHAN_ROLE_INTERCEPT, .features = CHAN_FEAT_HEARTBEAT};
    struct chan_out o;
    chan_out_init(&o, 4096);
    if (hello_put(&o, &mine) != 0 || (early != NULL && chan_put_reply(&o, early, early_len) != 0))
        _exit(13);
    size_t want = buf_len(&o.buf);
    if (chan_out_flush(&o, fd) != (ssize_t)want)
        _exit(13);
    chan_out_free(&o);
    return fd;
}

/* An IPv4 + TCP header from the target to a client tcpcopy has no session for. */
static size_t reply_no_session(uint8_t *b, size_t cap)
{
    struct pkt_spec s = {.seq = 5000, .ack = 1, .win = 1000, .flags = 0x10 /* ACK */};
    assert_true(addr_parse(&s.t.src, TARGET));
    assert_true(addr_parse(&s.t.dst, CLIENT));
    s.t.sport = 8080;
    s.t.dport = 1999;
    return pkt_build(b, cap, &s);
}

/* Every ROUTE_ADD frame waiting on fd: true if one routes CLIENT -> TARGET:8080. */
static bool fake_route_seen(int fd, struct buf *in)
{
    struct addr client, target;
    struct chan_frame fr;
    struct chan_route r;
    bool seen = false;
    addr_parse(&client, CLIENT);
    addr_parse(&target, TARGET);
    while (fake_frame(fd, in, &fr, 0))
        for (size_t k = 0; fr.type == CHAN_ROUTE_ADD && k < chan_route_count(&fr); k++)
            if (chan_route_get(&r, &fr, k) == 0 && addr_eq(&r.client, &client) &&
                addr_eq(&r.target, &target) && r.tport == 8080)
                seen = true;
    return seen;
}

/* The live script: a parsable reply record of no session with the HELLO (read during
 * startup, when there is no engine: dropped); once the route of the test's session came,
 * two records (one unparsable, one of no session); meanwhile, every 50 ms, SIGUSR1 until
 * the stats file shows both records and the malformed packet; then SIGTERM. Exit 0, or
 * 1 (no route), 2 (no stats written while running), 3 (neither). */
static void fake_live(struct fake *f)
{
    struct buf in;
    uint8_t garbage[40], ok[64];
    buf_init(&in, 1 << 16);
    memset(garbage, 0x45, sizeof(garbage));
    size_t okn = reply_no_session(ok, sizeof(ok));
    int fd = fake_accept(f, &in, ok, okn);
    bool route = false, stats = false;
    for (int i = 0; i < 200 && !(route && stats); i++) {
        if (!route && fake_route_seen(fd, &in)) {
            route = true;
            struct chan_out o;
            chan_out_init(&o, 4096);
            if (okn == 0 || chan_put_reply(&o, garbage, sizeof(garbage)) != 0 ||
                chan_put_reply(&o, ok, okn) != 0 || chan_out_flush(&o, fd) <= 0)
                _exit(14);
            chan_out_free(&o);
        }
        kill(getppid(), SIGUSR1);
        usleep(50000);
        char *s = slurp(stats_path);
        stats = stat_of(s, "replies", "unparsable") == 1 && stat_of(s, "replies", "no_session") == 1 &&
                stat_of(s, "capture", "malformed") == 1;
        free(s);
    }
    kill(getppid(), SIGTERM);
    struct chan_frame fr;
    while (fake_frame(fd, &in, &fr, 10000)) /* until tcpcopy closes */
        ;
    _exit((route ? 0 : 1) | (stats ? 0 : 2));
}

/* Answer the HELLO, then read until tcpcopy closes the channel. */
static void fake_idle(struct fake *f)
{
    struct buf in;
    buf_init(&in, 1 << 16);
    int fd = fake_accept(f, &in, NULL, 0);
    struct chan_frame fr;
    while (fake_frame(fd, &in, &fr, 60000))
        ;
    _exit(15);
}

static void fake_start(struct fake *f, void (*run)(struct fake *))
{
    fake_listen(f);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0)
        run(f);
    close(f->lfd);
}

/* The child's exit status (after tcpcopy is gone, it has seen the channel close). */
static int fake_wait(struct fake *f)
{
    int st = 0;
    assert_int_equal(waitpid(f->pid, &st, 0), f->pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* ---- tcpcopy's options and the packets it captures ---- */

/* Parse argv (NULL-terminated, "-s 127.0.0.1 -p PORT -C 1 --stats-json F" appended). */
static void opts_for(struct tc_opts *o, uint16_t port, const char **args)
{
    static char pbuf[16];
    char *argv[32];
    int n = 0;
    argv[n++] = "tcpcopy";
    for (; *args != NULL; args++)
        argv[n++] = (char *)*args;
    snprintf(pbuf, sizeof(pbuf), "%u", port);
    char *tail[] = {"-s", ONLINE, "-p", pbuf, "-C", "1", "--stats-json", stats_path};
    for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
        argv[n++] = tail[i];
    argv[n] = NULL;
    char err[256] = "";
    tc_opts_init(o);
    int rc = tc_opts_parse(o, n, argv, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "test_copy: %s\n", err);
    assert_int_equal(rc, 0);
}

/* Send a datagram as it is (IP_HDRINCL) on lo. */
static void send_ip(const uint8_t *b, size_t len)
{
    int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    assert_true(fd >= 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(sendto(fd, b, len, 0, (struct sockaddr *)&to, sizeof(to)), (ssize_t)len);
    close(fd);
}

/* CLIENT:40000 -> ONLINE:80: a TCP header whose data offset (2 words) is below its own
 * length (malformed), then a SYN. */
static void send_client_packets(void)
{
    uint8_t b[128];
    struct pkt_spec s = {.seq = 1000, .win = 65535, .flags = 0x02 /* SYN */};
    assert_true(addr_parse(&s.t.src, CLIENT));
    assert_true(addr_parse(&s.t.dst, ONLINE));
    s.t.sport = 40000;
    s.t.dport = 80;
    size_t n = pkt_build(b, sizeof(b), &s);
    assert_int_equal(n, 40);
    uint8_t bad[40];
    memcpy(bad, b, n);
    bad[20 + 12] = 2 << 4; /* data offset 2 */
    send_ip(bad, sizeof(bad));
    send_ip(b, n);
}

/* ---- tests ---- */

static void test_free_null(void **state)
{
    (void)state;
    copy_free(NULL);
}

/* A missing secret file is refused first: nothing else (an intercept, privilege) matters. */
static void test_new_bad_secret(void **state)
{
    (void)state;
    struct tc_opts o;
    char path[128], err[256] = "";
    snprintf(path, sizeof(path), "%s/no-such-secret", dir);
    const char *args[] = {"-x", "80-" TARGET ":8080", "--secret-file", path, NULL};
    opts_for(&o, 1, args);
    assert_null(copy_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, path));
}

/* A capture file that does not exist is named, before the channel is tried (port 1). */
static void test_new_missing_file(void **state)
{
    (void)state;
    struct tc_opts o;
    char path[128], err[256] = "";
    snprintf(path, sizeof(path), "%s/no-such.pcap", dir);
    const char *args[] = {"-x", "80-" TARGET ":8080", "--offline", "-i", path, NULL};
    opts_for(&o, 1, args);
    assert_null(copy_new(&o, err, sizeof(err)));
    assert_non_null(strstr(err, "no-such.pcap"));
    assert_null(strstr(err, "intercept"));
}

/* Nothing listens at the intercept's port: startup fails and says which intercept. */
static void test_new_no_intercept(void **state)
{
    (void)state;
    struct fake f;
    fake_listen(&f);
    close(f.lfd); /* a port that was free a moment ago: refused now */
    struct tc_opts o;
    char err[256] = "", want[64];
    const char *args[] = {"-x", "80-" TARGET ":8080", "--intercept-timeout", "1000", NULL};
    opts_for(&o, f.port, args);
    assert_null(copy_new(&o, err, sizeof(err)));
    snprintf(want, sizeof(want), "intercept " ONLINE ":%u", f.port);
    if (strstr(err, want) == NULL)
        fprintf(stderr, "test_copy: '%s' does not name '%s'\n", err, want);
    assert_non_null(strstr(err, want));
}

static void test_live(void **state)
{
    (void)state;
    struct fake f;
    struct tc_opts o;
    char err[256] = "";
    unlink(stats_path);
    fake_start(&f, fake_live);
    const char *args[] = {"-x", "80-" TARGET ":8080", NULL};
    opts_for(&o, f.port, args);
    struct copy *c = copy_new(&o, err, sizeof(err));
    if (c == NULL)
        fprintf(stderr, "test_copy: %s\n", err);
    assert_non_null(c);
    /* Queued in the capture socket until copy_run reads it. */
    send_client_packets();
    assert_int_equal(copy_run(c), 0); /* until the fake's SIGTERM */
    copy_free(c);
    assert_int_equal(fake_wait(&f), 0); /* route seen; SIGUSR1 wrote the counters */

    assert_int_equal(stat_file("capture", "malformed"), 1);
    assert_int_equal(stat_file("capture", "packets"), 1);
    assert_int_equal(stat_file("sessions", "created"), 1);
    assert_true(stat_file("target", "packets") >= 1); /* the SYN, then the reset at exit */
    assert_true(stat_file("send", "packets") >= 1);
    assert_int_equal(stat_file("replies", "unparsable"), 1);
    assert_int_equal(stat_file("replies", "no_session"), 1);
    assert_int_equal(stat_file("replies", "packets"), 1);
}

/* Records in a classic pcap file (each: 16-byte header + caplen), or -1. */
static long long pcap_records(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    uint8_t h[24], r[16];
    long long n = 0;
    if (fread(h, 1, sizeof(h), fp) != sizeof(h) || h[0] != 0xd4 || h[1] != 0xc3) {
        fclose(fp);
        return -1; /* a little-endian microsecond file expected */
    }
    while (fread(r, 1, sizeof(r), fp) == sizeof(r)) {
        uint32_t cl = (uint32_t)r[8] | (uint32_t)r[9] << 8 | (uint32_t)r[10] << 16 | (uint32_t)r[11] << 24;
        if (fseek(fp, cl, SEEK_CUR) != 0)
            break;
        n++;
    }
    fclose(fp);
    return n;
}

/* Replay a file whose packets no rule copies (-x 81): copy_run ends by itself. */
static int replay(const char *file, struct fake *f)
{
    struct tc_opts o;
    char err[256] = "", path[256];
    const char *data = getenv("TC_DATA");
    assert_non_null(data);
    snprintf(path, sizeof(path), "%s/%s", data, file);
    unlink(stats_path);
    fake_start(f, fake_idle);
    const char *args[] = {"-x", "81-" TARGET ":8080", "--offline", "-i", path, "-I", "1", NULL};
    opts_for(&o, f->port, args);
    struct copy *c = copy_new(&o, err, sizeof(err));
    if (c == NULL)
        fprintf(stderr, "test_copy: %s\n", err);
    assert_non_null(c);
    int rc = copy_run(c);
    copy_free(c);
    assert_int_equal(fake_wait(f), 0);
    return rc;
}

static void test_offline_to_the_end(void **state)
{
    (void)state;
    struct fake f;
    char path[256];
    snprintf(path, sizeof(path), "%s/offline_curl_eth.pcap", getenv("TC_DATA"));
    long long n = pcap_records(path);
    assert_true(n > 0);
    assert_int_equal(replay("offline_curl_eth.pcap", &f), 0);
    assert_int_equal(stat_file("offline", "packets_read"), n);
    assert_int_equal(stat_file("sessions", "created"), 0);
}

static void test_offline_truncated(void **state)
{
    (void)state;
    struct fake f;
    assert_int_equal(replay("corrupt/cut_record_data.pcap", &f), -EIO);
    assert_true(stat_file("offline", "packets_read") >= 1); /* the records before the cut */
}

static int setup(void **state)
{
    (void)state;
    if (netns_lo("test_copy") < 0)
        return -1;
    /* copy.c takes these from a signalfd: blocked in every thread, before any exists. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    snprintf(dir, sizeof(dir), "/tmp/test_copy.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(stats_path, sizeof(stats_path), "%s/stats.json", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_free_null),
        cmocka_unit_test(test_new_bad_secret),
        cmocka_unit_test(test_new_missing_file),
        cmocka_unit_test(test_new_no_intercept),
        cmocka_unit_test(test_live),
        cmocka_unit_test(test_offline_to_the_end),
        cmocka_unit_test(test_offline_truncated),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
