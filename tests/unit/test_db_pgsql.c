/*
 * test_db_pgsql: the PostgreSQL protocol pieces against exchanges recorded
 * from Debian's PostgreSQL 15 (tests/data/db/pgsql_*.txt): the startup
 * message, the md5 answer computed for the recorded salt is the one psql sent,
 * the SCRAM-SHA-256 client given psql's nonce writes psql's very messages and
 * accepts the server's recorded signature (and refuses a changed one, another
 * nonce, a wrong password's exchange), an SSLRequest answered 'N'. Every
 * prefix of every recorded message is parsed without reading past it.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "db_pgsql.h"
#include "db_rec.h"

static void test_startup_md5_recorded(void **state)
{
    (void)state;
    struct db_rec *r = db_rec_load("pgsql_md5.txt");
    assert_non_null(r);
    struct pg_startup s;
    struct pg_auth a;
    size_t total, olen;
    uint8_t out[256];

    assert_int_equal(r->dir[0], 'C');
    assert_int_equal(pg_frame(r->b[0], r->len[0], true, &total), 0);
    assert_int_equal(total, r->len[0]);
    assert_int_equal(pg_startup_parse(r->b[0], total, &s), 0);
    assert_int_equal(s.code, PG_PROTO_3);
    assert_int_equal(s.user_len, 4);
    assert_memory_equal(r->b[0] + s.user_off, "md5u", 4);
    assert_int_equal(s.db_len, 3);
    assert_memory_equal(r->b[0] + s.db_off, "app", 3);

    assert_int_equal(pg_frame(r->b[1], r->len[1], false, &total), 0);
    assert_int_equal(pg_auth_parse(r->b[1], total, &a), 0);
    assert_int_equal(a.code, PG_AUTH_MD5);
    assert_int_equal(pg_md5_message("md5u", "md5pass", a.data, out, sizeof(out), &olen), 0);
    assert_int_equal(olen, r->len[2]);
    assert_memory_equal(out, r->b[2], olen); /* psql's PasswordMessage, byte for byte */
    assert_int_equal(pg_md5_message("md5u", "other", a.data, out, sizeof(out), &olen), 0);
    assert_memory_not_equal(out, r->b[2], olen);
    assert_int_equal(pg_md5_message("md5u", "md5pass", a.data, out, 20, &olen), -PG_E_SIZE);

    /* The server's answer starts with AuthenticationOk. */
    assert_int_equal(pg_frame(r->b[3], r->len[3], false, &total), 0);
    assert_int_equal(pg_auth_parse(r->b[3], total, &a), 0);
    assert_int_equal(a.code, PG_AUTH_OK);
    /* Several messages in one read: the frame ends at the first. */
    assert_true(total < r->len[3]);
    free(r);
}

