"""The policy on the engine: one :class:`~cmc_workflow.extensions.Extension` per rule.

``Engine.open(..., policies="policies/")`` builds these from the loaded policy files with
:func:`policy_extensions`. Each rule is its own extension, so ``Engine.allowed`` lists
every rule that refuses a trigger (it collects one :class:`PolicyDenied` per extension),
while ``Engine.fire`` stops at the first. The rules themselves are pure
(:mod:`cmc_workflow.policy.rules`); this module turns the engine's :class:`Command` into a
:class:`Request` and answers the rules' questions (:class:`Facts`) from the command's own
transaction, through the store's :class:`~cmc_workflow.store.StoreTx`.

The rules that judge by the item's history (separation of duties, required stages) read
it from the item's policy summary (:mod:`cmc_workflow.policy.summary`), which
:class:`FactsExtension` keeps on the item row, written with it by every command: a
command's cost does not grow with the item's history.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo

from cmc_workflow.calendar.settings import BUSINESS_TIMEZONE
from cmc_workflow.compiler import CompiledWorkflow
from cmc_workflow.definition.loader import LoadedSet
from cmc_workflow.definition.models import FieldSpec
from cmc_workflow.errors import DatabaseReadOnly, DefinitionError, PolicyDenied
from cmc_workflow.extensions import Appended, Command, Extension, Runtime
from cmc_workflow.model import SYSTEM, Actor
from cmc_workflow.policy.checks import build_policy_set
from cmc_workflow.policy.policyset import PolicySet
from cmc_workflow.policy.rules import (
    Denial,
    Entry,
    FiguresRule,
    First,
    HistoryRule,
    Request,
    Rule,
    ScopingRule,
    Step,
    asked_rules,
    fold_steps,
)
from cmc_workflow.policy.rules.records import Records, UniqueStartRule
from cmc_workflow.policy.summary import Summarizer, Summary, step_of
from cmc_workflow.store.port import ItemRow, StoreTx

_MAX_ROUTES = 32


class TxFacts:
    """The rules' questions answered from the store, inside the command's transaction.

    History rules are answered from the item's summary (read with the item row); when
    the item has none that fits (see :mod:`cmc_workflow.policy.summary`), the summary is
    folded from the item's whole history, read once."""

    def __init__(
        self, tx: StoreTx, item: ItemRow | None, summarizer: Summarizer | None = None
    ) -> None:
        self.tx = tx
        self.item = item
        self.summarizer = summarizer
        self._history: list[Step] | None = None
        self._summary: Summary | None = None

    def history(self) -> Sequence[Step]:
        """The item's accepted steps (none before it exists)."""
        if self._history is None:
            rows = self.tx.history(self.item.id) if self.item is not None else []
            self._history = [step_of(r) for r in rows]
        return self._history

    def folded(self, rule: HistoryRule) -> tuple[Any, int]:
        """``rule``'s state after the item's steps, and how many steps that is."""
        key = self.summarizer.key(rule) if self.summarizer is not None else None
        if self.summarizer is None or key is None:
            history = self.history()
            return fold_steps(rule, rule.initial(), history), len(history)
        if self._summary is None:
            self._summary = summary_before(self.summarizer, self.tx, self.item, self.history)
        return self._summary.states[key], self._summary.seen

    def records(
        self, workflow: str, states: Sequence[str], field: str, value: str
    ) -> Sequence[Mapping[str, Any]]:
        """Data of ``workflow`` items in ``states`` whose ``field`` equals ``value``."""
        return self.tx.records(workflow, states, field, value)

    def entered(
        self,
        workflow: str,
        states: Sequence[str],
        *,
        source: Sequence[str] | None = None,
        resting_in: Sequence[str] | None = None,
    ) -> Sequence[Entry]:
        """Each ``workflow`` item's data and the last time it entered ``states`` (from
        outside them, or from ``source``), read from the history the engine recorded."""
        rows = self.tx.last_entries(workflow, states, source=source, resting_in=resting_in)
        return [Entry(data, at) for data, at in rows]

    def firsts(self, workflow: str, state: str) -> Sequence[First]:
        """Each ``workflow`` item's first entry into ``state``, from the recorded history."""
        rows = self.tx.first_entries(workflow, state)
        return [First(r.item_id, r.data, r.published_at) for r in rows]

    def late(self, item_ids: Sequence[int]) -> frozenset[int]:
        """The items among ``item_ids`` with a clock that breached or stopped late."""
        return frozenset(
            i
            for i in item_ids
            if any(
                c.outcome == "breached" or c.breached_at is not None for c in self.tx.clocks_of(i)
            )
        )


