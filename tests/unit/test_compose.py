"""Composing what the window decided: redirects, contact notes, alerts, ladder steps and the
urgent / contact-naming auto-reply.

Each test parses the bytes that would be queued, as the receiving server would, and states
one property of them. The actions come from `plan_window` and `due_steps` over the agency of
tests/unit/factories.py, so the test data is what the core really produces.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

import pytest

from boundary_mail.compose import (
    Outgoing,
    compose_alert,
    compose_auto_reply,
    compose_contact_note,
    compose_ladder,
    compose_redirect,
)
from boundary_mail.config import Config
from boundary_mail.decide import AutoReply, ContactNote, Redirect, UrgentAlert
from boundary_mail.ladder import LadderStep, due_steps
from boundary_mail.templates import environment
from tests.unit.compose_cases import BODY, BROKEN
from tests.unit.factories import (
    ANN,
    ASSISTANT,
    BOB,
    CARLA,
    LEAD,
    StateSnapshot,
    agency,
    berlin,
    calendar_of,
    message,
    plan,
    tracked_item,
)

NOW = berlin(23, 10)
ENV = environment(None, "en")
CONFIG = agency(urgent={"keywords": ["urgent"], "alert_address": "pager@sms.test",
                        "channel": "call +49 30 1234567"})

ORIGINAL = (
    b"Return-Path: <carla@acme.test>\r\n"
    b"Delivered-To: bob@agency.test\r\n"
    b"X-Original-To: bob@agency.test,\r\n"
    b"\tsales@agency.test\r\n"
    b"Received: from mx.acme.test (mx.acme.test [192.0.2.7])\r\n"
    b"\tby mail.agency.test (Postfix) with ESMTPS id 4Yk2;\r\n"
    b"\tMon, 23 Nov 2026 08:00:01 +0100 (CET)\r\n"
    b"DELIVERED-TO:\r\n"
    b" bob@agency.test\r\n"
    b"From: Carla Client <carla@acme.test>\r\n"
    b"To: Bob <bob@agency.test>\r\n"
    b"Subject: Quote for the spring campaign\r\n"
    b"Date: Mon, 23 Nov 2026 07:55:00 +0100\r\n"
    b"Message-ID: <m1@acme.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + BODY
)


def parsed(out: Outgoing) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(out.as_bytes())
    assert isinstance(message, EmailMessage)
    return message


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def routed_plan(config: Config = CONFIG, state: StateSnapshot | None = None,
                subject: str = "Quote for the spring campaign") -> list[object]:
    (p,) = plan(message(CARLA, mailbox="bob", to=BOB, subject=subject), config=config,
                state=state)
    return list(p.actions)


def redirect() -> Outgoing:
    (action,) = [a for a in routed_plan() if isinstance(a, Redirect)]
    return compose_redirect(action, ORIGINAL, config=CONFIG, now=NOW)


def field_names(raw: bytes) -> list[str]:
    head = raw.partition(b"\r\n\r\n")[0]
    return [line.split(b":", 1)[0].decode() for line in head.split(b"\r\n")
            if line[:1] not in (b" ", b"\t")]


# -- redirect ------------------------------------------------------------------------------------


def test_a_redirect_puts_the_resent_block_on_top() -> None:
    """RFC 5322 §3.6.6: Resent-From, -To, -Date and -Message-ID (and our marker) come first,
    above the original's own fields."""
    names = field_names(redirect().as_bytes())

    assert names[:5] == ["Resent-From", "Resent-To", "Resent-Date", "Resent-Message-ID",
                         "X-Boundary-Mail"]
    assert names[5] == "Received"


def test_a_redirect_is_resent_by_the_assistant_to_the_account_manager() -> None:
    """The Resent-* fields, the envelope and the marker say who passed it on to whom."""
    out = redirect()
    message = parsed(out)

    assert message["Resent-From"].addresses[0].addr_spec == ASSISTANT
    assert message["Resent-To"].addresses[0].addr_spec == ANN
    assert message["Resent-Date"].datetime == NOW
    assert message["X-Boundary-Mail"] == f"redirect; by={BOB}"
    assert (out.envelope_from, out.recipients) == (ASSISTANT, (ANN,))


@pytest.mark.parametrize(
    "line",
    [b"From: Carla Client <carla@acme.test>\r\n", b"Message-ID: <m1@acme.test>\r\n",
     b"Subject: Quote for the spring campaign\r\n", b"To: Bob <bob@agency.test>\r\n",
     b"Received: from mx.acme.test (mx.acme.test [192.0.2.7])\r\n"
     b"\tby mail.agency.test (Postfix) with ESMTPS id 4Yk2;\r\n"],
    ids=["From", "Message-ID", "Subject", "To", "Received-folded"],
)
def test_a_redirect_keeps_the_originals_fields_byte_for_byte(line: bytes) -> None:
    """The account manager's reply must thread with the client's message: its From,
    Message-ID and Subject (and every other field) travel unchanged."""
    assert line in redirect().as_bytes()


