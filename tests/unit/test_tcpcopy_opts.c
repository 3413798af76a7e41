/*
 * test_tcpcopy_opts: tcpcopy's command line. The original's usual invocation and
 * every option in short and long form, the defaults (keep-alive follows -t
 * unless -k), -h and -v, and each kind of bad command line with the message
 * that must name what was wrong. Only documentation addresses (RFC 5737).
 */
#include <errno.h>
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

#include "chan.h"
#include "cmp_frame.h"
#include "opts.h"

#define ARGV_MAX 40

/* getopt permutes argv, so every call gets fresh writable copies. */
struct cmdline {
    int argc;
    char *argv[ARGV_MAX + 1];
};

static void cmd_build(struct cmdline *c, const char *const *args)
{
    c->argc = 0;
    c->argv[c->argc++] = strdup("tcpcopy");
    for (; *args != NULL; args++) {
        assert_true(c->argc < ARGV_MAX);
        c->argv[c->argc] = strdup(*args);
        assert_non_null(c->argv[c->argc]);
        c->argc++;
    }
    c->argv[c->argc] = NULL;
}

static void cmd_free(struct cmdline *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i]);
}

/* Parse into a fresh (heap: the maps are large) struct; returns the result. */
static int parse(struct tc_opts **out, char *err, size_t errlen, const char *const *args)
{
    struct cmdline c;
    struct tc_opts *o = malloc(sizeof(*o));
    assert_non_null(o);
    tc_opts_init(o);
    cmd_build(&c, args);
    err[0] = '\0';
    int rc = tc_opts_parse(o, c.argc, c.argv, err, errlen);
    /* The struct must not keep pointers into argv we free: the tests below only
     * read log_path/pidfile through copies made before freeing. */
    if (out != NULL) {
        *out = o;
        if (o->log_path)
            o->log_path = strdup(o->log_path);
        if (o->pidfile)
            o->pidfile = strdup(o->pidfile);
    } else {
        free(o);
    }
    cmd_free(&c);
    return rc;
}

static void opts_free(struct tc_opts *o)
{
    if (o == NULL)
        return;
    free((char *)o->log_path);
    free((char *)o->pidfile);
    free(o);
}

static void assert_addr(const struct addr *a, const char *s)
{
    char buf[ADDR_STRLEN];
    addr_str(a, buf, sizeof(buf));
    assert_string_equal(buf, s);
}

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void test_original_command_line(void **state)
{
    (void)state;
    struct tc_opts *o;
    char err[256];

    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS("-x", "80-192.0.2.20:8080", "-s", "192.0.2.30", "-c",
                                "203.0.113.x")),
                     0);
    assert_string_equal(err, "");
    assert_int_equal(o->action, TC_ACT_RUN);
    assert_int_equal(o->xfer.n, 1);
    assert_int_equal(o->xfer.rules[0].online_port, 80);
    assert_addr(&o->xfer.rules[0].target, "192.0.2.20");
    assert_int_equal(o->xfer.rules[0].target_port, 8080);
    assert_int_equal(o->servers.n, 1);
    assert_addr(&o->servers.s[0].addr, "192.0.2.30");
    assert_int_equal(o->servers.s[0].port, CHAN_PORT_DEFAULT);
    assert_int_equal(o->cmap.n, 254);
    assert_addr(&o->cmap.addrs[0], "203.0.113.1");
    assert_addr(&o->cmap.addrs[253], "203.0.113.254");
    /* Defaults. */
    assert_int_equal(o->chan_port, CHAN_PORT_DEFAULT);
    assert_int_equal(o->conns, 2);
    assert_int_equal(o->timeout_s, 600);
    assert_int_equal(o->keepalive_s, 720);
    assert_int_equal(o->mtu, 1500);
    assert_int_equal(o->answer_timeout_ms, 3000);
    assert_int_equal(o->coalesce_us, 300);
    assert_int_equal(o->ack_delay_ms, 10);
    assert_false(o->no_wait);
    assert_null(o->log_path);
    assert_null(o->pidfile);
    assert_false(o->daemon);
    assert_false(o->debug);
    opts_free(o);

    /* Without -c: client addresses are kept. */
    assert_int_equal(parse(&o, err, sizeof(err), ARGS("-x", "80-192.0.2.20:8080", "-s",
                                                      "192.0.2.30")),
                     0);
    assert_int_equal(o->cmap.n, 0);
    opts_free(o);
}

