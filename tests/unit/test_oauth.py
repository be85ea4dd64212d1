"""OAuth2 sign-in without a network: the config rules, the token file, the SASL choices, and
how the Microsoft (MSAL) and Google (google-auth) paths call their libraries.

MSAL cannot be pointed at the tests' local authorization server (it insists on an https
authority it can discover), so its use is checked here against a stand-in for
`PublicClientApplication` with MSAL's real `SerializableTokenCache`; the generic provider,
token commands and the whole chain through Dovecot and Postfix are in
tests/integration/test_oauth.py.
"""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path
from typing import Any

import msal
import pytest
from pydantic import ValidationError

from boundary_mail import oauth_tokens
from boundary_mail.config import MailboxConfig
from boundary_mail.config_auth import MICROSOFT_SCOPES, OAuth2Config
from boundary_mail.errors import SecretUnavailable
from boundary_mail.oauth_login import google_client_config, microsoft_record
from boundary_mail.oauth_providers import (
    Asking,
    CommandTokens,
    SignInExpired,
    StoredTokens,
    msal_app,
    msal_scopes,
    refresh_microsoft,
)
from boundary_mail.oauth_tokens import TokenRecord
from boundary_mail.sasl import NoOAuthMechanism, choose_mechanism, oauthbearer_response
from boundary_mail.secrets import resolve_password

BOX = {"name": "ann", "host": "outlook.office365.com", "owner": "ann@example.com"}
MS = {"provider": "microsoft", "client_id": "0000-app", "tenant": "contoso.onmicrosoft.com"}
ASKING = Asking("mailbox 'ann'", "run `boundary-mail auth login ann` to sign in again")


def mailbox(**extra: Any) -> MailboxConfig:
    return MailboxConfig(**{**BOX, "username": "ann@example.com", "auth": "oauth2", **extra})


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "wording"), [
    ({}, "needs an oauth2 table"),
    ({"oauth2": {"client_id": "x"}}, "name exactly one source of tokens"),
    ({"oauth2": {**MS, "token_command": ["oama"]}}, "name exactly one source of tokens"),
    ({"oauth2": {"provider": "generic", "client_id": "x"}}, "needs token_endpoint"),
    ({"oauth2": {"provider": "generic", "client_id": "x",
                 "token_endpoint": "http://idp.example.com/token"}}, "must use https"),
    ({"oauth2": {"provider": "google"}}, "needs client_id"),
    ({"oauth2": MS, "password_env": "PW"}, "remove password_env"),
    ({"oauth2": {**MS, "tenant": "a/b"}}, "not a tenant id or domain"),
])
def test_an_oauth2_account_is_checked_with_the_fix_in_the_message(
    extra: dict[str, Any], wording: str
) -> None:
    """Each mistake in an OAuth2 account is refused with what to do about it."""
    with pytest.raises(ValidationError, match=wording):
        mailbox(**extra)


def test_an_oauth2_table_on_a_password_account_is_refused() -> None:
    with pytest.raises(ValidationError, match="set auth = \"oauth2\" or remove the table"):
        MailboxConfig(**BOX, username="ann", password_env="PW", oauth2=MS)


def test_plain_http_token_endpoints_are_allowed_only_on_loopback() -> None:
    for url in ("http://127.0.0.1:8080/token", "http://localhost/token", "http://[::1]/t",
                "https://idp.example.com/token"):
        table = OAuth2Config(provider="generic", client_id="x", token_endpoint=url)
        assert table.token_endpoint == url


def test_microsoft_asks_for_imap_smtp_and_offline_access_by_default() -> None:
    """The delegated scopes of the README; MSAL adds offline_access itself and refuses it."""
    oauth = OAuth2Config(**MS)
    assert oauth.wanted_scopes == MICROSOFT_SCOPES
    assert msal_scopes(oauth) == ["https://outlook.office.com/IMAP.AccessAsUser.All",
                                  "https://outlook.office.com/SMTP.Send"]


