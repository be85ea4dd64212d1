"""`boundary-mail preview`: what a sender would read, without touching any mailbox.

A message from SENDER to a monitored mailbox, arriving at a given time (default: now), is
decided by the same planner a window uses, against an empty state (so a client counts as new
and gets "How we work together"), at the check window that would read it. The mail it would
get is composed by the same code as in a real window and shown as a person reads it: header
fields decoded, the text as text, and each attached text document in full.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from email.utils import format_datetime

from boundary_mail.actions import AutoReply, ContactNote
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.compose import compose_auto_reply, compose_contact_note
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.decide import Planner
from boundary_mail.directory import Directory
from boundary_mail.errors import UserError
from boundary_mail.headers import parse_facts
from boundary_mail.outgoing import Outgoing
from boundary_mail.snapshot import StateSnapshot
from boundary_mail.templates import environment


def preview(
    config: Config, sender: str, *, arrived: datetime, mailbox_name: str | None = None,
    subject: str = "A question",
) -> str:
    """The text of every message `sender` would get for mail arriving at `arrived`."""
    mailbox = _mailbox(config, sender.lower(), mailbox_name)
    calendar = BusinessCalendar.from_config(config.schedule, config.tz)
    window = calendar.promise(arrived, config.response.answer_within_business_days).read_at
    planner = Planner(config, calendar, max(window, arrived))
    facts = parse_facts(_header_block(sender, mailbox.owner, subject, arrived),
                        mailbox=mailbox.name, folder=mailbox.inbox, uid=1, received_at=arrived)
    (plan,) = planner.plan_inbox([facts], StateSnapshot())
    env = environment(config.templates_dir, config.default_language)
    shown = [f"From {sender} to {mailbox.owner}, arriving"
             f" {arrived.astimezone(config.tz):%a %Y-%m-%d %H:%M %Z}: {plan.reply.reason}"]
    for action in plan.actions:
        if isinstance(action, AutoReply):
            shown.append(_readable(compose_auto_reply(action, config=config, env=env,
                                                      now=planner.now)))
        elif isinstance(action, ContactNote):
            shown.append(_readable(compose_contact_note(action, config=config, env=env,
                                                        now=planner.now)))
    if len(shown) == 1:
        shown.append("(no message would go to the sender)")
    return "\n\n".join(shown) + "\n"


def _mailbox(config: Config, sender: str, name: str | None) -> MailboxConfig:
    """The mailbox named, else the account manager's, else the first one."""
    mailboxes = {m.name: m for m in config.mailboxes}
    if name is not None:
        if name not in mailboxes:
            raise UserError(f"--mailbox {name!r} is not configured; the mailboxes are"
                            f" {', '.join(sorted(mailboxes))}")
        return mailboxes[name]
    owner = Directory(config).match(sender).owner
    return next((m for m in config.mailboxes if m.owner == owner), config.mailboxes[0])


def _header_block(sender: str, to: str, subject: str, arrived: datetime) -> bytes:
    msg = EmailMessage()
    msg["Return-Path"] = f"<{sender}>"
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(arrived)
    msg["Message-ID"] = "<preview@boundary-mail.invalid>"
    return bytes(msg)


def _readable(out: Outgoing) -> str:
    """The preview of the message, then each attached text document in full."""
    parts = [f"--- {out.kind} to {', '.join(out.recipients)} ---", out.preview().rstrip()]
    msg = BytesParser(policy=default_policy).parsebytes(out.raw)
    for attachment in msg.iter_attachments():
        if attachment.get_content_maintype() == "text" and isinstance(attachment,
                                                                        EmailMessage):
            parts.append(f"--- attached: {attachment.get_filename()} ---")
            parts.append(str(attachment.get_content()).rstrip())
    return "\n".join(parts)
