/*
 * priv: dropping privileges for good (see priv.h). Owns nothing; every step is a
 * system call whose failure stops the program, since a half-dropped process is
 * worse than one that did not start.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static const char *const priv_cap_names[] = {
    "cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid",
    "cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable",
    "cap_net_bind_service", "cap_net_broadcast", "cap_net_admin", "cap_net_raw",
    "cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot",
    "cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
    "cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease",
    "cap_audit_write", "cap_audit_control", "cap_setfcap", "cap_mac_override",
    "cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
    "cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
};

/* rc is taken before the message is formatted: snprintf may change errno. */
#define PRIV_FAIL(rc, ...)                                                                         \
    do {                                                                                           \
        int priv_rc_ = (rc);                                                                       \
        errbuf_set(err, errlen, __VA_ARGS__);                                                        \
        return priv_rc_;                                                                           \
    } while (0)

const char *priv_caps_str(uint64_t mask, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    if (mask == 0) {
        snprintf(buf, len, "none");
        return buf;
    }
    for (unsigned i = 0; i < 64; i++) {
        if (!(mask & PRIV_CAP(i)))
            continue;
        char one[32];
        if (i < sizeof(priv_cap_names) / sizeof(priv_cap_names[0]))
            snprintf(one, sizeof(one), "%s", priv_cap_names[i]);
        else
            snprintf(one, sizeof(one), "cap_%u", i);
        int n = snprintf(buf + off, len - off, "%s%s", off ? "," : "", one);
        if (n < 0 || (size_t)n >= len - off)
            break; /* cut, still a string */
        off += (size_t)n;
    }
    return buf;
}

int priv_cap_last(void)
{
    int last = CAP_LAST_CAP;
    FILE *fp = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (fp != NULL) {
        int v;
        if (fscanf(fp, "%d", &v) == 1 && v > 0 && v < 64)
            last = v;
        fclose(fp);
    }
    return last;
}

int priv_caps_get(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof(d));
    if (syscall(SYS_capget, &h, d) != 0)
        return -errno;
    *eff = (uint64_t)d[1].effective << 32 | d[0].effective;
    *prm = (uint64_t)d[1].permitted << 32 | d[0].permitted;
    *inh = (uint64_t)d[1].inheritable << 32 | d[0].inheritable;
    return 0;
}

static int priv_caps_set(uint64_t eff, uint64_t prm, uint64_t inh)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {
        {.effective = (uint32_t)eff, .permitted = (uint32_t)prm, .inheritable = (uint32_t)inh},
        {.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(prm >> 32),
         .inheritable = (uint32_t)(inh >> 32)},
    };
    return syscall(SYS_capset, &h, d) == 0 ? 0 : -errno;
}

int priv_prepare(struct priv *p, const char *prog, const char *user, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->user = user;
    if (user == NULL)
        return 0;
    if (user[0] == '\0')
        PRIV_FAIL(-EINVAL, "%s: -u needs a user name", prog);
    errno = 0;
    struct passwd *pw = getpwnam(user);
    char *end = NULL;
    unsigned long num = 0;
    if (pw == NULL && user[0] >= '0' && user[0] <= '9') {
        errno = 0;
        num = strtoul(user, &end, 10);
        if (*end != '\0' || errno != 0 || num > 0x7ffffffful)
            PRIV_FAIL(-EINVAL, "%s: -u %s: no such user", prog, user);
        pw = getpwuid((uid_t)num);
        if (pw == NULL) {
            /* A bare number without an entry: that uid, and a group of the same number. */
            p->uid = (uid_t)num;
            p->gid = (gid_t)num;
            snprintf(p->name, sizeof(p->name), "%lu", num);
        }
    } else if (pw == NULL) {
        PRIV_FAIL(-ENOENT, "%s: -u %s: no such user%s%s", prog, user, errno ? ": " : "",
                  errno ? strerror(errno) : "");
    }
    if (pw != NULL) {
        if (strlen(pw->pw_name) >= sizeof(p->name))
            PRIV_FAIL(-ENAMETOOLONG, "%s: -u %s: user name too long", prog, user);
        snprintf(p->name, sizeof(p->name), "%s", pw->pw_name);
        p->uid = pw->pw_uid;
        p->gid = pw->pw_gid;
        p->named = true;
    }
    if (p->uid == 0)
        PRIV_FAIL(-EINVAL, "%s: -u %s: the user must not be root (uid 0)", prog, user);
    return 0;
}

