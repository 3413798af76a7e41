/*
 * test_mod: protocol modules (mod.c, mod_sess.c). Loading (built in, dlopen of the example
 * module, version and contract checks), the credentials file (format, mode, owner), and the
 * engine driven with a module that rewrites the client's messages: the sequence offset
 * between the client's numbering and the target's through growth, shrinking, reordered and
 * retransmitted capture, our retransmissions, the client's FIN and the target's ACKs; a
 * module's own login first with its answers not counted; a module error ending one session.
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

#include "mod.h"
#include "pkt.h"
#include "tcp.h"
#include "transfer.h"

#include "tcp_fx.h"

static int live_sessions;

static struct fx *fx_new(struct mod *m)
{
    live_sessions = 0;
    return fx_new_mod(false, m);
}

/* Client SYN -> our SYN; target SYN-ACK -> our ACK; the client's handshake ACK. */
static void handshake(struct fx *f, uint16_t cport)
{
    struct pkt *p;
    cap(f, cport, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 1);
    reply(f, cport, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL);
    (void)fresh(f, &p);
    cap(f, cport, TCPF_ACK, C_ISN + 1, S_ISN + 1, NULL);
    assert_int_equal(fresh(f, &p), 0);
}

/* The only data segment among the fresh packets (asserted), or NULL if none. */
static struct pkt *fresh_data(struct fx *f)
{
    struct pkt *p, *d = NULL;
    size_t n = fresh(f, &p);
    for (size_t i = 0; i < n; i++) {
        if (p[i].data_len > 0) {
            assert_null(d);
            d = &p[i];
        }
    }
    return d;
}

static void assert_payload(const struct pkt *p, uint32_t seq, const char *want)
{
    assert_non_null(p);
    assert_int_equal(p->seq, seq);
    assert_int_equal(p->data_len, strlen(want));
    assert_memory_equal(p->data, want, strlen(want));
}

static struct mod *open_table(const struct tcm_module *t)
{
    struct mod *m;
    char err[256];
    assert_int_equal(mod_open_table(t, NULL, &m, err, sizeof(err)), 0);
    return m;
}

/* ---- test modules ----------------------------------------------------------------- */


static int t_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    assert_int_equal(info->af, AF_INET);
    assert_int_equal(info->target_port, 8080);
    live_sessions++;
    *sess = calloc(1, sizeof(int));
    return 0;
}

static void t_end(void *mod, void *sess)
{
    live_sessions--;
    free(sess);
}

/* "double": every byte twice (a message grows); '!' is an error. */
static long dbl_data(void *sess, const uint8_t *in, size_t len, size_t *consumed, uint8_t *out,
                     size_t cap)
{
    size_t n = len < cap / 2 ? len : cap / 2;
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '!')
            return TCM_ERR;
        out[2 * i] = out[2 * i + 1] = in[i];
    }
    *consumed = n;
    return (long)(2 * n);
}

static const struct tcm_module dbl_module = {
    .api_version = TCM_API_VERSION, .name = "double", .sess_new = t_new, .sess_end = t_end,
    .client_data = dbl_data};

/* "shrink": every 'z' dropped. */
static long shr_data(void *sess, const uint8_t *in, size_t len, size_t *consumed, uint8_t *out,
                     size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (in[i] != 'z')
            out[o++] = in[i];
    }
    *consumed = len;
    return (long)o;
}

static const struct tcm_module shr_module = {
    .api_version = TCM_API_VERSION, .name = "shrink", .sess_new = t_new, .sess_end = t_end,
    .client_data = shr_data};

/* "login": sends "LOGIN\n" first; the client's bytes wait until the target said "OK",
 * whose bytes are the module's own. */
static long login_start(void *sess, enum tcm_start why, uint8_t *out, size_t cap)
{
    *(int *)sess = 1 + (why == TCM_START_MIDSTREAM); /* 2: midstream, waiting for OK */
    memcpy(out, "LOGIN\n", 6);
    return 6;
}

static long login_data(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                       uint8_t *out, size_t cap)
{
    if (*(int *)sess != 0) {
        *consumed = 0;
        return 0;
    }
    memcpy(out, in, len);
    *consumed = len;
    return (long)len;
}

