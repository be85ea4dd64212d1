"""Experiment for a proposed window.py change (boundary-mail itself is not changed).

A window EXAMINEs the inbox, then Sent, then the inbox again (`_check_answered`, for the
\\Answered flags of open items). After new mail, each EXAMINE of a 100,000-message Maildir
costs Dovecot about 0.3 s in that session. The proposal: check \\Answered while the inbox is
still selected (before Sent), and do not EXAMINE a folder that is already selected.

This script patches exactly that in-process (the order in Window._sync_mailbox, and a
select that skips a repeat of the folder already selected on that connection), then
compares, each after its own 10 new messages, in rotating order:
    window            Window.run as it is
    window-selectonce Window.run with the patch
    bare-inproc       connect + login + EXAMINE + UID FETCH of the 10

    .venv/bin/python bench/select_once.py --folder bench100000 --repeat 5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_fetch import bare_fetch
from common import fmt_runs, median, say, server_env, timed, write_config
from sync import deliver, window_inproc

from boundary_mail import imap, window


@contextlib.contextmanager
def select_once() -> Iterator[None]:
    original_select = imap.select
    original_sync = window.Window._sync_mailbox

    def select(client: Any, folder: str, *, readonly: bool = True) -> imap.FolderStatus:
        cached = getattr(client, "_bench_selected", None)
        if readonly and cached and cached[0] == folder:
            return cached[1]
        status = original_select(client, folder, readonly=readonly)
        client._bench_selected = (folder, status)
        return status

    async def sync_mailbox(self, mailbox, now, report, *, dry_run):
        # The original, with _check_answered moved before _sync_sent.
        from boundary_mail.secrets import resolve_password

        password = resolve_password(mailbox, where=f"mailbox {mailbox.name!r}")
        client = await window.asyncio.to_thread(imap.connect, mailbox, password)
        try:
            await self._sync_inbox(client, mailbox, now, report, dry_run=dry_run)
            await self._check_answered(client, mailbox, now, report, dry_run=dry_run)
            if mailbox.sent:
                await self._sync_sent(client, mailbox, mailbox.sent, now, report,
                                      dry_run=dry_run)
        finally:
            await window.asyncio.to_thread(client.logout)

    imap.select = select
    window.Window._sync_mailbox = sync_mailbox
    try:
        yield
    finally:
        imap.select = original_select
        window.Window._sync_mailbox = original_sync


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", default="bench100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workdir", default="/tmp/bm-bench-selectonce")
    args = parser.parse_args()
    env = server_env()
    os.environ.update(env)
    state = write_config(env, Path(args.workdir) / args.folder, args.folder)
    if not (state.parent / "state").exists():
        say("syncing the folder first (not measured) ...")
        window_inproc(state)
    times: dict[str, list[float]] = {"window": [], "window-selectonce": [], "bare-inproc": []}
    batch = 0
    for rep in range(args.repeat):
        names = list(times)
        for name in names[rep % 3:] + names[: rep % 3]:
            batch += 1
            uids = deliver(env, args.folder, 10_000 + batch)
            if name == "window":
                elapsed, (got, _) = timed(lambda: window_inproc(state))
            elif name == "window-selectonce":
                with select_once():
                    elapsed, (got, _) = timed(lambda: window_inproc(state))
            else:
                elapsed, got = timed(lambda uids=uids: bare_fetch(
                    env, args.folder, uids, header_item=imap._HEADER_ITEM))
                window_inproc(state)  # not measured: take the 10 in
            if got != len(uids):
                raise RuntimeError(f"{name} fetched {got}, expected {len(uids)}")
            times[name].append(elapsed)
            say(f"   rep {rep + 1} {name:18s} {elapsed:7.3f} s")
    bare = median(times["bare-inproc"])
    say(f"-- {args.folder}: medians of {args.repeat}")
    for name, values in times.items():
        say(f"   {name:18s} {fmt_runs(values)}  = {median(values) / bare:4.2f}x bare-inproc")
    return 0


if __name__ == "__main__":
    sys.exit(main())
