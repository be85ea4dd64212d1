"""The long-running service: APScheduler jobs for the check windows, signals, systemd notify.

Windows are cron jobs in the configured time zone on the configured weekdays; a job that fires
on a public holiday logs that and does nothing. SIGTERM/SIGINT stop after the running window;
SIGHUP reloads the configuration and keeps the old one if the new one is invalid. At start and
after each reload every account is checked as `check-config --connect` does (`doctor`), one
log line each; a failed check is logged, never fatal.

A window that did not run (the service was down, the machine asleep, the clock jumped) runs at
once at start-up or on waking, if it is today's latest window so far and today is a business
day (`BusinessCalendar.missed_window`): each window that ran is recorded in
``<state_dir>/last-window``, so a restart knows what ran.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import Config, load_config
from boundary_mail.cost_job import schedule_monthly_report
from boundary_mail.digest_job import send_digests
from boundary_mail.doctor import check_accounts
from boundary_mail.errors import ConfigError, UserError
from boundary_mail.lock import StateBusy, holding_async
from boundary_mail.store import Store
from boundary_mail.store.backup import daily as daily_backup
from boundary_mail.urgent import urgent_scan
from boundary_mail.window import Window

log = logging.getLogger(__name__)

# A window that met a server that was down or hung up runs again after these waits, each
# time only if that is before the next scheduled window: a short outage at 10:00 delays the
# mail by minutes, not until 15:00. A refused login or certificate is not retried.
RETRY_AFTER = (timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40))
RETRY_JOB = "window-retry"
MISSED_WINDOW_JOB = "missed-window-check"  # not "window-…": it is no scheduled window
LAST_WINDOW_FILE = "last-window"


# How long a daemon job waits for another process (a manual `poll`) writing the state.
STATE_LOCK_WAIT_SECONDS = 600.0

def retry_time(now: datetime, retries_done: int, next_window: datetime | None) -> datetime | None:
    """When to run a window again after server trouble; None when the retries are used up
    or the next scheduled window comes first (it will try anyway)."""
    if retries_done >= len(RETRY_AFTER):
        return None
    at = now + RETRY_AFTER[retries_done]
    if next_window is not None and at >= next_window:
        return None
    return at


def sd_notify(state: str) -> bool:
    """Send one systemd notify message if NOTIFY_SOCKET is set; never fails the daemon."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("systemd notify failed: %s", exc)
        return False
    return True


