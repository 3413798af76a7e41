/*
 * tcpcopy: runs on the online (production) server and copies the TCP sessions
 * arriving at its service ports to a test server. This file only turns the
 * command line into a running daemon; see copy.c.
 */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "conf.h"
#include "copy.h"
#include "daemon.h"
#include "log.h"
#include "opts.h"
#include "priv.h"

#ifndef TC_VERSION
#define TC_VERSION "unknown"
#endif

int main(int argc, char **argv)
{
    static struct tc_opts o; /* large (the -c table): not on the stack */
    struct copy *c = NULL;
    struct conf cf;
    struct priv pv;
    const char *optstring;
    const struct option *longopts;
    char err[512];
    int status = 1;

    tc_opts_init(&o);
    tc_opts_tables(&optstring, &longopts);
    if (conf_expand(&cf, "tcpcopy", argc, argv, optstring, longopts, err, sizeof(err)) != 0 ||
        tc_opts_parse(&o, cf.argc, cf.argv, err, sizeof(err)) != 0 ||
        priv_prepare(&pv, "tcpcopy", o.user, err, sizeof(err)) != 0) {
        conf_annotate(&cf, "tcpcopy", optind - 1, err, sizeof(err));
        fprintf(stderr, "%s\n", err);
        conf_free(&cf);
        return 2;
    }
    if (o.action != TC_ACT_RUN) {
        if (o.action == TC_ACT_HELP)
            fputs(tc_opts_usage(), stdout);
        else
            printf("tcpcopy %s\n", TC_VERSION);
        conf_free(&cf);
        return 0;
    }
    if (o.check)
        return check_run(&o, stdout);
    /* Until daemonized, messages go to the terminal (or -l), so that a missing
     * privilege or an unreachable intercept is reported where the command was typed. */
    struct daemon_conf d = {.prog = "tcpcopy", .log_path = o.log_path, .pidfile = o.pidfile,
                            .detach = o.daemon, .debug = o.debug};
    if (daemon_log_start(&d) != 0) {
        conf_free(&cf);
        return 1;
    }
    c = copy_new(&o, err, sizeof(err));
    if (c == NULL)
        daemon_setup_failed(&d, err);
    else if (daemon_enter(&d) == 0) {
        /* Everything that needs privilege is open: none is needed from here on. */
        if (priv_drop(&pv, 0, err, sizeof(err)) == 0)
            status = copy_run(c) == 0 ? 0 : 1;
        else
            log_msg(LOG_LVL_ERR, 0, "%s", err);
    }
    copy_free(c);
    daemon_leave(&d);
    conf_free(&cf);
    return status;
}
