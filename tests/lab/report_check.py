#!/usr/bin/env python3
"""Checks for test_compare_report.sh: what headless Chromium made of report.html.

  report_check.py dom DOM.html      the DOM Chromium dumped: the verdict, the endpoints, the
                                    hostile excerpts shown as text, no element they tried to add
  report_check.py pwned DOM.html    exit 0 when the control script ran (data-pwned="yes" on
                                    <html>), 1 when it did not
  report_check.py png SHOT.png W H  the screenshot: its size, not blank, the page's colours drawn

Standard library only (html.parser, zlib). Prints one line per finding; exit 1 on the first
failed check.
"""
import struct
import sys
import zlib
from html.parser import HTMLParser


def fail(msg):
    print("report_check: FAIL: " + msg)
    sys.exit(1)


class Dom(HTMLParser):
    """Element counts, the <html> element's attributes, and the text of elements by id/class."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = {}
        self.html_attrs = {}
        self.stack = []      # (tag, key) for elements whose text is collected
        self.text = {}       # key -> list of texts, in document order
        self.current = {}    # key -> text being collected

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        a = dict(attrs)
        if tag == "html":
            self.html_attrs = a
        key = None
        if a.get("id") == "verdict":
            key = "verdict"
        elif tag == "h3":
            key = "h3"
        elif tag == "pre" and a.get("class") in ("req", "online", "target"):
            key = "pre." + a["class"]
        if key:
            self.current[key] = ""
        self.stack.append((tag, key))

    def handle_endtag(self, tag):
        while self.stack:
            t, key = self.stack.pop()
            if key:
                self.text.setdefault(key, []).append(self.current.pop(key))
            if t == tag:
                break

    def handle_data(self, data):
        for key in self.current:
            self.current[key] += data


def parse(path):
    d = Dom()
    with open(path, encoding="utf-8", errors="replace") as f:
        d.feed(f.read())
    return d


def check_dom(path):
    d = parse(path)
    if "body" not in d.tags:
        fail("no <body> in the DOM dump")
    for bad in ("script", "img", "iframe", "object", "link"):
        if d.tags.get(bad):
            fail("the DOM holds %d <%s> element(s): an excerpt's markup was parsed" %
                 (d.tags[bad], bad))
    if d.html_attrs.get("data-pwned"):
        fail("the excerpt's script ran (data-pwned on <html>)")
    verdict = " ".join(d.text.get("verdict", []))
    if "19 of 4020 compared requests differ, in 4 endpoints" not in verdict:
        fail("verdict not shown: %r" % verdict)
    h3 = d.text.get("h3", [])
    for ep in ("GET /api/user", "GET /search", "POST /login",
               "GET /<img src=x onerror=alert(1)>"):
        if ep not in h3:
            fail("endpoint %r not among the headings %r" % (ep, h3[:8]))
    top = h3[:4]
    if top[0] != "GET /api/user":
        fail("the endpoint with most differences is not first: %r" % top)
    targets = d.text.get("pre.target", [])
    want = '<script>document.documentElement.setAttribute("data-pwned","yes")</script>' \
           '\\x01\\xff\\xfe tail'
    if want not in targets:
        fail("the hostile excerpt is not shown as text: %r" % targets)
    if "GET /search?q=%3Cscript%3E HTTP/1.1" not in d.text.get("pre.req", []):
        fail("request excerpt missing")
    print("report_check: dom ok: verdict %r, %d endpoints in headings, %d <svg>, "
          "hostile excerpt shown as text" % (verdict[:60], len(h3), d.tags.get("svg", 0)))
    if d.tags.get("svg", 0) < 4 or d.tags.get("rect", 0) < 24:
        fail("latency charts missing: %d svg, %d rect" % (d.tags.get("svg", 0),
                                                         d.tags.get("rect", 0)))


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA non-interlaced PNG."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                fail("unexpected PNG format: depth %d colour type %d interlace %d" %
                     (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(h):
        ft = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):  # RFC 2083 6.3: the five filter types
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if ft == 1:
                line[x] = (line[x] + a) & 255
            elif ft == 2:
                line[x] = (line[x] + b) & 255
            elif ft == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif ft == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pr) & 255
        rows.append(line)
        prev = line
    return w, h, bpp, rows


def near(px, rgb, tol=24):
    return all(abs(px[k] - rgb[k]) <= tol for k in range(3))


def check_png(path, want_w, want_h):
    w, h, bpp, rows = png_pixels(path)
    if (w, h) != (want_w, want_h):
        fail("screenshot is %dx%d, not %dx%d" % (w, h, want_w, want_h))
    colours = {}
    for y in range(0, h, 2):
        line = rows[y]
        for x in range(0, w * bpp, 2 * bpp):
            px = (line[x], line[x + 1], line[x + 2])
            colours[px] = colours.get(px, 0) + 1
    total = sum(colours.values())
    bg, nbg = max(colours.items(), key=lambda kv: kv[1])
    painted = 1 - nbg / total
    # The page's own colours: the verdict's red border, the online and target bars.
    marks = {"verdict red": (0xdd, 0x33, 0x33), "online bar": (0x3b, 0x6f, 0xd8),
             "target bar": (0xe8, 0x83, 0x2a)}
    found = {k: sum(n for px, n in colours.items() if near(px, rgb)) for k, rgb in marks.items()}
    print("report_check: png %dx%d, %d colours, background %s, %.0f%% painted, %s" %
          (w, h, len(colours), bg, painted * 100, found))
    if len(colours) < 32:
        fail("screenshot looks blank: %d colours" % len(colours))
    if painted < 0.05:
        fail("screenshot looks blank: %.1f%% of it differs from the background" %
             (painted * 100))
    for k, n in found.items():
        if n < 20:
            fail("the %s is not drawn (%d pixels)" % (k, n))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "dom":
        check_dom(sys.argv[2])
    elif len(sys.argv) >= 3 and sys.argv[1] == "pwned":
        sys.exit(0 if parse(sys.argv[2]).html_attrs.get("data-pwned") == "yes" else 1)
    elif len(sys.argv) >= 5 and sys.argv[1] == "png":
        check_png(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        fail("usage: report_check.py dom DOM | pwned DOM | png PNG W H")


if __name__ == "__main__":
    main()