def test_imap_and_smtp_of_the_same_person_share_one_token_file() -> None:
    """One `auth login` serves a mailbox and SMTP signed in as the same person with the same
    app; a shared mailbox names the member who signs in."""
    one = OAuth2Config(**MS)
    assert one.token_file_name("ann@example.com") == one.token_file_name("ANN@example.com")
    assert one.token_file_name("ann@example.com") != one.token_file_name("bob@example.com")
    shared = OAuth2Config(**MS, login_user="ann@example.com")
    assert shared.token_file_name("info@example.com") == one.token_file_name("ann@example.com")


def test_an_oauth2_account_resolves_to_its_tokens_not_a_password(tmp_path: Path) -> None:
    box = mailbox(oauth2={"token_command": ["oama", "access", "ann@example.com"]})
    tokens = resolve_password(box, where="mailbox 'ann'")
    assert isinstance(tokens, CommandTokens)
    assert tokens.user == "ann@example.com"


# -- the token file ------------------------------------------------------------------------


def test_the_token_file_is_private_and_written_whole(tmp_path: Path) -> None:
    """0600 in 0700 directories (the state directory too, when `auth login` comes first),
    renamed into place, never shown by repr."""
    path = oauth_tokens.token_path(tmp_path / "state", "ann.json")
    record = TokenRecord(provider="generic", user="ann", refresh_token="r-1", access_token="a")
    oauth_tokens.save(path, record)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
    assert oauth_tokens.load(path) == record
    assert "r-1" not in repr(record)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".tmp")] == []
    assert oauth_tokens.delete(path) and oauth_tokens.load(path) is None


def stored(tmp_path: Path, refresh: Any, **fields: Any) -> StoredTokens:
    path = tmp_path / "oauth2" / "ann.json"
    oauth_tokens.save(path, TokenRecord(provider="generic", user="ann", **fields))
    oauth = OAuth2Config(provider="generic", client_id="x",
                         token_endpoint="https://idp.example.com/token")
    return StoredTokens("ann", path, oauth, "mailbox 'ann'", "ann", refresh)


def test_a_token_is_refreshed_before_it_expires_and_once_when_refused(tmp_path: Path) -> None:
    calls: list[str] = []

    def refresh(record: TokenRecord, oauth: OAuth2Config, asking: Asking) -> None:
        calls.append(str(record.refresh_token))
        record.access_token, record.refresh_token = f"a{len(calls)}", f"r{len(calls)}"
        record.expires_at = time.time() + 3600

    tokens = stored(tmp_path, refresh, refresh_token="r0", access_token="a0",
                    expires_at=time.time() + 60)  # within the margin: refreshed
    assert tokens.get() == "a1"
    assert tokens.get() == "a1"  # fresh: not again
    assert tokens.get(rejected="a1") == "a2"  # refused by the server: once more
    assert tokens.get(rejected="a1") == "a2"  # another thread already replaced it
    assert calls == ["r0", "r1"]
    record = oauth_tokens.load(tokens.path)
    assert record is not None and record.refresh_token == "r2" and record.last_refresh_at


def test_without_a_sign_in_the_error_names_the_command(tmp_path: Path) -> None:
    tokens = stored(tmp_path, lambda *a: None)
    oauth_tokens.delete(tokens.path)
    with pytest.raises(SignInExpired, match="run `boundary-mail auth login ann`"):
        tokens.get()


def test_a_token_command_that_fails_never_repeats_its_output(tmp_path: Path) -> None:
    script = tmp_path / "tok.sh"
    script.write_text("#!/bin/sh\necho secret-token-123; exit 3\n")
    script.chmod(0o700)
    with pytest.raises(SecretUnavailable, match="exit code 3") as caught:
        CommandTokens("ann", [str(script)], "mailbox 'ann'").get()
    assert "secret-token-123" not in str(caught.value)


# -- SASL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("offered", "wanted", "chosen"), [
    (["PLAIN", "XOAUTH2", "OAUTHBEARER"], "auto", "OAUTHBEARER"),
    (["plain", "xoauth2"], "auto", "XOAUTH2"),  # Microsoft 365 offers XOAUTH2 only
    (["XOAUTH2", "OAUTHBEARER"], "xoauth2", "XOAUTH2"),
])
def test_the_mechanism_is_chosen_from_what_the_server_offers(
    offered: list[str], wanted: str, chosen: str
) -> None:
    assert choose_mechanism(offered, wanted) == chosen


