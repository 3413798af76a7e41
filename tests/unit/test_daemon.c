/*
 * test_daemon: the process chores, no root needed: the pid file (written with our
 * pid, replaced, an unwritable path reported, removed at the end only if we wrote
 * it), the setup log (to -l, an unopenable -l refused, a setup error also on
 * stderr when logging to a file) and detaching (in a child: a new session, cwd /,
 * stdin on /dev/null, the parent gone with 0).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "daemon.h"
#include "log.h"

struct fixture {
    char dir[64];
    char pid[128];
    char log[128];
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/tc_daemon_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->pid, sizeof(f->pid), "%s/x.pid", f->dir);
    snprintf(f->log, sizeof(f->log), "%s/x.log", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    log_close();
    unlink(f->pid);
    unlink(f->log);
    rmdir(f->dir);
    free(f);
    return 0;
}

static char *slurp(const char *path)
{
    static char buf[8192];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = '\0';
    return buf;
}

static void test_pidfile(void **state)
{
    struct fixture *f = *state;
    char err[256] = "", want[32];
    struct stat st;

    snprintf(want, sizeof(want), "%ld\n", (long)getpid());
    mode_t old = umask(022);
    assert_int_equal(pidfile_write(f->pid, err, sizeof(err)), 0);
    umask(old);
    assert_string_equal(slurp(f->pid), want);
    assert_int_equal(stat(f->pid, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);

    /* A stale file with more text is replaced, not appended to. */
    FILE *fp = fopen(f->pid, "w");
    fputs("999999999 stale and long\n", fp);
    fclose(fp);
    assert_int_equal(pidfile_write(f->pid, err, sizeof(err)), 0);
    assert_string_equal(slurp(f->pid), want);

    pidfile_remove(f->pid);
    assert_int_equal(access(f->pid, F_OK), -1);
    pidfile_remove(NULL);

    char bad[160];
    snprintf(bad, sizeof(bad), "%s/no/such/dir.pid", f->dir);
    assert_int_equal(pidfile_write(bad, err, sizeof(err)), -ENOENT);
    char msg[256];
    snprintf(msg, sizeof(msg), "pid file %s: %s", bad, strerror(ENOENT));
    assert_string_equal(err, msg);
}

/* enter writes the pid file, leave removes it; a pid file that cannot be written
 * fails enter and is not removed by leave. */
static void test_enter_leave(void **state)
{
    struct fixture *f = *state;
    struct daemon_conf d = {.prog = "tctest", .log_path = f->log, .pidfile = f->pid};

    assert_int_equal(daemon_log_start(&d), 0);
    assert_int_equal(daemon_enter(&d), 0);
    assert_true(d.pidfile_written);
    assert_int_equal(access(f->pid, F_OK), 0);
    daemon_leave(&d);
    assert_false(d.pidfile_written);
    assert_int_equal(access(f->pid, F_OK), -1);

    char bad[160];
    snprintf(bad, sizeof(bad), "%s/no/such/dir.pid", f->dir);
    d = (struct daemon_conf){.prog = "tctest", .log_path = f->log, .pidfile = bad};
    assert_int_equal(daemon_log_start(&d), 0);
    assert_int_equal(daemon_enter(&d), -1);
    assert_false(d.pidfile_written);
    daemon_leave(&d);
    assert_non_null(strstr(slurp(f->log), "tctest["));
    assert_non_null(strstr(slurp(f->log), ": error: pid file "));
}

/* Without -P nothing is written or removed. */
static void test_no_pidfile(void **state)
{
    struct fixture *f = *state;
    struct daemon_conf d = {.prog = "tctest", .log_path = f->log};

    assert_int_equal(daemon_log_start(&d), 0);
    assert_int_equal(daemon_enter(&d), 0);
    assert_false(d.pidfile_written);
    daemon_leave(&d);
}

static void test_log_start(void **state)
{
    struct fixture *f = *state;
    char bad[160];

    snprintf(bad, sizeof(bad), "%s/no/such/dir.log", f->dir);
    struct daemon_conf d = {.prog = "tctest", .log_path = bad};
    assert_int_equal(daemon_log_start(&d), -1);

    d = (struct daemon_conf){.prog = "tctest", .log_path = f->log, .debug = true};
    assert_int_equal(daemon_log_start(&d), 0);
    assert_int_equal(log_level_cur, LOG_LVL_DEBUG);
    log_debug("a debug line %d", 7);
    daemon_setup_failed(&d, "could not start: reason");
    daemon_leave(&d);
    char *s = slurp(f->log);
    assert_non_null(strstr(s, ": debug: a debug line 7\n"));
    assert_non_null(strstr(s, ": error: could not start: reason\n"));
    log_set_level(LOG_LVL_INFO);
}

/*
 * Detach in a child (the test process must stay): the child's fork exits 0 at
 * once, and the daemon reports through a pipe what it became.
 */
static void test_detach(void **state)
{
    int pfd[2], status;
    struct {
        pid_t pid, sid;
        int stdin_null;
        char cwd[8];
    } rep;

    (void)state;
    assert_int_equal(pipe(pfd), 0);
    fflush(NULL);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        char err[128];
        struct stat a, b;
        close(pfd[0]);
        if (daemon_detach(err, sizeof(err)) != 0)
            _exit(3);
        memset(&rep, 0, sizeof(rep));
        rep.pid = getpid();
        rep.sid = getsid(0);
        rep.stdin_null = fstat(STDIN_FILENO, &a) == 0 && stat("/dev/null", &b) == 0 &&
                         a.st_rdev == b.st_rdev && S_ISCHR(a.st_mode);
        if (getcwd(rep.cwd, sizeof(rep.cwd)) == NULL)
            rep.cwd[0] = '?';
        if (write(pfd[1], &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
            _exit(4);
        _exit(0);
    }
    close(pfd[1]);
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* the parent half of the detach */
    assert_int_equal(read(pfd[0], &rep, sizeof(rep)), (ssize_t)sizeof(rep));
    close(pfd[0]);
    assert_int_not_equal(rep.pid, child);
    assert_int_equal(rep.sid, rep.pid); /* a session leader of its own */
    assert_true(rep.stdin_null);
    assert_string_equal(rep.cwd, "/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pidfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_enter_leave, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_pidfile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detach, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
