/*
 * test_icstats: golden test of intercept's counters. A fixed set of counter values
 * (each counter word numbered in order) is rendered as JSON and as Prometheus
 * text and compared with tests/data/metrics/intercept.{json,prom}; the lag sum in seconds;
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

#include "icstats.h"

#include "metrics_golden.h"

static void test_golden(void **state)
{
    (void)state;
    static struct icpt_stats st;
    static struct route_stats rs;
    static struct route_hold_stats hs;
    static struct metrics m;
    number(&st, sizeof(st), 1);
    number(&rs, sizeof(rs), 2);
    number(&hs, sizeof(hs), 3);
    st.lag_us = 250000;
    st.peers_refused = 10;
    st.auth_refused = 3;
    struct icstats_src src = {
        .st = &st, .rs = &rs, .hs = &hs, .routes = 4, .held = 5, .peers = 6, .peers_up = 7,
        .kernel_drops = 8, .uptime_s = 12.5, .version = "0.1.0",
    };
    icstats_fill(&m, &src);
    assert_false(m.overflow);
    documented(&m);
    struct mbuf b;
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_json(&m, &b), 0);
    golden("intercept.json", out);
    mbuf_init(&b, out, sizeof(out));
    assert_int_equal(metrics_render_prom(&m, &b), 0);
    golden("intercept.prom", out);
    assert_non_null(strstr(out, "\nintercept_capture_lag_seconds_total 0.25\n"));
    assert_non_null(strstr(out, "\nintercept_build_info{version=\"0.1.0\"} 1\n"));
    assert_true(b.len < 64 * 1024); /* well within the endpoint's 256 KB */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
