/*
 * test_mod_mysql: the built-in `mysql` module driven through its hooks with
 * exchanges recorded from MariaDB 10.11 (tests/data/db): production's
 * recording plays the client, another recording's greeting plays the target
 * (another scramble). The login and COM_CHANGE_USER reach the target answered
 * for its scramble, its auth switch is answered by the module and the
 * client's own answer to production's dropped, a prepared statement's id is
 * mapped to the target's, an SSLRequest is refused, a session seen mid-stream
 * is logged in by the module and its statement prepared again; counters agree.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "db_host.h"
#include "db_mysql.h"
#include "db_rec.h"
#include "mod_db.h"

static const char *const creds[] = {"sbtest", "sbpass", NULL};
static uint8_t out[65536];

struct fx {
    void *mod, *sess;
    bool lost; /* test_stmt_ids_learned: the second answer's bytes go missing */
    struct db_rec *prod, *tgt;
    const struct tcm_module *t;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    fake_creds = creds;
    fake_log[0] = '\0';
    memset(fake_counts, 0, sizeof(fake_counts));
    f->t = &mod_mysql_module;
    assert_int_equal(f->t->init(&fake_host, &f->mod), 0);
    f->prod = db_rec_load("mysql_stmt.txt");
    f->tgt = db_rec_load("mysql_native.txt");
    assert_non_null(f->prod);
    assert_non_null(f->tgt);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    f->t->fini(f->mod);
    free(f->prod);
    free(f->tgt);
    free(f);
    return 0;
}

static long client(struct fx *f, void *sess, const uint8_t *in, size_t len, size_t *used)
{
    return f->t->client_data(sess, in, len, used, out, sizeof(out));
}

static long target(struct fx *f, void *sess, const uint8_t *d, size_t len, unsigned *flags)
{
    *flags = 0;
    return f->t->target_data(sess, d, len, 0, flags, out, sizeof(out));
}

