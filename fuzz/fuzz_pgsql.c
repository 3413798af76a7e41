/*
 * fuzz_pgsql: the PostgreSQL parsers of src/tcpcopy/db_pgsql*.c and the
 * built-in `postgresql` module fed hostile bytes. Byte 0 chooses: bit 0, the
 * parsers on the rest (framing agrees with the startup parser; a SCRAM
 * exchange is run against the rest as server-first and server-final); else
 * the module's hooks through fuzz_db_drive.h (bit 1: a session seen
 * mid-stream). Inputs asking for more than 4096 PBKDF2 rounds are skipped:
 * they are refused above PG_SCRAM_ITER_MAX anyway, only slowly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db_pgsql.h"
#include "fuzz_db_drive.h"
#include "mod_db.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether an "i=" in the bytes asks for many rounds (five digits or more). */
static bool many_rounds(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++) {
        if (p[i] != 'i' || p[i + 1] != '=')
            continue;
        size_t d = 0;
        while (i + 2 + d < n && p[i + 2 + d] >= '0' && p[i + 2 + d] <= '9')
            d++;
        if (d > 4 || (d == 4 && p[i + 2] > '4'))
            return true;
    }
    return false;
}

static void parsers(const uint8_t *p, size_t n)
{
    struct pg_startup st;
    struct pg_auth a;
    struct pg_scram sc;
    size_t total, olen;
    static uint8_t out[4096];

    if (pg_frame(p, n, true, &total) == 0 && total > 0) {
        CHECK(total <= n);
        (void)pg_startup_parse(p, total, &st);
    }
    if (pg_startup_parse(p, n, &st) == 0 && st.code == PG_PROTO_3) {
        CHECK(st.user_off + st.user_len <= n);
        CHECK(st.db_off + st.db_len <= n);
    }
    if (pg_frame(p, n, false, &total) == 0 && total > 0 && pg_auth_parse(p, total, &a) == 0) {
        CHECK(a.data + a.data_len == p + total);
        (void)pg_sasl_offers(&a, "SCRAM-SHA-256");
    }
    CHECK(pg_scram_first(&sc, "abcdefghijklmnopqrstuvwx", out, sizeof(out), &olen) == 0);
    if (pg_scram_final(&sc, "secret", p, n, out, sizeof(out), &olen) == 0) {
        CHECK(olen <= sizeof(out));
        CHECK(n > 26); /* it holds our nonce and more */
    }
    (void)pg_scram_verify(&sc, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static void *mod;
    if (mod == NULL && mod_pgsql_module.init(&fz_host, &mod) != 0)
        abort();
    if (size < 1 || many_rounds(data, size))
        return 0;
    if (data[0] & 1)
        parsers(data + 1, size - 1);
    else
        fz_drive(&mod_pgsql_module, mod, data[0] & 2, data + 1, size - 1);
    return 0;
}
