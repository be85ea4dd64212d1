"""Drain the durable queue of outgoing mail: claim, send, record.

Each queued message was composed, with its final Message-ID, in the same transaction as the
decision that asked for it. A drain claims each message in its own committed transaction
before sending it, so no other process can send it too; records the success together with
its bookkeeping (the auto-reply rate limit, the first-contact mark); and keeps every other
outcome honest:

- refused for good (5xx): that message is marked failed, `status` shows it;
- the server is down, hangs up or says "try later": tried again with backoff, then the rest
  waits for the next chance;
- no answer to the final dot (RFC 5321 §4.5.3.2, 10 minutes): the server may have it. It is
  never resent in the same drain, and at most once later, with the same Message-ID;
- a claim whose drain never finished (the process died): the same "maybe delivered";
- the send went out but the state cannot record it (the disk is full): it is written to the
  reserved sent-journal instead (see `sent_journal`) and never sent again.

An `Outbox` can be fed while it sends: a window offers each batch's replies as soon as they
are committed, so the sending overlaps the reading of the other mailboxes (`execute`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from boundary_mail import smtp
from boundary_mail.config import Config
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.headers import message_key
from boundary_mail.net import backoff_seconds
from boundary_mail.sasl import Secret
from boundary_mail.secrets import resolve_password
from boundary_mail.sent_journal import SentJournal
from boundary_mail.store import StateError, Store, StoredAction
from boundary_mail.store.routes import ROUTE_KINDS

log = logging.getLogger(__name__)

# Bounded retries within one drain: at most RETRY_ATTEMPTS connections in a row without
# progress, waiting 1–2 s, then 2–4 s between them (with the 30 s default timeout, a dead
# server costs a window at most about 100 s; a refused connection about 6 s).
RETRY_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 1.0
RETRY_BACKOFF_MAX_SECONDS = 4.0
# "Sent" is synced to disk every SYNC_EVERY messages and at the end of a drain. A killed
# process loses nothing (WAL commits survive it); a power cut could lose the last few "sent"
# marks, and those messages would go out once more.
SYNC_EVERY = 16
# One more SMTP session (up to `smtp.sessions`) for each this many messages waiting: a few
# replies go over one connection, a burst over several.
MESSAGES_PER_SESSION = 20
# A session with nothing to send (the window is still reading) is kept this long for the next
# batch, then closed: well inside the idle timeouts of servers (Postfix: 300 s).
IDLE_SECONDS = 20.0


@dataclass(slots=True)
class DrainResult:
    sent: int = 0
    failed: int = 0
    uncertain: int = 0  # may have been delivered: not resent in this drain
    errors: list[str] = field(default_factory=list)
    retry_soon: bool = False  # the server was down or hung up: mail waits for a retry
    routed: list[str] = field(default_factory=list)  # Message-IDs passed on (see `routes`)

    def absorb(self, other: DrainResult) -> None:
        """Add the counts of a second drain (or of the routes by IMAP) to this one."""
        self.sent += other.sent
        self.failed += other.failed
        self.uncertain += other.uncertain
        self.errors.extend(other.errors)
        self.retry_soon |= other.retry_soon
        self.routed.extend(other.routed)


def _describe(action: StoredAction) -> str:
    # A digest answers no message: no msg= (the key of an empty id would name nothing).
    about = f" msg={message_key(action.source_message_id)}" if action.source_message_id else ""
    return f"action={action.id} kind={action.kind} to={','.join(action.recipients)}{about}"


async def drain(
    config: Config, store: Store, now: datetime, token: str | None = None
) -> DrainResult:
    """Send every queued message, oldest first (see the module docstring for what happens
    when something goes wrong). Drains that share a `token` (one window's) never resend
    what one of them found maybe delivered."""
    outbox = Outbox(config, store, now, token)
    outbox.open()
    outbox.offer(store.sendable(outbox.token))
    return await outbox.close()


class Outbox:
    """One drain over up to `smtp.sessions` connections that share a queue, which can grow
    while it sends (`offer`) until `close`. The first connection goes alone: when the server
    is down, the others never try, and once a drain has given up it takes nothing more (a
    dead server costs its retries once). An extra connection the server will not take (a
    limit on connections per user) bows out while another one sends."""

    def __init__(self, config: Config, store: Store, now: datetime,
                 token: str | None = None) -> None:
        self.config, self.store, self.now = config, store, now
        self.token = token or secrets.token_hex(8)
        self.journal = SentJournal(config.state_dir)
        self.result = DrainResult()
        self.queue: deque[StoredAction] = deque()
        self._offered: set[int] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._more = asyncio.Event()  # set when mail is offered or the outbox is closed
        self._connected = asyncio.Event()
        self._closed = self._stopped = False
        self._sending = 0  # sessions connected right now
        self._password: Secret | None = None

    def open(self) -> None:
        """Settle what an earlier process left (the journal, stale claims)."""
        _settle_journal(self.store, self.journal, self.now)
        for stale in self.store.recover_stale_claims(self.token):
            log.warning("%s: its sending was never recorded (the process stopped); it may have"
                        " been delivered, so it is sent at most once more, with the same"
                        " Message-ID", _describe(stale))

    def offer(self, actions: Iterable[StoredAction]) -> None:
        """Send these too (each once, however often offered); starts connections as needed."""
        fresh = [a for a in actions if a.id not in self._offered]
        if not fresh or self._stopped:
            return
        if self._password is None:
            self._reserve_journal()
            self._password = resolve_password(self.config.smtp, where="smtp")
        self._offered.update(a.id for a in fresh)
        self.queue.extend(fresh)
        self._more.set()
        wanted = 1 + (len(self.queue) - 1) // MESSAGES_PER_SESSION
        while len(self._workers) < min(self.config.smtp.sessions, wanted):
            first = not self._workers
            self._workers.append(asyncio.create_task(self._worker(first=first)))

    async def close(self, *, stop: bool = False) -> DrainResult:
        """Send what was offered (or, with `stop`, only finish the message in hand), then
        end every connection. The first failure that concerns more than the mail (the state
        file cannot be written) is raised here."""
        self._closed = True
        if stop:
            self._stopped = True
        self._more.set()
        try:
            outcomes = await asyncio.gather(*self._workers, return_exceptions=True)
        finally:
            self.store.sync()
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome
        return self.result

    def _reserve_journal(self) -> None:
        try:
            self.journal.reserve()
        except OSError as exc:
            raise StateError(
                f"{self.journal.path}: cannot reserve {self.journal.path.parent}'s space for"
                f" recording sends ({exc.strerror}); nothing is sent until the disk has room"
            ) from None

    async def _worker(self, *, first: bool) -> None:
        try:
            if not first:
                await self._connected.wait()
            await self._connect_and_send()
        except BaseException:
            self._stopped = True  # e.g. the state file cannot be written: nothing more
            raise
        finally:
            self._connected.set()  # a worker that waits for this one must not wait forever

    async def _connect_and_send(self) -> None:
        failures = 0
        handled = [0]  # messages this connection's sessions have dealt with
        assert self._password is not None
        while not self._stopped and await self._wait_for_mail():
            done_before = handled[0]
            try:
                async with smtp.session(self.config.smtp, self._password) as connection:
                    self._connected.set()
                    self._sending += 1
                    try:
                        await self._send_all(connection, handled)
                    finally:
                        self._sending -= 1
            except smtp.ConnectionTrouble as exc:
                if (self._closed and not self.queue) or self._stopped:
                    break  # the last message was handed over; only its answer is missing
                failures = 1 if handled[0] > done_before else failures + 1
                if failures < RETRY_ATTEMPTS:
                    delay = backoff_seconds(failures, RETRY_BACKOFF_SECONDS,
                                            RETRY_BACKOFF_MAX_SECONDS)
                    log.warning("sending interrupted (attempt %d of %d), %d message(s) waiting;"
                                " trying again in %.1f s: %s", failures, RETRY_ATTEMPTS,
                                len(self.queue), delay, exc)
                    await asyncio.sleep(delay)
                    continue
                if not self._bow_out(exc):
                    self._stop(exc, retry_soon=True)
                return
            except MailboxUnavailable as exc:
                if not self._bow_out(exc):
                    self._stop(exc, retry_soon=False)
                return

    def _bow_out(self, exc: MailboxUnavailable) -> bool:
        """Whether this connection can give up alone: another one is sending."""
        if not self._sending:
            return False
        log.warning("one more SMTP session could not be used (%s); the queue goes over the"
                    " %d that are open", exc, self._sending)
        return True

    async def _wait_for_mail(self, idle: float | None = None) -> bool:
        """Whether there is mail to send, waiting for an offer while the outbox is open (at
        most `idle` seconds)."""
        while not self.queue and not self._closed and not self._stopped:
            self._more.clear()
            try:
                await asyncio.wait_for(self._more.wait(), idle)
            except TimeoutError:
                break
        return bool(self.queue) and not self._stopped

    async def _send_all(self, connection: smtp.Session, handled: list[int]) -> None:
        action: StoredAction | None = None
        while action is not None or await self._wait_for_mail(IDLE_SECONDS):
            action = action or self._claim_next()
            if action is None:
                continue
            # Pipelined, the next message's envelope goes out with this one (one round trip
            # a message): only a message already waiting, and none once the outbox stops.
            then = self._claim_next() if connection.pipelined and not self._stopped else None
            try:
                await _send_one(self.store, self.journal, connection, action, then, self.token,
                                self.now, self.result)
            except smtp.MaybeDelivered as exc:
                handled[0] += 1
                self._give_back(then, exc)
                raise smtp.ConnectionTrouble(str(exc)) from None  # that connection is gone
            except BaseException as exc:
                self._give_back(then, exc)
                self.queue.appendleft(action)  # released, not sent: the next try takes it
                raise
            handled[0] += 1  # sent or refused for good: progress either way
            action = then
            if action is not None and self._stopped:
                # The session ends by closing the connection: no data follows the envelope.
                self._give_back(action, RuntimeError("the outbox stopped"))
                return

    def _claim_next(self) -> StoredAction | None:
        """The next waiting message, claimed for this drain; None when none is waiting."""
        while self.queue:
            action = self.queue.popleft()
            if self.store.claim(action, self.token):
                return action
            log.info("%s: sent or claimed meanwhile by another process; skipped",
                     _describe(action))
        return None

    def _give_back(self, action: StoredAction | None, why: BaseException) -> None:
        """A claimed message that never went out (its envelope did, at most): back first in
        the queue, released for the next try."""
        if action is None:
            return
        self.queue.appendleft(action)
        with contextlib.suppress(StateError):  # else a later drain finds the stale claim
            self.store.release(action, self.token, f"not sent: {why}", final=False)

    def _stop(self, exc: MailboxUnavailable, *, retry_soon: bool) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._more.set()
        _pause(self.store, list(self.queue), exc, self.result)
        self.result.retry_soon |= retry_soon
async def _send_one(
    store: Store, journal: SentJournal, connection: smtp.Session, action: StoredAction,
    then: StoredAction | None, token: str, now: datetime, result: DrainResult,
) -> None:
    try:
        passed_over = await connection.send(action, then)
    except smtp.SendRefused as exc:
        store.release(action, token, str(exc), final=True)
        log.error("%s refused for good: %s", _describe(action), exc)
        result.failed += 1
        return
    except smtp.MaybeDelivered as exc:
        store.mark_uncertain(action, token, str(exc))
        log.warning("%s: %s; not resent in this window, at most once later (same Message-ID)",
                    _describe(action), exc)
        result.uncertain += 1
        raise
    except MailboxUnavailable as exc:
        store.release(action, token, str(exc), final=False)
        raise
    result.sent += 1
    _record_sent(store, journal, action, token, now, synced=result.sent % SYNC_EVERY == 0)
    if passed_over:
        text = (f"{_describe(action)} was sent, but the server would not take"
                f" {'; '.join(passed_over)}: they do not get it")
        log.error("%s", text)
        result.errors.append(text)
    if action.kind in ROUTE_KINDS:
        result.routed.append(action.source_message_id)
    log.info("sent %s", _describe(action))


def _record_sent(
    store: Store, journal: SentJournal, action: StoredAction, token: str, now: datetime, *,
    synced: bool,
) -> None:
    try:
        store.mark_sent(action, now, token, synced=synced)
    except StateError as exc:
        journal.write(action.id, token)
        raise StateError(
            f"{_describe(action)} was sent, but the state file could not record it ({exc});"
            f" it is kept in {journal.path} and will not be sent again. Nothing more is sent"
            " until the state file can be written"
        ) from None


def _settle_journal(store: Store, journal: SentJournal, now: datetime) -> None:
    """Record in the database the sends that only the journal knows of."""
    records = journal.records()
    if not records:
        return
    by_id = {a.id: a for a in store.actions()}
    for action_id, token in records:
        action = by_id.get(action_id)
        if action is not None:
            store.mark_sent(action, now, token)
            log.info("%s: its send, kept in %s, is now recorded", _describe(action),
                     journal.path)
    journal.clear()


def _pause(
    store: Store, queue: list[StoredAction], exc: MailboxUnavailable, result: DrainResult
) -> None:
    if queue:
        store.mark_attempt_failed(queue[0], str(exc), final=False)
    log.error("sending paused, %d message(s) stay queued: %s", len(queue), exc)
    result.errors.append(str(exc))
