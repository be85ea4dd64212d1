"""Turn a message's header block into `MessageFacts`, with the stdlib `email` package.

Mail in the wild is broken in every way a parser can imagine. The rule here: take what can be
read, fall back field by field, and raise `MalformedMessage` with a reason only when nothing
useful is left. Nothing in here decides; it only reads.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from boundary_mail.facts import Address, MessageFacts

# The header fields fetched over IMAP (BODY.PEEK[HEADER.FIELDS (...)]): everything the core
# decides on, nothing more, so a window's cost is a few hundred bytes per message.
FETCHED_HEADERS = (
    "From", "Sender", "Return-Path", "To", "Cc", "Resent-To", "Resent-Cc", "Reply-To",
    "Message-ID", "In-Reply-To", "References", "Subject", "Date", "Auto-Submitted",
    "Precedence", "List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post",
    "List-Owner", "List-Archive", "X-Auto-Response-Suppress", "X-Loop", "Content-Type",
    "X-Boundary-Mail", "Delivered-To", "MIME-Version", "Content-Transfer-Encoding",
)
LIST_HEADERS = (
    "List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner",
    "List-Archive",
)
MAX_SUBJECT = 998  # RFC 5322 line limit; longer subjects are cut, never trusted whole
_MSGID = re.compile(r"<[^<>\s]+>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class MalformedMessage(ValueError):
    """The header block is too broken to decide anything about the message."""


def _text(value: object) -> str:
    """Header value as clean one-line text: no CR/LF or control characters, valid Unicode
    (raw 8-bit bytes become U+FFFD), never raises."""
    try:
        text = str(value)
    except Exception:  # a defective encoded word can raise on str()
        text = repr(value)
    return _CONTROL.sub(" ", _valid_unicode(text)).strip()


def _valid_unicode(text: str) -> str:
    """The email package keeps undecodable 8-bit header bytes as lone surrogates; they cannot
    be written as UTF-8 (to SQLite, to a reply). Decode them as UTF-8 where they are, else
    replace them."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates that did not come from bytes
        return text.encode("utf-8", "replace").decode("utf-8")


def _all(msg: EmailMessage, name: str) -> list[object]:
    try:
        return list(msg.get_all(name) or [])
    except Exception:
        return [raw for key, raw in msg.raw_items() if key.lower() == name.lower()]


def _addresses(msg: EmailMessage, name: str) -> tuple[Address, ...]:
    out: list[Address] = []
    for header in _all(msg, name):
        parsed: Iterable[tuple[str, str]] = ()
        try:
            parsed = [
                (a.display_name, a.addr_spec)
                for a in getattr(header, "addresses", ())
                if isinstance(a, HeaderAddress)
            ]
        except Exception:  # a header the parser could not structure: read it as text below
            parsed = ()
        if not parsed:
            parsed = getaddresses([_text(header)])
        for display, spec in parsed:
            spec = _text(spec).strip("<>").lower()
            if "@" in spec and " " not in spec:
                out.append(Address(_text(display), spec))
    return tuple(out)


def _message_ids(msg: EmailMessage, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for header in _all(msg, name):
        for mid in _MSGID.findall(_text(header)):
            if mid not in found:
                found.append(mid)
    return tuple(found)


def _return_path(msg: EmailMessage) -> str | None:
    values = _all(msg, "Return-Path")
    if not values:
        return None
    # The final delivery prepends its Return-Path above every other field (RFC 5321 §4.4);
    # one further down came with the message and may be forged.
    raw = _text(values[0])
    if raw in ("<>", ""):
        return ""
    spec = getaddresses([raw])[0][1].strip("<>").lower()
    return spec if "@" in spec else ""


def _date(msg: EmailMessage) -> datetime | None:
    values = _all(msg, "Date")
    if not values:
        return None
    try:
        parsed = parsedate_to_datetime(_text(values[0]))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _content_type(msg: EmailMessage) -> tuple[str, str]:
    try:
        ctype = msg.get_content_type()
        report = str(msg.get_param("report-type", "", header="content-type") or "")
    except Exception:
        return "text/plain", ""
    return ctype, report.lower()


def synthetic_message_id(header_block: bytes) -> str:
    """A stable stand-in for a missing Message-ID: the same headers give the same id."""
    digest = hashlib.sha256(header_block).hexdigest()[:32]
    return f"<no-id.{digest}@boundary-mail.invalid>"


def message_key(message_id: str) -> str:
    """A short, non-reversible handle for logs: a hash of the Message-ID, never the id itself."""
    return hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:12]