def summary_before(
    summarizer: Summarizer,
    tx: StoreTx,
    item: ItemRow | None,
    history: Callable[[], Sequence[Step]] | None = None,
) -> Summary:
    """The summary of ``item``'s steps so far: kept on its row, or folded from its history
    (``history``, or the rows up to the item's ``seq`` read through ``tx``)."""
    if item is None:
        return summarizer.initial()
    kept = summarizer.read(tx.item_facts(item.id), item.seq)
    if kept is not None:
        return kept
    if history is not None:
        steps = history()
    else:  # the command's own rows may be written already: fold those before it
        steps = [step_of(r) for r in tx.history(item.id) if r["seq"] <= item.seq]
    return summarizer.fold(summarizer.initial(), steps)


class _Key:
    """A key of a command's scratch belonging to one :class:`PolicyRuntime`."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"_Key({self.name!r})"


_MAX_MEMO = 4096
"""How many role sets :meth:`PolicyRuntime.resolve` keeps expanded (then it starts over)."""


class PolicyRuntime:
    """What the rule extensions of one engine share: the policy set and the clock's zone.
    One command's request, history and asked rules are built once, and kept in the
    command's own ``scratch`` (so they live exactly as long as the command, whatever
    thread runs it).

    Which rules a command asks is decided once per (workflow, state, trigger, states
    entered) (:meth:`asked`): a rule whose ``applies`` cannot be true there
    (:meth:`~cmc_workflow.policy.rules.Rule.may_apply`) is not asked, the others are
    asked as before, in their order."""

    def __init__(self, policy: PolicySet, timezone: str = BUSINESS_TIMEZONE) -> None:
        self.policy = policy
        self.zone = ZoneInfo(timezone)
        # the command's scratch keys: objects of their own (hashed by identity), not
        # tuples hashed again on each of the 24 lookups a command makes
        self.request_key = _Key("request")
        self._facts_key = _Key("facts")
        self.asked_key = _Key("asked")
        self._asked: dict[tuple[str, str | None, str, tuple[str, ...]], frozenset[Rule]] = {}
        self._expanded: dict[frozenset[str], frozenset[str]] = {}
        self._starters: dict[CompiledWorkflow, frozenset[str]] = {}
        self._today: tuple[dt.datetime, dt.date] | None = None
        self.summarizers = {
            workflow: summarizer
            for workflow, rules in policy.workflows.items()
            if (summarizer := Summarizer(rules.rules))
        }
        """The summarizer of each workflow with history rules."""

    def resolve(self, actor: Actor) -> Actor:
        """``actor`` with the roles they hold through inheritance added."""
        roles = self._expanded.get(actor.roles)
        if roles is None:
            if len(self._expanded) >= _MAX_MEMO:
                self._expanded.clear()
            roles = self._expanded[actor.roles] = self.policy.roles.expand(actor.roles)
        if roles == actor.roles:
            return actor
        return Actor(actor.id, roles, actor.attributes)

    def request(self, command: Command) -> Request:
        """The rules' view of ``command`` (built once per command)."""
        cached = command.scratch.get(self.request_key)
        if isinstance(cached, Request):
            return cached
        request = self._build(command)
        command.scratch[self.request_key] = request
        return request

    def asked(self, command: Command) -> frozenset[Rule]:
        """The rules of ``command``'s workflow that may apply to it (once per command;
        decided once per workflow, state, trigger and states entered)."""
        cached = command.scratch.get(self.asked_key)
        if isinstance(cached, frozenset):
            return cached
        request = self.request(command)
        key = (request.workflow, request.state, request.trigger, request.entered)
        found = self._asked.get(key)
        if found is None:
            rules = self.policy.workflows[request.workflow].rules
            found = frozenset(asked_rules(rules, request.state, request.trigger, request.entered))
            self._asked[key] = found
        command.scratch[self.asked_key] = found
        return found

    def facts(self, command: Command, tx: StoreTx) -> TxFacts:
        """The store's answers for ``command``'s item (history read once per command)."""
        cached = command.scratch.get(self._facts_key)
        if isinstance(cached, TxFacts) and cached.tx is tx:
            return cached
        facts = TxFacts(tx, command.item, self.summarizers.get(command.workflow.id))
        command.scratch[self._facts_key] = facts
        return facts

    def _start_roles(self, wf: CompiledWorkflow) -> frozenset[str]:
        """The roles that may start ``wf``'s items (kept per compiled version)."""
        roles = self._starters.get(wf)
        if roles is None:
            if len(self._starters) >= _MAX_MEMO:
                self._starters.clear()
            roles = self._starters[wf] = frozenset(wf.definition.start.roles)
        return roles

    def today(self, now: dt.datetime) -> dt.date:
        """``now``'s day in the clock's zone (the last answer kept: a batch's commands
        share their ``now``)."""
        last = self._today
        if last is not None and last[0] == now:
            return last[1]
        today = now.astimezone(self.zone).date()
        self._today = (now, today)
        return today

    def _build(self, command: Command) -> Request:
        wf = command.workflow
        actor = self.resolve(command.actor)
        item = command.item
        edge = command.edge
        if item is None or edge is None:
            state: str | None = None
            trigger = "start"
            entered = _entered(wf, command.target, command.data)
            edge_roles = self._start_roles(wf)
            form_spec: Mapping[str, FieldSpec] = wf.definition.data
        else:
            state = item.state
            trigger = command.trigger or edge.trigger
            entered = () if edge.target == state else _entered(wf, command.target, command.data)
            edge_roles = edge.roles
            form_spec = edge.form
        # positional: a frozen dataclass's keywords cost 1.8 µs a command more
        return Request(
            wf.id,
            state,
            trigger,
            entered,
            actor.id,
            actor.roles,
            actor.attributes,
            command.data,
            command.form,
            form_spec,
            edge_roles,
            command.now,
            self.today(command.now),
            command.probe,
            command.kind,
            item.data if item is not None else None,
        )

    def judge(self, rule: Rule, command: Command, tx: StoreTx) -> Denial | None:
        """``rule``'s verdict on ``command`` (None: it passes or the rule has no say)."""
        request = self.request(command)
        if not rule.applies(request):
            return None
        return rule.judge(request, self.facts(command, tx))