def test_a_redirect_keeps_the_body_byte_for_byte() -> None:
    """The body (8-bit UTF-8 here) is passed on exactly, after the original's blank line."""
    assert redirect().as_bytes().endswith(b"\r\n\r\n" + BODY)


def test_a_redirect_drops_the_first_deliverys_trace_fields() -> None:
    """Return-Path, Delivered-To and X-Original-To of the first delivery are removed, in any
    case and with their folded continuation lines; a stale Delivered-To looks like a loop."""
    raw = redirect().as_bytes()
    head = raw.partition(b"\r\n\r\n")[0].lower()

    for name in (b"return-path:", b"delivered-to:", b"x-original-to:"):
        assert name not in head
    assert b"sales@agency.test" not in raw
    assert b"\r\n bob@agency.test\r\n" not in raw


def test_redirecting_the_same_action_twice_gives_the_same_message_id() -> None:
    """The Resent-Message-ID derives from the action, so a retried send is one message."""
    first, again = redirect(), redirect()

    assert first.message_id == again.message_id
    assert first.message_id.endswith("@agency.test>")
    assert first.message_id != "<m1@acme.test>"


# -- the contact note ----------------------------------------------------------------------------


def contact_note() -> Outgoing:
    state = StateSnapshot(replies={(CARLA, "window"): berlin(21, 10)})
    (action,) = [a for a in routed_plan(state=state) if isinstance(a, ContactNote)]
    return compose_contact_note(action, config=CONFIG, env=ENV, now=NOW)


def test_the_contact_note_is_an_automatic_response_to_one_person() -> None:
    """RFC 3834: Auto-Submitted: auto-replied, the null envelope sender, exactly one
    recipient (the Return-Path), from the mailbox the client wrote to."""
    out = contact_note()
    message = parsed(out)

    assert message["Auto-Submitted"] == "auto-replied"
    assert (out.envelope_from, out.recipients) == ("", (CARLA,))
    assert [a.addr_spec for a in message["To"].addresses] == [CARLA]
    assert message["From"].addresses[0].addr_spec == BOB


def test_the_contact_note_threads_with_the_clients_message() -> None:
    """In-Reply-To and References name the client's message (RFC 3834 §3.1.6)."""
    message = parsed(contact_note())

    assert message["In-Reply-To"] == "<m1@acme.test>"
    assert "<m1@acme.test>" in message["References"].split()


def test_the_contact_note_names_the_account_manager_and_is_recorded_as_a_note() -> None:
    """The note names Ann and her address for Acme; once sent it counts as the contact note."""
    out = contact_note()
    text = text_of(parsed(out))

    assert "Ann <ann@agency.test>" in text and "Acme" in text
    assert out.on_sent == {"note": {"sender": CARLA, "kind": "contact_note"}}


# -- the urgent alert ----------------------------------------------------------------------------


def alert() -> Outgoing:
    (action,) = [a for a in routed_plan(subject="URGENT: the site is down")
                 if isinstance(a, UrgentAlert)]
    return compose_alert(action, config=CONFIG, env=ENV, now=NOW)


def test_an_alert_goes_to_the_account_manager_and_the_alert_address() -> None:
    """Both the account manager and the alert address (an SMS gateway) get the alert: in the
    envelope and in To."""
    out = alert()

    assert out.recipients == (ANN, "pager@sms.test")
    assert [a.addr_spec for a in parsed(out)["To"].addresses] == [ANN, "pager@sms.test"]
    assert out.envelope_from == ASSISTANT


def test_an_alert_is_auto_generated_and_marked() -> None:
    """Alerts are not replies: Auto-Submitted: auto-generated, and our marker, so no mailbox
    we monitor tracks or answers them."""
    message = parsed(alert())

    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Boundary-Mail"] == "alert"
    assert "Acme" in message["Subject"] and CARLA in message["Subject"]


# -- ladder steps --------------------------------------------------------------------------------


def ladder_steps() -> list[LadderStep]:
    item = tracked_item(deadline=berlin(24, 15))
    return due_steps([item], steps=CONFIG.escalation.steps, calendar=calendar_of(CONFIG),
                     team=CONFIG.team, now=berlin(25, 15))


@pytest.mark.parametrize(("index", "kind", "to"), [(0, "reminder", ANN), (1, "escalation", LEAD)])
def test_a_ladder_step_is_auto_generated_marked_and_addressed(index: int, kind: str, to: str
                                                              ) -> None:
    """Reminders and escalations carry Auto-Submitted: auto-generated and our marker, and go
    to the step's one recipient; once sent they count as that step."""
    out = compose_ladder(ladder_steps()[index], ORIGINAL, config=CONFIG, env=ENV, now=NOW)
    message = parsed(out)

    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Boundary-Mail"] == kind
    assert (out.kind, out.recipients) == (kind, (to,))
    assert out.on_sent == {"ladder": {"message_id": "<m1@acme.test>", "step": index + 1}}


