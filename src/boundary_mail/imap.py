"""IMAP access with imapclient: connect securely, and fetch only what is new.

imapclient is blocking; callers run these functions in a worker thread (`asyncio.to_thread`).
Per folder we keep UIDVALIDITY and the highest UID seen, and fetch the header fields the core
needs for UIDs above it, in bounded UID ranges, so a window costs in proportion to new mail,
not to the mailbox size. That FETCH is read by a parser made for its one answer shape
(imapclient's generic parser was most of a first sync's time), with imapclient's as the
fallback. The assistant never deletes or expunges; it only reads and, for routing, sets a
keyword.
"""

from __future__ import annotations

import functools
import logging
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import imapclient
from imapclient.datetime_util import parse_to_datetime
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.fixed_offset import FixedOffset
from imapclient.response_parser import parse_fetch_response
from imapclient.util import to_unicode

from boundary_mail.config import MailboxConfig
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.headers import FETCHED_HEADERS
from boundary_mail.net import ConnectionTrouble as ConnectionTrouble  # re-export for window
from boundary_mail.net import backoff_seconds, tls_context

log = logging.getLogger(__name__)

# Bounded retries when connecting: at most CONNECT_ATTEMPTS tries, waiting 1–2 s, then 2–4 s
# between them (jittered). A refused login or an untrusted certificate is not retried.
CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF_SECONDS = 1.0
CONNECT_BACKOFF_MAX_SECONDS = 4.0
BATCH_UIDS = 2000  # UIDs per FETCH range: bounded memory and command length at any size
_HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(h.upper() for h in FETCHED_HEADERS))
_NEW_MAIL_ITEMS = f"({_HEADER_ITEM} INTERNALDATE FLAGS RFC822.SIZE)"


@dataclass(frozen=True, slots=True)
class FetchedMessage:
    uid: int
    header_block: bytes
    received_at: datetime
    flags: tuple[str, ...]
    size: int


@dataclass(frozen=True, slots=True)
class FolderStatus:
    uidvalidity: int
    uidnext: int
    exists: int


def _where(mailbox: MailboxConfig) -> str:
    return f"mailbox {mailbox.name!r} ({mailbox.host}:{mailbox.port})"


def connect(mailbox: MailboxConfig, password: str | None) -> imapclient.IMAPClient:
    """Open an authenticated connection, or raise MailboxUnavailable with the fix. A server
    that is down, hangs up or times out is tried CONNECT_ATTEMPTS times with backoff."""
    failure = 0
    while True:
        try:
            return _connect_once(mailbox, password)
        except ConnectionTrouble as exc:
            failure += 1
            if failure >= CONNECT_ATTEMPTS:
                raise
            delay = backoff_seconds(failure, CONNECT_BACKOFF_SECONDS, CONNECT_BACKOFF_MAX_SECONDS)
            log.warning("%s (attempt %d of %d); trying again in %.1f s", exc, failure,
                        CONNECT_ATTEMPTS, delay)
            time.sleep(delay)


