"""The announcement email and the signature block, in the reader's language.

The announcement (`announce.Announcement`) is a personal message from the client's account
manager: ``announce.txt.j2`` (its first line is the subject) with "How we work together"
attached, our usual header block (marked as ours, never answered by a robot) and a Message-ID
derived from its durable key. The signature (``signature.txt.j2`` / ``signature.html.j2``)
states the same schedule in a line a team member can put under every mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

import jinja2

from boundary_mail.announce import Announcement
from boundary_mail.compose_agreement import (
    client_env,
    document_title,
    first_contact_document,
    schedule_context,
)
from boundary_mail.compose_mime import base_message, serialize
from boundary_mail.config import ClientConfig, Config, Member
from boundary_mail.outgoing import Outgoing
from boundary_mail.templates import localized, render


def compose_announcement(
    a: Announcement, *, config: Config, env: jinja2.Environment, now: datetime
) -> Outgoing:
    """One contact's announcement, with the client's "How we work together" attached; its
    times are named as they will be on the effective day (CET, or CEST from spring on)."""
    as_of = datetime.combine(a.effective, time(12), tzinfo=config.tz)
    document = first_contact_document(config, a.client, a.sender, env, as_of)
    title = document_title(document)
    rendered = render(client_env(env, config, a.client), "announce.txt.j2",
                      **schedule_context(config, a.client, a.sender, as_of),
                      effective=a.effective, document_title=title)
    subject, _, body = rendered.partition("\n")
    member = config.team.member(a.sender)
    msg = base_message(
        kind="announce", dedupe_key=a.dedupe_key, from_email=a.sender,
        from_name=member.name if member else "", to=a.to, subject=subject.strip(), now=now,
        auto_submitted="auto-generated", marker=config.smtp.from_address,
    )
    msg.set_content(body.strip() + "\n")
    msg.add_attachment(document, subtype="plain", charset="utf-8", filename=f"{title}.txt")
    return Outgoing(
        kind="announce", dedupe_key=a.dedupe_key, source_message_id="",
        envelope_from=config.smtp.from_address, recipients=(a.to,),
        message_id=str(msg["Message-ID"]), raw=serialize(msg), on_sent={},
    )


@dataclass(frozen=True, slots=True)
class Signature:
    member: Member
    language: str
    text: str
    html: str


def languages_in_use(config: Config) -> list[str]:
    """The top-level language, then each client's, each once."""
    return list(dict.fromkeys([config.default_language,
                               *(config.language_of(c) for c in config.clients)]))


def signatures(
    config: Config, env: jinja2.Environment, now: datetime, *, member: str | None = None,
    language: str | None = None,
) -> list[Signature]:
    """The signature block of each team member (or one) in each language in use (or one)."""
    members = [m for m in config.team.members if member in (None, m.address)]
    found = []
    for lang in [language] if language else languages_in_use(config):
        templates = localized(env, lang)
        for m in members:
            context = {**_schedule_in(config, lang, m.address, now), "name": m.name,
                       "address": m.address}
            found.append(Signature(m, lang, render(templates, "signature.txt.j2", **context),
                                   render(templates, "signature.html.j2", **context)))
    return found


def _schedule_in(config: Config, language: str, contact: str, now: datetime) -> dict[str, object]:
    """The schedule as a reader of `language` without a zone of its own reads it, with the
    promise every client has unless its own differs."""
    reader = ClientConfig(name="-", domains=["example.invalid"], account_manager=contact,
                          language=language)
    context = schedule_context(config, reader, contact, now)
    context["answer_days"] = config.response.answer_within_business_days
    return context


def announcement_problems(config: Config, env: jinja2.Environment, now: datetime) -> list[str]:
    """A problem for each client whose announcement, or language whose signature, does not
    render (a user's template naming a variable we do not pass): found by check-config."""
    problems = []
    for i, client in enumerate(config.clients):
        sample = Announcement(client, "someone@example.com", client.account_manager,
                              "check", now.date())
        try:
            compose_announcement(sample, config=config, env=env, now=now)
        except jinja2.TemplateError as exc:
            problems.append(f"clients[{i}]: rendering announce.txt.j2 in"
                            f" {config.language_of(client)!r} failed: {exc.message}; use only"
                            " the variables the shipped template uses")
    try:
        signatures(config, env, now)
    except jinja2.TemplateError as exc:
        problems.append(f"templates_dir: rendering signature.txt.j2 / signature.html.j2 failed:"
                        f" {exc.message}; use only the variables the shipped template uses")
    return problems
