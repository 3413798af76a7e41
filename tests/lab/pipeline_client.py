#!/usr/bin/env python3
"""Lab client for pipelined and server-first exchanges (python3 standard library only).

  pipeline: on each of --conns connections, --rounds times: write --depth HTTP/1.1 requests
            in one send(), then read the --depth answers.
  greet:    on each of --conns connections: read the server's greeting line first, then
            --rounds times send one request and read its answer.

Every request has a unique URI (/<mode>/<conn>/<round>/<i>). Answers are parsed by their
Content-Length (the lab's recorder and nginx both send one). Exits 1 on any error, after
printing it; prints "ok CONNS REQUESTS" on success.
"""

import argparse
import socket
import sys


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed by the server")
        self.buf += data

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def response(self):
        while b"\r\n\r\n" not in self.buf:
            self.fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = lines[0].split(b" ")
        if len(status) < 2 or not status[0].startswith(b"HTTP/"):
            raise ValueError("bad status line %r" % lines[0])
        length = 0
        for h in lines[1:]:
            k, _, v = h.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(self.buf) < length:
            self.fill()
        self.buf = self.buf[length:]
        return int(status[1])


def request(host, uri):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: lab-pipeline\r\n\r\n" % (uri, host)).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("mode", choices=["pipeline", "greet"])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--conns", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--depth", type=int, default=5, help="requests per send() (pipeline)")
    ap.add_argument("--timeout", type=float, default=10)
    args = ap.parse_args()

    total = 0
    for c in range(args.conns):
        try:
            sock = socket.create_connection((args.host, args.port), timeout=args.timeout)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rd = Reader(sock)
            if args.mode == "greet":
                greeting = rd.line()
                if not greeting:
                    raise ValueError("empty greeting")
            for r in range(args.rounds):
                depth = args.depth if args.mode == "pipeline" else 1
                batch = b"".join(request(args.host, "/%s/%d/%d/%d" % (args.mode, c, r, i))
                                 for i in range(depth))
                sock.sendall(batch)
                for i in range(depth):
                    code = rd.response()
                    if code != 200:
                        raise ValueError("answer %d to /%s/%d/%d/%d" % (code, args.mode, c, r, i))
                total += depth
            sock.close()
        except (OSError, ValueError) as e:
            print("connection %d: %s" % (c, e), file=sys.stderr)
            sys.exit(1)
    print("ok %d %d" % (args.conns, total))


if __name__ == "__main__":
    main()
