"""The auto-reply policy: reply to people who wrote to us, never to robots, lists or loops.

Each table case is a header block as a server would store it, parsed by `parse_facts`, and
the rule that must decide it. Case ids name the RFC rule (rfc3834-s2 = RFC 3834 §2, etc.).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email import policy as email_policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundary_mail.facts import Address, MessageFacts
from boundary_mail.headers import MalformedMessage, parse_facts
from boundary_mail.policy import (
    CHECKS,
    EMPTY_SUBJECT,
    MAX_SUBJECT,
    ReplyDecision,
    clamp_period_days,
    decide_reply,
    reply_recipient,
    reply_subject,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SUBJECT_MARK = "SECRET-SUBJECT-MARK"  # must never show up in a reason

TEAM = frozenset({"ann@studio.test", "hello@studio.test", "ben@studio.test", "lead@studio.test"})
ANN = frozenset({"ann@studio.test", "hello@studio.test"})  # the monitored mailbox: owner + alias
MARKERS = frozenset({"assistant@studio.test", "ann@studio.test"})

HUMAN = {
    "Return-Path": "<client@acme.test>",
    "From": "Carla Client <client@acme.test>",
    "To": "Ann <ann@studio.test>",
    "Subject": f"Quote for Q4 {SUBJECT_MARK}",
    "Date": "Fri, 20 Nov 2026 16:05:00 +0100",
    "Message-ID": "<m1@acme.test>",
}


def human(*extra: str, **override: str | None) -> str:
    """A person's message; keyword names use _ for -, None drops a header; extra lines added."""
    fields = dict(HUMAN)
    for key, value in override.items():
        name = key.replace("_", "-")
        fields.pop(name, None)
        if value is not None:
            fields[name] = value
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "".join(
        f"{line}\r\n" for line in extra
    )


def parse(raw: str) -> MessageFacts:
    return parse_facts(
        raw.encode("utf-8") + b"\r\n", mailbox="ann", folder="INBOX", uid=1, received_at=NOW
    )


def decide(facts: MessageFacts, **overrides: Any) -> ReplyDecision:
    kwargs: dict[str, Any] = {
        "own_addresses": TEAM,
        "recipient_addresses": ANN,
        "system_senders": (),
        "loop_markers": MARKERS,
        "last_reply_at": None,
        "now": NOW,
        "period_days": 7,
    }
    kwargs.update(overrides)
    return decide_reply(facts, **kwargs)