/* Root with -u: empty the bounding set (needs CAP_SETPCAP, so first), then the ids. */
static int priv_switch_user(const struct priv *p, uint64_t keep, char *err, size_t errlen)
{
    int last = priv_cap_last();
    char name[32];
    for (int c = 0; c <= last; c++) {
        if ((keep & PRIV_CAP(c)) || prctl(PR_CAPBSET_DROP, c, 0, 0, 0) == 0 || errno == EINVAL)
            continue;
        int e = errno;
        PRIV_FAIL(-e, "-u %s: cannot drop %s from the bounding set: %s", p->name,
                  priv_caps_str(PRIV_CAP(c), name, sizeof(name)), strerror(e));
    }
    /* Only to carry kept capabilities across setresuid; turned off again below. */
    if (keep != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        PRIV_FAIL(-errno, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
    if ((p->named ? initgroups(p->name, p->gid) : setgroups(1, &p->gid)) != 0)
        PRIV_FAIL(-errno, "-u %s: cannot set the groups: %s", p->name, strerror(errno));
    if (setresgid(p->gid, p->gid, p->gid) != 0)
        PRIV_FAIL(-errno, "-u %s: setresgid(%u): %s", p->name, (unsigned)p->gid, strerror(errno));
    if (setresuid(p->uid, p->uid, p->uid) != 0)
        PRIV_FAIL(-errno, "-u %s: setresuid(%u): %s", p->name, (unsigned)p->uid, strerror(errno));
    if (keep != 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
        PRIV_FAIL(-errno, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
    return 0;
}

/* That it worked: ids, capability sets, and no way back to root. */
static int priv_verify(const struct priv *p, uint64_t keep, char *err, size_t errlen)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    uint64_t eff, prm, inh;
    if (getresuid(&r, &e, &s) != 0 || getresgid(&rg, &eg, &sg) != 0)
        PRIV_FAIL(-errno, "getresuid: %s", strerror(errno));
    if (p->user != NULL && (r != p->uid || e != p->uid || s != p->uid || rg != p->gid ||
                            eg != p->gid || sg != p->gid))
        PRIV_FAIL(-EPERM, "-u %s: the ids did not all change", p->name);
    int rc = priv_caps_get(&eff, &prm, &inh);
    if (rc < 0)
        PRIV_FAIL(rc, "capget: %s", strerror(-rc));
    if ((eff | prm) & ~keep || inh != 0)
        PRIV_FAIL(-EPERM, "capabilities left after the drop (permitted %#llx)",
                  (unsigned long long)prm);
    if (r != 0 && e != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        PRIV_FAIL(-EPERM, "root could be regained after the drop");
    return 0;
}

int priv_drop(const struct priv *p, uint64_t keep, char *err, size_t errlen)
{
    uint64_t eff, prm, inh;
    char caps[256];
    int rc;

    if (p->user == NULL && geteuid() == 0)
        return 0; /* root without -u: as the original, on purpose */
    if (p->user != NULL && geteuid() != 0 && geteuid() != p->uid)
        PRIV_FAIL(-EPERM, "-u %s: only root can change to another user (running as uid %u)",
                  p->name, (unsigned)geteuid());
    if ((rc = priv_caps_get(&eff, &prm, &inh)) < 0)
        PRIV_FAIL(rc, "capget: %s", strerror(-rc));
    if (p->user != NULL && geteuid() == 0 && (rc = priv_switch_user(p, keep, err, errlen)) < 0)
        return rc;
    /* Ambient capabilities (systemd's AmbientCapabilities) would survive an exec. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        PRIV_FAIL(-errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s", strerror(errno));
    if (p->user == NULL)
        keep &= prm; /* a capability we do not hold cannot be kept */
    if ((rc = priv_caps_set(keep, keep, 0)) < 0)
        PRIV_FAIL(rc, "capset: %s", strerror(-rc));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        PRIV_FAIL(-errno, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
    if ((rc = priv_verify(p, keep, err, errlen)) < 0)
        return rc;
    priv_caps_str(keep, caps, sizeof(caps));
    if (p->user != NULL)
        log_info("privileges dropped: running as %s (uid %u, gid %u), capabilities: %s", p->name,
                 (unsigned)getuid(), (unsigned)getgid(), caps);
    else
        log_info("privileges dropped: running as uid %u gid %u, capabilities: %s",
                 (unsigned)getuid(), (unsigned)getgid(), caps);
    return 0;
}
