"""One check window, end to end: sync → facts → decide → store → send.

This is the shell around the core (`decide`, `tracking`, `ladder`). Per mailbox: new inbox
mail is parsed, decided, composed and committed in one transaction together with the
folder's new high-water mark; then the Sent folder is read for the team's replies, and the
\\Answered flags of open items are checked. Then the escalation ladder runs over what is still
open, and only then is anything sent. A crash at any point repeats no decision and loses none:
undecided mail is fetched again, decided mail waits in the queue.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import imapclient

from boundary_mail import imap
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.compose import (
    Outgoing,
    compose_alert,
    compose_auto_reply,
    compose_contact_note,
    compose_ladder,
    compose_redirect,
)
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.decide import (
    AutoReply,
    ContactNote,
    MessagePlan,
    Redirect,
    UrgentAlert,
    plan_sent,
    plan_window,
)
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.facts import MessageFacts
from boundary_mail.headers import (
    PREVIEW_BYTES,
    MalformedMessage,
    body_preview,
    message_key,
    parse_facts,
)
from boundary_mail.ladder import LadderStep, due_steps
from boundary_mail.outbox import drain
from boundary_mail.secrets import resolve_password
from boundary_mail.store import FolderState, Store
from boundary_mail.sync import FolderBatch, fetch_copies, folder_batches, logout, peek_new
from boundary_mail.templates import environment
from boundary_mail.tracking import Acknowledgment, is_answered

log = logging.getLogger(__name__)

# On the very first sync of a folder, older mail is recorded as the baseline, not answered:
# installing boundary-mail must never send replies to last year's mail.
FIRST_SYNC_LOOKBACK = timedelta(hours=24)
ROUTED_KEYWORD = "$Routed"
SESSION_ATTEMPTS = 2  # IMAP sessions per mailbox and window: a lost connection is reopened once


@dataclass(slots=True)
class WindowReport:
    now: datetime
    fetched: int = 0
    baseline: int = 0
    already_known: int = 0
    skipped: list[tuple[str, int, str]] = field(default_factory=list)
    plans: list[MessagePlan] = field(default_factory=list)
    acknowledged: list[Acknowledgment] = field(default_factory=list)
    ladder: list[LadderStep] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    queued: int = 0
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    failed_mailboxes: set[str] = field(default_factory=set)
    retry_soon: bool = False  # a server was down or hung up: running again soon may help

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed


class _StateView:
    """The read-only view of the store that the core is allowed to see."""

    def __init__(self, store: Store) -> None:
        self.last_reply_at = store.last_reply_at
        self.reply_queued = store.reply_queued
        self.is_known_contact = store.is_known_contact
        self.is_tracked = store.is_tracked
        self.open_root = store.open_root


class Window:
    """Runs check windows for one configuration against one store."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.calendar = BusinessCalendar.from_config(config.schedule, config.tz)
        self.templates = environment(config.templates_dir, config.locale)
        self.state = _StateView(store)

    async def run(self, now: datetime, *, dry_run: bool = False) -> WindowReport:
        report = WindowReport(now=now)
        # A server that was down or hung for one mailbox is not tried again for the next
        # mailbox on it: with a 30 s timeout and 3 tries, each would add a minute and a half.
        unreachable: set[tuple[str, int]] = set()
        for mailbox in self.config.mailboxes:
            server = (mailbox.host, mailbox.port)
            try:
                if server in unreachable:
                    raise imap.ConnectionTrouble(
                        f"mailbox {mailbox.name!r}: not tried, its server"
                        f" {mailbox.host}:{mailbox.port} could not be reached a moment ago in"
                        " this window"
                    )
                await self._sync_mailbox(mailbox, now, report, dry_run=dry_run)
            except MailboxUnavailable as exc:
                log.error("mailbox=%s window failed: %s", mailbox.name, exc)
                report.errors.append(str(exc))
                report.failed_mailboxes.add(mailbox.name)
                if isinstance(exc, imap.ConnectionTrouble):
                    report.retry_soon = True
                    unreachable.add(server)
        await self._climb_ladder(now, report, dry_run=dry_run)
        if not dry_run:
            result = await drain(self.config, self.store, now)
            report.sent, report.failed = result.sent, result.failed
            report.errors.extend(result.errors)
            report.retry_soon |= result.retry_soon
        log.info(
            "window done: fetched=%d baseline=%d skipped=%d decided=%d acknowledged=%d"
            " ladder=%d queued=%d sent=%d failed=%d errors=%d",
            report.fetched, report.baseline, len(report.skipped), len(report.plans),
            len(report.acknowledged), len(report.ladder), report.queued, report.sent,
            report.failed, len(report.errors),
        )
        return report

    async def urgent_scan(self, now: datetime) -> WindowReport:
        """Between windows: a header-only look at new inbox mail, to alert on urgent and VIP
        messages at once. Nothing else is decided or recorded; the next window handles these
        messages fully, and never alerts twice (an alert's queue key is its Message-ID)."""
        report = WindowReport(now=now)
        alerts: list[Outgoing] = []
        for mailbox in self.config.mailboxes:
            state = self.store.folder_state(mailbox.name, mailbox.inbox)
            if state is None:
                continue  # never synced: the first window sets the baseline
            try:
                batches = await asyncio.to_thread(
                    peek_new, mailbox, state, PREVIEW_BYTES if self.config.urgent.keywords else 0
                )
            except (MailboxUnavailable, imapclient.exceptions.IMAPClientError, OSError) as exc:
                log.warning("mailbox=%s urgent scan failed: %s", mailbox.name, exc)
                report.errors.append(str(exc))
                continue
            for batch, previews in batches:
                parsed, skipped = self._parse(mailbox, batch)
                self._count_read(report, mailbox, batch, skipped)
                parsed = _with_previews(parsed, batch, previews)
                plans = plan_window(
                    parsed, config=self.config, calendar=self.calendar, state=self.state, now=now
                )
                alerts.extend(
                    compose_alert(action, config=self.config, env=self.templates, now=now)
                    for plan in plans for action in plan.actions
                    if isinstance(action, UrgentAlert)
                )
        report.outgoing.extend(alerts)
        if alerts:
            with self.store.transaction():
                self._queue(alerts, report, now)
        if report.queued:
            result = await drain(self.config, self.store, now)
            report.sent, report.failed = result.sent, result.failed
            report.errors.extend(result.errors)
        log.info("urgent scan done: fetched=%d alerts=%d sent=%d", report.fetched,
                 report.queued, report.sent)
        return report

    # -- one mailbox ------------------------------------------------------------------------
    async def _sync_mailbox(
        self, mailbox: MailboxConfig, now: datetime, report: WindowReport, *, dry_run: bool
    ) -> None:
        """One IMAP session for the mailbox. A connection lost in the middle is opened again
        (SESSION_ATTEMPTS in all): what was committed stays, the session goes on from the
        stored high-water marks, and the rest of the mail is not left for the next window."""
        password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
        for attempt in range(1, SESSION_ATTEMPTS + 1):
            client = await asyncio.to_thread(imap.connect, mailbox, password)
            try:
                # The inbox stays selected from its sync to the \Answered check: after new
                # mail, each SELECT of a big Maildir costs Dovecot a re-read (0.3 s at 100,000).
                await self._sync_inbox(client, mailbox, now, report, dry_run=dry_run)
                await self._check_answered(client, mailbox, now, report, dry_run=dry_run)
                if mailbox.sent:
                    await self._sync_sent(
                        client, mailbox, mailbox.sent, now, report, dry_run=dry_run
                    )
                return
            except (imapclient.exceptions.IMAPClientAbortError, OSError) as exc:
                # A dry run stores nothing, so it would decide the same mail again.
                if attempt < SESSION_ATTEMPTS and not dry_run:
                    log.warning(
                        "mailbox=%s the connection was lost during the window (%s); what was"
                        " committed stays; connecting again (attempt %d of %d)",
                        mailbox.name, type(exc).__name__, attempt + 1, SESSION_ATTEMPTS,
                    )
                    continue
                raise imap.ConnectionTrouble(
                    f"mailbox {mailbox.name!r}: the connection was lost during the window"
                    f" ({type(exc).__name__}); what was committed stays, the rest is read"
                    " again at the next window"
                ) from None
            except imapclient.exceptions.IMAPClientError as exc:
                raise MailboxUnavailable(
                    f"mailbox {mailbox.name!r}: the server refused a command during the window"
                    f" ({type(exc).__name__}); what was committed stays, the rest is read"
                    " again at the next window"
                ) from None
            finally:
                await asyncio.to_thread(logout, client)

    async def _sync_inbox(
        self, client: imapclient.IMAPClient, mailbox: MailboxConfig, now: datetime,
        report: WindowReport, *, dry_run: bool,
    ) -> None:
        state = self.store.folder_state(mailbox.name, mailbox.inbox)
        batches = folder_batches(client, mailbox, mailbox.inbox, state)
        while True:
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                break
            routed = await self._handle_inbox_batch(
                client, mailbox, batch, now, report, dry_run=dry_run
            )
            if routed and not dry_run:
                # Cosmetic: people see in their mail client that it was passed on.
                try:
                    await asyncio.to_thread(
                        imap.set_keyword, client, mailbox.inbox, routed, ROUTED_KEYWORD
                    )
                except imapclient.exceptions.IMAPClientError as exc:
                    log.warning("mailbox=%s could not set %s: %s", mailbox.name,
                                ROUTED_KEYWORD, exc)

    @staticmethod
    def _parse(
        mailbox: MailboxConfig, batch: FolderBatch, *, baseline_before: datetime | None = None
    ) -> tuple[list[MessageFacts], list[tuple[int, str]]]:
        """Facts of each message of the batch, and the (uid, reason) of each that could not
        be read. Mail received before `baseline_before` only becomes a baseline row, so only
        what that row keeps is read."""
        parsed: list[MessageFacts] = []
        skipped: list[tuple[int, str]] = []
        for fetched in batch.messages:
            try:
                parsed.append(
                    parse_facts(
                        fetched.header_block, mailbox=mailbox.name, folder=batch.folder,
                        uid=fetched.uid, received_at=fetched.received_at, flags=fetched.flags,
                        size=fetched.size,
                        identity_only=baseline_before is not None
                        and fetched.received_at < baseline_before,
                    )
                )
            except MalformedMessage as exc:
                log.warning("mailbox=%s folder=%s uid=%d skipped: %s", mailbox.name,
                            batch.folder, fetched.uid, exc)
                skipped.append((fetched.uid, str(exc)))
        return parsed, skipped

    @staticmethod
    def _count_read(
        report: WindowReport, mailbox: MailboxConfig, batch: FolderBatch,
        skipped: list[tuple[int, str]],
    ) -> None:
        report.fetched += len(batch.messages)
        report.skipped.extend((mailbox.name, uid, reason) for uid, reason in skipped)

    async def _handle_inbox_batch(
        self, client: imapclient.IMAPClient, mailbox: MailboxConfig, batch: FolderBatch,
        now: datetime, report: WindowReport, *, dry_run: bool,
    ) -> list[int]:
        """Decide, compose and commit one batch; return the UIDs that were redirected."""
        cutoff = now - FIRST_SYNC_LOOKBACK if batch.first_sync else None
        parsed, skipped = self._parse(mailbox, batch, baseline_before=cutoff)
        known: set[str] = set()
        if batch.rebaseline:
            known = self.store.known_message_ids(
                mailbox.name, batch.folder, (f.message_id for f in parsed)
            )
        def is_baseline(facts: MessageFacts) -> bool:
            return cutoff is not None and facts.received_at < cutoff

        baseline = [f for f in parsed if is_baseline(f)]
        fresh = [f for f in parsed if not is_baseline(f) and f.message_id not in known]
        if self.config.urgent.keywords and fresh:
            previews = await asyncio.to_thread(
                imap.fetch_previews, client, [f.uid for f in fresh], PREVIEW_BYTES
            )
            fresh = _with_previews(fresh, batch, previews)
        plans = plan_window(
            fresh, config=self.config, calendar=self.calendar, state=self.state, now=now
        )
        redirect_uids = [p.facts.uid for p in plans if p.redirect is not None]
        originals: dict[int, bytes] = {}
        if redirect_uids:
            originals = await asyncio.to_thread(imap.fetch_raw, client, redirect_uids)
        outgoing = []
        errors = []
        for plan in plans:
            for action in plan.actions:
                try:
                    out = self._compose(action, originals, now)
                except Exception as exc:  # one broken message never stops the window
                    log.error("mailbox=%s msg=%s %s could not be composed (%s); not sent",
                              mailbox.name, message_key(plan.facts.message_id),
                              type(action).__name__, type(exc).__name__)
                    errors.append(f"a {type(action).__name__} could not be composed")
                    continue
                if out is not None:
                    outgoing.append(out)

        def count() -> None:
            """Into the report once the batch is done: a batch read again after a lost
            connection is counted once."""
            self._count_read(report, mailbox, batch, skipped)
            report.plans.extend(plans)
            report.outgoing.extend(outgoing)
            report.baseline += len(baseline)
            report.already_known += len(known)
            report.errors.extend(errors)

        for plan in plans:
            log.info(
                "mailbox=%s msg=%s owner=%s reply=%s rule=%s%s%s%s",
                mailbox.name, message_key(plan.facts.message_id), plan.match.owner,
                plan.reply.reply, plan.reply.rule,
                " routed" if plan.redirect else "",
                " follow-up" if plan.followup_of else "",
                " acknowledges" if plan.acknowledges else "",
            )
        if dry_run:
            count()
            return []
        top = max((m.uid for m in batch.messages), default=0)
        with self.store.transaction():
            for facts in parsed:
                if facts.message_id in known:
                    self.store.update_uid(mailbox.name, batch.folder, facts.message_id, facts.uid)
            self.store.record_baseline(
                ((f.mailbox, f.folder, f.message_id, f.uid, f.received_at, _sender(f), f.subject)
                 for f in baseline),
                {address for f in baseline for address in _addresses_of(f)},
                reason="first sync: older than the lookback", now=now,
            )
            for plan in plans:
                self._record(plan.facts, "decided", plan.reply.rule, plan.reply.reason, now)
                if plan.track is not None:
                    self.store.add_item(plan.track, now)
                if plan.followup_of is not None:
                    self.store.add_followup(
                        plan.facts.message_id, plan.followup_of, plan.facts.received_at
                    )
                if plan.acknowledges is not None:
                    self._acknowledge(plan.acknowledges, report)
            for uid, reason in skipped:
                self.store.record_skip(
                    mailbox=mailbox.name, folder=batch.folder, uid=uid, reason=reason, now=now
                )
            self._queue(outgoing, report, now)
            self._advance(mailbox, batch, top, now)
        count()
        return [u for u in redirect_uids if u in originals]

    def _compose(
        self, action: AutoReply | ContactNote | Redirect | UrgentAlert,
        originals: dict[int, bytes], now: datetime,
    ) -> Outgoing | None:
        config, env = self.config, self.templates
        if isinstance(action, AutoReply):
            return compose_auto_reply(action, config=config, env=env, now=now)
        if isinstance(action, ContactNote):
            return compose_contact_note(action, config=config, env=env, now=now)
        if isinstance(action, UrgentAlert):
            return compose_alert(action, config=config, env=env, now=now)
        original = originals.get(action.facts.uid)
        if original is None:
            log.warning("mailbox=%s msg=%s vanished before it could be redirected",
                        action.facts.mailbox, message_key(action.facts.message_id))
            return None
        return compose_redirect(action, original, config=config, now=now)

    def _queue(self, outgoing: list[Outgoing], report: WindowReport, now: datetime) -> None:
        for out in outgoing:
            report.queued += self.store.add_action(
                dedupe_key=out.dedupe_key, kind=out.kind,
                source_message_id=out.source_message_id, envelope_from=out.envelope_from,
                recipients=out.recipients, outgoing_message_id=out.message_id,
                raw=out.as_bytes(), on_sent=out.on_sent, now=now,
            )

    def _advance(self, mailbox: MailboxConfig, batch: FolderBatch, top: int, now: datetime) -> None:
        previous = self.store.folder_state(mailbox.name, batch.folder)
        last = max(top, previous.last_uid if previous and not batch.rebaseline else 0)
        self.store.set_folder_state(
            mailbox.name, batch.folder, FolderState(batch.status.uidvalidity, last), now
        )

    def _acknowledge(self, ack: Acknowledgment, report: WindowReport) -> None:
        if self.store.acknowledge(ack.root_id, ack.at, ack.how):
            report.acknowledged.append(ack)
            log.info("acknowledged msg=%s how=%s", message_key(ack.root_id), ack.how)

    async def _sync_sent(
        self, client: imapclient.IMAPClient, mailbox: MailboxConfig, folder: str,
        now: datetime, report: WindowReport, *, dry_run: bool,
    ) -> None:
        """The team's replies in a Sent folder acknowledge the items they answer. Only the
        high-water mark is stored: a reply read twice acknowledges nothing twice."""
        state = self.store.folder_state(mailbox.name, folder)
        try:
            batches = folder_batches(client, mailbox, folder, state)
            batch = await asyncio.to_thread(next, batches, None)
        except imapclient.exceptions.IMAPClientAbortError:
            raise  # the connection was lost, not the folder: _sync_mailbox reconnects
        except imapclient.exceptions.IMAPClientError as exc:
            message = (
                f"mailbox {mailbox.name!r}: the Sent folder {folder!r} cannot be opened ({exc});"
                " set mailboxes.sent to the folder's name, or to \"\" to not read one"
            )
            log.error("%s", message)
            report.errors.append(message)
            return
        while batch is not None:
            parsed, skipped = self._parse(mailbox, batch)
            acks = plan_sent(parsed, config=self.config, state=self.state, now=now)
            if not dry_run:
                with self.store.transaction():
                    for ack in acks:
                        self._acknowledge(ack, report)
                    top = max((m.uid for m in batch.messages), default=0)
                    self._advance(mailbox, batch, top, now)
            self._count_read(report, mailbox, batch, skipped)
            batch = await asyncio.to_thread(next, batches, None)

    async def _check_answered(
        self, client: imapclient.IMAPClient, mailbox: MailboxConfig, now: datetime,
        report: WindowReport, *, dry_run: bool,
    ) -> None:
        """An open item whose copy in this inbox carries \\Answered is acknowledged. Runs
        right after the inbox sync, with the inbox still selected."""
        copies = self.store.open_copies(mailbox.name, mailbox.inbox)
        if not copies:
            return

        found = await asyncio.to_thread(imap.fetch_flags, client, [uid for uid, _ in copies])
        acks = [
            Acknowledgment(mid, now, "answered-flag")
            for uid, mid in copies if is_answered(found.get(uid, ()))
        ]
        if acks and not dry_run:
            with self.store.transaction():
                for ack in acks:
                    self._acknowledge(ack, report)

    # -- the escalation ladder ------------------------------------------------------------
    async def _climb_ladder(self, now: datetime, report: WindowReport, *, dry_run: bool) -> None:
        owners_unread = {
            m.owner for m in self.config.mailboxes if m.name in report.failed_mailboxes
        }
        steps = [
            step for step in due_steps(
                self.store.open_items(deadline_by=now), steps=self.config.escalation.steps,
                calendar=self.calendar, team=self.config.team, now=now,
            )
            # The owner's mailbox could not be read: their reply may be there. Wait.
            if step.item.owner not in owners_unread
        ]
        if not steps:
            return
        originals = await self._fetch_originals(
            [s.item.message_id for s in steps], skip=report.failed_mailboxes
        )
        outgoing = [
            compose_ladder(step, originals.get(step.item.message_id), config=self.config,
                           env=self.templates, now=now)
            for step in steps
        ]
        report.ladder.extend(steps)
        report.outgoing.extend(outgoing)
        for step in steps:
            log.info("ladder msg=%s step=%d %s to %s", message_key(step.item.message_id),
                     step.step, step.kind, step.to)
        if dry_run:
            return
        with self.store.transaction():
            self._queue(outgoing, report, now)
            for step in steps:
                self.store.set_ladder_step(step.item.message_id, step.step)

    async def _fetch_originals(
        self, message_ids: list[str], *, skip: set[str]
    ) -> dict[str, bytes]:
        """The original messages to attach, read from any mailbox that has a copy. A mailbox
        that cannot be read costs the attachment, never the reminder; one that already failed
        in this window (`skip`) is not tried again."""
        by_mailbox: dict[str, dict[str, list[tuple[int, str]]]] = {}
        for box, folder, uid, mid in self.store.copies(message_ids):
            by_mailbox.setdefault(box, {}).setdefault(folder, []).append((uid, mid))
        found: dict[str, bytes] = {}
        mailboxes = {m.name: m for m in self.config.mailboxes}
        for name, folders in by_mailbox.items():
            mailbox = mailboxes.get(name)
            wanted = [c for copies in folders.values() for c in copies if c[1] not in found]
            if mailbox is None or not wanted or name in skip:
                continue
            try:
                found.update(await asyncio.to_thread(fetch_copies, mailbox, folders))
            except (MailboxUnavailable, imapclient.exceptions.IMAPClientError, OSError) as exc:
                log.warning("mailbox=%s originals for reminders not available: %s", name, exc)
        return found

    def _record(
        self, facts: MessageFacts, status: str, rule: str, reason: str, now: datetime
    ) -> None:
        self.store.record_message(
            mailbox=facts.mailbox, folder=facts.folder, message_id=facts.message_id,
            uid=facts.uid, received_at=facts.received_at, sender=_sender(facts),
            subject=facts.subject, status=status, rule=rule, reason=reason, now=now,
        )
        for address in _addresses_of(facts):
            self.store.record_contact(address, now)


def _sender(facts: MessageFacts) -> str | None:
    """Who a message is recorded as coming from: From, else the Return-Path."""
    return facts.sender.email if facts.sender else facts.return_path


def _addresses_of(facts: MessageFacts) -> set[str]:
    """The addresses a message came from (From and Return-Path): they become known contacts."""
    return {a for a in (facts.sender.email if facts.sender else "", facts.return_path) if a}


def _with_previews(
    facts: list[MessageFacts], batch: FolderBatch, previews: dict[int, bytes]
) -> list[MessageFacts]:
    """The facts with the start of their text, for urgent keywords in the body."""
    if not previews:
        return facts
    headers = {m.uid: m.header_block for m in batch.messages}
    return [
        replace(f, preview=body_preview(headers[f.uid], previews[f.uid]))
        if f.uid in previews else f
        for f in facts
    ]
