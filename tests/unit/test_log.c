/*
 * test_log: the line format, level filtering, errno suffix, reopening after a
 * rename (logrotate), and the rate limiter driven by a fake clock.
 */
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

struct fixture {
    char dir[64];
    char path[96];
    char rotated[96];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/test_log.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/tc.log", f->dir);
    snprintf(f->rotated, sizeof(f->rotated), "%s/tc.log.1", f->dir);
    assert_int_equal(log_init("tctest", f->path, false), 0);
    log_set_level(LOG_LVL_INFO);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    log_close();
    log_set_level(LOG_LVL_INFO);
    unlink(f->path);
    unlink(f->rotated);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* The whole file as a NUL-terminated string (caller frees). */
static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    char *buf = calloc(1, 65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, fp);
    buf[n] = '\0';
    fclose(fp);
    return buf;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int evaluated;

static int side_effect(void)
{
    evaluated++;
    return 42;
}

static void test_format_and_levels(void **state)
{
    struct fixture *f = *state;
    regex_t re;
    char pat[256];

    log_debug("hidden %d", side_effect());
    assert_int_equal(evaluated, 0); /* arguments of a disabled level are not evaluated */
    log_info("hello %s", "world");
    errno = ENOENT;
    log_warn("open %s", "/nonexistent");
    log_warnx("plain warning");
    log_msg(LOG_LVL_ERR, 0, "an error");

    char *s = slurp(f->path);
    assert_int_equal(count_lines(s), 4);
    snprintf(pat, sizeof(pat),
             "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z "
             "tctest\\[%ld\\]: info: hello world\n",
             (long)getpid());
    assert_int_equal(regcomp(&re, pat, REG_EXTENDED | REG_NEWLINE), 0);
    assert_int_equal(regexec(&re, s, 0, NULL, 0), 0);
    regfree(&re);
    assert_non_null(strstr(s, "]: warning: open /nonexistent: No such file or directory\n"));
    assert_non_null(strstr(s, "]: warning: plain warning\n"));
    assert_non_null(strstr(s, "]: error: an error\n"));
    assert_null(strstr(s, "hidden"));
    free(s);

    log_set_level(LOG_LVL_DEBUG);
    log_debug("shown %d", side_effect());
    assert_int_equal(evaluated, 1);
    log_set_level(LOG_LVL_ERR);
    log_warnx("not shown");
    log_info("not shown");
    s = slurp(f->path);
    assert_non_null(strstr(s, "]: debug: shown 42\n"));
    assert_null(strstr(s, "not shown"));
    free(s);
}

static void test_errno_preserved(void **state)
{
    (void)state;
    errno = EAGAIN;
    log_warn("x");
    assert_int_equal(errno, EAGAIN);
    errno = EPERM;
    log_info("y");
    assert_int_equal(errno, EPERM);
}

static void test_long_message_truncated(void **state)
{
    struct fixture *f = *state;
    char big[5000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    log_info("%s", big);
    char *s = slurp(f->path);
    assert_int_equal(count_lines(s), 1);
    assert_true(strlen(s) < 1200);
    free(s);
}

static void test_reopen_after_rename(void **state)
{
    struct fixture *f = *state;

    log_info("before rotation");
    assert_int_equal(rename(f->path, f->rotated), 0);
    log_info("still old file");
    log_reopen();
    log_info("after rotation");

    char *old = slurp(f->rotated);
    char *cur = slurp(f->path);
    assert_non_null(strstr(old, "before rotation"));
    assert_non_null(strstr(old, "still old file"));
    assert_null(strstr(old, "after rotation"));
    assert_non_null(strstr(cur, "after rotation"));
    assert_int_equal(count_lines(cur), 1);
    free(old);
    free(cur);
}

static void test_append_existing(void **state)
{
    struct fixture *f = *state;
    log_info("one");
    log_close();
    assert_int_equal(log_init("tctest", f->path, false), 0);
    log_info("two");
    char *s = slurp(f->path);
    assert_int_equal(count_lines(s), 2);
    free(s);
}

static void test_init_bad_path(void **state)
{
    (void)state;
    assert_int_equal(log_init("tctest", "/nonexistent-dir/x/y.log", false), -ENOENT);
    /* Still usable: falls back to stderr. */
    log_debug("to stderr, filtered");
    log_reopen(); /* no-op without a file */
}

static void test_ratelimit_burst_and_refill(void **state)
{
    struct fixture *f = *state;
    struct log_rl rl = {0};
    uint64_t t0 = 5000000;

    for (int i = 0; i < 5; i++)
        assert_true(log_ratelimit(&rl, t0, 1, 5));
    for (int i = 0; i < 3; i++)
        assert_false(log_ratelimit(&rl, t0 + 10, 1, 5));
    assert_int_equal(rl.suppressed, 3);
    /* Not yet a whole token. */
    assert_false(log_ratelimit(&rl, t0 + 999999, 1, 5));
    assert_int_equal(rl.suppressed, 4);

    /* One second later: one token, and the suppression count is reported. */
    assert_true(log_ratelimit(&rl, t0 + 1000000, 1, 5));
    assert_int_equal(rl.suppressed, 0);
    assert_false(log_ratelimit(&rl, t0 + 1000001, 1, 5));
    char *s = slurp(f->path);
    assert_non_null(strstr(s, "]: warning: 4 similar messages suppressed\n"));
    assert_int_equal(count_lines(s), 1);
    free(s);

    /* A long pause refills to the burst and no further. */
    uint64_t t1 = t0 + 3600ULL * 1000000;
    for (int i = 0; i < 5; i++)
        assert_true(log_ratelimit(&rl, t1, 1, 5));
    assert_false(log_ratelimit(&rl, t1, 1, 5));
}

static void test_ratelimit_fractional_refill(void **state)
{
    (void)state;
    struct log_rl rl = {0};
    uint64_t t = 1000000;

    assert_true(log_ratelimit(&rl, t, 10, 1));
    assert_false(log_ratelimit(&rl, t, 10, 1));
    /* 10 per second: a token every 100 ms; calls every 40 ms must not lose the
     * fractions (a token at 120 ms, not never). */
    assert_false(log_ratelimit(&rl, t + 40000, 10, 1));
    assert_false(log_ratelimit(&rl, t + 80000, 10, 1));
    assert_true(log_ratelimit(&rl, t + 120000, 10, 1));
    /* The bucket was full at 120 ms, so the extra 20 ms were not banked. */
    assert_false(log_ratelimit(&rl, t + 160000, 10, 1));
    assert_false(log_ratelimit(&rl, t + 200000, 10, 1));
    assert_true(log_ratelimit(&rl, t + 220000, 10, 1));
}

static void test_ratelimit_macro_and_level(void **state)
{
    struct fixture *f = *state;
    struct log_rl rl = {0};

    for (int i = 0; i < 20; i++)
        log_warnx_rl(&rl, 7000000, "flood %d", i);
    char *s = slurp(f->path);
    assert_int_equal(count_lines(s), 5);
    assert_non_null(strstr(s, "flood 4\n"));
    assert_null(strstr(s, "flood 5\n"));
    free(s);
    assert_int_equal(rl.suppressed, 15);
}

static void test_now_monotonic(void **state)
{
    (void)state;
    uint64_t a = now_monotonic_us();
    usleep(2000);
    uint64_t b = now_monotonic_us();
    assert_true(b >= a + 1000);
    assert_true(b - a < 10000000);
}

static void test_syslog_mode(void **state)
{
    (void)state;
    assert_int_equal(log_init("tctest", NULL, true), 0);
    log_debug("syslog debug, filtered");
    log_reopen(); /* no-op for syslog */
    log_close();
}

/* A status line and log lines on one terminal (stderr here, a file standing in): each log
 * line first clears the status and then draws it again, so they never share a line. */
static void test_status_line(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/stderr", f->dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    log_close();
    assert_int_equal(log_init("tctest", NULL, false), 0); /* log lines to stderr */
    log_info("before");
    log_status("sessions %d\n rate", 3);
    log_info("during");
    log_status("sessions %d", 4);
    log_status_end(true);
    log_info("after");
    log_status("gone");
    log_status_end(false);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);

    char *s = slurp(path);
    /* No status before the first one; newlines in it became spaces. */
    const char *b = strstr(s, "info: before\n\rsessions 3  rate\033[K\r\033[K");
    assert_non_null(b);
    const char *d = strstr(b, "info: during\nsessions 3  rate\rsessions 4\033[K\n");
    assert_non_null(d);
    /* After log_status_end: plain lines again, and an erased status leaves nothing. */
    const char *a = strstr(d, "info: after\n\rgone\033[K\r\033[K");
    assert_non_null(a);
    assert_string_equal(a + strlen("info: after\n\rgone\033[K\r\033[K"), "");
    free(s);
    unlink(path);
}

/* With a log file, the file gets plain lines: the status stays on the terminal. */
static void test_status_line_file_log(void **state)
{
    struct fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/stderr", f->dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    log_status("progress");
    log_info("to the file");
    log_status_end(false);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    char *term = slurp(path);
    assert_string_equal(term, "\rprogress\033[K\r\033[K");
    free(term);
    char *file = slurp(f->path);
    assert_non_null(strstr(file, "]: info: to the file\n"));
    assert_null(strchr(file, '\033'));
    assert_null(strchr(file, '\r'));
    free(file);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_and_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errno_preserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_message_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_existing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_init_bad_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_burst_and_refill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_fractional_refill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ratelimit_macro_and_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_now_monotonic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_syslog_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_status_line_file_log, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
