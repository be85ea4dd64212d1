"""`boundary-mail announce` on the real servers: every client contact hears once, from its
account manager; a dry run sends nothing; running it again sends nothing again."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.agency import Agency, client_mail

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)
ANNOUNCED = "2026-11-20T09:00:00+01:00"
# Acme's Maria and Max wrote last week (seen in the state); Globex's Tom is configured.
CONTACTS = {"maria@acme.test": "ann@agency.test", "max@acme.test": "ann@agency.test",
            "tom@globex.test": "bob@agency.test"}


@pytest.fixture(autouse=True)
def known_contacts(agency: Agency, deliver: Callable[..., None]) -> None:
    assert agency.poll(MONDAY_10 - timedelta(days=3)) == 0
    for n, sender in enumerate(["maria@acme.test", "max@acme.test"]):
        deliver("ann", client_mail(sender=sender, message_id=f"<c{n}@acme.test>"),
                MONDAY_10 - timedelta(hours=1))
    assert agency.poll(MONDAY_10) == 0


def announcements(mailserver: Any, count: int, timeout: float = 15) -> list[EmailMessage]:
    """The announcements that left the house, waiting for `count` (LMTP trails SMTP)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mailserver.messages("catchall") if m["X-Boundary-Mail"] == "announce"]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_dry_run_shows_every_message_and_sends_nothing(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert agency.cli("announce", "--all", "--dry-run", "--effective", "2026-11-30",
                      "--now", ANNOUNCED) == 0
    shown = capsys.readouterr().out

    for address in CONTACTS:
        assert f"=== {address}: would be sent ===" in shown
    assert "Subject: How we work together from Monday, November 30, 2026" in shown
    assert "3 of 3 message(s) would be sent (dry run: nothing was sent)" in shown
    assert agency.store().actions("announce") == []
    assert announcements(mailserver, 1, timeout=1) == []


def test_sending_twice_reaches_each_contact_exactly_once(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each contact gets one personal message from its account manager with our header block
    and "How we work together" attached; the second run finds every key sent and sends none."""
    args = ("announce", "--all", "--send", "--effective", "2026-11-30", "--now", ANNOUNCED)
    assert agency.cli(*args) == 0
    assert "sent 3, failed 0" in capsys.readouterr().out
    first = announcements(mailserver, 3)

    assert agency.cli(*args) == 0
    again = capsys.readouterr().out

    assert "sent 0, failed 0" in again
    assert again.count("already sent: not again") == 3
    assert sorted(str(m["To"]) for m in first) == sorted(CONTACTS)
    for message in first:
        assert message["From"].addresses[0].addr_spec == CONTACTS[str(message["To"])]
        assert message["Auto-Submitted"] == "auto-generated"
        assert message["X-Loop"] == "assistant@agency.test"
        (attached,) = list(message.iter_attachments())
        assert attached.get_filename() == "How we work together.txt"
    assert [s.status for s in agency.store().actions("announce")] == ["sent"] * 3
    assert len(announcements(mailserver, 4, timeout=1)) == 3


def test_at_most_per_minute_go_out_in_each_minute(
    agency: Agency, mailserver: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two a minute, three contacts: two go out, then it waits out the minute (the wait is
    recorded here instead of slept), then the third."""
    import boundary_mail.cli_announce

    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        assert len(announcements(mailserver, 2)) == 2, "the first two are out before the wait"

    monkeypatch.setattr(boundary_mail.cli_announce, "sleep", wait)
    assert agency.cli("announce", "--all", "--send", "--per-minute", "2", "--now",
                      ANNOUNCED) == 0

    assert "sent 3, failed 0" in capsys.readouterr().out
    assert len(waits) == 1 and 50 < waits[0] <= 60
    assert len(announcements(mailserver, 3)) == 3
