"""The escalation ladder: what is due for an unacknowledged item at `now`. Pure.

Each configured step fires once, `after_business_hours` business hours after the deadline the
auto-reply promised (the same `BusinessCalendar.promise_at` calculation), so the promise to the
client and the reminder to the team can never disagree. A step notifies the account manager
(a *reminder*), the account manager's backup, or the lead (an *escalation*). Steps already
queued are counted on the item (`ladder_step`); an acknowledgment at any time closes the item,
which stops the ladder. After an outage, every step that fell due is still sent, in order:
nothing is lost, nothing repeats.

Nobody is told twice about one item. A step whose recipient an earlier step already notified
(the lead who owns unassigned mail, reminded at the deadline, is not then "escalated" to
himself) goes to the owner's backup instead, if there is one not yet told; otherwise the step
is *skipped*: it is taken (the item climbs past it) and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import EscalationStep, TeamConfig
from boundary_mail.tracking import TrackedItem


@dataclass(frozen=True, slots=True)
class LadderStep:
    """Notify `to` that `item` is still unanswered."""

    item: TrackedItem
    step: int  # 1-based position in the configured ladder
    notify: str  # "account_manager" | "backup" | "lead"
    to: str
    due_at: datetime
    overdue_hours: float  # business hours past the deadline at `now`

    @property
    def kind(self) -> str:
        return "reminder" if self.notify == "account_manager" else "escalation"

    @property
    def skipped(self) -> bool:
        """Everyone this step could tell was told by an earlier one: nothing to send."""
        return not self.to

    @property
    def dedupe_key(self) -> str:
        return f"ladder:{self.item.message_id}:{self.step}"


def recipient(notify: str, owner: str, team: TeamConfig) -> str:
    """Who a step notifies: the owner, the owner's backup (else the lead), or the lead."""
    if notify == "account_manager":
        return owner
    if notify == "backup":
        member = team.member(owner)
        return member.backup if member and member.backup else team.lead
    return team.lead


def recipients(
    steps: Sequence[EscalationStep], owner: str, team: TeamConfig
) -> list[str]:
    """Who each step tells ("" for a skipped step): its own recipient unless an earlier step
    told them already, then the owner's backup unless told already, else nobody."""
    member = team.member(owner)
    backup = member.backup if member else None
    told: set[str] = set()
    out = []
    for step in steps:
        to = recipient(step.notify, owner, team)
        if to in told:
            to = backup if backup and backup not in told else ""
        told.add(to)
        out.append(to)
    return out


def due_steps(
    items: Iterable[TrackedItem],
    *,
    steps: Sequence[EscalationStep],
    calendar: BusinessCalendar,
    team: TeamConfig,
    now: datetime,
) -> list[LadderStep]:
    """Every step that is due and not yet taken, oldest item first, steps in order."""
    due: list[LadderStep] = []
    for item in sorted(items, key=lambda i: (i.received_at, i.message_id)):
        if not item.is_open or now < item.deadline:
            continue
        overdue = calendar.business_hours_between(item.deadline, now)
        told = recipients(steps, item.owner, team)
        for number, step in enumerate(steps, start=1):
            if number <= item.ladder_step:
                continue
            at = calendar.add_business_hours(item.deadline, step.after_business_hours)
            if now < at:
                break
            due.append(
                LadderStep(
                    item=item, step=number, notify=step.notify,
                    to=told[number - 1], due_at=at,
                    overdue_hours=overdue,
                )
            )
    return due
