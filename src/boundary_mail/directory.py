"""Who is this sender? Match a sender to a client: exact address first, then the most
specific domain (``mail.acme.test`` before ``acme.test``). Pure: config in, answer out."""

from __future__ import annotations

from dataclasses import dataclass

from boundary_mail.config import ClientConfig, Config


@dataclass(frozen=True, slots=True)
class Match:
    client: ClientConfig | None  # None: an unknown sender, "unassigned"
    owner: str  # the account manager, or the triage owner for unknown senders
    how: str  # "address", "domain" or "unassigned", for status and logs


class Directory:
    """An index of the configured clients, built once per config."""

    def __init__(self, config: Config) -> None:
        self._by_address = {a: c for c in config.clients for a in c.addresses}
        self._by_domain = {d: c for c in config.clients for d in c.domains}
        self._triage = config.triage_owner

    def match(self, address: str) -> Match:
        address = address.lower()
        client = self._by_address.get(address)
        if client:
            return Match(client, client.account_manager, "address")
        domain = address.rpartition("@")[2]
        labels = domain.split(".")
        # Walk from the full domain up to its parents: the most specific entry wins.
        for i in range(len(labels) - 1):
            client = self._by_domain.get(".".join(labels[i:]))
            if client:
                return Match(client, client.account_manager, "domain")
        return Match(None, self._triage, "unassigned")
