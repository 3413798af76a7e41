/*
 * fuzz_opts: libFuzzer harness for the option grammars in transfer.c (-x, -c,
 * -s) and parse_uint. The first byte picks the parser and the rest, made a C
 * string, is its argument: first byte % 5 selects -x, -c, -s, parse_uint or
 * all of them, so the seeds start with 'x', 'y', 'z', 'v' or 'w'. On success
 * the results are used (matching, port listing, target exclusion, picking) and
 * checked against the documented bounds; on failure the reason must be a
 * non-empty single line.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "transfer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static void check_err(const char *err)
{
    CHECK(err[0] != '\0');
    for (const char *p = err; *p; p++)
        CHECK(*p != '\n' && *p != '\r');
}

static void use_xfer(const struct xfer_map *m)
{
    uint16_t ports[XFER_RULES_MAX];
    size_t n;

    CHECK(m->n >= 1 && m->n <= XFER_RULES_MAX);
    n = xfer_ports_af(m, 0, ports, XFER_RULES_MAX);
    CHECK(n >= 1 && n <= m->n);
    for (size_t i = 0; i < m->n; i++) {
        const struct xfer_rule *r = &m->rules[i];
        CHECK(r->online_port != 0 && r->target_port != 0);
        CHECK(r->target.af == AF_INET || r->target.af == AF_INET6);
        /* Each rule is reachable by its own online side, or shadowed by an
         * earlier any-address rule on the same port and of the same family
         * (xfer_shadowed_by says which); a rule never takes another family. An
         * any-address rule is probed with its target's address, which an earlier
         * rule may name as its own online address: that rule wins for it. */
        const struct addr *dst = addr_is_any(&r->online) ? &r->target : &r->online;
        const struct xfer_rule *hit = xfer_match(m, dst, r->online_port);
        CHECK(hit != NULL && hit <= r && hit->online_port == r->online_port);
        CHECK(hit->target.af == r->target.af);
        CHECK(hit == r || hit == xfer_shadowed_by(m, i) ||
              (addr_is_any(&r->online) && addr_eq(&hit->online, dst)));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Static: the maps are ~100 KB, too much for the fuzzer's stack frames. */
    static struct xfer_map m;
    static struct client_map c;
    static struct server_list sl;
    char err[160];
    char *s;
    unsigned long v;

    if (size < 1 || size > 70000)
        return 0;
    s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';

    switch (data[0] % 5) {
    case 0:
        if (xfer_parse(&m, s, err, sizeof(err)) == 0)
            use_xfer(&m);
        else
            check_err(err);
        break;
    case 1:
        if (cmap_parse(&c, s, err, sizeof(err)) == 0) {
            CHECK(c.n >= 1 && c.n <= CMAP_MAX);
            const struct addr *p = cmap_pick_copy(&c, &c.addrs[0], 0);
            CHECK(p != NULL && p->af == c.addrs[0].af);
            CHECK(p == cmap_pick_copy(&c, &c.addrs[0], 0));
            /* Exclude against a fixed rule set targeting documentation hosts. */
            if (xfer_parse(&m, "80-192.0.2.20:8080,443-[2001:db8::20]:443", err, sizeof(err)) ==
                0) {
                size_t before = c.n, gone = cmap_exclude_targets(&c, &m);
                CHECK(c.n + gone == before);
            }
        } else {
            check_err(err);
        }
        break;
    case 2:
        if (servers_parse(&sl, s, (uint16_t)(data[0] & 0x80 ? 0 : 36524), err, sizeof(err)) == 0) {
            CHECK(sl.n >= 1 && sl.n <= SERVERS_MAX);
            for (size_t i = 0; i < sl.n; i++)
                CHECK(sl.s[i].port != 0);
        } else {
            check_err(err);
        }
        break;
    case 3:
        /* Bounds from the input itself, so the range checks are exercised. */
        if (parse_uint(s, data[0] >> 3, (unsigned long)data[0] << 8, &v))
            CHECK(v >= (unsigned long)(data[0] >> 3) && v <= (unsigned long)data[0] << 8);
        if (parse_uint(s, 0, (unsigned long)-1, &v))
            CHECK(strspn(s, "0123456789") == strlen(s));
        break;
    default:
        /* Every parser on the same text: they must not disagree about memory. */
        (void)xfer_parse(&m, s, err, sizeof(err));
        (void)cmap_parse(&c, s, err, sizeof(err));
        (void)servers_parse(&sl, s, 36524, err, sizeof(err));
        (void)parse_uint(s, 1, 65535, &v);
        break;
    }
    free(s);
    return 0;
}