# Realistic robots, modelled on the headers real systems write.
BOUNDARY_MAIL_REPLY = """\
Return-Path: <>
From: Ann <ann@studio.test>
To: client@acme.test
Subject: Auto: Quote for Q4
Message-ID: <auto-reply.1@studio.test>
Auto-Submitted: auto-replied
Precedence: bulk
X-Auto-Response-Suppress: All
X-Loop: assistant@studio.test
X-Boundary-Mail: auto-reply
"""
OTHER_BOUNDARY_MAIL_REPLY = """\
Return-Path: <robot@other-agency.test>
From: Dee <dee@other-agency.test>
To: ann@studio.test
Subject: Auto: Hello
X-Boundary-Mail: auto-reply
"""
GMAIL_VACATION = """\
Return-Path: <carla.client@gmail.test>
From: Carla Client <carla.client@gmail.test>
To: Ann <ann@studio.test>
Subject: Re: Quote for Q4
Message-ID: <CAFoo+vacation@mail.gmail.test>
In-Reply-To: <q4@studio.test>
Auto-Submitted: auto-replied
Content-Type: multipart/alternative; boundary="000000000000abc"
"""
OUTLOOK_OOF = """\
Return-Path: <carla@acme-corp.test>
From: Carla <carla@acme-corp.test>
To: Ann <ann@studio.test>
Subject: Automatic reply: Quote for Q4
Thread-Topic: Quote for Q4
Message-ID: <DB9PR01MB0001@eurprd01.prod.outlook.test>
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: carla@acme-corp.test
Content-Type: multipart/alternative; boundary="_000_DB9PR01MB0001_"
"""
OLD_EXCHANGE_OOF = """\
Return-Path: <carla@acme-corp.test>
From: Carla <carla@acme-corp.test>
To: ann@studio.test
Subject: Out of Office: Quote for Q4
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: carla@acme-corp.test
"""
MAILMAN_LIST = """\
Return-Path: <devs-bounces+ann=studio.test@lists.example.test>
From: Someone <someone@example.test>
To: devs@lists.example.test
Cc: ann@studio.test
Subject: [Devs] release plan
List-Id: Developers <devs.lists.example.test>
List-Help: <mailto:devs-request@lists.example.test?subject=help>
List-Post: <mailto:devs@lists.example.test>
List-Subscribe: <mailto:devs-join@lists.example.test>
List-Unsubscribe: <mailto:devs-leave@lists.example.test>
List-Archive: <https://lists.example.test/archives/list/devs@lists.example.test/>
Precedence: list
X-Mailman-Version: 3.3.8
"""
GITHUB_NOTIFICATION = """\
Return-Path: <noreply@github.test>
From: Octo Cat <notifications@github.test>
Reply-To: owner/repo <reply+AAAB@reply.github.test>
To: owner/repo <repo@noreply.github.test>
Cc: Ann <ann@studio.test>, Mention <mention@noreply.github.test>
Subject: Re: [owner/repo] Fix the build (PR #42)
Message-ID: <owner/repo/pull/42/c1@github.test>
List-ID: owner/repo <repo.owner.github.test>
List-Archive: https://github.test/owner/repo
List-Unsubscribe: <mailto:unsub+AAAB@reply.github.test>
X-GitHub-Reason: mention
"""
POSTFIX_BOUNCE = """\
Return-Path: <>
From: MAILER-DAEMON@mx.acme.test (Mail Delivery System)
To: ann@studio.test
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"
"""
BOUNCE_WITH_REVERSE_PATH = """\
Return-Path: <MAILER-DAEMON@mx.acme.test>
From: Mail Delivery Subsystem <MAILER-DAEMON@mx.acme.test>
To: ann@studio.test
Subject: Returned mail: see transcript for details
"""
GATEWAY_DSN = """\
Return-Path: <postmaster@gw.acme.test>
From: postmaster@gw.acme.test
To: ann@studio.test
Subject: Delivery Status Notification (Failure)
Content-Type: multipart/report; report-type=delivery-status; boundary="B2"
"""
MDN = """\
Return-Path: <client@acme.test>
From: Carla Client <client@acme.test>
To: ann@studio.test
Subject: Read: Quote for Q4
Content-Type: multipart/report; report-type=disposition-notification; boundary="B3"
"""
ARF_REPORT = """\
Return-Path: <fbl@isp.test>
From: abuse@isp.test
To: ann@studio.test
Subject: FW: complaint
Content-Type: multipart/report; report-type=feedback-report; boundary="B4"
"""
SIEVE_VACATION = """\
Return-Path: <>
From: Carla Client <client@acme.test>
To: <ann@studio.test>
Subject: Auto: Quote for Q4
Auto-Submitted: auto-replied (vacation)
Precedence: bulk
X-Auto-Response-Suppress: All
"""
SIEVE_VACATION_FROM_RECIPIENT = """\
Return-Path: <client@acme.test>
From: Carla Client <client@acme.test>
To: <ann@studio.test>
Subject: Auto: Quote for Q4
Auto-Submitted: auto-replied (vacation)
Precedence: bulk
X-Auto-Response-Suppress: All
"""

DAY = timedelta(days=1)

