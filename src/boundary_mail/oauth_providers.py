"""Access tokens for an account with auth = "oauth2", from its provider or its command.

`token_source(account, where, name)` gives the account's `AccessTokens`: `get()` returns a current
access token, refreshed from the stored refresh token when it expires within REFRESH_MARGIN;
`get(rejected=token)` after the server refused `token` refreshes once (unless another
process or thread already did). Refreshing is the provider's library's work: Authlib's
OAuth2 client for a generic RFC 6749 token endpoint, MSAL's token cache for Microsoft,
google-auth's Credentials for Google. A `token_command` is simply run again.

A refresh token the provider no longer accepts (revoked, expired, password changed) raises
`SignInExpired`, whose message says to run `boundary-mail auth login` again; a provider that
cannot be reached raises `ConnectionTrouble` (try later). No message carries a token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from boundary_mail import oauth_tokens
from boundary_mail.config_auth import GOOGLE_TOKEN_ENDPOINT, OAuth2Config
from boundary_mail.errors import SecretUnavailable
from boundary_mail.net import ConnectionTrouble
from boundary_mail.oauth_tokens import TokenRecord
from boundary_mail.sasl import AccessTokens
from boundary_mail.secrets import from_command, secret_from

REFRESH_MARGIN_SECONDS = 300  # refresh a token that expires within five minutes
HTTP_TIMEOUT_SECONDS = 30
MSAL_RESERVED = frozenset({"offline_access", "openid", "profile"})  # MSAL adds these itself


class SignInExpired(SecretUnavailable):
    """The stored sign-in is gone or no longer accepted: a person must sign in again."""


def login_hint(account_name: str) -> str:
    return f"run `boundary-mail auth login {account_name}` to sign in again"


@dataclass(frozen=True, slots=True)
class Asking:
    """Who asks, for the wording of errors: "mailbox 'ann'", and how to sign in again."""

    where: str
    fix: str


Refresh = Callable[[TokenRecord, OAuth2Config, Asking], None]


@dataclass
class StoredTokens:
    """Tokens from the token file, refreshed by the provider's `refresh` when due."""

    user: str  # the SASL user: the mailbox's address (a shared mailbox's own address)
    path: Path
    oauth: OAuth2Config
    where: str
    account_name: str
    refresh: Refresh

    def get(self, *, rejected: str | None = None) -> str:
        with _thread_lock(self.path), oauth_tokens.locked(self.path):
            record = oauth_tokens.load(self.path)
            if record is None or not (record.refresh_token or record.extra):
                raise SignInExpired(
                    f"{self.where}: nobody has signed in for {self.oauth.login_user or self.user}"
                    f" yet; run `boundary-mail auth login {self.account_name}`"
                )
            current = record.access_token
            fresh_enough = (record.expires_at or 0) > time.time() + REFRESH_MARGIN_SECONDS
            if current and current != rejected and fresh_enough:
                return current  # good (another thread or process may have just replaced it)
            self.refresh(record, self.oauth, Asking(self.where, login_hint(self.account_name)))
            record.last_refresh_at = time.time()
            oauth_tokens.save(self.path, record)
            assert record.access_token is not None
            return record.access_token


@dataclass
class CommandTokens:
    """A program that prints a current access token (oama, pizauth, mutt_oauth2.py, …); it
    keeps and refreshes the tokens itself, so a refused token just means asking it again."""

    user: str
    command: list[str]
    where: str

    def get(self, *, rejected: str | None = None) -> str:
        return from_command(self.command, self.where, "token_command").strip()


_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    """Threads of one process take turns too (flock does not order them)."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(path, threading.Lock())


def token_source(account: Any, where: str, account_name: str) -> AccessTokens:
    """The access tokens of an account with auth = "oauth2"."""
    oauth: OAuth2Config = account.oauth2
    if oauth.token_command is not None:
        return CommandTokens(account.username, oauth.token_command, where)
    if oauth.state_dir is None:
        raise SecretUnavailable(f"{where}: no state directory is known for its token file")
    path = oauth_tokens.token_path(oauth.state_dir, oauth.token_file_name(account.username))
    refresh = {"generic": refresh_generic, "microsoft": refresh_microsoft,
               "google": refresh_google}[str(oauth.provider)]
    return StoredTokens(account.username, path, oauth, where, account_name, refresh)


def client_secret(oauth: OAuth2Config, where: str) -> str | None:
    return secret_from(env=oauth.client_secret_env, file=oauth.client_secret_file,
                       where=where, what="client secret")


# -- generic: Authlib's OAuth2 client ---------------------------------------------------------


def generic_session(oauth: OAuth2Config, where: str) -> Any:
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(oauth.client_id, client_secret(oauth, where),
                            scope=" ".join(oauth.wanted_scopes) or None)
    session.default_timeout = HTTP_TIMEOUT_SECONDS
    return session


def store_response(record: TokenRecord, token: dict[str, Any]) -> None:
    """Keep a token endpoint's answer (a rotated refresh token replaces the old one)."""
    record.access_token = str(token["access_token"])
    lifetime = token.get("expires_in")
    record.expires_at = time.time() + float(lifetime) if lifetime else token.get("expires_at")
    if token.get("refresh_token"):
        record.refresh_token = str(token["refresh_token"])


