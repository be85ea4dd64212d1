"""The alert to a mailbox's owner when its OAuth2 sign-in is no longer accepted.

A refresh token that was revoked or expired needs a person: the owner is told by mail, once
per outage (dedupe key ``sign-in-expired:<mailbox>:<when it was last read>``: a later outage,
after a window read the mailbox again, alerts again), what happened and the one command that
fixes it. The failure itself is recorded like any unread mailbox's, so `status` and the
digest show it too.
"""

from __future__ import annotations

from datetime import datetime

import jinja2

from boundary_mail.compose_mime import base_message, serialize
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.outgoing import Outgoing
from boundary_mail.templates import render


def sign_in_alert_key(mailbox: str, last_ok_at: datetime | None) -> str:
    return f"sign-in-expired:{mailbox}:{last_ok_at.isoformat() if last_ok_at else 'never'}"


def compose_sign_in_alert(
    mailbox: MailboxConfig, error: str, last_ok_at: datetime | None, *, config: Config,
    env: jinja2.Environment, now: datetime,
) -> Outgoing:
    key = sign_in_alert_key(mailbox.name, last_ok_at)
    login_user = (mailbox.oauth2.login_user if mailbox.oauth2 else None) or mailbox.username
    msg = base_message(
        kind="sign-in-expired", dedupe_key=key, from_email=config.smtp.from_address,
        from_name=config.smtp.from_name, to=mailbox.owner,
        subject=f"boundary-mail cannot read mailbox {mailbox.name}: please sign in again",
        now=now, auto_submitted="auto-generated", marker=config.smtp.from_address,
    )
    msg.set_content(render(env, "sign_in_expired.txt.j2", mailbox=mailbox.name,
                           owner=mailbox.owner, error=error, login_user=login_user))
    return Outgoing(
        kind="sign_in_expired", dedupe_key=key, source_message_id="",
        envelope_from=config.smtp.from_address, recipients=(mailbox.owner,),
        message_id=str(msg["Message-ID"]), raw=serialize(msg), on_sent={},
    )
