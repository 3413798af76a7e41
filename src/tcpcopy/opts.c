/*
 * opts: tcpcopy's options (see opts.h). The grammars of -x, -c and -s live in
 * transfer.c; this file only sequences them and checks ranges.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "capture.h"
#include "chan.h"
#include "cmp_frame.h"
#include "loop.h"
#include "mhttp.h"
#include "opts.h"
#include "tcp.h"
#include "log.h"

enum { OPT_DEBUG = 256, OPT_ANSWER_TIMEOUT, OPT_SECRET_FILE, OPT_INTERCEPT_TIMEOUT,
       OPT_PCAP_CAPTURE, OPT_OFFLINE, OPT_FAST, OPT_PCAP_SEND, OPT_COALESCE,
       OPT_ACK_DELAY, OPT_MAX_HANDSHAKES, OPT_DECAP, OPT_PROMISC, OPT_SHARD, OPT_STATS_JSON,
       OPT_METRICS, OPT_CHECK, OPT_JSON, OPT_CHECK_WAIT, OPT_CONFIG,
       OPT_TLS, OPT_TLS_CERT, OPT_TLS_KEY, OPT_TLS_CA, OPT_CHANNEL_PAYLOAD, OPT_MODULE,
       OPT_MODULE_CONF, OPT_COMPARE, OPT_COMPARE_PROTO, OPT_COMPARE_IGNORE, OPT_COMPARE_MASK,
       OPT_COMPARE_SESSIONS, OPT_COMPARE_BASELINE };

static const struct option long_opts[] = {
    {"transfer", required_argument, NULL, 'x'},
    {"intercept", required_argument, NULL, 's'},
    {"port", required_argument, NULL, 'p'},
    {"connections", required_argument, NULL, 'C'},
    {"client", required_argument, NULL, 'c'},
    {"timeout", required_argument, NULL, 't'},
    {"keepalive-timeout", required_argument, NULL, 'k'},
    {"mtu", required_argument, NULL, 'M'},
    {"no-wait", no_argument, NULL, 'W'},
    {"syn-only", no_argument, NULL, 'O'},
    {"mss", required_argument, NULL, 'D'},
    {"copies", required_argument, NULL, 'n'},
    {"port-shift", required_argument, NULL, 'f'},
    {"rate", required_argument, NULL, 'r'},
    {"ramp-up", no_argument, NULL, 'g'},
    {"memory", required_argument, NULL, 'm'},
    {"localhost", required_argument, NULL, 'H'},
    {"pool", required_argument, NULL, 'U'},
    {"rtt", required_argument, NULL, 'R'},
    {"answer-timeout", required_argument, NULL, OPT_ANSWER_TIMEOUT},
    {"max-handshakes", required_argument, NULL, OPT_MAX_HANDSHAKES},
    {"coalesce", required_argument, NULL, OPT_COALESCE},
    {"ack-delay", required_argument, NULL, OPT_ACK_DELAY},
    {"lonely", no_argument, NULL, 'L'},
    {"secret-file", required_argument, NULL, OPT_SECRET_FILE},
    {"tls", no_argument, NULL, OPT_TLS},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"channel-payload", no_argument, NULL, OPT_CHANNEL_PAYLOAD},
    {"stats-json", required_argument, NULL, OPT_STATS_JSON},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"intercept-timeout", required_argument, NULL, OPT_INTERCEPT_TIMEOUT},
    {"device", required_argument, NULL, 'i'},
    {"filter", required_argument, NULL, 'F'},
    {"buffer", required_argument, NULL, 'B'},
    {"snaplen", required_argument, NULL, 'S'},
    {"pcap-capture", no_argument, NULL, OPT_PCAP_CAPTURE},
    {"offline", no_argument, NULL, OPT_OFFLINE},
    {"accelerate", required_argument, NULL, 'a'},
    {"idle-skip", required_argument, NULL, 'I'},
    {"loops", required_argument, NULL, 'T'},
    {"fast", no_argument, NULL, OPT_FAST},
    {"pcap-send", no_argument, NULL, OPT_PCAP_SEND},
    {"output", required_argument, NULL, 'o'},
    {"decap", required_argument, NULL, OPT_DECAP},
    {"promisc", no_argument, NULL, OPT_PROMISC},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"module", required_argument, NULL, OPT_MODULE},
    {"set-protocol-module", required_argument, NULL, OPT_MODULE}, /* the original's spelling */
    {"module-conf", required_argument, NULL, OPT_MODULE_CONF},
    {"log", required_argument, NULL, 'l'},
    {"pidfile", required_argument, NULL, 'P'},
    {"daemon", no_argument, NULL, 'd'},
    {"user", required_argument, NULL, 'u'},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"debug", no_argument, NULL, OPT_DEBUG},
    {"check", no_argument, NULL, OPT_CHECK},
    {"json", no_argument, NULL, OPT_JSON},
    {"check-wait", required_argument, NULL, OPT_CHECK_WAIT},
    {"compare", required_argument, NULL, OPT_COMPARE},
    {"compare-proto", required_argument, NULL, OPT_COMPARE_PROTO},
    {"compare-ignore", required_argument, NULL, OPT_COMPARE_IGNORE},
    {"compare-mask", required_argument, NULL, OPT_COMPARE_MASK},
    {"compare-sessions", required_argument, NULL, OPT_COMPARE_SESSIONS},
    {"compare-baseline", required_argument, NULL, OPT_COMPARE_BASELINE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'v'},
    {NULL, 0, NULL, 0},
};

