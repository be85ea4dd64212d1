"""IMAP sync against the real Dovecot: new mail exactly once, securely, whatever happens."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.integration.agency import Agency, client_mail

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_0930 = datetime(2026, 11, 16, 9, 30, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)
MONDAY_15 = datetime(2026, 11, 16, 15, 0, tzinfo=BERLIN)


def decided(agency: Agency) -> list[str]:
    store = agency.store()
    try:
        return sorted(row.message_id for row in store.decisions())
    finally:
        store.close()


def test_new_messages_are_picked_up_exactly_once(
    agency: Agency, deliver: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Repeated polls and a restart in a fresh process see each new message once."""
    deliver("ann", client_mail(message_id="<m1@acme.test>"), MONDAY_0930)
    deliver("ann", client_mail(message_id="<m2@acme.test>"), MONDAY_0930)
    assert agency.poll(MONDAY_10) == 0
    assert decided(agency) == ["<m1@acme.test>", "<m2@acme.test>"]

    assert agency.poll(MONDAY_10 + timedelta(minutes=1)) == 0
    assert "fetched 0, new 0" in capsys.readouterr().out

    deliver("ann", client_mail(message_id="<m3@acme.test>"), MONDAY_10 + timedelta(hours=2))
    # A restart: a new process, the same state file.
    out = subprocess.run(
        [sys.executable, "-m", "boundary_mail", "--config", str(agency.path), "poll",
         "--now", MONDAY_15.isoformat()],
        capture_output=True, text=True, check=True, env=None,
    ).stdout
    assert "fetched 1, new 1" in out
    assert decided(agency) == ["<m1@acme.test>", "<m2@acme.test>", "<m3@acme.test>"]


def test_first_sync_records_old_mail_as_baseline(
    agency: Agency, deliver: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Installing boundary-mail never answers last month's mail."""
    deliver("ann", client_mail(message_id="<old@acme.test>"), MONDAY_10 - timedelta(days=30))
    deliver("ann", client_mail(message_id="<new@acme.test>"), MONDAY_0930)
    deliver("ann", client_mail(sender="old.friend@globex.test", message_id="<old2@globex.test>"),
            MONDAY_10 - timedelta(days=3))
    assert agency.poll(MONDAY_10) == 0
    assert decided(agency) == ["<new@acme.test>"]
    assert "baseline 2" in capsys.readouterr().out
    store = agency.store()
    # Whoever wrote before the install is not a first contact ("How we work together").
    assert store.is_known_contact("old.friend@globex.test")
    assert store.known_message_ids("ann", "INBOX", ["<old@acme.test>", "<old2@globex.test>"]) \
        == {"<old@acme.test>", "<old2@globex.test>"}


def test_uidvalidity_change_does_not_make_old_mail_new(
    agency: Agency, deliver: Callable[..., None], mailserver: object,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After the server renumbers a folder, known Message-IDs stay known; only the truly new
    message is decided."""
    agency.data["mailboxes"][0]["inbox"] = "Clients"
    agency.write()
    with mailserver.imap("ann") as imap:  # type: ignore[attr-defined]
        imap.create_folder("Clients")
    for i in (1, 2):
        mailserver.append("ann", "Clients", client_mail(message_id=f"<c{i}@acme.test>"),  # type: ignore[attr-defined]
                          date=MONDAY_0930)
    assert agency.poll(MONDAY_10) == 0
    before = agency.store().folder_state("ann", "Clients")
    assert before is not None

    # Recreate the folder with the same two messages plus a new one: a new UIDVALIDITY.
    with mailserver.imap("ann") as imap:  # type: ignore[attr-defined]
        imap.delete_folder("Clients")
        time.sleep(1.1)  # Dovecot derives UIDVALIDITY from the clock
        imap.create_folder("Clients")
    for i in (1, 2, 3):
        mailserver.append("ann", "Clients", client_mail(message_id=f"<c{i}@acme.test>"),  # type: ignore[attr-defined]
                          date=MONDAY_0930 + timedelta(hours=3))
    capsys.readouterr()
    assert agency.poll(MONDAY_15) == 0
    out = capsys.readouterr().out
    after = agency.store().folder_state("ann", "Clients")
    assert after is not None and after.uidvalidity != before.uidvalidity
    assert "fetched 3, new 1" in out
    assert decided(agency) == ["<c1@acme.test>", "<c2@acme.test>", "<c3@acme.test>"]


def test_untrusted_certificate_is_refused_with_a_clear_error(
    agency: Agency, deliver: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    """Without the test CA the server's certificate cannot be verified: no connection, no
    login, a message that says what to fix; the other mailboxes still work."""
    deliver("bob", client_mail(to="bob@agency.test", message_id="<b1@acme.test>"), MONDAY_0930)
    del agency.data["mailboxes"][0]["ca_file"]  # ann: fall back to the system trust store
    agency.write()
    assert agency.poll(MONDAY_10) == 1
    out = capsys.readouterr().out
    assert "certificate is not trusted" in out and "ca_file" in out
    assert decided(agency) == ["<b1@acme.test>"]


def test_starttls_with_verification_works(
    agency: Agency, deliver: Callable[..., None], mailserver: object
) -> None:
    deliver("ann", client_mail(message_id="<s1@acme.test>"), MONDAY_0930)
    agency.data["mailboxes"][0].update(port=mailserver.imap_port, security="starttls")  # type: ignore[attr-defined]
    agency.write()
    assert agency.poll(MONDAY_10) == 0
    assert decided(agency) == ["<s1@acme.test>"]


def test_a_malformed_message_is_skipped_and_the_window_goes_on(
    agency: Agency, deliver: Callable[..., None], capsys: pytest.CaptureFixture[str]
) -> None:
    deliver("ann", client_mail(message_id="<g1@acme.test>"), MONDAY_0930)
    deliver("ann", b"Subject: nobody sent this\r\nX-Garbage: \xff\xfe\r\n\r\nbody\r\n", MONDAY_0930)
    deliver("ann", client_mail(message_id="<g2@acme.test>"), MONDAY_0930)
    assert agency.poll(MONDAY_10) == 0
    out = capsys.readouterr().out
    assert "skipped: neither From nor Return-Path holds a usable address" in out
    assert decided(agency) == ["<g1@acme.test>", "<g2@acme.test>"]
    store = agency.store()
    assert [row.reason for row in store.skipped()] == [
        "neither From nor Return-Path holds a usable address"
    ]
