"""The digest's data: the snapshot the shell reads for it, and the digest built from it.

Plain frozen dataclasses, shared by the three parties of a digest without their knowing one
another: `digest_job` (the shell) fills a `DigestData`, `digest.build_digests` (the rules)
turns it into one `Digest` per recipient, and `digest_render` writes a digest as mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from babel.dates import format_date

from boundary_mail.tracking import TrackedItem
from boundary_mail.waiting import WaitingItem
from boundary_mail.waiting_figures import ClientWait, TurnFigures

LOAD_DAYS = 30
WAITING_LISTED = 50  # oldest items listed one by one; the rest are counted (size, speed)
SHORT_DAYS = 7


def over_allowance(messages: float, allowance: float | None) -> bool:
    """More messages than the agreement includes (no allowance: never over)."""
    return allowance is not None and messages > allowance


# -- the snapshot the shell reads -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ItemRecord:
    item: TrackedItem
    created_at: datetime  # when the assistant started tracking it (routed "today" uses this)


@dataclass(frozen=True, slots=True)
class FollowupRecord:
    client: str
    owner: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class SentRecord:
    """A sent auto-reply, reminder or escalation, with the tracked item it concerns."""

    kind: str
    source_message_id: str
    recipients: tuple[str, ...]
    sent_at: datetime
    step: int
    owner: str  # the item's owner; "" if the source message is not tracked
    mailbox: str  # the mailbox the source message arrived in; "" if unknown
    client: str = ""
    sender: str = ""
    subject: str = ""


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A decided message: `rule` is the auto-reply policy slug ("reply" when answered)."""

    mailbox: str
    rule: str
    reason: str
    recorded_at: datetime
    owner: str  # the item's owner; "" if the message is not tracked


@dataclass(frozen=True, slots=True)
class UnreadMailbox:
    """A monitored mailbox the last window could not read: its mail waits unseen."""

    mailbox: str
    owner: str
    last_read: datetime | None  # None: never read
    error: str


@dataclass(frozen=True, slots=True)
class FailedRoute:
    """A client message that could not be passed on to its point of contact (refused for
    good): the owner of the mailbox it arrived in was alerted; the digest says so too."""

    message_id: str
    mailbox: str  # where it arrived (and still lies)
    folder: str
    owner: str  # that mailbox's owner ("" until the shell knows the configuration)
    to: str  # the point of contact it was meant for
    sender: str
    subject: str
    error: str
    failed_at: datetime | None  # when the failure was noticed (its alert queued)


@dataclass(frozen=True, slots=True)
class DigestData:
    items: tuple[ItemRecord, ...] = ()
    followups: tuple[FollowupRecord, ...] = ()
    sent: tuple[SentRecord, ...] = ()
    decisions: tuple[DecisionRecord, ...] = ()
    unread: tuple[UnreadMailbox, ...] = ()
    failed_routes: tuple[FailedRoute, ...] = ()  # noticed in the last day
    # Waiting on clients (see waiting_figures): open waits and those of this and last month,
    # with the tracked items of the same months (our turns).
    waits: tuple[WaitingItem, ...] = ()
    turn_items: tuple[TrackedItem, ...] = ()


# -- the digest -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Waiting:
    item: TrackedItem
    age: timedelta
    overdue: bool


@dataclass(frozen=True, slots=True)
class RuleCount:
    rule: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class ClientLoad:
    client: str  # "" for unassigned senders
    allowance: int | None
    messages_7: int
    messages_30: int
    followups_7: int
    followups_30: int
    after_hours_7: int
    after_hours_30: int
    daily_messages: tuple[int, ...]  # LOAD_DAYS values, oldest first
    daily_followups: tuple[int, ...]

    @property
    def label(self) -> str:
        return self.client or "(unassigned senders)"

    @property
    def allowance_7(self) -> float | None:
        return None if self.allowance is None else self.allowance * SHORT_DAYS / LOAD_DAYS

    @property
    def over_7(self) -> bool:
        return over_allowance(self.messages_7, self.allowance_7)

    @property
    def over_30(self) -> bool:
        return over_allowance(self.messages_30, self.allowance)

    @property
    def over(self) -> bool:
        return self.over_7 or self.over_30

    @property
    def after_hours_share(self) -> int:
        """Percent of the 30-day messages that arrived outside business hours."""
        return round(100 * self.after_hours_30 / self.messages_30) if self.messages_30 else 0


@dataclass(frozen=True, slots=True)
class Digest:
    recipient: str
    recipient_name: str
    is_lead: bool
    now: datetime  # local
    days: tuple[date, ...]  # the LOAD_DAYS local days of the chart, oldest first
    waiting: tuple[Waiting, ...]
    escalated: tuple[SentRecord, ...]
    acknowledged: tuple[TrackedItem, ...]
    routed: tuple[TrackedItem, ...]
    new_today: int
    followups_today: int
    auto_replies_sent: int
    suppressed: tuple[RuleCount, ...]
    clients: tuple[ClientLoad, ...]
    unread: tuple[UnreadMailbox, ...] = ()  # mailboxes the last window could not read
    failed_routes: tuple[FailedRoute, ...] = ()  # client mail that could not be passed on
    waiting_on_clients: tuple[ClientWait, ...] = ()  # open waits, oldest first
    turns: tuple[TurnFigures, ...] = ()  # their median wait vs ours, per client and month

    @property
    def day(self) -> date:
        return self.now.date()

    @property
    def overdue(self) -> int:
        return sum(w.overdue for w in self.waiting)

    @property
    def waiting_listed(self) -> tuple[Waiting, ...]:
        """The oldest WAITING_LISTED items: a backlog of thousands stays a readable mail."""
        return self.waiting[:WAITING_LISTED]

    @property
    def waiting_more(self) -> int:
        return max(0, len(self.waiting) - WAITING_LISTED)

    @property
    def reminders(self) -> tuple[SentRecord, ...]:
        """Today's ladder mail to the point of contact: "no answer yet"."""
        return tuple(s for s in self.escalated if s.kind == "reminder")

    @property
    def escalations(self) -> tuple[SentRecord, ...]:
        """Today's ladder mail past the point of contact (to a backup or the lead)."""
        return tuple(s for s in self.escalated if s.kind != "reminder")

    @property
    def suppressed_total(self) -> int:
        return sum(r.count for r in self.suppressed)

    @property
    def over_allowance(self) -> tuple[ClientLoad, ...]:
        return tuple(c for c in self.clients if c.over)

    @property
    def empty(self) -> bool:
        return not (
            self.waiting or self.escalated or self.acknowledged or self.routed
            or self.new_today or self.followups_today or self.auto_replies_sent
            or self.suppressed or self.unread or self.failed_routes or self.waiting_on_clients
        )

    def should_send(self, send_empty: bool) -> bool:
        return send_empty or not self.empty

    @property
    def dedupe_key(self) -> str:
        """One digest per recipient per local day, whatever restarts in between."""
        return f"digest:{self.recipient}:{self.day.isoformat()}"

    def subject(self, locale: str) -> str:
        day = format_date(self.day, "EEE d MMM", locale=locale)
        if not self.waiting:
            summary = "nothing waiting"
        else:
            summary = f"{len(self.waiting)} waiting"
            if self.overdue:
                summary += f", {self.overdue} overdue"
        return f"Digest for {self.recipient_name} · {day}: {summary}"
