/*
 * daemon: process chores shared by both programs: detaching into the
 * background and the pid file.
 */
#ifndef TC_DAEMON_H
#define TC_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

/* Become a daemon: fork (the parent exits 0), setsid, chdir("/"), stdio to
 * /dev/null. 0 in the child, -errno with a message in err on failure. */
int daemon_detach(char *err, size_t errlen);
/* Write our pid to path (created 0644, replaced if present). 0 or -errno + err. */
int pidfile_write(const char *path, char *err, size_t errlen);
void pidfile_remove(const char *path); /* NULL-safe */

/* How a program runs: its name, -l, -P, -d, --debug. */
struct daemon_conf {
    const char *prog;
    const char *log_path;
    const char *pidfile;
    bool detach;
    bool debug;
    bool pidfile_written; /* set by daemon_enter */
};

/* Start logging for the setup phase: to -l, else stderr, so that a startup error is
 * seen where the command was typed. Non-zero (and a message on stderr) on failure. */
int daemon_log_start(struct daemon_conf *d);
/* A setup error: logged, and also put on stderr when the log is a file. */
void daemon_setup_failed(const struct daemon_conf *d, const char *err);
/* Setup succeeded: detach if asked (logging then goes to syslog unless -l), write the
 * pid file. 0, or -1 with the reason logged. */
int daemon_enter(struct daemon_conf *d);
/* The end: remove the pid file we wrote, close the log. */
void daemon_leave(struct daemon_conf *d);

#endif
