#!/usr/bin/env python3
"""Recording HTTP/1.1 server for the lab (python3 standard library only).

Every accepted connection's received bytes are saved, exactly as they arrived, to
DIR/<peerip>_<peerport>_<seq>.bin, so that the stream the production server received can be
compared byte for byte with the stream tcpcopy reproduced on the target. Requests are parsed
(Content-Length, chunked bodies, pipelining, "Expect: 100-continue") and each is answered with
a small 200 response on a keep-alive connection. Per request, one line goes to
DIR/requests.log:   peerip peerport method uri body_len sha256(body)
and per closed connection one line to DIR/conns.log:   peerip peerport seq bytes_received

--greet TEXT sends TEXT followed by CRLF on accept (server-first protocols).
--split-response writes each response's head and body with two send calls, on a socket
without TCP_NODELAY: the kernel holds the body back (Nagle) until the head is acknowledged.
"""

import argparse
import hashlib
import os
import signal
import socket
import sys
import threading

MAX_HEAD = 64 * 1024
RECV = 256 * 1024


class Recorder:
    def __init__(self, args):
        self.dir = args.dir
        self.greet = args.greet
        self.split = args.split_response
        self.seq = 0
        self.lock = threading.Lock()
        body = b"x" * max(args.resp_bytes - 1, 0) + b"\n"
        self.resp = (b"HTTP/1.1 200 OK\r\nServer: lab-recorder\r\nContent-Type: text/plain\r\n"
                     b"Content-Length: %d\r\n" % len(body))
        self.resp_body = body
        self.reqlog = open(os.path.join(self.dir, "requests.log"), "a", buffering=1)
        self.connlog = open(os.path.join(self.dir, "conns.log"), "a", buffering=1)

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def log_request(self, line):
        with self.lock:
            self.reqlog.write(line + "\n")

    def log_conn(self, line):
        with self.lock:
            self.connlog.write(line + "\n")


class Conn:
    """One connection: records its bytes and runs a small HTTP/1.1 request parser."""

    def __init__(self, rec, sock, peer):
        self.rec = rec
        self.sock = sock
        self.ip, self.port = peer[0], peer[1]
        self.seq = rec.next_seq()
        self.buf = bytearray()
        self.total = 0
        self.closing = False
        self.reset_request()

    def reset_request(self):
        self.state = "head"          # head, body, chunk-size, chunk-data, chunk-crlf, trailer
        self.method = self.uri = ""
        self.remaining = 0
        self.body_len = 0
        self.sha = hashlib.sha256()
        self.keepalive = True
        self.head_only = False

    def run(self):
        name = "%s_%d_%d.bin" % (self.ip.replace(":", "-"), self.port, self.seq)
        path = os.path.join(self.rec.dir, name)
        try:
            with open(path, "wb", buffering=0) as raw:
                if self.rec.greet is not None:
                    self.sock.sendall(self.rec.greet.encode() + b"\r\n")
                while True:
                    data = self.sock.recv(RECV)
                    if not data:
                        break
                    raw.write(data)
                    self.total += len(data)
                    if self.closing:
                        continue     # keep recording what still arrives
                    self.buf += data
                    self.process()
                    if self.closing:
                        try:
                            self.sock.shutdown(socket.SHUT_WR)
                        except OSError:
                            pass
                        self.sock.settimeout(5)
        except (OSError, socket.timeout):
            pass
        finally:
            self.rec.log_conn("%s %d %d %d" % (self.ip, self.port, self.seq, self.total))
            try:
                self.sock.close()
            except OSError:
                pass

    def process(self):
        while not self.closing:
            if self.state == "head":
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(self.buf) > MAX_HEAD:
                        self.reply(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                                   b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                        self.closing = True
                    return
                head = bytes(self.buf[:end]).decode("latin-1")
                del self.buf[:end + 4]
                # Tolerate empty lines between pipelined requests (RFC 9112, 2.2).
                head = head.lstrip("\r\n")
                if not head:
                    continue
                if not self.parse_head(head):
                    self.reply(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                               b"Connection: close\r\n\r\n")
                    self.closing = True
                    return
            elif self.state == "body":
                n = min(self.remaining, len(self.buf))
                if n:
                    self.sha.update(self.buf[:n])
                    del self.buf[:n]
                    self.remaining -= n
                    self.body_len += n
                if self.remaining:
                    return
                self.finish()
            elif self.state == "chunk-size":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                line = bytes(self.buf[:end]).split(b";")[0].strip()
                del self.buf[:end + 2]
                try:
                    size = int(line, 16)
                except ValueError:
                    self.closing = True
                    return
                if size == 0:
                    self.state = "trailer"
                else:
                    self.remaining = size
                    self.state = "chunk-data"
            elif self.state == "chunk-data":
                n = min(self.remaining, len(self.buf))
                if n:
                    self.sha.update(self.buf[:n])
                    del self.buf[:n]
                    self.remaining -= n
                    self.body_len += n
                if self.remaining:
                    return
                self.state = "chunk-crlf"
            elif self.state == "chunk-crlf":
                if len(self.buf) < 2:
                    return
                del self.buf[:2]
                self.state = "chunk-size"
            elif self.state == "trailer":
                end = self.buf.find(b"\r\n")
                if end < 0:
                    return
                line = self.buf[:end]
                del self.buf[:end + 2]
                if not line:
                    self.finish()

    def parse_head(self, head):
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return False
        self.method, self.uri, version = parts
        hdrs = {}
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            if not sep:
                return False
            hdrs[k.strip().lower()] = v.strip()
        conn = hdrs.get("connection", "").lower()
        if version == "HTTP/1.0":
            self.keepalive = "keep-alive" in conn
        else:
            self.keepalive = "close" not in conn
        self.head_only = self.method == "HEAD"
        chunked = "chunked" in hdrs.get("transfer-encoding", "").lower()
        try:
            length = int(hdrs.get("content-length", "0"))
        except ValueError:
            return False
        if length < 0:
            return False
        has_body = chunked or length > 0
        if has_body and hdrs.get("expect", "").lower() == "100-continue":
            self.reply(b"HTTP/1.1 100 Continue\r\n\r\n")
        if chunked:
            self.state = "chunk-size"
        elif length:
            self.state = "body"
            self.remaining = length
        else:
            self.finish()
        return True

    def finish(self):
        self.rec.log_request("%s %d %s %s %d %s" % (self.ip, self.port, self.method, self.uri,
                                                    self.body_len, self.sha.hexdigest()))
        resp = self.rec.resp
        if not self.keepalive:
            resp += b"Connection: close\r\n"
        resp += b"\r\n"
        body = b"" if self.head_only else self.rec.resp_body
        if self.rec.split and body:
            self.reply(resp)
            self.reply(body)
        else:
            self.reply(resp + body)
        if not self.keepalive:
            self.closing = True
        self.reset_request()

    def reply(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.closing = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="0.0.0.0")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--greet", default=None, help="line sent on accept (server-first tests)")
    ap.add_argument("--resp-bytes", type=int, default=3, help="size of each response body")
    ap.add_argument("--split-response", action="store_true",
                    help="head and body in two writes, Nagle on (see above)")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    rec = Recorder(args)

    family = socket.AF_INET6 if ":" in args.addr else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.addr, args.port))
    srv.listen(1024)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("recorder listening on %s:%d, recording to %s" % (args.addr, args.port, args.dir),
          flush=True)
    try:
        while True:
            sock, peer = srv.accept()
            if not args.split_response:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=Conn(rec, sock, peer).run, daemon=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.close()


if __name__ == "__main__":
    main()
