"""Writing the monthly client report: plain text, HTML (CSS inlined, nothing remote, the
12-month trend as inline SVG beside a table of the same numbers) and the CSV.

Pure, like `digest_render`, whose inliner it shares: money in the configured currency and
locale (Babel), every name from the configuration or from mail escaped by Jinja or `chart`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jinja2
from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from markupsafe import Markup

from boundary_mail.chart import LimitSeries, limit_chart_svg, sparkline
from boundary_mail.config import Config
from boundary_mail.costs import ClientMonth, CostReport, Month, cents
from boundary_mail.digest_render import INLINER
from boundary_mail.templates import render

CSV_COLUMNS = (
    "month", "client", "messages", "followups", "after_hours", "replies", "nudges", "hours",
    "hours_source", "cost", "fee", "effective_hourly_rate", "cost_per_fee",
    "revenue_share_percent", "costs_more_than_it_pays", "over_allowance",
    "over_revenue_share", "currency",
)


@dataclass(frozen=True, slots=True)
class RenderedReport:
    month: Month
    subject: str
    text: str
    html: str
    csv: str

    @property
    def csv_name(self) -> str:
        return f"client-report-{self.month}.csv"


def _formatters(config: Config, currency: str) -> dict[str, Callable[..., str]]:
    locale = config.default_language

    def money(value: Decimal | None) -> str:
        return "—" if value is None else format_currency(cents(value), currency, locale=locale)

    def number(value: Decimal | None, places: int = 2) -> str:
        if value is None:
            return "—"
        pattern = "#,##0." + "0" * places if places else "#,##0"
        return format_decimal(value, pattern, locale=locale)

    def percent(value: Decimal | None) -> str:
        return "—" if value is None else f"{number(value, 1)} %"

    def month_name(month: Month, short: bool = False) -> str:
        return format_date(month.first_day, "MMM yy" if short else "MMMM y", locale=locale)

    def pad(value: object, width: int) -> str:
        shown = str(value)
        shown = shown if len(shown) < width else shown[: width - 2] + "…"
        return shown.ljust(width)

    return {"money": money, "number": number, "percent": percent, "month_name": month_name,
            "pad": pad, "rpad": lambda value, width: str(value).rjust(width)}


def subject_of(report: CostReport, config: Config) -> str:
    losing = sum(r.costs_more_than_it_pays for r in report.rows)
    if losing == 1:
        summary = "1 client costs more than it pays"
    elif losing:
        summary = f"{losing} clients cost more than they pay"
    else:
        summary = "no client costs more than it pays"
    month = format_date(report.month.first_day, "MMMM y", locale=config.default_language)
    return f"Client report for {month}: {summary}"


def trend_chart_svg(report: CostReport, config: Config) -> str:
    """Each client's monthly cost against its fee (dashed), last 12 months."""
    f = _formatters(config, report.currency)
    labels = [f["month_name"](m, True) if i % 3 == 2 else ""
              for i, m in enumerate(report.months)]
    series = [
        LimitSeries(
            label=row.client,
            values=[float(m.cost) for m in report.trend[row.client]],
            limit=None if row.fee is None else float(row.fee),
            tips=[f"{row.client} · {f['month_name'](m.month)}: cost {f['money'](m.cost)},"
                  f" fee {f['money'](m.fee)}, {f['number'](m.hours)} h"
                  for m in report.trend[row.client]],
            note=f"fee {f['money'](row.fee)}",
        )
        for row in report.rows
    ]
    return limit_chart_svg(series, labels, title="Cost per month against the fee, last 12"
                           " months", legend=("cost", "cost over the fee", "fee"))


def report_csv(report: CostReport) -> str:
    """Every client's last 12 months, one row each, numbers as plain decimals."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        for m in report.trend[row.client]:
            writer.writerow(_csv_row(m, report.currency))
    return out.getvalue()


def _csv_row(m: ClientMonth, currency: str) -> list[str]:
    def plain(value: Decimal | None) -> str:
        return "" if value is None else str(cents(value))

    return [
        str(m.month), m.client, str(m.counts.messages), str(m.counts.followups),
        str(m.counts.after_hours), str(m.counts.replies), str(m.counts.nudges), plain(m.hours),
        m.hours_source, plain(m.cost), plain(m.fee), plain(m.effective_rate),
        plain(m.cost_ratio), plain(m.revenue_share), str(m.costs_more_than_it_pays).lower(),
        str(m.over_allowance).lower(), str(m.over_share).lower(), currency,
    ]


def render_report(env: jinja2.Environment, report: CostReport, config: Config) -> RenderedReport:
    """Plain text, HTML (CSS inlined; nothing remote) and CSV of one month's report."""
    formatters = _formatters(config, report.currency)
    peak = max((float(m.cost) for t in report.trend.values() for m in t), default=0.0)
    context: dict[str, Any] = {
        "report": report,
        "subject": subject_of(report, config),
        "team_name": config.smtp.from_name,
        "sparklines": {
            client: sparkline([round(float(m.cost)) for m in months], round(peak) or None)
            for client, months in report.trend.items()
        },
        **formatters,
    }
    text = render(env, "cost_report.txt.j2", **context)
    html = render(
        env, "cost_report.html.j2", **context,
        chart=Markup(trend_chart_svg(report, config)),  # noqa: S704 - built and escaped by chart.py
    )
    return RenderedReport(report.month, context["subject"], text, INLINER.inline(html),
                          report_csv(report))
