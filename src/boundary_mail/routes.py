"""Passing client mail on to its point of contact, after the commit: the shell's part.

The core decides how a message goes (`actions.Redirect.via`); the window queues it with the
decision, in one transaction, so a crash loses no route:

- **By IMAP**, when the point of contact's mailbox is monitored: a queued action of kind
  "route" holds the original's bytes exactly as fetched. Once the window's mailboxes are
  read, `carry_routes` appends each to its target inbox (one short-lived connection per
  target mailbox), with the original's INTERNALDATE and no flags: no relay, no size limit.
  The APPEND is idempotent: the inbox is searched for the Message-ID first (`UID SEARCH
  HEADER Message-ID`), so a route whose APPEND happened but was not recorded (a crash, a
  lost connection) is recorded now, not appended twice. The copy is the client's own
  message: the target's sync finds its Message-ID tracked already and decides nothing again
  (no reply, no item, no second route). Once appended, the bytes leave the state file.
- **By the relay**, otherwise: a redirect, or, when it would be bigger than the relay takes
  (`RelayLimit`: the server's EHLO SIZE or `smtp.max_message_bytes`), a notice without the
  body that says where the message lies. The outbox sends them like any other mail.

`$Routed` is set on the copy the route was decided on only once the route succeeded (the
APPEND happened, or the send was recorded; a crash in between leaves that copy unflagged,
which only a person reading it sees). A route refused for good (an IMAP NO, an SMTP 5xx)
queues one alert to the owner of the mailbox it arrived in (`route-failed:<Message-ID>`; a
failure a crash kept from alerting is alerted at the next drain), and the digest lists it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import replace
from datetime import datetime

import imapclient

from boundary_mail import imap, smtp
from boundary_mail.compose_route import compose_route_failed
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.errors import MailboxUnavailable, SecretUnavailable
from boundary_mail.headers import message_key
from boundary_mail.outbox import DrainResult
from boundary_mail.plan import ROUTED_KEYWORD
from boundary_mail.secrets import resolve_password
from boundary_mail.store import Store, StoredAction
from boundary_mail.sync import logout
from boundary_mail.templates import environment

log = logging.getLogger(__name__)

# IMAP response codes (RFC 5530) that say "not now" rather than "never".
_TRANSIENT = ("[UNAVAILABLE]", "[INUSE]", "[SERVERBUG]", "[LIMIT]")


class RelayLimit:
    """The biggest message the relay takes: `smtp.max_message_bytes`, or the server's SIZE
    (RFC 1870) if smaller. The server is asked once per window, and only when a message may
    be too big; a server that cannot be asked leaves the configured limit."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._server: int | None = None
        self._asked = False
        self._lock = asyncio.Lock()

    async def bytes(self) -> int:
        async with self._lock:
            if not self._asked:
                self._asked = True
                try:
                    password = resolve_password(self.config.smtp, where="smtp")
                except SecretUnavailable as exc:
                    log.warning("the relay's size limit could not be asked: %s", exc)
                else:
                    self._server = await smtp.server_size(self.config.smtp, password)
        configured = self.config.smtp.max_message_bytes
        return min(configured, self._server) if self._server else configured


def _targets(config: Config) -> dict[str, MailboxConfig]:
    """Monitored mailbox by each address it receives (the first mailbox wins)."""
    return {a: m for m in reversed(config.mailboxes) for a in m.own_addresses}


async def carry_routes(config: Config, store: Store, now: datetime) -> DrainResult:
    """Append every queued route to its target inbox (see the module docstring). A target
    that cannot be reached keeps its routes queued for the next window."""
    result = DrainResult()
    token = secrets.token_hex(8)
    targets = _targets(config)
    by_mailbox: dict[str, list[StoredAction]] = {}
    for action in store.due_routes(token):
        target = targets.get(action.recipients[0]) if action.recipients else None
        if target is None:
            if store.claim_route(action, token):
                _refused(store, action, token, "no monitored mailbox receives mail for"
                         f" {action.recipients} any more", result)
            continue
        by_mailbox.setdefault(target.name, []).append(action)
    for name, actions in by_mailbox.items():
        mailbox = next(m for m in config.mailboxes if m.name == name)
        await _carry_to(mailbox, actions, store, token, now, result)
    return result


async def connect_or_wait(
    mailbox: MailboxConfig, waiting: str, result: DrainResult
) -> imapclient.IMAPClient | None:
    """A connection for APPENDing what was queued for `mailbox`; None when it cannot be had
    now (logged, and `result` asks for a retry): what was queued waits for the next window."""
    try:
        password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
        return await asyncio.to_thread(imap.connect, mailbox, password)
    except (MailboxUnavailable, SecretUnavailable) as exc:
        log.warning("mailbox=%s %s wait for the next window: %s", mailbox.name, waiting, exc)
        result.retry_soon = True
        return None


