/*
 * cmp_dbrec: helpers shared by test_cmp_mysql and test_cmp_pgsql: a recorded database
 * exchange (db_rec.h) split into the client's and the server's bytes, and framed.
 */
#ifndef TC_TEST_CMP_DBREC_H
#define TC_TEST_CMP_DBREC_H

#include "cmp_feed.h"
#include "db_rec.h"

struct dbx {
    uint8_t c[16384], s[16384];
    size_t cn, sn;
};

static inline void rec_split(const char *name, struct dbx *x)
{
    struct db_rec *r = db_rec_load(name);
    assert_non_null(r);
    x->cn = x->sn = 0;
    for (int i = 0; i < r->n; i++) {
        uint8_t *dst = r->dir[i] == 'C' ? x->c + x->cn : x->s + x->sn;
        memcpy(dst, r->b[i], r->len[i]);
        *(r->dir[i] == 'C' ? &x->cn : &x->sn) += r->len[i];
    }
    free(r);
}

static inline void frame_reqs(enum cmp_proto p, const uint8_t *b, size_t n, unsigned mode,
                              struct got_reqs *g)
{
    memset(g, 0, sizeof(*g));
    struct cmp_reqf *f = cmp_reqf_new(p, got_req, g);
    feed_pieces(feed_req, f, b, n, mode);
    cmp_reqf_close(f);
    cmp_reqf_free(f);
}

/* The recording's requests and answers, framed as protocol p, fed as mode says. */
static inline void frame_rec_as(enum cmp_proto p, const char *name, unsigned mode,
                                struct got_reqs *rq, struct got_units *u)
{
    static struct dbx x;
    rec_split(name, &x);
    frame_reqs(p, x.c, x.cn, mode, rq);
    run_ans(p, NULL, rq, x.s, x.sn, mode, u);
}

#endif
