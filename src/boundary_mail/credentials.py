"""The systemd credentials a configuration needs: one ``LoadCredential=`` per credential name.

A relative ``password_file`` (``password_file = "imap-ann"``), or an OAuth2 account's
``client_secret_file``, is the name of a systemd credential: secrets.py reads it from
``$CREDENTIALS_DIRECTORY``, which systemd fills from the unit's ``LoadCredential=NAME:SOURCE``
lines before the service starts. These lines are derived from the configuration, so the unit,
the config and the files in ``/etc/boundary-mail/credentials/`` cannot disagree:
``boundary-mail credentials`` prints them,
and ``scripts/install-service.sh`` writes them into the unit it installs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

from boundary_mail.config import Config
from boundary_mail.config_sections import Account

# Where the install script keeps one file per credential (0700 root; systemd reads them as root).
SOURCE_DIR = PurePosixPath("/etc/boundary-mail/credentials")


@dataclass(frozen=True)
class Credential:
    """One credential name and the accounts (``smtp``, ``mailboxes.ann``) that read it."""

    name: str
    accounts: tuple[str, ...]


@dataclass(frozen=True)
class DirectFile:
    """An account whose password_file is a path the service reads itself, not a credential."""

    account: str
    path: str


def _accounts(config: Config) -> list[tuple[str, Account]]:
    return [("smtp", config.smtp), *((f"mailboxes.{m.name}", m) for m in config.mailboxes)]


def is_credential_name(value: str) -> bool:
    """systemd credential names are plain file names: no directory part, not "." or ".."."""
    return bool(value) and "/" not in value and value not in {".", ".."}


def needed_credentials(config: Config) -> tuple[list[Credential], list[DirectFile]]:
    """The credentials the accounts name, in config order (one per name, however many accounts
    share it), and the accounts whose password_file is a path rather than a name."""
    names: dict[str, list[str]] = {}
    direct: list[DirectFile] = []
    for where, account in _accounts(config):
        # An OAuth2 client secret by file is a credential like a password file.
        secret = account.oauth2.client_secret_file if account.oauth2 is not None else None
        source = account.password_file or secret
        if source is None:
            continue
        value = str(source)
        if is_credential_name(value):
            names.setdefault(value, []).append(where)
        else:
            direct.append(DirectFile(where, value))
    return [Credential(name, tuple(accounts)) for name, accounts in names.items()], direct


def load_credential_lines(config: Config, source_dir: PurePosixPath = SOURCE_DIR) -> list[str]:
    """The unit's ``LoadCredential=`` lines, then a comment for each account that reads a
    password file by path (the service's dynamic user must be able to read that file)."""
    wanted, direct = needed_credentials(config)
    lines = [f"LoadCredential={c.name}:{source_dir / c.name}" for c in wanted]
    lines.extend(
        f"# {d.account}: password_file {d.path!r} is a path, not a credential name; the"
        " service user must be able to read it (a name such as \"imap-ann\" is safer)"
        for d in direct
    )
    return lines


def print_credentials(config: Config, directory: str | None, *, names_only: bool) -> int:
    """`boundary-mail credentials`: the unit's lines, or with `names_only` just the names."""
    if names_only:
        for credential in needed_credentials(config)[0]:
            print(credential.name)
        return 0
    source = PurePosixPath(directory) if directory else SOURCE_DIR
    for line in load_credential_lines(config, source):
        print(line)
    return 0
