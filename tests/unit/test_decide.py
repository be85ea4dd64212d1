"""One check window's decisions: routing, the contact note, tracking, follow-ups,
acknowledgments, duplicates, urgent mail and the deadline (issue 4).

Every case is a header block as the server stored it, parsed by `parse_facts`, planned by
`plan_window` against an in-memory `StateView` (tests/unit/factories.py). The agency: Acme
(acme.test) belongs to Ann, Globex (gina@globex.test) to Bob, Lee is the lead; everyone has a
monitored mailbox. Unless a test says otherwise the window is Monday 23 November 2026, 10:00
Berlin time, and the message arrived at 08:00 that morning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from boundary_mail.decide import (
    AutoReply,
    ContactNote,
    MessagePlan,
    Planner,
    Redirect,
    UrgentAlert,
    is_urgent,
)
from boundary_mail.directory import Directory
from boundary_mail.facts import MessageFacts
from boundary_mail.ids import auto_reply_message_id, contact_note_message_id
from boundary_mail.tracking import is_answered, team_reply_acknowledges
from tests.unit.factories import (
    ANN,
    BOB,
    CARLA,
    GINA,
    LEAD,
    MONDAY_EARLY,
    MX,
    SIGNED,
    STRANGER,
    StateSnapshot,
    agency,
    berlin,
    calendar_of,
    message,
    plan,
    trusting_mx,
)

NOW = berlin(23, 10)
ROOT = "<m1@acme.test>"
RECENTLY = NOW - timedelta(days=2)

A = TypeVar("A")


def only(plans: list[MessagePlan]) -> MessagePlan:
    assert len(plans) == 1
    return plans[0]


def actions_of(kind: type[A], plans: list[MessagePlan]) -> list[A]:
    return [a for p in plans for a in p.actions if isinstance(a, kind)]


def auto_reply(p: MessagePlan) -> AutoReply:
    replies = actions_of(AutoReply, [p])
    assert len(replies) == 1, p.reply
    return replies[0]


# -- one point of contact ----------------------------------------------------------------------


def test_client_mail_to_another_member_is_redirected_to_the_account_manager() -> None:
    """A client message that reached Bob, whose account manager is Ann and who did not get
    it herself, is passed on to Ann, by Bob's mailbox."""
    p = only(plan(message(CARLA, mailbox="bob", to=BOB)))

    assert p.match.client is not None and p.match.client.name == "Acme"
    assert p.redirect == Redirect(p.facts, to=ANN, by=BOB, via="imap", mailbox="ann")


def test_a_routed_item_belongs_to_the_account_manager_and_remembers_where_it_arrived() -> None:
    """The tracked item of a redirected message is owned by the account manager and records
    the mailbox it was routed from."""
    p = only(plan(message(CARLA, mailbox="bob", to=BOB)))

    assert p.track is not None
    assert (p.track.owner, p.track.routed_from, p.track.client) == (ANN, BOB, "Acme")


def test_the_auto_reply_to_a_routed_message_comes_from_the_owner_and_names_the_contact() -> None:
    """The client hears from the mailbox they wrote to (Bob), and that reply tells them Ann
    is their point of contact."""
    reply = auto_reply(only(plan(message(CARLA, mailbox="bob", to=BOB))))

    assert (reply.to, reply.from_address, reply.contact) == (CARLA, BOB, ANN)
    assert reply.names_contact


@pytest.mark.parametrize(
    ("sender", "mailbox", "headers"),
    [
        pytest.param(CARLA, "bob", {"to": BOB, "cc": f"Ann <{ANN}>"}, id="AM-in-Cc"),
        pytest.param(CARLA, "bob", {"to": f"{BOB}, {ANN}"}, id="AM-in-To"),
        pytest.param(CARLA, "ann", {"to": ANN}, id="AM-own-mailbox"),
        pytest.param(GINA, "bob", {"to": BOB, "mid": "<g1@globex.test>"},
                     id="address-match-own-mailbox"),
        pytest.param(STRANGER, "bob", {"to": BOB, "mid": "<s1@elsewhere.test>"},
                     id="unassigned-sender"),
    ],
)
def test_no_redirect_when_the_owner_already_has_it(
    sender: str, mailbox: str, headers: dict[str, Any]
) -> None:
    """Only a client message the account manager did not receive directly is redirected:
    not when they are in To or Cc, not in their own mailbox, never for unknown senders."""
    p = only(plan(message(sender, mailbox=mailbox, **headers)))

    assert p.redirect is None
    assert p.track is not None and p.track.routed_from == ""
    assert not actions_of(ContactNote, [p])
    assert not auto_reply(p).names_contact


def test_a_client_matched_by_address_is_routed_to_its_own_account_manager() -> None:
    """Globex (matched by gina's exact address) belongs to Bob: in Ann's mailbox it goes to Bob."""
    p = only(plan(message(GINA, mailbox="ann", to=ANN, mid="<g1@globex.test>")))

    assert p.match.how == "address"
    assert p.redirect == Redirect(p.facts, to=BOB, by=ANN, via="imap", mailbox="bob")
    assert p.track is not None and p.track.owner == BOB


def _mailbox(name: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "host": "127.0.0.1", "owner": f"{name}@agency.test", **more}


