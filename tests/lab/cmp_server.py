#!/usr/bin/env python3
"""cmp_server.py: the lab's small HTTP/1.1 server for the comparison scenarios (issue 20).

One copy runs online, one on the target; they answer alike except where told:
  --slow-ms MS     sleep MS before answering any path starting with /slow (the target's copy)
  --chunked        answer with Transfer-Encoding: chunked, the body in several chunks, each
                   chunk its own send() (answers spread over segments)
  --differ REGEX   for paths matching REGEX, change one byte inside the middle chunk (or body)
Keep-alive as the client asks (HTTP/1.1 default); Nagle off, so an answer's segments leave at
once and the timing measured is the server's, not the stack's. The body names the path, so
every URL has its own answer. Each request is logged as one line:
  <client ip> <client port> <method> <path> <status>
"""
import argparse
import http.server
import re
import socketserver
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--slow-ms", type=float, default=0.0)
    ap.add_argument("--chunked", action="store_true")
    ap.add_argument("--differ", default=None)
    a = ap.parse_args()
    differ = re.compile(a.differ) if a.differ else None
    logf = open(a.log, "a", buffering=1)

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "lab-cmp/1"
        sys_version = ""
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if a.slow_ms > 0 and path.startswith("/slow"):
                time.sleep(a.slow_ms / 1000.0)
            chunks = [("part %d of %s\n" % (i, self.path)).encode() + b"x" * (200 + 50 * i)
                      for i in range(5)]
            if differ and differ.search(path):
                mid = bytearray(chunks[2])
                mid[len(mid) // 2] = ord("Y")
                chunks[2] = bytes(mid)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            if a.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for c in chunks:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
                self.wfile.write(b"0\r\n\r\n")
            else:
                body = b"".join(chunks)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            logf.write("%s %d GET %s 200\n" % (self.client_address[0], self.client_address[1],
                                               self.path))

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256

    srv = S(("0.0.0.0", a.port), H)
    print("listening on %d" % a.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