static long login_answer(void *sess, const uint8_t *data, size_t len, uint64_t lost,
                         unsigned *flags, uint8_t *out, size_t cap)
{
    if (*(int *)sess == 0)
        return 0;
    *flags |= TCM_ANSWER_OWN;
    if (len >= 2 && memcmp(data, "OK", 2) == 0) {
        *(int *)sess = 0;
        *flags |= TCM_ANSWER_DONE;
    }
    return 0;
}

static const struct tcm_module login_module = {
    .api_version = TCM_API_VERSION, .name = "login", .sess_new = t_new, .sess_end = t_end,
    .start = login_start, .client_data = login_data, .target_data = login_answer};

/* ---- loading and the credentials file -------------------------------------------------- */

static void test_load(void **state)
{
    struct mod *m;
    char err[256];
    assert_int_equal(mod_load("identity", NULL, &m, err, sizeof(err)), 0);
    assert_string_equal(mod_name(m), "identity");
    mod_free(m);
    assert_int_equal(mod_load("nosuch", NULL, &m, err, sizeof(err)), -ENOENT);
    assert_null(m);
    assert_non_null(strstr(err, "no such built-in module (built in: identity"));
    assert_true(mod_load("/nonexistent/x.so", NULL, &m, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "--module /nonexistent/x.so: "));
    /* The example module, through dlopen. */
    assert_int_equal(mod_load(TC_EXAMPLE_MODULE, NULL, &m, err, sizeof(err)), 0);
    assert_string_equal(mod_name(m), "token");
    mod_free(m);
    /* A table of another API version, or without the required hooks. */
    struct tcm_module bad = dbl_module;
    bad.api_version = 99;
    assert_int_equal(mod_open_table(&bad, NULL, &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "module API version 99, tcpcopy speaks 1"));
    bad = dbl_module;
    bad.sess_end = NULL;
    assert_int_equal(mod_open_table(&bad, NULL, &m, err, sizeof(err)), -EINVAL);
    /* The module's own counters: names checked. */
    static const char *const good[] = {"logins_rewritten", "x_1", NULL};
    static const char *const upper[] = {"Logins", NULL};
    bad = dbl_module;
    bad.counters = good;
    assert_int_equal(mod_open_table(&bad, NULL, &m, err, sizeof(err)), 0);
    assert_int_equal(m->ncounters, 2);
    assert_string_equal(m->counter_keys[1], "module.events.x_1");
    m->host.count(&m->host, 0, 3);
    assert_int_equal(m->counters[0], 3);
    mod_free(m);
    bad.counters = upper;
    assert_int_equal(mod_open_table(&bad, NULL, &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "counter 0"));
    mod_free(NULL);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

static void test_conf_file(void **state)
{
    char path[] = "/tmp/test_mod_conf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct mod *m;
    char err[256];
    write_file(path, "# users\n  alice  s3cret\n\nbob\tpw#x\r\n   # indented comment\n", 0600);
    assert_int_equal(mod_load("identity", path, &m, err, sizeof(err)), 0);
    assert_string_equal(mod_password(m, "alice"), "s3cret");
    assert_string_equal(mod_password(m, "bob"), "pw#x");
    assert_null(mod_password(m, "carol"));
    assert_null(mod_password(m, "#"));
    assert_string_equal(m->host.user_at(&m->host, 0), "alice");
    assert_string_equal(m->host.user_at(&m->host, 1), "bob");
    assert_null(m->host.user_at(&m->host, 2));
    assert_string_equal(m->host.password(&m->host, "bob"), "pw#x");
    mod_free(m);
    /* Readable by others: refused, with the fix. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(mod_load("identity", path, &m, err, sizeof(err)), -EPERM);
    assert_non_null(strstr(err, "mode 0640"));
    assert_non_null(strstr(err, "chmod 600"));
    /* Lines that are not USER PASSWORD. */
    write_file(path, "alice s3cret\nbob\n", 0400);
    assert_int_equal(mod_load("identity", path, &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "line 2: a user without a password"));
    write_file(path, "alice s3cret extra\n", 0600);
    assert_int_equal(mod_load("identity", path, &m, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "line 1: more than two fields"));
    /* Another user's file (as root: owned by nobody). */
    if (geteuid() == 0) {
        write_file(path, "alice s3cret\n", 0600);
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(mod_load("identity", path, &m, err, sizeof(err)), -EPERM);
        assert_non_null(strstr(err, "owned by uid 65534"));
    }
    unlink(path);
    assert_true(mod_load("identity", path, &m, err, sizeof(err)) == -ENOENT);
    /* The parser itself, as a fuzzer drives it: a NUL byte, many entries. */
    struct mod *p = open_table(&dbl_module);
    assert_int_equal(mod_conf_parse(p, (const uint8_t *)"a b\0c\n", 6, err, sizeof(err)), -EINVAL);
    static char many[5000 * 8];
    size_t off = 0;
    for (int i = 0; i < 5000; i++)
        off += (size_t)sprintf(many + off, "u%d p\n", i);
    assert_int_equal(mod_conf_parse(p, (const uint8_t *)many, off, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "more than 4096 entries"));
    assert_null(mod_password(p, "u1"));
    mod_free(p);
}

/* ---- the sequence offset ------------------------------------------------------------------ */

static void test_growth_offset_fin_and_acks(void **state)
{
    struct mod *m = open_table(&dbl_module);
    struct fx *f = fx_new(m);
    handshake(f, 40001);
    cap(f, 40001, TCPF_ACK, C_ISN + 1, S_ISN + 1, "abc");
    assert_payload(fresh_data(f), C_ISN + 1, "aabbcc");
    /* The target acknowledges the 6 rewritten bytes (its numbering). */
    reply(f, 40001, TCPF_ACK, T_ISN + 1, C_ISN + 7, NULL);
    /* The next request, after a 4-byte answer online, waits for the target's answer. */
    cap(f, 40001, TCPF_ACK, C_ISN + 4, S_ISN + 5, "de");
    assert_null(fresh_data(f));
    reply(f, 40001, TCPF_ACK, T_ISN + 1, C_ISN + 7, "resp");
    struct pkt *p = fresh_data(f);
    assert_payload(p, C_ISN + 7, "ddee");
    assert_int_equal(p->ack, T_ISN + 5);
    /* The client's FIN at its C_ISN + 6 goes at the target's C_ISN + 11. */
    cap(f, 40001, TCPF_ACK | TCPF_FIN, C_ISN + 6, S_ISN + 5, NULL);
    struct pkt *q;
    size_t n = fresh(f, &q);
    assert_int_equal(n, 1);
    assert_true(q->flags & TCPF_FIN);
    assert_int_equal(q->seq, C_ISN + 11);
    /* A retransmitted client FIN changes nothing. */
    cap(f, 40001, TCPF_ACK | TCPF_FIN, C_ISN + 6, S_ISN + 5, NULL);
    assert_int_equal(fresh(f, &q), 0);
    reply(f, 40001, TCPF_ACK | TCPF_FIN, T_ISN + 5, C_ISN + 12, NULL);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->outcome[SO_COMPLETE], 1);
    assert_int_equal(st->mod_sessions, 1);
    assert_int_equal(st->mod_in_bytes, 5);
    assert_int_equal(st->mod_out_bytes, 10);
    assert_int_equal(st->gate_by_bytes, 1);
    assert_int_equal(live_sessions, 0); /* freed when the session ended */
    fx_free(f);
    mod_free(m);
}

