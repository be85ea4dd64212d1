"""Signing in with OAuth2 against the tests' local authorization server: the device code
(generic and, through MSAL itself, Microsoft), Google's pasted redirect (google-auth-oauthlib),
the token file, `auth status|logout`, `check-config --connect` and `status`."""

from __future__ import annotations

import http.client
import logging
import socket
import stat
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from boundary_mail import oauth_tokens
from tests.integration.agency import Agency
from tests.integration.oauth.helpers import (
    MONDAY_10,
    SECRET_ENV,
    answered_window,
    device_login,
    find_leaks,
    sign_in_directly,
    use_oauth2,
    wait_until,
)
from tests.oauth_server import (
    CLIENT_ID,
    MSAL_TENANT,
    PUBLIC_CLIENT_ID,
    AuthorizationServerForTests,
)


@pytest.mark.parametrize("client", ["confidential", "public"])
def test_auth_login_signs_in_with_a_device_code_and_keeps_the_refresh_token_private(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    capsys: pytest.CaptureFixture[str], client: str,
) -> None:
    """`auth login ann` shows where to go and the code to enter, waits for the person to allow
    access (RFC 8628), and keeps the tokens in a 0600 file in a 0700 directory of the state
    directory, saying where; `auth status` then shows the sign-in, expiry and last refresh.
    An app registration without a secret (a public client) signs in the same way."""
    if client == "public":
        table = oauth_agency.data["mailboxes"][0]["oauth2"]
        del table["client_secret_env"]
        table["client_id"] = PUBLIC_CLIENT_ID
        oauth_agency.write()
    grant = device_login(oauth_agency, authorization_server, "ann", "ann")
    out = capsys.readouterr().out
    assert f"{authorization_server.url}/device" in out
    assert grant["user_code"] in out
    (path,) = (oauth_agency.config.state_dir / "oauth2").glob("*.json")
    assert f"refresh token is kept in {path}" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    record = oauth_tokens.load(path)
    assert record is not None and record.refresh_token and record.access_token
    assert record.user == "ann@agency.test"

    assert oauth_agency.cli("auth", "status") == 0
    status = capsys.readouterr().out
    assert "mailbox 'ann': oauth2 generic as ann@agency.test, signed in 20" in status
    assert "access token valid until 20" in status and "last refreshed never" in status
    assert "smtp: oauth2 generic, not signed in; run `boundary-mail auth login smtp`" in status
    assert "mailbox 'bob': password" in status





