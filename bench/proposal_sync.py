"""First sync with the proposed header parser (bench/parse_alt.py), patched in-process only.

    .venv/bin/python bench/proposal_sync.py --folders bench10000 bench100000 --repeat 3

Contenders, in rotating order, same run (see sync.py for the floor):
    floor-imapclient     the bare imapclient UID FETCH 1:* (parsed by imapclient)
    ours-lib-compat      imap.fetch_new + parse_alt.parse_facts_compat on every message
    window-compat        Window.run in-process, fresh state (first sync, baseline rows in
                         SQLite), with window.parse_facts replaced by parse_facts_compat
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BENCH_USER, fmt_runs, median, say, server_env, timed, write_config
from parse_alt import parse_facts_compat
from sync import floor_imapclient

from boundary_mail import imap, window
from boundary_mail.config import load_config
from boundary_mail.headers import MalformedMessage
from boundary_mail.store import Store


def ours_compat(env: dict[str, str], folder: str, config_path: Path) -> int:
    mailbox = load_config(config_path).mailboxes[0]
    client = imap.connect(mailbox, env[f"BM_PW_{BENCH_USER.upper()}"])
    count = 0
    try:
        status = imap.select(client, folder)
        for batch in imap.fetch_new(client, status, 0):
            for m in batch:
                try:  # noqa: SIM105 - the hot loop
                    parse_facts_compat(m.header_block, mailbox=mailbox.name, folder=folder,
                                       uid=m.uid, received_at=m.received_at, flags=m.flags,
                                       size=m.size)
                except MalformedMessage:
                    pass
                count += 1
    finally:
        client.logout()
    return count


def window_compat(env: dict[str, str], folder: str, workdir: Path) -> int:
    shutil.rmtree(workdir, ignore_errors=True)
    config = load_config(write_config(env, workdir, folder))
    original = window.parse_facts
    window.parse_facts = parse_facts_compat
    store = Store(config.state_file)
    try:
        report = asyncio.run(window.Window(config, store).run(datetime.now(UTC)))  # noqa: TID251
    finally:
        store.close()
        window.parse_facts = original
    if report.queued or report.errors:
        raise RuntimeError(f"window queued {report.queued}, errors {report.errors}")
    return report.fetched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", nargs="+", default=["bench10000", "bench100000"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", default="/tmp/bm-bench-proposal")
    args = parser.parse_args()
    env = server_env()
    os.environ.update(env)
    root = Path(args.workdir)
    say(f"boundary_mail from {Path(imap.__file__).parent}")
    for folder in args.folders:
        config_path = write_config(env, root / f"{folder}-lib", folder)
        times: dict[str, list[float]] = {"floor-imapclient": [], "ours-lib-compat": [],
                                         "window-compat": []}
        fns = {
            "floor-imapclient": lambda f=folder: floor_imapclient(env, f),
            "ours-lib-compat": lambda f=folder, c=config_path: ours_compat(env, f, c),
            "window-compat": lambda f=folder: window_compat(env, f, root / f"{f}-window"),
        }
        names = list(times)
        for rep in range(args.repeat):
            for name in names[rep % 3:] + names[: rep % 3]:
                elapsed, count = timed(fns[name])
                times[name].append(elapsed)
                say(f"   {folder} rep {rep + 1} {name:17s} {elapsed:8.3f} s ({count} messages)")
        floor = median(times["floor-imapclient"])
        say(f"-- {folder}: medians of {args.repeat}")
        for name, values in times.items():
            say(f"   {name:17s} {fmt_runs(values)}  = {median(values) / floor:4.2f}x floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
