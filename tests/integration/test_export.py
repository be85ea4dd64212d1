"""The hand-off export on the real servers: a client's mail from every mailbox and folder,
each message once and byte for byte, with its index; the server left exactly as it was."""

from __future__ import annotations

import csv
import io
import json
import mailbox
import zipfile
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from boundary_mail import export, export_work, mboxrd
from tests.integration.agency import Agency, at, client_mail
from tests.integration.proxy import proxy

MAILBOXES = ("ann", "bob", "lead")


def _with_attachment(**fields: Any) -> bytes:
    msg = EmailMessage()
    msg["Return-Path"] = "<maria@acme.test>"
    msg["From"] = "Maria Keller <maria@acme.test>"
    msg["To"] = "ann@agency.test"
    msg["Subject"] = "Signed contract <script>alert(1)</script>"
    msg["Message-ID"] = "<contract@acme.test>"
    msg["Date"] = format_datetime(at(0, 9))
    msg.set_content("The contract is attached.\n\nFrom now on we write to Ann only.\n")
    msg.add_attachment(b"%PDF-1.4 " + b"x" * 3000, maintype="application", subtype="pdf",
                       filename="contract.pdf")
    return msg.as_bytes()


def _as_delivered_to(raw: bytes, user: str) -> bytes:
    """The copy one mailbox holds: the same message with its own delivery field on top."""
    return f"Delivered-To: {user}@agency.test\r\n".encode() + raw


def seed(server: Any) -> dict[str, bytes]:
    """Acme's mail in INBOX, Sent and Archive of Ann's and Bob's mailboxes (one message in
    both inboxes, each copy with its own Delivered-To), and mail that is not Acme's. Returns
    the server's bytes of the copy of each Acme message that the export is to write."""
    contract = _with_attachment()
    acme = {
        "<contract@acme.test>": contract,
        "<reply@agency.test>": client_mail(
            sender="ann@agency.test", to="Maria Keller <maria@acme.test>",
            subject="Re: Signed contract", message_id="<reply@agency.test>", date=at(0, 10),
            body="Thanks, Maria.\n>From the second line on, all is quoted.\n",
        ),
        "<old@acme.test>": client_mail(
            subject="Last year's brief", message_id="<old@acme.test>", date=at(-300, 9),
            body="From the start: the brief.\n",
        ),
        "<joe@mail.acme.test>": client_mail(
            sender="joe@mail.acme.test", to="bob@agency.test", subject="Invoice 7",
            message_id="<joe@mail.acme.test>", date=at(1, 9),
        ),
        "<bob-sent@agency.test>": client_mail(
            sender="bob@agency.test", to="lead@agency.test", Cc="joe@mail.acme.test",
            subject="Re: Invoice 7", message_id="<bob-sent@agency.test>", date=at(1, 11),
        ),
        "<bob-archive@acme.test>": client_mail(
            to="bob@agency.test", subject="Archived idea", message_id="<bob-archive@acme.test>",
            date=at(2, 9),
        ),
    }
    placed = [
        ("ann", "INBOX", "<contract@acme.test>", [b"\\Seen"]),
        ("bob", "INBOX", "<contract@acme.test>", []),
        ("ann", "Sent", "<reply@agency.test>", [b"\\Seen"]),
        ("ann", "Archive", "<old@acme.test>", [b"\\Seen", b"\\Flagged"]),
        ("bob", "INBOX", "<joe@mail.acme.test>", []),
        ("bob", "Sent", "<bob-sent@agency.test>", [b"\\Seen"]),
        ("bob", "Archive", "<bob-archive@acme.test>", [b"\\Answered"]),
    ]
    for user, folder, mid, flags in placed:
        arrived = at(-300, 9) if mid == "<old@acme.test>" else at(2, 12)
        server.append(user, folder, _as_delivered_to(acme[mid], user), date=arrived, flags=flags)
    others = [
        ("ann", client_mail(sender="tom@globex.test", subject="Globex news",
                            message_id="<tom@globex.test>")),
        ("ann", client_mail(sender="lab@labs.acme.test", subject="Labs are their own client",
                            message_id="<lab@labs.acme.test>")),
        ("bob", client_mail(sender="news@notacme.test", subject="Not Acme at all",
                            message_id="<news@notacme.test>")),
    ]
    for user, raw in others:
        server.append(user, "INBOX", raw, date=at(2, 12))
    return server_copies(server, set(acme))


def server_copies(server: Any, wanted: set[str]) -> dict[str, bytes]:
    """The server's bytes of each wanted message: the copy of the first mailbox holding it
    (Ann's before Bob's), as the export chooses."""
    found: dict[str, bytes] = {}
    for user in MAILBOXES:
        with server.imap(user) as client:
            for _flags, _sep, folder in client.list_folders():
                client.select_folder(folder, readonly=True)
                uids = client.search(["ALL"])
                for item in (client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}).values():
                    raw = item[b"BODY[]"]
                    mid = _message_id(raw)
                    if mid in wanted:
                        found.setdefault(mid, raw)
    assert set(found) == wanted
    return found


