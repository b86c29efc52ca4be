"""No import cycle between the package's files (DESIGN.md: dependencies point one way).

The graph is read from the source with `ast`, imports inside functions included (a lazy import
still ties the two files together). `from pkg import sub` counts as importing the submodule only;
`from pkg import name` as importing the package's __init__.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> dict[str, Path]:
    mods = {}
    for p in (ROOT / "neural_render").rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = p
    return mods


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (anywhere in the file)."""
    mods = _modules()

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for m, path in mods.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: resolve against this module's package
                    pkg = m.split(".") if path.name == "__init__.py" else m.split(".")[:-1]
                    base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            edges |= {o for n in names if n.startswith("neural_render") and (o := owner(n)) and o != m}
        graph[m] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_graph_sees_lazy_and_relative_imports():
    g = import_graph()
    # renderers imports the Blender renderer lazily, inside make_renderer.
    assert "neural_render.blender.render" in g["neural_render.renderers"]
    assert "neural_render.camera" in g["neural_render.passes.render"]


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for n in graph[todo.pop()] - seen:
            seen.add(n)
            todo.append(n)
    return seen


# Command modules (`neural-render <area> ...`) sit on top of the graph, above every package, so
# they may reach the renderer choice (`neural_render.renderers`) and through it blender/.
PASSES_COMMANDS = {"neural_render.passes.cli", "neural_render.passes.bench"}


def test_passes_never_import_blender():
    """The renderer is chosen above passes/ and blender/ (neural_render.renderers): no module of
    passes/ imports blender/, even lazily, and none but its commands reaches it through others."""
    g = import_graph()
    passes = sorted(m for m in g if m.startswith("neural_render.passes"))
    assert "neural_render.passes.render" in passes
    direct = {m: sorted(n for n in g[m] if n.startswith("neural_render.blender")) for m in passes}
    assert not any(direct.values()), f"passes/ imports blender/: { {m: d for m, d in direct.items() if d} }"
    through = {m: sorted(n for n in reachable(g, m) if n.startswith("neural_render.blender"))
               for m in passes if m not in PASSES_COMMANDS}
    assert not any(through.values()), f"passes/ reaches blender/: { {m: d for m, d in through.items() if d} }"


def test_reachable_follows_chains():
    assert reachable({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}, "a") == {"b", "c"}


def test_no_import_cycles():
    g = import_graph()
    found = cycles(g)
    detail = ["  " + " <-> ".join(c) + ": " + "; ".join(f"{a} -> {sorted(g[a] & set(c))}" for a in c)
              for c in found]
    assert not found, "import cycles:\n" + "\n".join(detail)
