/*
 * test_finding: the --check findings as people and scripts read them. Golden
 * tests: a fixed set of findings is rendered in text and JSON and compared byte
 * for byte with tests/data/check_findings.{txt,json} (TC_GOLDEN_UPDATE=1 rewrites
 * them after a deliberate change). Also: hostile text is sanitized, a full list
 * counts what it drops, and the verdict follows the levels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "finding.h"

static struct findings F; /* large: not on the stack */

static void fixed_set(struct findings *f)
{
    findings_init(f, "tcpcopy");
    findings_add(f, FINDING_OK, "privileges", "running as root (CAP_NET_RAW)");
    struct finding *x = findings_add(f, FINDING_FAIL, "target_port_closed",
                                     "192.0.2.20:8080 answers the probe with RST: nothing "
                                     "listens there");
    finding_fix(x, "start the service on the target, or correct the target port in -x");
    x = findings_add(f, FINDING_WARN, "mtu_exceeds_path",
                     "-M 1500 is larger than the route MTU 1400 toward 192.0.2.20");
    finding_fix(x, "use -M 1400");
    x = findings_add(f, FINDING_FAIL, "intercept_secret",
                     "intercept 192.0.2.30:36524: bad secret: \"quoted\" and \\ back\tslash");
    finding_fix(x, "give both programs the same --secret-file");
}

static char *slurp_stream(void (*print)(const struct findings *, FILE *), const struct findings *f)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);
    assert_non_null(fp);
    print(f, fp);
    fclose(fp);
    return buf;
}

static char *slurp_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return strdup(buf);
}

static void golden(const char *name, void (*print)(const struct findings *, FILE *))
{
    char path[512];
    const char *dir = getenv("TC_DATA");
    snprintf(path, sizeof(path), "%s/%s", dir != NULL ? dir : "tests/data", name);
    fixed_set(&F);
    char *got = slurp_stream(print, &F);
    if (getenv("TC_GOLDEN_UPDATE") != NULL) {
        FILE *fp = fopen(path, "wb");
        assert_non_null(fp);
        fputs(got, fp);
        fclose(fp);
    }
    char *want = slurp_file(path);
    assert_non_null(want);
    assert_string_equal(got, want);
    free(got);
    free(want);
}

static void test_golden_text(void **state)
{
    (void)state;
    golden("check_findings.txt", findings_print_text);
}

static void test_golden_json(void **state)
{
    (void)state;
    golden("check_findings.json", findings_print_json);
}

static void test_verdict(void **state)
{
    (void)state;
    findings_init(&F, "intercept");
    findings_add(&F, FINDING_OK, "filter", "compiles");
    findings_add(&F, FINDING_WARN, "rp_filter", "strict");
    assert_int_equal(findings_count(&F, FINDING_FAIL), 0);
    char *t = slurp_stream(findings_print_text, &F);
    assert_non_null(strstr(t, "intercept --check: ok: the path works (1 warning)\n"));
    free(t);
    char *j = slurp_stream(findings_print_json, &F);
    assert_non_null(strstr(j, "\"ok\":true,\"problems\":0,\"warnings\":1,"));
    free(j);
    assert_true(findings_has(&F, "rp_filter"));
    assert_false(findings_has(&F, "ip_forward_on"));
}

static void test_hostile_text_and_overflow(void **state)
{
    (void)state;
    findings_init(&F, "tcpcopy");
    struct finding *x = findings_add(&F, FINDING_FAIL, "intercept_refused", "bye: %s",
                                     "a\x1b[2J\nb\xff\"c");
    assert_string_equal(x->what, "bye: a?[2J?b?\"c");
    char longtext[4096];
    memset(longtext, 'x', sizeof(longtext) - 1);
    longtext[sizeof(longtext) - 1] = '\0';
    x = findings_add(&F, FINDING_WARN, longtext, "%s", longtext);
    assert_int_equal(strlen(x->id), FINDING_ID_MAX - 1);
    assert_int_equal(strlen(x->what), FINDING_TEXT_MAX - 1);
    while (F.n < FINDINGS_MAX)
        findings_add(&F, FINDING_OK, "filler", "-");
    x = findings_add(&F, FINDING_FAIL, "lost", "one too many");
    assert_null(x);
    finding_fix(x, "NULL-safe");
    assert_int_equal(F.dropped, 1);
    char *j = slurp_stream(findings_print_json, &F);
    assert_non_null(strstr(j, "\"dropped\":1,"));
    assert_non_null(strstr(j, "bye: a?[2J?b?\\\"c"));
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_text),
        cmocka_unit_test(test_golden_json),
        cmocka_unit_test(test_verdict),
        cmocka_unit_test(test_hostile_text_and_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
