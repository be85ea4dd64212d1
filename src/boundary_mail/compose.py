"""Compose outgoing mail with `email.message.EmailMessage`, never by string concatenation.

Every message gets a Message-ID under the sender's domain that is derived from the action's
dedupe key, so composing the same action twice yields the same message (its multipart
boundaries derive from that Message-ID too); and every message carries our markers
(Auto-Submitted, X-Loop, X-Boundary-Mail) so no robot, including another boundary-mail,
answers it, and we recognise it when it lands in a monitored mailbox.

A composed message is an `Outgoing` (see `outgoing`): its bytes and envelope, nothing more.
The header block, threading, the Resent-* block and serializing are in `compose_mime`.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser

import jinja2
from babel.dates import format_date

from boundary_mail.compose_agreement import (
    client_env,
    document_title,
    first_contact_document,
    local_times,
)
from boundary_mail.compose_mime import (
    MARKER_HEADER,
    POLICY,
    address,
    attach_part,
    base_message,
    resent_block,
    serialize,
    stable_message_id,
    text_attachment,
    thread,
    without_delivery_fields,
)
from boundary_mail.compose_route import megabytes
from boundary_mail.config import Config
from boundary_mail.decide import AutoReply, ContactNote, Redirect, UrgentAlert
from boundary_mail.digest import Digest, render_digest
from boundary_mail.ladder import LadderStep
from boundary_mail.outgoing import Outgoing
from boundary_mail.policy import reply_subject
from boundary_mail.templates import format_clock, format_when, render

__all__ = [
    "MARKER_HEADER", "Outgoing", "compose_alert", "compose_auto_reply", "compose_contact_note",
    "compose_digest", "compose_ladder", "compose_redirect", "sample_messages",
    "stable_message_id",
]


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
    msg = base_message(
        kind="auto-reply", dedupe_key=dedupe_key, from_email=action.from_address,
        from_name=owner_name, to=action.to, subject=reply_subject(facts.subject), now=now,
        auto_submitted="auto-replied", marker=config.smtp.from_address,
    )
    thread(msg, facts.thread_id, facts.references)
    attach = config.response.first_contact == "attach"
    client_templates = client_env(env, config, action.client)
    agreement = (first_contact_document(config, action.client, action.contact, env, now)
                 if action.first_contact else "")
    context = {
        "name": facts.sender.name if facts.sender else "",
        **local_times(action.promise, config, action.client),
        "contact": action.contact,
        "contact_name": _owner_name(config, action.contact) or action.contact,
        "passed_on": _passed_on(action),
        "owner": action.from_address,
        "owner_name": owner_name or action.from_address,
        "urgent_channel": config.urgent.channel if action.urgent else "",
        "first_contact": action.first_contact,
        "attach": attach,
        "document_title": document_title(agreement) if agreement else "",
    }
    text = render(client_templates, "auto_reply.txt.j2", **context)
    if agreement and not attach:
        text = f"{text}\n\n{agreement}"
    msg.set_content(text)
    if config.response.html:
        msg.add_alternative(render(client_templates, "auto_reply.html.j2", **context),
                            subtype="html")
    if agreement and attach:
        attach_part(msg, text_attachment(agreement, f"{document_title(agreement)}.txt"))
    on_sent: dict[str, object] = {"reply": {"sender": action.to, "kind": action.kind}}
    if action.first_contact:
        on_sent["welcomed"] = action.to
    if action.names_contact:
        on_sent["note"] = {"sender": action.to, "kind": "contact_note"}
    return _outgoing(
        msg, kind="auto_reply", dedupe_key=dedupe_key, source_message_id=facts.message_id,
        envelope_from="", recipients=(action.to,), on_sent=on_sent,
    )


def _outgoing(
    msg: EmailMessage, *, kind: str, dedupe_key: str, source_message_id: str,
    envelope_from: str, recipients: tuple[str, ...], on_sent: dict[str, object],
    raw: bytes | None = None,
) -> Outgoing:
    """The queued form of `msg` (`raw` if it was serialized already): its bytes and envelope;
    the `EmailMessage` itself is not kept."""
    return Outgoing(
        kind=kind, dedupe_key=dedupe_key, source_message_id=source_message_id,
        envelope_from=envelope_from, recipients=recipients, message_id=str(msg["Message-ID"]),
        raw=serialize(msg) if raw is None else raw, on_sent=on_sent,
    )


def _passed_on(action: AutoReply) -> bool:
    """The client's message went on to its contact (decide's route rule: a client's mail
    that reached someone else and was not addressed to the contact too)."""
    facts = action.facts
    return (action.client is not None and action.contact != action.from_address
            and all(r.email != action.contact for r in facts.recipients))


def _local(moment: datetime, config: Config) -> str:
    return format_when(moment.astimezone(config.tz), config.default_language)


def _short(moment: datetime, config: Config) -> str:
    """'Tue 24 Nov 3:00 PM CET': a recent moment, short enough for a summary line."""
    local, language = moment.astimezone(config.tz), config.default_language
    return f"{format_date(local, 'EEE d MMM', locale=language)} {format_clock(local, language)}"


def compose_contact_note(
    action: ContactNote, *, config: Config, env: jinja2.Environment, now: datetime
) -> Outgoing:
    """A short note to a client who wrote to the wrong person: this is your contact. It is an
    automatic response (RFC 3834): null envelope sender, one recipient, threaded."""
    facts = action.facts
    dedupe_key = f"contact_note:{facts.message_id}"
    owner_name = _owner_name(config, action.from_address)
    contact_name = _owner_name(config, action.contact)
    msg = base_message(
        kind="contact-note", dedupe_key=dedupe_key, from_email=action.from_address,
        from_name=owner_name, to=action.to, subject=reply_subject(facts.subject), now=now,
        auto_submitted="auto-replied", marker=config.smtp.from_address,
    )
    thread(msg, facts.thread_id, facts.references)
    msg.set_content(render(
        client_env(env, config, action.client), "contact_note.txt.j2",
        name=facts.sender.name if facts.sender else "",
        contact=action.contact, contact_name=contact_name or action.contact,
        owner_name=owner_name or action.from_address, client_name=action.client.name,
    ))
    return _outgoing(
        msg, kind="contact_note", dedupe_key=dedupe_key, source_message_id=facts.message_id,
        envelope_from="", recipients=(action.to,),
        on_sent={"note": {"sender": action.to, "kind": "contact_note"}},
    )


def compose_redirect(
    action: Redirect, original: bytes, *, config: Config, now: datetime
) -> Outgoing:
    """Pass the original on to the account manager (RFC 5322 §3.6.6 Resent-* fields on top),
    so From, Message-ID, subject and body stay the client's and the reply threads correctly."""
    facts = action.facts
    dedupe_key = f"redirect:{facts.message_id}:{action.to}"
    message_id = stable_message_id(dedupe_key, config.smtp.from_address.rpartition("@")[2])
    head = resent_block(
        from_email=config.smtp.from_address, from_name=config.smtp.from_name, to=action.to,
        to_name=_owner_name(config, action.to), now=now, message_id=message_id,
        marker=f"redirect; by={action.by}",
    )
    return Outgoing(
        kind="redirect", dedupe_key=dedupe_key, source_message_id=facts.message_id,
        envelope_from=config.smtp.from_address, recipients=(action.to,),
        message_id=message_id, raw=head + without_delivery_fields(original), on_sent={},
        resent_block=len(head),
    )


