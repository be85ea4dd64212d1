"""A realistic week of state for the digest tests, written straight into a Store.

The agency: Ann Wright (Acme, Initech), Bob Stone (Globex), Lee Lead (the lead, also triage
owner for unknown senders) and Carl Quiet (no clients: his digest is empty). Berlin time;
"now" is Monday 23 November 2026, 17:30, when the digest goes out. The 7-day window is
Tue 17 – Mon 23 November, the 30-day window Sun 25 October – Mon 23 November.

Counts every test relies on are in EXPECTED, derived by hand from the seed below.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from hashlib import sha256
from typing import Any
from zoneinfo import ZoneInfo

from boundary_mail.store import Store
from boundary_mail.tracking import TrackedItem

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 17, 30, tzinfo=BERLIN)
ANN, BOB, LEAD, CARL = "ann@agency.test", "bob@agency.test", "lead@agency.test", "carl@agency.test"

HOSTILE_SUBJECT = "<script>alert(1)</script> <img src=x onerror=alert(1)> <b><i \"'& broken"
HOSTILE_SENDER = "evil<img src=x onerror=alert(2)>@acme.test"


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A Berlin wall-clock moment in late 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def config_data(**overrides: Any) -> dict[str, Any]:
    """The agency's configuration as a dict (the unit tests build `Config(**data)`)."""
    data: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "state_dir": "/nonexistent",
        "smtp": {"host": "localhost", "from_address": "assistant@agency.test",
                 "from_name": "Wright & Stone"},
        "mailboxes": [
            {"name": name, "host": "localhost", "owner": f"{name}@agency.test"}
            for name in ("ann", "bob", "lead")
        ],
        "team": {
            "lead": LEAD,
            "members": [
                {"name": "Ann Wright", "address": ANN, "backup": BOB},
                {"name": "Bob Stone", "address": BOB, "backup": ANN},
                {"name": "Lee Lead", "address": LEAD},
                {"name": "Carl Quiet", "address": CARL},
            ],
        },
        "clients": [
            {"name": "Acme", "domains": ["acme.test"], "account_manager": ANN,
             "monthly_allowance": 9},
            {"name": "Globex", "addresses": ["tom@globex.test"], "account_manager": BOB,
             "monthly_allowance": 30},
            {"name": "Initech", "domains": ["initech.test"], "account_manager": ANN},
        ],
    }
    data.update(overrides)
    return data


_uid = iter(range(1, 10_000))


def _item(
    store: Store, key: str, *, received: datetime, owner: str, client: str, subject: str,
    sender: str = "", deadline: datetime | None = None, after_hours: bool = False,
    routed_from: str = "", created: datetime | None = None, mailbox: str = "",
    acknowledged: datetime | None = None,
) -> str:
    message_id = f"<{key}@mail.test>"
    store.add_item(
        TrackedItem(
            message_id=message_id, mailbox=mailbox or owner.partition("@")[0], folder="INBOX",
            uid=next(_uid), sender=sender or f"{key}@{(client or 'example').lower()}.test",
            client=client, owner=owner, subject=subject, received_at=received,
            read_at=received, deadline=deadline or received + timedelta(days=1),
            urgent=False, after_hours=after_hours, routed_from=routed_from, ladder_step=0,
            status="open",
        ),
        created or received,
    )
    if acknowledged:
        store.acknowledge(message_id, acknowledged, "reply")
    return message_id


def _sent(
    store: Store, kind: str, source: str, to: str, when: datetime, *, step: int = 0,
    status: str = "sent",
) -> None:
    key = f"{kind}:{source}:{step}:{when.isoformat()}"
    on_sent: dict[str, Any] = {"ladder": {"message_id": source, "step": step}} if step else {}
    tag = sha256(key.encode()).hexdigest()[:16]
    raw = (
        f"From: assistant@agency.test\r\nTo: {to}\r\nSubject: {kind} {step}\r\n"
        f"Date: {format_datetime(when)}\r\nMessage-ID: <{tag}@agency.test>\r\n"
        f"X-Boundary-Mail: {kind}\r\n\r\nA {kind}.\r\n"
    ).encode()
    store.add_action(
        dedupe_key=key, kind=kind, source_message_id=source, envelope_from="",
        recipients=[to], outgoing_message_id=f"<{key}@agency.test>", raw=raw,
        on_sent=on_sent, now=when,
    )
    action = next(a for a in store.actions(kind) if a.dedupe_key == key)
    if status == "sent":
        store.mark_sent(action, when)
    elif status == "failed":
        store.mark_attempt_failed(action, "550 no such user", final=True)


