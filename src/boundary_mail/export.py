"""`boundary-mail export`: every message from or to one client, from every monitored mailbox
and folder, as one mbox with an index, for the hand-off when a client leaves.

Two passes over IMAP, each mailbox in turn, strictly read-only (folders opened with EXAMINE,
bodies read with BODY.PEEK[]: no flag changes, nothing stored or expunged):

1. Scan: LIST the folders; in each, one SEARCH for the client's addresses and domains in
   From/To/Cc, and the header fields of what it found, in batches; `export_select` keeps
   the client's mail (routing's matching) and `export_index` notes which copy of each
   message is the one to write. Every mailbox is scanned before anything is downloaded, so
   a refused login is said at once, not after an hour of downloading.
2. Fetch: the chosen copies, whole, in batches of at most BODY_BATCH messages or
   BODY_BATCH_BYTES (a bigger message alone), each written to the mbox as it arrives: one
   batch in memory at a time, whatever the mailbox's size.

A mailbox or folder that cannot be read makes the export incomplete. By default nothing is
put at --out then: the error names what failed and the fix, and what was written is kept for
the next run to resume (`export_work`). With --allow-incomplete the export is finished
anyway, marked INCOMPLETE in index.html and export.json, and the command still exits 1.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import imapclient
import jinja2
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

from boundary_mail import imap
from boundary_mail.config import ClientConfig, Config, MailboxConfig
from boundary_mail.directory import Directory
from boundary_mail.errors import UserError
from boundary_mail.export_index import (
    INDEX_TEMPLATE,
    ExportIndex,
    ExportSummary,
    Location,
    attachments_of,
    row_of,
)
from boundary_mail.export_select import belongs_to, identity, search_criteria
from boundary_mail.export_work import WorkDir, check_destination
from boundary_mail.headers import FETCHED_HEADERS, MalformedMessage, parse_facts
from boundary_mail.secrets import resolve_password
from boundary_mail.sync import logout
from boundary_mail.templates import environment

log = logging.getLogger(__name__)

HEADER_BATCH = 500  # messages per header FETCH in the scan
BODY_BATCH = 100  # messages per body FETCH …
BODY_BATCH_BYTES = 16 * 1024 * 1024  # … and at most this much mail (one bigger message alone)
_HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(FETCHED_HEADERS)).upper()
_SKIPPED_FOLDER_FLAGS = frozenset({b"\\Noselect", b"\\NonExistent"})


class ExportIncomplete(UserError):
    """Some mailbox or folder could not be read; nothing was put at --out."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    client: ClientConfig
    out: Path
    since: date | None = None
    allow_incomplete: bool = False


@dataclass(frozen=True, slots=True)
class Pending:
    """A copy chosen in the scan, to be fetched whole."""

    uid: int
    identity: str
    size: int
    envelope_sender: str
    arrived: datetime


@dataclass
class ExportResult:
    out: Path | None = None
    written: int = 0  # messages in the mbox
    resumed: int = 0  # of which an earlier run had written
    copies: int = 0  # copies found in all folders
    folders: int = 0  # folders searched
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems


@dataclass
class _MailboxScan:
    uidvalidity: dict[str, int] = field(default_factory=dict)
    pending: dict[str, list[Pending]] = field(default_factory=dict)


def run_export(
    config: Config, request: ExportRequest, now: datetime, *, progress: bool
) -> ExportResult:
    """Scan, fetch, write; see the module docstring. Raises ExportIncomplete (nothing at
    --out) when something could not be read, unless request.allow_incomplete."""
    check_destination(request.out)
    env = environment(config.templates_dir, config.default_language)
    env.get_template(INDEX_TEMPLATE)  # a broken override of it is said now, not after hours
    index, result = ExportIndex(), ExportResult()
    work = WorkDir(request.out, {  # a resumed run must be the same export
        "client": request.client.name,
        "since": request.since.isoformat() if request.since else None,
        "matching": sorted([*request.client.addresses, *request.client.domains]),
        "mailboxes": [box.name for box in config.mailboxes],
    })
    for row in work.open():
        index.restore(row)
    result.resumed = index.count_written
    try:
        directory = Directory(config)
        scans = {box.name: _scan(box, request, directory, index, result)
                 for box in config.mailboxes}
        if result.problems and not request.allow_incomplete:
            raise _incomplete(result.problems, work)
        total = sum(len(p) for s in scans.values() for p in s.pending.values())
        log.info("client=%s copies=%d messages=%d (%d written before, %d to fetch)",
                 request.client.name, result.copies, index.count_written + total,
                 index.count_written, total)
        with _progress_bar(total, enabled=progress) as bar:
            for box in config.mailboxes:
                _fetch(box, scans[box.name], index, work, result, bar)
        result.written = index.count_written
        lost = len(index.unwritten())
        if lost and result.problems:
            result.problems.append(f"{lost} message(s) were not fetched because of the above")
        elif lost:
            result.problems.append(f"{lost} message(s) found by the search were gone when"
                                   " fetched (moved or deleted meanwhile?); run the export again")
        if result.problems and not request.allow_incomplete:
            raise _incomplete(result.problems, work)
        _write_index(config, request, env, index, work, result, now)
        result.out = work.finish()
    finally:
        work.abandon()
    return result


