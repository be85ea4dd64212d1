"""`concurrent_mailboxes` means what it says, whatever the machine's CPU count.

asyncio's default thread pool has min(32, CPUs + 4) threads; a window that ran its blocking
IMAP work there would read at most 6 mailboxes at a time on a 2-core server, however many
the configuration asks for. Every mailbox here sits behind its own hung server (a stalling
proxy), so each holds its connection open until its timeout: all of them are open at once
only when the window really reads `concurrent_mailboxes` mailboxes at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from boundary_mail import imap
from tests.integration.agency import Agency, at, wait_until
from tests.integration.proxy import Proxy, proxy

MAILBOXES = 8  # more than asyncio's default pool has threads on a 2-core machine (6)
TIMEOUT = 4.0  # a stalled connection ends by this; the others must all have come before


@pytest.fixture
def hung_servers(mailserver: Any) -> Iterator[list[Proxy]]:
    with ExitStack() as stack:
        yield [stack.enter_context(proxy(mailserver.host, mailserver.imaps_port, "stall"))
               for _ in range(MAILBOXES)]


def test_every_configured_mailbox_is_read_at_once_on_a_small_machine(
    agency: Agency, hung_servers: list[Proxy], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # the small server the product runs on
    monkeypatch.setattr(imap, "CONNECT_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(imap, "CONNECT_BACKOFF_MAX_SECONDS", 0.2)
    (ann, *_) = agency.data["mailboxes"]
    agency.data["mailboxes"] = [
        {**ann, "name": f"ann{i}", "port": p.port, "timeout_seconds": TIMEOUT}
        for i, p in enumerate(hung_servers)
    ]
    agency.data["concurrent_mailboxes"] = MAILBOXES
    agency.write()
    codes: list[int] = []
    window = threading.Thread(target=lambda: codes.append(agency.poll(at(1, 10))))
    window.start()
    try:
        wait_until(lambda: sum(p.open_connections for p in hung_servers) == MAILBOXES,
                   f"{MAILBOXES} mailboxes connecting at once", timeout=TIMEOUT - 1)
    finally:
        window.join(timeout=60)
    assert codes == [1]  # every mailbox reported as not read
    assert [p.accepted for p in hung_servers] == [imap.CONNECT_ATTEMPTS] * MAILBOXES
