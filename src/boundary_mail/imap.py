"""IMAP access with imapclient: connect securely, and fetch only what is new.

imapclient is blocking; callers run these functions in a worker thread (`asyncio.to_thread`).
Per folder we keep UIDVALIDITY and the highest UID seen, and fetch the header fields the core
needs for UIDs above it, in bounded UID ranges, so a window costs in proportion to new mail,
not to the mailbox size. The assistant never deletes or expunges; it only reads and, for
routing, sets a keyword.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import imapclient
from imapclient.exceptions import IMAPClientError, LoginError

from boundary_mail.config import MailboxConfig
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.headers import FETCHED_HEADERS

log = logging.getLogger(__name__)

# Bounded retries when connecting: at most CONNECT_ATTEMPTS tries, waiting 1–2 s, then 2–4 s
# between them (jittered). A refused login or an untrusted certificate is not retried.
CONNECT_ATTEMPTS = 3
CONNECT_BACKOFF_SECONDS = 1.0
CONNECT_BACKOFF_MAX_SECONDS = 4.0
BATCH_UIDS = 2000  # UIDs per FETCH range: bounded memory and command length at any size
_HEADER_ITEM = "BODY.PEEK[HEADER.FIELDS ({})]".format(" ".join(h.upper() for h in FETCHED_HEADERS))


class ConnectionTrouble(MailboxUnavailable):
    """The server could not be reached, hung up, timed out or said "try later": trying again
    soon may help. (A refused login or an untrusted certificate will not.)"""


def backoff_seconds(failure: int, base: float, cap: float) -> float:
    """How long to wait after the `failure`-th failed attempt in a row (1-based): exponential
    from `base`, capped at `cap`, with jitter so many clients do not retry in lockstep."""
    step = min(cap, base * 2 ** (failure - 1))
    return random.uniform(step, min(2 * step, cap))  # noqa: S311 - jitter, not a secret


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """A verifying TLS context: system trust store, or only the configured CA file."""
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


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


def _uid_list(lo: int, hi: int) -> list[int]:
    """An explicit UID list: imapclient 4 filters FETCH answers by the UIDs it was given and
    cannot read a "lo:hi" range. UIDs that do not exist are ignored by the server; a batch of
    BATCH_UIDS stays far below Dovecot's 64 KB command-line limit."""
    return list(range(lo, hi + 1))


def fetch_new(
    client: imapclient.IMAPClient, status: FolderStatus, after_uid: int
) -> Iterator[list[FetchedMessage]]:
    """Yield batches of messages with UID > after_uid, header fields only.

    Ranges run up to UIDNEXT-1 as seen at SELECT; mail arriving meanwhile waits for the next
    window. `UID FETCH n:*` answers with the highest UID even when n is beyond it, so every
    answer is filtered by UID.
    """
    client.normalise_times = False
    top = status.uidnext - 1 if status.uidnext else None
    if top is None:
        found = client.search(["UID", f"{after_uid + 1}:*"])
        top = max((u for u in found if u > after_uid), default=after_uid)
    for lo, hi in _uid_ranges(after_uid + 1, top):
        data = client.fetch(_uid_list(lo, hi), [_HEADER_ITEM, "INTERNALDATE", "FLAGS",
                                                "RFC822.SIZE"])
        batch = [
            FetchedMessage(
                uid=uid,
                header_block=_body(item),
                received_at=_aware(item.get(b"INTERNALDATE")),
                flags=tuple(_flag(f) for f in item.get(b"FLAGS", ())),
                size=int(item.get(b"RFC822.SIZE", 0)),
            )
            for uid, item in sorted(data.items())
            if lo <= uid <= hi and uid > after_uid
        ]
        if batch:
            yield batch


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
        for uid, item in client.fetch(chunk, ["FLAGS"]).items():
            if uid in asked:
                out[uid] = tuple(_flag(f) for f in item.get(b"FLAGS", ()))
    return out


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
