"""The OAuth2 tests' servers: the local authorization server (plain HTTP for Dovecot's
introspection, HTTPS for MSAL and oauthlib), and an agency whose Ann and SMTP sign in with it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import imapclient
import pytest

from tests.integration.agency import Agency
from tests.integration.oauth.helpers import (
    SECRET_ENV,
    oauth2_table,
    use_oauth2,
)
from tests.mailserver import _script
from tests.oauth_server import (
    AuthorizationServerForTests,
    running_authorization_server,
)


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
