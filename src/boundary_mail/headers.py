"""Turn a message's header block into `MessageFacts`, with the stdlib `email` package.

Mail in the wild is broken in every way a parser can imagine. The rule here: take what can be
read, fall back field by field, and raise `MalformedMessage` with a reason only when nothing
useful is left. Nothing in here decides; it only reads.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
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
    "Authentication-Results", "Bcc",
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


# compat32 keeps every value as the string it was: no header objects, no RFC 5322 grammar run
# on each access. That grammar (policy.default) cost 885 µs a message; this reading 123 µs,
# with the same facts (bench/README.md). What the core needs is parsed here, field by field.
_PARSER = BytesHeaderParser(policy=policy.compat32)
_SURROGATES = re.compile(r"[\udc80-\udcff]")


def _valid_unicode(text: str) -> str:
    """The email package keeps undecodable 8-bit header bytes as lone surrogates; they cannot
    be written as UTF-8 (to SQLite, to a reply). Decode them as UTF-8 where they are, else
    replace them."""
    if not _SURROGATES.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # surrogates that did not come from bytes
        return text.encode("utf-8", "replace").decode("utf-8")


def _clean(text: str) -> str:
    """One line: no CR/LF or other control characters."""
    return _CONTROL.sub(" ", text).strip()


def _text(value: object) -> str:
    """A header value as clean one-line text: encoded words (RFC 2047) decoded, valid
    Unicode (raw 8-bit bytes read as UTF-8 or U+FFFD), no control characters; never raises."""
    text = _valid_unicode(str(value))
    if "=?" in text:
        with contextlib.suppress(Exception):  # a broken encoded word stays as it was written
            text = str(make_header(decode_header(text)))
    return _clean(text)


# A header block as Dovecot answers HEADER.FIELDS: "Name: value" lines, folded lines starting
# with a space or tab, CRLF line ends, a blank line. Read by one regex per field; anything else
# (bare CR or LF, a line with no colon, a "From " line, no final line end) goes to the stdlib
# parser. Both give the same fields: tests/unit/test_headers_fuzz.py checks it.
_FieldMap = dict[str, list[str]]
_FIELD = re.compile(r"([!-9;-~]+):([^\r\n]*\r\n(?:[ \t][^\r\n]*\r\n)*)")


def _fields(header_block: bytes) -> _FieldMap:
    """The header fields by lower-cased name, each name's values in order, as compat32
    reads them (raw strings; 8-bit bytes kept as surrogates, folding kept)."""
    text = header_block.decode("ascii", "surrogateescape")
    by_name: _FieldMap = {}
    pos, end = 0, len(text)
    match = _FIELD.match
    while pos < end and (found := match(text, pos)):
        name, value = found.groups()
        by_name.setdefault(name.lower(), []).append(value.lstrip(" \t").rstrip("\r\n"))
        pos = found.end()
    if pos == end or text.startswith("\r\n", pos):
        return by_name
    return _fields_by_stdlib(header_block)


def _fields_by_stdlib(header_block: bytes) -> _FieldMap:
    try:
        msg = _PARSER.parsebytes(header_block)
    except Exception as exc:  # the email package is lenient; this is the truly hopeless case
        raise MalformedMessage(f"header block cannot be parsed ({type(exc).__name__})") from None
    by_name: _FieldMap = {}
    for key, value in msg.raw_items():
        by_name.setdefault(key.lower(), []).append(str(value))
    return by_name


# The everyday forms, "Maria Keller <maria@acme.test>", "\"Keller, Maria\" <maria@acme.test>"
# and "maria@acme.test", and comma-separated lists of them, read without the full RFC 5322
# address grammar (getaddresses was 40 % of parsing). Anything else (comments, groups, escapes,
# 8-bit bytes, encoded words) goes through getaddresses; tests/unit/test_headers_fuzz.py checks
# that both read the same.
_SIMPLE_ADDRESS = re.compile(
    r"""\s*(?:"([ \t!#-\[\]-~]*)"\s*<([\w.+'=-]+@[\w.-]+)>"""
    r"|([\w' -]*?)\s*<([\w.+'=-]+@[\w.-]+)>|([\w.+'=-]+@[\w.-]+))\s*",
    re.ASCII,
)


def _split_addresses(values: list[str]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for value in values:
        # A comma inside a quoted name does not separate addresses: such a value is one.
        for part in [value] if '"' in value else value.split(","):
            simple = _SIMPLE_ADDRESS.fullmatch(part)
            if simple is None:
                return getaddresses(values)
            quoted, quoted_spec, name, spec, bare = simple.groups()
            if quoted_spec:
                found.append((quoted, quoted_spec))
            else:
                found.append((" ".join((name or "").split()), spec or bare))
    return found


def _addresses(fields: _FieldMap, name: str) -> tuple[Address, ...]:
    values = fields.get(name)
    if not values:
        return ()
    out: list[Address] = []
    for display, spec in _split_addresses([_valid_unicode(v) for v in values]):
        spec = _clean(spec).strip("<>").lower()
        if "@" in spec and " " not in spec:
            out.append(Address(_text(display), spec))
    return tuple(out)


def _message_ids(fields: _FieldMap, name: str) -> tuple[str, ...]:
    found: dict[str, None] = {}  # in order, once each (a hostile References repeats ids)
    for value in fields.get(name, ()):
        found.update(dict.fromkeys(_MSGID.findall(_clean(_valid_unicode(value)))))
    return tuple(found)


def _return_path(fields: _FieldMap) -> str | None:
    values = fields.get("return-path")
    if not values:
        return None
    # The final delivery prepends its Return-Path above every other field (RFC 5321 §4.4);
    # one further down came with the message and may be forged.
    raw = _clean(_valid_unicode(values[0]))
    if raw in ("<>", ""):
        return ""
    spec = _split_addresses([raw])[0][1].strip("<>").lower()
    return spec if "@" in spec and " " not in spec else ""


def _date(fields: _FieldMap) -> datetime | None:
    values = fields.get("date")
    if not values:
        return None
    try:
        parsed = parsedate_to_datetime(_clean(_valid_unicode(values[0])))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _content_type(fields: _FieldMap) -> tuple[str, str]:
    """The media type and, for multipart/report, the report-type parameter (compat32's
    reading). Plain values are read here; parameters and 8-bit bytes go to the email package."""
    values = fields.get("content-type")
    if not values:
        return "text/plain", ""
    first = values[0]
    if "report-type" not in first.lower() and not _SURROGATES.search(first):
        ctype = first.partition(";")[0].strip().lower()
        return (_clean(ctype) if ctype.count("/") == 1 else "text/plain"), ""
    msg = Message(policy.compat32)
    for value in values:
        msg.set_raw("Content-Type", value)
    try:
        ctype = msg.get_content_type()
        report = msg.get_param("report-type", "", header="content-type") or ""
        if isinstance(report, tuple):  # an RFC 2231 value: (charset, language, text)
            report = report[2]
        return _clean(_valid_unicode(ctype)), _clean(_valid_unicode(str(report))).lower()
    except Exception:  # a Content-Type too broken to read: plain text, as RFC 2045 says
        return "text/plain", ""


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
    identity_only: bool = False,
) -> MessageFacts:
    """Parse the fetched header fields of one message; raise MalformedMessage with a reason.

    `identity_only` reads just what a baseline row keeps (Message-ID, sender, Return-Path,
    subject) and leaves the rest at its defaults: at the first sync of a big mailbox nearly
    every message is baseline, never decided, and reading it whole was most of the sync."""
    if not header_block.strip():
        raise MalformedMessage("empty header block")
    fields = _fields(header_block)
    if not fields:
        raise MalformedMessage("no header fields could be read")
    senders = _addresses(fields, "from")
    return_path = _return_path(fields)
    if not senders and not return_path:
        raise MalformedMessage("neither From nor Return-Path holds a usable address")
    ids = _message_ids(fields, "message-id")
    subject = " ".join(_text(s) for s in fields.get("subject", ())[:1])
    message_id = ids[0] if ids else synthetic_message_id(header_block)
    if identity_only:
        return MessageFacts(
            mailbox=mailbox, folder=folder, uid=uid, message_id=message_id,
            received_at=received_at, sender=senders[0] if senders else None,
            return_path=return_path, subject=subject[:MAX_SUBJECT], flags=frozenset(flags),
            size=size,
        )
    ctype, report = _content_type(fields)
    marker = fields.get("x-boundary-mail")
    return MessageFacts(
        mailbox=mailbox,
        folder=folder,
        uid=uid,
        message_id=message_id,
        received_at=received_at,
        sender=senders[0] if senders else None,
        return_path=return_path,
        to=_addresses(fields, "to"),
        cc=_addresses(fields, "cc"),
        resent_to=_addresses(fields, "resent-to"),
        resent_cc=_addresses(fields, "resent-cc"),
        reply_to=_addresses(fields, "reply-to"),
        bcc=_addresses(fields, "bcc"),
        delivered_to=tuple(a.email for a in _addresses(fields, "delivered-to")),
        subject=subject[:MAX_SUBJECT],
        date=_date(fields),
        in_reply_to=_message_ids(fields, "in-reply-to"),
        references=_message_ids(fields, "references"),
        auto_submitted=tuple(_text(v).lower() for v in fields.get("auto-submitted", ())),
        precedence=" ".join(_text(v) for v in fields.get("precedence", ())).lower(),
        list_headers=tuple(h for h in LIST_HEADERS if h.lower() in fields),
        auto_response_suppress=tuple(_text(v) for v in fields.get("x-auto-response-suppress", ())),
        x_loop=tuple(_text(v) for v in fields.get("x-loop", ())),
        content_type=ctype,
        report_type=report,
        flags=frozenset(flags),
        our_marker=_text(marker[0]) if marker else "",
        auth_results=tuple(
            _clean(_valid_unicode(v)) for v in fields.get("authentication-results", ())
        ),
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