static void test_scram_recorded(void **state)
{
    (void)state;
    struct db_rec *r = db_rec_load("pgsql_scram.txt");
    assert_non_null(r);
    struct pg_auth a;
    struct pg_scram sc;
    size_t total, olen;
    uint8_t out[512];

    assert_int_equal(pg_frame(r->b[1], r->len[1], false, &total), 0);
    assert_int_equal(pg_auth_parse(r->b[1], total, &a), 0);
    assert_int_equal(a.code, PG_AUTH_SASL);
    assert_true(pg_sasl_offers(&a, "SCRAM-SHA-256"));
    assert_false(pg_sasl_offers(&a, "SCRAM-SHA-256-PLUS"));

    /* psql's nonce is the last 24 bytes of its SASLInitialResponse. */
    char nonce[PG_NONCE_LEN + 1];
    memcpy(nonce, r->b[2] + r->len[2] - PG_NONCE_LEN, PG_NONCE_LEN);
    nonce[PG_NONCE_LEN] = '\0';
    assert_int_equal(pg_scram_first(&sc, nonce, out, sizeof(out), &olen), 0);
    assert_int_equal(olen, r->len[2]);
    assert_memory_equal(out, r->b[2], olen);

    assert_int_equal(pg_auth_parse(r->b[3], r->len[3], &a), 0);
    assert_int_equal(a.code, PG_AUTH_SASL_CONTINUE);
    struct pg_scram keep = sc;
    assert_int_equal(pg_scram_final(&sc, "scrampass", a.data, a.data_len, out, sizeof(out), &olen),
                     0);
    assert_int_equal(olen, r->len[4]);
    assert_memory_equal(out, r->b[4], olen); /* psql's proof, byte for byte */

    /* AuthenticationSASLFinal then AuthenticationOk in one read. */
    assert_int_equal(pg_frame(r->b[5], r->len[5], false, &total), 0);
    assert_int_equal(pg_auth_parse(r->b[5], total, &a), 0);
    assert_int_equal(a.code, PG_AUTH_SASL_FINAL);
    assert_int_equal(pg_scram_verify(&sc, a.data, a.data_len), 0);
    uint8_t bad[128];
    memcpy(bad, a.data, a.data_len);
    bad[5] ^= 1;
    assert_int_equal(pg_scram_verify(&sc, bad, a.data_len), -PG_E_SCRAM);
    assert_int_equal(pg_scram_verify(&keep, a.data, a.data_len), -PG_E_SCRAM); /* no keys yet */

    /* A wrong password gives another proof and cannot verify the server. */
    struct pg_scram w = keep;
    struct pg_auth c;
    assert_int_equal(pg_auth_parse(r->b[3], r->len[3], &c), 0);
    assert_int_equal(pg_scram_final(&w, "nope", c.data, c.data_len, out, sizeof(out), &olen), 0);
    assert_memory_not_equal(out, r->b[4], olen);
    assert_int_equal(pg_scram_verify(&w, a.data, a.data_len), -PG_E_SCRAM);
    /* A server nonce that does not extend ours is refused. */
    w = keep;
    w.nonce[0] ^= 1;
    assert_int_equal(pg_scram_final(&w, "scrampass", c.data, c.data_len, out, sizeof(out), &olen),
                     -PG_E_SCRAM);
    free(r);
}

static void test_scram_hostile_server_first(void **state)
{
    (void)state;
    struct pg_scram sc, w;
    uint8_t out[512];
    size_t olen;
    char nonce[PG_NONCE_LEN + 1];
    assert_int_equal(pg_scram_nonce(nonce), 0);
    assert_int_equal(strlen(nonce), PG_NONCE_LEN);
    assert_int_equal(pg_scram_first(&sc, nonce, out, sizeof(out), &olen), 0);
    assert_int_equal(pg_scram_first(&w, "short", out, sizeof(out), &olen), -PG_E_SCRAM);
    char msg[256];
    /* What follows our nonce in the server-first message. */
    const char *bad[] = {"X,s=c2FsdA==,i=0", "X,s=c2FsdA==,i=99999999", "X,s=c2FsdA==,i=12x",
                         "X,s=!!!!,i=4096",  "X,i=4096",                ",s=c2FsdA==,i=4096",
                         "X,s=,i=4096",      "X,s=c2FsdA==,i=-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int n = snprintf(msg, sizeof(msg), "r=%s%s", nonce, bad[i]);
        w = sc;
        assert_int_equal(pg_scram_final(&w, "pw", (uint8_t *)msg, (size_t)n, out, sizeof(out),
                                        &olen),
                         -PG_E_SCRAM);
    }
    int n = snprintf(msg, sizeof(msg), "r=%sX,s=c2FsdA==,i=1", nonce);
    w = sc;
    assert_int_equal(pg_scram_final(&w, "pw", (uint8_t *)msg, (size_t)n, out, sizeof(out), &olen),
                     0);
    assert_int_equal(pg_scram_final(&w, "pw", (uint8_t *)msg, (size_t)n, out, 20, &olen),
                     -PG_E_SIZE);
}

