"""What a client reads is in the client's language, and states only what is configured.

Carla writes to Bob; her client Acme belongs to Ann, so she gets an auto-reply that says her
message was passed on, the "How we work together" document (attached), and on another
occasion the note naming her contact. Every test composes those messages the way a window
does, in English, German, Danish and Russian.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from boundary_mail.announce import Announcement
from boundary_mail.compose import compose_auto_reply, compose_contact_note
from boundary_mail.compose_announce import compose_announcement, signatures
from boundary_mail.compose_nudge import compose_nudge
from boundary_mail.config import Config
from boundary_mail.config_warnings import config_warnings
from boundary_mail.decide import AutoReply, ContactNote
from boundary_mail.errors import ConfigError
from boundary_mail.languages import CLIENT_TEMPLATES, available_languages, language_problems
from boundary_mail.templates import SHIPPED, environment
from boundary_mail.waiting import Nudge, WaitingItem, WaitStart
from tests.unit.factories import ANN, BOB, CARLA, agency, agency_data, berlin, message, plan

LANGUAGES = ("en", "de", "da", "ru")
NOW = berlin(23, 10)
ENV = environment(None, "en")

# Every key of [agreement] set, in values no language translates (so they may appear in any).
FULL_AGREEMENT: dict[str, Any] = {
    "channels": ["+49 30 1234567"],
    "changes_within_business_days": 2,
    "new_work_within_business_days": 5,
    "payment_net_days": 14,
    "late_interest_percent_per_month": 1.5,
    "late_fee": "EUR 40",
    "paid_before_next_phase": True,
    "client_contact": True,
    "feedback_within_business_days": 3,
    "late_feedback_moves_dates": True,
    "if_we_miss_a_date": "[W]",
    "if_you_miss_a_date": "[Y]",
    "turnaround": "[T]",
    "payment": "[P]",
}
URGENT = {"keywords": ["asap"], "channel": "+49 171 555"}


def config_in(language: str, **sections: Any) -> Config:
    data = agency_data()
    data["clients"][0].update(language=language, timezone="America/New_York")
    data.update(sections)
    return Config(**data)


def parsed(raw: bytes) -> EmailMessage:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    return msg


def nudge_text(config: Config, *, number: int) -> str:
    """Ann's nudge to Carla about her message of Monday, as Carla reads it."""
    start = WaitStart("<w1@agency.test>", "ann", "Sent", 1, ANN, config.clients[0].name,
                      (CARLA,), "Homepage texts", (), NOW - timedelta(days=3), 2, "bcc")
    original = (f"From: Ann <{ANN}>\r\nTo: Carla Rossi <{CARLA}>\r\nSubject: Homepage\r\n\r\n"
                "Could you send us the texts?\r\n").encode()
    item = WaitingItem(start, nudges=number - 1, last_nudge_at=None)
    out = compose_nudge(Nudge(item, number, "draft", 2.0), original, config=config, env=ENV,
                        now=NOW)
    return str(parsed(out.raw).get_body(("plain",)).get_content())  # type: ignore[union-attr]


def everything_read(config: Config) -> dict[str, str]:
    """The texts Carla would read: auto-reply text and HTML, the attached document, the
    contact note."""
    (p,) = plan(message(CARLA, mailbox="bob", to=BOB, subject="Homepage"), config=config)
    (reply,) = [a for a in p.actions if isinstance(a, AutoReply)]
    reply = AutoReply(**{**{f: getattr(reply, f) for f in reply.__slots__},
                         "urgent": True, "first_contact": True})
    out = parsed(compose_auto_reply(reply, config=config, env=ENV, now=NOW).as_bytes())
    text = out.get_body(("plain",))
    html = out.get_body(("html",))
    assert text is not None and html is not None
    (attached,) = list(out.iter_attachments())
    assert isinstance(attached, EmailMessage)
    note = ContactNote(reply.facts, CARLA, BOB, reply.contact, config.clients[0])
    noted = parsed(compose_contact_note(note, config=config, env=ENV, now=NOW).as_bytes())
    texts = {
        "auto_reply.txt.j2": str(text.get_content()),
        "auto_reply.html.j2": str(html.get_content()),
        "first_contact.txt.j2": str(attached.get_content()),
        "attachment name": str(attached.get_filename()),
        "contact_note.txt.j2": str(noted.get_body(("plain",)).get_content()),  # type: ignore[union-attr]
    }
    announced = parsed(compose_announcement(
        Announcement(config.clients[0], CARLA, ANN, "policy-x", date(2026, 12, 7)),
        config=config, env=ENV, now=NOW).as_bytes())
    texts["announce subject"] = str(announced["Subject"])
    texts["announce.txt.j2"] = str(announced.get_body(("plain",)).get_content())  # type: ignore[union-attr]
    (signature,) = signatures(config, ENV, NOW, member=ANN,
                              language=config.language_of(config.clients[0]))
    texts["signature.txt.j2"], texts["signature.html.j2"] = signature.text, signature.html
    texts["nudge.txt.j2"] = nudge_text(config, number=1)
    texts["second nudge"] = nudge_text(config, number=2)
    return {name: text.replace("\r\n", "\n") for name, text in texts.items()}


