/*
 * test_buf: the bounded socket buffer: append/consume, compaction before
 * growth, doubling growth, the hard maximum, and read/write over a socketpair
 * (EAGAIN, EOF, a peer that went away).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"

/* Append n bytes the way the channel does (reserve, copy, commit); 0 or -ENOBUFS. */
static int append(struct buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t *dst = buf_reserve(b, n);
    if (dst == NULL)
        return -ENOBUFS;
    memcpy(dst, p, n);
    buf_commit(b, n);
    return 0;
}

static void test_lazy_and_free(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1000);
    assert_null(b.data);
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(buf_room(&b), 1000);
    assert_int_equal(append(&b, "", 0), 0);
    assert_null(b.data); /* nothing appended, nothing allocated */
    assert_int_equal(append(&b, "abc", 3), 0);
    assert_non_null(b.data);
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.max, 1000);
    assert_int_equal(append(&b, "xy", 2), 0); /* reusable after free */
    assert_memory_equal(buf_head(&b), "xy", 2);
    buf_free(&b);
    buf_free(NULL);
}

static void test_append_consume(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 1 << 20);
    assert_int_equal(append(&b, "hello ", 6), 0);
    assert_int_equal(append(&b, "world", 5), 0);
    assert_int_equal(buf_len(&b), 11);
    assert_memory_equal(buf_head(&b), "hello world", 11);
    buf_consume(&b, 6);
    assert_int_equal(buf_len(&b), 5);
    assert_memory_equal(buf_head(&b), "world", 5);
    buf_consume(&b, 100); /* more than there is: empties */
    assert_int_equal(buf_len(&b), 0);
    assert_int_equal(b.off, 0);
    buf_free(&b);
}

static void test_compaction_before_growth(void **state)
{
    (void)state;
    struct buf b;
    uint8_t chunk[1000];
    buf_init(&b, 1 << 20);
    memset(chunk, 'a', sizeof(chunk));
    for (int i = 0; i < 4; i++)
        assert_int_equal(append(&b, chunk, sizeof(chunk)), 0);
    size_t cap = b.cap;
    assert_true(cap >= 4000);
    buf_consume(&b, 3500);
    /* 500 left at offset 3500: appending cap - 500 bytes fits only if moved to the front. */
    memset(chunk, 'b', sizeof(chunk));
    size_t want = cap - 500;
    for (size_t done = 0; done < want;) {
        size_t n = want - done < sizeof(chunk) ? want - done : sizeof(chunk);
        assert_int_equal(append(&b, chunk, n), 0);
        done += n;
    }
    assert_int_equal(b.cap, cap); /* compacted, not grown */
    assert_int_equal(b.off, 0);
    assert_int_equal(buf_len(&b), cap);
    const uint8_t *h = buf_head(&b);
    for (size_t i = 0; i < 500; i++)
        assert_int_equal(h[i], 'a');
    for (size_t i = 500; i < cap; i++)
        assert_int_equal(h[i], 'b');
    buf_free(&b);
}

static void test_growth_doubles_to_max(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 100000);
    assert_int_equal(append(&b, "x", 1), 0);
    size_t cap = b.cap;
    uint8_t big[20000];
    memset(big, 7, sizeof(big));
    assert_int_equal(append(&b, big, cap), 0); /* one byte more than cap */
    assert_int_equal(b.cap, cap * 2);
    /* Fill to exactly max: the allocation is clamped to max, not the next power. */
    while (buf_room(&b) >= sizeof(big))
        assert_int_equal(append(&b, big, sizeof(big)), 0);
    assert_int_equal(append(&b, big, buf_room(&b)), 0);
    assert_int_equal(buf_len(&b), 100000);
    assert_int_equal(b.cap, 100000);
    buf_free(&b);
}

static void test_max_enforced(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 10);
    assert_int_equal(append(&b, "0123456789", 10), 0);
    assert_int_equal(append(&b, "x", 1), -ENOBUFS);
    assert_null(buf_reserve(&b, 1));
    assert_int_equal(buf_len(&b), 10);
    buf_consume(&b, 4);
    assert_int_equal(append(&b, "abcde", 5), -ENOBUFS); /* all or nothing */
    assert_int_equal(buf_len(&b), 6);
    assert_int_equal(append(&b, "abcd", 4), 0);
    assert_memory_equal(buf_head(&b), "456789abcd", 10);
    /* A size that would wrap len + n. */
    assert_null(buf_reserve(&b, SIZE_MAX));
    buf_free(&b);

    struct buf z;
    buf_init(&z, 0);
    assert_int_equal(append(&z, "a", 1), -ENOBUFS);
    buf_free(&z);
}