CASES = [
    # 1. Our own mail and loops.
    pytest.param(BOUNDARY_MAIL_REPLY, "our-own-mail", {}, id="loop-our-own-boundary-mail-reply"),
    pytest.param(OTHER_BOUNDARY_MAIL_REPLY, "our-own-mail", {},
                 id="loop-another-boundary-mail-instance-reply"),
    pytest.param(human("X-Loop: assistant@studio.test"), "loop", {}, id="loop-x-loop-our-marker"),
    pytest.param(human("X-Loop: list@elsewhere.test", "X-Loop: <Assistant@Studio.Test>"), "loop",
                 {}, id="loop-x-loop-second-value-case-insensitive"),
    pytest.param(human("X-Loop: list@elsewhere.test"), "reply", {},
                 id="loop-foreign-x-loop-still-replies"),
    # 2. Return-Path (RFC 3834 §4).
    pytest.param(human(Return_Path=None), "no-return-path", {},
                 id="rfc3834-s4-missing-return-path-no-fallback-to-from"),
    pytest.param(human(Return_Path=None, Reply_To="client@acme.test"), "no-return-path", {},
                 id="rfc3834-s4-missing-return-path-reply-to-ignored"),
    pytest.param(human(Return_Path="<>"), "null-return-path", {},
                 id="rfc3834-s4-null-return-path"),
    pytest.param(POSTFIX_BOUNCE, "null-return-path", {},
                 id="rfc3834-s4-mailer-daemon-bounce-null-path-multipart-report"),
    pytest.param(SIEVE_VACATION, "null-return-path", {},
                 id="rfc5230-s5-1-sieve-vacation-reply-null-envelope"),
    pytest.param(human(Return_Path="<bounce-77@mailer.acme.test>"), "reply", {},
                 id="rfc3834-s4-return-path-differs-from-from-replies"),
    # 3. Own addresses (RFC 5230 §4.5, Pigeonhole "no reply to own address").
    pytest.param(human(Return_Path="<ben@studio.test>", From="Ben <ben@studio.test>"),
                 "own-address", {}, id="rfc5230-s4-5-sender-is-team-member"),
    pytest.param(human(Return_Path="<Ann@Studio.Test>"), "own-address", {},
                 id="rfc5230-s4-5-return-path-is-own-address-case-insensitive"),
    pytest.param(human(From="Lead <LEAD@studio.test>"), "own-address", {},
                 id="rfc5230-s4-5-from-is-team-lead"),
    # 4. List-* headers (RFC 2369, RFC 2919; RFC 5230 §4.6).
    *[
        pytest.param(human(f"{name}: {value}"), "list-header", {},
                     id=f"rfc5230-s4-6-{name.lower()}")
        for name, value in (
            ("List-Id", "Devs <devs.lists.example.test>"),
            ("List-Help", "<mailto:devs-request@lists.example.test?subject=help>"),
            ("List-Subscribe", "<mailto:devs-join@lists.example.test>"),
            ("List-Unsubscribe", "<https://news.example.test/unsub?u=1>"),
            ("List-Post", "NO"),
            ("List-Owner", "<mailto:devs-owner@lists.example.test>"),
            ("List-Archive", "<https://lists.example.test/archives/devs>"),
        )
    ],
    pytest.param(MAILMAN_LIST, "list-header", {}, id="rfc2369-mailman-list-post"),
    pytest.param(GITHUB_NOTIFICATION, "list-header", {}, id="rfc2919-github-notification"),
    pytest.param(human("List-Id: <x.test>", "Auto-Submitted: auto-generated"), "list-header", {},
                 id="rfc5230-s4-6-list-checked-before-auto-submitted"),
    # 5. Auto-Submitted (RFC 3834 §2, RFC 5230 §4.6).
    pytest.param(human("Auto-Submitted: auto-replied"), "auto-submitted", {},
                 id="rfc3834-s2-auto-submitted-auto-replied"),
    pytest.param(human("Auto-Submitted: auto-generated"), "auto-submitted", {},
                 id="rfc3834-s2-auto-submitted-auto-generated"),
    pytest.param(human("Auto-Submitted: auto-notified"), "auto-submitted", {},
                 id="rfc5436-auto-submitted-auto-notified"),
    pytest.param(human("Auto-Submitted: yes"), "auto-submitted", {},
                 id="rfc3834-s2-auto-submitted-any-other-value-yes"),
    pytest.param(human('Auto-Submitted: auto-generated; owner-email="ops@acme.test"'),
                 "auto-submitted", {}, id="rfc3834-s5-auto-submitted-with-parameter"),
    pytest.param(human("Auto-Submitted: no", "Auto-Submitted: Auto-Generated"), "auto-submitted",
                 {}, id="rfc3834-s2-auto-submitted-multiple-one-not-no"),
    pytest.param(human("Auto-Submitted:"), "auto-submitted", {},
                 id="rfc3834-s2-auto-submitted-empty-is-not-no"),
    pytest.param(GMAIL_VACATION, "auto-submitted", {}, id="rfc3834-s2-gmail-vacation-reply"),
    pytest.param(OUTLOOK_OOF, "auto-submitted", {}, id="rfc3834-s2-outlook-oof"),
    pytest.param(SIEVE_VACATION_FROM_RECIPIENT, "auto-submitted", {},
                 id="rfc3834-s2-sieve-vacation-auto-replied-comment"),
    pytest.param(human("Auto-Submitted: no"), "reply", {}, id="rfc3834-s2-auto-submitted-no"),
    pytest.param(human("Auto-Submitted: No (sent by a person)"), "reply", {},
                 id="rfc3834-s2-auto-submitted-no-with-comment"),
    # 6. Precedence (RFC 3834 §2 note; Pigeonhole practice).
    pytest.param(human("Precedence: bulk"), "precedence", {}, id="rfc3834-s2-precedence-bulk"),
    pytest.param(human("Precedence: list"), "precedence", {}, id="rfc3834-s2-precedence-list"),
    pytest.param(human("Precedence: JUNK"), "precedence", {},
                 id="rfc3834-s2-precedence-junk-uppercase"),
    pytest.param(human("Precedence: normal"), "reply", {}, id="rfc3834-s2-precedence-normal"),
    pytest.param(human("Precedence: first-class"), "reply", {},
                 id="rfc3834-s2-precedence-first-class"),
    pytest.param(human("Precedence: bulky"), "reply", {},
                 id="rfc3834-s2-precedence-bulky-is-not-bulk"),
    # 7. X-Auto-Response-Suppress (Microsoft; Pigeonhole reply.svtest).
    pytest.param(human("X-Auto-Response-Suppress: All"), "x-auto-response-suppress", {},
                 id="ms-oxcmail-x-auto-response-suppress-all"),
    pytest.param(human("X-Auto-Response-Suppress: OOF"), "x-auto-response-suppress", {},
                 id="ms-oxcmail-x-auto-response-suppress-oof"),
    pytest.param(human("X-Auto-Response-Suppress: autoreply"), "x-auto-response-suppress", {},
                 id="ms-oxcmail-x-auto-response-suppress-autoreply-lowercase"),
    pytest.param(human("X-Auto-Response-Suppress: DR, OOF,\tRN"), "x-auto-response-suppress",
                 {}, id="ms-oxcmail-x-auto-response-suppress-list-with-tab"),
    pytest.param(human("X-Auto-Response-Suppress: DR", "X-Auto-Response-Suppress: All"),
                 "x-auto-response-suppress", {},
                 id="ms-oxcmail-x-auto-response-suppress-multiple-headers"),
    pytest.param(OLD_EXCHANGE_OOF, "x-auto-response-suppress", {},
                 id="ms-oxcmail-old-exchange-oof"),
    pytest.param(human("X-Auto-Response-Suppress: None"), "reply", {},
                 id="ms-oxcmail-x-auto-response-suppress-none"),
    pytest.param(human("X-Auto-Response-Suppress: DR"), "reply", {},
                 id="ms-oxcmail-x-auto-response-suppress-dr-only"),
    pytest.param(human("X-Auto-Response-Suppress: DR, RN"), "reply", {},
                 id="ms-oxcmail-x-auto-response-suppress-dr-rn"),
    # 8. System senders (RFC 5230 §4.6).
    pytest.param(BOUNCE_WITH_REVERSE_PATH, "system-sender", {},
                 id="rfc5230-s4-6-mailer-daemon-with-reverse-path"),
    pytest.param(human(Return_Path="<LISTSERV@lists.acme.test>"), "system-sender", {},
                 id="rfc5230-s4-6-listserv"),
    pytest.param(human(From="Majordomo@lists.acme.test"), "system-sender", {},
                 id="rfc5230-s4-6-majordomo-in-from"),
    pytest.param(human(Return_Path="<dovecot-request@dovecot.test>"), "system-sender", {},
                 id="rfc5230-s4-6-local-part-ends-with-request"),
    pytest.param(human(Return_Path="<owner-devs@lists.acme.test>"), "system-sender", {},
                 id="rfc5230-s4-6-local-part-starts-with-owner"),
    pytest.param(human(Return_Path="<postmaster@acme.test>", From="postmaster@acme.test"),
                 "reply", {}, id="rfc5230-s4-6-postmaster-is-read-by-humans"),
    pytest.param(human(Return_Path="<requests@acme.test>"), "reply", {},
                 id="rfc5230-s4-6-requests-is-not-request-suffix"),
    pytest.param(human(Return_Path="<jo-request-info@acme.test>"), "reply", {},
                 id="rfc5230-s4-6-request-inside-local-part"),
    pytest.param(human(Return_Path="<info-request-form@acme.test>"), "reply", {},
                 id="rfc5230-s4-6-info-request-form"),
    pytest.param(human(Return_Path="<owner@acme.test>"), "reply", {},
                 id="rfc5230-s4-6-owner-without-dash"),
    pytest.param(human(Return_Path="<noreply@shop.test>", From="noreply@shop.test"), "reply", {},
                 id="rfc5230-s4-6-noreply-not-blocked-without-config"),
    pytest.param(human(Return_Path="<no-reply@shop.test>"), "system-sender",
                 {"system_senders": ["No-Reply"]}, id="rfc5230-s4-6-configured-local-part"),
    pytest.param(human(From="Billing <billing@vendor.test>"), "system-sender",
                 {"system_senders": ["billing@vendor.test"]},
                 id="rfc5230-s4-6-configured-full-address-in-from"),
    pytest.param(human(Return_Path="<x1@notify.vendor.test>"), "system-sender",
                 {"system_senders": ["@notify.vendor.test"]},
                 id="rfc5230-s4-6-configured-domain"),
    pytest.param(human(Return_Path="<x1@vendor.test>"), "reply",
                 {"system_senders": ["@notify.vendor.test", "billing@vendor.test", "", "@"]},
                 id="rfc5230-s4-6-configured-entries-match-exactly"),
    # 9. Delivery reports and MDNs (RFC 6522, RFC 3464, RFC 8098).
    pytest.param(GATEWAY_DSN, "delivery-report", {}, id="rfc3464-dsn-with-reverse-path"),
    pytest.param(MDN, "delivery-report", {}, id="rfc8098-mdn-read-receipt"),
    pytest.param(ARF_REPORT, "delivery-report", {}, id="rfc5965-feedback-report"),
    pytest.param(human("Content-Type: message/delivery-status"), "delivery-report", {},
                 id="rfc3464-bare-message-delivery-status"),
    # 10. Explicitly addressed (RFC 3834 §2, RFC 5230 §4.5).
    pytest.param(human(To="all@studio.test"), "not-addressed", {},
                 id="rfc5230-s4-5-implicit-delivery-group-address"),
    pytest.param(human(To="undisclosed-recipients:;"), "not-addressed", {},
                 id="rfc5230-s4-5-bcc-only-is-invisible"),
    pytest.param(human(To=None), "not-addressed", {}, id="rfc5230-s4-5-no-recipient-headers"),
    pytest.param(human(To="all@studio.test", Cc="Ann <ann@studio.test>"), "reply", {},
                 id="rfc5230-s4-5-owner-in-cc-only"),
    pytest.param(human(To="Hello <hello@studio.test>"), "reply", {},
                 id="rfc5230-s4-5-declared-alias"),
    pytest.param(human(To="ANN@Studio.TEST"), "reply", {},
                 id="rfc5230-s4-5-address-case-insensitive"),
    pytest.param(human(To="all@studio.test"), "reply",
                 {"recipient_addresses": frozenset({"All@Studio.Test"})},
                 id="rfc5230-s4-5-configured-address-case-insensitive"),
    pytest.param(human("Resent-To: ann@studio.test", To="old@elsewhere.test"), "reply", {},
                 id="rfc5230-s4-5-resent-to"),
    pytest.param(human("Resent-Cc: hello@studio.test", To="old@elsewhere.test"), "reply", {},
                 id="rfc5230-s4-5-resent-cc"),
    # 11. Rate limit (RFC 3834 §2, RFC 5230 §4.1).
    pytest.param(human(), "reply", {"last_reply_at": NOW - 7 * DAY},
                 id="rfc5230-s4-1-exactly-period-ago-replies"),
    pytest.param(human(), "rate-limited", {"last_reply_at": NOW - 7 * DAY + timedelta(seconds=1)},
                 id="rfc5230-s4-1-one-second-inside-period"),
    pytest.param(human(), "rate-limited", {"last_reply_at": NOW - DAY, "period_days": 2},
                 id="rfc5230-s4-1-inside-custom-period"),
    pytest.param(human(), "reply", {"last_reply_at": NOW - DAY, "period_days": 0},
                 id="rfc5230-s4-1-period-0-clamped-to-1-day"),
    pytest.param(human(), "rate-limited",
                 {"last_reply_at": NOW - DAY + timedelta(seconds=1), "period_days": 0},
                 id="rfc5230-s4-1-period-0-clamped-still-limits"),
    pytest.param(human(), "reply", {"last_reply_at": NOW - 60 * DAY, "period_days": 90},
                 id="rfc5230-s4-1-period-90-clamped-to-60-days"),
    pytest.param(human(), "rate-limited", {"last_reply_at": NOW - 59 * DAY, "period_days": 90},
                 id="rfc5230-s4-1-period-90-clamped-still-limits"),
    pytest.param(human(), "rate-limited", {"last_reply_at": NOW + DAY},
                 id="rfc5230-s4-1-last-reply-in-future-waits"),
    # The ordinary case: a person wrote to us.
    pytest.param(human(), "reply", {}, id="rfc3834-s2-person-wrote-to-owner"),
    pytest.param(
        human("Auto-Submitted: no", "Precedence: normal", "X-Auto-Response-Suppress: None"),
        "reply", {}, id="rfc5230-pigeonhole-reply-for-normal-mail",
    ),
]


