"""Security on the real servers: certificates verified by default, no secret in any output,
a private state file, and no way to turn an auto-reply into a relay.

The hardening of the systemd unit is specified in tests/unit/test_systemd_unit.py.
"""

from __future__ import annotations

import base64
import logging
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.agency import Agency, client_mail

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_1605 = datetime(2026, 11, 13, 16, 5, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)
MONDAY_15 = datetime(2026, 11, 16, 15, 0, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def installed(agency: Agency) -> None:
    """boundary-mail was installed on Thursday: its first sync (the baseline) is behind it."""
    assert agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0


def settle() -> None:
    """LMTP delivery trails SMTP's "250 queued" by a few milliseconds."""
    time.sleep(0.5)


def original_recipients(mailserver: Any) -> list[str]:
    """Who each message in the catch-all was really for: Postfix rewrites every outside
    recipient to catchall+LOCAL=DOMAIN@agency.test and records that in Delivered-To."""
    out = []
    for msg in mailserver.messages("catchall"):
        local = str(msg["Delivered-To"]).partition("@")[0].removeprefix("catchall+")
        out.append(local.replace("=", "@", 1))
    return sorted(out)


def pending(agency: Agency) -> list[tuple[str, ...]]:
    store = agency.store()
    try:
        return [a.recipients for a in store.pending_actions()]
    finally:
        store.close()


@pytest.fixture
def wrong_ca(tmp_path: Path) -> Path:
    """A CA certificate that did not sign the test servers' certificates."""
    key, cert = tmp_path / "other-ca.key", tmp_path / "other-ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=Some Other CA", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert


# -- TLS verification ---------------------------------------------------------------------


def test_smtp_without_ca_file_refuses_the_untrusted_certificate_and_keeps_the_reply(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """SMTP verifies against the system trust store by default: the test server's private CA
    is not in it, so nothing is sent, the error says what to fix, and the reply stays queued
    until `smtp.ca_file` is set; then the next window sends it, once."""
    deliver("ann", client_mail(message_id="<tls-1@acme.test>"), FRIDAY_1605)
    del agency.data["smtp"]["ca_file"]
    agency.write()
    capsys.readouterr()
    assert agency.poll(MONDAY_10) == 1
    out = capsys.readouterr().out
    assert "certificate is not trusted" in out and "smtp.ca_file" in out
    assert pending(agency) == [("maria@acme.test",)]
    settle()
    assert mailserver.messages("catchall") == []

    agency.data["smtp"]["ca_file"] = str(mailserver.ca_file)
    agency.write()
    assert agency.poll(MONDAY_15) == 0
    assert "sent 1, failed 0" in capsys.readouterr().out
    mailserver.wait_for("catchall", 1)
    settle()
    assert original_recipients(mailserver) == ["maria@acme.test"]
    assert pending(agency) == []


def test_a_wrong_ca_file_is_refused_for_imap_and_smtp(
    agency: Agency, deliver: Callable[..., None], mailserver: Any, wrong_ca: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A CA file that did not sign the server's certificate is no better than none: the
    mailbox is not read (nothing decided, no login) and nothing is sent."""
    deliver("ann", client_mail(message_id="<ca-ann@acme.test>"), FRIDAY_1605)
    deliver("bob", client_mail(to="bob@agency.test", sender="tom@globex.test",
                               message_id="<ca-bob@globex.test>"), FRIDAY_1605)
    agency.data["mailboxes"][0]["ca_file"] = str(wrong_ca)  # ann
    agency.data["smtp"]["ca_file"] = str(wrong_ca)
    agency.write()
    capsys.readouterr()
    assert agency.poll(MONDAY_10) == 1
    out = capsys.readouterr().out
    assert "mailbox 'ann'" in out and "certificate is not trusted" in out
    assert "set ca_file" in out and "set smtp.ca_file" in out
    store = agency.store()
    try:
        assert [r.message_id for r in store.decisions()] == ["<ca-bob@globex.test>"]
    finally:
        store.close()
    assert pending(agency) == [("tom@globex.test",)]
    settle()
    assert mailserver.messages("catchall") == []


# -- secrets -----------------------------------------------------------------------------


def _secret_forms(users: dict[str, str], extra: tuple[str, ...]) -> dict[str, bytes]:
    """Every password as it could leak: plain, and the base64 of SMTP AUTH PLAIN/LOGIN."""
    forms: dict[str, bytes] = {}
    for user, password in [*users.items(), *(("wrong", p) for p in extra)]:
        forms[f"{user}: plain"] = password.encode()
        forms[f"{user}: AUTH LOGIN"] = base64.b64encode(password.encode())
        forms[f"{user}: AUTH PLAIN"] = base64.b64encode(f"\0{user}\0{password}".encode())
    return forms


def _joined(*parts: Any) -> Any:
    """Several capsys snapshots as one."""
    return type(parts[0])("".join(p.out for p in parts), "".join(p.err for p in parts))


@pytest.fixture
def everything_logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every logger at DEBUG, the libraries' wire traces included."""
    caplog.set_level(logging.DEBUG)
    yield caplog


def test_no_password_appears_in_logs_output_or_state(
    agency: Agency, deliver: Callable[..., None], mailserver: Any,
    everything_logged: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows that log in, send, and fail to log in (IMAP and SMTP), then check-config and
    status, write no password — in clear or base64 as in SMTP AUTH — to a log line at DEBUG,
    stdout, stderr or the state files."""
    wrong = "Wr0ng-Secret-Not-Logged-7f3a"
    deliver("ann", client_mail(message_id="<sec-1@acme.test>"), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0  # IMAP logins, an SMTP AUTH and a send

    deliver("ann", client_mail(sender="pat@acme.test", message_id="<sec-2@acme.test>"),
            MONDAY_10 + timedelta(hours=1))
    monkeypatch.setenv("BM_TEST_PW_BOB", wrong)
    monkeypatch.setenv("BM_TEST_PW_ASSISTANT", wrong)
    assert agency.poll(MONDAY_15) == 1
    captured = capsys.readouterr()
    assert "login as 'bob' was refused" in captured.out
    assert "login as 'assistant' was refused" in captured.out
    assert pending(agency) == [("pat@acme.test",)]
    assert agency.cli("check-config") == 0
    assert agency.cli("status", "--now", MONDAY_15.isoformat()) == 0
    captured = _joined(captured, capsys.readouterr())

    # Everything under the state directory: the database, its WAL, the backups, the journal.
    state = b"".join(p.read_bytes() for p in agency.config.state_file.parent.rglob("*")
                     if p.is_file())
    haystacks = {
        "log records": everything_logged.text.encode(),
        "log arguments": repr([r.args for r in everything_logged.records]).encode(),
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "state files": state,
    }
    # The haystack is real: DEBUG was on, and the refused logins were logged (without their
    # password). imapclient's wire trace stays off even at DEBUG: it would echo mail.
    assert any(r.levelno == logging.DEBUG for r in everything_logged.records)
    assert "login as 'bob' was refused" in everything_logged.text
    assert not any(r.name.startswith("imapclient") and r.levelno < logging.INFO
                   for r in everything_logged.records)
    leaks = [
        f"{form} in {where}"
        for form, secret in _secret_forms(mailserver.users, (wrong,)).items()
        for where, text in haystacks.items() if secret in text
    ]
    assert leaks == []


# -- the state file ----------------------------------------------------------------------------


def test_the_state_file_is_private_whatever_the_umask(
    agency: Agency, deliver: Callable[..., None]
) -> None:
    """After a real window the state directory is 0700 and the state file (and SQLite's WAL
    and shared-memory files beside it) 0600, even under a permissive umask."""
    state_dir = agency.config.state_dir
    assert state_dir.exists()  # the install poll created it
    shutil.rmtree(state_dir)
    deliver("ann", client_mail(message_id="<perm-1@acme.test>"), FRIDAY_1605)
    old = os.umask(0o002)
    try:
        assert agency.poll(MONDAY_10) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    state_file = agency.config.state_file
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    for path in state_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path.name


# -- no relay abuse ----------------------------------------------------------------------------


def only_message_to(mailserver: Any, address: str) -> EmailMessage:
    mailserver.wait_for("catchall", 1)
    settle()
    assert original_recipients(mailserver) == [address]
    (msg,) = mailserver.messages("catchall")
    return msg


def test_the_reply_goes_to_the_return_path_never_from_reply_to_or_sender(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """From, Reply-To and Sender all name a victim; the Return-Path (the envelope sender the
    delivering server recorded) names the real sender: only it gets the reply (RFC 3834 §4)."""
    deliver("ann", client_mail(
        sender="victim@evil.test", return_path="maria@acme.test",
        message_id="<relay-1@acme.test>",
        Reply_To="reply-victim@evil.test", Sender="sender-victim@evil.test",
    ), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    reply = only_message_to(mailserver, "maria@acme.test")
    assert str(reply["To"]) == "maria@acme.test"
    assert reply["Cc"] is None and reply["Bcc"] is None


def test_an_outside_return_path_on_mail_not_addressed_to_the_owner_gets_no_reply(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Mail that names an outside victim as its Return-Path and reached the owner only as a
    blind copy (the usual shape of backscatter abuse) is never answered (RFC 3834 §2)."""
    deliver("ann", client_mail(
        sender="victim@evil.test", to="someone@elsewhere.test",
        message_id="<relay-2@evil.test>", subject="Please confirm",
    ), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    settle()
    assert mailserver.messages("catchall") == []
    store = agency.store()
    try:
        (row,) = store.decisions()
        assert row.rule == "not-addressed"
        assert store.pending_actions() == [] and store.actions() == []
    finally:
        store.close()


def test_header_injection_cannot_add_a_recipient(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Encoded CR/LF with "Bcc:"/"Cc:"/"To:" lines in the Subject and the From display name,
    aimed at team mailboxes so a successful injection would land in a real INBOX: exactly one
    reply, to the Return-Path, and nobody else receives anything."""
    raw = (
        b"Return-Path: <maria@acme.test>\r\n"
        b"From: =?utf-8?q?Maria=0D=0ACc:_dave@agency.test=0D=0A?= <maria@acme.test>\r\n"
        b"To: ann@agency.test\r\nMessage-ID: <inject-1@acme.test>\r\n"
        b"Subject: =?utf-8?q?Hi=0D=0ABcc:_carol@agency.test=0D=0ATo:_bcc-victim@evil.test"
        b"=0D=0A=0D=0Abody?=\r\n"
        b"Bcc: carol@agency.test\r\n\r\nhello\r\n"
    )
    mailserver.reset("carol")
    mailserver.reset("dave")
    deliver("ann", raw, FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    reply = only_message_to(mailserver, "maria@acme.test")
    assert reply.get_all("To") == ["maria@acme.test"]
    assert reply["Cc"] is None and reply["Bcc"] is None
    assert "\n" not in str(reply["Subject"]) and "\r" not in str(reply["Subject"])
    assert mailserver.messages("carol") == []
    assert mailserver.messages("dave") == []
