/*
 * opts: intercept's command line, parsed into a struct (no globals, no exit), so
 * that main.c stays a few lines and the tests can drive every option.
 */
#ifndef TC_ICPT_OPTS_H
#define TC_ICPT_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "addr.h"

#define ICPT_DEVICES_MAX 32
#define ICPT_ALLOW_MAX 64
#define ICPT_TABLE_DEFAULT (1U << 20)
#define ICPT_SNAPLEN_DEFAULT 256
#define ICPT_SNAPLEN_MIN 96
/* --payload: whole packets, a GRO segment of 64 KB (IPv6: + 40) with its link header. */
#define ICPT_SNAPLEN_PAYLOAD (65535 + 128)
#define ICPT_SNAPLEN_MAX 262144

/* An address prefix, "192.0.2.0/24" or "2001:db8::/32". */
struct icpt_cidr {
    struct addr net;
    uint8_t prefix;
};

enum icpt_action { ICPT_RUN = 0, ICPT_HELP, ICPT_VERSION };

struct icpt_opts {
    enum icpt_action action;
    const char *devices[ICPT_DEVICES_MAX]; /* point into devbuf */
    size_t ndevices;
    const char *filter; /* BPF expression (argv memory) */
    uint16_t port;
    struct addr bind; /* af 0: all addresses, IPv4 and IPv6 */
    uint32_t table_size;
    struct icpt_cidr allow[ICPT_ALLOW_MAX];
    size_t nallow; /* 0 and !allow_any: the defaults (loopback + connected subnets) */
    bool allow_any;
    bool docker;             /* -D: replies from docker_ip are rewritten to come from orig_ip */
    struct addr docker_ip;
    struct addr orig_ip;
    const char *log_path;
    const char *pidfile;
    bool daemon;
    const char *user; /* -u, --user: the unprivileged user to become */
    bool debug;
    int snaplen;
    uint32_t coalesce_us; /* --coalesce (300; 0: off) */
    const char *secret_file; /* --secret-file: shared secret tcpcopy must prove */
    bool snaplen_set;        /* --snaplen given */
    bool payload;            /* --payload: offer reply payload (CHAN_FEAT_PAYLOAD) */
    const char *tls_cert, *tls_key, *tls_ca; /* --tls-cert/--tls-key/--tls-ca */
    bool tls_required;       /* --tls-required: refuse plain (non-TLS) peers */
    const char *stats_json;  /* --stats-json FILE: counters as JSON (doc/metrics.md) */
    const char *metrics;     /* --metrics ADDR:PORT: Prometheus endpoint */
    char *devbuf; /* owned copy of the -i list */
    /* The setup doctor (check.h). */
    bool check;                /* --check: check the setup, print findings, exit */
    bool json;                 /* --json: findings as JSON (with --check) */
    const char *check_targets; /* --check-target ADDR:PORT[,...]: replies the filter must match */
    uint32_t check_wait_s;     /* --check-wait: seconds to listen for tcpcopy peers (0) */
};

/* Defaults, as if no option were given (filter unset). */
void icpt_opts_init(struct icpt_opts *o);
/*
 * Parse argv (getopt_long; resets getopt's state first, so it may be called again).
 * 0 on success; -EINVAL with a one-line message naming the problem in err
 * ("intercept: ...") otherwise. -h and -v set action and skip the checks of the
 * other options. Strings point into argv, which must outlive o.
 */
int icpt_opts_parse(struct icpt_opts *o, int argc, char **argv, char *err, size_t errlen);
void icpt_opts_free(struct icpt_opts *o); /* NULL-safe */

/* Parse "ADDR/PREFIX" (or a bare address: a host prefix). False if malformed; the
 * host bits are cleared. */
bool icpt_cidr_parse(struct icpt_cidr *c, const char *s);
/* "net/prefix" into buf (ADDR_STRLEN + 4 bytes are enough). */
char *icpt_cidr_str(const struct icpt_cidr *c, char *buf, size_t len);

/* The usage text, for -h and errors. */
void icpt_usage(FILE *fp);
struct option;
/* getopt_long's tables, for the configuration file reader (conf.c). */
void icpt_opts_tables(const char **optstring, const struct option **longopts);

#endif