@pytest.mark.parametrize(("raw", "rule", "overrides"), CASES)
def test_decision_table(raw: str, rule: str, overrides: dict[str, Any]) -> None:
    """Each message is decided by the rule named in its case id, and only a reply replies."""
    decision = decide(parse(raw), **overrides)
    assert (decision.rule, decision.reply) == (rule, rule == "reply"), decision.reason


@pytest.mark.parametrize(("raw", "rule", "overrides"), CASES)
def test_reasons_are_one_sentence_without_the_subject(
    raw: str, rule: str, overrides: dict[str, Any]
) -> None:
    """A reason is one line ending in a full stop and never repeats the subject (logs)."""
    reason = decide(parse(raw), **overrides).reason
    assert SUBJECT_MARK not in reason and "Quote for Q4" not in reason
    assert reason.endswith(".") and "\n" not in reason and "\r" not in reason


def test_the_table_has_enough_cases_and_every_rule() -> None:
    """The table covers every rule slug, each with several cases."""
    rules = {case.values[1] for case in CASES}
    assert len(CASES) >= 45
    assert rules == {
        "our-own-mail", "loop", "no-return-path", "null-return-path", "own-address",
        "list-header", "auto-submitted", "precedence", "x-auto-response-suppress",
        "system-sender", "delivery-report", "not-addressed", "rate-limited", "reply",
    }
    assert len(CHECKS) == 11