@pytest.mark.parametrize(
    ("mailboxes", "via", "target"),
    [
        pytest.param([_mailbox("ann"), _mailbox("bob"), _mailbox("lead")], "imap", "ann",
                     id="contact-monitored"),
        pytest.param([_mailbox("bob"), _mailbox("lead")], "smtp", "", id="contact-not-monitored"),
        pytest.param([_mailbox("annie", owner="annie@agency.test", aliases=[ANN]),
                      _mailbox("bob")], "imap", "annie", id="contact-is-an-alias-of-a-mailbox"),
        pytest.param([_mailbox("bob"), _mailbox("ann"), _mailbox("ann2", owner=ANN)], "imap",
                     "ann", id="first-of-two-mailboxes-wins"),
    ],
)
def test_a_route_goes_by_imap_exactly_when_the_contacts_mailbox_is_monitored(
    mailboxes: list[dict[str, Any]], via: str, target: str
) -> None:
    """Carla (Acme, Ann's client) writes to Bob. When a monitored mailbox receives Ann's mail,
    the original is appended to its inbox (no relay, no size limit); otherwise it goes
    through the relay. The core decides this from the configuration alone."""
    config = agency(mailboxes=mailboxes)
    p = only(plan(message(CARLA, mailbox="bob", to=BOB), config=config))

    assert p.redirect == Redirect(p.facts, to=ANN, by=BOB, via=via,  # type: ignore[arg-type]
                                  mailbox=target)


def test_a_message_already_tracked_is_not_routed_again() -> None:
    """The copy a route by IMAP put into Ann's inbox is the client's own message, with its
    Message-ID: Ann's sync finds it tracked and decides nothing again (no reply, no item, no
    second route)."""
    config = agency()
    routed = only(plan(message(CARLA, mailbox="bob", to=BOB), config=config))
    assert routed.redirect is not None and routed.redirect.via == "imap"
    tracked = StateSnapshot(tracked=frozenset({routed.facts.message_id}))

    copy = only(plan(message(CARLA, mailbox="ann", to=BOB), config=config, state=tracked,
                     now=NOW))

    assert not copy.reply.reply  # not addressed to Ann, and a duplicate anyway
    assert copy.actions == () and copy.track is None and copy.followup_of is None


# -- the contact note ------------------------------------------------------------------------


def test_a_routed_client_whose_auto_reply_is_rate_limited_gets_a_contact_note() -> None:
    """No auto-reply may go (one went two days ago), but the client has not been told who
    their contact is within contact_note_days: a separate short note tells them."""
    state = StateSnapshot(replies={(CARLA, "window"): RECENTLY})

    p = only(plan(message(CARLA, mailbox="bob", to=BOB), state=state))

    assert p.reply.rule == "rate-limited"
    assert actions_of(ContactNote, [p]) == [
        ContactNote(p.facts, to=CARLA, from_address=BOB, contact=ANN,
                    client=agency().clients[0])
    ]


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(StateSnapshot(replies={(CARLA, "window"): RECENTLY,
                                        (CARLA, "contact_note"): NOW - timedelta(days=3)}),
                     id="note-3-days-ago"),
        pytest.param(StateSnapshot(replies={(CARLA, "window"): RECENTLY},
                               queued={(CARLA, "contact_note")}),
                     id="note-queued"),
    ],
)
def test_no_second_contact_note_within_the_period(state: StateSnapshot) -> None:
    """A client told about their contact 3 days ago (or whose note is still queued) is not
    told again within contact_note_days (30)."""
    p = only(plan(message(CARLA, mailbox="bob", to=BOB), state=state))

    assert p.redirect is not None
    assert not actions_of(ContactNote, [p])
    assert not actions_of(AutoReply, [p])


def test_an_auto_reply_does_not_repeat_the_contact_within_the_period() -> None:
    """When the auto-reply may go but the contact was named 3 days ago, it does not name it."""
    state = StateSnapshot(replies={(CARLA, "contact_note"): NOW - timedelta(days=3)})

    reply = auto_reply(only(plan(message(CARLA, mailbox="bob", to=BOB), state=state)))

    assert not reply.names_contact


def test_the_contact_note_comes_again_after_the_period() -> None:
    """A note sent 31 days ago (period 30 days) no longer counts: the client is told again."""
    state = StateSnapshot(replies={(CARLA, "window"): RECENTLY,
                               (CARLA, "contact_note"): NOW - timedelta(days=31)})

    p = only(plan(message(CARLA, mailbox="bob", to=BOB), state=state))

    assert len(actions_of(ContactNote, [p])) == 1


@pytest.mark.parametrize(
    ("state", "notes", "naming_replies"),
    [
        pytest.param(StateSnapshot(), 0, 1, id="told-in-the-auto-reply"),
        pytest.param(StateSnapshot(replies={(CARLA, "window"): RECENTLY}), 1, 0,
                     id="told-in-a-note"),
    ],
)
def test_two_routed_messages_in_one_window_tell_the_client_once(
    state: StateSnapshot, notes: int, naming_replies: int
) -> None:
    """Two routed messages from one client in one window: the contact is named once, either
    by the first auto-reply or by one note."""
    first = message(CARLA, mailbox="bob", to=BOB, uid=1, mid="<m1@acme.test>")
    second = message(CARLA, mailbox="bob", to=BOB, uid=2, mid="<m2@acme.test>",
                     at=MONDAY_EARLY + timedelta(minutes=5), subject="And the logo")

    plans = plan(first, second, state=state)

    assert [p.redirect is not None for p in plans] == [True, True]
    assert len(actions_of(ContactNote, plans)) == notes
    assert sum(r.names_contact for r in actions_of(AutoReply, plans)) == naming_replies