def _with_original(
    build: Callable[[], EmailMessage], original: bytes | None
) -> tuple[EmailMessage, bytes]:
    """The message `build` makes and its bytes, carrying the client's message along as
    message/rfc822, so nobody has to search for it; mail too broken to be written again
    travels as a file of its exact bytes instead. (Writing the whole message is the test of
    that: the attached message is written exactly as it would be on its own.)"""
    msg = build()
    if original:
        msg.add_attachment(BytesParser(policy=POLICY).parsebytes(original))
        try:
            return msg, serialize(msg)
        except Exception:  # broken mail in the wild: its bytes, untouched
            msg = build()
            msg.add_attachment(original, maintype="application", subtype="octet-stream",
                               filename="original.eml")
    return msg, serialize(msg)


def compose_alert(
    action: UrgentAlert, *, config: Config, env: jinja2.Environment, now: datetime
) -> Outgoing:
    """Urgent or VIP mail: the account manager (and the alert address) hear at once."""
    facts = action.facts
    dedupe_key = f"alert:{facts.message_id}"
    sender = facts.sender.email if facts.sender else (facts.return_path or "")
    client = action.client.name if action.client else "unassigned sender"
    msg = base_message(
        kind="alert", dedupe_key=dedupe_key, from_email=config.smtp.from_address,
        from_name=config.smtp.from_name, to=action.to[0],
        subject=f"URGENT: {client} ({sender})", now=now, auto_submitted="auto-generated",
        marker=config.smtp.from_address,
    )
    if len(action.to) > 1:
        del msg["To"]
        msg["To"] = [address(a) for a in action.to]
    msg.set_content(render(
        env, "alert.txt.j2", client=client, sender=sender, why=action.why,
        subject=facts.subject, received=_local(facts.received_at, config),
        message_id=facts.message_id,
    ))
    return _outgoing(
        msg, kind="alert", dedupe_key=dedupe_key, source_message_id=facts.message_id,
        envelope_from=config.smtp.from_address, recipients=action.to, on_sent={},
    )


