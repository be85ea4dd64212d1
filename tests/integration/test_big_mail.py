"""Client mail too big for the relay is never lost in silence (issue 12, item 4), on the real
servers. The test Postfix takes at most 10,240,000 bytes (its default message_size_limit,
announced as EHLO SIZE); a 30 MB client message cannot go through it.

- The point of contact's mailbox is monitored: the original is appended to its inbox by IMAP,
  byte for byte, and its sync recognises it (no second reply, item or route).
- It is not monitored: the contact gets a notice without the body that says where it lies.
- A reminder about a message too big to attach says where it lies instead.
- A route refused for good alerts the mailbox's owner and appears in the digest; the copy is
  not flagged `$Routed`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from boundary_mail.digest import build_digests, render_digest
from boundary_mail.digest_job import load_digest_data
from boundary_mail.templates import environment
from tests.integration.agency import Agency, at

BIG = 30_000_000


def big_mail(*, sender: str, to: str, message_id: str, size: int) -> bytes:
    """A client message of about `size` bytes: a short text and a large attachment."""
    msg = EmailMessage()
    msg["Return-Path"] = f"<{sender}>"
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "The print files"
    msg["Date"] = "Mon, 16 Nov 2026 09:00:00 +0100"
    msg["Message-ID"] = message_id
    msg.set_content("Hi,\n\nhere are the print files for the spring campaign.\n\nTom\n")
    msg.add_attachment(os.urandom(size * 3 // 4), maintype="application", subtype="pdf",
                       filename="print.pdf")
    return msg.as_bytes()


def copies(mailserver: Any, user: str, message_id: str) -> list[tuple[bytes, tuple[bytes, ...],
                                                                       Any]]:
    """(bytes, flags, INTERNALDATE) of each copy of `message_id` in `user`'s INBOX."""
    with mailserver.imap(user) as imap:
        imap.select_folder("INBOX", readonly=True)
        uids = imap.search(["HEADER", "Message-ID", message_id])
        found = imap.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]) if uids else {}
    return [(d[b"BODY[]"], d[b"FLAGS"], d[b"INTERNALDATE"]) for d in found.values()]


def ours(mailserver: Any, user: str, kind: str) -> list[EmailMessage]:
    time.sleep(0.5)  # LMTP delivery trails SMTP's "250 queued"
    return [m for m in mailserver.messages(user)
            if str(m["X-Boundary-Mail"] or "").startswith(kind)]