static void test_all_short_options(void **state)
{
    (void)state;
    struct tc_opts *o;
    char err[256];

    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS("-x", "192.0.2.10:80-192.0.2.20:8080,443-192.0.2.21:8443", "-s",
                                "192.0.2.30,192.0.2.31:4000", "-p", "36000", "-c",
                                "203.0.113.5,203.0.113.6", "-C", "11", "-t", "30", "-k", "45",
                                "-M", "9000", "-W", "-l", "/tmp/tc.log", "-P", "/tmp/tc.pid",
                                "-d", "--debug", "--answer-timeout", "250", "--coalesce", "0",
                                "--ack-delay", "0")),
                     0);
    assert_int_equal(o->action, TC_ACT_RUN);
    assert_int_equal(o->xfer.n, 2);
    assert_addr(&o->xfer.rules[0].online, "192.0.2.10");
    assert_int_equal(o->xfer.rules[1].online_port, 443);
    assert_int_equal(o->xfer.rules[1].target_port, 8443);
    assert_int_equal(o->chan_port, 36000);
    assert_int_equal(o->servers.n, 2);
    assert_int_equal(o->servers.s[0].port, 36000); /* -p applies even when given after -s */
    assert_int_equal(o->servers.s[1].port, 4000);
    assert_int_equal(o->cmap.n, 2);
    assert_int_equal(o->conns, 11);
    assert_int_equal(o->timeout_s, 30);
    assert_int_equal(o->keepalive_s, 45);
    assert_int_equal(o->mtu, 9000);
    assert_true(o->no_wait);
    assert_string_equal(o->log_path, "/tmp/tc.log");
    assert_string_equal(o->pidfile, "/tmp/tc.pid");
    assert_true(o->daemon);
    assert_true(o->debug);
    assert_int_equal(o->answer_timeout_ms, 250);
    assert_int_equal(o->coalesce_us, 0);
    assert_int_equal(o->ack_delay_ms, 0);
    opts_free(o);
}

static void test_long_options(void **state)
{
    (void)state;
    struct tc_opts *o;
    char err[256];

    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS("--transfer=80-192.0.2.20:8080", "--intercept", "192.0.2.30",
                                "--port", "1", "--connections=1", "--client", "203.0.113.9",
                                "--timeout", "604800", "--mtu", "576", "--no-wait", "--log",
                                "/tmp/a", "--pidfile", "/tmp/b", "--daemon")),
                     0);
    assert_int_equal(o->chan_port, 1);
    assert_int_equal(o->conns, 1);
    assert_int_equal(o->cmap.n, 1);
    assert_int_equal(o->timeout_s, 604800);
    assert_int_equal(o->keepalive_s, 604800 + 120); /* follows -t */
    assert_int_equal(o->mtu, 576);
    assert_true(o->no_wait);
    assert_true(o->daemon);
    assert_false(o->debug);
    opts_free(o);

    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS("-x", "80-192.0.2.20:8080", "-s", "192.0.2.30",
                                "--keepalive-timeout", "5", "-t", "100")),
                     0);
    assert_int_equal(o->keepalive_s, 5); /* -k wins whatever the order */
    assert_int_equal(o->timeout_s, 100);
    opts_free(o);

    /* Options after operands are still options (GNU getopt permutes). */
    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS("-s", "192.0.2.30", "-t", "10", "-x", "80-192.0.2.20:8080")),
                     0);
    assert_int_equal(o->keepalive_s, 130);
    opts_free(o);
}

static void test_help_version(void **state)
{
    (void)state;
    struct tc_opts *o;
    char err[256];

    assert_int_equal(parse(&o, err, sizeof(err), ARGS("-h")), 0);
    assert_int_equal(o->action, TC_ACT_HELP);
    opts_free(o);
    assert_int_equal(parse(&o, err, sizeof(err), ARGS("--help")), 0);
    assert_int_equal(o->action, TC_ACT_HELP);
    opts_free(o);
    assert_int_equal(parse(&o, err, sizeof(err), ARGS("-v")), 0);
    assert_int_equal(o->action, TC_ACT_VERSION);
    opts_free(o);
    assert_int_equal(parse(&o, err, sizeof(err), ARGS("--version")), 0);
    assert_int_equal(o->action, TC_ACT_VERSION);
    opts_free(o);
    /* -h needs no -x / -s, even with other options around it. */
    assert_int_equal(parse(&o, err, sizeof(err), ARGS("-t", "5", "-h")), 0);
    assert_int_equal(o->action, TC_ACT_HELP);
    opts_free(o);

    const char *u = tc_opts_usage();
    assert_non_null(strstr(u, "usage: tcpcopy"));
    const char *const mentioned[] = {"--transfer", "--intercept", "--port", "--connections",
                                     "--client", "--timeout", "--keepalive-timeout", "--mtu",
                                     "--no-wait", "--answer-timeout", "--log", "--pidfile",
                                     "--daemon", "--debug", "--help", "--version"};
    for (size_t i = 0; i < sizeof(mentioned) / sizeof(mentioned[0]); i++)
        assert_non_null(strstr(u, mentioned[i]));
}

