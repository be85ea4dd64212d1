"""Auto-replies on the real servers: the promised times, once, never to robots, never a loop."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.agency import Agency, client_mail

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_1605 = datetime(2026, 11, 13, 16, 5, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def installed(agency: Agency) -> None:
    """boundary-mail was installed on Thursday: its first sync (the baseline) is behind it."""
    assert agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0


def replies_to(mailserver: Any, address: str) -> list[EmailMessage]:
    """What reached the outside world for `address` (Postfix delivers it to catchall)."""
    return [m for m in mailserver.messages("catchall") if address in str(m["To"])]


def settle() -> None:
    """LMTP delivery trails SMTP's "250 queued" by a few milliseconds."""
    time.sleep(0.5)


def test_friday_1605_message_gets_one_reply_with_monday_and_tuesday(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Arrived Friday 16:05 → read Monday 10:00 → answered by Tuesday 15:00 (one business day,
    the last window), said in the reply, which goes to the Return-Path only, threaded and
    marked as automatic (RFC 3834 §3)."""
    deliver("ann", client_mail(sender="maria@acme.test", subject="Homepage copy",
                               message_id="<hp-1@acme.test>",
                               **{"Reply_To": "someone-else@acme.test"}), FRIDAY_1605)
    deliver("ann", client_mail(sender="maria@acme.test", subject="One more thing",
                               message_id="<hp-2@acme.test>"), FRIDAY_1605 + timedelta(hours=1))
    assert agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    settle()
    replies = replies_to(mailserver, "maria@acme.test")
    assert len(replies) == 1, "a second message from the same sender gets no second reply"
    reply = replies[0]
    assert str(reply["To"]) == "maria@acme.test"
    assert replies_to(mailserver, "someone-else@acme.test") == []  # never Reply-To
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Precedence"] == "bulk"
    assert reply["X-Auto-Response-Suppress"] == "All"
    assert reply["In-Reply-To"] == "<hp-1@acme.test>"
    assert reply["Subject"] == "Auto: Homepage copy"
    text = reply.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert "Your message arrived:        Friday, November 13, 2026, 4:05\u202fPM CET\n" in text
    assert "It will be read:             Monday, November 16, 2026, 10:00\u202fAM CET\n" in text
    assert "answer by:  Tuesday, November 17, 2026, 3:00\u202fPM CET\n" in text
    html = reply.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Monday, November 16, 2026, 10:00\u202fAM CET" in html
    # The first message of a new client carries "How we work together", once.
    names = [p.get_filename() for p in reply.iter_attachments()]
    assert names == ["How we work together.txt"]


def test_robots_get_no_reply(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """A mailing list, a bounce, an Outlook out-of-office and a Gmail vacation reply are
    recorded with their reason and never answered (RFC 3834 §2, RFC 5230 §4.6)."""
    friday = FRIDAY_1605
    deliver("ann", client_mail(sender="news@lists.test", message_id="<l1@lists.test>",
                               List_Id="<news.lists.test>"), friday)
    deliver("ann", client_mail(sender="MAILER-DAEMON@mx.acme.test", return_path="",
                               message_id="<b1@mx.acme.test>", subject="Undelivered Mail"),
            friday)
    deliver("ann", client_mail(sender="pat@acme.test", message_id="<oof@acme.test>",
                               subject="Automatic reply: Homepage",
                               X_Auto_Response_Suppress="All",
                               Auto_Submitted="auto-generated"), friday)
    deliver("ann", client_mail(sender="kim@gmail.test", message_id="<vac@gmail.test>",
                               subject="Out of office", Auto_Submitted="auto-replied"), friday)
    assert agency.poll(MONDAY_10) == 0
    settle()
    assert mailserver.messages("catchall") == []
    store = agency.store()
    rules = {row.message_id: row.rule for row in store.decisions()}
    assert rules == {
        "<l1@lists.test>": "list-header",
        "<b1@mx.acme.test>": "null-return-path",
        "<oof@acme.test>": "auto-submitted",
        "<vac@gmail.test>": "auto-submitted",
    }
    assert store.open_items() == [], "robots are never tracked"


def test_encoded_crlf_in_subject_cannot_inject_headers(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    raw = (
        b"Return-Path: <maria@acme.test>\r\nFrom: maria@acme.test\r\nTo: ann@agency.test\r\n"
        b"Message-ID: <inj@acme.test>\r\n"
        b"Subject: =?utf-8?q?Hello=0D=0ABcc:_victim@evil.test=0D=0A=0D=0Abody?=\r\n\r\nhi\r\n"
    )
    deliver("ann", raw, FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    (reply,) = mailserver.wait_for("catchall", 1)
    assert reply["Bcc"] is None
    assert reply.get_all("Subject") == ["Auto: Hello Bcc: victim@evil.test body"]
    assert replies_to(mailserver, "victim@evil.test") == []


def test_two_instances_writing_to_each_other_do_not_loop(
    agency: Agency, deliver: Callable[..., None], mailserver: Any, tmp_path: Any,
    monkeypatch: Any,
) -> None:
    """Carol runs her own boundary-mail. Her message to Ann gets one auto-reply; Carol's
    assistant sees an auto-reply and stays silent, and so on: no loop, whatever the order."""
    mailserver.reset("carol")
    monkeypatch.setenv("BM_TEST_PW_CAROL", mailserver.users["carol"])
    other = dict(agency.data)
    other["state_dir"] = str(tmp_path / "carol-state")
    other["smtp"] = {**agency.data["smtp"], "username": "carol",
                     "password_env": "BM_TEST_PW_CAROL", "from_address": "carol@agency.test"}
    other["mailboxes"] = [{**agency.data["mailboxes"][0], "name": "carol", "username": "carol",
                           "password_env": "BM_TEST_PW_CAROL", "owner": "carol@agency.test"}]
    other["team"] = {"lead": "carol@agency.test",
                     "members": [{"name": "Carol", "address": "carol@agency.test"}]}
    other["clients"] = []
    carol = Agency(mailserver, tmp_path / "carol.toml", other)
    carol.write()
    # Ann's agency treats carol as an outside sender: make her not a team member there.
    assert "carol@agency.test" not in agency.config.team_addresses
    assert carol.poll(MONDAY_10 - timedelta(hours=1)) == 0  # Carol's first sync (baseline)
    assert agency.poll(MONDAY_10 - timedelta(hours=1)) == 0

    mailserver.send(client_mail(sender="carol@agency.test", to="ann@agency.test",
                                subject="Lunch?", message_id="<lunch@agency.test>"),
                    sender="carol@agency.test", to=["ann@agency.test"], user="carol")
    mailserver.wait_for("ann", 1)
    for hour in range(4):
        at = MONDAY_10 + timedelta(hours=hour)
        assert agency.poll(at) == 0
        settle()
        assert carol.poll(at + timedelta(minutes=30)) == 0
        settle()
    assert len(mailserver.messages("carol")) == 1, "exactly one auto-reply reached Carol"
    assert len(mailserver.messages("ann")) == 1, "Carol's assistant never answered it"


def test_reply_period_spans_polls_and_restarts(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """At most one auto-reply per sender in `auto_reply_days` (here 3), recorded only once
    sent, across separate runs; after the period a new message is answered again."""
    agency.data["response"] = {"auto_reply_days": 3}
    agency.write()
    deliver("ann", client_mail(message_id="<p1@acme.test>"), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    deliver("ann", client_mail(message_id="<p2@acme.test>"), MONDAY_10 + timedelta(days=2))
    assert agency.poll(MONDAY_10 + timedelta(days=2, hours=5)) == 0
    deliver("ann", client_mail(message_id="<p3@acme.test>"), MONDAY_10 + timedelta(days=4))
    assert agency.poll(MONDAY_10 + timedelta(days=4, hours=5)) == 0
    replies = mailserver.wait_for("catchall", 2)
    settle()
    assert [r["In-Reply-To"] for r in mailserver.messages("catchall")] == [
        "<p1@acme.test>", "<p3@acme.test>"
    ]
    # "How we work together" only with the very first reply.
    assert [len(list(r.iter_attachments())) for r in replies] == [1, 0]



def test_dry_run_shows_every_decision_and_reply_and_sends_nothing(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`poll --dry-run` prints each decision with its reason and the full reply text, sends
    and records nothing: the real window afterwards still answers."""
    deliver("ann", client_mail(subject="Quote request", message_id="<q1@acme.test>"),
            FRIDAY_1605)
    deliver("ann", client_mail(sender="news@lists.test", message_id="<l2@lists.test>",
                               List_Id="<news.lists.test>"), FRIDAY_1605)
    capsys.readouterr()
    assert agency.poll(MONDAY_10, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "(dry run: nothing sent or recorded)" in out
    assert "no reply (list-header)" in out
    assert "--- would send (auto_reply) to maria@acme.test ---" in out
    assert "Subject: Auto: Quote request" in out
    settle()
    assert mailserver.messages("catchall") == []
    assert agency.store().decisions() == []

    assert agency.poll(MONDAY_10) == 0
    (reply,) = mailserver.wait_for("catchall", 1)
    assert reply["In-Reply-To"] == "<q1@acme.test>"
