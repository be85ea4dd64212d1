"""Composing benchmark: what building the outgoing mail of one check window costs (run by hand).

    .venv/bin/python bench/compose.py              # 2,000 auto-replies, 200 of each other kind
    .venv/bin/python bench/compose.py -n 10000 --repeat 5

No mail server needed. Over the unit tests' agency (tests/unit/factories.py), composes N
auto-replies to N distinct senders whose mail arrived over the last day (HTML alternative on;
every 4th a first contact with the working agreement attached, every 2nd naming the point of
contact), then N/10 each of:
redirects of a 4 KB original, ladder reminders with a 50 KB multipart original attached,
contact notes and urgent alerts. For each kind it prints
    µs/msg      best of --repeat runs of compose + as_bytes() (what the window does before
                queueing), per message
    peak        tracemalloc peak while composing them all and keeping every Outgoing, as the
                window's report does until the window ends (a separate run: tracemalloc
                slows Python down)
    kept        what those kept Outgoing objects still hold once composed
Figures, not a test: nothing here fails.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.compose_cases import ORIGINAL, URGENT, big_original
from tests.unit.factories import ANN, BOB, LEAD, agency, berlin, message, tracked_item

from boundary_mail.calendar import Promise
from boundary_mail.compose import (
    Outgoing,
    compose_alert,
    compose_auto_reply,
    compose_contact_note,
    compose_ladder,
    compose_redirect,
)
from boundary_mail.decide import AutoReply, ContactNote, Redirect, UrgentAlert
from boundary_mail.ladder import LadderStep
from boundary_mail.templates import environment

NOW = berlin(23, 10)
CONFIG = agency(urgent=URGENT)
ACME = CONFIG.clients[0]
# A redirected original of about 4 KB: the 600-byte one with a longer body.
REDIRECTED = ORIGINAL + b"More text of the client's message.\r\n" * 100


def senders(n: int) -> list[str]:
    return [f"client{i:05d}@acme.test" for i in range(n)]


def jobs(n: int) -> dict[str, tuple[int, Callable[[], list[Outgoing]]]]:
    """Kind → (how many, a function composing that many and returning them)."""
    env = environment(None, "en")
    arrived = [NOW - timedelta(seconds=43 * (i + 1)) for i in range(n)]  # one a minute or so
    facts = [message(s, mailbox="ann", to=ANN, mid=f"<m{i}@acme.test>", at=arrived[i],
                     subject=f"Question {i} about the spring campaign")
             for i, s in enumerate(senders(n))]
    replies = [AutoReply(f, f.return_path or "", ANN, "window",
                         Promise(f.received_at, NOW, berlin(24, 15)), ACME, ANN,
                         first_contact=i % 4 == 0, names_contact=i % 2 == 0)
               for i, f in enumerate(facts)]
    few = facts[: max(1, n // 10)]
    big = big_original()
    steps = [LadderStep(tracked_item(deadline=berlin(24, 15), message_id=f.message_id), 1,
                        "account_manager", ANN, berlin(25, 15), 2.5) for f in few]

    def run(make: Callable[[], list[Outgoing]]) -> Callable[[], list[Outgoing]]:
        def composed() -> list[Outgoing]:
            out = make()
            for o in out:
                o.as_bytes()
            return out
        return composed

    return {
        "auto-reply": (n, run(lambda: [
            compose_auto_reply(a, config=CONFIG, env=env, now=NOW) for a in replies])),
        "redirect 4 KB": (len(few), run(lambda: [
            compose_redirect(Redirect(f, ANN, BOB), REDIRECTED, config=CONFIG, now=NOW)
            for f in few])),
        "ladder + 50 KB": (len(steps), run(lambda: [
            compose_ladder(s, big, config=CONFIG, env=env, now=NOW + timedelta(minutes=1))
            for s in steps])),
        "contact note": (len(few), run(lambda: [
            compose_contact_note(ContactNote(f, f.return_path or "", BOB, ANN, ACME),
                                 config=CONFIG, env=env, now=NOW) for f in few])),
        "alert": (len(few), run(lambda: [
            compose_alert(UrgentAlert(f, (ANN, LEAD), "urgent keyword 'urgent'", ACME),
                          config=CONFIG, env=env, now=NOW) for f in few])),
    }


def timed(make: Callable[[], list[Outgoing]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        make()
        best = min(best, time.perf_counter() - start)
    return best


def memory(make: Callable[[], list[Outgoing]]) -> tuple[int, int]:
    """(peak, kept) bytes above the baseline while composing and keeping every Outgoing."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    kept_list = make()
    gc.collect()
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept_list
    return peak - base, kept - base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="auto-replies (default 2000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per kind")
    args = parser.parse_args()
    work = jobs(args.n)
    for _, make in work.values():  # warm up: templates compiled, Babel data loaded
        make()
    print(f"{'kind':<16}{'count':>7}{'µs/msg':>10}{'peak MiB':>10}{'kept KiB/msg':>14}")
    for kind, (count, make) in work.items():
        seconds = timed(make, args.repeat)
        peak, kept = memory(make)
        print(f"{kind:<16}{count:>7}{seconds / count * 1e6:>10.0f}{peak / 2**20:>10.1f}"
              f"{kept / count / 1024:>14.1f}")


if __name__ == "__main__":
    main()
