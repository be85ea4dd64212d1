"""Compose outgoing mail with `email.message.EmailMessage`, never by string concatenation.

Every message gets a Message-ID under the sender's domain that is derived from the action's
dedupe key, so composing the same action twice yields the same Message-ID; and every message
carries our markers (Auto-Submitted, X-Loop, X-Boundary-Mail) so no robot, including another
boundary-mail, answers it, and we recognise it when it lands in a monitored mailbox.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

import jinja2

from boundary_mail.config import Config
from boundary_mail.decide import AutoReply
from boundary_mail.policy import reply_subject
from boundary_mail.templates import render

MARKER_HEADER = "X-Boundary-Mail"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A composed message plus its envelope, ready to be queued."""

    kind: str
    dedupe_key: str
    source_message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    message: EmailMessage
    on_sent: dict[str, object]

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])


def stable_message_id(dedupe_key: str, domain: str) -> str:
    digest = hashlib.sha256(dedupe_key.encode()).hexdigest()[:32]
    return f"<bm.{digest}@{domain}>"


def _address(email: str, name: str = "") -> HeaderAddress:
    local, _, domain = email.rpartition("@")
    return HeaderAddress(display_name=name, username=local, domain=domain)


def _base(
    *, kind: str, dedupe_key: str, from_email: str, from_name: str, to: str, subject: str,
    now: datetime, auto_submitted: str, marker: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = _address(from_email, from_name)
    msg["To"] = _address(to)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = stable_message_id(dedupe_key, from_email.rpartition("@")[2])
    msg["Auto-Submitted"] = auto_submitted
    msg["Precedence"] = "bulk"
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Loop"] = marker
    msg[MARKER_HEADER] = kind
    return msg


def _owner_name(config: Config, email: str) -> str:
    member = config.team.member(email)
    return member.name if member else ""


def compose_auto_reply(
    action: AutoReply, *, config: Config, env: jinja2.Environment, now: datetime
) -> Outgoing:
    """The auto-reply of RFC 3834 §3: to the Return-Path only, threaded, marked, bilingual
    only if the templates are."""
    facts = action.facts
    dedupe_key = f"auto_reply:{facts.message_id}"
    owner_name = _owner_name(config, action.from_address)
    msg = _base(
        kind="auto-reply", dedupe_key=dedupe_key, from_email=action.from_address,
        from_name=owner_name, to=action.to, subject=reply_subject(facts.subject), now=now,
        auto_submitted="auto-replied", marker=config.smtp.from_address,
    )
    if not facts.message_id.endswith("@boundary-mail.invalid>"):
        msg["In-Reply-To"] = facts.message_id
        msg["References"] = " ".join([*facts.references, facts.message_id][-20:])
    tz = config.tz
    attach = config.response.first_contact == "attach"
    context = {
        "name": facts.sender.name if facts.sender else "",
        "promise": _local_promise(action, tz),
        "contact": action.contact,
        "owner": action.from_address,
        "owner_name": owner_name or action.from_address,
        "urgent_channel": "",
        "first_contact": action.first_contact,
        "attach": attach,
    }
    text = render(env, "auto_reply.txt.j2", **context)
    agreement = _agreement(action, config, env) if action.first_contact else ""
    if agreement and not attach:
        text = f"{text}\n\n{agreement}"
    msg.set_content(text)
    if config.response.html:
        msg.add_alternative(render(env, "auto_reply.html.j2", **context), subtype="html")
    if agreement and attach:
        msg.add_attachment(
            agreement.encode("utf-8"), maintype="text", subtype="plain",
            filename="How we work together.txt",
        )
    on_sent: dict[str, object] = {"reply": {"sender": action.to, "kind": action.kind}}
    if action.first_contact:
        on_sent["welcomed"] = action.to
    return Outgoing(
        kind="auto_reply", dedupe_key=dedupe_key, source_message_id=facts.message_id,
        envelope_from="", recipients=(action.to,), message=msg, on_sent=on_sent,
    )


def _local_promise(action: AutoReply, tz: object) -> dict[str, datetime]:
    p = action.promise
    return {
        "received_at": p.received_at.astimezone(tz),  # type: ignore[arg-type]
        "read_at": p.read_at.astimezone(tz),  # type: ignore[arg-type]
        "answer_by": p.answer_by.astimezone(tz),  # type: ignore[arg-type]
    }


def _agreement(action: AutoReply, config: Config, env: jinja2.Environment) -> str:
    schedule = config.schedule
    client = action.client
    days = (
        client.answer_within_business_days
        if client and client.answer_within_business_days is not None
        else config.response.answer_within_business_days
    )
    return render(
        env,
        "first_contact.txt.j2",
        client_name=client.name if client else "",
        team_name=config.smtp.from_name,
        workdays=", ".join(d.capitalize() for d in schedule.workdays),
        windows=" and ".join(w.strftime("%H:%M") for w in schedule.check_windows),
        timezone=config.timezone,
        answer_days=days,
        contact=action.contact,
        urgent_channel=config.urgent.channel,
        turnaround="",
        payment_terms="",
    )
