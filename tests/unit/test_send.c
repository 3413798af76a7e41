/*
 * test_send: the sender's front (send.c) behind a fake backend: the conf's
 * defaults and limits, the errno-to-counter table, what commit refuses before a
 * backend sees it, a backend's refusal counted under its errno, a full batch
 * flushed by sender_buf, and sender_free flushing then releasing the backend.
 * No sockets: the backends have their own tests (test_send_raw, test_send_link).
 */
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "send.h"
#include "send_impl.h"

/* What the fake backend saw. */
struct fake {
    unsigned commits, flushes, flushed, freed;
    int refuse;            /* -errno the next commits return; 0: accept */
    struct addr last_dst;
    size_t last_len;
    unsigned flushed_at[8]; /* s->n at each flush */
};

static struct fake fk;

static int fake_commit(struct sender *s, unsigned i, uint8_t *ip, size_t len,
                       const struct addr *dst)
{
    assert_ptr_equal(ip, sender_slot(s, i) + s->headroom);
    fk.commits++;
    fk.last_dst = *dst;
    fk.last_len = len;
    if (fk.refuse)
        return fk.refuse;
    sender_msg_set(s, i, ip, len, 0);
    return 0;
}

static unsigned fake_flush(struct sender *s)
{
    if (fk.flushes < 8)
        fk.flushed_at[fk.flushes] = s->n;
    fk.flushes++;
    fk.flushed += s->n;
    s->st.packets += s->n;
    return 0;
}

static void fake_free(void *priv)
{
    fk.freed++;
    free(priv);
}

static const struct sender_ops fake_ops = {
    .name = "fake", .commit = fake_commit, .flush = fake_flush, .free = fake_free};

static struct sender *fake_new(unsigned batch, unsigned slot, size_t headroom)
{
    struct sender_conf c = {.batch = batch, .slot = slot};
    char err[128] = "";
    struct sender *s = sender_new(&fake_ops, &c, headroom, "fake", err, sizeof(err));

    assert_non_null(s);
    s->priv = malloc(1);
    assert_non_null(s->priv);
    memset(&fk, 0, sizeof(fk));
    return s;
}

/* A minimal IPv4 (20-byte header) or IPv6 (40) datagram to dst. */
static size_t put_ip(uint8_t *b, int af, const char *dst, size_t len)
{
    struct addr a;

    assert_true(addr_parse(&a, dst));
    memset(b, 0, len);
    if (af == AF_INET) {
        b[0] = 0x45;
        memcpy(b + 16, a.u.b, 4);
    } else {
        b[0] = 0x60;
        memcpy(b + 24, a.u.b, 16);
    }
    return len;
}

