"""Reading imaplib's raw answer to our UID FETCH commands into imapclient's shape.

It exists because imapclient's generic response parser was most of a first sync's time: a
few precompiled regexes read the one answer shape we ask for, and anything outside that
grammar goes to imapclient's parser, so the values are always the ones imapclient gives
(`tests/unit/test_imap_fetch.py` proves it property by property). Pure parsing, no
connection: `imap` sends the command and maps the result to `FetchedMessage`.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, tzinfo
from typing import Any

from imapclient.datetime_util import parse_to_datetime
from imapclient.fixed_offset import FixedOffset
from imapclient.response_parser import parse_fetch_response

__all__ = ["read_fetch", "read_fetch_fast"]


def read_fetch(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    """A `_uid_fetch` answer by UID (by sequence number for a response without one), as
    imapclient's `parse_fetch_response` gives it with normalise_times off.

    imapclient's generic parser costs about 90 µs a message, several times the network read;
    `read_fetch_fast` reads this one answer's shape in a few µs and hands back to imapclient's
    parser for the whole batch at anything else.
    """
    fast = read_fetch_fast(data)
    if fast is not None:
        return fast
    parsed: dict[int, dict[bytes, Any]] = parse_fetch_response(
        data, normalise_times=False, uid_is_key=True
    )
    return parsed


# The grammar `read_fetch_fast` accepts: a subset of what imapclient reads, on which both
# give the same values. imaplib hands over a response with a literal as a tuple
# (b'<seq> (<items> BODY[...] {<n>}', <n bytes>) and the rest of its line (b')' or
# b' <items>)') as the next element; a response without one as b'<seq> (<items>)'.
_RESPONSE_START = re.compile(rb"(\d+) \(")
_FETCH_ITEM = re.compile(
    rb"UID (?P<uid>\d+)"
    rb"|RFC822\.SIZE (?P<size>\d+)"
    rb'|INTERNALDATE "(?P<date>[^"\\]*)"'  # a quoted string without escapes
    rb"|FLAGS \((?P<flags>[^()]*)\)"
    rb"|(?P<section>BODY\[[^\]]*\]) "
    rb'(?:(?P<nil>NIL)|"(?P<quoted>[^"\\]*)"|\{(?P<literal>\d+)\}\Z)'
)
# A flag: an atom of printable ASCII without the atom-specials ("(){%*\]) and without "["
# and "}", which imapclient's lexer reads differently; system flags start with a backslash.
_FLAG = rb"\\?[!#$&'+,\-./0-9:;<=>?@A-Z^_`a-z|~]+"
_FLAG_LIST = re.compile(rb"(?:%s(?: %s)*)?" % (_FLAG, _FLAG))


def read_fetch_fast(data: list[Any]) -> dict[int, dict[bytes, Any]] | None:
    """imaplib's FETCH answer read with a few precompiled regexes, in the shape and with the
    values imapclient's `parse_fetch_response` gives; None as soon as anything falls outside
    the grammar above, so that imapclient reads the whole batch instead.

    Like imapclient: a response without UID is keyed by its sequence number, and responses
    with the same key are merged, later items winning.
    """
    if data == [None]:  # imaplib's way of saying "no FETCH responses"
        return {}
    by_key: dict[int, dict[bytes, Any]] = {}
    flag_lists: dict[bytes, tuple[str, ...] | None] = {}
    records = iter(data)
    for record in records:
        item: dict[bytes, Any] = {}
        if isinstance(record, tuple):
            if len(record) != 2:
                return None
            text, literal = record
            rest = next(records, None)
            if not (isinstance(text, bytes) and isinstance(literal, bytes)
                    and isinstance(rest, bytes) and rest.endswith(b")")):
                return None
            start = _RESPONSE_START.match(text)
            # Only a literal item ends in "}": text ending in one means it was read.
            if start is None or not text.endswith(b"}") or not _read_items(
                text, start.end(), len(text), literal, item, flag_lists
            ):
                return None
            if rest != b")" and not (rest.startswith(b" ") and _read_items(
                rest, 1, len(rest) - 1, None, item, flag_lists
            )):
                return None
        elif isinstance(record, bytes):
            start = _RESPONSE_START.match(record)
            if start is None or not record.endswith(b")") or not _read_items(
                record, start.end(), len(record) - 1, None, item, flag_lists
            ):
                return None
        else:
            return None
        key = item.pop(b"UID", None)
        by_key.setdefault(int(start[1]) if key is None else key, {}).update(item)
    return by_key


def _read_items(
    text: bytes, pos: int, end: int, literal: bytes | None, item: dict[bytes, Any],
    flag_lists: dict[bytes, tuple[str, ...] | None],
) -> bool:
    """Read `NAME value` items separated by single spaces from text[pos:end] into `item`;
    False if text[pos:end] is anything else. `literal` is the literal that follows `text`,
    or None where there is none."""
    while True:
        match = _FETCH_ITEM.match(text, pos, end)
        if match is None:
            return False
        kind = match.lastgroup
        if kind == "uid":
            item[b"UID"] = int(match["uid"])
        elif kind == "size":
            item[b"RFC822.SIZE"] = int(match["size"])
        elif kind == "date":
            try:
                item[b"INTERNALDATE"] = _internaldate(match["date"])
            except OverflowError:  # imapclient raises, or fails earlier on something else
                return False
        elif kind == "flags":
            raw = match["flags"]
            if raw not in flag_lists:
                flag_lists[raw] = _flags(raw)
            flags = flag_lists[raw]
            if flags is None:
                return False
            item[b"FLAGS"] = flags
        elif kind == "literal":
            if literal is None or len(literal) != int(match["literal"]):
                return False
            item[match["section"].upper()] = literal
        else:  # NIL (None) or a quoted string
            item[match["section"].upper()] = match["quoted"]
        pos = match.end()
        if pos == end:
            return True
        if text[pos] != ord(" "):
            return False
        pos += 1


def _flags(raw: bytes) -> tuple[str, ...] | None:
    """A FLAGS list's contents as str, or None outside the grammar. NIL is refused: imapclient
    reads it as None."""
    if _FLAG_LIST.fullmatch(raw) is None:
        return None
    names = raw.split()
    return None if b"NIL" in names else tuple(name.decode("ascii") for name in names)


_MONTHS = {name: number for number, name in enumerate(
    b"Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), start=1)}
_RFC3501_DATE_TIME = re.compile(
    rb"([ 0-3][0-9])-(" + b"|".join(_MONTHS) + rb")-([1-9][0-9]{3}) "
    rb"([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]) ([-+](?:[01][0-9]|2[0-3])[0-5][0-9])"
)


def _internaldate(value: bytes) -> datetime | None:
    """An INTERNALDATE as imapclient reads it with normalise_times off: the fixed RFC 3501
    form directly, anything else (and days that do not exist) by imapclient's parser."""
    match = _RFC3501_DATE_TIME.fullmatch(value)
    if match is not None:
        day, month, year, hour, minute, second, zone = match.groups()
        try:
            return datetime(int(year), _MONTHS[month], int(day), int(hour), int(minute),
                            int(second), tzinfo=_zone(zone))
        except ValueError:
            pass  # no such day (31-Feb): imapclient's parser finds that too
    try:
        parsed: datetime = parse_to_datetime(value, normalise=False)
    except ValueError:
        return None  # imapclient's reading of an INTERNALDATE it cannot parse
    return parsed


@functools.cache
def _zone(offset: bytes) -> tzinfo:
    """The tzinfo imapclient gives a "+hhmm" or "-hhmm" offset (one per offset, they are
    immutable)."""
    minutes = int(offset[1:3]) * 60 + int(offset[3:5])
    zone: tzinfo = FixedOffset(-minutes if offset.startswith(b"-") else minutes)
    return zone
