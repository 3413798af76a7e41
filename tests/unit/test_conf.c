/*
 * test_conf: the configuration file reader. Files as users write them (comments, blank
 * lines, "name value", "name=value", flags, quotes, CRLF), their order against the
 * command line (the command line wins; options that accumulate take both), and every
 * kind of bad file with the FILE:LINE the message must carry: missing, unreadable, a
 * directory, too long a line, a NUL byte, an unknown option, a missing value, a flag
 * given a value, a nested --config, too many lines; a value error from the option
 * parser is traced to its line, an error of the command line is not.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "intercept/opts.h"
#include "tcpcopy/opts.h"

static char path[64];
static char err[1024];

static void write_file(const char *text, size_t len)
{
    snprintf(path, sizeof(path), "/tmp/test_conf.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

#define ARGV(...) ((char *[]){__VA_ARGS__, NULL})

static int argc_of(char **argv)
{
    int n = 0;
    while (argv[n] != NULL)
        n++;
    return n;
}

/* conf_expand with tcpcopy's tables. */
static int expand_tc(struct conf *cf, char **argv)
{
    const char *os;
    const struct option *lo;
    tc_opts_tables(&os, &lo);
    return conf_expand(cf, "tcpcopy", argc_of(argv), argv, os, lo, err, sizeof(err));
}

/* A file that must be refused, with want (and "FILE:line" when line > 0) in the message. */
static void expect_bad(const char *text, size_t len, int line, const char *want)
{
    struct conf cf;
    char where[96];
    write_file(text, len);
    int rc = expand_tc(&cf, ARGV("tcpcopy", "--config", path));
    if (line > 0)
        snprintf(where, sizeof(where), "tcpcopy: %s:%d: ", path, line);
    else
        snprintf(where, sizeof(where), "tcpcopy: %s: ", path);
    if (rc >= 0 || strstr(err, want) == NULL || strncmp(err, where, strlen(where)) != 0)
        fail_msg("expected \"%s...%s\", got rc %d \"%s\"", where, want, rc, err);
    assert_null(cf.path);
    conf_free(&cf);
    unlink(path);
}

static void test_no_config(void **state)
{
    struct conf cf;
    char **v = ARGV("tcpcopy", "-x", "80-192.0.2.20:8080", "-s", "192.0.2.30");
    assert_int_equal(expand_tc(&cf, v), 0);
    assert_ptr_equal(cf.argv, v);
    assert_int_equal(cf.argc, 5);
    assert_null(cf.path);
    conf_free(&cf);
}

static void test_forms(void **state)
{
    static const char text[] = "# tcpcopy for the lab\n"
                               "\n"
                               "   transfer 80-192.0.2.20:8080\n"
                               "intercept=192.0.2.30\n"
                               "\tclient =  203.0.113.x \r\n"
                               "  # indented comment\n"
                               "syn-only\n"
                               "log \"/tmp/with space \"\n"
                               "rate 50"; /* no final newline */
    struct conf cf;
    write_file(text, sizeof(text) - 1);
    char **v = ARGV("tcpcopy", "--config", path, "-d");
    assert_int_equal(expand_tc(&cf, v), 0);
    const char *want[] = {"tcpcopy", "--transfer=80-192.0.2.20:8080", "--intercept=192.0.2.30",
                          "--client=203.0.113.x", "--syn-only", "--log=/tmp/with space ",
                          "--rate=50", "--config", path, "-d"};
    assert_int_equal(cf.argc, 10);
    for (int i = 0; i < 10; i++)
        assert_string_equal(cf.argv[i], want[i]);
    assert_null(cf.argv[10]);
    assert_int_equal(cf.lines[0], 3);
    assert_int_equal(cf.lines[5], 9);

    static struct tc_opts o;
    tc_opts_init(&o);
    assert_int_equal(tc_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)), 0);
    assert_true(o.syn_only);
    assert_true(o.daemon);
    assert_int_equal(o.sample_pct, 50);
    assert_string_equal(o.log_path, "/tmp/with space ");
    conf_free(&cf);
    unlink(path);
}

/* The command line comes after the file: it wins, also with the abbreviated --conf. */
static void test_command_line_wins(void **state)
{
    static const char text[] = "transfer 80-192.0.2.20:8080\nintercept 192.0.2.30\nrate 20\n"
                               "user nobody\n";
    struct conf cf;
    static struct tc_opts o;
    write_file(text, sizeof(text) - 1);
    char **v = ARGV("tcpcopy", "-r", "70", "--conf", path, "--user=daemon");
    assert_int_equal(expand_tc(&cf, v), 0);
    tc_opts_init(&o);
    assert_int_equal(tc_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)), 0);
    assert_int_equal(o.sample_pct, 70);
    assert_string_equal(o.user, "daemon");
    conf_free(&cf);
    unlink(path);
}

