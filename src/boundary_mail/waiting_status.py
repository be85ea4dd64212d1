"""What `boundary-mail status` says about waiting on clients: the open waits, oldest first,
and per client and month their median and longest wait against our median (business days)."""

from __future__ import annotations

from datetime import UTC, datetime

from boundary_mail.calendar import BusinessCalendar
from boundary_mail.config import Config
from boundary_mail.store import Store
from boundary_mail.waiting_figures import client_waits, shown_days, turn_figures

_EVER = datetime(1970, 1, 1, tzinfo=UTC)


def format_waiting(store: Store, config: Config, now: datetime) -> list[str]:
    calendar = BusinessCalendar.from_config(config.schedule, config.tz)
    waits = store.waits_since(_EVER)
    if not waits:
        return ["waiting on clients: 0"]
    open_waits = client_waits(waits, None, config=config, calendar=calendar, now=now)
    lines = [f"waiting on clients: {len(open_waits)}"]
    for w in open_waits:
        used_up = "  NUDGES USED UP" if w.reported else ""
        lines.append(
            f"  {w.message_id}  {w.client} {', '.join(w.to)} ← {w.member}  waited"
            f" {w.waited_days:.1f} business days  nudges {w.nudges}/{w.max_nudges}{used_up}")
    items = [r.item for r in store.digest_items(min(w.start.sent_at for w in waits))]
    figures = [t for t in turn_figures(waits, items, config=config, calendar=calendar, now=now)
               if t.their_turns]
    if figures:
        lines.append("their median wait vs ours (business days):")
        for t in figures:
            lines.append(
                f"  {t.client} {t.month}: {t.their_turns} turn(s) theirs, median"
                f" {shown_days(t.their_median)}, longest {shown_days(t.their_longest)};"
                f" {t.our_turns} ours, median {shown_days(t.our_median)}")
    return lines
