/*
 * test_admit: which sessions are copied, and as whom. -r samples by client address and
 * port (the same answer for every packet, near the share asked); -n copies get distinct
 * ports; a client whose family cannot reach the target is counted, not copied; past 90%
 * of the memory bound new sessions are refused; --shard hosts split sessions exactly; a tuple the target still holds is
 * avoided; moving a session re-registers its route.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "eng_fx.h"

static struct efx *fx_new(uint8_t pct, uint16_t copies, uint64_t mem_max)
{
    struct efx *f = efx_alloc();
    f->conf.sample_pct = pct;
    f->conf.copies = copies;
    if (mem_max)
        f->conf.mem_max = mem_max;
    efx_start(f);
    return f;
}

static struct pkt client(const char *src, uint16_t sport)
{
    return efx_client(src, sport);
}

static void test_sampling(void **state)
{
    (void)state;
    struct efx *f = fx_new(30, 1, 0);
    unsigned in = 0;
    for (uint16_t port = 10000; port < 20000; port++) {
        struct pkt p = client("198.51.100.10", port);
        bool a = admit_sampled(f->e, &p);
        assert_int_equal(a, admit_sampled(f->e, &p)); /* every packet agrees */
        in += a;
    }
    assert_true(in > 2500 && in < 3500);
    efx_free(f);
}

/* --shard: N hosts split the sessions, each exactly once, about evenly. */
static void test_shards_partition(void **state)
{
    (void)state;
    struct efx *f[3];
    unsigned count[3] = {0};
    for (uint16_t k = 0; k < 3; k++) {
        f[k] = fx_new(100, 1, 0);
        f[k]->e->conf.shard_k = k;
        f[k]->e->conf.shard_n = 3;
    }
    for (uint16_t port = 10000; port < 19000; port++) {
        struct pkt p = client(port % 2 ? "198.51.100.10" : "198.51.100.77", port);
        unsigned owners = 0;
        for (int k = 0; k < 3; k++) {
            bool mine = admit_shard(f[k]->e, &p);
            owners += mine;
            count[k] += mine;
        }
        assert_int_equal(owners, 1);
    }
    for (int k = 0; k < 3; k++) {
        assert_true(count[k] > 2700 && count[k] < 3300);
        efx_free(f[k]);
    }
}

static void test_copies_distinct_ports(void **state)
{
    (void)state;
    struct efx *f = fx_new(100, 50, 0);
    struct pkt p = client("198.51.100.10", 40000);
    uint16_t ports[50];
    for (uint16_t c = 0; c < 50; c++) {
        struct sess *s = admit_alloc(f->e, &p, &f->xfer.rules[0], c);
        assert_non_null(s);
        ports[c] = s->tkey.sport;
        for (uint16_t d = 0; d < c; d++)
            assert_int_not_equal(ports[c], ports[d]);
    }
    assert_int_equal(ports[0], 40000); /* the first copy keeps the client's port */
    assert_int_equal(f->e->st.sess_collisions, 0);
    efx_free(f);
}

static void test_family_and_memory(void **state)
{
    (void)state;
    struct efx *f = fx_new(100, 1, 64 * 4096);
    struct pkt p6 = client("2001:db8:2::10", 40000);
    assert_true(addr_parse(&p6.t.dst, "2001:db8:1::10"));
    assert_null(admit_alloc(f->e, &p6, &f->xfer.rules[0], 0));
    assert_int_equal(f->e->st.sess_family_mismatch, 1);

    /* Fill the pool past 90%: the next session is refused. */
    struct pkt p = client("198.51.100.10", 40001);
    struct sess *s = admit_alloc(f->e, &p, &f->xfer.rules[0], 0);
    assert_non_null(s);
    admit_start(f->e, s, 1000);
    static uint8_t data[60 * 4096];
    assert_true(stream_put(&s->st, &f->e->pool, 1001, data, sizeof(data), 1U << 30) > 0);
    struct pkt q = client("198.51.100.10", 40002);
    assert_null(admit_alloc(f->e, &q, &f->xfer.rules[0], 0));
    assert_int_equal(f->e->st.sess_refused_memory, 1);
    efx_free(f);
}

static void test_stale_and_move(void **state)
{
    (void)state;
    struct efx *f = fx_new(100, 1, 0);
    struct pkt p = client("198.51.100.10", 40000);
    struct sess *s = admit_alloc(f->e, &p, &f->xfer.rules[0], 0);
    assert_non_null(s);
    admit_start(f->e, s, 1000);
    assert_int_equal(f->routes_added, 1);
    struct tuple old = s->tkey;
    assert_true(admit_move(f->e, s));
    assert_int_not_equal(s->tkey.sport, old.sport);
    assert_int_equal(f->routes_added, 2);
    assert_int_equal(f->routes_deleted, 1);
    assert_ptr_equal(sess_find_t(&f->e->tab, &s->tkey), s);
    assert_null(sess_find_t(&f->e->tab, &old));
    /* The old tuple is now known stale: a new session from that port avoids it. */
    admit_free(f->e, s);
    assert_int_equal(f->routes_deleted, 2);
    struct sess *n = admit_alloc(f->e, &p, &f->xfer.rules[0], 0);
    assert_non_null(n);
    assert_int_not_equal(n->tkey.sport, old.sport);
    assert_int_equal(f->e->st.sess_stale_avoided, 1);
    efx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_shards_partition),
        cmocka_unit_test(test_copies_distinct_ports),
        cmocka_unit_test(test_family_and_memory),
        cmocka_unit_test(test_stale_and_move),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
