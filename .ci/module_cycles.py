#!/usr/bin/env python3
"""Prints the import cycles between the modules of src/ (exit 1 if any).

Every `use` and every path (`crate::a::f`, `super::x`, `child::f`,
`Imported::f`) in src/**/*.rs is resolved to the module that defines the
item, following `use` re-exports. An edge A -> B is then seen at the level
of the two sibling modules under their lowest common ancestor (so
`transform::edits::x -> transform::pipeline::y` is `edits -> pipeline`),
and a strongly connected set of siblings is a cycle. A parent using its
own child is layering, not a cycle; a child using an item its parent
defines (not re-exports) while the parent uses the child is listed apart.
Edges only from test modules (`tests`) are marked and do not fail.
Usage: .ci/module_cycles.py [src]
"""
import collections
import pathlib
import re
import sys

SRC = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")


def strip(text):
    """The text with comments, strings and char literals blanked (lines kept)."""
    pattern = re.compile(
        r"//[^\n]*|/\*.*?\*/|b?r(#*)\".*?\"\1|b?\"(?:\\.|[^\"\\])*\"|b?'(?:\\.[^']*|[^\\'])'",
        re.S,
    )
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def module_of(path):
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts in (["lib"], ["main"]):
        return ("crate",) if parts == ["lib"] else ("crate", "main")
    if parts[-1] == "mod":
        parts.pop()
    return ("crate", *parts)


def expand(tree, prefix=()):
    """`a::{b, c::{d as e}}` as [(path, alias)]."""
    tree = tree.strip()
    out, depth, start = [], 0, 0
    brace = tree.find("{")
    if brace < 0:
        m = re.fullmatch(r"(.*?)(?:\s+as\s+(\w+))?", tree, re.S)
        segs = tuple(s for s in re.split(r"\s*::\s*", m.group(1)) if s)
        return [(prefix + segs, m.group(2))]
    head = tuple(s for s in re.split(r"\s*::\s*", tree[:brace]) if s)
    inner = tree[brace + 1 : tree.rfind("}")]
    for i, c in enumerate(inner + ","):
        depth += c == "{"
        depth -= c == "}"
        if c == "," and depth == 0:
            if inner[start:i]:
                out += expand(inner[start:i], prefix + head)
            start = i + 1
    return out


TOKEN = re.compile(
    r"(?P<pub>\bpub(?:\([\w: ]+\))?\s+)?\buse\s+(?P<use>[^;]+);"
    r"|\bmod\s+(?P<mod>\w+)\s*(?P<modend>[;{])"
    r"|(?P<path>(?<![\w:])\w+(?:\s*::\s*\w+)+)"
    r"|(?P<brace>[{}])"
)

files = {p: strip(p.read_text()) for p in sorted(SRC.rglob("*.rs"))}
modules = set()
imports = collections.defaultdict(dict)  # module -> name -> absolute-ish path
refs = []  # (module, path segments, file, line, a `pub use`)
for path, text in files.items():
    stack = [module_of(path)]
    braces = [None]
    modules.add(stack[0])
    for m in TOKEN.finditer(text):
        here, line = stack[-1], text.count("\n", 0, m.start()) + 1
        if m.group("use"):
            for segs, alias in expand(m.group("use")):
                if segs[-1] in ("*", "self"):
                    segs = segs[:-1]
                if segs:
                    if m.group("use").strip()[-1] != "*":
                        imports[here][alias or segs[-1]] = (here, segs)
                    refs.append((here, segs, path, line, bool(m.group("pub"))))
        elif m.group("mod"):
            child = here + (m.group("mod"),)
            modules.add(child)
            if m.group("modend") == "{":
                stack.append(child)
                braces.append(child)
        elif m.group("path"):
            segs = tuple(re.split(r"\s*::\s*", m.group("path")))
            refs.append((here, segs, path, line, False))
        elif m.group("brace") == "{":
            braces.append(None)
        elif m.group("brace") == "}" and braces.pop() is not None:
            stack.pop()


def resolve(here, segs, seen=()):
    """The module defining what `segs` names from module `here`, or None."""
    first, rest = segs[0], segs[1:]
    if first in ("crate", "image_handler"):
        cur = ("crate",)
    elif first == "self":
        cur = here
    elif first == "super":
        cur, rest = here, segs
        while rest and rest[0] == "super":
            cur, rest = cur[:-1], rest[1:]
    elif here + (first,) in modules:
        cur = here
        rest = segs
    elif first in imports[here] and (here, first) not in seen:
        base, target = imports[here][first]
        return resolve(base, target + rest, seen + ((here, first),))
    else:
        return None  # std, an external crate, a local type
    for i, seg in enumerate(rest):
        if cur + (seg,) in modules:
            cur = cur + (seg,)
        elif seg in imports[cur] and (cur, seg) not in seen:
            base, target = imports[cur][seg]
            return resolve(base, target + rest[i + 1 :], seen + ((cur, seg),))
        else:
            return cur
    return cur


is_test = lambda module: "tests" in module
edges = collections.defaultdict(list)  # (level, a, b) -> [evidence]
up = collections.defaultdict(list)  # (parent, child) -> [evidence]
down = collections.defaultdict(set)  # (parent, child) -> {only re-exported}
for here, segs, path, line, reexport in refs:
    there = resolve(here, segs)
    if there is None or there == here:
        continue
    where = (f"{path.relative_to(SRC)}:{line}", is_test(here))
    n = 0
    while n < min(len(here), len(there)) and here[n] == there[n]:
        n += 1
    if n == len(here):
        down[(here, there[: n + 1])].add(reexport)
    elif n == len(there):
        up[(there, here[: n + 1])].append(where)
    else:
        edges[(here[:n], here[n], there[n])].append(where)
for ev in [*edges.values(), *up.values()]:
    ev[:] = sorted(set(ev))


def sccs(nodes, succ):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
                on.discard(comp[-1])
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return [c for c in out if len(c) > 1]


def cycles(with_tests):
    found = []
    for level in sorted({k[0] for k in edges}):
        succ = collections.defaultdict(set)
        for (lv, a, b), ev in edges.items():
            if lv == level and (with_tests or not all(t for _, t in ev)):
                succ[a].add(b)
        for comp in sccs(set(succ) | {b for s in succ.values() for b in s}, succ):
            found.append((level, comp))
    return found


def show(level, comp):
    print(f"cycle in {'::'.join(level)}: {' <-> '.join(comp)}")
    for (lv, a, b), ev in sorted(edges.items()):
        if lv == level and a in comp and b in comp:
            test = " [test only]" if all(t for _, t in ev) else ""
            print(f"  {a} -> {b}{test}: {', '.join(w for w, _ in ev[:4])}")


real = cycles(False)
for level, comp in real:
    show(level, comp)
for level, comp in cycles(True):
    if (level, comp) not in real:
        show(level, comp)
for (parent, child), ev in sorted(up.items()):
    if (parent, child) in down:
        how = "re-exports" if down[(parent, child)] == {True} else "uses"
        test = " [test only]" if all(t for _, t in ev) else ""
        print(f"{'::'.join(parent)} {how} {child[-1]}, which uses its items{test}: "
              f"{', '.join(w for w, _ in ev[:4])}")
print(f"{len(real)} cycles")
sys.exit(1 if real else 0)
