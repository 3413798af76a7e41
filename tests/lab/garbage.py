#!/usr/bin/env python3
"""Send malformed and random IPv4/TCP packets toward a host, at a bounded rate (lab only).

Two ways in:
  --mode ip   a raw IPv4 socket with IP_HDRINCL (run it in the client namespace): the packets
              are routed; the sending kernel fills in the total length and the checksum when
              IHL >= 5 and refuses IHL > length (counted as send errors), and the routers and
              the receiver's IP layer drop what is malformed at the IP level.
  --mode l2   an AF_PACKET socket on --dev (run it in the router namespace, on the bridge port
              toward the host): Ethernet frames to --dst-mac, nothing fixed up, so IP-level
              garbage (IHL, total length, version, IPv6 payload length) reaches the wire of
              the host as written.
Every packet goes to --dst, TCP destination port --dport (so that a capture filter on that
port sees it), from --src with a source port in --sport-lo..--sport-hi. Structured cases
(--each of every kind), then --random random ones. One summary line per kind on stdout:
  kind sent N errors N
Bounded: --count caps the total, --rate the packets per second, --max-seconds the time.
"""
import argparse
import random
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


class Gen:
    def __init__(self, a, rnd):
        self.a = a
        self.r = rnd
        self.src = socket.inet_aton(a.src)
        self.dst = socket.inet_aton(a.dst)

    def sport(self):
        return self.r.randint(self.a.sport_lo, self.a.sport_hi)

    def ip(self, payload, ihl=5, tot=None, ver=4, flags_frag=0, proto=6, ident=None, opts=b''):
        """An IPv4 header (+ options) and payload; tot None = the real length."""
        hdr_len = 20 + len(opts)
        total = hdr_len + len(payload) if tot is None else tot
        ident = self.r.randint(1, 65535) if ident is None else ident
        h = struct.pack('!BBHHHBBH4s4s', (ver << 4) | (ihl & 15), 0, total & 0xffff, ident,
                        flags_frag, 64, proto, 0, self.src, self.dst) + opts
        h = h[:10] + struct.pack('!H', csum(h)) + h[12:]
        return h + payload

    def tcp(self, doff=5, flags=0x18, opts=b'', payload=b'', sport=None, seq=None):
        sport = self.sport() if sport is None else sport
        seq = self.r.getrandbits(32) if seq is None else seq
        h = struct.pack('!HHIIBBHHH', sport, self.a.dport, seq, self.r.getrandbits(32),
                        (doff & 15) << 4, flags, 65535, 0, 0)
        return h + opts + payload

    # ---- structured cases: name -> function returning a list of IPv4 datagrams ----
    def k_tcp_trunc(self):
        # 4..19 bytes of TCP header (the ports are there, the rest is not)
        return [self.ip(self.tcp()[:self.r.randint(4, 19)])]

    def k_doff_small(self):
        return [self.ip(self.tcp(doff=self.r.randint(0, 4), payload=b'GET / HTTP/1.1\r\n'))]

    def k_doff_big(self):
        # data offset beyond the datagram: 15 words claimed, 20-40 bytes present
        return [self.ip(self.tcp(doff=15)[:20] + self.r.randbytes(self.r.randint(0, 20)))]

    def k_opt_zero_len(self):
        # MSS kind with length 0 (an endless loop for a naive parser), padded to 8 bytes
        return [self.ip(self.tcp(doff=7, flags=0x02, opts=b'\x02\x00' + b'\x01' * 6))]

    def k_opt_len1(self):
        return [self.ip(self.tcp(doff=6, flags=0x02, opts=b'\x03\x01\x01\x01'))]

    def k_opt_mss_long(self):
        # MSS claims 40 bytes in an 8-byte option area
        return [self.ip(self.tcp(doff=7, flags=0x02, opts=b'\x02\x28\x05\xb4\x01\x01\x01\x01'))]

    def k_opt_trunc(self):
        # a kind byte at the very end, no room for its length
        return [self.ip(self.tcp(doff=6, flags=0x02, opts=b'\x01\x01\x01\x08'))]

    def k_opt_sack_bad(self):
        # SACK block length not a multiple of 8, timestamps of length 3
        return [self.ip(self.tcp(doff=8, flags=0x10, opts=b'\x05\x07' + b'\xaa' * 5 + b'\x08\x03\x00'
                                 + b'\x01' * 2, payload=b'x'))]

    def k_ihl_small(self):
        return [self.ip(self.tcp(), ihl=self.r.randint(0, 4))]

    def k_ihl_big(self):
        # IHL 15 (60 bytes) in a 40-byte datagram
        return [self.ip(self.tcp(), ihl=15)]

    def k_totlen_big(self):
        d = self.ip(self.tcp(payload=b'GET /'))
        return [self.ip(d[20:], tot=len(d) + self.r.randint(1, 1400))]

    def k_totlen_small(self):
        return [self.ip(self.tcp(), tot=self.r.randint(0, 19))]

    def k_version(self):
        return [self.ip(self.tcp(), ver=self.r.choice([0, 5, 7, 15]))]

    def k_ip_opts(self):
        # IP options: a record-route option whose length runs past the header
        return [self.ip(self.tcp(), ihl=6, opts=b'\x07\x27\x04\x00')]

    def k_not_tcp(self):
        return [self.ip(self.r.randbytes(24), proto=self.r.choice([0, 17, 41, 253]))]

    def k_frag_tiny(self):
        # the TCP header split at 8 bytes over two fragments; reassembled it is a segment
        # with a data offset beyond its end
        seg = self.tcp(doff=15)[:20] + b'abc'
        ident = self.r.randint(1, 65535)
        return [self.ip(seg[:8], flags_frag=0x2000, ident=ident),
                self.ip(seg[8:], flags_frag=1, ident=ident)]

    def k_frag_lone(self):
        # a first fragment that is never completed, or a later one that never had a first
        if self.r.random() < 0.5:
            return [self.ip(self.tcp()[:16], flags_frag=0x2000)]
        return [self.ip(self.r.randbytes(16), flags_frag=self.r.randint(1, 100))]

    def k_frag_overlap(self):
        seg = self.tcp(payload=b'GET /overlap HTTP/1.1\r\n\r\n')
        ident = self.r.randint(1, 65535)
        return [self.ip(seg[:24], flags_frag=0x2000, ident=ident),
                self.ip(seg[16:], flags_frag=2, ident=ident)]

    def k_seq_far(self):
        # a SYN, then one byte far ahead of it in sequence space (1 to 200 MB): a receiver
        # keeps no more than its window; a queue that fills the gap holds megabytes
        sp, isn = self.sport(), self.r.getrandbits(32)
        far = (isn + 1 + self.r.randint(1 << 20, 200 << 20)) & 0xffffffff
        return [self.ip(self.tcp(flags=0x02, sport=sp, seq=isn)),
                self.ip(self.tcp(flags=0x18, sport=sp, seq=far, payload=b'x'))]

    def k_random(self):
        """Random TCP (ports kept so the filter sees it) and, 1 in 8, a random IP header."""
        seg = bytearray(self.r.randbytes(self.r.randint(4, 80)))
        struct.pack_into('!H', seg, 2, self.a.dport)
        struct.pack_into('!H', seg, 0, self.sport())
        seg = bytes(seg)
        if self.r.random() < 0.125:
            return [self.ip(seg, ihl=self.r.randint(0, 15), tot=self.r.randint(0, 200),
                            flags_frag=self.r.getrandbits(16), ver=self.r.choice([4, 4, 4, 6, 0]))]
        return [self.ip(seg)]


