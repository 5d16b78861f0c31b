"""The staff register (STF-1..3) and identity (SEC-6).

- :mod:`.catalogue`: the posts and what each asks of the person put on it (``posts.yaml``);
- :mod:`.contacts`: contact addresses checked and masked (SEC-3);
- :mod:`.register`: :class:`Register`, the people and their posts in the store, every
  change audited;
- :mod:`.roster`: reading an HR roster (CSV, XLSX) with row-and-column errors;
- :mod:`.identity`: :class:`IdentitySource`, :class:`RegisterIdentity` and how the engine
  resolves a caller;
- :mod:`.staffing`: STF-3, the accounts without their required posts, raised as alerts.

Names are imported on first use, so that the engine importing the identity protocol does
not load the register, the catalogue or the roster readers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cmc_workflow._exports import lazy as _lazy

if TYPE_CHECKING:
    from cmc_workflow.staff.identity import Identity, IdentitySource, RegisterIdentity
    from cmc_workflow.staff.register import Person, PersonEntry, PostEntry, Register

__all__ = [
    "Identity",
    "IdentitySource",
    "Person",
    "PersonEntry",
    "PostEntry",
    "Register",
    "RegisterIdentity",
]

_HOMES = {
    "Identity": "cmc_workflow.staff.identity",
    "IdentitySource": "cmc_workflow.staff.identity",
    "RegisterIdentity": "cmc_workflow.staff.identity",
    "Person": "cmc_workflow.staff.register",
    "PersonEntry": "cmc_workflow.staff.register",
    "PostEntry": "cmc_workflow.staff.register",
    "Register": "cmc_workflow.staff.register",
}

__getattr__ = _lazy(globals(), _HOMES)
