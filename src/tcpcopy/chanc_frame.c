/*
 * chanc_frame: what a frame from an intercept means, in each state of a
 * connection (doc/protocol.md, sections 4 to 9). The handshake is judged by
 * the shared hello module; this file words tcpcopy's messages and BYEs. It
 * does no I/O and never closes: it returns a verdict, and chanc_conn.c acts.
 */
#include <errno.h>
#include <stdio.h>

#include "chanc_impl.h"
#include "log.h"

/* A BYE during the handshake: the intercept refused us and says why. */
static int refused(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen)
{
    struct hello_bye b;
    (void)hello_bye_decode(&b, f);
    errbuf_set(err, errlen, "%s: refused by intercept (code %u): %s", cn->label, b.code, b.text);
    return -ECONNREFUSED;
}

/* A HELLO that hello_judge() refused: say why in our words and in a BYE. */
static int hello_refused(struct chanc_conn *cn, enum hello_verdict v, uint8_t type, char *err,
                         size_t errlen)
{
    const char *bye = "expected HELLO";
    int rc = -EPROTO;

    switch (v) {
    case HELLO_E_TYPE:
        errbuf_set(err, errlen, "%s: expected HELLO, got frame type %u", cn->label, type);
        break;
    case HELLO_E_VERSION:
        errbuf_set(err, errlen, "%s: protocol version %u, we speak %u", cn->label, cn->peer.version,
                 (unsigned)CHAN_VERSION);
        bye = "unsupported protocol version";
        rc = -EPROTONOSUPPORT;
        break;
    case HELLO_E_ROLE:
        errbuf_set(err, errlen, "%s: peer is not an intercept (role %u)", cn->label, cn->peer.role);
        break;
    case HELLO_E_AUTH_MISSING:
        errbuf_set(err, errlen,
                 "%s: intercept does not authenticate, but tcpcopy has --secret-file: start "
                 "intercept with the same --secret-file",
                 cn->label);
        bye = "tcpcopy requires authentication: start intercept with --secret-file";
        rc = -EACCES;
        break;
    case HELLO_E_AUTH_UNWANTED:
        errbuf_set(err, errlen,
                 "%s: intercept requires authentication: start tcpcopy with --secret-file "
                 "(the same secret as intercept's)",
                 cn->label);
        bye = "tcpcopy has no --secret-file";
        rc = -EACCES;
        break;
    default:
        errbuf_set(err, errlen, "%s: bad HELLO: %s", cn->label, hello_verdict_str(v));
        break;
    }
    (void)hello_bye_put(&cn->out, hello_verdict_bye(v), bye);
    return rc;
}

/* We asked for reply payload and the intercept does not offer it: say what to fix. */
static int no_payload(struct chanc_conn *cn, char *err, size_t errlen)
{
    if (cn->tls == NULL && !addr_is_loopback(&cn->srv->addr))
        errbuf_set(err, errlen,
                   "%s: reply payload is not sent over a plain channel to another host: start "
                   "tcpcopy with --tls and both programs with the same --secret-file (or "
                   "--tls-cert, --tls-key, --tls-ca)",
                   cn->label);
    else
        errbuf_set(err, errlen,
                   "%s: intercept does not offer reply payload: start it with --payload (a "
                   "version that has it)",
                   cn->label);
    (void)hello_bye_put(&cn->out, CHAN_BYE_PROTOCOL, "tcpcopy needs reply payload");
    return -ENOPROTOOPT;
}

/* The intercept's HELLO. With a secret, our proof is queued and its awaited. */
static int on_hello(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen)
{
    struct chanc *c = cn->c;
    if (f->type == CHAN_BYE)
        return refused(cn, f, err, errlen);
    enum hello_verdict v = hello_judge(&cn->peer, f, CHAN_ROLE_INTERCEPT, c->secret.len > 0);
    if (v != HELLO_OK)
        return hello_refused(cn, v, f->type, err, errlen);
    if ((c->route_flags & CHAN_ROUTE_F_PAYLOAD) && !(cn->peer.features & CHAN_FEAT_PAYLOAD))
        return no_payload(cn, err, errlen);
    if (c->secret.len == 0)
        return 1;
    if (hello_auth_send(&cn->out, &c->secret, CHAN_ROLE_TCPCOPY, cn->nonce, cn->peer.nonce) != 0) {
        errbuf_set(err, errlen, "%s: cannot compute our AUTH proof", cn->label);
        return -EIO;
    }
    cn->state = CONN_AUTH;
    return 0;
}

