/*
 * test_priv: dropping privileges. The user lookup (-u by name or number; root and
 * unknown users refused), capability names, and priv_drop itself in child processes,
 * checked through the kernel's own view (getresuid, capget, PR_CAPBSET_READ,
 * PR_GET_NO_NEW_PRIVS, setuid(0) failing): as root with -u nobody (nothing left, bounding
 * set empty), with -u and a kept capability (KEEPCAPS carries exactly it), as a non-root
 * process holding capabilities (the file-capability case: all cleared), and root without
 * -u (unchanged). Run as a non-root user, the -u cases must be refused instead.
 */
#include <errno.h>
#include <linux/capability.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "priv.h"

static char err[512];
/* -u's user in the drop tests: nobody, or daemon for a test run as nobody (a user may
 * "become" itself without privilege, not another). */
static const char *target = "nobody";

static void test_caps_str(void **state)
{
    char buf[256];
    assert_string_equal(priv_caps_str(0, buf, sizeof(buf)), "none");
    assert_string_equal(priv_caps_str(PRIV_CAP(CAP_NET_RAW) | PRIV_CAP(CAP_NET_ADMIN), buf,
                                      sizeof(buf)),
                        "cap_net_admin,cap_net_raw");
    assert_string_equal(priv_caps_str(PRIV_CAP(0) | PRIV_CAP(63), buf, sizeof(buf)),
                        "cap_chown,cap_63");
    char small[12];
    priv_caps_str(PRIV_CAP(CAP_NET_RAW) | PRIV_CAP(CAP_SYS_ADMIN), small, sizeof(small));
    assert_true(strlen(small) < sizeof(small));
    int last = priv_cap_last();
    assert_true(last >= CAP_AUDIT_READ && last < 64);
}

static void test_prepare(void **state)
{
    struct priv p;
    assert_int_equal(priv_prepare(&p, "tcpcopy", NULL, err, sizeof(err)), 0);
    assert_null(p.user);
    struct passwd *nb = getpwnam("nobody");
    assert_non_null(nb);
    uid_t nuid = nb->pw_uid;
    gid_t ngid = nb->pw_gid;
    assert_int_equal(priv_prepare(&p, "tcpcopy", "nobody", err, sizeof(err)), 0);
    assert_int_equal(p.uid, nuid);
    assert_int_equal(p.gid, ngid);
    assert_true(p.named);
    assert_string_equal(p.name, "nobody");
    char num[16];
    snprintf(num, sizeof(num), "%u", (unsigned)nuid);
    assert_int_equal(priv_prepare(&p, "tcpcopy", num, err, sizeof(err)), 0);
    assert_string_equal(p.name, "nobody");
    /* A number with no entry: that uid, and the group of the same number. */
    assert_null(getpwuid(4242424));
    assert_int_equal(priv_prepare(&p, "tcpcopy", "4242424", err, sizeof(err)), 0);
    assert_int_equal(p.uid, 4242424);
    assert_int_equal(p.gid, 4242424);
    assert_false(p.named);

    assert_true(priv_prepare(&p, "tcpcopy", "root", err, sizeof(err)) < 0);
    assert_string_equal(err, "tcpcopy: -u root: the user must not be root (uid 0)");
    assert_true(priv_prepare(&p, "intercept", "0", err, sizeof(err)) < 0);
    assert_string_equal(err, "intercept: -u 0: the user must not be root (uid 0)");
    assert_true(priv_prepare(&p, "tcpcopy", "no-such-user-tc", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "tcpcopy: -u no-such-user-tc: no such user"));
    assert_true(priv_prepare(&p, "tcpcopy", "12ab", err, sizeof(err)) < 0);
    assert_true(priv_prepare(&p, "tcpcopy", "", err, sizeof(err)) < 0);
    assert_string_equal(err, "tcpcopy: -u needs a user name");
}