def _message_id(raw: bytes) -> str:
    return raw.split(b"Message-ID: ")[1].split(b"\r\n")[0].strip().decode()


def server_state(server: Any) -> dict[tuple[str, str, int], tuple[bytes, ...]]:
    """Every message's FLAGS in every folder of every mailbox."""
    found = {}
    for user in MAILBOXES:
        with server.imap(user) as client:
            for _flags, _sep, folder in client.list_folders():
                client.select_folder(folder, readonly=True)
                uids = client.search(["ALL"])
                for uid, item in (client.fetch(uids, ["FLAGS"]) if uids else {}).items():
                    found[(user, folder, uid)] = tuple(sorted(item[b"FLAGS"]))
    return found


@pytest.fixture
def acme(agency: Agency) -> Agency:
    """The agency, plus Acme Labs: a client whose domain is inside Acme's."""
    agency.data["clients"].append({"name": "Acme Labs", "domains": ["labs.acme.test"],
                                   "account_manager": "bob@agency.test"})
    agency.write()
    return agency


def read_export(files: dict[str, bytes]) -> tuple[list[bytes], list[dict[str, str]], str]:
    messages = list(mboxrd.read(io.BytesIO(files["Acme.mbox"])))
    rows = list(csv.DictReader(io.StringIO(files["index.csv"].decode())))
    return messages, rows, files["index.html"].decode()


def files_of(path: Path) -> dict[str, bytes]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    return {p.name: p.read_bytes() for p in path.iterdir()}


def test_export_writes_each_client_message_once_byte_for_byte(
    acme: Agency, mailserver: Any, tmp_path: Path
) -> None:
    """Acme's mail in INBOX, Sent and Archive of two mailboxes is exported: each message
    once (the copy in both inboxes too), byte-identical to the server's, listed in index.csv
    and index.html with where it was found. Globex's, Acme Labs' (a more specific domain) and
    a look-alike domain's mail are not. No flag on the server changes; the .zip holds the
    same; running it again gives the same export."""
    expected = seed(mailserver)
    before = server_state(mailserver)
    out = tmp_path / "acme-export"

    assert acme.cli("export", "--client", "acme", "--out", str(out), "--no-progress") == 0

    files = files_of(out)
    assert sorted(files) == ["Acme.mbox", "export.json", "index.csv", "index.html"]
    messages, rows, html = read_export(files)
    by_id = {_message_id(m): m for m in messages}
    assert len(messages) == len(expected) == len(by_id)
    assert by_id == expected  # byte for byte, each once
    mbox = files["Acme.mbox"]  # body lines that start with "From " are quoted (mboxrd)
    assert b"\n>From the start" in mbox and b"\n>>From the second" in mbox
    stock = mailbox.mbox(out / "Acme.mbox", create=False)  # a stock reader agrees
    try:
        assert len(stock) == len(expected)
    finally:
        stock.close()

    assert sorted(r["message_id"] for r in rows) == sorted(expected)
    contract = next(r for r in rows if r["message_id"] == "<contract@acme.test>")
    assert contract["folders"] == "ann/INBOX; bob/INBOX"
    assert contract["mailboxes"] == "ann; bob"
    assert contract["attachments"] == "contract.pdf (3009 bytes)"
    assert contract["from"] == "Maria Keller <maria@acme.test>"
    assert [r["date"][:10] for r in rows] == sorted(r["date"][:10] for r in rows)
    assert {r["folders"] for r in rows} >= {"ann/Sent", "ann/Archive", "bob/Sent", "bob/Archive"}

    assert "Signed contract &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html and "http" not in html.replace("http-equiv", "")
    assert "INCOMPLETE" not in html
    manifest = json.loads(files["export.json"])
    assert manifest["complete"] is True and manifest["messages"] == len(expected)
    assert server_state(mailserver) == before  # \Seen and the rest as they were

    zipped = tmp_path / "acme.zip"
    assert acme.cli("export", "--client", "Acme", "--out", str(zipped), "--no-progress") == 0
    assert zipped.stat().st_mode & 0o077 == 0 and out.stat().st_mode & 0o077 == 0  # private
    in_zip = files_of(zipped)
    assert in_zip["Acme.mbox"] == files["Acme.mbox"]
    assert in_zip["index.csv"] == files["index.csv"]

    assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 0
    assert files_of(out)["Acme.mbox"] == files["Acme.mbox"]
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())

    since = tmp_path / "recent"
    day = at(0, 0).date().isoformat()
    assert acme.cli("export", "--client", "Acme", "--since", day, "--out", str(since),
                    "--no-progress") == 0
    recent, _rows, _html = read_export(files_of(since))
    assert len(recent) == len(expected) - 1  # the archived message of last year is older
    assert server_state(mailserver) == before


