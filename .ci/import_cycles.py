#!/usr/bin/env python3
"""Fail on import cycles between the modules of each crate.

Every `crate::a::b` path in crates/*/src (in `use` lines, grouped
`use crate::{a, b::c}` imports, and paths written inline) and every
`super::x` path is an edge from the file's module to the longest module
path it names. Edges between a module and its own ancestors are allowed
(a child using its parent's items is how Rust modules work); any other
strongly connected group of two or more modules is a cycle and fails the
check. Known cycles being removed elsewhere may be listed, one per line as
`crate: module module ...`, in .ci/import_cycles.allow.

The binary's command modules (`crates/cli/src/cmd/*`) must not import each
other at all, cycle or not: what two commands share belongs in `open.rs`,
`args.rs`, `error.rs` or a library. A known import being removed may be
listed in the allow file as `cli: cmd::a -> cmd::b`.

Usage: .ci/import_cycles.py [REPO]   (exit 1 when a cycle is found)
"""
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
PATH = re.compile(r"\b(crate|super)((?:::[A-Za-z_][A-Za-z0-9_]*)+|::\{)")


def module_of(src, path):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def expand_group(text, start):
    """`crate::{a, b::{c, d}}` starting at the `{`: the paths inside."""
    depth, i, buf, out, prefix = 0, start, "", [], []
    while i < len(text):
        c = text[i]
        if c == "{":
            depth += 1
            prefix.append(buf.strip().rstrip(":"))
            buf = ""
        elif c == "}":
            if buf.strip():
                out.append("::".join(p for p in prefix[1:] if p) + ("::" if len(prefix) > 1 and prefix[-1] else "") + buf.strip())
            buf = ""
            prefix.pop()
            depth -= 1
            if depth == 0:
                break
        elif c == ",":
            if buf.strip():
                out.append("::".join(p for p in prefix[1:] if p) + ("::" if len(prefix) > 1 and prefix[-1] else "") + buf.strip())
            buf = ""
        else:
            buf += c
        i += 1
    return [o.replace("::::", "::") for o in out]


def edges_of(text, here, modules):
    text = re.sub(r"//[^\n]*", "", text)
    for m in PATH.finditer(text):
        base = () if m.group(1) == "crate" else here[:-1]
        if m.group(2) == "::{":
            tails = expand_group(text, m.end() - 1)
        else:
            tails = [m.group(2)[2:]]
        for tail in tails:
            parts = tuple(p for p in tail.split("::") if p and p != "self")
            target = base + parts
            while target and target not in modules:
                target = target[:-1]
            if target:
                yield target


def sccs(graph):
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
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
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    allow, allow_edges = set(), set()
    allow_file = os.path.join(ROOT, ".ci", "import_cycles.allow")
    if os.path.exists(allow_file):
        for line in open(allow_file):
            line = line.split("#")[0].strip()
            if line:
                krate, mods = line.split(":", 1)
                if "->" in mods:
                    a, b = (x.strip() for x in mods.split("->"))
                    allow_edges.add((krate.strip(), a, b))
                else:
                    allow.add((krate.strip(), frozenset(mods.split())))
    failed = False
    crates = os.path.join(ROOT, "crates")
    for krate in sorted(os.listdir(crates)):
        src = os.path.join(crates, krate, "src")
        if not os.path.isdir(src):
            continue
        files = {}
        for d, _, names in os.walk(src):
            for f in names:
                if f.endswith(".rs"):
                    p = os.path.join(d, f)
                    files[module_of(src, p)] = p
        modules = set(files)
        graph = {m: set() for m in modules}
        for m, p in files.items():
            for t in edges_of(open(p, encoding="utf-8").read(), m, modules):
                related = t[: len(m)] == m or m[: len(t)] == t
                if not related:
                    graph[m].add(t)
                if krate == "cli" and m[:1] == t[:1] == ("cmd",) and len(m) > 1 and len(t) > 1 and m[1] != t[1]:
                    a, b = "::".join(m[:2]), "::".join(t[:2])
                    if (krate, a, b) in allow_edges:
                        print(f"known command import in {krate} (allowed in .ci/import_cycles.allow): {a} -> {b}")
                    else:
                        failed = True
                        print(f"command module imports another in crate {krate}: {a} -> {b}")
        for comp in sccs(graph):
            if len(comp) < 2:
                continue
            names = frozenset("::".join(c) for c in comp)
            if (krate, names) in allow:
                print(f"known cycle in {krate} (allowed in .ci/import_cycles.allow): {' <-> '.join(sorted(names))}")
                continue
            failed = True
            print(f"import cycle in crate {krate}: {' <-> '.join(sorted(names))}")
    if failed:
        print("hint: move what both modules need into a module (or crate) of its own that neither imports back")
        sys.exit(1)
    print("no import cycles between modules")


if __name__ == "__main__":
    main()