def compose_ladder(
    step: LadderStep, original: bytes | None, *, config: Config, env: jinja2.Environment,
    now: datetime, limit: int | None = None, where: str = "",
) -> Outgoing:
    """A reminder (to the account manager) or an escalation (to the backup or the lead): a
    one-line summary, what to do, and the original attached when the whole fits `limit` (the
    relay's size limit); otherwise it says where the original lies (`where`)."""
    item = step.item
    client = item.client or "unassigned sender"
    word = "Reminder" if step.kind == "reminder" else "Escalation"
    def build(attached: bool) -> EmailMessage:
        msg = base_message(
            kind=step.kind, dedupe_key=step.dedupe_key, from_email=config.smtp.from_address,
            from_name=config.smtp.from_name, to=step.to,
            subject=f"{word}: no answer yet to {client} ({item.sender})", now=now,
            auto_submitted="auto-generated", marker=config.smtp.from_address,
        )
        msg.set_content(render(
            env, "ladder.txt.j2", kind=step.kind, client=client, sender=item.sender,
            received=_local(item.received_at, config),
            due_since=_short(item.deadline, config), followups=item.followups,
            owner=item.owner,
            owner_name=_owner_name(config, item.owner) or item.owner, subject=item.subject,
            message_id=item.message_id, step=step.step, attached=attached,
            too_big=bool(original) and not attached, where=where or "its mailbox",
            size=megabytes(len(original or b"")),
            # Quoted for a shell: a Message-ID comes from the client's mail and may hold anything.
            ack_command=shlex.join(["boundary-mail", "ack", item.message_id]),
        ))
        return msg

    fits = original is not None and (limit is None or len(original) < limit)
    msg, raw = _with_original(lambda: build(fits), original if fits else None)
    if fits and limit is not None and len(raw) > limit:  # the reminder and the original
        msg, raw = _with_original(lambda: build(False), None)
    return _outgoing(
        msg, raw=raw, kind=step.kind, dedupe_key=step.dedupe_key,
        source_message_id=item.message_id, envelope_from=config.smtp.from_address,
        recipients=(step.to,),
        on_sent={"ladder": {"message_id": item.message_id, "step": step.step}},
    )


