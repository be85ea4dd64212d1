"""`fetch_new` reads its FETCH answer with a dedicated parser: it must give exactly what
imapclient's generic parser gave (plus the mapping to FetchedMessage that `fetch_new` always
did), and leave anything outside its grammar to imapclient.

The answers are built the way imaplib hands them over: a response with a literal is a tuple
(b'<seq> (<items> BODY[...] {n}', <n bytes>) followed by the rest of its line; a response
without one is a single b'<seq> (<items>)'.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imapclient.exceptions import IMAPClientError
from imapclient.response_parser import parse_fetch_response

from boundary_mail.imap import (
    _HEADER_ITEM,
    BATCH_UIDS,
    FetchedMessage,
    FolderStatus,
    _aware,
    _body,
    _fetched,
    _flag,
    _uid_fetch,
    fetch_new,
)
from boundary_mail.imap_parse import read_fetch, read_fetch_fast

PROPERTY = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SECTION = (
    b"BODY[HEADER.FIELDS (FROM SENDER RETURN-PATH TO CC RESENT-TO RESENT-CC REPLY-TO"
    b" MESSAGE-ID IN-REPLY-TO REFERENCES SUBJECT DATE AUTO-SUBMITTED PRECEDENCE LIST-ID)]"
)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def reference(data: list[Any]) -> dict[int, FetchedMessage]:
    """What `fetch_new` did before the fast parser: imapclient's parser, then this mapping."""
    parsed = parse_fetch_response(data, normalise_times=False, uid_is_key=True)
    return {
        uid: FetchedMessage(
            uid=uid,
            header_block=_body(item),
            received_at=_aware(item.get(b"INTERNALDATE")),
            flags=tuple(_flag(f) for f in item.get(b"FLAGS", ())),
            size=int(item.get(b"RFC822.SIZE", 0)),
        )
        for uid, item in parsed.items()
    }


def fast(data: list[Any]) -> dict[int, FetchedMessage]:
    """The fast parser alone; it must not decline."""
    items = read_fetch_fast(data)
    assert items is not None, "the fast parser declined an answer inside its grammar"
    return {uid: _fetched(uid, item) for uid, item in items.items()}


def combined(data: list[Any]) -> dict[int, FetchedMessage]:
    """What `fetch_new` uses: the fast parser, or imapclient's when it declines."""
    return {uid: _fetched(uid, item) for uid, item in read_fetch(data).items()}


def exactly(messages: dict[int, FetchedMessage]) -> dict[int, tuple[Any, ...]]:
    """Everything about each message, down to the tzinfo's class, offset and name (datetime's
    == compares instants only) and the types of the flags."""
    out = {}
    for uid, m in messages.items():
        tz = m.received_at.tzinfo
        assert tz is not None
        out[uid] = (m.uid, m.header_block, m.received_at.replace(tzinfo=None), type(tz),
                    tz.utcoffset(None), tz.tzname(None), m.flags,
                    tuple(type(f) for f in m.flags), m.size, type(m.size))
    return out


def outcome(read: Callable[[list[Any]], dict[int, FetchedMessage]], data: list[Any]) -> Any:
    """The exact result, or the type of the exception raised (imapclient raises on some odd
    input: the fast path must then raise the same, or leave it to imapclient)."""
    try:
        return exactly(read(data))
    except AssertionError:
        raise
    except Exception as exc:
        return type(exc)


# -- strategies: answers inside the fast parser's grammar -----------------------------------

SYSTEM_FLAGS = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent"]
KEYWORDS = ["$Routed", "$Forwarded", "$MDNSent", "NonJunk", "123", "0123", "0", "nil", "\\NIL"]
ATOM_CHARS = "!#$&'+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ^_`abcdefghijklmnopqrstuvwxyz|~"
flags = st.lists(
    st.sampled_from(SYSTEM_FLAGS + KEYWORDS)
    | st.text(ATOM_CHARS, min_size=1, max_size=10).filter(lambda f: f != "NIL"),
    max_size=6,
)
numbers = st.tuples(st.integers(0, 2**40), st.sampled_from(["%d", "%05d"])).map(
    lambda n: (n[1] % n[0]).encode()
)


@st.composite
def rfc3501_dates(draw: st.DrawFn) -> bytes:
    """The fixed INTERNALDATE form, day zero- or space-padded, any whole-minute offset."""
    moment = draw(st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 31)))
    day = draw(st.sampled_from(["%02d", "%2d"])) % moment.day
    hours, minutes = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    offset = f"{draw(st.sampled_from('+-'))}{hours:02d}{minutes:02d}"
    return f"{day}-{MONTHS[moment.month - 1]}-{moment:%Y %H:%M:%S} {offset}".encode()


