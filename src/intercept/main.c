/*
 * intercept: runs on the assistant server (or the target), captures the target's
 * replies and passes their headers to the tcpcopy that registered each session.
 * This file only turns the command line into a running daemon; see icpt.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "daemon.h"
#include "icpt.h"
#include "log.h"
#include "opts.h"

#ifndef TC_VERSION
#define TC_VERSION "unknown"
#endif

int main(int argc, char **argv)
{
    struct icpt_opts o;
    struct icpt *ic = NULL;
    char err[512];
    int status = 1;
    bool pidfile_written = false;

    icpt_opts_init(&o);
    if (icpt_opts_parse(&o, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        icpt_opts_free(&o);
        return 2;
    }
    if (o.action == ICPT_HELP) {
        icpt_usage(stdout);
        icpt_opts_free(&o);
        return 0;
    }
    if (o.action == ICPT_VERSION) {
        printf("intercept %s\n", TC_VERSION);
        icpt_opts_free(&o);
        return 0;
    }

    /* Until daemonized, messages go to the terminal (or -l), so that a bad device
     * or filter is reported where the command was typed. */
    if (log_init("intercept", o.log_path, false) != 0) {
        fprintf(stderr, "intercept: cannot open log file %s\n", o.log_path);
        goto out;
    }
    if (o.debug)
        log_set_level(LOG_LVL_DEBUG);

    ic = icpt_new(&o, err, sizeof(err));
    if (ic == NULL) {
        log_msg(LOG_LVL_ERR, 0, "%s", err);
        if (o.log_path != NULL)
            fprintf(stderr, "intercept: %s\n", err);
        goto out;
    }
    if (o.daemon) {
        if (daemon_detach(err, sizeof(err)) != 0) {
            log_msg(LOG_LVL_ERR, 0, "%s", err);
            goto out;
        }
        if (log_init("intercept", o.log_path, o.log_path == NULL) != 0)
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
    status = icpt_run(ic) == 0 ? 0 : 1;

out:
    icpt_free(ic);
    if (pidfile_written)
        pidfile_remove(o.pidfile);
    log_close();
    icpt_opts_free(&o);
    return status;
}