def test_a_client_writing_to_its_account_manager_gets_no_contact_note() -> None:
    """The note is for clients who wrote to the wrong person; a rate-limited client who wrote
    to Ann herself gets nothing."""
    state = StateSnapshot(replies={(CARLA, "window"): RECENTLY})

    p = only(plan(message(CARLA, mailbox="ann", to=ANN), state=state))

    assert p.actions == ()


# -- robots --------------------------------------------------------------------------------------

ROBOTS = [
    pytest.param(["List-Id: <news.acme.test>", "List-Unsubscribe: <mailto:leave@acme.test>"],
                 {}, "list-header", id="mailing-list"),
    pytest.param([], {"return_path": "<>"}, "null-return-path", id="bounce-null-return-path"),
    pytest.param(["Auto-Submitted: auto-replied"], {}, "auto-submitted", id="vacation-reply"),
    pytest.param(["X-Boundary-Mail: reminder", "Auto-Submitted: auto-generated"], {},
                 "our-own-mail", id="our-own-reminder"),
    pytest.param(["Precedence: bulk"], {}, "precedence", id="bulk"),
]


@pytest.mark.parametrize(("extra", "headers", "rule"), ROBOTS)
def test_robots_are_never_tracked_routed_or_alerted(
    extra: list[str], headers: dict[str, Any], rule: str
) -> None:
    """Machine mail from a client's domain, to the wrong person, with an urgent subject, is
    still only machine mail: no item, no redirect, no alert, no reply, no note."""
    config = agency(urgent={"keywords": ["urgent"], "alert_address": "pager@sms.test"})
    facts = message(CARLA, mailbox="bob", to=BOB, subject="URGENT: Re: Quote", extra=extra,
                    **headers)

    p = only(plan(facts, config=config))

    assert p.reply.rule == rule
    assert (p.actions, p.track, p.followup_of, p.acknowledges) == ((), None, None, None)


def test_our_own_reminder_in_a_thread_is_not_a_followup() -> None:
    """Our reminder carries the item's thread ids, but it is ours: never a follow-up."""
    facts = message("assistant@agency.test", mailbox="ann", to=ANN, mid="<bm.1@agency.test>",
                    in_reply_to=ROOT, extra=["X-Boundary-Mail: reminder"])

    p = only(plan(facts, state=StateSnapshot().with_open(ROOT)))

    assert (p.track, p.followup_of, p.acknowledges) == (None, None, None)


# -- unassigned senders ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("team", "owner"),
    [
        pytest.param({}, LEAD, id="default-the-lead"),
        pytest.param({"triage_owner": BOB}, BOB, id="configured-triage-owner"),
    ],
)
def test_an_unknown_sender_is_tracked_for_the_triage_owner(team: dict[str, Any], owner: str
                                                           ) -> None:
    """A sender no client matches is "unassigned": owned by the triage owner (the lead
    unless configured), tracked, never routed."""
    config = agency(team=team)

    p = only(plan(message(STRANGER, mailbox="ann", to=ANN, mid="<s1@elsewhere.test>"),
                  config=config))

    assert (p.match.client, p.match.how, p.match.owner) == (None, "unassigned", owner)
    assert p.track is not None
    assert (p.track.owner, p.track.client, p.track.routed_from) == (owner, "", "")
    assert p.redirect is None


def test_a_person_who_may_not_be_answered_is_still_tracked() -> None:
    """A client message that only must not get an auto-reply (the mailbox was Bcc'd, so it is
    not addressed) still becomes an item: nothing a client writes falls through."""
    p = only(plan(message(CARLA, mailbox="ann", to="purchasing@acme.test")))

    assert p.reply.rule == "not-addressed"
    assert p.track is not None and p.track.owner == ANN


# -- follow-ups ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "thread",
    [
        pytest.param({"in_reply_to": ROOT, "references": ROOT}, id="in-reply-to"),
        pytest.param({"references": f"<older@acme.test> {ROOT}"}, id="references-only"),
    ],
)
def test_a_client_message_in_an_open_thread_is_a_followup(thread: dict[str, Any]) -> None:
    """"Did you get my email?" in the thread of an open item is counted on that item: no new
    item, no reset."""
    facts = message(CARLA, mailbox="ann", to=ANN, mid="<m2@acme.test>",
                    subject="Re: Quote for the spring campaign", **thread)

    p = only(plan(facts, state=StateSnapshot().with_open(ROOT)))

    assert p.followup_of == ROOT
    assert p.track is None


def test_the_original_and_its_followup_in_one_window_make_one_item() -> None:
    """Both arrived since the last window: the first starts the item, the second follows it."""
    original = message(CARLA, mailbox="ann", to=ANN, uid=1)
    followup = message(CARLA, mailbox="ann", to=ANN, uid=2, mid="<m2@acme.test>",
                       in_reply_to=ROOT, at=MONDAY_EARLY + timedelta(minutes=5))

    plans = plan(followup, original)  # the order of the batch does not matter

    assert [p.facts.message_id for p in plans] == [ROOT, "<m2@acme.test>"]
    assert [p.track is not None for p in plans] == [True, False]
    assert [p.followup_of for p in plans] == [None, ROOT]


@pytest.mark.parametrize("root_in_state", [False, True], ids=["root-this-window",
                                                              "root-earlier-window"])
