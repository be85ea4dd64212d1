"""Tracked items: every client (and unassigned) message stays open until acknowledged.

Pure. A message is *acknowledged* when the team answers it: a message from a team member whose
In-Reply-To/References carry its Message-ID (or the Message-ID of one of its follow-ups),
found in a monitored Sent folder; or the IMAP ``\\Answered`` flag on any copy; or
``boundary-mail ack``. Our own auto-replies never acknowledge anything: they carry our marker.

A copy of a team member's reply in an *inbox* (Cc) acknowledges only if it is proven to be
theirs (`inbox_reply_doubt`): anyone can write ``From: ann@…`` and stop an escalation with
it. The proof is the receiving server's own Authentication-Results (its authserv-id is the
configured ``trusted_authserv_id``): DKIM passed for the author's domain, or SPF and DMARC
passed; and the Return-Path (the envelope sender) is the author. Anything less is mail in the
thread, never an acknowledgment.

A client message in the thread of an *open* item is a follow-up ("did you get my email?"): it
is counted on that item and neither resets nor duplicates it. Once the item is acknowledged,
the client's next message in the thread is a new item: it asks something new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from boundary_mail.authresults import authenticated, trusted_results
from boundary_mail.facts import MessageFacts

ANSWERED_FLAG = "\\Answered"


@dataclass(frozen=True, slots=True)
class TrackedItem:
    """One client message the team owes an answer to, as stored."""

    message_id: str
    mailbox: str
    folder: str
    uid: int
    sender: str
    client: str  # "" for an unassigned sender
    owner: str
    subject: str
    received_at: datetime
    read_at: datetime
    deadline: datetime
    urgent: bool
    after_hours: bool
    routed_from: str
    ladder_step: int
    status: str
    followups: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_how: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class Acknowledgment:
    """The team answered `root_id` (an open item) at `at`."""

    root_id: str
    at: datetime
    how: str  # "reply" | "answered-flag" | "manual"
    by: str = ""


def team_reply_acknowledges(
    facts: MessageFacts,
    *,
    team_addresses: frozenset[str],
    open_root: Callable[[Iterable[str]], str | None],
    now: datetime,
) -> Acknowledgment | None:
    """A message written by a team member that answers an open item acknowledges it.

    `open_root` maps thread Message-IDs to the open item they belong to. Mail we generated
    ourselves (auto-replies, notes, reminders) carries our marker and never counts.
    """
    if facts.our_marker or not facts.thread_ids:
        return None
    author = facts.sender.email if facts.sender else ""
    if author not in team_addresses:
        return None
    root = open_root(facts.thread_ids)
    if root is None:
        return None
    return Acknowledgment(root, min(facts.received_at, now), "reply", author)


def inbox_reply_doubt(facts: MessageFacts, *, trusted_authserv_id: str) -> str:
    """Why a team member's message found in an inbox does not prove that they answered
    (one sentence for the decision's reason), or "" if it does."""
    author = facts.sender.email if facts.sender else ""
    if not trusted_authserv_id.strip():
        return ("no trusted_authserv_id is configured (escalation.trusted_authserv_id), so a"
                " copy in an inbox cannot be told from a forgery")
    if (facts.return_path or "") != author:
        return (f"its Return-Path {facts.return_path or '<>'} is not its author {author}, so"
                " it may be forged")
    if not authenticated(trusted_results(facts.auth_results, trusted_authserv_id), author):
        return (f"the topmost Authentication-Results of {trusted_authserv_id} do not show DKIM"
                " or SPF and DMARC passing for its author's domain, so it may be forged")
    return ""


def is_answered(flags: Iterable[str]) -> bool:
    """The IMAP \\Answered flag: a mail client marked this copy as replied to."""
    return any(flag.lower() == ANSWERED_FLAG.lower() for flag in flags)
