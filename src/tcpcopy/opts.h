/*
 * opts: tcpcopy's command line, parsed into one struct with the original's short
 * options and long forms for all. No globals, no exit: main.c prints the error
 * and the tests drive every option.
 */
#ifndef TC_TCPCOPY_OPTS_H
#define TC_TCPCOPY_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decap.h"
#include "transfer.h"

/* tcpcopy's defaults that belong to no module (tc_opts_init sets them all). */
#define TC_CONNS_DEFAULT 2                   /* -C */
#define TC_KEEPALIVE_EXTRA_S 120             /* -k: -t plus this */
#define TC_INTERCEPT_TIMEOUT_DEFAULT_MS 3000 /* --intercept-timeout */
#define TC_PCAP_BUFFER_MB_DEFAULT 64         /* -B: 256 ring blocks, see doc/tcpcopy.1 */
#define TC_SNAPLEN_DEFAULT 65535             /* -S */
#define TC_COMPARE_RULES_MAX 16              /* --compare-ignore (CMP_MAX_RULES) */
#define TC_COMPARE_SESSIONS_DEFAULT 1024     /* --compare-sessions */

enum tc_action { TC_ACT_RUN = 0, TC_ACT_HELP, TC_ACT_VERSION };

struct tc_opts {
    enum tc_action action;
    struct xfer_map xfer;      /* -x */
    struct client_map cmap;    /* -c (n == 0: keep client addresses) */
    struct server_list servers;/* -s */
    uint16_t chan_port;        /* -p (36524) */
    int conns;                 /* -C connections per intercept (2) */
    uint32_t timeout_s;        /* -t (600) */
    uint32_t keepalive_s;      /* -k (timeout + 120) */
    uint32_t mtu;              /* -M (1500) */
    uint32_t answer_timeout_ms;/* --answer-timeout (3000) */
    uint32_t max_handshakes;   /* --max-handshakes (512) */
    uint32_t coalesce_us;      /* --coalesce (300; 0: off) */
    uint32_t ack_delay_ms;     /* --ack-delay (10; 0: off) */
    bool no_wait;              /* -W */
    bool syn_only;             /* -O: only sessions whose SYN was seen */
    uint16_t syn_mss;          /* -D: MSS of our own SYNs (1460) */
    uint16_t copies;           /* -n (1) */
    uint16_t port_shift;       /* -f (0) */
    uint8_t sample_pct;        /* -r (100) */
    bool ramp;                 /* -g */
    uint32_t mem_mb;           /* -m (512) */
    struct addr localhost;     /* -H */
    const char *log_path;      /* -l */
    const char *pidfile;       /* -P */
    bool daemon;               /* -d */
    const char *user;          /* -u, --user: the unprivileged user to become */
    bool debug;                /* --debug */
    bool lonely;               /* -L: keep retrying when every intercept is lost */
    const char *secret_file;   /* --secret-file: shared secret of the channel */
    bool tls;                  /* --tls (or implied): TLS 1.3 on the channel */
    const char *tls_cert, *tls_key, *tls_ca; /* --tls-cert/--tls-key/--tls-ca */
    bool channel_payload;      /* --channel-payload: ask for reply payload */
    const char *stats_json;    /* --stats-json FILE: counters as JSON (doc/metrics.md) */
    const char *metrics;       /* --metrics ADDR:PORT: Prometheus endpoint */
    uint32_t intercept_timeout_ms; /* --intercept-timeout: connect + handshake (3000) */
    /* Capture and send modes (modes.h, offline.h). */
    const char *devices;       /* -i: capture devices, or the file to replay */
    const char *filter;        /* -F: BPF filter (NULL: built from -x) */
    uint32_t pcap_buffer_mb;   /* -B (64) */
    uint32_t snaplen;          /* -S (65535) */
    bool pcap_capture;         /* --pcap-capture: libpcap instead of the raw socket */
    bool offline;              /* --offline, or -i names a regular file */
    uint32_t accel;            /* -a: offline speed-up (1) */
    uint32_t idle_skip_ms;     /* -I: offline gaps cut to this (0: kept) */
    uint32_t loops;            /* -T: offline passes (1) */
    bool fast;                 /* --fast: offline as fast as the target answers */
    bool pcap_send;            /* --pcap-send: link-layer send on -o */
    const char *out_dev;       /* -o */
    struct decap decap;        /* --decap: mirrored traffic inside VXLAN or GRE */
    bool promisc;              /* --promisc: capture frames addressed to other hosts */
    uint16_t shard_k, shard_n; /* --shard K/N: this host's share of sessions (0/1) */
    const char *module;        /* --module, --set-protocol-module: NAME or PATH.so */
    const char *module_conf;   /* --module-conf FILE: USER PASSWORD lines */
    /* The setup doctor (check.h). */
    bool check;                /* --check: check the path, print findings, exit */
    bool json;                 /* --json: findings as JSON (with --check) */
    uint32_t check_wait_s;     /* --check-wait: longest wait for client traffic (5) */
    /* The comparison of answers (doc/compare.md). */
    const char *compare_dir;   /* --compare DIR (NULL: off) */
    uint8_t compare_proto;     /* --compare-proto: enum cmp_proto (auto) */
    uint8_t compare_nignore;
    const char *compare_ignore[TC_COMPARE_RULES_MAX]; /* --compare-ignore, in order */
    const char *compare_mask;  /* --compare-mask REGEX */
    uint32_t compare_sessions; /* --compare-sessions: compared sessions at once (4096) */
    struct addr compare_base;  /* --compare-baseline IP:PORT (port 0: none) */
    uint16_t compare_base_port;
};

void tc_opts_init(struct tc_opts *o);
/* 0, or -EINVAL with a one-line message ("tcpcopy: ...") in err. Resets getopt. */
int tc_opts_parse(struct tc_opts *o, int argc, char **argv, char *err, size_t errlen);
/* The usage text. */
const char *tc_opts_usage(void);
struct option;
/* getopt_long's tables, for the configuration file reader (conf.c). */
void tc_opts_tables(const char **optstring, const struct option **longopts);

#endif
