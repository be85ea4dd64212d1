"""IMAP access with imapclient: connect securely, and fetch only what is new.

imapclient is blocking; callers run these functions in a worker thread (`asyncio.to_thread`).
Per folder we keep UIDVALIDITY and the highest UID seen, and fetch the header fields the core
needs for UIDs above it, in bounded UID ranges, so a window costs in proportion to new mail,
not to the mailbox size. That FETCH is read by a parser made for its one answer shape
(`imap_parse`: imapclient's generic parser was most of a first sync's time), with
imapclient's as the fallback. The assistant never deletes or expunges; it only reads and,
for routing, sets a keyword.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError
from imapclient.util import to_unicode

from boundary_mail.config import MailboxConfig
from boundary_mail.errors import MailboxUnavailable, UserError
from boundary_mail.headers import FETCHED_HEADERS
from boundary_mail.imap_parse import read_fetch
from boundary_mail.net import ConnectionTrouble, backoff_seconds, tls_context
from boundary_mail.sasl import NoOAuthMechanism, Secret, imap_login, refused_login

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


def connect(
    mailbox: MailboxConfig, password: Secret, *, attempts: int = CONNECT_ATTEMPTS
) -> imapclient.IMAPClient:
    """Open an authenticated connection, or raise MailboxUnavailable with the fix. A server
    that is down, hangs up or times out is tried `attempts` times with backoff (a check of
    the configuration tries once: it reports what it found, at once)."""
    failure = 0
    while True:
        try:
            return _connect_once(mailbox, password)
        except ConnectionTrouble as exc:
            failure += 1
            if failure >= attempts:
                raise
            delay = backoff_seconds(failure, CONNECT_BACKOFF_SECONDS, CONNECT_BACKOFF_MAX_SECONDS)
            log.warning("%s (attempt %d of %d); trying again in %.1f s", exc, failure,
                        attempts, delay)
            time.sleep(delay)


def _connect_once(mailbox: MailboxConfig, password: Secret) -> imapclient.IMAPClient:
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
            imap_login(client, mailbox.username, password,
                       mailbox.oauth2.mechanism if mailbox.oauth2 else "auto")
        except LoginError:
            _quietly_logout(client)
            raise MailboxUnavailable(
                f"{_where(mailbox)}: {refused_login(mailbox.username, password)}"
            ) from None
        except NoOAuthMechanism as exc:
            _quietly_logout(client)
            raise MailboxUnavailable(f"{_where(mailbox)}: {exc.fix}") from None
        except UserError:  # no token to be had (a sign-in needed, a provider down)
            _quietly_logout(client)
            raise
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
        items = read_fetch(_uid_fetch(client, f"{lo}:{hi}", _NEW_MAIL_ITEMS))
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
    of a first sync's time (see `imap_parse.read_fetch`).

    Besides switching imaplib's trace off in `_connect_once`, this is the one place that uses
    imapclient's private `_imap`. It leaves the client as `IMAPClient.fetch` does: imaplib's
    `uid()` takes the FETCH answers out of `untagged_responses`, and a BAD raises
    IMAPClientError (imaplib's error, which imapclient re-exports). On NO imapclient raises
    and leaves the partial answers behind for the next command to find; we drop them.
    `tests/unit/test_imapclient_contract.py` checks these assumptions against the installed
    imapclient.
    """
    imap = client._imap  # private, but the only way to the answer before it is parsed
    typ: str
    data: list[Any]
    typ, data = imap.uid("FETCH", uid_range, items)
    if typ != "OK":
        imap.untagged_responses.pop("FETCH", None)
        raise IMAPClientError(f"fetch failed: {to_unicode(data[0])}")
    return data


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
        for uid, item in read_fetch(_uid_fetch(client, _uid_set(chunk), "(FLAGS)")).items():
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
