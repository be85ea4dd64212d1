"""`boundary-mail report` (what each client costs against its fee, by month) and
`boundary-mail costs import FILE.csv` (real hours from a time tracker)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from boundary_mail.errors import UserError

if TYPE_CHECKING:
    from boundary_mail.config import Config
    from boundary_mail.costs import CostReport, Month


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = sub.add_parser(
        "report", help="what each client costs against its fee, for a month",
        description="The monthly client report: clients ranked by cost ÷ fee, with a 12-month"
        " trend. Prints its text unless told to write or send it.",
    )
    report.add_argument("--month", metavar="YYYY-MM",
                        help="the month (default: the last full month)")
    out = report.add_mutually_exclusive_group()
    out.add_argument("--csv", metavar="FILE", help="write the figures as CSV")
    out.add_argument("--html", metavar="FILE", help="write the HTML report")
    out.add_argument("--send", action="store_true",
                     help="email it to the lead (once per month: a second --send sends nothing)")
    report.set_defaults(handler=run_report)
    costs = sub.add_parser("costs", help="the cost model's data: import hours")
    costs_sub = costs.add_subparsers(dest="costs_command", metavar="COMMAND", required=True)
    imp = costs_sub.add_parser(
        "import", help="use real hours from a time tracker's CSV export",
        description="Read a Harvest or Toggl detailed time export (or any CSV with client, date"
        " and hours columns): its hours replace the model for each client and month it holds.",
    )
    imp.add_argument("file", metavar="FILE.csv")
    costs.set_defaults(handler=run_costs)


def _month(config: Config, text: str | None) -> Month:
    from boundary_mail.costs import Month

    if text is not None:
        try:
            return Month.parse(text)
        except ValueError as exc:
            raise UserError(f"--month: {exc}") from None
    return Month.of(datetime.now(UTC), config.tz).previous()  # noqa: TID251 - the CLI's clock


def _which_hours(report: CostReport) -> str:
    imported = [f"{r.client} from {r.hours_source}" for r in report.rows if r.imported]
    if not imported:
        return "hours modelled from the mail for every client"
    return f"hours imported for {', '.join(imported)}; modelled from the mail for the others"


def run_report(config: Config, args: argparse.Namespace) -> int:
    """Print, write or send the month's client report."""
    import asyncio
    from pathlib import Path

    from boundary_mail.cli import LOCK_WAIT_SECONDS
    from boundary_mail.cost_data import cost_report, require_costs
    from boundary_mail.cost_job import rendered, send_report
    from boundary_mail.lock import holding
    from boundary_mail.store import Store

    month = _month(config, args.month)
    require_costs(config)
    store = Store(config.state_file)
    try:
        if args.send:
            with holding(config.state_dir, "sending the client report",
                         wait_seconds=LOCK_WAIT_SECONDS):
                sent = asyncio.run(send_report(config, store, month, datetime.now(UTC)))  # noqa: TID251
            print(sent.line(config.team.lead))
            print(f"sent {sent.sent}, failed {sent.failed}")
            for error in sent.errors:
                print(f"error: {error}")
            return 0 if sent.ok else 1
        report = cost_report(store, config, month)
    finally:
        store.close()
    done = rendered(config, report)
    if args.csv or args.html:
        path = Path(args.csv or args.html)
        path.write_text(done.csv if args.csv else done.html, encoding="utf-8", newline="")
        print(f"wrote {path} ({month}: {_which_hours(report)})")
    else:
        print(done.text, end="")
    return 0


def run_costs(config: Config, args: argparse.Namespace) -> int:
    """`costs import FILE.csv`: store the file's hours per client and month."""
    from pathlib import Path

    from boundary_mail.cli import LOCK_WAIT_SECONDS
    from boundary_mail.lock import holding
    from boundary_mail.store import Store
    from boundary_mail.time_import import TimeImportError, read_time_export

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot be read ({exc}); export the report as UTF-8 CSV")\
            from None
    try:
        found = read_time_export(text, source=path.name, clients=[c.name for c in config.clients])
    except TimeImportError as exc:
        raise UserError(str(exc)) from None
    print(f"{path}: {found.describe()}")
    for name, rows in sorted(found.other_clients.items()):
        print(f"  left out {rows} row(s) of {name!r}: not the name of a configured client")
    if not found.hours:
        raise UserError(f"{path}: no row is for a configured client ("
                        + ", ".join(c.name for c in config.clients)
                        + "); the names in the file's client column must match [[clients]] name")
    with holding(config.state_dir, "importing hours", wait_seconds=LOCK_WAIT_SECONDS):
        store = Store(config.state_file)
        try:
            with store.transaction():
                store.import_hours(found.hours, datetime.now(UTC))  # noqa: TID251
        finally:
            store.close()
    for h in found.hours:
        print(f"  {h.client} {h.month}: {h.hours.normalize():f} h; the report uses these"
              " instead of the model")
    return 0
