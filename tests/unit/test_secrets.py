"""Passwords come from a reference (environment, file, command) and never show in an error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from boundary_mail.config import Account
from boundary_mail.errors import SecretUnavailable
from boundary_mail.secrets import resolve_password

SECRET = "pa$$ w0rd-ünïcode"


def test_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BM_TEST_SECRET", SECRET)
    account = Account(username="ann", password_env="BM_TEST_SECRET")
    assert resolve_password(account, where="mailbox 'ann'") == SECRET


def test_missing_environment_variable_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BM_TEST_SECRET", raising=False)
    account = Account(username="ann", password_env="BM_TEST_SECRET")
    with pytest.raises(SecretUnavailable, match="mailbox 'ann': the environment variable"
                       " BM_TEST_SECRET named by password_env is not set"):
        resolve_password(account, where="mailbox 'ann'")


def test_relative_file_is_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LoadCredential= puts files in $CREDENTIALS_DIRECTORY; a relative name is looked up
    there, and the trailing newline an editor adds is not part of the password."""
    (tmp_path / "imap-ann").write_text(SECRET + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    account = Account(username="ann", password_file=Path("imap-ann"))
    assert resolve_password(account, where="x") == SECRET


def test_unreadable_file_says_what_to_check(tmp_path: Path) -> None:
    account = Account(username="ann", password_file=tmp_path / "missing")
    with pytest.raises(SecretUnavailable, match=r"cannot read password_file .*LoadCredential"):
        resolve_password(account, where="x")


def test_from_command() -> None:
    account = Account(
        username="ann", password_command=[sys.executable, "-c", f"print({SECRET!r})"]
    )
    assert resolve_password(account, where="x") == SECRET


def test_a_failing_command_never_repeats_its_output() -> None:
    """A secret store may print the secret to stderr when it fails; we never repeat it."""
    script = f"import sys; print({SECRET!r}); print({SECRET!r}, file=sys.stderr); sys.exit(3)"
    account = Account(username="ann", password_command=[sys.executable, "-c", script])
    with pytest.raises(SecretUnavailable) as info:
        resolve_password(account, where="smtp")
    assert "exit code 3" in str(info.value)
    assert SECRET not in str(info.value)


def test_a_missing_command_says_so() -> None:
    account = Account(username="ann", password_command=["/nonexistent/pass-helper"])
    with pytest.raises(SecretUnavailable, match="was not found; give its full path"):
        resolve_password(account, where="x")


def test_no_source_means_no_login() -> None:
    assert resolve_password(Account(), where="x") is None
