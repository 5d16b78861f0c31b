"""Rules about an item's data and time: conditions and expiry dates that refuse a command,
and the silence of subjects (operating accounts) not heard from for too long."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cmc_workflow.definition.guards import Guard
from cmc_workflow.definition.models import Label
from cmc_workflow.i18n import Text, joined, tr
from cmc_workflow.model import normal_id
from cmc_workflow.policy.rules.base import (
    Denial,
    Request,
    StepKey,
    StepRule,
    as_list,
    in_turn,
    past,
)
from cmc_workflow.policy.rules.facts import Facts


class ForbidDataRule(StepRule):
    """Refuse commands on items whose data matches a condition, or whose date has passed."""

    kind = "forbid_data"

    def __init__(
        self,
        rule_id: str,
        steps: Sequence[StepKey],
        when: Guard | None,
        expired: str | None,
        reason: Label | None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.steps = tuple(steps)
        self.when = when
        self.expired = expired

    def applies(self, request: Request) -> bool:
        if self.steps and not self.at_step(request):
            return False
        if request.probe:
            read = set(self.when.fields if self.when is not None else ())
            read |= {self.expired} if self.expired else set()
            return not read & set(request.form_spec)
        return True

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return not self.steps or self.at(state, trigger)

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        if self.when is not None and self.when.evaluate(request.scope()):
            return self.deny(tr("refused because {condition}", condition=self.when.source))
        if self.expired is not None:
            value = request.data.get(self.expired)
            if value is not None and past(value, request):
                return self.deny(
                    tr("{field} ({value}) has passed", field=self.expired, value=value)
                )
        return None

    def concerns(
        self, state: str | None, trigger: str, entered: frozenset[str], roles: frozenset[str]
    ) -> bool:
        return not self.steps or super().concerns(state, trigger, entered, roles)

    def describe(self) -> Text:
        parts = []
        if self.when is not None:
            parts.append(tr("refused when {condition}", condition=self.when.source))
        if self.expired is not None:
            parts.append(tr("refused once {field} has passed", field=self.expired))
        return in_turn(parts)


@dataclass(frozen=True, slots=True)
class Silent:
    """A subject found silent: its id, since when, and for how many whole days."""

    subject: str
    since: dt.datetime
    days: int
    allowed: int


class SilenceRule(StepRule):
    """Named steps are refused while a subject (an operating account) has not been heard
    from (no publication entered ``published`` naming it) for longer than an interval."""

    kind = "silence"

    def __init__(
        self,
        rule_id: str,
        steps: Sequence[StepKey],
        subjects: tuple[str, Sequence[str], str, str | None],
        publications: tuple[str, str, Sequence[str] | None, str],
        interval: str,
        reason: Label | None,
        *,
        alert: tuple[Sequence[StepKey], str, str] | None = None,
    ) -> None:
        super().__init__(rule_id, reason)
        self.closing = tuple(steps)
        self.alert_steps = tuple(alert[0]) if alert is not None else ()
        self.alert_subjects = alert[1] if alert is not None else ""
        self.alert_days = alert[2] if alert is not None else ""
        self.steps = self.closing + self.alert_steps
        self.subject_workflow, states, self.subject_field, self.own_interval = subjects
        self.subject_states = tuple(states)
        self.pub_workflow, self.pub_state, source, self.pub_field = publications
        self.pub_source = tuple(source) if source is not None else None
        self.interval = interval

    def applies(self, request: Request) -> bool:
        if not self.at_step(request):
            return False
        if request.probe:  # asked ahead of the form: the alert's figures are not there yet
            return not (self.interval in request.form_spec or self._alerting(request))
        return True

    def may_apply(self, state: str | None, trigger: str, entered: tuple[str, ...]) -> bool:
        return self.at(state, trigger)

    def _alerting(self, request: Request) -> bool:
        return any(s.matches(request) for s in self.alert_steps)

    def silent(self, request: Request, facts: Facts, days: int) -> list[Silent]:
        """The subjects silent for longer than their interval at the request's time (their
        own configured number of days, else ``days``), longest first.

        A subject is heard from when a publication naming it entered the state; one never
        heard from (or not since it last started) counts from when it started resting in
        the subject states (e.g. since it was certified)."""
        heard: dict[str, dt.datetime] = {}
        for entry in facts.entered(self.pub_workflow, [self.pub_state], source=self.pub_source):
            for name in as_list(entry.data.get(self.pub_field)):
                if name not in heard or heard[name] < entry.at:
                    heard[name] = entry.at
        found = []
        subjects = facts.entered(
            self.subject_workflow, self.subject_states, resting_in=self.subject_states
        )
        for entry in subjects:
            name = str(entry.data.get(self.subject_field))
            since = max(entry.at, heard.get(name, entry.at))
            own = entry.data.get(self.own_interval) if self.own_interval else None
            allowed = own if isinstance(own, int) and not isinstance(own, bool) else days
            if request.now - since > dt.timedelta(days=allowed):
                found.append(Silent(name, since, (request.now - since).days, allowed))
        return sorted(found, key=lambda s: (s.since, s.subject))

    def judge(self, request: Request, facts: Facts) -> Denial | None:
        days = request.data.get(self.interval)
        if not isinstance(days, int) or isinstance(days, bool) or days < 0:
            return self.deny(
                tr(
                    "the interval {field} ({value}) is not a number of days: the silence "
                    "cannot be judged",
                    field=self.interval,
                    value=repr(days),
                )
            )
        silent = self.silent(request, facts, days)
        if self._alerting(request):
            return self._judge_alert(request, silent)
        if not silent:
            return None
        each = (
            tr(
                "{subject} silent {days} days (since {since}, {allowed} allowed)",
                subject=x.subject,
                days=x.days,
                since=f"{x.since:%Y-%m-%d}",
                allowed=x.allowed,
            )
            for x in silent
        )
        return self.deny(
            tr(
                "{silent}: silent longer than allowed, by the publications the engine "
                "recorded; raise the alert instead",
                silent=in_turn(each),
            )
        )

    def _judge_alert(self, request: Request, silent: Sequence[Silent]) -> Denial | None:
        """An alert names exactly the silent subjects and the longest silence."""
        named = as_list(request.form.get(self.alert_subjects))
        found = [x.subject for x in silent]
        longest = max((x.days for x in silent), default=0)
        typed = request.form.get(self.alert_days)
        if sorted(normal_id(n) for n in named) == sorted(normal_id(n) for n in found) and (
            typed == longest
        ):
            return None
        shown = ", ".join(f"{x.subject} {x.days}" for x in silent)
        return self.deny(
            tr(
                "the alert names {named} silent {typed} days; the publications the engine "
                "recorded show {found} (longest {longest} days): an alert carries the "
                "computed silence, not typed figures",
                named=joined(named) if named else tr("nobody"),
                typed=typed,
                found=shown or tr("none"),
                longest=longest,
            )
        )

    def describe(self) -> Text:
        return tr(
            "refused while an item of {subjects} in {states} has no item of {publications} "
            "entering {published} naming it (data.{field}) for longer than its own {own} or "
            "data.{interval} days",
            subjects=self.subject_workflow,
            states="/".join(self.subject_states),
            publications=self.pub_workflow,
            published=self.pub_state,
            field=self.pub_field,
            own=self.own_interval or tr("interval"),
            interval=self.interval,
        )