ODD_DATES = [
    b"29-Nov-2024 09:46:16 -0000", b"29-Nov-2024 09:46:16 +0099", b"29-Nov-2024 09:46:16 +2400",
    b"29-Nov-24 09:46:16 +0000", b"29-Nov-0099 09:46:16 +0000", b"29-nov-2024 09:46:16 +0100",
    b"31-Feb-2024 09:46:16 +0100", b"00-Jan-2024 09:46:16 +0100", b" 0-Jan-2024 09:46:16 +0100",
    b"1-Jan-2024 09:46:16 +0100", b"29-Nov-2024 24:00:00 +0000", b"29-Nov-2024 09:46:60 +0000",
    b"29-Nov-2024 9:46:16 +0000", b"29-Nov-2024 09:46:16", b"29-Nov-2024 09:46:16 GMT",
    b"Fri, 29 Nov 2024 09:46:16 +0000", b"Sat, 8 May 2010 16.03.09 +0200", b"", b"garbage",
    b"99999999999999999999-Jan-2024 10:00:00 +0000", b"29-Nov-2024  09:46:16 +0000",
    b"29-Nov-2024 09:46:16 +0000 ", b"29-N\xf6v-2024 09:46:16 +0000",
    b"29-Nov-2024\t09:46:16 +0000",
]
dates = (
    rfc3501_dates()
    | st.sampled_from(ODD_DATES)
    | st.text("0123456789-+: JanFebNovGMT,.", max_size=30).map(str.encode)
)
TRICKY = [b"(", b")", b"{5}", b"{", b"}", b'"', b"\\", b"\r\n", b"\xe9\xff", b"BODY[", b"]",
          b" NIL ", b")\r\n* 5 FETCH (UID 9 FLAGS ())", b"\x00", b"Subject: (x) {y}\r\n"]
literal_bodies = st.binary(max_size=120) | st.lists(
    st.sampled_from(TRICKY) | st.binary(max_size=8), max_size=12
).map(b"".join)
quoted_bodies = st.binary(max_size=60).map(
    lambda b: bytes(c for c in b if c not in b'"\\\r\n')
)
sections = st.sampled_from([SECTION, b"BODY[HEADER.FIELDS (FROM)]", b"BODY[header.fields (to)]",
                            b"BODY[HEADER]", b"BODY[]"])


@st.composite
def responses(draw: st.DrawFn, uids: st.SearchStrategy[int], solicited: bool) -> list[Any]:
    """One FETCH response as imaplib's records: items in any order, optionally some after
    the literal. Unsolicited ones may lack a UID and the body."""
    items: list[bytes] = []
    if solicited or draw(st.booleans()):
        items.append(b"UID %d" % draw(uids))
    if draw(st.booleans()) or (solicited and draw(st.booleans())):
        items.append(b"FLAGS (" + " ".join(draw(flags)).encode() + b")")
    if solicited or draw(st.booleans()):
        if draw(st.integers(0, 9)):
            items.append(b'INTERNALDATE "' + draw(dates) + b'"')
        if draw(st.integers(0, 9)):
            items.append(b"RFC822.SIZE " + draw(numbers))
    body_kind = draw(st.sampled_from(["literal", "literal", "literal", "nil", "quoted"])
                     if solicited else st.sampled_from(["none", "none", "literal"]))
    if not items and body_kind == "none":
        items.append(b"FLAGS ()")
    section = draw(sections)
    if body_kind == "nil":
        items.append(section + b" NIL")
    elif body_kind == "quoted":
        items.append(section + b' "' + draw(quoted_bodies) + b'"')
    items = draw(st.permutations(items))
    seq = b"%d (" % draw(uids | st.integers(0, 99_999))
    if body_kind != "literal":
        return [seq + b" ".join(items) + b")"]
    literal = draw(literal_bodies)
    cut = draw(st.integers(0, len(items)))
    head = seq + b" ".join([*items[:cut], section + b" {%d}" % len(literal)])
    return [(head, literal), b"".join(b" " + item for item in items[cut:]) + b")"]


@st.composite
def answers(draw: st.DrawFn) -> list[Any]:
    """A whole answer: solicited responses, with unsolicited ones in between. UIDs come
    from a small range at times, so that responses for one UID (or for a sequence number
    equal to it) are merged."""
    uids = draw(st.sampled_from([st.integers(1, 12), st.integers(1, 2**32 - 1)]))
    parts = draw(st.lists(responses(uids, solicited=True), min_size=1, max_size=6))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(parts)))
        parts.insert(at, draw(responses(uids, solicited=False)))
    return [record for part in parts for record in part]


# -- properties -------------------------------------------------------------------------------


@PROPERTY
@given(answers())
def test_fast_parser_reads_its_grammar_exactly_like_imapclient(data: list[Any]) -> None:
    expected = outcome(reference, data)
    if isinstance(expected, type):  # imapclient raised: a date too big for datetime
        assert read_fetch_fast(data) is None
        assert outcome(combined, data) == expected
    else:
        assert outcome(fast, data) == expected