def _entered(wf: CompiledWorkflow, target: str, data: Mapping[str, Any]) -> tuple[str, ...]:
    """``target`` and the states its gateways route to with ``data`` (as the engine will)."""
    if wf.state(target).type != "exclusiveGateway":
        return (target,)  # most commands: no guard scope (a copy of the data) to build
    states = [target]
    # the data as it is, not a copy: guards only read their scope
    scope = {"data": data, "form": {}, "actor": {"id": SYSTEM.id, "roles": ["system"]}}
    state = target
    for _hop in range(_MAX_ROUTES):
        if wf.state(state).type != "exclusiveGateway":
            break
        state = wf.route(state, scope).target
        states.append(state)
    return tuple(states)


class RuleExtension(Extension):
    """One policy rule of one workflow, enforced on every command of that workflow."""

    def __init__(self, runtime: PolicyRuntime, workflow: str, rule: Rule) -> None:
        self.runtime = runtime
        self.workflow = workflow
        self.rule = rule
        self.judges = frozenset({workflow})
        self._figures_rule = rule if isinstance(rule, FiguresRule) else None
        self._asked_key = runtime.asked_key
        self._request_key = runtime.request_key

    def __repr__(self) -> str:
        return f"RuleExtension({self.workflow!r}, {self.rule.id!r})"

    def check(self, command: Command, tx: StoreTx) -> None:
        """Raise :class:`PolicyDenied` when the rule refuses ``command``."""
        if command.workflow.id != self.workflow:
            return  # another workflow's command
        # the runtime's answers kept in the command's scratch, read without its calls
        scratch = command.scratch
        asked = scratch.get(self._asked_key)
        if asked is None:
            asked = self.runtime.asked(command)
        if self.rule not in asked:
            return  # a command the rule cannot apply to
        request = scratch.get(self._request_key)
        if request is None:
            request = self.runtime.request(command)
        if not self.rule.applies(request):
            return
        if self._figures_rule is not None:
            denial = self._figures(self._figures_rule, request, command, tx)
        else:
            denial = self.rule.judge(request, self.runtime.facts(command, tx))
        if denial is None:
            return
        if not self.rule.refuses:  # a should: accepted, the warning goes into its audit
            if not command.probe:
                command.warnings.append(
                    {
                        "rule": denial.rule,
                        "level": self.rule.level,
                        "implements": list(self.rule.implements),
                        "reason": denial.reason_en,
                        "reason_zh": denial.reason_zh,
                    }
                )
            return
        item = command.item
        raise PolicyDenied(
            denial.rule,
            denial.reason_en,
            denial.reason_zh,
            item_id=str(item.id) if item is not None else None,
            trigger=command.trigger or "start",
            state=item.state if item is not None else None,
        )

    def _figures(
        self, rule: FiguresRule, request: Request, command: Command, tx: StoreTx
    ) -> Denial | None:
        """A ``confirm_figures`` verdict (``rule`` applies to ``request``); the figures of
        an accepted step are recorded."""
        denial, figures = rule.verdict(request, self.runtime.facts(command, tx))
        if denial is None and not command.probe:
            command.computed[rule.record] = figures.values
        return denial

    def visible(self, actor: Actor, item: ItemRow, workflow: CompiledWorkflow) -> bool:
        """Scoping: an actor limited to their own items does not see the others."""
        if workflow.id != self.workflow or not isinstance(self.rule, ScopingRule):
            return True
        resolved = self.runtime.resolve(actor)
        return self.rule.visible(resolved.roles, resolved.attributes, item.data, item.state)