/* The call fails with -EINVAL, and the message starts "tcpcopy:" and holds `names`. */
static void bad(const char *names, const char *const *args)
{
    char err[256];
    int rc = parse(NULL, err, sizeof(err), args);
    if (rc != -EINVAL)
        fail_msg("expected -EINVAL, got %d (err '%s')", rc, err);
    if (strncmp(err, "tcpcopy:", 8) != 0)
        fail_msg("message does not start with 'tcpcopy:': '%s'", err);
    if (strstr(err, names) == NULL)
        fail_msg("message '%s' does not name '%s'", err, names);
    if (strchr(err, '\n') != NULL)
        fail_msg("message is more than one line: '%s'", err);
    for (const char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20)
            fail_msg("message has a control character: '%s'", err);
}

#define X "-x", "80-192.0.2.20:8080"
#define S "-s", "192.0.2.30"

/* --compare and its companions; --compare asks intercept for reply payload. */
static void test_compare(void **state)
{
    (void)state;
    char err[256];
    struct tc_opts *o;
    assert_int_equal(parse(&o, err, sizeof(err), ARGS(X, S)), 0);
    assert_null(o->compare_dir);
    assert_false(o->channel_payload);
    assert_int_equal(o->compare_sessions, TC_COMPARE_SESSIONS_DEFAULT);
    opts_free(o);
    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS(X, S, "--compare", "/tmp/cmp", "--compare-proto", "resp",
                                "--compare-ignore", "header:X-Id", "--compare-ignore",
                                "regex:[0-9]+", "--compare-mask", "token=[a-z]+",
                                "--compare-sessions", "7")),
                     0);
    assert_non_null(o->compare_dir);
    assert_int_equal(o->compare_proto, CMP_PROTO_RESP);
    assert_int_equal(o->compare_nignore, 2);
    assert_non_null(o->compare_mask);
    assert_int_equal(o->compare_sessions, 7);
    assert_true(o->channel_payload);
    opts_free(o);
    bad("--compare-proto", ARGS(X, S, "--compare", "/tmp/c", "--compare-proto", "http2"));
    bad("--compare", ARGS(X, S, "--compare-ignore", "header:Date"));
    bad("--compare", ARGS(X, S, "--compare-proto", "raw"));
    bad("--compare-sessions", ARGS(X, S, "--compare", "/tmp/c", "--compare-sessions", "0"));
    bad("--compare", ARGS(X, S, "--compare", ""));
    /* --compare-baseline IP:PORT */
    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS(X, S, "--compare", "/tmp/c", "--compare-baseline",
                                "192.0.2.20:8081")),
                     0);
    assert_int_equal(o->compare_base_port, 8081);
    struct addr want;
    assert_true(addr_parse(&want, "192.0.2.20"));
    assert_true(addr_eq(&o->compare_base, &want));
    opts_free(o);
    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS(X, S, "--compare", "/tmp/c", "--compare-baseline",
                                "[2001:db8::20]:8081")),
                     0);
    assert_int_equal(o->compare_base.af, AF_INET6);
    opts_free(o);
    bad("--compare-baseline", ARGS(X, S, "--compare", "/tmp/c", "--compare-baseline", "192.0.2.20"));
    bad("--compare-baseline", ARGS(X, S, "--compare", "/tmp/c", "--compare-baseline", "x:80"));
    bad("--compare-baseline", ARGS(X, S, "--compare", "/tmp/c", "--compare-baseline", "192.0.2.20:0"));
    bad("--compare", ARGS(X, S, "--compare-baseline", "192.0.2.20:8081"));
}

static void test_bad_required(void **state)
{
    (void)state;
    bad("-x", ARGS(S));
    bad("-s", ARGS(X));
    bad("-x", ARGS("-t", "5"));
}

