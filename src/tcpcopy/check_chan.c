/*
 * check_chan: --check's look at each intercept. It uses the real channel client
 * (chanc.c: the same connect, HELLO and AUTH as a run), one server at a time so
 * that each gets its own verdict, and sorts a refusal by what chanc reports: the
 * TCP error, or the BYE reason code intercept sent (protocol.md section 8).
 */
#include <errno.h>
#include <string.h>

#include "auth.h"
#include "chanc.h"
#include "check_impl.h"
#include "loop.h"

static void on_reply(void *arg, const uint8_t *hdr, size_t len)
{
    check_probe_on_reply(arg, hdr, len);
}

static void on_state(void *arg, size_t up, size_t total)
{
    (void)arg, (void)up, (void)total;
}

/* The BYE code in chanc's "refused by intercept (code N): ..." message, or -1. */
static int bye_code(const char *err)
{
    const char *p = strstr(err, "refused by intercept (code ");
    unsigned code;
    if (p == NULL || sscanf(p, "refused by intercept (code %u)", &code) != 1)
        return -1;
    return (int)code;
}

void check_chan_refusal(struct check *k, const char *label, int r, const char *err)
{
    const struct tc_opts *o = k->o;
    int code = bye_code(err);
    struct finding *x;

    if (code == CHAN_BYE_REFUSED) {
        x = findings_add(k->f, FINDING_FAIL, "intercept_not_allowed", "%s", err);
        finding_fix(x, "on the assistant host, add this host's address to intercept's --allow "
                       "(e.g. --allow ADDR/32), then restart intercept");
    } else if (code == CHAN_BYE_AUTH || r == -EACCES) {
        x = findings_add(k->f, FINDING_FAIL, "intercept_secret", "%s", err);
        finding_fix(x, "give tcpcopy and intercept the same secret: the same --secret-file "
                       "content on both hosts (mode 600), or none on either");
    } else if (code >= 0) {
        x = findings_add(k->f, FINDING_FAIL, "intercept_refused", "%s", err);
        finding_fix(x, "see intercept's log on the assistant host for why it refused");
    } else if (r == -ECONNREFUSED) {
        x = findings_add(k->f, FINDING_FAIL, "intercept_not_running",
                         "%s: connection refused: nothing listens there", label);
        finding_fix(x, "start intercept on the assistant host (e.g. intercept -F 'tcp and src "
                       "port PORT'), or correct -s and -p (both sides use port %u by default)",
                    (unsigned)CHAN_PORT_DEFAULT);
    } else if (r == -EPROTONOSUPPORT) {
        x = findings_add(k->f, FINDING_FAIL, "intercept_version", "%s", err);
        finding_fix(x, "run the same release of tcpcopy and intercept");
    } else if (r == -ETIMEDOUT || r == -EHOSTUNREACH || r == -ENETUNREACH) {
        x = findings_add(k->f, FINDING_FAIL, "intercept_unreachable", "%s", err);
        finding_fix(x, "check that the assistant host is up and reachable from here (ip route "
                       "get ADDR), that no firewall drops its port, or raise --intercept-timeout "
                       "(%u ms)", o->intercept_timeout_ms);
    } else {
        x = findings_add(k->f, FINDING_FAIL, "intercept_error", "%s", err);
        finding_fix(x, "see intercept's log on the assistant host");
    }
}

static void check_one(struct check *k, size_t i, const struct auth_secret *secret)
{
    const struct server *s = &k->o->servers.s[i];
    struct chanc_cb cb = {.on_reply = on_reply, .on_state = on_state, .routes = NULL};
    char err[512], label[ADDR_STRLEN + 24], ab[ADDR_STRLEN + 8];

    snprintf(label, sizeof(label), "intercept %s", addr_port_str(&s->addr, s->port, ab, sizeof(ab)));
    k->one[i].n = 1;
    k->one[i].s[0] = *s;
    struct chanc_conf cc = {.servers = &k->one[i], .conns_per_server = 1, .out_max = 1U << 20,
                            .connect_timeout_ms = (int)k->o->intercept_timeout_ms,
                            .secret = secret, .use_tls = k->o->tls, .tls_cert = k->o->tls_cert,
                            .tls_key = k->o->tls_key, .tls_ca = k->o->tls_ca};
    struct chanc *c = chanc_new(k->loop, &cc, &cb, k);
    if (c == NULL) {
        findings_add(k->f, FINDING_FAIL, "intercept_error", "%s: %s", label, strerror(errno));
        return;
    }
    int r = chanc_connect_all(c, err, sizeof(err));
    if (r < 0) {
        check_chan_refusal(k, label, r, err);
        chanc_free(c);
        return;
    }
    findings_add(k->f, FINDING_OK, "intercept", "%s: connected, protocol version %u, %s", label,
                 (unsigned)CHAN_VERSION,
                 secret->len > 0 ? "the shared secret proved both ways" : "no secret on either side");
    k->chan[i] = c;
    k->nup++;
}

void check_intercepts(struct check *k)
{
    struct auth_secret secret = {.len = 0};
    char err[512];

    if (k->o->secret_file != NULL && auth_load_secret(&secret, k->o->secret_file, err, sizeof(err)) < 0) {
        struct finding *x = findings_add(k->f, FINDING_FAIL, "secret_file", "%s", err);
        finding_fix(x, "make the file readable by tcpcopy only (chmod 600), holding the secret");
        return;
    }
    k->loop = loop_new();
    if (k->loop == NULL) {
        findings_add(k->f, FINDING_FAIL, "intercept_error", "cannot create the event loop: %s",
                     strerror(errno));
        auth_secret_clear(&secret);
        return;
    }
    for (size_t i = 0; i < k->o->servers.n; i++)
        check_one(k, i, &secret);
    auth_secret_clear(&secret);
}

void check_intercepts_close(struct check *k)
{
    for (size_t i = 0; i < SERVERS_MAX; i++) {
        chanc_free(k->chan[i]);
        k->chan[i] = NULL;
    }
    loop_free(k->loop);
    k->loop = NULL;
}
