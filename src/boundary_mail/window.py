"""One check window, end to end: sync → facts → decide → store → send.

This is the shell around `decide.plan_window`. Each fetched batch is parsed, decided, composed
and committed in one transaction together with the folder's new high-water mark; only then is
anything sent. A crash at any point therefore repeats no decision and loses none: undecided
mail is fetched again, decided mail waits in the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import imapclient

from boundary_mail import imap
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.compose import Outgoing, compose_auto_reply
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.decide import MessagePlan, plan_window
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.facts import MessageFacts
from boundary_mail.headers import MalformedMessage, message_key, parse_facts
from boundary_mail.outbox import drain
from boundary_mail.secrets import resolve_password
from boundary_mail.store import FolderState, Store
from boundary_mail.templates import environment

log = logging.getLogger(__name__)

# On the very first sync of a folder, older mail is recorded as the baseline, not answered:
# installing boundary-mail must never send replies to last year's mail.
FIRST_SYNC_LOOKBACK = timedelta(hours=24)


@dataclass(slots=True)
class WindowReport:
    now: datetime
    fetched: int = 0
    baseline: int = 0
    already_known: int = 0
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    plans: list[MessagePlan] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    queued: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed


class _StateView:
    """The read-only view of the store that the core is allowed to see."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def last_reply_at(self, sender: str, kind: str) -> datetime | None:
        return self._store.last_reply_at(sender, kind)

    def reply_queued(self, sender: str, kind: str) -> bool:
        return self._store.reply_queued(sender, kind)

    def is_known_contact(self, address: str) -> bool:
        return self._store.is_known_contact(address)


@dataclass(frozen=True, slots=True)
class _Batch:
    folder: str
    status: imap.FolderStatus
    messages: list[imap.FetchedMessage]
    rebaseline: bool  # UIDVALIDITY changed: known Message-IDs are not new
    first_sync: bool


def _sync_batches(
    client: imapclient.IMAPClient, mailbox: MailboxConfig, store_state: FolderState | None
) -> Iterator[_Batch]:
    """Blocking generator run step by step in a worker thread."""
    folder = mailbox.inbox
    status = imap.select(client, folder)
    first = store_state is None
    rebaseline = store_state is not None and store_state.uidvalidity != status.uidvalidity
    after = 0 if first or rebaseline else store_state.last_uid  # type: ignore[union-attr]
    if rebaseline:
        log.warning(
            "mailbox=%s folder=%s UIDVALIDITY changed (%s -> %s); re-baselining by Message-ID",
            mailbox.name, folder, store_state.uidvalidity, status.uidvalidity,  # type: ignore[union-attr]
        )
    any_batch = False
    for messages in imap.fetch_new(client, status, after):
        any_batch = True
        yield _Batch(folder, status, messages, rebaseline, first)
    if not any_batch and (first or rebaseline):
        yield _Batch(folder, status, [], rebaseline, first)


