"""Digest benchmark (d): today's digests over a state with N tracked items (run by hand).

    .venv/bin/python bench/digest.py --items 10000                    # 20 % of them open
    .venv/bin/python bench/digest.py --items 10000 --open-fraction 1  # worst case: all open

Writes a state file straight through boundary_mail.store.Store (no mail server needed): N
tracked items received over the last 30 days for 4 team members and 20 clients, a follow-up
for every fifth item, one decided-message row per item, sent auto-replies for a third of them
and reminders/escalations for some. Then measures, median of --repeat runs:
    in-process   digest_job.todays_digests (read + build) and render_digest (text + HTML) of
                 every recipient: what the daemon does at digest_time, minus queueing/sending
    cli          `python -m boundary_mail digest --out DIR` (a subprocess, all digests written)
Target (issue 6): <= 2 s over 10,000 tracked items.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, child_env, fmt_runs, median, run_child, say

from boundary_mail.config import load_config
from boundary_mail.store import Store
from boundary_mail.tracking import TrackedItem

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 17, 30, tzinfo=BERLIN)  # a Monday, at digest time
MEMBERS = ("ann", "bob", "carl", "lead")
CLIENTS = 20


def write_config(workdir: Path) -> Path:
    members = ", ".join(
        f'{{ name = "{m.title()}", address = "{m}@agency.test" }}' for m in MEMBERS
    )
    lines = [
        'timezone = "Europe/Berlin"',
        f'state_dir = "{workdir / "state"}"',
        "",
        "[smtp]",
        'host = "127.0.0.1"',
        'from_address = "assistant@agency.test"',
        "",
    ]
    for m in MEMBERS:
        lines += ["[[mailboxes]]", f'name = "{m}"', 'host = "127.0.0.1"',
                  f'owner = "{m}@agency.test"', ""]
    lines += ["[team]", 'lead = "lead@agency.test"', f"members = [{members}]", ""]
    for c in range(CLIENTS):
        manager = MEMBERS[c % 3]
        lines += ["[[clients]]", f'name = "Client {c:02d}"', f'domains = ["c{c}.test"]',
                  f'account_manager = "{manager}@agency.test"',
                  f"monthly_allowance = {100 + 25 * (c % 8)}", ""]
    path = workdir / "boundary-mail.toml"
    path.write_text("\n".join(lines))
    return path


def populate(store: Store, items: int, open_fraction: float, seed: int) -> None:
    rng = random.Random(seed)
    rules = ("reply", "list-header", "precedence", "rate-limited", "auto-submitted",
             "not-addressed", "system-sender")
    with store.transaction():
        for n in range(items):
            c = rng.randrange(CLIENTS)
            owner = f"{MEMBERS[c % 3]}@agency.test"
            received = NOW - timedelta(seconds=rng.randrange(30 * 86400))
            mid = f"<item{n}.{rng.getrandbits(32):x}@c{c}.test>"
            sender = f"person{rng.randrange(50)}@c{c}.test"
            item = TrackedItem(
                message_id=mid, mailbox=owner.split("@")[0], folder="INBOX", uid=n + 1,
                sender=sender, client=f"Client {c:02d}", owner=owner,
                subject=f"Question #{n} about the {rng.choice(('site', 'logo', 'invoice'))}",
                received_at=received, read_at=received + timedelta(hours=2),
                deadline=received + timedelta(days=1), urgent=rng.random() < 0.02,
                after_hours=rng.random() < 0.2,
                routed_from="bob@agency.test" if rng.random() < 0.05 else "",
                ladder_step=0, status="open",
            )
            store.add_item(item, received + timedelta(minutes=5))
            store.record_message(
                mailbox=item.mailbox, folder="INBOX", message_id=mid, uid=n + 1,
                received_at=received, sender=sender, subject=item.subject, status="decided",
                rule=rng.choice(rules), reason="bench", now=received + timedelta(minutes=5),
            )
            if rng.random() < 0.2:
                store.add_followup(f"<f{n}@c{c}.test>", mid, received + timedelta(hours=5))
            if rng.random() >= open_fraction:
                at = min(received + timedelta(hours=rng.randrange(1, 48)), NOW)
                store.acknowledge(mid, at, "reply")
            elif rng.random() < 0.1:
                store.set_ladder_step(mid, 1)
                _sent(store, "reminder", mid, owner, received + timedelta(days=1), n, step=1)
            if rng.random() < 0.33:
                _sent(store, "auto_reply", mid, sender, received + timedelta(minutes=5), n)


def _sent(store: Store, kind: str, mid: str, to: str, at: datetime, n: int, step: int = 0) -> None:
    key = f"{kind}:{n}"
    store.add_action(
        dedupe_key=key, kind=kind, source_message_id=mid, envelope_from="assistant@agency.test",
        recipients=[to], outgoing_message_id=f"<{key}@agency.test>", raw=b"x",
        on_sent={"ladder": {"step": step}} if step else {}, now=at,
    )
    store._db.execute(  # bench only: mark it sent at `at` without the drain
        "UPDATE actions SET status = 'sent', sent_at = ? WHERE dedupe_key = ?",
        (at.astimezone(ZoneInfo("UTC")).isoformat(), key),
    )


def in_process(config_path: Path) -> tuple[float, float, int, int]:
    from boundary_mail import digest_job
    from boundary_mail.digest import render_digest
    from boundary_mail.templates import environment

    config = load_config(config_path)
    start = time.perf_counter()
    store = Store(config.state_file)
    try:
        digests = digest_job.todays_digests(store, config, NOW)
    finally:
        store.close()
    built = time.perf_counter() - start
    env = environment(config.templates_dir, config.default_language)
    size = 0
    for d in digests:
        rendered = render_digest(env, d, config)
        size += len(rendered.text) + len(rendered.html)
    total = time.perf_counter() - start
    return built, total, len(digests), size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--open-fraction", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=6)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bm-bench-digest-"))
    try:
        config_path = write_config(workdir)
        config = load_config(config_path)
        start = time.perf_counter()
        store = Store(config.state_file)
        try:
            populate(store, args.items, args.open_fraction, args.seed)
            open_now = len(store.open_items())
        finally:
            store.close()
        say(f"state: {args.items} tracked items ({open_now} open), written in"
            f" {time.perf_counter() - start:.1f} s")
        built, total, cli = [], [], []
        for rep in range(args.repeat):
            b, t, count, size = in_process(config_path)
            built.append(b)
            total.append(t)
            out = workdir / f"out{rep}"
            out.mkdir()
            elapsed, _, _ = run_child(
                [PYTHON, "-m", "boundary_mail", "--config", str(config_path), "digest",
                 "--now", NOW.isoformat(), "--out", str(out)], child_env({}))
            cli.append(elapsed)
            say(f"  rep {rep + 1}: read+build {b:.3f} s, +render {t:.3f} s ({count} digests,"
                f" {size / 1e6:.1f} MB text+HTML); cli {elapsed:.3f} s")
        say(f"(d) digest over {args.items} items ({open_now} open), medians of {args.repeat}:")
        say(f"   read + build       {fmt_runs(built)}")
        say(f"   read+build+render  {fmt_runs(total)}   target <= 2 s:"
            f" {'met' if median(total) <= 2 else 'MISSED'}")
        say(f"   cli digest --out   {fmt_runs(cli)}   target <= 2 s:"
            f" {'met' if median(cli) <= 2 else 'MISSED'}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
