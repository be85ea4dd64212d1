"""Fuzzing the header parser: whatever bytes arrive, `parse_facts` either returns clean
`MessageFacts` or raises `MalformedMessage` with a reason — never anything else.

"Clean" is the contract the rest of the program relies on: no CR, LF or other control
character in any text that may end up in a reply header or a log line, addresses lower-case
with exactly one addr-spec each, Message-IDs in angle brackets without whitespace.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from boundary_mail.facts import Address, MessageFacts
from boundary_mail.headers import FETCHED_HEADERS, MalformedMessage, parse_facts

NOW = datetime(2026, 11, 20, 15, 5, tzinfo=UTC)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MSGID = re.compile(r"<[^<>\s]+>")
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parse(raw: bytes) -> MessageFacts | None:
    """`parse_facts` on raw bytes; None when it raised MalformedMessage (which is allowed).
    Any other exception propagates and fails the test."""
    try:
        return parse_facts(raw, mailbox="ann", folder="INBOX", uid=42, received_at=NOW,
                           flags=("\\Seen",), size=len(raw))
    except MalformedMessage as exc:
        assert str(exc), "a MalformedMessage always carries a reason"
        return None


def assert_clean_address(address: Address) -> None:
    assert address.email == address.email.lower()
    assert "@" in address.email
    assert not any(c.isspace() for c in address.email)
    assert not _CONTROL.search(address.email)
    assert not _CONTROL.search(address.name), f"control character in name {address.name!r}"


def assert_clean(facts: MessageFacts) -> None:
    """The invariants every returned MessageFacts must hold."""
    assert isinstance(facts, MessageFacts)
    assert "\r" not in facts.subject and "\n" not in facts.subject
    assert not _CONTROL.search(facts.subject)
    assert len(facts.subject) <= 998
    assert facts.sender is not None or facts.return_path, "no one to attribute the message to"
    if facts.sender is not None:
        assert_clean_address(facts.sender)
    for address in (*facts.recipients, *facts.reply_to):
        assert_clean_address(address)
    if facts.return_path is not None:
        assert facts.return_path == facts.return_path.lower()
        assert not _CONTROL.search(facts.return_path)
        assert facts.return_path == "" or "@" in facts.return_path
    assert _MSGID.fullmatch(facts.message_id), facts.message_id
    for mid in facts.thread_ids:
        assert _MSGID.fullmatch(mid), mid
    for text in (*facts.auto_submitted, facts.precedence, *facts.auto_response_suppress,
                 *facts.x_loop, facts.our_marker):
        assert not _CONTROL.search(text), repr(text)
    # Content-Type is only compared against known types, never shown: one line is enough.
    for text in (facts.content_type, facts.report_type):
        assert "\r" not in text and "\n" not in text, repr(text)
    assert facts.date is None or facts.date.tzinfo is not None
    assert facts.received_at == NOW and facts.uid == 42


# -- strategies ----------------------------------------------------------------------------

_ASCII_CONTROLS = "".join(chr(c) for c in range(0x20)) + "\x7f"
_header_names = st.one_of(
    st.sampled_from(FETCHED_HEADERS),
    st.sampled_from([h.upper() for h in FETCHED_HEADERS]),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e,
                                   exclude_characters=":"), min_size=1, max_size=12),
    st.text(max_size=8),  # anything at all, even empty or with a colon or a newline
)
_plain_values = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(_ASCII_CONTROLS),
        st.sampled_from('<>@,;:"()[]\\=?'),
    ),
    max_size=80,
)
_charsets = st.sampled_from(
    ["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "x-unknown-charset", "utf-7", "", "gb2312",
     "koi8-r", "utf-8*en", "bogus\x00"]
)


@st.composite
def encoded_words(draw: st.DrawFn) -> str:
    """An RFC 2047 encoded word, sometimes well formed, sometimes not."""
    charset = draw(_charsets)
    payload = draw(st.binary(max_size=40))
    encoding = draw(st.sampled_from(["q", "Q", "b", "B", "x"]))
    if encoding in "bB" and draw(st.booleans()):
        text = base64.b64encode(payload).decode()
    elif encoding in "bB":
        text = draw(st.text(alphabet="ABCDEFabcdef0123456789+/=", max_size=20))  # bad padding
    else:
        text = "".join(
            chr(b) if 0x21 <= b <= 0x7e and chr(b) not in "=?_ " else f"={b:02X}" for b in payload
        )
    if draw(st.booleans()):
        text += draw(st.sampled_from(["=0D=0A", "=0A", "=0D", "=00", "=0D=0ABcc:_x@evil.test"]))
    close = draw(st.sampled_from(["?=", "?=", "", "?"]))
    return f"=?{charset}?{encoding}?{text}{close}"


_values = st.one_of(
    _plain_values,
    encoded_words(),
    st.lists(st.one_of(encoded_words(), _plain_values), max_size=4).map(" ".join),
    st.builds(lambda n, a: f"{n} <{a}>", _plain_values, _plain_values),
    st.builds(lambda w, a: f"{w} <{a}@acme.test>", encoded_words(),
              st.text(alphabet="abcXYZ.+-", min_size=1, max_size=10)),
)
_line_ends = st.sampled_from([b"\r\n", b"\n", b"\r", b"\r\r\n"])


@st.composite
def header_blocks(draw: st.DrawFn) -> bytes:
    """A header block built field by field, with odd names, values, encodings and line ends."""
    eol = draw(_line_ends)
    lines: list[bytes] = []
    for name, value in draw(st.lists(st.tuples(_header_names, _values), max_size=12)):
        encoding = draw(st.sampled_from(["utf-8", "latin-1"]))
        raw = f"{name}: {value}".encode(encoding, "replace")
        if draw(st.integers(0, 9)) == 0:
            raw += draw(st.binary(max_size=10))  # raw 8-bit garbage
        if draw(st.integers(0, 9)) == 0:
            raw = raw.replace(b" ", eol + b"\t", 1)  # folded
        lines.append(raw)
    if draw(st.booleans()):
        # Something a decision can hang on, so the deeper parsing paths are reached too.
        lines.insert(draw(st.integers(0, len(lines))), b"From: " + draw(st.sampled_from(
            [b"Maria <maria@acme.test>", b"MARIA@ACME.TEST", b"=?x?q?a?= <a@b.test>",
             b"\xff\xfe <x@y.test>", b"<>", b"undisclosed-recipients:;"])))
    return eol.join(lines) + eol + eol


# -- properties ----------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2000))
@example(b"")
@example(b"\x00" * 100)
@example(b"\r\n\r\n")
@example(b":\r\n\r\n")
@example(b"From:\r\n\r\n")
@example(b"From: <>\r\nReturn-Path:\r\n\r\n")
def test_random_bytes_give_facts_or_a_reason(raw: bytes) -> None:
    """Arbitrary bytes never crash the parser."""
    facts = parse(raw)
    if facts is not None:
        assert_clean(facts)


@FUZZ
@given(header_blocks())
@example(b"From: a@b.test\r\nSubject: =?utf-8?q?x=0D=0ABcc:_v@evil.test?=\r\n\r\n")
@example(b"From: a@b.test\r\nSubject: =?unknown-8bit?b?/w==?=\r\n\r\n")
@example(b"From: \"=?utf-8?q?Evil=0D=0ABcc:_v@evil.test?=\" <A@B.test>\r\n\r\n")
@example(b"From: a@b.test\r\nDate: Mon, 1 Jan 0 00:00:00 +0000\r\n\r\n")
@example(b"From: a@b.test\r\nDate: Mon, 1 Jan 99999 00:00:00 +9999\r\n\r\n")
@example(b"From: a@b.test\r\nMessage-ID: <a b@c>\r\nMessage-ID: <x@y>\r\n\r\n")
@example(b"From: a@b.test\r\nContent-Type: multipart/report; report-type=\xff\r\n\r\n")
@example(b"Return-Path: <Bounce@X.test>\nFrom: display name only\n\n")
def test_structured_header_blocks_give_clean_facts_or_a_reason(raw: bytes) -> None:
    """Header fields with control characters, 8-bit bytes, broken encoded words, folding and
    any line ending: clean facts (no CR/LF in the subject, lower-case addresses) or a reason."""
    facts = parse(raw)
    if facts is not None:
        assert_clean(facts)


@FUZZ
@given(st.lists(encoded_words(), min_size=1, max_size=5),
       st.text(alphabet="abcdefghijklmnop.", min_size=1, max_size=12))
def test_encoded_words_in_subject_and_display_name_never_smuggle_a_line_break(
    words: list[str], local: str
) -> None:
    """Encoded CR/LF in the Subject or a From display name decodes to one clean line."""
    value = " ".join(words)
    raw = (
        f"Return-Path: <{local}@acme.test>\r\nFrom: {value} <{local.upper()}@ACME.test>\r\n"
        f"To: {value} <ann@agency.test>\r\nSubject: {value}\r\n\r\n"
    ).encode()
    facts = parse(raw)
    assert facts is not None, "a usable Return-Path is always enough"
    assert_clean(facts)
    assert facts.return_path == f"{local}@acme.test".lower()


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="abcAZ09 _-.'+=@<>\"(),;:\\\t", max_size=40))
def test_the_address_fast_path_reads_what_getaddresses_reads(value: str) -> None:
    """The shortcut for "Name <addr>" and bare addresses must agree with the stdlib's full
    address grammar on every input it accepts (and it declines everything else)."""
    from email.utils import getaddresses

    from boundary_mail.headers import _split_addresses

    assert _split_addresses([value]) == getaddresses([value])


_ATOM = st.text(alphabet="abcXYZ09._+-='", min_size=1, max_size=12)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="abcXYZ09 _-'.\t", max_size=20), _ATOM, _ATOM,
       st.sampled_from(["{n} <{a}>", "{a}", "<{a}>", " {n}<{a}> ", "{n} {a}"]))
def test_everyday_addresses_read_the_same_on_the_fast_path(
    name: str, local: str, domain: str, form: str
) -> None:
    from email.utils import getaddresses

    from boundary_mail.headers import _split_addresses

    value = form.format(n=name, a=f"{local}@{domain}")
    assert _split_addresses([value]) == getaddresses([value])


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.text(alphabet="abcAZ09 _-.'+=@<>\"(),;:\\\t", max_size=40),
                min_size=1, max_size=3))
def test_address_lists_read_the_same_on_the_fast_path(values: list[str]) -> None:
    """Several To fields, comma-separated lists and quoted names with commas in them: the
    shortcut gives getaddresses' answer or hands the whole field over to it."""
    from email.utils import getaddresses

    from boundary_mail.headers import _split_addresses

    assert _split_addresses(values) == getaddresses(values)