def _incomplete(problems: list[str], work: WorkDir) -> ExportIncomplete:
    lines = "\n".join(f"  - {p}" for p in problems)
    return ExportIncomplete(
        f"the export is incomplete, so nothing was written to {work.out}:\n{lines}\nFix what"
        " is said above and run the same command again: it resumes from the messages"
        f" already fetched (kept in {work.path}). --allow-incomplete writes the export"
        " anyway, marked INCOMPLETE."
    )


# -- pass 1: scan ---------------------------------------------------------------------------


def _scan(
    box: MailboxConfig, request: ExportRequest, directory: Directory, index: ExportIndex,
    result: ExportResult,
) -> _MailboxScan:
    scan = _MailboxScan()
    where = f"mailbox {box.name!r}"
    try:
        client = _connect(box, where)
    except UserError as exc:
        result.problems.append(str(exc))
        log.warning("%s cannot be read: %s", where, exc)
        return scan
    try:
        for folder in _folders(client):
            result.folders += 1
            try:
                status = imap.select(client, folder)  # EXAMINE: read-only
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                result.problems.append(f"{where}: the folder {folder!r} cannot be opened"
                                       f" ({exc})")
                continue
            scan.uidvalidity[folder] = status.uidvalidity
            found = scan.pending.setdefault(folder, [])
            try:
                found.extend(_scan_folder(client, box, folder, request, directory, index,
                                          result))
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                result.problems.append(f"{where}: searching the folder {folder!r} failed"
                                       f" ({exc})")
    except (IMAPClientAbortError, OSError) as exc:
        result.problems.append(f"{where}: the connection was lost while searching"
                               f" ({type(exc).__name__}); check that the server is up")
    finally:
        logout(client)
    log.info("mailbox=%s folders=%d to fetch=%d", box.name, len(scan.uidvalidity),
             sum(len(p) for p in scan.pending.values()))
    return scan


def _connect(box: MailboxConfig, where: str) -> imapclient.IMAPClient:
    """The product's login (TLS verified, the password from its reference), with dates as
    the server wrote them (aware), not in this machine's zone."""
    client = imap.connect(box, resolve_password(box, where=where))
    client.normalise_times = False
    return client


def _folders(client: imapclient.IMAPClient) -> list[str]:
    """Every folder that can hold mail, in the server's order (INBOX first)."""
    names = [str(name) for flags, _sep, name in client.list_folders()
             if not _SKIPPED_FOLDER_FLAGS.intersection(flags)]
    return sorted(names, key=lambda n: n.upper() != "INBOX")


def _scan_folder(
    client: imapclient.IMAPClient, box: MailboxConfig, folder: str, request: ExportRequest,
    directory: Directory, index: ExportIndex, result: ExportResult,
) -> Iterator[Pending]:
    criteria = search_criteria(request.client, request.since)
    ascii_only = all(str(c).isascii() for c in criteria)
    uids = sorted(client.search(criteria, charset=None if ascii_only else "UTF-8"))
    here = Location(box.name, folder)
    for start in range(0, len(uids), HEADER_BATCH):
        chunk = uids[start : start + HEADER_BATCH]
        answer = client.fetch(chunk, [_HEADER_ITEM, "INTERNALDATE", "RFC822.SIZE"])
        for uid in chunk:
            item = answer.get(uid)
            if item is None:
                continue  # expunged since the SEARCH
            arrived = _arrival(item.get(b"INTERNALDATE"))
            try:
                facts = parse_facts(
                    _section(item), mailbox=box.name, folder=folder, uid=uid,
                    received_at=arrived, size=int(item.get(b"RFC822.SIZE", 0)),
                )
            except MalformedMessage as exc:
                result.problems.append(f"mailbox {box.name!r}, folder {folder!r}, UID {uid}:"
                                       f" the headers cannot be read ({exc}); not exported")
                continue
            if not belongs_to(facts, request.client, directory):
                continue
            result.copies += 1
            key = identity(facts)
            if index.note(row_of(facts, key), here):
                sender = facts.return_path or (facts.sender.email if facts.sender else "")
                yield Pending(uid, key, facts.size, sender, arrived)


