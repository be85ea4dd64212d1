"""Which messages a client's hand-off export takes, and when two copies are one message."""

from __future__ import annotations

from datetime import date

import pytest

from boundary_mail.directory import Directory
from boundary_mail.export_select import (
    belongs_to,
    find_client,
    identity,
    search_criteria,
)
from boundary_mail.headers import parse_facts
from tests.unit.factories import ANN, BOB, CARLA, GINA, MONDAY_EARLY, agency, agency_data, message


def with_labs():  # type: ignore[no-untyped-def]
    """The agency with Acme Labs, whose domain is inside Acme's."""
    data = agency_data()
    data["clients"].append({"name": "Acme Labs", "domains": ["labs.acme.test"],
                            "account_manager": BOB})
    return agency(clients=data["clients"])


@pytest.mark.parametrize(("sender", "to", "cc", "client", "taken"), [
    (CARLA, BOB, "", "Acme", True),  # from the client
    (ANN, CARLA, "", "Acme", True),  # our reply, in Sent
    (BOB, ANN, CARLA, "Acme", True),  # the client in Cc
    ("joe@mail.acme.test", BOB, "", "Acme", True),  # a subdomain of the client's domain
    ("lab@labs.acme.test", BOB, "", "Acme", False),  # Acme Labs' own, more specific domain
    ("lab@labs.acme.test", BOB, "", "Acme Labs", True),
    ("news@notacme.test", BOB, "", "Acme", False),  # a look-alike the SEARCH also finds
    (GINA, BOB, "", "Acme", False),  # another client's
    (GINA, BOB, "", "Globex", True),
    ("other@globex.test", BOB, "", "Globex", False),  # Globex is one address, not a domain
    (ANN, BOB, "", "Acme", False),  # our own, about nothing of theirs
])
def test_a_message_is_the_clients_as_routing_would_match_it(
    sender: str, to: str, cc: str, client: str, taken: bool
) -> None:
    """From, To or Cc matched as routing matches a sender: the exact address first, then the
    most specific domain; a domain listed for another, more specific client is that client's."""
    config = with_labs()
    chosen = find_client(config, client)
    assert chosen is not None
    facts = message(sender, to=to, cc=cc)
    assert belongs_to(facts, chosen, Directory(config)) is taken


def test_clients_are_found_by_name_whatever_the_case() -> None:
    config = agency()
    found = find_client(config, " acme ")
    assert found is not None and found.name == "Acme"
    assert find_client(config, "Initech") is None


def test_one_search_asks_for_every_address_and_domain_in_from_to_and_cc() -> None:
    """OR in prefix form: n alternatives need n-1 ORs in front; SINCE narrows them all."""
    config = agency(clients=[{"name": "Acme", "addresses": ["boss@acme.example"],
                              "domains": ["acme.test"], "account_manager": ANN}])
    client = config.clients[0]
    assert search_criteria(client, None) == [
        "OR", "OR", "OR", "OR", "OR",
        "FROM", "boss@acme.example", "TO", "boss@acme.example", "CC", "boss@acme.example",
        "FROM", "acme.test", "TO", "acme.test", "CC", "acme.test",
    ]
    assert search_criteria(client, date(2026, 1, 1))[:2] == ["SINCE", date(2026, 1, 1)]


def test_copies_are_one_message_a_reused_message_id_is_not() -> None:
    """Identity is the Message-ID and the sender: the same message in Ann's inbox and Bob's
    archive is one; a stranger's message reusing the Message-ID is another."""
    in_ann = message(CARLA, mailbox="ann", uid=7)
    in_bob = message(CARLA, mailbox="bob", folder="Archive", uid=3, return_path="<x@y.test>")
    stranger = message("sam@acme.test")
    assert identity(in_ann) == identity(in_bob)
    assert identity(stranger) != identity(in_ann)


def test_copies_without_a_message_id_are_one_message_despite_their_delivery_fields() -> None:
    """Without a Message-ID, what the author wrote identifies the message: two deliveries
    (their own Return-Path and Delivered-To) are one; another subject is another message."""
    def copy(delivered_to: str, subject: str = "No id") -> bytes:
        return (f"Delivered-To: {delivered_to}\r\nReturn-Path: <bounce-{delivered_to}>\r\n"
                f"From: {CARLA}\r\nTo: {ANN}, {BOB}\r\nSubject: {subject}\r\n"
                "Date: Mon, 23 Nov 2026 07:55:00 +0100\r\n\r\n").encode()

    def facts(raw: bytes):  # type: ignore[no-untyped-def]
        return parse_facts(raw, mailbox="ann", folder="INBOX", uid=1, received_at=MONDAY_EARLY)

    assert identity(facts(copy(ANN))) == identity(facts(copy(BOB)))
    assert identity(facts(copy(ANN))) != identity(facts(copy(ANN, "Another")))