_ADDRESS_PARTS = st.sampled_from(
    ['"Keller, Maria"', '"a  b"', '""', '"a\\"b"', "Ann", "Ann Lee", "", " ", "<x@y.test>",
     "x@y.test", ",", " , ", '"', "(c)", "g:", ";", "<", ">", "@", "\t"]
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.lists(_ADDRESS_PARTS, max_size=8).map("".join), min_size=1, max_size=3))
def test_address_lists_built_from_real_parts_read_the_same(values: list[str]) -> None:
    from email.utils import getaddresses

    from boundary_mail.headers import _split_addresses

    assert _split_addresses(values) == getaddresses(values)


def _stdlib_fields(raw: bytes) -> dict[str, list[str]] | None:
    """The fields as the email package's own header parser (compat32) reads them."""
    from email.parser import BytesHeaderParser
    from email.policy import compat32

    try:
        msg = BytesHeaderParser(policy=compat32).parsebytes(raw)
    except Exception:
        return None
    fields: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        fields.setdefault(name.lower(), []).append(str(value))
    return fields


_FIELD_LINES = st.lists(
    st.one_of(
        st.builds(lambda n, v: f"{n}:{v}".encode("utf-8", "surrogateescape"),
                  _header_names, _plain_values),
        st.builds(lambda v: b"\t" + v.encode(), _plain_values),  # a folded line
        st.sampled_from([b"From nobody Mon Jan  1 00:00:00 2026", b"no colon here", b"",
                         b" ", b":value", b"Subject: \xe4\xf6\xfc"]),
        st.binary(max_size=20),
    ),
    max_size=10,
)


