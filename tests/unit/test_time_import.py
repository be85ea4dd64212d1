"""Reading a time tracker's export: which columns, which clients, which months, and a file
that cannot be read imports nothing and says which lines."""

from __future__ import annotations

from decimal import Decimal

import pytest

from boundary_mail.costs import ImportedHours, Month
from boundary_mail.time_import import TimeImportError, parse_hours, read_time_export

CLIENTS = ("Acme", "Globex")
NOV, OCT = Month(2026, 11), Month(2026, 10)

HARVEST = (
    "\ufeffDate,Client,Project,Project Code,Task,Notes,Hours,Hours Rounded,Billable?,First Name\n"
    "2026-11-03,Acme,Web,,Design,Mockups,2.5,2.5,Yes,Ann\n"
    "2026-11-04,acme,Web,,Design,\"Calls, more calls\",1.25,1.25,Yes,Ann\n"
    "2026-10-31,Acme,Web,,Design,,1,1,Yes,Ann\n"
    "2026-11-04,Our Agency,Admin,,Taxes,,3,3,No,Ann\n"
    "\n"
)
TOGGL = (
    "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,"
    "End time,Duration,Tags\n"
    "Bob,bob@agency.test,Globex,Site,,Call,Yes,2026-11-04,10:00:00,2026-11-04,11:30:00,"
    "01:30:00,\n"
    "Bob,bob@agency.test,Globex,Site,,Fix,Yes,2026-11-05,10:00:00,2026-11-05,10:20:00,"
    "00:20:00,\n"
)


def test_a_harvest_export_gives_hours_per_client_and_month() -> None:
    found = read_time_export(HARVEST, source="harvest.csv", clients=CLIENTS)
    assert (found.kind, found.columns, found.rows) == ("Harvest", ("Client", "Date", "Hours"), 4)
    assert found.hours == (
        ImportedHours("Acme", OCT, Decimal(1), "harvest.csv"),
        ImportedHours("Acme", NOV, Decimal("3.75"), "harvest.csv"),
    )
    assert found.other_clients == {"Our Agency": 1}
    assert found.describe() == ("read 4 row(s) as a Harvest export (columns 'Client', 'Date',"
                                " 'Hours')")


def test_a_toggl_export_reads_its_durations() -> None:
    found = read_time_export(TOGGL, source="toggl.csv", clients=CLIENTS)
    assert (found.kind, found.columns) == ("Toggl", ("Client", "Start date", "Duration"))
    (globex,) = found.hours
    assert (globex.client, globex.month) == ("Globex", NOV)
    assert globex.hours * 60 == 110


def test_any_csv_with_client_date_hours_columns_and_semicolons() -> None:
    found = read_time_export("client;date;hours\nGlobex;03.11.2026;1,5\n", source="x.csv",
                             clients=CLIENTS)
    assert found.kind == "CSV"
    assert found.hours == (ImportedHours("Globex", NOV, Decimal("1.5"), "x.csv"),)


def test_missing_columns_are_named_with_the_fix() -> None:
    with pytest.raises(TimeImportError, match="no hours column among Client, Date; export"):
        read_time_export("Client,Date\nAcme,2026-11-03\n", source="x.csv", clients=CLIENTS)


def test_a_row_that_cannot_be_read_imports_nothing_and_names_its_line() -> None:
    text = "Client,Date,Hours\nAcme,2026-11-03,2\nAcme,11/03/2026,2\nAcme,2026-11-05,two\n"
    with pytest.raises(TimeImportError, match=r"2 row\(s\) cannot be read, nothing was"
                       r" imported: line 3: date '11/03/2026'.*line 4:"):
        read_time_export(text, source="x.csv", clients=CLIENTS)


@pytest.mark.parametrize(("text", "hours"), [
    ("1.5", Decimal("1.5")), ("1,5", Decimal("1.5")), ("1:30", Decimal("1.5")),
    ("01:30:00", Decimal("1.5")), ("1,234.5", Decimal("1234.5")),
])
def test_hours_in_the_forms_trackers_write(text: str, hours: Decimal) -> None:
    assert parse_hours(text) == hours


@pytest.mark.parametrize("text", ["-1", "x", "1:xx", "nan"])
def test_hours_that_are_none(text: str) -> None:
    with pytest.raises(ValueError):
        parse_hours(text)
