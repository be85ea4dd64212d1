"""One mailbox's part of a check window: its inbox, the \\Answered check, its Sent folder.

Each step reads from the server first (in a worker thread), then plans and executes without
any I/O in between, so the window's memory of what it decided and the store never disagree:
a connection lost while reading costs a re-read, never a half-remembered decision. A lost
connection is opened once more (SESSION_ATTEMPTS in all) and the session goes on from the
high-water marks committed so far.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import ParamSpec, TypeVar

import imapclient
import jinja2

from boundary_mail import imap
from boundary_mail.actions import Action, AutoReply, ContactNote, Redirect, UrgentAlert
from boundary_mail.compose import (
    Outgoing,
    compose_alert,
    compose_auto_reply,
    compose_contact_note,
    compose_redirect,
)
from boundary_mail.compose_route import compose_redirect_notice, compose_route
from boundary_mail.config import Config, MailboxConfig
from boundary_mail.decide import Planner
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.execute import Executor
from boundary_mail.facts import MessageFacts
from boundary_mail.headers import PREVIEW_BYTES, body_preview, message_key
from boundary_mail.net import ConnectionTrouble
from boundary_mail.plan import (
    FolderRead,
    answered_candidates,
    inbox_keys,
    plan_answered,
    plan_inbox,
    plan_sent,
    split_inbox,
)
from boundary_mail.report import WindowReport
from boundary_mail.routes import RelayLimit
from boundary_mail.sasl import Secret
from boundary_mail.snapshot import keys_for
from boundary_mail.store import Store
from boundary_mail.sync import (
    FolderBatch,
    FolderUnavailable,
    folder_batches,
    logout,
    read_batch,
)
from boundary_mail.waiting import describe_changes
from boundary_mail.waiting_plan import WaitingPlanner, lookup_keys

log = logging.getLogger(__name__)

SESSION_ATTEMPTS = 2  # IMAP sessions per mailbox and window: a lost connection is reopened once

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(slots=True)
class WindowRun:
    """What every mailbox of one window shares."""

    config: Config
    store: Store
    templates: jinja2.Environment
    planner: Planner
    executor: Executor
    report: WindowReport
    now: datetime
    relay: RelayLimit  # the biggest message the relay takes, asked when first needed
    waiting: WaitingPlanner  # what the window's batches start and end of waits on clients
    # The window's own threads for blocking IMAP work, one per mailbox read at a time:
    # asyncio's default pool has min(32, CPUs + 4), which on a small server would quietly
    # cap `concurrent_mailboxes` (6 threads on 2 cores).
    threads: ThreadPoolExecutor

    async def in_thread(self, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`asyncio.to_thread` on the window's threads."""
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.threads, call)