def _connect_once(mailbox: MailboxConfig, password: str | None) -> imapclient.IMAPClient:
    ca = str(mailbox.ca_file) if mailbox.ca_file else None
    context = tls_context(ca)
    try:
        if mailbox.security == "tls":
            client = imapclient.IMAPClient(
                mailbox.host, port=mailbox.port, ssl=True, ssl_context=context,
                timeout=mailbox.timeout_seconds,
            )
        else:
            client = imapclient.IMAPClient(
                mailbox.host, port=mailbox.port, ssl=False, timeout=mailbox.timeout_seconds
            )
            if mailbox.security == "starttls":
                client.starttls(context)
    except ssl.SSLCertVerificationError as exc:
        raise MailboxUnavailable(
            f"{_where(mailbox)}: the server's TLS certificate is not trusted"
            f" ({exc.verify_message}); set ca_file to the CA that signed it, or fix the"
            " server's certificate"
        ) from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
        raise ConnectionTrouble(
            f"{_where(mailbox)}: the server closed the connection during the TLS handshake"
            f" ({type(exc).__name__}); check that the server is up"
        ) from None
    except ssl.SSLError as exc:
        raise MailboxUnavailable(
            f"{_where(mailbox)}: TLS failed ({exc.reason}); check port and security"
            " (\"tls\" for implicit TLS such as 993, \"starttls\" for 143)"
        ) from None
    except (TimeoutError, OSError, IMAPClientError) as exc:
        raise ConnectionTrouble(
            f"{_where(mailbox)}: cannot connect ({type(exc).__name__}: {exc});"
            " check host, port and that the server is up"
        ) from None
    # imapclient switches imaplib's wire trace on (debug 5) and sends it to a DEBUG logger
    # that we silence (it would log subjects and bodies). Off at the source: imaplib formats
    # the repr of every response line for it, a third of a big FETCH's time.
    client._imap.debug = 0
    if mailbox.username:
        try:
            client.login(mailbox.username, password or "")
        except LoginError:
            _quietly_logout(client)
            raise MailboxUnavailable(
                f"{_where(mailbox)}: login as {mailbox.username!r} was refused;"
                " check the username and the password source"
            ) from None
        except (OSError, IMAPClientError) as exc:
            _quietly_logout(client)
            raise ConnectionTrouble(
                f"{_where(mailbox)}: login failed ({type(exc).__name__}); try again later"
            ) from None
    return client


def _quietly_logout(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the connection is already gone; nothing to tidy up
        log.debug("logout after failure failed", exc_info=True)


def select(client: imapclient.IMAPClient, folder: str, *, readonly: bool = True) -> FolderStatus:
    info: dict[bytes, Any] = client.select_folder(folder, readonly=readonly)
    return FolderStatus(
        uidvalidity=int(info[b"UIDVALIDITY"]),
        uidnext=int(info.get(b"UIDNEXT", 0)),
        exists=int(info.get(b"EXISTS", 0)),
    )


def _body(data: dict[bytes, Any]) -> bytes:
    for key, value in data.items():
        if key.startswith(b"BODY[") and isinstance(value, bytes):
            return value
    return b""


def _aware(value: Any) -> datetime:
    if isinstance(value, datetime):
        # imapclient gives naive local time unless normalise_times is off; we turn it off.
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(0, UTC)


def _uid_ranges(first: int, last: int) -> Iterator[tuple[int, int]]:
    for lo in range(first, last + 1, BATCH_UIDS):
        yield lo, min(lo + BATCH_UIDS - 1, last)


def fetch_new(
    client: imapclient.IMAPClient, status: FolderStatus, after_uid: int
) -> Iterator[list[FetchedMessage]]:
    """Yield batches of messages with UID > after_uid, header fields only.

    Ranges run up to UIDNEXT-1 as seen at SELECT; mail arriving meanwhile waits for the next
    window. Unsolicited FETCH answers (another client changed flags) may name other UIDs, so
    every answer is filtered by UID.
    """
    top = status.uidnext - 1 if status.uidnext else None
    if top is None:
        found = client.search(["UID", f"{after_uid + 1}:*"])
        top = max((u for u in found if u > after_uid), default=after_uid)
    for lo, hi in _uid_ranges(after_uid + 1, top):
        items = _read_fetch(_uid_fetch(client, f"{lo}:{hi}", _NEW_MAIL_ITEMS))
        batch = [
            _fetched(uid, item)
            for uid, item in sorted(items.items())
            if lo <= uid <= hi and uid > after_uid
        ]
        if batch:
            yield batch


def _uid_fetch(client: imapclient.IMAPClient, uid_range: str, items: str) -> list[Any]:
    """`UID FETCH` sent through the imaplib connection under imapclient, returning imaplib's
    unparsed answer: `IMAPClient.fetch` would run its generic response parser, which is most
    of a first sync's time (see `_read_fetch`).

    Besides switching imaplib's trace off in `_connect_once`, this is the one place that uses
    imapclient's private `_imap`. It leaves the client as
    `IMAPClient.fetch` does: imaplib's `uid()` takes the FETCH answers out of
    `untagged_responses`, and a BAD raises IMAPClientError (imaplib's error, which imapclient
    re-exports). On NO imapclient raises and leaves the partial answers behind for the next
    command to find; we drop them.
    """
    imap = client._imap  # private, but the only way to the answer before it is parsed
    typ: str
    data: list[Any]
    typ, data = imap.uid("FETCH", uid_range, items)
    if typ != "OK":
        imap.untagged_responses.pop("FETCH", None)
        raise IMAPClientError(f"fetch failed: {to_unicode(data[0])}")
    return data


def _read_fetch(data: list[Any]) -> dict[int, dict[bytes, Any]]:
    """A `_uid_fetch` answer by UID (by sequence number for a response without one), as
    imapclient's `parse_fetch_response` gives it with normalise_times off.

    imapclient's generic parser costs about 90 µs a message, several times the network read;
    `_read_fetch_fast` reads this one answer's shape in a few µs and hands back to imapclient's
    parser for the whole batch at anything else.
    """
    fast = _read_fetch_fast(data)
    if fast is not None:
        return fast
    parsed: dict[int, dict[bytes, Any]] = parse_fetch_response(
        data, normalise_times=False, uid_is_key=True
    )
    return parsed


def _fetched(uid: int, item: dict[bytes, Any]) -> FetchedMessage:
    return FetchedMessage(
        uid=uid,
        header_block=_body(item),
        received_at=_aware(item.get(b"INTERNALDATE")),
        flags=_flags_of(item),
        size=int(item.get(b"RFC822.SIZE", 0)),
    )


def _flags_of(item: dict[bytes, Any]) -> tuple[str, ...]:
    return tuple(_flag(f) for f in item.get(b"FLAGS", ()))


def _flag(value: Any) -> str:
    return value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)


