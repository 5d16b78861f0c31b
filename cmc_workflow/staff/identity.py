"""Identity (SEC-6): who an actor is, which roles and scope they hold, from an identity
source rather than from the caller's claim.

An :class:`IdentitySource` answers ``resolve(person_id, at)`` with an :class:`Identity`
(the roles held then, and the scope values: ``channel``, ``application``, ``branch``) or
None for a person it does not know. The staff register is the bundled source
(:class:`RegisterIdentity`); a host plugs its own directory (LDAP, the library's HR
system) by passing any object with that method to ``Engine.open(..., identity=...)``.

When a source is configured the engine calls :func:`resolved_actor` once per command,
before it judges anything: a person the source does not know, a claimed role they do
not hold, or a claimed scope value they do not hold, is refused
(:class:`~cmc_workflow.errors.IdentityRefused`, reason in English and Chinese) and the
refusal is audited like every refused command. A caller who claims no role acts with
every role the source gives; one who claims some acts with those only (a narrower claim
is honest). The engine's own actor (``system``) is never resolved: no caller can claim
it, with or without a source (:func:`cmc_workflow.inputs.admitted`).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from cmc_workflow.errors import IdentityRefused
from cmc_workflow.i18n import joined, tr
from cmc_workflow.model import Actor, attribute_values
from cmc_workflow.store.port import PostRow, StorePort, StoreTx

BUSINESS_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
"""Posts start and end on local days of the business time zone."""
SCOPE_ATTRIBUTES = {
    "channels": "channel",
    "applications": "application",
    "branch": "branch",
    "content_types": "content_type",
    "review_stages": "review_stage",
}
"""A post's scope key -> the actor attribute policies scope on."""


@dataclass(frozen=True, slots=True)
class Identity:
    """What a source says about a person at a moment: the roles they hold and, per
    actor attribute (``channel``, ``application``, ``branch``), the values their posts'
    scopes give. An attribute absent from ``scope`` is not restricted by the source."""

    person_id: str
    roles: frozenset[str]
    scope: Mapping[str, frozenset[str]] = field(default_factory=dict)


@runtime_checkable
class IdentitySource(Protocol):
    """Where the engine learns who a caller is (SEC-6)."""

    def resolve(self, person_id: str, at: dt.datetime) -> Identity | None:
        """The person's roles and scope at ``at`` (an aware datetime), or None when the
        source does not know ``person_id`` (a normal id: :func:`~cmc_workflow.model.normal_id`)."""
        ...


@runtime_checkable
class ReadsInTransaction(Protocol):
    """A source that can look a person up in a transaction of the engine's store (the
    register): the engine then asks inside the command's own transaction."""

    def resolve_in(self, tx: StoreTx, person_id: str, at: dt.datetime) -> Identity | None:
        """:meth:`IdentitySource.resolve`, reading through ``tx``."""
        ...


def identity_of(person_id: str, posts: list[PostRow], day: dt.date) -> Identity:
    """The identity the register's ``posts`` give on ``day``."""
    active = [p for p in posts if p.active_on(day)]
    scope: dict[str, set[str]] = {}
    for post in active:
        for key, attribute in SCOPE_ATTRIBUTES.items():
            held = post.scope.get(key)
            if held:
                values = {held} if isinstance(held, str) else set(held)
                scope.setdefault(attribute, set()).update(values)
    return Identity(
        person_id, frozenset(p.role for p in active), {k: frozenset(v) for k, v in scope.items()}
    )


class RegisterIdentity:
    """The staff register as the identity source: one indexed query per command (the
    person's row joined to their posts, :meth:`~cmc_workflow.store.port.StoreTx.identity_posts`),
    days counted in the business time zone (Asia/Shanghai)."""

    def __init__(self, store: StorePort) -> None:
        self.store = store

    def resolve(self, person_id: str, at: dt.datetime) -> Identity | None:
        with self.store.read() as tx:
            return self.resolve_in(tx, person_id, at)

    def resolve_in(self, tx: StoreTx, person_id: str, at: dt.datetime) -> Identity | None:
        """The lookup in a transaction the caller holds (the command's own)."""
        posts = tx.identity_posts(person_id)
        if posts is None:
            return None
        return identity_of(person_id, posts, at.astimezone(BUSINESS_TZ).date())


