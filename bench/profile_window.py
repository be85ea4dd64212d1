"""Profile one check window in-process with cProfile (run by hand).

    # first sync of a seeded folder (fresh state dir), top 30 functions:
    .venv/bin/python bench/profile_window.py --folder bench10000 --first-sync
    # a window with 10 new messages in an already synced folder (state kept in --workdir):
    .venv/bin/python bench/profile_window.py --folder bench100000 --new 10

Also prints the wall time of every IMAP command the window sent (imapclient's _command,
timed until its tagged answer), which shows where a window waits on Dovecot.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import shutil
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import say, server_env, write_config
from sync import deliver

from boundary_mail.config import load_config
from boundary_mail.store import Store
from boundary_mail.window import Window


def run_window(config_path: Path) -> object:
    config = load_config(config_path)
    store = Store(config.state_file)
    try:
        return asyncio.run(Window(config, store).run(datetime.now(UTC)))  # noqa: TID251
    finally:
        store.close()


def trace_commands() -> dict[str, list[float]]:
    """Wrap imaplib's command/complete pair to time each IMAP command by name."""
    import imaplib

    seen: dict[str, list[float]] = defaultdict(list)
    started: dict[object, tuple[str, float]] = {}
    original_command = imaplib.IMAP4._command
    original_complete = imaplib.IMAP4._command_complete

    def command(self, name, *args):
        label = name if name != "UID" else f"UID {args[0]}"
        tag = original_command(self, name, *args)
        started[tag] = (label, time.perf_counter())
        return tag

    def complete(self, name, tag):
        try:
            return original_complete(self, name, tag)
        finally:
            if tag in started:
                label, t0 = started.pop(tag)
                seen[label].append(time.perf_counter() - t0)

    imaplib.IMAP4._command = command
    imaplib.IMAP4._command_complete = complete
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", required=True)
    parser.add_argument("--first-sync", action="store_true", help="fresh state: a first sync")
    parser.add_argument("--new", type=int, default=10, help="APPEND this many before the window")
    parser.add_argument("--workdir", default="/tmp/bm-bench-profile")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    env = server_env()
    os.environ.update(env)
    workdir = Path(args.workdir) / args.folder
    if args.first_sync:
        shutil.rmtree(workdir, ignore_errors=True)
    config_path = write_config(env, workdir, args.folder)
    if not args.first_sync:
        if not (workdir / "state").exists():
            say("syncing the folder first (not profiled) ...")
            run_window(config_path)
        if args.new:
            deliver(env, args.folder, 999, args.new)
    commands = trace_commands()
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    report = run_window(config_path)
    profile.disable()
    elapsed = time.perf_counter() - start
    say(f"window: {elapsed:.3f} s under cProfile; fetched {report.fetched},"  # type: ignore[attr-defined]
        f" baseline {report.baseline}, decided {len(report.plans)}")  # type: ignore[attr-defined]
    say("IMAP commands (count, total s, max s):")
    for label, values in sorted(commands.items(), key=lambda kv: -sum(kv[1])):
        say(f"  {label:12s} {len(values):5d} {sum(values):8.3f} {max(values):8.3f}")
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.top)
        say(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
