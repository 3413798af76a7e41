/*
 * test_cmp_out: tcpcopy --compare DIR's files. Results handed to the context's sink make a
 * line of mismatches.jsonl for a difference only (masked by --compare-mask), the totals of
 * summary.json, and report.html; the files exist from the start and are private (0640); a
 * bad --compare-ignore rule, a bad mask and a DIR that is a file are refused by name.
 */
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

#include "cmp_out.h"

static char *slurp(const char *dir, const char *name)
{
    static char buf[65536];
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static struct cmp_result result(enum cmp_verdict v, const char *line)
{
    struct cmp_result r;
    memset(&r, 0, sizeof(r));
    r.verdict = v;
    r.index = 3;
    r.online_us = 1500;
    r.target_us = -1;
    r.req.proto = CMP_PROTO_HTTP;
    snprintf(r.req.endpoint, sizeof(r.req.endpoint), "GET /x");
    r.req.textlen = (uint32_t)strlen(line);
    memcpy(r.req.text, line, r.req.textlen);
    if (v == CMP_DIFFERENT) {
        r.diff.kind = CMP_KIND_BODY;
        r.diff.exact = true;
        r.diff.offset = 2;
        r.diff.alen = r.diff.blen = 4;
        memcpy(r.diff.a, "abcd", 4);
        memcpy(r.diff.b, "abXd", 4);
    }
    return r;
}

static void test_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cmp_out.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char sub[600];
    snprintf(sub, sizeof(sub), "%s/out", dir); /* made by cmp_out_open */
    struct tc_opts o;
    tc_opts_init(&o);
    o.compare_dir = sub;
    o.compare_ignore[o.compare_nignore++] = "header:X-Request-Id";
    o.compare_mask = "token=[a-z]+";
    char err[256];
    struct cmp_ctx *x = cmp_out_open(&o, NULL, NULL, err, sizeof(err));
    if (x == NULL)
        fail_msg("cmp_out_open: %s", err);
    struct stat st;
    char file[700];
    snprintf(file, sizeof(file), "%s/out/summary.json", dir);
    assert_int_equal(stat(file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0640);
    assert_non_null(strstr(slurp(dir, "out/summary.json"), "\"compared\": 0"));

    struct tuple k;
    memset(&k, 0, sizeof(k));
    assert_true(addr_parse(&k.src, "198.51.100.7"));
    k.sport = 40000;
    k.dport = 80;
    struct cmp_result eq = result(CMP_EQUAL, "GET /x HTTP/1.1");
    struct cmp_result df = result(CMP_DIFFERENT, "GET /x?token=secret HTTP/1.1");
    x->conf.sink(x->conf.sink_arg, &eq, &k);
    x->conf.sink(x->conf.sink_arg, &df, &k);
    assert_int_equal(cmp_out_write(x), 0);
    assert_int_equal(x->st.lines_written, 1);

    const char *m = slurp(dir, "out/mismatches.jsonl");
    assert_non_null(strstr(m, "\"session\":\"198.51.100.7:40000\""));
    assert_non_null(strstr(m, "\"index\":3"));
    assert_non_null(strstr(m, "\"kind\":\"body\""));
    assert_non_null(strstr(m, "\"request\":\"GET /x?************ HTTP/1.1\""));
    assert_null(strstr(m, "secret"));
    assert_non_null(strstr(m, "\"online_ms\":1.500,\"target_ms\":null"));
    assert_non_null(strchr(m, '\n'));
    assert_null(strchr(strchr(m, '\n') + 1, '\n')); /* one line: the equal one is not there */
    const char *s = slurp(dir, "out/summary.json");
    assert_non_null(strstr(s, "\"compared\": 2"));
    assert_non_null(strstr(s, "\"different\": 1"));
    assert_non_null(strstr(s, "GET /x"));
    assert_non_null(strstr(slurp(dir, "out/report.html"), "GET /x"));
    assert_string_equal(slurp(dir, "out/noise.jsonl"), "");
    /* noise (--compare-baseline): noise.jsonl and summary's noise, not mismatches.jsonl */
    struct cmp_result nz = result(CMP_DIFFERENT, "GET /n HTTP/1.1");
    nz.noise = true;
    x->conf.sink(x->conf.sink_arg, &nz, &k);
    assert_int_equal(cmp_out_write(x), 0);
    assert_non_null(strstr(slurp(dir, "out/noise.jsonl"), "\"request\":\"GET /n HTTP/1.1\""));
    assert_null(strstr(slurp(dir, "out/mismatches.jsonl"), "GET /n"));
    s = slurp(dir, "out/summary.json");
    assert_non_null(strstr(s, "\"noise\": 1"));
    assert_non_null(strstr(s, "\"different\": 1"));
    cmp_out_free(x);
    cmp_out_free(NULL);

    /* refusals, each naming what is wrong */
    o.compare_ignore[0] = "cookie:x";
    assert_null(cmp_out_open(&o, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "--compare-ignore"));
    o.compare_ignore[0] = "header:X";
    o.compare_mask = "(unclosed";
    assert_null(cmp_out_open(&o, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "--compare-mask"));
    o.compare_mask = NULL;
    o.compare_dir = file;
    assert_null(cmp_out_open(&o, NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not a directory"));

    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A relative DIR is made absolute (-d moves the daemon to /); with -u USER (as root) DIR is
 * given to USER, who replaces summary.json there after privileges are dropped. */
static void test_relative_and_user(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_cmp_out.XXXXXX", old[512];
    assert_non_null(mkdtemp(dir));
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir(dir), 0);
    struct tc_opts o;
    tc_opts_init(&o);
    o.compare_dir = "rel";
    o.user = geteuid() == 0 ? "65534" : NULL;
    char err[256];
    struct cmp_ctx *x = cmp_out_open(&o, NULL, NULL, err, sizeof(err));
    if (x == NULL)
        fail_msg("cmp_out_open: %s", err);
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(cmp_out_write(x), 0); /* still where it was made */
    char p[600];
    struct stat st;
    snprintf(p, sizeof(p), "%s/rel/summary.json", dir);
    assert_int_equal(stat(p, &st), 0);
    snprintf(p, sizeof(p), "%s/rel", dir);
    assert_int_equal(stat(p, &st), 0);
    if (o.user != NULL)
        assert_int_equal(st.st_uid, 65534);
    cmp_out_free(x);
    assert_int_equal(chdir(old), 0);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_relative_and_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