static void test_conf_defaults_and_limits(void **state)
{
    struct sender_conf out, c = {0};
    char err[128];

    (void)state;
    assert_int_equal(sender_conf_resolve(&out, NULL, "x", err, sizeof(err)), 0);
    assert_int_equal(out.batch, SEND_BATCH_DEFAULT);
    assert_int_equal(out.slot, SEND_SLOT_DEFAULT);
    assert_int_equal(out.sndbuf_bytes, SEND_SNDBUF_DEFAULT);
    assert_int_equal(sender_conf_resolve(&out, &c, "x", err, sizeof(err)), 0);
    assert_int_equal(out.batch, 64);
    assert_int_equal(out.slot, 1500);
    assert_int_equal(out.sndbuf_bytes, 8 * 1024 * 1024);
    c = (struct sender_conf){.batch = 1024, .slot = 40, .sndbuf_bytes = 4096};
    assert_int_equal(sender_conf_resolve(&out, &c, "x", err, sizeof(err)), 0);
    assert_int_equal(out.batch, 1024);
    assert_int_equal(out.slot, 40);
    assert_int_equal(out.sndbuf_bytes, 4096);

    c = (struct sender_conf){.batch = 1025};
    assert_int_equal(sender_conf_resolve(&out, &c, "sender", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "sender: batch 1025 out of range 1..1024");
    c = (struct sender_conf){.slot = 39};
    assert_int_equal(sender_conf_resolve(&out, &c, "sender", err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "sender: slot size 39 out of range 40..65535");
    c = (struct sender_conf){.slot = 65536};
    assert_null(sender_new(&fake_ops, &c, 0, "fake", err, sizeof(err)));
    assert_string_equal(err, "fake: slot size 65536 out of range 40..65535");
}

static void test_count_err(void **state)
{
    static const struct {
        int e;
        size_t off;
    } table[] = {
        {EPERM, offsetof(struct sender_stats, err_eperm)},
        {EACCES, offsetof(struct sender_stats, err_eperm)},
        {EMSGSIZE, offsetof(struct sender_stats, err_msgsize)},
        {ENOBUFS, offsetof(struct sender_stats, err_nobufs)},
        {EAGAIN, offsetof(struct sender_stats, err_nobufs)},
        {ENETUNREACH, offsetof(struct sender_stats, err_unreach)},
        {EHOSTUNREACH, offsetof(struct sender_stats, err_unreach)},
        {EINVAL, offsetof(struct sender_stats, err_other)},
        {EAFNOSUPPORT, offsetof(struct sender_stats, err_other)},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        struct sender_stats st;
        memset(&st, 0, sizeof(st));
        sender_count_err(&st, table[i].e);
        uint64_t *hit = (uint64_t *)((char *)&st + table[i].off);
        assert_int_equal(*hit, 1);
        /* and nothing else */
        uint64_t sum = st.err_eperm + st.err_msgsize + st.err_nobufs + st.err_unreach +
                       st.err_other + st.packets + st.bytes + st.batches;
        assert_int_equal(sum, 1);
    }
}

/* Lengths and versions the front refuses before the backend sees them. */
static void test_commit_refused_by_front(void **state)
{
    struct sender *s = fake_new(4, 100, 16);
    uint8_t *b;

    (void)state;
    b = sender_buf(s);
    put_ip(b, AF_INET, "192.0.2.1", 20);
    sender_commit(s, 0);   /* empty */
    sender_commit(s, 19);  /* shorter than an IPv4 header */
    sender_commit(s, 101); /* longer than a slot */
    put_ip(b, AF_INET6, "2001:db8::1", 40);
    sender_commit(s, 39);  /* shorter than an IPv6 header */
    b[0] = 0x50;           /* version 5 */
    sender_commit(s, 40);
    assert_int_equal(sender_stats(s)->err_other, 5);
    assert_int_equal(fk.commits, 0);
    assert_int_equal(s->n, 0);
    assert_int_equal(sender_flush(s), 0);
    assert_int_equal(fk.flushes, 0); /* nothing queued: the backend is not called */
    sender_free(s);
    assert_int_equal(fk.freed, 1);
}

/* The destination comes from the IP header; a backend's -errno is counted. */
static void test_commit_dst_and_backend_refusal(void **state)
{
    struct sender *s = fake_new(4, 100, 0);
    struct addr want;

    (void)state;
    put_ip(sender_buf(s), AF_INET6, "2001:db8::7", 60);
    sender_commit(s, 60);
    assert_true(addr_parse(&want, "2001:db8::7"));
    assert_true(addr_eq(&fk.last_dst, &want));
    assert_int_equal(fk.last_len, 60);
    assert_int_equal(s->n, 1);

    fk.refuse = -EHOSTUNREACH;
    put_ip(sender_buf(s), AF_INET, "192.0.2.9", 20);
    sender_commit(s, 20);
    assert_true(addr_parse(&want, "192.0.2.9"));
    assert_true(addr_eq(&fk.last_dst, &want));
    assert_int_equal(s->n, 1); /* not queued */
    assert_int_equal(sender_stats(s)->err_unreach, 1);
    sender_free(s); /* flushes the one queued */
    assert_int_equal(fk.flushed, 1);
    assert_int_equal(fk.freed, 1);
}

/* sender_buf on a full batch flushes it first; each slot is its own memory. */
static void test_full_batch_flushed(void **state)
{
    struct sender *s = fake_new(3, 64, 16);
    uint8_t *seen[7];

    (void)state;
    for (int i = 0; i < 7; i++) {
        seen[i] = sender_buf(s);
        put_ip(seen[i], AF_INET, "192.0.2.1", 40);
        sender_commit(s, 40);
    }
    assert_int_equal(fk.flushes, 2);
    assert_int_equal(fk.flushed_at[0], 3);
    assert_int_equal(fk.flushed_at[1], 3);
    assert_int_equal(s->n, 1);
    assert_ptr_equal(seen[0], seen[3]); /* slot 0 reused after the flush */
    assert_int_equal(seen[1] - seen[0], 16 + 64);
    assert_int_equal(sender_slot_size(s), 64);
    sender_flush(s);
    assert_int_equal(fk.flushed, 7);
    assert_int_equal(sender_stats(s)->packets, 7);
    sender_free(s);
    sender_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_defaults_and_limits),
        cmocka_unit_test(test_count_err),
        cmocka_unit_test(test_commit_refused_by_front),
        cmocka_unit_test(test_commit_dst_and_backend_refusal),
        cmocka_unit_test(test_full_batch_flushed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
