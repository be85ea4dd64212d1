"""The MIME side of composing: header blocks, threading, the Resent-* block, and the bytes.

Everything is built by the stdlib's `email` package under one policy of this module, which
differs from `email.policy.default` in one way only: its header registry builds the class for
a header name once. The stdlib's `HeaderRegistry.__getitem__` makes a new class with `type()`
on every call, and `Message.__setitem__` calls it twice per header set (once for
`header_max_count`, once to build the header); those classes were most of the time and
memory composing took. Header objects are immutable once built (folding reads them), so the
fields that are the same for every message of a window (From, Date, our markers) are built
once and shared.

Multipart boundaries are fixed (one per container, outermost first), so composing the same
action twice gives the same bytes, and a container's Content-Type is parsed once, not per
message.
"""

from __future__ import annotations

import hashlib
import sys
from datetime import datetime
from email.headerregistry import Address, BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy
from email.policy import default as default_policy
from email.utils import format_datetime
from functools import lru_cache
from typing import Any

from boundary_mail.ids import stable_message_id as stable_message_id  # compose imports it here

MARKER_HEADER = "X-Boundary-Mail"


class _FoldedOnce(BaseHeader):
    """A header object never changes once built, so under one policy it always folds to the
    same text: a header that many messages share is folded once."""

    def fold(self, *, policy: Policy) -> str:
        folds: dict[Policy, str] = self.__dict__.setdefault("_folds", {})
        folded = folds.get(policy)
        if folded is None:
            folded = folds[policy] = on_one_line(self, policy) or super().fold(policy=policy)
        return folded


def on_one_line(header: BaseHeader, policy: Policy) -> str | None:
    """The folded form of a header that fits on one line as it is, or None. For such a header
    (ASCII, nothing to encode) the email package's folding returns its name, a colon, a space
    and the text of its parse tree; this skips building the folding tree around it, most of
    the cost of folding the To, Subject and Message-ID of every message. Proven equal to the
    email package's fold by `tests/unit/test_compose_fold.py`."""
    tree = getattr(header, "_parse_tree", None)  # what BaseHeader.fold folds
    if tree is None:
        return None
    line = f"{header.name}: {tree}" if tree else f"{header.name}:"
    limit = policy.max_line_length or sys.maxsize
    if len(line) > limit or not line.isascii() or "\r" in line or "\n" in line:
        return None
    return line + policy.linesep


class _HeaderClasses(HeaderRegistry):
    """`HeaderRegistry` that builds each header name's class once (up to a bound: the names
    of an attached client message pass through here when it is folded again), and one header
    object per name and text: the fields every message has (a part's Content-Type and
    Content-Transfer-Encoding, our markers) are parsed and folded once, not per message."""

    _BOUND = 256
    _SHARED_BOUND = 256

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnce)
        self._built: dict[str, type[BaseHeader]] = {}
        self._shared: dict[tuple[str, str], BaseHeader] = {}

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if not isinstance(value, str):
            return super().__call__(name, value)
        key = (name, value)
        header = self._shared.get(key)
        if header is None:
            if len(self._shared) >= self._SHARED_BOUND:
                self._shared.clear()  # e.g. the subjects of a big window: start afresh
            header = self._shared[key] = super().__call__(name, value)
        return header

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        built = self._built.get(key)
        if built is None:
            built = super().__getitem__(name)
            if len(self._built) < self._BOUND:
                self._built[key] = built
        return built


POLICY = default_policy.clone(header_factory=_HeaderClasses())
SMTP_POLICY = POLICY.clone(linesep="\r\n")  # email.policy.SMTP, with the same registry


def new_message() -> EmailMessage:
    return EmailMessage(policy=POLICY)


@lru_cache(maxsize=512)
def shared_header(name: str, value: str) -> BaseHeader:
    """One header object for a field that recurs in message after message."""
    header: BaseHeader = POLICY.header_factory(name, value)
    return header


@lru_cache(maxsize=512)
def address_header(name: str, email: str, display_name: str = "") -> BaseHeader:
    """From or Resent-* with one of our addresses, built once per (field, address, name)."""
    header: BaseHeader = POLICY.header_factory(name, address(email, display_name))
    return header


@lru_cache(maxsize=64)
def text_attachment(text: str, filename: str) -> EmailMessage:
    """A text/plain attachment in UTF-8 ("Zahlungsbedingungen" stays readable), built once
    per text and file name: the replies of a window that welcome a client's new senders all
    attach the same document, and writing a message never changes its parts."""
    part = new_message()
    part.set_content(text, subtype="plain", charset="utf-8", filename=filename)
    return part


def attach_part(msg: EmailMessage, part: EmailMessage) -> None:
    """`EmailMessage.add_attachment`, for a part that is built already."""
    if msg.get_content_type() != "multipart/mixed":
        msg.make_mixed()
    msg.attach(part)


