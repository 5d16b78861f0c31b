"""How each requirement id is carried out: the project's own declaration, checked.

The requirements file asks the matrix to say, per id, one *enforcement kind*:

- ``enforced`` — a state, transition, guard, policy rule, clock or schedule refuses the
  violation or forces the step. Declared here, proven by the tests marked
  ``@pytest.mark.enforces("ID", element="file#yaml.path")`` (the knockout check runs each
  without its element: it must fail); an id declared enforced without such a test is
  *unproven*. The engine's own code (the audit log, its chain, masking) is named as
  ``cmc_workflow/....py``: a module a copy of the definitions cannot take out, shown as
  such.
- ``recorded`` — a form field or record holds it; nothing refuses a violation
  (``elements`` cite it, each checked to exist).
- ``reported`` — a figure computed from the store (``sections`` of ``cmc-workflow report``).
  Reporting carries out a *must* only when the clause itself asks for a report:
  ``asks_report`` quotes the clause's own words saying so (checked to be in its text,
  e.g. CMT-7 "time-to-first-reply is reported"); a must only reported without them is a
  gap, like one only recorded.
- ``host`` — the embedding system must do it: ``duty`` says what, ``docs`` the page and
  anchor that tells the host (checked to exist).

``missing`` names what a clause asks for and nothing carries out yet: a *must* with a
missing part is a gap whatever its kind. ``should_missing`` names a *should* part
(宜) not carried out: shown, not a gap. An id not declared here is shown as *cited* (some
element or test names it) or *none*.

Keep it honest: an id is declared ``enforced`` only when a marked test fails without its
element; the matrix re-checks every claim it can.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["enforced", "recorded", "reported", "host"]

KINDS: tuple[Kind, ...] = ("enforced", "recorded", "reported", "host")


@dataclass(frozen=True, slots=True)
class Carried:
    """How one requirement id is carried out, as the project declares it."""

    requirement: str
    kind: Kind
    how: str
    elements: tuple[str, ...] = ()
    """``recorded``: the ``file#yaml.path`` of the fields or records that hold it."""
    sections: tuple[str, ...] = ()
    """``reported``: the sections of ``cmc-workflow report`` that compute it."""
    duty: str = ""
    """``host``: what the embedding system must do."""
    docs: str = ""
    """``host``: ``docs/page.md#anchor`` telling the host how."""
    asks_report: str = ""
    """``reported``: the clause's own words asking for the figure (quoted from its text),
    when the clause asks only for a report; then reporting is how it is carried out."""
    missing: str = ""
    should_missing: str = ""


def _e(requirement: str, how: str, missing: str = "", should_missing: str = "") -> Carried:
    return Carried(requirement, "enforced", how, missing=missing, should_missing=should_missing)


def _r(requirement: str, how: str, *elements: str, missing: str = "") -> Carried:
    return Carried(requirement, "recorded", how, elements=elements, missing=missing)


def _p(requirement: str, how: str, *sections: str, asks: str = "", missing: str = "") -> Carried:
    return Carried(
        requirement, "reported", how, sections=sections, asks_report=asks, missing=missing
    )


PUB = "workflows/publishing.yaml#"
CMT = "workflows/comments.yaml#"