def test_after_an_acknowledgment_the_next_client_message_is_a_new_item(
    root_in_state: bool,
) -> None:
    """Ann answered in this window (her reply, Cc Bob, signed, is in Bob's inbox); Carla's
    next message in that thread asks something new: a new item, not a follow-up."""
    messages = [
        message(ANN, mailbox="bob", to=CARLA, cc=BOB, uid=1, mid="<a1@agency.test>",
                in_reply_to=ROOT, references=ROOT, at=MONDAY_EARLY + timedelta(minutes=30),
                extra=[SIGNED]),
        message(CARLA, mailbox="ann", to=ANN, uid=2, mid="<m2@acme.test>", in_reply_to=
                "<a1@agency.test>", references=f"{ROOT} <a1@agency.test>",
                at=MONDAY_EARLY + timedelta(minutes=60)),
    ]
    state = StateSnapshot()
    if root_in_state:
        state = state.with_open(ROOT)
    else:
        messages.append(message(CARLA, mailbox="ann", to=ANN, uid=1))

    plans = plan(*messages, state=state, config=trusting_mx())

    reply, new = plans[-2:]
    assert reply.acknowledges is not None and reply.acknowledges.root_id == ROOT
    assert new.followup_of is None
    assert new.track is not None and new.track.message_id == "<m2@acme.test>"


# -- acknowledgment ------------------------------------------------------------------------------


def test_a_team_members_reply_in_an_inbox_acknowledges_the_item() -> None:
    """Ann's reply to Carla, a copy of which (Cc) lands in Bob's inbox, proven hers by the
    receiving server (DKIM passed), acknowledges the open item it answers; it is not itself
    tracked, routed or answered."""
    facts = message(ANN, mailbox="bob", to=CARLA, cc=BOB, mid="<a1@agency.test>",
                    in_reply_to=ROOT, at=berlin(23, 9), extra=[SIGNED])

    p = only(plan(facts, state=StateSnapshot().with_open(ROOT), config=trusting_mx()))

    assert p.reply.rule == "own-address"
    assert p.acknowledges is not None
    assert (p.acknowledges.root_id, p.acknowledges.how, p.acknowledges.by) == (ROOT, "reply", ANN)
    assert p.acknowledges.at == berlin(23, 9)
    assert (p.actions, p.track) == ((), None)


@pytest.mark.parametrize("followup_in_state", [True, False], ids=["followup-stored",
                                                                   "followup-this-window"])
def test_a_reply_to_a_followup_acknowledges_the_item(followup_in_state: bool) -> None:
    """Ann answered Carla's "did you get my email?" rather than the first message: that
    acknowledges the item the follow-up belongs to."""
    reply = message(ANN, mailbox="bob", to=CARLA, cc=BOB, uid=9, mid="<a1@agency.test>",
                    in_reply_to="<m2@acme.test>", at=berlin(23, 9, 30), extra=[SIGNED])
    if followup_in_state:
        state = StateSnapshot(tracked={ROOT}, roots={ROOT: ROOT, "<m2@acme.test>": ROOT})
        messages = [reply]
    else:
        state = StateSnapshot()
        messages = [message(CARLA, mailbox="ann", to=ANN, uid=1),
                    message(CARLA, mailbox="ann", to=ANN, uid=2, mid="<m2@acme.test>",
                            in_reply_to=ROOT, at=berlin(23, 9)),
                    reply]

    p = plan(*messages, state=state, config=trusting_mx())[-1]

    assert p.acknowledges is not None and p.acknowledges.root_id == ROOT


def test_an_auto_reply_from_a_team_mailbox_never_acknowledges() -> None:
    """Our own auto-reply, written from Ann's address into Carla's thread, carries our marker:
    it answers nothing."""
    facts = message(ANN, mailbox="bob", to=CARLA, cc=BOB, mid="<bm.1@agency.test>",
                    in_reply_to=ROOT, extra=["Auto-Submitted: auto-replied",
                                             "X-Boundary-Mail: auto-reply"])

    p = only(plan(facts, state=StateSnapshot().with_open(ROOT)))

    assert p.acknowledges is None


def test_team_reply_acknowledges_ignores_our_marker_and_strangers() -> None:
    """`team_reply_acknowledges`: only a team member's unmarked message that names an open
    item acknowledges it."""
    open_root = StateSnapshot().with_open(ROOT).open_root
    team = agency().team_addresses

    def ack(facts: MessageFacts) -> str | None:
        found = team_reply_acknowledges(facts, team_addresses=team, open_root=open_root,
                                        now=NOW)
        return found.root_id if found else None

    assert ack(message(ANN, to=CARLA, in_reply_to=ROOT, mid="<a1@agency.test>")) == ROOT
    assert ack(message(ANN, to=CARLA, in_reply_to=ROOT, mid="<a2@agency.test>",
                       extra=["X-Boundary-Mail: auto-reply"])) is None
    assert ack(message(STRANGER, to=CARLA, in_reply_to=ROOT, mid="<x@elsewhere.test>")) is None
    assert ack(message(ANN, to=CARLA, in_reply_to="<closed@acme.test>",
                       mid="<a3@agency.test>")) is None
    assert ack(message(ANN, to=CARLA, mid="<a4@agency.test>")) is None


