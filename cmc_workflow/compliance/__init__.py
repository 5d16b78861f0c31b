"""Compliance: which requirement ids the definitions carry out and the tests exercise.

Stages, each testable alone:

- :mod:`~cmc_workflow.compliance.requirements` parses the requirement list
  (``REQUIREMENTS.md``; a copy ships with the package);
- :mod:`~cmc_workflow.compliance.citations` collects the ``implements:`` of loaded
  workflows, policies and schedules; :mod:`~cmc_workflow.compliance.guarantees` names what
  the engine carries out in code; :mod:`~cmc_workflow.compliance.markers` reads the tests'
  ``pytest.mark.req`` markers statically;
- :mod:`~cmc_workflow.compliance.kinds` declares how each id is carried out (enforced,
  recorded, reported, host); tests marked ``pytest.mark.enforces("ID", element=...)``
  prove the enforced ones, and :mod:`~cmc_workflow.compliance.knockout` runs each without
  its element (:mod:`~cmc_workflow.compliance.elements`: ``file#yaml.path``);
- :mod:`~cmc_workflow.compliance.matrix` puts them together;
  :mod:`~cmc_workflow.compliance.render` prints the matrix (table, Markdown, JSON) and
  :mod:`~cmc_workflow.compliance.pages` writes a documentation page per workflow.

No I/O beyond reading the files named, but for the knockout check, which copies the
definitions to a temporary folder and runs pytest in subprocesses; the CLI
(``cmc-workflow compliance``, ``cmc-workflow docs``) writes the output.
"""

from cmc_workflow.compliance.guarantees import ENGINE_GUARANTEES, Guarantee
from cmc_workflow.compliance.kinds import CARRIED, Carried
from cmc_workflow.compliance.matrix import Matrix, Row, build_matrix, compliance_matrix
from cmc_workflow.compliance.model import Citation, Issue
from cmc_workflow.compliance.render import render_json, render_markdown, render_table
from cmc_workflow.compliance.requirements import (
    Requirement,
    bundled_requirements_text,
    parse_requirements,
)

__all__ = [
    "CARRIED",
    "ENGINE_GUARANTEES",
    "Carried",
    "Citation",
    "Guarantee",
    "Issue",
    "Matrix",
    "Requirement",
    "Row",
    "build_matrix",
    "bundled_requirements_text",
    "compliance_matrix",
    "parse_requirements",
    "render_json",
    "render_markdown",
    "render_table",
]
