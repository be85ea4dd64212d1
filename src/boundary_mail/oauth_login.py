"""Signing in once, interactively, so that boundary-mail holds a refresh token.

Each provider's flow that works on a server without a browser:

- generic: the device authorization grant (RFC 8628) with Authlib's OAuth2 client: the
  person opens the verification address on any device and types the code shown; we poll the
  token endpoint until they have allowed access.
- microsoft: the same device-code flow, run by MSAL (`initiate_device_flow`,
  `acquire_token_by_device_flow`); MSAL's serialized token cache is what we keep.
- google: Google has no device flow for the mail scope, so the authorization-code flow with a
  loopback redirect (google-auth-oauthlib): either a local server on this machine (reach it
  through an SSH tunnel), or the person pastes the address the browser ends on.

The tokens go to the token file (`oauth_tokens`), never to the terminal or a log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC
from typing import Any

from boundary_mail import oauth_tokens
from boundary_mail.config_auth import GOOGLE_TOKEN_ENDPOINT, OAuth2Config
from boundary_mail.errors import UserError
from boundary_mail.oauth_providers import (
    client_secret,
    generic_session,
    msal_app,
    msal_scopes,
    store_response,
)
from boundary_mail.oauth_tokens import TokenRecord

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GOOGLE_AUTH_URI = "https://accounts.google.com/o/oauth2/auth"
PASTE_REDIRECT = "http://127.0.0.1:1/"  # nothing listens: the browser shows an error page

Say = Callable[[str], None]
Ask = Callable[[str], str]


def sign_in(oauth: OAuth2Config, user: str, where: str, *, say: Say, ask: Ask,
            local_port: int | None = None) -> TokenRecord:
    """Run the provider's flow and return the new record (not yet saved)."""
    if oauth.provider == "generic":
        return _generic_device_flow(oauth, user, where, say)
    if oauth.provider == "microsoft":
        return _microsoft_device_flow(oauth, user, say)
    if oauth.provider == "google":
        return _google_flow(oauth, user, where, say, ask, local_port)
    raise UserError(f"{where} takes its tokens from token_command; sign in with that program")


def _generic_device_flow(oauth: OAuth2Config, user: str, where: str, say: Say) -> TokenRecord:
    import requests
    from authlib.integrations.base_client.errors import OAuthError

    if not oauth.device_authorization_endpoint:
        raise UserError(f"{where}: set oauth2.device_authorization_endpoint (the provider's"
                        " RFC 8628 device authorization URL) to sign in from a server")
    session = generic_session(oauth, where)
    try:
        answer = session.post(
            oauth.device_authorization_endpoint, withhold_token=True,
            data={"scope": " ".join(oauth.wanted_scopes)} if oauth.wanted_scopes else {},
            auth=session.client_auth(session.token_endpoint_auth_method),
        )
        grant = answer.json()
        if "device_code" not in grant:
            raise UserError(f"{where}: the provider did not start the sign-in"
                            f" ({grant.get('error', answer.status_code)}); check client_id,"
                            " the client secret and scopes")
        say(f"To let boundary-mail read and send mail as {user}: open"
            f" {grant.get('verification_uri') or grant.get('verification_url')} on any device"
            f" and enter the code {grant['user_code']}"
            f" (valid {int(grant.get('expires_in', 600)) // 60} minutes). Waiting…")
        interval = float(grant.get("interval", 5))
        deadline = time.monotonic() + float(grant.get("expires_in", 600))
        while time.monotonic() < deadline:
            time.sleep(interval)
            try:
                token = session.fetch_token(oauth.token_endpoint, grant_type=DEVICE_CODE_GRANT,
                                            device_code=grant["device_code"])
            except OAuthError as exc:
                if exc.error == "authorization_pending":
                    continue
                if exc.error == "slow_down":
                    interval += 5
                    continue
                raise UserError(f"{where}: the sign-in was not completed ({exc.error});"
                                " run `boundary-mail auth login` again") from None
            record = TokenRecord(provider="generic", user=user)
            store_response(record, token)
            return record
    except (requests.RequestException, ValueError) as exc:
        raise UserError(f"{where}: the provider could not be reached ({type(exc).__name__});"
                        " check the endpoints and the network") from None
    finally:
        session.close()
    raise UserError(f"{where}: the code expired before access was allowed; run"
                    " `boundary-mail auth login` again")