/* The child's verdicts, as exit codes. */
enum { OK = 0, E_DROP, E_IDS, E_CAPS, E_BND, E_NNP, E_ROOT, E_REFUSED, E_SETUP };

static int child_check(uid_t uid, uint64_t keep, bool bnd_empty)
{
    uid_t r, e, s;
    uint64_t eff, prm, inh;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid)
        return E_IDS;
    if (priv_caps_get(&eff, &prm, &inh) != 0 || eff != keep || prm != keep || inh != 0)
        return E_CAPS;
    if (bnd_empty) {
        for (int c = 0; c <= priv_cap_last(); c++)
            if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) != ((keep & PRIV_CAP(c)) ? 1 : 0))
                return E_BND;
    }
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        return E_NNP;
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0)
        return E_ROOT;
    return OK;
}

/* Run fn in a child; its exit status. */
static int in_child(int (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(fn());
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static int drop_to_nobody(void)
{
    struct priv p;
    if (priv_prepare(&p, "t", target, err, sizeof(err)) != 0)
        return E_SETUP;
    bool root = geteuid() == 0;
    int rc = priv_drop(&p, 0, err, sizeof(err));
    if (!root && rc == 0)
        return E_DROP;
    if (rc != 0)
        return strstr(err, "only root can change") != NULL ? E_REFUSED : E_DROP;
    return child_check(p.uid, 0, true);
}

static int drop_keeping_net_raw(void)
{
    struct priv p;
    if (priv_prepare(&p, "t", target, err, sizeof(err)) != 0)
        return E_SETUP;
    if (priv_drop(&p, PRIV_CAP(CAP_NET_RAW), err, sizeof(err)) != 0)
        return strstr(err, "only root can change") != NULL ? E_REFUSED : E_DROP;
    return child_check(p.uid, PRIV_CAP(CAP_NET_RAW), true);
}

/* A non-root process with capabilities (as setcap or AmbientCapabilities make it). */
static int drop_file_caps(void)
{
    struct priv p;
    uint64_t want = PRIV_CAP(CAP_NET_RAW) | PRIV_CAP(CAP_NET_ADMIN);
    if (geteuid() == 0) {
        struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3};
        struct __user_cap_data_struct d[2] = {{0}};
        d[0].effective = d[0].permitted = (uint32_t)want;
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0 || setresgid(65534, 65534, 65534) != 0 ||
            setresuid(65534, 65534, 65534) != 0 || syscall(SYS_capset, &h, d) != 0)
            return E_SETUP;
        uint64_t eff, prm, inh;
        if (priv_caps_get(&eff, &prm, &inh) != 0 || eff != want)
            return E_SETUP;
    }
    if (priv_prepare(&p, "t", NULL, err, sizeof(err)) != 0 || priv_drop(&p, 0, err, sizeof(err)))
        return E_DROP;
    return child_check(getuid(), 0, false);
}

static int root_without_user(void)
{
    struct priv p;
    if (priv_prepare(&p, "t", NULL, err, sizeof(err)) != 0 || priv_drop(&p, 0, err, sizeof(err)))
        return E_DROP;
    uint64_t eff, prm, inh;
    if (getuid() != 0 || priv_caps_get(&eff, &prm, &inh) != 0 ||
        !(prm & PRIV_CAP(CAP_NET_RAW)) || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0)
        return E_CAPS;
    return OK;
}

static void test_drop(void **state)
{
    bool root = geteuid() == 0;
    int want_user = root ? OK : E_REFUSED;
    struct passwd *nb = getpwnam("nobody");
    assert_non_null(nb);
    if (geteuid() == nb->pw_uid)
        target = "daemon";
    assert_int_equal(in_child(drop_to_nobody), want_user);
    assert_int_equal(in_child(drop_keeping_net_raw), want_user);
    assert_int_equal(in_child(drop_file_caps), OK);
    if (root)
        assert_int_equal(in_child(root_without_user), OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_caps_str),
        cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_drop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
