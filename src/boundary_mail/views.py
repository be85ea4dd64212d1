"""What a person reads on the terminal: a window's report and the state's status."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from boundary_mail.actions import ContactNote, Redirect, UrgentAlert
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import Config
from boundary_mail.report import WindowReport
from boundary_mail.sign_ins import sign_in_lines
from boundary_mail.store import Store
from boundary_mail.templates import format_when
from boundary_mail.upcoming import next_digest, next_windows
from boundary_mail.waiting_status import format_waiting

SUBJECT_WIDTH = 60


def format_report(report: WindowReport, config: Config, *, dry_run: bool) -> str:
    """What a window did (or, with --dry-run, would do), for a person to read."""
    tz, language = config.tz, config.default_language
    lines = [
        f"check window at {report.now.astimezone(tz):%Y-%m-%d %H:%M %Z}"
        + (" (dry run: nothing sent or recorded)" if dry_run else ""),
        f"  fetched {report.fetched}, new {len(report.plans)}, baseline {report.baseline},"
        f" skipped {len(report.skipped)}",
    ]
    for plan in report.plans:
        facts = plan.facts
        sender = facts.sender.email if facts.sender else facts.return_path or "?"
        lines.append(
            f"  [{facts.mailbox}] {facts.received_at.astimezone(tz):%a %H:%M} from {sender}"
            f" → {plan.match.owner} ({plan.match.how})"
        )
        verdict = "auto-reply" if plan.reply.reply else f"no reply ({plan.reply.rule})"
        lines.append(f"      {verdict}: {plan.reply.reason}")
        if plan.track is not None:
            lines.append(
                f"      tracked for {plan.track.owner}: read"
                f" {format_when(plan.promise.read_at.astimezone(tz), language)};"
                f" answer by {format_when(plan.promise.answer_by.astimezone(tz), language)}"
            )
        if plan.followup_of is not None:
            lines.append(f"      follow-up of {plan.followup_of} (counted, not a new item)")
        if plan.acknowledges is not None:
            lines.append(f"      acknowledges {plan.acknowledges.root_id}")
        for action in plan.actions:
            if isinstance(action, Redirect) and action.via == "imap":
                lines.append(f"      routed by IMAP to {action.mailbox}'s inbox ({action.to},"
                             " its point of contact)")
            elif isinstance(action, Redirect):
                lines.append(f"      redirected to {action.to} (its point of contact)")
            elif isinstance(action, UrgentAlert):
                lines.append(f"      URGENT ({action.why}): alert to {', '.join(action.to)}")
            elif isinstance(action, ContactNote):
                lines.append(f"      contact note: {action.contact} is their point of contact")
    for ack in report.acknowledged:
        if not any(p.acknowledges == ack for p in report.plans):
            lines.append(f"  acknowledged {ack.root_id} ({ack.how})")
    for step in report.ladder:
        lines.append(
            f"  {step.kind} (step {step.step}) to {step.to}: {step.item.client or 'unassigned'}"
            f" {step.item.sender}, due since"
            f" {format_when(step.item.deadline.astimezone(tz), language)}"
        )
    for step in report.held:
        lines.append(
            f"  {step.kind} (step {step.step}) to {step.to} held: {step.item.owner}'s mailbox"
            " could not be read in this window (their reply may be there)"
        )
    lines.extend(f"  {line}" for line in report.waiting)
    for mailbox, uid, reason in report.skipped:
        lines.append(f"  [{mailbox}] uid {uid} skipped: {reason}")
    if dry_run:
        for out in report.would_send:
            lines.append(f"  --- would send ({out.kind}) to {', '.join(out.recipients)} ---")
            lines.append(_indent(out.preview()))
    else:
        lines.append(f"  queued {report.queued}, sent {report.sent}, failed {report.failed}"
                     + (f", maybe delivered {report.uncertain}" if report.uncertain else ""))
    for error in report.errors:
        lines.append(f"  error: {error}")
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())


def shown_subject(subject: str, width: int = SUBJECT_WIDTH) -> str:
    """A subject for one terminal line: control and format characters (line breaks, escape
    sequences, bidi overrides) dropped, whitespace runs made one space, and cut to `width`
    characters with an ellipsis."""
    kept = "".join(
        " " if c.isspace() else c for c in subject
        if c.isspace() or not unicodedata.category(c).startswith("C")
    )
    text = " ".join(kept.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def format_schedule(config: Config, now: datetime) -> list[str]:
    """The next two check windows and the next digest, in the configured zone."""
    calendar = BusinessCalendar.from_config(config.schedule, config.tz)
    try:
        windows = next_windows(calendar, now, 2)
        digest = next_digest(calendar, config.schedule.digest_time, now)
    except ValueError as exc:  # no business day within the search: say so, show the rest
        return [f"next check windows: none ({exc})"]
    return [
        "next check windows: " + ", ".join(f"{w:%a %Y-%m-%d %H:%M %Z}" for w in windows),
        f"next digest: {digest:%a %Y-%m-%d %H:%M %Z}",
    ]


def format_status(store: Store, config: Config, now: datetime) -> str:
    """Open items by owner (age, deadline, ladder step, subject), then the outgoing queue,
    then when the next check windows and the next digest run."""
    tz, language = config.tz, config.default_language
    pending = store.pending_actions()
    failed = [a for a in store.actions() if a.status == "failed"]
    lines = [
        f"state: {config.state_file} (schema {store.schema_version})",
        f"messages seen: {store.message_count()}  (decided {store.message_count('decided')},"
        f" baseline {store.message_count('baseline')}, skipped {len(store.skipped())})",
    ]
    for health in store.mailbox_health():
        if health.failed_at is not None:
            since = (format_when(health.last_ok_at.astimezone(tz), language)
                     if health.last_ok_at else "it was set up")
            lines.append(f"mailbox {health.mailbox}: not read since {since}: {health.error}")
    lines.extend(f"sign-in: {line}" for line in sign_in_lines(config, oauth2_only=True))
    items = store.open_items()
    lines.append(f"open items: {len(items)}")
    steps = len(config.escalation.steps)
    for owner in sorted({i.owner for i in items}):
        mine = [i for i in items if i.owner == owner]
        lines.append(f"  {owner}: {len(mine)} open")
        for item in mine:
            hours = (now - item.received_at).total_seconds() / 3600
            age = f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} h"
            overdue = "  OVERDUE" if now >= item.deadline else ""
            flags = "".join([
                " urgent" if item.urgent else "",
                f" follow-ups {item.followups}" if item.followups else "",
                f" routed from {item.routed_from}" if item.routed_from else "",
            ])
            lines.append(
                f"    {item.message_id}  {item.client or 'unassigned'} {item.sender}"
                f"  age {age}  answer by {format_when(item.deadline.astimezone(tz), language)}"
                f"  ladder {item.ladder_step}/{steps}{flags}{overdue}"
            )
            lines.append(f"      subject: {shown_subject(item.subject) or '(none)'}")
    lines.append(f"queued to send: {len(pending)}")
    for action in pending:
        lines.append(
            f"  {action.kind} to {', '.join(action.recipients)} (attempts {action.attempts}"
            + (f", last error: {action.last_error}" if action.last_error else "") + ")"
        )
    uncertain = store.uncertain_actions()
    if uncertain:
        lines.append(f"maybe delivered (no answer after handing it over): {len(uncertain)}")
        for action in uncertain:
            again = ("sent once more, not again" if action.resends
                     else "will be sent once more at the next window")
            lines.append(f"  {action.kind} to {', '.join(action.recipients)}: {again}")
    if failed:
        lines.append(f"refused for good: {len(failed)}")
        for action in failed:
            lines.append(f"  {action.kind} to {', '.join(action.recipients)}: {action.last_error}")
    lines.extend(format_waiting(store, config, now))
    lines.extend(format_schedule(config, now))
    return "\n".join(lines)
