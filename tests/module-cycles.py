#!/usr/bin/env python3
"""Fails when two source files of one crate depend on each other, directly
or through others (issue 18, "untangle"): a file-level cycle means neither
file can be read, changed or moved without the other.

A file depends on another when it names one of its items through `crate::`
or `super::` paths (a `use` or an inline path). A parent module naming its
own child modules, and a child using its parent's items, are part of the
module tree, not dependencies between peers, and are not counted. Test
modules (`#[cfg(test)] mod tests`) are left out: tests may use anything.

The check runs at every depth of the module tree: files, and folders taken
whole (`licensing/*` as one), so a folder whose files use `audit.rs` while
`audit.rs` uses the folder is a cycle too.

Usage: python3 tests/module-cycles.py [crates-dir]   (exit 1 on a cycle)
"""

import os
import re
import sys

PATH = re.compile(r"\b(crate|super)::((?:\w+::)*\w+)")


def module_of(src_root, path):
    parts = os.path.relpath(path, src_root)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def without_tests(text):
    cut = text.find("#[cfg(test)]\nmod tests")
    return text if cut < 0 else text[:cut]


REEXPORT = re.compile(r"pub(?:\(crate\))? use (\w+)::(?:\{([^}]*)\}|(\w+));")


def reexports(files):
    """Names the crate root re-exports (`pub use jobs::{JobRecord, …}`),
    mapped to the module that defines them: `crate::JobRecord` is a use of
    `jobs`, not of the root."""
    root = files.get(())
    if root is None:
        return {}
    with open(root, encoding="utf-8") as f:
        text = f.read()
    names = {}
    for module, group, single in REEXPORT.findall(text):
        for name in (group.split(",") if group else [single]):
            name = name.strip().split(" as ")[-1].strip()
            if name and (module,) in files:
                names[name] = (module,)
    return names


def edges(files):
    modules = set(files)
    graph = {m: set() for m in modules}
    exported = reexports(files)
    for module, path in files.items():
        with open(path, encoding="utf-8") as f:
            text = without_tests(f.read())
        for group in re.findall(r"use crate::\{([^;]*)\};", text):
            for name in re.findall(r"\b([A-Za-z_]\w*)\b", group):
                target = exported.get(name)
                if target and target != module[:1]:
                    graph[module].add(target)
        for root, rest in PATH.findall(text):
            if root == "crate" and rest in exported:
                rest = "::".join(exported[rest])
            base = () if root == "crate" else module[:-1]
            names = base + tuple(rest.split("::"))
            # The longest prefix that is a module is the file named.
            for k in range(len(names), 0, -1):
                target = names[:k]
                if target in modules:
                    related = (
                        target == module
                        or module[: len(target)] == target
                        or target[: len(module)] == module
                    )
                    if not related:
                        graph[module].add(target)
                    break
    return graph


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main():
    crates = sys.argv[1] if len(sys.argv) > 1 else "crates"
    failed = False
    for crate in sorted(os.listdir(crates)):
        src = os.path.join(crates, crate, "src")
        if not os.path.isdir(src):
            continue
        files = {}
        for directory, _, names in os.walk(src):
            for name in names:
                if name.endswith(".rs"):
                    path = os.path.join(directory, name)
                    files[module_of(src, path)] = path
        files_graph = edges(files)
        depth = max((len(m) for m in files_graph), default=0)
        found = []
        for d in range(1, depth + 1):
            graph = {}
            for m, targets in files_graph.items():
                if len(m) < d:
                    continue
                graph.setdefault(m[:d], set()).update(
                    t[:d] for t in targets if len(t) >= d and t[:d] != m[:d]
                )
            for v in [t for ts in graph.values() for t in ts]:
                graph.setdefault(v, set())
            found.extend((component, graph) for component in cycles(graph))
        for component, graph in found:
            failed = True
            name = lambda m: "::".join(m) or "lib"
            print(f"{crate}: file-level cycle between {', '.join(map(name, component))}")
            for m in component:
                inside = sorted(name(t) for t in graph[m] if t in component)
                print(f"    {name(m)} -> {', '.join(inside)}")
    if failed:
        sys.exit(1)
    print("no file-level cycles")


if __name__ == "__main__":
    main()
