"""One point of contact, acknowledgment and the escalation ladder, on the real servers, through
a week of `poll --now` windows. Each poll is a separate run on the same state file."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from tests.integration.agency import Agency, at, client_mail


def marked(mailserver: Any, user: str, kind: str) -> list[EmailMessage]:
    time.sleep(0.5)  # LMTP delivery trails SMTP's "250 queued"
    return [m for m in mailserver.messages(user) if str(m["X-Boundary-Mail"] or "")
            .startswith(kind)]


def poll_in_new_process(agency: Agency, now: datetime) -> None:
    """A restart: a fresh process on the same state file."""
    subprocess.run(
        [sys.executable, "-m", "boundary_mail", "--config", str(agency.path), "poll",
         "--now", now.isoformat()], check=True, capture_output=True,
    )


def test_client_writing_to_the_wrong_person_is_routed_and_told_once(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Acme's contact is Ann, whose mailbox is monitored. Maria writes to Bob: the message is
    appended to Ann's inbox by IMAP, unchanged (its own Message-ID, From and body), Bob's copy
    stays (flagged $Routed once it is there), and Maria learns once that Ann is her contact.
    Ann's reply from her Sent folder acknowledges it."""
    agency.poll(at(0, 8))  # installation: first sync
    deliver("bob", client_mail(to="bob@agency.test", subject="Logo files",
                               message_id="<logo@acme.test>"), at(0, 9))
    deliver("bob", client_mail(to="bob@agency.test", subject="And the fonts",
                               message_id="<fonts@acme.test>"), at(0, 9, 30))
    assert agency.poll(at(0, 10)) == 0

    (routed, fonts) = mailserver.wait_for("ann", 2)
    assert routed["Message-ID"] == "<logo@acme.test>"
    assert routed["From"] == "maria@acme.test"
    assert routed["Subject"] == "Logo files"
    assert routed["Resent-To"] is None and routed["X-Boundary-Mail"] is None  # the original
    assert fonts["Message-ID"] == "<fonts@acme.test>"
    with mailserver.imap("bob") as imap:
        imap.select_folder("INBOX", readonly=True)
        flags = imap.get_flags(imap.search(["ALL"]))
    assert all(b"$Routed" in f for f in flags.values())
    replies = [m for m in mailserver.messages("catchall") if m["To"] == "maria@acme.test"]
    assert len(replies) == 1, "one auto-reply, naming the contact once"
    assert ("Your point of contact is Ann Wright <ann@agency.test>: I have passed your message on,"
            " and Ann Wright will answer you.") in replies[0].get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]

    # The routed copies in Ann's inbox are known by Message-ID: never answered or tracked
    # again.
    assert agency.poll(at(0, 15)) == 0
    store = agency.store()
    assert {i.message_id for i in store.open_items()} == {"<logo@acme.test>",
                                                          "<fonts@acme.test>"}
    assert all(i.owner == "ann@agency.test" and i.routed_from == "bob@agency.test"
               for i in store.open_items())

    # Ann answers the first from her mail client: it is in her Sent folder.
    reply = client_mail(sender="ann@agency.test", to="maria@acme.test",
                        subject="Re: Logo files", message_id="<re-logo@agency.test>",
                        In_Reply_To="<logo@acme.test>", References="<logo@acme.test>")
    mailserver.append("ann", "Sent", reply, date=at(0, 16))
    # The second she marks answered in her client: the \Answered flag acknowledges it.
    with mailserver.imap("ann") as imap:
        imap.select_folder("INBOX")
        uids = [u for u, d in imap.fetch(imap.search(["ALL"]), ["ENVELOPE"]).items()
                if d[b"ENVELOPE"].message_id == b"<fonts@acme.test>"]
        imap.add_flags(uids, [b"\\Answered"])
    assert agency.poll(at(1, 10)) == 0
    store = agency.store()
    assert store.open_items() == []
    assert store.item("<logo@acme.test>").acknowledged_how == "reply"  # type: ignore[union-attr]
    assert store.item("<fonts@acme.test>").acknowledged_how == "answered-flag"  # type: ignore[union-attr]
    # A week later: no reminder was ever sent for acknowledged mail.
    for day in range(1, 5):
        agency.poll(at(day, 15))
    assert marked(mailserver, "ann", "reminder") == []
    assert marked(mailserver, "lead", "escalation") == []


