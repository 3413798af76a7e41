#!/usr/bin/env python3
"""Check the structure targets of src/ (doc/design.md, "Structure rules"):

  - no file over 700 lines;
  - no function over 80 lines, except option parsing (*_opts_parse);
  - no call cycle between .c files: file A calls a function defined in file B, and B
    (directly or through others) calls one defined in A;
  - no include cycle between headers;
  - every module has a unit test: each .c file of src/ is exercised by tests/unit/test_<name>.c,
    or by the test TEST_OF names for it; "exercised" means the test calls (directly, or through
    the shared fixtures it includes) a function from which the file is reached in the call
    graph between .c files. main.c files are exempt (TEST_EXEMPT).

Functions are found with Universal Ctags. Prints every violation and exits 1 if any.
Usage: scripts/structure.py [SRC_DIR [TEST_DIR]]   (TEST_DIR: SRC_DIR/../tests/unit)
"""
import os
import re
import shutil
import subprocess
import sys

MAX_FILE_LINES = 700
MAX_FUNC_LINES = 80
FUNC_EXEMPT = re.compile(r"_opts_parse$")

# Files without a unit test of their own: the programs' main.c only parse the options (tested
# through *_opts_parse in test_tcpcopy_opts and test_icpt_opts) and call the modules.
TEST_EXEMPT = {"tcpcopy/main.c", "intercept/main.c"}
# Files whose test has another name than test_<name>.c (paths relative to src/): the parts of
# a module tested through the module's API (a capture backend, the channel client's states,
# frames and route sharding, the setup doctor's probes, the comparison's helpers), and the
# files that share a name with the other program's.
TEST_OF = {
    "tcpcopy/cmp_starget.c": "test_cmp_sess.c",
    "tcpcopy/cmp_sfeed.c": "test_cmp_sess.c",
    "capture_raw.c": "test_rawio.c",
    "pkt_build.c": "test_pkt.c",
    "intercept/check.c": "test_icpt_check.c",
    "intercept/check_peers.c": "test_icpt_check.c",
    "intercept/opts.c": "test_icpt_opts.c",
    "tcpcopy/opts.c": "test_tcpcopy_opts.c",
    "tcpcopy/mod_sess.c": "test_mod.c",
    "tcpcopy/tclog.c": "test_copy.c",
    "tcpcopy/db_mysql_auth.c": "test_db_mysql.c",
    "tcpcopy/db_pgsql_scram.c": "test_db_pgsql.c",
    "tcpcopy/mod_mysql_stmt.c": "test_mod_mysql.c",
    "tcpcopy/chanc_conn.c": "test_chanc.c",
    "tcpcopy/chanc_frame.c": "test_chanc.c",
    "tcpcopy/chanc_route.c": "test_chanc.c",
    "tcpcopy/check_chan.c": "test_check.c",
    "tcpcopy/check_probe.c": "test_check.c",
    "tcpcopy/client.c": "test_tcp.c",
    "tcpcopy/reply.c": "test_tcp.c",
    "tcpcopy/cmp_diff.c": "test_cmp_unit.c",
    "tcpcopy/cmp_line.c": "test_cmp_http.c",
    "tcpcopy/cmp_noise.c": "test_cmp_http.c",
    "tcpcopy/cmp_pct.c": "test_cmp_report.c",
}


def sources(root):
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            if f.endswith((".c", ".h")):
                out.append(os.path.join(d, f))
    return sorted(out)


def program_of(path, root):
    """'tcpcopy', 'intercept' or '' (common): calls only resolve within a program."""
    rel = os.path.relpath(path, root).split(os.sep)
    return rel[0] if len(rel) > 1 else ""


def ctags_functions(files):
    """[(name, file, start, end, is_static)] for every function definition."""
    ctags = shutil.which("ctags-universal") or "ctags"
    cmd = [ctags, "--fields=+neS", "--c-kinds=f", "-o", "-"] + files
    text = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    funcs = []
    for line in text.splitlines():
        cols = line.split("\t")
        name, path = cols[0], cols[1]
        start = end = None
        static = False
        for c in cols[3:]:
            if c.startswith("line:"):
                start = int(c[5:])
            elif c.startswith("end:"):
                end = int(c[4:])
            elif c.startswith("file:"):
                static = True
        if start is not None and end is not None:
            funcs.append((name, path, start, end, static))
    return funcs


