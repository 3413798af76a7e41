/*
 * cmp_feed: helpers shared by the cmp unit tests: feed a framer whole, byte by byte or in
 * random pieces, and collect what it passes on.
 */
#ifndef TC_TEST_CMP_FEED_H
#define TC_TEST_CMP_FEED_H

#include <stdlib.h>
#include <string.h>

#include "cmp_frame.h"

#define FEED_MAX 64

struct got_reqs {
    unsigned n;
    struct cmp_req r[FEED_MAX];
};

struct got_units {
    unsigned n;
    struct cmp_unit u[FEED_MAX];
};

static inline void got_req(void *arg, const struct cmp_req *r)
{
    struct got_reqs *g = arg;
    if (g->n < FEED_MAX)
        g->r[g->n] = *r;
    g->n++;
}

static inline void got_unit(void *arg, const struct cmp_unit *u)
{
    struct got_units *g = arg;
    if (g->n < FEED_MAX)
        g->u[g->n] = *u;
    g->n++;
}

/* mode 0: whole; 1: byte by byte; 2+: random pieces of 1..64 bytes, seeded by mode. */
static inline void feed_pieces(void (*feed)(void *, const uint8_t *, size_t), void *f,
                               const void *buf, size_t n, unsigned mode)
{
    const uint8_t *p = buf;
    unsigned seed = mode;
    while (n > 0) {
        size_t k = mode == 0 ? n : mode == 1 ? 1 : 1 + (size_t)(rand_r(&seed) % 64);
        if (k > n)
            k = n;
        feed(f, p, k);
        p += k, n -= k;
    }
}

static inline void feed_req(void *f, const uint8_t *p, size_t n)
{
    cmp_reqf_feed(f, p, n);
}

static inline void feed_ans(void *f, const uint8_t *p, size_t n)
{
    cmp_ansf_feed(f, p, n);
}

/* Frame requests; g gets them. */
static inline void run_reqs(enum cmp_proto proto, const char *text, unsigned mode,
                            struct got_reqs *g)
{
    memset(g, 0, sizeof(*g));
    struct cmp_reqf *f = cmp_reqf_new(proto, got_req, g);
    feed_pieces(feed_req, f, text, strlen(text), mode);
    cmp_reqf_close(f);
    cmp_reqf_free(f);
}

/* Frame answers after the given requests were expected; close at the end. */
static inline void run_ans(enum cmp_proto proto, const struct cmp_rules *rules,
                           const struct got_reqs *reqs, const void *buf, size_t n,
                           unsigned mode, struct got_units *g)
{
    memset(g, 0, sizeof(*g));
    struct cmp_ansf *f = cmp_ansf_new(proto, rules, got_unit, g);
    for (unsigned i = 0; reqs && i < reqs->n; i++)
        cmp_ansf_expect(f, &reqs->r[i]);
    feed_pieces(feed_ans, f, buf, n, mode);
    cmp_ansf_close(f);
    cmp_ansf_free(f);
}

#endif
