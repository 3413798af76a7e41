#!/usr/bin/env python3
"""Hostile tcpcopy: a fuzzed frame stream against intercept's channel port (issue 5).

Opens --conns connections (default 200, --workers at a time) to intercept and on each plays
one scenario, chosen in turn from SCENARIOS: raw garbage, frames with valid headers and random
bodies, truncated frames, huge lengths, bad HELLOs, byte-by-byte drips, bursts of valid route
records, wrong-direction frames, AUTH with a random proof. Frames after the HELLO are only
meaningful to an intercept that accepts us: without --secret-file the fuzzer announces no
AUTH feature (for an intercept without a secret); with --secret-file it proves the secret
(doc/protocol.md section 13, src/auth.h) so that the fuzzed frames reach the parser behind the
handshake. Route records use target port 9 and client addresses in 198.51.100.128/25, so they
never collide with a real copy's sessions.

Each connection is bounded (--conn-time); the whole run stops at --time-limit. Prints one line
per scenario (connections, closed by intercept, left open, hello answered, auth passed) and a
total; exit 0, or 1 when intercept could not be reached (refused / timed out) on most attempts,
which is what a crashed intercept looks like. Python 3 standard library only.
"""
import argparse
import collections
import hashlib
import hmac
import os
import random
import socket
import struct
import sys
import threading
import time

T_HELLO, T_AUTH, T_ADD, T_DEL, T_REPLY, T_HB, T_BYE = 1, 2, 3, 4, 5, 6, 7
FEAT_AUTH, FEAT_HB = 1, 4
ROLE_TCPCOPY, ROLE_INTERCEPT = 1, 2
AUTH_LABEL = b"tcpcopy-auth v1"


def frame(ftype, body, length=None):
    return struct.pack(">BBH", ftype, 0, len(body) if length is None else length) + body


def hello_body(rng, features, version=1, role=ROLE_TCPCOPY, magic=b"TCPC", extra=b""):
    return magic + struct.pack(">HBBI", version, role, 0, features) + rng.randbytes(16) + extra


def route_record(rng, valid=True):
    af = 4 if valid else rng.choice([0, 1, 5, 7, 255])
    cport = rng.randrange(1024, 65536)
    client = bytes([198, 51, 100, rng.randrange(128, 255)]) + bytes(12)
    target = bytes([192, 0, 2, 20]) + bytes(12)
    if rng.random() < 0.2:
        af = 6 if valid else af
        client = b"\x20\x01\x0d\xb8\x00\x03" + rng.randbytes(10)
        target = b"\x20\x01\x0d\xb8\x00\x01" + bytes(9) + b"\x20"
    return struct.pack(">BBHHH", af, 0, cport, 9, 0) + client + target


class Conn:
    """One connection: send helpers that never raise, and a bounded read of what comes back."""

    def __init__(self, host, port, deadline):
        self.deadline = deadline
        self.s = socket.create_connection((host, port), timeout=2)
        self.s.settimeout(1)
        self.inbuf = b""
        self.closed = False
        self.error = None

    def send(self, data):
        if self.closed:
            return False
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError) as e:
            self.closed = True
            self.error = type(e).__name__
            return False

    def read_frame(self, timeout=1.0):
        """The next whole frame (type, body), or None on close/timeout."""
        end = min(time.monotonic() + timeout, self.deadline)
        while True:
            if len(self.inbuf) >= 4:
                t, _, n = struct.unpack(">BBH", self.inbuf[:4])
                if len(self.inbuf) >= 4 + n:
                    body = self.inbuf[4:4 + n]
                    self.inbuf = self.inbuf[4 + n:]
                    return t, body
            left = end - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            except OSError as e:
                self.closed = True
                self.error = type(e).__name__
                return None
            if not d:
                self.closed = True
                return None
            self.inbuf += d

    def wait_closed(self, timeout):
        """True when intercept closes the connection within timeout (draining what it sends)."""
        end = min(time.monotonic() + timeout, self.deadline)
        while not self.closed:
            left = end - time.monotonic()
            if left <= 0:
                return False
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            except OSError:
                self.closed = True
                break
            if not d:
                self.closed = True
        return True

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


