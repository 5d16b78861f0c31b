"""The knockout check: elements named ``file#yaml.path``, copies of the definitions
without one, and marked tests run without their element (issue 13, part 5).

The slow tests run real subprocesses: a small project of their own (one proof that holds,
one that does not), and a bounded sample of the bundled proofs, through the command line.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from cmc_workflow.compliance.elements import (
    Element,
    ElementError,
    knockout_copy,
    parse_element,
    read_data,
    resolve,
    without,
)
from cmc_workflow.compliance.knockout import DEFINITIONS_ENV, knockout
from cmc_workflow.compliance.markers import Proof, marked_proofs, scan_source
from cmc_workflow.definition import load_paths
from tests.helpers import DEFINITIONS_ENV as HELPERS_ENV
from tests.helpers import ROOT
from tests.helpers.processes import start, wait_exit

KNOCKOUT_CAP = 600.0
"""Seconds a knockout subprocess of these tests may take (a loaded machine is slow)."""


# -- elements ---------------------------------------------------------------------------------


def test_an_element_is_a_file_and_a_path_of_keys_and_indexes() -> None:
    element = parse_element("policies/x.yaml#workflows.publishing.forbid_data[4].when")
    assert element == Element(
        "policies/x.yaml", ("workflows", "publishing", "forbid_data", 4, "when")
    )
    assert str(element) == "policies/x.yaml#workflows.publishing.forbid_data[4].when"
    for bad in ("policies/x.yaml", "#a.b", "docs/x.md#a", "policies/../x.yaml#a", "policies/x#a]"):
        with pytest.raises(ElementError):
            parse_element(bad)


def test_without_takes_out_one_node_and_leaves_the_data_as_it_was() -> None:
    data = {"states": {"a": {"transitions": [{"guard": "x", "target": "b"}, {"target": "c"}]}}}
    guard = parse_element("workflows/w.yaml#states.a.transitions[0].guard")
    second = parse_element("workflows/w.yaml#states.a.transitions[1]")
    assert without(data, guard) == {
        "states": {"a": {"transitions": [{"target": "b"}, {"target": "c"}]}}
    }
    first = data["states"]["a"]["transitions"][0]
    assert without(data, second) == {"states": {"a": {"transitions": [first]}}}
    assert resolve(data, guard) == "x"  # the original is untouched
    with pytest.raises(ElementError, match=r"states\.b is not in the file"):
        without(data, parse_element("workflows/w.yaml#states.b.transitions"))


def test_a_knockout_copy_of_the_bundle_loads_without_the_element(tmp_path: Path) -> None:
    element = parse_element("policies/publishing.yaml#workflows.publishing.forbid_data[1]")
    assert resolve(read_data(ROOT / element.file), element)["id"] == "repost_names_its_source"
    copy = knockout_copy(ROOT, element, tmp_path / "copy")
    loaded = load_paths([copy / "workflows", copy / "policies"])
    assert loaded.problems == []
    rules = read_data(copy / element.file)["workflows"]["publishing"]["forbid_data"]
    assert "repost_names_its_source" not in [r["id"] for r in rules]
    bundled = resolve(read_data(ROOT / element.file), Element(element.file, element.path[:-1]))
    assert len(rules) == len(bundled) - 1
    # every other file is copied as it is
    roles = "policies/roles.yaml"
    assert (copy / roles).read_bytes() == (ROOT / roles).read_bytes()


def test_the_helpers_read_the_variable_the_knockout_sets() -> None:
    assert HELPERS_ENV == DEFINITIONS_ENV == "CMC_TEST_DEFINITIONS"


def test_enforces_markers_are_read_statically_with_their_element() -> None:
    source = textwrap.dedent(
        """
        import pytest

        ELEMENT = "policies/x.yaml#a"

        @pytest.mark.enforces("PUB-5", element="policies/p.yaml#workflows.p.attestations[0]")
        @pytest.mark.enforces(
            "PUB-6", element="policies/p.yaml" "#workflows.publishing.required_stages[0]"
        )
        def test_reviews():
            pass

        @pytest.mark.enforces("PUB-8", element=ELEMENT)
        def test_repost():
            pass
        """
    )
    tests, issues = scan_source(source, "tests/test_p.py")
    assert [(t.node_id, t.ids) for t in tests] == [
        ("tests/test_p.py::test_reviews", ("PUB-5", "PUB-6"))
    ]
    assert [(p.requirement, p.element) for p in marked_proofs(tests)] == [
        ("PUB-5", "policies/p.yaml#workflows.p.attestations[0]"),
        ("PUB-6", "policies/p.yaml#workflows.publishing.required_stages[0]"),
    ]
    assert [(i.line, "names no element" in i.message) for i in issues] == [(13, True)]


# -- the knockout, in subprocesses ---------------------------------------------------------------

LOAN = """\
id: loan
label: {zh: 借用, en: Loan}
roles:
  staff: {zh: 员工, en: Staff}
