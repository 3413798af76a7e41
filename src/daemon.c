/*
 * daemon: detaching and pid files (see daemon.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"

int daemon_detach(char *err, size_t errlen)
{
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        snprintf(err, errlen, "fork: %s", strerror(e));
        return -e;
    }
    if (pid > 0)
        _exit(0); /* no atexit handlers, no stdio flushed twice */
    if (setsid() < 0) {
        int e = errno;
        snprintf(err, errlen, "setsid: %s", strerror(e));
        return -e;
    }
    if (chdir("/") != 0) {
        int e = errno;
        snprintf(err, errlen, "chdir /: %s", strerror(e));
        return -e;
    }
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "/dev/null: %s", strerror(e));
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
        snprintf(err, errlen, "pid file %s: %s", path, strerror(e));
        return -e;
    }
    char line[32];
    int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
    if (write(fd, line, (size_t)n) != n) {
        int e = errno ? errno : EIO;
        snprintf(err, errlen, "pid file %s: %s", path, strerror(e));
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
