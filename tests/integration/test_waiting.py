"""Waiting on clients, on the real servers: a tagged message, its nudges as drafts in the
member's Drafts folder, the account manager's report; a client's out-of-office that does not
end the wait and a real answer that does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agency import Agency, at, client_mail


def ann_writes(mailserver: Any, *, message_id: str, subject: str, when: datetime,
               bcc: str = "assistant+2d@agency.test") -> None:
    """Ann writes to Maria (Acme) from her mail client, Bcc the assistant's tag: the message
    goes out by SMTP and her client keeps a copy, Bcc included, in her Sent folder."""
    msg = EmailMessage()
    msg["From"] = "Ann Wright <ann@agency.test>"
    msg["To"] = "Maria Rossi <maria@acme.test>"
    if bcc:
        msg["Bcc"] = bcc
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = format_datetime(when)
    msg.set_content("Hi Maria,\n\nhere is the draft of the homepage copy. Could you approve it,"
                    " or tell us what to change?\n\nThanks,\nAnn\n")
    mailserver.send(msg, user="ann", to=["maria@acme.test", *([bcc] if bcc else [])])
    mailserver.append("ann", "Sent", msg.as_bytes(), date=when, flags=["\\Seen"])


def drafts(mailserver: Any) -> list[tuple[EmailMessage, tuple[bytes, ...]]]:
    """Ann's Drafts folder: each message with its flags."""
    with mailserver.imap("ann") as imap:
        imap.select_folder("Drafts", readonly=True)
        uids = imap.search(["ALL"])
        flags = imap.get_flags(uids) if uids else {}
    return [(m, flags[u]) for (u, m, _) in mailserver.fetch("ann", "Drafts")]


def reports(mailserver: Any) -> list[EmailMessage]:
    return [m for m in mailserver.messages("ann")
            if str(m["X-Boundary-Mail"] or "") == "waiting-report"]


