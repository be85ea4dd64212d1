"""What each client costs against what it pays: the month's figures per client.

Pure core: `CostFacts` (what the state recorded, read by `cost_data`), the configuration and a
month go in; a `CostReport` comes out. Money is `Decimal` throughout; nothing is rounded
until it is shown, except the figures below that say so.

The rules
---------
Which client
    Every address is matched as routing matches it (`directory.Directory`: exact address,
    then the most specific domain), with today's configuration, so an agreement changed in
    the config changes the report the same way it changes routing. Unassigned senders belong
    to no client and are not reported.
What counts
    *Messages*: tracked messages from people (the tracker never tracks lists, robots,
    bounces, our own auto-replies or digests), by the local month they arrived in.
    *Follow-ups*: messages in the thread of an open item ("did you get my email?"), counted
    for the client of that item. *After hours*: tracked messages that arrived outside
    business hours (an extra on top of the message). *Replies*: messages a team member sent
    to the client, found in a monitored Sent folder (our own mail never counts), once per
    client among the recipients. *Nudges*: reminders we sent the client when we waited on
    them (issue 16), as counted by the caller.
Hours
    minutes = messages × minutes_per_message + follow-ups × minutes_per_followup
    + after-hours × minutes_per_after_hours + replies × minutes_per_reply
    + nudges × minutes_per_nudge (a client's own minutes where it sets them); hours =
    minutes / 60. Hours imported from a time tracker for that client and month replace the
    model (`hours_source` says which was used).
Money
    cost = hours × hourly_rate; effective hourly rate = fee / hours; cost ÷ fee; share of
    revenue = fee / the month's total fees. Shown rounded to cents (ROUND_HALF_UP).
Flags
    *Costs more than it pays*: cost > fee. *Over allowance*: more messages than the monthly
    allowance (the digest's rule). *Over the revenue share*: fee > max_revenue_share_percent
    of the month's revenue (one client the business depends on).
When
    The report of a month is due from the first business day of the next month on (a
    service that was down that day sends it the next business day it runs); it is sent
    once (its dedupe key names the month).
Ranking
    By cost ÷ fee, highest first; a client that pays nothing but costs something comes
    before all; a client without a configured fee comes last.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from boundary_mail.config import ClientConfig, Config
from boundary_mail.digest_data import over_allowance
from boundary_mail.directory import Directory

TREND_MONTHS = 12
CENT = Decimal("0.01")
MODEL = "model"


@dataclass(frozen=True, slots=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """'2026-11' → Month(2026, 11); ValueError names the form expected."""
        try:
            year, month = (int(part) for part in text.strip().split("-"))
            date(year, month, 1)
        except ValueError:
            raise ValueError(f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-11")\
                from None
        return cls(year, month)

    @classmethod
    def of(cls, moment: datetime | date, tz: tzinfo | None = None) -> Month:
        day = moment.astimezone(tz).date() if isinstance(moment, datetime) else moment
        return cls(day.year, day.month)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def following(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def back(self, months: int) -> Month:
        month = self
        for _ in range(months):
            month = month.previous()
        return month

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


# -- what the state recorded ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Inbound:
    """A tracked message from a person."""

    sender: str
    received_at: datetime
    after_hours: bool = False


@dataclass(frozen=True, slots=True)
class Followup:
    sender: str  # the sender of the item it follows up
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Reply:
    """A team member's message in a Sent folder, to these (non-team) recipients."""

    recipients: tuple[str, ...]
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Nudge:
    recipient: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class ImportedHours:
    """Hours from a time tracker for a client's month; they replace the model."""

    client: str
    month: Month
    hours: Decimal
    source: str  # the file they came from


@dataclass(frozen=True, slots=True)
class CostFacts:
    inbound: tuple[Inbound, ...] = ()
    followups: tuple[Followup, ...] = ()
    replies: tuple[Reply, ...] = ()
    nudges: tuple[Nudge, ...] = ()
    imported: tuple[ImportedHours, ...] = ()


# -- the figures ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Counts:
    messages: int = 0
    followups: int = 0
    after_hours: int = 0
    replies: int = 0
    nudges: int = 0


@dataclass(frozen=True, slots=True)
class ClientMonth:
    client: str
    month: Month
    counts: Counts
    hours: Decimal
    hours_source: str  # MODEL, or the file the imported hours came from
    cost: Decimal
    fee: Decimal | None  # None: no monthly_fee configured
    revenue_share: Decimal | None  # percent of the month's fees
    over_allowance: bool
    over_share: bool

    @property
    def imported(self) -> bool:
        return self.hours_source != MODEL

    @property
    def effective_rate(self) -> Decimal | None:
        """What an hour of work for this client earns: fee / hours."""
        if self.fee is None or not self.hours:
            return None
        return self.fee / self.hours

    @property
    def cost_ratio(self) -> Decimal | None:
        """cost ÷ fee (1 means the client costs exactly what it pays)."""
        if self.fee is None or not self.fee:
            return None
        return self.cost / self.fee

    @property
    def costs_more_than_it_pays(self) -> bool:
        return self.fee is not None and self.cost > self.fee

    @property
    def rank_key(self) -> tuple[int, Decimal, str]:
        if self.fee is None:
            return (2, Decimal(0), self.client)
        ratio = self.cost_ratio
        if ratio is None:  # a fee of 0
            return (0 if self.cost else 1, Decimal(0), self.client)
        return (1, -ratio, self.client)


