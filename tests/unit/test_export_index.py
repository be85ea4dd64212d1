"""The export's index: one row per message however many copies, and its CSV and HTML."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from boundary_mail.export_index import (
    CSV_COLUMNS,
    Attachment,
    ExportIndex,
    ExportSummary,
    Location,
    attachments_of,
    human_size,
    render_html,
    row_from_json,
    row_of,
    row_to_json,
    write_csv,
)
from boundary_mail.export_select import identity
from boundary_mail.templates import environment
from tests.unit.factories import ANN, BOB, CARLA, message

BERLIN = ZoneInfo("Europe/Berlin")


def noted(index: ExportIndex, mailbox: str, folder: str, **kwargs: object) -> bool:
    facts = message(CARLA, mailbox=mailbox, folder=folder, **kwargs)  # type: ignore[arg-type]
    return index.note(row_of(facts, identity(facts)), Location(mailbox, folder))


def test_the_first_copy_is_written_later_copies_only_say_where_they_were() -> None:
    index = ExportIndex()
    assert noted(index, "ann", "INBOX") is True
    assert noted(index, "bob", "Archive") is False
    assert noted(index, "ann", "INBOX") is False  # seen again (a resumed run): listed once
    assert noted(index, "ann", "INBOX", mid="<other@acme.test>") is True
    assert len(index.unwritten()) == 2 and index.rows() == []

    first = index.unwritten()[0]
    row = index.written(first.identity, (Attachment("a.pdf", 10),))
    assert row.position == 1
    assert [loc.label for loc in row.locations] == ["ann/INBOX", "bob/Archive"]
    assert row.mailboxes == ["ann", "bob"]
    assert index.rows() == [row] and len(index.unwritten()) == 1


def test_rows_are_listed_oldest_first_whatever_the_mbox_order() -> None:
    index = ExportIndex()
    for mid, subject in (("<b@acme.test>", "later"), ("<a@acme.test>", "earlier")):
        facts = message(CARLA, mid=mid, subject=subject)
        row = row_of(facts, identity(facts))
        if subject == "earlier":
            row.date = datetime(2026, 1, 1, tzinfo=UTC)
        index.note(row, Location("ann", "INBOX"))
        index.written(row.identity, ())
    assert [r.subject for r in index.rows()] == ["earlier", "later"]
    assert [r.position for r in index.rows()] == [2, 1]


def test_a_row_survives_the_resume_journal() -> None:
    facts = message(CARLA, to=ANN, cc=BOB)
    index = ExportIndex()
    index.note(row_of(facts, identity(facts)), Location("ann", "Sent"))
    row = index.written(identity(facts), (Attachment("x.txt", 3),))
    again = row_from_json(row_to_json(row))
    assert again == row
    restored = ExportIndex()
    restored.restore(again)
    assert restored.count_written == 1
    assert restored.note(row_of(facts, identity(facts)), Location("bob", "INBOX")) is False


def test_attachments_are_named_with_their_decoded_size() -> None:
    msg = EmailMessage()
    msg["Subject"] = "files"
    msg.set_content("see attached")
    msg.add_attachment(b"\x00" * 1000, maintype="application", subtype="octet-stream",
                       filename="data.bin")
    msg.add_attachment("Grüße", filename="notiz.txt")
    found = attachments_of(msg.as_bytes())
    assert [a.name for a in found] == ["data.bin", "notiz.txt"]
    assert found[0].size == 1000
    assert attachments_of(b"Subject: none\r\n\r\nplain\r\n") == ()
    assert attachments_of(b"\xff\x00garbage") == ()


def test_the_csv_has_a_column_for_each_field_and_no_formula_from_mail() -> None:
    """A subject that a spreadsheet would run as a formula is written with an apostrophe."""
    facts = message(CARLA, to=ANN, subject="=HYPERLINK(\"http://evil\")")
    index = ExportIndex()
    index.note(row_of(facts, identity(facts)), Location("ann", "INBOX"))
    index.note(row_of(facts, identity(facts)), Location("bob", "INBOX"))
    index.written(identity(facts), (Attachment("a.pdf", 12), Attachment("b.png", 3)))
    out = io.StringIO()
    write_csv(index.rows(), BERLIN, out)
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(header) == CSV_COLUMNS
    cells = dict(zip(header, row, strict=True))
    assert cells["date"] == "2026-11-23T07:55:00+01:00"
    assert cells["from"] == f"Carla <{CARLA}>"
    assert cells["subject"] == "'=HYPERLINK(\"http://evil\")"
    assert cells["attachments"] == "a.pdf (12 bytes); b.png (3 bytes)"
    assert cells["folders"] == "ann/INBOX; bob/INBOX"
    assert cells["mailboxes"] == "ann; bob"
    assert cells["message_id"] == "<m1@acme.test>"
    assert cells["mbox_position"] == "1"


def summary(problems: tuple[str, ...] = ()) -> ExportSummary:
    return ExportSummary(
        client="Acme <&>", exported_at=datetime(2026, 11, 30, 12, tzinfo=UTC), since="",
        mbox_name="Acme.mbox", mailboxes=("ann", "bob"), folders_searched=10, copies_found=3,
        problems=problems,
    )


def html_of(problems: tuple[str, ...] = ()) -> str:
    facts = message(CARLA, subject="<img src=http://track.example/x.png> hi")
    index = ExportIndex()
    index.note(row_of(facts, identity(facts)), Location("ann", "INBOX"))
    index.written(identity(facts), (Attachment("<b>.pdf", 1),))
    return "".join(render_html(environment(None, "en"), index.rows(), summary(problems),
                               BERLIN))


def test_the_html_index_escapes_mail_and_loads_nothing_remote() -> None:
    html = html_of()
    assert "&lt;img src=http://track.example/x.png&gt; hi" in html
    assert "&lt;b&gt;.pdf" in html and "Acme &lt;&amp;&gt;" in html
    assert "<img" not in html and "<link" not in html and "<script" not in html
    assert "INCOMPLETE" not in html
    assert "2026-11-23 07:55" in html
    assert "old. Exported" in html.replace("\n", " ")


def test_sizes_read_as_bytes_kib_mib() -> None:
    assert [human_size(n) for n in (0, 1023, 1024, 3080, 5 * 1024**2, 3 * 1024**4)] == [
        "0 bytes", "1023 bytes", "1.0 KiB", "3.0 KiB", "5.0 MiB", "3072.0 GiB",
    ]


def test_an_incomplete_export_says_so_at_the_top_with_each_problem() -> None:
    html = html_of(("mailbox 'bob': login was refused",))
    assert "INCOMPLETE" in html
    assert html.index("INCOMPLETE") < html.index("<table")
    assert "mailbox &#39;bob&#39;: login was refused" in html
