/*
 * test_cmp_mysql: the MySQL framers for the comparison, on exchanges recorded from Debian's
 * MariaDB 10.11 (tests/data/db/mysql_*.txt: native login, auth switch, COM_CHANGE_USER and
 * prepared statements) fed whole, byte by byte and in random pieces, and on built result
 * sets (CLIENT_DEPRECATE_EOF or not, several results, errors, a changed row); the SQL
 * endpoint names; auto detection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_dbrec.h"
#include "db_mysql.h"

static void frame_rec(const char *name, unsigned mode, struct got_reqs *rq, struct got_units *u)
{
    frame_rec_as(CMP_PROTO_MYSQL, name, mode, rq, u);
}

static void test_recorded(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned nreq, nunit;
        const char *eps[8];
    } recs[] = {
        {"mysql_native.txt", 3, 3, {"(login)", "SELECT", "QUIT"}},
        {"mysql_switch.txt", 3, 3, {"(login)", "SELECT", "QUIT"}},
        {"mysql_stmt.txt",
         7,
         6,
         {"(login)", "CHANGE_USER", "PREPARE SELECT", "STMT_EXECUTE", "STMT_RESET", "STMT_CLOSE",
          "QUIT"}},
    };
    for (unsigned k = 0; k < 3; k++) {
        struct got_reqs rq0, rq;
        struct got_units u0, u;
        frame_rec(recs[k].name, 0, &rq0, &u0);
        assert_int_equal(rq0.n, recs[k].nreq);
        assert_int_equal(u0.n, recs[k].nunit); /* the greeting, then one per answered request */
        unsigned answered = 0;
        for (unsigned i = 0; i < rq0.n; i++) {
            assert_string_equal(rq0.r[i].endpoint, recs[k].eps[i]);
            answered += !(rq0.r[i].flags & CMP_R_NOREPLY);
        }
        assert_int_equal(answered + 1, u0.n);
        assert_true(rq0.r[0].flags & CMP_R_LOGIN);
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
            }
            for (unsigned i = 0; i < u.n; i++)
                assert_int_equal(cmp_unit_hash(&u.u[i]), cmp_unit_hash(&u0.u[i]));
        }
    }
    /* the statement's text is the excerpt; requests' lengths add up to the client's bytes */
    struct got_reqs rq;
    struct got_units u;
    frame_rec("mysql_stmt.txt", 0, &rq, &u);
    assert_memory_equal(rq.r[2].text, "SELECT ? + 1", rq.r[2].textlen);
    assert_int_equal(CMP_R_CMD(rq.r[3].flags), MYSQL_COM_STMT_EXECUTE);
    static struct dbx x;
    rec_split("mysql_stmt.txt", &x);
    uint64_t sum = 0;
    for (unsigned i = 0; i < rq.n; i++)
        sum += rq.r[i].len;
    assert_int_equal(sum, x.cn);
}

/* Greetings and logins differ in scrambles and connection ids: not in their units. */
static void test_login_noise(void **state)
{
    (void)state;
    struct got_reqs rq;
    struct got_units a, b, c;
    frame_rec("mysql_native.txt", 0, &rq, &a);
    frame_rec("mysql_switch.txt", 0, &rq, &b);
    frame_rec("mysql_stmt.txt", 0, &rq, &c);
    assert_int_equal(cmp_unit_hash(&a.u[0]), cmp_unit_hash(&b.u[0]));
    assert_int_equal(cmp_unit_hash(&a.u[0]), cmp_unit_hash(&c.u[0]));
    /* an auth switch is a difference (and so is the session state of a login with a
     * database: native's OK says "schema sbtest", stmt's says nothing) */
    assert_int_not_equal(cmp_unit_hash(&a.u[1]), cmp_unit_hash(&c.u[1]));
    assert_int_not_equal(cmp_unit_hash(&a.u[1]), cmp_unit_hash(&b.u[1]));
    /* SELECT 1 and SELECT 2 answer differently */
    assert_int_not_equal(cmp_unit_hash(&a.u[2]), cmp_unit_hash(&b.u[2]));
}

static size_t put(uint8_t *b, size_t off, uint8_t seq, const void *pl, size_t n)
{
    b[off] = (uint8_t)n, b[off + 1] = (uint8_t)(n >> 8), b[off + 2] = (uint8_t)(n >> 16);
    b[off + 3] = seq;
    memcpy(b + off + 4, pl, n);
    return off + 4 + n;
}

static const uint8_t coldef[] = "\x03"
                                "def"
                                "\x06"
                                "sbtest"
                                "\x07"
                                "sbtest1"
                                "\x07"
                                "sbtest1"
                                "\x01"
                                "c"
                                "\x01"
                                "c"
                                "\x0c\x08\x00\x78\x00\x00\x00\xfe\x00\x00\x00\x00\x00";