static void test_shrink_offset(void **state)
{
    struct mod *m = open_table(&shr_module);
    struct fx *f = fx_new(m);
    handshake(f, 40002);
    cap(f, 40002, TCPF_ACK, C_ISN + 1, S_ISN + 1, "azbzc");
    assert_payload(fresh_data(f), C_ISN + 1, "abc");
    /* A message that vanishes entirely sends nothing, and shifts nothing after it. */
    cap(f, 40002, TCPF_ACK, C_ISN + 6, S_ISN + 1, "zz");
    assert_null(fresh_data(f));
    cap(f, 40002, TCPF_ACK, C_ISN + 8, S_ISN + 1, "dz");
    assert_payload(fresh_data(f), C_ISN + 4, "d");
    reply(f, 40002, TCPF_ACK, T_ISN + 1, C_ISN + 5, NULL);
    cap(f, 40002, TCPF_ACK | TCPF_FIN, C_ISN + 10, S_ISN + 1, NULL);
    struct pkt *q;
    assert_int_equal(fresh(f, &q), 1);
    assert_true(q->flags & TCPF_FIN);
    assert_int_equal(q->seq, C_ISN + 5);
    reply(f, 40002, TCPF_ACK | TCPF_FIN, T_ISN + 1, C_ISN + 6, NULL);
    assert_int_equal(eng_stats(f->e)->outcome[SO_COMPLETE], 1);
    fx_free(f);
    mod_free(m);
}

