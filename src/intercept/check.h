/*
 * check: intercept's setup doctor (--check). Run with the options of a real run,
 * it checks what intercept owns: privileges, the capture devices, the -F filter
 * (compiled with libpcap and tried on a synthetic reply from each target, given
 * with --check-target or learned from the tcpcopy peers that connect during a
 * --check-wait window), forwarding (on, the target's replies leak to the real
 * clients), rp_filter, and the channel port. Each finding is printed with its fix
 * (finding.h). Nothing is sent anywhere.
 */
#ifndef TC_ICPT_CHECK_H
#define TC_ICPT_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"
#include "opts.h"

#define ICHECK_TARGETS_MAX 64

/* A target whose replies intercept must capture. */
struct icheck_target {
    struct addr addr;
    uint16_t port;
};

/*
 * Parse "ADDR:PORT[,ADDR:PORT...]" ("[2001:db8::20]:8080" for IPv6) into t[0..max),
 * appending to *n. 0, or -EINVAL with a one-line reason in err.
 */
int icheck_targets_parse(const char *spec, struct icheck_target *t, size_t max, size_t *n,
                         char *err, size_t errlen);

/*
 * Would the BPF filter of a capture on device (NULL or "any": the cooked link
 * type of "any", else Ethernet) match the target's reply to a client? The reply
 * is synthetic: a SYN-ACK from t to 203.0.113.1:40000 (2001:db8:3::1 for IPv6).
 * 1 if it matches, 0 if not, -EINVAL with libpcap's reason in err if the filter
 * does not compile. Needs no privilege.
 */
int icheck_filter_matches(const char *filter, const char *device, int snaplen,
                          const struct icheck_target *t, char *err, size_t errlen);

/* Check o's setup, print the findings on out (JSON with o->json). Returns the exit
 * status: 0 when nothing fails, 1 otherwise (2 for a bad --check-target). */
int icpt_check_run(const struct icpt_opts *o, FILE *out);

#endif
