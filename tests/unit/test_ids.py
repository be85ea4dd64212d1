"""Our Message-IDs are a pure function of what the message answers, and the core's idea of
them is exactly what the composer writes: the core recognises an answer to an auto-reply it
only planned (RFC 3834 §2) only if both derive the same id."""

from __future__ import annotations

from boundary_mail.compose import compose_auto_reply, compose_contact_note
from boundary_mail.decide import AutoReply, ContactNote
from boundary_mail.ids import auto_reply_message_id, contact_note_message_id, stable_message_id
from boundary_mail.templates import environment
from tests.unit.factories import CARLA, StateSnapshot, agency, berlin, message, plan

NOW = berlin(23, 10)
ENV = environment(None, "en")


def test_the_same_key_gives_the_same_id_under_the_senders_domain() -> None:
    """Deterministic, distinct per key, in the domain asked for."""
    one = stable_message_id("auto_reply:<m1@acme.test>", "agency.test")
    assert one == stable_message_id("auto_reply:<m1@acme.test>", "agency.test")
    assert one != stable_message_id("auto_reply:<m2@acme.test>", "agency.test")
    assert one.startswith("<bm.") and one.endswith("@agency.test>")


def test_the_core_knows_the_message_id_of_the_auto_reply_it_plans() -> None:
    """The id `ids.auto_reply_message_id` gives is the Message-ID the composed reply has."""
    config = agency()
    (reply,) = [a for p in plan(message(CARLA, mailbox="ann", to="ann@agency.test"),
                                config=config) for a in p.actions if isinstance(a, AutoReply)]
    out = compose_auto_reply(reply, config=config, env=ENV, now=NOW)
    assert out.message_id == auto_reply_message_id(reply.facts.message_id, reply.from_address)


def test_the_core_knows_the_message_id_of_the_contact_note_it_plans() -> None:
    """Likewise for a contact note (Carla, rate-limited, wrote to Bob instead of Ann)."""
    config = agency()
    state = StateSnapshot(replies={(CARLA, "window"): berlin(21, 10)})
    (note,) = [a for p in plan(message(CARLA, mailbox="bob"), config=config, state=state)
               for a in p.actions if isinstance(a, ContactNote)]
    out = compose_contact_note(note, config=config, env=ENV, now=NOW)
    assert out.message_id == contact_note_message_id(note.facts.message_id, note.from_address)