def test_a_server_without_oauth_says_what_it_offers() -> None:
    with pytest.raises(NoOAuthMechanism) as caught:
        choose_mechanism(["PLAIN", "LOGIN"])
    assert "it offers LOGIN, PLAIN" in caught.value.fix


def test_the_oauthbearer_response_follows_rfc_7628() -> None:
    raw = base64.b64decode(oauthbearer_response("a,b=c@example.com", "tok"))
    assert raw == b"n,a=a=2Cb=3Dc@example.com,\x01auth=Bearer tok\x01\x01"


# -- Microsoft (MSAL) and Google (google-auth) -----------------------------------------------


class FakeMsalApp:
    """Stands in for msal.PublicClientApplication (which needs Microsoft's servers)."""

    def __init__(self, result: dict[str, Any] | None, cache: msal.SerializableTokenCache,
                 accounts: list[dict[str, str]]) -> None:
        self.result, self.cache, self.accounts = result, cache, accounts
        self.silent: list[tuple[list[str], dict[str, str], bool]] = []

    def get_accounts(self, username: str | None = None) -> list[dict[str, str]]:
        return [a for a in self.accounts if a["username"] == username]

    def acquire_token_silent(self, scopes: list[str], account: dict[str, str],
                             force_refresh: bool = False) -> dict[str, Any] | None:
        self.silent.append((scopes, account, force_refresh))
        self.cache.has_state_changed = True
        return self.result


def test_msal_is_built_for_the_tenant_and_client_id(monkeypatch: pytest.MonkeyPatch) -> None:
    made: dict[str, Any] = {}

    def record(client_id: str, **kwargs: Any) -> str:
        made.update(client_id=client_id, **kwargs)
        return "app"

    monkeypatch.setattr(msal, "PublicClientApplication", record)
    cache = msal.SerializableTokenCache()
    assert msal_app(OAuth2Config(**MS), cache) == "app"
    assert made["client_id"] == "0000-app"
    assert made["authority"] == "https://login.microsoftonline.com/contoso.onmicrosoft.com"
    assert made["instance_discovery"] is None  # MSAL checks Microsoft's own authority
    assert made["token_cache"] is cache
    msal_app(OAuth2Config(**MS, authority="https://login.microsoftonline.us/contoso"), cache)
    assert made["authority"] == "https://login.microsoftonline.us/contoso"
    assert made["instance_discovery"] is False


def test_microsoft_refresh_uses_the_cached_account_and_keeps_the_cache() -> None:
    """The refresh asks MSAL silently for the signed-in person's account (a shared mailbox:
    the member, not the mailbox) and keeps MSAL's updated cache in the token file."""
    oauth = OAuth2Config(**MS, login_user="ann@contoso.com")
    record = TokenRecord(provider="microsoft", user="ann@contoso.com",
                         extra={"msal_cache": json.dumps({"AccessToken": {}})})
    apps: list[FakeMsalApp] = []

    def make(o: OAuth2Config, cache: Any) -> FakeMsalApp:
        apps.append(FakeMsalApp({"access_token": "new", "expires_in": 3599}, cache,
                                [{"username": "ann@contoso.com"}]))
        return apps[-1]

    refresh_microsoft(record, oauth, ASKING, make)
    assert record.access_token == "new" and record.expires_at
    ((scopes, account, forced),) = apps[0].silent
    assert scopes == msal_scopes(oauth) and account["username"] == "ann@contoso.com" and forced
    assert "msal_cache" in record.extra


@pytest.mark.parametrize("result", [None, {"error": "invalid_grant",
                                           "error_description": "AADSTS70000"}])
def test_a_microsoft_sign_in_that_is_gone_says_to_sign_in_again(
    result: dict[str, Any] | None
) -> None:
    record = TokenRecord(provider="microsoft", user="ann@contoso.com")

    def make(o: OAuth2Config, cache: Any) -> FakeMsalApp:
        return FakeMsalApp(result, cache, [{"username": "ann@contoso.com"}])

    with pytest.raises(SignInExpired, match="run `boundary-mail auth login ann`"):
        refresh_microsoft(record, OAuth2Config(**MS), ASKING, make)