SYNTAX = b' ()"{}[]\\'


@PROPERTY
@given(answers(), st.data())
def test_any_damage_gives_imapclients_result(data: list[Any], draw: st.DataObject) -> None:
    """Bytes of the response lines replaced, inserted or deleted (often at a space, paren,
    quote, brace or bracket): whatever the fast parser still accepts must read as imapclient
    reads it; the rest must go to imapclient."""
    for _ in range(draw.draw(st.integers(1, 3))):
        at = draw.draw(st.integers(0, len(data) - 1))
        record = data[at]
        text = record[0] if isinstance(record, tuple) else record
        syntax = [i for i, c in enumerate(text) if c in SYNTAX]
        pos = draw.draw(st.sampled_from(syntax) if syntax and draw.draw(st.booleans())
                        else st.integers(0, len(text)))
        cut = draw.draw(st.integers(0, 2))
        new = draw.draw(st.binary(max_size=2) | st.sampled_from([bytes([c]) for c in SYNTAX]))
        text = text[:pos] + new + text[pos + cut:]
        data[at] = (text, record[1]) if isinstance(record, tuple) else text
    assert outcome(combined, data) == outcome(reference, data)


@PROPERTY
@given(rfc3501_dates())
def test_internaldate_fast_path_is_imapclients_datetime(value: bytes) -> None:
    data = [b'1 (UID 7 INTERNALDATE "' + value + b'")']
    ours = exactly(fast(data))[7]
    assert ours == exactly(reference(data))[7]
    assert ours[4] is not None and abs(ours[4]) < timedelta(days=1)


# -- examples ---------------------------------------------------------------------------------

HEADER_BLOCK = b'Subject: (a {b} "c")\r\n\xe9\r\n\r\n'
DOVECOT = (
    b'3 (UID 17 INTERNALDATE " 2-Nov-2024 09:46:16 -0130" FLAGS (\\Seen \\Recent $Routed)'
    b" RFC822.SIZE 1410 " + SECTION + b" {%d}" % len(HEADER_BLOCK),
    HEADER_BLOCK,
)


def test_a_dovecot_answer() -> None:
    data = [DOVECOT, b")"]
    (message,) = fast(data).values()
    assert message.uid == 17
    assert message.header_block == HEADER_BLOCK
    assert message.flags == ("\\Seen", "\\Recent", "$Routed")
    assert message.size == 1410
    assert message.received_at.isoformat() == "2024-11-02T09:46:16-01:30"
    assert exactly(fast(data)) == exactly(reference(data))


@pytest.mark.parametrize("data", [
    [DOVECOT, b" FLAGS (\\Answered))"],  # items after the literal; the later FLAGS wins
    [DOVECOT, b")", b"4 (FLAGS (\\Deleted))"],  # unsolicited, keyed by sequence number
    [DOVECOT, b")", b"9 (FLAGS (\\Deleted) UID 17)"],  # unsolicited for the same UID: merged
    [b"5 (UID 5 " + SECTION + b" NIL FLAGS ())"],  # NIL body
    [b'5 (UID 5 RFC822.SIZE 0 BODY[] "Subject: x")'],  # quoted body
    [b'5 (UID 5 INTERNALDATE "29-Nov-2024 09:46:16 -0000" FLAGS (0123 123 nil))'],
    [b'5 (UID 5 INTERNALDATE "31-Feb-2024 09:46:16 +0000")'],  # unreadable: the epoch
    # imapclient upper-cases item names: the later NIL replaces the body
    [(b"5 (UID 5 BODY[header] {1}", b"x"), b")", b"6 (UID 5 BODY[HEADER] NIL)"],
    [None],  # imaplib: no FETCH responses at all
])
def test_tricky_answers_inside_the_grammar(data: list[Any]) -> None:
    assert exactly(fast(data)) == exactly(reference(data))