def test_check_config_connect_and_status_understand_oauth2_accounts(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`check-config --connect` logs in with the tokens and says where they came from; an
    account nobody signed in yet fails with the command that fixes it. `status` shows each
    OAuth2 sign-in with its expiry."""
    sign_in_directly(oauth_agency, authorization_server, "ann", "ann")
    assert oauth_agency.cli("check-config", "--connect") == 1
    out = capsys.readouterr().out
    assert ("mailbox 'ann': ok — OAuth2 sign-in with provider generic, login as"
            " 'ann@agency.test', inbox 'INBOX' exists") in out
    assert ("smtp: FAILED — smtp: nobody has signed in for assistant@agency.test yet; run"
            " `boundary-mail auth login smtp`") in out
    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    assert oauth_agency.cli("check-config", "--connect") == 0
    assert oauth_agency.cli("status", "--now", MONDAY_10.isoformat()) == 0
    status = capsys.readouterr().out
    assert "sign-in: mailbox 'ann': oauth2 generic as ann@agency.test, signed in 20" in status
    assert "sign-in: mailbox 'bob'" not in status  # passwords are not listed


def test_the_microsoft_provider_signs_in_and_refreshes_through_msal(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:
    """MSAL itself runs the device-code sign-in and the refresh, against the local server
    standing in for login.microsoftonline.com (over HTTPS, with OpenID discovery, as a
    national cloud's authority is configured): MSAL's token cache is what the token file
    keeps, and a window reads Ann's mailbox with the token MSAL refreshed."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mailserver.ca_file))  # the test CA
    microsoft = {"provider": "microsoft", "client_id": PUBLIC_CLIENT_ID, "scopes": ["mail"],
                 "authority": f"{authorization_server.tls_url}/{MSAL_TENANT}"}
    use_oauth2(oauth_agency.data["mailboxes"][0], "ann", microsoft)
    oauth_agency.write()
    grant = device_login(oauth_agency, authorization_server, "ann", "ann")
    out = capsys.readouterr().out
    assert "signed in as ann@agency.test" in out
    assert grant["user_code"] in out and grant["client_id"] == PUBLIC_CLIENT_ID
    (path,) = (oauth_agency.config.state_dir / "oauth2").glob("ann*.json")
    record = oauth_tokens.load(path)
    assert record is not None and record.provider == "microsoft"
    assert record.refresh_token is None and "RefreshToken" in record.extra["msal_cache"]

    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    record.expires_at = time.time() - 60  # due: MSAL refreshes from its cache
    oauth_tokens.save(path, record)
    answered_window(oauth_agency, deliver, mailserver, "<oa-8@acme.test>")
    after = oauth_tokens.load(path)
    assert after is not None and after.access_token != record.access_token
    assert after.last_refresh_at is not None
    assert find_leaks(authorization_server, caplog, capsys.readouterr(), oauth_agency) == []


def browser(server: AuthorizationServerForTests, printed: str) -> str:
    """The person's browser on the consent address `auth login` printed (Google's page is the
    local server's /authorize here): where Google redirects it once access is allowed. (Plain
    http.client: the browser's requests are not boundary-mail's, and so not in its logs.)"""
    consent = next(line for line in printed.splitlines() if line.startswith("https://"))
    assert consent.startswith("https://accounts.google.com/o/oauth2/auth?")
    status, location = visit(f"{server.url}/authorize?{consent.partition('?')[2]}")
    assert status == 302
    return location  # http://127.0.0.1:PORT/?code=…&state=…


def visit(url: str) -> tuple[int, str]:
    """GET `url` without following a redirect: the status and the Location."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}")
        answer = connection.getresponse()
        answer.read()
        return answer.status, answer.getheader("Location", "")
    finally:
        connection.close()


@pytest.mark.parametrize("how", ["pasted", "local-server"])
def test_the_google_sign_in_takes_the_loopback_redirect(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests, mailserver: Any,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, how: str,
) -> None:
    """`auth login` for Google prints the consent address (offline access, PKCE, the login
    hint); the person allows access in a browser, which is sent to the loopback redirect:
    either they paste the address of the error page it ends on, or (`--local-server PORT`,
    through an SSH tunnel) it reaches boundary-mail there. google-auth-oauthlib then trades
    the code for tokens."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mailserver.ca_file))  # oauthlib wants https
    google = {"provider": "google", "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
              "token_endpoint": f"{authorization_server.tls_url}/token", "scopes": ["mail"]}
    use_oauth2(oauth_agency.data["mailboxes"][0], "ann", google)
    oauth_agency.write()
    shown: list[str] = []
    if how == "pasted":
        def person(prompt: str) -> str:
            shown.append(capsys.readouterr().out)
            return browser(authorization_server, shown[0])

        monkeypatch.setattr("builtins.input", person)
        assert oauth_agency.cli("auth", "login", "ann") == 0
        redirect = "redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2F"
    else:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        codes: list[int] = []
        login = threading.Thread(target=lambda: codes.append(
            oauth_agency.cli("auth", "login", "ann", "--local-server", str(port))))
        login.start()
        wait_until(lambda: bool(shown.append(capsys.readouterr().out) or
                                "https://" in "".join(shown)), "the consent address")
        assert f"ssh -L {port}:127.0.0.1:{port}" in "".join(shown)
        assert visit(browser(authorization_server, "".join(shown)))[0] == 200
        login.join(10)
        assert codes == [0]
        redirect = f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2F"
    printed = "".join(shown)
    for part in ("access_type=offline", "code_challenge_method=S256",
                 "login_hint=ann%40agency.test", redirect):
        assert part in printed
    captured = capsys.readouterr()
    assert "signed in as ann@agency.test" in captured.out
    (path,) = (oauth_agency.config.state_dir / "oauth2").glob("ann*.json")
    record = oauth_tokens.load(path)
    assert record is not None and record.provider == "google" and record.refresh_token
    assert authorization_server.state.token_requests[-1] == "authorization_code"
    assert find_leaks(authorization_server, caplog, captured, oauth_agency) == []


def test_auth_logout_forgets_the_sign_in(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`auth logout ann` removes the token file; the next window says to sign in."""
    path = sign_in_directly(oauth_agency, authorization_server, "ann", "ann")
    assert oauth_agency.cli("auth", "logout", "ann") == 0
    assert not path.exists()
    assert "forgot the sign-in" in capsys.readouterr().out
    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    assert oauth_agency.poll(MONDAY_10) == 1
    assert "nobody has signed in for ann@agency.test yet; run `boundary-mail auth login ann`" \
        in capsys.readouterr().out
