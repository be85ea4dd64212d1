"""The core's entry point for one check window: message facts + state + now → actions.

Pure: the state arrives as a read-only view, `now` as an argument, and the answer is plain
frozen data. The shell records the answer in one transaction, then performs it. The same plan
is printed by ``poll --dry-run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from boundary_mail.calendar import BusinessCalendar, Promise
from boundary_mail.config import ClientConfig, Config, MailboxConfig
from boundary_mail.directory import Directory, Match
from boundary_mail.facts import MessageFacts
from boundary_mail.policy import ReplyDecision, decide_reply, reply_recipient

REPLY_KIND_WINDOW = "window"


class StateView(Protocol):
    """What the core may ask of the stored state."""

    def last_reply_at(self, sender: str, kind: str) -> datetime | None: ...
    def reply_queued(self, sender: str, kind: str) -> bool: ...
    def is_known_contact(self, address: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class AutoReply:
    """Answer the sender with the response window (and, once, the working agreement)."""

    facts: MessageFacts
    to: str
    from_address: str
    kind: str
    promise: Promise
    client: ClientConfig | None
    contact: str  # the account manager (or triage owner) named in the reply
    first_contact: bool


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """Everything decided about one message, with the reason, for status and --dry-run."""

    facts: MessageFacts
    match: Match
    reply: ReplyDecision
    promise: Promise
    actions: tuple[AutoReply, ...] = ()


@dataclass(slots=True)
class _Batch:
    """Decisions already taken in this window, which the stored state does not show yet."""

    replied: set[tuple[str, str]] = field(default_factory=set)
    welcomed: set[str] = field(default_factory=set)
    seen_ids: set[str] = field(default_factory=set)


def loop_markers(config: Config) -> frozenset[str]:
    """The X-Loop values we write; mail carrying one of them is ours."""
    return frozenset({config.smtp.from_address, *(m.owner for m in config.mailboxes)})


def plan_window(
    messages: Sequence[MessageFacts],
    *,
    config: Config,
    calendar: BusinessCalendar,
    state: StateView,
    now: datetime,
) -> list[MessagePlan]:
    """Decide every new inbox message of one window, oldest first."""
    directory = Directory(config)
    mailboxes = {m.name: m for m in config.mailboxes}
    markers = loop_markers(config)
    batch = _Batch()
    plans = []
    for facts in sorted(messages, key=lambda f: (f.received_at, f.mailbox, f.uid)):
        mailbox = mailboxes[facts.mailbox]
        plans.append(
            _plan_one(facts, mailbox, config, calendar, directory, markers, state, batch, now)
        )
    return plans


def _plan_one(
    facts: MessageFacts,
    mailbox: MailboxConfig,
    config: Config,
    calendar: BusinessCalendar,
    directory: Directory,
    markers: frozenset[str],
    state: StateView,
    batch: _Batch,
    now: datetime,
) -> MessagePlan:
    sender = facts.sender.email if facts.sender else (facts.return_path or "")
    match = directory.match(sender)
    days = _answer_days(config, match.client)
    promise = calendar.promise(facts.received_at, days)
    kind = REPLY_KIND_WINDOW
    recipient = reply_recipient(facts) or ""
    last = state.last_reply_at(recipient, kind) if recipient else None
    decision = decide_reply(
        facts,
        own_addresses=config.team_addresses,
        recipient_addresses=mailbox.own_addresses,
        system_senders=config.response.system_senders,
        loop_markers=markers,
        last_reply_at=last,
        now=now,
        period_days=config.response.auto_reply_days,
    )
    if decision.reply and facts.message_id in batch.seen_ids:
        decision = ReplyDecision(False, "duplicate", "the same message reached another"
                                 " monitored mailbox and was answered there")
    elif decision.reply and (
        (recipient, kind) in batch.replied or state.reply_queued(recipient, kind)
    ):
        decision = ReplyDecision(False, "rate-limited", "an auto-reply to this sender is"
                                 " already on its way in this period")
    elif decision.reply and not config.response.auto_reply:
        decision = ReplyDecision(False, "disabled", "auto-replies are switched off"
                                 " (response.auto_reply = false)")
    batch.seen_ids.add(facts.message_id)
    actions: tuple[AutoReply, ...] = ()
    if decision.reply:
        batch.replied.add((recipient, kind))
        first = (
            match.client is not None
            and config.response.first_contact != "off"
            and recipient not in batch.welcomed
            and not state.is_known_contact(recipient)
        )
        if first:
            batch.welcomed.add(recipient)
        actions = (
            AutoReply(
                facts=facts,
                to=recipient,
                from_address=mailbox.owner,
                kind=kind,
                promise=promise,
                client=match.client,
                contact=match.owner,
                first_contact=first,
            ),
        )
    return MessagePlan(facts=facts, match=match, reply=decision, promise=promise,
                       actions=actions)


def _answer_days(config: Config, client: ClientConfig | None) -> int:
    if client is not None and client.answer_within_business_days is not None:
        return client.answer_within_business_days
    return config.response.answer_within_business_days
