"""Announcing the way we work, once per client contact, before it takes effect. Pure.

"Announce changes to your process before they take effect": each contact of a client (the
addresses configured for it, and every address that wrote as that client in the last months,
as the state remembers them) gets one personal email from the client's account manager with
the schedule, the response promise, the point of contact and the agreement, effective from a
date. Each message has a durable key, ``announce:<announcement id>:<address>``, so a second
run, a crash in the middle or an overlapping run never sends one twice; a new announcement
(another id) reaches everyone again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from boundary_mail.config import ClientConfig, Config

# Who counts as a contact: an address seen from the client in this many months.
SEEN_MONTHS = 12
# Announced this many days ahead unless told otherwise.
NOTICE_DAYS = 7


@dataclass(frozen=True, slots=True)
class Announcement:
    """One personal message: `client`'s contact `to` hears from `sender` (its account
    manager) how we work from `effective` on."""

    client: ClientConfig
    to: str
    sender: str
    announcement_id: str
    effective: date

    @property
    def dedupe_key(self) -> str:
        return f"announce:{self.announcement_id}:{self.to}"


def default_effective(today: date) -> date:
    return today + timedelta(days=NOTICE_DAYS)


def default_id(effective: date) -> str:
    """One announcement per effective date unless named otherwise."""
    return f"policy-{effective.isoformat()}"


def contacts_of(
    client: ClientConfig, seen: Iterable[str], team: Iterable[str]
) -> list[str]:
    """The client's configured addresses and the addresses seen from it, never a team
    address, each once, sorted."""
    ours = set(team)
    found = {a.strip().lower() for a in [*client.addresses, *seen] if a and "@" in a}
    return sorted(found - ours)


def plan_announcements(
    config: Config, clients: Iterable[ClientConfig], seen: Mapping[str, Iterable[str]], *,
    announcement_id: str, effective: date,
) -> list[Announcement]:
    """Every message of one announcement, client by client in the order given."""
    return [
        Announcement(client, address, client.account_manager, announcement_id, effective)
        for client in clients
        for address in contacts_of(client, seen.get(client.name, ()), config.team_addresses)
    ]
