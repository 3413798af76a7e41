/*
 * test_icpt_opts: intercept's command line. Every option, and the errors a user
 * sees for the usual mistakes. Documentation addresses only.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "intercept/opts.h"

#define ARGV(...) ((char *[]){"intercept", __VA_ARGS__, NULL})

static int argc_of(char **argv)
{
    int n = 0;
    while (argv[n] != NULL)
        n++;
    return n;
}

static char err[512];

static int parse(struct icpt_opts *o, char **argv)
{
    icpt_opts_free(o);
    icpt_opts_init(o);
    return icpt_opts_parse(o, argc_of(argv), argv, err, sizeof(err));
}

/* Parsing fails and the message contains want. */
static void expect_error(char **argv, const char *want)
{
    struct icpt_opts o;
    icpt_opts_init(&o);
    int rc = icpt_opts_parse(&o, argc_of(argv), argv, err, sizeof(err));
    if (rc == 0 || strstr(err, want) == NULL)
        fail_msg("expected an error containing \"%s\", got rc %d \"%s\"", want, rc, err);
    assert_non_null(strstr(err, "intercept: "));
    assert_null(strchr(err, '\n'));
    icpt_opts_free(&o);
}

static void test_defaults(void **state)
{
    struct icpt_opts o;
    icpt_opts_init(&o);
    char **v = ARGV("-F", "tcp and src port 8080");
    assert_int_equal(parse(&o, v), 0);
    assert_int_equal(o.action, ICPT_RUN);
    assert_string_equal(o.filter, "tcp and src port 8080");
    assert_int_equal(o.ndevices, 1);
    assert_string_equal(o.devices[0], "any");
    assert_int_equal(o.port, 36524);
    assert_true(addr_is_any(&o.bind));
    assert_int_equal(o.table_size, 1048576);
    assert_int_equal(o.nallow, 0);
    assert_false(o.allow_any);
    assert_null(o.log_path);
    assert_null(o.pidfile);
    assert_false(o.daemon);
    assert_false(o.debug);
    assert_int_equal(o.snaplen, 256);
    assert_int_equal(o.coalesce_us, 300);
    icpt_opts_free(&o);
}

static void test_short_options(void **state)
{
    struct icpt_opts o;
    icpt_opts_init(&o);
    char **v = ARGV("-i", "eth0,eth1", "-F", "tcp and src port 80", "-p", "4000", "-b",
                    "192.0.2.30", "-s", "2048", "-l", "/tmp/icpt.log", "-P", "/tmp/icpt.pid", "-d");
    assert_int_equal(parse(&o, v), 0);
    assert_int_equal(o.ndevices, 2);
    assert_string_equal(o.devices[0], "eth0");
    assert_string_equal(o.devices[1], "eth1");
    assert_string_equal(o.filter, "tcp and src port 80");
    assert_int_equal(o.port, 4000);
    struct addr b;
    assert_true(addr_parse(&b, "192.0.2.30"));
    assert_true(addr_eq(&o.bind, &b));
    assert_int_equal(o.table_size, 2048);
    assert_string_equal(o.log_path, "/tmp/icpt.log");
    assert_string_equal(o.pidfile, "/tmp/icpt.pid");
    assert_true(o.daemon);
    icpt_opts_free(&o);
}

static void test_long_options(void **state)
{
    struct icpt_opts o;
    icpt_opts_init(&o);
    char **v = ARGV("--device=veth0", "--device", "veth1", "--filter", "tcp", "--port=36525",
                    "--bind", "2001:db8:1::30", "--table-size", "1024", "--allow",
                    "192.0.2.0/24,2001:db8::/32", "--allow", "198.51.100.7", "--log", "l",
                    "--pidfile", "p", "--daemon", "--snaplen", "128", "--debug",
                    "--coalesce", "1000");
    assert_int_equal(parse(&o, v), 0);
    assert_int_equal(o.ndevices, 2);
    assert_string_equal(o.devices[0], "veth0");
    assert_string_equal(o.devices[1], "veth1");
    assert_string_equal(o.filter, "tcp");
    assert_int_equal(o.port, 36525);
    assert_int_equal(o.bind.af, AF_INET6);
    assert_int_equal(o.table_size, 1024);
    assert_int_equal(o.nallow, 3);
    char s[ADDR_STRLEN + 8];
    assert_string_equal(icpt_cidr_str(&o.allow[0], s, sizeof(s)), "192.0.2.0/24");
    assert_string_equal(icpt_cidr_str(&o.allow[1], s, sizeof(s)), "2001:db8::/32");
    assert_string_equal(icpt_cidr_str(&o.allow[2], s, sizeof(s)), "198.51.100.7/32");
    assert_false(o.allow_any);
    assert_string_equal(o.log_path, "l");
    assert_string_equal(o.pidfile, "p");
    assert_true(o.daemon);
    assert_int_equal(o.snaplen, 128);
    assert_int_equal(o.coalesce_us, 1000);
    assert_true(o.debug);
    icpt_opts_free(&o);
}

