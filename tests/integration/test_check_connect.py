"""`check-config --connect` against the real Dovecot and Postfix: every account's password,
login, inbox and Sent folder, and the SMTP login, checked before the first window. One line
per account; a failure names the account and the fix; exit 1 on any failure, 0 when all work;
never a password in the output."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.agency import Agency


def _check(agency: Agency, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    agency.write()
    code = agency.cli("check-config", "--connect")
    out, err = capsys.readouterr()
    return code, out + err


def _line(output: str, account: str) -> str:
    found = [line for line in output.splitlines() if line.startswith(f"{account}: ")]
    assert len(found) == 1, output
    return found[0]


def _no_secret(output: str, mailserver: Any) -> None:
    for password in mailserver.users.values():
        assert password not in output


def _others_ok(output: str, failing: str) -> None:
    for account in ("mailbox 'ann'", "mailbox 'bob'", "mailbox 'lead'", "smtp"):
        if account != failing:
            assert ": ok — " in _line(output, account), output


def test_all_accounts_good_exits_0_and_says_what_was_checked(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three mailboxes and SMTP that work: each says ok with what was checked; exit 0."""
    code, output = _check(agency, capsys)
    assert code == 0, output
    ann = _line(output, "mailbox 'ann'")
    assert "password from $BM_TEST_PW_ANN" in ann
    assert "login as 'ann'" in ann
    assert "inbox 'INBOX' exists" in ann and "sent 'Sent' exists" in ann
    assert "AUTH as 'assistant'" in _line(output, "smtp")
    _others_ok(output, "")
    _no_secret(output, mailserver)


def test_a_wrong_password_names_the_mailbox_and_the_fix(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A password the server refuses fails that mailbox only, with what to check."""
    monkeypatch.setenv("BM_TEST_PW_BOB", "not-bobs-password")
    code, output = _check(agency, capsys)
    assert code == 1
    bob = _line(output, "mailbox 'bob'")
    assert "FAILED" in bob
    assert "login as 'bob' was refused; check the username and the password source" in bob
    _others_ok(output, "mailbox 'bob'")
    _no_secret(output, mailserver)
    assert "not-bobs-password" not in output


def test_an_unset_password_variable_names_the_mailbox_and_the_fix(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """password_env naming a variable that is not set: found now, not at the first window."""
    monkeypatch.delenv("BM_TEST_PW_ANN")
    code, output = _check(agency, capsys)
    assert code == 1
    ann = _line(output, "mailbox 'ann'")
    assert "FAILED" in ann
    assert "BM_TEST_PW_ANN" in ann and "export it before starting boundary-mail" in ann
    _others_ok(output, "mailbox 'ann'")
    _no_secret(output, mailserver)


def test_a_missing_credential_file_names_the_mailbox_and_the_fix(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """password_file that does not exist in $CREDENTIALS_DIRECTORY (a missing
    LoadCredential= line): the mailbox, the path and the fix."""
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(agency.path.parent / "credentials"))
    lead = agency.data["mailboxes"][2]
    del lead["password_env"]
    lead["password_file"] = "imap-lead"
    code, output = _check(agency, capsys)
    assert code == 1
    line = _line(output, "mailbox 'lead'")
    assert "FAILED" in line and "credentials/imap-lead" in line
    assert "LoadCredential= line of the systemd unit" in line
    _others_ok(output, "mailbox 'lead'")
    _no_secret(output, mailserver)


def test_a_missing_sent_folder_names_the_key_and_the_folders_that_exist(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """sent = "Nope": logged in, the inbox exists, the Sent folder does not; the fix names
    the key to set and the folder to set it to."""
    agency.data["mailboxes"][1]["sent"] = "Nope"
    code, output = _check(agency, capsys)
    assert code == 1
    bob = _line(output, "mailbox 'bob'")
    assert "the sent folder 'Nope' does not exist; set mailboxes[1].sent" in bob
    assert 'set mailboxes[1].sent = "Sent"' in bob
    assert "worked: password from $BM_TEST_PW_BOB, login as 'bob', inbox 'INBOX' exists" in bob
    _others_ok(output, "mailbox 'bob'")
    _no_secret(output, mailserver)


def test_a_missing_drafts_folder_names_the_folder_the_server_marks(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """drafts = "Nope": the folder for nudges to clients does not exist; the fix names
    the folder the server marks \\Drafts."""
    agency.data["mailboxes"][0]["drafts"] = "Nope"
    code, output = _check(agency, capsys)
    assert code == 1
    ann = _line(output, "mailbox 'ann'")
    assert ('the drafts folder \'Nope\' does not exist; set mailboxes[0].drafts = "Drafts" (the'
            " server marks it as the Drafts folder)") in ann
    assert "sent 'Sent' exists" in ann
    _others_ok(output, "mailbox 'ann'")


def test_implicit_tls_on_the_starttls_port_names_smtp_and_the_security_to_use(
    agency: Agency, mailserver: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """security = "tls" on the submission port (which starts unencrypted; not refused by
    the configuration because the port is not a standard one): the fix says "starttls"."""
    agency.data["smtp"]["port"] = mailserver.smtp_port
    code, output = _check(agency, capsys)
    assert code == 1
    line = _line(output, "smtp")
    assert "FAILED" in line and f":{mailserver.smtp_port}" in line
    assert 'use security = "starttls"' in line
    assert "will try again" not in line
    _others_ok(output, "smtp")
    _no_secret(output, mailserver)


def test_the_right_security_on_the_starttls_port_works(
    agency: Agency, capsys: pytest.CaptureFixture[str], mailserver: Any
) -> None:
    """The same port with security = "starttls": EHLO, STARTTLS, AUTH all pass."""
    agency.data["smtp"].update(port=mailserver.smtp_port, security="starttls")
    code, output = _check(agency, capsys)
    assert code == 0, output
    assert "connected (starttls)" in _line(output, "smtp")
