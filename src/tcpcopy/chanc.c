/*
 * chanc: tcpcopy's channel client as a whole (doc/protocol.md): the
 * connections to every intercept (-s) and of each (-C), startup, flushing and
 * counters. One connection's state machine is chanc_conn.c, what a frame means
 * chanc_frame.c, which connection carries a route chanc_route.c (chanc_impl.h
 * says who calls whom).
 *
 * Startup (chanc_connect_all) runs the same non-blocking state machine as a
 * reconnect, in the caller's loop, until the connections are up or one
 * failed: one implementation of the handshake, whose failure at startup is a
 * clear error naming the server.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "chanc_impl.h"
#include "log.h"

struct chanc *chanc_new(struct loop *l, const struct chanc_conf *conf, const struct chanc_cb *cb,
                        void *arg)
{
    if (l == NULL || conf == NULL || conf->servers == NULL || conf->servers->n == 0 ||
        conf->servers->n > SERVERS_MAX || conf->conns_per_server < 1 ||
        conf->conns_per_server > 11) {
        errno = EINVAL;
        return NULL;
    }
    struct chanc *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = l;
    if (getrandom(&c->instance, sizeof(c->instance), GRND_NONBLOCK) != (ssize_t)sizeof(c->instance))
        c->instance = (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL);
    c->instance |= 1; /* never 0, which means "not given" */
    c->servers = *conf->servers;
    c->per = conf->conns_per_server;
    c->out_max = conf->out_max ? conf->out_max : CHANC_OUT_DEFAULT;
    c->timeout_ms =
        conf->connect_timeout_ms > 0 ? conf->connect_timeout_ms : CHANC_TIMEOUT_DEFAULT_MS;
    c->hb_ms = conf->heartbeat_ms > 0 ? (unsigned)conf->heartbeat_ms : CHANC_HEARTBEAT_MS;
    c->dead_ms = conf->dead_after_ms > 0 ? (unsigned)conf->dead_after_ms : CHANC_DEAD_AFTER_MS;
    if (conf->secret != NULL && conf->secret->len > 0) {
        memcpy(c->secret.key, conf->secret->key, conf->secret->len);
        c->secret.len = conf->secret->len;
    }
    if (conf->use_tls) {
        struct tls_conf tc = {.secret = &c->secret, .cert = conf->tls_cert, .key = conf->tls_key,
                              .ca = conf->tls_ca};
        c->tls = tls_ctx_new(&tc, false, c->tls_err, sizeof(c->tls_err));
        if (c->tls == NULL && c->tls_err[0] == '\0')
            snprintf(c->tls_err, sizeof(c->tls_err), "TLS setup failed");
    }
    c->route_flags = conf->want_payload ? CHAN_ROUTE_F_PAYLOAD : 0;
    if (cb != NULL)
        c->cb = *cb;
    c->arg = arg;
    c->nconns = c->servers.n * (size_t)c->per;
    /* calloc: the embedded timers must start unarmed. */
    c->conns = calloc(c->nconns, sizeof(*c->conns));
    if (c->conns == NULL) {
        free(c);
        errno = ENOMEM;
        return NULL;
    }
    for (size_t i = 0; i < c->nconns; i++) {
        struct chanc_conn *cn = &c->conns[i];
        char ap[ADDR_STRLEN];
        cn->c = c;
        cn->srv = &c->servers.s[i / (size_t)c->per];
        cn->fd = -1;
        cn->state = CONN_DOWN;
        cn->backoff_ms = CHANC_BACKOFF_MIN_MS;
        addr_port_str(&cn->srv->addr, cn->srv->port, ap, sizeof(ap));
        if (c->per > 1)
            snprintf(cn->label, sizeof(cn->label), "intercept %s#%u", ap,
                     (unsigned)(i % (size_t)c->per) + 1);
        else
            snprintf(cn->label, sizeof(cn->label), "intercept %s", ap);
        buf_init(&cn->in, CHANC_IN_MAX);
        chan_out_init(&cn->out, c->out_max);
    }
    return c;
}

/* Set the caller's before-sleep hook aside while the connections come up: a
 * hook that stops the loop would stop startup too. */
static int startup_run(struct chanc *c)
{
    loop_hook_cb *hook;
    void *hook_arg;
    int r = 0;
    loop_get_before_sleep(c->loop, &hook, &hook_arg);
    loop_set_before_sleep(c->loop, NULL, NULL);
    /* Every connection has its deadline armed: the loop always settles. */
    while (r == 0 && !chanc_conn_startup_settled(c))
        r = loop_run(c->loop);
    loop_set_before_sleep(c->loop, hook, hook_arg);
    return r;
}

int chanc_connect_all(struct chanc *c, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    if (c->tls_err[0] != '\0') {
        errbuf_set(err, errlen, "channel TLS: %s", c->tls_err);
        return -EINVAL;
    }
    c->starting = true;
    c->start_idx = c->nconns;
    c->start_err[0] = '\0';
    for (size_t i = 0; i < c->nconns; i++)
        c->conns[i].start_rc = 0;
    for (size_t i = 0; i < c->nconns && !chanc_conn_startup_settled(c); i++)
        if (c->conns[i].state == CONN_DOWN)
            chanc_conn_open(&c->conns[i]); /* up, or already reconnecting: left as is */
    int r = startup_run(c);
    c->starting = false;
    if (r < 0) {
        errbuf_set(err, errlen, "event loop: %s", strerror(-r));
        return r;
    }
    if (c->start_idx == c->nconns)
        return 0;
    errbuf_set(err, errlen, "%s", c->start_err);
    /* Leave the rest to the loop: a caller that keeps running gets every
     * connection retried in the background. */
    for (size_t i = 0; i < c->nconns; i++)
        chanc_conn_schedule(&c->conns[i]);
    return c->conns[c->start_idx].start_rc;
}

void chanc_flush(struct chanc *c)
{
    for (size_t i = 0; i < c->nconns; i++) {
        struct chanc_conn *cn = &c->conns[i];
        /* With LOOP_WRITE on, the socket is full: the write callback flushes
         * when it drains, and meanwhile new records keep batching. */
        if (cn->state == CONN_UP && !cn->want_write && buf_len(&cn->out.buf) > 0)
            chanc_conn_flush(cn);
    }
}

size_t chanc_up(const struct chanc *c)
{
    return c->up;
}

const struct chanc_stats *chanc_stats(const struct chanc *c)
{
    return &c->st;
}

void chanc_free(struct chanc *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nconns; i++) {
        struct chanc_conn *cn = &c->conns[i];
        loop_timer_cancel(c->loop, &cn->timer);
        if (cn->state == CONN_UP)
            chanc_conn_bye(cn, CHAN_BYE_NORMAL, "tcpcopy exiting");
        chanc_conn_close_fd(cn);
        buf_free(&cn->in);
        chan_out_free(&cn->out);
    }
    free(c->conns);
    tls_ctx_free(c->tls);
    free(c);
}