def test_sent_folder_replies_acknowledge_each_open_item_once() -> None:
    """Planner.plan_sent: Ann answered Carla twice and Gina once, and wrote one unrelated mail; each
    open item is acknowledged once, by the earliest reply."""
    state = StateSnapshot().with_open(ROOT, "<g1@globex.test>")

    def sent(uid: int, to: str, in_reply_to: str, at_hour: int) -> MessageFacts:
        return message(ANN, mailbox="ann", folder="Sent", uid=uid, to=to,
                       mid=f"<a{uid}@agency.test>", in_reply_to=in_reply_to,
                       at=berlin(23, at_hour))

    facts = [
        sent(3, CARLA, ROOT, 12),
        sent(1, CARLA, ROOT, 10),
        sent(2, GINA, "<g1@globex.test>", 11),
        sent(4, "someone@elsewhere.test", "<unrelated@elsewhere.test>", 13),
    ]

    config = agency()
    acks = Planner(config, calendar_of(config), berlin(23, 15)).plan_sent(facts, state)

    assert [(a.root_id, a.at) for a in acks] == [(ROOT, berlin(23, 10)),
                                                 ("<g1@globex.test>", berlin(23, 11))]


@pytest.mark.parametrize(
    ("flags", "answered"),
    [((), False), (("\\Seen",), False), (("\\Seen", "\\Answered"), True),
     (("\\answered",), True), (("$Routed",), False)],
)
def test_the_answered_flag_in_any_case_means_answered(flags: tuple[str, ...], answered: bool
                                                      ) -> None:
    """The IMAP \\Answered flag (case-insensitive, RFC 3501 §2.3.2) marks a copy as replied to."""
    assert is_answered(flags) is answered


# -- duplicate copies ------------------------------------------------------------------------


def test_one_message_in_two_inboxes_is_one_item_and_one_reply() -> None:
    """Carla wrote to Ann and Bob at once: both inboxes hold the same Message-ID. It becomes
    one tracked item with one auto-reply; the second copy is a "duplicate"."""
    to = f"{ANN}, {BOB}"
    plans = plan(message(CARLA, mailbox="bob", to=to, uid=7),
                 message(CARLA, mailbox="ann", to=to, uid=3))

    assert len([p for p in plans if p.track is not None]) == 1
    assert len(actions_of(AutoReply, plans)) == 1
    assert plans[1].reply.rule == "duplicate"
    assert plans[1].actions == ()


def test_a_copy_that_could_not_be_answered_does_not_silence_the_addressed_copy() -> None:
    """Carla wrote To: Bob and Bcc'd Ann. Ann's copy is tracked but may not be answered (not
    addressed, RFC 3834 §2); Bob's copy is addressed, so the client still gets exactly one
    auto-reply, whichever mailbox's copy the window happens to plan first."""
    plans = plan(message(CARLA, mailbox="bob", to=BOB, uid=7),
                 message(CARLA, mailbox="ann", to=BOB, uid=3))

    assert len([p for p in plans if p.track is not None]) == 1
    assert [r.from_address for r in actions_of(AutoReply, plans)] == [BOB]


def test_a_message_already_tracked_is_a_duplicate() -> None:
    """A copy of a message an earlier window already tracked: no reply, no new item."""
    p = only(plan(message(CARLA, mailbox="ann", to=ANN), state=StateSnapshot(tracked={ROOT})))

    assert p.reply.rule == "duplicate"
    assert (p.actions, p.track) == ((), None)


# -- urgent and VIP ------------------------------------------------------------------------------

URGENT = agency(
    urgent={"keywords": ["urgent", "asap"], "vip_senders": ["boss@bigcorp.test"],
            "alert_address": "pager@sms.test", "channel": "call +49 30 1234567"},
    clients=[*agency().model_dump()["clients"][:1],
             {"name": "Globex", "addresses": [GINA], "account_manager": BOB, "vip": True}],
)


@pytest.mark.parametrize(
    ("sender", "subject", "why"),
    [
        pytest.param(CARLA, "Urgent!", "urgent keyword 'urgent' in the subject", id="Urgent!"),
        pytest.param(CARLA, "URGENT: site is down", "urgent keyword 'urgent' in the subject",
                     id="upper-case"),
        pytest.param(CARLA, "Re: the banner (urgent)", "urgent keyword 'urgent' in the subject",
                     id="in-brackets"),
        pytest.param(CARLA, "Need it ASAP", "urgent keyword 'asap' in the subject", id="asap"),
        pytest.param(CARLA, "Report on the insurgency", "", id="insurgency"),
        pytest.param(CARLA, "Please reply urgently", "", id="urgently"),
        pytest.param(CARLA, "Urgentness ranking", "", id="urgentness"),
        pytest.param(CARLA, "Quote for the spring campaign", "", id="plain"),
        pytest.param("boss@bigcorp.test", "hello", "VIP sender", id="vip-sender"),
        pytest.param(GINA, "hello", "VIP client Globex", id="vip-client"),
    ],
)
def test_urgent_is_a_vip_or_a_whole_word_keyword(sender: str, subject: str, why: str) -> None:
    """A VIP sender, a VIP client, or an urgent keyword as a whole word of the subject in any
    case makes a message urgent; a keyword inside a longer word does not."""
    facts = message(sender, subject=subject)
    client = Directory(URGENT).match(sender).client

    assert is_urgent(facts, URGENT, client) == why


