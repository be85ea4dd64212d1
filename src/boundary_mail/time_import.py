"""Reading a time tracker's CSV export: real hours per client and month for the cost report.

Pure: the file's text in, hours per (client, month) out, with what was read and what was
not. The columns are found by their names, as the trackers write them:

- Harvest (detailed time report): ``Client``, ``Date`` (YYYY-MM-DD), ``Hours`` (decimal).
- Toggl Track (detailed report): ``Client``, ``Start date`` (YYYY-MM-DD), ``Duration``
  (H:MM:SS), or ``Duration (h)`` / ``Hours`` in decimal.
- Anything else with ``client``, ``date`` and ``hours`` columns.

Client names match the configured ``[[clients]]`` names, ignoring case; rows of other
clients (internal work, say) are counted and left out. A row whose date or hours cannot be
read fails the whole import, naming its line: half an import would be wrong without a trace.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from boundary_mail.costs import ImportedHours, Month

CLIENT_COLUMNS = ("client", "customer", "client name")
DATE_COLUMNS = ("date", "start date", "spent date", "day")
HOURS_COLUMNS = ("hours", "duration (h)", "duration (decimal)", "duration")


class TimeImportError(ValueError):
    """The file cannot be read as a time export; the message says why and the fix."""


@dataclass(frozen=True, slots=True)
class TimeImport:
    kind: str  # "Harvest", "Toggl" or "CSV"
    columns: tuple[str, str, str]  # the client, date and hours columns, as the file names them
    rows: int  # rows read
    hours: tuple[ImportedHours, ...]  # per configured client and month
    other_clients: dict[str, int]  # rows of names that are no configured client

    def describe(self) -> str:
        client, day, hours = self.columns
        return (f"read {self.rows} row(s) as a {self.kind} export (columns {client!r},"
                f" {day!r}, {hours!r})")


def _find(header: list[str], names: Iterable[str]) -> str | None:
    lowered = {h.strip().lower(): h for h in header}
    return next((lowered[n] for n in names if n in lowered), None)


def _kind(header: list[str]) -> str:
    names = {h.strip().lower() for h in header}
    if "start date" in names and ({"duration", "duration (h)"} & names):
        return "Toggl"
    if {"client", "date", "hours"} <= names and ({"project", "task"} & names):
        return "Harvest"
    return "CSV"


def parse_hours(text: str) -> Decimal:
    """'1.5', '1,5' (a decimal comma), '1:30' or '01:30:00' → 1.5; ValueError otherwise."""
    value = text.strip()
    if ":" in value:
        parts = [int(p) for p in value.split(":")]
        if len(parts) not in (2, 3) or any(p < 0 for p in parts):
            raise ValueError(value)
        seconds = parts[0] * 3600 + parts[1] * 60 + (parts[2] if len(parts) == 3 else 0)
        return Decimal(seconds) / 3600
    if "," in value and "." not in value:
        value = value.replace(",", ".")
    try:
        hours = Decimal(value.replace(",", ""))
    except InvalidOperation:
        raise ValueError(value) from None
    if not hours.is_finite() or hours < 0:
        raise ValueError(value)
    return hours


def parse_day(text: str) -> date:
    """YYYY-MM-DD (Harvest, Toggl), or DD.MM.YYYY; a time after the date is ignored."""
    value = text.strip().split(" ")[0].split("T")[0]
    for form in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(value, form).date()
        except ValueError:
            continue
    raise ValueError(value)


def read_time_export(text: str, *, source: str, clients: Iterable[str]) -> TimeImport:
    """Hours per configured client and month from a tracker's CSV export."""
    text = text.removeprefix("\ufeff")
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise TimeImportError(f"{source}: the file is empty; export a detailed time report")
    found = (_find(header, CLIENT_COLUMNS), _find(header, DATE_COLUMNS),
             _find(header, HOURS_COLUMNS))
    if None in found:
        missing = [w for w, c in zip(("client", "date", "hours"), found, strict=True) if c is None]
        raise TimeImportError(
            f"{source}: no {' and no '.join(missing)} column among {', '.join(header)}; export"
            " a detailed time report (Harvest: Client, Date, Hours; Toggl: Client, Start date,"
            " Duration) or name the columns client, date, hours"
        )
    client_col, date_col, hours_col = (header.index(c) for c in found if c is not None)
    names = {c.lower(): c for c in clients}
    totals: dict[tuple[str, Month], Decimal] = {}
    others: Counter[str] = Counter()
    bad: list[str] = []
    rows = 0
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        rows += 1
        cells = row + [""] * (len(header) - len(row))
        try:
            day = parse_day(cells[date_col])
            hours = parse_hours(cells[hours_col])
        except ValueError:
            bad.append(f"line {line}: date {cells[date_col]!r}, hours {cells[hours_col]!r}")
            continue
        client = names.get(cells[client_col].strip().lower())
        if client is None:
            others[cells[client_col].strip() or "(no client)"] += 1
            continue
        key = (client, Month.of(day))
        totals[key] = totals.get(key, Decimal(0)) + hours
    if bad:
        shown = "; ".join(bad[:5]) + (f"; and {len(bad) - 5} more" if len(bad) > 5 else "")
        raise TimeImportError(
            f"{source}: {len(bad)} row(s) cannot be read, nothing was imported: {shown}; dates"
            " must be YYYY-MM-DD (or DD.MM.YYYY), hours decimal (1.5) or H:MM:SS"
        )
    return TimeImport(
        kind=_kind(header), columns=(found[0] or "", found[1] or "", found[2] or ""),
        rows=rows,
        hours=tuple(ImportedHours(c, m, h, source) for (c, m), h in sorted(totals.items())),
        other_clients=dict(others),
    )