async def _carry_to(
    mailbox: MailboxConfig, actions: list[StoredAction], store: Store, token: str,
    now: datetime, result: DrainResult,
) -> None:
    client = await connect_or_wait(mailbox, f"{len(actions)} route(s)", result)
    if client is None:
        return
    try:
        await asyncio.to_thread(imap.select, client, mailbox.inbox)
        for action in actions:
            if not store.claim_route(action, token):
                continue
            copy = store.source_copy(action.source_message_id)
            try:
                appended = await asyncio.to_thread(
                    _append_once, client, mailbox.inbox, action, copy.received_at if copy else now)
            except imapclient.exceptions.IMAPClientAbortError as exc:
                store.release(action, token, f"connection lost ({exc})", final=False)
                raise
            except imapclient.exceptions.IMAPClientError as exc:
                text = f"mailbox {mailbox.name!r} refused it: {exc}"
                if any(code in str(exc).upper() for code in _TRANSIENT):
                    store.release(action, token, text, final=False)
                    continue
                _refused(store, action, token, text, result)
                continue
            store.mark_routed(action, now, token)
            result.sent += 1
            result.routed.append(action.source_message_id)
            log.info("routed msg=%s to mailbox=%s by IMAP%s",
                     message_key(action.source_message_id), mailbox.name,
                     "" if appended else " (it was there already)")
    except (imapclient.exceptions.IMAPClientError, OSError) as exc:
        log.warning("mailbox=%s routes interrupted, the rest wait for the next window: %s",
                    mailbox.name, exc)
        result.retry_soon = True
    finally:
        await asyncio.to_thread(logout, client)


def _append_once(
    client: imapclient.IMAPClient, folder: str, action: StoredAction, received_at: datetime
) -> bool:
    """APPEND unless the folder holds the message already; True if it was appended."""
    message_id = action.source_message_id
    made_up = message_id.endswith("@boundary-mail.invalid>")  # the original has none
    if not made_up and client.search(["HEADER", "Message-ID", message_id]):
        return False
    client.append(folder, action.raw, flags=(), msg_time=received_at)
    return True


def _refused(
    store: Store, action: StoredAction, token: str, error: str, result: DrainResult
) -> None:
    store.release(action, token, error, final=True)
    log.error("route msg=%s refused for good: %s", message_key(action.source_message_id), error)
    result.failed += 1


def queue_route_alerts(config: Config, store: Store, now: datetime) -> int:
    """Queue the alert of every route refused for good that has none yet; how many."""
    due = [r for r in store.failed_routes() if r.failed_at is None]
    if not due:
        return 0
    env = environment(config.templates_dir, config.default_language)
    owners = {m.name: m.owner for m in config.mailboxes}
    queued = 0
    with store.transaction():
        for route in due:
            out = compose_route_failed(replace(route, owner=owners.get(route.mailbox, "")),
                                       config=config, env=env, now=now)
            queued += store.add_action(
                dedupe_key=out.dedupe_key, kind=out.kind,
                source_message_id=out.source_message_id, envelope_from=out.envelope_from,
                recipients=out.recipients, outgoing_message_id=out.message_id,
                raw=out.as_bytes(), on_sent=out.on_sent, now=now,
            )
    return queued


async def flag_routed(config: Config, store: Store, message_ids: list[str]) -> None:
    """`$Routed` on the copy each route was decided on, once it succeeded (cosmetic: people
    see in their mail client that it went to the right person)."""
    wanted: dict[str, dict[str, list[int]]] = {}
    for mid in dict.fromkeys(message_ids):
        copy = store.source_copy(mid)
        if copy is not None:
            wanted.setdefault(copy.mailbox, {}).setdefault(copy.folder, []).append(copy.uid)
    for mailbox in config.mailboxes:
        if mailbox.name in wanted:
            try:
                await asyncio.to_thread(_flag, mailbox, wanted[mailbox.name])
            except (MailboxUnavailable, SecretUnavailable, imapclient.exceptions.IMAPClientError,
                    OSError) as exc:
                log.warning("mailbox=%s could not set %s: %s", mailbox.name, ROUTED_KEYWORD, exc)


def _flag(mailbox: MailboxConfig, folders: dict[str, list[int]]) -> None:
    client = imap.connect(mailbox, resolve_password(mailbox, where=f"mailbox {mailbox.name!r}"))
    try:
        for folder, uids in folders.items():
            imap.set_keyword(client, folder, uids, ROUTED_KEYWORD)
    finally:
        logout(client)
