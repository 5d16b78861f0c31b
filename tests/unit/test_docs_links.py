"""The project carries what its own documents point to: a clone has nothing beside it.

Every relative link of the Markdown files (README, docs, the files shipped in the
package) resolves to a file of the project, no file points outside the project (the
development checkout's ``../shared``), and the standards that the shipped requirements
cite (``../seeds/`` from ``cmc_workflow/compliance/``) are in the package.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = sorted(
    [
        ROOT / "README.md",
        *(ROOT / "docs").rglob("*.md"),
        *(ROOT / "cmc_workflow").rglob("*.md"),
        *(ROOT / "benchmarks").rglob("*.md"),
        *(ROOT / "calendars").rglob("*.md"),
    ]
)
LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
TEXT_SUFFIXES = {".md", ".py", ".yaml", ".yml", ".toml", ".cfg", ".ini", ".txt", ".json"}


def _targets(text: str) -> list[str]:
    found = LINK.findall(text) + IMAGE.findall(text)
    return [t for t in found if not re.match(r"^[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_of_a_page_resolves_inside_the_project(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in _targets(text):
        path = (page.parent / target.split("#", 1)[0]).resolve()
        if not path.exists() or ROOT not in path.parents:
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)} points to what the project lacks: {broken}"


def _anchors(text: str) -> set[str]:
    """The fragments a page answers to, as GitHub names its headings: lower case, every
    character but letters, digits, ``_``, ``-`` and spaces dropped (CJK kept), spaces as
    ``-``, a repeated heading numbered ``-1``, ``-2``; and explicit ``<a id>`` anchors."""
    found: set[str] = set(re.findall(r'<a (?:id|name)="([^"]+)"', text))
    seen: dict[str, int] = {}
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        heading = None if fenced else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading is None:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


@pytest.mark.parametrize("page", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_to_a_heading_finds_it(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or "#" not in target:
            continue
        name, fragment = target.split("#", 1)
        linked = (page.parent / name).resolve() if name else page
        if not (linked.suffix == ".md" and linked.is_file()):
            continue  # a missing file is the test above's to report
        if fragment not in _anchors(linked.read_text(encoding="utf-8")):
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)} links to headings that are not there: {broken}"


def _project_files() -> list[Path]:
    skip = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
    return [
        p
        for p in ROOT.rglob("*")
        if p.is_file()
        and p.suffix in TEXT_SUFFIXES
        and not skip.intersection(p.relative_to(ROOT).parts)
        and p != Path(__file__).resolve()
    ]


def test_no_file_points_to_the_development_checkout_beside_the_project() -> None:
    allowed = {ROOT / "tests" / "unit" / "test_compliance.py"}  # compares the copy when present
    pointing = [
        str(p.relative_to(ROOT))
        for p in _project_files()
        if p not in allowed and "../shared" in p.read_text(encoding="utf-8", errors="replace")
    ]
    assert pointing == [], f"these files point outside the project: {pointing}"


def test_the_standards_the_shipped_requirements_cite_are_in_the_package() -> None:
    requirements = ROOT / "cmc_workflow" / "compliance" / "requirements.md"
    text = requirements.read_text(encoding="utf-8")
    assert "`../seeds/`" in text
    cited = re.findall(r"`(\d{3}_[0-9a-f]{16}\.txt)`", text)
    assert len(cited) == 2
    seeds = requirements.parent.parent / "seeds"
    for name in cited:
        assert (seeds / name).is_file(), f"{name} is cited but not shipped in cmc_workflow/seeds/"
        assert "规范" in (seeds / name).read_text(encoding="utf-8")


def test_the_shipped_standards_equal_the_development_copies_when_present() -> None:
    shared = ROOT.parent / "shared" / "seeds"
    if not shared.is_dir():
        pytest.skip("no development checkout beside the project")
    for original in sorted(shared.glob("*.txt")):
        shipped = ROOT / "cmc_workflow" / "seeds" / original.name
        assert shipped.read_bytes() == original.read_bytes(), f"copy {original} again"
