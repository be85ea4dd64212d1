"""The real run's executor: the drains of one window share one claim token."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from boundary_mail import execute
from boundary_mail.execute import StoreExecutor
from boundary_mail.outbox import DrainResult
from boundary_mail.store import Store
from tests.unit.factories import MONDAY_WINDOW, agency


def test_a_windows_second_drain_uses_the_first_ones_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a route failed for good, the window drains twice (the alert goes out too). Both
    drains carry the window's token, so a message the first found "maybe delivered" is not
    resent by the second (never twice in one window)."""
    tokens: list[str | None] = []

    async def recording_drain(*args: Any) -> DrainResult:
        tokens.append(args[3] if len(args) > 3 else None)
        return DrainResult()

    async def nothing(*args: Any) -> DrainResult:
        return DrainResult()

    alerts = iter([False, True])
    monkeypatch.setattr(execute, "drain", recording_drain)
    monkeypatch.setattr(execute, "carry_routes", nothing)
    monkeypatch.setattr(execute, "flag_routed", nothing)
    monkeypatch.setattr(execute, "queue_route_alerts", lambda *a: next(alerts))
    store = Store(tmp_path / "state.sqlite3")
    try:
        executor = StoreExecutor(agency(), store, MONDAY_WINDOW)
        asyncio.run(executor.drain())
    finally:
        store.close()
    assert len(tokens) == 2 and tokens[0] is not None and tokens[0] == tokens[1]
