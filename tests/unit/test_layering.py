"""The layering of ARCHITECTURE.md ("Layering"), read from the source with ``ast``: nothing
here imports the package, so a broken layer cannot hide behind an import error.
(Over 400 lines: the import reader and its own test live beside the rules they serve.)

- the domain (the modules in ``DOMAIN``) imports no store, engine, runner, daemon,
  scheduler, CLI, SQLAlchemy, Alembic, APScheduler or click, neither itself nor through
  what it imports (importing a module also runs its packages' ``__init__``);
- only ``cmc_workflow.cli`` imports click;
- nothing imports the engine under ``TYPE_CHECKING``;
- no import cycle, counting module-level imports and those under ``TYPE_CHECKING``; and,
  reported apart, none through imports inside functions either.

Each failure lists every violation as ``file:line``, the importing module, and the import.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "cmc_workflow"

DOMAIN = (
    "cmc_workflow.definition",
    "cmc_workflow.compiler",
    "cmc_workflow.steps",
    "cmc_workflow.inputs",
    "cmc_workflow.diagram",
    "cmc_workflow.bpmn",
    "cmc_workflow.handlers",
    "cmc_workflow.problems",
    "cmc_workflow.calendar",
    "cmc_workflow.policy",  # but for its runtime extension, RUNTIME_PARTS below
    "cmc_workflow.model",
    "cmc_workflow.errors",
    "cmc_workflow.i18n",
    "cmc_workflow.cron",
    "cmc_workflow.located",
    "cmc_workflow.language",
    "cmc_workflow.clocks.deadlines",
    "cmc_workflow.clocks.arithmetic",
    "cmc_workflow.schedules.language",
    "cmc_workflow.schedules.models",
    "cmc_workflow.schedules.recurrence",
    "cmc_workflow.migration.plan",
)
"""The pure modules: each entry and every module under it, but for ``RUNTIME_PARTS``;
entries not (yet) in the tree are skipped."""

RUNTIME_PARTS = ("cmc_workflow.policy.extension",)
"""Modules inside a domain package that are the package's runtime extension (they see the
store port): not domain, and no domain module imports them."""

FORBIDDEN_IN_DOMAIN = (
    "cmc_workflow.store",
    "cmc_workflow.engine",
    "cmc_workflow.runner",
    "cmc_workflow.daemon",
    "cmc_workflow.scheduler",
    "cmc_workflow.cli",
    "sqlalchemy",
    "alembic",
    "apscheduler",
    "click",
)
"""What the domain must not import: each entry and everything under it."""

CLICK_ALLOWED_IN = "cmc_workflow.cli"
ENGINE = "cmc_workflow.engine"

MODULE, TYPE_CHECKING, FUNCTION = "module level", "under TYPE_CHECKING", "inside a function"


@dataclasses.dataclass(frozen=True, slots=True)
class Import:
    """One import statement's target, where it is written, and when it runs."""

    source: str  # the importing module
    target: str  # the imported module (a module of the package where one matches)
    file: str
    line: int
    kind: str  # MODULE, TYPE_CHECKING or FUNCTION

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.source} imports {self.target} ({self.kind})"


