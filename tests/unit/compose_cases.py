"""A representative set of composed messages, one or more of every kind, built from plain data.

The actions are built directly (not through `plan_window`), so the set, and the golden files
made from it under tests/unit/golden/compose/, change only when composing changes. Used by
test_compose_golden.py, test_compose_preview.py and bench/compose.py.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from boundary_mail.calendar import Promise
from boundary_mail.compose import (
    Outgoing,
    compose_alert,
    compose_auto_reply,
    compose_contact_note,
    compose_digest,
    compose_ladder,
    compose_redirect,
    sample_messages,
)
from boundary_mail.config import Config
from boundary_mail.decide import AutoReply, ContactNote, Redirect, UrgentAlert
from boundary_mail.digest import DigestData, ItemRecord, build_digests
from boundary_mail.facts import MessageFacts
from boundary_mail.headers import parse_facts
from boundary_mail.ladder import LadderStep
from boundary_mail.templates import environment
from tests.unit.factories import (
    ANN,
    BOB,
    CARLA,
    LEAD,
    MONDAY_EARLY,
    agency,
    berlin,
    message,
    tracked_item,
)

NOW = berlin(23, 10)
URGENT = {"keywords": ["urgent"], "alert_address": "pager@sms.test",
          "channel": "call +49 30 1234567"}

BODY = "Hello Bob,\r\n\r\nplease send the quote. Grüße aus Köln\r\nCarla\r\n".encode()
ORIGINAL = (
    b"Return-Path: <carla@acme.test>\r\n"
    b"Delivered-To: bob@agency.test\r\n"
    b"X-Original-To: bob@agency.test,\r\n"
    b"\tsales@agency.test\r\n"
    b"Received: from mx.acme.test (mx.acme.test [192.0.2.7])\r\n"
    b"\tby mail.agency.test (Postfix) with ESMTPS id 4Yk2;\r\n"
    b"\tMon, 23 Nov 2026 08:00:01 +0100 (CET)\r\n"
    b"From: Carla Client <carla@acme.test>\r\n"
    b"To: Bob <bob@agency.test>\r\n"
    b"Subject: Quote for the spring campaign\r\n"
    b"Date: Mon, 23 Nov 2026 07:55:00 +0100\r\n"
    b"Message-ID: <m1@acme.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + BODY
)
# Raw Latin-1 in a subject whose long URL must be folded: the stdlib parses it, but cannot
# write it again. Old mailers still send such subjects.
BROKEN = (
    b"Return-Path: <carla@acme.test>\r\n"
    b"From: Carla <carla@acme.test>\r\n"
    b"Subject: Pr\xfcfung https://files.acme.test/share/2026/spring-campaign/"
    b"final-artwork-v7-approved-by-legal.zip\r\n"
    b"Message-ID: <m1@acme.test>\r\n"
    b"\r\n"
    b"See link.\r\n"
)


def big_original(size: int = 50_000) -> bytes:
    """A client message of about `size` bytes: text plus a base64 PDF, multipart/mixed."""
    blob = base64.encodebytes(bytes(range(256)) * (size * 3 // 4 // 256 + 1))
    blob = blob.replace(b"\n", b"\r\n")[: size - 1200]
    return (
        b"Return-Path: <carla@acme.test>\r\n"
        b"From: =?utf-8?q?Carla_K=C3=B6hler?= <carla@acme.test>\r\n"
        b"To: Bob <bob@agency.test>\r\n"
        b"Subject: =?utf-8?q?Entw=C3=BCrfe_f=C3=BCr_den_Fr=C3=BChling?=\r\n"
        b"Date: Mon, 23 Nov 2026 07:55:00 +0100\r\n"
        b"Message-ID: <big@acme.test>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="client-boundary-42"\r\n'
        b"\r\n"
        b"--client-boundary-42\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + BODY + b"\r\n"
        b"--client-boundary-42\r\n"
        b"Content-Type: application/pdf; name=drafts.pdf\r\n"
        b"Content-Disposition: attachment; filename=drafts.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n" + blob.rstrip(b"\r\n") + b"\r\n"
        b"--client-boundary-42--\r\n"
    )


def facts_of(sender_line: str, *, subject: str, mid: str = "<m1@acme.test>",
             references: str = "", return_path: str = CARLA) -> MessageFacts:
    lines = [f"Return-Path: <{return_path}>", f"From: {sender_line}", f"To: {BOB}",
             f"Subject: {subject}", "Date: Mon, 23 Nov 2026 07:55:00 +0100",
             f"Message-ID: {mid}"]
    if references:
        lines += [f"In-Reply-To: {references.split()[-1]}", f"References: {references}"]
    return parse_facts(("\r\n".join(lines) + "\r\n\r\n").encode(), mailbox="bob",
                       folder="INBOX", uid=7, received_at=MONDAY_EARLY)


def promise() -> Promise:
    return Promise(MONDAY_EARLY, berlin(23, 10), berlin(24, 15))


def auto_reply(config: Config, facts: MessageFacts, **flags: Any) -> AutoReply:
    acme = config.clients[0]
    return AutoReply(facts, CARLA, BOB, "window", promise(), acme, ANN,
                     first_contact=flags.get("first_contact", False),
                     urgent=flags.get("urgent", False),
                     names_contact=flags.get("names_contact", False))


def step(index: int, *, message_id: str = "<m1@acme.test>") -> LadderStep:
    item = tracked_item(deadline=berlin(24, 15), message_id=message_id)
    notify, to = [("account_manager", ANN), ("lead", LEAD)][index]
    return LadderStep(item, index + 1, notify, to, berlin(25, 15), 8.0 * index)


def cases() -> dict[str, Callable[[], Outgoing]]:
    """Name → a function composing one message. Every kind and every branch of composing."""
    en = agency(urgent=URGENT)
    de = agency(urgent=URGENT, locale="de", response={"first_contact": "inline"})
    plain = agency(response={"html": False})
    env_en, env_de = environment(None, "en"), environment(None, "de")
    koeln = facts_of(
        "=?utf-8?q?J=C3=BCrgen_K=C3=B6hler?= <carla@acme.test>",
        subject="=?utf-8?q?Angebot_f=C3=BCr_K=C3=B6ln_=E2=80=93_Fr=C3=BChjahr?=",
        references="<r1@acme.test> <r2@acme.test>",
    )
    long_subject = facts_of(
        "Carla <carla@acme.test>", mid="<x9@boundary-mail.invalid>",
        subject="Re: " + " ".join(f"word{i}" for i in range(40)),
    )
    anonymous = facts_of("carla@acme.test", subject="URGENT: the site is down")
    acme = en.clients[0]
    digest_data = DigestData(items=(
        ItemRecord(tracked_item(deadline=berlin(24, 15)), MONDAY_EARLY),
        ItemRecord(tracked_item(deadline=berlin(20, 15), message_id="<old@acme.test>",
                                received_at=berlin(19, 9)), berlin(19, 9)),
    ))
    digests = build_digests(en, digest_data, berlin(23, 17, 30))
    made: dict[str, Callable[[], Outgoing]] = {
        "auto_reply_first_contact_attach": lambda: compose_auto_reply(
            auto_reply(en, koeln, first_contact=True, names_contact=True), config=en,
            env=env_en, now=NOW),
        "auto_reply_urgent_inline_de": lambda: compose_auto_reply(
            auto_reply(de, koeln, first_contact=True, urgent=True), config=de, env=env_de,
            now=NOW),
        "auto_reply_plain_long_subject": lambda: compose_auto_reply(
            auto_reply(plain, long_subject), config=plain, env=env_en, now=NOW),
        "auto_reply_html_no_agreement": lambda: compose_auto_reply(
            auto_reply(en, message(CARLA)), config=en, env=env_en, now=NOW),
        "contact_note": lambda: compose_contact_note(
            ContactNote(koeln, CARLA, BOB, ANN, acme), config=en, env=env_en, now=NOW),
        "redirect": lambda: compose_redirect(
            Redirect(message(CARLA), ANN, BOB), ORIGINAL, config=en, now=NOW),
        "redirect_lf_original": lambda: compose_redirect(
            Redirect(message(CARLA), ANN, BOB), ORIGINAL.replace(b"\r\n", b"\n"), config=en,
            now=NOW),
        "alert_two_recipients": lambda: compose_alert(
            UrgentAlert(anonymous, (ANN, "pager@sms.test"), "urgent keyword 'urgent'", acme),
            config=en, env=env_en, now=NOW),
        "alert_unassigned": lambda: compose_alert(
            UrgentAlert(koeln, (BOB,), "VIP sender", None), config=de, env=env_de, now=NOW),
        "ladder_reminder_original": lambda: compose_ladder(
            step(0), ORIGINAL, config=en, env=env_en, now=NOW),
        "ladder_escalation_broken": lambda: compose_ladder(
            step(1), BROKEN, config=en, env=env_en, now=NOW),
        "ladder_reminder_missing_de": lambda: compose_ladder(
            step(0, message_id="<$(rm -rf ~)@acme.test>"), None, config=de, env=env_de,
            now=NOW),
        "ladder_reminder_big_multipart": lambda: compose_ladder(
            step(0, message_id="<big@acme.test>"), big_original(), config=en, env=env_en,
            now=NOW + timedelta(minutes=1)),
    }
    for digest in digests:
        made[f"digest_{digest.recipient.partition('@')[0]}"] = (
            lambda d=digest: compose_digest(d, config=en, env=env_en, now=berlin(23, 17, 30)))
    for i, (_, sample) in enumerate(sample_messages(en, env_en, NOW)):
        made[f"sample_{i}"] = sample
    return made


def metadata(out: Outgoing) -> dict[str, object]:
    """Everything of an Outgoing but its bytes, as JSON-ready data."""
    return {
        "kind": out.kind, "dedupe_key": out.dedupe_key,
        "source_message_id": out.source_message_id, "envelope_from": out.envelope_from,
        "recipients": list(out.recipients), "on_sent": out.on_sent,
        "message_id": out.message_id,
    }