def refresh_generic(record: TokenRecord, oauth: OAuth2Config, asking: Asking) -> None:
    import requests
    from authlib.integrations.base_client.errors import OAuthError

    session = generic_session(oauth, asking.where)
    try:
        token = session.refresh_token(oauth.token_endpoint, refresh_token=record.refresh_token)
    except OAuthError as exc:
        raise _refused(str(exc.error), asking) from None
    except (requests.RequestException, ValueError) as exc:
        raise _unreachable(oauth.token_endpoint, exc, asking) from None
    finally:
        session.close()
    store_response(record, token)


def _refused(error: str, asking: Asking) -> SecretUnavailable:
    where, fix = asking.where, asking.fix
    if error in ("invalid_grant", "invalid_token", "interaction_required", "access_denied"):
        return SignInExpired(
            f"{where}: the provider no longer accepts the stored sign-in ({error}: revoked,"
            f" expired or the password changed); {fix}"
        )
    return SecretUnavailable(
        f"{where}: the provider refused to refresh the access token ({error}); check client_id,"
        f" the client secret and scopes, then {fix}"
    )


def _unreachable(endpoint: str | None, exc: Exception, asking: Asking) -> ConnectionTrouble:
    return ConnectionTrouble(
        f"{asking.where}: the token endpoint {endpoint} could not be reached"
        f" ({type(exc).__name__}); will try again"
    )


# -- Microsoft: MSAL ---------------------------------------------------------------------------


def msal_scopes(oauth: OAuth2Config) -> list[str]:
    """MSAL asks for offline_access (a refresh token) itself and refuses it when named."""
    return [s for s in oauth.wanted_scopes if s not in MSAL_RESERVED]


def msal_app(oauth: OAuth2Config, cache: Any) -> Any:
    import msal

    # A configured authority is the operator's word: MSAL's check of it against Microsoft's
    # list of clouds (a request to login.microsoftonline.com) is for the default only.
    return msal.PublicClientApplication(
        oauth.client_id,
        authority=oauth.authority or f"https://login.microsoftonline.com/{oauth.tenant}",
        instance_discovery=None if oauth.authority is None else False,
        token_cache=cache, timeout=HTTP_TIMEOUT_SECONDS,
    )


def refresh_microsoft(record: TokenRecord, oauth: OAuth2Config, asking: Asking,
                      make_app: Callable[[OAuth2Config, Any], Any] = msal_app) -> None:
    """MSAL's cache (in the token file) holds the refresh token; acquire_token_silent uses it."""
    import msal
    import requests

    cache = msal.SerializableTokenCache()
    if record.extra.get("msal_cache"):
        cache.deserialize(record.extra["msal_cache"])
    try:
        app = make_app(oauth, cache)
        accounts = app.get_accounts(username=record.user)
        result = (app.acquire_token_silent(msal_scopes(oauth), account=accounts[0],
                                           force_refresh=True) if accounts else None)
    except (requests.RequestException, ValueError) as exc:
        raise _unreachable("login.microsoftonline.com", exc, asking) from None
    if not result:
        raise _refused("invalid_grant", asking)
    if "access_token" not in result:
        raise _refused(str(result.get("error", "unknown_error")), asking)
    record.access_token = str(result["access_token"])
    record.expires_at = time.time() + float(result.get("expires_in", 3600))
    if cache.has_state_changed:
        record.extra["msal_cache"] = cache.serialize()


# -- Google: google-auth -----------------------------------------------------------------------


def refresh_google(record: TokenRecord, oauth: OAuth2Config, asking: Asking) -> None:
    from google.auth.exceptions import RefreshError, TransportError
    from google.auth.transport.requests import Request
    from google.oauth2.credentials import Credentials

    credentials = Credentials(  # type: ignore[no-untyped-call]
        token=None, refresh_token=record.refresh_token,
        token_uri=oauth.token_endpoint or GOOGLE_TOKEN_ENDPOINT, client_id=oauth.client_id,
        client_secret=client_secret(oauth, asking.where),
        scopes=list(oauth.wanted_scopes),
    )
    try:
        credentials.refresh(Request())  # type: ignore[no-untyped-call]
    except RefreshError as exc:
        answer = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
        raise _refused(str(answer.get("error", "invalid_grant")), asking) from None
    except TransportError as exc:
        raise _unreachable(credentials.token_uri, exc, asking) from None
    record.access_token = credentials.token
    expiry = credentials.expiry  # naive, in UTC
    record.expires_at = expiry.replace(tzinfo=UTC).timestamp() if expiry else None
    if credentials.refresh_token:
        record.refresh_token = credentials.refresh_token
