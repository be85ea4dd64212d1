"""Many mailboxes in one check window (issue 11, item 6), run by hand, never in CI.

    export BM_MAIL_DIR=/tmp/bm-bench BM_IMAPS_PORT=22993 BM_IMAP_PORT=22143 \
           BM_SMTPS_PORT=22465 BM_SMTP_PORT=22587 BM_EXTRA_USERS=200
    scripts/mailserver.sh up                     # users box001 … box200 as well
    .venv/bin/python bench/mailboxes.py --quick  # N = 10, one repeat, no proxy: does it work?
    .venv/bin/python bench/mailboxes.py --mailboxes 10 50 100 200 --repeat 3
    .venv/bin/python bench/mailboxes.py --mailboxes 200 --repeat 1 --proxy-only

For each N, mailboxes box001 … boxN are monitored, each with 200 old messages in its INBOX
(Maildir files written directly, INTERNALDATE 2–730 days ago, once) and then 10 new messages
APPENDed (INTERNALDATE now) from addresses of its own client's domain (clientNNN.test, whose
account manager is boxNNN), addressed to boxNNN: each gets an auto-reply (auto-replies on,
default response settings, first contact "attach"). Postfix rewrites the client domains to
the catch-all mailbox, which is emptied between contenders.

Each repeat starts from fresh state: the new messages of the last repeat are expunged, a new
state file is made and a first window (not measured) takes the 200 × N old messages in as the
baseline. Then 10 new messages per mailbox are appended and, in rotating order:

  ours   one check window over all N mailboxes: `Window(config, store).run(now)`, what the
         daemon runs, in a subprocess (bench/window_once.py under bench/rusage_exec.py) that
         times the window itself (sync, decide, compose, commit, SMTP send of the N × 10
         auto-replies, which start going out while the reading goes on) and whose ru_maxrss
         is the peak RSS. It must report N × 10 sent and no
         errors, else the benchmark stops.
  floor  in this process: per mailbox, sequentially, imapclient login + read-only SELECT +
         UID FETCH of the same header fields (imap._HEADER_ITEM, INTERNALDATE, FLAGS,
         RFC822.SIZE) of the 10 new messages; then stdlib smtplib sends the N × 10 messages
         the window queued (`actions_with_bytes.raw` of a state DB, so the same bytes and
         recipients) over ONE SMTP session.

Each contender's mail is delivered (Postfix → catch-all) before the next one starts.

With a proxy (--proxy-delay-ms, default 40; --skip-proxy to leave it out) the largest N runs
once more with the IMAP and SMTP ports of the config (and of the floor) behind
bench/latency_proxy.py: every request/response pays the delay, like a remote provider. The
first (baseline) window of each repeat goes directly to the servers, so only the measured
window and the floor pay the delay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bare_fetch import ITEMS, bare_fetch
from common import (
    PYTHON,
    _toml,
    child_env,
    fmt_runs,
    imapclient_login,
    maildir,
    median,
    run_child,
    say,
    server_env,
    tls_context,
)
from seed import make_message

from boundary_mail import imap

HERE = Path(__file__).resolve().parent
OLD_PER_BOX = 200
NEW_PER_BOX = 10
VMAIL_USER = "bmvmail"
SEED_STAMP = "bm-mailboxes-seeded"  # in each box's home: how many old messages were written
# The product's knobs for many mailboxes (set from the command line).
TUNING = {"concurrent_mailboxes": 8, "smtp_sessions": 8, "send_after_reading": False,
          "ours_only": False}
SETUP_THREADS = 4  # parallel IMAP sessions for the unmeasured set-up (reset, APPEND)


def box(n: int) -> str:
    return f"box{n:03d}"


def client_domain(n: int) -> str:
    return f"client{n:03d}.test"


# ------------------------------------------------------------------------------ set-up


def ensure_seeded(env: dict[str, str], count: int) -> None:
    """box001 … box`count` each have exactly OLD_PER_BOX old messages (written once)."""
    import pwd

    vmail = pwd.getpwnam(VMAIL_USER)
    missing = [n for n in range(1, count + 1)
               if f"BM_PW_{box(n).upper()}" not in env]
    if missing:
        raise SystemExit(
            f"the benchmark server has no user {box(missing[0])}: start it with"
            f" BM_EXTRA_USERS={count} (or more) scripts/mailserver.sh up"
        )
    todo = []
    for n in range(1, count + 1):
        home = Path(env["BM_MAIL_DIR"]) / "mail" / box(n)
        stamp = home / SEED_STAMP
        if stamp.exists() and stamp.read_text().strip() == str(OLD_PER_BOX):
            continue
        shutil.rmtree(home, ignore_errors=True)
        todo.append(n)
    if not todo:
        return
    say(f"seeding {len(todo)} mailboxes with {OLD_PER_BOX} old messages each")
    start = time.perf_counter()
    # Dovecot creates the Maildir (and the special-use folders) at the first SELECT.
    _parallel(lambda n: _select_inbox(env, box(n)), todo)
    now = datetime.now(UTC)  # noqa: TID251 - the benchmark plays the scheduler
    for n in todo:
        user = box(n)
        cur = maildir(env, user, "INBOX") / "cur"
        rng = random.Random(n)
        stamps = sorted(
            (now - timedelta(days=2) - timedelta(seconds=rng.randrange(728 * 86400))).timestamp()
            for _ in range(OLD_PER_BOX)
        )
        for i, stamp in enumerate(stamps):
            data = make_message(rng, i, datetime.fromtimestamp(stamp, UTC), user)
            flags = "S" if rng.random() < 0.8 else ""
            vsize = len(data) + data.count(b"\n")  # with CRLF line ends, as IMAP counts
            name = f"{int(stamp)}.M{i}P{os.getpid()}Q{n}.bm,S={len(data)},W={vsize}:2,{flags}"
            path = cur / name
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, data)
                os.fchown(fd, vmail.pw_uid, vmail.pw_gid)
            finally:
                os.close(fd)
            os.utime(path, (stamp, stamp))
        (maildir(env, user, "INBOX").parent / SEED_STAMP).write_text(f"{OLD_PER_BOX}\n")
    say(f"  seeded in {time.perf_counter() - start:.1f} s")


def _select_inbox(env: dict[str, str], user: str) -> int:
    client = imapclient_login(env, user)
    try:
        return int(client.select_folder("INBOX", readonly=True)[b"EXISTS"])
    finally:
        client.logout()


def _parallel(fn: Any, items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        return list(pool.map(fn, items))


def reset_box(env: dict[str, str], user: str) -> None:
    """Expunge whatever is newer than the old messages; check the old ones are all there."""
    client = imapclient_login(env, user)
    try:
        client.select_folder("INBOX")
        since = (datetime.now(UTC) - timedelta(days=1)).date()  # noqa: TID251
        recent = client.search(["SINCE", since])
        if recent:
            client.delete_messages(recent)
            client.expunge()
        exists = int(client.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"])
        if exists != OLD_PER_BOX:
            raise RuntimeError(f"{user}: INBOX has {exists} messages, expected {OLD_PER_BOX}")
    finally:
        client.logout()


def new_mail(n: int, i: int, rep: int) -> bytes:
    msg = EmailMessage()
    sender = f"person{i}@{client_domain(n)}"
    owner = f"{box(n)}@agency.test"
    msg["Return-Path"] = f"<{sender}>"
    msg["Delivered-To"] = owner
    msg["Received"] = (f"from mail.{client_domain(n)} (mail.{client_domain(n)} [203.0.113.9])"
                       f" by mail.agency.test (Postfix) for <{owner}>")
    msg["From"] = f"Person {i} of Client {n} <{sender}>"
    msg["To"] = f"Box {n} <{owner}>"
    msg["Subject"] = f"Question {i} about the project (round {rep})"
    msg["Date"] = format_datetime(datetime.now(UTC))  # noqa: TID251
    msg["Message-ID"] = make_msgid(domain=client_domain(n))
    msg.set_content("Hello,\n\ncould you have a look at the attached notes and tell us what"
                    " you think?\nThe deadline is next week.\n\nThanks\nPerson\n")
    return msg.as_bytes()


def append_new(env: dict[str, str], n: int, rep: int) -> list[int]:
    client = imapclient_login(env, box(n))
    uids: list[int] = []
    try:
        for i in range(NEW_PER_BOX):
            answer = client.append("INBOX", new_mail(n, i, rep), flags=(),
                                   msg_time=datetime.now(UTC))  # noqa: TID251
            found = re.search(rb"APPENDUID \d+ (\d+)", answer)
            if not found:
                raise RuntimeError(f"no APPENDUID in {answer!r}")
            uids.append(int(found.group(1)))
    finally:
        client.logout()
    return uids


def catchall_dir(env: dict[str, str]) -> Path:
    return maildir(env, "catchall", "INBOX")


def catchall_count(env: dict[str, str]) -> int:
    base = catchall_dir(env)
    return sum(len(os.listdir(base / sub)) for sub in ("new", "cur") if (base / sub).is_dir())


def empty_catchall(env: dict[str, str]) -> None:
    """Give the catch-all a new, empty Maildir: every contender's replies land in the same
    fresh mailbox. Called only when every delivery is in and no session has it open; LMTP
    creates it again at the next delivery.

    Emptying it by hand costs the contender that follows: until 2026-12-01 (morning) its
    files were deleted behind Dovecot's back, which left every message in `dovecot-uidlist`
    (53,000 stale lines, 40 ms of Dovecot CPU a delivery); expunging it over IMAP (until
    2026-12-01, midday) left a 1-2 MB transaction log and a long uidlist, and a delivery
    cost 3.4 ms of LMTP CPU instead of 1.9 ms in a fresh mailbox, on the cores the
    contenders run on."""
    shutil.rmtree(catchall_dir(env), ignore_errors=True)


def wait_delivered(env: dict[str, str], expected: int, what: str) -> float:
    """Wait until the catch-all holds `expected` messages (Postfix → LMTP is asynchronous),
    so that one contender's deliveries never overlap the next contender; the wall-clock time
    when they were all there (to within 50 ms)."""
    deadline = time.monotonic() + 120 + expected * 0.1
    while (got := catchall_count(env)) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: only {got} of {expected} messages reached the catch-all")
        time.sleep(0.05)
    delivered_at = time.time()
    empty_catchall(env)
    return delivered_at


def write_config(
    env: dict[str, str], path: Path, state_dir: Path, count: int, *, imaps: int, smtps: int
) -> Path:
    """boxes 1…count monitored; client N (domain clientNNN.test) has boxNNN as its account
    manager; auto-replies on (the defaults)."""
    server = {"host": env["BM_HOST"], "security": "tls", "ca_file": env["BM_CA_FILE"],
              "timeout_seconds": 120}
    lines = [
        'timezone = "Europe/Berlin"',
        f"state_dir = {_toml(str(state_dir))}",
        f"concurrent_mailboxes = {TUNING['concurrent_mailboxes']}",
        "",
        "[schedule]",
        'check_windows = ["10:00", "15:00"]',
        'holidays_country = "DE"',
        'holidays_subdivision = "BE"',
        "",
        "[response]",
        "auto_reply = true",
        "",
        "[smtp]",
        *(f"{k} = {_toml(v)}" for k, v in server.items()),
        f"port = {smtps}",
        'username = "assistant"',
        'password_env = "BM_PW_ASSISTANT"',
        'from_address = "assistant@agency.test"',
        f"sessions = {TUNING['smtp_sessions']}",
        "",
        "[team]",
        'lead = "lead@agency.test"',
        "members = [",
        '  { name = "Lee Lead", address = "lead@agency.test" },',
        *(f'  {{ name = "Box {n}", address = "{box(n)}@agency.test" }},'
          for n in range(1, count + 1)),
        "]",
        "",
    ]
    for n in range(1, count + 1):
        lines += [
            "[[mailboxes]]",
            f'name = "{box(n)}"',
            *(f"{k} = {_toml(v)}" for k, v in server.items()),
            f"port = {imaps}",
            f'username = "{box(n)}"',
            f'password_env = "BM_PW_{box(n).upper()}"',
            f'owner = "{box(n)}@agency.test"',
            'sent = "Sent"',
            "",
            "[[clients]]",
            f'name = "Client {n}"',
            f'domains = ["{client_domain(n)}"]',
            f'account_manager = "{box(n)}@agency.test"',
            "",
        ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


# ------------------------------------------------------------------------------ contenders


def first_window(config_path: Path, count: int) -> float:
    """The unmeasured first sync: every old message becomes a baseline row, nothing is sent."""
    from boundary_mail.config import load_config
    from boundary_mail.store import Store
    from boundary_mail.window import Window

    config = load_config(config_path)
    store = Store(config.state_file)
    start = time.perf_counter()
    try:
        report = asyncio.run(Window(config, store).run(datetime.now(UTC)))  # noqa: TID251
    finally:
        store.close()
    if report.errors or report.queued or report.baseline != count * OLD_PER_BOX:
        raise RuntimeError(f"first window: baseline {report.baseline} (expected"
                           f" {count * OLD_PER_BOX}), queued {report.queued},"
                           f" errors {report.errors[:3]}")
    return time.perf_counter() - start


@dataclass
class Ours:
    seconds: float  # the window itself, timed inside the subprocess
    tail_seconds: float  # of which after the reading (ladder, nudges, the rest of the queue)
    sent_while_reading: int  # replies that went out while mailboxes were still read
    wall: float  # the subprocess with interpreter start-up, imports, config
    cpu_seconds: float  # CPU time of the subprocess (all threads), start-up included
    started_at: float  # wall clock when the window began
    rss_mib: float
    delivered: float = 0.0  # from the window's start until every reply was in the catch-all


def ours(env: dict[str, str], config_path: Path, count: int) -> Ours:
    wall, maxrss, out = run_child(
        [PYTHON, str(HERE / "window_once.py"), "--config", str(config_path),
         *(["--send-after-reading"] if TUNING["send_after_reading"] else [])], child_env(env))
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"window_once printed no report:\n{out[-3000:]}")
    report = json.loads(lines[-1])
    want = count * NEW_PER_BOX
    if (report["sent"] != want or report["queued"] != want or report["errors"]
            or report["failed"] or report["fetched"] != want):
        raise RuntimeError(f"the measured window did not send {want} auto-replies cleanly:"
                           f" {json.dumps(report)[:3000]}")
    return Ours(report["seconds"], report["tail_seconds"], report["sent_while_reading"], wall,
                report["cpu_seconds"], report["started_at"], maxrss / 1024)


@dataclass
class Outgoing:
    envelope_from: str
    recipients: list[str]
    raw: bytes


def sent_actions(state_file: Path) -> list[Outgoing]:
    db = sqlite3.connect(state_file)
    try:
        view = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'actions_with_bytes'")
        table = "actions_with_bytes" if view.fetchone() else "actions"  # before migration 7
        rows = db.execute(f"SELECT envelope_from, recipients, raw FROM {table}"  # noqa: S608
                          " WHERE status = 'sent' ORDER BY id").fetchall()
    finally:
        db.close()
    return [Outgoing(f, json.loads(r), bytes(raw)) for f, r, raw in rows]


@dataclass
class Floor:
    fetch_seconds: float
    send_seconds: float
    started_at: float  # wall clock when the floor began
    delivered: float = 0.0  # from its start until every message was in the catch-all

    @property
    def seconds(self) -> float:
        return self.fetch_seconds + self.send_seconds


def floor(
    env: dict[str, str], uids: dict[int, list[int]], outgoing: list[Outgoing],
    *, imaps: int, smtps: int,
) -> Floor:
    fenv = dict(env, BM_IMAPS_PORT=str(imaps))
    started_at = time.time()
    start = time.perf_counter()
    for n, wanted in uids.items():
        got = bare_fetch(fenv, "INBOX", wanted, user=box(n), header_item=imap._HEADER_ITEM)
        if got != len(wanted):
            raise RuntimeError(f"floor fetched {got} of {len(wanted)} in {box(n)}")
    fetched = time.perf_counter()
    conn = smtplib.SMTP_SSL(env["BM_HOST"], smtps, context=tls_context(env), timeout=120)
    try:
        conn.login("assistant", env["BM_PW_ASSISTANT"])
        for out in outgoing:
            refused = conn.sendmail(out.envelope_from, out.recipients, out.raw)
            if refused:
                raise RuntimeError(f"floor: refused {refused}")
    finally:
        conn.quit()
    return Floor(fetched - start, time.perf_counter() - fetched, started_at)


# ------------------------------------------------------------------------------ one N


@dataclass
class Result:
    count: int
    proxy_ms: float
    ours: list[Ours] = field(default_factory=list)
    floors: list[Floor] = field(default_factory=list)
    first: list[float] = field(default_factory=list)


@contextlib.contextmanager
def latency_proxy(env: dict[str, str], delay_ms: float) -> Iterator[tuple[int, int]]:
    imaps, smtps = env["BM_IMAPS_PORT"], env["BM_SMTPS_PORT"]
    proc = subprocess.Popen(
        [PYTHON, str(HERE / "latency_proxy.py"), "--delay-ms", str(delay_ms),
         "--target", imaps, "--target", smtps],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        yield int(ports[imaps]), int(ports[smtps])
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_set(
    env: dict[str, str], count: int, repeat: int, workroot: Path, proxy_ms: float = 0.0
) -> Result:
    label = f"N = {count}" + (f", behind a {proxy_ms:g} ms proxy" if proxy_ms else "")
    say(f"\n== {label}: {count} mailboxes × ({OLD_PER_BOX} old + {NEW_PER_BOX} new) ==")
    result = Result(count, proxy_ms)
    direct = (int(env["BM_IMAPS_PORT"]), int(env["BM_SMTPS_PORT"]))
    boxes = list(range(1, count + 1))
    last_outgoing: list[Outgoing] | None = None
    with contextlib.ExitStack() as stack:
        imaps, smtps = stack.enter_context(latency_proxy(env, proxy_ms)) if proxy_ms else direct
        for rep in range(repeat):
            workdir = workroot / f"n{count}-p{proxy_ms:g}-r{rep}"
            shutil.rmtree(workdir, ignore_errors=True)
            state = workdir / "state"
            cfg_direct = write_config(env, workdir / "direct.toml", state, count,
                                      imaps=direct[0], smtps=direct[1])
            cfg = write_config(env, workdir / "measured.toml", state, count,
                               imaps=imaps, smtps=smtps)
            start = time.perf_counter()
            _parallel(lambda n: reset_box(env, box(n)), boxes)
            empty_catchall(env)
            first = first_window(cfg_direct, count)
            result.first.append(first)
            uids = dict(zip(boxes, _parallel(lambda n, r=rep: append_new(env, n, r), boxes),
                            strict=True))
            say(f"   rep {rep + 1}: reset + first window ({first:.1f} s, not measured) +"
                f" APPEND: {time.perf_counter() - start:.1f} s")
            # Rotating order; a floor that goes first sends the bytes of the last repeat.
            order = ["ours", "floor"] if rep % 2 == 0 or last_outgoing is None else \
                ["floor", "ours"]
            for name in order:
                if name == "floor" and TUNING["ours_only"]:
                    continue
                if name == "ours":
                    o = ours(env, cfg, count)
                    result.ours.append(o)
                    o.delivered = wait_delivered(env, count * NEW_PER_BOX, "ours") - o.started_at
                    last_outgoing = sent_actions(state / "state.sqlite3")
                    say(f"   rep {rep + 1} ours   {o.seconds:8.3f} s (after the reading"
                        f" {o.tail_seconds:.3f} s; {o.sent_while_reading} sent while reading;"
                        f" subprocess {o.wall:.3f} s, CPU {o.cpu_seconds:.3f} s), peak RSS"
                        f" {o.rss_mib:.1f} MiB; all delivered after {o.delivered:.3f} s")
                else:
                    assert last_outgoing is not None
                    f = floor(env, uids, last_outgoing, imaps=imaps, smtps=smtps)
                    result.floors.append(f)
                    f.delivered = wait_delivered(env, len(last_outgoing), "floor") - f.started_at
                    say(f"   rep {rep + 1} floor  {f.seconds:8.3f} s (fetch {f.fetch_seconds:.3f}"
                        f" s, send {f.send_seconds:.3f} s; all delivered after"
                        f" {f.delivered:.3f} s)")
    report_set(result)
    return result


def report_set(r: Result) -> None:
    o = [x.seconds for x in r.ours]
    f = [x.seconds for x in r.floors]
    label = f"N = {r.count}" + (f", proxy {r.proxy_ms:g} ms" if r.proxy_ms else "")
    say(f"-- {label}: medians of {len(o)}")
    say(f"   ours  (window)        {fmt_runs(o)}")
    say(f"     reading (and sending) {fmt_runs([x.seconds - x.tail_seconds for x in r.ours])}")
    say(f"     after the reading    {fmt_runs([x.tail_seconds for x in r.ours])}")
    say(f"     sent while reading   {median([x.sent_while_reading for x in r.ours]):.0f}")
    if not f:  # --ours-only
        say(f"   all delivered after  {fmt_runs([x.delivered for x in r.ours])}")
        return
    say(f"   floor (fetch + send)  {fmt_runs(f)}")
    say(f"     of which fetch       {fmt_runs([x.fetch_seconds for x in r.floors])}")
    say(f"     of which SMTP send   {fmt_runs([x.send_seconds for x in r.floors])}")
    say(f"   ratio ours / floor    {median(o) / median(f):.2f}x")
    od, fd = median([x.delivered for x in r.ours]), median([x.delivered for x in r.floors])
    say(f"   until all delivered   ours {od:.3f} s, floor {fd:.3f} s: {od / fd:.2f}x")
    say(f"   peak RSS of the window subprocess {fmt_runs([x.rss_mib for x in r.ours], 'MiB')}")
    say(f"   window subprocess wall (with start-up) {fmt_runs([x.wall for x in r.ours])}")


def summary(results: list[Result]) -> None:
    say("\n== summary (medians) ==")
    say("| N | proxy | ours: window | reading (and sending) | after the reading |"
        " floor: fetch + send | fetch | send | ours / floor | until delivered: ours, floor |"
        " peak RSS |")
    say("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        o = median([x.seconds for x in r.ours])
        if not r.floors:  # --ours-only
            say(f"| {r.count} | {f'{r.proxy_ms:g} ms' if r.proxy_ms else '-'} | {o:.2f} s |"
                f" {median([x.seconds - x.tail_seconds for x in r.ours]):.2f} s |"
                f" {median([x.tail_seconds for x in r.ours]):.2f} s | - | - | - | - |"
                f" {median([x.delivered for x in r.ours]):.2f} s, - |"
                f" {median([x.rss_mib for x in r.ours]):.0f} MiB |")
            continue
        f = median([x.seconds for x in r.floors])
        say(f"| {r.count} | {f'{r.proxy_ms:g} ms' if r.proxy_ms else '-'} | {o:.2f} s |"
            f" {median([x.seconds - x.tail_seconds for x in r.ours]):.2f} s |"
            f" {median([x.tail_seconds for x in r.ours]):.2f} s | {f:.2f} s |"
            f" {median([x.fetch_seconds for x in r.floors]):.2f} s |"
            f" {median([x.send_seconds for x in r.floors]):.2f} s | {o / f:.2f}x |"
            f" {median([x.delivered for x in r.ours]):.2f} s,"
            f" {median([x.delivered for x in r.floors]):.2f} s |"
            f" {median([x.rss_mib for x in r.ours]):.0f} MiB |")
        if r.proxy_ms:
            verdict = "met" if o <= 30 else "MISSED"
            say(f"   (N = {r.count} behind the proxy: window {o:.1f} s, target <= 30 s: {verdict})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mailboxes", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--proxy-delay-ms", type=float, default=40.0)
    parser.add_argument("--skip-proxy", action="store_true", help="no run behind the proxy")
    parser.add_argument("--proxy-only", action="store_true",
                        help="only the run behind the proxy (at the largest N)")
    parser.add_argument("--quick", action="store_true", help="N = 10, one repeat, no proxy")
    parser.add_argument("--concurrent-mailboxes", type=int, default=8,
                        help="the config's concurrent_mailboxes (default 8, as shipped)")
    parser.add_argument("--smtp-sessions", type=int, default=8,
                        help="the config's smtp.sessions (default 8, as shipped)")
    parser.add_argument("--send-after-reading", action="store_true",
                        help="for comparison: ours sends nothing before every mailbox was read"
                             " (as before 2026-12-01)")
    parser.add_argument("--ours-only", action="store_true",
                        help="no floor (behind the proxy it takes 400 s): for trying settings")
    parser.add_argument("--workdir", default=None, help="state dirs (default: a temp dir)")
    args = parser.parse_args()
    TUNING.update(concurrent_mailboxes=args.concurrent_mailboxes,
                  smtp_sessions=args.smtp_sessions, send_after_reading=args.send_after_reading,
                  ours_only=args.ours_only)
    if args.quick:
        args.mailboxes, args.repeat, args.skip_proxy = [10], 1, True
    if args.proxy_only and args.skip_proxy:
        parser.error("--proxy-only and --skip-proxy exclude each other")
    env = server_env()
    os.environ.update(env)  # the windows read password_env like the daemon does
    workroot = Path(args.workdir or tempfile.mkdtemp(prefix="bm-mailboxes-"))
    say(f"{time.strftime('%Y-%m-%d %H:%M:%S')}  python {sys.version.split()[0]},"
        f" state dirs under {workroot}")
    say(f"boundary_mail from {Path(imap.__file__).parent}; floor items {' '.join(ITEMS[1:])}")
    ensure_seeded(env, max(args.mailboxes))
    results = []
    if not args.proxy_only:
        results += [run_set(env, n, args.repeat, workroot) for n in args.mailboxes]
    if not args.skip_proxy:
        results.append(run_set(env, max(args.mailboxes), args.repeat, workroot,
                               args.proxy_delay_ms))
    summary(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