static const char tc_optstring[] =
    ":x:s:p:C:c:t:k:M:WOD:n:f:r:gm:H:U:R:Ll:P:dhvi:F:B:S:a:I:T:o:u:";

void tc_opts_tables(const char **optstring, const struct option **longopts)
{
    *optstring = tc_optstring;
    *longopts = long_opts;
}

static const char usage[] =
    "usage: tcpcopy -x TRANSFER -s INTERCEPT [options]\n"
    "Copy live TCP sessions arriving at this host to a test server.\n"
    "\n"
    "  -x, --transfer [onlineIP:]port-targetIP:port[,...]\n"
    "                          which sessions to copy, and where to\n"
    "  -s, --intercept IP[:port][,...]\n"
    "                          intercept servers that relay the target's replies\n"
    "  -p, --port PORT         intercept port for -s entries without one (36524)\n"
    "  -C, --connections N     connections to each intercept, 1-11 (2)\n"
    "  -L, --lonely            keep reconnecting when every intercept is lost: always\n"
    "                          the case here; accepted for compatibility\n"
    "      --secret-file FILE  shared secret proving tcpcopy and intercept to each\n"
    "                          other (mode 600; intercept needs the same one)\n"
    "      --tls               TLS 1.3 on the channel, keyed by --secret-file, or by\n"
    "                          --tls-cert FILE --tls-key FILE --tls-ca FILE\n"
    "      --channel-payload   ask intercept for the replies' payload (implies --tls\n"
    "                          when a key is given; plain only to a local intercept)\n"
    "      --intercept-timeout MS\n"
    "                          connect and handshake deadline per intercept (3000)\n"
    "  -c, --client ADDR[,ADDR...] | a.b.c.x | PREFIX::x\n"
    "                          rewrite client addresses (x: 1 to 254), each within\n"
    "                          its family: every -x family needs addresses here\n"
    "  -t, --timeout SEC       drop a session whose target makes no progress (600)\n"
    "  -k, --keepalive-timeout SEC\n"
    "                          drop a session idle this long (timeout + 120)\n"
    "  -M, --mtu BYTES         largest packet sent to the target, 576-65535 (1500)\n"
    "  -W, --no-wait           send requests without waiting for the target's answers\n"
    "  -O, --syn-only          copy only sessions whose SYN was seen (default: also\n"
    "                          sessions already open, from their next request)\n"
    "  -D, --mss BYTES         MSS announced when tcpcopy makes its own SYN (1460)\n"
    "  -n, --copies N          make N sessions of each client session, 1-1023 (1)\n"
    "  -f, --port-shift N      port offset of this instance's copies, 0-1023 (0)\n"
    "  -r, --rate PERCENT      copy this share of client sessions, 1-100 (100)\n"
    "  -g, --ramp-up           start at 1% of sessions, 1% more each second\n"
    "  -m, --memory MB         bound on queued client data: new sessions refused past\n"
    "                          90%, sessions shed at 100%, never an exit (512)\n"
    "  -H, --localhost ADDR    address that replaces a 127.0.0.1 client\n"
    "  -U, --pool KB, -R, --rtt MS\n"
    "                          accepted for compatibility; no effect (pooled memory,\n"
    "                          measured RTT)\n"
    "      --answer-timeout MS longest wait for an answer before the next request (3000)\n"
    "      --max-handshakes N  SYNs awaiting the target's answer at once; more sessions wait\n"
    "                          in line with their bytes queued (512)\n"
    "      --coalesce USEC     under load, handle events in batches at most USEC apart:\n"
    "                          less CPU per packet, at most USEC more delay; 0: off (300)\n"
    "      --ack-delay MS      longest wait for a request to carry our ACK of an answer\n"
    "                          (10; 0: every answer acknowledged at once)\n"
    "      --module NAME|PATH.so\n"
    "                          protocol module: built in by name, or a shared object\n"
    "                          (--set-protocol-module: the same; doc/modules.md)\n"
    "      --module-conf FILE  the module's credentials, lines USER PASSWORD (mode 600)\n"
    "Comparison of answers (doc/compare.md):\n"
    "      --compare DIR       compare every copied request's online and target answers;\n"
    "                          results in DIR (mismatches.jsonl, summary.json)\n"
    "      --compare-proto auto|http|resp|memcache|raw|mysql|postgresql\n"
    "                          how answers are framed (auto: from the client's first bytes)\n"
    "      --compare-ignore RULE\n"
    "                          header:NAME, regex:EXPR or json:PATH left out (repeatable)\n"
    "      --compare-mask REGEX\n"
    "                          blank what matches in the excerpts written to DIR\n"
    "      --compare-sessions N\n"
    "                          sessions compared at once, the others counted (1024)\n"
    "      --compare-baseline IP:PORT\n"
    "                          a second target running production's version gets the same\n"
    "                          copy; differences it shows too are noise (noise.jsonl)\n"
    "Capture and send (default: raw socket capture, raw IP send):\n"
    "      --pcap-capture      capture with libpcap at the link layer (also what this\n"
    "                          host itself sends)\n"
    "  -i, --device DEV[,DEV...]\n"
    "                          capture devices (any); implies --pcap-capture\n"
    "  -F, --filter BPF        capture filter (default: built from -x)\n"
    "  -B, --buffer MB         capture ring per device, 1-2047 (64): the longest\n"
    "                          stall it absorbs grows with it (see the man page)\n"
    "  -S, --snaplen BYTES     capture length, 64-262144 (65535)\n"
    "      --pcap-send         send at the link layer, bypassing routing, conntrack\n"
    "                          and iptables; -x ...@MAC or the neighbour table\n"
    "  -o, --output DEV        the device for --pcap-send\n"
    "Mirrored traffic (tcpcopy on another host than the production server):\n"
    "      --promisc           capture frames addressed to other hosts (a switch's\n"
    "                          mirror port: --pcap-capture -i DEV --promisc)\n"
    "      --decap vxlan[:PORT]|gre|erspan\n"
    "                          the mirror delivers frames inside VXLAN (UDP 4789: AWS\n"
    "                          VPC Traffic Mirroring) or GRE/ERSPAN; implies libpcap\n"
    "      --shard K/N         copy only the sessions whose client address and port\n"
    "                          hash to K (0 to N-1): N hosts fed the same mirror\n"
    "                          split the work, none copied twice\n"
    "Offline replay:\n"
    "  -i FILE, --offline      replay a pcap or pcapng file instead of capturing\n"
    "  -a, --accelerate N      replay N times faster, 1-1000 (1)\n"
    "  -I, --idle-skip MS      cut gaps between packets longer than MS to MS\n"
    "  -T, --loops N           replay the file N times (1)\n"
    "      --fast              as fast as the target answers\n"
    "Process:\n"
    "  -l, --log FILE          log to FILE (default: stderr; syslog with -d)\n"
    "  -P, --pidfile FILE      write the process id to FILE\n"
    "  -d, --daemon            run in the background\n"
    "  -u, --user USER         after opening sockets and files, run as USER with no\n"
    "                          capabilities and no way back to root\n"
    "      --config FILE       read long options from FILE, one per line ('name value',\n"
    "                          'name=value' or a flag alone, # comments); the command\n"
    "                          line overrides it\n"
    "      --debug             log every session's end\n"
    "      --stats-json FILE   write every counter to FILE as JSON at each stats interval\n"
    "                          (30 s) and at exit, atomically (doc/metrics.md)\n"
    "      --metrics ADDR:PORT serve the counters for Prometheus at GET /metrics\n"
    "                          ([IPV6]:PORT, or :PORT for every IPv4 address)\n"
    "Setup check:\n"
    "      --check             with the options of a real run: check the whole path (capture,\n"
    "                          send, routes, each intercept, a probe session per target),\n"
    "                          print each finding with its fix; exit 0 only if all works\n"
    "      --json              print the findings as JSON (with --check)\n"
    "      --check-wait SEC    longest wait for client packets on each -x port, 1-60 (5)\n"
    "  -h, --help              this text\n"
    "  -v, --version           version\n";

