"""A truncated state file on the real servers: refused with the way back, restored from the
backup boundary-mail took by itself, and no client hears from us twice."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.agency import Agency, client_mail

BERLIN = ZoneInfo("Europe/Berlin")
THURSDAY_10 = datetime(2026, 11, 12, 10, 0, tzinfo=BERLIN)
FRIDAY_1605 = datetime(2026, 11, 13, 16, 5, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)
TUESDAY_10 = MONDAY_10 + timedelta(days=1)
TUESDAY_11 = TUESDAY_10 + timedelta(hours=1)
TUESDAY_15 = TUESDAY_10 + timedelta(hours=5)
ASSISTANT = "assistant@agency.test"
MAILBOXES = ("catchall", "ann", "bob", "lead")


def ours(mailserver: Any) -> Counter[str]:
    """How often each of our messages (by Message-ID) arrived anywhere: clients, team, lead."""
    time.sleep(0.5)  # LMTP delivery trails SMTP's "250 queued"
    return Counter(
        str(m["Message-ID"])
        for user in MAILBOXES
        for m in mailserver.messages(user)
        if ASSISTANT in str(m["From"])
    )


def replies_to(mailserver: Any, address: str) -> list[str]:
    return [str(m["Message-ID"]) for m in mailserver.messages("catchall")
            if address in str(m["To"])]


def test_a_truncated_state_file_is_refused_and_restored_without_answering_twice(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A state file truncated to 0 bytes stops the next poll (exit 1, naming the file and
    `restore-state`) instead of starting afresh; nothing is sent by that poll. After
    `restore-state`, which puts back the backup `poll` took that day, the next poll answers
    only the new client: what the backup recorded (the replies, the rate limit) holds, so
    nobody gets anything twice."""
    assert agency.poll(THURSDAY_10) == 0  # installed: the baseline
    deliver("ann", client_mail(sender="maria@acme.test", message_id="<m1@acme.test>"),
            FRIDAY_1605)
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               message_id="<t1@globex.test>"), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 2)
    assert agency.poll(TUESDAY_10) == 0  # takes Tuesday's backup, which knows Monday's replies
    sent_before = ours(mailserver)
    assert len(replies_to(mailserver, "maria@acme.test")) == 1
    assert len(replies_to(mailserver, "tom@globex.test")) == 1

    state_file = agency.config.state_file
    assert (state_file.parent / "backups" / "state-20261117.sqlite3").exists()
    deliver("ann", client_mail(sender="lena@acme.test", message_id="<l1@acme.test>"),
            TUESDAY_11)
    deliver("ann", client_mail(sender="maria@acme.test", message_id="<m2@acme.test>",
                               subject="Another thing"), TUESDAY_11)
    state_file.write_bytes(b"")  # the accident
    capsys.readouterr()

    assert agency.poll(TUESDAY_15) == 1
    err = capsys.readouterr().err
    assert str(state_file) in err
    assert "boundary-mail restore-state" in err
    assert "state-20261117.sqlite3" in err
    assert state_file.stat().st_size == 0, "the empty file was not started afresh"
    assert ours(mailserver) == sent_before

    assert agency.cli("restore-state") == 0
    out = capsys.readouterr().out
    assert f"moved {state_file} aside to {state_file}.broken-" in out
    assert agency.poll(TUESDAY_15) == 0
    mailserver.wait_for("catchall", 3)
    after = ours(mailserver)
    assert max(after.values()) == 1, "something was sent twice"
    assert len(replies_to(mailserver, "lena@acme.test")) == 1  # the new client, answered
    assert len(replies_to(mailserver, "maria@acme.test")) == 1  # rate limit remembered
    assert len(replies_to(mailserver, "tom@globex.test")) == 1