static void test_bad_values(void **state)
{
    (void)state;
    bad("-x", ARGS("-x", "80", S));
    bad("-x", ARGS("-x", "80-192.0.2.20", S));
    bad("-x", ARGS("-x", "80-192.0.2.999:8080", S));
    bad("-x", ARGS("-x", "99999-192.0.2.20:8080", S));
    bad("-x", ARGS("-x", "", S));
    bad("-s", ARGS(X, "-s", "not-an-address"));
    bad("-c", ARGS(X, S, "-c", "203.0.113.300"));
    bad("-c", ARGS(X, S, "-c", "bogus"));
    bad("-c", ARGS(X, S, "-c", "203.0.113.5,"));
    /* A -c list made only of the target is empty once the target is removed. */
    bad("-c", ARGS(X, S, "-c", "192.0.2.20"));
    bad("-C", ARGS(X, S, "-C", "12"));
    bad("-C", ARGS(X, S, "-C", "0"));
    bad("-C", ARGS(X, S, "--connections", "two"));
    bad("-M", ARGS(X, S, "-M", "100"));
    bad("-M", ARGS(X, S, "-M", "65536"));
    bad("-t", ARGS(X, S, "-t", "0"));
    bad("-t", ARGS(X, S, "-t", "-5"));
    bad("-t", ARGS(X, S, "-t", "10s"));
    bad("-k", ARGS(X, S, "-k", "0"));
    bad("-p", ARGS(X, S, "-p", "65536"));
    bad("-p", ARGS(X, S, "-p", ""));
    bad("--answer-timeout", ARGS(X, S, "--answer-timeout", "0"));
    bad("--answer-timeout", ARGS(X, S, "--answer-timeout", "3600001"));
    bad("--coalesce", ARGS(X, S, "--coalesce", "100001"));
    bad("--coalesce", ARGS(X, S, "--coalesce", "-1"));
    bad("--ack-delay", ARGS(X, S, "--ack-delay", "101"));
}

static void test_bad_syntax(void **state)
{
    (void)state;
    bad("-Z", ARGS(X, S, "-Z"));
    bad("--bogus", ARGS(X, S, "--bogus"));
    bad("-x", ARGS(S, "-x"));
    bad("-t", ARGS(X, S, "-t"));
    bad("stray", ARGS(X, S, "stray"));
    bad("stray", ARGS(X, "stray", S));
}

/*
 * Long options without a short form: their getopt value is above 255, so the
 * message must not print it as a character ("-\x01"); it has to name the long
 * option the user typed.
 */
static void test_bad_long_only_missing_value(void **state)
{
    (void)state;
    bad("--answer-timeout", ARGS(X, S, "--answer-timeout"));
}

static void test_bad_long_only_with_value(void **state)
{
    (void)state;
    bad("--debug", ARGS(X, S, "--debug=yes"));
}

/* A long option given the wrong way is named as typed, not by its short letter. */
static void test_bad_long_option_missing_value(void **state)
{
    (void)state;
    bad("--timeout", ARGS(X, S, "--timeout"));
}

static void test_bad_long_option_with_value(void **state)
{
    (void)state;
    bad("--help", ARGS(X, S, "--help=1"));
}

/* Options of the channel: -L, --secret-file, --intercept-timeout (issue 5). */
static void test_channel_options(void **state)
{
    (void)state;
    char err[256];
    struct cmdline c;
    struct tc_opts *o = malloc(sizeof(*o));
    assert_non_null(o);

    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_false(o->lonely);
    assert_null(o->secret_file);
    assert_int_equal(o->intercept_timeout_ms, 3000);
    cmd_free(&c);

    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S, "-L", "--secret-file", "/etc/tcpcopy/secret",
                       "--intercept-timeout", "500"));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_true(o->lonely);
    assert_string_equal(o->secret_file, "/etc/tcpcopy/secret");
    assert_int_equal(o->intercept_timeout_ms, 500);
    cmd_free(&c);

    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S, "--lonely", "--secret-file=s", "--intercept-timeout=60000"));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_true(o->lonely);
    assert_string_equal(o->secret_file, "s");
    assert_int_equal(o->intercept_timeout_ms, 60000);
    cmd_free(&c);
    free(o);

    bad("--secret-file", ARGS(X, S, "--secret-file"));
    bad("--secret-file", ARGS(X, S, "--secret-file", ""));
    bad("--intercept-timeout", ARGS(X, S, "--intercept-timeout", "99"));
    bad("--intercept-timeout", ARGS(X, S, "--intercept-timeout", "600001"));
    bad("--intercept-timeout", ARGS(X, S, "--intercept-timeout", "3s"));
    bad("--lonely", ARGS(X, S, "--lonely=yes"));
}

/* The channel's TLS and payload (doc/protocol.md 6.1, 14): --tls needs a key,
 * certificates go three together and imply --tls, payload with a secret implies it. */