/* The intercept's AUTH: it must prove our secret. */
static int on_auth(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen)
{
    struct chanc *c = cn->c;
    if (f->type == CHAN_BYE)
        return refused(cn, f, err, errlen);
    enum hello_verdict v =
        hello_auth_judge(f, &c->secret, CHAN_ROLE_INTERCEPT, cn->peer.nonce, cn->nonce);
    if (v == HELLO_OK)
        return 1;
    if (v == HELLO_E_PROOF)
        errbuf_set(err, errlen,
                 "%s: bad secret: intercept's proof does not match our --secret-file (the two "
                 "secrets differ)",
                 cn->label);
    else
        errbuf_set(err, errlen, "%s: no authentication: expected AUTH, got frame type %u", cn->label,
                 f->type);
    (void)hello_bye_put(&cn->out, CHAN_BYE_AUTH,
                        v == HELLO_E_PROOF ? "bad secret" : "no authentication");
    return -EACCES;
}

int chanc_frame_handshake(struct chanc_conn *cn, const struct chan_frame *f, char *err,
                          size_t errlen)
{
    int r = cn->state == CONN_AUTH ? on_auth(cn, f, err, errlen) : on_hello(cn, f, err, errlen);
    if (r == -EACCES)
        cn->c->st.auth_failed++;
    return r;
}

/* A REPLY frame: every record is validated before any is delivered, so a frame
 * is accepted or refused as a unit (doc/protocol.md, section 6). */
static int on_reply(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen)
{
    struct chanc *c = cn->c;
    struct chan_iter it;
    const uint8_t *rec;
    size_t rlen;
    int r;

    chan_iter_init(&it, f);
    while ((r = chan_reply_next(&it, &rec, &rlen)) > 0)
        ;
    if (r < 0) {
        errbuf_set(err, errlen, "%s: malformed REPLY frame (%s)", cn->label, chan_err_str(-r));
        (void)hello_bye_put(&cn->out, CHAN_BYE_PROTOCOL, chan_err_str(-r));
        return -EPROTO;
    }
    chan_iter_init(&it, f);
    while (chan_reply_next(&it, &rec, &rlen) > 0) {
        c->st.replies_in++;
        if (c->cb.on_reply != NULL)
            c->cb.on_reply(c->arg, rec, rlen);
    }
    return 0;
}

static int on_heartbeat(struct chanc_conn *cn, const struct chan_frame *f, char *err,
                        size_t errlen)
{
    struct chan_hb h;
    if (chan_heartbeat_decode(&h, f) != 0) {
        errbuf_set(err, errlen, "%s: malformed heartbeat", cn->label);
        (void)hello_bye_put(&cn->out, CHAN_BYE_PROTOCOL, "malformed heartbeat");
        return -EPROTO;
    }
    if (cn->peer.features & CHAN_FEAT_CLOCK) {
        chanlag_on_heartbeat(&cn->lag, &h, loop_realtime_us());
        cn->c->st.clock_offset_us = cn->lag.offset_us;
    }
    return 0;
}

/* The capture time of the replies that follow: one lag sample (chanlag.h). */
static int on_stamp(struct chanc_conn *cn, const struct chan_frame *f)
{
    struct chanc_stats *st = &cn->c->st;
    uint64_t ts, lag;
    /* The replies that follow reach the engine at the loop's time, and --compare places the
     * target's answer at that time minus this lag: refresh it with the lag's own clock, or a
     * long iteration before this frame (a capture batch) puts answers before their requests. */
    loop_update_time(cn->c->loop);
    if (chan_stamp_decode(&ts, f) != 0 ||
        !chanlag_on_stamp(&cn->lag, ts, loop_realtime_us(), &lag))
        return 0;
    st->lag_samples++;
    st->lag_sum_us += lag;
    if (lag > st->lag_max_us)
        st->lag_max_us = lag;
    st->lag_recent_us = cn->lag.lag_ewma_us;
    st->lag_last_us = lag; /* the replies that follow: --compare's target latency */
    return 0;
}

int chanc_frame_up(struct chanc_conn *cn, const struct chan_frame *f, char *err, size_t errlen)
{
    struct hello_bye b;
    switch (f->type) {
    case CHAN_REPLY:
        return on_reply(cn, f, err, errlen);
    case CHAN_HEARTBEAT:
        return on_heartbeat(cn, f, err, errlen); /* its bytes: a sign of life already */
    case CHAN_STAMP:
        return on_stamp(cn, f);
    case CHAN_BYE:
        (void)hello_bye_decode(&b, f);
        errbuf_set(err, errlen, "%s: closed by intercept (code %u): %s", cn->label, b.code, b.text);
        return -ECONNREFUSED;
    default:
        /* HELLO or AUTH twice; routes travel the other way. */
        errbuf_set(err, errlen, "%s: unexpected frame type %u from intercept", cn->label, f->type);
        (void)hello_bye_put(&cn->out, CHAN_BYE_PROTOCOL, "unexpected frame type");
        return -EPROTO;
    }
}
