/*
 * test_cmp_pgsql: the PostgreSQL framers for the comparison, on exchanges recorded from
 * Debian's PostgreSQL 15 (tests/data/db/pgsql_*.txt: md5, SCRAM-SHA-256, SSLRequest answered
 * 'N') fed whole, byte by byte and in random pieces, and on built extended-protocol groups
 * (pgbench's -M extended and -M prepared), errors, a changed row and gaps; auto detection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_dbrec.h"

static void frame_rec(const char *name, unsigned mode, struct got_reqs *rq, struct got_units *u)
{
    frame_rec_as(CMP_PROTO_PGSQL, name, mode, rq, u);
}

static void test_recorded(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned nreq, nunit;
        const char *eps[4];
    } recs[] = {
        {"pgsql_md5.txt", 3, 2, {"(login)", "SELECT", "TERMINATE"}},
        {"pgsql_scram.txt", 3, 2, {"(login)", "SELECT", "TERMINATE"}},
        {"pgsql_ssl.txt", 4, 3, {"(ssl)", "(login)", "SELECT", "TERMINATE"}},
    };
    for (unsigned k = 0; k < 3; k++) {
        struct got_reqs rq0, rq;
        struct got_units u0, u;
        frame_rec(recs[k].name, 0, &rq0, &u0);
        assert_int_equal(rq0.n, recs[k].nreq);
        assert_int_equal(u0.n, recs[k].nunit);
        for (unsigned i = 0; i < rq0.n; i++)
            assert_string_equal(rq0.r[i].endpoint, recs[k].eps[i]);
        for (unsigned i = 0; i < u0.n; i++)
            assert_int_equal(u0.u[i].flags, 0);
        for (unsigned mode = 1; mode < 12; mode++) {
            frame_rec(recs[k].name, mode, &rq, &u);
            assert_int_equal(rq.n, rq0.n);
            assert_int_equal(u.n, u0.n);
            for (unsigned i = 0; i < rq.n; i++) {
                assert_string_equal(rq.r[i].endpoint, rq0.r[i].endpoint);
                assert_int_equal(rq.r[i].len, rq0.r[i].len);
                assert_int_equal(rq.r[i].flags, rq0.r[i].flags);
                assert_memory_equal(rq.r[i].text, rq0.r[i].text, rq0.r[i].textlen);
            }
            for (unsigned i = 0; i < u.n; i++)
                assert_int_equal(cmp_unit_hash(&u.u[i]), cmp_unit_hash(&u0.u[i]));
        }
    }
    struct got_reqs rq;
    struct got_units a, b, c;
    frame_rec("pgsql_ssl.txt", 0, &rq, &c);
    assert_true(rq.r[0].flags & CMP_R_ONEBYTE);
    assert_true(rq.r[1].flags & CMP_R_LOGIN);
    assert_int_equal(rq.r[2].textlen, 8);
    assert_memory_equal(rq.r[2].text, "SELECT 1", 8);
    assert_int_equal(c.u[0].body.len, 1); /* 'N' */
    /* two md5 logins with other salts, other backend keys: alike; SCRAM's is another */
    frame_rec("pgsql_md5.txt", 0, &rq, &a);
    frame_rec("pgsql_scram.txt", 0, &rq, &b);
    assert_int_equal(cmp_unit_hash(&a.u[0]), cmp_unit_hash(&c.u[1]));
    assert_int_not_equal(cmp_unit_hash(&a.u[0]), cmp_unit_hash(&b.u[0]));
    assert_int_equal(cmp_unit_hash(&a.u[1]), cmp_unit_hash(&b.u[1]));
    assert_int_equal(cmp_unit_hash(&a.u[1]), cmp_unit_hash(&c.u[2]));
}

static size_t msg(uint8_t *b, size_t off, char type, const void *pl, size_t n)
{
    uint32_t len = (uint32_t)n + 4;
    b[off] = (uint8_t)type;
    b[off + 1] = (uint8_t)(len >> 24), b[off + 2] = (uint8_t)(len >> 16);
    b[off + 3] = (uint8_t)(len >> 8), b[off + 4] = (uint8_t)len;
    memcpy(b + off + 5, pl, n);
    return off + 5 + n;
}