def resolved_actor(
    actor: Actor,
    source: IdentitySource,
    at: dt.datetime,
    expand: Callable[[Actor], Actor] | None = None,
    *,
    tx: StoreTx | None = None,
) -> Actor:
    """``actor`` (admitted: id normal, not the engine's) as ``source`` says they are, or
    :class:`IdentityRefused` (rules ``identity_unknown``, ``role_not_held``,
    ``attribute_not_held``). ``expand`` gives the roles held through others (role
    inheritance, e.g. an operations manager acts as an operations assistant): a claim of
    such a role is not refused. With ``tx`` (the command's transaction) a source that
    reads the store (:class:`ReadsInTransaction`) looks the person up there, saving a
    transaction of its own."""
    if tx is not None and isinstance(source, ReadsInTransaction):
        identity = source.resolve_in(tx, actor.id, at)
    else:
        identity = source.resolve(actor.id, at)
    day = at.astimezone(BUSINESS_TZ).date()
    if identity is None:
        raise IdentityRefused(
            "identity_unknown",
            *tr(
                "{id} is not in the staff register (or the configured identity source): "
                "only registered people may act",
                id=repr(actor.id),
            ),
        )
    held_roles = identity.roles
    if expand is not None and actor.roles - held_roles:
        held_roles = expand(Actor(actor.id, identity.roles)).roles
    missing = sorted(actor.roles - held_roles)
    if missing:
        held = joined(sorted(identity.roles)) if identity.roles else tr("none")
        raise IdentityRefused(
            "role_not_held",
            *tr(
                "{id} claims the role(s) {roles}, which the staff register does not give "
                "them on {day} (held: {held}) (SEC-6)",
                id=repr(actor.id),
                roles=joined(missing),
                day=day,
                held=held,
            ),
        )
    attributes = dict(actor.attributes)
    for attribute, values in identity.scope.items():
        claimed = attributes.get(attribute)
        if claimed is None:
            # several values (a lead of two channels) travel comma-separated: a scoping
            # rule matches an item holding any of them (policy/rules/access.py)
            if values:
                attributes[attribute] = ",".join(sorted(values))
            continue
        if not attribute_values(claimed) <= values:
            shown = ", ".join(sorted(values))
            raise IdentityRefused(
                "attribute_not_held",
                *tr(
                    "{id} claims {attribute}={claimed}, outside the scope the staff "
                    "register gives them ({shown}) (SEC-6)",
                    id=repr(actor.id),
                    attribute=attribute,
                    claimed=repr(claimed),
                    shown=shown,
                ),
            )
    roles = actor.roles or identity.roles
    return Actor(actor.id, roles, attributes)


AUTO = "auto"
"""``Engine.open(identity=AUTO)`` (the default): the register is the identity source when
it holds anybody when the engine opens; ``identity=None`` leaves identity to the host."""
REGISTER = "register"
"""``Engine.open(identity=REGISTER)``: the register is the source even while it is empty
(then nobody may act until people are filed)."""


def chosen_source(choice: object, store: StorePort) -> IdentitySource | None:
    """The identity source ``Engine.open``'s ``identity=`` names: :data:`AUTO`,
    :data:`REGISTER`, None, or a source of the host's."""
    if choice is None:
        return None
    if choice == AUTO:
        with store.read() as tx:
            filled = tx.has_people()
        return RegisterIdentity(store) if filled else None
    if choice == REGISTER:
        return RegisterIdentity(store)
    if isinstance(choice, IdentitySource):
        return choice
    raise TypeError(
        f"identity= takes 'auto', 'register', None or an IdentitySource, not {choice!r}"
    )
