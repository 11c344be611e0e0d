"""The package's shape: no import circle, no module reading another's private attributes, choices in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import racingline

PACKAGE = Path(racingline.__file__).resolve().parent
#: Modules that call private names of other libraries on purpose, each tested equal to the library:
#: pybox2d's direct body/fixture calls (road.py) and copies of Stable-Baselines3 internals (train/sb3/).
FOREIGN_PRIVATE_OK = {"racingline.sim.road", "racingline.train.sb3.ppo", "racingline.train.sb3.policies",
                      "racingline.train.sb3.vec_env"}

#: Public standard-library names that start with an underscore.
STDLIB_UNDERSCORED = {("os", "_exit")}


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(path.read_text(), filename=str(path))
    return out


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level_imports(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """Modules of racingline imported when ``name`` is imported (module level, outside TYPE_CHECKING)."""
    found: set[str] = set()

    def visit(body):
        for node in body:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            if isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for h in getattr(node, "handlers", []):
                    visit(h.body)
                visit(getattr(node, "finalbody", []))
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                found.add(mod)
                found.update(f"{mod}.{a.name}" for a in node.names)

    visit(tree.body)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        is_package = (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
        deps = set()
        for imp in _top_level_imports(tree, name, is_package):
            parts = imp.split(".")
            # importing a.b.c imports the packages a and a.b first; a module's own ancestor packages are
            # already being imported when it runs, so those edges are always satisfied (not circles)
            for k in range(1, len(parts) + 1):
                mod = ".".join(parts[:k])
                if mod in modules and mod != name and not name.startswith(mod + "."):
                    deps.add(mod)
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def dfs(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = dfs(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = dfs(node)
            if found:
                return found
    return None


def test_no_import_circle_in_the_package():
    graph = _graph()
    assert "racingline.sim.env" in graph and "racingline.tracks.pools" in graph["racingline.sim.env"]
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_a_package_import_counts_its_parents():
    tree = ast.parse("from racingline.sim.state import CarState\nif TYPE_CHECKING:\n    import racingline.train\n")
    found = _top_level_imports(tree, "racingline.x", False)
    assert "racingline.sim.state" in found and "racingline.train" not in found


def test_no_module_reads_private_attributes_of_another():
    offenders = []
    for name, tree in _modules().items():
        if name in FOREIGN_PRIVATE_OK:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue
                if isinstance(owner, ast.Name) and (owner.id, node.attr) in STDLIB_UNDERSCORED:
                    continue
                offenders.append(f"{name}:{node.lineno}: .{node.attr}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                    and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                    and str(node.args[1].value).startswith("_") and not (
                        isinstance(node.args[0], ast.Name) and node.args[0].id == "self"):
                offenders.append(f"{name}:{node.lineno}: getattr(..., {node.args[1].value!r})")
    assert not offenders, "\n".join(offenders)


def test_each_choice_list_lives_in_racingline_choices():
    """The built-in choices are spelled out once: other modules import them."""
    lists = {("pixels", "features"), ("fast", "pygame"), ("tiles", "progress"), ("gelu", "relu", "tanh"),
             ("random", "generated"), ("centerline", "mincurv", "k1999", "shortest", "mintime")}
    offenders = []
    for name, tree in _modules().items():
        if name == "racingline.choices":
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(isinstance(e, ast.Constant) for e in node.elts):
                values = tuple(e.value for e in node.elts)
                if values in lists:
                    offenders.append(f"{name}:{node.lineno}: {values}")
    assert not offenders, "\n".join(offenders)
