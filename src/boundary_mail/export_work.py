"""Where an export is built, how it resumes, and how it takes its place at `--out` at once.

An export is written into a work directory beside its destination (``.NAME.partial``): the
mbox, and a journal with one line per message written (its index row and where it ends in the
mbox). Only when everything is written does it take its place: a ``.zip`` is written under a
temporary name and renamed over PATH; a directory replaces an earlier export of ours by two
renames. So PATH holds either nothing, the previous export or the new one, never half of one.

Run the same command again after an interruption (Ctrl-C, a lost connection, a mailbox that
could not be read) and it carries on: the journal's messages are kept, the mbox is cut back to
the end of the last one the journal vouches for, and only the rest is fetched. A work
directory made for another client or another --since is started afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
import zipfile
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, Any

import jinja2

from boundary_mail import __version__, mboxrd
from boundary_mail.errors import UserError
from boundary_mail.export_index import (
    ExportSummary,
    IndexRow,
    render_html,
    row_from_json,
    row_to_json,
    write_csv,
)

log = logging.getLogger(__name__)

MANIFEST = "export.json"
JOURNAL = "journal.jsonl"
PARAMS = "params.json"
INDEX_FILES = ("index.html", "index.csv", MANIFEST)
FORMAT = "boundary-mail export 1"


def mbox_name(client: str) -> str:
    """The mbox file's name: the client's name as a safe file name (Thunderbird names the
    imported folder after it)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", client).strip(".-")
    return f"{slug or 'client'}.mbox"


def is_zip(out: Path) -> bool:
    return out.suffix.lower() == ".zip"


def check_destination(out: Path) -> None:
    """Refuse, before any work, a destination that is not ours to replace."""
    if is_zip(out):
        if out.is_dir():
            raise UserError(f"--out {out}: is a directory; name a .zip file or a directory")
        return
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: is a file; give a directory name, or a name ending in"
                        " .zip for a zip file")
    if out.is_dir() and any(out.iterdir()) and not _is_export(out):
        raise UserError(f"--out {out}: the directory holds other files and no earlier export;"
                        " choose a new or empty directory")


def _is_export(directory: Path) -> bool:
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