const char *tc_opts_usage(void)
{
    return usage;
}

/*
 * The defaults of tcpcopy's options, the one place they are set: the engine's
 * own (-M, -t, -m, -D, -n, -r, --answer-timeout, --max-handshakes, --ack-delay)
 * come from eng_conf_defaults(), the others are named here or in the module they
 * belong to. The usage text above, doc/tcpcopy.1 and README.md state them; the
 * unit tests check the usage text against these values.
 */
void tc_opts_init(struct tc_opts *o)
{
    struct eng_conf ec;

    eng_conf_defaults(&ec);
    memset(o, 0, sizeof(*o));
    o->chan_port = CHAN_PORT_DEFAULT;
    o->conns = TC_CONNS_DEFAULT;
    o->timeout_s = (uint32_t)(ec.session_timeout_us / 1000000);
    o->mtu = ec.mtu;
    o->answer_timeout_ms = (uint32_t)(ec.answer_timeout_us / 1000);
    o->max_handshakes = ec.max_handshakes;
    o->coalesce_us = LOOP_COALESCE_DEFAULT_US;
    o->ack_delay_ms = (uint32_t)(ec.ack_delay_us / 1000);
    o->syn_mss = ec.syn_mss;
    o->copies = ec.copies;
    o->sample_pct = ec.sample_pct;
    o->mem_mb = (uint32_t)(ec.mem_max >> 20);
    o->intercept_timeout_ms = TC_INTERCEPT_TIMEOUT_DEFAULT_MS;
    o->pcap_buffer_mb = TC_PCAP_BUFFER_MB_DEFAULT;
    o->snaplen = TC_SNAPLEN_DEFAULT;
    o->accel = 1;
    o->loops = 1;
    o->shard_n = 1;
    o->check_wait_s = 5;
    o->compare_sessions = TC_COMPARE_SESSIONS_DEFAULT;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        errbuf_set(err, errlen, __VA_ARGS__);                                                        \
        return -EINVAL;                                                                            \
    } while (0)

