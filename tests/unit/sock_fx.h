/*
 * sock_fx.h: socket fixtures the unit tests share. tcp_pair: a connected loopback TCP pair
 * (*tx sends, *rx receives, blocking with a 10 s timeout so a bug fails rather than hangs);
 * netns_lo: a network namespace of the test's own with its loopback up (needs root; the
 * tests that use it fail rather than skip without it).
 */
#ifndef TC_TEST_SOCK_FX_H
#define TC_TEST_SOCK_FX_H

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static inline void tcp_pair(int *tx, int *rx)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sin);
    struct timeval tv = {.tv_sec = 10};
    int l = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(l >= 0);
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &sl), 0);
    *tx = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*tx >= 0);
    assert_int_equal(connect(*tx, (struct sockaddr *)&sin, sizeof(sin)), 0);
    *rx = accept(l, NULL, NULL);
    assert_true(*rx >= 0);
    assert_int_equal(setsockopt(*rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    close(l);
}

/* 0, or -1 with the reason on stderr (prog names the test). */
static inline int netns_lo(const char *prog)
{
    struct ifreq ifr;
    if (geteuid() != 0) {
        fprintf(stderr, "%s: needs root (unshare(CLONE_NEWNET), raw sockets or captures); run "
                        "it as root, it does not skip\n", prog);
        return -1;
    }
    if (unshare(CLONE_NEWNET) < 0) {
        fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s\n", prog, strerror(errno));
        return -1;
    }
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
    assert_int_equal(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
    ifr.ifr_flags |= IFF_UP;
    assert_int_equal(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
    close(fd);
    return 0;
}

#endif
