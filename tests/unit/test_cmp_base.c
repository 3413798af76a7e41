/*
 * test_cmp_base: the noise rule of --compare-baseline. A header whose value changes on every
 * answer (on target and baseline) is noise; a header only the target changes, or a noisy
 * header beside a real body difference, is real; bodies differing at the same place on both
 * are noise, at another place (or at one more place, deep in a large body) real; statuses;
 * too many header lines to name them all.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_base.h"

/* An HTTP unit: status, "name:value" header lines separated by '|', body. */
static struct cmp_unit http(const char *status, const char *headers, const char *body)
{
    struct cmp_unit u;
    cmp_unit_init(&u);
    u.flags = CMP_U_HTTP;
    cmp_unit_status(&u, status, strlen(status));
    for (const char *p = headers; *p;) {
        size_t k = strcspn(p, "|");
        cmp_unit_header(&u, p, k);
        p += k + (p[k] == '|');
    }
    cmp_stream_add(&u.body, (const uint8_t *)body, strlen(body));
    return u;
}

static const char OK[] = "HTTP/1.1 200 OK";

static void test_random_header_is_noise(void **state)
{
    (void)state;
    struct cmp_unit o = http(OK, "server:nginx|x-rand:aaaa", "hello");
    struct cmp_unit t = http(OK, "server:nginx|x-rand:bbbb", "hello");
    struct cmp_unit b = http(OK, "server:nginx|x-rand:cccc", "hello");
    struct cmp_diff d;
    assert_false(cmp_diff_units(&o, &t, &d));
    assert_true(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_HEADER);
    assert_memory_equal(d.a, "x-rand:aaaa", 11);
    assert_memory_equal(d.b, "x-rand:bbbb", 11);
    /* the baseline happens to agree with production: the target's difference is real */
    struct cmp_unit same = http(OK, "server:nginx|x-rand:aaaa", "hello");
    assert_false(cmp_base_noise(&o, &t, &same, &d));
    assert_int_equal(d.kind, CMP_KIND_HEADER);
}

static void test_real_beside_noise(void **state)
{
    (void)state;
    struct cmp_unit o = http(OK, "server:nginx|x-rand:aaaa", "hello world");
    struct cmp_unit b = http(OK, "server:nginx|x-rand:cccc", "hello world");
    struct cmp_diff d;
    /* a header of its own */
    struct cmp_unit t = http(OK, "server:nginx/2|x-rand:bbbb", "hello world");
    assert_false(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_HEADER);
    assert_memory_equal(d.a, "server:nginx", 12);
    assert_memory_equal(d.b, "server:nginx/2", 14);
    /* a header that only the target adds */
    t = http(OK, "server:nginx|x-rand:bbbb|x-new:1", "hello world");
    assert_false(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_HEADER);
    assert_int_equal(d.alen, 0);
    assert_memory_equal(d.b, "x-new:1", 7);
    /* the noisy header must not hide a real body difference */
    t = http(OK, "server:nginx|x-rand:bbbb", "hello World");
    assert_false(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    assert_int_equal(d.offset, 6);
    /* nor a status of its own */
    t = http("HTTP/1.1 404 Not Found", "server:nginx|x-rand:bbbb", "hello world");
    assert_false(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_STATUS);
}

static void test_bodies_and_status(void **state)
{
    (void)state;
    struct cmp_unit o = http(OK, "", "id=1111 rest");
    struct cmp_unit t = http(OK, "", "id=2222 rest");
    struct cmp_unit b = http(OK, "", "id=3333 rest");
    struct cmp_diff d;
    assert_true(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    assert_int_equal(d.offset, 3);
    /* the baseline differs elsewhere: the target's place is its own */
    b = http(OK, "", "id=1111 REST");
    assert_false(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.offset, 3);
    /* a length difference against a body one */
    b = http(OK, "", "id=1111 rest!");
    assert_false(cmp_base_noise(&o, &t, &b, &d));
    /* raw answers: the whole answer is the body */
    struct cmp_unit ro, rt, rb;
    cmp_unit_init(&ro), cmp_unit_init(&rt), cmp_unit_init(&rb);
    cmp_stream_add(&ro.body, (const uint8_t *)"+OK 17\r\n", 8);
    cmp_stream_add(&rt.body, (const uint8_t *)"+OK 18\r\n", 8);
    cmp_stream_add(&rb.body, (const uint8_t *)"+OK 19\r\n", 8);
    assert_true(cmp_base_noise(&ro, &rt, &rb, &d));
    /* statuses that both change (a flaky upstream), bodies equal */
    o = http(OK, "", "x");
    t = http("HTTP/1.1 502 Bad Gateway", "", "x");
    b = http("HTTP/1.1 503 Service Unavailable", "", "x");
    assert_true(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_STATUS);
}

static void test_too_many_headers(void **state)
{
    (void)state;
    char h[2048] = "", one[32];
    for (int i = 0; i < CMP_NHEADERS + 2; i++) {
        snprintf(one, sizeof(one), "x-h%d:v|", i);
        strcat(h, one);
    }
    char ho[2100], ht[2100], hb[2100];
    snprintf(ho, sizeof(ho), "%sx-rand:a", h);
    snprintf(ht, sizeof(ht), "%sx-rand:b", h);
    snprintf(hb, sizeof(hb), "%sx-rand:c", h);
    struct cmp_unit o = http(OK, ho, ""), t = http(OK, ht, ""), b = http(OK, hb, "");
    struct cmp_diff d;
    assert_false(cmp_base_noise(&o, &t, &b, &d)); /* names past the kept ones: real */
    assert_int_equal(d.kind, CMP_KIND_HEADER);
}

/* Large bodies: places past the kept bytes are told by the block hashes. */
static void test_large_bodies(void **state)
{
    (void)state;
    static uint8_t bo[200000], bt[200000], bb[200000];
    for (size_t i = 0; i < sizeof(bo); i++)
        bo[i] = (uint8_t)('a' + i % 23);
    memcpy(bt, bo, sizeof(bo));
    memcpy(bb, bo, sizeof(bo));
    bt[10] = bb[10] = '#'; /* the same random token early on */
    bt[11] = '1', bb[11] = '2';
    struct cmp_unit o, t, b;
    cmp_unit_init(&o), cmp_unit_init(&t), cmp_unit_init(&b);
    cmp_stream_add(&o.body, bo, sizeof(bo));
    cmp_stream_add(&t.body, bt, sizeof(bt));
    cmp_stream_add(&b.body, bb, sizeof(bb));
    struct cmp_diff d;
    assert_true(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.offset, 10);
    /* the target also differs deep inside (a block the baseline has equal) */
    bt[150000] ^= 1;
    cmp_unit_init(&t);
    cmp_stream_add(&t.body, bt, sizeof(bt));
    assert_false(cmp_base_noise(&o, &t, &b, &d));
    assert_int_equal(d.kind, CMP_KIND_BODY);
    /* and in the last bytes */
    bt[150000] ^= 1;
    bt[sizeof(bt) - 3] ^= 1;
    cmp_unit_init(&t);
    cmp_stream_add(&t.body, bt, sizeof(bt));
    assert_false(cmp_base_noise(&o, &t, &b, &d));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_header_is_noise),
        cmocka_unit_test(test_real_beside_noise),
        cmocka_unit_test(test_bodies_and_status),
        cmocka_unit_test(test_too_many_headers),
        cmocka_unit_test(test_large_bodies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
