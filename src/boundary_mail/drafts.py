"""Nudges by IMAP: each queued draft into its member's Drafts folder, and a copy of each nudge
sent by mail into their Sent folder, once each.

A nudge in "draft" mode (see `waiting`) is queued like mail, as kind "nudge_draft", with its
exact bytes and stable Message-ID, in the transaction that counts it on its waiting item.
After the window's reads, each is claimed (committed), then appended to the Drafts folder
(`mailboxes.drafts`) of the member's mailbox with ``\\Draft`` and ``\\Seen``, then recorded.
The APPEND is idempotent the same way a route's is: the folder is searched for the nudge's
Message-ID first, so a crash or a lost connection between the APPEND and its record finds
the draft there and records it, never appends a second one. A folder that refuses it for
good (it does not exist) marks the nudge failed, which `status` and the log show with the fix.

A nudge sent by mail ("send" mode) is filed in the member's Sent folder after the send (with
``\\Seen``, searched for first, then marked filed), so they see what went out in their name.
A copy that cannot be filed now is filed at a later window; the send never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime

import imapclient

from boundary_mail import imap
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.errors import MailboxUnavailable, SecretUnavailable
from boundary_mail.headers import message_key
from boundary_mail.outbox import DrainResult
from boundary_mail.routes import connect_or_wait
from boundary_mail.secrets import resolve_password
from boundary_mail.store import Store, StoredAction
from boundary_mail.sync import logout
from boundary_mail.waiting import member_mailbox

log = logging.getLogger(__name__)

DRAFT_FLAGS = ("\\Draft", "\\Seen")
_TRANSIENT = ("[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]", "[LIMIT]")


async def carry_drafts(config: Config, store: Store, now: datetime) -> DrainResult:
    """Append every queued nudge draft to its member's Drafts folder (see the module
    docstring). A mailbox that cannot be reached keeps its drafts for the next window."""
    result = DrainResult()
    token = secrets.token_hex(8)
    mailboxes = {m.name: m for m in config.mailboxes}
    by_mailbox: dict[str, list[StoredAction]] = {}
    for action in store.due_drafts(token):
        wait = store.wait(action.source_message_id)
        mailbox = mailboxes.get(member_mailbox(config, wait.start)) if wait else None
        if mailbox is None:
            if store.claim_draft(action, token):
                store.release(action, token, "its team member has no monitored mailbox to"
                              " put the draft in; nudge by hand, or set the client's"
                              " waiting.nudge = \"send\"", final=True)
                log.error("nudge draft msg=%s: no mailbox of its member to put it in",
                          message_key(action.source_message_id))
                result.failed += 1
            continue
        by_mailbox.setdefault(mailbox.name, []).append(action)
    for name, actions in by_mailbox.items():
        await _append_to(mailboxes[name], actions, store, token, now, result)
    return result


async def _append_to(
    mailbox: MailboxConfig, actions: list[StoredAction], store: Store, token: str,
    now: datetime, result: DrainResult,
) -> None:
    client = await connect_or_wait(mailbox, f"{len(actions)} nudge draft(s)", result)
    if client is None:
        return
    try:
        for action in actions:
            if not store.claim_draft(action, token):
                continue
            try:
                appended = await asyncio.to_thread(_append_once, client, mailbox.drafts,
                                                   action, now)
            except imapclient.exceptions.IMAPClientAbortError as exc:
                store.release(action, token, f"connection lost ({exc})", final=False)
                raise
            except imapclient.exceptions.IMAPClientError as exc:
                text = (f"mailbox {mailbox.name!r} refused the draft in {mailbox.drafts!r}:"
                        f" {exc}; create that folder or set mailboxes.drafts to its name")
                final = not any(code in str(exc).upper() for code in _TRANSIENT)
                store.release(action, token, text, final=final)
                if final:
                    log.error("nudge draft msg=%s refused for good: %s",
                              message_key(action.source_message_id), text)
                    result.failed += 1
                continue
            store.mark_drafted(action, now, token)
            result.sent += 1
            log.info("nudge draft msg=%s in mailbox=%s folder=%s%s",
                     message_key(action.source_message_id), mailbox.name, mailbox.drafts,
                     "" if appended else " (it was there already)")
    except (imapclient.exceptions.IMAPClientError, OSError) as exc:
        log.warning("mailbox=%s nudge drafts interrupted, the rest wait for the next window:"
                    " %s", mailbox.name, exc)
        result.retry_soon = True
    finally:
        await asyncio.to_thread(logout, client)


def _append_once(
    client: imapclient.IMAPClient, folder: str, action: StoredAction, now: datetime,
    flags: tuple[str, ...] = DRAFT_FLAGS,
) -> bool:
    """APPEND unless the folder holds the message already; True if it was appended."""
    client.select_folder(folder)
    if client.search(["HEADER", "Message-ID", action.outgoing_message_id]):
        return False
    client.append(folder, action.raw, flags=flags, msg_time=now)
    return True


async def file_sent_nudges(config: Config, store: Store, now: datetime) -> None:
    """A copy of each nudge sent by mail into its member's Sent folder (see the module
    docstring); what cannot be filed now waits for the next window."""
    mailboxes = {m.name: m for m in config.mailboxes}
    by_mailbox: dict[str, list[StoredAction]] = {}
    for action in store.unfiled_nudges():
        wait = store.wait(action.source_message_id)
        mailbox = mailboxes.get(member_mailbox(config, wait.start)) if wait else None
        if mailbox is None or not mailbox.sent:
            store.mark_filed(action, now)  # nowhere to file it: not tried again
            continue
        by_mailbox.setdefault(mailbox.name, []).append(action)
    for name, actions in by_mailbox.items():
        mailbox = mailboxes[name]
        try:
            await _file(mailbox, actions, store, now)
        except (MailboxUnavailable, SecretUnavailable, imapclient.exceptions.IMAPClientError,
                OSError) as exc:
            log.warning("mailbox=%s %d sent nudge(s) not yet filed in %r: %s", name,
                        len(actions), mailbox.sent, exc)


async def _file(mailbox: MailboxConfig, actions: list[StoredAction], store: Store,
                now: datetime) -> None:
    password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
    client = await asyncio.to_thread(imap.connect, mailbox, password)
    try:
        for action in actions:
            await asyncio.to_thread(_append_once, client, str(mailbox.sent), action,
                                    action.created_at, ("\\Seen",))
            store.mark_filed(action, now)
    finally:
        await asyncio.to_thread(logout, client)
