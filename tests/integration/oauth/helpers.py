"""Helpers of the OAuth2 tests: the agency's accounts turned to OAuth2, sign-ins without the
interactive flow, the person who allows access, and the search for leaked secrets."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from boundary_mail.oauth_login import save_sign_in
from boundary_mail.oauth_tokens import TokenRecord
from tests.integration.agency import Agency, client_mail, wait_until
from tests.oauth_server import (
    CLIENT_ID,
    AuthorizationServerForTests,
)

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_1605 = datetime(2026, 11, 13, 16, 5, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)
MONDAY_15 = datetime(2026, 11, 16, 15, 0, tzinfo=BERLIN)
SECRET_ENV = "BM_TEST_OAUTH_CLIENT_SECRET"


def oauth2_table(server: AuthorizationServerForTests, **extra: Any) -> dict[str, Any]:
    return {"provider": "generic", "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
            "token_endpoint": server.token_endpoint,
            "device_authorization_endpoint": server.device_endpoint, "scopes": ["mail"],
            **extra}


def use_oauth2(account: dict[str, Any], user: str, table: dict[str, Any]) -> None:
    """Turn an account of the agency's config from a password to OAuth2."""
    account.pop("password_env", None)
    account.update(username=f"{user}@agency.test", auth="oauth2", oauth2=table)


def sign_in_directly(agency: Agency, server: AuthorizationServerForTests, account: str,
                     user: str) -> Path:
    """As if `auth login` had run: tokens from the server in the account's token file."""
    config = agency.config
    target = config.smtp if account == "smtp" else next(
        m for m in config.mailboxes if m.name == account)
    assert target.oauth2 is not None
    token = server.issue(user)
    record = TokenRecord(provider="generic", user=f"{user}@agency.test",
                         refresh_token=token.refresh_token, access_token=token.access_token,
                         expires_at=time.time() + 3600)
    return Path(save_sign_in(target.oauth2, str(target.username), record))


def replies_to(mailserver: Any, address: str) -> list[Any]:
    return [m for m in mailserver.messages("catchall") if address in str(m["To"])]


def answered_window(agency: Agency, deliver: Callable[..., None], mailserver: Any,
                    message_id: str) -> None:
    """The first sync, then Maria's message to Ann, then the Monday window that answers it."""
    assert agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0
    deliver("ann", client_mail(sender="maria@acme.test", message_id=message_id), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    assert len(replies_to(mailserver, "maria@acme.test")) == 1


def find_leaks(server: AuthorizationServerForTests, caplog: pytest.LogCaptureFixture,
               captured: Any, agency: Agency) -> list[str]:
    """Every token, refresh token, client secret, device code and authorization code the
    server handed out, in clear or base64 as SASL sends it, found in boundary-mail's log
    records, stdout, stderr or the state directory (the token file aside)."""
    state = b"".join(p.read_bytes() for p in agency.config.state_dir.rglob("*")
                     if p.is_file() and "oauth2" not in p.parts)
    # The authorization server runs in this process: its own records (Authlib's server side,
    # Werkzeug) are the provider's, not boundary-mail's.
    ours = [r for r in caplog.records if not r.name.startswith(("authlib.oauth2.", "werkzeug"))]
    assert any(r.name.startswith("urllib3") for r in ours)  # the haystack is real
    haystacks = {
        "log records": "\n".join(caplog.handler.format(r) for r in ours).encode(),
        "log arguments": repr([r.args for r in ours]).encode(),
        "stdout": captured.out.encode(), "stderr": captured.err.encode(), "state files": state,
    }
    secrets = {"client secret": server.client_secret}
    for n, token in enumerate(server.state.tokens):
        secrets[f"access token {n}"] = token.access_token
        if token.refresh_token:
            secrets[f"refresh token {n}"] = token.refresh_token
    for n, code in enumerate(server.state.device_codes_issued):
        secrets[f"device code {n}"] = code
    for n, code in enumerate(server.state.codes_issued):
        secrets[f"authorization code {n}"] = code
    assert len(secrets) > 3
    forms = {name: value.encode() for name, value in secrets.items()}
    for name, value in secrets.items():  # as SASL sends it
        for user in ("ann@agency.test", "assistant@agency.test"):
            sasl = f"user={user}\x01auth=Bearer {value}\x01\x01".encode()
            forms[f"{name} (XOAUTH2 of {user})"] = base64.b64encode(sasl)
    return [f"{form} in {where}" for form, value in forms.items()
            for where, text in haystacks.items() if value in text]


def approve_when_asked(server: AuthorizationServerForTests, user: str) -> threading.Thread:
    """The person: when a device code is issued, they open the page and allow access."""

    def play() -> None:
        wait_until(lambda: bool(server.state.devices), "a device code")
        (grant,) = server.state.devices.values()
        server.approve(grant["user_code"], user)

    thread = threading.Thread(target=play, daemon=True)
    thread.start()
    return thread


class ServerLogs:
    """What Dovecot and Postfix log from now on (which SASL mechanism each login used)."""

    def __init__(self, mailserver: Any) -> None:
        self.paths = [mailserver.data_dir / "log" / n for n in ("dovecot.log", "postfix.log")]
        self.start = [p.stat().st_size for p in self.paths]

    def text(self) -> str:
        return "".join(p.read_bytes()[start:].decode(errors="replace")
                       for p, start in zip(self.paths, self.start, strict=True))


def device_login(agency: Agency, server: AuthorizationServerForTests, account: str,
                 user: str) -> dict[str, Any]:
    """`auth login ACCOUNT` while the person allows access as `user`; the device grant."""
    server.state.devices.clear()
    person = approve_when_asked(server, user)
    assert agency.cli("auth", "login", account) == 0
    person.join(5)
    (grant,) = server.state.devices.values()
    return grant


def maria_waits(agency: Agency, server: AuthorizationServerForTests,
                deliver: Callable[..., None], message_id: str) -> tuple[Path, Path]:
    """Ann and SMTP signed in, the first sync done, and Maria's message in Ann's inbox; the
    two token files."""
    ann = sign_in_directly(agency, server, "ann", "ann")
    smtp = sign_in_directly(agency, server, "smtp", "assistant")
    assert agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0
    deliver("ann", client_mail(sender="maria@acme.test", message_id=message_id), FRIDAY_1605)
    return ann, smtp
