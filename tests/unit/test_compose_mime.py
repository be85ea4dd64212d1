"""The MIME side of composing: boundaries, and what `poll --dry-run` shows of a message."""

from __future__ import annotations

import gc
import re
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser

import pytest

from boundary_mail.compose import compose_ladder
from boundary_mail.compose_mime import new_message, serialize
from boundary_mail.templates import environment
from tests.unit.compose_cases import NOW, ORIGINAL, cases, step
from tests.unit.factories import agency

CONFIG = agency()
ENV = environment(None, "en")
CASES = cases()
BASE64_LINE = re.compile(r"^[A-Za-z0-9+/]{60,}={0,2}$", re.MULTILINE)


def parsed(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def test_a_boundary_found_in_the_content_is_not_used() -> None:
    """Boundaries are fixed (and this code is public), so a client can put the one its
    reminder would get in its message; the boundary then gets a counter, and the attached
    original still arrives whole."""
    guessed = parsed(compose_ladder(step(0), ORIGINAL, config=CONFIG, env=ENV, now=NOW).as_bytes()
                     ).get_boundary()
    assert guessed
    original = ORIGINAL + f"--{guessed}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode()

    raw = compose_ladder(step(0), original, config=CONFIG, env=ENV, now=NOW).as_bytes()

    message = parsed(raw)
    assert message.get_boundary() == f"{guessed}.0"
    (attached,) = message.iter_attachments()
    assert attached.get_content().as_bytes(policy=policy.SMTP).endswith(
        f"--{guessed}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode())


def test_every_message_shares_its_containers_content_type() -> None:
    """The Content-Type of a multipart container, boundary included, is parsed once and the
    header object shared (parsing it per message was a fifth of composing an auto-reply)."""
    messages = []
    for n in range(2):
        msg = new_message()
        msg["Message-ID"] = f"<{n}@agency.test>"
        msg.set_content(f"text {n}")
        msg.add_alternative(f"<p>html {n}</p>", subtype="html")
        serialize(msg)
        messages.append(msg)

    first, second = (msg["Content-Type"] for msg in messages)
    assert first is second and first.params["boundary"]


# -- what `poll --dry-run` shows -----------------------------------------------------------------


def test_the_preview_shows_header_fields_decoded() -> None:
    """Encoded words are decoded: the operator reads the subject the client will see."""
    out = CASES["auto_reply_first_contact_attach"]()
    assert b"=?utf-8?" in out.as_bytes()  # the test means something

    preview = out.preview()

    assert "Subject: Auto: Angebot für Köln – Frühjahr\n" in preview
    assert "=?utf-8?" not in preview


def test_the_preview_shows_plain_text_decoded_not_quoted_printable() -> None:
    """The text part is shown as text: no soft line breaks (=), no =E2=80=AF escapes, even
    though the bytes sent are quoted-printable."""
    out = CASES["auto_reply_first_contact_attach"]()
    assert b"=\r\n" in out.as_bytes() and b"=E2=80=AF" in out.as_bytes()

    preview = out.preview()

    assert "=\n" not in preview and "=E2" not in preview and "=C3" not in preview
    assert "Hello Jürgen Köhler,\n" in preview
    assert "I read and answer email at fixed\n" in preview
    assert "Monday, November 23, 2026, 8:00\u202fAM CET" in preview


def test_the_preview_lists_the_html_alternative_and_attachments_one_line_each() -> None:
    """HTML and attachments are not dumped: one line each with the name, type and size."""
    preview = CASES["auto_reply_first_contact_attach"]().preview()

    assert "<html" not in preview and "<p>" not in preview
    (html,) = [line for line in preview.splitlines() if "text/html" in line]
    assert re.fullmatch(r"\[alternative: text/html, [\d,]+ bytes\]", html)
    assert re.search(
        r"^\[attachment: How we work together\.txt, text/plain, [\d,]+ bytes\]$", preview,
        re.MULTILINE)
    assert "How we work together\n====" not in preview  # the attachment's text is not shown


def test_the_preview_of_a_reminder_names_the_attached_original_without_its_body() -> None:
    """A 50 KB original with a base64 PDF inside: one line, its subject and size."""
    out = CASES["ladder_reminder_big_multipart"]()

    preview = out.preview()

    assert len(preview) < 3000
    assert not BASE64_LINE.search(preview)
    assert re.search(
        r'^\[attachment: "Entwürfe für den Frühling", message/rfc822, 4\d,\d{3} bytes\]$',
        preview, re.MULTILINE)


def test_the_preview_of_a_broken_original_names_the_file() -> None:
    """Mail too broken to attach as a message travels as original.eml; the preview says so."""
    preview = CASES["ladder_escalation_broken"]().preview()

    assert "[attachment: original.eml, application/octet-stream, 212 bytes]" in preview


def test_the_preview_of_a_redirect_is_our_block_and_the_size_of_the_original() -> None:
    """A redirect is the client's message unchanged: the preview shows the Resent-* block we
    put on top and how big the original below it is, not the original itself."""
    out = CASES["redirect"]()
    original = out.as_bytes()[out.resent_block:]

    preview = out.preview()

    assert preview.splitlines()[:5] == [
        "Resent-From: Agency Assistant <assistant@agency.test>",
        "Resent-To: Ann <ann@agency.test>",
        "Resent-Date: Mon, 23 Nov 2026 10:00:00 +0100",
        f"Resent-Message-ID: {out.message_id}",
        "X-Boundary-Mail: redirect; by=bob@agency.test",
    ]
    assert preview.endswith(
        f"\n[the original message follows unchanged: {len(original):,} bytes]\n")
    assert "Grüße" not in preview and "Quote for the spring campaign" not in preview


# -- what an Outgoing keeps ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_an_outgoing_keeps_its_bytes_and_no_message_tree(name: str) -> None:
    """Once composed, only the bytes and the envelope stay referenced: a window composing
    thousands of replies does not keep thousands of EmailMessage trees."""
    out = CASES[name]()

    assert not [r for r in gc.get_referents(out) if isinstance(r, Message)]
    assert out.as_bytes() is out.raw


@pytest.mark.parametrize("name", sorted(n for n in CASES if not n.startswith("redirect")))
def test_the_message_property_gives_back_the_same_bytes(name: str) -> None:
    """`.message` (kept for callers that still use it, like the digest job) parses the
    bytes back; written with the SMTP policy it is exactly what is queued."""
    out = CASES[name]()

    assert out.message.as_bytes(policy=policy.SMTP) == out.as_bytes()


def test_the_message_property_of_a_redirect_is_our_block() -> None:
    """As before: for a redirect, `.message` is the Resent-* block we put on top."""
    out = CASES["redirect"]()

    assert out.message["Resent-Message-ID"] == out.message_id
    assert out.message["From"] is None
