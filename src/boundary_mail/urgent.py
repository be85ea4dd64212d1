"""Between windows: a header-only look at new inbox mail, to alert on urgent and VIP mail at
once. Nothing else is decided or recorded; the next window handles these messages fully and
never alerts twice (an alert's queue key is its Message-ID, shared with the window)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import imapclient

from boundary_mail.actions import UrgentAlert
from boundary_mail.calendar import BusinessCalendar
from boundary_mail.compose import compose_alert
from boundary_mail.config import Config
from boundary_mail.decide import Planner
from boundary_mail.errors import MailboxUnavailable, SecretUnavailable
from boundary_mail.execute import StoreExecutor
from boundary_mail.headers import PREVIEW_BYTES
from boundary_mail.mailbox_window import with_previews
from boundary_mail.report import WindowReport
from boundary_mail.snapshot import keys_for
from boundary_mail.store import Store
from boundary_mail.sync import peek_new, read_batch
from boundary_mail.templates import environment

log = logging.getLogger(__name__)


async def urgent_scan(config: Config, store: Store, now: datetime) -> WindowReport:
    report = WindowReport(now=now)
    planner = Planner(config, BusinessCalendar.from_config(config.schedule, config.tz), now)
    env = environment(config.templates_dir, config.default_language)
    executor = StoreExecutor(config, store, now)
    for mailbox in config.mailboxes:
        state = store.folder_state(mailbox.name, mailbox.inbox)
        if state is None:
            continue  # never synced: the first window sets the baseline
        try:
            batches = await asyncio.to_thread(
                peek_new, mailbox, state, PREVIEW_BYTES if config.urgent.keywords else 0
            )
        except (MailboxUnavailable, SecretUnavailable, imapclient.exceptions.IMAPClientError,
                OSError) as exc:
            log.warning("mailbox=%s urgent scan failed: %s", mailbox.name, exc)
            report.errors.append(str(exc))
            continue
        for batch, previews in batches:
            read = read_batch(batch, mailbox, state, now)
            report.fetched += len(batch.messages)
            facts = with_previews(list(read.messages), batch, previews)
            plans = planner.plan_inbox(facts, store.snapshot(keys_for(facts)))
            alerts = [
                compose_alert(action, config=config, env=env, now=now)
                for plan in plans for action in plan.actions if isinstance(action, UrgentAlert)
            ]
            if alerts:
                with store.transaction():
                    report.queued += executor.queue(alerts)
    if report.queued:
        result = await executor.drain()
        report.sent, report.failed = result.sent, result.failed
        report.errors.extend(result.errors)
    log.info("urgent scan done: fetched=%d alerts=%d sent=%d", report.fetched,
             report.queued, report.sent)
    return report