static void test_channel_tls_options(void **state)
{
    (void)state;
    char err[256];
    struct tc_opts *o = NULL;
    assert_int_equal(parse(&o, err, sizeof(err), ARGS(X, S)), 0);
    assert_false(o->tls);
    assert_false(o->channel_payload);
    free(o);
    assert_int_equal(parse(&o, err, sizeof(err), ARGS(X, S, "--tls", "--secret-file", "s")), 0);
    assert_true(o->tls);
    free(o);
    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS(X, S, "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca",
                                "ca.pem")),
                     0);
    assert_true(o->tls);
    assert_non_null(o->tls_ca); /* (argv is freed: not read) */
    free(o);
    assert_int_equal(parse(&o, err, sizeof(err),
                           ARGS(X, S, "--channel-payload", "--secret-file", "s")), 0);
    assert_true(o->tls);
    assert_true(o->channel_payload);
    free(o);
    /* Payload to a local intercept may go without a key: intercept judges. */
    assert_int_equal(parse(&o, err, sizeof(err), ARGS(X, S, "--channel-payload")), 0);
    assert_false(o->tls);
    free(o);
    bad("--secret-file", ARGS(X, S, "--tls"));
    bad("--tls-ca", ARGS(X, S, "--tls-cert", "c.pem", "--tls-key", "k.pem"));
}

/* --stats-json FILE and --metrics ADDR:PORT (doc/metrics.md). */
static void test_counter_options(void **state)
{
    (void)state;
    char err[256];
    struct cmdline c;
    struct tc_opts *o = malloc(sizeof(*o));
    assert_non_null(o);
    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_null(o->stats_json);
    assert_null(o->metrics);
    cmd_free(&c);
    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S, "--stats-json", "/run/tc.json", "--metrics=[::1]:9100"));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_string_equal(o->stats_json, "/run/tc.json");
    assert_string_equal(o->metrics, "[::1]:9100");
    cmd_free(&c);
    free(o);
    bad("--stats-json", ARGS(X, S, "--stats-json", ""));
    bad("--stats-json", ARGS(X, S, "--stats-json"));
    bad("--metrics", ARGS(X, S, "--metrics", "9100"));
    bad("--metrics", ARGS(X, S, "--metrics", "localhost:9100"));
    bad("--metrics", ARGS(X, S, "--metrics", "127.0.0.1:70000"));
    bad("--metrics", ARGS(X, S, "--metrics"));
}

/* --module, its original spelling --set-protocol-module, --module-conf (loaded by copy.c). */
static void test_module_options(void **state)
{
    (void)state;
    char err[256];
    struct cmdline c;
    struct tc_opts *o = malloc(sizeof(*o));
    assert_non_null(o);
    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_null(o->module);
    assert_null(o->module_conf);
    cmd_free(&c);
    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S, "--module", "mysql", "--module-conf=/etc/tcpcopy/db.conf"));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_string_equal(o->module, "mysql");
    assert_string_equal(o->module_conf, "/etc/tcpcopy/db.conf");
    cmd_free(&c);
    tc_opts_init(o);
    cmd_build(&c, ARGS(X, S, "--set-protocol-module=/usr/lib/tc/mod.so"));
    assert_int_equal(tc_opts_parse(o, c.argc, c.argv, err, sizeof(err)), 0);
    assert_string_equal(o->module, "/usr/lib/tc/mod.so");
    cmd_free(&c);
    free(o);
    bad("--module", ARGS(X, S, "--module", ""));
    bad("--module", ARGS(X, S, "--module"));
    bad("--module-conf needs --module", ARGS(X, S, "--module-conf", "/etc/x"));
    bad("--module-conf", ARGS(X, S, "--module", "identity", "--module-conf", ""));
}