def _arrival(value: Any) -> datetime:
    """INTERNALDATE, aware (the connections here have normalise_times off)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


def _section(item: dict[bytes, Any]) -> bytes:
    """The BODY[…] part of a FETCH answer (its key names the section)."""
    for key, value in item.items():
        if key.startswith(b"BODY[") and isinstance(value, bytes):
            return value
    return b""


# -- pass 2: fetch --------------------------------------------------------------------------


def _fetch(
    box: MailboxConfig, scan: _MailboxScan, index: ExportIndex, work: WorkDir,
    result: ExportResult, bar: Any,
) -> None:
    wanted = {folder: items for folder, items in scan.pending.items() if items}
    if not wanted:
        return
    where = f"mailbox {box.name!r}"
    try:
        client = _connect(box, where)
    except UserError as exc:
        result.problems.append(str(exc))
        return
    try:
        for folder, items in wanted.items():
            try:
                status = imap.select(client, folder)
            except IMAPClientAbortError:
                raise
            except IMAPClientError as exc:
                result.problems.append(f"{where}: the folder {folder!r} cannot be opened"
                                       f" any more ({exc})")
                continue
            if status.uidvalidity != scan.uidvalidity[folder]:
                result.problems.append(f"{where}: the folder {folder!r} changed while"
                                       " exporting (UIDVALIDITY); run the export again")
                continue
            for batch in _batches(items):
                try:
                    answer = client.fetch([p.uid for p in batch], ["BODY.PEEK[]"])
                except IMAPClientAbortError:
                    raise
                except IMAPClientError as exc:
                    result.problems.append(f"{where}: fetching from the folder {folder!r}"
                                           f" failed ({exc})")
                    break
                for pending in batch:
                    raw = _section(answer.get(pending.uid, {}))
                    if not raw:
                        continue  # reported as not fetched, by identity
                    row = index.written(pending.identity, attachments_of(raw))
                    work.append(raw, pending.envelope_sender, pending.arrived, row)
                    bar.update(1)
    except (IMAPClientAbortError, OSError) as exc:
        result.problems.append(f"{where}: the connection was lost while fetching"
                               f" ({type(exc).__name__}); run the export again to resume")
    finally:
        logout(client)
    log.info("mailbox=%s fetched; %d message(s) written so far", box.name,
             index.count_written)


def _batches(items: list[Pending]) -> Iterator[list[Pending]]:
    batch: list[Pending] = []
    size = 0
    for item in sorted(items, key=lambda p: p.uid):
        if batch and (len(batch) >= BODY_BATCH or size + item.size > BODY_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item.size
    if batch:
        yield batch


class _NoBar:
    """No bar (the journal, a pipe): the log lines say how far it got."""

    def update(self, n: int) -> None:
        pass


@contextmanager
def _progress_bar(total: int, *, enabled: bool) -> Iterator[Any]:
    """A tqdm bar on the terminal (log lines are written above it), else none."""
    if not enabled:
        yield _NoBar()
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm(), tqdm(
        total=total, unit="msg", desc="export", file=sys.stderr, dynamic_ncols=True
    ) as bar:
        yield bar


# -- the index ------------------------------------------------------------------------------


def _write_index(
    config: Config, request: ExportRequest, env: jinja2.Environment, index: ExportIndex,
    work: WorkDir, result: ExportResult, now: datetime,
) -> None:
    summary = ExportSummary(
        client=request.client.name, exported_at=now,
        since=request.since.isoformat() if request.since else "", mbox_name=work.mbox.name,
        mailboxes=tuple(b.name for b in config.mailboxes), folders_searched=result.folders,
        copies_found=result.copies, problems=tuple(result.problems),
    )
    work.write_index(index.rows(), summary, env, config.tz)
