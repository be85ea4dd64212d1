"""IMAP sessions for a window: new mail in batches, and a few whole messages on demand.

Blocking code (imapclient); the window runs it in a worker thread. Per folder the stored
UIDVALIDITY and highest UID decide what is new; a changed UIDVALIDITY re-reads the folder and
the window matches it by Message-ID.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import imapclient

from boundary_mail import imap
from boundary_mail.config import MailboxConfig
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.facts import MessageFacts
from boundary_mail.headers import MalformedMessage, parse_facts
from boundary_mail.plan import FIRST_SYNC_LOOKBACK, FolderRead
from boundary_mail.secrets import resolve_password
from boundary_mail.store import FolderState

log = logging.getLogger(__name__)


class FolderUnavailable(MailboxUnavailable):
    """A monitored folder does not exist (any more) or cannot be opened."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(text)
        self.reason = reason  # what the server said


@dataclass(frozen=True, slots=True)
class FolderBatch:
    """Fetched messages of one folder, with what the sync state says about them."""

    folder: str
    status: imap.FolderStatus
    messages: list[imap.FetchedMessage]
    rebaseline: bool  # UIDVALIDITY changed: known Message-IDs are not new
    first_sync: bool


def folder_batches(
    client: imapclient.IMAPClient, mailbox: MailboxConfig, folder: str,
    store_state: FolderState | None,
) -> Iterator[FolderBatch]:
    """New mail of `folder` in bounded batches: a blocking generator that the window runs
    step by step in a worker thread."""
    try:
        status = imap.select(client, folder)
    except imapclient.exceptions.IMAPClientAbortError:
        raise  # the connection was lost, not the folder
    except imapclient.exceptions.IMAPClientError as exc:
        raise FolderUnavailable(
            f"mailbox {mailbox.name!r}: the folder {folder!r} cannot be opened ({exc}); was it"
            " renamed or deleted? Set its name in the configuration", str(exc),
        ) from None
    first = store_state is None
    rebaseline = store_state is not None and store_state.uidvalidity != status.uidvalidity
    after = 0 if store_state is None or rebaseline else store_state.last_uid
    if rebaseline:
        log.warning(
            "mailbox=%s folder=%s UIDVALIDITY changed (%s -> %s); re-baselining by Message-ID",
            mailbox.name, folder, store_state.uidvalidity if store_state else None,
            status.uidvalidity,
        )
    any_batch = False
    for messages in imap.fetch_new(client, status, after):
        any_batch = True
        yield FolderBatch(folder, status, messages, rebaseline, first)
    if not any_batch and (first or rebaseline):
        yield FolderBatch(folder, status, [], rebaseline, first)


def read_batch(
    batch: FolderBatch, mailbox: MailboxConfig, previous: FolderState | None, now: datetime
) -> FolderRead:
    """The facts of each message of the batch, and the (uid, reason) of each that could not
    be read. Mail that will only become a baseline row is read only for what that row keeps."""
    cutoff = now - FIRST_SYNC_LOOKBACK if batch.first_sync else None
    parsed: list[MessageFacts] = []
    skipped: list[tuple[int, str]] = []
    for fetched in batch.messages:
        try:
            parsed.append(parse_facts(
                fetched.header_block, mailbox=mailbox.name, folder=batch.folder,
                uid=fetched.uid, received_at=fetched.received_at, flags=fetched.flags,
                size=fetched.size,
                identity_only=cutoff is not None and fetched.received_at < cutoff,
            ))
        except MalformedMessage as exc:
            log.warning("mailbox=%s folder=%s uid=%d skipped: %s", mailbox.name,
                        batch.folder, fetched.uid, exc)
            skipped.append((fetched.uid, str(exc)))
    return FolderRead(
        mailbox=mailbox.name, folder=batch.folder, uidvalidity=batch.status.uidvalidity,
        messages=tuple(parsed), skipped=tuple(skipped),
        top_uid=max((m.uid for m in batch.messages), default=0),
        stored_last_uid=previous.last_uid if previous is not None else 0,
        first_sync=batch.first_sync, rebaseline=batch.rebaseline,
    )


def peek_new(
    mailbox: MailboxConfig, state: FolderState, preview_bytes: int
) -> list[tuple[FolderBatch, dict[int, bytes]]]:
    """New inbox mail since the last window: header fields, and the start of each body when
    `preview_bytes` > 0. The sync state is not touched (the folder is opened read-only)."""
    password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
    client = imap.connect(mailbox, password)
    try:
        found = []
        for batch in folder_batches(client, mailbox, mailbox.inbox, state):
            uids = [m.uid for m in batch.messages]
            previews = imap.fetch_previews(client, uids, preview_bytes) if preview_bytes else {}
            found.append((batch, previews))
        return found
    finally:
        logout(client)


def fetch_copies(
    mailbox: MailboxConfig, folders: dict[str, list[tuple[int, str]]]
) -> dict[str, bytes]:
    password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
    client = imap.connect(mailbox, password)
    try:
        found: dict[str, bytes] = {}
        for folder, copies in folders.items():
            imap.select(client, folder)
            raw = imap.fetch_raw(client, [uid for uid, _ in copies])
            for uid, mid in copies:
                if uid in raw and mid not in found:
                    found[mid] = raw[uid]
        return found
    finally:
        logout(client)


def logout(client: imapclient.IMAPClient) -> None:
    """LOGOUT, or, when the connection is already gone, just close the socket."""
    try:
        client.logout()
    except Exception:  # the server may already have closed the connection
        log.debug("IMAP logout failed; closing the socket", exc_info=True)
        with contextlib.suppress(Exception):
            client.shutdown()