static int num(const char *name, const char *v, unsigned long lo, unsigned long hi, unsigned long *out,
               char *err, size_t errlen)
{
    if (!parse_uint(v, lo, hi, out))
        FAIL("tcpcopy: %s '%s': expected a number from %lu to %lu", name, v, lo, hi);
    return 0;
}

/* The option getopt just refused, as the user wrote it: "--name" for a long option
 * (without any "=value"), "-c" for a short one, even inside a cluster like "-Wq". */
static const char *opt_name(char **argv, int ind, int opt, char *buf, size_t len)
{
    const char *arg = ind > 0 ? argv[ind - 1] : "";
    if (strncmp(arg, "--", 2) == 0) {
        size_t n = strcspn(arg, "=");
        snprintf(buf, len, "%.*s", (int)n, arg);
    } else if (opt > 0 && opt < 128) {
        snprintf(buf, len, "-%c", opt);
    } else {
        snprintf(buf, len, "%s", arg);
    }
    return buf;
}

/* ---- capture, send and offline modes ---- */

/* Which mode options were given (for the combination checks). */
enum {
    MS_I = 1U << 0, MS_F = 1U << 1, MS_B = 1U << 2, MS_S = 1U << 3, MS_A = 1U << 4,
    MS_II = 1U << 5, MS_T = 1U << 6, MS_O = 1U << 7, MS_FAST = 1U << 8,
    MS_DECAP = 1U << 9, MS_PROMISC = 1U << 10,
};

