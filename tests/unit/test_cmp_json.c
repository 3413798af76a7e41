/*
 * test_cmp_json: the streaming JSON path filter. Keys, indexes and wildcards; values of
 * every kind left out (strings with escaped quotes and brackets, objects, arrays, literals);
 * keys that only look alike; empty containers; JSON lines; input that is not JSON passes
 * unchanged from where it stops being JSON; too deep documents; path syntax errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmp_json.h"

struct out {
    size_t n;
    char buf[4096];
};

static void collect(void *arg, const uint8_t *p, size_t n)
{
    struct out *o = arg;
    assert_true(o->n + n < sizeof(o->buf));
    memcpy(o->buf + o->n, p, n);
    o->n += n;
    o->buf[o->n] = '\0';
}

/* Filter text with the given paths, fed in pieces of `step` bytes. */
static const char *filter(const char *const *paths, size_t np, const char *text, size_t step)
{
    static struct out o;
    static struct cmp_jpath jp[8];
    char err[128];
    for (size_t i = 0; i < np; i++)
        assert_true(cmp_jpath_parse(&jp[i], paths[i], err, sizeof(err)));
    struct cmp_json j;
    cmp_json_init(&j, jp, (uint32_t)np);
    memset(&o, 0, sizeof(o));
    size_t n = strlen(text);
    for (size_t off = 0; off < n; off += step)
        cmp_json_feed(&j, (const uint8_t *)text + off, n - off < step ? n - off : step, collect, &o);
    assert_int_equal(o.n + j.dropped, n);
    return o.buf;
}

static void test_paths(void **state)
{
    (void)state;
    const char *p1[] = {"$.meta.request_id"};
    for (size_t step = 1; step < 9; step++) {
        assert_string_equal(filter(p1, 1, "{\"meta\": {\"request_id\": \"a\\\"}]\", \"n\": 1}}", step),
                            "{\"meta\": {\"request_id\": , \"n\": 1}}");
        assert_string_equal(filter(p1, 1, "{\"meta\":{\"request_id\":[1,{\"x\":\"]\"}],\"n\":1}}", step),
                            "{\"meta\":{\"request_id\":,\"n\":1}}");
        assert_string_equal(filter(p1, 1, "{\"meta\":{\"request_id\":-12.5e3}}", step),
                            "{\"meta\":{\"request_id\":}}");
        assert_string_equal(filter(p1, 1, "{\"meta\":{\"request_id\":null }}", step),
                            "{\"meta\":{\"request_id\": }}");
    }
    /* a key at another place, or a longer key, is kept */
    assert_string_equal(filter(p1, 1, "{\"request_id\":1,\"meta\":{\"request_idx\":2}}", 3),
                        "{\"request_id\":1,\"meta\":{\"request_idx\":2}}");
    const char *p2[] = {"$[*].id", "$[1].v"};
    assert_string_equal(filter(p2, 2, "[{\"id\":1,\"v\":1},{\"id\":2,\"v\":2},{}]", 1),
                        "[{\"id\":,\"v\":1},{\"id\":,\"v\":},{}]");
    const char *p3[] = {"$.a.*"};
    assert_string_equal(filter(p3, 1, "{\"a\":{\"x\":1,\"y\":[]},\"b\":{\"x\":1}}", 2),
                        "{\"a\":{\"x\":,\"y\":},\"b\":{\"x\":1}}");
    /* JSON lines: each document is filtered */
    const char *p4[] = {"$.t"};
    assert_string_equal(filter(p4, 1, "{\"t\":1}\n{\"t\":2,\"u\":[]}\n", 1),
                        "{\"t\":}\n{\"t\":,\"u\":[]}\n");
}

static void test_not_json(void **state)
{
    (void)state;
    const char *p[] = {"$.a"};
    /* filtering stops where the input stops being JSON; nothing after is lost */
    assert_string_equal(filter(p, 1, "{\"a\":1} <html>{\"a\":2}", 1), "{\"a\":} <html>{\"a\":2}");
    assert_string_equal(filter(p, 1, "{\"a\" 1, \"a\":2}", 1), "{\"a\" 1, \"a\":2}");
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    strcat(deep, "{\"a\":1}");
    assert_string_equal(filter(p, 1, deep, 5), deep);
}

static void test_syntax(void **state)
{
    (void)state;
    struct cmp_jpath jp;
    char err[128];
    assert_false(cmp_jpath_parse(&jp, "meta.id", err, sizeof(err)));
    assert_non_null(strstr(err, "must start with $"));
    assert_false(cmp_jpath_parse(&jp, "$", err, sizeof(err)));
    assert_false(cmp_jpath_parse(&jp, "$.a..b", err, sizeof(err)));
    assert_false(cmp_jpath_parse(&jp, "$.a[x]", err, sizeof(err)));
    assert_false(cmp_jpath_parse(&jp, "$.a[1", err, sizeof(err)));
    assert_false(cmp_jpath_parse(&jp, "$.a.b.c.d.e.f.g.h.i", err, sizeof(err)));
    assert_true(cmp_jpath_parse(&jp, "$.a[12].b[*].*", err, sizeof(err)));
    assert_int_equal(jp.nseg, 5);
    assert_int_equal(jp.seg[1].index, 12);
    assert_int_equal(jp.seg[3].index, -2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_not_json),
        cmocka_unit_test(test_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
