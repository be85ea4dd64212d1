"""Where an export is built: resumed after an interruption, refused where it would clobber."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from boundary_mail import mboxrd
from boundary_mail.errors import UserError
from boundary_mail.export_index import IndexRow, Location
from boundary_mail.export_work import WorkDir, check_destination, mbox_name

WHEN = datetime(2026, 11, 30, tzinfo=UTC)
PARAMS = {"client": "Acme", "since": None}


def row(n: int) -> IndexRow:
    return IndexRow(identity=f"<{n}@acme.test> a@acme.test", message_id=f"<{n}@acme.test>",
                    date=WHEN, sender="a@acme.test", to="", cc="", subject=f"m{n}", size=10,
                    locations=[Location("ann", "INBOX")], position=n)


def raw(n: int) -> bytes:
    return f"Subject: m{n}\r\n\r\nFrom the body {n}\r\n".encode()


def started(out: Path, count: int, params: dict[str, object] = PARAMS) -> WorkDir:
    work = WorkDir(out, params)
    assert work.open() == []
    for n in range(1, count + 1):
        work.append(raw(n), "a@acme.test", WHEN, row(n))
    work.abandon()
    return work


def test_a_rerun_keeps_what_the_journal_vouches_for_and_cuts_the_rest(tmp_path: Path) -> None:
    """A run stopped while writing its fourth message: the three before it are kept, the
    mbox is cut back to their end, and the next message follows them."""
    work = started(tmp_path / "out.zip", 3)
    with open(work.mbox, "ab") as f:
        f.write(b"From a@acme.test Mon Nov 30 00:00:00 2026\nSubject: m4\r\n")  # half of one
    with open(work.path / "journal.jsonl", "a") as f:
        f.write('{"end": 99999, "row"')  # half a line

    again = WorkDir(tmp_path / "out.zip", PARAMS)
    kept = again.open()
    assert [r.position for r in kept] == [1, 2, 3]
    again.append(raw(4), "a@acme.test", WHEN, row(4))
    again.abandon()
    with open(again.mbox, "rb") as f:
        assert list(mboxrd.read(f)) == [raw(n) for n in range(1, 5)]


def test_a_journal_line_for_bytes_that_never_reached_the_disk_is_dropped(
    tmp_path: Path
) -> None:
    work = started(tmp_path / "out", 3)
    size = work.mbox.stat().st_size
    with open(work.mbox, "r+b") as f:
        f.truncate(size - 5)  # the last message's end was lost
    again = WorkDir(tmp_path / "out", PARAMS)
    kept = again.open()
    again.abandon()
    assert [r.position for r in kept] == [1, 2]


def test_a_work_directory_of_another_export_is_started_afresh(tmp_path: Path) -> None:
    started(tmp_path / "out", 2)
    other = WorkDir(tmp_path / "out", {"client": "Acme", "since": "2026-01-01"})
    assert other.open() == []
    other.abandon()
    assert other.mbox.stat().st_size == 0


def test_a_finished_directory_export_replaces_an_earlier_one_whole(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for count in (3, 2):
        work = started(out, count)
        work.open()
        work.path.joinpath("export.json").write_text('{"format": "boundary-mail export 1"}')
        check_destination(out)
        assert work.finish() == out
    with open(out / "Acme.mbox", "rb") as f:
        assert len(list(mboxrd.read(f))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_destination_that_is_not_ours_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.odt").write_text("years of work")
    with pytest.raises(UserError, match="holds other files"):
        check_destination(tmp_path / "docs")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        check_destination(tmp_path / "file")
    check_destination(tmp_path / "new")
    check_destination(tmp_path / "new.zip")


def test_the_mbox_is_named_after_the_client_as_a_safe_file_name() -> None:
    assert mbox_name("Acme") == "Acme.mbox"
    assert mbox_name("Müller & Söhne / GmbH") == "M-ller-S-hne-GmbH.mbox"
    assert mbox_name("../..") == "client.mbox"


def test_two_runs_of_one_export_at_once_are_refused(tmp_path: Path) -> None:
    """The second would interleave its messages with the first's in the same mbox."""
    first = WorkDir(tmp_path / "out.zip", PARAMS)
    first.open()
    try:
        with pytest.raises(UserError, match=r"another export to .*out\.zip is running"):
            WorkDir(tmp_path / "out.zip", PARAMS).open()
    finally:
        first.abandon()
    second = WorkDir(tmp_path / "out.zip", PARAMS)
    second.open()
    second.abandon()