static int opts_mode(struct tc_opts *o, int c, const char *arg, unsigned *seen, char *err,
                     size_t errlen)
{
    unsigned long v;

    switch (c) {
    case 'i':
        if (arg[0] == '\0')
            FAIL("tcpcopy: -i needs a device list or a capture file");
        o->devices = arg;
        *seen |= MS_I;
        break;
    case 'F':
        if (arg[0] == '\0')
            FAIL("tcpcopy: -F needs a BPF filter expression");
        o->filter = arg;
        *seen |= MS_F;
        break;
    case 'B':
        if (num("-B", arg, 1, CAPTURE_PCAP_BUFFER_MB_MAX, &v, err, errlen)) return -EINVAL;
        o->pcap_buffer_mb = (uint32_t)v;
        *seen |= MS_B;
        break;
    case 'S':
        if (num("-S", arg, 64, 262144, &v, err, errlen)) return -EINVAL;
        o->snaplen = (uint32_t)v;
        *seen |= MS_S;
        break;
    case 'a':
        if (num("-a", arg, 1, 1000, &v, err, errlen)) return -EINVAL;
        o->accel = (uint32_t)v;
        *seen |= MS_A;
        break;
    case 'I':
        if (num("-I", arg, 1, 3600000, &v, err, errlen)) return -EINVAL;
        o->idle_skip_ms = (uint32_t)v;
        *seen |= MS_II;
        break;
    case 'T':
        if (num("-T", arg, 1, 65535, &v, err, errlen)) return -EINVAL;
        o->loops = (uint32_t)v;
        *seen |= MS_T;
        break;
    case 'o':
        if (arg[0] == '\0' || strlen(arg) >= 16 || strchr(arg, '/') != NULL)
            FAIL("tcpcopy: -o '%s': not an interface name", arg);
        o->out_dev = arg;
        *seen |= MS_O;
        break;
    case OPT_PCAP_CAPTURE: o->pcap_capture = true; break;
    case OPT_OFFLINE: o->offline = true; break;
    case OPT_FAST: o->fast = true; *seen |= MS_FAST; break;
    case OPT_PCAP_SEND: o->pcap_send = true; break;
    case OPT_PROMISC: o->promisc = true; *seen |= MS_PROMISC; break;
    case OPT_DECAP: {
        char sub[160];
        if (decap_parse(&o->decap, arg, sub, sizeof(sub)) < 0)
            FAIL("tcpcopy: %s", sub);
        *seen |= MS_DECAP;
        break;
    }
    }
    return 0;
}

/* --compare DIR and its companions (doc/compare.md); rules and the mask are compiled
 * when the comparison starts (cmp_out.c), where a bad one is reported. */
static int opts_compare(struct tc_opts *o, int c, const char *arg, char *err, size_t errlen)
{
    unsigned long v;
    enum cmp_proto p;
    if (c == OPT_COMPARE) {
        if (arg[0] == '\0')
            FAIL("tcpcopy: --compare needs a directory");
        o->compare_dir = arg;
    } else if (c == OPT_COMPARE_PROTO) {
        if (cmp_proto_parse(arg, &p) < 0)
            FAIL("tcpcopy: --compare-proto '%s': expected auto, http, resp, memcache, raw, "
                 "mysql or postgresql",
                 arg);
        o->compare_proto = (uint8_t)p;
    } else if (c == OPT_COMPARE_IGNORE) {
        if (o->compare_nignore == TC_COMPARE_RULES_MAX)
            FAIL("tcpcopy: --compare-ignore: at most %d rules", TC_COMPARE_RULES_MAX);
        o->compare_ignore[o->compare_nignore++] = arg;
    } else if (c == OPT_COMPARE_MASK) {
        o->compare_mask = arg;
    } else if (c == OPT_COMPARE_BASELINE) {
        const char *colon = strrchr(arg, ':');
        char host[64];
        size_t hn = colon ? (size_t)(colon - arg) : 0;
        if (hn > 1 && arg[0] == '[' && arg[hn - 1] == ']') /* [IPv6]:PORT */
            arg++, hn -= 2;
        if (!colon || hn == 0 || hn >= sizeof(host))
            FAIL("tcpcopy: --compare-baseline '%s': expected IP:PORT", arg);
        memcpy(host, arg, hn), host[hn] = '\0';
        if (!addr_parse(&o->compare_base, host) ||
            num("--compare-baseline port", colon + 1, 1, 65535, &v, err, errlen))
            FAIL("tcpcopy: --compare-baseline '%s': expected IP:PORT", arg);
        o->compare_base_port = (uint16_t)v;
    } else {
        if (num("--compare-sessions", arg, 1, 1000000, &v, err, errlen))
            return -EINVAL;
        o->compare_sessions = (uint32_t)v;
    }
    return 0;
}

/* --shard K/N: N from 1 to 1024, K below it. */
static int opts_shard(struct tc_opts *o, const char *arg, char *err, size_t errlen)
{
    unsigned k, n;
    int end = 0;
    if (sscanf(arg, "%u/%u%n", &k, &n, &end) != 2 || arg[end] != '\0' || arg[0] == '+' ||
        arg[0] == '-' || n < 1 || n > 1024 || k >= n)
        FAIL("tcpcopy: --shard '%s': expected K/N with N from 1 to 1024 and K from 0 to N-1 "
             "(e.g. 0/2 and 1/2 on two hosts)", arg);
    o->shard_k = (uint16_t)k;
    o->shard_n = (uint16_t)n;
    return 0;
}