@pytest.mark.parametrize(
    ("sender", "subject", "owner"),
    [
        pytest.param(CARLA, "URGENT: site is down", ANN, id="keyword"),
        pytest.param(GINA, "hello", BOB, id="vip-client"),
        pytest.param("boss@bigcorp.test", "hello", LEAD, id="vip-sender-unassigned"),
    ],
)
def test_urgent_mail_alerts_the_owner_and_the_alert_address(
    sender: str, subject: str, owner: str
) -> None:
    """Urgent mail alerts its owner (even when it arrived elsewhere) and the alert address at
    once; the item is marked urgent."""
    p = only(plan(message(sender, mailbox="bob", to=BOB, subject=subject), config=URGENT))

    (alert,) = actions_of(UrgentAlert, [p])
    assert alert.to == (owner, "pager@sms.test")
    assert alert.why
    assert p.track is not None and p.track.urgent


def test_the_auto_reply_to_urgent_mail_is_marked_urgent() -> None:
    """The auto-reply to urgent mail names the urgent channel instead of the normal wait."""
    p = only(plan(message(CARLA, mailbox="ann", to=ANN, subject="Urgent!"), config=URGENT))

    assert auto_reply(p).urgent


def test_without_an_alert_address_only_the_owner_is_alerted() -> None:
    """No urgent.alert_address configured: the alert goes to the account manager alone."""
    config = agency(urgent={"keywords": ["urgent"]})

    p = only(plan(message(CARLA, mailbox="ann", to=ANN, subject="urgent"), config=config))

    assert [a.to for a in actions_of(UrgentAlert, [p])] == [(ANN,)]


def test_ordinary_mail_raises_no_alert() -> None:
    """Mail that is neither VIP nor carries a keyword waits for the window like all mail."""
    p = only(plan(message(CARLA, mailbox="ann", to=ANN), config=URGENT))

    assert not actions_of(UrgentAlert, [p])
    assert not auto_reply(p).urgent
    assert p.track is not None and not p.track.urgent


# -- the deadline --------------------------------------------------------------------------------


def test_the_deadline_is_the_promise_the_auto_reply_made() -> None:
    """The item's deadline and the auto-reply's answer-by are one calculation: arrived Monday
    08:00, read Monday 10:00, answered by Tuesday 15:00."""
    p = only(plan(message(CARLA, mailbox="ann", to=ANN)))

    assert p.track is not None
    assert p.track.read_at == p.promise.read_at == berlin(23, 10)
    assert p.track.deadline == p.promise.answer_by == auto_reply(p).promise.answer_by
    assert p.track.deadline == berlin(24, 15)


@pytest.mark.parametrize(
    ("days", "deadline"),
    [
        pytest.param(None, berlin(24, 15), id="default-1"),
        pytest.param(0, berlin(23, 15), id="same-day"),
        pytest.param(3, berlin(26, 15), id="three-days"),
    ],
)
def test_a_clients_own_answer_time_sets_its_deadline(days: int | None, deadline: Any) -> None:
    """A client's answer_within_business_days overrides the global one, for the promise and
    the deadline alike."""
    clients = agency().model_dump()["clients"]
    clients[0]["answer_within_business_days"] = days
    config = agency(clients=clients)

    p = only(plan(message(CARLA, mailbox="ann", to=ANN), config=config))

    assert p.track is not None
    assert p.track.deadline == auto_reply(p).promise.answer_by == deadline


def test_an_other_clients_override_does_not_apply() -> None:
    """Globex answers within 3 days; Acme, in the same config, keeps the default of 1."""
    clients = agency().model_dump()["clients"]
    clients[1]["answer_within_business_days"] = 3
    config = agency(clients=clients)

    plans = plan(message(CARLA, mailbox="ann", to=ANN),
                 message(GINA, mailbox="bob", to=BOB, mid="<g1@globex.test>", uid=2),
                 config=config)

    assert [p.track.deadline for p in plans if p.track] == [berlin(24, 15), berlin(26, 15)]


# -- one bad message never stops the window --------------------------------------------------


class _BrokenForOne(StateSnapshot):
    """A state whose lookup fails for one message, as an unforeseen bug would."""

    def is_tracked(self, message_id: str) -> bool:
        if message_id == "<poison@acme.test>":
            raise RuntimeError("boom")
        return super().is_tracked(message_id)


def test_a_message_that_cannot_be_decided_is_recorded_and_the_rest_go_on() -> None:
    """An exception while deciding one message makes that one an "error" plan with no
    actions; the other messages of the window are decided as usual."""
    plans = plan(message(CARLA, mailbox="ann", to=ANN, mid="<poison@acme.test>", uid=1),
                 message(GINA, mailbox="bob", to=BOB, mid="<g1@globex.test>", uid=2),
                 state=_BrokenForOne())
    poison, good = plans
    assert (poison.reply.rule, poison.actions, poison.track) == ("error", (), None)
    assert "RuntimeError" in poison.reply.reason
    assert good.track is not None and actions_of(AutoReply, [good])


# -- a team member's reply in an inbox must be proven theirs (issue 12, item 7) ----------------

FORGER = "<bounce@forger.test>"


