/*
 * test_metrics: the counter table's two renderings: JSON nesting and string
 * escaping, the Prometheus text (HELP/TYPE once per family, label escaping,
 * floats), the bounds (a full buffer, a full table, rows out of order refused),
 * and the atomic file writer.
 */
#include <errno.h>
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

#include "metrics.h"

static struct metrics tab;
static char out[8192];

static const char *json(struct metrics *m, int want)
{
    struct mbuf b;
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_json(m, &b), want);
    return out;
}

static void test_json_escape(void **state)
{
    (void)state;
    char buf[128];
    struct mbuf b;
    mbuf_init(&b, buf, sizeof(buf));
    mbuf_json_str(&b, "a\"b\\c\nd\te\x01\x1f\x7f" "\xc3\xa9");
    assert_string_equal(buf, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u001f\\u007f\xc3\xa9\"");
    assert_false(b.full);
    mbuf_init(&b, buf, sizeof(buf));
    mbuf_json_str(&b, "");
    assert_string_equal(buf, "\"\"");
}

static void test_prom_label_escape(void **state)
{
    (void)state;
    char buf[64];
    struct mbuf b;
    mbuf_init(&b, buf, sizeof(buf));
    mbuf_prom_label(&b, "a\\b\"c\nd");
    assert_string_equal(buf, "a\\\\b\\\"c\\nd");
}

static void test_json_nesting(void **state)
{
    (void)state;
    metrics_reset(&tab);
    metrics_add(&tab, "uptime", "p_up", NULL, NULL, METRIC_GAUGE, "h", 1);
    metrics_add(&tab, "sessions.outcome.complete", "p_s", "outcome", "complete", METRIC_COUNTER, "h", 5);
    metrics_add(&tab, "sessions.outcome.idle", "p_s", "outcome", "idle", METRIC_COUNTER, "h", 0);
    metrics_add(&tab, "sessions.active", "p_a", NULL, NULL, METRIC_GAUGE, "h", 2);
    metrics_add(&tab, "a.b.c.d", "p_d", NULL, NULL, METRIC_GAUGE, "h", 3);
    metrics_add(&tab, "a.e", "p_e", NULL, NULL, METRIC_GAUGE, "h", 4);
    metrics_add_f(&tab, "ratio", "p_r", NULL, NULL, METRIC_GAUGE, "h", 0.5);
    assert_string_equal(json(&tab, 0),
                        "{\"uptime\":1,\"sessions\":{\"outcome\":{\"complete\":5,\"idle\":0},"
                        "\"active\":2},\"a\":{\"b\":{\"c\":{\"d\":3}},\"e\":4},\"ratio\":0.5}\n");
}

static void test_json_empty(void **state)
{
    (void)state;
    metrics_reset(&tab);
    assert_string_equal(json(&tab, 0), "{}\n");
}

static void test_json_refuses_bad_tables(void **state)
{
    (void)state;
    /* An object's rows split by another object: it would be opened twice. */
    metrics_reset(&tab);
    metrics_add(&tab, "a.x", "n1", NULL, NULL, METRIC_GAUGE, "h", 1);
    metrics_add(&tab, "b.y", "n2", NULL, NULL, METRIC_GAUGE, "h", 1);
    metrics_add(&tab, "a.z", "n3", NULL, NULL, METRIC_GAUGE, "h", 1);
    json(&tab, -EINVAL);
    /* A key used twice, and a value that is also an object. */
    metrics_reset(&tab);
    metrics_add(&tab, "a", "n1", NULL, NULL, METRIC_GAUGE, "h", 1);
    metrics_add(&tab, "a", "n2", NULL, NULL, METRIC_GAUGE, "h", 1);
    json(&tab, -EINVAL);
    metrics_reset(&tab);
    metrics_add(&tab, "a", "n1", NULL, NULL, METRIC_GAUGE, "h", 1);
    metrics_add(&tab, "a.b", "n2", NULL, NULL, METRIC_GAUGE, "h", 1);
    json(&tab, -EINVAL);
    metrics_reset(&tab);
    metrics_add(&tab, "a..b", "n1", NULL, NULL, METRIC_GAUGE, "h", 1);
    json(&tab, -EINVAL);
    metrics_reset(&tab);
    metrics_add(&tab, "a.b.c.d.e.f.g.h.i", "n1", NULL, NULL, METRIC_GAUGE, "h", 1);
    json(&tab, -EINVAL);
}

