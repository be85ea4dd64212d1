"""Which messages belong to a client's hand-off export, and when two copies are one message.

The server narrows the search: one IMAP SEARCH per folder for the client's addresses and
domains in From, To or Cc (a substring search, so ``acme.test`` also finds
``mail.acme.test`` and ``notacme.test``). The answer is then judged here by the header
fields, with the same client matching as routing (`directory`: the exact address first, then
the most specific domain): mail from ``labs.acme.test`` belongs to the client that lists that
domain, not to the one that lists ``acme.test``, and ``notacme.test`` belongs to neither.

A message's identity is the product's: its Message-ID and its sender (`ids`), so the copy in
Ann's inbox, the one in Bob's archive and the one in Sent are exported once, and a stranger's
message that reuses a known Message-ID is a message of its own.

Pure: header facts and configuration in, answers out.
"""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

from boundary_mail.config import ClientConfig, Config
from boundary_mail.directory import Directory
from boundary_mail.facts import Address, MessageFacts

NO_ID_PREFIX = "<no-id."  # `headers.synthetic_message_id`: the header had no Message-ID
# The header fields that make a message "from or to" a client.
SEARCHED_FIELDS = ("FROM", "TO", "CC")


def find_client(config: Config, name: str) -> ClientConfig | None:
    """The configured client called `name` (case-insensitive), if any."""
    wanted = name.strip().casefold()
    return next((c for c in config.clients if c.name.casefold() == wanted), None)


def search_criteria(client: ClientConfig, since: date | None) -> list[Any]:
    """IMAP SEARCH keys (imapclient's list form) for mail with any of the client's addresses
    or domains in From, To or Cc, arrived on or after `since` (INTERNALDATE, RFC 3501 SINCE).

    The alternatives are joined in prefix form, ``OR OR a b c``, one command for any number
    of them."""
    terms = [*client.addresses, *client.domains]
    keys: list[Any] = []
    for term in terms:
        for field in SEARCHED_FIELDS:
            keys.extend([field, term])
    criteria: list[Any] = ["OR"] * (len(terms) * len(SEARCHED_FIELDS) - 1) + keys
    if since is not None:
        criteria = ["SINCE", since, *criteria]
    return criteria


def participants(facts: MessageFacts) -> tuple[Address, ...]:
    """Everyone a message is from or to, as far as the export is concerned."""
    return ((facts.sender,) if facts.sender else ()) + facts.to + facts.cc


def belongs_to(facts: MessageFacts, client: ClientConfig, directory: Directory) -> bool:
    """True if routing would match the sender or a recipient (To, Cc) to `client`."""
    for address in participants(facts):
        match = directory.match(address.email)
        if match.client is not None and match.client.name == client.name:
            return True
    return False


def identity(facts: MessageFacts) -> str:
    """What makes two copies one message: the Message-ID and the sender.

    A message without a Message-ID gets a stand-in from what its author wrote (sender,
    recipients, Date, Subject), not from the whole header block as in a window: copies in two
    mailboxes differ in their delivery fields (Return-Path, Delivered-To) and are still one."""
    sender = facts.sender.email if facts.sender else (facts.return_path or "")
    message_id = facts.message_id
    if message_id.startswith(NO_ID_PREFIX):
        written = "\0".join([
            sender, *(a.email for a in facts.to), "", *(a.email for a in facts.cc),
            facts.date.isoformat() if facts.date else "", facts.subject,
        ])
        digest = hashlib.sha256(written.encode("utf-8", "replace")).hexdigest()[:32]
        message_id = f"<no-id.{digest}@export.boundary-mail.invalid>"
    return f"{message_id} {sender}"