def test_reasons_name_the_header_value() -> None:
    """The reason names the offending header and its value, and cites the RFC."""
    reason = decide(parse(human("Auto-Submitted: auto-replied (vacation)"))).reason
    assert "Auto-Submitted" in reason and "auto-replied (vacation)" in reason
    assert "RFC 3834" in reason


def test_an_addressed_empty_recipient_set_never_replies() -> None:
    """Without any declared mailbox address nothing counts as explicitly addressed."""
    assert decide(parse(human()), recipient_addresses=frozenset()).rule == "not-addressed"


def test_facts_built_directly_are_normalised() -> None:
    """Mixed-case addresses in facts built by hand match like parsed ones."""
    facts = MessageFacts(
        mailbox="ann", folder="INBOX", uid=1, message_id="<x@y>", received_at=NOW,
        sender=Address("", "Client@Acme.Test"), return_path="Client@Acme.Test",
        to=(Address("", "Ann@Studio.Test"),),
    )
    assert decide(facts).rule == "reply"
    assert reply_recipient(facts) == "client@acme.test"


def test_naive_last_reply_time_is_read_as_utc() -> None:
    """A naive timestamp from an old store row is UTC; the decision never raises on it."""
    naive = (NOW - DAY).replace(tzinfo=None)
    assert decide(parse(human()), last_reply_at=naive).rule == "rate-limited"


