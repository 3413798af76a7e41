/*
 * floor: the least a copy of live TCP traffic costs (bench/, issue 23). Not part of tcpcopy.
 *
 * It does what every copy must do and nothing else: capture the datagrams sent to one port
 * with the same mechanism as tcpcopy's default capture (an AF_INET/SOCK_RAW/IPPROTO_TCP socket
 * with a classic BPF port filter, recvmmsg() into 64 buffers of 64 KB, a 256 MB receive
 * buffer), rewrite source address, destination address and port, recompute the TCP checksum
 * over the whole segment and the IP header checksum, and send with one IPPROTO_RAW socket and
 * sendmmsg() (batches of up to 64, 8 MB send buffer, as tcpcopy's raw sender). No session, no
 * sequence numbers, no channel: the target answers nothing useful, which is not the point.
 * The datagrams are rewritten in place in the receive buffers (no copy).
 *
 *   floor -p PORT -t TARGET_IP:PORT -c FAKE_NET_PREFIX    (e.g. -p 80 -t 192.0.2.20:9 -c 203.0.113)
 *
 * The source becomes FAKE_NET_PREFIX.<last byte of the client's address>, as tcpcopy's
 * -c 203.0.113.x. Runs until SIGTERM or SIGINT, then prints one line of counters on stderr:
 * "floor: received N sent N refused N too_big N". IPv4 only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SLOTS 64
#define SLOT_BYTES 65536
#define MTU 1500

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static uint32_t sum16(uint32_t s, const uint8_t *p, size_t n)
{
    for (; n > 1; n -= 2, p += 2)
        s += (uint32_t)p[0] << 8 | p[1];
    if (n)
        s += (uint32_t)p[0] << 8;
    return s;
}

static uint16_t fold(uint32_t s)
{
    while (s >> 16)
        s = (s & 0xffff) + (s >> 16);
    return (uint16_t)~s;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ldb [9]; jeq #6; ldh [6]; jset #0x1fff; ldxb 4*([0]&0xf); ldh [x+2]; jeq #port; ret 0; ret -1 */
static int attach_filter(int fd, uint16_t port)
{
    struct sock_filter prog[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 9),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, IPPROTO_TCP, 0, 5),
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 6),
        BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x1fff, 3, 0),
        BPF_STMT(BPF_LDX | BPF_B | BPF_MSH, 0),
        BPF_STMT(BPF_LD | BPF_H | BPF_IND, 2),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, port, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, 0xffffffffU),
    };
    struct sock_fprog fp = {.len = sizeof(prog) / sizeof(prog[0]), .filter = prog};

    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof(fp));
}

/* Rewrite the datagram ip[0..len) in place for the target; 0, or -1 when it is not usable. */
static int rewrite(uint8_t *ip, size_t len, const uint8_t dst[4], uint16_t dport,
                   const uint8_t net[3])
{
    size_t hl, tl;
    uint8_t *th;
    uint32_t s;

    if (len < 20 || ip[0] >> 4 != 4)
        return -1;
    hl = (size_t)(ip[0] & 15) * 4;
    tl = (size_t)ip[2] << 8 | ip[3];
    if (hl < 20 || tl < hl + 20 || tl > len)
        return -1;
    th = ip + hl;
    memcpy(ip + 12, net, 3); /* source: net.<last byte> */
    memcpy(ip + 16, dst, 4);
    put16(th + 2, dport);
    put16(ip + 10, 0);
    put16(ip + 10, fold(sum16(0, ip, hl)));
    put16(th + 16, 0);
    s = sum16(0, ip + 12, 8) + IPPROTO_TCP + (uint32_t)(tl - hl);
    put16(th + 16, fold(sum16(s, th, tl - hl)));
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: floor -p PORT -t TARGET_IPV4:PORT -c A.B.C\n");
    return 2;
}

int main(int argc, char **argv)
{
    static uint8_t bufs[SLOTS][SLOT_BYTES];
    static struct mmsghdr rx[SLOTS], tx[SLOTS];
    static struct iovec rio[SLOTS], tio[SLOTS];
    struct sockaddr_in to = {.sin_family = AF_INET};
    uint8_t dst[4], net[4];
    unsigned long port = 0, dport = 0;
    unsigned long long received = 0, sent = 0, refused = 0, too_big = 0;
    char host[64], cnet[32];
    int opt, rfd, sfd, big = 256 * 1024 * 1024, sbuf = 8 * 1024 * 1024;

    host[0] = cnet[0] = '\0';
    while ((opt = getopt(argc, argv, "p:t:c:")) != -1) {
        if (opt == 'p')
            port = strtoul(optarg, NULL, 10);
        else if (opt == 't' && sscanf(optarg, "%63[0-9.]:%lu", host, &dport) == 2)
            ;
        else if (opt == 'c' && snprintf(cnet, sizeof(cnet), "%s.0", optarg) < (int)sizeof(cnet))
            ;
        else
            return usage();
    }
    if (port == 0 || port > 65535 || dport == 0 || dport > 65535 ||
        inet_pton(AF_INET, host, dst) != 1 || inet_pton(AF_INET, cnet, net) != 1)
        return usage();
    memcpy(&to.sin_addr, dst, 4);

    rfd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_TCP);
    sfd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_RAW);
    if (rfd < 0 || sfd < 0 || attach_filter(rfd, (uint16_t)port) < 0) {
        perror("floor: sockets");
        return 1;
    }
    if (setsockopt(rfd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
        (void)setsockopt(rfd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    if (setsockopt(sfd, SOL_SOCKET, SO_SNDBUFFORCE, &sbuf, sizeof(sbuf)) < 0)
        (void)setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &sbuf, sizeof(sbuf));

    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: recvmmsg returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    for (int i = 0; i < SLOTS; i++) {
        rio[i] = (struct iovec){.iov_base = bufs[i], .iov_len = SLOT_BYTES};
        rx[i].msg_hdr = (struct msghdr){.msg_iov = &rio[i], .msg_iovlen = 1};
    }
    fprintf(stderr, "floor: port %lu -> %s:%lu, source %s/24\n", port, host, dport, cnet);

    while (!stop) {
        int n = recvmmsg(rfd, rx, SLOTS, MSG_WAITFORONE, NULL), k = 0;

        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("floor: recvmmsg");
            return 1;
        }
        received += (unsigned)n;
        for (int i = 0; i < n; i++) {
            size_t len = rx[i].msg_len;

            if (len > MTU) {
                too_big++;
                continue;
            }
            if (rewrite(bufs[i], len, dst, (uint16_t)dport, net) < 0) {
                refused++;
                continue;
            }
            tio[k] = (struct iovec){.iov_base = bufs[i], .iov_len = len};
            tx[k].msg_hdr = (struct msghdr){.msg_name = &to, .msg_namelen = sizeof(to),
                                            .msg_iov = &tio[k], .msg_iovlen = 1};
            k++;
        }
        for (int i = 0; i < k;) {
            int r = sendmmsg(sfd, tx + i, (unsigned)(k - i), MSG_DONTWAIT);

            if (r <= 0) {
                if (r < 0 && errno == EINTR)
                    continue;
                refused++;
                i++;
                continue;
            }
            sent += (unsigned)r;
            i += r;
        }
    }
    fprintf(stderr, "floor: received %llu sent %llu refused %llu too_big %llu\n", received, sent,
            refused, too_big);
    return 0;
}
