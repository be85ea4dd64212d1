"""Nudges by mail (`waiting.nudge = "send"`) survive a SIGKILL anywhere in the window that
sends them: each step goes out once, none is skipped (the kill harness of `test_crash`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agency import Agency, at
from tests.integration.test_crash import Kill, _poll
from tests.integration.test_waiting import ann_writes

WINDOW = at(2, 15)  # both waits' first nudge falls due (+2d from Monday 10:30 and 11:00)
RESTART = at(2, 15, 1)
WAITS = ("<copy@agency.test>", "<specs@agency.test>")

KILLS = [
    # one nudge composed, nothing queued
    Kill("boundary_mail.waiting_window:compose_nudge", "before", 2),
    # the first nudge counted on its wait inside the transaction, not committed
    Kill("boundary_mail.store:Store.record_nudge", "after", 1),
    # nudges committed, nothing sent
    Kill("boundary_mail.execute:drain", "before", 1),
    # just before the first SMTP transaction
    Kill("boundary_mail.smtp:Session.send", "before", 1),
    # both sent, the first copy filed in Ann's Sent folder, not yet recorded as filed
    Kill("boundary_mail.drafts:_append_once", "after", 1),
    # SMTP accepted the first nudge, not yet marked sent: the at-least-once point
    Kill("boundary_mail.smtp:Session.send", "after", 1, at_least_once=True),
    # the first nudge recorded as sent, the second not yet sent
    Kill("boundary_mail.store:Store.mark_sent", "after", 1),
]


def _nudges(mailserver: Any) -> Counter[tuple[str, str]]:
    """Nudges delivered to the clients: (In-Reply-To, Message-ID), counted."""
    return Counter(
        (str(m["In-Reply-To"]), str(m["Message-ID"])) for m in mailserver.messages("catchall")
        if str(m["X-Boundary-Mail"] or "") == "nudge"
    )


def _crash_while_nudging(agency: Agency, mailserver: Any, kill: Kill, tmp_path: Path) -> None:
    """Two waits whose first nudges fall due in WINDOW; that window killed, then run again."""
    agency.data["concurrent_mailboxes"] = 1
    agency.write()
    agency.poll(at(0, 8))
    ann_writes(mailserver, message_id=WAITS[0], subject="Homepage copy", when=at(0, 10, 30))
    ann_writes(mailserver, message_id=WAITS[1], subject="Specs", when=at(0, 11))
    assert agency.poll(at(0, 15)) == 0
    crashed = _poll(agency, WINDOW, kill, tmp_path)
    assert crashed.returncode == -9, (
        f"the kill point {kill} was never reached (exit {crashed.returncode})\n"
        f"{crashed.stdout}{crashed.stderr}")
    restarted = _poll(agency, RESTART, None, tmp_path)
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr


@pytest.mark.parametrize("kill", KILLS, ids=str)
def test_sigkill_while_nudging_sends_each_nudge_once(
    kill: Kill, agency: Agency, mailserver: Any, tmp_path: Path
) -> None:
    agency.data["waiting"] = {"nudge": "send"}
    _crash_while_nudging(agency, mailserver, kill, tmp_path)

    store = agency.store()
    assert {w.message_id: w.nudges for w in store.open_waits()} == dict.fromkeys(WAITS, 1)
    nudges = {a.dedupe_key: a for a in store.actions("nudge")}
    assert set(nudges) == {f"nudge:{w}:1" for w in WAITS}
    assert all(a.status == "sent" for a in nudges.values())

    mailserver.wait_for("catchall", 2)
    delivered = _nudges(mailserver)
    expected = {(w, nudges[f"nudge:{w}:1"].outgoing_message_id) for w in WAITS}
    assert set(delivered) == expected  # one Message-ID per step, both steps there
    if kill.at_least_once:  # the one SMTP had accepted may come twice, the same message
        assert sorted(delivered.values()) in ([1, 1], [1, 2])
    else:
        assert sorted(delivered.values()) == [1, 1]

    # Ann finds each nudge sent in her name in her Sent folder, once.
    filed = Counter(str(m["Message-ID"]) for m in mailserver.messages("ann", "Sent")
                    if str(m["X-Boundary-Mail"] or "") == "nudge")
    assert filed == Counter(a.outgoing_message_id for a in nudges.values())

    # The next windows repeat nothing until the spacing has passed.
    for when in (at(3, 10), at(4, 15)):
        assert _poll(agency, when, None, tmp_path).returncode == 0
    assert {a.dedupe_key for a in agency.store().actions("nudge")} == set(nudges)


DRAFT_KILLS = [
    # claimed, not appended
    Kill("boundary_mail.store:Store.claim_draft", "after", 1),
    # just before the first APPEND
    Kill("boundary_mail.drafts:_append_once", "before", 1),
    # appended, not recorded: the restart finds it in Drafts by its Message-ID
    Kill("boundary_mail.drafts:_append_once", "after", 1),
    # the first recorded, the second not yet appended
    Kill("boundary_mail.store:Store.mark_drafted", "after", 1),
]


@pytest.mark.parametrize("kill", DRAFT_KILLS, ids=str)
def test_sigkill_while_putting_nudges_into_drafts_puts_each_there_once(
    kill: Kill, agency: Agency, mailserver: Any, tmp_path: Path
) -> None:
    """nudge = "draft": each nudge lies in Ann's Drafts exactly once, wherever the window
    died (the claim is committed before the APPEND; the folder is searched first)."""
    _crash_while_nudging(agency, mailserver, kill, tmp_path)

    store = agency.store()
    drafts = {a.dedupe_key: a for a in store.actions("nudge_draft")}
    assert set(drafts) == {f"nudge:{w}:1" for w in WAITS}
    assert all(a.status == "sent" for a in drafts.values())
    in_folder = Counter((str(m["In-Reply-To"]), str(m["Message-ID"]))
                        for m in mailserver.messages("ann", "Drafts"))
    assert in_folder == Counter(
        (w, drafts[f"nudge:{w}:1"].outgoing_message_id) for w in WAITS)
