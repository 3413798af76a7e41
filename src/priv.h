/*
 * priv: least privilege for both programs. They open what needs privilege first
 * (raw and packet sockets, the capture, the listening socket, the log and pid files),
 * then priv_drop() gives up everything for good:
 *
 * - run as root with -u USER: the bounding set is emptied (nothing can ever be
 *   regained by an exec), supplementary groups become USER's, then
 *   setresgid/setresuid to USER (all three ids), no capability is left in any set;
 * - run as a user with capabilities (file capabilities from setcap, or systemd's
 *   AmbientCapabilities): every capability is cleared (permitted, effective,
 *   inheritable, ambient);
 * - in both cases PR_SET_NO_NEW_PRIVS, and the result is checked (ids, capability
 *   sets, setuid(0) must fail) before the program goes on.
 * Run as root without -u, nothing changes (the original's behaviour).
 *
 * Capabilities are set with the capget/capset system calls (version 3, 64 bits)
 * rather than libcap: the module needs three operations on whole masks, no text
 * form, and the programs keep no library dependency beyond libpcap and libcrypto.
 */
#ifndef TC_PRIV_H
#define TC_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct priv {
    const char *user; /* -u USER, NULL without */
    char name[64];    /* USER's name, for initgroups and the log */
    uid_t uid;
    gid_t gid;
    bool named;       /* found in the user database: its groups apply */
};

/* The capability bit of cap (CAP_NET_RAW, ...) in a mask. */
#define PRIV_CAP(cap) (UINT64_C(1) << (cap))

/* Resolve -u USER (a name, or a numeric uid) before anything is opened, so that a
 * typo is reported at once. user may be NULL (no switch). Root (uid 0) is refused.
 * 0 or -errno with "PROG: ..." in err. */
int priv_prepare(struct priv *p, const char *prog, const char *user, char *err, size_t errlen);
/*
 * Drop privileges as described above, keeping only the capabilities in keep
 * (0 for both programs: nothing they do after startup needs one). Logs one line
 * saying what the process now runs as. 0, or -errno with the step that failed in
 * err (the program must then exit).
 */
int priv_drop(const struct priv *p, uint64_t keep, char *err, size_t errlen);

/* The capability sets of this process: effective, permitted, inheritable. 0 or -errno. */
int priv_caps_get(uint64_t *eff, uint64_t *prm, uint64_t *inh);
/* "cap_net_raw,cap_net_admin" or "none"; unknown bits as "cap_N". */
const char *priv_caps_str(uint64_t mask, char *buf, size_t len);
/* The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap,
 * else CAP_LAST_CAP of the headers). */
int priv_cap_last(void);

#endif
