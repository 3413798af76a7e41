/*
 * daemon: detaching and pid files (see daemon.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

int daemon_detach(char *err, size_t errlen)
{
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        errbuf_set(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (pid > 0)
        _exit(0); /* no atexit handlers, no stdio flushed twice */
    if (setsid() < 0) {
        int e = errno;
        errbuf_set(err, errlen, "setsid: %s", strerror(e));
        return -e;
    }
    if (chdir("/") != 0) {
        int e = errno;
        errbuf_set(err, errlen, "chdir /: %s", strerror(e));
        return -e;
    }
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        errbuf_set(err, errlen, "/dev/null: %s", strerror(e));
        return -e;
    }
    /* dup2 clears O_CLOEXEC on the copies: the standard fds stay open. */
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
    return 0;
}

int pidfile_write(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        errbuf_set(err, errlen, "pid file %s: %s", path, strerror(e));
        return -e;
    }
    char line[32];
    int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    if (write(fd, line, (size_t)n) != n) {
        int e = errno ? errno : EIO;
        errbuf_set(err, errlen, "pid file %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    close(fd);
    return 0;
}

void pidfile_remove(const char *path)
{
    if (path != NULL)
        (void)unlink(path);
}

int daemon_log_start(struct daemon_conf *d)
{
    if (log_init(d->prog, d->log_path, false) != 0) {
        fprintf(stderr, "%s: cannot open log file %s\n", d->prog, d->log_path);
        return -1;
    }
    if (d->debug)
        log_set_level(LOG_LVL_DEBUG);
    return 0;
}

void daemon_setup_failed(const struct daemon_conf *d, const char *err)
{
    log_msg(LOG_LVL_ERR, 0, "%s", err);
    if (d->log_path != NULL)
        fprintf(stderr, "%s: %s\n", d->prog, err);
}

int daemon_enter(struct daemon_conf *d)
{
    char err[512];
    if (d->detach) {
        if (daemon_detach(err, sizeof(err)) != 0) {
            log_msg(LOG_LVL_ERR, 0, "%s", err);
            return -1;
        }
        if (log_init(d->prog, d->log_path, d->log_path == NULL) != 0)
            return -1;
        if (d->debug)
            log_set_level(LOG_LVL_DEBUG);
    }
    if (d->pidfile != NULL) {
        if (pidfile_write(d->pidfile, err, sizeof(err)) != 0) {
            log_msg(LOG_LVL_ERR, 0, "%s", err);
            return -1;
        }
        d->pidfile_written = true;
    }
    return 0;
}

void daemon_leave(struct daemon_conf *d)
{
    if (d->pidfile_written)
        pidfile_remove(d->pidfile);
    d->pidfile_written = false;
    log_close();
}
