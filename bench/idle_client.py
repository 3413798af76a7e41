#!/usr/bin/env python3
"""Idle keep-alive sessions for the benchmark (python3 standard library only).

Opens N TCP connections to HOST:PORT, sends one HTTP/1.1 keep-alive request on each
(GET /PREFIX/<proc>/<i>), reads its answer, and then keeps every connection open and silent.
The connections are spread over PROCS processes, since one process may not hold more file
descriptors than the hard RLIMIT_NOFILE allows (20,000 on the lab machine, and root may not
be allowed to raise it).

When all connections are answered (or OPEN_TIMEOUT seconds have passed) it writes
"answered failed seconds" to the READY file, then holds the connections until the RELEASE file
exists (or HOLD seconds have passed), closes them and exits (0 when none failed).
"""

import argparse
import errno
import os
import resource
import selectors
import socket
import sys
import time


def worker(args, wid, count, wfd):
    """Open `count` sessions; report "answered failed" on wfd; hold until released."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = count + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    sel = selectors.DefaultSelector()
    held = []
    state = {}          # socket -> [index, buffer]
    opened = answered = failed = 0
    deadline = time.monotonic() + args.open_timeout

    def request(i):
        return ("GET /%s/%d/%d HTTP/1.1\r\nHost: %s\r\nUser-Agent: bench-idle\r\n\r\n"
                % (args.prefix, wid, i, args.host)).encode()

    def drop(s):
        nonlocal failed
        failed += 1
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        state.pop(s, None)
        s.close()

    while answered + failed < count and time.monotonic() < deadline:
        while len(state) < args.inflight and opened < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((args.host, args.port))
            opened += 1
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            state[s] = [opened, b""]
            sel.register(s, selectors.EVENT_WRITE)
        for key, ev in sel.select(timeout=0.5):
            s = key.fileobj
            st = state.get(s)
            if st is None:
                continue
            if ev & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    drop(s)
                    continue
                try:
                    s.send(request(st[0]))
                except OSError:
                    drop(s)
                    continue
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                drop(s)
                continue
            if not data:
                drop(s)
                continue
            st[1] += data
            head, sep, body = st[1].partition(b"\r\n\r\n")
            if not sep:
                continue
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(body) >= length:
                sel.unregister(s)
                state.pop(s, None)
                held.append(s)
                answered += 1
    for s in list(state):
        drop(s)
    os.write(wfd, ("%d %d\n" % (answered, failed)).encode())
    os.close(wfd)
    # Hold the sessions, silent, until released.
    end = time.monotonic() + args.hold
    while time.monotonic() < end and not os.path.exists(args.release):
        time.sleep(0.2)
    for s in held:
        s.close()
    return 0 if failed == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--n", type=int, default=20000, help="sessions in all")
    ap.add_argument("--procs", type=int, default=4, help="processes sharing them")
    ap.add_argument("--inflight", type=int, default=200, help="handshakes in progress per process")
    ap.add_argument("--prefix", default="idle", help="first path component of the URIs")
    ap.add_argument("--ready", required=True, help="file written when all are answered")
    ap.add_argument("--release", required=True, help="file whose creation ends the hold")
    ap.add_argument("--open-timeout", type=float, default=120, help="seconds to open all")
    ap.add_argument("--hold", type=float, default=120, help="longest hold, seconds")
    args = ap.parse_args()

    t0 = time.monotonic()
    children = []
    for w in range(args.procs):
        count = args.n // args.procs + (1 if w < args.n % args.procs else 0)
        r, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 1
            try:
                code = worker(args, w + 1, count, wfd)
            finally:
                os._exit(code)
        os.close(wfd)
        children.append((pid, r))
    answered = failed = 0
    for pid, r in children:
        with os.fdopen(r) as f:
            line = f.read().split()
        if len(line) == 2:
            answered += int(line[0])
            failed += int(line[1])
        else:
            failed += 1
    with open(args.ready + ".tmp", "w") as f:
        f.write("%d %d %.2f\n" % (answered, failed, time.monotonic() - t0))
    os.rename(args.ready + ".tmp", args.ready)
    print("idle_client: %d sessions answered, %d failed, in %.1f s"
          % (answered, failed, time.monotonic() - t0), flush=True)
    rc = 0
    for pid, _ in children:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
