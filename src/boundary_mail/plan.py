"""The plan of one check window, as plain data: what the shell will record, send and flag.

Pure. The shell reads a folder batch and hands the core its facts; the core answers with a
plan per batch (`InboxPlan`, `SentPlan`), per mailbox (`\\Answered` acknowledgments) and per
window (`LadderPlan`). The rules that decide *what* happens live here, not in the shell:

- **First sync.** Mail older than `FIRST_SYNC_LOOKBACK` at the first sync of a folder is the
  baseline: remembered, never answered (installing boundary-mail never answers old mail).
- **UIDVALIDITY change.** The folder is read again; a message known by Message-ID keeps its
  record (under its new UID) and is not decided again.
- **Acknowledgment.** A team reply in a Sent folder, an inbox copy of one whose author our
  own server vouches for (Authentication-Results, see `decide`), the `\\Answered` flag on
  any copy of an open item, or `boundary-mail ack`.
- **The ladder waits for an unread mailbox.** When the owner's mailbox could not be read in
  this window, their reply may be there: their steps are held until a window reads it.

The real run executes the plan; ``poll --dry-run`` prints the same plan and executes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from boundary_mail.actions import MessagePlan, Redirect
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import Config
from boundary_mail.decide import Planner, WindowMemory
from boundary_mail.facts import MessageFacts
from boundary_mail.ladder import LadderStep, due_steps
from boundary_mail.snapshot import SnapshotKeys, StateSnapshot, keys_for
from boundary_mail.tracking import Acknowledgment, TrackedItem, is_answered
from boundary_mail.waiting import NO_WAIT_CHANGES, WaitChanges

FIRST_SYNC_LOOKBACK = timedelta(hours=24)
ROUTED_KEYWORD = "$Routed"


@dataclass(frozen=True, slots=True)
class FolderRead:
    """One batch of a folder as the shell read it."""

    mailbox: str
    folder: str
    uidvalidity: int
    messages: tuple[MessageFacts, ...]
    skipped: tuple[tuple[int, str], ...]  # (uid, why it could not be read)
    top_uid: int  # the highest UID fetched (read or not)
    stored_last_uid: int  # the high-water mark stored before this batch (0: none)
    first_sync: bool  # the folder had never been read
    rebaseline: bool  # UIDVALIDITY changed: known Message-IDs are not new

    @property
    def last_uid(self) -> int:
        """The high-water mark to store once this batch is committed."""
        return max(self.top_uid, 0 if self.rebaseline else self.stored_last_uid)


@dataclass(frozen=True, slots=True)
class BaselineRow:
    """A message that was there before boundary-mail: remembered, never answered."""

    mailbox: str
    folder: str
    message_id: str
    uid: int
    received_at: datetime
    sender: str | None
    subject: str


@dataclass(frozen=True, slots=True)
class InboxPlan:
    """Everything one inbox batch asks for, committed in one transaction."""

    read: FolderRead
    baseline: tuple[BaselineRow, ...] = ()
    baseline_contacts: frozenset[str] = frozenset()
    renumbered: tuple[tuple[str, int], ...] = ()  # (message_id, new uid) after a rebaseline
    decisions: tuple[MessagePlan, ...] = ()
    waits: WaitChanges = NO_WAIT_CHANGES  # waits on clients started and ended (see waiting)

    @property
    def acknowledgments(self) -> tuple[Acknowledgment, ...]:
        return tuple(p.acknowledges for p in self.decisions if p.acknowledges is not None)

    @property
    def redirects(self) -> tuple[Redirect, ...]:
        """What is passed on. Each is queued with the batch; `$Routed` (ROUTED_KEYWORD) is set
        on its copy only once the route succeeded (see `routes`), never at the commit."""
        return tuple(p.redirect for p in self.decisions if p.redirect is not None)


@dataclass(frozen=True, slots=True)
class TeamReply:
    """A message a team member sent to someone outside the team (found in a Sent folder):
    the work the cost report counts as a reply to that client."""

    message_id: str
    mailbox: str
    folder: str
    author: str
    recipients: tuple[str, ...]  # the recipients outside the team
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class SentPlan:
    read: FolderRead
    acknowledgments: tuple[Acknowledgment, ...] = ()
    replies: tuple[TeamReply, ...] = ()  # recorded for the cost report
    waits: WaitChanges = NO_WAIT_CHANGES


@dataclass(frozen=True, slots=True)
class LadderPlan:
    steps: tuple[LadderStep, ...] = ()
    held: tuple[LadderStep, ...] = ()  # due, but the owner's mailbox could not be read
    skipped: tuple[LadderStep, ...] = ()  # taken, nothing sent: everyone was told already

    @property
    def taken(self) -> tuple[LadderStep, ...]:
        """The steps the items climb past in this window, each item's in order."""
        return tuple(sorted((*self.steps, *self.skipped),
                            key=lambda s: (s.item.message_id, s.step)))


@dataclass(slots=True)
class InboxSplit:
    """An inbox batch sorted into the baseline, the already known and the new."""

    baseline: list[MessageFacts] = field(default_factory=list)
    known: list[MessageFacts] = field(default_factory=list)
    fresh: list[MessageFacts] = field(default_factory=list)


def sender_of(facts: MessageFacts) -> str | None:
    """Who a message is recorded as coming from: From, else the Return-Path."""
    return facts.sender.email if facts.sender else facts.return_path


