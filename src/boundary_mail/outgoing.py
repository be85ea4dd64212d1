"""A composed message as it is queued: its exact bytes, its envelope and what to record once it
is sent. Nothing else is kept, so a window that composes thousands of messages holds their
bytes and no `EmailMessage` trees.

`preview` reads the bytes back for `poll --dry-run`: decoded header fields, the plain-text
parts as text, one line per other part, and for a redirect our Resent-* block and the size of
the original below it.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP
from email.policy import default as default_policy
from typing import cast

# Fields that only describe the MIME structure; the preview shows the structure itself.
_PLUMBING = frozenset({"mime-version", "content-type", "content-transfer-encoding"})


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A composed message plus its envelope, ready to be queued."""

    kind: str
    dedupe_key: str
    source_message_id: str
    envelope_from: str
    recipients: tuple[str, ...]
    message_id: str  # Message-ID, or for a redirect its Resent-Message-ID
    raw: bytes  # the exact bytes queued and sent, CRLF line ends (RFC 5322)
    on_sent: dict[str, object]
    resent_block: int = 0  # a redirect: the length of our Resent-* block on top of `raw`

    def as_bytes(self) -> bytes:
        """The bytes queued and sent, with CRLF line ends (RFC 5322)."""
        return self.raw

    @property
    def message(self) -> EmailMessage:
        """The message parsed back from its bytes (for a redirect: only our Resent-* block),
        for callers written when an `Outgoing` held the `EmailMessage`. Queue `as_bytes()`:
        this parses anew on every access."""
        raw = self.raw[: self.resent_block] + b"\r\n" if self.resent_block else self.raw
        return _parse(raw)

    def preview(self) -> str:
        """What `poll --dry-run` shows: header fields decoded, plain text as text, one line
        per other part; for a redirect our header block and the size of the original."""
        if self.kind == "route":  # appended by IMAP as it is: nothing of ours to show
            return (f"[routed by IMAP to {', '.join(self.recipients)}'s inbox: the original"
                    f" message, {len(self.raw):,} bytes, unchanged]\n")
        if self.resent_block:
            block = _parse(self.raw[: self.resent_block] + b"\r\n")
            size = len(self.raw) - self.resent_block
            return (_fields(block) + f"\n[the original message follows unchanged: {size:,}"
                    " bytes]\n")
        msg = _parse(self.raw)
        texts: list[str] = []
        others: list[str] = []
        for kind, line in _body(msg):
            (texts if kind == "text" else others).append(line)
        return _fields(msg) + "\n" + "\n".join([*texts, "".join(others)]).rstrip("\n") + "\n"


def _parse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=default_policy).parsebytes(raw)


def _fields(msg: EmailMessage) -> str:
    return "".join(
        f"{name}: {value}\n" for name, value in msg.items() if name.lower() not in _PLUMBING
    )


def _body(part: EmailMessage, *, alternative: bool = False) -> list[tuple[str, str]]:
    """The preview of one MIME part and what it contains, as ("text", its text decoded: no
    quoted-printable, no base64) or ("part", one line with its name, type and size)."""
    ctype = part.get_content_type()
    if part.get_content_maintype() == "multipart":
        return [
            line for sub in part.iter_parts()
            for line in _body(cast(EmailMessage, sub), alternative=ctype.endswith("/alternative"))
        ]
    if ctype == "text/plain" and part.get_content_disposition() != "attachment":
        text = str(part.get_content()).replace("\r\n", "\n")
        return [("text", text if text.endswith("\n") else text + "\n")]
    if alternative:
        return [("part", f"[alternative: {ctype}, {_size(part):,} bytes]\n")]
    if ctype == "message/rfc822":
        inner = cast(EmailMessage, part.get_payload(0))
        name = part.get_filename() or f'"{inner["Subject"] or "(no subject)"}"'
    else:
        name = part.get_filename() or "(no name)"
    return [("part", f"[attachment: {name}, {ctype}, {_size(part):,} bytes]\n")]


def _size(part: EmailMessage) -> int:
    """The decoded size of a leaf part; of an attached message, its size as sent."""
    if part.get_content_type() == "message/rfc822":
        return len(cast(EmailMessage, part.get_payload(0)).as_bytes(policy=SMTP))
    payload = part.get_payload(decode=True)
    return len(payload) if isinstance(payload, bytes) else 0