static void test_ssl_request_recorded(void **state)
{
    (void)state;
    struct db_rec *r = db_rec_load("pgsql_ssl.txt");
    assert_non_null(r);
    struct pg_startup s;
    assert_int_equal(pg_startup_parse(r->b[0], r->len[0], &s), 0);
    assert_int_equal(s.code, PG_SSL_REQUEST);
    assert_int_equal(r->len[1], 1);
    assert_int_equal(r->b[1][0], 'N');
    assert_int_equal(pg_startup_parse(r->b[2], r->len[2], &s), 0);
    assert_int_equal(s.code, PG_PROTO_3);
    free(r);
}

static void test_startup_build_and_bad(void **state)
{
    (void)state;
    uint8_t out[128];
    size_t olen, total;
    struct pg_startup s;
    assert_int_equal(pg_startup_build("scramu", "app", out, sizeof(out), &olen), 0);
    assert_int_equal(pg_frame(out, olen, true, &total), 0);
    assert_int_equal(total, olen);
    assert_int_equal(pg_startup_parse(out, olen, &s), 0);
    assert_memory_equal(out + s.user_off, "scramu", 6);
    assert_memory_equal(out + s.db_off, "app", 3);
    assert_int_equal(pg_startup_build("u", NULL, out, sizeof(out), &olen), 0);
    assert_int_equal(pg_startup_parse(out, olen, &s), 0);
    assert_int_equal(s.db_len, 0);
    assert_int_equal(pg_startup_build("u", "d", out, 10, &olen), -PG_E_SIZE);
    /* Lengths that cannot be, protocol 2, a parameter list without its end. */
    const uint8_t tiny[] = {0, 0, 0, 3, 0, 3, 0, 0};
    assert_int_equal(pg_frame(tiny, sizeof(tiny), true, &total), -PG_E_PROTO);
    const uint8_t huge[] = {0, 1, 0, 0, 0, 3, 0, 0};
    assert_int_equal(pg_frame(huge, sizeof(huge), true, &total), -PG_E_SIZE);
    const uint8_t v2[] = {0, 0, 0, 8, 0, 2, 0, 0};
    assert_int_equal(pg_startup_parse(v2, sizeof(v2), &s), -PG_E_PROTO);
    const uint8_t open[] = {0, 0, 0, 13, 0, 3, 0, 0, 'u', 's', 'e', 'r', 0};
    assert_int_equal(pg_startup_parse(open, sizeof(open), &s), -PG_E_SHORT);
    const uint8_t q[] = {'Q', 0, 0, 0, 5, 0};
    struct pg_auth a;
    assert_int_equal(pg_auth_parse(q, sizeof(q), &a), -PG_E_SHORT);
    assert_int_equal(pg_frame(q, 3, false, &total), 0);
    assert_int_equal(total, 0);
}

static void test_truncated(void **state)
{
    (void)state;
    const char *names[] = {"pgsql_md5.txt", "pgsql_scram.txt", "pgsql_ssl.txt"};
    for (size_t f = 0; f < 3; f++) {
        struct db_rec *r = db_rec_load(names[f]);
        assert_non_null(r);
        for (int i = 0; i < r->n; i++) {
            for (size_t k = 0; k < r->len[i]; k++) {
                uint8_t *cp = malloc(k + 1);
                assert_non_null(cp);
                memcpy(cp, r->b[i], k);
                struct pg_startup s;
                struct pg_auth a;
                size_t total;
                if (i == 0)
                    assert_true(pg_startup_parse(cp, k, &s) < 0);
                (void)pg_frame(cp, k, i == 0, &total);
                assert_true(total <= k);
                if (pg_auth_parse(cp, k, &a) == 0)
                    (void)pg_sasl_offers(&a, "SCRAM-SHA-256");
                free(cp);
            }
        }
        free(r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_startup_md5_recorded),
        cmocka_unit_test(test_scram_recorded),
        cmocka_unit_test(test_scram_hostile_server_first),
        cmocka_unit_test(test_ssl_request_recorded),
        cmocka_unit_test(test_startup_build_and_bad),
        cmocka_unit_test(test_truncated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