/*
 * The combinations. -i names a file (offline) or devices (live capture); which
 * one is decided by the file system, as the original's builds decided it at
 * compile time. Live-capture options imply --pcap-capture, offline ones need a file.
 */
static bool opts_looks_like_file(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') != NULL || (n > 5 && strcmp(s + n - 5, ".pcap") == 0) ||
           (n > 7 && strcmp(s + n - 7, ".pcapng") == 0) || (n > 4 && strcmp(s + n - 4, ".cap") == 0);
}

static int opts_mode_check(struct tc_opts *o, unsigned seen, char *err, size_t errlen)
{
    struct stat st;
    bool is_file = o->devices != NULL && stat(o->devices, &st) == 0 && S_ISREG(st.st_mode);

    if (o->offline && o->pcap_capture)
        FAIL("tcpcopy: --offline and --pcap-capture exclude each other");
    if (is_file && o->pcap_capture)
        FAIL("tcpcopy: -i '%s' is a file: --pcap-capture captures from devices", o->devices);
    if (o->offline && o->devices == NULL)
        FAIL("tcpcopy: --offline needs -i FILE, the capture to replay");
    /* A path (or a capture's usual suffix) that does not exist is still meant as a
     * file: opening it at startup says what is wrong with it. */
    if (is_file || (o->devices != NULL && opts_looks_like_file(o->devices)))
        o->offline = true;
    if (o->offline && (seen & (MS_B | MS_S)))
        FAIL("tcpcopy: %s applies to live capture (--pcap-capture), not to --offline",
             seen & MS_B ? "-B" : "-S");
    if (!o->offline && (seen & (MS_A | MS_II | MS_T | MS_FAST)))
        FAIL("tcpcopy: %s needs --offline (-i FILE)",
             seen & MS_A ? "-a" : seen & MS_II ? "-I" : seen & MS_T ? "-T" : "--fast");
    if (o->fast && (seen & MS_A))
        FAIL("tcpcopy: -a and --fast exclude each other");
    if (o->offline && (seen & MS_PROMISC))
        FAIL("tcpcopy: --promisc applies to live capture, not to --offline");
    /* A raw socket sees TCP addressed to this host only: mirrored frames, plain or
     * encapsulated, are libpcap's. */
    if (!o->offline && (seen & (MS_I | MS_F | MS_B | MS_S | MS_DECAP | MS_PROMISC)))
        o->pcap_capture = true;
    if ((seen & MS_O) && !o->pcap_send)
        FAIL("tcpcopy: -o needs --pcap-send (link-layer send)");
    if (o->pcap_send && o->out_dev == NULL)
        FAIL("tcpcopy: --pcap-send needs -o DEV, the interface toward the target");
    if ((uint64_t)o->loops * o->copies > 65535)
        FAIL("tcpcopy: -T %u with -n %u: at most 65535 copies in all", o->loops, o->copies);
    return 0;
}

/* --stats-json FILE, --metrics ADDR:PORT. */
static int opts_counters(struct tc_opts *o, int c, const char *arg, char *err, size_t errlen)
{
    struct addr a;
    uint16_t port;
    if (c == OPT_STATS_JSON) {
        if (arg[0] == '\0')
            FAIL("tcpcopy: --stats-json needs a file name");
        o->stats_json = arg;
    } else {
        if (!mhttp_parse_addr(arg, &a, &port))
            FAIL("tcpcopy: --metrics %s: expected ADDR:PORT, [IPV6]:PORT or :PORT", arg);
        o->metrics = arg;
    }
    return 0;
}

/* The channel's TLS options together (doc/protocol.md, section 14). */
static int opts_tls_check(struct tc_opts *o, char *err, size_t errlen)
{
    int ncert = (o->tls_cert != NULL) + (o->tls_key != NULL) + (o->tls_ca != NULL);
    if (ncert != 0 && ncert != 3)
        FAIL("tcpcopy: --tls-cert, --tls-key and --tls-ca go together");
    /* Certificates only key TLS; payload is production data, encrypted when a key is
     * there (intercept refuses it in clear to another host anyway). */
    if (ncert == 3 || (o->channel_payload && o->secret_file != NULL))
        o->tls = true;
    if (o->tls && ncert == 0 && o->secret_file == NULL)
        FAIL("tcpcopy: --tls needs a key: --secret-file FILE (the same as intercept's), or "
             "--tls-cert, --tls-key and --tls-ca");
    return 0;
}