def test_tagged_message_is_nudged_by_draft_twice_then_reported(
    agency: Agency, mailserver: Any, deliver: Callable[..., None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Bcc assistant+2d: two business days later a nudge lies in Ann's Drafts, threaded to her
    message and flagged \\Draft; a second one a spacing (3 business days) later; one spacing
    after that, Ann (Acme's account manager) is told how long we have waited. The digest and
    status show the wait and the figures both ways."""
    agency.poll(at(0, 8))  # installation: first sync
    ann_writes(mailserver, message_id="<copy@agency.test>", subject="Homepage copy",
               when=at(0, 10, 30))
    capsys.readouterr()
    assert agency.poll(at(0, 15)) == 0
    assert ("waiting on Acme (maria@acme.test) for an answer to <copy@agency.test> from"
            " ann@agency.test (bcc): first nudge after 2 business day(s)"
            in capsys.readouterr().out)
    (wait,) = agency.store().open_waits()
    assert (wait.start.client, wait.start.member, wait.start.after_days, wait.start.how) == (
        "Acme", "ann@agency.test", 2, "bcc")

    assert agency.poll(at(2, 10)) == 0  # Wednesday 10:00: two business days end at 10:30
    assert drafts(mailserver) == []
    assert agency.cli("poll", "--dry-run", "--now", at(2, 15).isoformat()) == 0
    assert "--- would send (nudge_draft) to maria@acme.test ---" in capsys.readouterr().out
    assert drafts(mailserver) == []  # the dry run put nothing there
    assert agency.poll(at(2, 15)) == 0
    assert ("nudge 1 to Acme (maria@acme.test) for <copy@agency.test>, a draft in"
            " ann@agency.test's Drafts, after 2.6 business days" in capsys.readouterr().out)
    ((first, flags),) = drafts(mailserver)
    assert b"\\Draft" in flags
    assert first["From"] == "Ann Wright <ann@agency.test>"
    assert first["To"] == "maria@acme.test"
    assert first["Subject"] == "Re: Homepage copy"
    assert first["In-Reply-To"] == "<copy@agency.test>"
    assert "<copy@agency.test>" in str(first["References"])
    text = first.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert text.startswith("Hello Maria,")
    assert "> here is the draft of the homepage copy." in text
    assert first["Auto-Submitted"] is None  # Ann sends it herself

    # Meanwhile Maria asks something else; Ann answers it four business hours later.
    deliver("ann", client_mail(subject="Invoice", message_id="<invoice@acme.test>"), at(3, 9))
    mailserver.append("ann", "Sent", client_mail(
        sender="ann@agency.test", to="maria@acme.test", subject="Re: Invoice",
        message_id="<re-invoice@agency.test>", In_Reply_To="<invoice@acme.test>"), date=at(3, 13))
    for day in (3, 4):  # the spacing is three business days: Monday the next week
        assert agency.poll(at(day, 15)) == 0
    assert len(drafts(mailserver)) == 1
    assert agency.poll(at(7, 15)) == 0
    (_, _), (second, _) = drafts(mailserver)
    assert second["In-Reply-To"] == "<copy@agency.test>"
    assert second["Message-ID"] != first["Message-ID"]
    assert reports(mailserver) == []

    assert agency.poll(at(10, 15)) == 0  # the nudges are used up: the report
    (report,) = mailserver.wait_for("ann", 1) and reports(mailserver)
    assert report["Subject"] == "Waiting on Acme for 8 business days: Homepage copy"
    assert "boundary-mail done '<copy@agency.test>'" in str(
        report.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    assert agency.poll(at(11, 15)) == 0
    assert len(drafts(mailserver)) == 2 and len(reports(mailserver)) == 1

    capsys.readouterr()
    assert agency.cli("digest", "--now", at(11, 17, 30).isoformat()) == 0
    digest = capsys.readouterr().out
    # Mon 16 10:30 to Fri 27 17:30: 6.5 h + 8 business days of 8 h + 8 h = 78.5 h = 9.8 days
    assert "WAITING ON CLIENTS: 1" in digest
    assert ("9.8 bd    since Mon 16 Nov 10:30  Acme · maria@acme.test  nudges 2/2"
            "  ** NUDGES USED UP **") in digest
    # their one turn, 9.8 days so far; our one turn, Thu 09:00 to 13:00, half a day
    assert "Acme              2026-11  1            9.8     9.8      1          0.5" in digest
    capsys.readouterr()
    assert agency.cli("status", "--now", at(11, 17, 30).isoformat()) == 0
    status = capsys.readouterr().out
    assert "waiting on clients: 1" in status
    assert ("Acme 2026-11: 1 turn(s) theirs, median 9.8, longest 9.8; 1 ours, median 0.5"
            in status)


def test_out_of_office_does_not_end_the_wait_but_the_answer_does(
    agency: Agency, mailserver: Any, deliver: Callable[..., None]
) -> None:
    """Maria's out-of-office (Auto-Submitted) in the thread leaves the ball in her court; her
    real answer ends the wait, and no nudge follows."""
    agency.poll(at(0, 8))
    ann_writes(mailserver, message_id="<logo@agency.test>", subject="Logo options",
               when=at(0, 10, 30))
    assert agency.poll(at(0, 15)) == 0
    deliver("ann", client_mail(subject="Automatic reply: Logo options",
                               message_id="<ooo@acme.test>", In_Reply_To="<logo@agency.test>",
                               References="<logo@agency.test>", Auto_Submitted="auto-replied"),
            at(0, 16))
    assert agency.poll(at(1, 10)) == 0
    assert [w.message_id for w in agency.store().open_waits()] == ["<logo@agency.test>"]

    deliver("ann", client_mail(subject="Re: Logo options", message_id="<answer@acme.test>",
                               In_Reply_To="<logo@agency.test>",
                               References="<logo@agency.test>", body="The second one!\n"),
            at(1, 12))
    assert agency.poll(at(1, 15)) == 0
    store = agency.store()
    assert store.open_waits() == []
    ended = store.wait("<logo@agency.test>")
    assert ended is not None and ended.status == "answered" and ended.ended_at == at(1, 12)
    for day in (2, 3, 7, 10):
        assert agency.poll(at(day, 15)) == 0
    assert drafts(mailserver) == [] and reports(mailserver) == []



def test_wait_and_done_by_hand(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """`wait` finds an untagged message in Ann's Sent folder and makes it a waiting item
    (--days 1: nudge on Tuesday); `done` ends it, and no nudge follows."""
    agency.poll(at(0, 8))
    ann_writes(mailserver, message_id="<plain@agency.test>", subject="Texts", when=at(0, 10, 30),
               bcc="")
    assert agency.poll(at(0, 15)) == 0
    assert agency.store().open_waits() == []  # untagged, track = "tagged"

    assert agency.cli("wait", "nobody@agency.test", "--now", at(0, 16).isoformat()) == 1
    assert "<nobody@agency.test> is in no monitored Sent folder" in capsys.readouterr().err
    assert agency.cli("wait", "plain@agency.test", "--days", "1",
                      "--now", at(0, 16).isoformat()) == 0
    assert "waiting on Acme" in capsys.readouterr().out
    (wait,) = agency.store().open_waits()
    assert (wait.start.how, wait.start.after_days, wait.start.to) == (
        "manual", 1, ("maria@acme.test",))

    assert agency.poll(at(1, 15)) == 0  # one business day after Monday 10:30
    ((nudge, _),) = drafts(mailserver)
    assert nudge["In-Reply-To"] == "<plain@agency.test>"
    assert agency.cli("done", "<plain@agency.test>", "--now", at(1, 16).isoformat()) == 0
    assert "no longer waiting on Acme" in capsys.readouterr().out
    for day in (4, 7, 10):
        assert agency.poll(at(day, 15)) == 0
    assert len(drafts(mailserver)) == 1 and reports(mailserver) == []
    assert agency.store().wait("<plain@agency.test>").status == "done"  # type: ignore[union-attr]


def test_the_waiting_keyword_on_a_sent_copy(agency: Agency, mailserver: Any) -> None:
    """Tagged $Waiting in the mail client: nudged after [waiting] after_business_days (3)."""
    agency.poll(at(0, 8))
    msg = client_mail(sender="ann@agency.test", to="maria@acme.test", subject="Contract",
                      message_id="<contract@agency.test>")
    mailserver.append("ann", "Sent", msg, date=at(0, 10, 30), flags=["\\Seen", "$Waiting"])
    assert agency.poll(at(0, 15)) == 0
    (wait,) = agency.store().open_waits()
    assert (wait.start.how, wait.start.after_days) == ("keyword", 3)
    assert agency.poll(at(2, 15)) == 0
    assert drafts(mailserver) == []
    assert agency.poll(at(3, 15)) == 0  # Thursday 10:30 was the third business day
    assert len(drafts(mailserver)) == 1


def test_the_bcc_copy_in_a_monitored_assistant_mailbox_is_left_alone(
    agency: Agency, mailserver: Any
) -> None:
    """When the assistant's own mailbox is monitored, the Bcc copy lands there: it is team
    mail, never answered, passed on or tracked, and the wait is started once."""
    agency.data["mailboxes"].append({
        **agency.data["mailboxes"][0], "name": "assistant", "username": "assistant",
        "password_env": "BM_TEST_PW_ASSISTANT", "owner": "assistant@agency.test"})
    agency.write()
    agency.poll(at(0, 8))
    ann_writes(mailserver, message_id="<copy@agency.test>", subject="Homepage copy",
               when=at(0, 10, 30))
    mailserver.wait_for("assistant", 1)
    assert agency.poll(at(0, 15)) == 0
    store = agency.store()
    assert [w.message_id for w in store.open_waits()] == ["<copy@agency.test>"]
    assert store.open_items() == []
    assert store.actions() == []  # no reply, no route, nothing queued


def test_a_nudge_waits_while_the_members_mailbox_cannot_be_read(
    agency: Agency, mailserver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Maria's answer may lie unread in Ann's mailbox: while it cannot be read, her nudge is
    held, and it is made at the first window that reads it (not skipped)."""
    agency.poll(at(0, 8))
    ann_writes(mailserver, message_id="<copy@agency.test>", subject="Homepage copy",
               when=at(0, 10, 30))
    assert agency.poll(at(0, 15)) == 0
    password = mailserver.users["ann"]
    monkeypatch.delenv("BM_TEST_PW_ANN")
    assert agency.poll(at(2, 15)) == 1  # Ann's mailbox could not be read
    assert [w.nudges for w in agency.store().open_waits()] == [0]
    monkeypatch.setenv("BM_TEST_PW_ANN", password)
    assert agency.poll(at(3, 10)) == 0
    assert len(drafts(mailserver)) == 1
    assert [w.nudges for w in agency.store().open_waits()] == [1]


def test_a_nudge_that_cannot_be_composed_is_not_lost(
    agency: Agency, mailserver: Any, deliver: Callable[..., None], tmp_path: Path
) -> None:
    """A broken nudge template: the window still answers the client mail it read (exit 1
    says something failed), the nudge is not counted as made, and once the template is
    fixed the next window makes it."""
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "nudge.txt.j2").write_text("Hello {{ no_such_thing }}\n")
    agency.data["templates_dir"] = str(templates)
    agency.write()
    agency.poll(at(0, 8))
    ann_writes(mailserver, message_id="<copy@agency.test>", subject="Homepage copy",
               when=at(0, 10, 30))
    assert agency.poll(at(0, 15)) == 0
    deliver("ann", client_mail(sender="tom@globex.test", subject="Other", message_id="<o@g>"),
            at(2, 14))
    assert agency.poll(at(2, 15)) == 1
    assert any(m["In-Reply-To"] == "<o@g>" for m in mailserver.wait_for("catchall", 2))
    assert drafts(mailserver) == []
    assert [w.nudges for w in agency.store().open_waits()] == [0]
    (templates / "nudge.txt.j2").unlink()
    assert agency.poll(at(3, 10)) == 0
    assert len(drafts(mailserver)) == 1