class Fuzzer:
    def __init__(self, args):
        self.a = args
        self.secret = None
        if args.secret_file:
            with open(args.secret_file, "rb") as f:
                s = f.read()
            if s.endswith(b"\r\n"):
                s = s[:-2]
            elif s.endswith(b"\n"):
                s = s[:-1]
            self.secret = s
        self.lock = threading.Lock()
        self.stats = collections.defaultdict(collections.Counter)
        self.unreachable = 0
        self.attempts = 0

    # --- handshake -----------------------------------------------------------------------
    def handshake(self, c, rng, st):
        """Valid HELLO (+ AUTH when we have the secret). True when the channel is up."""
        feats = FEAT_HB | (FEAT_AUTH if self.secret is not None else 0)
        nonce_t = rng.randbytes(16)
        body = b"TCPC" + struct.pack(">HBBI", 1, ROLE_TCPCOPY, 0, feats) + nonce_t
        if not c.send(frame(T_HELLO, body)):
            return False
        f = c.read_frame(2.0)
        if f is None or f[0] != T_HELLO or len(f[1]) < 28:
            return False
        st["hello answered"] += 1
        nonce_i = f[1][12:28]
        if self.secret is None:
            return True
        proof = hmac.new(self.secret, AUTH_LABEL + bytes([ROLE_TCPCOPY]) + nonce_t + nonce_i,
                         hashlib.sha256).digest()
        if not c.send(frame(T_AUTH, proof)):
            return False
        # intercept answers with its own AUTH (or a BYE and a close).
        f = c.read_frame(2.0)
        if f is None or f[0] != T_AUTH:
            return False
        st["auth passed"] += 1
        return True

    # --- scenarios -----------------------------------------------------------------------
    def sc_garbage(self, c, rng, st):
        c.send(rng.randbytes(rng.randrange(1, 4096)))

    def sc_random_frames(self, c, rng, st):
        if not self.handshake(c, rng, st):
            return
        for _ in range(rng.randrange(1, 50)):
            t = rng.randrange(0, 256)
            n = rng.choice([0, 1, 2, 27, 28, 40, 41, 64, 65, 256, 257, 1024, rng.randrange(0, 4000)])
            if not c.send(frame(t, rng.randbytes(n))):
                break

    def sc_valid_header_random_body(self, c, rng, st):
        if not self.handshake(c, rng, st):
            return
        for _ in range(rng.randrange(1, 100)):
            t = rng.choice([T_ADD, T_DEL, T_HB, T_BYE, T_REPLY, T_AUTH, T_HELLO])
            if t in (T_ADD, T_DEL):
                n = 40 * rng.randrange(1, 20)
            elif t == T_HB:
                n = rng.randrange(0, 65)
            elif t == T_BYE:
                n = rng.randrange(2, 1025)
            elif t == T_REPLY:
                n = rng.randrange(2, 2000)
            elif t == T_AUTH:
                n = rng.randrange(32, 257)
            else:
                n = rng.randrange(28, 257)
            if not c.send(frame(t, rng.randbytes(n))):
                break

    def sc_truncated(self, c, rng, st):
        if rng.random() < 0.5 and not self.handshake(c, rng, st):
            return
        t = rng.choice([T_HELLO, T_ADD, T_DEL, T_HB, T_BYE, T_AUTH])
        n = {T_HELLO: 28, T_ADD: 400, T_DEL: 80, T_HB: 64, T_BYE: 100, T_AUTH: 32}[t]
        data = frame(t, rng.randbytes(n))
        cut = rng.randrange(1, len(data))
        c.send(data[:cut])
        time.sleep(rng.random() * 0.3)

    def sc_huge_length(self, c, rng, st):
        if rng.random() < 0.5 and not self.handshake(c, rng, st):
            return
        t = rng.choice([T_HELLO, T_ADD, T_DEL, T_HB, T_BYE, T_AUTH, T_REPLY, 0, 0x42])
        c.send(struct.pack(">BBH", t, 0, rng.choice([65535, 65534, 65521, 40000])))
        # Stream some of the announced body, never all of it.
        for _ in range(rng.randrange(0, 8)):
            if not c.send(rng.randbytes(4096)):
                break

    def sc_bad_hello(self, c, rng, st):
        kind = rng.randrange(7)
        if kind == 0:
            body = hello_body(rng, FEAT_HB, magic=b"TCPX")
        elif kind == 1:
            body = hello_body(rng, FEAT_HB, version=rng.choice([0, 2, 65535]))
        elif kind == 2:
            body = hello_body(rng, FEAT_HB, role=rng.choice([0, 2, 3, 255]))
        elif kind == 3:
            body = hello_body(rng, FEAT_HB)[:rng.randrange(0, 28)]
        elif kind == 4:
            body = hello_body(rng, 0xFFFFFFFF, extra=rng.randbytes(228))   # 256: the maximum
        elif kind == 5:
            body = hello_body(rng, FEAT_HB, extra=rng.randbytes(rng.randrange(229, 2000)))
        else:
            body = hello_body(rng, FEAT_AUTH | FEAT_HB)                   # claims AUTH
        c.send(frame(T_HELLO, body))
        if kind == 6:
            c.read_frame(1.0)
            c.send(frame(T_AUTH, rng.randbytes(32)))                      # a random proof
        # Then a frame before/after a refused HELLO.
        c.send(frame(T_ADD, route_record(rng)))

    def sc_drip(self, c, rng, st):
        feats = FEAT_HB | (FEAT_AUTH if self.secret is not None else 0)
        data = frame(T_HELLO, hello_body(rng, feats)) + frame(T_ADD, route_record(rng))
        end = time.monotonic() + 1.0
        for b in data:
            if time.monotonic() > end or not c.send(bytes([b])):
                break
            time.sleep(0.01)

    def sc_routes(self, c, rng, st):
        if not self.handshake(c, rng, st):
            return
        recs = [route_record(rng, valid=rng.random() > 0.02) for _ in range(rng.randrange(1, 3000))]
        i = 0
        while i < len(recs):
            n = rng.randrange(1, 1639)
            body = b"".join(recs[i:i + n])
            i += n
            if not c.send(frame(rng.choice([T_ADD, T_ADD, T_DEL]), body)):
                break
        if rng.random() < 0.5:
            c.send(frame(T_HB, b""))
            c.send(frame(T_BYE, struct.pack(">H", rng.randrange(0, 10)) + rng.randbytes(rng.randrange(0, 50))))

    def sc_wrong_direction(self, c, rng, st):
        if not self.handshake(c, rng, st):
            return
        t = rng.choice([T_REPLY, T_HELLO, T_AUTH])
        if t == T_REPLY:
            rec = rng.randbytes(rng.randrange(1, 120))
            body = struct.pack(">H", len(rec)) + rec
            if rng.random() < 0.5:
                body = struct.pack(">H", 0) + body            # a zero-length record
        elif t == T_HELLO:
            body = hello_body(rng, FEAT_HB)
        else:
            body = rng.randbytes(32)
        c.send(frame(t, body))

    def sc_idle(self, c, rng, st):
        kind = rng.randrange(3)
        if kind == 0:
            return                                             # connect, close
        if kind == 1:
            try:
                c.s.shutdown(socket.SHUT_WR)                   # half-close at once
            except OSError:
                pass
            return
        self.handshake(c, rng, st)                             # HELLO, then close

    SCENARIOS = ["garbage", "random_frames", "valid_header_random_body", "truncated",
                 "huge_length", "bad_hello", "drip", "routes", "wrong_direction", "idle"]

    # --- driver --------------------------------------------------------------------------
    def one(self, i, run_deadline):
        name = self.SCENARIOS[i % len(self.SCENARIOS)]
        rng = random.Random(self.a.seed * 1000003 + i)
        st = collections.Counter()
        st["connections"] += 1
        deadline = min(run_deadline, time.monotonic() + self.a.conn_time)
        with self.lock:
            self.attempts += 1
        try:
            c = Conn(self.a.host, self.a.port, deadline)
        except OSError as e:
            st["connect failed (%s)" % type(e).__name__] += 1
            with self.lock:
                self.unreachable += 1
                self.stats[name].update(st)
            return
        try:
            getattr(self, "sc_" + name)(c, rng, st)
            if c.wait_closed(max(0.0, min(0.5, deadline - time.monotonic()))):
                st["closed by intercept"] += 1
            else:
                st["left open"] += 1
        except Exception as e:                                 # a fuzzer bug, not intercept's
            st["client error %s" % type(e).__name__] += 1
        finally:
            c.close()
        with self.lock:
            self.stats[name].update(st)

    def run(self):
        run_deadline = time.monotonic() + self.a.time_limit
        nxt = [0]
        lock = threading.Lock()

        def worker():
            while time.monotonic() < run_deadline:
                with lock:
                    i = nxt[0]
                    if i >= self.a.conns:
                        return
                    nxt[0] += 1
                self.one(i, run_deadline)

        ths = [threading.Thread(target=worker, daemon=True) for _ in range(self.a.workers)]
        t0 = time.monotonic()
        for t in ths:
            t.start()
        for t in ths:
            t.join(max(0.0, run_deadline + 5 - time.monotonic()))
        total = collections.Counter()
        for name in self.SCENARIOS:
            st = self.stats.get(name)
            if not st:
                continue
            total.update(st)
            print("fuzz %-26s %s" % (name, ", ".join("%s %d" % kv for kv in sorted(st.items()))))
        print("fuzz total: %s; %.1f s" % (", ".join("%s %d" % kv for kv in sorted(total.items())),
                                         time.monotonic() - t0))
        if self.attempts == 0 or self.unreachable * 2 > self.attempts:
            print("fuzz: intercept unreachable on %d of %d attempts" % (self.unreachable, self.attempts))
            return 1
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=36524)
    ap.add_argument("--conns", type=int, default=200)
    ap.add_argument("--workers", type=int, default=20)
    ap.add_argument("--conn-time", type=float, default=3.0, help="seconds per connection at most")
    ap.add_argument("--time-limit", type=float, default=20.0, help="seconds for the whole run")
    ap.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "1")))
    ap.add_argument("--secret-file", help="prove this secret after the HELLO (deep frames)")
    a = ap.parse_args()
    if not hasattr(random.Random, "randbytes"):                      # Python < 3.9
        random.Random.randbytes = lambda self, n: bytes(self.getrandbits(8) for _ in range(n))
    sys.exit(Fuzzer(a).run())


if __name__ == "__main__":
    main()