#define S(x) x, sizeof(x) - 1

/* pgbench's statements in the extended protocol (-M extended and -M prepared) */
static void test_extended(void **state)
{
    (void)state;
    uint8_t c[2048], s[2048];
    size_t cn = 0, sn = 0;
    /* unnamed: Parse, Bind, Describe, Execute, Sync */
    cn = msg(c, cn, 'P',
             S("\0UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2;\0\0\0"));
    cn = msg(c, cn, 'B', S("\0\0\0\0\0\0\0\0\0\0"));
    cn = msg(c, cn, 'D', S("P\0"));
    cn = msg(c, cn, 'E', S("\0\0\0\0\0"));
    cn = msg(c, cn, 'S', "", 0);
    /* prepared: Parse once (with Sync), then Bind by name */
    cn = msg(c, cn, 'P', S("P0_1\0SELECT abalance FROM pgbench_accounts WHERE aid = $1;\0\0\0"));
    cn = msg(c, cn, 'S', "", 0);
    cn = msg(c, cn, 'B', S("\0P0_1\0\0\0\0\0\0\0"));
    cn = msg(c, cn, 'E', S("\0\0\0\0\0"));
    cn = msg(c, cn, 'S', "", 0);
    cn = msg(c, cn, 'Q', S("BEGIN;\0"));
    cn = msg(c, cn, 'X', "", 0);
    for (unsigned mode = 0; mode < 6; mode++) {
        struct got_reqs rq;
        memset(&rq, 0, sizeof(rq));
        struct cmp_reqf *f = cmp_reqf_new(CMP_PROTO_PGSQL, got_req, &rq);
        struct db_rec *r = db_rec_load("pgsql_md5.txt");
        assert_non_null(r);
        feed_pieces(feed_req, f, r->b[0], r->len[0], mode); /* the StartupMessage */
        free(r);
        feed_pieces(feed_req, f, c, cn, mode);
        cmp_reqf_close(f);
        cmp_reqf_free(f);
        assert_int_equal(rq.n, 6);
        assert_string_equal(rq.r[1].endpoint, "UPDATE pgbench_accounts");
        assert_string_equal(rq.r[2].endpoint, "SELECT pgbench_accounts");
        assert_string_equal(rq.r[3].endpoint, "EXECUTE P0_1");
        assert_string_equal(rq.r[4].endpoint, "BEGIN");
        assert_string_equal(rq.r[5].endpoint, "TERMINATE");
        assert_true(rq.r[5].flags & CMP_R_NOREPLY);
        assert_memory_equal(rq.r[2].text, "SELECT abalance", 15);
        uint64_t sum = 0;
        for (unsigned i = 0; i < rq.n; i++)
            sum += rq.r[i].len;
        assert_int_equal(sum, cn + 0x36);
    }
    /* answers: ParseComplete BindComplete NoData CommandComplete ReadyForQuery; an error */
    sn = msg(s, sn, '1', "", 0);
    sn = msg(s, sn, '2', "", 0);
    sn = msg(s, sn, 'n', "", 0);
    sn = msg(s, sn, 'C', S("UPDATE 1\0"));
    sn = msg(s, sn, 'Z', S("T"));
    size_t first = sn;
    sn = msg(s, sn, 'E', S("SERROR\0C42P01\0Mrelation \"nope\" does not exist\0\0"));
    sn = msg(s, sn, 'Z', S("I"));
    sn = msg(s, sn, 'T', S("\0\1abalance\0\0\0\0\0\0\0\0\0\0\x17\0\4\xff\xff\xff\xff\0\0"));
    size_t row = sn;
    sn = msg(s, sn, 'D', S("\0\1\0\0\0\0040123"));
    sn = msg(s, sn, 'C', S("SELECT 1\0"));
    sn = msg(s, sn, 'Z', S("T"));
    struct got_reqs three;
    memset(&three, 0, sizeof(three));
    three.n = 3;
    for (unsigned i = 0; i < 3; i++)
        three.r[i].proto = CMP_PROTO_PGSQL;
    struct got_units g, h;
    run_ans(CMP_PROTO_PGSQL, NULL, &three, s, sn, 0, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.u[0].body.len, first);
    for (unsigned mode = 1; mode < 8; mode++) {
        run_ans(CMP_PROTO_PGSQL, NULL, &three, s, sn, mode, &h);
        assert_int_equal(h.n, 3);
        for (unsigned i = 0; i < 3; i++)
            assert_int_equal(cmp_unit_hash(&h.u[i]), cmp_unit_hash(&g.u[i]));
    }
    s[row + 5 + 9] = '9'; /* another balance: that answer only */
    run_ans(CMP_PROTO_PGSQL, NULL, &three, s, sn, 0, &h);
    assert_int_equal(cmp_unit_hash(&h.u[1]), cmp_unit_hash(&g.u[1]));
    assert_int_not_equal(cmp_unit_hash(&h.u[2]), cmp_unit_hash(&g.u[2]));
    /* a gap inside a DataRow keeps the framing; a length that cannot be stops it */
    struct got_units k;
    memset(&k, 0, sizeof(k));
    struct cmp_ansf *f = cmp_ansf_new(CMP_PROTO_PGSQL, NULL, got_unit, &k);
    cmp_ansf_feed(f, s, row + 7);
    assert_true(cmp_ansf_gap(f, 3));
    cmp_ansf_feed(f, s + row + 10, sn - row - 10);
    assert_int_equal(k.n, 3);
    assert_true(k.u[2].flags & CMP_U_INCOMPLETE);
    cmp_ansf_feed(f, (const uint8_t *)"Z\0\0\0\1", 5);
    assert_int_equal(k.n, 4);
    assert_true(k.u[3].flags & CMP_U_UNPARSABLE);
    cmp_ansf_free(f);
}

