"""Header parsing: take what can be read, never crash, never let CR/LF through."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boundary_mail.headers import MalformedMessage, body_preview, message_key, parse_facts

NOW = datetime(2026, 11, 20, 15, 5, tzinfo=UTC)


def facts(raw: bytes, **kw: object):  # type: ignore[no-untyped-def]
    return parse_facts(raw, mailbox="ann", folder="INBOX", uid=7, received_at=NOW, **kw)  # type: ignore[arg-type]


CLIENT = (
    b"Return-Path: <Client@Acme.test>\r\n"
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <Client@Acme.test>\r\n"
    b"To: Ann <ann@agency.test>, bob@agency.test\r\n"
    b"Cc: lead@agency.test\r\n"
    b"Subject: =?utf-8?q?Angebot_f=C3=BCr_Q4?=\r\n"
    b"Date: Fri, 20 Nov 2026 16:05:00 +0100\r\n"
    b"Message-ID: <abc@acme.test>\r\n"
    b"In-Reply-To: <x1@agency.test>\r\n"
    b"References: <x0@agency.test> <x1@agency.test>\r\n\r\n"
)


def test_a_normal_client_message_yields_every_fact() -> None:
    """Addresses are lower-cased, encoded words decoded, ids and dates kept."""
    f = facts(CLIENT, flags=("\\Seen",), size=1234)
    assert f.sender is not None and f.sender.email == "client@acme.test"
    assert f.sender.name == "Jürgen Müller"
    assert f.return_path == "client@acme.test"
    assert [a.email for a in f.to] == ["ann@agency.test", "bob@agency.test"]
    assert [a.email for a in f.cc] == ["lead@agency.test"]
    assert f.subject == "Angebot für Q4"
    assert f.message_id == "<abc@acme.test>"
    assert f.in_reply_to == ("<x1@agency.test>",)
    assert f.references == ("<x0@agency.test>", "<x1@agency.test>")
    assert f.thread_ids == ("<x1@agency.test>", "<x0@agency.test>")
    assert f.date == datetime(2026, 11, 20, 15, 5, tzinfo=UTC)
    assert f.flags == frozenset({"\\Seen"}) and f.size == 1234


def test_null_return_path_is_the_empty_string() -> None:
    """Return-Path: <> (a bounce) is kept apart from a missing Return-Path (None)."""
    bounce = facts(b"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.test\r\nSubject: x\r\n\r\n")
    assert bounce.return_path == ""
    plain = facts(b"From: a@b.test\r\nSubject: x\r\n\r\n")
    assert plain.return_path is None


def test_robot_markers_are_collected() -> None:
    """Auto-Submitted (all values), Precedence, List-*, X-Auto-Response-Suppress, X-Loop."""
    f = facts(
        b"From: list@lists.test\r\nAuto-Submitted: auto-generated\r\nAuto-Submitted: No\r\n"
        b"Precedence: Bulk\r\nList-Id: <x.lists.test>\r\nList-Unsubscribe: <mailto:u@l.test>\r\n"
        b"X-Auto-Response-Suppress: DR, OOF\r\nX-Loop: assistant@agency.test\r\n"
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n"
    )
    assert f.auto_submitted == ("auto-generated", "no")
    assert f.precedence == "bulk"
    assert f.list_headers == ("List-Id", "List-Unsubscribe")
    assert f.auto_response_suppress == ("DR, OOF",)
    assert f.x_loop == ("assistant@agency.test",)
    assert (f.content_type, f.report_type) == ("multipart/report", "delivery-status")


def test_missing_message_id_gets_a_stable_stand_in() -> None:
    """The same headers always give the same synthetic id, so nothing is processed twice."""
    raw = b"From: a@b.test\r\nSubject: no id\r\n\r\n"
    assert facts(raw).message_id == facts(raw).message_id
    assert facts(raw).message_id.endswith("@boundary-mail.invalid>")
    assert facts(raw).message_id != facts(raw + b"X: y\r\n").message_id


def test_encoded_crlf_in_subject_is_flattened() -> None:
    """An encoded CR/LF in a header can never reach a header we write."""
    f = facts(b"From: a@b.test\r\nSubject: =?utf-8?q?hi=0D=0ABcc:_victim@x.test?=\r\n\r\n")
    assert "\r" not in f.subject and "\n" not in f.subject
    assert "Bcc: victim@x.test" in f.subject


def test_invalid_date_is_ignored_not_fatal() -> None:
    f = facts(b"From: a@b.test\r\nDate: the thirty-second of Smarch\r\n\r\n")
    assert f.date is None


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty header block"),
        (b"\r\n\r\n", "empty header block"),
        (b"Subject: who am I\r\n\r\n", "neither From nor Return-Path"),
        (b"From: not an address\r\nReturn-Path: <>\r\n\r\n", "neither From nor Return-Path"),
    ],
)
def test_hopeless_headers_are_rejected_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(MalformedMessage, match=reason):
        facts(raw)


def test_message_key_hides_the_message_id() -> None:
    key = message_key("<secret-project@acme.test>")
    assert len(key) == 12 and "acme" not in key


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_parser_never_crashes_on_arbitrary_bytes(raw: bytes) -> None:
    """Any byte soup either parses or is rejected with MalformedMessage; nothing else."""
    try:
        f = facts(raw)
    except MalformedMessage:
        return
    assert "\n" not in f.subject and "\r" not in f.subject
    assert f.message_id.startswith("<") and f.message_id.endswith(">")


header_names = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Message-ID", "References", "Return-Path", "Date",
     "Auto-Submitted", "Content-Type", "List-Id", "X-Loop", "Resent-To"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(header_names, st.text(max_size=80)), min_size=1, max_size=12))
def test_parser_survives_hostile_header_values(headers: list[tuple[str, str]]) -> None:
    """Unicode, encoded words and garbage in any known header never escape as an exception."""
    raw = b"From: a@b.test\r\n" + b"".join(
        f"{name}: {value}".encode("utf-8", "surrogateescape").replace(b"\n", b" ") + b"\r\n"
        for name, value in headers
    ) + b"\r\n"
    try:
        f = facts(raw)
    except MalformedMessage:
        return
    assert all("\n" not in a.name for a in f.recipients)


def test_the_delivering_servers_return_path_wins() -> None:
    """The final delivery prepends Return-Path (RFC 5321 §4.4); a Return-Path further down
    came with the message itself and must not decide where an auto-reply goes."""
    f = facts(
        b"Return-Path: <real@acme.test>\r\nFrom: real@acme.test\r\n"
        b"Return-Path: <victim@elsewhere.test>\r\nSubject: x\r\n\r\n"
    )
    assert f.return_path == "real@acme.test"


def test_raw_8bit_bytes_become_valid_text() -> None:
    """Undeclared 8-bit bytes in a header must never become text that cannot be written as
    UTF-8 (to the state file, into a reply): UTF-8 is read as such, anything else as U+FFFD."""
    latin1 = facts(b"Return-Path: <j@acme.test>\r\nFrom: J\xfcrgen <j@acme.test>\r\n"
                   b"Subject: Gr\xfc\xdfe\r\n\r\n")
    assert latin1.sender is not None and latin1.sender.name == "J\ufffdrgen"
    assert latin1.subject == "Gr\ufffd\ufffde"
    utf8 = facts(b"Return-Path: <j@acme.test>\r\nFrom: J\xc3\xbcrgen <j@acme.test>\r\n\r\n")
    assert utf8.sender is not None and utf8.sender.name == "Jürgen"
    for text in (latin1.subject, latin1.sender.name):
        text.encode("utf-8")  # raises on a lone surrogate


def test_encoded_line_break_in_a_display_name_keeps_the_address() -> None:
    f = facts(b"Return-Path: <x@acme.test>\r\nFrom: =?utf-8?q?A=0D=0AB?= <x@acme.test>\r\n"
              b"To: =?utf-8?q?Ann=0D=0A?= <ann@agency.test>\r\n\r\n")
    assert f.sender is not None and f.sender.email == "x@acme.test"
    assert [a.email for a in f.to] == ["ann@agency.test"]


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        (b"Content-Type: text/plain; charset=utf-8\r\n", b"Server is DOWN, urgent!\r\n",
         "Server is DOWN, urgent!"),
        (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "
         b"quoted-printable\r\n", b"Gr=C3=BC=C3=9Fe, dringend=\r\n bitte\r\n",
         "Grüße, dringend bitte"),
        (b"Content-Type: text/html; charset=utf-8\r\n", b"<p>Please call <b>ASAP</b></p>",
         "Please call ASAP"),
        (b'Content-Type: multipart/alternative; boundary="b"\r\n',
         b"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
         b"VGhlIHNpdGUgaXMgZG93bg==\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b-",
         "The site is down"),
        (b'Content-Type: multipart/mixed; boundary="b"\r\n', b"--b\r\nContent-Type: tex",
         ""),
    ],
    ids=["plain", "quoted-printable", "html", "multipart-base64-cut-short", "truncated"],
)
def test_body_preview_reads_the_start_of_the_text(
    headers: bytes, body: bytes, expected: str
) -> None:
    """Only the first bytes of a body are fetched (for urgent keywords); the preview is the
    decoded text of its first readable part, and a body cut mid-part never raises."""
    assert body_preview(headers, body) == expected
