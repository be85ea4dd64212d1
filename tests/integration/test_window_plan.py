"""A window is planned, then executed: the dry run shows exactly what the real run does, and
one mailbox's trouble is its own. On the real servers, through a working week."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from boundary_mail.report import WindowReport
from boundary_mail.views import format_status
from boundary_mail.window import Window
from tests.integration.agency import Agency, at, client_mail


def run_window(agency: Agency, now: datetime, *, dry_run: bool) -> WindowReport:
    store = agency.store()
    try:
        return asyncio.run(Window(agency.config, store).run(now, dry_run=dry_run))
    finally:
        store.close()


def queued_keys(agency: Agency) -> set[tuple[str, str, tuple[str, ...]]]:
    store = agency.store()
    try:
        return {(a.dedupe_key, a.kind, a.recipients) for a in store.actions()}
    finally:
        store.close()


def summary(report: WindowReport) -> dict[str, object]:
    """Everything a window decides, in a form two runs can be compared by."""
    return {
        "decisions": sorted(
            (p.facts.mailbox, p.facts.message_id, p.reply.rule, p.track is not None,
             p.followup_of or "", p.acknowledges.root_id if p.acknowledges else "",
             tuple(sorted(type(a).__name__ for a in p.actions)))
            for p in report.plans
        ),
        "acknowledged": sorted((a.root_id, a.how) for a in report.acknowledged),
        "ladder": sorted((s.item.message_id, s.step, s.to) for s in report.ladder),
        "held": sorted((s.item.message_id, s.step) for s in report.held),
        "fetched": report.fetched,
        "baseline": report.baseline,
        "queued": report.queued,
    }


def reply_in_sent(mailserver: Any, user: str, to: str, answers: str, when: datetime) -> None:
    mailserver.append(user, "Sent", client_mail(
        sender=f"{user}@agency.test", to=to, subject="Re: your message",
        message_id=f"<reply-{answers.strip('<>')}>", In_Reply_To=answers, References=answers,
    ), date=when)


def mark_answered(mailserver: Any, user: str, message_id: str) -> None:
    """What a mail client does when its user answers a message."""
    with mailserver.imap(user) as imap:
        imap.select_folder("INBOX")
        uids = [u for u, d in imap.fetch(imap.search(["ALL"]), ["ENVELOPE"]).items()
                if d[b"ENVELOPE"].message_id == message_id.encode()]
        imap.add_flags(uids, [b"\\Answered"])


def free_port() -> int:
    """A loopback port nothing listens on: a server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_dry_run_shows_exactly_what_the_real_run_does_through_a_week(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Before every window of a week, `poll --dry-run` plans the same decisions, the same
    acknowledgments (a reply in Sent, \\Answered), the same ladder steps and the same mail
    as the real run that follows it; and the dry run records and sends nothing."""
    agency.data["urgent"] = {"keywords": ["urgent"]}
    agency.write()
    events: dict[datetime, Callable[[], None]] = {
        at(0, 10): lambda: (
            deliver("ann", client_mail(subject="Brief", message_id="<brief@acme.test>"),
                    at(0, 9)),
            deliver("bob", client_mail(to="bob@agency.test", subject="Logo files",
                                       message_id="<logo@acme.test>"), at(0, 9, 30)),
            deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                                       subject="Invoice", message_id="<inv@globex.test>"),
                    at(0, 9, 40)),
            deliver("lead", client_mail(sender="sam@elsewhere.test", to="lead@agency.test",
                                        subject="A new project?",
                                        message_id="<sam@elsewhere.test>"), at(0, 9, 45)),
            deliver("ann", client_mail(sender="news@lists.test", subject="Weekly news",
                                       message_id="<news@lists.test>",
                                       List_Id="<weekly.lists.test>"), at(0, 9, 50)),
        ),
        at(0, 15): lambda: (
            reply_in_sent(mailserver, "ann", "maria@acme.test", "<brief@acme.test>",
                          at(0, 11)),
            deliver("bob", client_mail(to="bob@agency.test", subject="Re: Logo files",
                                       message_id="<logo2@acme.test>",
                                       In_Reply_To="<logo@acme.test>"), at(0, 12)),
            deliver("ann", client_mail(sender="tom@globex.test", subject="URGENT: server down",
                                       message_id="<down@globex.test>"), at(0, 13)),
        ),
        at(1, 15): lambda: mark_answered(mailserver, "bob", "<inv@globex.test>"),
        # Due on Wednesday: a reminder for Maria's logo, unless Ann's reply counts first.
        at(2, 10): lambda: reply_in_sent(mailserver, "ann", "maria@acme.test",
                                         "<logo@acme.test>", at(2, 9)),
        at(2, 15): lambda: None,
        at(3, 15): lambda: None,
    }
    agency.poll(at(0, 8))  # installation: first sync
    for when, happen in events.items():
        happen()
        before = queued_keys(agency)
        dry = run_window(agency, when, dry_run=True)
        assert queued_keys(agency) == before, "a dry run queues nothing"
        real = run_window(agency, when, dry_run=False)

        assert summary(dry) == summary(real), when
        would = {(o.dedupe_key, o.kind, o.recipients) for o in dry.would_send}
        assert would == queued_keys(agency) - before, when
        assert real.ok, real.errors

    # The week did what it should: the checks above compared something.
    store = agency.store()
    try:
        items = {i.message_id: i for i in store.open_items()}
        assert "<brief@acme.test>" not in items and "<logo@acme.test>" not in items
        assert "<inv@globex.test>" not in items  # \Answered
        assert items["<sam@elsewhere.test>"].ladder_step >= 1
        kinds = {a.kind for a in store.actions()}
        assert {"auto_reply", "route", "alert", "reminder", "escalation"} <= kinds, kinds
    finally:
        store.close()


@pytest.mark.parametrize("trouble", ["missing-secret", "refused-login", "server-down"])
def test_one_mailbox_in_trouble_costs_only_that_mailbox(
    agency: Agency, deliver: Callable[..., None], mailserver: Any, trouble: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ann's mailbox cannot be read (its secret is missing, its login refused, or its server
    down): Bob's and the lead's mail is still read and answered, the ladder still runs for
    their items, Ann's steps wait, and status names Ann's mailbox and why."""
    agency.poll(at(0, 8))
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               subject="Invoice", message_id="<inv@globex.test>"), at(0, 9))
    deliver("ann", client_mail(subject="Brief", message_id="<brief@acme.test>"), at(0, 9))
    assert agency.poll(at(0, 10)) == 0  # both tracked, answer by Tuesday 15:00
    deliver("lead", client_mail(sender="sam@elsewhere.test", to="lead@agency.test",
                                subject="Hello", message_id="<sam@elsewhere.test>"), at(2, 9))
    ann = agency.data["mailboxes"][0]
    if trouble == "missing-secret":
        monkeypatch.delenv("BM_TEST_PW_ANN")
    elif trouble == "refused-login":
        ann["password_env"] = "BM_TEST_PW_BOB"
    else:
        ann["port"] = free_port()
    agency.write()

    report = run_window(agency, at(2, 10), dry_run=False)

    assert set(report.failed_mailboxes) == {"ann"}
    assert {p.facts.message_id for p in report.plans} == {"<sam@elsewhere.test>"}
    assert report.sent >= 2  # Sam's auto-reply and Bob's reminder at least
    assert {(s.item.message_id, s.to) for s in report.ladder} >= {
        ("<inv@globex.test>", "bob@agency.test")}
    assert {s.item.message_id for s in report.held} == {"<brief@acme.test>"}
    assert not any(s.item.owner == "ann@agency.test" for s in report.ladder)
    assert report.retry_soon is (trouble == "server-down")
    (auto_reply,) = [m for m in mailserver.wait_for("catchall", 1)
                     if "sam@elsewhere.test" in str(m["To"])]
    assert auto_reply["In-Reply-To"] == "<sam@elsewhere.test>"

    store = agency.store()
    try:
        status = format_status(store, agency.config, at(2, 10, 5))
    finally:
        store.close()
    assert "mailbox ann: not read since" in status, status


def test_a_monitored_folder_that_is_gone_is_named_and_costs_only_its_mailbox(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ann's inbox is configured as a folder that was deleted: the error names the mailbox,
    the folder and the fix (no "the server refused a command"); Bob's mail is still
    answered."""
    agency.poll(at(0, 8))
    agency.data["mailboxes"][0]["inbox"] = "Clients"
    agency.write()
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               message_id="<inv@globex.test>"), at(0, 9))
    capsys.readouterr()
    assert agency.poll(at(0, 10)) == 1
    out = capsys.readouterr().out
    assert "mailbox 'ann': the folder 'Clients' cannot be opened" in out, out
    assert "renamed or deleted" in out and "refused a command" not in out
    (reply,) = mailserver.wait_for("catchall", 1)
    assert reply["In-Reply-To"] == "<inv@globex.test>"