static void test_allow_any(void **state)
{
    struct icpt_opts o;
    icpt_opts_init(&o);
    char **v = ARGV("-F", "tcp", "--allow", "any");
    assert_int_equal(parse(&o, v), 0);
    assert_true(o.allow_any);
    assert_int_equal(o.nallow, 0);
    icpt_opts_free(&o);
}

/* --payload, --tls-cert/--tls-key/--tls-ca, --tls-required (doc/protocol.md 6.1, 14). */
static void test_payload_tls(void **state)
{
    (void)state;
    struct icpt_opts o;
    icpt_opts_init(&o);
    assert_int_equal(parse(&o, ARGV("-F", "tcp")), 0);
    assert_false(o.payload);
    assert_int_equal(o.snaplen, ICPT_SNAPLEN_DEFAULT);
    assert_int_equal(parse(&o, ARGV("-F", "tcp", "--payload")), 0);
    assert_true(o.payload);
    assert_int_equal(o.snaplen, ICPT_SNAPLEN_PAYLOAD);
    assert_int_equal(parse(&o, ARGV("-F", "tcp", "--payload", "--snaplen", "9000")), 0);
    assert_int_equal(o.snaplen, 9000);
    assert_int_equal(parse(&o, ARGV("-F", "tcp", "--tls-required", "--secret-file", "s")), 0);
    assert_true(o.tls_required);
    assert_int_equal(parse(&o, ARGV("-F", "tcp", "--tls-cert", "c", "--tls-key", "k", "--tls-ca",
                                    "ca", "--tls-required")),
                     0);
    assert_string_equal(o.tls_key, "k");
    icpt_opts_free(&o);
    expect_error(ARGV("-F", "tcp", "--tls-required"), "--secret-file");
    expect_error(ARGV("-F", "tcp", "--tls-cert", "c"), "--tls-ca");
}

static void test_secret_file(void **state)
{
    struct icpt_opts o;
    icpt_opts_init(&o);
    char **none = ARGV("-F", "tcp");
    assert_int_equal(parse(&o, none), 0);
    assert_null(o.secret_file);
    char **v = ARGV("-F", "tcp", "--secret-file", "/etc/tcpcopy/secret");
    assert_int_equal(parse(&o, v), 0);
    assert_string_equal(o.secret_file, "/etc/tcpcopy/secret");
    char **eq = ARGV("--secret-file=/run/s", "-F", "tcp");
    assert_int_equal(parse(&o, eq), 0);
    assert_string_equal(o.secret_file, "/run/s");
    /* Together with an allowlist: both checks apply, in that order. */
    char **both = ARGV("-F", "tcp", "--allow", "192.0.2.0/24", "--secret-file", "s", "--allow",
                       "2001:db8::/32");
    assert_int_equal(parse(&o, both), 0);
    assert_string_equal(o.secret_file, "s");
    assert_int_equal(o.nallow, 2);
    assert_false(o.allow_any);
    icpt_opts_free(&o);
    icpt_opts_init(&o);
    char **cnt = ARGV("-F", "tcp", "--stats-json", "/run/i.json", "--metrics", ":9101");
    assert_int_equal(parse(&o, cnt), 0);
    assert_string_equal(o.stats_json, "/run/i.json");
    assert_string_equal(o.metrics, ":9101");
    icpt_opts_free(&o);
}

