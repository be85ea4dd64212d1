"""A realistic working Friday of mail for the demo, written into the local Dovecot by IMAP APPEND.

Each message carries the headers a delivering server would have added (Return-Path,
Delivered-To) and an INTERNALDATE at its arrival time, so ``boundary-mail poll --now`` sees the
day exactly as it happened. ``--until HH:MM`` seeds only what had arrived by then, so the demo
can poll at 10:00, 15:00 and on Monday 10:00 and show what each window did.
"""

from __future__ import annotations

import argparse
import os
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import imapclient

TZ = ZoneInfo("Europe/Berlin")
FRIDAY = datetime(2026, 11, 20, tzinfo=TZ)


@dataclass(frozen=True)
class Seed:
    at: timedelta  # after Friday 00:00
    mailbox: str
    headers: dict[str, str]
    body: str
    report: bool = False
    folder: str = "INBOX"


def _t(hours: int, minutes: int, days: int = 0) -> timedelta:
    return timedelta(days=days, hours=hours, minutes=minutes)


DAY: list[Seed] = [
    Seed(_t(7, 42), "ann", {
        "Return-Path": "<maria@acme.test>",
        "From": "Maria Keller <maria@acme.test>", "To": "Ann Wright <ann@agency.test>",
        "Subject": "Homepage copy: final round?", "Message-ID": "<hp-1@acme.test>",
    }, "Hi Ann,\n\ncould you send the final homepage copy today?\n\nMaria\n"),
    Seed(_t(8, 15), "ann", {
        "Return-Path": "<tom@globex.test>",
        "From": "Tom Becker <tom@globex.test>", "To": "ann@agency.test",
        "Subject": "Question about invoice 2026-118", "Message-ID": "<inv-118@globex.test>",
    }, "Hello Ann,\n\nI think invoice 2026-118 lists the workshop twice.\n\nTom\n"),
    Seed(_t(9, 5), "ann", {
        "Return-Path": "<noreply@github.test>",
        "From": "GitHub <notifications@github.test>", "To": "ann@agency.test",
        "Subject": "[agency/site] Build failed on main", "Message-ID": "<gh-77@github.test>",
        "List-Id": "agency/site <site.agency.github.test>", "Precedence": "list",
        "List-Unsubscribe": "<mailto:unsub@github.test>",
    }, "The build failed.\n"),
    Seed(_t(9, 30), "bob", {
        "Return-Path": "<bounce-7781@news.test>",
        "From": "Design Weekly <hello@news.test>", "To": "bob@agency.test",
        "Subject": "This week in design", "Message-ID": "<nl-7781@news.test>",
        "Precedence": "bulk", "List-Unsubscribe": "<https://news.test/u/7781>",
    }, "Ten links you will love.\n"),
    Seed(_t(11, 20), "ann", {
        "Return-Path": "<maria@acme.test>",
        "From": "Maria Keller <maria@acme.test>", "To": "ann@agency.test",
        "Subject": "Re: Homepage copy: final round?", "Message-ID": "<hp-2@acme.test>",
        "In-Reply-To": "<hp-1@acme.test>", "References": "<hp-1@acme.test>",
    }, "Did you get my email?\n"),
    Seed(_t(12, 10), "bob", {
        "Return-Path": "<>",
        "From": "Mail Delivery System <MAILER-DAEMON@mx.globex.test>", "To": "bob@agency.test",
        "Subject": "Undelivered Mail Returned to Sender", "Message-ID": "<dsn-1@mx.globex.test>",
    }, "This is the mail system. Your message could not be delivered.\n", report=True),
    Seed(_t(13, 0), "ann", {
        "Return-Path": "<lena@startup.test>",
        "From": "Lena Novak <lena@startup.test>", "To": "ann@agency.test",
        "Subject": "New website for our startup?", "Message-ID": "<lead-1@startup.test>",
    }, "Hi, do you have capacity in January?\n"),
    Seed(_t(14, 40), "bob", {
        "Return-Path": "<tom@globex.test>",
        "From": "Tom Becker <tom@globex.test>", "To": "bob@agency.test",
        "Subject": "Automatic reply: Sprint review", "Message-ID": "<oof-1@globex.test>",
        "Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All",
    }, "I am out of the office until Monday.\n"),
    Seed(_t(16, 5), "bob", {
        "Return-Path": "<raj@initech.test>",
        "From": "Raj Patel <raj@initech.test>", "To": "Bob Stone <bob@agency.test>",
        "Subject": "Kick-off: brand refresh", "Message-ID": "<ko-1@initech.test>",
    }, "Hi Bob,\n\nexcited to start! When can we meet?\n\nRaj\n"),
    Seed(_t(19, 45), "ann", {
        "Return-Path": "<maria@acme.test>",
        "From": "Maria Keller <maria@acme.test>", "To": "ann@agency.test",
        "Subject": "Typo on the pricing page", "Message-ID": "<hp-3@acme.test>",
    }, "Small thing for Monday: 'recieve' on the pricing page.\n"),
    Seed(_t(22, 10), "bob", {
        "Return-Path": "<tom@globex.test>",
        "From": "Tom Becker <tom@globex.test>", "To": "bob@agency.test",
        "Subject": "Workshop dates", "Message-ID": "<ws-1@globex.test>",
    }, "Can we move the workshop to December 3?\n"),
    Seed(_t(10, 30, days=1), "bob", {
        "Return-Path": "<raj@initech.test>",
        "From": "Raj Patel <raj@initech.test>", "To": "bob@agency.test",
        "Subject": "Re: Kick-off: brand refresh", "Message-ID": "<ko-2@initech.test>",
        "In-Reply-To": "<ko-1@initech.test>", "References": "<ko-1@initech.test>",
    }, "Just checking you got this?\n"),
    # Monday: Ann answers Maria's first message from her own mail client (her Sent folder).
    Seed(_t(11, 30, days=3), "ann", {
        "From": "Ann Wright <ann@agency.test>", "To": "Maria Keller <maria@acme.test>",
        "Subject": "Re: Homepage copy: final round?", "Message-ID": "<re-hp-1@agency.test>",
        "In-Reply-To": "<hp-1@acme.test>", "References": "<hp-1@acme.test>",
    }, "Hi Maria,\n\nthe final copy is attached.\n\nAnn\n", folder="Sent"),
]


