"""Composing what passing client mail on needs besides a plain redirect: the queued route by
IMAP, the notice that replaces a redirect too big for the relay, the alert of a route that
failed, and a reminder whose original does not fit.

The actions come from `plan_window` over the agency of tests/unit/factories.py; each test
parses the bytes that would be queued and states one property of them.
"""

from __future__ import annotations

from datetime import datetime

from boundary_mail.compose import compose_ladder
from boundary_mail.compose_route import (
    NOTICE_TEXT_CHARS,
    compose_redirect_notice,
    compose_route,
    compose_route_failed,
    redirect_key,
)
from boundary_mail.config import Config
from boundary_mail.decide import Redirect
from boundary_mail.digest_data import FailedRoute
from tests.unit.factories import ANN, ASSISTANT, BOB, agency
from tests.unit.test_compose import (
    CONFIG,
    ENV,
    NOW,
    ORIGINAL,
    ladder_steps,
    parsed,
    routed_plan,
    text_of,
)

BIG_BODY = ("Hello Bob,\r\n\r\n" + "the plans are attached. " * 400 + "\r\n").encode()
BIG = ORIGINAL.partition(b"\r\n\r\n")[0] + b"\r\n\r\n" + BIG_BODY


def the_redirect(config: Config = CONFIG) -> Redirect:
    (action,) = [a for a in routed_plan(config) if isinstance(a, Redirect)]
    return action


def test_a_route_by_imap_queues_the_original_bytes_unchanged() -> None:
    """Nothing is added to or taken from a message appended to the contact's inbox: not our
    Resent-* block, not even the delivery fields a relay would refuse."""
    action = the_redirect()
    assert (action.via, action.mailbox) == ("imap", "ann")

    out = compose_route(action, ORIGINAL, config=CONFIG)

    assert out.raw == ORIGINAL
    assert (out.kind, out.recipients, out.envelope_from) == ("route", (ANN,), "")
    assert out.dedupe_key == "route:<m1@acme.test>:ann@agency.test"
    assert out.message_id != "<m1@acme.test>"  # the queue's id, never the client's
    assert "routed by IMAP to ann@agency.test's inbox" in out.preview()


def test_a_notice_carries_the_header_fields_and_the_start_of_the_text_but_no_body() -> None:
    """A message too big for the relay reaches its contact as a notice: who wrote what when,
    the start of the text decoded, and where the whole message lies; nothing attached."""
    config = agency(mailboxes=[{"name": "bob", "host": "127.0.0.1", "owner": BOB}])
    action = the_redirect(config)
    assert action.via == "smtp"

    out = compose_redirect_notice(action, BIG, config=config, env=ENV, now=NOW, limit=5_000)
    message = parsed(out)
    text = text_of(message).replace("\r\n", "\n")

    assert (out.kind, out.recipients, out.envelope_from) == ("redirect_notice", (ANN,), ASSISTANT)
    assert out.dedupe_key == redirect_key(action)  # a redirect or a notice: one of them, once
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["In-Reply-To"] == "<m1@acme.test>"
    assert list(message.iter_attachments()) == []
    assert len(out.raw) < len(BIG)
    for line in ("From:       Carla Client <carla@acme.test>", "To:         Bob <bob@agency.test>",
                 "Subject:    Quote for the spring campaign",
                 "Date:       Mon, 23 Nov 2026 07:55:00 +0100", "Message-ID: <m1@acme.test>"):
        assert line in text
    assert "Hello Bob,\n\nthe plans are attached." in text
    assert text.count("the plans are attached") < 400  # only the start
    assert len(text) < NOTICE_TEXT_CHARS + 1000
    assert "The whole message lies in mailbox bob (bob@agency.test), folder INBOX" in text
    assert "(9.7 KB" not in text and "the mail server takes 5 KB" in text


def test_a_route_that_failed_alerts_the_owner_of_the_mailbox_it_lies_in() -> None:
    """One alert per message (its dedupe key), to the owner of the mailbox it arrived in,
    saying what was refused and where the message lies."""
    failed = FailedRoute("<m1@acme.test>", "bob", "INBOX", BOB, ANN, "carla@acme.test",
                         "Quote", "552 5.3.4 Message size exceeds fixed limit", NOW)

    out = compose_route_failed(failed, config=CONFIG, env=ENV, now=NOW)
    text = text_of(parsed(out)).replace("\r\n", "\n")

    assert (out.kind, out.recipients, out.dedupe_key) == (
        "route_failed", (BOB,), "route-failed:<m1@acme.test>")
    assert "could not be passed on to its point of contact,\nann@agency.test" in text
    assert "552 5.3.4 Message size exceeds fixed limit" in text
    assert "It lies in mailbox bob (bob@agency.test), folder INBOX." in text


def test_a_reminder_attaches_the_original_only_when_the_whole_fits_the_relay() -> None:
    """Within the limit the original is attached; an original above it (or one that would
    push the reminder above it) is not, and the reminder says where it lies instead."""
    step = ladder_steps()[0]
    where = "mailbox bob (bob@agency.test), folder INBOX"

    def compose(limit: int | None) -> str:
        out = compose_ladder(step, BIG, config=CONFIG, env=ENV, now=NOW, limit=limit,
                             where=where)
        attached = list(parsed(out).iter_attachments())
        assert limit is None or len(out.raw) <= limit or not attached
        return ("attached" if attached else "") + text_of(parsed(out))

    assert compose(None).startswith("attached")
    assert compose(1_000_000).startswith("attached")
    for limit in (5_000, len(BIG) + 100):  # the original alone, or with the reminder
        text = compose(limit)
        assert not text.startswith("attached"), limit
        assert f"The original message is too big to attach (10 KB); it lies in {where}." in text


def test_composing_a_notice_twice_gives_the_same_bytes() -> None:
    """A retried window queues the same notice (its Message-ID comes from the key)."""
    config = agency(mailboxes=[{"name": "bob", "host": "127.0.0.1", "owner": BOB}])
    action = the_redirect(config)
    when = datetime(2026, 11, 23, 9, tzinfo=NOW.tzinfo)
    one = compose_redirect_notice(action, BIG, config=config, env=ENV, now=when, limit=5_000)
    two = compose_redirect_notice(action, BIG, config=config, env=ENV, now=when, limit=5_000)
    assert one.raw == two.raw
