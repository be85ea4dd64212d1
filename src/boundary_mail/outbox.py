"""Drain the durable queue of outgoing mail.

Each queued message was composed, with its final Message-ID, in the same transaction as the
decision that asked for it. Draining sends it and records the success together with its
bookkeeping (the auto-reply rate limit, the first-contact mark). An unreachable server is
tried again a few times with backoff, then leaves the rest queued for the next chance; a
permanent refusal marks that one message failed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from boundary_mail import smtp
from boundary_mail.config import Config
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.headers import message_key
from boundary_mail.net import backoff_seconds
from boundary_mail.secrets import resolve_password
from boundary_mail.store import Store, StoredAction

log = logging.getLogger(__name__)

# Bounded retries within one drain: at most RETRY_ATTEMPTS connections in a row without
# progress, waiting 1–2 s, then 2–4 s between them (with the 30 s default timeout, a dead
# server costs a window at most about 100 s; a refused connection about 6 s).
RETRY_ATTEMPTS = 3
RETRY_BACKOFF_SECONDS = 1.0
RETRY_BACKOFF_MAX_SECONDS = 4.0


@dataclass(slots=True)
class DrainResult:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    retry_soon: bool = False  # the server was down or hung up: mail waits for a retry


async def drain(config: Config, store: Store, now: datetime) -> DrainResult:
    """Send every pending action, oldest first. A connection problem (server down, hung up,
    timed out, "try later") is retried RETRY_ATTEMPTS times with backoff; after that, or on a
    refused login or an untrusted certificate, the rest stays queued for the next chance."""
    result = DrainResult()
    queue = store.pending_actions()
    if not queue:
        return result
    password = resolve_password(config.smtp, where="smtp")
    failures = 0
    while queue:
        waiting = len(queue)
        try:
            async with smtp.session(config.smtp, password) as connection:
                while queue:
                    action = queue[0]
                    try:
                        await connection.send(
                            action.raw, envelope_from=action.envelope_from,
                            recipients=action.recipients,
                        )
                    except smtp.SendRefused as exc:
                        store.mark_attempt_failed(action, str(exc), final=True)
                        log.error("action=%d kind=%s refused for good: %s", action.id,
                                  action.kind, exc)
                        result.failed += 1
                        queue.pop(0)
                        continue
                    store.mark_sent(action, now)
                    queue.pop(0)
                    result.sent += 1
                    log.info("sent action=%d kind=%s for msg=%s", action.id, action.kind,
                             message_key(action.source_message_id))
        except smtp.ConnectionTrouble as exc:
            failures = 1 if len(queue) < waiting else failures + 1  # progress resets the count
            if failures < RETRY_ATTEMPTS:
                delay = backoff_seconds(failures, RETRY_BACKOFF_SECONDS,
                                        RETRY_BACKOFF_MAX_SECONDS)
                log.warning("sending interrupted (attempt %d of %d), %d message(s) waiting;"
                            " trying again in %.1f s: %s", failures, RETRY_ATTEMPTS,
                            len(queue), delay, exc)
                await asyncio.sleep(delay)
                continue
            _pause(store, queue, exc, result)
            result.retry_soon = True
        except MailboxUnavailable as exc:
            _pause(store, queue, exc, result)
        break
    return result


def _pause(
    store: Store, queue: list[StoredAction], exc: MailboxUnavailable, result: DrainResult
) -> None:
    if queue:
        store.mark_attempt_failed(queue[0], str(exc), final=False)
    log.error("sending paused, %d message(s) stay queued: %s", len(queue), exc)
    result.errors.append(str(exc))