@FUZZ
@given(_FIELD_LINES, _line_ends, st.booleans())
@example([b"Subject: a", b"\tb", b"From: x@y.test"], b"\r\n", True)
@example([b"Subject: a", b"", b"From: x@y.test"], b"\r\n", True)
@example([b"Subject:", b" b"], b"\r\n", False)
def test_header_fields_are_read_as_the_email_package_reads_them(
    lines: list[bytes], eol: bytes, final_blank_line: bool
) -> None:
    """The regex reading of an everyday header block and the stdlib's parser give the same
    fields, folding and 8-bit bytes included; blocks it cannot read go to the stdlib."""
    from boundary_mail.headers import MalformedMessage, _fields

    raw = eol.join(lines) + (eol + eol if final_blank_line else b"")
    expected = _stdlib_fields(raw)
    try:
        got: dict[str, list[str]] | None = _fields(raw)
    except MalformedMessage:
        got = None
    assert got == expected


@FUZZ
@given(st.one_of(header_blocks(), st.binary(max_size=400)))
@example(b"Return-Path: <>\r\nFrom: =?utf-8?q?M=C3=BCller?= <M@Acme.test>\r\nSubject: x\r\n\r\n")
def test_a_baseline_reading_keeps_exactly_what_the_full_reading_gives(raw: bytes) -> None:
    """identity_only (first sync, mail older than the lookback) reads the same Message-ID,
    sender, Return-Path and subject as the full reading, and refuses the same blocks."""
    full = parse(raw)
    try:
        identity = parse_facts(raw, mailbox="ann", folder="INBOX", uid=42, received_at=NOW,
                               flags=("\\Seen",), size=len(raw), identity_only=True)
    except MalformedMessage:
        assert full is None
        return
    assert full is not None
    keep = ("message_id", "sender", "return_path", "subject", "received_at", "flags", "size")
    assert [getattr(identity, k) for k in keep] == [getattr(full, k) for k in keep]
