/*
 * opts: intercept's options (see opts.h). Short options are those of the original
 * intercept; every option also has a long form. Nothing here exits or logs: errors
 * come back as one line in the caller's buffer, and main.c exits with status 2.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "chan.h"
#include "loop.h"
#include "mhttp.h"
#include "opts.h"
#include "route.h"
#include "log.h"

enum {
    OPT_ALLOW = 256,
    OPT_SNAPLEN,
    OPT_DEBUG,
    OPT_SECRET_FILE,
    OPT_COALESCE,
    OPT_STATS_JSON,
    OPT_METRICS,
    OPT_CHECK,
    OPT_JSON,
    OPT_CHECK_TARGET,
    OPT_CHECK_WAIT,
    OPT_CONFIG,
    OPT_PAYLOAD,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS_CA,
    OPT_TLS_REQUIRED,
};

static const char icpt_optstring[] = ":i:F:p:b:s:l:P:D:dvhu:";
static const struct option icpt_longopts[] = {
    {"device", required_argument, NULL, 'i'},
    {"filter", required_argument, NULL, 'F'},
    {"port", required_argument, NULL, 'p'},
    {"bind", required_argument, NULL, 'b'},
    {"table-size", required_argument, NULL, 's'},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"secret-file", required_argument, NULL, OPT_SECRET_FILE},
    {"log", required_argument, NULL, 'l'},
    {"pidfile", required_argument, NULL, 'P'},
    {"daemon", no_argument, NULL, 'd'},
    {"user", required_argument, NULL, 'u'},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"version", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"snaplen", required_argument, NULL, OPT_SNAPLEN},
    {"debug", no_argument, NULL, OPT_DEBUG},
    {"coalesce", required_argument, NULL, OPT_COALESCE},
    {"stats-json", required_argument, NULL, OPT_STATS_JSON},
    {"metrics", required_argument, NULL, OPT_METRICS},
    {"check", no_argument, NULL, OPT_CHECK},
    {"json", no_argument, NULL, OPT_JSON},
    {"check-target", required_argument, NULL, OPT_CHECK_TARGET},
    {"check-wait", required_argument, NULL, OPT_CHECK_WAIT},
    {"payload", no_argument, NULL, OPT_PAYLOAD},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"tls-required", no_argument, NULL, OPT_TLS_REQUIRED},
    {NULL, 0, NULL, 0},
};

void icpt_opts_tables(const char **optstring, const struct option **longopts)
{
    *optstring = icpt_optstring;
    *longopts = icpt_longopts;
}

void icpt_usage(FILE *fp)
{
    fputs("usage: intercept -F FILTER [options]\n"
          "Capture the target server's replies and pass their headers to the tcpcopy\n"
          "that registered each session.\n"
          "\n"
          "  -F, --filter BPF          capture filter (required), e.g. 'tcp and src port 8080'\n"
          "  -i, --device DEV[,DEV..]  capture devices (default: any)\n"
          "  -p, --port PORT           channel port to listen on (default: 36524)\n"
          "  -b, --bind ADDR           listen on ADDR only (default: all, IPv4 and IPv6)\n"
          "  -s, --table-size N        most routes kept (default: 1048576, at least 1024)\n"
          "      --allow CIDR[,CIDR..] tcpcopy hosts allowed to connect (default: loopback\n"
          "                            and the subnets of this host's interfaces; 'any': all)\n"
          "      --secret-file FILE    shared secret every tcpcopy must prove (mode 600;\n"
          "                            tcpcopy needs the same --secret-file)\n"
          "      --snaplen N           bytes captured per packet (default: 256; with\n"
          "                            --payload 65663)\n"
          "      --payload             offer reply payload to a tcpcopy that asks for it\n"
          "                            (--channel-payload): whole packets are captured;\n"
          "                            only over TLS, or to a tcpcopy on this host\n"
          "      --tls-cert FILE, --tls-key FILE, --tls-ca FILE\n"
          "                            TLS keyed by certificates (tcpcopy's is verified\n"
          "                            against the CA); without them TLS uses a key from\n"
          "                            --secret-file. TLS and plain peers share the port\n"
          "      --tls-required        refuse tcpcopy peers that do not use TLS\n"
          "      --coalesce USEC       under load, forward in batches at most USEC apart:\n"
          "                            less CPU per reply, at most USEC more delay; 0: off\n"
          "                            (default: 300)\n"
          "  -D, CONTAINER_IP-TARGET_IP replies from a target in a container: their source\n"
          "                            is rewritten to the address tcpcopy sends to\n"
          "  -l, --log FILE            log to FILE (reopened on SIGHUP)\n"
          "  -P, --pidfile FILE        write the process id to FILE\n"
          "  -d, --daemon              run in the background (logs to syslog unless -l)\n"
          "  -u, --user USER           after opening sockets and files, run as USER with\n"
          "                            no capabilities and no way back to root\n"
          "      --config FILE         read long options from FILE, one per line ('name\n"
          "                            value', 'name=value' or a flag alone, # comments);\n"
          "                            the command line overrides it\n"
          "      --debug               log debugging messages\n"
          "      --stats-json FILE     write every counter to FILE as JSON every 30 s and\n"
          "                            at exit, atomically (doc/metrics.md)\n"
          "      --metrics ADDR:PORT   serve the counters for Prometheus at GET /metrics\n"
          "                            ([IPV6]:PORT, or :PORT for every IPv4 address)\n"
          "      --check               with the options of a real run: check the setup\n"
          "                            (filter, devices, forwarding, port, peers), print\n"
          "                            each finding with its fix; exit 0 only if all is well\n"
          "      --json                print the findings as JSON (with --check)\n"
          "      --check-target ADDR:PORT[,..]\n"
          "                            targets whose replies the filter must match\n"
          "                            ([ADDR]:PORT for IPv6)\n"
          "      --check-wait SEC      listen SEC seconds for tcpcopy peers, learning\n"
          "                            their targets (0-600; default 0: no peer window)\n"
          "  -v, --version             print the version and exit\n"
          "  -h, --help                print this help and exit\n",
          fp);
}

void icpt_opts_init(struct icpt_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->action = ICPT_RUN;
    o->port = CHAN_PORT_DEFAULT;
    o->table_size = ICPT_TABLE_DEFAULT;
    o->snaplen = ICPT_SNAPLEN_DEFAULT;
    o->coalesce_us = LOOP_COALESCE_DEFAULT_US;
}

void icpt_opts_free(struct icpt_opts *o)
{
    if (o == NULL)
        return;
    free(o->devbuf);
    o->devbuf = NULL;
    o->ndevices = 0;
}

static int icpt_opts_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int icpt_opts_err(char *err, size_t errlen, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    errbuf_set(err, errlen, "intercept: %s", msg);
    return -EINVAL;
}

/* A decimal number in [lo, hi], digits only. */
static bool icpt_parse_uint(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

bool icpt_cidr_parse(struct icpt_cidr *c, const char *s)
{
    char tmp[ADDR_STRLEN + 8];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof(tmp))
        return false;
    memcpy(tmp, s, n + 1);
    char *slash = strchr(tmp, '/');
    if (slash != NULL)
        *slash = '\0';
    memset(c, 0, sizeof(*c));
    if (!addr_parse(&c->net, tmp))
        return false;
    unsigned long maxp = c->net.af == AF_INET ? 32 : 128;
    unsigned long prefix = maxp;
    if (slash != NULL && !icpt_parse_uint(slash + 1, 0, maxp, &prefix))
        return false;
    c->prefix = (uint8_t)prefix;
    /* Clear the host bits so that the prefix prints as a network. */
    size_t nbytes = c->net.af == AF_INET ? 4 : 16;
    for (size_t i = 0; i < nbytes; i++) {
        size_t bit = i * 8;
        if (bit >= prefix)
            c->net.u.b[i] = 0;
        else if (prefix - bit < 8)
            c->net.u.b[i] &= (uint8_t)(0xff << (8 - (prefix - bit)));
    }
    return true;
}