static void test_reorder_and_retransmissions(void **state)
{
    struct mod *m = open_table(&dbl_module);
    struct fx *f = fx_new(m);
    handshake(f, 40003);
    /* The capture reorders: the module still sees "abcdef" in order. */
    cap(f, 40003, TCPF_ACK, C_ISN + 4, S_ISN + 1, "def");
    assert_null(fresh_data(f));
    cap(f, 40003, TCPF_ACK, C_ISN + 1, S_ISN + 1, "abc");
    assert_payload(fresh_data(f), C_ISN + 1, "aabbccddeeff");
    /* The client retransmits a rewritten message: nothing is sent twice. */
    cap(f, 40003, TCPF_ACK, C_ISN + 1, S_ISN + 1, "abc");
    assert_null(fresh_data(f));
    assert_int_equal(eng_stats(f->e)->cap_dup_bytes, 3);
    /* Our retransmission (timeout) resends the rewritten bytes, in the target's numbering. */
    advance(f, 1500000);
    assert_payload(fresh_data(f), C_ISN + 1, "aabbccddeeff");
    assert_int_equal(eng_stats(f->e)->rto_events, 1);
    /* A partial ACK in the target's numbering releases what it covers; the rest is resent
     * from there. */
    reply(f, 40003, TCPF_ACK, T_ISN + 1, C_ISN + 7, NULL);
    advance(f, 3000000);
    assert_payload(fresh_data(f), C_ISN + 7, "ddeeff");
    reply(f, 40003, TCPF_ACK, T_ISN + 1, C_ISN + 13, NULL);
    advance(f, 3000000);
    assert_null(fresh_data(f));
    assert_int_equal(eng_stats(f->e)->mod_out_bytes, 12);
    fx_free(f);
    mod_free(m);
}

/* Three full segments of rewritten bytes; the first is lost: three duplicate ACKs with the
 * others SACKed resend exactly it, in the target's numbering. */
static void test_fast_retransmit_with_sack(void **state)
{
    struct mod *m = open_table(&dbl_module);
    struct fx *f = fx_new(m);
    struct pkt *p;
    cap(f, 40004, TCPF_SYN, C_ISN, 0, NULL);
    (void)fresh(f, &p);
    /* SYN-ACK with options (MSS 1460, SACK permitted). */
    struct pkt sa;
    mk(f, &sa, false, 40004, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 1, NULL, true);
    eng_on_reply(f->e, &sa, f->now);
    eng_flush(f->e, f->now);
    cap(f, 40004, TCPF_ACK, C_ISN + 1, S_ISN + 1, NULL);
    (void)fresh(f, &p);
    static char big[2191];
    memset(big, 'x', 2190); /* 4380 bytes rewritten: three 1460-byte segments */
    cap(f, 40004, TCPF_ACK, C_ISN + 1, S_ISN + 1, big);
    size_t n = fresh(f, &p);
    uint32_t sent = 0, segs = 0, mss = 0;
    for (size_t i = 0; i < n; i++) {
        sent += p[i].data_len;
        segs += p[i].data_len > 0;
        mss = p[i].data_len > mss ? p[i].data_len : mss;
    }
    assert_int_equal(sent, 4380);
    assert_true(segs >= 3);
    /* The first ACK also scales the window (it is no duplicate yet), then three more. */
    for (int i = 0; i < 4; i++) {
        struct pkt d;
        struct pkt_spec sp;
        memset(&sp, 0, sizeof(sp));
        set_tuple(&sp.t, "192.0.2.20", 8080, "198.51.100.10", 40004);
        sp.seq = T_ISN + 1;
        sp.ack = C_ISN + 1;
        sp.flags = TCPF_ACK;
        sp.win = 65535;
        sp.opts.nsack = 1;
        sp.opts.sack[0][0] = C_ISN + 1 + mss;
        sp.opts.sack[0][1] = C_ISN + 1 + 4380;
        size_t len = pkt_build(f->out->scratch, sizeof(f->out->scratch), &sp);
        assert_int_equal(pkt_parse_ip(&d, f->out->scratch, len, 0), PKT_OK);
        eng_on_reply(f->e, &d, f->now);
        eng_flush(f->e, f->now);
    }
    struct pkt *r = fresh_data(f);
    assert_non_null(r);
    assert_int_equal(r->seq, C_ISN + 1);
    assert_int_equal(r->data_len, mss);
    assert_int_equal(eng_stats(f->e)->fast_rtx, 1);
    fx_free(f);
    mod_free(m);
}