@pytest.mark.parametrize(("days", "clamped"), [(-5, 1), (0, 1), (1, 1), (7, 7), (60, 60),
                                               (90, 60)])
def test_period_is_clamped_to_1_to_60_days(days: int, clamped: int) -> None:
    """RFC 5230 §4.1 lets a site clamp :days; Pigeonhole allows 1-60 days."""
    assert clamp_period_days(days) == clamped


# reply_recipient: RFC 3834 §4.


def test_reply_goes_to_the_return_path_only() -> None:
    """Never Reply-To, From or Sender: the Return-Path, lower-cased."""
    raw = human(
        "Sender: Assistant <assistant@acme.test>",
        Return_Path="<Bounces+X@Mailer.Acme.Test>", Reply_To="other@acme.test",
    )
    assert reply_recipient(parse(raw)) == "bounces+x@mailer.acme.test"


@pytest.mark.parametrize(
    "raw",
    [human(Return_Path=None, Reply_To="r@acme.test"), human(Return_Path="<>")],
    ids=["rfc3834-s4-missing", "rfc3834-s4-null"],
)
def test_no_reply_recipient_without_a_usable_return_path(raw: str) -> None:
    """A missing or null Return-Path gives no recipient; nothing falls back to From."""
    assert reply_recipient(parse(raw)) is None