FULL = {lang: everything_read(config_in(lang, agreement=FULL_AGREEMENT, urgent=URGENT))
        for lang in LANGUAGES}
BARE = {lang: everything_read(config_in(lang)) for lang in LANGUAGES}


def test_every_language_has_every_client_template() -> None:
    """English at the top, German, Danish and Russian in their folders: all complete."""
    assert available_languages(None) == ["da", "de", "en", "ru"]
    for lang in ("de", "da", "ru"):
        assert all((SHIPPED / lang / name).is_file() for name in CLIENT_TEMPLATES)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_renders_every_configured_value(lang: str) -> None:
    """With every key of the agreement set, an urgent message and a client zone, each
    configured value and each moment with its zone and the client's city is in the text."""
    texts = FULL[lang]
    document = texts["first_contact.txt.j2"]
    for value in ("+49 30 1234567", "14", "EUR 40", "[W]", "[Y]", "[T]", "[P]", " 2 ",
                  " 5 ", " 3 ", "asap", "+49 171 555", "Ann <ann@agency.test>", "Acme"):
        assert value in document, (lang, value)
    assert ("1.5" if lang == "en" else "1,5") in document
    phase = {"en": "next phase", "de": "nächste Projektphase", "da": "Næste fase",
             "ru": "Следующий этап"}[lang]
    assert phase in document
    reply = texts["auto_reply.txt.j2"]
    city = "Нью-Йорк" if lang == "ru" else "New York"
    assert reply.count(city) == 3 and reply.count("MEZ" if lang == "de" else "CET") == 3
    assert "+49 171 555" in reply and "ann@agency.test" in reply
    assert "ann@agency.test" in texts["contact_note.txt.j2"]
    announced = texts["announce.txt.j2"]
    assert "asap" in announced and "+49 171 555" in announced and city in announced
    assert "2026" in texts["announce subject"] and "7" in texts["announce subject"]
    for part in ("signature.txt.j2", "signature.html.j2"):
        assert "ann@agency.test" in texts[part]
        assert ("MEZ" if lang == "de" else "CET") in texts[part]
    assert "Acme" in texts["contact_note.txt.j2"]


@pytest.mark.parametrize("lang", ["de", "da", "ru"])
@pytest.mark.parametrize("which", [FULL, BARE], ids=["full", "bare"])
def test_no_english_sentence_leaks_into_another_language(
    lang: str, which: dict[str, dict[str, str]]
) -> None:
    """No line of the English rendering appears in the other language's, and none of the
    words every English sentence is built from does."""
    english_words = re.compile(
        r"\b(the|you|your|we|our|and|message|answer|will|within|please|thank|days?|"
        r"invoices?|payment|contact|urgent|hello|regards|attached|read|arrived)\b",
        re.IGNORECASE,
    )
    for name, text in which[lang].items():
        # A nudge quotes the member's own message: their words, in whatever language.
        text = "\n".join(line for line in text.splitlines() if not line.startswith(">"))
        english = {line.strip() for line in which["en"][name].splitlines()
                   if re.search(r"[A-Za-z]{4,}", line)
                   and not re.search(r"<|@|Agency Assistant", line)}  # names, not sentences
        ours = {line.strip() for line in text.splitlines()}
        assert not english & ours, (lang, name, english & ours)
        visible = re.sub(r"<[^>]+>|ann@agency\.test|Agency Assistant", " ", text)
        assert not english_words.findall(visible), (lang, name)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_without_an_agreement_no_terms_turnaround_or_urgent_keyword_are_stated(
    lang: str,
) -> None:
    """No [agreement], no urgent keywords or channel: not a word about payment, turnaround,
    the client's duties or urgent mail, in any template of any language."""
    forbidden = {
        "en": ["invoice", "payable", "payment", "turnaround", "urgent", "late fee", "interest",
               "changes", "new work", "feedback", "phase"],
        "de": ["Rechnung", "Zahlung", "Bearbeitungszeit", "dringend", "Mahngebühr", "Zinsen",
               "Änderungen", "Aufträg", "Rückmeldung"],
        "da": ["Faktura", "betal", "Leveringstid", "haster", "Hastesag", "gebyr", "renter",
               "Ændringer", "opgaver", "Feedback"],
        "ru": ["Счет", "счет", "оплат", "Сроки выполнения", "срочн", "штраф", "процент",
               "изменения", "задач", "Отзыв"],
    }[lang]
    for name, text in BARE[lang].items():
        for word in forbidden:
            assert word.lower() not in text.lower(), (lang, name, word)


