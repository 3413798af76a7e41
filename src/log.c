/*
 * log: leveled logging for tcpcopy and intercept, in the manner of OpenBSD's
 * relayd log.c. One line per message:
 *
 *   2026-11-22T02:30:00.123Z tcpcopy[1234]: warning: send: Operation not permitted
 *
 * written to stderr (foreground), to a file (-l; reopened on SIGHUP), or to
 * syslog (LOG_DAEMON) when daemonized. This module owns the output stream and
 * the program name; the level variable is public so that the macros in log.h
 * can skip argument evaluation for disabled levels.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int log_level_cur = LOG_LVL_INFO;

static const char *log_prog; /* NULL until log_init: fall back to the invocation name */
static char *log_path;       /* owned copy, for log_reopen */
static FILE *log_fp;         /* NULL means stderr */
static bool log_syslog;
/* The status line at the bottom of the terminal (log_status): "" when none. */
static char log_status_line[256];

static const char *const log_level_names[] = {"error", "warning", "info", "debug"};
static const int log_syslog_prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

static FILE *log_open_file(const char *path)
{
    /* O_APPEND so that concurrent writers and logrotate's copytruncate do not
     * leave holes or overwrite; O_CLOEXEC so that no child inherits it. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0)
        return NULL;
    FILE *fp = fdopen(fd, "a");
    if (fp == NULL) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    /* Line buffering: each message reaches the file as it is logged, so a
     * crash does not lose the lines that explain it. */
    setvbuf(fp, NULL, _IOLBF, 0);
    return fp;
}

int log_init(const char *prog, const char *path, bool use_syslog)
{
    log_close();
    log_prog = prog;
    if (use_syslog) {
        /* LOG_NDELAY: connect now, before a chroot or privilege drop. */
        openlog(prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
        log_syslog = true;
        return 0;
    }
    if (path == NULL)
        return 0;
    log_path = strdup(path);
    if (log_path == NULL)
        return -ENOMEM;
    log_fp = log_open_file(path);
    if (log_fp == NULL) {
        int e = errno;
        free(log_path);
        log_path = NULL;
        return -e;
    }
    return 0;
}

void log_reopen(void)
{
    if (log_syslog || log_path == NULL)
        return;
    /* Open the new file before closing the old one: if it fails (disk full,
     * permissions) we keep logging to the renamed file rather than to nothing. */
    FILE *fp = log_open_file(log_path);
    if (fp == NULL) {
        log_warn("reopen log file %s", log_path);
        return;
    }
    if (log_fp != NULL)
        fclose(log_fp);
    log_fp = fp;
}

void log_close(void)
{
    if (log_fp != NULL)
        fclose(log_fp);
    log_fp = NULL;
    free(log_path);
    log_path = NULL;
    if (log_syslog)
        closelog();
    log_syslog = false;
}

void log_set_level(int level)
{
    if (level < LOG_LVL_ERR)
        level = LOG_LVL_ERR;
    if (level > LOG_LVL_DEBUG)
        level = LOG_LVL_DEBUG;
    log_level_cur = level;
}

static void log_vmsg(int level, int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_vmsg(int level, int with_errno, const char *fmt, va_list ap)
{
    /* Saved first: formatting and the clock may clobber errno. */
    int saved = errno;
    char msg[1024];
    size_t n;

    if (level < LOG_LVL_ERR)
        level = LOG_LVL_ERR;
    if (level > LOG_LVL_DEBUG)
        level = LOG_LVL_DEBUG;

    int r = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (r < 0)
        snprintf(msg, sizeof(msg), "(bad log format)");
    n = strlen(msg);
    if (with_errno && n < sizeof(msg) - 1)
        snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));

    if (log_syslog) {
        syslog(log_syslog_prio[level], "%s", msg);
        errno = saved;
        return;
    }

    struct timespec ts;
    struct tm tm;
    char stamp[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(stamp + n, sizeof(stamp) - n, ".%03ldZ", ts.tv_nsec / 1000000);

    const char *prog = log_prog != NULL ? log_prog : program_invocation_short_name;
    FILE *fp = log_fp != NULL ? log_fp : stderr;
    /* One fprintf per line: with line buffering (or unbuffered stderr feeding
     * a glibc stream lock) the line leaves in one write and does not interleave
     * with another process writing the same file. */
    /* A status line shares the terminal: the log line replaces it, and it comes back
     * below (never "...pkt/s2026-12-07T14:36:00Z tcpcopy..." on one line). */
    bool status = fp == stderr && log_status_line[0] != '\0';
    fprintf(fp, "%s%s %s[%ld]: %s: %s\n%s", status ? "\r\033[K" : "", stamp, prog, (long)getpid(),
            log_level_names[level], msg, status ? log_status_line : "");
    if (status)
        fflush(fp);
    errno = saved;
}

void log_status(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(log_status_line, sizeof(log_status_line), fmt, ap);
    va_end(ap);
    if (n < 0)
        log_status_line[0] = '\0';
    /* A line wider than the terminal would wrap, and \r would redraw only its tail:
     * keep the text free of newlines (the caller keeps it short). */
    for (char *p = log_status_line; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    fprintf(stderr, "\r%s\033[K", log_status_line);
    fflush(stderr);
}

void log_status_end(bool keep)
{
    if (log_status_line[0] == '\0')
        return;
    fputs(keep ? "\n" : "\r\033[K", stderr);
    fflush(stderr);
    log_status_line[0] = '\0';
}

void log_msg(int level, int with_errno, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, with_errno, fmt, ap);
    va_end(ap);
}

bool log_ratelimit(struct log_rl *rl, uint64_t now_us, uint32_t per_sec, uint32_t burst)
{
    if (burst == 0)
        burst = 1;
    if (rl->last_us == 0) {
        /* A zeroed struct is a fresh bucket: the first burst passes. */
        rl->tokens = burst;
        rl->last_us = now_us;
    } else if (per_sec > 0 && now_us > rl->last_us) {
        uint64_t elapsed = now_us - rl->last_us;
        uint64_t add;
        /* Split into whole seconds and the rest so elapsed * per_sec cannot
         * overflow, and stop early once the bucket would be full anyway. */
        if (elapsed / 1000000 >= burst)
            add = burst;
        else
            add = (elapsed / 1000000) * per_sec + (elapsed % 1000000) * per_sec / 1000000;
        if (rl->tokens + add >= burst) {
            rl->tokens = burst;
            rl->last_us = now_us;
        } else if (add > 0) {
            rl->tokens += (uint32_t)add;
            /* Advance only by the time the new tokens account for, so that the
             * fractional remainder is not lost between frequent calls. */
            rl->last_us += add * 1000000 / per_sec;
        }
    }
    if (rl->tokens == 0) {
        if (rl->suppressed < UINT32_MAX)
            rl->suppressed++;
        return false;
    }
    rl->tokens--;
    if (rl->suppressed > 0) {
        log_warnx("%u similar messages suppressed", rl->suppressed);
        rl->suppressed = 0;
    }
    return true;
}

uint64_t now_monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void errbuf_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    /* Messages quote what the user or a peer gave: keep them one printable ASCII line. */
    for (char *p = err; *p != '\0'; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
}
