"""The core's decisions about the mail of one check window: facts + snapshot + now → plans.

Pure: the stored state arrives as an immutable `StateSnapshot` per batch, `now` as an
argument, and the answer is plain frozen data (see `actions`). A `Planner` lives for one
window and remembers what it decided in earlier batches (`WindowMemory`), so a dry run, which
commits nothing, decides exactly what a real run does. For each new inbox message the plan
says whether to auto-reply (see `policy`), who owns it (see `directory`), whether to redirect
it to the client's account manager and tell the client who that is, whether it is urgent,
and whether it starts a tracked item, is a follow-up of one, or acknowledges one (a team
member's reply, which in an inbox must be proven theirs: see `tracking.inbox_reply_doubt`).

A message that answers one of our own automatic messages (its In-Reply-To/References name the
Message-ID of an auto-reply or a contact note of ours, stored or planned in this window) is
never auto-answered (RFC 3834 §2: a responder that answers responses loops; a robot that
changes its Return-Path with every message slips past the rate limit). It belongs to the
thread of the message our auto-reply answered: a follow-up of its item while that is open;
once it is closed, a new item unless a robot rule recognised it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from boundary_mail.actions import (
    Action,
    AutoReply,
    ContactNote,
    MessagePlan,
    Redirect,
    UrgentAlert,
)
from boundary_mail.calendar import BusinessCalendar, Promise
from boundary_mail.config import ClientConfig, Config, MailboxConfig
from boundary_mail.directory import Directory, Match
from boundary_mail.facts import MessageFacts
from boundary_mail.ids import auto_reply_message_id, contact_note_message_id, reused_identity
from boundary_mail.memory import WindowMemory
from boundary_mail.policy import ReplyDecision, decide_reply, reply_recipient
from boundary_mail.snapshot import (
    NOTE_KIND_CONTACT,
    REPLY_KIND_WINDOW,
    StateSnapshot,
)
from boundary_mail.tracking import (
    Acknowledgment,
    TrackedItem,
    inbox_reply_doubt,
    is_answered,
    team_reply_acknowledges,
)

__all__ = [
    "NOTE_KIND_CONTACT", "REPLY_KIND_WINDOW", "REPLY_TO_OURS", "ROBOT_RULES", "Action",
    "AutoReply",
    "ContactNote", "MessagePlan", "Planner", "Redirect", "UrgentAlert", "WindowMemory",
    "is_urgent", "loop_markers", "plan_window",
]

# Rules that say "a machine sent this": such mail is never tracked, routed or alerted on.
# A person's mail that only may not be answered (rate-limited, not addressed, no Return-Path)
# is still tracked: nothing a client writes may fall through the cracks.
ROBOT_RULES = frozenset({
    "loop", "our-own-mail", "null-return-path", "list-header", "auto-submitted", "precedence",
    "x-auto-response-suppress", "system-sender", "delivery-report",
})
# The rule of a message that answers our own auto-reply or note: never answered (RFC 3834 §2).
REPLY_TO_OURS = "reply-to-our-auto-reply"


def loop_markers(config: Config) -> frozenset[str]:
    """The X-Loop values we write; mail carrying one of them is ours."""
    return frozenset({config.smtp.from_address, *(m.owner for m in config.mailboxes)})


def plan_window(
    messages: Sequence[MessageFacts],
    *,
    config: Config,
    calendar: BusinessCalendar,
    state: StateSnapshot,
    now: datetime,
) -> list[MessagePlan]:
    """Decide one batch of new inbox messages in a fresh window, oldest first."""
    return Planner(config, calendar, now).plan_inbox(messages, state)


def is_urgent(facts: MessageFacts, config: Config, client: ClientConfig | None) -> str:
    """Why a message is urgent ("" if it is not): a VIP sender or client, or an urgent
    keyword as a whole word in the subject or the start of the text (case-insensitive)."""
    sender = facts.sender.email if facts.sender else (facts.return_path or "")
    if sender in config.urgent.vip_senders:
        return "VIP sender"
    if client is not None and client.vip:
        return f"VIP client {client.name}"
    for keyword in config.urgent.keywords:
        word = re.compile(rf"(?<!\w){re.escape(keyword)}(?!\w)", re.IGNORECASE)
        if word.search(facts.subject):
            return f"urgent keyword {keyword!r} in the subject"
        if word.search(facts.preview):
            return f"urgent keyword {keyword!r} in the text"
    return ""


class Planner:
    """Decides the mail of one check window, batch by batch, each against its own snapshot."""

    def __init__(self, config: Config, calendar: BusinessCalendar, now: datetime) -> None:
        self.config = config
        self.calendar = calendar
        self.now = now
        self.directory = Directory(config)
        self.mailboxes = {m.name: m for m in config.mailboxes}
        self.monitored = {a: m.name for m in reversed(config.mailboxes) for a in m.own_addresses}
        self.markers = loop_markers(config)
        self.memory = WindowMemory()
        self.state = StateSnapshot()

    def plan_inbox(
        self, messages: Sequence[MessageFacts], snapshot: StateSnapshot
    ) -> list[MessagePlan]:
        """Every new inbox message of one batch, oldest first."""
        self.state = snapshot
        ordered = sorted(messages, key=lambda f: (f.received_at, f.mailbox, f.uid))
        return [self._plan_safely(facts) for facts in ordered]

    def plan_sent(
        self, messages: Sequence[MessageFacts], snapshot: StateSnapshot
    ) -> list[Acknowledgment]:
        """Team replies found in a Sent folder acknowledge the open items they answer."""
        self.state = snapshot
        acks: list[Acknowledgment] = []
        for facts in sorted(messages, key=lambda f: (f.received_at, f.uid)):
            ack = team_reply_acknowledges(
                facts, team_addresses=self.config.team_addresses, open_root=self._open_root,
                now=self.now,
            )
            if ack is not None:
                self.memory.acknowledged.add(ack.root_id)
                acks.append(ack)
        return acks

    def acknowledge(self, acks: Iterable[Acknowledgment]) -> list[Acknowledgment]:
        """The acknowledgments (\\Answered, by hand) of items this window has not closed yet."""
        fresh = []
        for ack in acks:
            if ack.root_id not in self.memory.acknowledged:
                self.memory.acknowledged.add(ack.root_id)
                fresh.append(ack)
        return fresh

    def may_redirect(self, facts: MessageFacts) -> Redirect | None:
        """How this message would be passed on if it is new (None: it would not be): the
        shell reads the original of these before deciding (and, for a relay, its size
        limit), so deciding and committing need no I/O in between."""
        sender = facts.sender.email if facts.sender else (facts.return_path or "")
        match = self.directory.match(sender)
        return self._route(facts, self.mailboxes[facts.mailbox], match)

    def _plan_safely(self, facts: MessageFacts) -> MessagePlan:
        """One message that trips an unforeseen bug must not stop the window (and, since
        nothing would be committed, every window after it): it is recorded as not decided."""
        try:
            return self._plan(facts)
        except Exception as exc:
            match = Match(None, self.config.triage_owner, "unassigned")
            reason = (f"could not be decided ({type(exc).__name__}); nothing was sent for it,"
                      " please report this as a bug")
            promise = Promise(facts.received_at, facts.received_at, facts.received_at)
            return MessagePlan(facts, match, ReplyDecision(False, "error", reason), promise)

    def _answered_by_us(self, message_id: str) -> str | None:
        """If `message_id` is our own auto-reply or note, the Message-ID it answered."""
        found = self.memory.ours.get(message_id)
        return found if found is not None else self.state.answered_by_us(message_id)

    def _ours_among(self, ids: Iterable[str]) -> str | None:
        """The first of `ids` that is one of our own messages."""
        return next((m for m in ids if self._answered_by_us(m) is not None), None)

    def _open_root(self, ids: Iterable[str]) -> str | None:
        """The open item the thread `ids` belongs to: theirs, or, for an answer to one of our
        own messages, that of the message ours answered."""
        memory = self.memory
        wanted = tuple(ids)
        wanted += tuple(s for s in (self._answered_by_us(m) for m in wanted) if s)
        for mid in wanted:
            root = memory.roots.get(mid)
            if root is not None and root not in memory.acknowledged:
                return root
        root = self.state.open_root(wanted)
        return None if root in memory.acknowledged else root

    def _is_tracked(self, message_id: str) -> bool:
        return self.state.is_tracked(message_id) or message_id in self.memory.roots

    def _identified(self, facts: MessageFacts) -> MessageFacts:
        """The facts under the message's identity: its Message-ID and its sender. A known
        Message-ID from another sender is a different message under a derived id (the header's
        stays its `thread_id`); the same id from the same sender is a re-delivery."""
        mid, sender = facts.message_id, _sender_of(facts)  # addresses are lower-cased
        known = self.memory.senders.get(mid, self.state.sender_of(mid))
        if known is None or known.lower() == sender.lower():
            return facts
        return replace(facts, message_id=reused_identity(mid, sender), header_message_id=mid)

    def _plan(self, facts: MessageFacts) -> MessagePlan:
        facts = self._identified(facts)
        plan = self._decide(facts)
        memory = self.memory
        memory.seen_ids.add(facts.message_id)
        memory.senders.setdefault(facts.message_id, _sender_of(facts))
        memory.contacts.update(a for a in (
            facts.sender.email if facts.sender else "", facts.return_path) if a)
        copy = (facts.mailbox, facts.folder, facts.uid, facts.message_id)
        memory.copies.add(copy)
        if is_answered(facts.flags):
            memory.answered_on_arrival.add(copy)
        if plan.track is not None:
            memory.tracked[facts.message_id] = plan.track
            memory.roots[facts.message_id] = facts.message_id
        elif plan.followup_of is not None:
            memory.roots[facts.message_id] = plan.followup_of
        if plan.acknowledges is not None:
            memory.acknowledged.add(plan.acknowledges.root_id)
        return plan

    def _decide(self, facts: MessageFacts) -> MessagePlan:
        config, memory = self.config, self.memory
        mailbox = self.mailboxes[facts.mailbox]
        sender = facts.sender.email if facts.sender else (facts.return_path or "")
        match = self.directory.match(sender)
        promise = self.calendar.promise_at(  # read now if its window did not run: never a past time
            facts.received_at, self.now, _answer_days(config, match.client))
        recipient = reply_recipient(facts) or ""
        mid = facts.message_id
        # Another copy (the client wrote to Ann and Bob) was tracked already: one item, and
        # one reply, from whichever copy may be answered (one may be a Bcc copy).
        duplicate = mid in memory.seen_ids or self._is_tracked(mid)
        decision = self._reply_decision(
            facts, mailbox, recipient,
            duplicate=mid in memory.answered or (
                self._is_tracked(mid) and mid not in memory.seen_ids
            ),
        )

        if decision.rule == "own-address":
            doubt = inbox_reply_doubt(
                facts, trusted_authserv_id=config.escalation.trusted_authserv_id)
            if not doubt:
                ack = team_reply_acknowledges(
                    facts, team_addresses=config.team_addresses, open_root=self._open_root,
                    now=self.now,
                )
                return MessagePlan(facts, match, decision, promise, acknowledges=ack)
            # Unproven: mail in the thread like any other, never an acknowledgment.
            decision = ReplyDecision(False, decision.rule, f"{decision.reason} It does not"
                                     f" acknowledge anything: {doubt}.")
            followup = None if duplicate else self._open_root(facts.thread_ids)
            return MessagePlan(facts, match, decision, promise, followup_of=followup)
        if decision.rule in ROBOT_RULES:
            return MessagePlan(facts, match, decision, promise)
        urgent = is_urgent(facts, config, match.client)
        if duplicate:
            replies: tuple[Action, ...] = ()
            if decision.reply:
                memory.answered.add(mid)
                memory.replied.add((recipient, REPLY_KIND_WINDOW))
                replies = (self._auto_reply(facts, mailbox, match, promise, recipient,
                                            urgent=bool(urgent), names_contact=False),)
            return MessagePlan(facts, match, decision, promise, replies)

        followup_of = self._open_root(facts.thread_ids)
        routed = self._route(facts, mailbox, match)
        actions: list[Action] = []
        if routed is not None:
            actions.append(routed)
        if urgent:
            alert_to = tuple(dict.fromkeys(
                a for a in (match.owner, config.urgent.alert_address) if a
            ))
            actions.append(UrgentAlert(facts, alert_to, urgent, match.client))
        tell_contact = routed is not None and match.client is not None and recipient and (
            not self._recently(recipient, NOTE_KIND_CONTACT, config.response.contact_note_days)
        )
        if decision.reply:
            memory.answered.add(mid)
            memory.replied.add((recipient, REPLY_KIND_WINDOW))
            actions.append(self._auto_reply(
                facts, mailbox, match, promise, recipient, urgent=bool(urgent),
                names_contact=bool(tell_contact),
            ))
        elif tell_contact and decision.rule == "rate-limited" and match.client is not None:
            actions.append(ContactNote(facts, recipient, mailbox.owner, match.owner, match.client))
            memory.ours[contact_note_message_id(mid, mailbox.owner)] = mid
        if tell_contact:
            memory.replied.add((recipient, NOTE_KIND_CONTACT))

        track = None
        if followup_of is None:
            track = TrackedItem(
                message_id=mid, mailbox=facts.mailbox, folder=facts.folder,
                uid=facts.uid, sender=sender, client=match.client.name if match.client else "",
                owner=match.owner, subject=facts.subject, received_at=facts.received_at,
                read_at=promise.read_at, deadline=promise.answer_by, urgent=bool(urgent),
                after_hours=self.calendar.is_after_hours(facts.received_at),
                routed_from=routed.by if routed else "", ladder_step=0, status="open",
            )
        return MessagePlan(facts, match, decision, promise, tuple(actions), track, followup_of)

    def _reply_decision(
        self, facts: MessageFacts, mailbox: MailboxConfig, recipient: str, *, duplicate: bool
    ) -> ReplyDecision:
        config, kind = self.config, REPLY_KIND_WINDOW
        decision = decide_reply(
            facts,
            own_addresses=config.team_addresses,
            recipient_addresses=mailbox.own_addresses,
            system_senders=config.response.system_senders,
            loop_markers=self.markers,
            last_reply_at=self.state.last_reply_at(recipient, kind) if recipient else None,
            now=self.now,
            period_days=config.response.auto_reply_days,
        )
        if not decision.reply:
            return decision
        ours = self._ours_among(facts.thread_ids)
        if ours is not None:
            return ReplyDecision(False, REPLY_TO_OURS, f"The message answers {ours}, an"
                                 " automatic message of ours; answering it could start a loop"
                                 " (RFC 3834 §2).")
        if duplicate:
            return ReplyDecision(False, "duplicate", "the same message reached another"
                                 " monitored mailbox and is handled there")
        if (recipient, kind) in self.memory.replied or self.state.reply_queued(recipient, kind):
            return ReplyDecision(False, "rate-limited", "an auto-reply to this sender is"
                                 " already on its way in this period")
        if not config.response.auto_reply:
            return ReplyDecision(False, "disabled", "auto-replies are switched off"
                                 " (response.auto_reply = false)")
        return decision

    def _route(self, facts: MessageFacts, mailbox: MailboxConfig, match: Match) -> Redirect | None:
        """A client message that reached someone other than its account manager, who did not
        get it directly (To/Cc), is passed on to them: into their inbox if it is monitored."""
        if match.client is None or match.owner in mailbox.own_addresses:
            return None
        if any(a.email == match.owner for a in facts.recipients):
            return None
        target = self.monitored.get(match.owner)  # their own monitored inbox: no relay
        if target is not None:
            return Redirect(facts, match.owner, mailbox.owner, via="imap", mailbox=target)
        return Redirect(facts, match.owner, mailbox.owner)

    def _recently(self, address: str, kind: str, days: int) -> bool:
        if (address, kind) in self.memory.replied or self.state.reply_queued(address, kind):
            return True
        last = self.state.last_reply_at(address, kind)
        return last is not None and self.now - last < timedelta(days=days)

    def _auto_reply(
        self, facts: MessageFacts, mailbox: MailboxConfig, match: Match, promise: Promise,
        recipient: str, *, urgent: bool, names_contact: bool,
    ) -> AutoReply:
        memory = self.memory
        first = (
            match.client is not None
            and self.config.response.first_contact != "off"
            and recipient not in memory.welcomed
            and not self.state.is_known_contact(recipient)
            and recipient not in memory.contacts
        )
        if first:
            memory.welcomed.add(recipient)
        memory.ours[auto_reply_message_id(facts.message_id, mailbox.owner)] = facts.message_id
        return AutoReply(
            facts=facts, to=recipient, from_address=mailbox.owner, kind=REPLY_KIND_WINDOW,
            promise=promise, client=match.client, contact=match.owner, first_contact=first,
            urgent=urgent, names_contact=names_contact,
        )


def _sender_of(facts: MessageFacts) -> str:
    """Who a message is recorded as coming from (as `plan.sender_of`): From, else Return-Path."""
    return (facts.sender.email if facts.sender else facts.return_path) or ""


def _answer_days(config: Config, client: ClientConfig | None) -> int:
    if client is not None and client.answer_within_business_days is not None:
        return client.answer_within_business_days
    return config.response.answer_within_business_days
