"""How an account signs in: a password (the default) or OAuth2, and where its tokens come from.

``auth = "oauth2"`` with an ``[….oauth2]`` table that names exactly one source of access
tokens: ``provider = "microsoft"`` (MSAL, device-code sign-in), ``"google"`` (google-auth,
loopback or pasted redirect), ``"generic"`` (any RFC 6749 token endpoint; device code per
RFC 8628), or ``token_command`` (a program such as oama or pizauth that prints one). The
provider's refresh token is kept in a file in the state directory (see `oauth_tokens`); the
configuration never holds a token, and a client secret only by reference, like a password.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, PrivateAttr, field_validator, model_validator

Auth = Literal["password", "oauth2"]
Provider = Literal["generic", "microsoft", "google"]
Mechanism = Literal["auto", "xoauth2", "oauthbearer"]

MICROSOFT_SCOPES = (
    "https://outlook.office.com/IMAP.AccessAsUser.All",
    "https://outlook.office.com/SMTP.Send",
    "offline_access",
)
GOOGLE_SCOPES = ("https://mail.google.com/",)
GOOGLE_TOKEN_ENDPOINT = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _endpoint(value: str | None) -> str | None:
    """An endpoint gets tokens and secrets: https, or plain http only on this machine."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return value
    raise ValueError(
        f"{value!r} is not an https:// URL; token endpoints must use https (plain http only"
        " on 127.0.0.1 / localhost)"
    )


class OAuth2Config(BaseModel):
    """Where an account's OAuth2 access tokens come from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: Provider | None = None
    token_command: list[str] | None = None
    client_id: str | None = None
    # The client secret, by reference like a password (Microsoft public clients have none).
    client_secret_env: str | None = None
    client_secret_file: Path | None = None
    scopes: list[str] | None = None  # default: the provider's scopes for IMAP and SMTP
    tenant: str = "organizations"  # microsoft: your tenant's id or domain, or "organizations"
    # microsoft: the sign-in authority when it is not https://login.microsoftonline.com/TENANT
    # (a national cloud such as https://login.microsoftonline.us/TENANT); trusted as given.
    authority: str | None = None
    # The person who signs in, when it is not the account's username: for a Microsoft shared
    # mailbox, a member's address (the shared mailbox's address stays the username).
    login_user: str | None = None
    token_endpoint: str | None = None  # generic (google: Google's own)
    device_authorization_endpoint: str | None = None  # generic: for `auth login`
    # SASL mechanism: "auto" takes OAUTHBEARER (RFC 7628) when the server offers it, else
    # XOAUTH2; name one for a server that offers both but handles only one well.
    mechanism: Mechanism = "auto"

    # The state directory, told by `Config` once the whole file is read (token files live there).
    _state_dir: Path | None = PrivateAttr(default=None)

    _urls = field_validator("token_endpoint", "device_authorization_endpoint", "authority")(
        _endpoint)

    @model_validator(mode="after")
    def _one_source(self) -> OAuth2Config:
        if (self.provider is None) == (self.token_command is None):
            raise ValueError(
                "name exactly one source of tokens: provider = \"microsoft\" | \"google\" |"
                " \"generic\", or token_command = [\"program\", \"arg\"]"
            )
        if self.token_command is not None:
            if not self.token_command:
                raise ValueError("token_command is empty; name a program to run")
            return self
        if not self.client_id:
            raise ValueError(f"provider {self.provider!r} needs client_id (your app registration)")
        if self.client_secret_env is not None and self.client_secret_file is not None:
            raise ValueError("set one of client_secret_env and client_secret_file, not both")
        if self.provider == "generic" and not self.token_endpoint:
            raise ValueError("provider \"generic\" needs token_endpoint (https://…/token)")
        if self.provider == "microsoft" and not re.fullmatch(r"[A-Za-z0-9.-]+", self.tenant):
            raise ValueError(f"tenant {self.tenant!r} is not a tenant id or domain")
        return self

    @property
    def wanted_scopes(self) -> tuple[str, ...]:
        if self.scopes is not None:
            return tuple(self.scopes)
        if self.provider == "microsoft":
            return MICROSOFT_SCOPES
        if self.provider == "google":
            return GOOGLE_SCOPES
        return ()

    @property
    def state_dir(self) -> Path | None:
        return self._state_dir

    def bind_state_dir(self, state_dir: Path) -> None:
        self._state_dir = state_dir

    def token_file_name(self, username: str) -> str:
        """One file per person and app registration: IMAP and SMTP of the same sign-in share
        it, so one `auth login` serves both."""
        user = (self.login_user or username).lower()
        identity = "|".join([str(self.provider), self.tenant, self.authority or "",
                             self.token_endpoint or "",
                             self.client_id or "", " ".join(self.wanted_scopes), user])
        slug = re.sub(r"[^a-z0-9.@_-]+", "_", user)
        return f"{slug}-{hashlib.sha256(identity.encode()).hexdigest()[:10]}.json"


class _SignsIn(Protocol):
    username: str | None
    auth: Auth
    oauth2: OAuth2Config | None


def check_sign_in(account: _SignsIn, password_sources: list[str]) -> None:
    """The rules between `auth`, the `oauth2` table, the username and the password source."""
    if account.auth == "password":
        if account.oauth2 is not None:
            raise ValueError("an oauth2 table is set but auth is \"password\"; set"
                             " auth = \"oauth2\" or remove the table")
        return
    if account.oauth2 is None:
        raise ValueError("auth = \"oauth2\" needs an oauth2 table saying where tokens come from"
                         " (provider = … or token_command = […])")
    if password_sources:
        raise ValueError(f"auth = \"oauth2\" signs in with tokens; remove {password_sources[0]}")
    if not account.username:
        raise ValueError("auth = \"oauth2\" needs username (the mailbox's address)")
