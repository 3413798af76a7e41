/*
 * fuzz_check: libFuzzer harness for what the setup doctor reads from outside:
 * --check-target (intercept's option grammar), the reply records intercept sends
 * back for a probe (check_probe_on_reply: hostile headers), and finding texts
 * (a peer's BYE reason reaches them) printed as text and JSON. The first byte
 * picks the target: 't' the target list, 'r' a reply record, anything else a
 * finding text; the rest is its input. The
 * JSON must never hold a raw control byte, and a refused target list must say
 * why on one line.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finding.h"
#include "intercept/check.h"
#include "tcpcopy/check_impl.h"
#include "tcpcopy/opts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        if (!(x))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static struct tc_opts O;
static struct findings F;
static struct check K;

static void fuzz_targets(const char *s)
{
    struct icheck_target t[8];
    size_t n = 0;
    char err[256] = "";
    int r = icheck_targets_parse(s, t, 8, &n, err, sizeof(err));
    if (r != 0) {
        CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
        return;
    }
    CHECK(n >= 1 && n <= 8);
    for (size_t i = 0; i < n; i++)
        CHECK(t[i].port != 0 && (t[i].addr.af == AF_INET || t[i].addr.af == AF_INET6));
}

static void fuzz_reply(const uint8_t *data, size_t size)
{
    if (O.xfer.n == 0) {
        char *argv[] = {"tcpcopy", "-x", "80-192.0.2.20:8080", "-s", "192.0.2.30", "-c",
                        "203.0.113.x", "--check", NULL};
        char err[256];
        tc_opts_init(&O);
        CHECK(tc_opts_parse(&O, 8, argv, err, sizeof(err)) == 0);
    }
    findings_init(&F, "tcpcopy");
    memset(&K, 0, sizeof(K));
    K.o = &O;
    K.f = &F;
    K.rules[0].probe = PROBE_SILENT;
    (void)addr_parse(&K.rules[0].psrc, "203.0.113.7");
    K.rules[0].psport = 40000;
    K.pending = 1;
    check_probe_on_reply(&K, data, size);
    CHECK(K.rules[0].probe == PROBE_SILENT || K.rules[0].probe == PROBE_SYNACK ||
          K.rules[0].probe == PROBE_RST);
    check_verdicts(&K);
    CHECK(F.n >= 1);
}

static void fuzz_findings(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    findings_init(&F, "intercept");
    finding_fix(findings_add(&F, FINDING_FAIL, s, "peer said: %s", s), "%s", s);
    FILE *fp = open_memstream(&buf, &len);
    CHECK(fp != NULL);
    findings_print_json(&F, fp);
    findings_print_text(&F, fp);
    fclose(fp);
    for (size_t i = 0; i < len; i++)
        CHECK(buf[i] == '\n' || ((unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f));
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    char *s = malloc(size);
    if (s == NULL)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    if (data[0] == 't')
        fuzz_targets(s);
    else if (data[0] == 'r')
        fuzz_reply(data + 1, size - 1);
    else
        fuzz_findings(s);
    free(s);
    return 0;
}