static void test_repeatable(void **state)
{
    (void)state;
    struct tc_opts *o;
    char err[256];

    /* getopt is reset each time: an error then a success then an error. */
    for (int i = 0; i < 3; i++) {
        bad("-C", ARGS(X, S, "-C", "12"));
        assert_int_equal(parse(&o, err, sizeof(err), ARGS(X, S, "-C", "3", "-W")), 0);
        assert_int_equal(o->conns, 3);
        assert_true(o->no_wait);
        opts_free(o);
        bad("stray", ARGS(X, "stray", S));
    }
    /* A small error buffer truncates but still terminates. */
    char small[12];
    struct cmdline c;
    struct tc_opts *p = malloc(sizeof(*p));
    assert_non_null(p);
    tc_opts_init(p);
    cmd_build(&c, ARGS(S));
    assert_int_equal(tc_opts_parse(p, c.argc, c.argv, small, sizeof(small)), -EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    assert_memory_equal(small, "tcpcopy:", 8);
    cmd_free(&c);
    free(p);
}

/* ---- capture, send and offline modes ---- */

/* Parse a command line that must succeed, keeping argv alive: the mode options
 * point into it. Release with modes_done(). */
static struct tc_opts *modes_ok(struct cmdline *c, const char *const *args)
{
    char err[256] = "";
    struct tc_opts *o = malloc(sizeof(*o));
    assert_non_null(o);
    tc_opts_init(o);
    cmd_build(c, args);
    int rc = tc_opts_parse(o, c->argc, c->argv, err, sizeof(err));
    if (rc != 0)
        fail_msg("expected success, got %d: %s", rc, err);
    return o;
}

static void modes_done(struct cmdline *c, struct tc_opts *o)
{
    cmd_free(c);
    free(o);
}

/* A real file for the offline tests (its contents are checked at startup only). */
static const char *modes_file(void)
{
    static char path[64];
    if (path[0] == '\0') {
        snprintf(path, sizeof(path), "/tmp/test_opts_%d.pcap", (int)getpid());
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
    }
    return path;
}

static void test_mode_defaults(void **state)
{
    (void)state;
    struct cmdline c;
    struct tc_opts *o = modes_ok(&c, ARGS(X, S));
    assert_false(o->pcap_capture);
    assert_false(o->offline);
    assert_false(o->pcap_send);
    assert_false(o->fast);
    assert_null(o->devices);
    assert_null(o->filter);
    assert_null(o->out_dev);
    assert_int_equal(o->pcap_buffer_mb, 64);
    assert_int_equal(o->snaplen, 65535);
    assert_int_equal(o->accel, 1);
    assert_int_equal(o->idle_skip_ms, 0);
    assert_int_equal(o->loops, 1);
    modes_done(&c, o);

    const char *u = tc_opts_usage();
    const char *const mentioned[] = {"--pcap-capture", "--device", "--filter", "--buffer",
                                     "--snaplen", "--pcap-send", "--output", "--offline",
                                     "--accelerate", "--idle-skip", "--loops", "--fast"};
    for (size_t i = 0; i < sizeof(mentioned) / sizeof(mentioned[0]); i++)
        if (strstr(u, mentioned[i]) == NULL)
            fail_msg("the usage does not mention %s", mentioned[i]);
}

static void test_mode_pcap_capture(void **state)
{
    (void)state;
    struct cmdline c;
    struct tc_opts *o;

    o = modes_ok(&c, ARGS(X, S, "--pcap-capture"));
    assert_true(o->pcap_capture);
    assert_null(o->devices); /* "any" */
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "--pcap-capture", "-i", "eth0,eth1", "-F", "tcp dst port 80", "-B",
                          "128", "-S", "1600"));
    assert_true(o->pcap_capture);
    assert_false(o->offline);
    assert_string_equal(o->devices, "eth0,eth1");
    assert_string_equal(o->filter, "tcp dst port 80");
    assert_int_equal(o->pcap_buffer_mb, 128);
    assert_int_equal(o->snaplen, 1600);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "--device=eth0", "--filter", "tcp", "--buffer", "1", "--snaplen",
                          "262144"));
    assert_true(o->pcap_capture); /* the original's pcap-capture command line as is */
    assert_string_equal(o->devices, "eth0");
    assert_int_equal(o->pcap_buffer_mb, 1);
    assert_int_equal(o->snaplen, 262144);
    modes_done(&c, o);

    /* The largest ring libpcap can be asked for (its size in bytes is an int). */
    o = modes_ok(&c, ARGS(X, S, "--pcap-capture", "-B", "2047"));
    assert_int_equal(o->pcap_buffer_mb, 2047);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "-F", "tcp port 80"));
    assert_true(o->pcap_capture);
    modes_done(&c, o);
}

static void test_mode_pcap_send(void **state)
{
    (void)state;
    struct cmdline c;
    struct tc_opts *o;

    o = modes_ok(&c, ARGS("-x", "80-192.0.2.20:8080@02:00:00:00:00:20", S, "--pcap-send", "-o",
                          "eth0"));
    assert_true(o->pcap_send);
    assert_string_equal(o->out_dev, "eth0");
    assert_true(o->xfer.rules[0].has_target_mac);
    assert_false(o->pcap_capture);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "--pcap-send", "--output=eth1", "--pcap-capture"));
    assert_true(o->pcap_send);
    assert_true(o->pcap_capture);
    assert_string_equal(o->out_dev, "eth1");
    modes_done(&c, o);
}