def test_an_interrupted_export_resumes_where_it_stopped(
    acme: Agency, mailserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopped after three messages (Ctrl-C), nothing is at --out; the same command then
    fetches only the rest and writes the same export as an uninterrupted run."""
    expected = seed(mailserver)
    out = tmp_path / "acme.zip"
    written = 0
    original = export_work.WorkDir.append

    def stop_after_three(self: export_work.WorkDir, *args: Any) -> None:
        nonlocal written
        if written == 3:
            raise KeyboardInterrupt
        written += 1
        original(self, *args)

    monkeypatch.setattr(export_work.WorkDir, "append", stop_after_three)
    assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 130
    assert not out.exists()
    monkeypatch.setattr(export_work.WorkDir, "append", original)

    assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 0
    messages, rows, _html = read_export(files_of(out))
    assert sorted(messages) == sorted(expected.values())
    assert [r["mbox_position"] for r in rows] != [] and len(rows) == len(expected)
    assert not (tmp_path / ".acme.zip.partial").exists()


def test_a_mailbox_that_cannot_be_read_is_no_silent_gap(
    acme: Agency, mailserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bob's login is refused: the export stops with the mailbox and the fix, writes nothing
    at --out; with --allow-incomplete it is written, marked INCOMPLETE, and exits 1."""
    seed(mailserver)
    monkeypatch.setenv("BM_TEST_PW_BOB", "wrong")
    out = tmp_path / "acme"

    assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 1
    error = capsys.readouterr().err
    assert "mailbox 'bob'" in error and "refused" in error and "run the same command" in error
    assert not out.exists()

    assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress",
                    "--allow-incomplete") == 1
    assert "INCOMPLETE" in capsys.readouterr().err
    files = files_of(out)
    messages, _rows, html = read_export(files)
    assert len(messages) == 3  # Ann's: the contract, her reply, the archived brief
    assert "INCOMPLETE" in html and "mailbox &#39;bob&#39;" in html
    assert json.loads(files["export.json"])["complete"] is False


def test_mistakes_in_the_command_are_said_with_the_fix(
    acme: Agency, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown client names the configured ones; a bad day shows the form; a directory
    with other files in it is never overwritten. Nothing is written in any of these cases."""
    out = str(tmp_path / "x.zip")
    assert acme.cli("export", "--client", "Initech", "--out", out) == 1
    assert "no such client; the clients are: Acme, Globex, Acme Labs" in capsys.readouterr().err
    assert acme.cli("export", "--client", "Acme", "--since", "31.01.2026", "--out", out) == 1
    assert "write e.g. 2026-01-31" in capsys.readouterr().err
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "thesis.odt").write_text("years of work")
    assert acme.cli("export", "--client", "Acme", "--out", str(tmp_path / "docs")) == 1
    assert "holds other files" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundary-mail.toml", "docs"]


def test_a_connection_lost_while_fetching_stops_the_export_and_the_rerun_completes_it(
    acme: Agency, mailserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ann's server connection is cut after her first message is written: Bob's mailbox is
    still fetched, but there is no export at --out, and the error says what failed and how to
    go on; the rerun fetches only the rest, and the export is an uninterrupted one's."""
    expected = seed(mailserver)
    out = tmp_path / "acme.zip"
    with proxy(mailserver.host, mailserver.imaps_port) as cutter:
        acme.data["mailboxes"][0]["port"] = cutter.port
        acme.write()
        original = export_work.WorkDir.append

        def cut_after_first(self: export_work.WorkDir, *args: Any) -> None:
            original(self, *args)
            cutter.cut()

        monkeypatch.setattr(export_work.WorkDir, "append", cut_after_first)
        assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 1
        error = capsys.readouterr().err
        assert "mailbox 'ann': the connection was lost while fetching" in error
        assert "run the same command again" in error and not out.exists()

        monkeypatch.setattr(export_work.WorkDir, "append", original)
        assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 0
    # Ann's first message and Bob's three were kept; Ann's other two are fetched now.
    assert "2 fetched now, 4 kept from the interrupted run" in capsys.readouterr().out
    messages, rows, _html = read_export(files_of(out))
    assert sorted(messages) == sorted(expected.values()) and len(rows) == len(expected)


def test_a_message_deleted_between_search_and_fetch_is_no_silent_gap(
    acme: Agency, mailserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ann deletes the archived brief while the export runs (after the search, before the
    download): the export says a message was gone and writes nothing; run again, it no
    longer finds it and completes with the rest."""
    expected = seed(mailserver)
    out = tmp_path / "acme"
    original = export._fetch

    def delete_first(*args: Any) -> None:
        with mailserver.imap("ann") as client:
            client.select_folder("Archive")
            client.delete_messages(client.search(["ALL"]))
            client.expunge()
        original(*args)

    monkeypatch.setattr(export, "_fetch", delete_first)
    assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 1
    assert "1 message(s) found by the search were gone when fetched" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setattr(export, "_fetch", original)

    assert acme.cli("export", "--client", "Acme", "--out", str(out), "--no-progress") == 0
    messages, _rows, _html = read_export(files_of(out))
    assert sorted(messages) == sorted(v for k, v in expected.items() if k != "<old@acme.test>")
