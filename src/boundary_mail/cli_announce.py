"""`boundary-mail announce`: tell each client contact, once, how we work from a date on.

The messages are planned by `announce` and composed by `compose_announce`; this module picks
the clients, reads who wrote for them from the state, and either shows every message
(`--dry-run`) or queues them with their durable keys and sends them through the outbox, at
most `--per-minute` a minute (a provider's sending limit is often per minute or hour).
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import date, datetime, timedelta
from time import monotonic, sleep
from typing import TYPE_CHECKING

from boundary_mail.announce import SEEN_MONTHS, default_effective, default_id
from boundary_mail.errors import UserError

if TYPE_CHECKING:
    from boundary_mail.config import ClientConfig, Config
    from boundary_mail.outgoing import Outgoing
    from boundary_mail.store import Store

LOCK_WAIT_SECONDS = 60.0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "announce", help="tell each client contact, once, how we work from a date on",
        description="One personal email per client contact (the client's configured addresses"
        " and every address that wrote for it in the last months), from its account manager:"
        " the schedule, the response promise, the point of contact and the agreement, from"
        " --effective on. Each contact gets each announcement (--id) at most once.",
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--client", metavar="NAME", action="append",
                     help="a client's name as configured (repeatable)")
    who.add_argument("--all", action="store_true", help="every configured client")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dry-run", action="store_true", help="show every message; send nothing")
    mode.add_argument("--send", action="store_true", help="queue and send them")
    parser.add_argument("--effective", metavar="DATE",
                        help="the day it takes effect, YYYY-MM-DD (default: in 7 days)")
    parser.add_argument("--id", dest="announcement_id", metavar="ID",
                        help="names this announcement; each contact gets it once (default:"
                        " policy-<effective date>)")
    parser.add_argument("--months", type=int, default=SEEN_MONTHS,
                        help=f"contacts: addresses seen in this many months (default"
                        f" {SEEN_MONTHS})")
    parser.add_argument("--per-minute", type=int, default=30,
                        help="send at most this many a minute (default 30)")
    parser.add_argument("--now", metavar="ISO", help=argparse.SUPPRESS)
    parser.set_defaults(handler=run)


def _clients(config: Config, names: list[str] | None) -> list[ClientConfig]:
    if names is None:
        return list(config.clients)
    by_name = {c.name.casefold(): c for c in config.clients}
    unknown = [n for n in names if n.casefold() not in by_name]
    if unknown:
        known = ", ".join(c.name for c in config.clients) or "none configured"
        raise UserError(f"--client {unknown[0]!r} is not a configured client; the clients are:"
                        f" {known}")
    return [by_name[n.casefold()] for n in names]


def run(config: Config, args: argparse.Namespace) -> int:
    """Plan the announcement, then show it or send it."""
    from boundary_mail.announce import plan_announcements
    from boundary_mail.compose_announce import compose_announcement
    from boundary_mail.store import Store
    from boundary_mail.templates import environment

    now = (datetime.fromisoformat(args.now).astimezone(config.tz) if args.now
           else datetime.now(config.tz))  # noqa: TID251 - the shell reads the clock
    effective = _effective(args.effective, now.date())
    clients = _clients(config, args.client if not args.all else None)
    if args.per_minute < 1:
        raise UserError("--per-minute must be at least 1")
    store = Store(config.state_file)
    try:
        seen = store.senders_since(now - timedelta(days=round(30.44 * args.months)))
        planned = plan_announcements(
            config, clients, seen, announcement_id=args.announcement_id or default_id(effective),
            effective=effective,
        )
        for client in clients:
            if not any(a.client is client for a in planned):
                print(f"{client.name}: no contact known (no address configured, none seen in"
                      f" {args.months} months); add its people to addresses in its [[clients]]"
                      " entry")
        env = environment(config.templates_dir, config.default_language)
        outgoing = [compose_announcement(a, config=config, env=env, now=now) for a in planned]
        if args.dry_run:
            return _show(store, outgoing)
        return _send(config, store, outgoing, now, per_minute=args.per_minute)
    finally:
        store.close()


def _effective(value: str | None, today: date) -> date:
    if value is None:
        return default_effective(today)
    try:
        effective = date.fromisoformat(value)
    except ValueError:
        raise UserError(f"--effective {value!r} is not a date; write it as YYYY-MM-DD") from None
    if effective < today:
        raise UserError(f"--effective {value} is in the past; announce a change before it takes"
                        " effect (give today or a later day)")
    return effective


def _state_of(store: Store, out: Outgoing) -> str:
    status = store.action_status(out.dedupe_key)
    return {None: "would be sent", "sent": "already sent: not again",
            "failed": "refused earlier: not again"}.get(status, "queued earlier: sent next")


def _show(store: Store, outgoing: list[Outgoing]) -> int:
    """Every message as its reader would see it, and whether it would go out."""
    from boundary_mail.preview import _readable

    for out in outgoing:
        print(f"=== {', '.join(out.recipients)}: {_state_of(store, out)} ===")
        print(_readable(out))
    fresh = sum(store.action_status(o.dedupe_key) is None for o in outgoing)
    print(f"\n{fresh} of {len(outgoing)} message(s) would be sent (dry run: nothing was sent)")
    return 0


def _send(
    config: Config, store: Store, outgoing: list[Outgoing], now: datetime, *, per_minute: int
) -> int:
    """Queue the new ones in batches of `per_minute` and drain each batch, a minute apart.
    The state lock is held for one batch at a time, so check windows run in between; each
    batch looks again at what is queued already (another run may have been faster)."""
    from boundary_mail.lock import holding
    from boundary_mail.outbox import drain

    for out in outgoing:
        if store.action_status(out.dedupe_key) is not None:
            print(f"{out.recipients[0]}: {_state_of(store, out)}")
    fresh = [o for o in outgoing if store.action_status(o.dedupe_key) is None]
    sent = failed = 0
    errors: list[str] = []
    batches = [fresh[i:i + per_minute] for i in range(0, len(fresh), per_minute)] or [[]]
    for number, batch in enumerate(batches):
        started = monotonic()
        with holding(config.state_dir, "an announcement", wait_seconds=LOCK_WAIT_SECONDS):
            with store.transaction():
                for out in batch:
                    if store.add_action(
                        dedupe_key=out.dedupe_key, kind=out.kind, source_message_id="",
                        envelope_from=out.envelope_from, recipients=out.recipients,
                        outgoing_message_id=out.message_id, raw=out.as_bytes(),
                        on_sent=out.on_sent, now=now,
                    ):
                        print(f"{out.recipients[0]}: queued")
            result = asyncio.run(drain(config, store, now))
        sent, failed, errors = sent + result.sent, failed + result.failed, errors + result.errors
        if number + 1 < len(batches):
            sleep(max(0.0, 60.0 - (monotonic() - started)))
    print(f"sent {sent}, failed {failed}")
    for error in errors:
        print(f"error: {error}")
    return 1 if failed or errors else 0
