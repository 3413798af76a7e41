/*
 * fuzz_mysql: the MySQL/MariaDB parsers of src/tcpcopy/db_mysql.c and the
 * built-in `mysql` module fed hostile bytes. Byte 0 chooses: bit 0, the
 * parsers on the rest (a login that parses is rebuilt with a longer answer
 * and must parse back with it, everything after it unchanged); else the
 * module's hooks through fuzz_db_drive.h (bit 1: a session seen mid-stream).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db_mysql.h"
#include "fuzz_db_drive.h"
#include "mod_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parsers(const uint8_t *p, size_t n)
{
    struct mysql_greeting g;
    struct mysql_login l, l2;
    struct mysql_switch sw;
    uint32_t id, plen;
    uint16_t a, b;
    uint8_t seq;
    static uint8_t out[MYSQL_LOGIN_MAX + 64], cp[MYSQL_LOGIN_MAX];
    const uint8_t ans[32] = "0123456789abcdef0123456789abcdef";
    size_t olen;

    size_t k = mysql_frame(p, n, &seq, &plen);
    CHECK(k == 0 || k == 4 + (size_t)plen);
    CHECK(k <= n);
    if (mysql_greeting_parse(p, n, &g) == 0)
        CHECK(g.scramble_len <= MYSQL_SCRAMBLE_LEN);
    (void)mysql_switch_parse(p, n, &sw);
    (void)mysql_prepare_ok_parse(p, n, &id, &a, &b);
    (void)mysql_sha2_status(p, n);
    int rc = mysql_login_parse(p, n, &l);
    bool chuser = rc != 0;
    if (chuser)
        rc = mysql_chuser_parse(p, n, 0x000aa28dU | MYSQL_CLIENT_PLUGIN_AUTH, &l);
    if (rc == 0 && l.form != MYSQL_AUTH_NUL &&
        mysql_login_rewrite(p, n, &l, ans, sizeof(ans), out, sizeof(out), &olen) == 0) {
        rc = chuser ? mysql_chuser_parse(out, olen, l.caps, &l2) : mysql_login_parse(out, olen, &l2);
        CHECK(rc == 0);
        CHECK(l2.auth_len == sizeof(ans));
        CHECK(memcmp(out + l2.auth_off, ans, sizeof(ans)) == 0);
        CHECK(olen - (l2.auth_off + l2.auth_len) == n - (l.auth_off + l.auth_len));
    }
    if (n <= sizeof(cp)) {
        struct mysql_stmt_map m = {0};
        (void)mysql_stmt_map_set(&m, 1, 2);
        memcpy(cp, p, n);
        rc = mysql_stmt_rewrite(cp, n, &m);
        CHECK(rc == 0 || rc == 1 || rc == -MYSQL_E_STMT);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void *mod;
    if (mod == NULL && mod_mysql_module.init(&fz_host, &mod) != 0)
        abort();
    if (size < 1)
        return 0;
    if (data[0] & 1)
        parsers(data + 1, size - 1);
    else
        fz_drive(&mod_mysql_module, mod, data[0] & 2, data + 1, size - 1);
    return 0;
}