/* intercept: -i and --allow accumulate, from the file and the command line alike. */
static void test_intercept_accumulates(void **state)
{
    static const char text[] = "filter tcp and src port 8080\ndevice eth0\nallow 192.0.2.0/24\n";
    const char *os;
    const struct option *lo;
    struct conf cf;
    struct icpt_opts o;
    write_file(text, sizeof(text) - 1);
    char **v = ARGV("intercept", "--config", path, "-i", "eth1", "--allow", "198.51.100.0/24");
    icpt_opts_tables(&os, &lo);
    assert_int_equal(conf_expand(&cf, "intercept", argc_of(v), v, os, lo, err, sizeof(err)), 0);
    icpt_opts_init(&o);
    assert_int_equal(icpt_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)), 0);
    assert_string_equal(o.filter, "tcp and src port 8080");
    assert_int_equal(o.ndevices, 2);
    assert_string_equal(o.devices[0], "eth0");
    assert_string_equal(o.devices[1], "eth1");
    assert_int_equal(o.nallow, 2);
    icpt_opts_free(&o);
    conf_free(&cf);
    unlink(path);
}

/* A bad value in the file: the parser's message gains FILE:LINE. */
static void test_value_error_traced(void **state)
{
    static const char text[] = "transfer 80-192.0.2.20:8080\n# c\nrate 200\nintercept 192.0.2.30\n";
    struct conf cf;
    static struct tc_opts o;
    char want[96];
    write_file(text, sizeof(text) - 1);
    assert_int_equal(expand_tc(&cf, ARGV("tcpcopy", "--config", path)), 0);
    tc_opts_init(&o);
    assert_int_not_equal(tc_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)), 0);
    conf_annotate(&cf, "tcpcopy", optind - 1, err, sizeof(err));
    snprintf(want, sizeof(want), "tcpcopy: %s:3: -r '200'", path);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("got \"%s\", expected it to start with \"%s\"", err, want);
    conf_free(&cf);
    unlink(path);
}

/* An error found after all options were read (-s missing) is not pinned on a line. */
static void test_late_error_not_traced(void **state)
{
    static const char text[] = "transfer 80-192.0.2.20:8080\nrate 20\n";
    struct conf cf;
    static struct tc_opts o;
    write_file(text, sizeof(text) - 1);
    assert_int_equal(expand_tc(&cf, ARGV("tcpcopy", "--config", path)), 0);
    tc_opts_init(&o);
    assert_int_not_equal(tc_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)), 0);
    conf_annotate(&cf, "tcpcopy", optind - 1, err, sizeof(err));
    assert_non_null(strstr(err, "-s is required"));
    assert_null(strstr(err, path));
    conf_free(&cf);
    unlink(path);
}

static void test_bad_files(void **state)
{
    static const char unknown[] = "transfer 80-192.0.2.20:8080\n\nbogus 1\n";
    expect_bad(unknown, sizeof(unknown) - 1, 3, "unknown option bogus");
    static const char missing[] = "# x\ntransfer\n";
    expect_bad(missing, sizeof(missing) - 1, 2, "option needs a value: transfer");
    static const char empty_eq[] = "transfer =\n";
    expect_bad(empty_eq, sizeof(empty_eq) - 1, 1, "option needs a value: transfer");
    static const char flag[] = "syn-only yes\n";
    expect_bad(flag, sizeof(flag) - 1, 1, "option takes no value: syn-only");
    static const char nested[] = "config /etc/other.conf\n";
    expect_bad(nested, sizeof(nested) - 1, 1, "cannot name another");
    static const char junk[] = "-x 80-192.0.2.20:8080\n";
    expect_bad(junk, sizeof(junk) - 1, 1, "not an option line");
    static const char abbrev[] = "trans 80-192.0.2.20:8080\n";
    expect_bad(abbrev, sizeof(abbrev) - 1, 1, "unknown option trans");
    static const char nul[] = "rate 5\nrate 1\0000\n";
    expect_bad(nul, sizeof(nul) - 1, 2, "a NUL byte");
}