IP_KINDS = ['tcp_trunc', 'doff_small', 'doff_big', 'opt_zero_len', 'opt_len1', 'opt_mss_long',
            'opt_trunc', 'opt_sack_bad', 'ihl_small', 'ihl_big', 'ip_opts', 'not_tcp',
            'frag_tiny', 'frag_lone', 'frag_overlap']
L2_KINDS = IP_KINDS + ['totlen_big', 'totlen_small', 'version', 'ipv6_bad']


def ipv6_bad(g):
    """An IPv6 header whose payload length runs past the frame, next header TCP."""
    seg = g.tcp()
    plen = len(seg) + g.r.randint(1, 500)
    h = struct.pack('!IHBB16s16s', 6 << 28, plen, 6, 64,
                    socket.inet_pton(socket.AF_INET6, '2001:db8:2::10'),
                    socket.inet_pton(socket.AF_INET6, '2001:db8:1::10'))
    return [h + seg]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--mode', choices=['ip', 'l2'], default='ip')
    p.add_argument('--dev', help='l2: the interface to send on')
    p.add_argument('--dst-mac', help='l2: the destination MAC')
    p.add_argument('--src-mac', default='02:00:00:00:00:01')
    p.add_argument('--src', default='198.51.100.10')
    p.add_argument('--dst', default='192.0.2.10')
    p.add_argument('--dport', type=int, default=80)
    p.add_argument('--sport-lo', type=int, default=1024)
    p.add_argument('--sport-hi', type=int, default=9999)
    p.add_argument('--each', type=int, default=50, help='packets of each structured kind')
    p.add_argument('--random', type=int, default=10000)
    p.add_argument('--count', type=int, default=20000, help='cap on all packets')
    p.add_argument('--rate', type=int, default=4000, help='packets per second (cap)')
    p.add_argument('--max-seconds', type=float, default=30)
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--kinds', help='comma-separated structured kinds (default: all of the mode)')
    a = p.parse_args()
    for addr in (a.src, a.dst):
        n = struct.unpack('!I', socket.inet_aton(addr))[0]
        if not any((n >> 8) == (net >> 8) for net in (0xC0000200, 0xC6336400, 0xCB007100)) \
                and (n >> 24) != 127:
            sys.exit('garbage.py: %s is not a documentation or loopback address' % addr)

    rnd = random.Random(a.seed)
    g = Gen(a, rnd)
    if a.mode == 'ip':
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        kinds = IP_KINDS

        def send(d, v6=False):
            s.sendto(d, (a.dst, 0))
    else:
        if not a.dev or not a.dst_mac:
            sys.exit('garbage.py: --mode l2 needs --dev and --dst-mac')
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((a.dev, 0))
        eth4 = bytes.fromhex(a.dst_mac.replace(':', '')) + bytes.fromhex(a.src_mac.replace(':', '')) \
            + b'\x08\x00'
        eth6 = eth4[:12] + b'\x86\xdd'
        kinds = L2_KINDS

        def send(d, v6=False):
            s.send((eth6 if v6 else eth4) + d)

    if a.kinds is not None:
        kinds = [k for k in a.kinds.split(',') if k]
        for k in kinds:
            if k != 'ipv6_bad' and not hasattr(g, 'k_' + k):
                sys.exit('garbage.py: unknown kind %s' % k)
    plan = []
    for k in kinds:
        plan += [k] * a.each
    rnd.shuffle(plan)
    plan += ['random'] * a.random
    sent = {}
    errs = {}
    total = 0
    t0 = time.monotonic()
    for k in plan:
        if total >= a.count or time.monotonic() - t0 > a.max_seconds:
            break
        pkts = ipv6_bad(g) if k == 'ipv6_bad' else getattr(g, 'k_' + k)()
        for d in pkts:
            try:
                send(d, k == 'ipv6_bad')
                sent[k] = sent.get(k, 0) + 1
            except OSError:
                errs[k] = errs.get(k, 0) + 1
            total += 1
            # pace: never ahead of total / rate seconds
            ahead = total / a.rate - (time.monotonic() - t0)
            if ahead > 0.002:
                time.sleep(ahead)
    el = time.monotonic() - t0
    for k in kinds + ['random']:
        print('%s sent %d errors %d' % (k, sent.get(k, 0), errs.get(k, 0)))
    print('total sent %d errors %d in %.2f s' % (sum(sent.values()), sum(errs.values()), el))


if __name__ == '__main__':
    main()