class Window:
    """Runs check windows for one configuration against one store."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.calendar = BusinessCalendar.from_config(config.schedule, config.tz)
        self.templates = environment(config.templates_dir, config.locale)

    async def run(self, now: datetime, *, dry_run: bool = False) -> WindowReport:
        report = WindowReport(now=now)
        for mailbox in self.config.mailboxes:
            try:
                await self._sync_mailbox(mailbox, now, report, dry_run=dry_run)
            except MailboxUnavailable as exc:
                log.error("mailbox=%s window failed: %s", mailbox.name, exc)
                report.errors.append(str(exc))
        if not dry_run:
            result = await drain(self.config, self.store, now)
            report.sent, report.failed = result.sent, result.failed
            report.errors.extend(result.errors)
        log.info(
            "window done: fetched=%d baseline=%d skipped=%d decided=%d queued=%d sent=%d"
            " failed=%d errors=%d",
            report.fetched, report.baseline, len(report.skipped), len(report.plans),
            report.queued, report.sent, report.failed, len(report.errors),
        )
        return report

    async def _sync_mailbox(
        self, mailbox: MailboxConfig, now: datetime, report: WindowReport, *, dry_run: bool
    ) -> None:
        password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
        client = await asyncio.to_thread(imap.connect, mailbox, password)
        try:
            state = self.store.folder_state(mailbox.name, mailbox.inbox)
            batches = _sync_batches(client, mailbox, state)
            while True:
                batch = await asyncio.to_thread(next, batches, None)
                if batch is None:
                    break
                self._handle_batch(mailbox, batch, now, report, dry_run=dry_run)
        finally:
            await asyncio.to_thread(_logout, client)

    def _handle_batch(
        self, mailbox: MailboxConfig, batch: _Batch, now: datetime, report: WindowReport,
        *, dry_run: bool,
    ) -> None:
        report.fetched += len(batch.messages)
        parsed: list[MessageFacts] = []
        skipped: list[tuple[int, str]] = []
        for fetched in batch.messages:
            try:
                parsed.append(
                    parse_facts(
                        fetched.header_block, mailbox=mailbox.name, folder=batch.folder,
                        uid=fetched.uid, received_at=fetched.received_at, flags=fetched.flags,
                        size=fetched.size,
                    )
                )
            except MalformedMessage as exc:
                log.warning("mailbox=%s uid=%d skipped: %s", mailbox.name, fetched.uid, exc)
                skipped.append((fetched.uid, str(exc)))
        known: set[str] = set()
        if batch.rebaseline:
            known = self.store.known_message_ids(
                mailbox.name, batch.folder, (f.message_id for f in parsed)
            )
        cutoff = now - FIRST_SYNC_LOOKBACK
        baseline = [f for f in parsed if batch.first_sync and f.received_at < cutoff]
        fresh = [
            f for f in parsed
            if f.message_id not in known and not (batch.first_sync and f.received_at < cutoff)
        ]
        plans = plan_window(
            fresh, config=self.config, calendar=self.calendar, state=_StateView(self.store),
            now=now,
        )
        outgoing = [
            compose_auto_reply(action, config=self.config, env=self.templates, now=now)
            for plan in plans
            for action in plan.actions
        ]
        report.plans.extend(plans)
        report.outgoing.extend(outgoing)
        report.skipped.extend((mailbox.name, uid, reason) for uid, reason in skipped)
        report.baseline += len(baseline)
        report.already_known += len(known)
        for plan in plans:
            log.info(
                "mailbox=%s msg=%s owner=%s reply=%s rule=%s",
                mailbox.name, message_key(plan.facts.message_id), plan.match.owner,
                plan.reply.reply, plan.reply.rule,
            )
        if dry_run:
            return
        top = max((m.uid for m in batch.messages), default=0)
        with self.store.transaction():
            for facts in parsed:
                if facts.message_id in known:
                    self.store.update_uid(mailbox.name, batch.folder, facts.message_id, facts.uid)
            for facts in baseline:
                self._record(facts, "baseline", "", "first sync: older than the lookback", now)
            for plan in plans:
                self._record(plan.facts, "decided", plan.reply.rule, plan.reply.reason, now)
            for uid, reason in skipped:
                self.store.record_skip(
                    mailbox=mailbox.name, folder=batch.folder, uid=uid, reason=reason, now=now
                )
            for out in outgoing:
                report.queued += self.store.add_action(
                    dedupe_key=out.dedupe_key, kind=out.kind,
                    source_message_id=out.source_message_id, envelope_from=out.envelope_from,
                    recipients=out.recipients, outgoing_message_id=out.message_id,
                    raw=out.message.as_bytes(), on_sent=out.on_sent, now=now,
                )
            previous = self.store.folder_state(mailbox.name, batch.folder)
            last = max(top, previous.last_uid if previous and not batch.rebaseline else 0)
            self.store.set_folder_state(
                mailbox.name, batch.folder, FolderState(batch.status.uidvalidity, last), now
            )

    def _record(
        self, facts: MessageFacts, status: str, rule: str, reason: str, now: datetime
    ) -> None:
        self.store.record_message(
            mailbox=facts.mailbox, folder=facts.folder, message_id=facts.message_id,
            uid=facts.uid, received_at=facts.received_at,
            sender=facts.sender.email if facts.sender else facts.return_path,
            subject=facts.subject, status=status, rule=rule, reason=reason, now=now,
        )
        for address in {facts.sender.email if facts.sender else "", facts.return_path or ""}:
            if address:
                self.store.record_contact(address, now)


def _logout(client: imapclient.IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # the server may already have closed the connection
        log.debug("IMAP logout failed", exc_info=True)
