"""Session-wide fixtures: the real Dovecot + Postfix the integration tests talk to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.mailserver import MailServer, MailServerError

_started: list[MailServer] = []


@pytest.fixture(scope="session")
def mailserver() -> MailServer:
    """Dovecot and Postfix on 127.0.0.1 (started once per session by scripts/mailserver.sh).

    If they cannot be started, every test that needs them fails with the log tail: a missing
    server is a broken test setup, never a reason to skip.
    """
    try:
        server = MailServer.start()
    except MailServerError as exc:
        pytest.fail(f"the test mail servers could not be started:\n{exc}", pytrace=False)
    _started.append(server)
    return server


@pytest.fixture(autouse=True)
def _mailserver_restored() -> Iterator[None]:
    """A test that stopped Dovecot or Postfix (an outage test) and failed before starting it
    again must not break the tests after it."""
    yield
    for server in _started:
        try:
            server.ensure_running()
        except MailServerError as exc:
            pytest.fail(f"could not restart the test mail servers:\n{exc}", pytrace=False)
