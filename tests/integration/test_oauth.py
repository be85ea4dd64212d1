"""OAuth2 sign-in on the real servers: Dovecot checks every bearer token at the tests' local
authorization server (Authlib; RFC 7662 introspection), for IMAP and, through Dovecot SASL,
for Postfix. Only the identity provider is ours; the rest of the chain is the real one."""

from __future__ import annotations

import base64
import logging
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import imapclient
import pytest

from boundary_mail import oauth_tokens
from boundary_mail.oauth_login import save_sign_in
from boundary_mail.oauth_tokens import TokenRecord
from tests.integration.agency import Agency, client_mail
from tests.mailserver import _script
from tests.oauth_server import (
    CLIENT_ID,
    MSAL_TENANT,
    PUBLIC_CLIENT_ID,
    AuthorizationServerForTests,
    running_authorization_server,
)

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_1605 = datetime(2026, 11, 13, 16, 5, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)
MONDAY_15 = datetime(2026, 11, 16, 15, 0, tzinfo=BERLIN)
SECRET_ENV = "BM_TEST_OAUTH_CLIENT_SECRET"


@pytest.fixture(scope="session")
def authorization_server(mailserver: Any) -> Iterator[AuthorizationServerForTests]:
    """The local authorization server, and Dovecot asking it about every token."""
    tls = mailserver.data_dir / "tls"
    with running_authorization_server(tls=(tls / "server.pem", tls / "server.key")) as server:
        _script("oauth2", server.introspection_url)
        probe = server.issue("dave")
        deadline = time.monotonic() + 20
        while True:  # Dovecot's auth process restarts after the reload: wait until it answers
            try:
                with imapclient.IMAPClient(mailserver.host, mailserver.imaps_port,
                                           ssl_context=mailserver.ssl_context()) as client:
                    client.oauth2_login("dave@agency.test", probe.access_token)
                break
            except imapclient.exceptions.LoginError:
                if time.monotonic() > deadline:
                    raise AssertionError("Dovecot does not accept tokens\n"
                                         + mailserver.log_tail()) from None
                time.sleep(0.1)
        yield server


def oauth2_table(server: AuthorizationServerForTests, **extra: Any) -> dict[str, Any]:
    return {"provider": "generic", "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
            "token_endpoint": server.token_endpoint,
            "device_authorization_endpoint": server.device_endpoint, "scopes": ["mail"],
            **extra}


def use_oauth2(account: dict[str, Any], user: str, table: dict[str, Any]) -> None:
    """Turn an account of the agency's config from a password to OAuth2."""
    account.pop("password_env", None)
    account.update(username=f"{user}@agency.test", auth="oauth2", oauth2=table)


@pytest.fixture
def oauth_agency(agency: Agency, authorization_server: AuthorizationServerForTests,
                 monkeypatch: pytest.MonkeyPatch) -> Agency:
    """Ann's mailbox and the SMTP account sign in with OAuth2 (generic provider); Bob and the
    lead keep their passwords."""
    monkeypatch.setenv(SECRET_ENV, authorization_server.client_secret)
    use_oauth2(agency.data["mailboxes"][0], "ann", oauth2_table(authorization_server))
    use_oauth2(agency.data["smtp"], "assistant",
               oauth2_table(authorization_server, mechanism="xoauth2"))
    agency.write()
    return agency


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


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


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


# -- sign-in ---------------------------------------------------------------------------------


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
    authorization_server.state.devices.clear()
    person = approve_when_asked(authorization_server, "ann")
    assert oauth_agency.cli("auth", "login", "ann") == 0
    person.join(5)
    out = capsys.readouterr().out
    (grant,) = authorization_server.state.devices.values()
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
    assert "last refreshed never" in status
    assert "smtp: oauth2 generic, not signed in; run `boundary-mail auth login smtp`" in status
    assert "mailbox 'bob': password" in status


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


# -- windows ---------------------------------------------------------------------------------


