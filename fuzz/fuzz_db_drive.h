/*
 * fuzz_db_drive.h: drive a database module's hooks with hostile bytes, as the
 * engine does. The input after its first byte is a list of records
 * [direction][length][bytes]: even directions are the target's answer bytes,
 * odd the client's; client bytes a hook did not consume are offered again
 * with the next ones. Invariants: a hook never consumes more than it was
 * given nor writes more than its buffer; after a failure the session ends.
 */
#ifndef TC_FUZZ_DB_DRIVE_H
#define TC_FUZZ_DB_DRIVE_H

#include <stdint.h>
#include <string.h>

#include "fuzz_util.h"
#include "tcpcopy/module.h"

static const char *fz_password(const struct tcm_host *h, const char *user)
{
    (void)h;
    return user[0] != 'x' ? "secret" : NULL; /* users starting with 'x' have none */
}

static const char *fz_user_at(const struct tcm_host *h, size_t i)
{
    (void)h;
    return i == 0 ? "sbtest" : NULL;
}

static void fz_log(const struct tcm_host *h, int level, const char *msg)
{
    (void)h, (void)level, (void)msg;
}

static const struct tcm_host fz_host = {
    .api_version = TCM_API_VERSION,
    .password = fz_password,
    .log = fz_log,
    .user_at = fz_user_at,
};

static uint8_t fz_out[65536], fz_pend[16384];

static void fz_drive(const struct tcm_module *t, void *mod, bool midstream, const uint8_t *d,
                     size_t n)
{
    struct tcm_sess_info info = {0};
    void *s = NULL;
    size_t np = 0, off = 0;

    if (t->sess_new(mod, &info, &s) != 0)
        return;
    long r = t->start(s, midstream ? TCM_START_MIDSTREAM : TCM_START_SYN, fz_out, sizeof(fz_out));
    CHECK(r <= (long)sizeof(fz_out));
    while (r >= 0 && off + 2 <= n) {
        uint8_t dir = d[off];
        size_t len = d[off + 1];
        off += 2;
        if (len > n - off)
            len = n - off;
        if (dir % 2 == 0) {
            unsigned flags = 0;
            r = t->target_data(s, d + off, len, dir == 2 ? 1 : 0, &flags, fz_out, 16384);
            CHECK(r <= 16384);
        } else if (len > 0) {
            size_t k = len < sizeof(fz_pend) - np ? len : sizeof(fz_pend) - np, used = 0;
            memcpy(fz_pend + np, d + off, k);
            np += k;
            r = t->client_data(s, fz_pend, np, &used, fz_out, 16384);
            CHECK(r <= 16384);
            if (r >= 0) {
                CHECK(used <= np);
                memmove(fz_pend, fz_pend + used, np - used);
                np -= used;
            }
        }
        off += len;
    }
    t->sess_end(mod, s);
}

#endif
