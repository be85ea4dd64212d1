"""A window's nudges to clients: plan (`waiting.plan_nudges`), compose, commit. The shell.

Runs after the mailboxes are read and the ladder planned, before the queue is drained, so a
client's answer that arrived before this window ends the wait first. A wait whose member's
mailbox could not be read in this window is held: the answer may be lying there. Each nudge
quotes the start of the member's message, read from its copy; a copy that cannot be read
costs the quote, never the nudge.
"""

from __future__ import annotations

import asyncio
import logging

import imapclient

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.compose_nudge import compose_nudge, compose_wait_report
from boundary_mail.errors import MailboxUnavailable, SecretUnavailable
from boundary_mail.headers import message_key
from boundary_mail.mailbox_window import WindowRun
from boundary_mail.outgoing import Outgoing
from boundary_mail.sync import fetch_copies
from boundary_mail.waiting import (
    Nudge,
    NudgePlan,
    WaitingItem,
    WaitReport,
    describe_plan,
    member_mailbox,
    plan_nudges,
)

log = logging.getLogger(__name__)


def _due_items(plan: NudgePlan) -> list[WaitingItem]:
    return [n.item for n in plan.nudges] + [r.item for r in plan.reports]


def _open_waits(run: WindowRun) -> list[WaitingItem]:
    """Open waits as this window leaves them: stored, plus started, minus ended in it."""
    memory = run.waiting
    items = {i.message_id: i for i in run.store.open_waits()}
    for mid, start in memory.started.items():
        items.setdefault(mid, WaitingItem(start))
    return [i for mid, i in items.items() if mid not in memory.ended]


async def nudge_clients(run: WindowRun, calendar: BusinessCalendar) -> None:
    unread = set(run.report.failed_mailboxes)
    ready: list[WaitingItem] = []
    held: list[WaitingItem] = []
    for item in _open_waits(run):  # the client's answer may lie unread in a mailbox that failed
        (held if member_mailbox(run.config, item.start) in unread else ready).append(item)
    for item in _due_items(plan_nudges(held, config=run.config, calendar=calendar,
                                       now=run.now)):
        mailbox = member_mailbox(run.config, item.start)
        log.warning("waiting msg=%s held: mailbox=%s could not be read in this window",
                    message_key(item.message_id), mailbox)
        run.report.waiting.append(f"nudge for {item.message_id} held: mailbox {mailbox}"
                                  " could not be read in this window (the answer may be there)")
    plan = plan_nudges(ready, config=run.config, calendar=calendar, now=run.now)
    if not plan.nudges and not plan.reports:
        return
    plan, outgoing = _compose(run, plan, await _originals(run, plan.nudges))
    run.report.queued += run.executor.commit_nudges(plan, outgoing)
    run.report.waiting.extend(describe_plan(plan))


def _compose(
    run: WindowRun, plan: NudgePlan, originals: dict[str, bytes]
) -> tuple[NudgePlan, list[Outgoing]]:
    """The mail of each step, and the plan of those that could be composed: one wait that
    cannot be composed is logged and skipped, never stops the window (or its queue)."""
    nudges: list[Nudge] = []
    reports: list[WaitReport] = []
    outgoing: list[Outgoing] = []
    steps: list[Nudge | WaitReport] = [*plan.nudges, *plan.reports]
    for step in steps:
        try:
            if isinstance(step, Nudge):
                out = compose_nudge(step, originals.get(step.item.message_id),
                                    config=run.config, env=run.templates, now=run.now)
            else:
                out = compose_wait_report(step, config=run.config, env=run.templates,
                                          now=run.now)
        except Exception as exc:
            log.error("waiting msg=%s %s could not be composed (%s); not made",
                      message_key(step.item.message_id), type(step).__name__,
                      type(exc).__name__)
            run.report.errors.append(f"a {type(step).__name__} could not be composed")
            continue
        if isinstance(step, Nudge):
            nudges.append(step)
        else:
            reports.append(step)
        outgoing.append(out)
        log.info("waiting %s msg=%s client=%s to=%s waited=%.1f", out.kind,
                 message_key(step.item.message_id), step.item.start.client,
                 ",".join(out.recipients), step.waited_days)
    return NudgePlan(tuple(nudges), tuple(reports)), outgoing


async def _originals(run: WindowRun, nudges: tuple[Nudge, ...]) -> dict[str, bytes]:
    """The member's messages to quote, from the copies the waits were found in."""
    wanted: dict[str, dict[str, list[tuple[int, str]]]] = {}
    for nudge in nudges:
        start = nudge.item.start
        if start.uid > 0:
            box = next((m.name for m in run.config.mailboxes if m.name == start.mailbox), None)
            if box is not None:
                wanted.setdefault(box, {}).setdefault(start.folder, []).append(
                    (start.uid, start.message_id))
    found: dict[str, bytes] = {}
    mailboxes = {m.name: m for m in run.config.mailboxes}
    for name, folders in wanted.items():
        try:
            found.update(await asyncio.to_thread(fetch_copies, mailboxes[name], folders))
        except (MailboxUnavailable, SecretUnavailable, imapclient.exceptions.IMAPClientError,
                OSError) as exc:
            log.warning("mailbox=%s messages to quote in nudges not available: %s", name, exc)
    return found
