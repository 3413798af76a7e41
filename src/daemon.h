/*
 * daemon: process chores shared by both programs: detaching into the
 * background and the pid file.
 */
#ifndef TC_DAEMON_H
#define TC_DAEMON_H

#include <stddef.h>

/* Become a daemon: fork (the parent exits 0), setsid, chdir("/"), stdio to
 * /dev/null. 0 in the child, -errno with a message in err on failure. */
int daemon_detach(char *err, size_t errlen);
/* Write our pid to path (created 0644, replaced if present). 0 or -errno + err. */
int pidfile_write(const char *path, char *err, size_t errlen);
void pidfile_remove(const char *path); /* NULL-safe */

#endif
