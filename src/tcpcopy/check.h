/*
 * check: tcpcopy's setup doctor (--check). Run with the options of a real run,
 * it walks the whole path once: privileges, the capture (client packets on each
 * -x port), raw sending, the route and MTU toward each target, each intercept's
 * handshake, then one probe session per target whose answer intercept must
 * report back over the channel. Each finding is printed with its fix (finding.h).
 * The probe sends only SYNs (and the RST that closes them) to a target port.
 */
#ifndef TC_TCPCOPY_CHECK_H
#define TC_TCPCOPY_CHECK_H

#include <stdio.h>

#include "opts.h"

/* Check o's setup, print the findings on out (JSON with o->json). Returns the exit
 * status: 0 when the path works end to end, 1 otherwise. Never exits itself. */
int check_run(const struct tc_opts *o, FILE *out);

#endif