def strip_c(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    # A struct, union or enum tag is not a call, even when a function has its name.
    return re.sub(r"\b(struct|union|enum)\s+[A-Za-z_]\w*", " ", text)


def cycles(graph):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def idents_of(path):
    with open(path, encoding="utf-8") as fh:
        return set(re.findall(r"\b[A-Za-z_]\w*\b", strip_c(fh.read())))


def reach(graph, start):
    seen, todo = set(start), list(start)
    while todo:
        for g in graph.get(todo.pop(), ()):
            if g not in seen:
                seen.add(g)
                todo.append(g)
    return seen


def untested(root, tests, cfiles, defined, calls):
    """Problems for .c files of root that no unit test in tests exercises."""
    out = []
    claimed = {}
    for f in cfiles:
        rel = os.path.relpath(f, root)
        if rel in TEST_EXEMPT:
            continue
        test = TEST_OF.get(rel, "test_" + os.path.basename(rel))
        if rel not in TEST_OF:
            claimed.setdefault(test, []).append(rel)
        tpath = os.path.join(tests, test)
        if not os.path.exists(tpath):
            out.append(f"{f}: no unit test ({os.path.normpath(tpath)} missing; other names: TEST_OF)")
            continue
        ids = idents_of(tpath)
        with open(tpath, encoding="utf-8") as fh:
            for inc in re.findall(r'^#include "([^"]+)"', fh.read(), flags=re.M):
                if os.path.exists(os.path.join(tests, inc)):
                    ids |= idents_of(os.path.join(tests, inc))
        direct = {g for name in ids & defined.keys() for g in defined[name]}
        if f not in reach(calls, direct):
            out.append(f"{f}: {test} calls nothing that reaches it")
    # check.c of both programs would both take test_check.c: one of them must be named.
    for test, rels in sorted(claimed.items()):
        if len(rels) > 1:
            out.append(f"{test}: the test of {', '.join(rels)} by name (name each in TEST_OF)")
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "src"
    tests = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "..", "tests", "unit")
    files = sources(root)
    problems = []

    for f in files:
        with open(f, encoding="utf-8") as fh:
            n = sum(1 for _ in fh)
        if n > MAX_FILE_LINES:
            problems.append(f"{f}: {n} lines (at most {MAX_FILE_LINES})")

    cfiles = [f for f in files if f.endswith(".c")]
    funcs = ctags_functions(cfiles)
    defined = {}  # public name -> defining files
    for name, path, start, end, static in funcs:
        length = end - start + 1
        if length > MAX_FUNC_LINES and not FUNC_EXEMPT.search(name):
            problems.append(f"{path}:{start}: {name}() is {length} lines (at most {MAX_FUNC_LINES})")
        if not static and name != "main":
            defined.setdefault(name, set()).add(path)

    own = {}  # file -> the functions it defines (a static one shadows a public namesake)
    for name, path, _, _, _ in funcs:
        own.setdefault(path, set()).add(name)
    calls = {}
    for f in cfiles:
        with open(f, encoding="utf-8") as fh:
            idents = set(re.findall(r"\b[A-Za-z_]\w*\b", strip_c(fh.read())))
        idents -= own.get(f, set())
        prog = program_of(f, root)
        for name in idents & defined.keys():
            for g in defined[name]:
                if g != f and program_of(g, root) in ("", prog):
                    calls.setdefault(f, set()).add(g)
    for comp in cycles(calls):
        problems.append("call cycle between " + ", ".join(comp))

    if os.path.isdir(tests):
        problems += untested(root, tests, cfiles, defined, calls)
    else:
        problems.append(f"{tests}: no unit test directory")

    includes = {}
    for f in files:
        with open(f, encoding="utf-8") as fh:
            for inc in re.findall(r'^#include "([^"]+)"', fh.read(), flags=re.M):
                for cand in (os.path.join(os.path.dirname(f), inc), os.path.join(root, inc)):
                    if os.path.exists(cand):
                        includes.setdefault(f, set()).add(os.path.normpath(cand))
                        break
    for comp in cycles(includes):
        problems.append("include cycle between " + ", ".join(comp))

    for p in problems:
        print(p)
    print(f"structure: {len(cfiles)} .c files, {len(funcs)} functions, {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