def test_the_microsoft_device_flow_result_names_who_signed_in() -> None:
    cache = msal.SerializableTokenCache()
    record = microsoft_record({"access_token": "t", "expires_in": 3600,
                               "id_token_claims": {"preferred_username": "Ann@Contoso.com"}},
                              cache, "info@contoso.com")
    assert record.user == "ann@contoso.com" and record.access_token == "t"
    with pytest.raises(Exception, match="authorization_pending"):
        microsoft_record({"error": "authorization_pending"}, cache, "ann@contoso.com")


def test_google_uses_the_installed_app_client_and_its_token_endpoint() -> None:
    oauth = OAuth2Config(provider="google", client_id="id.apps.googleusercontent.com")
    assert oauth.wanted_scopes == ("https://mail.google.com/",)
    config = google_client_config(oauth, "s3cret")["installed"]
    assert config["token_uri"] == "https://oauth2.googleapis.com/token"
    assert config["client_id"] == "id.apps.googleusercontent.com"
    assert config["redirect_uris"] == ["http://127.0.0.1"]


def google_config(state_dir: Path = Path("/var/lib/boundary-mail")) -> Any:
    """Ann's Google mailbox and SMTP, one sign-in."""
    from boundary_mail.config import Config

    google = {"provider": "google", "client_id": "id", "client_secret_file": "google-oauth"}
    return Config(
        state_dir=state_dir,
        smtp={"host": "smtp.gmail.com", "from_address": "ann@example.com",
              "username": "ann@example.com", "auth": "oauth2", "oauth2": google},
        mailboxes=[mailbox(oauth2=google)],
        team={"lead": "ann@example.com", "members": [{"name": "Ann",
                                                      "address": "ann@example.com"}]},
    )


def test_a_client_secret_file_is_a_credential_of_the_unit() -> None:
    """`boundary-mail credentials` lists an OAuth2 client secret's file like a password's."""
    from boundary_mail.credentials import load_credential_lines

    assert load_credential_lines(google_config()) == [
        "LoadCredential=google-oauth:/etc/boundary-mail/credentials/google-oauth"]


def test_the_readme_oauth2_configurations_are_valid() -> None:
    """Every TOML block of the README's "Signing in with OAuth2" is a valid smtp / mailbox."""
    import re
    import tomllib

    from boundary_mail.config import SmtpConfig

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme[readme.index("## Signing in with OAuth2"):readme.index("## How it works")]
    blocks = re.findall(r"```toml\n(.*?)```", section, re.S)
    assert len(blocks) >= 4
    for block in blocks:
        data = tomllib.loads(block)
        if "smtp" in data:
            assert SmtpConfig(**data["smtp"]).auth == "oauth2"
        for box in data["mailboxes"]:
            assert MailboxConfig(**box).oauth2 is not None


def test_sign_in_lines_say_when_the_access_token_expired(tmp_path: Path) -> None:
    """`auth status` and `status`: an expired access token is said to be renewed at the next
    login; one shared sign-in serves both accounts; nothing shows a token."""
    from boundary_mail.sign_ins import sign_in_lines

    config = google_config(tmp_path)
    oauth = config.smtp.oauth2
    assert oauth is not None
    assert sign_in_lines(config) == [
        "mailbox 'ann': oauth2 google, not signed in; run `boundary-mail auth login ann`",
        "smtp: oauth2 google, not signed in; run `boundary-mail auth login smtp`",
    ]
    path = oauth_tokens.token_path(tmp_path, oauth.token_file_name("ann@example.com"))
    oauth_tokens.save(path, TokenRecord(provider="google", user="ann@example.com",
                                        refresh_token="r-secret", access_token="a-secret",
                                        expires_at=time.time() - 10))
    lines = sign_in_lines(config)
    assert all("access token expired" in line and "renewed at the next login" in line
               for line in lines)
    assert not any("secret" in line for line in lines)