/* The login and COM_CHANGE_USER answered for the target's scramble. */
static void test_login_and_change_user(void **state)
{
    struct fx *f = *state;
    struct tcm_sess_info info = {0};
    void *s;
    size_t used;
    unsigned fl;
    struct mysql_greeting tg;
    struct mysql_login l;
    uint8_t ans[MYSQL_AUTH_MAX];
    size_t alen;

    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(f->t->start(s, TCM_START_SYN, out, sizeof(out)), 0);
    /* The client's login before the target's greeting waits. */
    assert_int_equal(client(f, s, f->prod->b[1], f->prod->len[1], &used), 0);
    assert_int_equal(used, 0);
    /* The target's greeting, one byte at a time. */
    for (size_t i = 0; i < f->tgt->len[0]; i++)
        assert_int_equal(target(f, s, f->tgt->b[0] + i, 1, &fl), 0);
    assert_int_equal(mysql_greeting_parse(f->tgt->b[0] + 4, f->tgt->len[0] - 4, &tg), 0);

    long n = client(f, s, f->prod->b[1], f->prod->len[1], &used);
    assert_int_equal(used, f->prod->len[1]);
    assert_int_equal(n, f->prod->len[1]); /* 20 bytes for 20 */
    assert_int_equal(out[3], 1);
    assert_int_equal(mysql_login_parse(out + 4, (size_t)n - 4, &l), 0);
    assert_int_equal(mysql_auth_answer(MYSQL_PLUGIN_NATIVE, "sbpass", tg.scramble, 20, ans, &alen),
                     0);
    assert_memory_equal(out + 4 + l.auth_off, ans, 20);
    assert_memory_not_equal(out + 4 + l.auth_off, f->prod->b[1] + 4 + l.auth_off, 20);
    assert_int_equal(mod_mysql_counts(f->mod)->rewritten, 1);

    assert_int_equal(target(f, s, f->prod->b[2], f->prod->len[2], &fl), 0); /* OK */
    /* COM_CHANGE_USER: the target's scramble too. */
    n = client(f, s, f->prod->b[3], f->prod->len[3], &used);
    assert_int_equal(used, f->prod->len[3]);
    assert_int_equal(mysql_chuser_parse(out + 4, (size_t)n - 4, l.caps, &l), 0);
    assert_memory_equal(out + 4 + l.auth_off, ans, 20);
    assert_int_equal(mod_mysql_counts(f->mod)->rewritten, 2);
    /* The target's switch request: the module answers it (sequence 2). */
    struct mysql_switch sw;
    assert_int_equal(mysql_switch_parse(f->prod->b[4] + 4, f->prod->len[4] - 4, &sw), 0);
    n = target(f, s, f->prod->b[4], f->prod->len[4], &fl);
    assert_int_equal(n, 24);
    assert_int_equal(out[3], 2);
    assert_int_equal(mysql_auth_answer(MYSQL_PLUGIN_NATIVE, "sbpass", sw.data, 20, ans, &alen), 0);
    assert_memory_equal(out + 4, ans, 20);
    assert_int_equal(fl, 0);
    /* ... and the client's answer to production's switch goes nowhere. */
    assert_int_equal(client(f, s, f->prod->b[5], f->prod->len[5], &used), 0);
    assert_int_equal(used, f->prod->len[5]);
    assert_int_equal(target(f, s, f->prod->b[6], f->prod->len[6], &fl), 0);

    /* A prepared statement: the target numbers it 9, the client's 1 becomes 9. */
    n = client(f, s, f->prod->b[7], f->prod->len[7], &used);
    assert_int_equal(n, f->prod->len[7]);
    assert_memory_equal(out, f->prod->b[7], (size_t)n);
    /* Its execution waits for the target's answer to the prepare. */
    assert_int_equal(client(f, s, f->prod->b[9], f->prod->len[9], &used), 0);
    assert_int_equal(used, 0);
    uint8_t ok[512];
    memcpy(ok, f->prod->b[8], f->prod->len[8]);
    ok[5] = 9;
    assert_int_equal(target(f, s, ok, f->prod->len[8], &fl), 0);
    assert_int_equal(mod_mysql_counts(f->mod)->stmts_mapped, 1);
    n = client(f, s, f->prod->b[9], f->prod->len[9], &used);
    assert_int_equal(n, f->prod->len[9]);
    assert_int_equal(out[5], 9);
    assert_memory_equal(out + 9, f->prod->b[9] + 9, (size_t)n - 9);
    /* COM_STMT_CLOSE and COM_QUIT in one read. */
    int last = f->prod->n - 1;
    n = client(f, s, f->prod->b[last], f->prod->len[last], &used);
    assert_int_equal(used, f->prod->len[last]);
    assert_int_equal(n, f->prod->len[last]);
    assert_int_equal(out[5], 9);
    assert_int_equal(out[4 + 5 + 4], MYSQL_COM_QUIT);
    f->t->sess_end(f->mod, s);

    /* A session seen mid-stream: our own login, the statement prepared again. */
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(f->t->start(s, TCM_START_MIDSTREAM, out, sizeof(out)), 0);
    assert_int_equal(client(f, s, f->prod->b[9], f->prod->len[9], &used), 0);
    assert_int_equal(used, 0);
    n = target(f, s, f->tgt->b[0], f->tgt->len[0], &fl);
    assert_true(n > 4);
    assert_int_equal(fl, TCM_ANSWER_OWN);
    assert_int_equal(mysql_login_parse(out + 4, (size_t)n - 4, &l), 0);
    assert_memory_equal(out + 4 + l.user_off, "sbtest", 6);
    assert_memory_equal(out + 4 + l.db_off, "sbtest", 6);
    assert_int_equal(mysql_auth_answer(MYSQL_PLUGIN_NATIVE, "sbpass", tg.scramble, 20, ans, &alen),
                     0);
    assert_memory_equal(out + 4 + l.auth_off, ans, 20);
    n = target(f, s, f->tgt->b[2], f->tgt->len[2], &fl); /* OK: the prepare follows */
    assert_int_equal(fl, TCM_ANSWER_OWN);
    assert_int_equal(n, f->prod->len[7]);
    assert_memory_equal(out, f->prod->b[7], (size_t)n);
    assert_int_equal(mod_mysql_counts(f->mod)->resumed, 1);
    ok[5] = 5;
    /* Its answer in two reads: the module's exchange ends with the last packet. */
    assert_int_equal(target(f, s, ok, 20, &fl), 0);
    assert_int_equal(fl, TCM_ANSWER_OWN);
    assert_int_equal(target(f, s, ok + 20, f->prod->len[8] - 20, &fl), 0);
    assert_int_equal(fl, TCM_ANSWER_OWN | TCM_ANSWER_DONE);
    assert_int_equal(mod_mysql_counts(f->mod)->stmts_reprepared, 1);
    n = client(f, s, f->prod->b[9], f->prod->len[9], &used);
    assert_int_equal(used, f->prod->len[9]);
    assert_int_equal(out[5], 5);
    f->t->sess_end(f->mod, s);
    assert_int_equal(mod_mysql_counts(f->mod)->not_replayable, 0);
    /* The host's module.events rows got the same, under the module's counter names. */
    assert_string_equal(f->t->counters[DB_C_REWRITTEN], "logins_rewritten");
    assert_int_equal(fake_counts[DB_C_REWRITTEN], 2);
    assert_int_equal(fake_counts[DB_C_RESUMED], 1);
    assert_int_equal(fake_counts[DB_C_MAPPED], 2); /* its own and the resumed session's */
    assert_int_equal(fake_counts[DB_C_REPREPARED], 1);
    assert_int_equal(fake_counts[DB_C_NOT_REPLAYABLE], 0);
}

