"""Run one check window in this process and print its report as one JSON line (for
bench/mailboxes.py, which runs this under bench/rusage_exec.py to read its peak RSS).

    python bench/window_once.py --config DIR/boundary-mail.toml
    BM_BENCH_PROFILE=/tmp/window.prof python bench/mailboxes.py ...   # cProfile, main thread
    BM_BENCH_PYSPY=/tmp/spy.txt python bench/mailboxes.py ...  # py-spy: all threads, GIL held
    BM_BENCH_PERF=/tmp/perf.data python bench/mailboxes.py ...  # perf record -a: every process

The window is what the daemon runs: `Window(config, store).run(now)`, with the store opened
the way `boundary-mail poll` opens it. "seconds" is the window alone (no interpreter start-up,
imports or config loading); "tail_seconds" is the part after the mailboxes were read (the
ladder, nudges and the rest of the queue: `StoreExecutor.drain`), "sent_while_reading" how
many messages went out before that (benchmark instrumentation only, by wrapping the method).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boundary_mail import execute
from boundary_mail.config import load_config
from boundary_mail.report import WindowReport
from boundary_mail.store import Store
from boundary_mail.window import Window


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("--send-after-reading", action="store_true",
                        help="for comparison: no reply goes out before every mailbox was read")
    args = parser.parse_args()
    config = load_config(args.config)
    if args.send_after_reading:
        real_init = execute.StoreExecutor.__init__

        def no_early_sending(self: execute.StoreExecutor, *a: Any, **kw: Any) -> None:
            real_init(self, *a, **kw)
            self.send_early = False

        execute.StoreExecutor.__init__ = no_early_sending  # type: ignore[method-assign]
    tail: dict[str, float] = {}
    original_drain = execute.StoreExecutor.drain

    async def timed_drain(self: execute.StoreExecutor) -> Any:
        outbox = getattr(self, "outbox", None)  # (None before streaming sends)
        tail["sent_while_reading"] = outbox.result.sent if outbox else 0
        start = time.perf_counter()
        try:
            return await original_drain(self)
        finally:
            tail["seconds"] = time.perf_counter() - start

    execute.StoreExecutor.drain = timed_drain  # type: ignore[method-assign]
    store = Store(config.state_file)
    try:
        now = datetime.now(UTC)  # noqa: TID251 - the benchmark plays the scheduler
        spy = _start_sampler()  # before the clock starts: it takes a moment to attach
        started_at = time.time()  # the wall clock, for "until delivered" in the parent
        start = time.perf_counter()
        profile_to = os.environ.get("BM_BENCH_PROFILE")  # a cProfile of the window, if set
        reports: list[WindowReport] = []

        async def window() -> None:
            # Not `asyncio.run(Window(...).run(now))`: asyncio.run returns the main task's
            # result, and on the way out `signal.signal` formats a repr of the SIGINT
            # handler, which holds the task and so its result: the whole report with every
            # plan, 0.3 s at N = 200 (the daemon and `poll` return nothing like it).
            reports.append(await Window(config, store).run(now))

        if profile_to:
            with cProfile.Profile() as profile:
                asyncio.run(window())
            profile.dump_stats(profile_to)
        else:
            asyncio.run(window())
        report = reports[0]
        elapsed = time.perf_counter() - start
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait()
    finally:
        store.close()
    print(json.dumps({
        "seconds": elapsed, "started_at": started_at, "cpu_seconds": _cpu_seconds(),
        "tail_seconds": tail.get("seconds", 0.0),
        "sent_while_reading": tail.get("sent_while_reading", 0), "fetched": report.fetched,
        "baseline": report.baseline, "decided": len(report.plans), "queued": report.queued,
        "sent": report.sent, "failed": report.failed, "errors": report.errors, "ok": report.ok,
    }))
    return 0


def _start_sampler() -> Any:
    """A sampler over the window alone: `perf record -a` (the mail servers' share of the
    cores too: `perf report --sort comm,dso`), or py-spy over the threads holding the GIL
    (collapsed stacks; BM_PY_SPY names the binary). Stopped with SIGINT, so it writes."""
    if out := os.environ.get("BM_BENCH_PERF"):
        command = ["perf", "record", "-a", "-F", "499", "-o", out]
    elif out := os.environ.get("BM_BENCH_PYSPY"):
        command = [os.environ.get("BM_PY_SPY", "py-spy"), "record", "--pid", str(os.getpid()),
                   "--rate", "250", "--format", "raw", "--threads", "--gil", "-o", out]
    else:
        return None
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # let it attach
    return spy


def _cpu_seconds() -> float:
    """User + system CPU time of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    sys.exit(main())
