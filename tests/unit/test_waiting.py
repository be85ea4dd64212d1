"""Waiting on clients: what becomes a waiting item, what ends it, which nudge is due, and the
figures both ways (see `boundary_mail.waiting` and `waiting_figures`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from boundary_mail.directory import Directory
from boundary_mail.tracking import TrackedItem
from boundary_mail.waiting import (
    WaitingItem,
    WaitStart,
    plan_nudges,
    tag_days,
    wait_end,
    wait_start,
)
from boundary_mail.waiting_figures import TurnFigures, client_waits, turn_figures
from boundary_mail.waiting_plan import WaitingPlanner
from tests.unit.factories import (
    ANN,
    ASSISTANT,
    BOB,
    CARLA,
    GINA,
    agency,
    berlin,
    calendar_of,
    message,
    plan,
)


@pytest.mark.parametrize(("address", "days"), [
    ("assistant+waiting@agency.test", 3),
    ("assistant+2d@agency.test", 2),
    ("Assistant+10D@agency.test", 10),
    ("assistant@agency.test", None),  # no tag
    ("assistant+0d@agency.test", None),  # no such wait
    ("assistant+later@agency.test", None),  # an unknown tag
    ("assistant+2d@other.test", None),  # another domain
    ("someone+2d@agency.test", None),  # not the assistant
])
def test_a_plus_tag_on_the_assistant_address_says_when_to_nudge(
    address: str, days: int | None
) -> None:
    """assistant+waiting@ takes the configured days, assistant+Nd@ N business days."""
    assert tag_days([address], ASSISTANT, 3) == days


def sent(*, to: str = CARLA, extra: tuple[str, ...] = (), flags: tuple[str, ...] = (),
         mid: str = "<ask@agency.test>", sender: str = ANN) -> WaitStart | None:
    facts = message(sender, mailbox="ann", folder="Sent", to=to, mid=mid,
                    subject="Homepage copy", extra=extra, at=berlin(23, 10, 30))
    facts = replace(facts, flags=frozenset(flags))
    config = agency()
    return wait_start(facts, config=config, directory=Directory(config))


def test_a_sent_copy_bcc_to_the_tag_becomes_a_waiting_item() -> None:
    """The Bcc line the mail client kept in the Sent copy is the tag."""
    start = sent(extra=("Bcc: assistant+2d@agency.test",))
    assert start is not None
    assert (start.client, start.member, start.to, start.after_days, start.how) == (
        "Acme", ANN, (CARLA,), 2, "bcc")
    assert start.sent_at == berlin(23, 7, 55)  # its Date, before it was stored


def test_the_waiting_keyword_tags_a_sent_copy() -> None:
    start = sent(flags=("\\Seen", "$waiting"))
    assert start is not None and (start.how, start.after_days) == ("keyword", 3)


@pytest.mark.parametrize("why", ["untagged", "no client", "not the team", "ours"])
def test_what_is_not_a_waiting_item(why: str) -> None:
    """Untagged mail (track = "tagged"), mail to no client, mail not from the team and our
    own automatic mail never start a wait."""
    bcc = "Bcc: assistant+2d@agency.test"
    start = {
        "untagged": lambda: sent(),
        "no client": lambda: sent(to="sam@elsewhere.test", extra=(bcc,)),
        "not the team": lambda: sent(sender="sam@elsewhere.test", extra=(bcc,)),
        "ours": lambda: sent(extra=(bcc, "X-Boundary-Mail: nudge")),
    }[why]()
    assert start is None


def test_track_all_makes_every_message_to_that_client_a_waiting_item() -> None:
    config = agency(clients=[
        {"name": "Acme", "domains": ["acme.test"], "account_manager": ANN,
         "waiting": {"track": "all", "after_business_days": 5}},
        {"name": "Globex", "addresses": [GINA], "account_manager": BOB},
    ])
    directory = Directory(config)
    to_acme = message(ANN, mailbox="ann", folder="Sent", to=CARLA, mid="<a@agency.test>")
    to_globex = message(ANN, mailbox="ann", folder="Sent", to=GINA, mid="<g@agency.test>")
    start = wait_start(to_acme, config=config, directory=directory)
    assert start is not None and (start.how, start.after_days) == ("all", 5)
    assert wait_start(to_globex, config=config, directory=directory) is None


def test_the_clients_answer_ends_the_wait_but_not_its_out_of_office() -> None:
    threads = {"<ask@agency.test>": ("<ask@agency.test>", "Acme")}
    answer, ooo, other = plan(
        message(CARLA, to=ANN, mailbox="ann", mid="<re@acme.test>",
                in_reply_to="<ask@agency.test>"),
        message(CARLA, to=ANN, mailbox="ann", mid="<ooo@acme.test>",
                in_reply_to="<ask@agency.test>", extra=("Auto-Submitted: auto-replied",)),
        message(GINA, to=ANN, mailbox="ann", mid="<g@globex.test>",
                in_reply_to="<ask@agency.test>"),
    )
    end = wait_end(answer, threads)
    assert end is not None and (end.message_id, end.how, end.by) == (
        "<ask@agency.test>", "reply", "<re@acme.test>")
    assert wait_end(ooo, threads) is None  # a robot rule recognised it
    assert wait_end(other, threads) is None  # another client's message is not their answer


def test_an_answer_read_before_the_sent_copy_starts_the_wait_ended() -> None:
    """The inbox is read before the Sent folder: a client who answered before the window
    is remembered, and the wait starts already ended (nobody is nudged)."""
    config = agency()
    planner = WaitingPlanner(config)
    (answer,) = plan(message(CARLA, to=ANN, mailbox="ann", mid="<re@acme.test>",
                             in_reply_to="<ask@agency.test>", at=berlin(23, 9)))
    assert planner.in_inbox([answer], {}).ends == ()
    ours = message(ANN, mailbox="ann", folder="Sent", to=CARLA, mid="<ask@agency.test>",
                   extra=("Bcc: assistant+waiting@agency.test",))
    changes = planner.in_sent([ours], {})
    assert [s.message_id for s in changes.starts] == ["<ask@agency.test>"]
    assert [(e.message_id, e.by) for e in changes.ends] == [("<ask@agency.test>",
                                                             "<re@acme.test>")]


def test_an_out_of_office_read_before_the_sent_copy_ends_nothing() -> None:
    planner = WaitingPlanner(agency())
    (ooo,) = plan(message(CARLA, to=ANN, mailbox="ann", mid="<ooo@acme.test>",
                          in_reply_to="<ask@agency.test>", at=berlin(23, 9),
                          extra=("Auto-Submitted: auto-replied",)))
    planner.in_inbox([ooo], {})
    ours = message(ANN, mailbox="ann", folder="Sent", to=CARLA, mid="<ask@agency.test>",
                   extra=("Bcc: assistant+waiting@agency.test",))
    changes = planner.in_sent([ours], {})
    assert len(changes.starts) == 1 and changes.ends == ()


def waiting(sent_at: datetime, *, nudges: int = 0, last: datetime | None = None,
            after: int = 2, **more: object) -> WaitingItem:
    start = WaitStart("<ask@agency.test>", "ann", "Sent", 1, ANN, "Acme", (CARLA,), "Copy",
                      (), sent_at, after, "bcc")
    return WaitingItem(start, nudges, last, **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(("item", "now", "due"), [
    # sent Monday 10:30 with +2d: two business days end Wednesday 10:30
    (waiting(berlin(23, 10, 30)), berlin(25, 10), None),
    (waiting(berlin(23, 10, 30)), berlin(25, 15), "nudge 1"),
    # sent Friday 16:00: Monday and Tuesday count, not the weekend
    (waiting(berlin(20, 16)), berlin(24, 15), None),
    (waiting(berlin(20, 16)), berlin(25, 10), "nudge 1"),
    # the second nudge three business days after the first (Wednesday 15:00 → Monday 15:00)
    (waiting(berlin(23, 10, 30), nudges=1, last=berlin(25, 15)), berlin(27, 15), None),
    (waiting(berlin(23, 10, 30), nudges=1, last=berlin(25, 15)), berlin(30, 15), "nudge 2"),
    # both nudges made: the report, one spacing after the last
    (waiting(berlin(23, 10, 30), nudges=2, last=berlin(30, 15)), berlin(3, 15, month=12),
     "report"),
    (waiting(berlin(23, 10, 30), nudges=2, last=berlin(30, 15),
             reported_at=berlin(3, 15, month=12)), berlin(10, 15, month=12), None),
    # ended: nothing at all
    (waiting(berlin(23, 10, 30), status="answered"), berlin(30, 15), None),
])
def test_which_step_is_due(item: WaitingItem, now: datetime, due: str | None) -> None:
    """After N business days the first nudge, then one every spacing (3), at most 2, then
    the report to the account manager; one step per window."""
    config = agency()
    result = plan_nudges([item], config=config, calendar=calendar_of(config), now=now)
    shown = [f"nudge {n.number}" for n in result.nudges] + ["report" for _ in result.reports]
    assert shown == ([due] if due else [])
    if result.reports:
        assert result.reports[0].to == ANN  # Acme's account manager


def test_a_clients_own_agreement_overrides_the_waiting_section() -> None:
    config = agency(waiting={"nudge": "send"}, clients=[
        {"name": "Acme", "domains": ["acme.test"], "account_manager": ANN,
         "waiting": {"max_nudges": 0}},
    ])
    result = plan_nudges([waiting(berlin(23, 10, 30))], config=config,
                         calendar=calendar_of(config), now=berlin(25, 15))
    assert result.nudges == () and len(result.reports) == 1  # no nudges: straight to report


def turn(client: str, sent_at: datetime, ended_at: datetime | None) -> WaitingItem:
    start = WaitStart(f"<{sent_at:%d%H%M}@agency.test>", "ann", "Sent", 1, ANN, client,
                      (CARLA,), "", (), sent_at, 3, "bcc")
    return WaitingItem(start, status="open" if ended_at is None else "answered",
                       ended_at=ended_at)


def ours(client: str, received_at: datetime, acknowledged_at: datetime | None) -> TrackedItem:
    return TrackedItem(
        message_id=f"<{received_at:%d%H%M}@{client}.test>", mailbox="ann", folder="INBOX",
        uid=1, sender=CARLA, client=client, owner=ANN, subject="", received_at=received_at,
        read_at=received_at, deadline=received_at, urgent=False, after_hours=False,
        routed_from="", ladder_step=0,
        status="open" if acknowledged_at is None else "acknowledged",
        acknowledged_at=acknowledged_at,
    )


def test_the_figures_both_ways_on_a_hand_computed_example() -> None:
    """Business hours 09:00-17:00, Monday to Friday: one business day is 8 hours.

    Acme, November. Their turns: Mon 16 10:00 → Wed 18 14:00 is 7 + 8 + 5 = 20 h = 2.5;
    Thu 19 16:00 → Mon 23 11:00 is 1 + 8 + 2 = 11 h = 1.375; Tue 24 09:00 → Thu 26 17:00 is
    24 h = 3.0. Three turns, median 2.5, longest 3.0. Our turns: Mon 16 09:00 → 13:00 is
    0.5; Fri 20 15:00 → Mon 23 11:00 is 2 + 2 = 0.5; Sat 21 10:00 → Mon 23 17:00 is 8 h = 1.0
    (the weekend does not count); Tue 24 12:00 → Thu 26 12:00 is 5 + 8 + 3 = 2.0. Median of
    0.5, 0.5, 1.0, 2.0 is 0.75.
    Acme, December, now Wednesday 2 December 12:00: one open wait since Tue 1 10:00 is
    7 + 3 = 10 h = 1.25 so far. Globex, November: no wait, one message of ours, Mon 16 10:00
    → Tue 17 10:00 is 7 + 1 = 1.0."""
    config = agency()
    waits = [
        turn("Acme", berlin(16, 10), berlin(18, 14)),
        turn("Acme", berlin(19, 16), berlin(23, 11)),
        turn("Acme", berlin(24, 9), berlin(26, 17)),
        turn("Acme", berlin(1, 10, month=12), None),
    ]
    items = [
        ours("Acme", berlin(16, 9), berlin(16, 13)),
        ours("Acme", berlin(20, 15), berlin(23, 11)),
        ours("Acme", berlin(21, 10), berlin(23, 17)),
        ours("Acme", berlin(24, 12), berlin(26, 12)),
        ours("Globex", berlin(16, 10), berlin(17, 10)),
        ours("", berlin(16, 10), None),  # an unassigned sender is no client
    ]
    figures = turn_figures(waits, items, config=config, calendar=calendar_of(config),
                           now=berlin(2, 12, month=12))
    assert figures == [
        TurnFigures("Acme", "2026-11", 3, 2.5, 3.0, 4, 0.75),
        TurnFigures("Acme", "2026-12", 1, 1.25, 1.25, 0, None),
        TurnFigures("Globex", "2026-11", 0, None, None, 1, 1.0),
    ]


def test_each_persons_open_waits_oldest_first() -> None:
    config = agency()
    older = turn("Acme", berlin(19, 16), None)
    newer = turn("Acme", berlin(24, 9), None)
    ended = turn("Acme", berlin(16, 10), berlin(18, 14))
    listed = client_waits([newer, ended, older], ANN, config=config,
                          calendar=calendar_of(config), now=berlin(26, 17))
    assert [(w.message_id, w.waited_days) for w in listed] == [
        (older.message_id, 5.125), (newer.message_id, 3.0)]
    assert client_waits([older], BOB, config=config, calendar=calendar_of(config),
                        now=berlin(26, 17)) == ()


@pytest.mark.parametrize(("member", "mailbox", "folder", "drafts_in"), [
    (ANN, "bob", "INBOX", "ann"),  # her own mailbox, wherever the copy was
    ("carol@agency.test", "ann", "Sent", "ann"),  # the mailbox whose Sent held it
    ("carol@agency.test", "ann", "INBOX", ""),  # a Bcc copy: no mailbox of hers
])
def test_the_nudge_drafts_go_to_the_members_own_mailbox(
    member: str, mailbox: str, folder: str, drafts_in: str
) -> None:
    from boundary_mail.waiting import member_mailbox

    start = WaitStart("<a@agency.test>", mailbox, folder, 1, member, "Acme", (CARLA,), "", (),
                      berlin(23, 10), 3, "bcc")
    assert member_mailbox(agency(), start) == drafts_in


def test_the_digest_lists_each_persons_waits_and_the_lead_everyones() -> None:
    """Ann sees her wait on Acme, Bob none, the lead Ann's with its writer; the figures go to
    the clients each person sees; both parts of the mail carry them."""
    from boundary_mail.digest import DigestData, build_digests, render_digest
    from boundary_mail.templates import environment

    config = agency()
    data = DigestData(waits=(turn("Acme", berlin(24, 9), None),),
                      turn_items=(ours("Acme", berlin(24, 12), berlin(26, 12)),))
    digests = {d.recipient: d for d in build_digests(config, data, berlin(26, 17))}
    ann, bob, lead = digests[ANN], digests[BOB], digests["lead@agency.test"]
    assert [w.waited_days for w in ann.waiting_on_clients] == [3.0]
    assert bob.waiting_on_clients == () and bob.turns == ()
    assert [w.member for w in lead.waiting_on_clients] == [ANN]
    assert ann.turns == lead.turns == (TurnFigures("Acme", "2026-11", 1, 3.0, 3.0, 1, 2.0),)
    assert not ann.empty  # a wait alone is worth a digest

    rendered = render_digest(environment(None, "en"), lead, config)
    assert "WAITING ON CLIENTS: 1" in rendered.text
    assert "3.0 bd    since Tue 24 Nov 09:00  Acme · carla@acme.test ← ann@agency.test" in (
        rendered.text)
    assert "Waiting on clients (1)" in rendered.html
    assert ">ann@agency.test</td>" in rendered.html


def test_a_nudge_still_queued_when_the_client_answers_is_cancelled(tmp_path: Path) -> None:
    """An outage kept the first nudge in the queue; the client's answer arrives: the nudge
    never goes out (one already being sent is left alone)."""
    from boundary_mail.store import Store
    from boundary_mail.waiting import WaitEnd

    store = Store(tmp_path / "state.sqlite3")
    item = waiting(berlin(23, 10, 30))
    with store.transaction():
        store.start_waits([item.start], berlin(23, 15))
        for n in (1, 2):
            store.add_action(dedupe_key=f"nudge:{item.message_id}:{n}", kind="nudge",
                             source_message_id=item.message_id, envelope_from=ANN,
                             recipients=[CARLA], outgoing_message_id=f"<n{n}@agency.test>",
                             raw=b"x", on_sent={}, now=berlin(25, 15))
        store._db.execute("UPDATE actions SET status = 'sending' WHERE outgoing_message_id ="
                          " '<n2@agency.test>'")
        assert store.end_waits([WaitEnd(item.message_id, berlin(26, 9), "reply")]) == [
            item.message_id]
    assert [(a.dedupe_key, a.status) for a in store.actions("nudge")] == [
        (f"nudge:{item.message_id}:1", "cancelled"), (f"nudge:{item.message_id}:2", "sending")]
    assert store.sendable("token") == []
    store.close()


def test_check_config_warns_of_sent_nudges_after_every_message() -> None:
    from boundary_mail.config_warnings import config_warnings

    quiet = agency(waiting={"track": "all"})  # drafts: a person looks first
    loud = agency(waiting={"track": "all", "nudge": "send"})
    assert not [w for w in config_warnings(quiet) if "waiting" in w]
    assert [w.split(":")[0] for w in config_warnings(loud) if "waiting" in w] == [
        "clients[0].waiting", "clients[1].waiting"]