def parse_facts(
    header_block: bytes,
    *,
    mailbox: str,
    folder: str,
    uid: int,
    received_at: datetime,
    flags: Iterable[str] = (),
    size: int = 0,
) -> MessageFacts:
    """Parse the fetched header fields of one message; raise MalformedMessage with a reason."""
    if not header_block.strip():
        raise MalformedMessage("empty header block")
    try:
        msg = BytesHeaderParser(policy=policy.default).parsebytes(header_block)
    except Exception as exc:  # the email package is lenient; this is the truly hopeless case
        raise MalformedMessage(f"header block cannot be parsed ({type(exc).__name__})") from None
    if not isinstance(msg, EmailMessage) or not msg.keys():
        raise MalformedMessage("no header fields could be read")
    senders = _addresses(msg, "From")
    return_path = _return_path(msg)
    if not senders and not return_path:
        raise MalformedMessage("neither From nor Return-Path holds a usable address")
    ids = _message_ids(msg, "Message-ID")
    subject = " ".join(_text(s) for s in _all(msg, "Subject")[:1])
    ctype, report = _content_type(msg)
    marker = _all(msg, "X-Boundary-Mail")
    return MessageFacts(
        mailbox=mailbox,
        folder=folder,
        uid=uid,
        message_id=ids[0] if ids else synthetic_message_id(header_block),
        received_at=received_at,
        sender=senders[0] if senders else None,
        return_path=return_path,
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        resent_to=_addresses(msg, "Resent-To"),
        resent_cc=_addresses(msg, "Resent-Cc"),
        reply_to=_addresses(msg, "Reply-To"),
        subject=subject[:MAX_SUBJECT],
        date=_date(msg),
        in_reply_to=_message_ids(msg, "In-Reply-To"),
        references=_message_ids(msg, "References"),
        auto_submitted=tuple(_text(v).lower() for v in _all(msg, "Auto-Submitted")),
        precedence=" ".join(_text(v) for v in _all(msg, "Precedence")).lower(),
        list_headers=tuple(h for h in LIST_HEADERS if h in msg),
        auto_response_suppress=tuple(_text(v) for v in _all(msg, "X-Auto-Response-Suppress")),
        x_loop=tuple(_text(v) for v in _all(msg, "X-Loop")),
        content_type=ctype,
        report_type=report,
        flags=frozenset(flags),
        our_marker=_text(marker[0]) if marker else "",
        size=size,
    )


PREVIEW_BYTES = 8192  # how much of a body is read to look for urgent keywords
_TAG = re.compile(r"<[^>]*>")


def body_preview(header_block: bytes, partial_body: bytes) -> str:
    """Readable text from the first bytes of a body (which may end mid-part): the first
    text/plain part, else text/html without tags; decoded, one line, never raises."""
    try:
        msg = BytesParser(policy=policy.default).parsebytes(
            header_block.rstrip(b"\r\n") + b"\r\n\r\n" + partial_body
        )
        part = msg.get_body(("plain", "html")) if isinstance(msg, EmailMessage) else None
        if part is None:
            return ""
        text = part.get_content()
        if not isinstance(text, str):
            return ""
        if part.get_content_subtype() == "html":
            text = _TAG.sub(" ", text)
    except Exception:  # a truncated or broken body: no preview, never a failed window
        return ""
    return " ".join(_CONTROL.sub(" ", text).split())[:PREVIEW_BYTES]
