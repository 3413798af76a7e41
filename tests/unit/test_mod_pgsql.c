/*
 * test_mod_pgsql: the built-in `postgresql` module driven through its hooks.
 * psql's recorded messages (PostgreSQL 15, tests/data/db) play the client;
 * the target is played by the test: an md5 request with another salt (the
 * module's answer must be the one for it), a SCRAM-SHA-256 server written
 * here from RFC 5802 (it checks the module's proof and signs; a wrong
 * signature ends the session), SSLRequest answered 'N' or 'S', and a session
 * seen mid-stream logged in by the module with the cached startup message.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "db_host.h"
#include "db_pgsql.h"
#include "db_rec.h"
#include "mod_db.h"

static const char *const creds[] = {"md5u", "md5pass", "scramu", "scrampass", NULL};
static uint8_t out[65536];
static const struct tcm_module *t = &mod_pgsql_module;
static void *mod;

static int setup(void **state)
{
    (void)state;
    fake_creds = creds;
    fake_log[0] = '\0';
    memset(fake_counts, 0, sizeof(fake_counts));
    return t->init(&fake_host, &mod);
}

static int teardown(void **state)
{
    (void)state;
    t->fini(mod);
    return 0;
}

static long client(void *s, const uint8_t *in, size_t len, size_t *used)
{
    return t->client_data(s, in, len, used, out, sizeof(out));
}

static long target(void *s, const void *d, size_t len, unsigned *flags)
{
    *flags = 0;
    return t->target_data(s, d, len, 0, flags, out, sizeof(out));
}

/* An 'R' message with code and data. */
static size_t auth_msg(uint8_t *m, uint32_t code, const void *data, size_t n)
{
    uint32_t len = (uint32_t)(8 + n);
    m[0] = 'R';
    m[1] = (uint8_t)(len >> 24), m[2] = (uint8_t)(len >> 16), m[3] = (uint8_t)(len >> 8);
    m[4] = (uint8_t)len;
    m[5] = m[6] = m[7] = 0, m[8] = (uint8_t)code;
    memcpy(m + 9, data, n);
    return 9 + n;
}

static const uint8_t ready[] = {'R', 0, 0, 0, 8, 0, 0, 0, 0, 'S', 0, 0, 0, 8, 'a', 0, 'b', 0,
                                'Z', 0, 0, 0, 5, 'I'};

static void test_md5_and_resume(void **state)
{
    (void)state;
    struct db_rec *r = db_rec_load("pgsql_md5.txt");
    assert_non_null(r);
    struct tcm_sess_info info = {0};
    void *s;
    size_t used, n;
    unsigned fl;
    uint8_t m[64], want[64];
    const uint8_t salt[4] = {1, 2, 3, 4};

    assert_int_equal(t->sess_new(mod, &info, &s), 0);
    assert_int_equal(t->start(s, TCM_START_SYN, out, sizeof(out)), 0);
    assert_int_equal(client(s, r->b[0], r->len[0], &used), (long)r->len[0]);
    assert_memory_equal(out, r->b[0], r->len[0]); /* the startup message as it is */
    /* psql's answer to production's salt waits for the target's request. */
    assert_int_equal(client(s, r->b[2], r->len[2], &used), 0);
    assert_int_equal(used, 0);
    assert_int_equal(target(s, m, auth_msg(m, PG_AUTH_MD5, salt, 4), &fl), 0);
    long k = client(s, r->b[2], r->len[2], &used);
    assert_int_equal(used, r->len[2]);
    assert_int_equal(pg_md5_message("md5u", "md5pass", salt, want, sizeof(want), &n), 0);
    assert_int_equal(k, n);
    assert_memory_equal(out, want, n);
    /* The client's query may come before the target's AuthenticationOk: it passes. */
    assert_int_equal(client(s, r->b[4], r->len[4], &used), (long)r->len[4]);
    assert_memory_equal(out, r->b[4], r->len[4]);
    assert_int_equal(target(s, ready, sizeof(ready), &fl), 0);
    assert_int_equal(fl, 0);
    assert_int_equal(mod_pgsql_counts(mod)->rewritten, 1);
    /* After the login every byte passes. */
    assert_int_equal(client(s, r->b[4], r->len[4], &used), (long)r->len[4]);
    assert_memory_equal(out, r->b[4], r->len[4]);
    t->sess_end(mod, s);

    /* Mid-stream: the cached startup message, our md5 answer, hidden until 'Z'. */
    assert_int_equal(t->sess_new(mod, &info, &s), 0);
    k = t->start(s, TCM_START_MIDSTREAM, out, sizeof(out));
    assert_int_equal(k, r->len[0]);
    assert_memory_equal(out, r->b[0], r->len[0]);
    assert_int_equal(client(s, r->b[4], r->len[4], &used), 0);
    assert_int_equal(used, 0);
    k = target(s, m, auth_msg(m, PG_AUTH_MD5, salt, 4), &fl);
    assert_int_equal(fl, TCM_ANSWER_OWN);
    assert_int_equal(k, n);
    assert_memory_equal(out, want, n);
    assert_int_equal(target(s, ready, 10, &fl), 0);
    assert_int_equal(fl, TCM_ANSWER_OWN);
    assert_int_equal(target(s, ready + 10, sizeof(ready) - 10, &fl), 0);
    assert_int_equal(fl, TCM_ANSWER_OWN | TCM_ANSWER_DONE);
    assert_int_equal(mod_pgsql_counts(mod)->resumed, 1);
    assert_int_equal(fake_counts[DB_C_RESUMED], 1);
    assert_int_equal(fake_counts[DB_C_REWRITTEN], 1);
    assert_string_equal(t->counters[DB_C_RESUMED], "logins_resumed");
    assert_int_equal(client(s, r->b[4], r->len[4], &used), (long)r->len[4]);
    t->sess_end(mod, s);
    free(r);
}