/* ---- the module's own bytes first ---------------------------------------------------------- */

static void test_own_login_midstream(void **state)
{
    struct mod *m = open_table(&login_module);
    struct fx *f = fx_new(m);
    struct pkt *p;
    /* Seen mid-stream: the first request after an answer starts the session. */
    cap(f, 40005, TCPF_ACK, C_ISN + 1, S_ISN + 1, "q1\n");
    cap(f, 40005, TCPF_ACK, C_ISN + 4, S_ISN + 11, "q2\n");
    assert_int_equal(fresh(f, &p), 1);
    assert_true(p->flags & TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 3);
    reply(f, 40005, TCPF_SYN | TCPF_ACK, T_ISN, C_ISN + 4, NULL);
    /* The module's login goes first; the client's request waits for its end. */
    assert_payload(fresh_data(f), C_ISN + 4, "LOGIN\n");
    reply(f, 40005, TCPF_ACK, T_ISN + 1, C_ISN + 10, "OK");
    assert_payload(fresh_data(f), C_ISN + 10, "q2\n");
    /* The next request waits for a 5-byte answer: "OK" was the module's, not counted. */
    cap(f, 40005, TCPF_ACK, C_ISN + 7, S_ISN + 16, "q3\n");
    assert_null(fresh_data(f));
    reply(f, 40005, TCPF_ACK, T_ISN + 3, C_ISN + 13, "ans");
    assert_null(fresh_data(f));
    reply(f, 40005, TCPF_ACK, T_ISN + 6, C_ISN + 13, "we");
    assert_payload(fresh_data(f), C_ISN + 13, "q3\n");
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->mod_starts, 1);
    assert_int_equal(st->mod_own_done, 1);
    assert_int_equal(st->mod_own_answer_bytes, 2);
    assert_int_equal(st->gate_by_bytes, 1);
    assert_int_equal(st->gate_by_quiet + st->gate_by_timeout, 0);
    /* The target resets: a module with a login of its own is not rebuilt. */
    reply(f, 40005, TCPF_ACK, T_ISN + 8, C_ISN + 10, NULL);
    reply(f, 40005, TCPF_RST, T_ISN + 8, 0, NULL);
    assert_int_equal(st->mod_rebuild_refused, 1);
    assert_int_equal(st->outcome[SO_TARGET_RESET], 1);
    assert_int_equal(live_sessions, 0);
    fx_free(f);
    mod_free(m);
}

/* ---- failures end one session ---------------------------------------------------------------- */