/* An SSLRequest, an unknown user, a refused login. */
static void test_not_replayable(void **state)
{
    struct fx *f = *state;
    struct tcm_sess_info info = {0};
    struct db_rec *ssl = db_rec_load("mysql_ssl.txt");
    assert_non_null(ssl);
    void *s;
    size_t used;
    unsigned fl;

    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(target(f, s, f->tgt->b[0], f->tgt->len[0], &fl), 0);
    assert_true(client(f, s, ssl->b[1], ssl->len[1], &used) < 0);
    assert_int_equal(mod_mysql_counts(f->mod)->not_replayable, 1);
    f->t->sess_end(f->mod, s);

    static const char *const other[] = {"someone", "else", NULL};
    fake_creds = other;
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(target(f, s, f->tgt->b[0], f->tgt->len[0], &fl), 0);
    long n = client(f, s, f->prod->b[1], f->prod->len[1], &used);
    assert_int_equal(n, f->prod->len[1]);
    assert_memory_equal(out, f->prod->b[1], (size_t)n); /* unchanged */
    assert_int_equal(mod_mysql_counts(f->mod)->not_replayable, 2);
    const uint8_t err[] = {22, 0, 0, 2, 0xff, 0x15, 0x04, '#', '2', '8', '0', '0', '0',
                           'A', 'c', 'c', 'e', 's', 's', ' ', 'd', 'e', 'n', 'i', 'e', 'd'};
    assert_int_equal(target(f, s, err, sizeof(err), &fl), 0);
    assert_int_equal(mod_mysql_counts(f->mod)->refused, 1);
    f->t->sess_end(f->mod, s);
    assert_non_null(strstr(fake_log, "login of sbtest passes unchanged"));
    free(ssl);
}

/* Mid-stream with nothing seen yet: the first user of the file, its "@database" line. */
static void test_midstream_first(void **state)
{
    struct fx *f = *state;
    static const char *const conf[] = {"@database", "sbtest", "sbtest", "sbpass", NULL};
    struct tcm_sess_info info = {0};
    struct mysql_login l;
    void *s;
    unsigned fl;
    fake_creds = conf;
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(f->t->start(s, TCM_START_MIDSTREAM, out, sizeof(out)), 0);
    long n = target(f, s, f->tgt->b[0], f->tgt->len[0], &fl);
    assert_int_equal(fl, TCM_ANSWER_OWN);
    assert_int_equal(mysql_login_parse(out + 4, (size_t)n - 4, &l), 0);
    assert_int_equal(l.user_len, 6);
    assert_memory_equal(out + 4 + l.user_off, "sbtest", 6);
    assert_int_equal(l.db_len, 6);
    assert_memory_equal(out + 4 + l.db_off, "sbtest", 6);
    assert_int_equal(target(f, s, f->tgt->b[2], f->tgt->len[2], &fl), 0); /* OK, nothing cached */
    assert_int_equal(fl, TCM_ANSWER_OWN | TCM_ANSWER_DONE);
    assert_int_equal(mod_mysql_counts(f->mod)->resumed, 1);
    f->t->sess_end(f->mod, s);
    /* Nobody to log in as: the session ends, counted. */
    static const char *const none[] = {"@database", "sbtest", NULL};
    fake_creds = none;
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(f->t->start(s, TCM_START_MIDSTREAM, out, sizeof(out)), 0);
    assert_true(target(f, s, f->tgt->b[0], f->tgt->len[0], &fl) < 0);
    assert_int_equal(mod_mysql_counts(f->mod)->not_replayable, 1);
    f->t->sess_end(f->mod, s);
}