class WorkDir:
    """The directory an export is built in, with its mbox and journal."""

    def __init__(self, out: Path, params: dict[str, Any]) -> None:
        self.out = out
        self.path = out.parent / f".{out.name}.partial"
        self.params = {"format": FORMAT, **params}
        self.mbox = self.path / mbox_name(str(params["client"]))
        self._mbox_file: IO[bytes] | None = None
        self._journal: Any = None
        self._lock: int | None = None  # the work directory's descriptor, flock'ed

    def open(self) -> list[IndexRow]:
        """Start, or resume what an earlier run of the same export wrote; the rows it kept."""
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.path.mkdir(mode=0o700, exist_ok=True)
        self._take_lock()
        rows = self._resumable()
        if rows is None:
            if any(self.path.iterdir()):
                log.info("starting afresh (%s was made for another export)", self.path)
            for item in self.path.iterdir():  # emptied, not replaced: the lock is on it
                if item.is_dir():
                    shutil.rmtree(item)
                else:
                    item.unlink()
            (self.path / PARAMS).write_text(json.dumps(self.params))
            rows = []
        end = max((r["end"] for r in rows), default=0)
        mbox = open(self.mbox, "r+b" if self.mbox.exists() else "w+b")  # noqa: SIM115
        mbox.truncate(end)  # what the journal does not vouch for goes
        mbox.seek(end)
        self._mbox_file = mbox  # closed by close()
        self._journal = open(self.path / JOURNAL, "w", encoding="utf-8")  # noqa: SIM115
        for record in rows:
            self._journal.write(json.dumps(record) + "\n")
        self._journal.flush()
        if rows:
            log.info("resuming; %d message(s) already written are kept", len(rows))
        return [row_from_json(r["row"]) for r in rows]

    def _take_lock(self) -> None:
        """One run per export at a time: a second one to the same PATH would interleave its
        messages with the first's. The kernel drops the lock when the process ends."""
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"another export to {self.out} is running; wait until it has"
                            " finished (or stop it), then run this one again") from None
        self._lock = fd

    def _resumable(self) -> list[dict[str, Any]] | None:
        try:
            if json.loads((self.path / PARAMS).read_text()) != self.params:
                return None
            size = self.mbox.stat().st_size
            lines = (self.path / JOURNAL).read_text(encoding="utf-8").splitlines()
        except (OSError, ValueError):
            return None
        kept: list[dict[str, Any]] = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                break  # the line being written when the run stopped
            if record["end"] > size or record["row"]["position"] != len(kept) + 1:
                break
            kept.append(record)
        return kept

    def append(self, raw: bytes, envelope_sender: str, arrived: datetime, row: IndexRow) -> None:
        """One message into the mbox, then its journal line (so the journal never names bytes
        that are not there)."""
        assert self._mbox_file is not None and self._journal is not None
        mboxrd.append(self._mbox_file, raw, envelope_sender, arrived)
        self._mbox_file.flush()
        record = {"end": self._mbox_file.tell(), "row": row_to_json(row)}
        self._journal.write(json.dumps(record) + "\n")
        self._journal.flush()

    def write_index(
        self, rows: list[IndexRow], summary: ExportSummary, env: jinja2.Environment,
        zone: tzinfo,
    ) -> None:
        """index.html, index.csv and export.json (what a script reads: complete or not)."""
        with open(self.path / "index.html", "w", encoding="utf-8") as f:
            f.writelines(render_html(env, rows, summary, zone))
        with open(self.path / "index.csv", "w", encoding="utf-8", newline="") as f:
            write_csv(rows, zone, f)
        manifest = {
            "format": FORMAT, "version": __version__, "client": summary.client,
            "since": summary.since or None,
            "exported_at": summary.exported_at.isoformat(timespec="seconds"),
            "mbox": self.mbox.name, "mbox_format": "mboxrd", "messages": len(rows),
            "copies_found": summary.copies_found, "folders_searched": summary.folders_searched,
            "mailboxes": list(summary.mailboxes), "complete": not summary.problems,
            "problems": list(summary.problems),
        }
        (self.path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")

    def close(self) -> None:
        for handle in (self._mbox_file, self._journal):
            if handle is not None:
                handle.close()
        self._mbox_file = self._journal = None

    def _release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def finish(self) -> Path:
        """Put the export at its destination (the index files are in the work directory)."""
        self.close()
        with open(self.mbox, "rb") as f:
            os.fsync(f.fileno())
        (self.path / PARAMS).unlink()
        (self.path / JOURNAL).unlink()
        if is_zip(self.out):
            self._zip()
            shutil.rmtree(self.path)
        else:
            self._into_place()
        self._release()
        return self.out

    def _zip(self) -> None:
        temporary = self.out.parent / f".{self.out.name}.tmp"
        temporary.unlink(missing_ok=True)
        # A client's mail: readable by the owner only, like the work directory (0700).
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                       "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for item in sorted(self.path.iterdir()):
                archive.write(item, item.name)  # read and compressed in chunks
        with open(temporary, "rb") as f:
            os.fsync(f.fileno())
        os.replace(temporary, self.out)

    def _into_place(self) -> None:
        old = self.out.parent / f".{self.out.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if self.out.is_dir():
            if any(self.out.iterdir()):
                self.out.rename(old)  # an earlier export of ours (check_destination)
            else:
                self.out.rmdir()
        self.path.rename(self.out)
        if old.exists():
            shutil.rmtree(old)

    def abandon(self) -> None:
        """Close the files and keep the work directory for the next run to resume."""
        with contextlib.suppress(OSError):
            self.close()
        self._release()