static void test_detect(void **state)
{
    (void)state;
    struct db_rec *r = db_rec_load("pgsql_ssl.txt");
    assert_non_null(r);
    assert_int_equal(cmp_proto_detect(r->b[0], r->len[0]), CMP_PROTO_PGSQL); /* SSLRequest */
    assert_int_equal(cmp_proto_detect(r->b[2], r->len[2]), CMP_PROTO_PGSQL); /* Startup */
    assert_int_equal(cmp_proto_detect(r->b[2], 5), CMP_PROTO_AUTO);
    r->b[2][5] = 2; /* protocol 2.0: no */
    assert_int_equal(cmp_proto_detect(r->b[2], r->len[2]), CMP_PROTO_RAW);
    free(r);
    enum cmp_proto p;
    assert_int_equal(cmp_proto_parse("postgresql", &p), 0);
    assert_int_equal(p, CMP_PROTO_PGSQL);
    assert_int_equal(cmp_proto_parse("postgres", &p), 0);
    assert_int_equal(p, CMP_PROTO_PGSQL);
    assert_string_equal(cmp_proto_name(CMP_PROTO_PGSQL), "postgresql");
    /* a client message of unknown type: unparsable, framing stops */
    uint8_t c[64];
    size_t cn = msg(c, 0, '?', "x", 1);
    struct got_reqs rq;
    memset(&rq, 0, sizeof(rq));
    struct cmp_reqf *f = cmp_reqf_new(CMP_PROTO_PGSQL, got_req, &rq);
    struct db_rec *m = db_rec_load("pgsql_md5.txt");
    assert_non_null(m);
    cmp_reqf_feed(f, m->b[0], m->len[0]);
    free(m);
    cmp_reqf_feed(f, c, cn);
    cmp_reqf_feed(f, c, cn);
    cmp_reqf_free(f);
    assert_int_equal(rq.n, 2);
    assert_true(rq.r[1].flags & CMP_R_UNPARSABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded),
        cmocka_unit_test(test_extended),
        cmocka_unit_test(test_detect),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
