"""One check window, end to end: read → plan → execute, then the ladder, then the queue.

The shell around the core. Mailboxes are read concurrently (a bounded pool); each batch is
planned by the core (`plan`, `decide`) against a snapshot of the state and executed at once
(`execute`): committed in one transaction with the folder's high-water mark, and its
replies start going out while the other mailboxes are read. Then the escalation ladder is
planned over everything still open, the clients who owe an answer are nudged, and the rest of
the queue is sent. A crash at any point repeats no decision and loses none: undecided mail
is fetched again, decided mail waits in the queue. ``--dry-run`` runs the same code with an
executor that records and sends nothing, so it prints exactly the plan a real run carries out.

One mailbox's trouble is its own: a missing secret, a refused login, an untrusted certificate
or a server that is down is reported for that mailbox, and every other mailbox, the ladder and
the queue still run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import imapclient

from boundary_mail.auth_alerts import compose_sign_in_alert
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.compose import compose_ladder
from boundary_mail.compose_route import where_it_lies
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.decide import Planner
from boundary_mail.errors import MailboxUnavailable, SecretUnavailable
from boundary_mail.execute import DryRunExecutor, StoreExecutor
from boundary_mail.headers import message_key
from boundary_mail.mailbox_window import WindowRun, run_mailbox
from boundary_mail.net import ConnectionTrouble
from boundary_mail.oauth_providers import SignInExpired
from boundary_mail.outgoing import Outgoing
from boundary_mail.plan import plan_ladder
from boundary_mail.report import WindowReport
from boundary_mail.routes import RelayLimit
from boundary_mail.secrets import resolve_password
from boundary_mail.store import Store
from boundary_mail.sync import fetch_copies
from boundary_mail.templates import environment
from boundary_mail.waiting_plan import WaitingPlanner
from boundary_mail.waiting_window import nudge_clients

__all__ = ["Window", "WindowReport"]

log = logging.getLogger(__name__)

Server = tuple[str, int]


class Window:
    """Runs check windows for one configuration against one store."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.calendar = BusinessCalendar.from_config(config.schedule, config.tz)
        self.templates = environment(config.templates_dir, config.default_language)

    async def run(self, now: datetime, *, dry_run: bool = False) -> WindowReport:
        report = WindowReport(now=now)
        executor = (DryRunExecutor(self.store, report) if dry_run
                    else StoreExecutor(self.config, self.store, now))
        run = WindowRun(self.config, self.store, self.templates,
                        Planner(self.config, self.calendar, now), executor, report, now,
                        RelayLimit(self.config), WaitingPlanner(self.config),
                        ThreadPoolExecutor(self.config.concurrent_mailboxes, "imap"))
        try:
            await self._read_mailboxes(run)
            await self._climb_ladder(run)
            await nudge_clients(run, self.calendar)
            result = await executor.drain()
        except BaseException:
            await executor.abandon()
            raise
        finally:
            run.threads.shutdown(wait=False)  # idle by now; a stalled read ends by its timeout
        report.sent, report.failed, report.uncertain = (result.sent, result.failed,
                                                        result.uncertain)
        report.errors.extend(result.errors)
        report.retry_soon |= result.retry_soon
        log.info(
            "window done: fetched=%d baseline=%d skipped=%d decided=%d acknowledged=%d"
            " ladder=%d held=%d queued=%d sent=%d failed=%d errors=%d unread_mailboxes=%d",
            report.fetched, report.baseline, len(report.skipped), len(report.plans),
            len(report.acknowledged), len(report.ladder), len(report.held), report.queued,
            report.sent, report.failed, len(report.errors), len(report.failed_mailboxes),
        )
        return report

    async def _read_mailboxes(self, run: WindowRun) -> None:
        """Every mailbox, `concurrent_mailboxes` at a time. The first mailbox of each server
        goes alone: when that server is down or hung, the others on it are not tried again
        (a hung server costs its timeouts once per window, not once per mailbox)."""
        pool = asyncio.Semaphore(self.config.concurrent_mailboxes)
        first_contact: dict[Server, asyncio.Event] = {}
        down: set[Server] = set()

        async def read(mailbox: MailboxConfig) -> None:
            server = (mailbox.host, mailbox.port)
            gate = first_contact.get(server)
            leads = gate is None
            if gate is None:
                gate = first_contact[server] = asyncio.Event()
            else:
                await gate.wait()
            try:
                async with pool:
                    await self._read_mailbox(run, mailbox, server, down, gate)
            finally:
                if leads:
                    gate.set()

        # Every mailbox finishes (and closes its session) before a failure that concerns the
        # whole window, such as a state file that cannot be written, goes up.
        outcomes = await asyncio.gather(*(read(m) for m in self.config.mailboxes),
                                        return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _read_mailbox(
        self, run: WindowRun, mailbox: MailboxConfig, server: Server, down: set[Server],
        connected: asyncio.Event,
    ) -> None:
        error: str | None = None
        alert: Outgoing | None = None
        try:
            if server in down:
                raise ConnectionTrouble(
                    f"mailbox {mailbox.name!r}: not tried, its server"
                    f" {mailbox.host}:{mailbox.port} could not be reached a moment ago in"
                    " this window"
                )
            password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
            await run_mailbox(run, mailbox, password, connected)
        except (MailboxUnavailable, SecretUnavailable) as exc:
            error = str(exc)
            trouble = isinstance(exc, ConnectionTrouble)
            if trouble:
                down.add(server)
            log.error("mailbox=%s not read in this window: %s", mailbox.name, exc)
            run.report.fail_mailbox(mailbox.name, error, retry_soon=trouble)
            if isinstance(exc, SignInExpired):  # a person must sign in again: tell the owner
                alert = self._sign_in_alert(mailbox, error, run.now)
        run.executor.mailbox_done(mailbox.name, error, alert)

    def _sign_in_alert(self, mailbox: MailboxConfig, error: str, now: datetime) -> Outgoing:
        health = next((h for h in self.store.mailbox_health() if h.mailbox == mailbox.name),
                      None)
        return compose_sign_in_alert(mailbox, error, health.last_ok_at if health else None,
                                     config=self.config, env=self.templates, now=now)

    # -- the escalation ladder ------------------------------------------------------------
    async def _climb_ladder(self, run: WindowRun) -> None:
        report, now = run.report, run.now
        unread_owners = {
            m.owner for m in self.config.mailboxes if m.name in report.failed_mailboxes
        }
        plan = plan_ladder(
            self.store.open_items(deadline_by=now), run.planner.memory,
            unread_owners=unread_owners, config=self.config, calendar=self.calendar, now=now,
        )
        report.held.extend(plan.held)
        if not plan.taken:
            return
        originals = await self._fetch_originals(
            run, [s.item.message_id for s in plan.steps], skip=set(report.failed_mailboxes)
        )
        limit = await run.relay.bytes() if originals else None
        owners = {m.name: m.owner for m in self.config.mailboxes}
        outgoing = [
            compose_ladder(step, originals.get(step.item.message_id), config=self.config,
                           env=self.templates, now=now, limit=limit,
                           where=where_it_lies(step.item.mailbox, owners.get(step.item.mailbox, ""),
                                               step.item.folder))
            for step in plan.steps
        ]
        for step in plan.taken:
            log.info("ladder msg=%s step=%d kind=%s to=%s", message_key(step.item.message_id),
                     step.step, step.kind, step.to or "nobody (all told already)")
        report.queued += run.executor.commit_ladder(plan, outgoing)
        report.ladder.extend(plan.steps)

    async def _fetch_originals(
        self, run: WindowRun, message_ids: list[str], *, skip: set[str]
    ) -> dict[str, bytes]:
        """The original messages to attach, read from any mailbox that has a copy. A mailbox
        that cannot be read costs the attachment, never the reminder; one that already failed
        in this window (`skip`) is not tried again."""
        wanted = set(message_ids)
        copies: Iterable[tuple[str, str, int, str]] = [
            *self.store.copies(message_ids),
            *(c for c in run.planner.memory.copies if c[3] in wanted),
        ]
        by_mailbox: dict[str, dict[str, list[tuple[int, str]]]] = {}
        for box, folder, uid, mid in dict.fromkeys(copies):
            by_mailbox.setdefault(box, {}).setdefault(folder, []).append((uid, mid))
        found: dict[str, bytes] = {}
        mailboxes = {m.name: m for m in self.config.mailboxes}
        for name, folders in by_mailbox.items():
            mailbox = mailboxes.get(name)
            if mailbox is None or name in skip or wanted <= found.keys():
                continue
            try:
                found.update(await asyncio.to_thread(fetch_copies, mailbox, folders))
            except (MailboxUnavailable, SecretUnavailable, imapclient.exceptions.IMAPClientError,
                    OSError) as exc:
                log.warning("mailbox=%s originals for reminders not available: %s", name, exc)
        return found
