"""A message's identity is its Message-ID and its sender (issue 12, item 5).

A later message that reuses a known Message-ID from another sender is a different message: it
gets its own identity (`ids.reused_identity`), its own item and its own auto-reply, which is
threaded to the Message-ID its header carries. A true re-delivery (the same Message-ID from
the same sender) stays a duplicate. Without a Message-ID the identity is a hash of the header
block (`headers.synthetic_message_id`), so two different messages are two items.

Carla is an Acme person (Ann's client); Mallory is nobody's client. Both write to Bob, whose
window is Monday 23 November 2026, 10:00 Berlin time.
"""

from __future__ import annotations

from email import message_from_bytes

from boundary_mail.compose import compose_auto_reply
from boundary_mail.decide import AutoReply, MessagePlan
from boundary_mail.facts import MessageFacts
from boundary_mail.ids import reused_identity
from boundary_mail.snapshot import keys_for
from boundary_mail.templates import environment
from tests.unit.factories import (
    BOB,
    CARLA,
    MONDAY_WINDOW,
    StateSnapshot,
    agency,
    message,
    plan,
)

MALLORY = "mallory@elsewhere.test"
SAME = "<same@acme.test>"
MALLORYS = reused_identity(SAME, MALLORY)


def carla(uid: int = 1) -> MessageFacts:
    return message(CARLA, to=BOB, mid=SAME, uid=uid)


def mallory(uid: int = 2) -> MessageFacts:
    return message(MALLORY, to=BOB, mid=SAME, uid=uid, subject="Something else entirely")


def replies(p: MessagePlan) -> list[AutoReply]:
    return [a for a in p.actions if isinstance(a, AutoReply)]


def test_the_reused_identity_is_stable_and_differs_per_sender() -> None:
    """The same Message-ID and sender always give the same identity; another sender another;
    it never looks like a Message-ID a client could have written."""
    assert reused_identity(SAME, MALLORY) == reused_identity(SAME, MALLORY)
    assert reused_identity(SAME, MALLORY) != reused_identity(SAME, CARLA)
    assert MALLORYS.startswith("<") and MALLORYS.endswith(".reused@boundary-mail.invalid>")


def test_a_known_message_id_from_another_sender_is_a_new_message_in_one_window() -> None:
    """Carla's message, then Mallory's with the same Message-ID in the same window: Mallory's
    is a new item under its own identity, and Mallory gets an auto-reply."""
    first, second = plan(carla(), mallory())

    assert first.track is not None and first.track.message_id == SAME
    assert second.reply.rule != "duplicate"
    assert second.facts.message_id == MALLORYS
    assert second.facts.thread_id == SAME
    assert second.track is not None and second.track.message_id == MALLORYS
    assert [r.to for r in replies(second)] == [MALLORY]


def test_the_auto_reply_to_a_reused_message_id_is_threaded_to_its_header() -> None:
    """Mallory's auto-reply answers the Message-ID Mallory's mail carries (In-Reply-To,
    References), not our internal identity; its own Message-ID differs from Carla's reply."""
    config = agency()
    first, second = plan(carla(), mallory(), config=config)
    env = environment(None, "en")
    to_carla, to_mallory = (
        message_from_bytes(compose_auto_reply(r, config=config, env=env,
                                              now=MONDAY_WINDOW).raw)
        for r in (*replies(first), *replies(second))
    )

    assert to_mallory["In-Reply-To"] == SAME
    assert to_mallory["References"] == SAME
    assert to_mallory["Message-ID"] != to_carla["Message-ID"]


def test_a_redelivery_from_the_same_sender_stays_a_duplicate_in_one_window() -> None:
    """The same Message-ID from the same sender again, Carla's or Mallory's: a duplicate, no
    reply, no item."""
    plans = plan(carla(1), mallory(2), mallory(3), carla(4))

    for again in plans[2:]:
        assert again.reply.rule == "duplicate"
        assert (again.actions, again.track) == ((), None)
    assert plans[2].facts.message_id == MALLORYS
    assert plans[3].facts.message_id == SAME


def test_a_message_id_stored_from_another_sender_is_a_new_message() -> None:
    """An earlier window recorded and tracked Carla's message: Mallory's with the same
    Message-ID is a new item with an auto-reply; Carla's again is a duplicate."""
    state = StateSnapshot(tracked={SAME}, senders={SAME: CARLA})
    (theirs,) = plan(mallory(), state=state)
    (again,) = plan(carla(), state=state)

    assert theirs.track is not None and theirs.track.message_id == MALLORYS
    assert [r.to for r in replies(theirs)] == [MALLORY]
    assert again.reply.rule == "duplicate"
    assert (again.actions, again.track) == ((), None)


def test_a_stored_reused_identity_makes_its_redelivery_a_duplicate() -> None:
    """Mallory's message was tracked under its reused identity in an earlier window: the
    batch asks the store for that identity too, and a re-delivery is a duplicate."""
    assert MALLORYS in keys_for([mallory()]).message_ids
    state = StateSnapshot(tracked={SAME, MALLORYS},
                          senders={SAME: CARLA, MALLORYS: MALLORY})

    (again,) = plan(mallory(), state=state)

    assert again.facts.message_id == MALLORYS
    assert again.reply.rule == "duplicate"
    assert (again.actions, again.track) == ((), None)


def test_senders_are_compared_without_regard_to_case() -> None:
    """A sender stored in another case is the same sender: a re-delivery, not a new message."""
    state = StateSnapshot(tracked={SAME}, senders={SAME: CARLA.upper()})

    (again,) = plan(carla(), state=state)

    assert again.facts.message_id == SAME
    assert again.reply.rule == "duplicate"


def test_messages_without_a_message_id_are_told_apart_by_their_header_blocks() -> None:
    """Two messages without a Message-ID and with different headers are two items; the same
    header block delivered again is one."""
    one = message(CARLA, to=BOB, mid="", uid=1)
    other = message(CARLA, to=BOB, mid="", uid=2, subject="Another question")
    one_again = message(CARLA, to=BOB, mid="", uid=3)

    plans = plan(one, other, one_again)

    assert one.message_id != other.message_id
    assert [p.track is not None for p in plans] == [True, True, False]
    assert plans[2].reply.rule == "duplicate"
