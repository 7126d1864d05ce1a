#!/usr/bin/env python3
"""The layering rules of the workspace's library crates, checked on every `make lint`.

1. No import cycle between modules. Every `.rs` file of a crate is a module (`a/b.rs` and
   `a/b/mod.rs` are `a::b`); a module depends on another when it names it: `crate::x::y`,
   `super::x`, `self::x`, or a child declared with `mod`. A module may use what its ancestors
   define (the handle and error type a folder shares with its files): those edges are the
   module tree itself and are not counted. Every other dependency must form a DAG; a cycle is
   printed with the files that close it.
2. The crates that must not link the AWS SDK (`scan-failures-domain`, and `scan-failures-http`,
   which the command-line tool and the fuzz targets use) name no `aws-*` crate in their normal
   dependency tree (`cargo tree -e normal`).

Exit 0 when both hold; 1 with the offending cycle or crate otherwise. `--self-test` checks the
cycle finder on a made-up tree first.
"""
import glob
import os
import re
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
# Every product crate, found rather than listed: a list left out the rollup function's.
CRATES = sorted(os.path.relpath(d, ROOT) for pattern in ("shared/*/src", "functions/*/src", "cli/src")
                for d in glob.glob(os.path.join(ROOT, pattern)))
NO_AWS = ["scan-failures-domain", "scan-failures-http"]

PATH = re.compile(r"\b(crate|super|self)((?:::[a-z_][a-z0-9_]*)+)")
MOD = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*;", re.M)
GROUP = re.compile(r"\b(crate|super|self)::\{([^}]*)\}")


def modules(src):
    """Module path (tuple) -> file, for one crate's src dir."""
    out = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)[:-3].split(os.sep)
            if rel == ["main"] and os.path.exists(os.path.join(src, "lib.rs")):
                continue  # a binary beside the library: it uses the library by name, not `crate::`
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            out[tuple(rel)] = os.path.join(dirpath, f)
    return out


def strip_comments_and_tests(text):
    text = re.sub(r"//[^\n]*", "", text)
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def deepest(mods, path):
    """The deepest known module that `path` (a tuple of names) starts with."""
    for n in range(len(path), -1, -1):
        if path[:n] in mods:
            return path[:n]
    return ()


def edges_of(mods, module, text):
    text = strip_comments_and_tests(text)
    targets = set()

    def resolve(kind, names):
        base = {"crate": (), "self": module, "super": module[:-1]}[kind]
        while names and names[0] == "super":
            base, names = base[:-1], names[1:]
        return deepest(mods, base + tuple(names))

    for kind, rest in PATH.findall(text):
        targets.add(resolve(kind, [n for n in rest.split("::") if n]))
    for kind, inner in GROUP.findall(text):
        for item in inner.split(","):
            names = [n.strip() for n in item.strip().split("::") if n.strip()]
            names = [n.split(" as ")[0].strip() for n in names]
            if names and re.fullmatch(r"[a-z_][a-z0-9_]*", names[0]):
                targets.add(resolve(kind, names))
    for child in MOD.findall(text):
        targets.add(module + (child,))
    # A module's own ancestors (and itself) are its tree, not a dependency.
    return {t for t in targets if t in mods and module[: len(t)] != t}


def cycle(graph):
    """One cycle of `graph` (node -> set of nodes) as a list of nodes, or None."""
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def self_test():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    mods = {(): "lib", ("x",): "x", ("x", "y"): "x/y", ("z",): "z"}
    # A child using its parent is not an edge; a sibling through `super` is.
    assert edges_of(mods, ("x", "y"), "use super::Thing; use crate::z::Z;") == {("z",)}
    assert edges_of(mods, ("x",), "pub mod y;\nuse crate::{z::Z, x::y::Y};") == {("x", "y"), ("z",)}
    assert edges_of(mods, ("z",), "// crate::x::y::Y in a comment\nfn f() {}") == set()


def main():
    self_test()
    failed = False
    if len(CRATES) < 8:
        print(f"check-modules: found {len(CRATES)} crates ({', '.join(CRATES)}), expected at least 8")
        failed = True
    for src in CRATES:
        mods = modules(os.path.join(ROOT, src))
        if not mods:
            failed = True
            print(f"check-modules: {src}: no .rs file")
            continue
        graph = {m: edges_of(mods, m, open(f, encoding="utf-8").read()) for m, f in mods.items()}
        found = cycle(graph)
        name = lambda m: "::".join(m) or "(crate root)"
        if found:
            failed = True
            print(f"check-modules: import cycle in {src}: " + " -> ".join(name(m) for m in found))
        else:
            count = sum(len(v) for v in graph.values())
            print(f"check-modules: {src}: {len(mods)} modules, {count} dependencies, no cycle")
    for crate in NO_AWS:
        tree = subprocess.run(["cargo", "tree", "-p", crate, "-e", "normal", "--prefix", "none"],
                              cwd=ROOT, capture_output=True, text=True, check=True).stdout
        aws = sorted({line.split()[0] for line in tree.splitlines() if line.startswith("aws-")})
        if aws:
            failed = True
            print(f"check-modules: {crate} links AWS crates: {', '.join(aws)}")
        else:
            print(f"check-modules: {crate}: no aws-* crate in its normal dependency tree")
    return 1 if failed else 0


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        self_test()
        print("check-modules: self-test passed")
        sys.exit(0)
    sys.exit(main())