def address(email: str, name: str = "") -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def base_message(
    *, kind: str, dedupe_key: str, from_email: str, from_name: str, to: str, subject: str,
    now: datetime, auto_submitted: str, marker: str,
) -> EmailMessage:
    """A message with our header block: addressed, dated, identified and marked (RFC 3834
    Auto-Submitted, Precedence, X-Auto-Response-Suppress, X-Loop and our own marker)."""
    msg = new_message()
    msg["From"] = address_header("From", from_email, from_name)
    msg["To"] = address(to)  # a client's address: not worth keeping
    msg["Subject"] = subject
    msg["Date"] = shared_header("Date", format_datetime(now))
    msg["Message-ID"] = stable_message_id(dedupe_key, from_email.rpartition("@")[2])
    msg["Auto-Submitted"] = shared_header("Auto-Submitted", auto_submitted)
    msg["Precedence"] = shared_header("Precedence", "bulk")
    msg["X-Auto-Response-Suppress"] = shared_header("X-Auto-Response-Suppress", "All")
    msg["X-Loop"] = shared_header("X-Loop", marker)
    msg[MARKER_HEADER] = shared_header(MARKER_HEADER, kind)
    return msg


def thread(msg: EmailMessage, message_id: str, references: tuple[str, ...]) -> None:
    """In-Reply-To and References per RFC 5322 §3.6.4 (RFC 3834 §3.1.6)."""
    if not message_id.endswith("@boundary-mail.invalid>"):
        msg["In-Reply-To"] = message_id
        msg["References"] = " ".join([*references, message_id][-20:])


def resent_block(
    *, from_email: str, from_name: str, to: str, to_name: str, now: datetime, message_id: str,
    marker: str,
) -> bytes:
    """The Resent-* fields of RFC 5322 §3.6.6 and our marker, CRLF-terminated, to go on top
    of a redirected message."""
    block = new_message()
    block["Resent-From"] = address_header("Resent-From", from_email, from_name)
    block["Resent-To"] = address_header("Resent-To", to, to_name)
    block["Resent-Date"] = shared_header("Resent-Date", format_datetime(now))
    block["Resent-Message-ID"] = message_id
    block[MARKER_HEADER] = marker
    return block.as_bytes(policy=SMTP_POLICY).rstrip(b"\r\n") + b"\r\n"


# Header fields of the first delivery that must not travel with a redirected copy: the new
# delivery writes its own, and a stale Delivered-To makes Postfix see a mail loop.
_DELIVERY_FIELDS = (b"return-path", b"delivered-to", b"x-original-to")


def without_delivery_fields(raw: bytes) -> bytes:
    """The original message minus its delivery trace fields; every other byte unchanged."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    newline = b"\r\n"
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
        newline = b"\n"
    kept: list[bytes] = []
    dropping = False
    for line in head.split(newline):
        if line[:1] in (b" ", b"\t"):  # a folded continuation belongs to the field above
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() in _DELIVERY_FIELDS
        if not dropping:
            kept.append(line)
    return newline.join(kept) + sep + body


def _multiparts(part: EmailMessage) -> list[EmailMessage]:
    """Our multipart containers, outermost first (not those inside an attached message)."""
    if part.get_content_maintype() != "multipart":
        return []
    found = [part]
    for sub in part.iter_parts():
        found += _multiparts(sub)  # type: ignore[arg-type]
    return found


def serialize(msg: EmailMessage) -> bytes:
    """The message's bytes with CRLF line ends and fixed multipart boundaries (the email
    package would pick random ones), so that composing the same action twice gives the same
    bytes. A boundary that occurs in the content (it is public) gets a counter appended, as
    the email package does with its random ones (any line that starts with it counts: some
    readers take a prefix for the delimiter)."""
    parts = [(p, len(p.get_payload())) for p in _multiparts(msg) if p.get_boundary() is None]
    for i, (part, _) in enumerate(parts):
        content_type = str(part["Content-Type"])
        if ";" in content_type:  # not one of ours as make_mixed or add_alternative left it
            part.set_boundary(_boundary(i))
        else:
            part.replace_header("Content-Type", _multipart_content_type(content_type, i))
    counter = 0
    while True:
        raw = msg.as_bytes(policy=SMTP_POLICY)
        # A part's delimiter lines are the only lines that may start with --boundary: one
        # before each subpart and the closing one.
        clashes = [
            part for part, count in parts
            if raw.count(b"\n--" + str(part.get_boundary()).encode()) != count + 1
        ]
        if not clashes:
            return raw
        for part in clashes:
            part.set_boundary(f"{str(part.get_boundary()).partition('.')[0]}.{counter}")
        counter += 1


@lru_cache(maxsize=16)
def _boundary(index: int) -> str:
    """The boundary of the index-th multipart container, shaped like the email package's."""
    token = int.from_bytes(hashlib.sha256(f"boundary-mail:{index}".encode()).digest()[:8])
    return f"{'=' * 15}{token % 10**19:019d}=="


@lru_cache(maxsize=16)
def _multipart_content_type(content_type: str, index: int) -> BaseHeader:
    """`content_type` ("multipart/alternative") with the index-th boundary, parsed once: what
    `set_boundary` would write, without parsing it again for every message."""
    header: BaseHeader = POLICY.header_factory(
        "Content-Type", f'{content_type}; boundary="{_boundary(index)}"')
    return header
