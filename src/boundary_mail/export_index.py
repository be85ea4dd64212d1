"""The index of a hand-off export: one row per exported message, where its copies were, and
the same rows as `index.csv` and `index.html`.

`ExportIndex` is also where copies become one message: the first copy of an identity (see
`export_select.identity`) is the one written to the mbox, each later copy only adds the
mailbox and folder it was found in. Rows go to and from plain JSON, so an interrupted export
can resume from what it had written.

Pure: rows in, text out (the caller hands in the file to write the CSV to, and the Jinja
environment, whose HTML templates are autoescaped).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from email import policy
from email.parser import BytesHeaderParser, BytesParser
from typing import Any, TextIO

import jinja2

from boundary_mail.facts import Address, MessageFacts

INDEX_TEMPLATE = "export_index.html.j2"  # a file of that name in templates_dir replaces it
CSV_COLUMNS = (
    "date", "from", "to", "cc", "subject", "attachments", "size", "mailboxes", "folders",
    "message_id", "mbox_position",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such
# a cell from mail (a subject "=HYPERLINK(…)") is written with a leading apostrophe.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Location:
    """A mailbox and one of its folders."""

    mailbox: str
    folder: str

    @property
    def label(self) -> str:
        return f"{self.mailbox}/{self.folder}"


@dataclass(frozen=True, slots=True)
class Attachment:
    name: str
    size: int  # bytes, decoded (the size of the file it stands for)


@dataclass(slots=True)
class IndexRow:
    """One exported message: what the index says about it."""

    identity: str
    message_id: str  # as written in the header; "" when it had none
    date: datetime  # the Date header, else the server's arrival time
    sender: str
    to: str
    cc: str
    subject: str
    size: int
    locations: list[Location] = field(default_factory=list)
    position: int = 0  # 1-based place in the mbox; 0 while not written yet
    attachments: tuple[Attachment, ...] = ()

    @property
    def mailboxes(self) -> list[str]:
        return list(dict.fromkeys(loc.mailbox for loc in self.locations))


def _shown(addresses: Iterable[Address]) -> str:
    return ", ".join(f"{a.name} <{a.email}>" if a.name else a.email for a in addresses)


def row_of(facts: MessageFacts, identity: str) -> IndexRow:
    """A row for a message, from its header facts (before its body is read)."""
    has_id = not facts.message_id.startswith("<no-id.")
    return IndexRow(
        identity=identity,
        message_id=(facts.header_message_id or facts.message_id) if has_id else "",
        date=facts.date or facts.received_at,
        sender=_shown((facts.sender,)) if facts.sender else (facts.return_path or ""),
        to=_shown(facts.to),
        cc=_shown(facts.cc),
        subject=facts.subject,
        size=facts.size,
    )


class ExportIndex:
    """The rows of an export in mbox order, keyed by identity."""

    def __init__(self) -> None:
        self._rows: dict[str, IndexRow] = {}
        self._written = 0

    def note(self, row: IndexRow, where: Location) -> bool:
        """Record a copy found at `where`. True if its identity is new (its bytes are to be
        written), False if it is another copy of a message already noted."""
        known = self._rows.get(row.identity)
        if known is None:
            row.locations = [where]
            self._rows[row.identity] = row
            return True
        if where not in known.locations:
            known.locations.append(where)
        return False

    def written(self, identity: str, attachments: tuple[Attachment, ...]) -> IndexRow:
        """The message's bytes are in the mbox: it takes the next position there."""
        row = self._rows[identity]
        self._written += 1
        row.position = self._written
        row.attachments = attachments
        return row

    def restore(self, row: IndexRow) -> None:
        """A row written by an earlier, interrupted run (in mbox order)."""
        self._rows[row.identity] = row
        self._written = max(self._written, row.position)

    @property
    def count_written(self) -> int:
        return self._written

    def rows(self) -> list[IndexRow]:
        """The written rows, oldest first."""
        done = [r for r in self._rows.values() if r.position]
        return sorted(done, key=lambda r: (r.date, r.position))

    def unwritten(self) -> list[IndexRow]:
        """Noted but never written: their copies could not be read."""
        return [r for r in self._rows.values() if not r.position]


