"""The monthly client report, end to end: read the state → build (pure `costs`) → render →
compose → queue → send; and the daemon's job that does it on the first business day.

The report is queued with the dedupe key ``client-report:<YYYY-MM>`` before anything is
sent, so the lead gets one report a month however often this runs or the service restarts;
the outbox drains it like any other mail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING

from apscheduler.triggers.cron import CronTrigger

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.compose_mime import address, base_message, serialize
from boundary_mail.config import Config
from boundary_mail.cost_data import cost_report
from boundary_mail.cost_report import RenderedReport, render_report
from boundary_mail.costs import CostFacts, CostReport, Month, build_cost_report, report_due
from boundary_mail.outbox import drain
from boundary_mail.outgoing import Outgoing
from boundary_mail.store import Store
from boundary_mail.templates import environment

if TYPE_CHECKING:
    from boundary_mail.daemon import Daemon

log = logging.getLogger(__name__)

KIND = "client_report"


def rendered(config: Config, report: CostReport) -> RenderedReport:
    return render_report(environment(config.templates_dir, config.default_language), report, config)


def compose_report(report: CostReport, config: Config, now: datetime) -> Outgoing:
    """Text and HTML alternatives with the CSV attached, from the assistant to the lead,
    auto-generated (RFC 3834 §5), once per month (the dedupe key)."""
    done = rendered(config, report)
    lead = config.team.lead
    member = config.team.member(lead)
    msg: EmailMessage = base_message(
        kind=KIND, dedupe_key=report.dedupe_key, from_email=config.smtp.from_address,
        from_name=config.smtp.from_name, to=lead, subject=done.subject, now=now,
        auto_submitted="auto-generated", marker=config.smtp.from_address,
    )
    del msg["To"]
    msg["To"] = address(lead, member.name if member else "")
    msg.set_content(done.text)
    msg.add_alternative(done.html, subtype="html")
    msg.add_attachment(done.csv.encode(), maintype="text", subtype="csv",
                       filename=done.csv_name)
    return Outgoing(
        kind=KIND, dedupe_key=report.dedupe_key, source_message_id="",
        envelope_from=config.smtp.from_address, recipients=(lead,),
        message_id=str(msg["Message-ID"]), raw=serialize(msg), on_sent={},
    )


def sample_report(config: Config, now: datetime) -> Outgoing:
    """A report of an empty month, for `check-config` to render the templates with."""
    return compose_report(build_cost_report(config, CostFacts(), Month.of(now, config.tz)),
                          config, now)


@dataclass(slots=True)
class ReportSent:
    month: Month
    status: str  # queued | waiting (queued before, not yet sent) | already | empty
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed

    def line(self, lead: str) -> str:
        return {
            "queued": f"client report for {self.month} queued for {lead}",
            "waiting": f"client report for {self.month} was queued before; sending it now",
            "already": f"client report for {self.month} was already sent; not sent again",
            "empty": f"client report for {self.month}: nothing recorded that month; not sent",
        }[self.status]


async def send_report(
    config: Config, store: Store, month: Month, now: datetime, *, skip_empty: bool = False
) -> ReportSent:
    """Queue the month's report once (a report queued before stays as it was), then drain."""
    key = f"client-report:{month}"
    status = store.action_status(key)
    if status is None:
        report = cost_report(store, config, month)
        if skip_empty and report.empty:
            return ReportSent(month, "empty")
        out = compose_report(report, config, now)
        with store.transaction():
            added = store.add_action(
                dedupe_key=out.dedupe_key, kind=out.kind, source_message_id="",
                envelope_from=out.envelope_from, recipients=out.recipients,
                outgoing_message_id=out.message_id, raw=out.as_bytes(), on_sent={}, now=now,
            )
        result = ReportSent(month, "queued" if added else "already")
    else:
        result = ReportSent(month, "waiting" if status in ("pending", "uncertain") else "already")
    drained = await drain(config, store, now)
    result.sent, result.failed, result.errors = drained.sent, drained.failed, drained.errors
    log.info("client report: kind=%s month=%s %s to=%s sent=%d failed=%d errors=%d", KIND,
             month, result.status, config.team.lead, result.sent, result.failed,
             len(result.errors))
    return result


def schedule_monthly_report(daemon: Daemon, days: str) -> None:
    """Look every business day (`days`, the cron weekdays) at digest time whether a month's
    report is due; it is sent once, on the first business day of the next month."""
    at = daemon.config.schedule.digest_time
    daemon.scheduler.add_job(
        monthly_report_job, CronTrigger(day_of_week=days, hour=at.hour, minute=at.minute,
                                        timezone=daemon.config.tz),
        args=[daemon], id="client-report", name=f"monthly client report {at:%H:%M}",
        misfire_grace_time=3600, coalesce=True, max_instances=1,
    )


async def monthly_report_job(daemon: Daemon, now: datetime | None = None) -> None:
    """The daemon's daily look (business days): the previous month's report, once it is
    due and not sent yet. Never stops the daemon."""
    from boundary_mail.daemon import STATE_LOCK_WAIT_SECONDS
    from boundary_mail.lock import holding_async

    config = daemon.config
    now = now or daemon.clock()
    calendar = BusinessCalendar.from_config(config.schedule, config.tz)
    month = report_due(now.astimezone(config.tz).date(), calendar.is_business_day)
    if month is None or not config.costs.monthly_report or config.costs.hourly_rate is None:
        return
    async with daemon.lock:
        try:
            async with holding_async(config.state_dir, "sending the client report",
                                     wait_seconds=STATE_LOCK_WAIT_SECONDS):
                store = Store(config.state_file)
                try:
                    if store.action_status(f"client-report:{month}") not in (None, "pending",
                                                                             "uncertain"):
                        return
                    await send_report(config, store, month, now, skip_empty=True)
                finally:
                    store.close()
        except Exception as exc:  # a failed report must never stop the daemon
            log.error("client report failed; the daemon keeps running: %s: %s",
                      type(exc).__name__, exc)
            log.debug("details", exc_info=True)