static void test_mode_offline(void **state)
{
    (void)state;
    struct cmdline c;
    struct tc_opts *o;
    const char *f = modes_file();

    /* Detected from an existing file. */
    o = modes_ok(&c, ARGS(X, S, "-i", f));
    assert_true(o->offline);
    assert_false(o->pcap_capture);
    assert_string_equal(o->devices, f);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "--offline", "-i", f, "-a", "10", "-I", "500", "-T", "3", "-F",
                          "tcp port 80", "--pcap-send", "-o", "eth0"));
    assert_true(o->offline);
    assert_int_equal(o->accel, 10);
    assert_int_equal(o->idle_skip_ms, 500);
    assert_int_equal(o->loops, 3);
    assert_string_equal(o->filter, "tcp port 80");
    assert_true(o->pcap_send);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "--device", f, "--accelerate=1000", "--idle-skip", "1", "--loops",
                          "65535"));
    assert_int_equal(o->accel, 1000);
    assert_int_equal(o->idle_skip_ms, 1);
    assert_int_equal(o->loops, 65535);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "-i", f, "--fast"));
    assert_true(o->fast);
    modes_done(&c, o);

    /* A path that does not exist is still a file: the startup says it is missing. */
    o = modes_ok(&c, ARGS(X, S, "-i", "/nonexistent/capture.pcap"));
    assert_true(o->offline);
    modes_done(&c, o);
    o = modes_ok(&c, ARGS(X, S, "-i", "missing.pcapng"));
    assert_true(o->offline);
    modes_done(&c, o);
    o = modes_ok(&c, ARGS(X, S, "--offline", "-i", "eth0"));
    assert_true(o->offline);
    modes_done(&c, o);
}

/* Mirrored traffic: --decap and --promisc imply libpcap; --shard splits the sessions. */
static void test_mirror_options(void **state)
{
    (void)state;
    struct cmdline c;
    struct tc_opts *o;

    o = modes_ok(&c, ARGS(X, S));
    assert_int_equal(o->decap.kind, DECAP_NONE);
    assert_false(o->promisc);
    assert_int_equal(o->shard_k, 0);
    assert_int_equal(o->shard_n, 1);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "--decap", "vxlan", "--shard", "1/2"));
    assert_true(o->pcap_capture);
    assert_int_equal(o->decap.kind, DECAP_VXLAN);
    assert_int_equal(o->decap.port, 4789);
    assert_int_equal(o->shard_k, 1);
    assert_int_equal(o->shard_n, 2);
    modes_done(&c, o);

    o = modes_ok(&c, ARGS(X, S, "-i", "span0", "--promisc", "--decap=erspan", "--shard=0/1"));
    assert_true(o->pcap_capture && o->promisc);
    assert_int_equal(o->decap.kind, DECAP_GRE);
    modes_done(&c, o);

    const char *f = modes_file();
    o = modes_ok(&c, ARGS(X, S, "-i", f, "--decap", "vxlan:8472"));
    assert_true(o->offline);
    assert_false(o->pcap_capture);
    assert_int_equal(o->decap.port, 8472);
    modes_done(&c, o);

    bad("--promisc", ARGS(X, S, "-i", f, "--promisc"));
    bad("--decap", ARGS(X, S, "--decap", "geneve"));
    bad("--decap", ARGS(X, S, "--decap"));
    const char *shards[] = {"2/2", "0/0", "1", "/2", "0/1025", "-1/2", "1/2x", "a/b", ""};
    for (size_t i = 0; i < sizeof(shards) / sizeof(shards[0]); i++)
        bad("--shard", ARGS(X, S, "--shard", shards[i]));
}

static void test_mode_bad(void **state)
{
    (void)state;
    const char *f = modes_file();

    bad("--pcap-capture", ARGS(X, S, "--offline", "-i", f, "--pcap-capture"));
    bad("--pcap-capture", ARGS(X, S, "-i", f, "--pcap-capture"));
    bad("--offline", ARGS(X, S, "--offline"));
    bad("-a", ARGS(X, S, "-a", "10"));
    bad("-a", ARGS(X, S, "--pcap-capture", "-a", "10"));
    bad("-I", ARGS(X, S, "-I", "100"));
    bad("-T", ARGS(X, S, "-T", "2"));
    bad("--fast", ARGS(X, S, "--fast"));
    bad("--fast", ARGS(X, S, "-i", f, "--fast", "-a", "2"));
    bad("-B", ARGS(X, S, "-i", f, "-B", "8"));
    bad("-S", ARGS(X, S, "-i", f, "-S", "1500"));
    bad("-o", ARGS(X, S, "-o", "eth0"));
    bad("--pcap-send", ARGS(X, S, "--pcap-send"));
    bad("-o", ARGS(X, S, "--pcap-send", "-o", "a-name-far-too-long-for-linux"));
    bad("-o", ARGS(X, S, "--pcap-send", "-o", ""));
    bad("-a", ARGS(X, S, "-i", f, "-a", "0"));
    bad("-a", ARGS(X, S, "-i", f, "-a", "1001"));
    bad("-I", ARGS(X, S, "-i", f, "-I", "0"));
    bad("-T", ARGS(X, S, "-i", f, "-T", "0"));
    bad("-T", ARGS(X, S, "-i", f, "-T", "65536"));
    bad("-T", ARGS(X, S, "-i", f, "-T", "100", "-n", "1000"));
    bad("-B", ARGS(X, S, "--pcap-capture", "-B", "0"));
    bad("-B", ARGS(X, S, "--pcap-capture", "-B", "2048"));
    bad("-S", ARGS(X, S, "--pcap-capture", "-S", "63"));
    bad("-S", ARGS(X, S, "--pcap-capture", "--snaplen", "262145"));
    bad("-i", ARGS(X, S, "-i", ""));
    bad("-F", ARGS(X, S, "-F", ""));
    bad("-i", ARGS(X, S, "-i"));
    bad("--output", ARGS(X, S, "--pcap-send", "--output"));
    bad("--offline", ARGS(X, S, "--offline=yes", "-i", f));
    unlink(f);
}