def test_a_ladder_step_attaches_the_original_as_a_message() -> None:
    """The client's message travels along as message/rfc822, so nobody has to search for it."""
    out = compose_ladder(ladder_steps()[0], ORIGINAL, config=CONFIG, env=ENV, now=NOW)

    (attached,) = parsed(out).iter_attachments()
    assert attached.get_content_type() == "message/rfc822"
    inner = attached.get_content()
    assert inner["Message-ID"] == "<m1@acme.test>"
    assert inner["From"].addresses[0].addr_spec == CARLA


def test_a_broken_original_travels_as_its_exact_bytes() -> None:
    """Mail the stdlib cannot write again is attached as application/octet-stream
    "original.eml", byte for byte, and the step is still sendable."""
    out = compose_ladder(ladder_steps()[0], BROKEN, config=CONFIG, env=ENV, now=NOW)

    (attached,) = parsed(out).iter_attachments()
    assert attached.get_content_type() == "application/octet-stream"
    assert attached.get_filename() == "original.eml"
    assert attached.get_content() == BROKEN


def test_a_ladder_step_without_the_original_says_how_to_find_it() -> None:
    """The original could not be fetched: nothing attached, the text names the Message-ID."""
    out = compose_ladder(ladder_steps()[0], None, config=CONFIG, env=ENV, now=NOW)
    message = parsed(out)

    assert list(message.iter_attachments()) == []
    assert "<m1@acme.test>" in text_of(message)


def test_the_ladder_names_client_sender_and_since_when_it_is_due() -> None:
    """The client, the sender, when it arrived and since when it is due, each on its own
    labelled line, every time with its zone: "Due since: Tue 24 Nov 3:00 PM CET", never
    "missed by 0.0 business hours"."""
    step = ladder_steps()[1]
    text = text_of(parsed(compose_ladder(step, ORIGINAL, config=CONFIG, env=ENV, now=NOW)))

    text = text.replace("\r\n", "\n")
    assert "Client:      Acme\n" in text
    assert f"From:        {CARLA}\n" in text
    assert "Due since:   Tue 24 Nov 3:00\u202fPM CET\n" in text
    assert "Received:    Monday, November 23, 2026" in text
    assert "business hours" not in text


# -- the auto-reply: urgent channel and contact ------------------------------------------------


def auto_reply_of(actions: list[object]) -> AutoReply:
    (action,) = [a for a in actions if isinstance(a, AutoReply)]
    return action


@pytest.mark.parametrize(("subject", "named"), [("URGENT: the site is down", True),
                                                ("Quote for the spring campaign", False)])
def test_the_auto_reply_to_urgent_mail_names_the_urgent_channel(subject: str, named: bool
                                                               ) -> None:
    """An urgent message's auto-reply names urgent.channel; an ordinary one does not."""
    action = auto_reply_of(routed_plan(subject=subject))

    out = compose_auto_reply(action, config=CONFIG, env=ENV, now=NOW)

    assert action.urgent is named
    assert ("call +49 30 1234567" in text_of(parsed(out))) is named


def test_an_auto_reply_that_names_the_contact_counts_as_the_contact_note() -> None:
    """The reply that told the client who Ann is records the contact note when sent, so no
    separate note follows within the period."""
    action = auto_reply_of(routed_plan())

    out = compose_auto_reply(action, config=CONFIG, env=ENV, now=NOW)

    assert action.names_contact
    assert out.on_sent["note"] == {"sender": CARLA, "kind": "contact_note"}
    assert ANN in text_of(parsed(out))


def test_an_auto_reply_that_does_not_name_the_contact_records_no_note() -> None:
    """A client who wrote to their own account manager: the reply records no contact note."""
    (p,) = plan(message(CARLA, mailbox="ann", to=ANN), config=CONFIG)
    action = auto_reply_of(list(p.actions))

    out = compose_auto_reply(action, config=CONFIG, env=ENV, now=NOW)

    assert not action.names_contact
    assert "note" not in out.on_sent


def test_an_auto_reply_is_an_automatic_response() -> None:
    """RFC 3834: Auto-Submitted: auto-replied, null envelope sender, to the Return-Path only."""
    out = compose_auto_reply(auto_reply_of(routed_plan()), config=CONFIG, env=ENV, now=NOW)
    message = parsed(out)

    assert message["Auto-Submitted"] == "auto-replied"
    assert (out.envelope_from, out.recipients) == ("", (CARLA,))
    assert message["In-Reply-To"] == "<m1@acme.test>"
