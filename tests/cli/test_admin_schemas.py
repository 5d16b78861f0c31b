"""A JSON Schema for every kind of file (issue 17), checked in fresh, and the VS Code
setting of ``docs/workflow-language.md`` checked the way the YAML language server
checks: every bundled file against the schema the setting maps it to, no error."""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from cmc_workflow.definition.schema import DRAFT_07, DRAFT_07_KEYWORDS, _keywords
from cmc_workflow.exits import Exit
from cmc_workflow.located import load_located
from cmc_workflow.schemas import SCHEMAS, render
from tests.helpers.cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "workflow-language.md"
EXAMPLE = ROOT / "calendars" / "example-local-closures.yaml.example"


def _as_editor_reads(value: Any) -> Any:
    """A located value as a YAML 1.2 editor reads it: dates and times are text (the
    located reader already keeps YAML 1.1's yes/no/010/1:30 as text, as YAML 1.2 does)."""
    if isinstance(value, dict):
        return {str(k): _as_editor_reads(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_editor_reads(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return value


def _data(path: Path) -> Any:
    doc, problems = load_located(path.read_text(encoding="utf-8"), str(path))
    assert problems == []
    return _as_editor_reads(doc.data)


def _vscode_setting() -> dict[str, list[str]]:
    """The ``yaml.schemas`` mapping the docs recommend (the JSON block that holds it)."""
    text = DOCS.read_text(encoding="utf-8")
    for block in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL):
        if '"yaml.schemas"' in block:
            mapping: dict[str, list[str]] = json.loads(block)["yaml.schemas"]
            return mapping
    raise AssertionError("no yaml.schemas setting in docs/workflow-language.md")


def _matches(relative: str, pattern: str) -> bool:
    # the YAML extension's globs: '*' stays within a folder, '**/' spans folders
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*")
    return re.fullmatch(regex, relative) is not None


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_every_checked_in_schema_is_fresh_and_draft_07(kind: str) -> None:
    path = ROOT / "schema" / f"{kind}.schema.json"
    assert path.read_text(encoding="utf-8") == render(kind), (
        f"{path.name} is stale: cmc-workflow schema --kind {kind} > schema/{kind}.schema.json"
    )
    schema = SCHEMAS[kind]()
    assert schema["$schema"] == DRAFT_07
    Draft7Validator.check_schema(schema)
    assert _keywords(schema) <= DRAFT_07_KEYWORDS


@pytest.mark.parametrize("kind", sorted(SCHEMAS))
def test_schema_command_prints_each_kind(kind: str, tmp_path: Path) -> None:
    done = run_cli("schema", "--kind", kind, cwd=tmp_path)
    assert done.exit_code == Exit.OK
    assert done.stdout == render(kind)


def test_the_docs_setting_maps_every_bundled_file_without_an_error(tmp_path: Path) -> None:
    calendars = tmp_path / "calendars"
    calendars.mkdir()
    shutil.copy(EXAMPLE, calendars / "local.yaml")  # the example, as an admin would use it
    files = {
        f"{folder}/{p.relative_to(ROOT / folder).as_posix()}": p
        for folder in ("workflows", "policies")
        for p in (ROOT / folder).rglob("*.yaml")
    }
    files["calendars/local.yaml"] = calendars / "local.yaml"
    setting = _vscode_setting()
    errors: list[str] = []
    for relative, path in sorted(files.items()):
        schemas = [s for s, globs in setting.items() if any(_matches(relative, g) for g in globs)]
        assert schemas, f"the docs' setting gives {relative} no schema"
        for schema_path in schemas:  # the language server applies every schema that matches
            schema = json.loads((ROOT / schema_path).read_text(encoding="utf-8"))
            for error in Draft7Validator(schema).iter_errors(_data(path)):
                errors.append(f"{relative} ({schema_path}): {error.message[:200]}")
    assert errors == []
    assert len(files) >= 20
    assert any(fnmatch.fnmatch(r, "workflows/schedules.yaml") for r in files)


def test_the_schemas_catch_a_slip_in_each_kind() -> None:
    """Not vacuous: each schema refuses a misspelt key of its kind."""
    cases = {
        "workflow": _data(ROOT / "workflows" / "comments.yaml") | {"lable": "x"},
        "schedules": _data(ROOT / "workflows" / "schedules.yaml") | {"timezon": "x"},
        "policy": _data(ROOT / "policies" / "roles.yaml") | {"rolez": {}},
        "calendar": {"local": {"closures": [{"date": "2027-01-01"}]}},  # no name
    }
    for kind, data in cases.items():
        assert list(Draft7Validator(SCHEMAS[kind]()).iter_errors(data)), kind
        if kind != "calendar":
            assert list(Draft7Validator(SCHEMAS["definition"]()).iter_errors(data)), kind
