"""A local OAuth2 authorization server for the tests, built from Authlib's server components.

Flask hosts Authlib's `AuthorizationServer` on 127.0.0.1 (a free port) with the grants and
endpoints boundary-mail and Dovecot need: device authorization (RFC 8628) and its
device-code grant, the authorization-code grant with PKCE (RFC 6749 §4.1, RFC 7636; Google's
flow), the refresh-token grant (RFC 6749 §6), and token introspection (RFC 7662),
which Dovecot's oauth2 passdb asks about every token it is shown. Only the models (clients,
tokens, device codes, the user's approval) are ours, in memory; the protocol is Authlib's.

A test plays the user (`approve`), and the provider's side of trouble: an access token that
expires early (`expire_access_tokens`) and a refresh token that is revoked (`revoke`).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc8628 import (
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialDict,
)
from flask import Flask, request
from werkzeug.serving import make_server

CLIENT_ID = "boundary-mail-test"
PUBLIC_CLIENT_ID = "boundary-mail-public"  # no secret, as Microsoft's public clients
DOVECOT_ID = "dovecot"
DEVICE_GRANT = DeviceCodeGrant.GRANT_TYPE
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
MSAL_TENANT = "msal"  # MSAL's authority: https://127.0.0.1:PORT/msal


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    client_secret: str = field(repr=False)
    grant_types: tuple[str, ...] = ()

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return "http://127.0.0.1:1/"

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.startswith("http://127.0.0.1:")  # loopback (RFC 8252 §7.3)

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if not self.client_secret:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


@dataclass
class Token(TokenMixin):  # type: ignore[misc]
    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str | None
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    code_challenge: str | None
    code_challenge_method: str | None

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass
class State:
    """Everything the server knows, shared by its handlers (under one lock)."""

    clients: dict[str, Client]
    tokens: list[Token] = field(default_factory=list)
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # device_code → data
    approvals: dict[str, str] = field(default_factory=dict)  # user_code → user
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)  # authorization codes
    device_codes_issued: list[str] = field(default_factory=list)
    codes_issued: list[str] = field(default_factory=list)  # authorization codes
    token_requests: list[str] = field(default_factory=list)  # grant types, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def by_access(self, value: str) -> Token | None:
        return next((t for t in self.tokens if t.access_token == value), None)

    def by_refresh(self, value: str) -> Token | None:
        return next((t for t in self.tokens if t.refresh_token == value), None)


def build_app(state: State, lifetime: int) -> Flask:
    app = Flask("test-authorization-server")
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {DEVICE_GRANT: lifetime, "refresh_token": lifetime}
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True

    def save_token(data: dict[str, Any], req: Any) -> None:
        with state.lock:
            state.tokens.append(Token(
                client_id=req.client.client_id, user=req.user, scope=data.get("scope", ""),
                access_token=data["access_token"], refresh_token=data.get("refresh_token"),
                issued_at=time.time(), expires_in=int(data["expires_in"]),
            ))

    server = AuthorizationServer(app, query_client=state.clients.get, save_token=save_token)

    class WithIdToken:
        """Token answers carry an OpenID id_token and client_info, as Microsoft's do (MSAL
        reads who signed in from them; it does not check their signature)."""

        request: Any

        def generate_token(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
            token: dict[str, Any] = super().generate_token(*args, **kwargs)  # type: ignore[misc]
            user = kwargs.get("user") or self.request.user
            claims = {"iss": request.host_url + MSAL_TENANT, "sub": user, "oid": user,
                      "aud": self.request.client.client_id, "iat": int(time.time()),
                      "exp": int(time.time()) + 3600,
                      "preferred_username": f"{user}@agency.test"}
            token["id_token"] = _jwt(claims)
            token["client_info"] = _b64(json.dumps({"uid": user, "utid": MSAL_TENANT}))
            return token

    class DeviceEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = AUTH_METHODS
        INTERVAL = 1

        def get_verification_uri(self) -> str:
            return request.host_url + "device"

        def save_device_credential(self, client_id: str, scope: str, data: dict[str, Any]
                                   ) -> None:
            with state.lock:
                state.devices[data["device_code"]] = {
                    "client_id": client_id, "scope": scope, **data, "issued": time.time()}
                state.device_codes_issued.append(data["device_code"])

    class DeviceGrant(WithIdToken, DeviceCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

        def query_device_credential(self, device_code: str) -> Any:
            with state.lock:
                data = state.devices.get(device_code)
            if data is None:
                return None
            credential = DeviceCredentialDict(data)
            credential.is_expired = lambda: time.time() > data["issued"] + data["expires_in"]
            return credential

        def query_user_grant(self, user_code: str) -> tuple[str, bool] | None:
            with state.lock:
                user = state.approvals.get(user_code)
            return None if user is None else (user, True)

        def should_slow_down(self, credential: Any) -> bool:
            return False

    class RefreshGrant(WithIdToken, grants.RefreshTokenGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
        INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: each refresh token is used once

        def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
            with state.lock:
                token = state.by_refresh(refresh_token)
            return token if token is not None and not token.revoked else None

        def authenticate_user(self, credential: Token) -> str:
            return credential.user

        def revoke_old_credential(self, credential: Token) -> None:
            with state.lock:
                credential.revoked = True

    class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
        CLIENT_AUTH_METHODS = ["client_secret_basic"]  # noqa: RUF012

        def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
            with state.lock:
                return state.by_access(token_string)

        def introspect_token(self, token: Token) -> dict[str, Any]:
            return {"active": True, "client_id": token.client_id, "token_type": "Bearer",
                    "username": token.user, "scope": token.scope,
                    "exp": int(token.issued_at + token.expires_in)}

        def check_permission(self, token: Token, client: Client, req: Any) -> bool:
            return client.client_id == DOVECOT_ID

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

        def save_authorization_code(self, code: str, req: Any) -> None:
            data = req.payload.data
            with state.lock:
                state.codes_issued.append(code)
                state.codes[code] = AuthorizationCode(
                    code, req.client.client_id, data.get("redirect_uri", ""),
                    data.get("scope", ""), req.user, data.get("code_challenge"),
                    data.get("code_challenge_method"))

        def query_authorization_code(self, code: str, client: Client) -> Any:
            with state.lock:
                found = state.codes.get(code)
            return found if found is not None and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
            with state.lock:
                state.codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
            return authorization_code.user

    server.register_grant(CodeGrant, [CodeChallenge(required=False)])
    server.register_grant(DeviceGrant)
    server.register_grant(RefreshGrant)
    server.register_endpoint(DeviceEndpoint)
    server.register_endpoint(Introspection)

    @app.get("/authorize")
    def authorize() -> Any:
        """The person signs in (as the login_hint's user) and allows access at once."""
        user = request.args.get("login_hint", "").partition("@")[0]
        grant = server.get_consent_grant(end_user=user or None)
        return server.create_authorization_response(grant=grant, grant_user=user or None)

    @app.post("/device_authorization")
    def device_authorization() -> Any:
        return server.create_endpoint_response(DeviceEndpoint.ENDPOINT_NAME)

    @app.post("/token")
    def token() -> Any:
        with state.lock:
            state.token_requests.append(request.form.get("grant_type", ""))
        return server.create_token_response()

    @app.post("/introspect")
    def introspect() -> Any:
        return server.create_endpoint_response(Introspection.ENDPOINT_NAME)

    @app.get(f"/{MSAL_TENANT}/v2.0/.well-known/openid-configuration")
    def discovery() -> Any:
        """OpenID discovery, where MSAL looks for a tenant's endpoints."""
        base = request.host_url
        return {"issuer": base + MSAL_TENANT, "token_endpoint": base + "token",
                "authorization_endpoint": base + "authorize",
                "device_authorization_endpoint": base + "device_authorization"}

    return app


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (alg none): only ever decoded, never verified, by the client."""
    return f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}))}.{_b64(json.dumps(claims))}."


class AuthorizationServerForTests:
    """The running server, with what a test does as the user or the provider. With `tls`
    (certificate and key files), the same server also answers over HTTPS at `tls_url` (MSAL
    accepts nothing else)."""

    def __init__(self, lifetime: int = 3600, tls: tuple[Path, Path] | None = None) -> None:
        self.client_secret = secrets.token_urlsafe(24)
        self.dovecot_secret = secrets.token_urlsafe(24)
        self.state = State(clients={
            CLIENT_ID: Client(CLIENT_ID, self.client_secret,
                              (DEVICE_GRANT, "refresh_token", "authorization_code")),
            PUBLIC_CLIENT_ID: Client(PUBLIC_CLIENT_ID, "", (DEVICE_GRANT, "refresh_token")),
            DOVECOT_ID: Client(DOVECOT_ID, self.dovecot_secret, ()),
        })
        app = build_app(self.state, lifetime)
        self._servers = [make_server("127.0.0.1", 0, app, threaded=True)]
        self.port = self._servers[0].server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.tls_url = ""
        if tls is not None:
            self._servers.append(make_server("127.0.0.1", 0, app, threaded=True,
                                             ssl_context=(str(tls[0]), str(tls[1]))))
            self.tls_url = f"https://127.0.0.1:{self._servers[1].server_port}"
        self._threads = [threading.Thread(target=s.serve_forever, daemon=True)
                         for s in self._servers]

    @property
    def token_endpoint(self) -> str:
        return f"{self.url}/token"

    @property
    def device_endpoint(self) -> str:
        return f"{self.url}/device_authorization"

    @property
    def introspection_url(self) -> str:
        """For Dovecot: the client's credentials in the URL (HTTP basic authentication)."""
        return f"http://{DOVECOT_ID}:{self.dovecot_secret}@127.0.0.1:{self.port}/introspect"

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        for server, thread in zip(self._servers, self._threads, strict=True):
            server.shutdown()
            server.server_close()
            thread.join(5)

    # -- the user and the provider -------------------------------------------------------
    def approve(self, user_code: str, user: str) -> None:
        """The user signs in at the verification URI and allows access."""
        with self.state.lock:
            self.state.approvals[user_code] = user

    def issue(self, user: str, scope: str = "mail") -> Token:
        """A token pair as if `user` had signed in (for tests that do not run the login)."""
        token = Token(CLIENT_ID, user, scope, secrets.token_urlsafe(32),
                      secrets.token_urlsafe(32), time.time(), 3600)
        with self.state.lock:
            self.state.tokens.append(token)
        return token

    def expire_access_tokens(self, user: str) -> None:
        """Every access token of `user` expires now (refresh tokens stay good)."""
        with self.state.lock:
            for token in self.state.tokens:
                if token.user == user:
                    token.expires_in = 0

    def revoke(self, user: str) -> None:
        """The user (or an admin) revokes the sign-in: every token of `user` dies."""
        with self.state.lock:
            for token in self.state.tokens:
                if token.user == user:
                    token.revoked = True
                    token.expires_in = 0


@contextmanager
def running_authorization_server(
    lifetime: int = 3600, tls: tuple[Path, Path] | None = None
) -> Iterator[AuthorizationServerForTests]:
    server = AuthorizationServerForTests(lifetime, tls)
    server.start()
    try:
        yield server
    finally:
        server.stop()