def build(seed: Seed) -> tuple[bytes, datetime]:
    at = FRIDAY + seed.at
    msg = EmailMessage()
    for name, value in seed.headers.items():
        msg[name] = value
    if seed.folder == "INBOX":
        msg["Delivered-To"] = f"{seed.mailbox}@agency.test"
    msg["Date"] = format_datetime(at)
    msg.set_content(seed.body)
    if seed.report:  # a delivery status notification: multipart/report (RFC 3462)
        msg.make_mixed()
        msg.set_type("multipart/report")
        msg.set_param("report-type", "delivery-status")
    return msg.as_bytes(), at


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from", dest="start", default="00:00", help="seed from (HH:MM Friday)")
    parser.add_argument("--until", default="999:00", help="seed up to (HH:MM after Friday 00:00)")
    args = parser.parse_args()

    def offset(text: str) -> timedelta:
        hours, minutes = text.split(":")
        return timedelta(hours=int(hours), minutes=int(minutes))

    start, until = offset(args.start), offset(args.until)
    context = ssl.create_default_context(cafile=os.environ["BM_CA_FILE"])
    port = int(os.environ["BM_IMAPS_PORT"])
    by_mailbox: dict[str, list[Seed]] = {}
    for seed in DAY:
        if start <= seed.at < until:
            by_mailbox.setdefault(seed.mailbox, []).append(seed)
    for mailbox, seeds in by_mailbox.items():
        with imapclient.IMAPClient("127.0.0.1", port=port, ssl_context=context) as client:
            client.login(mailbox, os.environ[f"BM_PW_{mailbox.upper()}"])
            for seed in seeds:
                raw, at = build(seed)
                client.append(seed.folder, raw, msg_time=at)
                print(f"  seeded {at:%a %H:%M} {seed.headers['From']} → {mailbox}"
                      f"{'' if seed.folder == 'INBOX' else '/' + seed.folder}: "
                      f"{seed.headers['Subject']}")


if __name__ == "__main__":
    main()