async def run_mailbox(
    run: WindowRun, mailbox: MailboxConfig, password: Secret, connected: asyncio.Event
) -> None:
    """Read and handle one mailbox; `connected` is set once its server answered (the other
    mailboxes on that server may then go ahead)."""
    for attempt in range(1, SESSION_ATTEMPTS + 1):
        try:
            client = await run.in_thread(imap.connect, mailbox, password)
        except ConnectionTrouble:
            raise
        except MailboxUnavailable:
            connected.set()  # the server answered: it refused us, not the others
            raise
        connected.set()
        try:
            # The inbox stays selected from its sync to the \Answered check: after new mail,
            # each SELECT of a big Maildir costs Dovecot a re-read (0.3 s at 100,000).
            await _sync_inbox(run, client, mailbox)
            await _check_answered(run, client, mailbox)
            if mailbox.sent:
                await _sync_sent(run, client, mailbox, mailbox.sent)
            return
        except (imapclient.exceptions.IMAPClientAbortError, OSError) as exc:
            if attempt < SESSION_ATTEMPTS:
                log.warning(
                    "mailbox=%s the connection was lost during the window (%s); what was"
                    " committed stays; connecting again (attempt %d of %d)",
                    mailbox.name, type(exc).__name__, attempt + 1, SESSION_ATTEMPTS,
                )
                continue
            raise ConnectionTrouble(
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
            await run.in_thread(logout, client)


async def _next_read(
    run: WindowRun, batches: Iterator[FolderBatch], mailbox: MailboxConfig
) -> tuple[FolderBatch, FolderRead] | None:
    batch = await run.in_thread(next, batches, None)
    if batch is None:
        return None
    previous = run.executor.folder_state(mailbox.name, batch.folder)
    return batch, read_batch(batch, mailbox, previous, run.now)


def _count(run: WindowRun, batch: FolderBatch, read: FolderRead) -> None:
    """Into the report once the batch is committed: one read again after a lost connection
    is counted once."""
    run.report.fetched += len(batch.messages)
    run.report.skipped.extend((read.mailbox, uid, why) for uid, why in read.skipped)


async def _sync_inbox(
    run: WindowRun, client: imapclient.IMAPClient, mailbox: MailboxConfig
) -> None:
    state = run.executor.folder_state(mailbox.name, mailbox.inbox)
    batches = folder_batches(client, mailbox, mailbox.inbox, state)
    while (got := await _next_read(run, batches, mailbox)) is not None:
        batch, read = got
        known = (run.store.known_message_ids(mailbox.name, read.folder,
                                             (f.message_id for f in read.messages))
                 if read.rebaseline else set())
        split = split_inbox(read, known, run.now)
        # Read first, decide after: the starts of the texts (urgent keywords) and the
        # originals of what may be passed on.
        if run.config.urgent.keywords and split.fresh:
            previews = await run.in_thread(
                imap.fetch_previews, client, [f.uid for f in split.fresh], PREVIEW_BYTES
            )
            split.fresh = with_previews(split.fresh, batch, previews)
        routes = [r for f in split.fresh if (r := run.planner.may_redirect(f)) is not None]
        originals = (await run.in_thread(imap.fetch_raw, client, [r.facts.uid for r in routes])
                     if routes else {})
        relay = await run.relay.bytes() if any(r.via == "smtp" for r in routes) else None

        plan = plan_inbox(split, read, run.store.snapshot(inbox_keys(split)), run.planner)
        threads = run.store.open_wait_threads(lookup_keys(d.facts for d in plan.decisions))
        plan = replace(plan, waits=run.waiting.in_inbox(plan.decisions, threads))
        for decided in plan.decisions:
            log.info(
                "mailbox=%s msg=%s owner=%s reply=%s rule=%s%s%s%s",
                mailbox.name, message_key(decided.facts.message_id), decided.match.owner,
                decided.reply.reply, decided.reply.rule, " routed" if decided.redirect else "",
                " follow-up" if decided.followup_of else "",
                " acknowledges" if decided.acknowledges else "",
            )
        outgoing = compose_actions(run, [a for p in plan.decisions for a in p.actions], originals,
                                   relay)
        run.report.queued += run.executor.commit_inbox(plan, outgoing)
        _count(run, batch, read)
        run.report.plans.extend(plan.decisions)
        run.report.acknowledged.extend(plan.acknowledgments)
        run.report.waiting.extend(describe_changes(plan.waits))
        run.report.baseline += len(plan.baseline)
        run.report.already_known += len(plan.renumbered)


async def _check_answered(
    run: WindowRun, client: imapclient.IMAPClient, mailbox: MailboxConfig
) -> None:
    """An open item whose copy in this inbox carries \\Answered is acknowledged. Runs right
    after the inbox sync, with the inbox still selected."""
    memory = run.planner.memory
    copies = answered_candidates(run.store.open_copies(mailbox.name, mailbox.inbox), memory,
                                 mailbox.name, mailbox.inbox)
    flags = (await run.in_thread(imap.fetch_flags, client, [uid for uid, _ in copies])
             if copies else {})
    arrived = {mid for box, folder, _, mid in memory.answered_on_arrival
               if box == mailbox.name and folder == mailbox.inbox}
    acks = plan_answered(copies, flags, run.planner, mailbox=mailbox.name,
                         folder=mailbox.inbox, stored_open=run.store.open_ids(arrived))
    run.executor.commit_acknowledgments(acks)
    run.report.acknowledged.extend(acks)


async def _sync_sent(
    run: WindowRun, client: imapclient.IMAPClient, mailbox: MailboxConfig, folder: str
) -> None:
    """The team's replies in a Sent folder acknowledge the items they answer. Only the
    high-water mark is stored: a reply read twice acknowledges nothing twice."""
    try:
        batches = folder_batches(client, mailbox, folder,
                                 run.executor.folder_state(mailbox.name, folder))
        got = await _next_read(run, batches, mailbox)
    except imapclient.exceptions.IMAPClientAbortError:
        raise  # the connection was lost, not the folder: run_mailbox reconnects
    except (FolderUnavailable, imapclient.exceptions.IMAPClientError) as exc:
        message = (
            f"mailbox {mailbox.name!r}: the Sent folder {folder!r} cannot be opened"
            f" ({exc.reason if isinstance(exc, FolderUnavailable) else exc});"
            " set mailboxes.sent to the folder's name, or to \"\" to not read one"
        )
        log.error("%s", message)
        run.report.errors.append(message)
        return
    while got is not None:
        batch, read = got
        plan = plan_sent(read, run.store.snapshot(keys_for(read.messages)), run.planner)
        threads = run.store.open_wait_threads(lookup_keys(read.messages))
        plan = replace(plan, waits=run.waiting.in_sent(read.messages, threads))
        run.executor.commit_sent(plan)
        _count(run, batch, read)
        run.report.acknowledged.extend(plan.acknowledgments)
        run.report.waiting.extend(describe_changes(plan.waits))
        got = await _next_read(run, batches, mailbox)


def compose_actions(
    run: WindowRun, actions: Sequence[Action], originals: dict[int, bytes],
    relay: int | None = None,
) -> list[Outgoing]:
    """The mail the actions ask for (`relay`: the biggest message the relay takes, known
    when something is passed on through it). One that cannot be composed is logged and
    counted as an error; the rest of the window goes on."""
    outgoing = []
    for action in actions:
        try:
            out = _compose(run, action, originals, relay)
        except Exception as exc:  # one broken message never stops the window
            log.error("mailbox=%s msg=%s %s could not be composed (%s); not sent",
                      action.facts.mailbox, message_key(action.facts.message_id),
                      type(action).__name__, type(exc).__name__)
            run.report.errors.append(f"a {type(action).__name__} could not be composed")
            continue
        if out is not None:
            outgoing.append(out)
    return outgoing


def _compose(
    run: WindowRun, action: Action, originals: dict[int, bytes], relay: int | None
) -> Outgoing | None:
    config, env, now = run.config, run.templates, run.now
    if isinstance(action, AutoReply):
        return compose_auto_reply(action, config=config, env=env, now=now)
    if isinstance(action, ContactNote):
        return compose_contact_note(action, config=config, env=env, now=now)
    if isinstance(action, UrgentAlert):
        return compose_alert(action, config=config, env=env, now=now)
    assert isinstance(action, Redirect)
    original = originals.get(action.facts.uid)
    if original is None:
        log.warning("mailbox=%s msg=%s vanished before it could be redirected",
                    action.facts.mailbox, message_key(action.facts.message_id))
        return None
    if action.via == "imap":
        return compose_route(action, original, config=config)
    out = compose_redirect(action, original, config=config, now=now)
    if relay is not None and len(out.raw) > relay:
        log.info("mailbox=%s msg=%s too big for the relay (%d > %d bytes): a notice instead",
                 action.facts.mailbox, message_key(action.facts.message_id), len(out.raw), relay)
        return compose_redirect_notice(action, original, config=config, env=env, now=now,
                                       limit=relay)
    return out


def with_previews(
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