def test_a_window_reads_over_imap_and_replies_over_smtp_with_oauth2_tokens(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any,
) -> None:
    """Ann's mailbox is read with a bearer token (OAUTHBEARER, which Dovecot offers first) and
    the auto-reply goes out through Postfix with one (XOAUTH2, as configured): the whole
    window, no password."""
    sign_in_directly(oauth_agency, authorization_server, "ann", "ann")
    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    logs = ServerLogs(mailserver)
    assert oauth_agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0  # the first sync
    deliver("ann", client_mail(sender="maria@acme.test", message_id="<oa-1@acme.test>"),
            FRIDAY_1605)
    assert oauth_agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    (reply,) = replies_to(mailserver, "maria@acme.test")
    assert reply["In-Reply-To"] == "<oa-1@acme.test>"
    wait_until(lambda: "sasl_method=XOAUTH2, sasl_username=assistant" in logs.text(),
               "Postfix's log of the XOAUTH2 login")
    assert "user=<ann>, method=OAUTHBEARER" in logs.text()
    assert "sasl_method=PLAIN" not in logs.text()  # (the test's own APPEND logs in by PLAIN)


def test_an_access_token_that_expires_mid_window_is_refreshed_once(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider ends the access token after the mailboxes were read and before the replies
    go out: Postfix refuses it, boundary-mail refreshes once (the refresh token is rotated and
    stored) and sends the reply in the same window."""
    sign_in_directly(oauth_agency, authorization_server, "ann", "ann")
    path = sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    assert oauth_agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0
    deliver("ann", client_mail(sender="maria@acme.test", message_id="<oa-2@acme.test>"),
            FRIDAY_1605)
    before = oauth_tokens.load(path)
    assert before is not None

    from boundary_mail import execute

    real_drain = execute.drain

    async def drain_after_expiry(*args: Any, **kwargs: Any) -> Any:
        authorization_server.expire_access_tokens("assistant")
        return await real_drain(*args, **kwargs)

    monkeypatch.setattr(execute, "drain", drain_after_expiry)
    refreshes = authorization_server.state.token_requests.count("refresh_token")
    assert oauth_agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    assert len(replies_to(mailserver, "maria@acme.test")) == 1
    assert authorization_server.state.token_requests.count("refresh_token") == refreshes + 1
    after = oauth_tokens.load(path)
    assert after is not None and after.last_refresh_at is not None
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token  # rotated, and the new one kept


def test_a_revoked_sign_in_fails_only_that_mailbox_and_says_to_sign_in_again(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    """Ann's refresh token is revoked: her mailbox is not read (the error says to run `auth
    login ann`), Bob's mail is answered as usual, Ann gets one alert saying what to do, and
    `status` and the lead's digest show her mailbox as not read."""
    sign_in_directly(oauth_agency, authorization_server, "ann", "ann")
    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    assert oauth_agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0
    authorization_server.revoke("ann")
    deliver("ann", client_mail(sender="maria@acme.test", message_id="<oa-3@acme.test>"),
            FRIDAY_1605)
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               message_id="<oa-4@globex.test>"), FRIDAY_1605)
    capsys.readouterr()
    assert oauth_agency.poll(MONDAY_10) == 1
    out = capsys.readouterr().out
    assert ("mailbox 'ann': the provider no longer accepts the stored sign-in (invalid_grant:"
            " revoked, expired or the password changed); run `boundary-mail auth login ann`"
            " to sign in again") in out
    mailserver.wait_for("catchall", 1)
    assert len(replies_to(mailserver, "tom@globex.test")) == 1
    assert replies_to(mailserver, "maria@acme.test") == []
    (alert,) = mailserver.wait_for("ann", 2)[1:]  # Maria's message, then the alert
    assert alert["Subject"] == "boundary-mail cannot read mailbox ann: please sign in again"
    assert "boundary-mail auth login ann" in alert.get_content()

    assert oauth_agency.poll(MONDAY_15) == 1  # still revoked: no second alert
    assert len(mailserver.messages("ann")) == 2
    assert oauth_agency.cli("status", "--now", MONDAY_15.isoformat()) == 0
    status = capsys.readouterr().out
    assert "mailbox ann: not read since" in status
    assert "auth login ann" in status
    assert oauth_agency.cli("digest", "--now", (MONDAY_15 + timedelta(hours=3)).isoformat()) == 0
    assert "auth login ann" in capsys.readouterr().out


def test_a_token_command_account_runs_a_full_window(
    agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any, tmp_path: Path,
) -> None:
    """Bob's mailbox and SMTP take their access tokens from a command (as with oama or
    pizauth): the window reads Bob's inbox and sends the reply with what it prints."""
    for user in ("bob", "assistant"):
        (tmp_path / f"{user}.token").write_text(
            authorization_server.issue(user).access_token + "\n")
    helper = [sys.executable, "-c", "import sys; print(open(sys.argv[1]).read().strip())"]
    use_oauth2(agency.data["mailboxes"][1], "bob",
               {"token_command": [*helper, str(tmp_path / "bob.token")]})
    use_oauth2(agency.data["smtp"], "assistant",
               {"token_command": [*helper, str(tmp_path / "assistant.token")]})
    agency.write()
    logs = ServerLogs(mailserver)
    assert agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0
    deliver("bob", client_mail(sender="tom@globex.test", to="bob@agency.test",
                               message_id="<oa-5@globex.test>"), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    assert len(replies_to(mailserver, "tom@globex.test")) == 1
    assert "user=<bob>, method=OAUTHBEARER" in logs.text()
    wait_until(lambda: "sasl_method=OAUTHBEARER, sasl_username=assistant" in logs.text(),
               "Postfix's log of the OAUTHBEARER login")


# -- secrets ---------------------------------------------------------------------------------


def test_no_token_secret_or_code_appears_in_logs_output_or_state(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A device-code sign-in, a window, a refresh after a refused token, a revoked sign-in,
    `status` and `auth status`: no access token, refresh token, client secret or device code
    (in clear, or base64 as in SASL) appears in a log record at DEBUG, stdout, stderr or the
    state directory outside the token file."""
    caplog.set_level(logging.DEBUG)
    authorization_server.state.devices.clear()
    approve_when_asked(authorization_server, "ann").join(0)
    assert oauth_agency.cli("auth", "login", "ann") == 0
    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    assert oauth_agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0
    deliver("ann", client_mail(sender="maria@acme.test", message_id="<oa-6@acme.test>"),
            FRIDAY_1605)
    authorization_server.expire_access_tokens("ann")  # refused at IMAP: refreshed once
    assert oauth_agency.poll(MONDAY_10) == 0
    authorization_server.revoke("ann")
    assert oauth_agency.poll(MONDAY_15) == 1
    assert oauth_agency.cli("status", "--now", MONDAY_15.isoformat()) == 0
    assert oauth_agency.cli("auth", "status") == 0
    assert oauth_agency.cli("check-config", "--connect") == 1
    captured = capsys.readouterr()

    assert "auth login ann" in captured.out  # the haystack is real: the failure was shown
    assert find_leaks(authorization_server, caplog, captured, oauth_agency) == []


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


def test_the_google_provider_refreshes_through_google_auth(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any,
) -> None:
    """The Google path's refresh is google-auth's own (Credentials.refresh), here pointed at
    the local server's token endpoint: an access token past its expiry is replaced before
    the login, and the window runs."""
    google = {"provider": "google", "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
              "token_endpoint": authorization_server.token_endpoint, "scopes": ["mail"]}
    use_oauth2(oauth_agency.data["mailboxes"][0], "ann", google)
    oauth_agency.write()
    path = sign_in_directly(oauth_agency, authorization_server, "ann", "ann")
    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    record = oauth_tokens.load(path)
    assert record is not None
    record.provider, record.expires_at = "google", time.time() - 60
    oauth_tokens.save(path, record)
    refreshes = authorization_server.state.token_requests.count("refresh_token")
    answered_window(oauth_agency, deliver, mailserver, "<oa-7@acme.test>")
    assert authorization_server.state.token_requests.count("refresh_token") == refreshes + 1
    after = oauth_tokens.load(path)
    assert after is not None and after.access_token != record.access_token
    assert (after.expires_at or 0) > time.time() + 3000


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
    authorization_server.state.devices.clear()
    person = approve_when_asked(authorization_server, "ann")
    assert oauth_agency.cli("auth", "login", "ann") == 0
    person.join(5)
    out = capsys.readouterr().out
    assert "signed in as ann@agency.test" in out
    (grant,) = authorization_server.state.devices.values()
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


def test_the_google_sign_in_takes_the_pasted_redirect_address(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests, mailserver: Any,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`auth login` for Google prints the consent address (offline access, PKCE, the login
    hint); the person allows access in a browser, which ends on the unreachable loopback
    redirect; they paste that address and google-auth-oauthlib trades its code for tokens."""
    import requests

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(mailserver.ca_file))  # oauthlib wants https
    google = {"provider": "google", "client_id": CLIENT_ID, "client_secret_env": SECRET_ENV,
              "token_endpoint": f"{authorization_server.tls_url}/token", "scopes": ["mail"]}
    use_oauth2(oauth_agency.data["mailboxes"][0], "ann", google)
    oauth_agency.write()
    shown: list[str] = []

    def person(prompt: str) -> str:
        out = capsys.readouterr().out
        shown.append(out)
        consent = next(line for line in out.splitlines() if line.startswith("https://"))
        assert consent.startswith("https://accounts.google.com/o/oauth2/auth?")
        # The browser: Google's consent page is the local server's /authorize here.
        answer = requests.get(f"{authorization_server.url}/authorize?"
                              + consent.partition("?")[2], allow_redirects=False, timeout=10)
        assert answer.status_code == 302
        return str(answer.headers["Location"])  # http://127.0.0.1:1/?code=…&state=…

    monkeypatch.setattr("builtins.input", person)
    assert oauth_agency.cli("auth", "login", "ann") == 0
    (printed,) = shown
    for part in ("access_type=offline", "code_challenge_method=S256",
                 "login_hint=ann%40agency.test", "redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2F"):
        assert part in printed
    captured = capsys.readouterr()
    assert "signed in as ann@agency.test" in captured.out
    (path,) = (oauth_agency.config.state_dir / "oauth2").glob("ann*.json")
    record = oauth_tokens.load(path)
    assert record is not None and record.provider == "google" and record.refresh_token
    assert authorization_server.state.token_requests[-1] == "authorization_code"
    assert find_leaks(authorization_server, caplog, captured, oauth_agency) == []


@pytest.mark.parametrize(("imap_mechanism", "smtp_mechanism"), [
    ("xoauth2", "oauthbearer"), ("oauthbearer", "xoauth2"),
])
def test_a_refused_token_is_refreshed_once_with_either_mechanism(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any, imap_mechanism: str, smtp_mechanism: str,
) -> None:
    """The provider ended both access tokens early (the token file still thinks them good):
    Dovecot refuses each at its first AUTHENTICATE and Postfix at its first AUTH, whichever
    SASL mechanism (XOAUTH2's error challenge, OAUTHBEARER's RFC 7628 error exchange);
    each is refreshed once and the login tried again on the same connection."""
    oauth_agency.data["mailboxes"][0]["oauth2"]["mechanism"] = imap_mechanism
    oauth_agency.data["smtp"]["oauth2"]["mechanism"] = smtp_mechanism
    oauth_agency.write()
    sign_in_directly(oauth_agency, authorization_server, "ann", "ann")
    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    assert oauth_agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0
    deliver("ann", client_mail(sender="maria@acme.test", message_id="<oa-9@acme.test>"),
            FRIDAY_1605)
    authorization_server.expire_access_tokens("ann")
    authorization_server.expire_access_tokens("assistant")
    logs = ServerLogs(mailserver)
    refreshes = authorization_server.state.token_requests.count("refresh_token")
    assert oauth_agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    assert len(replies_to(mailserver, "maria@acme.test")) == 1
    assert authorization_server.state.token_requests.count("refresh_token") == refreshes + 2
    wait_until(lambda: f"sasl_method={smtp_mechanism.upper()}, sasl_username=assistant"
               in logs.text(), "Postfix's log of the login")
    assert f"user=<ann>, method={imap_mechanism.upper()}" in logs.text()