/*
 * The default an option's usage entry states: the first "(N)" (or "(default: N")
 * in the entry that starts with `entry` (its continuation lines are indented 10+).
 * -1 if there is none.
 */
static long usage_default(const char *usage, const char *entry)
{
    const char *p = strstr(usage, entry), *end;

    if (p == NULL)
        fail_msg("no usage entry '%s'", entry);
    for (end = strchr(p, '\n'); end != NULL && strncmp(end + 1, "          ", 10) == 0;
         end = strchr(end + 1, '\n'))
        ;
    for (const char *q = p; q != NULL && (end == NULL || q < end); q = strchr(q + 1, '(')) {
        const char *n = q + 1;
        if (strncmp(n, "default: ", 9) == 0)
            n += 9;
        if (*q == '(' && *n >= '0' && *n <= '9')
            return strtol(n, NULL, 10);
    }
    return -1;
}

/* What -h says the defaults are is what tc_opts_init sets, and both are the documented
 * values (doc/tcpcopy.1, README.md). */
static void test_usage_states_defaults(void **state)
{
    struct tc_opts o;
    const char *u = tc_opts_usage();
    const struct {
        const char *entry;
        long documented;
    } t[] = {
        {"-p, --port", 36524},
        {"-C, --connections", 2},
        {"--intercept-timeout MS", 3000},
        {"-t, --timeout", 600},
        {"-M, --mtu", 1500},
        {"-D, --mss", 1460},
        {"-n, --copies", 1},
        {"-f, --port-shift", 0},
        {"-r, --rate", 100},
        {"-m, --memory", 512},
        {"--answer-timeout MS", 3000},
        {"--max-handshakes N", 512},
        {"--coalesce USEC", 300},
        {"--ack-delay MS", 10},
        {"-B, --buffer", 64},
        {"-S, --snaplen", 65535},
        {"-a, --accelerate", 1},
        {"-T, --loops", 1},
    };
    long got[sizeof(t) / sizeof(t[0])];

    (void)state;
    tc_opts_init(&o);
    long v[] = {o.chan_port, o.conns, o.intercept_timeout_ms, o.timeout_s, o.mtu, o.syn_mss,
                o.copies, o.port_shift, o.sample_pct, o.mem_mb, o.answer_timeout_ms,
                o.max_handshakes, o.coalesce_us, o.ack_delay_ms, o.pcap_buffer_mb, o.snaplen,
                o.accel, o.loops};
    assert_int_equal(sizeof(v) / sizeof(v[0]), sizeof(t) / sizeof(t[0]));
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        got[i] = usage_default(u, t[i].entry);
        if (got[i] != v[i] || v[i] != t[i].documented)
            fail_msg("%s: usage says %ld, tc_opts_init sets %ld, documented %ld", t[i].entry,
                     got[i], v[i], t[i].documented);
    }
    /* -k: "timeout + 120", set at parse time when -k is not given. */
    assert_non_null(strstr(u, "(timeout + 120)"));
    assert_int_equal(o.keepalive_s, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compare),
        cmocka_unit_test(test_original_command_line),
        cmocka_unit_test(test_mirror_options),
        cmocka_unit_test(test_all_short_options),
        cmocka_unit_test(test_long_options),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_bad_required),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_bad_long_only_missing_value),
        cmocka_unit_test(test_bad_long_only_with_value),
        cmocka_unit_test(test_bad_long_option_missing_value),
        cmocka_unit_test(test_bad_long_option_with_value),
        cmocka_unit_test(test_repeatable),
        cmocka_unit_test(test_channel_options),
        cmocka_unit_test(test_channel_tls_options),
        cmocka_unit_test(test_counter_options),
        cmocka_unit_test(test_module_options),
        cmocka_unit_test(test_mode_defaults),
        cmocka_unit_test(test_mode_pcap_capture),
        cmocka_unit_test(test_mode_pcap_send),
        cmocka_unit_test(test_mode_offline),
        cmocka_unit_test(test_mode_bad),
        cmocka_unit_test(test_usage_states_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