static const uint8_t eof[] = {0xfe, 0, 0, 0x02, 0};
static const uint8_t eof_more[] = {0xfe, 0, 0, 0x0a, 0};
static const uint8_t ok[] = {0, 0, 0, 0x02, 0, 0, 0};
static const uint8_t ok_more[] = {0, 1, 0, 0x0a, 0, 0, 0};
static const uint8_t ok_fe[] = {0xfe, 0, 0, 0x02, 0, 0, 0};
static const uint8_t err[] = "\xff\x7a\x04#42S02Table 'sbtest.nope' doesn't exist";

/* A result set of two columns and rows "r<i>" (row 'bad' changed to 'x'). */
static size_t result_set(uint8_t *b, size_t off, bool eofless, int bad, const uint8_t *last,
                         size_t lastn)
{
    uint8_t seq = 1;
    off = put(b, off, seq++, "\x02", 1);
    off = put(b, off, seq++, coldef, sizeof(coldef) - 1);
    off = put(b, off, seq++, coldef, sizeof(coldef) - 1);
    if (!eofless)
        off = put(b, off, seq++, eof, sizeof(eof));
    for (int i = 0; i < 3; i++) {
        uint8_t row[] = {2, 'r', (uint8_t)('0' + i), 0xfb};
        if (i == bad)
            row[2] = 'x';
        off = put(b, off, seq++, row, sizeof(row));
    }
    return put(b, off, seq, last, lastn);
}

static void ans_units(const uint8_t *b, size_t n, uint32_t flags, unsigned nreq, unsigned mode,
                      struct got_units *g)
{
    struct got_reqs rq;
    memset(&rq, 0, sizeof(rq));
    rq.n = nreq;
    for (unsigned i = 0; i < nreq; i++) {
        rq.r[i].proto = CMP_PROTO_MYSQL;
        rq.r[i].flags = flags;
    }
    /* a greeting-less stream: answers after the login */
    uint8_t all[4096];
    size_t k = put(all, 0, 0,
                   "\x0a"
                   "5.5.5-x\0"
                   "\x01\0\0\0"
                   "abcdefgh\0"
                   "\xff\xf7\x08\x02\0\xff\x81\x15"
                   "\0\0\0\0\0\0\0\0\0\0"
                   "ijklmnopqrst\0",
                   47);
    k = put(all, k, 2, ok, sizeof(ok));
    memcpy(all + k, b, n);
    struct got_reqs lq = rq;
    memmove(&lq.r[1], &lq.r[0], sizeof(lq.r[0]) * nreq);
    lq.r[0].flags = CMP_R_LOGIN | ((flags & CMP_R_EOFLESS) ? CMP_R_EOFLESS : 0);
    lq.n = nreq + 1;
    run_ans(CMP_PROTO_MYSQL, NULL, &lq, all, k + n, mode, g);
}

static void test_result_sets(void **state)
{
    (void)state;
    uint8_t b[2048];
    struct got_units g, h;
    for (int eofless = 0; eofless < 2; eofless++) {
        uint32_t fl = (uint32_t)MYSQL_COM_QUERY << CMP_R_CMD_SHIFT | (eofless ? CMP_R_EOFLESS : 0);
        const uint8_t *last = eofless ? ok_fe : eof;
        size_t lastn = eofless ? sizeof(ok_fe) : sizeof(eof);
        /* result set, OK, ERR, result set */
        size_t n = result_set(b, 0, eofless, -1, last, lastn);
        n = put(b, n, 1, ok, sizeof(ok));
        n = put(b, n, 1, err, sizeof(err) - 1);
        size_t mid = n;
        n = result_set(b, n, eofless, -1, last, lastn);
        for (unsigned mode = 0; mode < 8; mode++) {
            ans_units(b, n, fl, 4, mode, &g);
            assert_int_equal(g.n, 6); /* greeting, login, four answers */
            for (unsigned i = 0; i < g.n; i++)
                assert_int_equal(g.u[i].flags, 0);
            assert_int_equal(cmp_unit_hash(&g.u[2]), cmp_unit_hash(&g.u[5]));
            assert_int_equal(g.u[3].body.len, 4 + sizeof(ok));
        }
        /* one row differs: that answer only */
        size_t n2 = result_set(b + 0, mid, eofless, 1, last, lastn);
        ans_units(b, n2, fl, 4, 3, &h);
        assert_int_equal(h.n, 6);
        assert_int_equal(cmp_unit_hash(&h.u[2]), cmp_unit_hash(&g.u[2]));
        assert_int_not_equal(cmp_unit_hash(&h.u[5]), cmp_unit_hash(&g.u[5]));
        /* the server did not agree to CLIENT_DEPRECATE_EOF: EOF packets still frame */
    }
    /* several results in one answer (a CALL): OK with MORE_RESULTS, a result set whose EOF
     * says more, a last OK */
    uint32_t fl = (uint32_t)MYSQL_COM_QUERY << CMP_R_CMD_SHIFT;
    size_t n = put(b, 0, 1, ok_more, sizeof(ok_more));
    n = result_set(b, n, false, -1, eof_more, sizeof(eof_more));
    n = put(b, n, 9, ok, sizeof(ok));
    ans_units(b, n, fl, 1, 5, &g);
    assert_int_equal(g.n, 3);
    assert_int_equal(g.u[2].flags, 0);
    /* closed inside a result set: truncated */
    n = result_set(b, 0, false, -1, eof, sizeof(eof));
    ans_units(b, n - 9, fl, 1, 0, &g);
    assert_int_equal(g.n, 3);
    assert_true(g.u[2].flags & CMP_U_TRUNCATED);
    /* a column count that is no number: unparsable, framing stops */
    n = put(b, 0, 1, "\xfc\x01", 2);
    ans_units(b, n, fl, 1, 0, &g);
    assert_int_equal(g.n, 3);
    assert_true(g.u[2].flags & CMP_U_UNPARSABLE);
}

