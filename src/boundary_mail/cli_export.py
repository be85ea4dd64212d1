"""`boundary-mail export`: a client's mail as an mbox with an index, for the hand-off."""

from __future__ import annotations

import argparse
from datetime import date
from typing import TYPE_CHECKING

from boundary_mail.errors import UserError

if TYPE_CHECKING:
    from boundary_mail.config import Config


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = sub.add_parser(
        "export", help="write every message from or to a client as an mbox with an index",
        description="Search every monitored mailbox and every folder (read-only) for mail from"
        " or to the client (its addresses and domains, matched as routing matches them), and"
        " write each message once, byte for byte, to CLIENT.mbox (mboxrd), with index.html and"
        " index.csv. PATH is a directory, or a zip file when it ends in .zip. Interrupted or"
        " failed, the same command resumes.",
    )
    export.add_argument("--client", required=True, metavar="NAME",
                        help="the client's name as in [[clients]] (case-insensitive)")
    export.add_argument("--since", metavar="DATE",
                        help="only mail that arrived on or after this day (YYYY-MM-DD)")
    export.add_argument("--out", required=True, metavar="PATH",
                        help="where to write: a directory, or a file ending in .zip")
    export.add_argument(
        "--allow-incomplete", action="store_true",
        help="when a mailbox or folder cannot be read, write the export anyway, marked"
        " INCOMPLETE (the exit status is still 1)",
    )
    progress = export.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None,
                          help="show a progress bar (default: when stderr is a terminal)")
    progress.add_argument("--no-progress", dest="progress", action="store_false",
                          help="no progress bar, only a few log lines")
    export.set_defaults(handler=run)


def run(config: Config, args: argparse.Namespace) -> int:
    """Export the client's mail; 0 when complete, 1 when something could not be read."""
    import sys
    from datetime import UTC, datetime
    from pathlib import Path

    from boundary_mail.export import ExportRequest, run_export
    from boundary_mail.export_select import find_client

    client = find_client(config, args.client)
    if client is None:
        names = ", ".join(c.name for c in config.clients) or "none are configured"
        raise UserError(f"--client {args.client!r}: no such client; the clients are: {names}")
    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise UserError(f"--since {args.since!r} is not a day; write e.g. 2026-01-31") from None
    progress = sys.stderr.isatty() if args.progress is None else args.progress
    request = ExportRequest(client=client, out=Path(args.out), since=since,
                            allow_incomplete=args.allow_incomplete)
    now = datetime.now(UTC)  # noqa: TID251 - the CLI is where the clock is read
    result = run_export(config, request, now, progress=progress)
    fresh = result.written - result.resumed
    copies = "1 copy" if result.copies == 1 else f"{result.copies} copies"
    print(f"exported {result.written} message(s) of {client.name} to {result.out}"
          f" ({copies} in {result.folders} folders; {fresh} fetched now"
          + (f", {result.resumed} kept from the interrupted run" if result.resumed else "")
          + ")")
    if not result.complete:
        print(f"warning: the export is INCOMPLETE ({len(result.problems)} problem(s)):",
              file=sys.stderr)
        for problem in result.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    return 0