data:
  weekend: {type: boolean, required: false}
start: {state: requested, roles: [staff]}
states:
  requested:
    type: userTask
    label: {zh: 已申请, en: Requested}
    transitions:
      - {trigger: approve, target: done, roles: [staff]}
  done:
    type: endEvent
    label: {zh: 完成, en: Done}
"""

POLICY = """\
kind: policy
id: loans
label: {zh: 借用规则, en: Loan rules}
description: Loans are not made at weekends.
workflows:
  loan:
    start: [staff]
    forbid_data:
      - id: no_weekend
        when: data.weekend == true
"""

TEST = """\
import os
from pathlib import Path

import pytest

from cmc_workflow import Actor, Engine, PolicyDenied

ROOT = Path(os.environ.get("CMC_TEST_DEFINITIONS") or Path(__file__).resolve().parents[1])


@pytest.mark.enforces("AAA-1", element="policies/loans.yaml#workflows.loan.forbid_data[0]")
@pytest.mark.enforces("AAA-2", element="policies/loans.yaml#description")
@pytest.mark.enforces("AAA-3", element="policies/loans.yaml#workflows.nowhere")
def test_weekend_loans_are_refused(tmp_path):
    with Engine.open(
        f"sqlite:///{tmp_path / 'loans.db'}",
        workflows=ROOT / "workflows",
        policies=ROOT / "policies",
    ) as engine:
        with pytest.raises(PolicyDenied):
            engine.start("loan", actor=Actor("wang", {"staff"}), data={"weekend": True})
"""


@pytest.mark.slow
def test_a_proof_holds_only_when_the_test_fails_without_its_element(tmp_path: Path) -> None:
    project = tmp_path / "project"
    for name, text in {
        "workflows/loan.yaml": LOAN,
        "policies/loans.yaml": POLICY,
        "tests/test_loans.py": TEST,
    }.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(text, encoding="utf-8")
    tests, issues = scan_source(TEST, "tests/test_loans.py")
    assert issues == []
    results = knockout(marked_proofs(tests), project, timeout=KNOCKOUT_CAP)
    assert [(r.proof.requirement, r.outcome) for r in results] == [
        ("AAA-1", "proven"),  # no rule: the weekend loan is accepted, the test fails
        ("AAA-2", "passes without it"),  # a description enforces nothing
        ("AAA-3", "bad element"),
    ]
    assert "workflows.nowhere is not in the file" in results[2].detail


@pytest.mark.slow
def test_a_test_that_fails_intact_proves_nothing(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    for folder, name, text in (
        ("workflows", "loan.yaml", LOAN),
        ("policies", "loans.yaml", POLICY),
    ):
        (project / folder).mkdir()
        (project / folder / name).write_text(text, encoding="utf-8")
    broken = TEST.replace('{"weekend": True}', '{"weekend": False}')
    (project / "tests" / "test_loans.py").write_text(broken, encoding="utf-8")
    proof = Proof(
        "AAA-1",
        "policies/loans.yaml#workflows.loan.forbid_data[0]",
        "tests/test_loans.py::test_weekend_loans_are_refused",
        "tests/test_loans.py",
        12,
    )
    (result,) = knockout([proof], project, timeout=KNOCKOUT_CAP)
    assert result.outcome == "fails intact"


@pytest.mark.slow
def test_the_command_knocks_out_a_sample_of_the_bundled_proofs(tmp_path: Path) -> None:
    """A bounded sample (the whole check takes minutes): PUB-8's one proof, through the
    command line, as an operator runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("CMC_WORKFLOWS", "CMC_POLICIES")}
    out = tmp_path / "matrix.json"
    process = start(
        [
            sys.executable,
            "-m",
            "cmc_workflow",
            "compliance",
            "--knockout",
            "--only",
            "PUB-8",
            "--format",
            "json",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        env=env,
    )
    code = wait_exit(process, "cmc-workflow compliance --knockout --only PUB-8", cap=KNOCKOUT_CAP)
    assert code == 0  # every must is met: enforced, reported by its clause, or host
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["knockout"] is True
    (pub8,) = [r for r in document["requirements"] if r["id"] == "PUB-8"]
    assert [p["knockout"] for p in pub8["proofs"]] == ["proven"]
    assert (pub8["kind"], pub8["status"]) == ("enforced", "enforced")
    # the proofs of other ids were not run: they count as claimed, not as failed
    (pub12,) = [r for r in document["requirements"] if r["id"] == "PUB-12"]
    assert pub12["status"] == "enforced"