static void test_help_version(void **state)
{
    struct icpt_opts o;
    icpt_opts_init(&o);
    /* No -F needed for these. */
    char **h = ARGV("-h");
    assert_int_equal(parse(&o, h), 0);
    assert_int_equal(o.action, ICPT_HELP);
    char **hl = ARGV("--help");
    assert_int_equal(parse(&o, hl), 0);
    assert_int_equal(o.action, ICPT_HELP);
    char **v = ARGV("-v");
    assert_int_equal(parse(&o, v), 0);
    assert_int_equal(o.action, ICPT_VERSION);
    char **vl = ARGV("--version");
    assert_int_equal(parse(&o, vl), 0);
    assert_int_equal(o.action, ICPT_VERSION);
    icpt_opts_free(&o);
}

static void test_cidr_parse(void **state)
{
    struct icpt_cidr c;
    char s[ADDR_STRLEN + 8];
    assert_true(icpt_cidr_parse(&c, "192.0.2.77/24"));
    assert_string_equal(icpt_cidr_str(&c, s, sizeof(s)), "192.0.2.0/24");
    assert_true(icpt_cidr_parse(&c, "203.0.113.200/25"));
    assert_string_equal(icpt_cidr_str(&c, s, sizeof(s)), "203.0.113.128/25");
    assert_true(icpt_cidr_parse(&c, "2001:db8:1::30/64"));
    assert_string_equal(icpt_cidr_str(&c, s, sizeof(s)), "2001:db8:1::/64");
    assert_true(icpt_cidr_parse(&c, "0.0.0.0/0"));
    assert_int_equal(c.prefix, 0);
    assert_false(icpt_cidr_parse(&c, "192.0.2.0/33"));
    assert_false(icpt_cidr_parse(&c, "2001:db8::/129"));
    assert_false(icpt_cidr_parse(&c, "192.0.2.0/"));
    assert_false(icpt_cidr_parse(&c, "192.0.2.0/-1"));
    assert_false(icpt_cidr_parse(&c, "192.0.2/24"));
    assert_false(icpt_cidr_parse(&c, "example.com"));
    assert_false(icpt_cidr_parse(&c, ""));
}

static void test_errors(void **state)
{
    char **nof = ARGV("-i", "eth0");
    expect_error(nof, "-F FILTER is required, e.g. -F 'tcp and src port 8080'");
    char **none = (char *[]){"intercept", NULL};
    expect_error(none, "-F FILTER is required");

    char **p0 = ARGV("-F", "tcp", "-p", "0");
    expect_error(p0, "-p 0: not a port number");
    char **pbig = ARGV("-F", "tcp", "--port", "65536");
    expect_error(pbig, "--port 65536: not a port number");
    char **pbig2 = ARGV("-F", "tcp", "--port=99999");
    expect_error(pbig2, "--port 99999: not a port number");
    char **pjunk = ARGV("-F", "tcp", "-p", "80x");
    expect_error(pjunk, "-p 80x");
    char **pneg = ARGV("-F", "tcp", "-p", "-1");
    expect_error(pneg, "-p -1");

    char **cidr = ARGV("-F", "tcp", "--allow", "192.0.2.0/40");
    expect_error(cidr, "--allow 192.0.2.0/40: not an address or CIDR prefix");
    char **cidr2 = ARGV("-F", "tcp", "--allow", "192.0.2.0/24,bogus");
    expect_error(cidr2, "--allow bogus");
    char **cidr3 = ARGV("-F", "tcp", "--allow", "192.0.2.0/24,");
    expect_error(cidr3, "empty entry");

    char **unk = ARGV("-F", "tcp", "-Z");
    expect_error(unk, "unknown option -Z");
    char **unkl = ARGV("-F", "tcp", "--frobnicate");
    expect_error(unkl, "unknown option --frobnicate");
    /* The original's container rewrite: CONTAINER_IP-TARGET_IP. */
    char **dopt = ARGV("-F", "tcp", "-D", "192.0.2.1");
    expect_error(dopt, "-D '192.0.2.1': expected CONTAINER_IP-TARGET_IP");
    char **dmix = ARGV("-F", "tcp", "-D", "198.51.100.5-2001:db8::1");
    expect_error(dmix, "-D '198.51.100.5-2001:db8::1': two addresses of one family expected");
    char **dbad = ARGV("-F", "tcp", "-D", "198.51.100.5-192.0.2.999");
    expect_error(dbad, "two addresses of one family expected");
    char **dmiss = ARGV("-F", "tcp", "-D");
    expect_error(dmiss, "-D needs a value");
    char **sje = ARGV("-F", "tcp", "--stats-json", "");
    expect_error(sje, "--stats-json needs a file name");
    char **mbad = ARGV("-F", "tcp", "--metrics", "::1:9101");
    expect_error(mbad, "--metrics ::1:9101: expected ADDR:PORT");
    char **sfe = ARGV("-F", "tcp", "--secret-file", "");
    expect_error(sfe, "--secret-file needs a file name");
    char **sfm = ARGV("-F", "tcp", "--secret-file");
    expect_error(sfm, "--secret-file needs a value");
    char **miss = ARGV("-F", "tcp", "-p");
    expect_error(miss, "-p needs a value");
    char **missl = ARGV("-F", "tcp", "--bind");
    expect_error(missl, "--bind needs a value");
    char **extra = ARGV("-F", "tcp", "stray");
    expect_error(extra, "unexpected argument 'stray'");

    char **bind = ARGV("-F", "tcp", "-b", "192.0.2.300");
    expect_error(bind, "-b 192.0.2.300: not an IPv4 or IPv6 address");
    char **small = ARGV("-F", "tcp", "-s", "1000");
    expect_error(small, "-s 1000: table size must be 1024");
    char **snap = ARGV("-F", "tcp", "--snaplen", "20");
    expect_error(snap, "--snaplen 20");
    char **coal = ARGV("-F", "tcp", "--coalesce", "100001");
    expect_error(coal, "--coalesce 100001");
    char **empty = ARGV("-F", "");
    expect_error(empty, "-F: the filter is empty");
    char **devs = ARGV("-F", "tcp", "-i", "eth0,,eth1");
    expect_error(devs, "empty device name");
    char **anyplus = ARGV("-F", "tcp", "-i", "any,eth0");
    expect_error(anyplus, "'any' covers every device");
}

