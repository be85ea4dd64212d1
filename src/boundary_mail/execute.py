"""Carrying out a window's plan: the one place where a real run and a dry run differ.

`StoreExecutor` commits each plan in one transaction with the folder's high-water mark. The
mail a batch's decisions queued (auto-replies, notes, redirects, alerts: nothing read later
changes them) starts going out at once, while the other mailboxes are read; at the end the
rest is carried out: the routes and nudge drafts by IMAP, the mail queued after the reading
(ladder, nudges) and before this window, the alerts of routes that failed and `$Routed` on
what was passed on (see `outbox`, `routes`, `drafts`).
`DryRunExecutor` does none of that: it keeps the high-water marks in memory (so a reconnect
reads on from where the dry run got to) and keeps the composed messages, so ``poll
--dry-run`` can print exactly what a real run would send. Everything else in a window runs
the same code for both.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Protocol

from boundary_mail.config import Config
from boundary_mail.drafts import carry_drafts, file_sent_nudges
from boundary_mail.errors import SecretUnavailable
from boundary_mail.headers import message_key
from boundary_mail.outbox import DrainResult, Outbox, drain
from boundary_mail.outgoing import Outgoing
from boundary_mail.plan import InboxPlan, LadderPlan, SentPlan, addresses_of, sender_of
from boundary_mail.report import WindowReport
from boundary_mail.routes import carry_routes, flag_routed, queue_route_alerts
from boundary_mail.store import FolderState, StateError, Store
from boundary_mail.tracking import Acknowledgment
from boundary_mail.waiting import NudgePlan, WaitChanges

log = logging.getLogger(__name__)


class Executor(Protocol):
    def folder_state(self, mailbox: str, folder: str) -> FolderState | None: ...
    def commit_inbox(self, plan: InboxPlan, outgoing: Sequence[Outgoing]) -> int: ...
    def commit_acknowledgments(self, acks: Sequence[Acknowledgment]) -> None: ...
    def commit_sent(self, plan: SentPlan) -> None: ...
    def commit_ladder(self, plan: LadderPlan, outgoing: Sequence[Outgoing]) -> int: ...
    def commit_nudges(self, plan: NudgePlan, outgoing: Sequence[Outgoing]) -> int: ...
    def mailbox_done(self, mailbox: str, error: str | None,
                     alert: Outgoing | None = None) -> None: ...
    async def drain(self) -> DrainResult: ...
    async def abandon(self) -> None: ...


class StoreExecutor:
    """The real run: every plan is committed, then the queue is drained."""

    def __init__(self, config: Config, store: Store, now: datetime) -> None:
        self.config, self.store, self.now = config, store, now
        self.token = secrets.token_hex(8)  # one per window: see outbox.drain
        self.outbox: Outbox | None = None  # sending while the window reads
        self.send_early = True

    def folder_state(self, mailbox: str, folder: str) -> FolderState | None:
        return self.store.folder_state(mailbox, folder)

    def commit_inbox(self, plan: InboxPlan, outgoing: Sequence[Outgoing]) -> int:
        store, now, read = self.store, self.now, plan.read
        with store.transaction():
            for message_id, uid in plan.renumbered:
                store.update_uid(read.mailbox, read.folder, message_id, uid)
            store.record_baseline(plan.baseline, plan.baseline_contacts,
                                  reason="first sync: older than the lookback", now=now)
            for decided in plan.decisions:
                facts = decided.facts
                store.record_message(
                    mailbox=facts.mailbox, folder=facts.folder, message_id=facts.message_id,
                    uid=facts.uid, received_at=facts.received_at, sender=sender_of(facts),
                    subject=facts.subject, status="decided", rule=decided.reply.rule,
                    reason=decided.reply.reason, now=now,
                )
                store.record_contacts(addresses_of(facts), now)
                if decided.track is not None:
                    store.add_item(decided.track, now)
                if decided.followup_of is not None:
                    store.add_followup(facts.message_id, decided.followup_of, facts.received_at)
            self.commit_acknowledgments(plan.acknowledgments)
            self._commit_waits(plan.waits)
            for uid, reason in read.skipped:
                store.record_skip(mailbox=read.mailbox, folder=read.folder, uid=uid,
                                  reason=reason, now=now)
            queued = self.queue(outgoing)
            self._advance(plan.read.mailbox, plan.read.folder, plan.read.uidvalidity,
                          plan.read.last_uid)
        if queued:
            self._send_soon([out.dedupe_key for out in outgoing])
        return queued

    def _send_soon(self, dedupe_keys: list[str]) -> None:
        """Start sending this batch's mail. Only an optimisation: when sending cannot start
        (no SMTP secret, no room to record sends), the window's drain says why."""
        if not self.send_early:
            return
        try:
            if self.outbox is None:
                self.outbox = Outbox(self.config, self.store, self.now, self.token)
                self.outbox.open()  # settles an earlier process's leftovers; older mail waits
            self.outbox.offer(self.store.pending_with_keys(dedupe_keys))
        except (SecretUnavailable, StateError) as exc:
            log.debug("replies wait for the end of the window: %s", exc)
            self.send_early, self.outbox = False, None

    def commit_acknowledgments(self, acks: Sequence[Acknowledgment]) -> None:
        with self.store.transaction():
            for ack in acks:
                if self.store.acknowledge(ack.root_id, ack.at, ack.how):
                    log.info("acknowledged msg=%s how=%s", message_key(ack.root_id), ack.how)

    def commit_sent(self, plan: SentPlan) -> None:
        with self.store.transaction():
            self.commit_acknowledgments(plan.acknowledgments)
            self.store.record_team_replies(plan.replies)
            self._commit_waits(plan.waits)
            self._advance(plan.read.mailbox, plan.read.folder, plan.read.uidvalidity,
                          plan.read.last_uid)

    def commit_ladder(self, plan: LadderPlan, outgoing: Sequence[Outgoing]) -> int:
        with self.store.transaction():
            queued = self.queue(outgoing)
            for step in plan.taken:
                self.store.set_ladder_step(step.item.message_id, step.step)
        return queued

    def _commit_waits(self, waits: WaitChanges) -> None:
        for start in self.store.start_waits(waits.starts, self.now):
            log.info("waiting on client=%s msg=%s member=%s how=%s after=%dd", start.client,
                     message_key(start.message_id), start.member, start.how, start.after_days)
        for mid in self.store.end_waits(waits.ends):
            log.info("wait ended msg=%s", message_key(mid))

    def commit_nudges(self, plan: NudgePlan, outgoing: Sequence[Outgoing]) -> int:
        """The nudges and reports, queued with the item's count in one transaction."""
        with self.store.transaction():
            queued = self.queue(outgoing)
            for nudge in plan.nudges:
                self.store.record_nudge(nudge.item.message_id, nudge.number, self.now)
            for report in plan.reports:
                self.store.record_wait_report(report.item.message_id, self.now)
        return queued

    def mailbox_done(self, mailbox: str, error: str | None,
                     alert: Outgoing | None = None) -> None:
        """Record how the mailbox's read went, and queue the alert its failure asks for."""
        with self.store.transaction():
            if error is None:
                self.store.record_mailbox_ok(mailbox, self.now)
            else:
                self.store.record_mailbox_failed(mailbox, error, self.now)
            if alert is not None:
                self.queue([alert])

    async def drain(self) -> DrainResult:
        """Append the routes by IMAP, send the queue, alert the owners of routes that failed
        for good (a redirect refused in this drain too), then flag what was passed on."""
        config, store, now, token = self.config, self.store, self.now, self.token
        carried = await carry_routes(config, store, now)
        carried.absorb(await carry_drafts(config, store, now))
        queue_route_alerts(config, store, now)
        if self.outbox is not None:  # the mail of this window's batches is on its way
            self.outbox.offer(store.sendable(token))
            result = await self.outbox.close()
        else:
            result = await drain(config, store, now, token)
        if queue_route_alerts(config, store, now):
            result.absorb(await drain(config, store, now, token))
        result.absorb(carried)
        await flag_routed(config, store, result.routed)
        await file_sent_nudges(config, store, now)
        return result

    async def abandon(self) -> None:
        """The window failed: finish the message in hand and close the connections."""
        if self.outbox is not None:
            try:
                await self.outbox.close(stop=True)
            except Exception as exc:  # the window's own failure is the one to report
                log.debug("while stopping the sending: %s", exc)

    def queue(self, outgoing: Iterable[Outgoing]) -> int:
        """Add the mail to the queue (inside the caller's transaction); how many were new."""
        added = 0
        for out in outgoing:
            if self.store.add_action(
                dedupe_key=out.dedupe_key, kind=out.kind,
                source_message_id=out.source_message_id, envelope_from=out.envelope_from,
                recipients=out.recipients, outgoing_message_id=out.message_id,
                raw=out.as_bytes(), on_sent=out.on_sent, now=self.now,
            ):
                added += 1
                log.info("queued kind=%s to=%s%s", out.kind, ",".join(out.recipients),
                         f" msg={message_key(out.source_message_id)}"
                         if out.source_message_id else "")
        return added

    def _advance(self, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.store.set_folder_state(mailbox, folder, FolderState(uidvalidity, last_uid),
                                    self.now)


class DryRunExecutor:
    """The dry run: nothing is recorded, flagged or sent; the composed mail is kept to show."""

    def __init__(self, store: Store, report: WindowReport) -> None:
        self.store = store
        self.report = report
        self.folders: dict[tuple[str, str], FolderState] = {}
        self._keys: set[str] = set()

    def folder_state(self, mailbox: str, folder: str) -> FolderState | None:
        return self.folders.get((mailbox, folder)) or self.store.folder_state(mailbox, folder)

    def commit_inbox(self, plan: InboxPlan, outgoing: Sequence[Outgoing]) -> int:
        self._advance(plan.read.mailbox, plan.read.folder, plan.read.uidvalidity,
                      plan.read.last_uid)
        return self._queue(outgoing)

    def commit_acknowledgments(self, acks: Sequence[Acknowledgment]) -> None:
        return None

    def commit_sent(self, plan: SentPlan) -> None:
        self._advance(plan.read.mailbox, plan.read.folder, plan.read.uidvalidity,
                      plan.read.last_uid)

    def commit_ladder(self, plan: LadderPlan, outgoing: Sequence[Outgoing]) -> int:
        return self._queue(outgoing)

    def commit_nudges(self, plan: NudgePlan, outgoing: Sequence[Outgoing]) -> int:
        return self._queue(outgoing)

    def mailbox_done(self, mailbox: str, error: str | None,
                     alert: Outgoing | None = None) -> None:
        if alert is not None:
            self._queue([alert])

    async def drain(self) -> DrainResult:
        await asyncio.sleep(0)
        return DrainResult()

    async def abandon(self) -> None:
        return None

    def _queue(self, outgoing: Iterable[Outgoing]) -> int:
        """Count what a real run would add to the queue (a dedupe key queued before, or
        earlier in this dry run, is not queued again)."""
        queued = 0
        for out in outgoing:
            if out.dedupe_key in self._keys or self.store.has_action(out.dedupe_key):
                continue
            self._keys.add(out.dedupe_key)
            self.report.would_send.append(out)
            queued += 1
        return queued

    def _advance(self, mailbox: str, folder: str, uidvalidity: int, last_uid: int) -> None:
        self.folders[(mailbox, folder)] = FolderState(uidvalidity, last_uid)
