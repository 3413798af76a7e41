/*
 * test_statsout: the stats file (written from the fill callback's table, replaced
 * atomically, a failure reported and the next write recovering) and the endpoint's
 * setup (a bad or taken address is an error with a message).
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

#include "log.h"
#include "loop.h"
#include "statsout.h"

static int fills;

static void fill(void *arg, struct metrics *m)
{
    uint64_t *v = arg;
    fills++;
    metrics_reset(m);
    metrics_add(m, "a.b", "x_b_total", NULL, NULL, METRIC_COUNTER, "b", *v);
    metrics_add(m, "c", "x_c", NULL, NULL, METRIC_GAUGE, "c", 7);
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return NULL;
    size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    return buf;
}

static void test_json_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_statsout.XXXXXX", path[160], sub[96], err[256];
    uint64_t v = 1;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.json", dir);
    struct loop *l = loop_new();
    assert_non_null(l);
    struct statsout *so = statsout_new(l, path, NULL, fill, &v, err, sizeof(err));
    assert_non_null(so);
    assert_int_equal(statsout_write(so), 0);
    assert_string_equal(slurp(path), "{\"a\":{\"b\":1},\"c\":7}\n");
    v = 42;
    fills = 0;
    assert_int_equal(statsout_write(so), 0);
    assert_int_equal(fills, 1);
    assert_string_equal(slurp(path), "{\"a\":{\"b\":42},\"c\":7}\n");
    assert_int_equal(statsout_fill(so)->rows[0].u, 42);
    statsout_free(so);

    /* A directory that is not there: an error each time, until it is. */
    snprintf(sub, sizeof(sub), "%s/later", dir);
    snprintf(path, sizeof(path), "%s/s.json", sub);
    so = statsout_new(l, path, NULL, fill, &v, err, sizeof(err));
    assert_non_null(so);
    assert_int_equal(statsout_write(so), -ENOENT);
    assert_int_equal(statsout_write(so), -ENOENT);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(statsout_write(so), 0);
    assert_non_null(slurp(path));
    statsout_free(so);
    unlink(path);
    rmdir(sub);
    snprintf(path, sizeof(path), "%s/s.json", dir);
    unlink(path);
    rmdir(dir);

    /* A relative path is kept from the directory at start. */
    char old[256];
    assert_non_null(getcwd(old, sizeof(old)));
    assert_int_equal(chdir("/tmp"), 0);
    so = statsout_new(l, "test_statsout_rel.json", NULL, fill, &v, err, sizeof(err));
    assert_non_null(so);
    assert_int_equal(chdir("/"), 0);
    assert_int_equal(statsout_write(so), 0);
    assert_non_null(slurp("/tmp/test_statsout_rel.json"));
    unlink("/tmp/test_statsout_rel.json");
    statsout_free(so);
    assert_int_equal(chdir(old), 0);

    /* Neither output: nothing to do, no error. */
    so = statsout_new(l, NULL, NULL, fill, &v, err, sizeof(err));
    assert_non_null(so);
    assert_int_equal(statsout_write(so), 0);
    statsout_free(so);
    assert_int_equal(statsout_write(NULL), 0);
    statsout_free(NULL);
    loop_free(l);
}

static void test_endpoint_setup(void **state)
{
    (void)state;
    char err[256];
    uint64_t v = 1;
    struct loop *l = loop_new();
    assert_non_null(l);
    struct statsout *so = statsout_new(l, NULL, "127.0.0.1:0", fill, &v, err, sizeof(err));
    assert_non_null(so);
    statsout_free(so);
    assert_null(statsout_new(l, NULL, "not-an-address", fill, &v, err, sizeof(err)));
    assert_non_null(strstr(err, "--metrics not-an-address"));
    loop_free(l);
}

int main(void)
{
    log_set_level(LOG_LVL_ERR); /* the failure messages are expected here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_file),
        cmocka_unit_test(test_endpoint_setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
