"""Signing in over IMAP and SMTP: a password, or an OAuth2 access token (XOAUTH2/OAUTHBEARER).

An account's `Secret` is its password, None (no login), or its `AccessTokens`. With tokens the
mechanism is chosen from what the server advertises (IMAP CAPABILITY ``AUTH=…``, the SMTP
EHLO ``AUTH`` line): OAUTHBEARER (RFC 7628) when offered, else XOAUTH2 (Google's and
Microsoft's), unless the account's `mechanism` names one. A refused token is replaced once
(`AccessTokens.get(rejected=…)`: the provider refreshes it) and tried again on the same
connection; a second refusal is the login's failure. The SASL strings are built by the
libraries (imapclient's `oauth2_login`/`oauthbearer_login`, aiosmtplib's `auth_xoauth2`)
except OAUTHBEARER for SMTP, which aiosmtplib lacks: it goes through its documented
`execute_command`. Nothing here logs or raises with a token in it.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "AccessTokens", "NoOAuthMechanism", "Secret", "choose_mechanism", "imap_login",
    "oauthbearer_response", "smtp_login", "with_token",
]


@runtime_checkable
class AccessTokens(Protocol):
    """A source of current OAuth2 access tokens for one account."""

    user: str  # the SASL user: the mailbox's address

    def get(self, *, rejected: str | None = None) -> str:
        """A current access token; with `rejected`, one other than that (refresh once)."""
        ...


Secret = str | AccessTokens | None


class NoOAuthMechanism(Exception):
    """The server offers neither XOAUTH2 nor OAUTHBEARER (or not the one configured)."""

    def __init__(self, offered: Iterable[str]) -> None:
        self.offered = sorted(offered)
        super().__init__(", ".join(self.offered) or "none")

    @property
    def fix(self) -> str:
        return (f"the server offers no OAuth2 login that can be used (it offers"
                f" {', '.join(self.offered) or 'no AUTH mechanism'}); use auth = \"password\","
                " or set oauth2.mechanism to one it offers")


def refused_login(username: str | None, secret: Secret) -> str:
    """What a refused login means, and what to check."""
    if isinstance(secret, AccessTokens):
        return (f"login as {username!r} with an OAuth2 access token was refused (a freshly"
                " refreshed one too); check that the username is the mailbox's address and"
                " that the sign-in's scopes allow IMAP and SMTP")
    return (f"login as {username!r} was refused; check the username and the password"
            " source")


def choose_mechanism(offered: Iterable[str], wanted: str = "auto") -> str:
    """"OAUTHBEARER" or "XOAUTH2" from the mechanisms a server offers (any case)."""
    names = {m.upper() for m in offered}
    if wanted != "auto":
        if wanted.upper() in names:
            return wanted.upper()
        raise NoOAuthMechanism(names)
    for mechanism in ("OAUTHBEARER", "XOAUTH2"):
        if mechanism in names:
            return mechanism
    raise NoOAuthMechanism(names)


def oauthbearer_response(user: str, token: str) -> str:
    """The RFC 7628 §3.1 initial client response, base64 (as SMTP AUTH sends it)."""
    authzid = user.replace("=", "=3D").replace(",", "=2C")
    raw = f"n,a={authzid},\x01auth=Bearer {token}\x01\x01"
    return base64.b64encode(raw.encode()).decode("ascii")


def with_token(tokens: AccessTokens, login: Callable[[str], bool]) -> bool:
    """Log in with a current token; if the server refuses it, once more with a new one.
    `login` returns False when the server refused the token (other failures raise)."""
    token = tokens.get()
    if login(token):
        return True
    return login(tokens.get(rejected=token))


async def with_token_async(
    tokens: AccessTokens, login: Callable[[str], Awaitable[bool]],
    get: Callable[[str | None], Awaitable[str]],
) -> bool:
    """`with_token` for asyncio: `get(rejected)` fetches a token off the event loop."""
    token = await get(None)
    if await login(token):
        return True
    return await login(await get(token))


# -- IMAP (imapclient, blocking) ----------------------------------------------------------------


def imap_login(client: Any, username: str, secret: Secret, mechanism: str = "auto") -> None:
    """LOGIN with a password, or AUTHENTICATE with a token; raise imapclient's LoginError
    when refused, NoOAuthMechanism when the server offers no way to use the token."""
    from imapclient.exceptions import LoginError

    if not isinstance(secret, AccessTokens):
        client.login(username, secret or "")
        return
    tokens = secret
    offered = [c.decode("ascii", "replace")[5:] for c in client.capabilities()
               if c.upper().startswith(b"AUTH=")]
    chosen = choose_mechanism(offered, mechanism)

    def attempt(token: str) -> bool:
        try:
            if chosen == "OAUTHBEARER":
                client.oauthbearer_login(tokens.user, token)
            else:
                client.oauth2_login(tokens.user, token)
        except LoginError:
            return False
        return True

    if not with_token(tokens, attempt):
        raise LoginError(f"{chosen} refused")


# -- SMTP (aiosmtplib) ----------------------------------------------------------------------------


async def smtp_login(client: Any, username: str, secret: Secret, mechanism: str = "auto") -> None:
    """AUTH with a password (aiosmtplib's choice of mechanism), or with a token; raise
    aiosmtplib's SMTPAuthenticationError when refused (4xx: try later)."""
    import asyncio

    import aiosmtplib

    if not isinstance(secret, AccessTokens):
        await client.login(username, secret or "")
        return
    tokens = secret
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    chosen = choose_mechanism(client.server_auth_methods, mechanism)
    last: list[aiosmtplib.SMTPAuthenticationError] = []

    async def attempt(token: str) -> bool:
        try:
            if chosen == "XOAUTH2":
                await client.auth_xoauth2(tokens.user, token)
            else:
                await _auth_oauthbearer(client, tokens.user, token)
        except aiosmtplib.SMTPAuthenticationError as exc:
            if 400 <= exc.code < 500:
                raise  # the server's own trouble, not the token's
            last.append(exc)
            return False
        return True

    async def get(rejected: str | None) -> str:
        return await asyncio.to_thread(tokens.get, rejected=rejected)

    if not await with_token_async(tokens, attempt, get):
        raise last[-1]


async def _auth_oauthbearer(client: Any, user: str, token: str) -> None:
    """AUTH OAUTHBEARER: on failure the server sends an error challenge (334), answered with
    %x01 to get the final reply (RFC 7628 §3.2.3)."""
    import aiosmtplib

    response = await client.execute_command(
        b"AUTH", b"OAUTHBEARER", oauthbearer_response(user, token).encode("ascii"))
    if response.code == 334:
        response = await client.execute_command(base64.b64encode(b"\x01"))
    if response.code != 235:
        raise aiosmtplib.SMTPAuthenticationError(response.code, response.message)