static void test_docker_rewrite_option(void **state)
{
    struct icpt_opts o;
    char msg[256];
    char **argv = ARGV("-F", "tcp", "-D", "198.51.100.5-192.0.2.20");
    icpt_opts_init(&o);
    assert_int_equal(icpt_opts_parse(&o, argc_of(argv), argv, msg, sizeof(msg)), 0);
    assert_true(o.docker);
    char b[ADDR_STRLEN];
    assert_string_equal(addr_str(&o.docker_ip, b, sizeof(b)), "198.51.100.5");
    assert_string_equal(addr_str(&o.orig_ip, b, sizeof(b)), "192.0.2.20");
    icpt_opts_free(&o);
}

/* The number in "(default: N" of the usage line that contains entry; -1 if none. */
static long usage_default(const char *usage, const char *entry)
{
    const char *p = strstr(usage, entry);

    if (p == NULL)
        fail_msg("no usage entry '%s'", entry);
    const char *d = strstr(p, "(default: ");
    if (d == NULL)
        return -1;
    return strtol(d + 10, NULL, 10);
}

/* What -h says the defaults are is what icpt_opts_init sets, and the documented values
 * (doc/intercept.8, README.md). */
static void test_usage_states_defaults(void **state)
{
    char buf[4096] = "";
    struct icpt_opts o;
    FILE *fp = fmemopen(buf, sizeof(buf) - 1, "w");

    (void)state;
    assert_non_null(fp);
    icpt_usage(fp);
    fclose(fp);
    icpt_opts_init(&o);
    assert_int_equal(usage_default(buf, "--port PORT"), o.port);
    assert_int_equal(o.port, 36524);
    assert_int_equal(usage_default(buf, "--table-size N"), o.table_size);
    assert_int_equal(o.table_size, 1048576);
    assert_int_equal(usage_default(buf, "--snaplen N"), o.snaplen);
    assert_int_equal(o.snaplen, 256);
    assert_int_equal(usage_default(buf, "--coalesce USEC"), o.coalesce_us);
    assert_int_equal(o.coalesce_us, 300);
    icpt_opts_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_rewrite_option),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_short_options),
        cmocka_unit_test(test_long_options),
        cmocka_unit_test(test_allow_any),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_payload_tls),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_usage_states_defaults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