@pytest.mark.parametrize("path", ["nobody", "a b@c.test", "x@y.test\r\nBcc: v@evil.test", "@x"])
def test_a_malformed_return_path_is_unusable(path: str) -> None:
    """Facts built by hand with a broken path never yield a recipient or a reply."""
    facts = MessageFacts(
        mailbox="ann", folder="INBOX", uid=1, message_id="<x@y>", received_at=NOW,
        sender=Address("", "client@acme.test"), return_path=path,
        to=(Address("", "ann@studio.test"),),
    )
    assert reply_recipient(facts) is None
    assert decide(facts).rule == "null-return-path"


# reply_subject: RFC 3834 §3.1.5.


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Quote for Q4", "Auto: Quote for Q4"),
        ("", EMPTY_SUBJECT),
        ("   \t ", EMPTY_SUBJECT),
        ("Auto: Quote", "Auto: Quote"),
        ("AUTO:Auto:  Quote", "Auto: Quote"),
        ("Auto:", EMPTY_SUBJECT),
        ("Re: Auto: Quote", "Auto: Re: Auto: Quote"),
        ("Grüße aus Köln", "Auto: Grüße aus Köln"),
        ("見積もりについて", "Auto: 見積もりについて"),
        ("a  \t b", "Auto: a b"),
        ("Hello\r\nBcc: victim@evil.test", "Auto: Hello Bcc: victim@evil.test"),
        ("x\x00y\x1bz\u2028w\x85v", "Auto: x y z w v"),
    ],
    ids=["plain", "empty", "blank", "no-stacking", "no-stacking-repeated", "prefix-only",
         "re-kept", "german", "japanese", "whitespace", "crlf", "controls-and-separators"],
)
def test_reply_subject(subject: str, expected: str) -> None:
    """'Auto: ' + the original subject, one prefix, one line, non-ASCII kept."""
    assert reply_subject(subject) == expected


def test_long_subject_is_cut_at_a_word_boundary_with_ellipsis() -> None:
    """Pigeonhole's rule: a very long subject is truncated and ends with '…'."""
    result = reply_subject("word " * 100)
    assert len(result) <= MAX_SUBJECT and result.endswith("word…")


def test_long_japanese_subject_from_an_encoded_word_is_cut() -> None:
    """A subject with no spaces is cut hard; multibyte text survives RFC 2047 decoding."""
    word = "=?utf-8?b?" + base64.b64encode(("日本語" * 5).encode()).decode() + "?="
    facts = parse(human(Subject="\r\n ".join([word] * 20)))  # folded, as mailers send it
    assert facts.subject == "日本語" * 100
    result = reply_subject(facts.subject)
    assert result.startswith("Auto: 日本語") and result.endswith("…")
    assert len(result) <= MAX_SUBJECT


def test_crlf_from_an_encoded_word_cannot_inject_a_header() -> None:
    """Subject: =?utf-8?q?Hello=0D=0ABcc:...?= yields one Subject and no Bcc on the wire."""
    facts = parse(human(Subject="=?utf-8?q?Hello=0D=0ABcc:_victim@evil.test?="))
    subject = reply_subject(facts.subject)
    assert "\r" not in subject and "\n" not in subject
    assert reply_subject("Hello\r\nBcc: victim@evil.test") == "Auto: Hello Bcc: victim@evil.test"
    for candidate in (subject, reply_subject("Hello\r\nBcc: victim@evil.test")):
        msg = EmailMessage()
        msg["From"] = "ann@studio.test"
        msg["To"] = "client@acme.test"
        msg["Subject"] = candidate
        msg.set_content("body")
        wire = msg.as_bytes(policy=email_policy.SMTP)
        back = BytesParser(policy=email_policy.default).parsebytes(wire)
        assert back.get_all("Subject") == [candidate]
        assert "Bcc" not in back
        assert not any(line.lower().startswith(b"bcc:") for line in wire.split(b"\r\n"))