# The grammar `_read_fetch_fast` accepts: a subset of what imapclient reads, on which both
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


def _read_fetch_fast(data: list[Any]) -> dict[int, dict[bytes, Any]] | None:
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


def set_keyword(
    client: imapclient.IMAPClient, folder: str, uids: list[int], keyword: str
) -> None:
    """Add a keyword (e.g. $Routed) to messages; never removes or expunges anything."""
    if not uids:
        return
    client.select_folder(folder, readonly=False)
    try:
        client.add_flags(uids, [keyword], silent=True)
    finally:
        client.select_folder(folder, readonly=True)


def fetch_raw(client: imapclient.IMAPClient, uids: list[int]) -> dict[int, bytes]:
    """Whole messages (BODY.PEEK[]: the \\Seen flag stays as it was) of the selected folder;
    only for the few messages that are redirected or attached to a reminder."""
    out: dict[int, bytes] = {}
    for start in range(0, len(uids), 50):
        chunk = uids[start : start + 50]
        for uid, item in client.fetch(chunk, ["BODY.PEEK[]"]).items():
            if uid in set(chunk):
                out[uid] = _body(item)
    return out


def fetch_flags(client: imapclient.IMAPClient, uids: list[int]) -> dict[int, tuple[str, ...]]:
    """FLAGS of the given UIDs of the selected folder (gone messages are simply absent)."""
    out: dict[int, tuple[str, ...]] = {}
    wanted = sorted(set(uids))
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        asked = set(chunk)
        for uid, item in _read_fetch(_uid_fetch(client, _uid_set(chunk), "(FLAGS)")).items():
            if uid in asked:
                out[uid] = _flags_of(item)
    return out


def _uid_set(uids: list[int]) -> str:
    """Sorted UIDs as an IMAP sequence set, runs collapsed: [1, 2, 3, 7] -> "1:3,7"."""
    runs: list[list[int]] = []
    for uid in uids:
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in runs)


def fetch_previews(
    client: imapclient.IMAPClient, uids: list[int], size: int
) -> dict[int, bytes]:
    """The first `size` bytes of each message's body (BODY.PEEK[TEXT]<0.size>), only read
    when urgent keywords are configured, and only for new mail."""
    out: dict[int, bytes] = {}
    for start in range(0, len(uids), 200):
        chunk = uids[start : start + 200]
        asked = set(chunk)
        for uid, item in client.fetch(chunk, [f"BODY.PEEK[TEXT]<0.{size}>"]).items():
            if uid in asked:
                out[uid] = _body(item)
    return out