def _decided(
    store: Store, mailbox: str, key: str, rule: str, when: datetime, message_id: str = ""
) -> None:
    store.record_message(
        mailbox=mailbox, folder="INBOX", message_id=message_id or f"<{key}@mail.test>",
        uid=next(_uid), received_at=when, sender=f"{key}@example.org", subject=key,
        status="decided", rule=rule, reason=f"because {rule}", now=when,
    )


def seed_week(store: Store) -> None:
    # Acme (Ann; allowance 9 a month): 4 messages in 7 days, 10 in 30 days: over both.
    a1 = _item(store, "a1", received=at(17, 9, 30), owner=ANN, client="Acme",
               subject="Contract draft", deadline=at(18, 15))
    a2 = _item(store, "a2", received=at(20, 19, 45), owner=ANN, client="Acme",
               subject=HOSTILE_SUBJECT, sender=HOSTILE_SENDER, deadline=at(23, 15),
               after_hours=True)
    a3 = _item(store, "a3", received=at(23, 8, 10), owner=ANN, client="Acme",
               subject="Wrote to Bob instead", deadline=at(24, 15), after_hours=True,
               routed_from=BOB, mailbox="bob", created=at(23, 10))
    _item(store, "a4", received=at(19, 11), owner=ANN, client="Acme", subject="Invoice 42",
          acknowledged=at(23, 11, 30))
    a5 = _item(store, "a5", received=at(7, 10), owner=ANN, client="Acme", subject="Saturday",
               after_hours=True, acknowledged=at(9, 10, 30))
    for i, day in enumerate((27, 29), start=6):
        _item(store, f"a{i}", received=at(day, 11, month=10), owner=ANN, client="Acme",
              subject=f"October {i}", acknowledged=at(day, 15, month=10))
    for i, day in enumerate((3, 5, 12), start=8):
        _item(store, f"a{i}", received=at(day, 11), owner=ANN, client="Acme",
              subject=f"November {i}", acknowledged=at(day, 15))
    _item(store, "a-old", received=at(20, 11, month=10), owner=ANN, client="Acme",
          subject="Outside the 30 days", acknowledged=at(21, 11, month=10))
    # Initech (Ann; no allowance).
    i1 = _item(store, "i1", received=at(23, 14), owner=ANN, client="Initech",
               subject="Quick question", deadline=at(25, 15))
    # Globex (Bob; allowance 30): 3 messages, 3 follow-ups; within allowance.
    b1 = _item(store, "b1", received=at(18, 10, 30), owner=BOB, client="Globex",
               subject="Where is the report?", deadline=at(19, 15))
    b2 = _item(store, "b2", received=at(23, 12), owner=BOB, client="Globex",
               subject="New request", deadline=at(24, 15))
    b3 = _item(store, "b3", received=at(20, 10), owner=BOB, client="Globex",
               subject="Thanks", acknowledged=at(20, 16))
    # An unknown sender, with the lead as triage owner.
    u1 = _item(store, "u1", received=at(23, 9, 15), owner=LEAD, client="",
               subject="Partnership?", sender="stranger@example.org", deadline=at(24, 15))

    # Follow-ups ("did you get my email?").
    for n, (root, when) in enumerate([
        (a1, at(18, 8)), (a1, at(20, 21)), (a2, at(23, 7, 50)), (a5, at(8, 12)),
        (b1, at(19, 9)), (b1, at(20, 9)), (b1, at(23, 8, 30)),
    ]):
        store.add_followup(f"<f{n}@mail.test>", root, when)

    # The ladder: only what was sent today counts as escalated today.
    _sent(store, "reminder", a1, ANN, at(18, 15, 5), step=1)
    _sent(store, "escalation", a1, LEAD, at(23, 10), step=2)
    _sent(store, "reminder", b1, BOB, at(23, 10), step=1)
    _sent(store, "reminder", a2, ANN, at(23, 17), step=1, status="pending")

    # Auto-replies: four went out today, one on Friday, one was refused.
    _sent(store, "auto_reply", a2, "x@acme.test", at(23, 10))
    _sent(store, "auto_reply", i1, "x@initech.test", at(23, 15))
    _sent(store, "auto_reply", b2, "tom@globex.test", at(23, 15))
    _sent(store, "auto_reply", u1, "stranger@example.org", at(23, 10))
    _sent(store, "auto_reply", b3, "tom@globex.test", at(20, 10))
    _sent(store, "auto_reply", a3, "x@acme.test", at(23, 10), status="failed")

    # What the policy decided today, per mailbox.
    _decided(store, "ann", "a2", "reply", at(23, 10), a2)
    _decided(store, "ann", "i1", "reply", at(23, 15), i1)
    _decided(store, "ann", "news1", "list-header", at(23, 10))
    _decided(store, "ann", "news2", "list-header", at(23, 15))
    _decided(store, "ann", "robot", "auto-submitted", at(23, 10))
    _decided(store, "ann", "colleague", "own-address", at(23, 10))
    _decided(store, "ann", "ourdigest", "our-own-mail", at(23, 10))
    _decided(store, "bob", "a3", "rate-limited", at(23, 10), a3)  # Ann's item, Bob's mailbox
    _decided(store, "bob", "b2", "reply", at(23, 15), b2)
    _decided(store, "bob", "promo", "precedence", at(23, 15))
    _decided(store, "lead", "u1", "reply", at(23, 10), u1)
    _decided(store, "lead", "bounce", "null-return-path", at(23, 10))
    _decided(store, "ann", "sunday-news", "list-header", at(22, 10))  # yesterday