CARRIED: tuple[Carried, ...] = (
    _e(
        "PUB-1",
        "each working day opens a topic report (schedule pub_01_daily_topic_report), "
        "escalated to the channel leads when not filed in 3 working hours; it and each topic "
        "filed (title, outline, materials, channels) reach the inbox of the leads of their "
        "channels only, and a lead of another channel is refused (scoping "
        "daily_report_to_channel_leads, leads_own_channels)",
    ),
    _e(
        "PUB-2",
        "the lead of the topic's channel edits, approves, returns, deletes and assigns it; a "
        "lead of another channel is refused (scoping leads_own_channels)",
    ),
    _e(
        "PUB-3",
        "only the assigned editors take up the work, and not after the due date "
        "(policies/publishing.yaml: only_assignees_take_up_the_work, due_date_not_passed)",
    ),
    _e(
        "PUB-4",
        "the item's history keeps every draft submitted and every rejection; a draft "
        "submitted again after a rejection names a draft version above the last, else it is "
        "refused (resubmission_is_a_new_version)",
    ),
    _e(
        "PUB-5",
        "a first and a second review by two people other than the author, each with the "
        "SM 5.3.2 checklist, before the sign-off (review_checklist, distinct_reviewers, "
        "author_does_not_review, reviewed_and_signed_off); at both reviews a draft reaches "
        "the inbox of, and is judged by, only the reviewers whose review authority covers "
        "one of its channels, its content type and the stage (scoping review_authority, "
        "review_authority_by_content_type, review_authority_by_stage; the register's post "
        "scope 渠道, 内容类型, 审核环节)",
    ),
    _e(
        "PUB-6",
        "publishing needs the operations manager's sign-off after both reviews "
        "(required_stages reviewed_and_signed_off)",
    ),
    Carried(
        "PUB-7",
        "host",
        "the signed-off piece goes through the publishing serviceTask to every channel "
        "listed; the embedding system's handler posts it",
        duty="provide the publish_to_channels handler that posts the piece to each channel "
        "of data.channels (PC, WAP, APP, WeChat, WeChat Channels, Weibo, Douyin), passing "
        "the idempotency key",
        docs="docs/host.md#channel-publishing-pub-7",
    ),
    _e(
        "PUB-8",
        "a repost names its source and original author (repost_names_its_source) and its "
        "authorization is attested at review (review_checklist)",
    ),
    _r(
        "PUB-9",
        "a published item is classified (category) and archived",
        PUB + "states.published.transitions[0]",
    ),
    _e(
        "PUB-10",
        "the daily cadence check cannot close as regular while an account has had no "
        "publication recorded by the engine for longer than its interval, and its alert "
        "must name exactly the silent accounts and the longest silence those records show "
        "(policies/cadence.yaml: no_silent_account)",
    ),
    _e(
        "PUB-11",
        "a correction passes both reviews and the sign-off by other people and reaches the "
        "channels of the original (correction_keeps_the_channels, "
        "corrector_does_not_review, reviewed_and_signed_off)",
    ),
    _e(
        "PUB-12",
        "revenue permissions are refused at registration, an account found with one stops "
        "publishing, and a piece declaring paid content is refused (no_revenue_permissions, "
        "no_monetization, account_qualified)",
    ),
    _e(
        "CMT-1",
        "a message is routed only once classified: the classification names one of the five "
        "categories (a required choice of classify's form), or the command is refused",
    ),
    _e(
        "CMT-2",
        "a consultation's clock runs 2 working days on the official calendar, warns before "
        "and records the breach",
    ),
    _e(
        "CMT-3",
        "complaints are acknowledged, investigated, resolved, replied to and closed, each "
        "on a deadline set in the YAML",
    ),
    _e(
        "CMT-4",
        "a suggestion is registered; the weekly collation (INS-10) gathers the open ones "
        "into a batch for review",
    ),
    _e(
        "CMT-5",
        "an other message has no deadline; its one way out is an explicit close, recorded "
        "with who closed it (a definition without it is refused at load: a trap state)",
    ),
    _e(
        "CMT-6",
        "abuse is deleted or its author blocked, each with its kind; reporting illegal "
        "content opens a tracked illegal_content_report item, and the message cannot be "
        "closed while that report is open (children_closed)",
    ),
    _p(
        "CMT-7",
        "the history records who replied and when; the report gives the time from receipt "
        "to the first reply",
        "first_reply",
        asks="time-to-first-reply is reported",
    ),
    _e(
        "FLT-1",
        "the report's only route notifies the integrator and the authority in the report's "
        "own transaction (faults.yaml: reported's route, notify); the acknowledgement is "
        "due in 2 working hours and escalates",
    ),
    _e(
        "FLT-2",
        "a suspended service reopens after a fix verified by someone other than the fixer "
        "(fixer_does_not_verify)",
    ),
    _e(
        "FLT-3",
        "the analysis records technical and management causes and corrective actions "
        "(required fields); a path to closing around it is refused at load "
        "(analysed_and_fed_back)",
    ),
    _e(
        "FLT-4",
        "the only way to close feeds the outcome back to the integrator and the authority "
        "(notify); a path around the analysis and the feedback is refused at load "
        "(analysed_and_fed_back)",
    ),
    _e(
        "FLT-5",
        "an anomaly reported on the daily patrol opens a fault item (starts: faults)",
    ),
    _e(
        "EMG-1",
        "a plan missing any of organization, resources, risk identification, assessment, "
        "prevention or response is refused when drafted, and an edit cannot blank one "
        "(required data fields), so only a complete plan reaches the authority",
    ),
    _e(
        "EMG-2",
        "only the authority approves, never the plan's author (permissions, "
        "emergency_plan_author_does_not_approve, plan_approved_before_in_force)",
    ),
    _e(
        "EMG-3",
        "a hot event is notified before it starts, with prepared answers, and acknowledged "
        "by someone else (hot_event_notified_in_advance, "
        "hot_event_notifier_does_not_acknowledge)",
    ),
    _e(
        "EMG-5",
        "a quarterly check closes only while a public-health plan is in force "
        "(public_health_plan_in_force), else it reports the gap and escalates; a declared "
        "emergency opens tracked notice, phone and self-media tasks and closes only when "
        "they are done (public_health_outreach, children_closed)",
    ),
    _e(
        "EMG-4",
        "a plan in force opens a drill after six months (its deadline), each drill "
        "recorded and reviewed",
    ),
    _e(
        "TRN-1",
        "a post's plan names its three trainings (required fields) and approving it starts "
        "them; a quarterly check names every operating post and closes only while each "
        "has a plan in force (schedules: trn_01_training_plan_check; every_post_has_a_plan), "
        "else it reports the gap and escalates",
    ),
    _e(
        "TRN-2",
        "training and assessment records are items of the training workflow; a training "
        "reaches its result only through the assessment, refused without its score and "
        "result (required form fields)",
    ),
    _e(
        "TRN-3",
        "nobody acts in a post without a passed, unexpired post-basics record "
        "(posts_trained, assignees_trained, acceptor_trained)",
    ),
    _e(
        "TRN-4",
        "a passed record expires on its cycle (a deadline) and on a change of skills, each "
        "starting re-training",
    ),
    _p(
        "TRN-5",
        "the report gives the share of staff holding a valid certificate against 50%",
        "certification",
        asks="the engine reports the ratio over **all staff in the register** (STF-1)",
    ),
    _e(
        "TRN-6",
        "an appraisal (STF-4) is scored only when the appraisee's training assessment is "
        "on record (policies/appraisal.yaml: appraisee_assessed); the report's appraisal "
        "section computes each person's assessments, passes, failures and scores from the "
        "training records, and the scorer enters them (not checked against it)",
    ),
    _e(
        "TRN-7",
        "a session on government service, quality, security and confidentiality starts "
        "every 3 months (schedules: trn_07_periodic_training); it is held only with all "
        "four subjects and its attendance, never dropped, and each absent person gets a "
        "catch-up session held with them (workflows/periodic_training.yaml)",
    ),
    _e(
        "ACC-1",
        "an account is registered with its registrant's identity (required) and nothing is "
        "released to it before its official certification (account_qualified: only "
        "operating accounts count)",
    ),
    _e(
        "ACC-2",
        "publishing to an account whose qualification expired, or to a self-media channel "
        "without an operating account, is refused (account_qualified, "
        "self_media_through_qualified_accounts)",
    ),
    _e(
        "ACC-3",
        "one custodian is named on the account; a change is taken by the incoming custodian "
        "themselves (the guard form.custodian == actor.id), who must hold ops_manager - from "
        "the staff register when one is configured (SEC-6) - and stays in the history",
    ),
    _e(
        "ACC-4",
        "an invalid QR code is replaced within 2 working days (deadline, escalation)",
    ),
    _e("INS-1", "the daily patrol is scheduled every day (workflows/schedules.yaml)"),
    _e("INS-2", "the device inspection is scheduled every 6 months"),
    _e("INS-3", "the device activity statistics are scheduled weekly"),
    _e(
        "INS-4",
        "the monthly metrics review is scheduled on the first working day and opens one "
        "analysis per running application of the register (collects), which its integrator "
        "submits against the metric set in force (judged_against_the_metric_set_in_force); "
        "the authority accepts it or raises rectification items and waits for them",
    ),
    _e(
        "INS-5",
        "the monthly statistics are scheduled on the last working day; a platform listed "
        "without its followers is refused; its screenshot is a should (a warning)",
    ),
    _e("INS-6", "the annual evaluation is scheduled once a year"),
    _e(
        "INS-7",
        "the annual targets are scheduled once a year; the proposal records last year's "
        "results computed from the engine's own records (publications per account and "
        "channel, the reads and followers of the monthly statistics, last year's targets "
        "met) and is refused until the manager confirms them, or when a typed figure "
        "differs (policies/targets.yaml: year_results_from_the_store)",
    ),
    _e("INS-8", "the qualification re-check is scheduled quarterly"),
    _e(
        "INS-9",
        "each drill is recorded and accepted by someone else than its recorder "
        "(drill_recorder_does_not_accept)",
    ),
    _e("INS-10", "the suggestion collation is scheduled weekly"),
    _e("INS-11", "the publishing-cadence check is scheduled daily"),
    _e(
        "SUP-1",
        "a message from any channel - the sites and accounts, or the published supervision "
        "channels phone, email, web_form, mini_client - enters the comment workflow with its "
        "channel (required, one of those); the quarterly disclosure review is refused until "
        "the complaint channels are confirmed published (disclosure_complete)",
    ),
    _e(
        "SUP-2",
        "return and telephone visits are scheduled monthly, management and mystery visits "
        "quarterly, an online survey twice a year (workflows/schedules.yaml); each is "
        "recorded within 10 working days, and its findings open rectification items it "
        "waits for (children_closed)",
    ),
    _e(
        "SUP-3",
        "the disclosure review is scheduled quarterly and is confirmed only when the "
        "organisation, services, staff basics and complaint channels are each confirmed "
        "published and current (disclosure_complete)",
    ),
    _e(
        "SUP-4",
        "the quarterly disclosure review warns, and the report counts, when the dispute "
        "rules are not confirmed published (dispute_rules_published, a should)",
    ),
    _e(
        "MON-1",
        "the public-opinion watch is scheduled daily (1 working day, escalated); its "
        "findings open comment items, handled there as abuse (CMT-6), and a crisis also "
        "opens an opinion_incident answered under the emergency plan within 4 working hours",
    ),
    _e(
        "MON-2",
        "the authority's metric set is a versioned record, one version in force at a time "
        "(one_metric_set_in_force); an analysis leaving out one of its metrics, or with none "
        "in force, is refused (requires_record with covers)",
    ),
    _e(
        "APP-1",
        "the application register (workflows/applications.yaml: onboarding, running, "
        "offline) holds one live entry per application; faults, the monthly findings and the "
        "integrators' analyses naming an unknown or offline application are refused "
        "(policies/applications.yaml), and each month every running one is analysed",
    ),
    _e(
        "SEC-1",
        "every command, allowed or refused, writes an audit record in its transaction "
        "(cmc_workflow/engine/audit.py); so do the register's changes, the HTTP API's "
        "refused and good sign-ins and each token issued or revoked "
        "(cmc_workflow/api/tokens.py), and the web console's sign-ins, failures and "
        "rate-limit refusals (cmc_workflow/console/sessions.py); sign-ins of a host's own "
        "users are the host's (docs/host.md#sign-ins-and-identities-sec-1-sec-6)",
    ),
    _e(
        "SEC-6",
        "with the staff register (or a host's identity source) configured, an actor's roles "
        "come from it and a claimed role the person does not hold is refused and audited "
        "(cmc_workflow/staff/identity.py); without one, the host carries identity",
    ),
    _e(
        "STF-1",
        "the staff register holds people, their posts with role, scope, start and end, "
        "qualifications and contacts; every change is audited (cmc_workflow/staff); with "
        "the register as the identity source, a person not filed in it cannot act at all "
        "and a post that ended gives its role no more (cmc_workflow/staff/identity.py); "
        "growth is kept per person as training records and approved appraisals "
        "(workflows/staff_appraisal.yaml); a host that keeps identity itself files its "
        "staff there (docs/host.md#sign-ins-and-identities-sec-1-sec-6)",
    ),
    _e(
        "STF-2",
        "a post's qualification (staff/posts.yaml levels) is checked when someone is put on "
        "it; a person below it is refused (cmc_workflow/staff/register.py)",
    ),
    _e(
        "STF-4",
        "an appraisal cycle starts every 6 months (schedules: stf_04_staff_appraisal); "
        "opening it needs the incentive plan and starts one appraisal per person, scored "
        "on work done, SLA kept and training results, never by or approved by the person, "
        "and the cycle closes only when every appraisal is approved (children_closed); "
        "those figures are computed from the store by the report's appraisal section "
        "(steps taken, SLA clocks stopped in time or late, assessments) and entered by the "
        "scorer (not checked against it)",
    ),
    _e(
        "STF-5",
        "the open work of a person on leave or whose post ended moves, at the runner's next "
        "pass, to the named substitute or the holder of the post with the least open work; "
        "each move is a tracked event (cmc_workflow/engine/tasks.py)",
    ),
    _e(
        "STF-3",
        "a daily check opens one staffing_gap alert item per account without a holder of a "
        "required post and closes it once filled (cmc_workflow/staff/staffing.py)",
    ),
    _e(
        "SEC-2",
        "the audit log and histories are hash-chained; verify names every change "
        "(cmc_workflow/store/verification.py)",
    ),
    _e(
        "SEC-3",
        "personal fields are masked in logs and exports (cmc_workflow/policy/masking.py)",
    ),
    _e(
        "SEC-4",
        "every accepted transition commits in one transaction (SQLite synchronous=FULL); "
        "cmc-workflow backup takes consistent copies of a live database, verifies and "
        "restores them (cmc_workflow/backup); the folder's other site is the host's "
        "(docs/how-to-backup.md)",
        should_missing="primary/standby operation (PostgreSQL streaming replication is "
        "the operator's)",
    ),
    _e(
        "SEC-5",
        "integrators reach only their own applications' items (scoping "
        "integrators_own_applications)",
    ),
    _p(
        "RPT-1",
        "the report exports items per state, SLA per month, overdue work, publications",
        "items",
        "sla",
        "overdue",
        "publications",
        asks="Export operational data for analysis",
    ),
    _e(
        "RPT-2",
        "the evaluation closes only when every rectification item it raised is closed "
        "(children_closed)",
    ),
    _e(
        "RPT-3",
        "the self-assessment records the complaint statistics the engine computed from the "
        "complaint items (received, closed in time or late, hours to close, per month, "
        "channel and outcome) and is refused until the operator confirms them, or when a "
        "typed count differs (policies/evaluation.yaml: "
        "complaint_statistics_from_the_store); the survey is a should (a warning)",
    ),
    _e(
        "PRM-1",
        "a topic is proposed with its content type (活动预告 activity_preview, 馆藏揭示 "
        "collection_reveal, ...), else refused (piece_carries_its_content_type), and may "
        "name its themed series; the report's content_types section counts the publications "
        "per account, month, content type and series",
    ),
    _r(
        "PRM-2",
        "a campaign item holds its kind and dates (launched only when they are in order), "
        "is supported by the operator, links its pieces (whose campaign field names it) and "
        "closes with a summary; integrators reach only their own application's campaigns",
        "workflows/campaign.yaml#data",
        "workflows/campaign.yaml#states.running",
        PUB + "data.campaign",
    ),
)
"""The declared kind of each id that has one, in requirement order."""


def carried_by_id() -> dict[str, Carried]:
    """:data:`CARRIED` by requirement id."""
    return {c.requirement: c for c in CARRIED}
