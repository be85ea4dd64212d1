"""The daily digest, end to end: read the state → build (pure `digest`) → compose → queue → send.

This is the shell around `digest.build_digests`, used by ``boundary-mail digest`` and the
daemon's digest job. Each digest is queued with the dedupe key ``digest:<recipient>:<local
date>`` before anything is sent, so a recipient gets one digest a day however often the job
runs or the service restarts; the outbox drains it like any other mail.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from boundary_mail.compose import Outgoing, compose_digest
from boundary_mail.config import Config
from boundary_mail.digest import (
    LADDER_KINDS,
    Digest,
    DigestData,
    UnreadMailbox,
    build_digests,
    data_since,
    month_start,
    render_digest,
)
from boundary_mail.outbox import drain
from boundary_mail.store import Store
from boundary_mail.templates import environment

log = logging.getLogger(__name__)


def load_digest_data(store: Store, config: Config, now: datetime) -> DigestData:
    """The snapshot `build_digests` needs: the last 30 local days, plus every open item."""
    since = data_since(now, config.tz)
    owners = {m.name: m.owner for m in config.mailboxes}
    last_month = month_start(now, config.tz, months_back=1)
    return DigestData(
        items=tuple(store.digest_items(since)),
        followups=tuple(store.digest_followups(since)),
        sent=tuple(store.digest_sent(("auto_reply", *LADDER_KINDS), since)),
        decisions=tuple(store.digest_decisions(since)),
        unread=tuple(
            UnreadMailbox(h.mailbox, owners.get(h.mailbox, ""), h.last_ok_at, h.error)
            for h in store.mailbox_health() if h.failed_at is not None
        ),
        failed_routes=tuple(
            replace(r, owner=owners.get(r.mailbox, "")) for r in store.failed_routes()
            if r.failed_at is not None and r.failed_at > now - timedelta(days=1)
        ),
        waits=tuple(store.waits_since(last_month)),
        turn_items=tuple(r.item for r in store.digest_items(last_month)),
    )


def todays_digests(store: Store, config: Config, now: datetime) -> list[Digest]:
    """Every recipient's digest that would go out now (empty ones only with send_empty)."""
    digests = build_digests(config, load_digest_data(store, config, now), now)
    return [d for d in digests if d.should_send(config.digest.send_empty)]


def compose_all(digests: list[Digest], config: Config, now: datetime) -> list[Outgoing]:
    env = environment(config.templates_dir, config.default_language)
    return [compose_digest(d, config=config, env=env, now=now) for d in digests]


@dataclass(slots=True)
class DigestReport:
    queued: list[str] = field(default_factory=list)  # recipients queued now
    waiting: list[str] = field(default_factory=list)  # queued earlier today, not yet sent
    already: list[str] = field(default_factory=list)  # handled earlier today: not again
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and not self.failed


def queue_digests(
    store: Store, config: Config, digests: list[Digest], now: datetime
) -> DigestReport:
    """Queue each digest once; one queued earlier today (same dedupe key) is left as it is:
    still waiting to go out, or already handled."""
    report = DigestReport()
    status = {d.dedupe_key: store.action_status(d.dedupe_key) for d in digests}
    fresh = [d for d in digests if status[d.dedupe_key] is None]
    for d in digests:
        if status[d.dedupe_key] in ("pending", "uncertain"):
            report.waiting.append(d.recipient)
        elif status[d.dedupe_key] is not None:
            report.already.append(d.recipient)
    outgoing = compose_all(fresh, config, now)
    with store.transaction():
        for out in outgoing:
            added = store.add_action(
                dedupe_key=out.dedupe_key, kind=out.kind,
                source_message_id=out.source_message_id, envelope_from=out.envelope_from,
                recipients=out.recipients, outgoing_message_id=out.message_id,
                raw=out.as_bytes(), on_sent=out.on_sent, now=now,
            )
            (report.queued if added else report.already).extend(out.recipients)
    return report


async def send_digests(config: Config, store: Store, now: datetime) -> DigestReport:
    """Build, queue and send today's digests; one queued before today's run stays as it was."""
    report = queue_digests(store, config, todays_digests(store, config, now), now)
    result = await drain(config, store, now)
    report.sent, report.failed, report.errors = result.sent, result.failed, result.errors
    log.info(
        "digest: kind=digest queued=%d to=%s already=%d to=%s sent=%d failed=%d errors=%d",
        len(report.queued), ",".join(report.queued) or "-", len(report.already),
        ",".join(report.already) or "-", report.sent, report.failed, len(report.errors),
    )
    return report


def print_report(report: DigestReport) -> int:
    """What `digest --send` did, one line per recipient; the exit code."""
    for recipient in report.queued:
        print(f"digest queued for {recipient}")
    for recipient in report.waiting:
        print(f"digest for {recipient} was queued earlier today; sending it now")
    for recipient in report.already:
        print(f"digest for {recipient} was already sent today; not sent again")
    print(f"sent {report.sent}, failed {report.failed}")
    for error in report.errors:
        print(f"error: {error}", file=sys.stderr)
    return 0 if report.ok else 1


def show(config: Config, digests: list[Digest], out: str | None) -> int:
    """Print the digests' text, or write their HTML: `out` for the lead's, and each member's
    beside it (or into `out` when it is a directory)."""
    env = environment(config.templates_dir, config.default_language)
    if out is None:
        for d in digests:
            print(render_digest(env, d, config).text)
        if not digests:
            print("no digest today: nothing waiting, nothing happened (digest.send_empty is off)")
        return 0
    target = Path(out)
    for d in digests:
        if target.is_dir():
            path = target / f"{d.recipient}.html"
        elif d.is_lead:
            path = target
        else:
            path = target.with_name(f"{target.stem}-{d.recipient}{target.suffix}")
        path.write_text(render_digest(env, d, config).html, encoding="utf-8")
        print(f"wrote {path} ({d.recipient})")
    return 0
