"""Composing what passing client mail on needs, besides a plain redirect (see `compose`):

- the queued **route by IMAP**: the original's exact bytes, to be appended to the point of
  contact's monitored inbox (see `routes`); nothing is added to it, so it is the client's own
  message there, recognised by its Message-ID as one already decided;
- a **notice** instead of a redirect when the original is too big for the relay: the
  original's header fields, the start of its text (decoded) and where the full message lies;
- the **alert** to a mailbox's owner when a route failed for good (dedupe key
  ``route-failed:<Message-ID>``: one per message, whatever restarts in between).

Built with the `email` package like every message we write (`compose_mime`).
"""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser

import jinja2

from boundary_mail.actions import Redirect
from boundary_mail.compose_mime import POLICY, base_message, serialize, thread
from boundary_mail.config import Config
from boundary_mail.digest_data import FailedRoute
from boundary_mail.ids import stable_message_id
from boundary_mail.outgoing import Outgoing
from boundary_mail.templates import render

NOTICE_TEXT_CHARS = 3000  # how much of the original's text a notice quotes
_SHOWN_FIELDS = ("From", "To", "Cc", "Date", "Subject", "Message-ID")


def redirect_key(action: Redirect) -> str:
    """One route per message and point of contact, whichever way it goes."""
    return f"redirect:{action.facts.message_id}:{action.to}"


def route_key(action: Redirect) -> str:
    return f"route:{action.facts.message_id}:{action.to}"


def route_alert_key(message_id: str) -> str:
    return f"route-failed:{message_id}"


def where_it_lies(mailbox: str, owner: str, folder: str) -> str:
    """Where a message can be found, in words: "mailbox ann (ann@agency.test), folder INBOX"."""
    return f"mailbox {mailbox} ({owner}), folder {folder}" if owner else (
        f"mailbox {mailbox}, folder {folder}")


def compose_route(action: Redirect, original: bytes, *, config: Config) -> Outgoing:
    """The route by IMAP, queued: the original's bytes exactly as fetched, for the inbox of
    `action.mailbox`. Its Message-ID is ours, derived from the key, only to identify the
    queued action; the appended message keeps the client's."""
    key = route_key(action)
    return Outgoing(
        kind="route", dedupe_key=key, source_message_id=action.facts.message_id,
        envelope_from="", recipients=(action.to,),
        message_id=stable_message_id(key, config.smtp.from_address.rpartition("@")[2]),
        raw=original, on_sent={},
    )


def compose_redirect_notice(
    action: Redirect, original: bytes, *, config: Config, env: jinja2.Environment,
    now: datetime, limit: int,
) -> Outgoing:
    """A client message too big for the relay: its point of contact reads who wrote what,
    the start of it, and where the whole message lies. Threaded under the original."""
    facts = action.facts
    key = redirect_key(action)
    parsed = _parse(original)
    msg = base_message(
        kind="redirect-notice", dedupe_key=key, from_email=config.smtp.from_address,
        from_name=config.smtp.from_name, to=action.to,
        subject=f"Passed on to you (too big to forward): {facts.subject}"[:200], now=now,
        auto_submitted="auto-generated", marker=config.smtp.from_address,
    )
    thread(msg, facts.message_id, facts.references)
    msg.set_content(render(
        env, "redirect_notice.txt.j2", fields=_fields(parsed), text=_text_start(parsed),
        size=megabytes(len(original)), limit=megabytes(limit),
        where=where_it_lies(facts.mailbox, action.by, facts.folder), by=action.by,
    ))
    return Outgoing(
        kind="redirect_notice", dedupe_key=key, source_message_id=facts.message_id,
        envelope_from=config.smtp.from_address, recipients=(action.to,),
        message_id=str(msg["Message-ID"]), raw=serialize(msg), on_sent={},
    )


def compose_route_failed(
    route: FailedRoute, *, config: Config, env: jinja2.Environment, now: datetime
) -> Outgoing:
    """Tell the owner of the mailbox a client message arrived in that it could not be passed
    on to its point of contact, and where it lies."""
    key = route_alert_key(route.message_id)
    to = route.owner or config.team.lead
    msg = base_message(
        kind="route-failed", dedupe_key=key, from_email=config.smtp.from_address,
        from_name=config.smtp.from_name, to=to,
        subject=f"Not passed on to {route.to}: {route.subject}"[:200], now=now,
        auto_submitted="auto-generated", marker=config.smtp.from_address,
    )
    msg.set_content(render(
        env, "route_failed.txt.j2", contact=route.to, sender=route.sender,
        subject=route.subject, message_id=route.message_id, error=route.error,
        where=where_it_lies(route.mailbox, route.owner, route.folder),
    ))
    return Outgoing(
        kind="route_failed", dedupe_key=key, source_message_id=route.message_id,
        envelope_from=config.smtp.from_address, recipients=(to,),
        message_id=str(msg["Message-ID"]), raw=serialize(msg), on_sent={},
    )


def megabytes(size: int) -> str:
    """A size as people read it: "30.2 MB", "12 KB"."""
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{max(1, round(size / 1000))} KB"


def _parse(original: bytes) -> EmailMessage:
    return BytesParser(policy=POLICY).parsebytes(original)


def _fields(msg: EmailMessage) -> list[tuple[str, str]]:
    """The original's identifying header fields, decoded; an undecodable one as it is."""
    shown = []
    for name in _SHOWN_FIELDS:
        try:
            value = msg[name]
        except Exception:  # a broken field in the wild: shown raw below
            value = None
        if value is not None:
            shown.append((name, " ".join(str(value).split())))
    return shown


def _text_start(msg: EmailMessage) -> str:
    """The start of the original's text: its plain part, else its HTML without tags."""
    try:
        body = msg.get_body(("plain", "html"))
        text = str(body.get_content()) if body is not None else ""
        if body is not None and body.get_content_subtype() == "html":
            text = re.sub(r"<[^>]*>", " ", text)
    except Exception:  # an unknown charset or a broken part: the notice still goes
        return ""
    text = re.sub(r"[ \t]+\n", "\n", text.replace("\r\n", "\n")).strip()
    return text if len(text) <= NOTICE_TEXT_CHARS else text[:NOTICE_TEXT_CHARS].rstrip() + " …"


def sample_route_failed(config: Config, now: datetime) -> FailedRoute:
    """Made-up data for `check-config` to render the alert's template with."""
    owner = config.mailboxes[0].owner
    return FailedRoute("<sample@example.com>", config.mailboxes[0].name, "INBOX", owner,
                       config.team.lead, "someone@example.com", "A sample message",
                       "550 5.1.1 recipient unknown", now)


__all__ = [
    "compose_redirect_notice", "compose_route", "compose_route_failed", "megabytes",
    "redirect_key", "route_alert_key", "route_key", "sample_route_failed", "where_it_lies",
]