@dataclass(frozen=True, slots=True)
class CostReport:
    month: Month
    months: tuple[Month, ...]  # the trend's months, oldest first, ending with `month`
    rows: tuple[ClientMonth, ...]  # this month, ranked
    trend: dict[str, tuple[ClientMonth, ...]]  # per client, one per month of `months`
    hourly_rate: Decimal
    currency: str
    max_share_percent: int

    @property
    def total_fees(self) -> Decimal:
        return sum((r.fee for r in self.rows if r.fee is not None), Decimal(0))

    @property
    def total_cost(self) -> Decimal:
        return sum((r.cost for r in self.rows), Decimal(0))

    @property
    def total_hours(self) -> Decimal:
        return sum((r.hours for r in self.rows), Decimal(0))

    @property
    def empty(self) -> bool:
        """Nothing recorded in the month for any client."""
        return not any(r.counts != Counts() or r.imported for r in self.rows)

    @property
    def dedupe_key(self) -> str:
        """One report per month, whatever restarts in between."""
        return f"client-report:{self.month}"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def count_events(config: Config, facts: CostFacts) -> dict[tuple[str, Month], Counts]:
    """Per (client, local month): the events of each kind, clients matched as routing does."""
    tz, directory = config.tz, Directory(config)

    def client_of(address: str) -> str | None:
        match = directory.match(address).client
        return match.name if match is not None else None

    tallies: dict[str, Counter[tuple[str, Month]]] = {
        kind: Counter() for kind in ("messages", "followups", "after_hours", "replies", "nudges")
    }

    def add(kind: str, clients: Iterable[str | None], moment: datetime) -> None:
        for client in set(clients):
            if client is not None:
                tallies[kind][(client, Month.of(moment, tz))] += 1

    for m in facts.inbound:
        add("messages", [client_of(m.sender)], m.received_at)
        if m.after_hours:
            add("after_hours", [client_of(m.sender)], m.received_at)
    for f in facts.followups:
        add("followups", [client_of(f.sender)], f.received_at)
    for r in facts.replies:
        add("replies", [client_of(a) for a in r.recipients], r.sent_at)
    for n in facts.nudges:
        add("nudges", [client_of(n.recipient)], n.sent_at)
    keys = {key for tally in tallies.values() for key in tally}
    return {key: Counts(**{kind: tally[key] for kind, tally in tallies.items()})
            for key in keys}


def modelled_hours(counts: Counts, minutes: dict[str, Decimal]) -> Decimal:
    total = (
        counts.messages * minutes["minutes_per_message"]
        + counts.followups * minutes["minutes_per_followup"]
        + counts.after_hours * minutes["minutes_per_after_hours"]
        + counts.replies * minutes["minutes_per_reply"]
        + counts.nudges * minutes["minutes_per_nudge"]
    )
    return total / 60


def client_month(
    config: Config, client: ClientConfig, month: Month, counts: Counts,
    imported: ImportedHours | None, total_fees: Decimal,
) -> ClientMonth:
    rate = config.costs.hourly_rate or Decimal(0)
    if imported is not None:
        hours, source = imported.hours, imported.source
    else:
        hours, source = modelled_hours(counts, config.costs.minutes_for(client.costs)), MODEL
    fee = client.monthly_fee
    share = fee * 100 / total_fees if fee is not None and total_fees else None
    return ClientMonth(
        client=client.name, month=month, counts=counts, hours=hours, hours_source=source,
        cost=hours * rate, fee=fee, revenue_share=share,
        over_allowance=over_allowance(counts.messages, client.monthly_allowance),
        over_share=share is not None and share > config.costs.max_revenue_share_percent,
    )


def build_cost_report(config: Config, facts: CostFacts, month: Month) -> CostReport:
    """The month's figures per configured client, ranked, with each client's 12-month trend."""
    counts = count_events(config, facts)
    imported = {(h.client, h.month): h for h in facts.imported}
    months = tuple(month.back(n) for n in range(TREND_MONTHS - 1, -1, -1))
    total_fees = sum((c.monthly_fee for c in config.clients if c.monthly_fee is not None),
                     Decimal(0))
    trend = {
        c.name: tuple(
            client_month(config, c, m, counts.get((c.name, m), Counts()),
                         imported.get((c.name, m)), total_fees)
            for m in months
        )
        for c in config.clients
    }
    rows = sorted((t[-1] for t in trend.values()), key=lambda r: r.rank_key)
    return CostReport(
        month=month, months=months, rows=tuple(rows), trend=trend,
        hourly_rate=config.costs.hourly_rate or Decimal(0), currency=config.costs.currency,
        max_share_percent=config.costs.max_revenue_share_percent,
    )


def report_due(today: date, is_business_day: Callable[[date], bool]) -> Month | None:
    """The month whose report is due on `today`: the previous one, from the first business
    day of this month on; None before that day."""
    first = today.replace(day=1)
    while not is_business_day(first):
        first += timedelta(days=1)
        if first > today:
            return None
    return Month.of(today).previous()