static void test_reserve_commit(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 64);
    uint8_t *p = buf_reserve(&b, 8);
    assert_non_null(p);
    memcpy(p, "abcdefgh", 8);
    buf_commit(&b, 5); /* less than reserved is fine */
    assert_int_equal(buf_len(&b), 5);
    assert_memory_equal(buf_head(&b), "abcde", 5);
    buf_free(&b);
}

static void nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    assert_true(fl >= 0);
    assert_int_equal(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

static void test_read_fd(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    struct buf b;
    buf_init(&b, 16);

    assert_int_equal(buf_read_fd(&b, sv[0]), -EAGAIN);
    assert_int_equal(write(sv[1], "0123456789abcdefXYZ", 19), 19);
    /* At most the room: 16 of 19 bytes. */
    assert_int_equal(buf_read_fd(&b, sv[0]), 16);
    assert_int_equal(buf_read_fd(&b, sv[0]), -ENOBUFS);
    assert_memory_equal(buf_head(&b), "0123456789abcdef", 16);
    buf_consume(&b, 10);
    assert_int_equal(buf_read_fd(&b, sv[0]), 3);
    assert_memory_equal(buf_head(&b), "abcdefXYZ", 9);
    close(sv[1]);
    assert_int_equal(buf_read_fd(&b, sv[0]), 0); /* EOF */
    close(sv[0]);
    assert_int_equal(buf_read_fd(&b, sv[0]), -EBADF);
    buf_free(&b);
}

static void test_write_fd(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    nonblock(sv[0]);
    int sz = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));

    struct buf b;
    buf_init(&b, 4 << 20);
    assert_int_equal(buf_write_fd(&b, sv[0]), 0); /* nothing to write */
    static uint8_t data[1 << 20];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    assert_int_equal(append(&b, data, sizeof(data)), 0);

    /* The socket takes part, then EAGAIN reports 0. */
    ssize_t w = buf_write_fd(&b, sv[0]);
    assert_true(w > 0 && (size_t)w < sizeof(data));
    assert_int_equal(buf_len(&b), sizeof(data) - (size_t)w);
    assert_int_equal(buf_write_fd(&b, sv[0]), 0);

    /* Drain the peer and finish; the bytes arrive in order. */
    static uint8_t got[1 << 20];
    size_t have = 0;
    nonblock(sv[1]);
    while (have < sizeof(got)) {
        ssize_t r = read(sv[1], got + have, sizeof(got) - have);
        if (r > 0) {
            have += (size_t)r;
            continue;
        }
        assert_int_equal(errno, EAGAIN);
        assert_true(buf_write_fd(&b, sv[0]) >= 0);
    }
    assert_int_equal(buf_len(&b), 0);
    assert_memory_equal(got, data, sizeof(data));

    /* A closed peer gives -EPIPE, not SIGPIPE. */
    assert_int_equal(append(&b, "late", 4), 0);
    close(sv[1]);
    assert_int_equal(buf_write_fd(&b, sv[0]), -EPIPE);
    close(sv[0]);
    buf_free(&b);
}

static void test_write_fd_pipe(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct buf b;
    buf_init(&b, 64);
    assert_int_equal(append(&b, "pipe", 4), 0);
    /* Not a socket: falls back to write(). */
    assert_int_equal(buf_write_fd(&b, p[1]), 4);
    char got[4];
    assert_int_equal(read(p[0], got, 4), 4);
    assert_memory_equal(got, "pipe", 4);
    close(p[0]);
    close(p[1]);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lazy_and_free),
        cmocka_unit_test(test_append_consume),
        cmocka_unit_test(test_compaction_before_growth),
        cmocka_unit_test(test_growth_doubles_to_max),
        cmocka_unit_test(test_max_enforced),
        cmocka_unit_test(test_reserve_commit),
        cmocka_unit_test(test_read_fd),
        cmocka_unit_test(test_write_fd),
        cmocka_unit_test(test_write_fd_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