/* COM_STMT_PREPARE: its OK, parameter and column definitions; the statement id is left out */
static void test_prepare(void **state)
{
    (void)state;
    uint8_t b[1024];
    struct got_units g[3];
    uint32_t fl = (uint32_t)MYSQL_COM_STMT_PREPARE << CMP_R_CMD_SHIFT;
    for (int k = 0; k < 3; k++) {
        /* id 1 (k 0), id 7 (k 1), id 1 with one column more announced and sent (k 2) */
        uint8_t ok_p[] = {0, k == 1 ? 7 : 1, 0, 0, 0, k == 2 ? 2 : 1, 0, 1, 0, 0, 0, 0};
        size_t n = put(b, 0, 1, ok_p, sizeof(ok_p));
        uint8_t seq = 2;
        n = put(b, n, seq++, coldef, sizeof(coldef) - 1); /* the parameter */
        n = put(b, n, seq++, eof, sizeof(eof));
        for (int c = 0; c < (k == 2 ? 2 : 1); c++)
            n = put(b, n, seq++, coldef, sizeof(coldef) - 1);
        n = put(b, n, seq++, eof, sizeof(eof));
        n = put(b, n, 1, err, sizeof(err) - 1); /* the next PREPARE's answer: an error */
        ans_units(b, n, fl, 2, (unsigned)k * 3, &g[k]);
        assert_int_equal(g[k].n, 4);
        assert_int_equal(g[k].u[2].flags, 0);
        assert_int_equal(g[k].u[2].body.len,
                         4 + 12 - 4 + 2 * (4 + 5) + (k == 2 ? 3 : 2) * (4 + sizeof(coldef) - 1));
        assert_int_equal(g[k].u[3].body.len, 4 + sizeof(err) - 1); /* an ERR counts whole */
    }
    assert_int_equal(cmp_unit_hash(&g[0].u[2]), cmp_unit_hash(&g[1].u[2]));
    assert_int_not_equal(cmp_unit_hash(&g[0].u[2]), cmp_unit_hash(&g[2].u[2]));
}

static void test_gap(void **state)
{
    (void)state;
    uint8_t b[1024];
    uint32_t fl = (uint32_t)MYSQL_COM_QUERY << CMP_R_CMD_SHIFT;
    size_t n = result_set(b, 0, false, -1, eof, sizeof(eof));
    struct got_units g;
    memset(&g, 0, sizeof(g));
    struct cmp_ansf *f = cmp_ansf_new(CMP_PROTO_MYSQL, NULL, got_unit, &g);
    struct cmp_req r = {.proto = CMP_PROTO_MYSQL, .flags = fl};
    cmp_ansf_expect(f, &r);
    cmp_ansf_expect(f, &r);
    /* a row's bytes lost after its first: framing goes on, the answer is incomplete */
    size_t row = n - 9 - 8 * 3 + 5; /* the first row's second payload byte */
    cmp_ansf_feed(f, b, row);
    assert_true(cmp_ansf_gap(f, 2));
    cmp_ansf_feed(f, b + row + 2, n - row - 2);
    assert_int_equal(g.n, 1);
    assert_true(g.u[0].flags & CMP_U_INCOMPLETE);
    /* lost in a header: framing stops */
    cmp_ansf_feed(f, b, 2);
    assert_false(cmp_ansf_gap(f, 3));
    assert_int_equal(g.n, 2);
    assert_true(g.u[1].flags & CMP_U_LAST);
    cmp_ansf_free(f);
}

