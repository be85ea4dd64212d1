"""Hostile and odd mail on the real servers (issue 12, items 7 and 8): a forged "reply" from a
team member must not stop an escalation, and a robot that answers our auto-replies from a new
Return-Path each time must not get an auto-reply per window, nor make an item of each answer.
Each poll is a separate run on the same state file, over a week of check windows."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from tests.integration.agency import Agency, at, client_mail

MX = "mx.agency.test"  # the authserv-id our receiving server writes


def marked(mailserver: Any, user: str, kind: str) -> list[EmailMessage]:
    time.sleep(0.5)  # LMTP delivery trails SMTP's "250 queued"
    return [m for m in mailserver.messages(user) if str(m["X-Boundary-Mail"] or "")
            .startswith(kind)]


def week_of_windows(agency: Agency, first_day: int = 1, last_day: int = 6) -> None:
    for day in range(first_day, last_day + 1):
        for hour in (10, 15):
            assert agency.poll(at(day, hour)) == 0


def trusting(agency: Agency) -> None:
    agency.data["escalation"] = {"trusted_authserv_id": MX}
    agency.write()


def client_question(deliver: Callable[..., None]) -> None:
    """Maria (Acme, Ann's client) asks on Monday 09:00: answer by Tuesday 15:00."""
    deliver("ann", client_mail(subject="Quote", message_id="<quote@acme.test>"), at(0, 9))


def anns_reply(*, return_path: str, auth_results: str, message_id: str) -> bytes:
    """A reply From: Ann to Maria's question, as it lands in Ann's inbox (she Cc'd herself)."""
    return client_mail(
        sender="ann@agency.test", to="maria@acme.test", subject="Re: Quote",
        message_id=message_id, return_path=return_path, Cc="ann@agency.test",
        In_Reply_To="<quote@acme.test>", References="<quote@acme.test>",
        Authentication_Results=auth_results, body="Done, see attached.\n",
    )


def test_a_forged_reply_from_a_team_member_does_not_stop_the_ladder(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """A message in Ann's inbox with From: ann@agency.test, a foreign Return-Path and an
    Authentication-Results written by the forger's own server, answering Maria's open item,
    is not an acknowledgment (only our server's verdict, for a Return-Path that is Ann,
    counts): the item stays open, Ann gets her reminder and the lead the escalation."""
    trusting(agency)
    assert agency.poll(at(0, 8)) == 0  # installation: first sync
    client_question(deliver)
    assert agency.poll(at(0, 10)) == 0
    deliver("ann", anns_reply(return_path="bounce@forger.test",
                              auth_results="mx.forger.test; dkim=pass header.d=agency.test",
                              message_id="<forged@forger.test>"), at(0, 11))
    assert agency.poll(at(0, 15)) == 0

    store = agency.store()
    (item,) = store.open_items()
    assert (item.message_id, item.followups) == ("<quote@acme.test>", 1)

    week_of_windows(agency)
    assert len(marked(mailserver, "ann", "reminder")) == 1
    assert len(marked(mailserver, "lead", "escalation")) == 1
    assert [i.message_id for i in agency.store().open_items()] == ["<quote@acme.test>"]


def test_a_proven_reply_in_an_inbox_acknowledges(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Ann's real reply, Cc herself: Return-Path Ann, and our server's Authentication-Results
    (authserv-id = escalation.trusted_authserv_id) say DKIM passed for agency.test. It
    acknowledges the item: no reminder, no escalation all week."""
    trusting(agency)
    assert agency.poll(at(0, 8)) == 0
    client_question(deliver)
    assert agency.poll(at(0, 10)) == 0
    deliver("ann", anns_reply(return_path="ann@agency.test",
                              auth_results=f"{MX} (Postfix); dkim=pass (2048-bit key)"
                                           " header.d=agency.test header.i=@agency.test",
                              message_id="<reply@agency.test>"), at(0, 11))
    assert agency.poll(at(0, 15)) == 0

    store = agency.store()
    assert store.open_items() == []
    assert store.item("<quote@acme.test>").acknowledged_how == "reply"  # type: ignore[union-attr]
    week_of_windows(agency)
    assert marked(mailserver, "ann", "reminder") == []
    assert marked(mailserver, "lead", "escalation") == []


def auto_replies_to_robot(mailserver: Any) -> list[EmailMessage]:
    """Our auto-replies that reached the robot's ever-changing bounce addresses."""
    return [m for m in mailserver.messages("catchall")
            if str(m["To"]).startswith("bounce-") and str(m["X-Boundary-Mail"] or "")
            .startswith("auto")]


def test_a_robot_that_hops_return_paths_gets_one_auto_reply_and_makes_one_item(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Acme's ticket robot writes without Auto-Submitted and answers every message it gets
    from a new Return-Path (bounce-1@, bounce-2@, …), naming only the message it answers. A
    message that answers one of our own auto-replies is never auto-answered (RFC 3834 §2) and
    is a follow-up of the item our auto-reply answered: over eight days the robot gets exactly
    one auto-reply, there is one item, and the ladder sends one reminder and one escalation."""
    assert agency.poll(at(0, 8)) == 0
    deliver("ann", client_mail(sender="tickets@acme.test", return_path="bounce-0@acme.test",
                               subject="Ticket 4711 opened", message_id="<t0@acme.test>"),
            at(0, 9))
    answered: set[str] = set()

    def robot_answers(now: datetime) -> None:
        time.sleep(0.5)  # LMTP delivery trails SMTP's "250 queued"
        for ours in auto_replies_to_robot(mailserver):
            mid = str(ours["Message-ID"])
            if mid in answered:
                continue
            n = len(answered) + 1
            answered.add(mid)
            deliver("ann", client_mail(
                sender="tickets@acme.test", return_path=f"bounce-{n}@acme.test",
                subject=f"Re: {ours['Subject']}", message_id=f"<t{n}@acme.test>",
                In_Reply_To=mid, References=mid, body="Your message was added to 4711.\n",
            ), now + timedelta(minutes=5))

    for day in range(8):
        for hour in (10, 15):
            assert agency.poll(at(day, hour)) == 0
            robot_answers(at(day, hour))

    assert len(auto_replies_to_robot(mailserver)) == 1
    store = agency.store()
    (item,) = store.open_items()
    assert (item.message_id, item.followups) == ("<t0@acme.test>", 1)
    assert len(marked(mailserver, "ann", "reminder")) == 1
    assert len(marked(mailserver, "lead", "escalation")) == 1