static void test_module_error_ends_one_session(void **state)
{
    struct mod *m = open_table(&dbl_module);
    struct fx *f = fx_new(m);
    struct pkt *p;
    handshake(f, 40006);
    cap(f, 40006, TCPF_ACK, C_ISN + 1, S_ISN + 1, "a!b");
    size_t n = fresh(f, &p);
    assert_int_equal(n, 1);
    assert_true(p->flags & TCPF_RST);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->mod_errors, 1);
    assert_int_equal(st->outcome[SO_MODULE], 1);
    assert_int_equal(live_sessions, 0);
    /* Another session goes on. */
    handshake(f, 40007);
    cap(f, 40007, TCPF_ACK, C_ISN + 1, S_ISN + 1, "xy");
    assert_payload(fresh_data(f), C_ISN + 1, "xxyy");
    fx_free(f);
    assert_int_equal(live_sessions, 0);
    mod_free(m);
}

/* A capture gap: the module cannot skip it. Once everything before it is delivered and the
 * gap timeout passed, the session starts over from the client's next request, as one seen
 * mid-stream, with a new module session. */
static void test_capture_gap_restarts_session(void **state)
{
    struct mod *m = open_table(&dbl_module);
    struct fx *f = fx_new(m);
    struct pkt *p;
    handshake(f, 40008);
    cap(f, 40008, TCPF_ACK, C_ISN + 1, S_ISN + 1, "abc");
    assert_payload(fresh_data(f), C_ISN + 1, "aabbcc");
    reply(f, 40008, TCPF_ACK, T_ISN + 1, C_ISN + 7, NULL);
    cap(f, 40008, TCPF_ACK, C_ISN + 7, S_ISN + 1, "ghi"); /* "def" never captured */
    assert_null(fresh_data(f));
    advance(f, 1000000);
    const struct eng_stats *st = eng_stats(f->e);
    assert_int_equal(st->mod_gaps, 0);
    advance(f, 1100000);
    assert_int_equal(st->mod_gaps, 1);
    assert_int_equal(st->sess_resynced, 1);
    assert_int_equal(st->gap_bytes_lost, 3); /* "ghi", never offered to the module */
    assert_int_equal(live_sessions, 0);
    (void)fresh(f, &p); /* the RST of the old connection */
    /* The client's next request, after an answer: a new connection, a new module session. */
    cap(f, 40008, TCPF_ACK, C_ISN + 10, S_ISN + 20, "jk");
    assert_int_equal(fresh(f, &p), 1);
    assert_true(p->flags & TCPF_SYN);
    assert_int_equal(p->seq, C_ISN + 9);
    reply(f, 40008, TCPF_SYN | TCPF_ACK, T_ISN + 100, C_ISN + 10, NULL);
    assert_payload(fresh_data(f), C_ISN + 10, "jjkk");
    assert_int_equal(st->mod_sessions, 2);
    assert_int_equal(live_sessions, 1);
    assert_int_equal(st->outcome[SO_MODULE], 0);
    fx_free(f);
    assert_int_equal(live_sessions, 0);
    mod_free(m);
}

static int refuse_new(void *mod, const struct tcm_sess_info *info, void **sess)
{
    return -1;
}

static void test_refused_session_not_copied(void **state)
{
    struct tcm_module t = dbl_module;
    t.sess_new = refuse_new;
    struct mod *m = open_table(&t);
    struct fx *f = fx_new(m);
    struct pkt *p;
    cap(f, 40009, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 0); /* no SYN toward the target */
    assert_int_equal(f->out->routes_added, 0);
    assert_int_equal(eng_stats(f->e)->mod_refused, 1);
    assert_int_equal(eng_stats(f->e)->outcome[SO_MODULE], 1);
    fx_free(f);
    mod_free(m);
}

/* A module that writes without ever consuming: asked once per event, never in a loop. */
static int spin_calls;

static long spin_data(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                      uint8_t *out, size_t cap)
{
    spin_calls++;
    *consumed = 0;
    out[0] = '#';
    return 1;
}

static void test_module_cannot_spin(void **state)
{
    struct tcm_module t = dbl_module;
    t.client_data = spin_data;
    struct mod *m = open_table(&t);
    struct fx *f = fx_new(m);
    handshake(f, 40011);
    spin_calls = 0;
    cap(f, 40011, TCPF_ACK, C_ISN + 1, S_ISN + 1, "abc");
    assert_int_equal(spin_calls, 1);
    assert_payload(fresh_data(f), C_ISN + 1, "#");
    cap(f, 40011, TCPF_ACK, C_ISN + 4, S_ISN + 1, "d");
    assert_int_equal(spin_calls, 2);
    fx_free(f);
    mod_free(m);
}

