/*
 * buf: a bounded byte buffer for the channel's sockets (see buf.h).
 *
 * Memory is allocated on first use and grows by doubling, never beyond `max`,
 * so an idle connection costs nothing and a peer that stops reading costs at
 * most `max` bytes. Before growing, the unread bytes are moved to the front:
 * a consumer that keeps up keeps the buffer at its first size.
 *
 * The buffer owns `data`; buf_free() releases it and leaves a reusable empty
 * buffer with the same limit.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"

/* First allocation, and the least a read asks for: small enough for an idle
 * connection, large enough that a burst of reply records is read in few calls. */
#define BUF_MIN 4096

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->cap = 0;
    b->off = 0;
    b->len = 0;
    b->max = max;
}

void buf_free(struct buf *b)
{
    if (b == NULL)
        return;
    free(b->data);
    buf_init(b, b->max);
}

/* Move the unread bytes to the front so the free space is in one piece. */
static void buf_compact(struct buf *b)
{
    if (b->off == 0)
        return;
    if (b->len > 0)
        memmove(b->data, b->data + b->off, b->len);
    b->off = 0;
}

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    /* Written as a subtraction: len + n could wrap for a huge n. */
    if (n > b->max - b->len || b->max == 0)
        return NULL;
    if (b->data != NULL) {
        if (b->cap - b->off - b->len >= n)
            return b->data + b->off + b->len;
        /* Compacting is cheaper than growing, and keeps the memory bounded by
         * the largest backlog rather than by how long the buffer has been used. */
        if (b->cap - b->len >= n) {
            buf_compact(b);
            return b->data + b->len;
        }
    }
    size_t need = b->len + n; /* <= max, checked above */
    size_t ncap = b->cap ? b->cap : BUF_MIN;
    while (ncap < need) {
        if (ncap > b->max / 2) {
            ncap = b->max;
            break;
        }
        ncap *= 2;
    }
    if (ncap > b->max)
        ncap = b->max;
    /* Compact before realloc so realloc copies only live bytes into place. */
    buf_compact(b);
    uint8_t *p = realloc(b->data, ncap);
    if (p == NULL)
        return NULL;
    b->data = p;
    b->cap = ncap;
    return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
    /* A caller committing more than it reserved is a bug, not hostile input. */
    assert(n <= b->cap - b->off - b->len);
    b->len += n;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        /* Empty: start over at the front so the next append needs no memmove. */
        b->off = 0;
        b->len = 0;
        return;
    }
    b->off += n;
    b->len -= n;
}

ssize_t buf_read_fd(struct buf *b, int fd)
{
    size_t room = buf_room(b);
    if (room == 0)
        return -ENOBUFS;

    /* Use the free tail as it is when it is worth a read() call; otherwise ask
     * for everything the allocation could offer after compaction (at least
     * BUF_MIN), so reads stay large without growing past need. */
    size_t tail = b->cap - b->off - b->len;
    size_t n;
    if (tail >= BUF_MIN || (tail > 0 && tail >= room)) {
        n = tail;
    } else {
        n = b->cap - b->len;
        if (n < BUF_MIN)
            n = BUF_MIN;
    }
    if (n > room)
        n = room;

    uint8_t *p = buf_reserve(b, n);
    if (p == NULL)
        return -ENOMEM; /* n <= room, so only the allocation can have failed */

    ssize_t r;
    do {
        r = read(fd, p, n);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return -errno;
    buf_commit(b, (size_t)r);
    return r;
}

ssize_t buf_write_fd(struct buf *b, int fd)
{
    size_t total = 0;
    /* send() with MSG_NOSIGNAL: a peer that went away must give EPIPE, not a
     * SIGPIPE that kills the daemon. Pipes and files (tests) need write(). */
    int use_write = 0;

    while (b->len > 0) {
        ssize_t r;
        if (!use_write) {
            r = send(fd, buf_head(b), b->len, MSG_NOSIGNAL);
            if (r < 0 && errno == ENOTSOCK) {
                use_write = 1;
                continue;
            }
        } else {
            r = write(fd, buf_head(b), b->len);
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            return -errno;
        }
        if (r == 0) /* not expected from a stream socket; avoid spinning */
            break;
        buf_consume(b, (size_t)r);
        total += (size_t)r;
    }
    return (ssize_t)total;
}
