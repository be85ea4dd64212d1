"""The daily digest on the real servers: after a seeded week, `digest --send` delivers one
multipart digest to each recipient, with the right counts in both parts, once a day."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from email.message import EmailMessage
from typing import Any

import pytest

from tests.digest_week import NOW, config_data, seed_week
from tests.integration.agency import Agency

# What each recipient's digest must say, in the text part and in the HTML summary tiles
# (waiting, overdue, reminders today, escalated today, acknowledged today, clients over
# allowance).
REMINDERS = "Reminders sent (no answer by the promised time): "
ESCALATED = "Escalated (to a backup or the lead): "
WANT = {
    "ann": {
        "subject": "Digest for Ann Wright · Mon 23 Nov: 4 waiting, 2 overdue",
        "text": ["WAITING ON YOU: 4 (2 overdue)", REMINDERS + "0",
                 ESCALATED + "1", "Acknowledged: 1",
                 "Routed to you: 1", "Auto-replies sent: 2", "Auto-replies withheld: 4",
                 "2 × mailing-list mail (list-header)", "New messages: 2, follow-ups: 1"],
        "tiles": [4, 2, 0, 1, 1, 1],
        "clients": ["Acme", "Initech"],
    },
    "bob": {
        "subject": "Digest for Bob Stone · Mon 23 Nov: 2 waiting, 1 overdue",
        "text": ["WAITING ON YOU: 2 (1 overdue)", REMINDERS + "1",
                 ESCALATED + "0", "Acknowledged: 0",
                 "Routed to you: 0", "Auto-replies sent: 1", "Auto-replies withheld: 1",
                 "1 × bulk or list mail (Precedence) (precedence)"],
        "tiles": [2, 1, 1, 0, 0, 0],
        "clients": ["Globex"],
    },
    "lead": {
        "subject": "Digest for Lee Lead · Mon 23 Nov: 7 waiting, 3 overdue",
        "text": ["WAITING ON EVERYONE: 7 (3 overdue)", REMINDERS + "1",
                 ESCALATED + "1", "Acknowledged: 1",
                 "Routed to the right contact: 1", "Auto-replies sent: 4",
                 "Auto-replies withheld: 6", "New messages: 4, follow-ups: 2"],
        "tiles": [7, 3, 1, 1, 1, 1],
        "clients": ["Acme", "Globex", "(unassigned senders)", "Initech"],
    },
}


def digests_of(mailserver: Any, user: str, timeout: float = 15) -> list[EmailMessage]:
    """The digests in `user`'s INBOX, waiting for the first one (LMTP trails SMTP's 250)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mailserver.messages(user) if m["X-Boundary-Mail"] == "digest"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def seeded(agency: Agency) -> None:
    """Ann, Bob and the lead as in the agency fixture; clients and allowances as in the
    unit tests' week (Acme over its allowance of 9 a month)."""
    agency.data["clients"] = config_data()["clients"]
    agency.write()
    store = agency.store()
    try:
        seed_week(store)
    finally:
        store.close()


def test_digest_send_delivers_one_digest_per_recipient_with_the_counts(
    agency: Agency, mailserver: Any
) -> None:
    seeded(agency)
    assert agency.cli("digest", "--now", NOW.isoformat(), "--send") == 0

    for user, want in WANT.items():
        (digest,) = digests_of(mailserver, user)
        assert digest["Subject"] == want["subject"]
        assert digest["To"].addresses[0].addr_spec == f"{user}@agency.test"
        assert digest["From"].addresses[0].addr_spec == "assistant@agency.test"
        assert digest["Auto-Submitted"] == "auto-generated"
        assert digest.get_content_type() == "multipart/alternative"
        text_part, html_part = digest.get_body(("plain",)), digest.get_body(("html",))
        assert text_part is not None and html_part is not None
        text, html = text_part.get_content(), html_part.get_content()
        for line in want["text"]:
            assert line in text, (user, line)
        tiles = [int(n) for n in re.findall(r'class="tile-number"[^>]*>(\d+)<', html)]
        assert tiles == want["tiles"], user
        rows = re.findall(r'<td class="subject"[^>]*>([^<]+)</td>', html)
        assert [r for r in rows if r in {"Acme", "Globex", "Initech", "(unassigned senders)"}] \
            == want["clients"]
        assert ("OVER ALLOWANCE" in html) is ("Acme" in want["clients"])
        assert "<script>alert(1)</script>" not in html
        if user != "bob":
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
            acme = next(line for line in text.splitlines() if line.strip().startswith("Acme  "))
            assert "4 / 2.1" in acme and "10 / 9" in acme and "OVER ALLOWANCE" in acme


def test_a_second_run_the_same_day_sends_nothing_again(agency: Agency, mailserver: Any) -> None:
    """Once per recipient per day, also across a restart (a fresh process, same state)."""
    seeded(agency)
    assert agency.cli("digest", "--now", NOW.isoformat(), "--send") == 0
    for user in WANT:
        assert len(digests_of(mailserver, user)) == 1
    later = NOW.replace(hour=19).isoformat()
    run = subprocess.run(
        [sys.executable, "-m", "boundary_mail", "--config", str(agency.path), "digest",
         "--now", later, "--send"], check=True, capture_output=True, text=True,
    )
    assert run.stdout.count("was already sent today; not sent again") == 3
    assert "sent 0, failed 0" in run.stdout
    time.sleep(1.0)  # a second digest, if one were sent, would have arrived by now
    for user in WANT:
        assert len(digests_of(mailserver, user)) == 1
    store = agency.store()
    try:
        assert sorted(a.status for a in store.actions("digest")) == ["sent"] * 3
    finally:
        store.close()


def test_a_digest_queued_while_the_server_was_down_is_said_to_go_out_now(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first run could not reach the SMTP server (the digests stay queued); the second run
    of the day says it sends them now, and sends them, never "not sent again" with "sent 3"."""
    seeded(agency)
    mailserver.stop_smtp()
    try:
        assert agency.cli("digest", "--now", NOW.isoformat(), "--send") == 1
    finally:
        mailserver.start_smtp()
    capsys.readouterr()
    assert agency.cli("digest", "--now", NOW.replace(hour=19).isoformat(), "--send") == 0
    out = capsys.readouterr().out
    assert out.count("was queued earlier today; sending it now") == 3, out
    assert "not sent again" not in out and "failed 0" in out
    for user in WANT:
        assert len(digests_of(mailserver, user)) == 1