static void query(uint8_t *b, size_t *n, const char *sql)
{
    uint8_t pl[512];
    pl[0] = MYSQL_COM_QUERY;
    memcpy(pl + 1, sql, strlen(sql));
    *n = put(b, *n, 0, pl, 1 + strlen(sql));
}

static void test_endpoints(void **state)
{
    (void)state;
    static const char *const sql[][2] = {
        {"SELECT c FROM sbtest1 WHERE id=5", "SELECT sbtest1"},
        {"select `c` from `sbtest`.`sbtest3` where id between 1 and 9", "SELECT sbtest.sbtest3"},
        {"SELECT 'from x' , a FROM t1", "SELECT t1"},
        {"INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 2, 'a', 'b')", "INSERT sbtest1"},
        {"insert ignore into t2 values (1)", "INSERT t2"},
        {"REPLACE t3 SET a=1", "REPLACE t3"},
        {"UPDATE sbtest1 SET k=k+1 WHERE id=3", "UPDATE sbtest1"},
        {"DELETE FROM sbtest1 WHERE id=3", "DELETE sbtest1"},
        {"/* app */ BEGIN", "BEGIN"},
        {"  -- x\ncommit", "COMMIT"},
        {"SELECT 1", "SELECT"},
        {"SET NAMES utf8", "SET"},
        {"", "(empty)"},
    };
    uint8_t b[8192];
    size_t n = 0;
    unsigned count = sizeof(sql) / sizeof(sql[0]);
    for (unsigned i = 0; i < count; i++)
        query(b, &n, sql[i][0]);
    for (unsigned mode = 0; mode < 4; mode++) {
        struct got_reqs rq;
        frame_reqs(CMP_PROTO_MYSQL, b, n, mode, &rq);
        assert_int_equal(rq.n, count);
        for (unsigned i = 0; i < count; i++) {
            assert_string_equal(rq.r[i].endpoint, sql[i][1]);
            assert_int_equal(rq.r[i].textlen, strlen(sql[i][0]));
        }
    }
}

static void test_detect_tls(void **state)
{
    (void)state;
    static struct dbx x;
    rec_split("mysql_native.txt", &x);
    assert_int_equal(cmp_proto_detect(x.c, x.cn), CMP_PROTO_MYSQL);
    assert_int_equal(cmp_proto_detect(x.c, 20), CMP_PROTO_AUTO);
    assert_int_equal(cmp_proto_detect((const uint8_t *)"GET / HTTP/1.1\r\n", 16), CMP_PROTO_HTTP);
    x.c[20] = 1; /* not the filler */
    assert_int_equal(cmp_proto_detect(x.c, x.cn), CMP_PROTO_RAW);
    enum cmp_proto p;
    assert_int_equal(cmp_proto_parse("mysql", &p), 0);
    assert_int_equal(p, CMP_PROTO_MYSQL);
    assert_int_equal(cmp_proto_parse("mariadb", &p), 0);
    assert_int_equal(p, CMP_PROTO_MYSQL);
    assert_string_equal(cmp_proto_name(CMP_PROTO_MYSQL), "mysql");
    /* auto: the client's login names the protocol */
    struct got_reqs rq;
    frame_reqs(CMP_PROTO_AUTO, x.c, x.cn, 1, &rq);
    assert_int_equal(rq.n, 1);
    assert_int_equal(rq.r[0].proto, CMP_PROTO_RAW);
    rec_split("mysql_native.txt", &x);
    frame_reqs(CMP_PROTO_AUTO, x.c, x.cn, 1, &rq);
    assert_int_equal(rq.n, 3);
    assert_string_equal(rq.r[1].endpoint, "SELECT");
    /* TLS after the SSLRequest: named, unparsable, the rest not read */
    rec_split("mysql_ssl.txt", &x);
    frame_reqs(CMP_PROTO_MYSQL, x.c, x.cn, 0, &rq);
    assert_int_equal(rq.n, 1);
    assert_string_equal(rq.r[0].endpoint, "(tls)");
    assert_true(rq.r[0].flags & CMP_R_UNPARSABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded),    cmocka_unit_test(test_login_noise),
        cmocka_unit_test(test_result_sets), cmocka_unit_test(test_prepare),
        cmocka_unit_test(test_gap),         cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_detect_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
