/*
 * intercept: runs on the assistant server (or the target), captures the target's
 * replies and passes their headers to the tcpcopy that registered each session.
 * This file only turns the command line into a running daemon; see icpt.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
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

    if (o.check) {
        status = icpt_check_run(&o, stdout);
        icpt_opts_free(&o);
        return status;
    }
    /* Until daemonized, messages go to the terminal (or -l), so that a bad device
     * or filter is reported where the command was typed. */
    struct daemon_conf d = {.prog = "intercept", .log_path = o.log_path, .pidfile = o.pidfile,
                            .detach = o.daemon, .debug = o.debug};
    if (daemon_log_start(&d) != 0) {
        icpt_opts_free(&o);
        return 1;
    }
    ic = icpt_new(&o, err, sizeof(err));
    if (ic == NULL)
        daemon_setup_failed(&d, err);
    else if (daemon_enter(&d) == 0)
        status = icpt_run(ic) == 0 ? 0 : 1;
    icpt_free(ic);
    daemon_leave(&d);
    icpt_opts_free(&o);
    return status;
}
