/*
 * test_send_raw: the raw IP backend without root. sender_raw_wrap takes the
 * descriptors it would have opened; here they are connected loopback TCP
 * sockets, which ignore msg_name, so each datagram sendmmsg() sends arrives as
 * bytes at the other end in order: batching by family, the counts, a missing
 * IPv6 socket, a kernel refusal (a full send buffer: EAGAIN) counted and
 * skipped, and the open's own checks. The real sockets are tested as root in
 * test_rawio.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "send.h"
#include "send_impl.h"
#include "sock_fx.h"


/* Build a datagram of len bytes to dst in the sender's next slot, tagged with id
 * in its last byte, and commit it. */
static void put(struct sender *s, const char *dst, size_t len, uint8_t id)
{
    uint8_t *b = sender_buf(s);
    struct addr a;

    assert_true(addr_parse(&a, dst));
    memset(b, 0xab, len);
    if (a.af == AF_INET) {
        b[0] = 0x45;
        memcpy(b + 16, a.u.b, 4);
    } else {
        b[0] = 0x60;
        memcpy(b + 24, a.u.b, 16);
    }
    b[len - 1] = id;
    sender_commit(s, len);
}

/* Read one datagram of len bytes from rx; returns its tag. */
static uint8_t get(int rx, size_t len, int version)
{
    uint8_t b[2048];

    assert_true(len <= sizeof(b));
    assert_int_equal(recv(rx, b, len, MSG_WAITALL), (ssize_t)len);
    assert_int_equal(b[0] >> 4, version);
    return b[len - 1];
}

static void test_batch_by_family(void **state)
{
    int tx4, rx4, tx6, rx6;
    char err[128] = "";

    (void)state;
    tcp_pair(&tx4, &rx4);
    tcp_pair(&tx6, &rx6);
    struct sender *s = sender_raw_wrap(NULL, tx4, tx6, 0, err, sizeof(err));
    assert_non_null(s);
    assert_int_equal(sender_slot_size(s), SEND_SLOT_DEFAULT);

    put(s, "192.0.2.1", 100, 1);
    put(s, "192.0.2.2", 200, 2);
    put(s, "2001:db8::1", 300, 3);
    put(s, "192.0.2.1", 60, 4);
    assert_int_equal(sender_flush(s), 0);
    const struct sender_stats *st = sender_stats(s);
    assert_int_equal(st->packets, 4);
    assert_int_equal(st->bytes, 660);
    assert_int_equal(st->batches, 3); /* v4 run, v6 run, v4 run: order kept per family */
    assert_int_equal(st->err_other, 0);

    /* The name each message carried: the datagram's destination, port 0. */
    assert_int_equal(get(rx4, 100, 4), 1);
    assert_int_equal(get(rx4, 200, 4), 2);
    assert_int_equal(get(rx4, 60, 4), 4);
    assert_int_equal(get(rx6, 300, 6), 3);
    struct sockaddr_in *sin = (struct sockaddr_in *)&s->names[3];
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(sin->sin_port, 0);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000201);
    assert_int_equal(s->msgs[3].msg_hdr.msg_namelen, sizeof(*sin));
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s->names[2];
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(sin6->sin6_port, 0);
    assert_int_equal(sin6->sin6_addr.s6_addr[15], 1);

    /* A flush of nothing sends nothing. */
    assert_int_equal(sender_flush(s), 0);
    assert_int_equal(sender_stats(s)->batches, 3);
    sender_free(s);
    close(rx4);
    close(rx6);
}

/* Without an IPv6 socket, IPv6 datagrams are refused under the errno its open
 * got; IPv4 ones still go. */
static void test_no_ipv6_socket(void **state)
{
    int tx4, rx4;
    char err[128] = "";

    (void)state;
    tcp_pair(&tx4, &rx4);
    struct sender *s = sender_raw_wrap(NULL, tx4, -1, ENETUNREACH, err, sizeof(err));
    assert_non_null(s);
    put(s, "2001:db8::1", 80, 1);
    put(s, "2001:db8::2", 80, 2);
    put(s, "192.0.2.1", 40, 3);
    assert_int_equal(sender_flush(s), 2);
    assert_int_equal(sender_stats(s)->err_unreach, 2);
    assert_int_equal(sender_stats(s)->packets, 1);
    assert_int_equal(get(rx4, 40, 4), 3);
    sender_free(s);
    close(rx4);
}

/*
 * A kernel refusal: the peer never reads and both buffers are small, so the
 * socket's send buffer fills and sendmmsg() refuses with EAGAIN. Each refused
 * datagram is counted once and skipped; the sent and the refused add up.
 */
static void test_refused_counted(void **state)
{
    int tx, rx, small = 4096;
    char err[128] = "";
    unsigned refused = 0, total = 0;

    (void)state;
    tcp_pair(&tx, &rx);
    assert_int_equal(setsockopt(tx, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    struct sender_conf c = {.batch = 256};
    struct sender *s = sender_raw_wrap(&c, tx, -1, EAFNOSUPPORT, err, sizeof(err));
    assert_non_null(s);
    /* 16 batches of 256 x 1500 bytes: 6 MB, far beyond what the two buffers hold. */
    for (int k = 0; k < 16; k++) {
        for (unsigned i = 0; i < 256; i++, total++)
            put(s, "192.0.2.1", 1500, (uint8_t)i);
        refused += sender_flush(s);
    }
    const struct sender_stats *st = sender_stats(s);
    assert_true(refused > 0);
    assert_int_equal(st->err_nobufs, refused);
    assert_int_equal(st->packets + refused, total);
    assert_int_equal(st->err_other, 0);
    sender_free(s);
    close(rx);
}

/* What the open refuses before it tries a socket, and descriptors closed on failure. */
static void test_open_checks(void **state)
{
    struct sender_conf c = {.batch = 1025};
    char err[128] = "";
    int tx, rx;

    (void)state;
    assert_null(sender_raw_open(&c, err, sizeof(err)));
    assert_string_equal(err, "sender: batch 1025 out of range 1..1024");
    c = (struct sender_conf){.slot = 20};
    assert_null(sender_raw_open(&c, err, sizeof(err)));
    assert_string_equal(err, "sender: slot size 20 out of range 40..65535");

    tcp_pair(&tx, &rx);
    assert_null(sender_raw_wrap(&c, tx, -1, 0, err, sizeof(err)));
    /* tx was closed: the peer sees the end of the stream. */
    char b;
    assert_int_equal(recv(rx, &b, 1, 0), 0);
    close(rx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_by_family),
        cmocka_unit_test(test_no_ipv6_socket),
        cmocka_unit_test(test_refused_counted),
        cmocka_unit_test(test_open_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