def attachments_of(raw: bytes) -> tuple[Attachment, ...]:
    """The attached files of a message (parts with a file name or an attachment
    disposition), with their decoded sizes; () for a message the email package cannot read."""
    try:
        if not _may_have_attachments(raw):
            return ()
        message = BytesParser(policy=policy.default).parsebytes(raw)
        found = []
        for part in message.walk():
            if part.is_multipart():
                continue
            name = part.get_filename()
            if name is None and part.get_content_disposition() != "attachment":
                continue
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            shown = _CONTROL.sub(" ", str(name)).strip() if name else ""
            found.append(Attachment(shown or f"(unnamed {part.get_content_type()})", size))
        return tuple(found)
    except Exception:  # broken MIME: the message is exported all the same, just not listed
        return ()


def _may_have_attachments(raw: bytes) -> bool:
    """False for a single-part message without a file name or attachment disposition, from
    its header alone: most mail, spared a full parse (the parse of a big body line by line
    cost more than its download)."""
    ends = [i for i in (raw.find(b"\n\r\n"), raw.find(b"\n\n")) if i >= 0]
    head = _HEADER_PARSER.parsebytes(raw[: min(ends) + 1] if ends else raw)
    return (head.get_content_maintype() == "multipart" or head.get_filename() is not None
            or head.get_content_disposition() == "attachment")


_HEADER_PARSER = BytesHeaderParser(policy=policy.compat32)


# -- the resume journal -------------------------------------------------------------------


def row_to_json(row: IndexRow) -> dict[str, Any]:
    return {
        "identity": row.identity, "message_id": row.message_id, "date": row.date.isoformat(),
        "sender": row.sender, "to": row.to, "cc": row.cc, "subject": row.subject,
        "size": row.size, "position": row.position,
        "locations": [[loc.mailbox, loc.folder] for loc in row.locations],
        "attachments": [[a.name, a.size] for a in row.attachments],
    }


def row_from_json(data: dict[str, Any]) -> IndexRow:
    return IndexRow(
        identity=data["identity"], message_id=data["message_id"],
        date=datetime.fromisoformat(data["date"]), sender=data["sender"], to=data["to"],
        cc=data["cc"], subject=data["subject"], size=int(data["size"]),
        locations=[Location(m, f) for m, f in data["locations"]],
        position=int(data["position"]),
        attachments=tuple(Attachment(n, int(s)) for n, s in data["attachments"]),
    )


# -- index.csv and index.html -------------------------------------------------------------


def _cell(value: str) -> str:
    return f"'{value}" if value.startswith(_FORMULA_START) else value


def attachments_text(row: IndexRow) -> str:
    return "; ".join(f"{a.name} ({a.size} bytes)" for a in row.attachments)


def csv_records(rows: Iterable[IndexRow], zone: tzinfo) -> Iterator[list[str]]:
    """Each row's cells, in CSV_COLUMNS order; dates in ISO 8601 in the configured zone."""
    for row in rows:
        yield [_cell(value) for value in (
            row.date.astimezone(zone).isoformat(timespec="seconds"), row.sender, row.to,
            row.cc, row.subject, attachments_text(row), str(row.size),
            "; ".join(row.mailboxes), "; ".join(loc.label for loc in row.locations),
            row.message_id, str(row.position),
        )]


def write_csv(rows: Iterable[IndexRow], zone: tzinfo, out: TextIO) -> None:
    """index.csv: a header line, then one line per message (RFC 4180 quoting)."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_records(rows, zone))


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What the index page says above the table."""

    client: str
    exported_at: datetime
    since: str  # "" for all mail
    mbox_name: str
    mailboxes: tuple[str, ...]
    folders_searched: int
    copies_found: int
    problems: tuple[str, ...] = ()  # non-empty: the export is INCOMPLETE


def render_html(
    env: jinja2.Environment, rows: list[IndexRow], summary: ExportSummary, zone: tzinfo
) -> Iterator[str]:
    """index.html, in pieces (a big export need not be one string in memory)."""
    template = env.get_template(INDEX_TEMPLATE)
    return template.generate(rows=rows, summary=summary, zone=zone, human_size=human_size)


def human_size(size: int) -> str:
    """'812 bytes', '3.0 KiB', '97.6 MiB': for reading; the CSV keeps exact bytes."""
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"
