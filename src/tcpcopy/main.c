/*
 * tcpcopy: runs on the online (production) server and copies the TCP sessions
 * arriving at its service ports to a test server. This file only turns the
 * command line into a running daemon; see copy.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "copy.h"
#include "daemon.h"
#include "log.h"
#include "opts.h"

#ifndef TC_VERSION
#define TC_VERSION "unknown"
#endif

int main(int argc, char **argv)
{
    static struct tc_opts o; /* large (the -c table): not on the stack */
    struct copy *c = NULL;
    char err[512];
    int status = 1;
    bool pidfile_written = false;

    tc_opts_init(&o);
    if (tc_opts_parse(&o, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    if (o.action == TC_ACT_HELP) {
        fputs(tc_opts_usage(), stdout);
        return 0;
    }
    if (o.action == TC_ACT_VERSION) {
        printf("tcpcopy %s\n", TC_VERSION);
        return 0;
    }
    /* Until daemonized, messages go to the terminal (or -l), so that a missing
     * privilege or an unreachable intercept is reported where the command was typed. */
    if (log_init("tcpcopy", o.log_path, false) != 0) {
        fprintf(stderr, "tcpcopy: cannot open log file %s\n", o.log_path);
        return 1;
    }
    if (o.debug)
        log_set_level(LOG_LVL_DEBUG);

    c = copy_new(&o, err, sizeof(err));
    if (c == NULL) {
        log_msg(LOG_LVL_ERR, 0, "%s", err);
        if (o.log_path != NULL)
            fprintf(stderr, "tcpcopy: %s\n", err);
        goto out;
    }
    if (o.daemon) {
        if (daemon_detach(err, sizeof(err)) != 0) {
            log_msg(LOG_LVL_ERR, 0, "%s", err);
            goto out;
        }
        if (log_init("tcpcopy", o.log_path, o.log_path == NULL) != 0)
            goto out;
        if (o.debug)
            log_set_level(LOG_LVL_DEBUG);
    }
    if (o.pidfile != NULL) {
        if (pidfile_write(o.pidfile, err, sizeof(err)) != 0) {
            log_msg(LOG_LVL_ERR, 0, "%s", err);
            goto out;
        }
        pidfile_written = true;
    }
    status = copy_run(c) == 0 ? 0 : 1;

out:
    copy_free(c);
    if (pidfile_written)
        pidfile_remove(o.pidfile);
    log_close();
    return status;
}
