"""Drain the durable queue of outgoing mail.

Each queued message was composed, with its final Message-ID, in the same transaction as the
decision that asked for it. Draining sends it and records the success together with its
bookkeeping (the auto-reply rate limit, the first-contact mark). An unreachable server leaves
the rest queued for the next chance; a permanent refusal marks that one message failed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from boundary_mail import smtp
from boundary_mail.config import Config
from boundary_mail.errors import MailboxUnavailable
from boundary_mail.headers import message_key
from boundary_mail.secrets import resolve_password
from boundary_mail.store import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DrainResult:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


async def drain(config: Config, store: Store, now: datetime) -> DrainResult:
    result = DrainResult()
    pending = store.pending_actions()
    if not pending:
        return result
    password = resolve_password(config.smtp, where="smtp")
    try:
        async with smtp.session(config.smtp, password) as connection:
            for action in pending:
                try:
                    await connection.send(
                        action.raw, envelope_from=action.envelope_from,
                        recipients=action.recipients,
                    )
                except smtp.SendRefused as exc:
                    store.mark_attempt_failed(action, str(exc), final=True)
                    log.error("action=%d kind=%s refused for good: %s", action.id, action.kind,
                              exc)
                    result.failed += 1
                    continue
                store.mark_sent(action, now)
                result.sent += 1
                log.info("sent action=%d kind=%s for msg=%s", action.id, action.kind,
                         message_key(action.source_message_id))
    except MailboxUnavailable as exc:
        waiting = pending[result.sent + result.failed :]
        if waiting:
            store.mark_attempt_failed(waiting[0], str(exc), final=False)
        log.error("sending paused, %d message(s) stay queued: %s", len(waiting), exc)
        result.errors.append(str(exc))
    return result
