/*
 * test_tcstats: golden test of tcpcopy's counters. A fixed set of counter values
 * (each counter word numbered in order) is rendered as JSON and as Prometheus
 * text and compared with tests/data/metrics/tcpcopy.{json,prom}; the copy ratio;
 * the table fits its bounds. TC_UPDATE_GOLDEN=1 rewrites the expected files.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mod.h"
#include "tcstats.h"

#include "metrics_golden.h"

static void test_golden(void **state)
{
    (void)state;
    static struct eng_stats es;
    static struct sender_stats ss;
    static struct chanc_stats cs;
    static struct metrics m;
    number(&es, sizeof(es), 1);
    number(&ss, sizeof(ss), 2);
    number(&cs, sizeof(cs), 3);
    es.requests_marked = 400;
    es.gate_by_bytes = 300;
    struct tcstats_src src = {
        .eng = &es, .snd = &ss, .ch = &cs, .ch_up = 2, .ch_total = 4, .parse_errors = 5,
        .reply_errors = 6, .kernel_drops = 7, .offline_read = 8, .offline_replayed = 9, .offline_skipped = 10,
        .uptime_s = 12.5, .version = "0.1.0",
    };
    tcstats_fill(&m, &src);
    assert_false(m.overflow);
    documented(&m);
    struct mbuf b;
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_json(&m, &b), 0);
    golden("tcpcopy.json", out);
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_prom(&m, &b), 0);
    golden("tcpcopy.prom", out);
    assert_non_null(strstr(out, "\ntcpcopy_copy_ratio 0.75\n"));
    assert_non_null(strstr(out, "\ntcpcopy_build_info{version=\"0.1.0\"} 1\n"));
    assert_true(b.len < 64 * 1024); /* well within the endpoint's 256 KB */
    /* The labels are the engine's own outcome names. */
    for (int i = SO_COMPLETE; i < SO_COUNT; i++) {
        char want[96];
        snprintf(want, sizeof(want), "tcpcopy_sessions_total{outcome=\"%s\"}", eng_outcome_str(i));
        assert_non_null(strstr(out, want));
    }
}

static int t_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    return 0;
}

static void t_end(void *mod, void *sess)
{
}

/* --module adds its rows (and only then): each documented, each with its value; the module's
 * own counters by the names it gave. */
static void test_module_rows(void **state)
{
    (void)state;
    static struct eng_stats es;
    static struct sender_stats ss;
    static struct chanc_stats cs;
    static struct metrics m;
    struct tcstats_src src = {.eng = &es, .snd = &ss, .ch = &cs, .version = "0.1.0"};
    tcstats_fill(&m, &src);
    size_t without = m.n;
    es.mod_sessions = 7;
    es.mod_out_bytes = 1234;
    static const char *const names[] = {"logins_rewritten", "not_replayable", NULL};
    static const struct tcm_module t = {.api_version = TCM_API_VERSION, .name = "t",
                                        .sess_new = t_new, .sess_end = t_end, .counters = names};
    struct mod *md, *plain;
    char err[128];
    assert_int_equal(mod_load("identity", NULL, &plain, err, sizeof(err)), 0);
    src.module = plain;
    tcstats_fill(&m, &src);
    assert_true(m.n > without);
    documented(&m); /* the module's own counters have names of its choosing: not listed */
    size_t fixed = m.n;
    mod_free(plain);
    assert_int_equal(mod_open_table(&t, NULL, &md, err, sizeof(err)), 0);
    md->host.count(&md->host, 1, 5);
    md->host.count(&md->host, 2, 99); /* no such counter: ignored */
    src.module = md;
    tcstats_fill(&m, &src);
    assert_int_equal(m.n, fixed + 2);
    struct mbuf b;
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_prom(&m, &b), 0);
    assert_non_null(strstr(out, "\ntcpcopy_module_sessions_total{event=\"taken\"} 7\n"));
    assert_non_null(strstr(out, "\ntcpcopy_module_bytes_total{kind=\"target_out\"} 1234\n"));
    assert_non_null(strstr(out, "\ntcpcopy_module_events_total{event=\"logins_rewritten\"} 0\n"));
    assert_non_null(strstr(out, "\ntcpcopy_module_events_total{event=\"not_replayable\"} 5\n"));
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_json(&m, &b), 0);
    assert_non_null(strstr(out, "\"events\":{\"logins_rewritten\":0,\"not_replayable\":5}"));
    mod_free(md);
}

static void test_ratio(void **state)
{
    (void)state;
    struct eng_stats es = {0};
    assert_true(tcstats_ratio(&es) == 0.0);
    es.requests_marked = 8;
    es.gate_by_bytes = 8;
    assert_true(tcstats_ratio(&es) == 1.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
        cmocka_unit_test(test_module_rows),
        cmocka_unit_test(test_ratio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