EXPECTED: dict[str, dict[str, Any]] = {
    ANN: {
        "waiting": ["<a1@mail.test>", "<a2@mail.test>", "<a3@mail.test>", "<i1@mail.test>"],
        "overdue": 2, "escalated": 1, "acknowledged": 1, "routed": 1, "new_today": 2,
        "followups_today": 1, "auto_replies_sent": 2,
        "suppressed": {"list-header": 2, "auto-submitted": 1, "rate-limited": 1},
        "clients": ["Acme", "Initech"],
        "subject": "Digest for Ann Wright · Mon 23 Nov: 4 waiting, 2 overdue",
    },
    BOB: {
        "waiting": ["<b1@mail.test>", "<b2@mail.test>"],
        "overdue": 1, "escalated": 1, "acknowledged": 0, "routed": 0, "new_today": 1,
        "followups_today": 1, "auto_replies_sent": 1, "suppressed": {"precedence": 1},
        "clients": ["Globex"],
        "subject": "Digest for Bob Stone · Mon 23 Nov: 2 waiting, 1 overdue",
    },
    LEAD: {
        "waiting": ["<a1@mail.test>", "<b1@mail.test>", "<a2@mail.test>", "<a3@mail.test>",
                    "<u1@mail.test>", "<b2@mail.test>", "<i1@mail.test>"],
        "overdue": 3, "escalated": 2, "acknowledged": 1, "routed": 1, "new_today": 4,
        "followups_today": 2, "auto_replies_sent": 4,
        "suppressed": {"list-header": 2, "auto-submitted": 1, "rate-limited": 1,
                       "precedence": 1, "null-return-path": 1},
        "clients": ["Acme", "Globex", "(unassigned senders)", "Initech"],
        "subject": "Digest for Lee Lead · Mon 23 Nov: 7 waiting, 3 overdue",
    },
}

# Per client, whoever reads it: (messages 7d, 30d, follow-ups 7d, 30d, after hours 7d, 30d,
# over allowance).
CLIENT_LOAD: dict[str, tuple[int, int, int, int, int, int, bool]] = {
    "Acme": (4, 10, 3, 4, 2, 3, True),
    "Initech": (1, 1, 0, 0, 0, 0, False),
    "Globex": (3, 3, 3, 3, 0, 0, False),
    "": (1, 1, 0, 0, 0, 0, False),
}
