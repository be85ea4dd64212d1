"""Compose a nudge to a client and the report of a wait whose nudges are used up.

A nudge is the team member's own short, polite note (`nudge.txt.j2`; a translation is
another template file): from their address, to the client's addresses the message went to,
in its thread (In-Reply-To and References name it), with the start of the message quoted.
It carries our marker, so neither its Sent copy nor a copy in a monitored inbox starts or
ends anything; sent by us ("send" mode) it is also ``Auto-Submitted: auto-generated``, so
the client's out-of-office does not answer it. Its Message-ID derives from its dedupe key:
composing it again gives the same message, and a Drafts folder is searched for it.
"""

from __future__ import annotations

import shlex
import textwrap
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime, getaddresses

import jinja2

from boundary_mail.compose_agreement import client_env
from boundary_mail.compose_mime import (
    MARKER_HEADER,
    address,
    base_message,
    new_message,
    serialize,
    stable_message_id,
    thread,
)
from boundary_mail.config import Config
from boundary_mail.outgoing import Outgoing
from boundary_mail.templates import render
from boundary_mail.waiting import Nudge, WaitingItem, WaitReport, WaitStart

QUOTED_LINES = 6
QUOTED_WIDTH = 72


def _member_name(config: Config, email: str) -> str:
    member = config.team.member(email)
    return member.name if member else ""


def reply_subject(subject: str) -> str:
    """ "Re: " before the subject, once."""
    subject = subject.strip()
    return subject if subject.lower().startswith("re:") else f"Re: {subject}".rstrip()


def quote_of(original: bytes | None) -> tuple[str, str]:
    """The first lines of the original's text, "> "-quoted, and the first recipient's
    display name; ("", "") when it cannot be read."""
    if not original:
        return "", ""
    try:
        msg = BytesParser(policy=default_policy).parsebytes(original)
        assert isinstance(msg, EmailMessage)
        recipients = getaddresses([str(v) for v in msg.get_all("To", [])])
        name = recipients[0][0] if recipients else ""
        body = msg.get_body(preferencelist=("plain",))
        text = str(body.get_content()) if body is not None else ""
    except Exception:  # a broken original costs the quote, never the nudge
        return "", ""
    lines = [wrapped for line in text.replace("\r\n", "\n").split("\n")
             if not line.startswith(">")  # what it quoted in turn is left out
             for wrapped in (textwrap.wrap(line, QUOTED_WIDTH) or [""])]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    shown = [f"> {line}".rstrip() for line in lines[:QUOTED_LINES]]
    if any(lines[QUOTED_LINES:]):
        shown.append("> […]")
    return "\n".join(shown).strip(), name.split()[0] if name else ""


def compose_nudge(
    nudge: Nudge, original: bytes | None, *, config: Config, env: jinja2.Environment,
    now: datetime,
) -> Outgoing:
    """The nudge, from the member to the client, threaded (see the module docstring)."""
    start = nudge.item.start
    member_name = _member_name(config, start.member) or start.member
    msg = new_message()
    msg["From"] = address(start.member, _member_name(config, start.member))
    msg["To"] = [address(a) for a in start.to]
    msg["Subject"] = reply_subject(start.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = stable_message_id(nudge.dedupe_key, start.member.rpartition("@")[2])
    thread(msg, start.message_id, start.references)
    if nudge.mode == "send":
        msg["Auto-Submitted"] = "auto-generated"
    msg[MARKER_HEADER] = "nudge"
    quote, name = quote_of(original)
    in_their_language = client_env(env, config, config.client_named(start.client))
    msg.set_content(render(
        in_their_language, "nudge.txt.j2", name=name, number=nudge.number,
        sent=start.sent_at.astimezone(config.tz), member_name=member_name,
        subject=start.subject, quote=quote,
    ))
    return Outgoing(
        kind="nudge" if nudge.mode == "send" else "nudge_draft",
        dedupe_key=nudge.dedupe_key, source_message_id=start.message_id,
        envelope_from=start.member, recipients=start.to, message_id=str(msg["Message-ID"]),
        raw=serialize(msg), on_sent={},
    )


def compose_wait_report(
    report: WaitReport, *, config: Config, env: jinja2.Environment, now: datetime
) -> Outgoing:
    """To the account manager: "waiting on Acme for 23 business days"."""
    start = report.item.start
    days = int(report.waited_days)
    msg = base_message(
        kind="waiting-report", dedupe_key=report.dedupe_key,
        from_email=config.smtp.from_address, from_name=config.smtp.from_name, to=report.to,
        subject=f"Waiting on {start.client} for {days} business days: {start.subject}"[:200],
        now=now, auto_submitted="auto-generated", marker=config.smtp.from_address,
    )
    msg.set_content(render(
        env, "waiting_report.txt.j2", client=start.client, member=start.member,
        member_name=_member_name(config, start.member) or start.member,
        subject=start.subject or "(no subject)", sent=start.sent_at.astimezone(config.tz),
        days=days, nudges=report.item.nudges, to=", ".join(start.to),
        message_id=start.message_id,
        done_command=shlex.join(["boundary-mail", "done", start.message_id]),
    ))
    return Outgoing(
        kind="waiting_report", dedupe_key=report.dedupe_key,
        source_message_id=start.message_id, envelope_from=config.smtp.from_address,
        recipients=(report.to,), message_id=str(msg["Message-ID"]), raw=serialize(msg),
        on_sent={},
    )


def sample_waiting(
    config: Config, env: jinja2.Environment, now: datetime
) -> list[tuple[str, Callable[[], Outgoing]]]:
    """A nudge and a report from a made-up wait, for `check-config` (see
    `compose.sample_messages`)."""
    member = config.mailboxes[0].owner
    client = config.clients[0] if config.clients else None
    to = (client.addresses[0] if client.addresses else f"someone@{client.domains[0]}"
          ) if client else "someone@example.com"
    start = WaitStart("<sample@example.com>", config.mailboxes[0].name, "Sent", 1, member,
                      client.name if client else "A client", (to,), "A sample message", (),
                      now, 3, "bcc")
    item = WaitingItem(start, nudges=2, last_nudge_at=now)
    original = (f"From: {member}\r\nTo: Sam Sample <{to}>\r\nSubject: A sample\r\n\r\n"
                "Could you send us the texts?\r\n").encode()
    return [
        ("nudge.txt.j2", lambda: compose_nudge(Nudge(item, 1, "draft", 3.0), original,
                                               config=config, env=env, now=now)),
        ("waiting_report.txt.j2", lambda: compose_wait_report(
            WaitReport(item, member, 9.0), config=config, env=env, now=now)),
    ]