def test_the_first_contact_document_states_exactly_the_configured_terms() -> None:
    """Payment net 30 alone: one payment sentence, no other section of the agreement."""
    config = config_in("en", agreement={"payment_net_days": 30})
    document = everything_read(config)["first_contact.txt.j2"]

    assert "\nPayment\n-------\nInvoices are payable within 30 days.\n" in document
    for absent in ("Turnaround", "What we need from you", "If a date is missed",
                   "How to reach us", "Urgent", "interest", "late fee"):
        assert absent not in document


def test_the_urgent_sentence_names_the_configured_keywords() -> None:
    """Keywords configured: the document names each of them, and how fast they are seen."""
    config = config_in("en", urgent={"keywords": ["asap", "outage"]},
                       schedule={"check_windows": ["10:00", "15:00"],
                                 "urgent_scan_minutes": 20})
    document = everything_read(config)["first_contact.txt.j2"]

    assert 'put “asap” or “outage” in the subject: Ann is alerted within 20 minutes' in document
    assert "urgent” in the subject" not in document


def test_a_clients_own_agreement_overrides_the_defaults_key_by_key() -> None:
    """Acme pays net 30; the 2-day turnaround of the defaults still applies to it."""
    data = agency_data()
    data["agreement"] = {"payment_net_days": 14, "changes_within_business_days": 2}
    data["clients"][0]["agreement"] = {"payment_net_days": 30}
    config = Config(**data)

    acme = config.agreement_of(config.clients[0])
    globex = config.agreement_of(config.clients[1])

    assert (acme.payment_net_days, acme.changes_within_business_days) == (30, 2)
    assert (globex.payment_net_days, globex.changes_within_business_days) == (14, 2)


@pytest.mark.parametrize(("lang", "title"), [
    ("en", "How we work together.txt"), ("de", "So arbeiten wir zusammen.txt"),
    ("da", "Sådan arbejder vi sammen.txt"), ("ru", "Правила совместной работы.txt"),
])
def test_the_attached_document_is_named_in_the_clients_language(lang: str, title: str) -> None:
    assert FULL[lang]["attachment name"] == title


def test_english_text_starts_its_sentences_with_a_capital() -> None:
    """"Hello Carla,\\n\\nThank you…", never "thank you"."""
    for name in ("auto_reply.txt.j2", "contact_note.txt.j2"):
        assert "\n\nThank you for your message." in FULL["en"][name]


def test_the_promise_lines_are_aligned() -> None:
    """The three moments start in the same column."""
    lines = [line for line in FULL["en"]["auto_reply.txt.j2"].splitlines()
             if line.startswith("  ") and ":" in line]
    assert len(lines) == 3
    assert len({len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}) == 1


def test_a_language_without_templates_is_a_config_error_naming_the_available_ones(
    tmp_path: Path,
) -> None:
    data = agency_data()
    data["clients"][1]["language"] = "fr"

    (problem,) = language_problems(Config(**data))

    assert problem.startswith("clients[1].language: there are no templates in 'fr'")
    assert "use one of da, de, en, ru" in problem


def test_a_users_folder_adds_a_language(tmp_path: Path) -> None:
    """Adding a language is adding its files: fr/ with the four client templates."""
    (tmp_path / "fr").mkdir()
    for name in CLIENT_TEMPLATES:
        (tmp_path / "fr" / name).write_text((SHIPPED / name).read_text())
    data = agency_data()
    data["templates_dir"] = str(tmp_path)
    data["clients"][1]["language"] = "fr"

    assert language_problems(Config(**data)) == []
    assert "fr" in available_languages(tmp_path)


