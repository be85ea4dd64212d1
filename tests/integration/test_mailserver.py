"""The test mail servers themselves: real delivery, a catch-all for the outside world, APPEND
with an arrival time, verified TLS, and nothing that could leave the machine."""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import imapclient
import pytest

from tests.mailserver import MailServer

BERLIN = ZoneInfo("Europe/Berlin")


def mail(to: str, subject: str, sender: str = "assistant@agency.test") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@agency.test>"
    msg.set_content("Hello.\n")
    return msg


@pytest.fixture
def server(mailserver: MailServer) -> MailServer:
    for user in ("ann", "bob", "catchall"):
        mailserver.reset(user)
    return mailserver


def test_submission_delivers_to_the_agency_and_everything_else_to_the_catchall(
    server: MailServer,
) -> None:
    server.send(mail("Ann Wright <ann@agency.test>", "for ann"))
    server.send(mail("Maria <maria+orders@acme.test>", "for maria"))

    [to_ann] = server.wait_for("ann", 1)
    assert to_ann["Subject"] == "for ann"
    assert to_ann["Delivered-To"] == "ann@agency.test"
    assert to_ann["Return-Path"] == "<assistant@agency.test>"

    [to_maria] = server.wait_for("catchall", 1)
    assert to_maria["Subject"] == "for maria"
    assert to_maria["To"] == "Maria <maria+orders@acme.test>"  # headers untouched
    # The envelope recipient stays visible: catchall+LOCAL=DOMAIN.
    assert to_maria["Delivered-To"] == "catchall+maria+orders=acme.test@agency.test"
    assert server.messages("bob") == []


def test_starttls_submission_requires_tls_before_auth(server: MailServer) -> None:
    with smtplib.SMTP(server.host, server.smtp_port, timeout=30) as plain:
        plain.ehlo()
        assert plain.has_extn("starttls")
        assert not plain.has_extn("auth"), "AUTH must not be offered before STARTTLS"
    with server.smtp("bob", starttls=True) as client:
        client.send_message(mail("ann@agency.test", "via starttls", "bob@agency.test"))
    [msg] = server.wait_for("ann", 1)
    assert msg["From"] == "bob@agency.test"


def test_unauthenticated_and_unknown_recipients_are_refused(server: MailServer) -> None:
    with server.smtp(None) as anonymous, pytest.raises(smtplib.SMTPRecipientsRefused):
        anonymous.send_message(mail("ann@agency.test", "anonymous"))
    with server.smtp("assistant") as client, pytest.raises(smtplib.SMTPRecipientsRefused) as err:
        client.send_message(mail("nobody@agency.test", "unknown"))
    assert "nobody@agency.test" in str(err.value)
    with (
        smtplib.SMTP_SSL(server.host, server.smtps_port, context=server.ssl_context()) as bad,
        pytest.raises(smtplib.SMTPAuthenticationError),
    ):
        bad.login("assistant", "not the password")


def test_append_with_date_sets_internaldate_and_flags(server: MailServer) -> None:
    arrived = datetime(2026, 11, 20, 9, 30, tzinfo=BERLIN)
    server.append("ann", "INBOX", mail("ann@agency.test", "old").as_bytes(), date=arrived,
                  flags=[r"\Seen"])
    server.append("ann", "INBOX", mail("ann@agency.test", "newer").as_bytes(),
                  date=arrived + timedelta(hours=5))
    fetched = server.fetch("ann")
    assert [msg["Subject"] for _uid, msg, _date in fetched] == ["old", "newer"]
    assert [date for _uid, _msg, date in fetched] == [arrived, arrived + timedelta(hours=5)]
    assert fetched[0][0] < fetched[1][0]  # UID order
    with server.imap("ann") as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["SEEN"]) == [fetched[0][0]]
        assert client.search(["SINCE", datetime(2026, 11, 20).date()]) == [
            uid for uid, _msg, _date in fetched
        ]