def read_last_window(state_dir: Path) -> datetime | None:
    """The scheduled time of the last check window that ran; None when none is recorded or
    the record is unreadable (then today's latest window runs once more: nothing is sent
    twice, the store knows what went out)."""
    path = state_dir / LAST_WINDOW_FILE
    try:
        moment = datetime.fromisoformat(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s cannot be read (%s); today's latest check window runs again", path, exc)
        return None
    return moment if moment.tzinfo is not None else None


def record_last_window(state_dir: Path, window: datetime) -> None:
    """Record that the window scheduled at `window` ran: a temp file, fsync, then rename, so
    a crash leaves the old record or the new one; mode 0600. Failing logs, never raises."""
    path, tmp = state_dir / LAST_WINDOW_FILE, state_dir / f".{LAST_WINDOW_FILE}.tmp"
    try:
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            os.write(fd, f"{window.isoformat()}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        log.error("could not record that the %s check window ran in %s (%s); a restart today"
                  " runs it again", window.strftime("%H:%M"), path, exc)


def _system_clock() -> datetime:
    return datetime.now(UTC)  # noqa: TID251 - the daemon is where the clock is read


def _log_failure(what: str) -> None:
    """A failure nobody foresaw: one line in the log, the traceback only at debug level."""
    exc = sys.exc_info()[1]
    log.error("%s: %s: %s", what, type(exc).__name__, exc)
    log.debug("details", exc_info=True)


def _cron_days(config: Config) -> str:
    return ",".join(config.schedule.workdays)


class Daemon:
    def __init__(self, path: str, config: Config) -> None:
        self.path = path
        self.config = config
        self.scheduler = AsyncIOScheduler(timezone=config.tz)
        self.stopping = asyncio.Event()
        self.lock = asyncio.Lock()  # one window at a time, whatever fires
        self.retries = 0  # retries of the last scheduled window so far
        self.clock: Callable[[], datetime] = _system_clock  # tests pass a fake clock
        self.attempted: datetime | None = None  # the last window this process started
        self.checks: set[asyncio.Task[None]] = set()  # account checks running

    def schedule(self) -> None:
        self.scheduler.remove_all_jobs()
        days = _cron_days(self.config)
        for window in self.config.schedule.check_windows:
            self.scheduler.add_job(
                self.window_job,
                CronTrigger(day_of_week=days, hour=window.hour, minute=window.minute,
                            timezone=self.config.tz),
                id=f"window-{window:%H%M}", name=f"check window {window:%H:%M}",
                # However late this fires (after a suspend), once; the calendar decides
                # whether a late window still runs (today's latest, if it has not run).
                misfire_grace_time=None, coalesce=True, max_instances=1,
            )
        # At start-up and every minute after (a wake from suspend, a clock jump): today's
        # latest window runs at once if it has not run; earlier days' windows never do.
        self.scheduler.add_job(
            self.missed_window_job, "interval", minutes=1, id=MISSED_WINDOW_JOB,
            name="missed check window", next_run_time=datetime.now(self.config.tz),  # noqa: TID251
            misfire_grace_time=None, coalesce=True, max_instances=1,
        )
        digest_at = self.config.schedule.digest_time
        self.scheduler.add_job(
            self.digest_job,
            CronTrigger(day_of_week=days, hour=digest_at.hour, minute=digest_at.minute,
                        timezone=self.config.tz),
            id="digest", name=f"daily digest {digest_at:%H:%M}",
            misfire_grace_time=3600, coalesce=True, max_instances=1,
        )
        schedule_monthly_report(self, days)
        minutes = self.config.schedule.urgent_scan_minutes
        if minutes:
            self.scheduler.add_job(
                self.urgent_scan_job, "interval", minutes=minutes, id="urgent-scan",
                name=f"urgent scan every {minutes} min", coalesce=True, max_instances=1,
            )
        watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        if watchdog_usec:
            self.scheduler.add_job(
                sd_notify, "interval", seconds=max(watchdog_usec / 2e6, 1), args=["WATCHDOG=1"],
                id="watchdog", name="systemd watchdog",
            )

    def log_schedule(self) -> None:
        """One line per job with its next run; after `scheduler.start()` (before, APScheduler
        has not computed the run times)."""
        for job in self.scheduler.get_jobs():
            at = getattr(job, "next_run_time", None)
            log.info("scheduled %s; next run %s", job.name,
                     at.astimezone(self.config.tz).strftime("%Y-%m-%d %H:%M %Z") if at else "none")

    async def check_accounts(self) -> None:
        """Log in to every account as `check-config --connect` does and log one line each;
        whatever the result, the daemon keeps running (a window will say it again)."""
        try:
            checks = await check_accounts(self.config)
        except Exception:  # a check must never stop the daemon
            _log_failure("account check failed; the daemon keeps running")
            return
        for check in checks:
            log.log(logging.INFO if check.ok else logging.ERROR, "account check: %s",
                    check.line())

    def start_account_check(self) -> None:
        task = asyncio.get_running_loop().create_task(self.check_accounts())
        self.checks.add(task)  # a reference, so the task is not collected while it runs
        task.add_done_callback(self.checks.discard)

    async def missed_window_job(self) -> None:
        """Run today's latest check window now if it has not run (quietly nothing if so)."""
        calendar = BusinessCalendar.from_config(self.config.schedule, self.config.tz)
        missed = calendar.missed_window(self.clock(), self._last_run())
        if missed is None or self.lock.locked():  # a running window: check again in a minute
            return
        log.info("the %s check window did not run; running it now",
                 missed.strftime("%Y-%m-%d %H:%M"))
        await self.window_job()

    def _last_run(self) -> datetime | None:
        """The last window that ran (recorded when it completed) or that this process
        started: one that failed is not tried again every minute, but after a restart."""
        known = [t for t in (read_last_window(self.config.state_dir), self.attempted) if t]
        return max(known, default=None)

    def _window_due(self, calendar: BusinessCalendar, now: datetime, *,
                    retry: bool) -> datetime | None:
        """The scheduled time of the window to run at `now`: today's latest so far, unless it
        ran or started already (a retry runs it again); None: nothing to run."""
        window = calendar.missed_window(now, None if retry else self._last_run())
        if window is None:
            log.info("check window skipped: the latest one today ran already")
        else:
            self.attempted = window
        return window

    async def window_job(self, *, retry: bool = False) -> None:
        now = self.clock()
        calendar = BusinessCalendar.from_config(self.config.schedule, self.config.tz)
        if not calendar.is_business_day(now.astimezone(self.config.tz).date()):
            log.info("check window skipped: %s is a public holiday", now.date())
            return
        async with self.lock:
            window = self._window_due(calendar, now, retry=retry)
            if window is None:
                return
            log.info("check window starting")
            sd_notify("STATUS=check window running")
            try:
                async with holding_async(self.config.state_dir, "a check window",
                                         wait_seconds=STATE_LOCK_WAIT_SECONDS):
                    store = Store(self.config.state_file)
                    try:
                        report = await Window(self.config, store).run(now)
                    finally:
                        store.close()
            except StateBusy as exc:
                log.error("check window not run: %s", exc)
                self._plan_retry(now, retry_soon=True)
                return
            except UserError as exc:  # the state cannot be written, a password is missing…
                log.error("check window failed: %s", exc)
                sd_notify("STATUS=last check window failed; see the log")
                return
            except Exception:  # one failed window must never stop the daemon
                _log_failure("check window failed; the daemon keeps running")
                sd_notify("STATUS=last check window failed; see the log")
                return
            if not report.retry_soon:  # else a restart runs it again, as a retry would
                record_last_window(self.config.state_dir, window)
            sd_notify(
                f"STATUS=last window {now:%H:%M}Z: {len(report.plans)} new,"
                f" {report.sent} sent, {len(report.errors)} error(s)"
            )
            self._plan_retry(now, retry_soon=report.retry_soon)

    def _plan_retry(self, now: datetime, *, retry_soon: bool) -> None:
        if not retry_soon:
            self.retries = 0
            if self.scheduler.get_job(RETRY_JOB) is not None:
                self.scheduler.remove_job(RETRY_JOB)  # this window did what it was for
            return
        at = retry_time(now, self.retries, self._next_window(now))
        if at is None:
            log.warning("server trouble in this check window; no retry left before the next"
                        " scheduled window, which will try again")
            self.retries = 0
            return
        self.retries += 1
        self.scheduler.add_job(
            self.window_job, DateTrigger(run_date=at), id=RETRY_JOB, replace_existing=True,
            kwargs={"retry": True},
            name=f"check window retry {self.retries} of {len(RETRY_AFTER)}",
            misfire_grace_time=600,
        )
        log.warning("server trouble in this check window; trying again at %s (retry %d of %d);"
                    " what was decided stays queued", at.astimezone(self.config.tz).strftime(
                        "%H:%M"), self.retries, len(RETRY_AFTER))

    def _next_window(self, now: datetime) -> datetime | None:
        """When the next scheduled check window fires after `now` (the one running now, which
        fired at `now` or a moment before, does not count)."""
        after = now + timedelta(seconds=1)
        times = [
            fire for job in self.scheduler.get_jobs()
            if job.id.startswith("window-") and job.id != RETRY_JOB
            and (fire := job.trigger.get_next_fire_time(None, after)) is not None
        ]
        return min(times, default=None)

    async def urgent_scan_job(self) -> None:
        """Header-only scan for urgent mail, in business hours only, never during a window."""
        now = datetime.now(UTC)  # noqa: TID251 - the daemon is where the clock is read
        calendar = BusinessCalendar.from_config(self.config.schedule, self.config.tz)
        if calendar.is_after_hours(now) or self.lock.locked():
            return
        async with self.lock:
            try:
                # Busy with a manual poll: this scan is skipped, the next one comes soon.
                async with holding_async(self.config.state_dir, "the urgent scan",
                                         wait_seconds=0):
                    store = Store(self.config.state_file)
                    try:
                        await urgent_scan(self.config, store, now)
                    finally:
                        store.close()
            except StateBusy as exc:
                log.info("urgent scan skipped: %s", exc)
            except Exception:  # a failed scan must never stop the daemon
                _log_failure("urgent scan failed; the daemon keeps running")

    async def digest_job(self, now: datetime | None = None) -> None:
        """The daily digest on business days (public holidays skipped); a recipient gets at
        most one a day, however often this runs."""
        now = now or datetime.now(UTC)  # noqa: TID251 - the daemon is where the clock is read
        calendar = BusinessCalendar.from_config(self.config.schedule, self.config.tz)
        today = now.astimezone(self.config.tz).date()
        if not calendar.is_business_day(today):
            log.info("digest skipped: %s is not a business day", today)
            return
        async with self.lock:
            try:
                async with holding_async(self.config.state_dir, "sending the digests",
                                         wait_seconds=STATE_LOCK_WAIT_SECONDS):
                    store = Store(self.config.state_file)
                    try:
                        await send_digests(self.config, store, now)
                    finally:
                        daily_backup(self.config, now, store)  # the day's backup; never raises
                        store.close()
            except Exception:  # a failed digest must never stop the daemon
                _log_failure("digest failed; the daemon keeps running")

    def reload(self) -> None:
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            log.error("reload refused, keeping the running configuration: %s", exc)
            return
        self.config = config
        self.schedule()
        log.info("configuration reloaded from %s", self.path)
        self.log_schedule()
        self.start_account_check()

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.schedule()
        self.scheduler.start()
        sd_notify("READY=1\nSTATUS=waiting for the next check window")
        log.info("boundary-mail running with %s", self.path)
        self.log_schedule()
        self.start_account_check()
        await self.stopping.wait()
        log.info("stopping")
        sd_notify("STOPPING=1")
        for task in self.checks:
            task.cancel()
        async with self.lock:  # let a running window finish its transaction
            self.scheduler.shutdown(wait=False)
        return 0


def run_daemon(path: str, config: Config) -> int:
    return asyncio.run(Daemon(path, config).serve())
