/*
 * test_auth: the shared secret and its proofs (src/auth.c). HMAC-SHA256 against
 * RFC 4231's test vectors, proofs that verify only with the same secret, role
 * and nonces, and the secret file's checks (newline, empty, permissions, size).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "chan.h"

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

/* RFC 4231, section 4.3 (test case 2): a key shorter than the block. */
static void test_rfc4231_case2(void **state)
{
    (void)state;
    uint8_t mac[AUTH_MAC_LEN];
    char h[2 * AUTH_MAC_LEN + 1];
    const char *data = "what do ya want for nothing?";
    assert_int_equal(
        auth_hmac_sha256(mac, (const uint8_t *)"Jefe", 4, (const uint8_t *)data, strlen(data)), 0);
    hex(h, mac, sizeof(mac));
    assert_string_equal(h, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231, section 4.7 (test case 6): a key longer than the block (hashed first). */
static void test_rfc4231_case6(void **state)
{
    (void)state;
    uint8_t key[131], mac[AUTH_MAC_LEN];
    char h[2 * AUTH_MAC_LEN + 1];
    const char *data = "Test Using Larger Than Block-Size Key - Hash Key First";
    memset(key, 0xaa, sizeof(key));
    assert_int_equal(auth_hmac_sha256(mac, key, sizeof(key), (const uint8_t *)data, strlen(data)),
                     0);
    hex(h, mac, sizeof(mac));
    assert_string_equal(h, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void secret_set(struct auth_secret *s, const char *k)
{
    memset(s, 0, sizeof(*s));
    s->len = strlen(k);
    memcpy(s->key, k, s->len);
}

static void test_mac_layout(void **state)
{
    (void)state;
    /* auth_mac is HMAC over label || role || own nonce || peer nonce. */
    struct auth_secret s;
    uint8_t own[16], peer[16], msg[15 + 1 + 32], a[32], b[32];
    secret_set(&s, "s3cret");
    for (int i = 0; i < 16; i++) {
        own[i] = (uint8_t)i;
        peer[i] = (uint8_t)(0xf0 + i);
    }
    memcpy(msg, "tcpcopy-auth v1", 15);
    msg[15] = CHAN_ROLE_TCPCOPY;
    memcpy(msg + 16, own, 16);
    memcpy(msg + 32, peer, 16);
    assert_int_equal(auth_mac(a, &s, CHAN_ROLE_TCPCOPY, own, peer), 0);
    assert_int_equal(auth_hmac_sha256(b, s.key, s.len, msg, sizeof(msg)), 0);
    assert_memory_equal(a, b, 32);
}

static void test_verify(void **state)
{
    (void)state;
    struct auth_secret good, bad;
    uint8_t nt[16], ni[16], mac[32];
    secret_set(&good, "correct horse battery staple");
    secret_set(&bad, "correct horse battery stapler");
    memset(nt, 0x11, sizeof(nt));
    memset(ni, 0x22, sizeof(ni));

    /* tcpcopy proves itself to intercept. */
    assert_int_equal(auth_mac(mac, &good, CHAN_ROLE_TCPCOPY, nt, ni), 0);
    assert_true(auth_verify(mac, &good, CHAN_ROLE_TCPCOPY, nt, ni));
    /* Another secret: refused. */
    assert_false(auth_verify(mac, &bad, CHAN_ROLE_TCPCOPY, nt, ni));
    /* Reflected back as intercept's proof (other role): refused. */
    assert_false(auth_verify(mac, &good, CHAN_ROLE_INTERCEPT, nt, ni));
    /* Replayed on a connection with other nonces: refused. */
    uint8_t ni2[16];
    memset(ni2, 0x23, sizeof(ni2));
    assert_false(auth_verify(mac, &good, CHAN_ROLE_TCPCOPY, nt, ni2));
    assert_false(auth_verify(mac, &good, CHAN_ROLE_TCPCOPY, ni, nt));
    /* One flipped bit: refused. */
    mac[31] ^= 1;
    assert_false(auth_verify(mac, &good, CHAN_ROLE_TCPCOPY, nt, ni));
    /* No secret: never verifies. */
    struct auth_secret none = {.len = 0};
    assert_false(auth_verify(mac, &none, CHAN_ROLE_TCPCOPY, nt, ni));
}

/* ---- the secret file ---- */

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/test_auth.XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *write_file(const char *name, const void *data, size_t len, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    assert_int_equal(chmod(path, mode), 0); /* exact, whatever the umask */
    return path;
}

static void expect_load(const char *path, int rc, const char *want_err)
{
    struct auth_secret s;
    char err[256] = "";
    assert_int_equal(auth_load_secret(&s, path, err, sizeof(err)), rc);
    if (want_err != NULL && strstr(err, want_err) == NULL)
        fail_msg("expected an error containing \"%s\", got \"%s\"", want_err, err);
    if (rc < 0) {
        assert_int_equal(s.len, 0);
        assert_non_null(strstr(err, "--secret-file "));
        assert_non_null(strstr(err, path));
    }
}

static void test_load_ok(void **state)
{
    (void)state;
    struct auth_secret s;
    char err[256];
    const char *p = write_file("nl", "hunter2\n", 8, 0600);
    assert_int_equal(auth_load_secret(&s, p, err, sizeof(err)), 0);
    assert_int_equal(s.len, 7);
    assert_memory_equal(s.key, "hunter2", 7);

    p = write_file("crlf", "hunter2\r\n", 9, 0400);
    assert_int_equal(auth_load_secret(&s, p, err, sizeof(err)), 0);
    assert_int_equal(s.len, 7);

    /* Only one trailing newline goes; inner bytes, binary ones included, stay. */
    p = write_file("multi", "a\nb\0c\n\n", 7, 0600);
    assert_int_equal(auth_load_secret(&s, p, err, sizeof(err)), 0);
    assert_int_equal(s.len, 6);
    assert_memory_equal(s.key, "a\nb\0c\n", 6);

    p = write_file("nonl", "x", 1, 0600);
    assert_int_equal(auth_load_secret(&s, p, err, sizeof(err)), 0);
    assert_int_equal(s.len, 1);

    char big[AUTH_SECRET_MAX];
    memset(big, 'k', sizeof(big));
    p = write_file("max", big, sizeof(big), 0600);
    assert_int_equal(auth_load_secret(&s, p, err, sizeof(err)), 0);
    assert_int_equal(s.len, AUTH_SECRET_MAX);

    auth_secret_clear(&s);
    assert_int_equal(s.len, 0);
    assert_int_equal(s.key[0], 0);
    auth_secret_clear(NULL);
}

static void test_load_refused(void **state)
{
    (void)state;
    char path[160];
    expect_load(write_file("empty", "", 0, 0600), -EINVAL, "the secret is empty");
    expect_load(write_file("justnl", "\n", 1, 0600), -EINVAL, "the secret is empty");
    expect_load(write_file("grp", "s\n", 2, 0640), -EPERM,
                "accessible by group or others (mode 0640); run chmod 600 on it");
    expect_load(write_file("world", "s\n", 2, 0604), -EPERM, "mode 0604");
    expect_load(write_file("gw", "s\n", 2, 0620), -EPERM, "accessible by group or others");
    char big[AUTH_SECRET_MAX + 1];
    memset(big, 'k', sizeof(big));
    expect_load(write_file("big", big, sizeof(big), 0600), -EFBIG, "longer than 1024 bytes");
    snprintf(path, sizeof(path), "%s/missing", dir);
    expect_load(path, -ENOENT, "No such file or directory");
    expect_load(dir, -EINVAL, "not a regular file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4231_case2),
        cmocka_unit_test(test_rfc4231_case6),
        cmocka_unit_test(test_mac_layout),
        cmocka_unit_test(test_verify),
        cmocka_unit_test(test_load_ok),
        cmocka_unit_test(test_load_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