def test_the_old_locale_key_chooses_the_language_and_says_so() -> None:
    """locale = "de_DE" (the old key) now means German text as well as German dates, with a
    warning to rename it; a locale that contradicts language is an error."""
    config = agency(locale="de_DE")

    assert config.language_of(config.clients[0]) == "de_DE"
    assert any(w.startswith("locale: the key is now called language") for w in
               config_warnings(config))
    (problem,) = language_problems(agency(locale="de_DE", language="ru"))
    assert "disagrees with language 'ru'" in problem


def test_de_de_uses_the_german_templates_with_its_own_dates() -> None:
    texts = everything_read(agency(locale="de_DE"))

    assert texts["auto_reply.txt.j2"].startswith("Guten Tag Carla,\n\nvielen Dank")
    assert "Montag, 23. November 2026, 10:00 MEZ" in texts["auto_reply.txt.j2"]


def test_an_unknown_client_language_is_refused_when_the_config_is_read(
    tmp_path: Path,
) -> None:
    from boundary_mail.config import load_config
    from tests.integration.agency import render_toml

    data = agency_data()
    data["clients"][0]["language"] = "xx"
    path = tmp_path / "c.toml"
    path.write_text(render_toml(data))

    with pytest.raises(ConfigError, match=r"clients\[0\]\.language: 'xx' is not a known"):
        load_config(path)


def test_check_config_verbose_shows_each_clients_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`-v check-config` prints "How we work together" for every client, in its language,
    with the configured terms."""
    from boundary_mail.cli import main
    from tests.integration.agency import render_toml

    data = agency_data()
    data["clients"][0]["language"] = "de"
    data["agreement"] = {"payment_net_days": 14}
    path = tmp_path / "c.toml"
    path.write_text(render_toml(data))

    assert main(["--config", str(path), "-v", "check-config"]) == 0
    out = capsys.readouterr().out

    assert "--- So arbeiten wir zusammen: Acme (de) ---" in out
    assert "Rechnungen sind innerhalb von 14 Tagen zahlbar." in out
    assert "--- How we work together: Globex (en) ---" in out
    assert "Invoices are payable within 14 days." in out
    assert main(["--config", str(path), "check-config", "--verbose"]) == 0
    assert "--- So arbeiten wir zusammen: Acme (de) ---" in capsys.readouterr().out
    assert main(["--config", str(path), "check-config"]) == 0
    assert "How we work together" not in capsys.readouterr().out


def test_a_language_folder_added_later_is_used_without_a_restart(tmp_path: Path) -> None:
    """A language folder written into templates_dir while boundary-mail runs is used by the
    next environment (the next command, or the daemon after SIGHUP), over the shipped one."""
    env = environment(tmp_path, "de")
    assert env.get_template("contact_note.txt.j2").filename == str(
        SHIPPED / "de" / "contact_note.txt.j2")

    (tmp_path / "de").mkdir()
    (tmp_path / "de" / "contact_note.txt.j2").write_text("Hallo {{ name }}\n")

    assert environment(tmp_path, "de").get_template("contact_note.txt.j2").render(
        name="Erika") == "Hallo Erika\n"


def test_a_client_whose_clock_reads_like_ours_gets_no_second_time() -> None:
    """Paris reads the same as Berlin: "10:00 AM CET", no "(10:00 AM in Paris)"."""
    data = agency_data()
    data["clients"][0]["timezone"] = "Europe/Paris"
    texts = everything_read(Config(**data))

    assert "Paris" not in texts["auto_reply.txt.j2"]
    assert "Paris" not in texts["first_contact.txt.j2"]


def test_regional_forms_use_their_languages_templates_with_their_own_dates() -> None:
    """en_GB is English with British dates; de_AT is German with Austrian ones."""
    british = everything_read(config_in("en_GB"))["auto_reply.txt.j2"]
    austrian = everything_read(config_in("de_AT"))["auto_reply.txt.j2"]

    assert language_problems(config_in("en_GB")) == language_problems(config_in("de_AT")) == []
    assert "Monday, 23 November 2026" in british and "Thank you" in british
    assert "Montag, 23. November 2026" in austrian and "vielen Dank" in austrian