def test_a_30_mb_message_reaches_a_monitored_contact_by_imap_byte_for_byte(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Tom (Globex, Bob's client) sends 30 MB to Ann. Bob's inbox gets the original byte for
    byte, with its arrival time and no flags; nothing goes through the relay; Ann's copy is
    flagged $Routed once it is there. Bob's own sync recognises the copy: no second reply, no
    second item. Bob's reminder says where the original lies instead of attaching it."""
    agency.poll(at(0, 8))
    raw = big_mail(sender="tom@globex.test", to="ann@agency.test",
                   message_id="<print@globex.test>", size=BIG)
    deliver("ann", raw, at(0, 9))
    assert agency.poll(at(0, 10)) == 0

    ((ann_copy, ann_flags, _),) = copies(mailserver, "ann", "<print@globex.test>")
    ((bob_copy, bob_flags, arrived),) = copies(mailserver, "bob", "<print@globex.test>")
    assert len(bob_copy) > BIG and bob_copy == ann_copy
    assert b"$Routed" in ann_flags
    assert not [f for f in bob_flags if f != b"\\Recent"]
    # imapclient gives the INTERNALDATE as naive local time
    assert arrived == at(0, 9).astimezone().replace(tzinfo=None)
    store = agency.store()
    (route,) = [a for a in store.actions() if a.source_message_id == "<print@globex.test>"
                and a.kind != "auto_reply"]
    assert (route.kind, route.status, route.raw) == ("route", "sent", b"")
    assert not [a for a in store.actions() if a.status == "failed"]

    # Bob's mailbox reads the copy at the next window: known, decided nothing again.
    assert agency.poll(at(0, 15)) == 0
    replies = [m for m in mailserver.messages("catchall") if m["To"] == "tom@globex.test"]
    assert len(replies) == 1
    store = agency.store()
    assert [i.message_id for i in store.open_items()] == ["<print@globex.test>"]
    assert sorted((a.kind, a.status) for a in store.actions()
                  if a.source_message_id == "<print@globex.test>") == [("auto_reply", "sent"),
                                                                       ("route", "sent")]
    assert len(copies(mailserver, "bob", "<print@globex.test>")) == 1

    # Tuesday 15:00: the reminder to Bob cannot carry 30 MB; it says where the message lies.
    assert agency.poll(at(1, 15)) == 0
    (reminder,) = ours(mailserver, "bob", "reminder")
    assert list(reminder.iter_attachments()) == []
    text = reminder.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    text = " ".join(text.split())
    assert "The original message is too big to attach (3" in text  # 30-something MB
    assert "MB); it lies in mailbox ann (ann@agency.test), folder INBOX." in text


def test_a_message_too_big_for_an_unmonitored_contact_becomes_a_notice(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Bob's mailbox is not monitored and the relay limit is set to 200 KB: Tom's 500 KB
    message reaches Bob as a notice with its header fields and the start of its text, and
    no body; Ann's copy is flagged $Routed once the notice was sent."""
    agency.data["mailboxes"] = [m for m in agency.data["mailboxes"] if m["name"] != "bob"]
    agency.data["smtp"]["max_message_bytes"] = 200_000
    agency.write()
    agency.poll(at(0, 8))
    deliver("ann", big_mail(sender="tom@globex.test", to="ann@agency.test",
                            message_id="<plans@globex.test>", size=500_000), at(0, 9))
    assert agency.poll(at(0, 10)) == 0

    (notice,) = ours(mailserver, "bob", "redirect-notice")
    assert list(notice.iter_attachments()) == []
    assert len(notice.as_bytes()) < 20_000
    assert notice["In-Reply-To"] == "<plans@globex.test>"
    text = " ".join(notice.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]
    for shown in ("From: tom@globex.test", "To: ann@agency.test", "Subject: The print files",
                  "Message-ID: <plans@globex.test>", "Date: Mon, 16 Nov 2026 09:00:00 +0100",
                  "here are the print files for the spring campaign",
                  "lies in mailbox ann (ann@agency.test), folder INBOX"):
        assert shown in text, shown
    ((_, flags, _),) = copies(mailserver, "ann", "<plans@globex.test>")
    assert b"$Routed" in flags
    assert [m for m in mailserver.messages("bob") if m["Message-ID"] == "<plans@globex.test>"
            ] == []


def test_a_route_refused_for_good_alerts_the_owner_and_the_digest_says_so(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Initech's contact is Zoe, whose address the mail server does not know (550): the
    redirect is refused for good. Ann, whose mailbox it lies in, gets one alert; Ann's and
    the lead's digests name it; Ann's copy is not flagged $Routed."""
    agency.data["team"]["members"].append({"name": "Zoe", "address": "zoe@agency.test"})
    agency.data["clients"].append({"name": "Initech", "domains": ["initech.test"],
                                   "account_manager": "zoe@agency.test"})
    agency.write()
    agency.poll(at(0, 8))
    deliver("ann", big_mail(sender="peter@initech.test", to="ann@agency.test",
                            message_id="<tps@initech.test>", size=20_000), at(0, 9))
    assert agency.poll(at(0, 10)) == 1  # a message was refused: the run says so

    (alert,) = ours(mailserver, "ann", "route-failed")
    text = " ".join(alert.get_body(("plain",)).get_content().split())  # type: ignore[union-attr]
    assert "could not be passed on to its point of contact, zoe@agency.test" in text
    assert "It lies in mailbox ann (ann@agency.test), folder INBOX" in text
    ((_, flags, _),) = copies(mailserver, "ann", "<tps@initech.test>")
    assert b"$Routed" not in flags

    agency.poll(at(0, 15))  # a later window alerts nothing twice
    assert len(ours(mailserver, "ann", "route-failed")) == 1

    config, store = agency.config, agency.store()
    digests = {d.recipient: d for d in build_digests(config, load_digest_data(
        store, config, at(0, 17)), at(0, 17))}
    for who in ("ann@agency.test", "lead@agency.test"):
        rendered = render_digest(environment(None, "en"), digests[who], config)
        assert "NOT PASSED ON: peter@initech.test" in rendered.text, who
        assert "could not reach zoe@agency.test" in rendered.text
    assert digests["bob@agency.test"].failed_routes == ()
