"""Which tests exercise which requirements: ``pytest.mark.req`` markers, read statically.

Test modules (``test_*.py`` and ``*_test.py`` under the tests folder) are parsed with
:mod:`ast`, never imported, so the matrix costs milliseconds and runs without the test
dependencies. A marker counts where pytest applies it:

- ``@pytest.mark.req("PUB-5", ...)`` on a test function or method (also inside a
  decorator, e.g. ``pytest.param(..., marks=pytest.mark.req("PUB-5"))`` of a parametrize);
- on a ``Test*`` class, or its ``pytestmark = ...``: every test of the class;
- a module's ``pytestmark = pytest.mark.req(...)`` (or a list of marks): every test of it.

Ids must be literal strings. A marker with anything else, or one on a function or class
pytest does not collect as a test, is reported as an :class:`Issue`.

``@pytest.mark.enforces("PUB-5", element="policies/publishing.yaml#workflows.publishing
.required_stages[0]")`` says more: the test fails without that element (a node of a
workflow or policy file). It counts as a ``req`` marker of its id too, and becomes a
:class:`Proof`, which the knockout check (:mod:`cmc_workflow.compliance.knockout`) puts
to the test. Only function and method decorators carry it (one element per marker).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from cmc_workflow.compliance.citations import relative
from cmc_workflow.compliance.model import Citation, Issue

MARKER = "req"
"""The marker's name: ``pytest.mark.req``."""

ENFORCES = "enforces"
"""The marker of a test that fails without an element: ``pytest.mark.enforces``."""


@dataclass(frozen=True, slots=True)
class Proof:
    """A test that says it fails without ``element`` (``file#yaml.path``), which carries
    out ``requirement``."""

    requirement: str
    element: str
    node_id: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class MarkedTest:
    """A test, the requirement ids its markers name, and the proofs it claims."""

    node_id: str
    file: str
    line: int
    ids: tuple[str, ...]
    proofs: tuple[tuple[str, str], ...] = ()
    """(requirement id, element) of each ``enforces`` marker."""


def find_test_modules(folder: Path) -> list[Path]:
    """The test modules under ``folder`` (or ``folder`` itself when it is a file), sorted."""
    if folder.is_file():
        return [folder]
    found = {
        path
        for pattern in ("test_*.py", "*_test.py")
        for path in folder.rglob(pattern)
        if "__pycache__" not in path.parts
    }
    return sorted(found)