static void test_prom(void **state)
{
    (void)state;
    metrics_reset(&tab);
    metrics_add(&tab, "s.complete", "p_sessions_total", "outcome", "complete", METRIC_COUNTER,
                "Sessions by outcome.", 5);
    metrics_add(&tab, "s.idle", "p_sessions_total", "outcome", "idle", METRIC_COUNTER,
                "Sessions by outcome.", 0);
    metrics_add_f(&tab, "lag", "p_lag_seconds", NULL, NULL, METRIC_GAUGE, "Lag\\ with\nnewline.", 0.00125);
    metrics_add(&tab, "build", "p_build_info", "version", "1.\"2\"", METRIC_GAUGE, "Build.", 1);
    struct mbuf b;
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_prom(&tab, &b), 0);
    assert_string_equal(out, "# HELP p_sessions_total Sessions by outcome.\n"
                             "# TYPE p_sessions_total counter\n"
                             "p_sessions_total{outcome=\"complete\"} 5\n"
                             "p_sessions_total{outcome=\"idle\"} 0\n"
                             "# HELP p_lag_seconds Lag\\\\ with\\nnewline.\n"
                             "# TYPE p_lag_seconds gauge\n"
                             "p_lag_seconds 0.00125\n"
                             "# HELP p_build_info Build.\n"
                             "# TYPE p_build_info gauge\n"
                             "p_build_info{version=\"1.\\\"2\\\"\"} 1\n");
    /* A family's rows must be adjacent. */
    metrics_add(&tab, "s.x", "p_sessions_total", "outcome", "x", METRIC_COUNTER, "h", 1);
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_prom(&tab, &b), -EINVAL);
}

static void test_bounds(void **state)
{
    (void)state;
    char small[16];
    struct mbuf b;
    metrics_reset(&tab);
    metrics_add(&tab, "a_long_key", "n", NULL, NULL, METRIC_GAUGE, "h", 123456789);
    mbuf_init(&b, small, sizeof(small));
    assert_int_equal(metrics_render_json(&tab, &b), -ENOSPC);
    assert_true(b.len < sizeof(small));
    assert_int_equal(small[b.len], '\0');
    mbuf_init(&b, small, sizeof(small));
    assert_int_equal(metrics_render_prom(&tab, &b), -ENOSPC);
    assert_true(b.len < sizeof(small));

    metrics_reset(&tab);
    for (int i = 0; i < METRICS_ROWS_MAX + 5; i++)
        metrics_add(&tab, "k", "n", NULL, NULL, METRIC_GAUGE, "h", 1);
    assert_int_equal(tab.n, METRICS_ROWS_MAX);
    assert_true(tab.overflow);
    json(&tab, -ENOSPC);
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_prom(&tab, &b), -ENOSPC);
}

static void test_write_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_metrics.XXXXXX";
    char path[64], tmp[80], buf[32];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/stats.json", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    assert_int_equal(metrics_write_file(path, "{\"a\":1}\n", 8), 0);
    assert_int_equal(metrics_write_file(path, "{}\n", 3), 0);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    assert_string_equal(buf, "{}\n");
    assert_int_equal(access(tmp, F_OK), -1); /* renamed, not left behind */
    /* A directory that does not exist: an error, nothing written. */
    char bad[96];
    snprintf(bad, sizeof(bad), "%s/nope/stats.json", dir);
    assert_int_equal(metrics_write_file(bad, "{}\n", 3), -ENOENT);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_prom_label_escape),
        cmocka_unit_test(test_json_nesting),
        cmocka_unit_test(test_json_empty),
        cmocka_unit_test(test_json_refuses_bad_tables),
        cmocka_unit_test(test_prom),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_write_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
