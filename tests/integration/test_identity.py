"""One Message-ID, two senders (issue 12, item 5), on the real servers through `poll --now`
windows: a message's identity is its Message-ID and its sender. A later message that reuses a
known Message-ID from another sender is answered, tracked and escalated like any new message;
a true re-delivery (the same Message-ID from the same sender) stays a duplicate."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from tests.integration.agency import Agency, at, client_mail

SAME = "<same@x.test>"
MARIA = "maria@acme.test"  # Acme: Ann's client
TOM = "tom@globex.test"  # Globex: Bob's client


def replies_to(mailserver: Any, address: str) -> list[EmailMessage]:
    time.sleep(0.5)  # LMTP delivery trails SMTP's "250 queued"
    return [m for m in mailserver.messages("catchall") if m["To"] == address]


def marked(mailserver: Any, user: str, kind: str, about: str) -> list[EmailMessage]:
    time.sleep(0.5)
    return [m for m in mailserver.messages(user)
            if str(m["X-Boundary-Mail"] or "").startswith(kind) and about in str(m["Subject"])]


def marias(day: int) -> tuple[bytes, Any]:
    return client_mail(sender=MARIA, subject="Logo files", message_id=SAME,
                       body="Here are the logo files.\n"), at(day, 9)


def toms(day: int) -> tuple[bytes, Any]:
    return client_mail(sender=TOM, to="bob@agency.test", subject="Invoice question",
                       message_id=SAME, body="Is the invoice right?\n"), at(day, 9)


def test_a_reused_message_id_from_another_sender_is_answered_tracked_and_escalated(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Maria's message of Monday and Tom's of Tuesday carry the same Message-ID. Tom's is a
    new message: he gets his own auto-reply, threaded to the Message-ID his mail carries; it
    is tracked for Bob, Globex's account manager; unanswered, it reminds Bob when overdue
    (with Tom's message attached) and escalates to the lead a step later."""
    agency.poll(at(0, 8))  # installation: first sync
    deliver("ann", *marias(0))
    assert agency.poll(at(0, 10)) == 0
    assert len(replies_to(mailserver, MARIA)) == 1

    deliver("bob", *toms(1))
    assert agency.poll(at(1, 10)) == 0

    (reply,) = replies_to(mailserver, TOM)
    assert reply["In-Reply-To"] == SAME
    assert SAME in str(reply["References"]).split()
    assert reply["Auto-Submitted"] == "auto-replied"
    (item,) = [i for i in agency.store().open_items() if i.sender == TOM]
    assert (item.owner, item.client, item.subject) == ("bob@agency.test", "Globex",
                                                       "Invoice question")
    assert item.message_id != SAME  # its identity: Message-ID and sender
    assert item.deadline == at(2, 15)

    assert agency.poll(at(2, 10)) == 0
    assert marked(mailserver, "bob", "reminder", "Globex") == []
    assert agency.poll(at(2, 15)) == 0
    (reminder,) = marked(mailserver, "bob", "reminder", "Globex")
    (attached,) = list(reminder.iter_attachments())
    assert attached.get_content()["From"] == TOM  # Tom's message, not Maria's

    assert agency.poll(at(3, 10)) == 0
    assert marked(mailserver, "lead", "escalation", "Globex") == []
    assert agency.poll(at(3, 15)) == 0
    (escalation,) = marked(mailserver, "lead", "escalation", "Globex")
    assert TOM in str(escalation["Subject"])


def test_a_redelivery_from_the_same_sender_stays_a_duplicate(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Maria's and Tom's messages (the same Message-ID) are delivered again a week later,
    when the rate limit would allow another auto-reply: each is a re-delivery of a message
    already handled, so neither gets a second reply nor becomes a second item."""
    agency.poll(at(0, 8))
    deliver("ann", *marias(0))
    assert agency.poll(at(0, 10)) == 0
    deliver("bob", *toms(1))
    assert agency.poll(at(1, 10)) == 0
    assert len(replies_to(mailserver, TOM)) == 1
    items = {i.message_id for i in agency.store().open_items()}
    assert len(items) == 2

    deliver("ann", *marias(8))  # Tuesday a week later: past the 7-day rate limit
    deliver("bob", *toms(9))
    assert agency.poll(at(8, 10)) == 0
    assert agency.poll(at(9, 10)) == 0

    assert len(replies_to(mailserver, MARIA)) == 1
    assert len(replies_to(mailserver, TOM)) == 1
    assert {i.message_id for i in agency.store().open_items()} == items