/* Modules that break the contract: each fails its session, counted, and nothing is sent. */
static long overlong_data(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                          uint8_t *out, size_t cap)
{
    *consumed = len;
    return (long)cap + 1;
}

static long overconsume_data(void *sess, const uint8_t *in, size_t len, size_t *consumed,
                             uint8_t *out, size_t cap)
{
    *consumed = len + 1;
    return 0;
}

static long bad_start(void *sess, enum tcm_start why, uint8_t *out, size_t cap)
{
    return -5;
}

static void test_contract_breaches(void **state)
{
    long (*const datas[])(void *, const uint8_t *, size_t, size_t *, uint8_t *, size_t) = {
        overlong_data, overconsume_data};
    for (int i = 0; i < 2; i++) {
        struct tcm_module t = dbl_module;
        t.client_data = datas[i];
        struct mod *m = open_table(&t);
        struct fx *f = fx_new(m);
        struct pkt *p;
        handshake(f, 40012);
        cap(f, 40012, TCPF_ACK, C_ISN + 1, S_ISN + 1, "abc");
        size_t n = fresh(f, &p);
        assert_int_equal(n, 1);
        assert_true(p->flags & TCPF_RST);
        assert_int_equal(p->data_len, 0);
        assert_int_equal(eng_stats(f->e)->mod_errors, 1);
        assert_int_equal(eng_stats(f->e)->outcome[SO_MODULE], 1);
        assert_int_equal(live_sessions, 0);
        fx_free(f);
        mod_free(m);
    }
    /* A start hook that fails: the session is not copied (no SYN). */
    struct tcm_module t = login_module;
    t.start = bad_start;
    struct mod *m = open_table(&t);
    struct fx *f = fx_new(m);
    struct pkt *p;
    cap(f, 40013, TCPF_SYN, C_ISN, 0, NULL);
    assert_int_equal(fresh(f, &p), 0);
    assert_int_equal(eng_stats(f->e)->mod_errors, 1);
    assert_int_equal(eng_stats(f->e)->outcome[SO_MODULE], 1);
    assert_int_equal(live_sessions, 0);
    fx_free(f);
    mod_free(m);
}

/* ---- the example module, loaded with dlopen ------------------------------------------------- */

static void test_example_module(void **state)
{
    char path[] = "/tmp/test_mod_conf_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    write_file(path, "rewrite NEWTOKEN\n", 0600);
    struct mod *m;
    char err[256];
    assert_int_equal(mod_load(TC_EXAMPLE_MODULE, path, &m, err, sizeof(err)), 0);
    unlink(path);
    struct fx *f = fx_new(m);
    handshake(f, 40010);
    cap(f, 40010, TCPF_ACK, C_ISN + 1, S_ISN + 1, "a tok b\n");
    assert_payload(fresh_data(f), C_ISN + 1, "a NEWTOKEN b\n");
    /* A line in two segments is rewritten whole once complete. */
    cap(f, 40010, TCPF_ACK, C_ISN + 9, S_ISN + 1, "to");
    assert_null(fresh_data(f));
    cap(f, 40010, TCPF_ACK, C_ISN + 11, S_ISN + 1, "k\n");
    assert_payload(fresh_data(f), C_ISN + 14, "NEWTOKEN\n");
    fx_free(f);
    mod_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_conf_file),
        cmocka_unit_test(test_growth_offset_fin_and_acks),
        cmocka_unit_test(test_shrink_offset),
        cmocka_unit_test(test_reorder_and_retransmissions),
        cmocka_unit_test(test_fast_retransmit_with_sack),
        cmocka_unit_test(test_own_login_midstream),
        cmocka_unit_test(test_module_error_ends_one_session),
        cmocka_unit_test(test_capture_gap_restarts_session),
        cmocka_unit_test(test_refused_session_not_copied),
        cmocka_unit_test(test_module_cannot_spin),
        cmocka_unit_test(test_contract_breaches),
        cmocka_unit_test(test_example_module),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