char *icpt_cidr_str(const struct icpt_cidr *c, char *buf, size_t len)
{
    char a[ADDR_STRLEN];
    snprintf(buf, len, "%s/%u", addr_str(&c->net, a, sizeof(a)), c->prefix);
    return buf;
}

/* Append one -i argument (a comma list) to devbuf. */
static int icpt_opts_add_devices(struct icpt_opts *o, const char *arg)
{
    size_t old = o->devbuf != NULL ? strlen(o->devbuf) : 0;
    size_t n = strlen(arg);
    char *p = realloc(o->devbuf, old + n + 2);
    if (p == NULL)
        return -ENOMEM;
    if (old > 0)
        p[old++] = ',';
    memcpy(p + old, arg, n + 1);
    o->devbuf = p;
    return 0;
}

static int icpt_opts_split_devices(struct icpt_opts *o, char *err, size_t errlen)
{
    o->ndevices = 0;
    if (o->devbuf == NULL) {
        o->devices[o->ndevices++] = "any";
        return 0;
    }
    char *s = o->devbuf;
    for (;;) {
        char *comma = strchr(s, ',');
        if (comma != NULL)
            *comma = '\0';
        if (*s == '\0')
            return icpt_opts_err(err, errlen, "-i: empty device name in the list");
        if (o->ndevices == ICPT_DEVICES_MAX)
            return icpt_opts_err(err, errlen, "-i: more than %d devices", ICPT_DEVICES_MAX);
        o->devices[o->ndevices++] = s;
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    /* "any" already captures on every device: with others it would copy packets twice. */
    if (o->ndevices > 1)
        for (size_t i = 0; i < o->ndevices; i++)
            if (strcmp(o->devices[i], "any") == 0)
                return icpt_opts_err(err, errlen, "-i: 'any' covers every device, give it alone");
    return 0;
}

static int icpt_opts_add_allow(struct icpt_opts *o, const char *arg, char *err, size_t errlen)
{
    const char *s = arg;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma != NULL ? (size_t)(comma - s) : strlen(s);
        char one[ADDR_STRLEN + 8];
        if (n == 0)
            return icpt_opts_err(err, errlen, "--allow %s: empty entry in the list", arg);
        if (n >= sizeof(one))
            return icpt_opts_err(err, errlen, "--allow %.*s: not an address or CIDR prefix", (int)n,
                                 s);
        memcpy(one, s, n);
        one[n] = '\0';
        if (strcmp(one, "any") == 0) {
            o->allow_any = true;
        } else {
            struct icpt_cidr c;
            if (!icpt_cidr_parse(&c, one))
                return icpt_opts_err(err, errlen,
                                     "--allow %s: not an address or CIDR prefix "
                                     "(e.g. 192.0.2.0/24, 2001:db8::/32)",
                                     one);
            if (o->nallow == ICPT_ALLOW_MAX)
                return icpt_opts_err(err, errlen, "--allow: more than %d prefixes", ICPT_ALLOW_MAX);
            o->allow[o->nallow++] = c;
        }
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

/* The option as the user wrote it, for messages: "-p" or "--port". Call right after
 * getopt_long returned c (it looks at optind and optarg). */
static const char *icpt_opt_name(int c, char **argv)
{
    static char name[32];
    /* The token holding the option: the one before optarg when the value was a separate
     * word, else the last one ("-p80", "--port=80", or an option without a value). */
    int idx = optind - 1;
    if (optarg != NULL && idx >= 1 && argv[idx] == optarg)
        idx--;
    const char *tok = idx >= 0 ? argv[idx] : NULL;
    if (tok != NULL && strncmp(tok, "--", 2) == 0) {
        for (const struct option *lo = icpt_longopts; lo->name != NULL; lo++)
            if (lo->val == c) {
                snprintf(name, sizeof(name), "--%s", lo->name);
                return name;
            }
    }
    if (c > 0 && c < 256) {
        snprintf(name, sizeof(name), "-%c", c);
        return name;
    }
    for (const struct option *lo = icpt_longopts; lo->name != NULL; lo++)
        if (lo->val == c) {
            snprintf(name, sizeof(name), "--%s", lo->name);
            return name;
        }
    return "?";
}

/* --stats-json FILE, --metrics ADDR:PORT. */
static int icpt_opts_counters(struct icpt_opts *o, int c, const char *arg, char *err, size_t errlen)
{
    struct addr a;
    uint16_t port;
    if (c == OPT_STATS_JSON) {
        if (arg[0] == '\0')
            return icpt_opts_err(err, errlen, "--stats-json needs a file name");
        o->stats_json = arg;
    } else {
        if (!mhttp_parse_addr(arg, &a, &port))
            return icpt_opts_err(err, errlen, "--metrics %s: expected ADDR:PORT, [IPV6]:PORT or :PORT",
                                 arg);
        o->metrics = arg;
    }
    return 0;
}

/* The TLS options together, and --payload's snaplen. */
static int icpt_opts_tls(struct icpt_opts *o, char *err, size_t errlen)
{
    int ncert = (o->tls_cert != NULL) + (o->tls_key != NULL) + (o->tls_ca != NULL);
    if (ncert != 0 && ncert != 3)
        return icpt_opts_err(err, errlen, "--tls-cert, --tls-key and --tls-ca go together");
    if (o->tls_required && ncert == 0 && o->secret_file == NULL)
        return icpt_opts_err(err, errlen,
                             "--tls-required needs a TLS key: --secret-file, or --tls-cert, "
                             "--tls-key and --tls-ca");
    if (o->payload && !o->snaplen_set)
        o->snaplen = ICPT_SNAPLEN_PAYLOAD;
    return 0;
}

int icpt_opts_parse(struct icpt_opts *o, int argc, char **argv, char *err, size_t errlen)
{
    unsigned long v;
    int c;
    int rc;

    if (errlen > 0)
        err[0] = '\0';
    /* optind = 0 makes glibc reinitialise completely, so the tests can parse many
     * command lines in one process; opterr = 0: the messages are ours. */
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, icpt_optstring, icpt_longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            if (icpt_opts_add_devices(o, optarg) != 0)
                return icpt_opts_err(err, errlen, "out of memory");
            break;
        case 'F':
            if (optarg[0] == '\0')
                return icpt_opts_err(err, errlen, "-F: the filter is empty");
            o->filter = optarg;
            break;
        case 'p':
            if (!icpt_parse_uint(optarg, 1, 65535, &v))
                return icpt_opts_err(err, errlen, "%s %s: not a port number (1-65535)",
                                     icpt_opt_name(c, argv), optarg);
            o->port = (uint16_t)v;
            break;
        case 'b':
            if (!addr_parse(&o->bind, optarg))
                return icpt_opts_err(err, errlen, "%s %s: not an IPv4 or IPv6 address",
                                     icpt_opt_name(c, argv), optarg);
            break;
        case 's':
            if (!icpt_parse_uint(optarg, ROUTE_TABLE_MIN, ROUTE_TABLE_MAX, &v))
                return icpt_opts_err(err, errlen, "%s %s: table size must be %u to %u",
                                     icpt_opt_name(c, argv), optarg, (unsigned)ROUTE_TABLE_MIN,
                                     (unsigned)ROUTE_TABLE_MAX);
            o->table_size = (uint32_t)v;
            break;
        case OPT_ALLOW:
            if ((rc = icpt_opts_add_allow(o, optarg, err, errlen)) != 0)
                return rc;
            break;
        case 'l':
            o->log_path = optarg;
            break;
        case 'P':
            o->pidfile = optarg;
            break;
        case 'd':
            o->daemon = true;
            break;
        case 'u':
            o->user = optarg;
            break;
        case OPT_CONFIG: /* read by conf.c before this parse */
            break;
        case 'v':
            o->action = ICPT_VERSION;
            return 0;
        case 'h':
            o->action = ICPT_HELP;
            return 0;
        case OPT_STATS_JSON: case OPT_METRICS:
            if (icpt_opts_counters(o, c, optarg, err, errlen) != 0)
                return -EINVAL;
            break;
        case OPT_SECRET_FILE:
            if (optarg[0] == '\0')
                return icpt_opts_err(err, errlen, "--secret-file needs a file name");
            o->secret_file = optarg;
            break;
        case 'D': {
            /* The original's container mode: "DOCKERED_IP-ORIG_IP". A target in a
             * container answers from its own address; tcpcopy knows it by the one it
             * sends to. Replies from the first are rewritten to come from the second. */
            char a[64], b[64];
            const char *dash = strchr(optarg, '-');
            if (dash == NULL || (size_t)(dash - optarg) >= sizeof(a) || strlen(dash + 1) >= sizeof(b))
                return icpt_opts_err(err, errlen,
                                     "-D '%s': expected CONTAINER_IP-TARGET_IP, e.g. "
                                     "-D 198.51.100.5-192.0.2.20", optarg);
            memcpy(a, optarg, (size_t)(dash - optarg));
            a[dash - optarg] = '\0';
            strcpy(b, dash + 1);
            if (!addr_parse(&o->docker_ip, a) || !addr_parse(&o->orig_ip, b) ||
                o->docker_ip.af != o->orig_ip.af)
                return icpt_opts_err(err, errlen,
                                     "-D '%s': two addresses of one family expected, "
                                     "CONTAINER_IP-TARGET_IP", optarg);
            o->docker = true;
            break;
        }
        case OPT_SNAPLEN:
            if (!icpt_parse_uint(optarg, ICPT_SNAPLEN_MIN, ICPT_SNAPLEN_MAX, &v))
                return icpt_opts_err(err, errlen, "--snaplen %s: must be %d to %d bytes", optarg,
                                     ICPT_SNAPLEN_MIN, ICPT_SNAPLEN_MAX);
            o->snaplen = (int)v;
            o->snaplen_set = true;
            break;
        case OPT_PAYLOAD:
            o->payload = true;
            break;
        case OPT_TLS_CERT:
            o->tls_cert = optarg;
            break;
        case OPT_TLS_KEY:
            o->tls_key = optarg;
            break;
        case OPT_TLS_CA:
            o->tls_ca = optarg;
            break;
        case OPT_TLS_REQUIRED:
            o->tls_required = true;
            break;
        case OPT_COALESCE:
            if (!icpt_parse_uint(optarg, 0, 100000, &v))
                return icpt_opts_err(err, errlen, "--coalesce %s: must be 0 to 100000 microseconds",
                                     optarg);
            o->coalesce_us = (uint32_t)v;
            break;
        case OPT_DEBUG:
            o->debug = true;
            break;
        case OPT_CHECK:
            o->check = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_CHECK_TARGET:
            o->check_targets = optarg;
            break;
        case OPT_CHECK_WAIT:
            if (!icpt_parse_uint(optarg, 0, 600, &v))
                return icpt_opts_err(err, errlen, "--check-wait %s: must be 0 to 600 seconds",
                                     optarg);
            o->check_wait_s = (uint32_t)v;
            break;
        case ':':
            if (optopt != 0)
                return icpt_opts_err(err, errlen, "%s needs a value (see intercept -h)",
                                     icpt_opt_name(optopt, argv));
            return icpt_opts_err(err, errlen, "%s needs a value (see intercept -h)",
                                 argv[optind - 1]);
        case '?':
        default:
            if (optopt != 0 && optopt < 256)
                return icpt_opts_err(err, errlen, "unknown option -%c (see intercept -h)", optopt);
            return icpt_opts_err(err, errlen, "unknown option %s (see intercept -h)",
                                 argv[optind - 1]);
        }
    }
    if (optind < argc)
        return icpt_opts_err(err, errlen, "unexpected argument '%s' (see intercept -h)",
                             argv[optind]);
    if ((o->json || o->check_targets != NULL || o->check_wait_s > 0) && !o->check)
        return icpt_opts_err(err, errlen, "--json, --check-target and --check-wait need --check");
    if (o->filter == NULL)
        return icpt_opts_err(err, errlen, "-F FILTER is required, e.g. -F 'tcp and src port 8080'");
    if ((rc = icpt_opts_tls(o, err, errlen)) != 0)
        return rc;
    return icpt_opts_split_devices(o, err, errlen);
}
