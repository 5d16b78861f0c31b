"""Who acts on an HTTP call: the seam between a checked token and the engine's
:class:`~cmc_workflow.model.Actor`.

A token is bound to a named host system (a library's ERP, a CMS), which has signed its
people in already and asserts them on each call: ``X-Cmc-Actor`` (the person's id) and
``X-Cmc-Roles`` (their roles, comma-separated; both percent-encoded UTF-8 where they
are not ASCII, as HTTP headers are), passed to the engine as they are, exactly
like a Python host's ``Actor(id, roles)``; the engine admits the id and the policies judge
the roles. The actor carries ``{"system": <the token's system>}`` in its attributes, so
that policies may scope on the system that asserted them.

:class:`AssertedIdentity` is the default resolver. The staff register (issue 14) plugs in
here: a resolver that looks the asserted person up in the register (and refuses people or
roles it does not know) implements :class:`IdentityResolver` and is passed to
:func:`~cmc_workflow.api.app.create_app` as ``identity=``. The HTTP layer decides nothing
else about people.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import unquote

from cmc_workflow.errors import IdentityRefused
from cmc_workflow.i18n import tr
from cmc_workflow.model import Actor
from cmc_workflow.store.port import TokenRow

__all__ = ["ACTOR_HEADER", "ROLES_HEADER", "SYSTEM_HEADER", "AssertedIdentity", "IdentityResolver"]

ACTOR_HEADER = "x-cmc-actor"
ROLES_HEADER = "x-cmc-roles"
SYSTEM_HEADER = "x-cmc-system"
"""Optional: the system the caller believes it is; a token of another system is refused."""


class IdentityResolver(Protocol):
    """Turns a checked token and the request's headers into the actor of the call (or
    raises :class:`~cmc_workflow.errors.IdentityRefused`, answered 403)."""

    def __call__(self, token: TokenRow, headers: Mapping[str, str]) -> Actor: ...


class AssertedIdentity:
    """The host system's assertion, taken as it is (the engine still admits the id)."""

    def __call__(self, token: TokenRow, headers: Mapping[str, str]) -> Actor:
        person = unquote(headers.get(ACTOR_HEADER, ""), errors="strict")
        if not person.strip():
            raise IdentityRefused(
                "actor_missing",
                *tr(
                    "the host system must name the person acting (header {header})",
                    header=ACTOR_HEADER,
                ),
            )
        listed = unquote(headers.get(ROLES_HEADER, ""), errors="strict").split(",")
        roles = [r.strip() for r in listed if r.strip()]
        return Actor(person, roles, {"system": token.system})