def compose_digest(
    digest: Digest, *, config: Config, env: jinja2.Environment, now: datetime
) -> Outgoing:
    """The daily digest: plain text and HTML alternatives, from the assistant to one team
    member, auto-generated (RFC 3834 §5), once per recipient and local day (the dedupe key)."""
    rendered = render_digest(env, digest, config)
    msg = base_message(
        kind="digest", dedupe_key=digest.dedupe_key, from_email=config.smtp.from_address,
        from_name=config.smtp.from_name, to=digest.recipient, subject=rendered.subject,
        now=now, auto_submitted="auto-generated", marker=config.smtp.from_address,
    )
    del msg["To"]
    msg["To"] = address(digest.recipient, digest.recipient_name)
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return _outgoing(
        msg, kind="digest", dedupe_key=digest.dedupe_key, source_message_id="",
        envelope_from=config.smtp.from_address, recipients=(digest.recipient,), on_sent={},
    )


def sample_messages(
    config: Config, env: jinja2.Environment, now: datetime
) -> list[tuple[str, Callable[[], Outgoing]]]:
    """One message of every kind from made-up mail, each with the templates it renders, so
    that `check-config` renders every template with exactly the variables the real messages
    use: a user's template naming a variable we do not pass fails there, not at a client."""
    from boundary_mail.calendar import Promise
    from boundary_mail.compose_nudge import sample_waiting
    from boundary_mail.compose_route import (
        compose_redirect_notice,
        compose_route_failed,
        sample_route_failed,
    )
    from boundary_mail.headers import parse_facts
    from boundary_mail.tracking import TrackedItem

    owner = config.mailboxes[0].owner
    client = config.clients[0] if config.clients else None
    sender = "someone@example.com"
    if client is not None:
        sender = f"someone@{client.domains[0]}" if client.domains else client.addresses[0]
    head = (f"Return-Path: <{sender}>\r\nFrom: Sam Sample <{sender}>\r\nTo: {owner}\r\n"
            f"Subject: A sample message\r\nMessage-ID: <sample@example.com>\r\n\r\n")
    facts = parse_facts(
        head.encode(),
        mailbox=config.mailboxes[0].name, folder="INBOX", uid=1, received_at=now,
    )
    contact = client.account_manager if client else config.triage_owner
    item = TrackedItem(
        message_id=facts.message_id, mailbox=facts.mailbox, folder="INBOX", uid=1,
        sender=sender, client=client.name if client else "", owner=contact,
        subject=facts.subject, received_at=now, read_at=now, deadline=now, urgent=True,
        after_hours=False, routed_from="", ladder_step=0, status="open",
    )
    reply = AutoReply(facts, sender, owner, "window", Promise(now, now, now), client, contact,
                      first_contact=True, urgent=True, names_contact=True)
    step = LadderStep(item, 1, "account_manager", contact, now, 1.0)
    samples: list[tuple[str, Callable[[], Outgoing]]] = [
        ("auto_reply.txt.j2, auto_reply.html.j2, first_contact.txt.j2",
         lambda: compose_auto_reply(reply, config=config, env=env, now=now)),
        ("alert.txt.j2", lambda: compose_alert(
            UrgentAlert(facts, (contact,), "a sample", client), config=config, env=env,
            now=now)),
        ("ladder.txt.j2", lambda: compose_ladder(step, None, config=config, env=env, now=now)),
    ]
    if client is not None:
        note = ContactNote(facts, sender, owner, contact, client)
        samples.append(("contact_note.txt.j2", lambda: compose_contact_note(
            note, config=config, env=env, now=now)))
        samples.append(("redirect_notice.txt.j2", lambda: compose_redirect_notice(
            Redirect(facts, contact, owner), f"{head}Hello, a sample.\r\n".encode(),
            config=config, env=env, now=now, limit=10_000)))
    samples.append(("route_failed.txt.j2", lambda: compose_route_failed(
        sample_route_failed(config, now), config=config, env=env, now=now)))
    from boundary_mail.cost_job import sample_report  # the monthly client report

    samples.append(("cost_report.txt.j2, cost_report.html.j2", lambda: sample_report(config, now)))
    samples.extend(sample_waiting(config, env, now))
    return samples
