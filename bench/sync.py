"""Sync benchmarks against the private benchmark Dovecot (run by hand, never in CI).

    export BM_MAIL_DIR=/tmp/bm-bench BM_IMAPS_PORT=22993 BM_IMAP_PORT=22143 \
           BM_SMTPS_PORT=22465 BM_SMTP_PORT=22587
    scripts/mailserver.sh up
    .venv/bin/python bench/seed.py --folder bench10000 --count 10000
    .venv/bin/python bench/seed.py --folder bench100000 --count 100000
    .venv/bin/python bench/sync.py --folders bench10000 bench100000 --repeat 3

(a) First sync of each folder, every contender in the same run, in rotating order:
    floor-imapclient   bare imapclient UID FETCH 1:* of the header fields + INTERNALDATE +
                       FLAGS + RFC822.SIZE, parsed by imapclient (its fetch() minus the
                       final filter, which cannot take a range)
    floor-imaplib      the same FETCH through stdlib imaplib (raw response, no parsing)
    ours-fetch         boundary_mail.imap.connect + select + fetch_new(client, status, 0)
    ours-lib           the same + headers.parse_facts on every message as the window reads
                       it (mail older than the 24 h lookback only for its baseline row),
                       minus deciding and the SQLite writes
    poll               `python -m boundary_mail poll` with a fresh state dir (records every
                       message as a baseline row), a subprocess: wall time and peak RSS
    All in-process contenders are timed from connect to the last message handled.
(b) A window with 10 new messages (APPENDed just before, with the folder already synced),
    each measurement after its own 10 new messages so that each pays Dovecot's re-read:
    poll               `python -m boundary_mail poll` (subprocess)
    bare               bench/bare_fetch.py: connect + login + SELECT + UID FETCH of the 10
                       (subprocess, so it pays interpreter start-up too)
    window             boundary_mail.window.Window.run in this process (what the daemon runs)
    bare-inproc        the bare fetch in this process
(c) Peak RSS of the poll subprocesses (ru_maxrss from wait4).
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    BENCH_USER,
    PYTHON,
    child_env,
    fmt_runs,
    imapclient_login,
    median,
    run_child,
    say,
    server_env,
    timed,
    tls_context,
    write_config,
)

from boundary_mail import imap
from boundary_mail.config import load_config
from boundary_mail.headers import MalformedMessage, parse_facts
from boundary_mail.plan import FIRST_SYNC_LOOKBACK

ITEMS = [imap._HEADER_ITEM, "INTERNALDATE", "FLAGS", "RFC822.SIZE"]
HERE = Path(__file__).resolve().parent
REPORT_RE = re.compile(r"fetched (\d+), new (\d+), baseline (\d+), skipped (\d+)")
QUEUED_RE = re.compile(r"queued (\d+), sent (\d+), failed (\d+)")


# ------------------------------------------------------------------------ (a) contenders


def floor_imapclient(env: dict[str, str], folder: str) -> int:
    from imapclient.response_parser import parse_fetch_response

    client = imapclient_login(env)
    try:
        client.normalise_times = False
        client.select_folder(folder, readonly=True)
        # IMAPClient.fetch() minus its last step (it filters the answer by the UIDs asked
        # for, so it cannot take "1:*"): the same command, the same parser.
        raw = client._imap
        tag = raw._command("UID", "FETCH", "1:*", "(" + " ".join(ITEMS) + ")")
        typ, data = raw._command_complete("FETCH", tag)
        client._checkok("fetch", typ, data)
        typ, data = raw._untagged_response(typ, data, "FETCH")
        return len(parse_fetch_response(data, False, True))
    finally:
        client.logout()


def floor_imaplib(env: dict[str, str], folder: str) -> int:
    conn = imaplib.IMAP4_SSL(env["BM_HOST"], int(env["BM_IMAPS_PORT"]),
                             ssl_context=tls_context(env))
    try:
        conn.login(BENCH_USER, env[f"BM_PW_{BENCH_USER.upper()}"])
        conn.select(f'"{folder}"', readonly=True)
        typ, data = conn.uid("FETCH", "1:*", "(" + " ".join(ITEMS) + ")")
        assert typ == "OK", typ
        return sum(1 for part in data if isinstance(part, tuple))
    finally:
        conn.logout()


def _mailbox(config_path: Path) -> Any:
    return load_config(config_path).mailboxes[0]


def ours(env: dict[str, str], folder: str, config_path: Path, *, parse: bool) -> int:
    mailbox = _mailbox(config_path)
    baseline_before = datetime.now(UTC) - FIRST_SYNC_LOOKBACK  # noqa: TID251
    client = imap.connect(mailbox, env[f"BM_PW_{BENCH_USER.upper()}"])
    try:
        status = imap.select(client, folder)
        count = 0
        for batch in imap.fetch_new(client, status, 0):
            if not parse:
                count += len(batch)
                continue
            for m in batch:
                try:  # noqa: SIM105 - the hot loop, as in the window
                    parse_facts(m.header_block, mailbox=mailbox.name, folder=folder, uid=m.uid,
                                received_at=m.received_at, flags=m.flags, size=m.size,
                                identity_only=m.received_at < baseline_before)
                except MalformedMessage:
                    pass
                count += 1
        return count
    finally:
        client.logout()


def poll_cli(env: dict[str, str], config_path: Path) -> tuple[float, int, str]:
    return run_child([PYTHON, "-m", "boundary_mail", "--config", str(config_path), "poll"],
                     child_env(env))


def poll_counts(output: str) -> tuple[int, int, int, int]:
    found = REPORT_RE.search(output)
    queued = QUEUED_RE.search(output)
    if not found or not queued:
        raise RuntimeError(f"unexpected poll output:\n{output[-2000:]}")
    if int(queued.group(1)) or "error:" in output:
        raise RuntimeError(f"the benchmark window queued mail or failed:\n{output[-2000:]}")
    fetched, new, baseline, skipped = (int(g) for g in found.groups())
    return fetched, new, baseline, skipped


def startup_cost(env: dict[str, str]) -> list[float]:
    """Interpreter start + importing what a poll imports (no I/O), as a reference."""
    code = ("import boundary_mail.cli, boundary_mail.window, boundary_mail.store, "
            "boundary_mail.outbox")
    return [run_child([PYTHON, "-c", code], child_env(env))[0] for _ in range(3)]


def part_a(env: dict[str, str], folder: str, repeat: int, workroot: Path) -> dict[str, Any]:
    say(f"\n== (a) first sync of {folder} ==")
    config_path = write_config(env, workroot / f"{folder}-lib", folder)
    expected: int | None = None
    times: dict[str, list[float]] = {k: [] for k in
                                     ("floor-imapclient", "floor-imaplib", "ours-fetch",
                                      "ours-lib", "poll")}
    rss: list[int] = []
    last_state: Path | None = None

    def run(name: str, rep: int) -> None:
        nonlocal expected, last_state
        if name == "poll":
            workdir = workroot / f"{folder}-poll{rep}"
            shutil.rmtree(workdir, ignore_errors=True)
            path = write_config(env, workdir, folder)
            elapsed, maxrss, output = poll_cli(env, path)
            fetched, new, baseline, skipped = poll_counts(output)
            count = fetched
            rss.append(maxrss)
            if new or skipped or baseline != fetched:
                say(f"   note: poll fetched={fetched} new={new} baseline={baseline}"
                    f" skipped={skipped}")
            last_state = path
        else:
            fn = {
                "floor-imapclient": lambda: floor_imapclient(env, folder),
                "floor-imaplib": lambda: floor_imaplib(env, folder),
                "ours-fetch": lambda: ours(env, folder, config_path, parse=False),
                "ours-lib": lambda: ours(env, folder, config_path, parse=True),
            }[name]
            elapsed, count = timed(fn)
        if expected is None:
            expected = count
        elif count != expected:
            raise RuntimeError(f"{name} saw {count} messages, others {expected}")
        times[name].append(elapsed)
        say(f"   rep {rep + 1} {name:17s} {elapsed:8.3f} s  ({count} messages)")

    names = list(times)
    for rep in range(repeat):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            run(name, rep)
    floor, floor_lib = median(times["floor-imapclient"]), median(times["floor-imaplib"])
    say(f"-- (a) {folder}: {expected} messages, medians of {repeat}")
    for name, values in times.items():
        say(f"   {name:17s} {fmt_runs(values)}   = {median(values) / floor:5.2f}x imapclient"
            f" floor, {median(values) / floor_lib:5.2f}x imaplib")
    rss_mb = [r / 1024 for r in rss]
    say(f"-- (c) {folder}: poll peak RSS {fmt_runs(rss_mb, 'MiB')}")
    return {"times": times, "rss_mib": rss_mb, "count": expected, "state": last_state}


def part_c(env: dict[str, str], folder: str, repeat: int, workroot: Path) -> dict[str, Any]:
    """Only the first-sync polls of (a): wall time and peak RSS, without the floors."""
    say(f"\n== (c) first-sync poll of {folder}: peak RSS ==")
    times: list[float] = []
    rss: list[float] = []
    for rep in range(repeat):
        workdir = workroot / f"{folder}-c{rep}"
        shutil.rmtree(workdir, ignore_errors=True)
        path = write_config(env, workdir, folder)
        elapsed, maxrss, output = poll_cli(env, path)
        fetched = poll_counts(output)[0]
        times.append(elapsed)
        rss.append(maxrss / 1024)
        say(f"   rep {rep + 1} poll {elapsed:8.3f} s, peak RSS {maxrss / 1024:6.1f} MiB"
            f" ({fetched} messages)")
    say(f"-- (c) {folder}: poll {fmt_runs(times)}; peak RSS {fmt_runs(rss, 'MiB')}")
    return {"times": times, "rss_mib": rss, "state": path}


# ------------------------------------------------------------------------ (b) new mail


def new_mail(n: int, i: int) -> bytes:
    msg = EmailMessage()
    sender = f"client{i}@acme.test"
    msg["Return-Path"] = f"<{sender}>"
    msg["Delivered-To"] = f"{BENCH_USER}@agency.test"
    msg["From"] = f"Client {i} <{sender}>"
    msg["To"] = f"{BENCH_USER}@agency.test"
    msg["Subject"] = f"Question about the project, round {n} #{i}"
    msg["Date"] = format_datetime(datetime.now(UTC))  # noqa: TID251
    msg["Message-ID"] = make_msgid(domain="acme.test")
    msg.set_content("Hello,\n\ncould you have a look at the attached notes?\n\nThanks\n")
    return msg.as_bytes()


def deliver(env: dict[str, str], folder: str, n: int, count: int = 10) -> list[int]:
    """APPEND `count` new client messages (unseen, INTERNALDATE now); return their UIDs."""
    client = imapclient_login(env)
    uids: list[int] = []
    try:
        for i in range(count):
            answer = client.append(folder, new_mail(n, i), flags=(), msg_time=datetime.now(UTC))  # noqa: TID251
            found = re.search(rb"APPENDUID \d+ (\d+)", answer)
            if not found:
                raise RuntimeError(f"no APPENDUID in {answer!r}")
            uids.append(int(found.group(1)))
    finally:
        client.logout()
    return uids


def window_inproc(config_path: Path) -> tuple[int, int]:
    from boundary_mail.store import Store
    from boundary_mail.window import Window

    config = load_config(config_path)
    store = Store(config.state_file)
    try:
        report = asyncio.run(Window(config, store).run(datetime.now(UTC)))  # noqa: TID251
    finally:
        store.close()
    if report.queued or report.errors:
        raise RuntimeError(f"window queued {report.queued}, errors {report.errors}")
    return report.fetched, len(report.plans)


def part_b(
    env: dict[str, str], folder: str, repeat: int, workroot: Path, state: Path | None
) -> dict[str, Any]:
    say(f"\n== (b) a window with 10 new messages in {folder} ==")
    if state is None:
        workdir = workroot / f"{folder}-b"
        shutil.rmtree(workdir, ignore_errors=True)
        state = write_config(env, workdir, folder)
        elapsed, _, output = poll_cli(env, state)
        say(f"   initial sync (not measured): {elapsed:.1f} s, {poll_counts(output)[0]} messages")
    times: dict[str, list[float]] = {k: [] for k in ("poll", "bare", "window", "bare-inproc")}
    rss: list[int] = []
    inner: list[float] = []
    batch = 0

    def run(name: str, rep: int) -> None:
        nonlocal batch
        batch += 1
        uids = deliver(env, folder, batch)
        if name == "poll":
            elapsed, maxrss, output = poll_cli(env, state)
            fetched, _, _, _ = poll_counts(output)
            rss.append(maxrss)
            got = fetched
        elif name == "bare":
            elapsed, _, output = run_child(
                [PYTHON, str(HERE / "bare_fetch.py"), "--folder", folder, "--uids",
                 ",".join(map(str, uids)), "--expect", str(len(uids)),
                 "--item", imap._HEADER_ITEM], child_env(env))
            inner.append(float(output.split()[-1]))
            got = len(uids)
        elif name == "window":
            elapsed, (got, _) = timed(lambda: window_inproc(state))
        else:
            from bare_fetch import bare_fetch

            elapsed, got = timed(
                lambda: bare_fetch(env, folder, uids, header_item=imap._HEADER_ITEM))
        if got != len(uids):
            raise RuntimeError(f"{name} fetched {got}, expected {len(uids)}")
        times[name].append(elapsed)
        say(f"   rep {rep + 1} {name:12s} {elapsed:7.3f} s")
        if name.startswith("bare"):
            window_inproc(state)  # not measured: take these 10 in, so the next window sees 10

    names = list(times)
    for rep in range(repeat):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            run(name, rep)
    say(f"-- (b) {folder}: medians of {repeat}")
    for name, values in times.items():
        say(f"   {name:12s} {fmt_runs(values)}")
    say(f"   poll / bare (both subprocesses):        "
        f"{median(times['poll']) / median(times['bare']):5.2f}x")
    say(f"   window / bare-inproc (both in-process): "
        f"{median(times['window']) / median(times['bare-inproc']):5.2f}x")
    say(f"   bare subprocess, its own connect..fetch part: {fmt_runs(inner)}")
    say(f"-- (c) {folder}: poll (10 new) peak RSS {fmt_runs([r / 1024 for r in rss], 'MiB')}")
    return {"times": times, "rss_mib": [r / 1024 for r in rss]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", nargs="+", default=["bench10000", "bench100000"])
    parser.add_argument("--parts", default="ab",
                        help="a and/or b (peak RSS comes with both); c: only (a)'s polls")
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender in (a)")
    parser.add_argument("--repeat-b", type=int, default=5, help="runs per contender in (b)")
    parser.add_argument("--workdir", default=None, help="state dirs (default: a temp dir)")
    args = parser.parse_args()
    env = server_env()
    os.environ.update(env)  # the in-process window reads password_env like the daemon does
    workroot = Path(args.workdir or tempfile.mkdtemp(prefix="bm-bench-"))
    say(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  python {sys.version.split()[0]}, "
        f"state dirs under {workroot}")
    say(f"boundary_mail from {Path(imap.__file__).parent}")
    start = startup_cost(env)
    say(f"reference: interpreter start + boundary-mail imports: {fmt_runs(start)}")
    results: dict[str, dict[str, Any]] = {}
    for folder in args.folders:
        results[folder] = {}
        if "a" in args.parts:
            results[folder]["a"] = part_a(env, folder, args.repeat, workroot)
        elif "c" in args.parts:
            results[folder]["c"] = part_c(env, folder, args.repeat, workroot)
    for folder in args.folders:
        if "b" in args.parts:
            state = (results[folder].get("a") or results[folder].get("c") or {}).get("state")
            results[folder]["b"] = part_b(env, folder, args.repeat_b, workroot, state)

    say("\n== summary (medians) ==")
    for folder, res in results.items():
        if "a" in res:
            t = {k: median(v) for k, v in res["a"]["times"].items()}
            fl, fb = t["floor-imapclient"], t["floor-imaplib"]
            say(f"(a) {folder} ({res['a']['count']} msgs): floor imapclient {fl:.2f} s,"
                f" imaplib {fb:.2f} s | ours-lib {t['ours-lib']:.2f} s ="
                f" {t['ours-lib'] / fl:.2f}x / {t['ours-lib'] / fb:.2f}x | poll {t['poll']:.2f} s"
                f" = {t['poll'] / fl:.2f}x / {t['poll'] / fb:.2f}x  (target <= 1.5x imapclient)")
            say(f"(c) {folder}: first-sync poll peak RSS {median(res['a']['rss_mib']):.0f} MiB"
                "  (target <= 150 MB at 100,000)")
        if "c" in res:
            say(f"(c) {folder}: first-sync poll {median(res['c']['times']):.2f} s, peak RSS"
                f" {median(res['c']['rss_mib']):.0f} MiB  (target <= 150 MB at 100,000)")
        if "b" in res:
            t = {k: median(v) for k, v in res["b"]["times"].items()}
            say(f"(b) {folder}: poll {t['poll']:.3f} s vs bare {t['bare']:.3f} s ="
                f" {t['poll'] / t['bare']:.2f}x | window {t['window']:.3f} s vs bare-inproc"
                f" {t['bare-inproc']:.3f} s = {t['window'] / t['bare-inproc']:.2f}x"
                "  (target <= 2x)")
    say(f"reference: interpreter start + imports {median(start):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