def _is_req(node: ast.AST, name: str = MARKER) -> bool:
    """``pytest.mark.req(...)`` or ``mark.req(...)`` (or another marker ``name``)."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    func = node.func
    if func.attr != name:
        return False
    owner = func.value
    if isinstance(owner, ast.Attribute):
        return owner.attr == "mark"
    return isinstance(owner, ast.Name) and owner.id == "mark"


class _Scanner:
    def __init__(self, file: str) -> None:
        self.file = file
        self.tests: list[MarkedTest] = []
        self.issues: list[Issue] = []

    def ids_in(self, node: ast.AST) -> list[str]:
        """The ids of every ``req`` marker within ``node``."""
        ids: list[str] = []
        for sub in ast.walk(node):
            if not _is_req(sub):
                continue
            assert isinstance(sub, ast.Call)
            if not sub.args:
                self.issue(sub, "pytest.mark.req() names no requirement id")
            for arg in sub.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    if arg.value not in ids:
                        ids.append(arg.value)
                else:
                    self.issue(
                        arg,
                        f"pytest.mark.req argument {ast.unparse(arg)!r} is not a literal "
                        "string: the compliance matrix reads the ids statically",
                    )
        return ids

    def proofs_in(self, node: ast.AST) -> list[tuple[str, str]]:
        """The (id, element) of every ``enforces`` marker within ``node``."""
        found: list[tuple[str, str]] = []
        for sub in ast.walk(node):
            if not _is_req(sub, ENFORCES):
                continue
            assert isinstance(sub, ast.Call)
            ident = sub.args[0] if len(sub.args) == 1 else None
            element = next((k.value for k in sub.keywords if k.arg == "element"), None)
            if not (isinstance(ident, ast.Constant) and isinstance(ident.value, str)):
                self.issue(
                    sub,
                    "pytest.mark.enforces takes one requirement id as a literal string: "
                    'enforces("PUB-5", element="file#yaml.path")',
                )
                continue
            text = _literal_text(element)
            if text is None:
                self.issue(
                    sub,
                    f"pytest.mark.enforces({ident.value!r}) names no element as a literal "
                    'string: element="policies/x.yaml#workflows.x.forbid_data[0]"',
                )
                continue
            found.append((ident.value, text))
        return found

    def issue(self, node: ast.AST, message: str) -> None:
        self.issues.append(Issue(message, self.file, getattr(node, "lineno", None)))

    def decorator_ids(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
    ) -> list[str]:
        ids: list[str] = []
        for decorator in node.decorator_list:
            ids += [i for i in self.ids_in(decorator) if i not in ids]
        return ids

    def pytestmark_ids(self, body: list[ast.stmt]) -> list[str]:
        ids: list[str] = []
        for stmt in body:
            value: ast.expr | None = None
            if (
                isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets)
            ) or (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and stmt.target.id == "pytestmark"
            ):
                value = stmt.value
            if value is not None:
                ids += [i for i in self.ids_in(value) if i not in ids]
        return ids

    def body(self, body: list[ast.stmt], prefix: str, inherited: list[str]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
                own = self.decorator_ids(stmt)
                proofs: list[tuple[str, str]] = []
                for decorator in stmt.decorator_list:
                    proofs += self.proofs_in(decorator)
                own += [i for i, _ in proofs if i not in own]
                if stmt.name.startswith("test"):
                    ids = inherited + [i for i in own if i not in inherited]
                    if ids:
                        self.tests.append(
                            MarkedTest(
                                f"{prefix}::{stmt.name}",
                                self.file,
                                stmt.lineno,
                                tuple(ids),
                                tuple(proofs),
                            )
                        )
                elif own:
                    self.issue(
                        stmt,
                        f"pytest.mark.req on {stmt.name}(), which pytest does not collect as a "
                        "test (test names start with 'test')",
                    )
            elif isinstance(stmt, ast.ClassDef):
                own = self.decorator_ids(stmt) + self.pytestmark_ids(stmt.body)
                if stmt.name.startswith("Test"):
                    ids = inherited + [i for i in own if i not in inherited]
                    self.body(stmt.body, f"{prefix}::{stmt.name}", ids)
                elif own:
                    self.issue(
                        stmt,
                        f"pytest.mark.req on class {stmt.name}, which pytest does not collect "
                        "(test classes start with 'Test')",
                    )


def _literal_text(node: ast.expr | None) -> str | None:
    """A literal string, also written as adjacent literals or joined with ``+``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _literal_text(node.left), _literal_text(node.right)
        return None if left is None or right is None else left + right
    return None


def scan_source(source: str, file: str) -> tuple[list[MarkedTest], list[Issue]]:
    """The marked tests of one module's source; ``file`` names it in node ids and issues."""
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as exc:
        return [], [Issue(f"cannot parse the test module: {exc.msg}", file, exc.lineno)]
    scanner = _Scanner(file)
    scanner.body(tree.body, file, scanner.pytestmark_ids(tree.body))
    return scanner.tests, scanner.issues


def scan_tests(folder: Path, base: Path | None = None) -> tuple[list[MarkedTest], list[Issue]]:
    """Every marked test under ``folder``, in file and source order, and the issues found."""
    tests: list[MarkedTest] = []
    issues: list[Issue] = []
    for path in find_test_modules(folder):
        file = relative(path, base)
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            issues.append(Issue(f"cannot read the test module: {exc}", file))
            continue
        found, problems = scan_source(source, file)
        tests += found
        issues += problems
    return tests, issues


def marker_citations(tests: list[MarkedTest]) -> list[Citation]:
    """One citation per test and id."""
    return [Citation(i, "test", t.node_id, t.file, t.line) for t in tests for i in t.ids]


def marked_proofs(tests: list[MarkedTest]) -> list[Proof]:
    """Every proof the marked tests claim, in file and source order."""
    return [Proof(i, e, t.node_id, t.file, t.line) for t in tests for i, e in t.proofs]
