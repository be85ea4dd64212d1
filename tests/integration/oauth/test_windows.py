"""OAuth2 windows on the real servers: Dovecot checks every bearer token at the tests' local
authorization server (Authlib; RFC 7662 introspection), for IMAP and, through Dovecot SASL,
for Postfix. Only the identity provider is ours; the rest of the chain is the real one."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from boundary_mail import oauth_tokens
from tests.integration.agency import Agency, client_mail
from tests.integration.oauth.helpers import (
    FRIDAY_1605,
    MONDAY_10,
    MONDAY_15,
    SECRET_ENV,
    ServerLogs,
    answered_window,
    device_login,
    find_leaks,
    maria_waits,
    replies_to,
    sign_in_directly,
    use_oauth2,
    wait_until,
)
from tests.oauth_server import (
    CLIENT_ID,
    AuthorizationServerForTests,
)


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
    """The provider ends the access token after the mailbox was read and before the reply goes
    out: Postfix refuses it, boundary-mail refreshes once (the refresh token is rotated and
    stored) and sends the reply in the same window."""
    _, path = maria_waits(oauth_agency, authorization_server, deliver, "<oa-2@acme.test>")
    before = oauth_tokens.load(path)
    assert before is not None

    from boundary_mail.outbox import Outbox

    real_offer = Outbox.offer

    def offer_after_expiry(*args: Any, **kwargs: Any) -> Any:
        authorization_server.expire_access_tokens("assistant")
        return real_offer(*args, **kwargs)

    monkeypatch.setattr(Outbox, "offer", offer_after_expiry)
    refreshes = authorization_server.state.token_requests.count("refresh_token")
    assert oauth_agency.poll(MONDAY_10) == 0
    mailserver.wait_for("catchall", 1)
    assert len(replies_to(mailserver, "maria@acme.test")) == 1
    assert authorization_server.state.token_requests.count("refresh_token") == refreshes + 1
    after = oauth_tokens.load(path)
    assert after is not None and after.last_refresh_at is not None
    assert after.access_token != before.access_token
    assert after.refresh_token != before.refresh_token  # rotated, and the new one kept


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
    maria_waits(oauth_agency, authorization_server, deliver, "<oa-9@acme.test>")
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
    device_login(oauth_agency, authorization_server, "ann", "ann")
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


def test_a_revoked_smtp_sign_in_keeps_the_mail_queued_and_says_to_sign_in_again(
    oauth_agency: Agency, authorization_server: AuthorizationServerForTests,
    deliver: Callable[..., None], mailserver: Any, capsys: pytest.CaptureFixture[str],
) -> None:
    """The SMTP account's sign-in is revoked: the mailboxes are still read and decided, the
    reply waits in the queue with the reason (run `auth login smtp`), and once signed in
    again the next window sends it."""
    maria_waits(oauth_agency, authorization_server, deliver, "<oa-10@acme.test>")
    authorization_server.revoke("assistant")
    capsys.readouterr()
    assert oauth_agency.poll(MONDAY_10) == 1
    fix = "run `boundary-mail auth login smtp` to sign in again"
    assert fix in capsys.readouterr().out
    assert oauth_agency.cli("status", "--now", MONDAY_10.isoformat()) == 0
    status = capsys.readouterr().out
    assert "queued to send: 1" in status and fix in status

    sign_in_directly(oauth_agency, authorization_server, "smtp", "assistant")
    assert oauth_agency.poll(MONDAY_15) == 0
    mailserver.wait_for("catchall", 1)
    assert len(replies_to(mailserver, "maria@acme.test")) == 1