class FactsExtension(Extension):
    """Keeps each item's policy summary on its row, folding in the steps every command
    appends (for the workflows whose rules judge by the history)."""

    judges: frozenset[str] | None = frozenset()  # refuses nothing: not asked to

    def __init__(self, runtime: PolicyRuntime) -> None:
        self.runtime = runtime

    def item_facts(self, tx: StoreTx, appended: Appended) -> Mapping[str, Any] | None:
        """The item's summary with ``appended`` folded in (None: no history rules)."""
        summarizer = self.runtime.summarizers.get(appended.workflow.id)
        if summarizer is None:
            return None
        before = summary_before(summarizer, tx, appended.item)
        steps = [
            Step(before.seen + n, s.kind, s.trigger, s.source, s.target, s.actor.id, s.form)
            for n, s in enumerate(appended.steps, start=1)
        ]
        return summarizer.facts(summarizer.fold(before, steps))


def record_fields(policy: PolicySet) -> list[tuple[str, str]]:
    """The (workflow, data field) pairs whose records the rules of ``policy`` ask for
    (a person's training or post records, a unique start's field), in rule order."""
    pairs: dict[tuple[str, str], None] = {}
    for workflow, rules in sorted(policy.workflows.items()):
        for rule in rules.rules:
            records = getattr(rule, "records", None)
            if isinstance(records, Records):
                pairs[records.workflow, records.field] = None
            elif isinstance(rule, UniqueStartRule):
                pairs[workflow, rule.field] = None
    return list(pairs)


class RecordKeysExtension(Extension):
    """Has the store find the records the rules ask for by key (TRN-3's training
    records: :meth:`~cmc_workflow.store.port.StoreTx.key_records`), so that a judged
    command costs the same whatever the number of records; judges nothing itself.

    When the engine is built, a read transaction asks which of the pairs the store does
    not key yet; only then does a write transaction register them (once per database).
    A store opened read-only is left as it is: its records are read as before."""

    judges: frozenset[str] | None = frozenset()

    def __init__(self, pairs: Sequence[tuple[str, str]]) -> None:
        self.pairs = list(pairs)

    def bind(self, runtime: Runtime) -> None:
        with runtime.read() as tx:
            missing = tx.unkeyed_records(self.pairs)
        if not missing:
            return
        try:
            with runtime.write() as tx:
                tx.key_records(missing)
        except DatabaseReadOnly:
            return  # read as before, by the SELECT that leaves out the others' records


class RolesExtension(Extension):
    """Role inheritance for workflows without rules of their own."""

    judges: frozenset[str] | None = frozenset()  # refuses nothing: not asked to

    def __init__(self, runtime: PolicyRuntime) -> None:
        self.runtime = runtime

    def resolve(self, actor: Actor) -> Actor:
        """The actor with inherited roles."""
        return self.runtime.resolve(actor)


def policy_extensions(loaded: LoadedSet, *, timezone: str = BUSINESS_TIMEZONE) -> list[Extension]:
    """The extensions enforcing the policy files of ``loaded`` (none without policy files).

    Raises :class:`DefinitionError` when the policies do not fit the workflows.
    """
    policy, problems = build_policy_set(loaded)
    if problems:
        raise DefinitionError(problems)
    return extensions_for(policy, timezone=timezone)


def extensions_for(policy: PolicySet, *, timezone: str = BUSINESS_TIMEZONE) -> list[Extension]:
    """The extensions enforcing a built :class:`PolicySet`, in judging order."""
    if policy.empty:
        return []
    runtime = PolicyRuntime(policy, timezone)
    out: list[Extension] = [RolesExtension(runtime)]
    if runtime.summarizers:
        out.append(FactsExtension(runtime))
    if pairs := record_fields(policy):
        out.append(RecordKeysExtension(pairs))
    for workflow, rules in sorted(policy.workflows.items()):
        out += [RuleExtension(runtime, workflow, rule) for rule in rules.rules]
    return out


def denials(
    extensions: Sequence[Extension], command: Command, tx: StoreTx
) -> list[tuple[str, str, str]]:
    """Every policy refusal of ``command`` as (rule, English, Chinese): for explanations."""
    found = []
    for extension in extensions:
        try:
            extension.check(command, tx)
        except PolicyDenied as exc:
            found.append((exc.rule, exc.reason_en, exc.reason_zh))
    return found
