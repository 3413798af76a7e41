/*
 * log: leveled, printf-checked logging to stderr, a file or syslog, with a
 * rate limiter for messages on the packet path. The level is tested before the
 * arguments are evaluated (the macros), so a disabled debug line costs a branch.
 */
#ifndef TC_LOG_H
#define TC_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

extern int log_level_cur;

/* Start logging as program name prog. path NULL: stderr. use_syslog: syslog (daemon). */
int log_init(const char *prog, const char *path, bool use_syslog);
/* Reopen the log file (SIGHUP, logrotate). No-op for stderr and syslog. */
void log_reopen(void);
void log_close(void);
void log_set_level(int level);

void log_msg(int level, int with_errno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define log_debug(...) do { if (log_level_cur >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, 0, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_level_cur >= LOG_LVL_INFO) log_msg(LOG_LVL_INFO, 0, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_level_cur >= LOG_LVL_WARN) log_msg(LOG_LVL_WARN, 1, __VA_ARGS__); } while (0)
#define log_warnx(...) do { if (log_level_cur >= LOG_LVL_WARN) log_msg(LOG_LVL_WARN, 0, __VA_ARGS__); } while (0)

/*
 * A token bucket for one message site on the packet path: at most `burst`
 * messages, refilled at `per_sec`. log_ratelimit() returns true when the message
 * may be printed, and counts the suppressed ones (reported on the next print).
 */
struct log_rl {
    uint64_t last_us;
    uint32_t tokens;
    uint32_t suppressed;
};
bool log_ratelimit(struct log_rl *rl, uint64_t now_us, uint32_t per_sec, uint32_t burst);

#define log_warnx_rl(rl, now, ...) \
    do { if (log_ratelimit((rl), (now), 1, 5)) log_warnx(__VA_ARGS__); } while (0)

/*
 * A status line on the terminal (stderr), redrawn in place: for a caller that has
 * checked that stderr is a terminal and the program is not daemonized. While one is
 * shown, a log line written to stderr first clears it and then draws it again below,
 * so the two never run together. log_status_end leaves it on screen (keep: a newline
 * after it) or erases it, and forgets it.
 */
void log_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_status_end(bool keep);

/* Format a message into a caller's error buffer (NULL or 0 length: nothing), the way
 * setup functions report why they failed (doc/design.md, "Errors"). Bytes outside
 * printable ASCII become '?': a message quoting the user's or a peer's text stays one line. */
void errbuf_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Monotonic clock in microseconds. */
uint64_t now_monotonic_us(void);

#endif