def under(name: str, prefix: str) -> bool:
    """Is ``name`` the module ``prefix`` or a module inside it?"""
    return name == prefix or name.startswith(prefix + ".")


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` found under ``root``, by dotted name."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST, kind: str) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import in ``tree`` with when it runs."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _statements(node, FUNCTION)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), TYPE_CHECKING)
            for child in node.orelse:
                yield from _statements(ast.Module(body=[child], type_ignores=[]), kind)
        else:
            yield from _statements(node, kind)


def imports(root: Path, package: str) -> list[Import]:
    """Every import written in the package, resolved to module names."""
    known = modules(root, package)
    found = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        file = str(path.relative_to(root))
        for node, kind in _statements(tree, MODULE):
            for target in _targets(node, name, is_package, known):
                found.append(Import(name, target, file, node.lineno, kind))
    return found


def _targets(
    node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: Mapping[str, Path]
) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        if not is_package:
            parts.pop()
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    # 'from a import b' imports the module a.b where there is one, else a name of a
    found = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    return list(dict.fromkeys(found))


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    return imports(ROOT, PACKAGE)


def domain(names: Iterable[str], entries: Iterable[str] = DOMAIN) -> list[str]:
    """The modules among ``names`` that the domain entries cover."""
    entries = tuple(entries)
    return sorted(
        n
        for n in names
        if any(under(n, e) for e in entries) and not any(under(n, r) for r in RUNTIME_PARTS)
    )


# -- the rules ---------------------------------------------------------------------------------
def domain_imports(
    found: list[Import], pure: list[str], forbidden: tuple[str, ...] = FORBIDDEN_IN_DOMAIN
) -> list[str]:
    return [
        f"{i} — the domain imports no {f}"
        for i in found
        if i.source in pure
        for f in forbidden
        if under(i.target, f)
    ]


def domain_loads(
    found: list[Import],
    pure: list[str],
    known: Iterable[str],
    forbidden: tuple[str, ...] = FORBIDDEN_IN_DOMAIN,
) -> list[str]:
    """Each domain module that loads something forbidden when imported (through
    module-level imports, imports inside functions once called, and the ``__init__`` of
    every package on the way), with what it loads and one shortest chain that does."""
    known = set(known)
    edges: dict[str, list[tuple[str, str]]] = {}
    for i in found:
        if i.kind != TYPE_CHECKING:
            edges.setdefault(i.source, []).append((i.target, f"line {i.line}"))
    for name in known:  # importing a.b.c runs a/__init__ and a/b/__init__ first
        parent = name.rpartition(".")[0]
        if parent:
            edges.setdefault(name, []).append((parent, "its package"))
    out = []
    for start in pure:
        chains = _shortest_chains(start, edges, known)
        hits = {
            f: min((chains[t] for t in chains if under(t, f)), key=len, default=None)
            for f in forbidden
        }
        loaded = [f for f in forbidden if hits[f] is not None]
        if loaded:
            chain = min((c for c in hits.values() if c is not None), key=len)
            out.append(f"{start} loads {', '.join(loaded)}; e.g. {start} " + " ".join(chain))
    return out


def _shortest_chains(
    start: str, edges: Mapping[str, list[tuple[str, str]]], known: set[str]
) -> dict[str, list[str]]:
    chains: dict[str, list[str]] = {start: []}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for target, how in edges.get(here, []):
            if target not in chains:
                chains[target] = [*chains[here], f"-({how})-> {target}"]
                if target in known:
                    queue.append(target)
    return chains


def click_outside_cli(found: list[Import], cli: str = CLICK_ALLOWED_IN) -> list[str]:
    return [
        f"{i} — only {cli} imports click"
        for i in found
        if under(i.target, "click") and not under(i.source, cli)
    ]


def engine_under_type_checking(found: list[Import], engine: str = ENGINE) -> list[str]:
    return [
        f"{i} — depend on the runtime port, not on the engine"
        for i in found
        if i.kind == TYPE_CHECKING and under(i.target, engine) and not under(i.source, engine)
    ]


def _edges(found: list[Import], kinds: set[str], known: set[str]) -> dict[str, dict[str, Import]]:
    edges: dict[str, dict[str, Import]] = {}
    for i in found:
        if i.kind in kinds and i.target in known and i.target != i.source:
            edges.setdefault(i.source, {}).setdefault(i.target, i)
    return edges


def cycles(found: list[Import], known: Iterable[str]) -> list[str]:
    """One shortest cycle through each group of modules that import each other, counting
    module-level imports and imports under ``TYPE_CHECKING``, each step with its line."""
    known = set(known)
    edges = _edges(found, {MODULE, TYPE_CHECKING}, known)
    out = []
    for group in _strongly_connected(known, edges):
        if len(group) > 1:
            steps = _shortest_path(min(group), min(group), group, edges)
            within = sorted(
                (i for m in group for t, i in edges.get(m, {}).items() if t in group),
                key=lambda i: (i.file, i.line),
            )
            out.append(
                f"{len(group)} modules in a cycle ({', '.join(sorted(group))}), e.g.\n    "
                + "\n    ".join(str(step) for step in steps)
                + f"\n  tied by these {len(within)} imports:\n    "
                + "\n    ".join(str(i) for i in within)
            )
    return out


def cycles_through_functions(found: list[Import], known: Iterable[str]) -> list[str]:
    """Each import inside a function that lies on an import cycle, with the way back."""
    known = set(known)
    edges = _edges(found, {MODULE, TYPE_CHECKING, FUNCTION}, known)
    group_of = {m: n for n, g in enumerate(_strongly_connected(known, edges)) for m in g}
    out = []
    for i in found:
        closes = i.kind == FUNCTION and i.target in known and i.target != i.source
        if closes and group_of[i.source] == group_of[i.target]:
            group = {m for m, n in group_of.items() if n == group_of[i.source]}
            back = _shortest_path(i.target, i.source, group, edges)
            out.append(f"{i}, and back:\n    " + "\n    ".join(str(step) for step in back))
    return out


def _strongly_connected(
    nodes: set[str], edges: Mapping[str, Mapping[str, Import]]
) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups = []
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _shortest_path(
    start: str, end: str, group: set[str], edges: Mapping[str, Mapping[str, Import]]
) -> list[Import]:
    """The fewest imports from ``start`` to ``end`` (back to ``start`` if they are one)."""
    back: dict[str, Import] = {}
    queue = deque([start])
    while queue:
        here = queue.popleft()
        for target, step in sorted(edges.get(here, {}).items()):
            if target not in group:
                continue
            if target == end:
                path = [step]
                while path[0].source != start:
                    path.insert(0, back[path[0].source])
                return path
            if target not in back:
                back[target] = step
                queue.append(target)
    raise AssertionError(f"no way from {start} to {end}")  # pragma: no cover


def report(what: str, violations: list[str]) -> str:
    lines = "\n".join(f"{n}. {v}" for n, v in enumerate(violations, 1))
    return f"{len(violations)} {what}:\n{lines}"


# -- the package -------------------------------------------------------------------------------
def test_the_domain_imports_no_io_nor_the_runtime(graph: list[Import]) -> None:
    pure = domain(modules(ROOT, PACKAGE))
    assert "cmc_workflow.definition.models" in pure  # the list names modules that exist
    found = domain_imports(graph, pure)
    assert not found, report("imports the domain must not make", found)


def test_importing_the_domain_loads_no_io_nor_the_runtime(graph: list[Import]) -> None:
    known = modules(ROOT, PACKAGE)
    found = domain_loads(graph, domain(known), known)
    assert not found, report("domain modules load what the domain must not", found)


def test_only_the_cli_imports_click(graph: list[Import]) -> None:
    found = click_outside_cli(graph)
    assert not found, report("imports of click outside the CLI", found)


def test_nothing_imports_the_engine_under_type_checking(graph: list[Import]) -> None:
    found = engine_under_type_checking(graph)
    assert not found, report("imports of the engine under TYPE_CHECKING", found)


def test_no_import_cycle_even_under_type_checking(graph: list[Import]) -> None:
    found = cycles(graph, modules(ROOT, PACKAGE))
    assert not found, report("import cycles (module level and TYPE_CHECKING imports)", found)


def test_no_import_inside_a_function_closes_a_cycle(graph: list[Import]) -> None:
    """Reported apart: such an import works at run time but still ties two layers."""
    found = cycles_through_functions(graph, modules(ROOT, PACKAGE))
    assert not found, report("imports inside functions on an import cycle", found)


# -- the checker itself, on a made-up package --------------------------------------------------
def test_the_checks_find_what_they_are_for(tmp_path: Path) -> None:
    files = {
        "pkg/__init__.py": "from pkg import cli\n",
        "pkg/engine.py": "import pkg.store\nfrom pkg import pure\n",
        "pkg/store.py": "import sqlalchemy\n",
        "pkg/pure.py": (
            "from typing import TYPE_CHECKING\nimport click\nfrom . import helper\n"
            "if TYPE_CHECKING:\n    from pkg.engine import Engine\n"
        ),
        "pkg/helper.py": "def later():\n    from pkg import pure\n    import pkg.store\n",
        "pkg/cli/__init__.py": "import click\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    found = imports(tmp_path, "pkg")
    known = modules(tmp_path, "pkg")
    assert set(known) == {"pkg", "pkg.engine", "pkg.store", "pkg.pure", "pkg.helper", "pkg.cli"}
    assert Import("pkg.pure", "pkg.helper", "pkg/pure.py", 3, MODULE) in found
    assert Import("pkg.helper", "pkg.store", "pkg/helper.py", 3, FUNCTION) in found
    assert Import("pkg.pure", "pkg.engine", "pkg/pure.py", 5, TYPE_CHECKING) in found

    pure = domain(known, ["pkg.pure", "pkg.helper"])
    assert pure == ["pkg.helper", "pkg.pure"]
    forbidden = ("pkg.engine", "pkg.store", "sqlalchemy", "click")
    assert domain_imports(found, pure, forbidden) == [
        "pkg/helper.py:3: pkg.helper imports pkg.store (inside a function)"
        " — the domain imports no pkg.store",
        "pkg/pure.py:2: pkg.pure imports click (module level) — the domain imports no click",
        "pkg/pure.py:5: pkg.pure imports pkg.engine (under TYPE_CHECKING)"
        " — the domain imports no pkg.engine",
    ]
    assert domain_loads(found, pure, known, forbidden) == [
        # pkg.helper's imports run once the function is called; pkg.pure's under
        # TYPE_CHECKING never do; the package's __init__ always does
        "pkg.helper loads pkg.store, sqlalchemy, click; e.g. pkg.helper -(line 3)-> pkg.store",
        "pkg.pure loads pkg.store, sqlalchemy, click; e.g. pkg.pure -(line 2)-> click",
    ]
    (init,) = domain_loads(found, ["pkg.pure"], known, ("pkg.cli",))
    assert init == "pkg.pure loads pkg.cli; e.g. pkg.pure -(its package)-> pkg -(line 1)-> pkg.cli"
    assert [v.split(" — ")[0] for v in click_outside_cli(found, "pkg.cli")] == [
        "pkg/pure.py:2: pkg.pure imports click (module level)"
    ]
    assert len(engine_under_type_checking(found, "pkg.engine")) == 1
    (cycle,) = cycles(found, known)
    assert cycle.startswith("2 modules in a cycle (pkg.engine, pkg.pure), e.g.")
    assert cycle.endswith(
        "tied by these 2 imports:\n"
        "    pkg/engine.py:2: pkg.engine imports pkg.pure (module level)\n"
        "    pkg/pure.py:5: pkg.pure imports pkg.engine (under TYPE_CHECKING)"
    )
    assert "pkg/pure.py:5: pkg.pure imports pkg.engine (under TYPE_CHECKING)" in cycle
    (closing,) = cycles_through_functions(found, known)
    assert closing == (
        "pkg/helper.py:2: pkg.helper imports pkg.pure (inside a function), and back:\n"
        "    pkg/pure.py:3: pkg.pure imports pkg.helper (module level)"
    )