def test_unanswered_message_climbs_the_ladder_once_per_step(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Tom (Globex, Bob's client) writes Monday 09:30: answer by Tuesday 15:00. Exactly one
    reminder to Bob at Tuesday 15:00 with the original attached, exactly one escalation to
    the lead 8 business hours later (Wednesday 15:00), nothing after `ack`. Follow-ups are
    counted on the item, never duplicated. Restarts between windows change nothing."""
    agency.poll(at(0, 8))
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               subject="Invoice question", message_id="<inv@globex.test>"),
            at(0, 9, 30))
    assert agency.poll(at(0, 10)) == 0
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               subject="Re: Invoice question", message_id="<inv-2@globex.test>",
                               In_Reply_To="<inv@globex.test>", References="<inv@globex.test>",
                               body="Did you get my email?\n"), at(0, 14))
    assert agency.poll(at(0, 15)) == 0
    store = agency.store()
    (item,) = store.open_items()
    assert (item.message_id, item.followups, item.owner) == ("<inv@globex.test>", 1,
                                                             "bob@agency.test")
    assert item.deadline == at(1, 15)

    assert agency.poll(at(1, 10)) == 0
    assert marked(mailserver, "bob", "reminder") == []
    poll_in_new_process(agency, at(1, 15))
    poll_in_new_process(agency, at(1, 15, 1))  # a restart right after: no second reminder
    (reminder,) = marked(mailserver, "bob", "reminder")
    assert reminder["Auto-Submitted"] == "auto-generated"
    assert "Globex" in str(reminder["Subject"])
    body = reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Due since:   Tue 17 Nov 3:00\u202fPM CET" in body and "Follow-ups:  1" in body
    (attached,) = list(reminder.iter_attachments())
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_content()["Message-ID"] == "<inv@globex.test>"

    assert agency.poll(at(2, 10)) == 0
    assert marked(mailserver, "lead", "escalation") == []
    poll_in_new_process(agency, at(2, 15))
    (escalation,) = marked(mailserver, "lead", "escalation")
    assert "Escalation" in str(escalation["Subject"])

    assert agency.cli("ack", "inv@globex.test", "--now", at(2, 16).isoformat()) == 0
    for day in range(3, 7):
        agency.poll(at(day, 15))
    assert len(marked(mailserver, "bob", "reminder")) == 1
    assert len(marked(mailserver, "lead", "escalation")) == 1
    # The reminders landed in monitored mailboxes: recognised as ours, never tracked.
    assert agency.store().open_items() == []


def test_urgent_message_alerts_at_once(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """An urgent keyword alerts the account manager between windows (the urgent scan) and
    only once, even when the next window decides the message fully."""
    agency.data["urgent"] = {"keywords": ["urgent"]}
    agency.write()
    agency.poll(at(0, 8))
    deliver("bob", client_mail(to="bob@agency.test", subject="URGENT: site is down",
                               message_id="<down@acme.test>"), at(0, 11))
    assert agency.cli("poll", "--urgent-only", "--now", at(0, 11, 15).isoformat()) == 0
    (alert,) = marked(mailserver, "ann", "alert")
    assert alert["Auto-Submitted"] == "auto-generated"
    assert "URGENT" in str(alert["Subject"])
    assert agency.poll(at(0, 15)) == 0
    assert len(marked(mailserver, "ann", "alert")) == 1
    (item,) = agency.store().open_items()
    assert item.urgent


def test_urgent_keyword_in_the_text_alerts_too(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """An urgent keyword in the body (not the subject) is found in the start of the text,
    which is read only for new mail and only because urgent keywords are configured."""
    agency.data["urgent"] = {"keywords": ["urgent"], "alert_address": "pager@sms.test"}
    agency.write()
    agency.poll(at(0, 8))
    deliver("ann", client_mail(subject="Checkout", message_id="<co@acme.test>",
                               body="Hi Ann,\n\nthe checkout fails for everyone. Urgent!\n"),
            at(0, 9))
    deliver("ann", client_mail(subject="Newsletter idea", message_id="<nl@acme.test>",
                               body="Nothing insurgent here.\n"), at(0, 9, 5))
    assert agency.poll(at(0, 10)) == 0
    (alert,) = marked(mailserver, "ann", "alert")
    assert "pager@sms.test" in str(alert["To"])
    assert "urgent keyword 'urgent' in the text" in alert.get_body(
        ("plain",)).get_content()  # type: ignore[union-attr]
    assert [i.message_id for i in agency.store().open_items() if i.urgent] == ["<co@acme.test>"]


def test_the_lead_handling_unassigned_mail_is_reminded_once_and_not_escalated_to_himself(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Mail from someone who is no client is the lead's (triage): at its deadline he gets one
    reminder; the escalation step after it would go to the lead again, so nothing is sent,
    and the item has climbed past it (no later window tries again)."""
    assert agency.poll(at(-3, 10)) == 0  # installed the week before
    deliver("lead", client_mail(sender="stranger@else.test", to="lead@agency.test",
                                message_id="<s1@else.test>"), at(0, 9))
    assert agency.poll(at(0, 10)) == 0
    assert agency.poll(at(1, 15)) == 0  # the deadline: the reminder
    assert agency.poll(at(2, 15)) == 0  # 8 business hours later: the escalation step
    assert agency.poll(at(3, 15)) == 0

    (reminder,) = marked(mailserver, "lead", "reminder")
    assert "stranger@else.test" in str(reminder["Subject"])
    assert marked(mailserver, "lead", "escalation") == []
    item = agency.store().item("<s1@else.test>")
    assert item is not None and (item.owner, item.ladder_step) == ("lead@agency.test", 2)