# Properties.


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(exclude_categories=()), max_size=600))
def test_reply_subject_is_always_one_safe_bounded_line(subject: str) -> None:
    """For any text: no CR, LF or NUL, bounded length, exactly one 'Auto: ' prefix."""
    result = reply_subject(subject)
    assert not set(result) & {"\r", "\n", "\x00"}
    assert len(result) <= MAX_SUBJECT
    assert result == EMPTY_SUBJECT or (
        result.startswith("Auto: ") and not result[6:].lower().startswith("auto:")
    )
    result.encode("utf-8")  # no lone surrogates


_addresses = st.builds(
    Address,
    st.text(max_size=10),
    st.one_of(
        st.sampled_from(["ann@studio.test", "ben@studio.test", "client@acme.test",
                         "mailer-daemon@mx.test", "x-request@l.test", "", "@", "a@"]),
        st.text(max_size=20),
    ),
)
_values = st.one_of(
    st.sampled_from(["no", "auto-replied", "bulk", "All", "DR, OOF", "", "(", "no (x"]),
    st.text(max_size=20),
)
_facts = st.builds(
    MessageFacts,
    mailbox=st.just("ann"),
    folder=st.just("INBOX"),
    uid=st.integers(0, 10),
    message_id=st.text(max_size=10),
    received_at=st.just(NOW),
    sender=st.none() | _addresses,
    return_path=st.none() | st.sampled_from(["", "client@acme.test", "<x@y>"]) | st.text(),
    to=st.lists(_addresses, max_size=3).map(tuple),
    cc=st.lists(_addresses, max_size=2).map(tuple),
    resent_to=st.lists(_addresses, max_size=1).map(tuple),
    auto_submitted=st.lists(_values, max_size=2).map(tuple),
    precedence=_values,
    list_headers=st.lists(st.sampled_from(["List-Id", "List-Post", "X-Other"]), max_size=2)
    .map(tuple),
    auto_response_suppress=st.lists(_values, max_size=2).map(tuple),
    x_loop=st.lists(_values, max_size=2).map(tuple),
    content_type=st.sampled_from(["text/plain", "multipart/report", "MESSAGE/delivery-status"])
    | st.text(max_size=10),
    our_marker=st.sampled_from(["", "", "auto-reply"]),
)


@settings(max_examples=500)
@given(
    facts=_facts,
    last=st.none() | st.datetimes(timezones=st.none() | st.just(UTC)),
    period=st.integers(-(10**9), 10**9),
    system=st.lists(st.text(max_size=8) | st.sampled_from(["@", "@acme.test", "noreply"])),
)
def test_decide_reply_is_total_and_never_replies_without_a_recipient(
    facts: MessageFacts, last: datetime | None, period: int, system: list[str]
) -> None:
    """Any facts get a decision, never an exception; a reply always has a Return-Path target
    and never goes to automatic or list mail."""
    decision = decide(facts, last_reply_at=last, period_days=period, system_senders=system)
    assert decision.rule and decision.reason
    if decision.reply:
        assert reply_recipient(facts) is not None
        assert not facts.our_marker
        assert not {"List-Id", "List-Post"} & set(facts.list_headers)
        assert all("no" in v.lower() for v in facts.auto_submitted)


_header_lines = st.lists(
    st.sampled_from([
        "Return-Path: <>", "Return-Path: <client@acme.test>", "From: client@acme.test",
        "From: MAILER-DAEMON@mx.test", "To: ann@studio.test", "Cc: hello@studio.test",
        "Auto-Submitted: no", "Auto-Submitted: auto-replied", "Precedence: bulk",
        "List-Id: <l.test>", "X-Auto-Response-Suppress: OOF", "X-Loop: assistant@studio.test",
        "Content-Type: multipart/report; report-type=delivery-status", "X-Boundary-Mail: x",
        "Subject: =?utf-8?q?a=0D=0Ab?=", "To: =?broken", "Return-Path: garbage",
    ])
    | st.text(max_size=30).map(lambda t: "X-Junk: " + t),
    max_size=10,
)


@settings(max_examples=300)
@given(_header_lines)
def test_any_parsed_header_block_gets_a_decision(lines: list[str]) -> None:
    """Whatever parse_facts makes of a header block, the policy decides it without raising."""
    raw = "\r\n".join(lines).encode("utf-8", "surrogateescape") + b"\r\n\r\n"
    try:
        facts = parse_facts(raw, mailbox="ann", folder="INBOX", uid=1, received_at=NOW)
    except MalformedMessage:
        return
    decision = decide(facts)
    assert isinstance(decision, ReplyDecision)
    assert "\n" not in reply_subject(facts.subject)
