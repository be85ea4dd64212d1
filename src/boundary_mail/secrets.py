"""Resolve an account's password from its reference, at the moment it is needed.

The configuration never holds a password, only where to find one: an environment variable,
a file (relative names are looked up in systemd's ``$CREDENTIALS_DIRECTORY``, which is where
``LoadCredential=`` puts them), or a command whose standard output is the password. Errors
name the account and the reference, never the secret or a command's output.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from boundary_mail.config import Account
from boundary_mail.errors import SecretUnavailable
from boundary_mail.sasl import Secret

COMMAND_TIMEOUT_SECONDS = 30


def resolve_password(account: Account, *, where: str) -> Secret:
    """The password for `account`, or None when the account logs in without one; for
    auth = "oauth2", its access tokens (asked for when it logs in)."""
    if account.auth == "oauth2":
        from boundary_mail.oauth_providers import token_source

        return token_source(account, where, getattr(account, "name", "smtp"))
    if account.password is not None:
        return account.password.get_secret_value()
    if account.password_env is not None:
        return _from_env(account.password_env, where)
    if account.password_file is not None:
        return _from_file(account.password_file, where)
    if account.password_command is not None:
        return from_command(account.password_command, where)
    return None


def secret_from(*, env: str | None, file: Path | None, where: str, what: str) -> str | None:
    """Another secret by reference (an OAuth2 client secret): `env` or `file`, or None."""
    if env is not None:
        return _from_env(env, where, f"{what} variable")
    if file is not None:
        return _from_file(file, where, f"{what} file")
    return None


def _from_env(name: str, where: str, key: str = "password_env") -> str:
    value = os.environ.get(name)
    if not value:
        raise SecretUnavailable(
            f"{where}: the environment variable {name} named by {key} is not set or"
            " empty; export it before starting boundary-mail"
        )
    return value


def credential_path(path: Path) -> Path:
    """A relative password_file is a systemd credential name when $CREDENTIALS_DIRECTORY is
    set (LoadCredential=), else relative to the working directory."""
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not path.is_absolute() and directory:
        return Path(directory) / path
    return path


def _from_file(path: Path, where: str, key: str = "password_file") -> str:
    resolved = credential_path(path)
    try:
        text = resolved.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretUnavailable(
            f"{where}: cannot read {key} {str(resolved)!r} ({exc.strerror}); check the"
            " path, its permissions, or the LoadCredential= line of the systemd unit"
        ) from None
    except UnicodeDecodeError:
        raise SecretUnavailable(
            f"{where}: {key} {str(resolved)!r} is not UTF-8 text; save it as UTF-8"
        ) from None
    # One trailing newline is what `echo` and editors add; it is never part of the password.
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        raise SecretUnavailable(f"{where}: {key} {str(resolved)!r} is empty")
    return value


def from_command(command: list[str], where: str, key: str = "password_command") -> str:
    """What `command` prints (a password, or a token_command's access token); errors name the
    program and never repeat its output."""
    shown = command[0] if command else "(empty)"
    if not command:
        raise SecretUnavailable(f"{where}: {key} is empty; name a program to run")
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise SecretUnavailable(
            f"{where}: {key} {shown!r} was not found; give its full path"
        ) from None
    except subprocess.TimeoutExpired:
        raise SecretUnavailable(
            f"{where}: {key} {shown!r} did not finish within"
            f" {COMMAND_TIMEOUT_SECONDS} s; make it non-interactive"
        ) from None
    except OSError as exc:
        raise SecretUnavailable(
            f"{where}: {key} {shown!r} could not run ({exc.strerror})"
        ) from None
    if done.returncode != 0:
        # Its stderr may echo the secret store's contents: never repeat it.
        raise SecretUnavailable(
            f"{where}: {key} {shown!r} failed with exit code {done.returncode};"
            " run it by hand to see why"
        )
    value = done.stdout.removesuffix("\n")
    if not value:
        raise SecretUnavailable(f"{where}: {key} {shown!r} printed nothing")
    return value
