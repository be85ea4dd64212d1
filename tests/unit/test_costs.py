"""The cost arithmetic, pinned on a month computed by hand.

November 2026, Berlin, hourly rate 80 EUR, the default minutes (message 6, follow-up 4, after
hours 5, reply 12, nudge 3):

| client  | fee  | msgs | fu | after | replies | nudges | minutes           | hours | cost |
| Acme    | 300  | 10   | 6  | 3     | 13      | 5      | 60+24+15+156+15   | 4.5   | 360  |
| Globex  | 2000 | 5    | 0  | 0     | 3 (×30) | 0      | 30+90             | 2     | 160  |
| Initech | 700  | 1    | 0  | 0     | 0       | 0      | imported: 7 h     | 7     | 560  |
| Labs    | —    | 2    | 0  | 0     | 0       | 0      | 12                | 0.2   | 16   |

Effective hourly rate (fee / hours): Acme 66.67, Globex 1000, Initech 100, Labs none.
Cost ÷ fee: Acme 1.2, Initech 0.8, Globex 0.08. Share of the 3000 of fees: Acme 10 %,
Globex 66.67 %, Initech 23.33 %.

Ranked by cost ÷ fee: Acme, Initech, Globex, then Labs (no fee). Acme costs more than it pays
and is over its allowance of 9; Globex is over 40 % of revenue.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from boundary_mail.config import Config
from boundary_mail.costs import (
    MODEL,
    CostFacts,
    Counts,
    Followup,
    ImportedHours,
    Inbound,
    Month,
    Nudge,
    Reply,
    build_cost_report,
    cents,
    report_due,
)

BERLIN = ZoneInfo("Europe/Berlin")
NOV = Month(2026, 11)


def config(**costs: Any) -> Config:
    return Config(
        timezone="Europe/Berlin",
        smtp={"host": "localhost", "from_address": "assistant@agency.test"},
        mailboxes=[{"name": "ann", "host": "localhost", "owner": "ann@agency.test"}],
        team={"lead": "ann@agency.test",
              "members": [{"name": "Ann", "address": "ann@agency.test"}]},
        costs={"hourly_rate": 80, "currency": "EUR", **costs},
        clients=[
            {"name": "Acme", "domains": ["acme.test"], "account_manager": "ann@agency.test",
             "monthly_fee": 300, "monthly_allowance": 9},
            {"name": "Globex", "addresses": ["tom@globex.test"],
             "account_manager": "ann@agency.test", "monthly_fee": "2000.00",
             "costs": {"minutes_per_reply": 30}},
            {"name": "Initech", "domains": ["initech.test"], "account_manager": "ann@agency.test",
             "monthly_fee": 700},
            {"name": "Labs", "domains": ["labs.initech.test"],
             "account_manager": "ann@agency.test"},
        ],
    )


def at(day: int, hour: int = 11, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=BERLIN)


def month_facts() -> CostFacts:
    acme = [Inbound(f"p{i}@acme.test", at(2 + i), after_hours=i < 3) for i in range(9)]
    # The last minutes of November in Berlin are still November (22:30 UTC).
    acme.append(Inbound("maria@acme.test", at(30, 23)))
    return CostFacts(
        inbound=(
            *acme,
            *(Inbound("tom@globex.test", at(3 + i)) for i in range(5)),
            Inbound("joe@initech.test", at(4)),
            # The most specific domain wins, as in routing: these are Labs', not Initech's.
            Inbound("a@labs.initech.test", at(5)), Inbound("b@mail.labs.initech.test", at(6)),
            # Not November: 1 December 00:30 in Berlin is 30 November 23:30 UTC.
            Inbound("maria@acme.test", datetime(2026, 12, 1, 0, 30, tzinfo=BERLIN)),
            Inbound("maria@acme.test", at(20, month=10), after_hours=True),
            # Nobody's client: not counted for anyone.
            Inbound("stranger@example.com", at(9)),
        ),
        followups=tuple(Followup("maria@acme.test", at(10 + i)) for i in range(6)),
        replies=(
            # Two Acme recipients in one reply: one reply to Acme.
            Reply(("maria@acme.test", "boss@acme.test"), at(3)),
            *(Reply(("maria@acme.test",), at(4 + i)) for i in range(12)),
            *(Reply(("tom@globex.test",), at(5 + i)) for i in range(3)),
            Reply(("stranger@example.com",), at(5)),
        ),
        nudges=tuple(Nudge("maria@acme.test", at(15 + i)) for i in range(5)),
        imported=(ImportedHours("Initech", NOV, Decimal(7), "harvest.csv"),),
    )


def test_the_hand_computed_month() -> None:
    report = build_cost_report(config(), month_facts(), NOV)
    rows = {r.client: r for r in report.rows}
    assert [r.client for r in report.rows] == ["Acme", "Initech", "Globex", "Labs"]

    acme = rows["Acme"]
    assert acme.counts == Counts(messages=10, followups=6, after_hours=3, replies=13, nudges=5)
    assert (acme.hours, acme.hours_source, acme.cost, acme.fee) == (
        Decimal("4.5"), MODEL, Decimal("360"), Decimal(300))
    assert cents(acme.effective_rate or Decimal(0)) == Decimal("66.67")
    assert acme.cost_ratio == Decimal("1.2")
    assert cents(acme.revenue_share or Decimal(0)) == Decimal("10.00")
    assert acme.costs_more_than_it_pays and acme.over_allowance and not acme.over_share

    globex = rows["Globex"]
    assert globex.counts == Counts(messages=5, replies=3)
    assert (globex.hours, globex.cost, globex.effective_rate) == (
        Decimal(2), Decimal(160), Decimal(1000))
    assert globex.cost_ratio == Decimal("0.08")
    assert cents(globex.revenue_share or Decimal(0)) == Decimal("66.67")
    assert globex.over_share and not globex.costs_more_than_it_pays

    initech = rows["Initech"]
    assert initech.counts == Counts(messages=1)
    assert (initech.hours, initech.hours_source, initech.cost) == (
        Decimal(7), "harvest.csv", Decimal(560))
    assert initech.imported and initech.effective_rate == Decimal(100)
    assert initech.cost_ratio == Decimal("0.8")

    labs = rows["Labs"]
    assert labs.counts == Counts(messages=2)
    assert (labs.hours, labs.cost, labs.fee, labs.cost_ratio, labs.effective_rate) == (
        Decimal("0.2"), Decimal(16), None, None, None)
    assert not labs.costs_more_than_it_pays and labs.revenue_share is None

    assert report.total_fees == Decimal(3000)
    assert report.total_cost == Decimal(1096)


def test_the_trend_holds_twelve_months_ending_with_the_month() -> None:
    report = build_cost_report(config(), month_facts(), NOV)
    assert report.months[0] == Month(2025, 12) and report.months[-1] == NOV
    acme = report.trend["Acme"]
    assert len(acme) == 12 and acme[-1] == report.rows[0]
    assert acme[-2].counts == Counts(messages=1, after_hours=1)  # October
    assert acme[-2].hours == Decimal(11) / 60
    assert build_cost_report(config(), month_facts(), Month(2026, 12)).trend["Acme"][-1] \
        .counts == Counts(messages=1)


def test_a_client_that_pays_nothing_but_costs_ranks_first() -> None:
    data = config().model_dump()
    data["clients"][3]["monthly_fee"] = 0
    report = build_cost_report(Config(**data), month_facts(), NOV)
    assert report.rows[0].client == "Labs" and report.rows[0].costs_more_than_it_pays


def test_the_revenue_share_limit_is_configurable() -> None:
    report = build_cost_report(config(max_revenue_share_percent=70), month_facts(), NOV)
    assert not any(r.over_share for r in report.rows)


def test_an_empty_month_is_empty() -> None:
    report = build_cost_report(config(), CostFacts(), NOV)
    assert report.empty and all(r.cost == 0 for r in report.rows)
    assert not build_cost_report(config(), month_facts(), NOV).empty
    assert report.dedupe_key == "client-report:2026-11"


@pytest.mark.parametrize(("text", "month"), [("2026-11", NOV), (" 2027-01 ", Month(2027, 1))])
def test_a_month_is_written_yyyy_mm(text: str, month: Month) -> None:
    assert Month.parse(text) == month
    assert str(month) == text.strip()


@pytest.mark.parametrize("text", ["2026-13", "11/2026", "2026", ""])
def test_a_month_that_is_not_one_says_the_form(text: str) -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        Month.parse(text)


def test_month_arithmetic_crosses_years() -> None:
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert NOV.back(12) == Month(2025, 11)
    assert Month.of(datetime(2026, 11, 30, 23, 30, tzinfo=BERLIN) + timedelta(hours=1),
                    BERLIN) == Month(2026, 12)


def _workdays(day: date) -> bool:
    return day.weekday() < 5 and day != date(2026, 6, 1)  # 1 June: a holiday, say


@pytest.mark.parametrize(("today", "due"), [
    (date(2026, 12, 1), Month(2026, 11)),  # Tuesday: the first business day of December
    (date(2026, 12, 15), Month(2026, 11)),  # later in the month: caught up if not sent
    (date(2026, 11, 1), None),  # Sunday 1 November: October's is due on Monday the 2nd
    (date(2026, 11, 2), Month(2026, 10)),
    (date(2026, 6, 1), None),  # a holiday: June's first business day is the 2nd
    (date(2026, 6, 2), Month(2026, 5)),
    (date(2027, 1, 1), Month(2026, 12)),  # a Friday (no holidays in this calendar)
])
def test_a_months_report_is_due_from_the_first_business_day_of_the_next(
    today: date, due: Month | None
) -> None:
    assert report_due(today, _workdays) == due


def test_fees_without_an_hourly_rate_are_warned_of_once() -> None:
    from boundary_mail.config_warnings import config_warnings

    data = config().model_dump()
    data.pop("locale")  # the old name of language: set, it is warned of too
    data["costs"]["hourly_rate"] = None
    warnings = config_warnings(Config(**data))
    assert warnings == [
        "clients[0].monthly_fee: set, but costs.hourly_rate is not, so no client report is made"
        " (`boundary-mail report` refuses, none is emailed); set [costs] hourly_rate"
    ]
    assert config_warnings(config()) == []
