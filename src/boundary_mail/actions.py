"""What the core asks the shell to do about one message: frozen, plain data.

`decide` produces these; the shell composes the mail they ask for and records them. The same
objects are what ``poll --dry-run`` prints, so the dry run shows exactly what a real run does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from boundary_mail.calendar import Promise
from boundary_mail.config import ClientConfig
from boundary_mail.directory import Match
from boundary_mail.facts import MessageFacts
from boundary_mail.policy import ReplyDecision
from boundary_mail.tracking import Acknowledgment, TrackedItem


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
    urgent: bool = False
    names_contact: bool = False  # this reply also tells the client who their contact is


@dataclass(frozen=True, slots=True)
class ContactNote:
    """Tell a client, at most once per period, who their point of contact is."""

    facts: MessageFacts
    to: str
    from_address: str
    contact: str
    client: ClientConfig


@dataclass(frozen=True, slots=True)
class Redirect:
    """Pass a client message on to the account manager, original From, Message-ID and body
    intact, so their reply threads correctly. `via` says how: "imap" when the account
    manager's mailbox is monitored (the original's bytes are appended to its inbox: no size
    limit, no relay), else "smtp" (Resent-* headers on top, RFC 5322 §3.6.6; a notice
    without the body when the original is too big for the relay)."""

    facts: MessageFacts
    to: str
    by: str  # the mailbox owner it reached
    via: Literal["imap", "smtp"] = "smtp"
    mailbox: str = ""  # via imap: the name of the monitored mailbox it is appended to


@dataclass(frozen=True, slots=True)
class UrgentAlert:
    """A VIP or urgent message: the account manager (and the alert address) hear at once."""

    facts: MessageFacts
    to: tuple[str, ...]
    why: str
    client: ClientConfig | None


Action = AutoReply | ContactNote | Redirect | UrgentAlert


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """Everything decided about one message, with the reason, for status and --dry-run."""

    facts: MessageFacts
    match: Match
    reply: ReplyDecision
    promise: Promise
    actions: tuple[Action, ...] = ()
    track: TrackedItem | None = None
    followup_of: str | None = None
    acknowledges: Acknowledgment | None = None

    @property
    def redirect(self) -> Redirect | None:
        return next((a for a in self.actions if isinstance(a, Redirect)), None)
