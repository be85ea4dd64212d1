"""Clients who read German, Danish and Russian get everything in their language, on the real
servers: the auto-reply (text and HTML), "How we work together" with the agreed terms, and
the note that their mail to the wrong person was passed on, with localized dates and zones.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.integration.agency import Agency, client_mail

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_1605 = datetime(2026, 11, 13, 16, 5, tzinfo=BERLIN)
MONDAY_10 = datetime(2026, 11, 16, 10, 0, tzinfo=BERLIN)
MONDAY_15 = datetime(2026, 11, 16, 15, 0, tzinfo=BERLIN)

CLIENTS = [
    {"name": "Kunde", "domains": ["kunde.test"], "account_manager": "ann@agency.test",
     "language": "de", "timezone": "America/New_York"},
    {"name": "Kunde DK", "domains": ["kunde-dk.test"], "account_manager": "ann@agency.test",
     "language": "da"},
    {"name": "Klient", "domains": ["klient.test"], "account_manager": "ann@agency.test",
     "language": "ru", "timezone": "Europe/Moscow"},
]

# What each language must say, as a native reader reads it.
EXPECTED: dict[str, dict[str, Any]] = {
    "de": {
        "sender": "erika@kunde.test",
        "auto_reply": ["vielen Dank für Ihre Nachricht",
                       "Sie wird gelesen:                Montag, 16. November 2026, 10:00 MEZ"
                       " (04:00 in New York)", "Mit freundlichen Grüßen"],
        "html": ["Sie erhalten eine Antwort bis", "Dienstag, 17. November 2026, 15:00 MEZ"],
        "document": "So arbeiten wir zusammen",
        "terms": ["Rechnungen sind innerhalb von 14 Tagen zahlbar.",
                  "Bei Zahlungsverzug berechnen wir Zinsen von 1,5 % pro Monat."],
        "note": ["Ich habe Ihre Nachricht an Ann Wright <ann@agency.test> weitergeleitet",
                 "Ann Wright wird Ihnen antworten", "Mit freundlichen Grüßen"],
    },
    "da": {
        "sender": "mette@kunde-dk.test",
        "auto_reply": ["Tak for din besked",
                       "Den bliver læst:           mandag den 16. november 2026 10.00 CET"],
        "html": ["Du får svar senest", "tirsdag den 17. november 2026 15.00 CET"],
        "document": "Sådan arbejder vi sammen",
        "terms": ["Fakturaer skal betales inden for 14 dage.",
                  "Ved for sen betaling beregner vi renter på 1,5 % pr. måned."],
        "note": ["Jeg har sendt din mail videre til Ann Wright <ann@agency.test>",
                 "vender tilbage til dig", "Venlig hilsen"],
    },
    "ru": {
        "sender": "olga@klient.test",
        "auto_reply": ["Спасибо за Ваше письмо",
                       "Оно будет прочитано:    понедельник, 16 ноября 2026\u202fг., 10:00 CET"
                       " (Москва: 12:00)"],
        "html": ["Вы получите ответ до", "вторник, 17 ноября 2026\u202fг., 15:00 CET"],
        "document": "Правила совместной работы",
        "terms": ["Счета подлежат оплате в течение 14 дней.",
                  "При просрочке оплаты начисляются проценты в размере 1,5 % в месяц."],
        "note": ["Ваше письмо передано Вашему контактному лицу",
                 "Ann Wright ответит Вам", "С уважением,"],
    },
}
ENGLISH = re.compile(
    r"\b(the|you|your|we|our|message|answer|will|within|please|thank|days?|invoices?|"
    r"payment|hello|regards|attached)\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def installed(agency: Agency) -> None:
    """Three clients in three languages, net 14 days with 1.5 % interest a month; the
    first sync is behind."""
    agency.data["clients"] = CLIENTS
    agency.data["agreement"] = {"payment_net_days": 14, "late_interest_percent_per_month": 1.5}
    agency.write()
    assert agency.poll(FRIDAY_1605 - timedelta(days=1)) == 0


def arrived(mailserver: Any, address: str, kind: str, timeout: float = 15) -> list[EmailMessage]:
    """The mail of `kind` that reached `address`, waiting for the first (LMTP trails SMTP)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mailserver.messages("catchall")
                 if address in str(m["To"]) and m["X-Boundary-Mail"] == kind]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def plain(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]


def test_each_client_reads_everything_in_its_own_language(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Friday 16:05 each client writes to Ann (their contact): Monday 10:00 brings each an
    auto-reply with "How we work together" attached, all in its language. On Monday each
    writes to Bob by mistake: the message goes on to Ann, and the 15:00 window sends each a
    note, in its language, that it was passed on and who will answer."""
    for lang, want in EXPECTED.items():
        deliver("ann", client_mail(sender=want["sender"], subject=f"Frage {lang}",
                                   message_id=f"<q-{lang}@x.test>"), FRIDAY_1605)
    assert agency.poll(MONDAY_10) == 0
    for lang, want in EXPECTED.items():
        deliver("bob", client_mail(sender=want["sender"], to="bob@agency.test",
                                   subject=f"Noch eine Frage {lang}",
                                   message_id=f"<w-{lang}@x.test>"), MONDAY_10 + timedelta(hours=1))
    assert agency.poll(MONDAY_15) == 0

    for lang, want in EXPECTED.items():
        (reply,) = arrived(mailserver, want["sender"], "auto-reply")
        text = plain(reply)
        html = reply.get_body(("html",)).get_content()  # type: ignore[union-attr]
        (attached,) = list(reply.iter_attachments())
        document = attached.get_content().replace("\r\n", "\n")
        (note,) = arrived(mailserver, want["sender"], "contact-note")
        noted = plain(note)

        for line in want["auto_reply"]:
            assert line in text, (lang, line, text)
        for line in want["html"]:
            assert line in html, (lang, line)
        assert attached.get_filename() == f"{want['document']}.txt"
        assert document.startswith(want["document"])
        for line in want["terms"]:
            assert line in document, (lang, line, document)
        for line in want["note"]:
            assert line in noted, (lang, line, noted)
        for shown in (text, re.sub(r"<[^>]+>", " ", html), document, noted):
            visible = shown.replace("ann@agency.test", "").replace("Wright & Stone", "")
            assert not ENGLISH.findall(visible), (lang, ENGLISH.findall(visible))