def _microsoft_device_flow(oauth: OAuth2Config, user: str, say: Say) -> TokenRecord:
    import msal

    cache = msal.SerializableTokenCache()
    app = msal_app(oauth, cache)
    flow = app.initiate_device_flow(scopes=msal_scopes(oauth))
    if "user_code" not in flow:
        raise UserError(f"Microsoft did not start the sign-in ({flow.get('error')}:"
                        f" {flow.get('error_description', '')[:200]})")
    say(f"Sign in as {user}. " + (flow.get("message") or (  # Microsoft's own wording
        f"Open {flow.get('verification_uri')} and enter the code {flow['user_code']}.")))
    result = app.acquire_token_by_device_flow(flow)
    return microsoft_record(result, cache, user)


def microsoft_record(result: dict[str, Any], cache: Any, user: str) -> TokenRecord:
    """The record from MSAL's answer: the cache (with the refresh token) and who signed in."""
    if "access_token" not in result:
        raise UserError(f"the Microsoft sign-in failed ({result.get('error')}:"
                        f" {str(result.get('error_description', ''))[:200]})")
    signed_in = str(result.get("id_token_claims", {}).get("preferred_username") or user)
    record = TokenRecord(provider="microsoft", user=signed_in.lower(),
                         extra={"msal_cache": cache.serialize()})
    store_response(record, {"access_token": result["access_token"],
                            "expires_in": result.get("expires_in", 3600)})
    return record


def google_client_config(oauth: OAuth2Config, secret: str | None) -> dict[str, Any]:
    return {"installed": {
        "client_id": oauth.client_id, "client_secret": secret, "auth_uri": GOOGLE_AUTH_URI,
        "token_uri": oauth.token_endpoint or GOOGLE_TOKEN_ENDPOINT,
        "redirect_uris": ["http://127.0.0.1"],
    }}


def _google_flow(oauth: OAuth2Config, user: str, where: str, say: Say, ask: Ask,
                 local_port: int | None) -> TokenRecord:
    from google_auth_oauthlib.flow import InstalledAppFlow

    flow = InstalledAppFlow.from_client_config(
        google_client_config(oauth, client_secret(oauth, where)), list(oauth.wanted_scopes))
    options = {"access_type": "offline", "prompt": "consent", "login_hint": user}
    if local_port is not None:
        credentials = flow.run_local_server(
            host="127.0.0.1", port=local_port, open_browser=False,
            authorization_prompt_message=(
                f"Open this address in a browser that reaches 127.0.0.1:{local_port} here (e.g."
                f" through `ssh -L {local_port}:127.0.0.1:{local_port} this-server`) and sign in"
                f" as {user}:\n{{url}}"),
            success_message="boundary-mail is signed in; you can close this tab.", **options)
    else:
        flow.redirect_uri = PASTE_REDIRECT
        url, _state = flow.authorization_url(**options)
        say(f"Open this address in any browser and sign in as {user}:\n{url}\nAfter you allow"
            " access the browser shows an error page at 127.0.0.1: that is expected.")
        pasted = ask("Paste the full address from the browser's address bar: ").strip()
        if "code=" not in pasted:
            raise UserError(f"{where}: that address carries no code; run `boundary-mail auth"
                            " login` again and paste the address the browser ends on")
        # oauthlib wants https; the redirect was only ever on this machine's loopback.
        flow.fetch_token(authorization_response=pasted.replace("http://", "https://", 1))
        credentials = flow.credentials
    record = TokenRecord(provider="google", user=user, refresh_token=credentials.refresh_token,
                         access_token=credentials.token)
    if credentials.expiry is not None:  # naive, in UTC
        record.expires_at = credentials.expiry.replace(tzinfo=UTC).timestamp()
    return record


def save_sign_in(oauth: OAuth2Config, username: str, record: TokenRecord) -> str:
    """Store the new sign-in; the token file's path, to tell the person."""
    assert oauth.state_dir is not None
    path = oauth_tokens.token_path(oauth.state_dir, oauth.token_file_name(username))
    record.signed_in_at = time.time()
    with oauth_tokens.locked(path):
        oauth_tokens.save(path, record)
    return str(path)