@pytest.mark.parametrize(("headers", "config_id", "acknowledges"), [
    pytest.param({"extra": [SIGNED]}, MX, True, id="dkim-pass-from-our-mx"),
    pytest.param({"extra": [f"Authentication-Results: {MX}; spf=pass"
                            f" smtp.mailfrom={ANN}; dmarc=pass header.from=agency.test"]},
                 MX, True, id="spf-and-dmarc-pass-from-our-mx"),
    pytest.param({"extra": [f"Authentication-Results: {MX}; dkim=pass header.d=agency.test"
                            " (good)", f"Authentication-Results: {MX}; spf=fail"]},
                 MX, True, id="two-fields-of-our-mx"),
    pytest.param({"return_path": FORGER, "extra": [SIGNED]}, MX, False,
                 id="foreign-return-path"),
    pytest.param({"return_path": FORGER}, MX, False, id="foreign-return-path-no-results"),
    pytest.param({}, MX, False, id="no-authentication-results"),
    pytest.param({"extra": [SIGNED]}, "", False, id="no-trusted-authserv-id-configured"),
    pytest.param({"extra": ["Authentication-Results: mx.forger.test; dkim=pass"
                            " header.d=agency.test"]}, MX, False, id="the-forgers-own-field"),
    pytest.param({"extra": ["Authentication-Results: mx.forger.test; none", SIGNED]}, MX, False,
                 id="ours-below-a-foreign-field-came-with-the-message"),
    pytest.param({"extra": [f"Authentication-Results: {MX}; dkim=fail header.d=agency.test"]},
                 MX, False, id="dkim-fail"),
    pytest.param({"extra": [f"Authentication-Results: {MX}; dkim=pass header.d=forger.test"]},
                 MX, False, id="dkim-pass-for-another-domain"),
    pytest.param({"extra": [f"Authentication-Results: {MX}; spf=pass smtp.mailfrom={ANN}"]},
                 MX, False, id="spf-without-dmarc"),
    pytest.param({"extra": [f"Authentication-Results: {MX}; dkim=pass (((junk"]}, MX, False,
                 id="junk"),
])
def test_an_inbox_reply_acknowledges_only_when_our_server_proves_the_author(
    headers: dict[str, Any], config_id: str, acknowledges: bool
) -> None:
    """A message From: ann@… answering an open item, in Bob's inbox, acknowledges it only when
    its Return-Path is Ann and the topmost Authentication-Results of our receiving server
    (`escalation.trusted_authserv_id`) say DKIM, or SPF and DMARC, passed for agency.test.
    Otherwise it is mail in the thread (a follow-up), never answered, and the reason says
    why it acknowledged nothing."""
    facts = message(ANN, mailbox="bob", to=CARLA, cc=BOB, mid="<a1@agency.test>",
                    in_reply_to=ROOT, at=berlin(23, 9), **headers)
    config = agency(escalation={"trusted_authserv_id": config_id})

    p = only(plan(facts, state=StateSnapshot().with_open(ROOT), config=config))

    assert (p.reply.reply, p.reply.rule, p.actions, p.track) == (False, "own-address", (), None)
    if acknowledges:
        assert p.acknowledges is not None and p.acknowledges.root_id == ROOT
        assert p.followup_of is None
    else:
        assert p.acknowledges is None
        assert p.followup_of == ROOT
        assert "does not acknowledge anything" in p.reply.reason


def test_a_forged_reply_leaves_the_item_open_for_the_rest_of_the_window() -> None:
    """After a forged "reply" from Ann, Carla's next message in the thread is a follow-up of
    the still open item, not a new item."""
    forged = message(ANN, mailbox="ann", to=ANN, uid=1, mid="<f1@forger.test>",
                     in_reply_to=ROOT, return_path=FORGER, at=berlin(23, 9))
    followup = message(CARLA, mailbox="ann", to=ANN, uid=2, mid="<m2@acme.test>",
                       in_reply_to="<f1@forger.test>", references=f"{ROOT} <f1@forger.test>",
                       at=berlin(23, 9, 30))

    forged_plan, followup_plan = plan(forged, followup, state=StateSnapshot().with_open(ROOT),
                                      config=trusting_mx())

    assert forged_plan.acknowledges is None
    assert (followup_plan.followup_of, followup_plan.track) == (ROOT, None)


def test_sent_folder_replies_need_no_proof() -> None:
    """The Sent folder is written by the team member's own mail client: a reply there
    acknowledges without Authentication-Results (and without trusted_authserv_id)."""
    sent = message(ANN, mailbox="ann", folder="Sent", to=CARLA, mid="<a1@agency.test>",
                   in_reply_to=ROOT, at=berlin(23, 9))
    config = agency()

    acks = Planner(config, calendar_of(config), NOW).plan_sent(
        [sent], StateSnapshot().with_open(ROOT))

    assert [a.root_id for a in acks] == [ROOT]


# -- answers to our own automatic mail (issue 12, item 8) --------------------------------------

ROBOT = "bounce-1@tickets.acme.test"  # Acme's robot: no Auto-Submitted, a new address each time
OUR_REPLY = auto_reply_message_id(ROOT, ANN)  # our auto-reply to Carla's message, from Ann


def robot_answer(*, extra: Sequence[str] = (), **thread: str) -> MessageFacts:
    """The robot's answer, naming our auto-reply to Carla unless told otherwise."""
    return message(ROBOT, mailbox="ann", to=ANN, uid=5, mid="<r1@tickets.acme.test>",
                   subject="Re: Auto: Quote for the spring campaign", at=berlin(23, 9),
                   extra=extra, **(thread or {"in_reply_to": OUR_REPLY}))


