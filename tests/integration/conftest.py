"""Fixtures for the integration tests: every test talks to the real Dovecot and Postfix."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agency import TEAM, Agency, agency_config

REPO = Path(__file__).resolve().parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture
def agency(mailserver: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Agency]:
    """Ann, Bob and their lead; clients Acme (domain) and Globex (one address); all mailboxes
    emptied first so every test starts from a known state."""
    for user in (*TEAM, "catchall", "assistant"):
        mailserver.reset(user)
        monkeypatch.setenv(f"BM_TEST_PW_{user.upper()}", mailserver.users[user])
    data = agency_config(mailserver, tmp_path / "state")
    result = Agency(mailserver, tmp_path / "boundary-mail.toml", data)
    result.write()
    yield result


@pytest.fixture
def deliver(mailserver: Any) -> Callable[..., None]:
    """Put a message into a team member's INBOX as arrived at `at` (IMAP APPEND with date)."""

    def put(user: str, raw: bytes, at: datetime) -> None:
        mailserver.append(user, "INBOX", raw, date=at)

    return put


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """boundary-mail's wheel: $BM_WHEEL when set (CI installed that one to test it), else one
    built from this checkout with `python -m build --wheel`."""
    given = os.environ.get("BM_WHEEL")
    if given:
        return Path(given).resolve()
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("boundary_mail-*.whl")
    return built


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("BOUNDARY_MAIL_"):
            monkeypatch.delenv(key)


@pytest.fixture(autouse=True)
def _leaks_reported_where_they_happen() -> Iterator[None]:
    """Collect garbage after each test, so that a socket one test left open is reported (a
    ResourceWarning, an error here) at that test and not at whichever test the garbage
    collector happens to run in."""
    yield
    gc.collect()
