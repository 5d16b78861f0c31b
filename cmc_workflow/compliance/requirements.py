"""The requirement list, as the compliance matrix reads it.

The parser lives in the domain module :mod:`cmc_workflow.requirements` (the policy language
reads the ids' levels too, and must not import the compliance package); this module keeps
the names the matrix, the CLI and the tests use.
"""

from cmc_workflow.requirements import (
    BUNDLED_DISPLAY,
    BUNDLED_NAME,
    ID_PATTERN,
    Level,
    Requirement,
    bundled_levels,
    bundled_requirements_text,
    bundled_should_parts,
    duplicate_ids,
    parse_requirements,
    rule_level,
)

__all__ = [
    "BUNDLED_DISPLAY",
    "BUNDLED_NAME",
    "ID_PATTERN",
    "Level",
    "Requirement",
    "bundled_levels",
    "bundled_requirements_text",
    "bundled_should_parts",
    "duplicate_ids",
    "parse_requirements",
    "rule_level",
]