@pytest.mark.parametrize("data", [
    [b"5 (uid 5 FLAGS (\\Seen))"],  # lower-case item name
    [b"5 (UID 5  FLAGS (\\Seen))"],  # two spaces
    [b"5 (UID 5 FLAGS (\\Seen NIL))"],  # imapclient reads the flag NIL as None, "None"
    [b"5 (UID 5 FLAGS (\\Seen [x]))"],
    [b"5 (UID 5 FLAGS (a[b))"],  # imapclient reads "[" up to a "]"
    [b"5 (UID 5FLAGS (\\Seen))"],  # no space: imapclient fails
    [b"5 (UID 5 FLAGS ()RFC822.SIZE 5)"],  # no space: imapclient reads it
    [(b"5 (UID 5 FLAGS ()", b"abc"), b")"],  # a literal that no "{n}" announces
    [b'5 (UID 5 BODY[] "a \\" b")'],  # an escaped quote
    [(b"5 (UID 5 BODY[]<0> {3}", b"abc"), b")"],  # a partial body
    [(b"5 (UID 5 BODY[] {3}", b"ab"), b")"],  # wrong literal length
    [(b"5 (UID 5 BODY[] {3}", b"abc"), (b" BODY[HEADER] {1}", b"x"), b")"],  # two literals
    [b"5 (UID 5 MODSEQ (12))"],  # an item we did not ask for
    [b"5 (UID 5 INTERNALDATE NIL)"],
    [b'5 (UID 5 INTERNALDATE "99999999999999999999-Jan-2024 10:00:00 +0000")'],  # overflows
    # the same, then a syntax error: imapclient raises ProtocolError before reading the date
    [(b'5 (UID 5 INTERNALDATE "99999999999999999999-Jan-2024 10:00:00 +0000" BODY[] {0}',
      b""), b"\x00)"],
])
def test_answers_outside_the_grammar_go_to_imapclient(data: list[Any]) -> None:
    assert read_fetch_fast(data) is None
    assert outcome(combined, data) == outcome(reference, data)


def test_the_fallback_is_imapclients_parse() -> None:
    data = [b"5 (UID 5 FLAGS (\\Seen NIL))", DOVECOT, b")"]
    assert read_fetch(data) == parse_fetch_response(data, normalise_times=False)
    assert combined(data)[5].flags == ("\\Seen", "None")


# -- the command ------------------------------------------------------------------------------


class FakeImaplib:
    """imaplib's side of `UID FETCH`: records the commands, answers from a list."""

    def __init__(self, answers: list[tuple[str, list[Any]]]) -> None:
        self.answers = answers
        self.commands: list[tuple[str, ...]] = []
        self.untagged_responses: dict[str, list[Any]] = {}

    def uid(self, command: str, *args: str) -> tuple[str, list[Any]]:
        self.commands.append((command, *args))
        return self.answers.pop(0)


class FakeClient:
    def __init__(self, imap: FakeImaplib) -> None:
        self._imap = imap


def response(seq: int, uid: int) -> list[Any]:
    return [(b'%d (UID %d INTERNALDATE "29-Nov-2024 09:46:16 +0000" FLAGS () RFC822.SIZE 9 '
             b"%s {2}" % (seq, uid, SECTION), b"\r\n"), b")"]


def test_fetch_new_asks_for_uid_ranges_and_keeps_only_new_uids_of_each() -> None:
    imap = FakeImaplib([
        ("OK", [*response(1, 4), b"2 (UID 2 FLAGS (\\Seen))", *response(3, 5)]),
        ("OK", [None]),  # no message in this range
        ("OK", [*response(9, 2 * BATCH_UIDS + 4), b"10 (UID 9 FLAGS (\\Seen))"]),
    ])
    status = FolderStatus(uidvalidity=1, uidnext=3 * BATCH_UIDS + 4, exists=3)
    batches = list(fetch_new(FakeClient(imap), status, after_uid=3))  # type: ignore[arg-type]
    assert [[m.uid for m in batch] for batch in batches] == [[4, 5], [2 * BATCH_UIDS + 4]]
    items = f"({_HEADER_ITEM} INTERNALDATE FLAGS RFC822.SIZE)"
    assert imap.commands == [
        ("FETCH", f"4:{BATCH_UIDS + 3}", items),
        ("FETCH", f"{BATCH_UIDS + 4}:{2 * BATCH_UIDS + 3}", items),
        ("FETCH", f"{2 * BATCH_UIDS + 4}:{3 * BATCH_UIDS + 3}", items),
    ]


def test_a_refused_fetch_raises_like_imapclient_and_drops_partial_answers() -> None:
    imap = FakeImaplib([("NO", [b"Some messages could not be FETCHed (Failure)"])])
    imap.untagged_responses["FETCH"] = [b"1 (UID 4 FLAGS ())"]
    with pytest.raises(IMAPClientError, match=r"^fetch failed: Some messages could not be"):
        _uid_fetch(FakeClient(imap), "4:5", "(FLAGS)")  # type: ignore[arg-type]
    assert "FETCH" not in imap.untagged_responses


@given(st.sets(st.integers(1, 60), max_size=30))
def test_a_uid_set_names_exactly_the_uids(uids: set[int]) -> None:
    from boundary_mail.imap import _uid_set

    text = _uid_set(sorted(uids))
    named: set[int] = set()
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition(":")
        named.update(range(int(lo), int(hi or lo) + 1))
    assert named == uids
    assert len(text.split(",")) <= len(uids) or not uids  # runs collapse, never grow