/* Production's ids start anywhere (a cached server thread's counter): learned from use. */
static void stmt_ids_learned(void **state)
{
    struct fx *f = *state;
    struct tcm_sess_info info = {0};
    void *s;
    size_t used;
    unsigned fl;
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(target(f, s, f->tgt->b[0], f->tgt->len[0], &fl), 0);
    assert_true(client(f, s, f->prod->b[1], f->prod->len[1], &used) > 0);
    assert_int_equal(target(f, s, f->tgt->b[2], f->tgt->len[2], &fl), 0);
    /* Two statements, of no parameter and of one; the target numbers them 3 and 4. */
    const uint8_t p1[] = {9, 0, 0, 0, 0x16, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '1'};
    const uint8_t p2[] = {9, 0, 0, 0, 0x16, 'S', 'E', 'L', 'E', 'C', 'T', ' ', '?'};
    const uint8_t ok1[] = {12, 0, 0, 1, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    const uint8_t ok2[] = {12, 0, 0, 1, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0,
                           5, 0, 0, 2, 0xfe, 0, 0, 2, 0};
    assert_int_equal(client(f, s, p1, sizeof(p1), &used), (long)sizeof(p1));
    assert_int_equal(target(f, s, ok1, sizeof(ok1), &fl), 0);
    assert_int_equal(client(f, s, p2, sizeof(p2), &used), (long)sizeof(p2));
    if (f->lost) {
        /* Answer bytes lost: the second statement's id is counted from the first (3 + 1). */
        fl = 0;
        assert_int_equal(f->t->target_data(s, ok2 + 4, sizeof(ok2) - 4, 4, &fl, out, sizeof(out)),
                         0);
        assert_non_null(strstr(fake_log, "answer bytes unseen"));
    } else {
        assert_int_equal(target(f, s, ok2, sizeof(ok2), &fl), 0);
    }
    /* Production numbered them 45 and 46: the one-parameter one is executed first. */
    uint8_t e2[] = {22, 0, 0, 0, 0x17, 46, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 8, 0, 41, 0, 0, 0, 0, 0, 0, 0};
    uint8_t e1[] = {10, 0, 0, 0, 0x17, 45, 0, 0, 0, 0, 1, 0, 0, 0};
    assert_int_equal(client(f, s, e2, sizeof(e2), &used), (long)sizeof(e2));
    assert_int_equal(out[5], 4);
    assert_memory_equal(out + 9, e2 + 9, sizeof(e2) - 9);
    assert_int_equal(client(f, s, e1, sizeof(e1), &used), (long)sizeof(e1));
    assert_int_equal(out[5], 3);
    assert_int_equal(client(f, s, e2, sizeof(e2), &used), (long)sizeof(e2));
    assert_int_equal(out[5], 4);
    /* An id that fits no statement is left alone. */
    e1[5] = 99;
    assert_int_equal(client(f, s, e1, sizeof(e1), &used), (long)sizeof(e1));
    assert_int_equal(out[5], 99);
    f->t->sess_end(f->mod, s);
}

static void test_stmt_ids_learned(void **state)
{
    stmt_ids_learned(state);
}

static void test_stmt_ids_answer_lost(void **state)
{
    ((struct fx *)*state)->lost = true;
    stmt_ids_learned(state);
}

/*
 * caching_sha2_password with a cold cache on the target (MySQL 8 after a restart): "perform
 * full authentication" (0x01 0x04) is answered by asking for the server's RSA key (0x02)
 * and sending the password XOR the scramble encrypted with it (OAEP): the test's key
 * decrypts it back.
 */
static void test_sha2_full_auth(void **state)
{
    struct fx *f = *state;
    struct db_rec *sw = db_rec_load("mysql_switch.txt");
    assert_non_null(sw);
    struct tcm_sess_info info = {0};
    struct mysql_greeting tg;
    void *s;
    size_t used;
    unsigned fl;
    EVP_PKEY *key = EVP_RSA_gen(2048);
    assert_non_null(key);
    BIO *b = BIO_new(BIO_s_mem());
    assert_int_equal(PEM_write_bio_PUBKEY(b, key), 1);
    char *pem;
    long pemlen = BIO_get_mem_data(b, &pem);
    assert_true(pemlen > 0 && pemlen < 1000);

    assert_int_equal(mysql_greeting_parse(f->tgt->b[0] + 4, f->tgt->len[0] - 4, &tg), 0);
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(target(f, s, f->tgt->b[0], f->tgt->len[0], &fl), 0);
    /* libmariadb's caching_sha2 login (an empty answer) gets the fast answer (32 bytes). */
    long n = client(f, s, sw->b[1], sw->len[1], &used);
    assert_int_equal(n, sw->len[1] + 32);
    const uint8_t full[] = {2, 0, 0, 2, 1, 4};
    n = target(f, s, full, sizeof(full), &fl);
    assert_int_equal(n, 5);
    const uint8_t ask[] = {1, 0, 0, 3, 2};
    assert_memory_equal(out, ask, 5);
    uint8_t km[1100];
    mysql_hdr_write(km, (uint32_t)pemlen + 1, 4);
    km[4] = 1;
    memcpy(km + 5, pem, (size_t)pemlen);
    n = target(f, s, km, 5 + (size_t)pemlen, &fl);
    assert_int_equal(n, 4 + 256);
    assert_int_equal(out[3], 5);
    uint8_t plain[512]; /* RSA decryption wants room for a whole block */
    size_t plen = sizeof(plain);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
    assert_int_equal(EVP_PKEY_decrypt_init(c), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_decrypt(c, plain, &plen, out + 4, 256), 1);
    assert_int_equal(plen, 7); /* "sbpass" and its NUL */
    for (size_t i = 0; i < plen; i++)
        plain[i] ^= tg.scramble[i % 20];
    assert_memory_equal(plain, "sbpass", 7);
    const uint8_t ok[] = {7, 0, 0, 6, 0, 0, 0, 2, 0, 0, 0};
    assert_int_equal(target(f, s, ok, sizeof(ok), &fl), 0);
    assert_int_equal(mod_mysql_counts(f->mod)->not_replayable, 0);
    f->t->sess_end(f->mod, s);
    /* Not a key: the session ends, counted. */
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_int_equal(target(f, s, f->tgt->b[0], f->tgt->len[0], &fl), 0);
    assert_true(client(f, s, sw->b[1], sw->len[1], &used) > 0);
    assert_int_equal(target(f, s, full, sizeof(full), &fl), 5);
    const uint8_t junk[] = {5, 0, 0, 4, 1, 'x', 'y', 'z', 'w'};
    assert_true(target(f, s, junk, sizeof(junk), &fl) < 0);
    assert_int_equal(mod_mysql_counts(f->mod)->not_replayable, 1);
    f->t->sess_end(f->mod, s);
    EVP_PKEY_CTX_free(c);
    BIO_free(b);
    EVP_PKEY_free(key);
    free(sw);
}

/* Hostile target bytes end the session, never read past what was given. */
static void test_hostile_target(void **state)
{
    struct fx *f = *state;
    struct tcm_sess_info info = {0};
    void *s;
    unsigned fl;
    const uint8_t junk[] = {5, 0, 0, 0, 9, 'x', 'y', 'z', 0};
    assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
    assert_true(target(f, s, junk, sizeof(junk), &fl) < 0);
    f->t->sess_end(f->mod, s);
    for (size_t k = 1; k < f->tgt->len[0]; k++) {
        uint8_t g[256];
        memcpy(g, f->tgt->b[0], f->tgt->len[0]);
        g[0] = (uint8_t)k; /* a greeting cut short by its own length */
        assert_int_equal(f->t->sess_new(f->mod, &info, &s), 0);
        (void)target(f, s, g, f->tgt->len[0], &fl);
        f->t->sess_end(f->mod, s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_and_change_user, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_replayable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_midstream_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stmt_ids_learned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stmt_ids_answer_lost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha2_full_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_target, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
