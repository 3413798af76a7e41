/*
 * tcpcopy: runs on the online (production) server and copies the TCP sessions
 * arriving at its service ports to a test server. This file only turns the
 * command line into a running daemon; see copy.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
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
    if (o.check)
        return check_run(&o, stdout);
    /* Until daemonized, messages go to the terminal (or -l), so that a missing
     * privilege or an unreachable intercept is reported where the command was typed. */
    struct daemon_conf d = {.prog = "tcpcopy", .log_path = o.log_path, .pidfile = o.pidfile,
                            .detach = o.daemon, .debug = o.debug};
    if (daemon_log_start(&d) != 0)
        return 1;
    c = copy_new(&o, err, sizeof(err));
    if (c == NULL)
        daemon_setup_failed(&d, err);
    else if (daemon_enter(&d) == 0)
        status = copy_run(c) == 0 ? 0 : 1;
    copy_free(c);
    daemon_leave(&d);
    return status;
}
