"""The export's mbox gives back every message byte for byte (mboxrd quoting)."""

from __future__ import annotations

import io
import mailbox
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from boundary_mail import mboxrd

WHEN = datetime(2026, 11, 30, 23, 47, 14, tzinfo=UTC)
TRICKY = (
    b"From: a@acme.test\r\nSubject: x\r\n\r\nFrom here on\r\n>From the quote\r\n"
    b">>From deeper\r\nFrom\r\n\r\nFrom \r\n"
)


def written(*messages: bytes) -> bytes:
    out = io.BytesIO()
    for raw in messages:
        mboxrd.append(out, raw, "maria@acme.test", WHEN)
    return out.getvalue()


def test_lines_that_start_with_from_are_quoted_and_unquoted_exactly() -> None:
    """Each line starting with >*"From " gets one more ">" (and loses it on reading), so
    ">From" in the message stays ">From"; CRLF stays CRLF."""
    mbox = written(TRICKY)
    assert b"\n>From here on\r\n>>From the quote\r\n>>>From deeper\r\nFrom\r\n" in mbox
    assert b"\n>From \r\n" in mbox
    assert list(mboxrd.read(io.BytesIO(mbox))) == [TRICKY]


def test_the_from_line_names_the_envelope_sender_and_the_arrival_in_utc() -> None:
    assert mboxrd.from_line("maria@acme.test", WHEN) == (
        b"From maria@acme.test Mon Nov 30 23:47:14 2026\n"
    )
    assert mboxrd.from_line("", WHEN).startswith(b"From MAILER-DAEMON ")
    assert mboxrd.from_line("a b@c.test", WHEN).startswith(b"From ab@c.test ")


def test_a_stock_mbox_reader_sees_the_same_messages(tmp_path: Path) -> None:
    """Python's mailbox module (and so any mbox reader) finds each message where we put it."""
    path = tmp_path / "x.mbox"
    path.write_bytes(written(TRICKY, b"Subject: two\r\n\r\nbody\r\n", b"Subject: three\n\nx\n"))
    stock = mailbox.mbox(path, create=False)
    try:
        assert [m["Subject"] for m in stock] == ["x", "two", "three"]
    finally:
        stock.close()


lines = st.lists(
    st.sampled_from([b"From a", b">From b", b">>From ", b"From", b"text", b"", b"\r"]),
    max_size=8,
)


@given(st.lists(lines.map(lambda ls: b"\r\n".join(ls) + b"\r\n"), min_size=1, max_size=4))
def test_any_messages_come_back_byte_for_byte(messages: list[bytes]) -> None:
    """Whatever lines a message has, the first one too, it comes back as it was."""
    assert list(mboxrd.read(io.BytesIO(written(*messages)))) == messages


def test_a_message_without_a_final_line_end_gets_one() -> None:
    """The one change mboxrd makes: the blank line after a message needs a line end first."""
    assert list(mboxrd.read(io.BytesIO(written(b"Subject: s\r\n\r\nno end")))) == [
        b"Subject: s\r\n\r\nno end\n"
    ]
