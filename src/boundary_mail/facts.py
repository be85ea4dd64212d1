"""The facts about one message that the core decides on.

`MessageFacts` is plain data parsed from headers (see `headers.parse_facts`); the core never
sees raw bytes, and the shell never decides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: a display name (may be empty) and a lower-cased addr-spec."""

    name: str
    email: str

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the core needs to know about a message, and nothing it must not see (no body)."""

    mailbox: str
    folder: str
    uid: int
    message_id: str
    received_at: datetime  # IMAP INTERNALDATE, aware
    sender: Address | None  # From (first)
    return_path: str | None  # envelope sender; "" means the null path <>
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    resent_to: tuple[Address, ...] = ()
    resent_cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()  # kept in a Sent copy by most mail clients
    delivered_to: tuple[str, ...] = ()  # the envelope recipient(s) the server recorded
    subject: str = ""
    date: datetime | None = None
    in_reply_to: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    auto_submitted: tuple[str, ...] = ()
    precedence: str = ""
    list_headers: tuple[str, ...] = ()  # names of List-* headers present
    auto_response_suppress: tuple[str, ...] = ()
    x_loop: tuple[str, ...] = ()
    content_type: str = "text/plain"
    report_type: str = ""  # the report-type parameter of multipart/report
    flags: frozenset[str] = field(default_factory=frozenset)
    our_marker: str = ""  # value of our X-Boundary-Mail header, if present
    auth_results: tuple[str, ...] = ()  # Authentication-Results values, topmost first
    size: int = 0
    preview: str = ""  # the start of the text, fetched only to look for urgent keywords
    # The Message-ID as written in the header, when `message_id` (the message's identity:
    # Message-ID and sender, see `ids.reused_identity`) differs from it; "" otherwise.
    header_message_id: str = ""

    @property
    def recipients(self) -> tuple[Address, ...]:
        """Every explicit recipient (To, Cc, Resent-To, Resent-Cc), for RFC 5230 §4.5."""
        return self.to + self.cc + self.resent_to + self.resent_cc

    @property
    def thread_id(self) -> str:
        """The Message-ID our answers thread to (In-Reply-To, References): the header's.
        Everything that records, tracks or dedupes uses `message_id`, the identity."""
        return self.header_message_id or self.message_id

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """Message-IDs this message answers or follows."""
        return self.in_reply_to + tuple(r for r in self.references if r not in self.in_reply_to)