@pytest.mark.parametrize("thread", [
    pytest.param({"in_reply_to": OUR_REPLY}, id="in-reply-to"),
    pytest.param({"references": f"<older@tickets.acme.test> {OUR_REPLY}"}, id="references"),
])
def test_an_answer_to_our_auto_reply_is_never_answered_and_follows_its_thread(
    thread: dict[str, str],
) -> None:
    """A message whose In-Reply-To or References names our stored auto-reply to Carla gets
    no auto-reply (RFC 3834 §2), whatever its Return-Path, and is counted as a follow-up on
    the item our auto-reply answered: no new item."""
    state = StateSnapshot(ours={OUR_REPLY: ROOT}).with_open(ROOT)

    p = only(plan(robot_answer(**thread), state=state))

    assert (p.reply.reply, p.reply.rule) == (False, "reply-to-our-auto-reply")
    assert actions_of(AutoReply, [p]) == []
    assert (p.followup_of, p.track) == (ROOT, None)


def test_an_answer_to_our_auto_reply_to_a_followup_counts_on_the_item() -> None:
    """Our auto-reply answered Carla's follow-up <m2>: the robot's answer to it is counted
    on the item <m2> belongs to."""
    ours = auto_reply_message_id("<m2@acme.test>", ANN)
    state = StateSnapshot(tracked={ROOT}, roots={ROOT: ROOT, "<m2@acme.test>": ROOT},
                          ours={ours: "<m2@acme.test>"})

    p = only(plan(robot_answer(in_reply_to=ours), state=state))

    assert (p.reply.rule, p.followup_of, p.track) == ("reply-to-our-auto-reply", ROOT, None)


@pytest.mark.parametrize(("extra", "rule", "tracked"), [
    pytest.param([], "reply-to-our-auto-reply", True, id="a-person-maybe-new-item"),
    pytest.param(["Auto-Submitted: auto-replied"], "auto-submitted", False, id="a-robot"),
    pytest.param(["Precedence: bulk"], "precedence", False, id="bulk"),
])
def test_once_the_item_is_closed_an_answer_to_ours_is_new_only_from_a_person(
    extra: list[str], rule: str, tracked: bool
) -> None:
    """The item our auto-reply answered is acknowledged (not among the open roots): an
    answer to our auto-reply is still never answered; it is a new item unless a robot rule
    recognises it."""
    state = StateSnapshot(tracked={ROOT}, ours={OUR_REPLY: ROOT})

    p = only(plan(robot_answer(extra=extra), state=state))

    assert (p.reply.reply, p.reply.rule, p.followup_of) == (False, rule, None)
    assert (p.track is not None) == tracked


def test_our_contact_note_counts_as_ours_too() -> None:
    """A contact note (sent from the mailbox Carla wrote to) is our automatic mail as well."""
    note = contact_note_message_id(ROOT, BOB)
    state = StateSnapshot(ours={note: ROOT}).with_open(ROOT)

    p = only(plan(robot_answer(in_reply_to=note), state=state))

    assert (p.reply.rule, p.followup_of) == ("reply-to-our-auto-reply", ROOT)


def test_an_auto_reply_planned_earlier_in_the_window_is_known_as_ours() -> None:
    """Nothing is stored yet (a dry run commits nothing): the planner knows the Message-ID of
    the auto-reply it planned in an earlier batch, because our ids derive from what they
    answer, so an answer to it in a later batch is a follow-up, not answered."""
    config = agency()
    planner = Planner(config, calendar_of(config), NOW)
    (first,) = planner.plan_inbox([message(CARLA, mailbox="ann", to=ANN, uid=1)],
                                  StateSnapshot())
    (answer,) = planner.plan_inbox([robot_answer()], StateSnapshot())

    assert auto_reply(first).to == CARLA
    assert (answer.reply.rule, answer.followup_of, answer.track) == (
        "reply-to-our-auto-reply", ROOT, None)


def test_a_robot_that_hops_return_paths_gets_one_auto_reply() -> None:
    """The robot answers every message of ours from a new Return-Path (bounce-1@, bounce-2@,
    …), each answer naming only the message it answers. Over a week of windows it gets the one
    auto-reply its first message got, and everything else is one item's follow-ups."""
    config = agency()
    calendar = calendar_of(config)
    first = message("bounce-0@tickets.acme.test", mailbox="ann", to=ANN, uid=1,
                    mid="<t0@tickets.acme.test>", at=berlin(23, 8))
    stored = StateSnapshot()
    pending = [first]
    replies: list[AutoReply] = []
    items, followups = [], []
    for n, window in enumerate([berlin(23, 10), berlin(23, 15), berlin(24, 10), berlin(24, 15),
                                berlin(25, 10), berlin(26, 10), berlin(27, 10), berlin(30, 10)]):
        plans = Planner(config, calendar, window).plan_inbox(pending, stored)
        pending = []
        for p in plans:
            items += [p.track.message_id] if p.track else []
            followups += [p.followup_of] if p.followup_of else []
            for reply in actions_of(AutoReply, [p]):
                replies.append(reply)
                ours = auto_reply_message_id(reply.facts.message_id, reply.from_address)
                stored = replace(stored, ours={**stored.ours, ours: reply.facts.message_id})
                pending.append(message(f"bounce-{n + 1}@tickets.acme.test", mailbox="ann",
                                       to=ANN, uid=n + 2, mid=f"<t{n + 1}@tickets.acme.test>",
                                       in_reply_to=ours, at=window + timedelta(minutes=5)))
        stored = stored.with_open(*items)
        stored = replace(stored, roots={**stored.roots, **{f: f for f in followups}})

    assert len(replies) == 1
    assert items == ["<t0@tickets.acme.test>"]
    assert followups == ["<t0@tickets.acme.test>"]
