/*
 * eng_fx.h: an engine driven below its dispatch, for the unit tests of its modules
 * (test_conn, test_restart, test_admit). The engine's packets are parsed back as they are
 * sent (f->p[0..n)); routes are counted. efx_alloc, tweak f->conf, efx_start; or efx_new.
 */
#ifndef TC_TEST_ENG_FX_H
#define TC_TEST_ENG_FX_H

#include <stdlib.h>

#include "tcp_impl.h"

#define EFX_MAXOUT 256

struct efx {
    uint8_t buf[EFX_MAXOUT][1600];
    struct pkt p[EFX_MAXOUT];
    size_t n;
    size_t routes_added, routes_deleted;
    struct xfer_map xfer;
    struct eng_conf conf;
    struct eng *e;
};

static uint8_t *efx_buf(void *arg, size_t *cap)
{
    struct efx *f = arg;
    assert_true(f->n < EFX_MAXOUT);
    *cap = sizeof(f->buf[0]);
    return f->buf[f->n];
}

static void efx_send(void *arg, size_t len)
{
    struct efx *f = arg;
    assert_int_equal(pkt_parse_ip(&f->p[f->n], f->buf[f->n], len, 0), PKT_OK);
    f->n++;
}

static void efx_route(void *arg, bool add, const struct chan_route *r)
{
    struct efx *f = arg;
    (void)r;
    if (add)
        f->routes_added++;
    else
        f->routes_deleted++;
}

/* -x 80-192.0.2.20:8080 and the engine's defaults; no engine yet. */
static struct efx *efx_alloc(void)
{
    struct efx *f = calloc(1, sizeof(*f));
    char err[128];
    assert_non_null(f);
    assert_int_equal(xfer_parse(&f->xfer, "80-192.0.2.20:8080", err, sizeof(err)), 0);
    eng_conf_defaults(&f->conf);
    f->conf.xfer = &f->xfer;
    return f;
}

static void efx_start(struct efx *f)
{
    struct eng_io io = {.arg = f, .pkt_buf = efx_buf, .pkt_send = efx_send, .route = efx_route};
    f->e = eng_new(&f->conf, &io, 1000000, 5);
    assert_non_null(f->e);
}

static inline struct efx *efx_new(void)
{
    struct efx *f = efx_alloc();
    efx_start(f);
    return f;
}

static inline void efx_free(struct efx *f)
{
    eng_free(f->e);
    free(f);
}

/* A packet from client src:sport to the online server 192.0.2.10:80. */
static inline struct pkt efx_client(const char *src, uint16_t sport)
{
    struct pkt p;
    memset(&p, 0, sizeof(p));
    assert_true(addr_parse(&p.t.src, src));
    assert_true(addr_parse(&p.t.dst, "192.0.2.10"));
    p.t.sport = sport;
    p.t.dport = 80;
    p.win = 1000;
    return p;
}

#endif