def test_imap_starttls_verifies_against_the_test_ca(server: MailServer) -> None:
    client = imapclient.IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=30)
    try:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(server.ssl_context())
        client.login("ann", server.users["ann"])
        sock = client._imap.sock
        assert isinstance(sock, ssl.SSLSocket)
        cert = sock.getpeercert()
        assert cert is not None
        assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
        assert ("DNS", "localhost") in cert["subjectAltName"]
    finally:
        client.logout()

    untrusted = imapclient.IMAPClient(server.host, port=server.imap_port, ssl=False, timeout=30)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            untrusted.starttls(ssl.create_default_context())  # the system store lacks our CA
    finally:
        with suppress(OSError):
            untrusted.shutdown()


def test_special_use_folders_exist_and_reset_restores_them(server: MailServer) -> None:
    with server.imap("bob") as client:
        special = {
            name: [f for f in flags if f.startswith(b"\\") and f not in (
                b"\\HasNoChildren", b"\\HasChildren")]
            for flags, _sep, name in client.list_folders()
        }
        separator = client.list_folders("", "")[0][1].decode()
        client.create_folder(f"Clients{separator}Acme")
        client.delete_folder("Archive")
    assert special == {"INBOX": [], "Sent": [b"\\Sent"], "Drafts": [b"\\Drafts"],
                       "Trash": [b"\\Trash"], "Archive": [b"\\Archive"]}
    assert separator == "."
    server.append("bob", f"Clients{separator}Acme", mail("bob@agency.test", "x").as_bytes())
    server.append("bob", "Sent", mail("maria@acme.test", "y").as_bytes())

    server.reset("bob")
    assert server.folders("bob") == ["Archive", "Drafts", "INBOX", "Sent", "Trash"]
    assert all(server.messages("bob", f) == [] for f in server.folders("bob"))


def test_nothing_can_leave_the_machine(mailserver: MailServer) -> None:
    conf = str(mailserver.data_dir / "postfix")
    services = subprocess.run(["postconf", "-c", conf, "-M"], capture_output=True, text=True,
                              check=True).stdout.splitlines()
    kinds = {(line.split()[0], line.split()[1]) for line in services}
    assert ("lmtp", "unix") in kinds
    for client in ("smtp", "relay", "local", "virtual"):
        assert (client, "unix") not in kinds
    for param in ("default_transport", "relay_transport", "local_transport"):
        value = subprocess.run(["postconf", "-c", conf, "-h", param], capture_output=True,
                               text=True, check=True).stdout
        assert value.startswith("error:"), (param, value)
    ports = {mailserver.imaps_port, mailserver.imap_port, mailserver.smtps_port,
             mailserver.smtp_port}
    bound = listening()
    assert ports <= {port for _addr, port in bound}
    assert {addr for addr, port in bound if port in ports} == {"127.0.0.1"}


def listening() -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket, from /proc (no ss needed)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                local, state = line.split()[1], line.split()[3]
                if state != "0A":  # LISTEN
                    continue
                addr_hex, port_hex = local.split(":")
                if len(addr_hex) == 8:
                    addr = socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr_hex)[::-1])
                else:
                    raw = bytes.fromhex(addr_hex)
                    addr = socket.inet_ntop(socket.AF_INET6, b"".join(
                        raw[i:i + 4][::-1] for i in range(0, 16, 4)))
                found.add((addr, int(port_hex, 16)))
    return found


def test_outages_stop_and_start_each_server(server: MailServer) -> None:
    server.stop_smtp()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.smtps_port), timeout=5)
    with server.imap("ann"):  # IMAP is unaffected
        pass
    server.start_smtp()

    server.stop_imap()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((server.host, server.imaps_port), timeout=5)
    with pytest.raises(smtplib.SMTPException):  # SMTP AUTH needs Dovecot's auth service
        server.send(mail("ann@agency.test", "during the outage"))
    server.start_imap()

    server.send(mail("ann@agency.test", "after the outage"))
    assert [m["Subject"] for m in server.wait_for("ann", 1)] == ["after the outage"]


def test_internaldate_of_delivered_mail_is_now(server: MailServer) -> None:
    before = datetime.now(UTC).replace(microsecond=0)  # noqa: TID251
    server.send(mail("ann@agency.test", "now"))
    server.wait_for("ann", 1)
    [(_uid, _msg, date)] = server.fetch("ann")
    assert before - timedelta(seconds=1) <= date <= before + timedelta(seconds=30)