int tc_opts_parse(struct tc_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    unsigned mseen = 0;
    const char *xspec = NULL, *cspec = NULL, *sspec = NULL;
    bool k_set = false;
    unsigned long v;
    char sub[256];
    int c;

    optind = 0; /* full reset of getopt, so the parser can run more than once */
    opterr = 0;
    while ((c = getopt_long(argc, argv, tc_optstring, long_opts, NULL)) != -1) {
        switch (c) {
        case 'x': xspec = optarg; break;
        case 's': sspec = optarg; break;
        case 'c': cspec = optarg; break;
        case 'p':
            if (num("-p", optarg, 1, 65535, &v, err, errlen)) return -EINVAL;
            o->chan_port = (uint16_t)v;
            break;
        case 'C':
            if (num("-C", optarg, 1, 11, &v, err, errlen)) return -EINVAL;
            o->conns = (int)v;
            break;
        case 't':
            if (num("-t", optarg, 1, 86400 * 7, &v, err, errlen)) return -EINVAL;
            o->timeout_s = (uint32_t)v;
            break;
        case 'k':
            if (num("-k", optarg, 1, 86400 * 7, &v, err, errlen)) return -EINVAL;
            o->keepalive_s = (uint32_t)v;
            k_set = true;
            break;
        case 'M':
            if (num("-M", optarg, 576, 65535, &v, err, errlen)) return -EINVAL;
            o->mtu = (uint32_t)v;
            break;
        case OPT_COALESCE:
            if (num("--coalesce", optarg, 0, 100000, &v, err, errlen)) return -EINVAL;
            o->coalesce_us = (uint32_t)v;
            break;
        case OPT_ACK_DELAY:
            if (num("--ack-delay", optarg, 0, 100, &v, err, errlen)) return -EINVAL;
            o->ack_delay_ms = (uint32_t)v;
            break;
        case OPT_ANSWER_TIMEOUT:
            if (num("--answer-timeout", optarg, 1, 3600000, &v, err, errlen)) return -EINVAL;
            o->answer_timeout_ms = (uint32_t)v;
            break;
        case OPT_MAX_HANDSHAKES:
            if (num("--max-handshakes", optarg, 1, 1000000, &v, err, errlen)) return -EINVAL;
            o->max_handshakes = (uint32_t)v;
            break;
        case OPT_TLS: o->tls = true; break;
        case OPT_TLS_CERT: o->tls_cert = optarg; break;
        case OPT_TLS_KEY: o->tls_key = optarg; break;
        case OPT_TLS_CA: o->tls_ca = optarg; break;
        case OPT_CHANNEL_PAYLOAD: o->channel_payload = true; break;
        case OPT_SECRET_FILE:
            if (optarg[0] == '\0')
                FAIL("tcpcopy: --secret-file needs a file name");
            o->secret_file = optarg;
            break;
        case OPT_MODULE: case OPT_MODULE_CONF:
            if (optarg[0] == '\0')
                FAIL("tcpcopy: %s needs a %s", c == OPT_MODULE ? "--module" : "--module-conf",
                     c == OPT_MODULE ? "module name or PATH.so" : "file name");
            *(c == OPT_MODULE ? &o->module : &o->module_conf) = optarg;
            break;
        case OPT_STATS_JSON: case OPT_METRICS:
            if (opts_counters(o, c, optarg, err, errlen) < 0)
                return -EINVAL;
            break;
        case OPT_INTERCEPT_TIMEOUT:
            if (num("--intercept-timeout", optarg, 100, 600000, &v, err, errlen)) return -EINVAL;
            o->intercept_timeout_ms = (uint32_t)v;
            break;
        case 'L': o->lonely = true; break;
        case 'i': case 'F': case 'B': case 'S': case 'a': case 'I': case 'T': case 'o':
        case OPT_PCAP_CAPTURE: case OPT_OFFLINE: case OPT_FAST: case OPT_PCAP_SEND:
        case OPT_DECAP: case OPT_PROMISC:
            if (opts_mode(o, c, optarg, &mseen, err, errlen) < 0)
                return -EINVAL;
            break;
        case OPT_SHARD:
            if (opts_shard(o, optarg, err, errlen) < 0)
                return -EINVAL;
            break;
        case OPT_COMPARE: case OPT_COMPARE_PROTO: case OPT_COMPARE_IGNORE: case OPT_COMPARE_MASK:
        case OPT_COMPARE_SESSIONS: case OPT_COMPARE_BASELINE:
            if (opts_compare(o, c, optarg, err, errlen) < 0)
                return -EINVAL;
            break;
        case 'W': o->no_wait = true; break;
        case 'O': o->syn_only = true; break;
        case 'n':
            if (num("-n", optarg, 1, 1023, &v, err, errlen)) return -EINVAL;
            o->copies = (uint16_t)v;
            break;
        case 'f':
            if (num("-f", optarg, 0, 1023, &v, err, errlen)) return -EINVAL;
            o->port_shift = (uint16_t)v;
            break;
        case 'r':
            if (num("-r", optarg, 1, 100, &v, err, errlen)) return -EINVAL;
            o->sample_pct = (uint8_t)v;
            break;
        case 'g': o->ramp = true; break;
        case 'm':
            if (num("-m", optarg, 16, 1048576, &v, err, errlen)) return -EINVAL;
            o->mem_mb = (uint32_t)v;
            break;
        case 'H':
            if (!addr_parse(&o->localhost, optarg))
                FAIL("tcpcopy: -H '%s': not an IPv4 or IPv6 address", optarg);
            break;
        case 'U': /* the original's per-session pool size: memory here is pooled by design */
            if (num("-U", optarg, 1, 1048576, &v, err, errlen)) return -EINVAL;
            break;
        case 'R': /* the original's fixed RTT (ineffective there): RTT is measured here */
            if (num("-R", optarg, 0, 60000, &v, err, errlen)) return -EINVAL;
            break;
        case 'D':
            if (num("-D", optarg, 536, 65495, &v, err, errlen)) return -EINVAL;
            o->syn_mss = (uint16_t)v;
            break;
        case 'l': o->log_path = optarg; break;
        case 'P': o->pidfile = optarg; break;
        case 'd': o->daemon = true; break;
        case 'u': o->user = optarg; break;
        case OPT_CONFIG: break; /* read by conf.c before this parse */
        case OPT_DEBUG: o->debug = true; break;
        case OPT_CHECK: o->check = true; break;
        case OPT_JSON: o->json = true; break;
        case OPT_CHECK_WAIT:
            if (num("--check-wait", optarg, 1, 60, &v, err, errlen)) return -EINVAL;
            o->check_wait_s = (uint32_t)v;
            break;
        case 'h': o->action = TC_ACT_HELP; return 0;
        case 'v': o->action = TC_ACT_VERSION; return 0;
        case ':':
            FAIL("tcpcopy: option %s needs a value", opt_name(argv, optind, optopt, sub, sizeof(sub)));
        default:
            FAIL("tcpcopy: unknown option %s (see tcpcopy -h)",
                 opt_name(argv, optind, optopt, sub, sizeof(sub)));
        }
    }
    if (optind < argc)
        FAIL("tcpcopy: unexpected argument '%s' (see tcpcopy -h)", argv[optind]);
    if (xspec == NULL)
        FAIL("tcpcopy: -x is required, e.g. -x 80-192.0.2.20:8080");
    if (sspec == NULL)
        FAIL("tcpcopy: -s is required: the address of intercept, e.g. -s 192.0.2.30");
    if (xfer_parse(&o->xfer, xspec, sub, sizeof(sub)) < 0)
        FAIL("tcpcopy: %s", sub);
    if (servers_parse(&o->servers, sspec, o->chan_port, sub, sizeof(sub)) < 0)
        FAIL("tcpcopy: %s", sub);
    if (cspec != NULL) {
        if (cmap_parse(&o->cmap, cspec, sub, sizeof(sub)) < 0)
            FAIL("tcpcopy: %s", sub);
        cmap_exclude_targets(&o->cmap, &o->xfer);
        if (o->cmap.n == 0)
            FAIL("tcpcopy: -c '%s': no address left once the targets are excluded", cspec);
        if (cmap_check_families(&o->cmap, &o->xfer, sub, sizeof(sub)) < 0)
            FAIL("tcpcopy: %s", sub);
    }
    if (o->json && !o->check)
        FAIL("tcpcopy: --json needs --check");
    if (o->module_conf != NULL && o->module == NULL)
        FAIL("tcpcopy: --module-conf needs --module");
    if (o->compare_dir == NULL &&
        (o->compare_nignore || o->compare_mask || o->compare_proto != CMP_PROTO_AUTO ||
         o->compare_base_port))
        FAIL("tcpcopy: --compare-proto, --compare-ignore, --compare-mask and --compare-baseline "
             "need --compare DIR");
    if (!k_set)
        o->keepalive_s = o->timeout_s + TC_KEEPALIVE_EXTRA_S;
    if (o->compare_dir != NULL)
        o->channel_payload = true; /* the target's answers: intercept forwards their payload */
    if (opts_tls_check(o, err, errlen) < 0)
        return -EINVAL;
    return opts_mode_check(o, mseen, err, errlen);
}
