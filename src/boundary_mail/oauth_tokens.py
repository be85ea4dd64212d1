"""The token file: an account's OAuth2 tokens, kept private in the state directory.

One JSON file per sign-in under ``STATE_DIR/oauth2/`` (directory 0700, file 0600, written
to a temporary file and renamed, so a crash leaves the old file or the new one, never half of
one). It holds the refresh token (and the current access token, so that each `poll` does not
ask the provider again); nothing else in boundary-mail ever stores, logs or prints a token.
Processes that refresh the same sign-in at once (the daemon and a `poll` or `auth` by hand)
take turns under an flock on a lock file beside it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from boundary_mail.errors import SecretUnavailable

TOKEN_DIR = "oauth2"  # noqa: S105 - a directory name


@dataclass(slots=True)
class TokenRecord:
    """What is known about one sign-in. Times are POSIX seconds (UTC)."""

    provider: str
    user: str
    refresh_token: str | None = None
    access_token: str | None = None
    expires_at: float | None = None
    signed_in_at: float | None = None
    last_refresh_at: float | None = None
    # Provider-specific state (MSAL's serialized token cache, which holds its refresh token).
    extra: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show a token, even in a traceback's locals
        return f"TokenRecord(provider={self.provider!r}, user={self.user!r})"


def token_path(state_dir: Path, name: str) -> Path:
    return state_dir / TOKEN_DIR / name


def load(path: Path) -> TokenRecord | None:
    """The record, or None when nobody has signed in (or it was logged out)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise SecretUnavailable(
            f"the token file {str(path)!r} cannot be read ({type(exc).__name__}); run"
            " `boundary-mail auth login` for the account again"
        ) from None
    known = TokenRecord.__dataclass_fields__
    return TokenRecord(**{k: v for k, v in data.items() if k in known})


def _private_directory(directory: Path) -> None:
    """The token directory, 0700, in the state directory (made 0700 too when a sign-in comes
    before the first window)."""
    directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)


def save(path: Path, record: TokenRecord) -> None:
    """Write atomically with mode 0600 in a 0700 directory, whatever the umask."""
    _private_directory(path.parent)
    fd, temporary = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(asdict(record), out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def delete(path: Path) -> bool:
    """Forget the sign-in; True if there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """One process at a time reads, refreshes and rewrites this token file."""
    _private_directory(path.parent)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