static void b64(const uint8_t *d, size_t n, char *o)
{
    EVP_EncodeBlock((unsigned char *)o, d, (int)n);
}

/* The server side of RFC 5802: is proof right for pw? Also the signature to send. */
static bool server_check(const char *pw, const uint8_t *salt, const char *auth_msg,
                         const uint8_t *proof, uint8_t sig[32])
{
    uint8_t salted[32], ck[32], stored[32], csig[32], sk[32];
    unsigned int n;
    PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, 16, 4096, EVP_sha256(), 32, salted);
    HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10, ck, &n);
    EVP_Digest(ck, 32, stored, &n, EVP_sha256(), NULL);
    HMAC(EVP_sha256(), stored, 32, (const uint8_t *)auth_msg, strlen(auth_msg), csig, &n);
    HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Server Key", 10, sk, &n);
    HMAC(EVP_sha256(), sk, 32, (const uint8_t *)auth_msg, strlen(auth_msg), sig, &n);
    for (int i = 0; i < 32; i++)
        ck[i] ^= csig[i];
    return memcmp(ck, proof, 32) == 0;
}

static void scram_session(struct db_rec *r, bool good_sig)
{
    struct tcm_sess_info info = {0};
    void *s;
    size_t used;
    unsigned fl;
    uint8_t m[512], salt[16], sig[32], proof[48];
    const char mech[] = "SCRAM-SHA-256\0";

    memset(salt, 7, sizeof(salt));
    assert_int_equal(t->sess_new(mod, &info, &s), 0);
    assert_int_equal(client(s, r->b[0], r->len[0], &used), (long)r->len[0]);
    assert_int_equal(target(s, m, auth_msg(m, PG_AUTH_SASL, mech, sizeof(mech)), &fl), 0);
    /* psql's SASLInitialResponse is replaced by ours, with a nonce of ours. */
    long k = client(s, r->b[2], r->len[2], &used);
    assert_int_equal(used, r->len[2]);
    assert_int_equal(k, r->len[2]);
    char nonce[PG_NONCE_LEN + 1] = {0};
    memcpy(nonce, out + k - PG_NONCE_LEN, PG_NONCE_LEN);
    assert_memory_not_equal(nonce, r->b[2] + r->len[2] - PG_NONCE_LEN, PG_NONCE_LEN);
    char sfirst[128], salt64[32], final[256], am[512];
    b64(salt, 16, salt64);
    snprintf(sfirst, sizeof(sfirst), "r=%sSERVERNONCE,s=%s,i=4096", nonce, salt64);
    assert_int_equal(target(s, m, auth_msg(m, PG_AUTH_SASL_CONTINUE, sfirst, strlen(sfirst)), &fl),
                     0);
    /* psql's client-final is replaced by one the server accepts. */
    k = client(s, r->b[4], r->len[4], &used);
    assert_int_equal(used, r->len[4]);
    assert_true(k > 5 && k < (long)sizeof(final));
    memcpy(final, out + 5, (size_t)k - 5);
    final[k - 5] = '\0';
    char *p = strstr(final, ",p=");
    assert_non_null(p);
    assert_int_equal(EVP_DecodeBlock(proof, (const unsigned char *)p + 3, 44), 33);
    *p = '\0';
    snprintf(am, sizeof(am), "n=,r=%s,%s,%s", nonce, sfirst, final);
    assert_true(server_check("scrampass", salt, am, proof, sig));
    if (!good_sig)
        sig[0] ^= 1;
    char v[64] = "v=";
    b64(sig, 32, v + 2);
    k = target(s, m, auth_msg(m, PG_AUTH_SASL_FINAL, v, strlen(v)), &fl);
    if (good_sig) {
        assert_int_equal(k, 0);
        assert_int_equal(target(s, ready, sizeof(ready), &fl), 0);
    } else {
        assert_true(k < 0);
    }
    t->sess_end(mod, s);
}