static void test_too_long_and_too_many(void **state)
{
    size_t n = CONF_LINE_MAX + 100;
    char *big = malloc(n + 16);
    assert_non_null(big);
    memcpy(big, "rate 1\nlog /", 12);
    memset(big + 12, 'a', n);
    expect_bad(big, n, 2, "line too long");
    /* Exactly CONF_LINE_MAX characters is still fine. */
    memset(big, 'a', CONF_LINE_MAX);
    memcpy(big, "log /", 5);
    big[CONF_LINE_MAX] = '\n';
    struct conf cf;
    write_file(big, CONF_LINE_MAX + 1);
    assert_int_equal(expand_tc(&cf, ARGV("tcpcopy", "--config", path)), 0);
    assert_int_equal(strlen(cf.argv[1]), strlen("--log=") + CONF_LINE_MAX - 4);
    conf_free(&cf);
    unlink(path);
    free(big);

    size_t len = (CONF_ENTRIES_MAX + 1) * 7;
    char *many = malloc(len + 1);
    assert_non_null(many);
    for (int i = 0; i <= CONF_ENTRIES_MAX; i++)
        memcpy(many + i * 7, "rate 1\n", 7);
    expect_bad(many, len, CONF_ENTRIES_MAX + 1, "too many options");
    free(many);
}

static void test_missing_dir_twice(void **state)
{
    struct conf cf;
    int rc = expand_tc(&cf, ARGV("tcpcopy", "--config", "/nonexistent/tcpcopy.conf"));
    assert_int_equal(rc, -ENOENT);
    assert_string_equal(err, "tcpcopy: /nonexistent/tcpcopy.conf: cannot read configuration "
                             "file: No such file or directory");
    rc = expand_tc(&cf, ARGV("tcpcopy", "--config=/tmp"));
    assert_true(rc < 0);
    assert_string_equal(err, "tcpcopy: /tmp: not a regular file");
    rc = expand_tc(&cf, ARGV("tcpcopy", "--config", "/a", "--config", "/b"));
    assert_true(rc < 0);
    assert_non_null(strstr(err, "more than once"));
    conf_free(&cf);
}

/* Unreadable: as root (which reads anything) the check runs as nobody in a child. */
static void test_unreadable(void **state)
{
    static const char text[] = "rate 1\n";
    write_file(text, sizeof(text) - 1);
    assert_int_equal(chmod(path, 0), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        struct conf cf;
        int rc = expand_tc(&cf, ARGV("tcpcopy", "--config", path));
        _exit(rc == -EACCES && strstr(err, "Permission denied") != NULL ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    unlink(path);
}

/* The shipped examples (dist/) parse in full with the programs' own parsers. */
static void test_examples(void **state)
{
    const char *data = getenv("TC_DATA");
    char ex[1024];
    struct conf cf;
    const char *os;
    const struct option *lo;
    static struct tc_opts o;
    struct icpt_opts io;

    char here[512];
    if (data == NULL) { /* run by hand, not by ctest: tests/data beside this file */
        snprintf(here, sizeof(here), "%s", __FILE__);
        char *slash = strrchr(here, '/');
        snprintf(slash != NULL ? slash : here, sizeof(here) - (size_t)(slash ? slash - here : 0),
                 "%s", slash != NULL ? "/../data" : "tests/data");
        data = here;
    }
    snprintf(ex, sizeof(ex), "%s/../../dist/tcpcopy.conf.example", data);
    assert_int_equal(expand_tc(&cf, ARGV("tcpcopy", "--config", ex)), 0);
    assert_true(cf.n >= 3);
    tc_opts_init(&o);
    if (tc_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)) != 0)
        fail_msg("%s: %s", ex, err);
    conf_free(&cf);

    snprintf(ex, sizeof(ex), "%s/../../dist/intercept.conf.example", data);
    char **v = ARGV("intercept", "--config", ex);
    icpt_opts_tables(&os, &lo);
    assert_int_equal(conf_expand(&cf, "intercept", 3, v, os, lo, err, sizeof(err)), 0);
    icpt_opts_init(&io);
    if (icpt_opts_parse(&io, cf.argc, cf.argv, err, sizeof(err)) != 0)
        fail_msg("%s: %s", ex, err);
    assert_string_equal(io.filter, "tcp and src port 8080");
    icpt_opts_free(&io);
    conf_free(&cf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_config),
        cmocka_unit_test(test_forms),
        cmocka_unit_test(test_command_line_wins),
        cmocka_unit_test(test_intercept_accumulates),
        cmocka_unit_test(test_value_error_traced),
        cmocka_unit_test(test_late_error_not_traced),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_too_long_and_too_many),
        cmocka_unit_test(test_missing_dir_twice),
        cmocka_unit_test(test_unreadable),
        cmocka_unit_test(test_examples),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
