"""Each account's way of signing in, in words: for `auth status` and `status`.

Reads the token files (`oauth_tokens`) for when the access token expires and when it was last
refreshed; never shows a token.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from boundary_mail import oauth_tokens
from boundary_mail.config import Config
from boundary_mail.errors import UserError


def accounts(config: Config) -> list[tuple[str, Any]]:
    return [*((f"mailbox {m.name!r}", m) for m in config.mailboxes), ("smtp", config.smtp)]


def account_named(config: Config, wanted: str) -> tuple[str, Any]:
    if wanted == "smtp":
        return "smtp", config.smtp
    for mailbox in config.mailboxes:
        if mailbox.name == wanted:
            return f"mailbox {mailbox.name!r}", mailbox
    names = ", ".join([*(m.name for m in config.mailboxes), "smtp"])
    raise UserError(f"no account named {wanted!r}; use one of {names}")


def sign_in_lines(config: Config, *, oauth2_only: bool = False) -> list[str]:
    """One line per account: password, token command, or OAuth2 sign-in and its tokens."""
    def when(seconds: float | None) -> str:
        if seconds is None:
            return "never"
        return f"{datetime.fromtimestamp(seconds, config.tz):%Y-%m-%d %H:%M %Z}"

    lines = []
    for name, account in accounts(config):
        oauth = account.oauth2
        if oauth is None and oauth2_only:
            continue
        if oauth is None:
            lines.append(f"{name}: password" + ("" if account.username else " (no login)"))
            continue
        if oauth.token_command is not None:
            lines.append(f"{name}: oauth2, tokens from command {oauth.token_command[0]!r}")
            continue
        path = oauth_tokens.token_path(config.state_dir, oauth.token_file_name(account.username))
        try:
            record = oauth_tokens.load(path)
        except UserError as exc:
            lines.append(f"{name}: oauth2 {oauth.provider}: {exc}")
            continue
        key = name if name == "smtp" else account.name
        if record is None:
            lines.append(f"{name}: oauth2 {oauth.provider}, not signed in; run `boundary-mail"
                         f" auth login {key}`")
            continue
        expiry = (f"access token valid until {when(record.expires_at)}"
                  if (record.expires_at or 0) > time.time() else
                  f"access token expired {when(record.expires_at)} (renewed at the next login)")
        lines.append(
            f"{name}: oauth2 {oauth.provider} as {record.user}, signed in"
            f" {when(record.signed_in_at)}; {expiry}, last refreshed"
            f" {when(record.last_refresh_at)}; token file {path}"
        )
    return lines
