"""Announcing how we work: who hears it, once each, from whom, from when."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from boundary_mail.announce import (
    Announcement,
    contacts_of,
    default_effective,
    default_id,
    plan_announcements,
)
from boundary_mail.cli_announce import _effective
from boundary_mail.errors import UserError
from tests.unit.factories import ANN, BOB, GINA, agency

CONFIG = agency()
ACME, GLOBEX = CONFIG.clients


def test_a_clients_contacts_are_its_addresses_and_those_seen_never_the_team() -> None:
    """Configured addresses and the senders seen for it, each once, lower case, sorted; a team
    address that slipped into the state is nobody to announce to."""
    seen = ["Maria@acme.test", "tom@acme.test", "maria@acme.test", ANN]

    assert contacts_of(GLOBEX, seen, CONFIG.team_addresses) == [
        GINA, "maria@acme.test", "tom@acme.test"]
    assert contacts_of(ACME, [], CONFIG.team_addresses) == []


def test_each_contact_hears_once_from_its_account_manager() -> None:
    """One message per contact, from the client's account manager, keyed by announcement
    and address (the durable key of the outbox)."""
    planned = plan_announcements(
        CONFIG, [ACME, GLOBEX], {"Acme": ["maria@acme.test"], "Globex": []},
        announcement_id="policy-2026-12-07", effective=date(2026, 12, 7),
    )

    assert [(a.client.name, a.to, a.sender) for a in planned] == [
        ("Acme", "maria@acme.test", ANN), ("Globex", GINA, BOB)]
    assert planned[0].dedupe_key == "announce:policy-2026-12-07:maria@acme.test"


def test_by_default_it_takes_effect_in_a_week_and_is_named_by_that_day() -> None:
    effective = default_effective(date(2026, 11, 30))

    assert effective == date(2026, 12, 7)
    assert default_id(effective) == "policy-2026-12-07"
    assert Announcement(GLOBEX, GINA, BOB, default_id(effective), effective).dedupe_key == (
        f"announce:policy-2026-12-07:{GINA}")


@pytest.mark.parametrize(("value", "message"), [
    ("2026-11-29", "is in the past; announce a change before it takes effect"),
    ("next monday", "is not a date; write it as YYYY-MM-DD"),
])
def test_an_effective_date_must_be_a_day_not_yet_past(value: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        _effective(value, date(2026, 11, 30))


def test_the_announcement_names_the_zone_of_the_day_it_takes_effect() -> None:
    """Announced in March for April: the windows are in summer time then (CEST)."""
    from boundary_mail.compose_announce import compose_announcement
    from boundary_mail.templates import environment
    from tests.unit.factories import berlin

    a = Announcement(GLOBEX, GINA, BOB, "summer", date(2026, 4, 6))
    out = compose_announcement(a, config=CONFIG, env=environment(None, "en"),
                               now=berlin(20, 10, month=3))

    assert "at 10:00\u202fAM and 3:00\u202fPM CEST" in out.preview()
    assert out.preview().count("CET") == 0


def test_signature_prints_each_member_in_each_language_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """English (the top-level language) and German (Acme's), for every member; text and HTML
    state the schedule and the promise."""
    from boundary_mail.cli import main
    from tests.integration.agency import render_toml
    from tests.unit.factories import agency_data

    data = agency_data()
    data["clients"][0]["language"] = "de"
    path = tmp_path / "c.toml"
    path.write_text(render_toml(data))

    assert main(["--config", str(path), "signature"]) == 0
    out = capsys.readouterr().out

    for member in CONFIG.team.members:
        for lang in ("en", "de"):
            assert f"=== {member.name} <{member.address}> ({lang}): text ===" in out
            assert f"=== {member.name} <{member.address}> ({lang}): HTML ===" in out
    assert ("I read and answer email Mon–Fri at 10:00\u202fAM and 3:00\u202fPM CET and reply"
            " within 1 working day.") in out
    assert ("Ich lese und beantworte E-Mails Mo.–Fr. um 10:00 und 15:00 MEZ und antworte"
            " innerhalb eines Werktages.") in out
    assert main(["--config", str(path), "signature", "--language", "fr"]) == 1
    assert "--language 'fr' has no templates; use one of da, de, en, ru" in (
        capsys.readouterr().err)
