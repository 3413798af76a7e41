/*
 * chanc_route: which connection carries a route, and re-registration.
 *
 * Every route goes to every intercept (any of them may see the reply). With
 * -C N, a fixed hash of the route's tuple picks one of the N connections to an
 * intercept, so that its ADD and DEL travel the same connection and cannot
 * overtake each other (doc/protocol.md, section 11). A route whose connection
 * is not up, or does not fit in its output bound, is dropped and counted.
 *
 * When a connection comes (back) up, the intercept may have lost that
 * connection's routes (it restarted, or freed them when the connection
 * dropped): chanc_rereg() asks the caller for every live route (cb.routes)
 * and queues those the hash gives to this connection.
 */
#include <string.h>

#include "chanc_impl.h"
#include "log.h"

/* Fixed, so that a route's ADD and DEL always pick the same connection. Clients
 * could pick ports that skew the spread, but that only unbalances our own
 * connections to one intercept; it cannot grow any table. */
#define CHANC_HASH_SEED 0x7463636861636e31ULL

static struct chanc_conn *route_conn(struct chanc *c, size_t server, const struct chan_route *r)
{
    size_t k = 0;
    if (c->per > 1) {
        struct tuple t;
        memset(&t, 0, sizeof(t));
        t.src = r->client;
        t.sport = r->cport;
        t.dst = r->target;
        t.dport = r->tport;
        k = (size_t)(tuple_hash(&t, CHANC_HASH_SEED) % (uint64_t)c->per);
    }
    return &c->conns[server * (size_t)c->per + k];
}

static void route_put(struct chanc *c, uint8_t type, const struct chan_route *r)
{
    struct chan_route fr;
    if (c->route_flags != 0 && type == CHAN_ROUTE_ADD) {
        fr = *r;
        fr.flags |= c->route_flags;
        r = &fr;
    }
    for (size_t s = 0; s < c->servers.n; s++) {
        struct chanc_conn *cn = route_conn(c, s, r);
        if (cn->state != CONN_UP || chan_put_route(&cn->out, type, r) < 0) {
            c->st.out_dropped++;
            continue;
        }
        if (type == CHAN_ROUTE_ADD)
            c->st.routes_added++;
        else
            c->st.routes_deleted++;
    }
}

void chanc_route_add(struct chanc *c, const struct chan_route *r)
{
    route_put(c, CHAN_ROUTE_ADD, r);
}

void chanc_route_del(struct chanc *c, const struct chan_route *r)
{
    route_put(c, CHAN_ROUTE_DEL, r);
}

/* One re-registration: the connection that came up and what became of its routes. */
struct rereg {
    struct chanc_conn *cn;
    size_t server;
    size_t sent, dropped;
};

static void rereg_one(void *arg, const struct chan_route *r)
{
    struct rereg *rr = arg;
    struct chanc *c = rr->cn->c;
    /* The server's other connections have their routes already, or get them
     * when they come up themselves: nothing is sent twice. */
    if (route_conn(c, rr->server, r) != rr->cn)
        return;
    struct chan_route fr = *r;
    fr.flags |= c->route_flags;
    if (chan_put_route(&rr->cn->out, CHAN_ROUTE_ADD, &fr) < 0) {
        c->st.out_dropped++;
        rr->dropped++;
        return;
    }
    c->st.routes_added++;
    c->st.reregistered++;
    rr->sent++;
}

void chanc_rereg(struct chanc_conn *cn)
{
    struct chanc *c = cn->c;
    if (c->cb.routes == NULL)
        return;
    struct rereg rr = {.cn = cn, .server = (size_t)(cn - c->conns) / (size_t)c->per};
    size_t live = c->cb.routes(c->arg, rereg_one, &rr);
    if (rr.dropped > 0)
        log_warnx("%s: re-registered %zu of %zu live sessions; %zu did not fit in the output "
                  "queue (their replies are lost)",
                  cn->label, rr.sent, live, rr.dropped);
    else if (live > 0 || !c->starting)
        log_info("%s: re-registered %zu live sessions on a connection that came up (%zu live "
                 "in all)",
                 cn->label, rr.sent, live);
}