static void test_scram(void **state)
{
    (void)state;
    struct db_rec *r = db_rec_load("pgsql_scram.txt");
    assert_non_null(r);
    scram_session(r, true);
    assert_int_equal(mod_pgsql_counts(mod)->rewritten, 1);
    assert_int_equal(mod_pgsql_counts(mod)->not_replayable, 0);
    scram_session(r, false);
    assert_int_equal(mod_pgsql_counts(mod)->rewritten, 1);
    assert_int_equal(mod_pgsql_counts(mod)->not_replayable, 1);
    free(r);
}

static void test_ssl_and_refusals(void **state)
{
    (void)state;
    struct db_rec *r = db_rec_load("pgsql_ssl.txt");
    assert_non_null(r);
    struct tcm_sess_info info = {0};
    void *s;
    size_t used;
    unsigned fl;
    uint8_t m[64];
    const uint8_t salt[4] = {9, 9, 9, 9};

    /* 'N': the session goes on in clear. */
    assert_int_equal(t->sess_new(mod, &info, &s), 0);
    assert_int_equal(client(s, r->b[0], r->len[0], &used), 8);
    assert_int_equal(client(s, r->b[2], r->len[2], &used), 0); /* waits for 'N' */
    size_t n = auth_msg(m + 1, PG_AUTH_MD5, salt, 4);
    m[0] = 'N';
    assert_int_equal(target(s, m, 1, &fl), 0);
    assert_int_equal(client(s, r->b[2], r->len[2], &used), (long)r->len[2]);
    assert_int_equal(target(s, m + 1, n, &fl), 0);
    assert_int_equal(client(s, r->b[4], r->len[4], &used), 41);
    const char err[] = "E\0\0\0\x0a" "SFATAL\0\0";
    assert_int_equal(target(s, err, 11, &fl), 0);
    assert_int_equal(mod_pgsql_counts(mod)->refused, 1);
    t->sess_end(mod, s);
    /* 'S': not replayable. */
    assert_int_equal(t->sess_new(mod, &info, &s), 0);
    assert_int_equal(client(s, r->b[0], r->len[0], &used), 8);
    assert_true(target(s, "S", 1, &fl) < 0);
    assert_int_equal(mod_pgsql_counts(mod)->not_replayable, 1);
    t->sess_end(mod, s);
    /* A user without a password. */
    static const char *const none[] = {NULL};
    fake_creds = none;
    assert_int_equal(t->sess_new(mod, &info, &s), 0);
    assert_int_equal(client(s, r->b[2], r->len[2], &used), (long)r->len[2]);
    assert_int_equal(target(s, m + 1, n, &fl), 0);
    assert_true(client(s, r->b[4], r->len[4], &used) < 0);
    assert_int_equal(mod_pgsql_counts(mod)->not_replayable, 2);
    t->sess_end(mod, s);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_md5_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ssl_and_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
