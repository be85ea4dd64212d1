"""The MIME side of composing: boundaries, and what `poll --dry-run` shows of a message."""

from __future__ import annotations

import hashlib
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from boundary_mail.compose import compose_ladder
from boundary_mail.templates import environment
from tests.unit.compose_cases import NOW, ORIGINAL, step
from tests.unit.factories import agency

CONFIG = agency()
ENV = environment(None, "en")


def parsed(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def test_a_boundary_found_in_the_content_is_not_used() -> None:
    """Boundaries derive from the Message-ID, so a client can compute the one its reminder
    would get and put it in its message; the boundary then gets a counter, and the attached
    original still arrives whole."""
    out = compose_ladder(step(0), None, config=CONFIG, env=ENV, now=NOW)
    token = int.from_bytes(hashlib.sha256(f"{out.message_id}:0".encode()).digest()[:8])
    guessed = f"{'=' * 15}{token % 10**19:019d}=="
    original = ORIGINAL + f"--{guessed}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode()

    raw = compose_ladder(step(0), original, config=CONFIG, env=ENV, now=NOW).as_bytes()

    message = parsed(raw)
    assert message.get_boundary() == f"{guessed}.0"
    (attached,) = message.iter_attachments()
    assert attached.get_content().as_bytes(policy=policy.SMTP).endswith(
        f"--{guessed}\r\nContent-Type: text/plain\r\n\r\nx\r\n".encode())
