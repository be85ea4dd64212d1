"""Test helpers: an agency configured against the real local servers, and client mail."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from boundary_mail.cli import main
from boundary_mail.config import Config, load_config
from boundary_mail.store import Store

TEAM = ("ann", "bob", "lead")
BERLIN = ZoneInfo("Europe/Berlin")
MON = datetime(2026, 11, 16, tzinfo=BERLIN)  # in the past: Dovecot clamps future APPEND dates


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day 0 is Monday 16 November 2026, local time in Berlin (the agency's zone)."""
    return MON + timedelta(days=day, hours=hour, minutes=minute)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_toml(data: dict[str, Any]) -> str:
    """A small TOML writer for test configs (tomllib reads, it does not write)."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    for key, value in tables:
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
        else:
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
    return "\n".join(lines) + "\n"


@dataclass
class Agency:
    """A configured boundary-mail installation against the test servers."""

    server: Any
    path: Path
    data: dict[str, Any]

    @property
    def config(self) -> Config:
        return load_config(self.path)

    def write(self) -> None:
        self.path.write_text(render_toml(self.data))

    def poll(self, now: datetime | str, *extra: str) -> int:
        when = now if isinstance(now, str) else now.isoformat()
        return main(["--config", str(self.path), "poll", "--now", when, *extra])

    def cli(self, *args: str) -> int:
        return main(["--config", str(self.path), *args])

    def store(self) -> Store:
        return Store(self.config.state_file)


def client_mail(
    *, sender: str = "maria@acme.test", to: str = "ann@agency.test", subject: str = "Hello",
    message_id: str | None = None, date: datetime | None = None, body: str = "Hi there.\n",
    return_path: str | None = None, **headers: str,
) -> bytes:
    """A message as the delivering server would have stored it (with Return-Path)."""
    msg = EmailMessage()
    msg["Return-Path"] = f"<{sender if return_path is None else return_path}>"
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    if message_id:
        msg["Message-ID"] = message_id
    if date:
        msg["Date"] = format_datetime(date)
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def agency_config(server: Any, state_dir: Path) -> dict[str, Any]:
    """Ann, Bob and their lead; clients Acme (domain) and Globex (one address), against the
    test servers; passwords from BM_TEST_PW_<USER>."""
    imap = {"host": server.host, "port": server.imaps_port, "security": "tls",
            "ca_file": str(server.ca_file)}
    return {
        "timezone": "Europe/Berlin",
        "state_dir": str(state_dir),
        "schedule": {"check_windows": ["10:00", "15:00"], "holidays_country": "DE",
                     "holidays_subdivision": "BE"},
        "smtp": {
            "host": server.host, "port": server.smtps_port, "security": "tls",
            "ca_file": str(server.ca_file), "username": "assistant",
            "password_env": "BM_TEST_PW_ASSISTANT", "from_address": "assistant@agency.test",
            "from_name": "Wright & Stone",
        },
        "mailboxes": [
            {"name": user, **imap, "username": user,
             "password_env": f"BM_TEST_PW_{user.upper()}", "owner": f"{user}@agency.test"}
            for user in TEAM
        ],
        "team": {
            "lead": "lead@agency.test",
            "members": [
                {"name": "Ann Wright", "address": "ann@agency.test", "backup": "bob@agency.test"},
                {"name": "Bob Stone", "address": "bob@agency.test", "backup": "ann@agency.test"},
                {"name": "Lee Lead", "address": "lead@agency.test"},
            ],
        },
        "clients": [
            {"name": "Acme", "domains": ["acme.test"], "account_manager": "ann@agency.test"},
            {"name": "Globex", "addresses": ["tom@globex.test"],
             "account_manager": "bob@agency.test"},
        ],
    }


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    """Poll `condition` until it holds (a wait for a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