def addresses_of(facts: MessageFacts) -> set[str]:
    """The addresses a message came from (From and Return-Path): they become known contacts."""
    return {a for a in (facts.sender.email if facts.sender else "", facts.return_path) if a}


def baseline_cutoff(read: FolderRead, now: datetime) -> datetime | None:
    """Mail received before this instant is only recorded (None: nothing is baseline)."""
    return now - FIRST_SYNC_LOOKBACK if read.first_sync else None


def split_inbox(read: FolderRead, known_ids: Iterable[str], now: datetime) -> InboxSplit:
    cutoff, known = baseline_cutoff(read, now), set(known_ids)
    split = InboxSplit()
    for facts in read.messages:
        if cutoff is not None and facts.received_at < cutoff:
            split.baseline.append(facts)
        elif facts.message_id in known:
            split.known.append(facts)
        else:
            split.fresh.append(facts)
    return split


def inbox_keys(split: InboxSplit) -> SnapshotKeys:
    return keys_for(split.fresh)


def plan_inbox(
    split: InboxSplit, read: FolderRead, snapshot: StateSnapshot, planner: Planner
) -> InboxPlan:
    baseline_contacts = frozenset(a for f in split.baseline for a in addresses_of(f))
    # The window's later batches know these senders, as the store will once this commits.
    planner.memory.contacts.update(baseline_contacts)
    return InboxPlan(
        read=read,
        baseline=tuple(
            BaselineRow(f.mailbox, f.folder, f.message_id, f.uid, f.received_at, sender_of(f),
                        f.subject)
            for f in split.baseline
        ),
        baseline_contacts=baseline_contacts,
        renumbered=tuple((f.message_id, f.uid) for f in split.known),
        decisions=tuple(planner.plan_inbox(split.fresh, snapshot)),
    )


def plan_sent(read: FolderRead, snapshot: StateSnapshot, planner: Planner) -> SentPlan:
    return SentPlan(
        read, tuple(planner.plan_sent(read.messages, snapshot)),
        team_replies(read, planner.config.team_addresses, planner.now),
    )


def team_replies(
    read: FolderRead, team: frozenset[str], now: datetime
) -> tuple[TeamReply, ...]:
    """What a Sent folder shows the team wrote to people outside it. Not our own mail (it
    carries our marker), not mail among the team, and not mail older than the lookback in a
    first sync or a re-read after a UIDVALIDITY change: inbound mail from before
    boundary-mail is never counted, neither are the replies to it (a re-read folder's
    recent replies are recorded once: by Message-ID)."""
    fresh_read = read.first_sync or read.rebaseline
    cutoff = now - FIRST_SYNC_LOOKBACK if fresh_read else None
    found = []
    for facts in read.messages:
        author = facts.sender.email if facts.sender else ""
        if facts.our_marker or author not in team:
            continue
        if cutoff is not None and facts.received_at < cutoff:
            continue
        outside = tuple(dict.fromkeys(a.email for a in facts.recipients if a.email not in team))
        if outside:
            found.append(TeamReply(facts.message_id, read.mailbox, read.folder, author, outside,
                                   min(facts.received_at, now)))
    return tuple(found)


def answered_candidates(
    stored: Iterable[tuple[int, str]], memory: WindowMemory, mailbox: str, folder: str,
) -> list[tuple[int, str]]:
    """(uid, message_id) of the copies in this folder whose \\Answered flag must be read to
    know whether it closes an open item: the stored ones, except those this window read
    anyway (their flags came with them, see `answered_on_arrival`)."""
    read_now = {(uid, mid) for box, name, uid, mid in memory.copies
                if box == mailbox and name == folder}
    return [(uid, mid) for uid, mid in dict.fromkeys(stored)
            if (uid, mid) not in read_now and mid not in memory.acknowledged]


def plan_answered(
    copies: Sequence[tuple[int, str]], flags: dict[int, tuple[str, ...]], planner: Planner,
    *, mailbox: str, folder: str, stored_open: Iterable[str],
) -> list[Acknowledgment]:
    """Open items whose copy carries \\Answered: read now (`flags`) or when it arrived in
    this window (a reply from a phone before the window ran)."""
    memory = planner.memory
    still_open = set(stored_open) | set(memory.tracked)
    arrived = [mid for box, name, _, mid in sorted(memory.answered_on_arrival)
               if box == mailbox and name == folder and mid in still_open]
    return planner.acknowledge(
        Acknowledgment(mid, planner.now, "answered-flag")
        for mid in [*(mid for uid, mid in copies if is_answered(flags.get(uid, ()))), *arrived]
    )


def plan_ladder(
    stored_due: Iterable[TrackedItem], memory: WindowMemory, *, unread_owners: set[str],
    config: Config, calendar: BusinessCalendar, now: datetime,
) -> LadderPlan:
    """The escalation steps due now over every open item, including those this window
    started, excluding those it acknowledged."""
    items = {i.message_id: i for i in memory.tracked.values() if i.deadline <= now}
    items.update((i.message_id, i) for i in stored_due)
    steps = due_steps(
        (i for i in items.values() if i.message_id not in memory.acknowledged),
        steps=config.escalation.steps, calendar=calendar, team=config.team, now=now,
    )
    return LadderPlan(
        steps=tuple(s for s in steps if s.item.owner not in unread_owners and not s.skipped),
        held=tuple(s for s in steps if s.item.owner in unread_owners),
        skipped=tuple(s for s in steps if s.item.owner not in unread_owners and s.skipped),
    )
