"""A measured proposal for src/boundary_mail/headers.py (NOT used by boundary-mail).

The first sync spends most of its time in `headers.parse_facts`, and most of that inside the
stdlib's `policy.default` header registry: every `msg.get_all(name)` builds a new header
class and runs the full RFC 5322 grammar (`_header_value_parser`) on the value, again on every
access (Content-Type is parsed three times per message). `parse_facts_compat` below reads the
same header block once with `policy.compat32` (no header objects), and parses only what the
core uses with cheaper stdlib tools: `email.utils.getaddresses` for address lists,
`email.header.decode_header` only for values that hold an encoded word, `parsedate_to_datetime`
for Date, the compat32 Message's parameter parsing for Content-Type.

    .venv/bin/python bench/parse_alt.py --folder bench10000     # speed and equality

compares it with `headers.parse_facts` over the fetched header blocks of a seeded folder:
microseconds per message for each, and how many MessageFacts differ (with the first few
differences). It is a prototype for the numbers: a real change must also pass the malformed-
input corpus and the hypothesis fuzz test of the header parser.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from boundary_mail.facts import Address, MessageFacts
from boundary_mail.headers import (
    LIST_HEADERS,
    MAX_SUBJECT,
    MalformedMessage,
    synthetic_message_id,
)

_PARSER = BytesHeaderParser(policy=policy.compat32)
_MSGID = re.compile(r"<[^<>\s]+>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_SURROGATES = re.compile(r"[\udc80-\udcff]")


def _valid_unicode(text: str) -> str:
    """Raw 8-bit header bytes (kept by the email package as lone surrogates) read as UTF-8
    where they are UTF-8, else U+FFFD: the rule of headers._valid_unicode."""
    if not _SURROGATES.search(text):
        return text
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")


def _clean(text: str) -> str:
    return _CONTROL.sub(" ", text).strip()


def _decoded(value: object) -> str:
    """Unfolded text with encoded words decoded and undecodable 8-bit bytes as U+FFFD, like
    str() of a policy.default header."""
    text = _valid_unicode(str(value))
    if "=?" in text:
        try:
            decoded = str(make_header(decode_header(text)))
        except Exception:  # a broken encoded word stays as written
            decoded = text
        text = decoded
    return _clean(text)


class _Fields:
    def __init__(self, msg: Message) -> None:
        self.by_name: dict[str, list[str]] = {}
        for key, value in msg.raw_items():
            self.by_name.setdefault(key.lower(), []).append(value)

    def all(self, name: str) -> list[str]:
        return self.by_name.get(name.lower(), [])


def _addresses(fields: _Fields, name: str) -> tuple[Address, ...]:
    values = fields.all(name)
    if not values:
        return ()
    out: list[Address] = []
    for display, spec in getaddresses([_valid_unicode(v) for v in values]):
        spec = _clean(spec).strip("<>").lower()
        if "@" in spec and " " not in spec:
            out.append(Address(_decoded(display), spec))
    return tuple(out)


def _message_ids(fields: _Fields, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for value in fields.all(name):
        for mid in _MSGID.findall(_clean(value)):
            if mid not in found:
                found.append(mid)
    return tuple(found)


def _return_path(fields: _Fields) -> str | None:
    values = fields.all("Return-Path")
    if not values:
        return None
    raw = _clean(values[0])
    if raw in ("<>", ""):
        return ""
    spec = getaddresses([raw])[0][1].strip("<>").lower()
    return spec if "@" in spec else ""


def _date(fields: _Fields) -> datetime | None:
    values = fields.all("Date")
    if not values:
        return None
    try:
        parsed = parsedate_to_datetime(_clean(values[0]))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _content_type(msg: Message) -> tuple[str, str]:
    try:
        ctype = msg.get_content_type()
        report = msg.get_param("report-type", "", header="content-type") or ""
        if isinstance(report, tuple):
            report = report[2]
        return ctype, str(report).lower()
    except Exception:
        return "text/plain", ""


def parse_facts_compat(
    header_block: bytes, *, mailbox: str, folder: str, uid: int, received_at: datetime,
    flags: Iterable[str] = (), size: int = 0,
) -> MessageFacts:
    if not header_block.strip():
        raise MalformedMessage("empty header block")
    try:
        msg = _PARSER.parsebytes(header_block)
    except Exception as exc:
        raise MalformedMessage(f"header block cannot be parsed ({type(exc).__name__})") from None
    if not msg.keys():
        raise MalformedMessage("no header fields could be read")
    fields = _Fields(msg)
    senders = _addresses(fields, "From")
    return_path = _return_path(fields)
    if not senders and not return_path:
        raise MalformedMessage("neither From nor Return-Path holds a usable address")
    ids = _message_ids(fields, "Message-ID")
    subject = " ".join(_decoded(s) for s in fields.all("Subject")[:1])
    ctype, report = _content_type(msg)
    marker = fields.all("X-Boundary-Mail")
    return MessageFacts(
        mailbox=mailbox, folder=folder, uid=uid,
        message_id=ids[0] if ids else synthetic_message_id(header_block),
        received_at=received_at,
        sender=senders[0] if senders else None,
        return_path=return_path,
        to=_addresses(fields, "To"),
        cc=_addresses(fields, "Cc"),
        resent_to=_addresses(fields, "Resent-To"),
        resent_cc=_addresses(fields, "Resent-Cc"),
        reply_to=_addresses(fields, "Reply-To"),
        subject=subject[:MAX_SUBJECT],
        date=_date(fields),
        in_reply_to=_message_ids(fields, "In-Reply-To"),
        references=_message_ids(fields, "References"),
        auto_submitted=tuple(_decoded(v).lower() for v in fields.all("Auto-Submitted")),
        precedence=" ".join(_decoded(v) for v in fields.all("Precedence")).lower(),
        list_headers=tuple(h for h in LIST_HEADERS if fields.all(h)),
        auto_response_suppress=tuple(_decoded(v) for v in fields.all("X-Auto-Response-Suppress")),
        x_loop=tuple(_decoded(v) for v in fields.all("X-Loop")),
        content_type=ctype, report_type=report,
        flags=frozenset(flags),
        our_marker=_decoded(marker[0]) if marker else "",
        size=size,
    )


def main() -> int:
    import dataclasses

    from common import server_env, write_config
    from sync import BENCH_USER

    from boundary_mail import imap
    from boundary_mail.config import load_config
    from boundary_mail.headers import parse_facts

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="bench10000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = server_env()
    config = write_config(env, Path("/tmp/bm-bench-parse"), args.folder)
    mailbox = load_config(config).mailboxes[0]
    client = imap.connect(mailbox, env[f"BM_PW_{BENCH_USER.upper()}"])
    try:
        status = imap.select(client, args.folder)
        messages = [m for batch in imap.fetch_new(client, status, 0) for m in batch]
    finally:
        client.logout()

    def run(fn):
        out = []
        start = time.perf_counter()
        for m in messages:
            try:
                out.append(fn(m.header_block, mailbox="carol", folder=args.folder, uid=m.uid,
                              received_at=m.received_at, flags=m.flags, size=m.size))
            except MalformedMessage as exc:
                out.append(str(exc))
        return time.perf_counter() - start, out

    results = {}
    for name, fn in (("parse_facts (policy.default)", parse_facts),
                     ("parse_facts_compat (proposal)", parse_facts_compat)):
        runs = [run(fn) for _ in range(args.repeat)]
        best = sorted(r[0] for r in runs)[len(runs) // 2]
        results[name] = runs[0][1]
        print(f"{name:32s} {best:7.3f} s for {len(messages)} = "
              f"{best / len(messages) * 1e6:6.1f} us/message")
    old, new = results.values()
    differ = [(a, b) for a, b in zip(old, new, strict=True) if a != b]
    print(f"MessageFacts that differ: {len(differ)} of {len(messages)}")
    for a, b in differ[:3]:
        if isinstance(a, str) or isinstance(b, str):
            print(f"  {a!r}\n  {b!r}")
            continue
        for f in dataclasses.fields(a):
            if getattr(a, f.name) != getattr(b, f.name):
                print(f"  uid {a.uid} {f.name}: {getattr(a, f.name)!r} != {getattr(b, f.name)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
