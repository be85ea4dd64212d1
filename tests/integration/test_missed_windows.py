"""Windows that did not run, on the real servers: promises never in the past, and the missed
window of today runs at start-up.

Day 0 is Monday 16 November 2026 (check windows 10:00 and 15:00, Monday to Friday); each
`poll --now` is one check window; the daemon's own job runs in-process with a fake clock.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from boundary_mail.daemon import Daemon, read_last_window, record_last_window
from tests.integration.agency import Agency, at, client_mail


def marked(mailserver: Any, user: str, kind: str) -> list[EmailMessage]:
    time.sleep(0.5)  # LMTP delivery trails SMTP's "250 queued"
    return [m for m in mailserver.messages(user) if str(m["X-Boundary-Mail"] or "")
            .startswith(kind)]


def stated(reply: EmailMessage) -> tuple[str, str]:
    """The read time and the answer-by the auto-reply's text states, as written."""
    text = reply.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    read = re.search(r"It will be read:\s+(.+)", text)
    answer = re.search(r"You will have an answer by:\s+(.+)", text)
    assert read and answer, text
    # CLDR writes a narrow no-break space before AM/PM.
    return (read.group(1).strip().replace("\u202f", " "),
            answer.group(1).strip().replace("\u202f", " "))


def test_mail_first_read_after_an_outage_is_promised_from_the_window_that_reads_it(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """Maria writes on Monday at 09:00; no window runs from Monday 10:00 to Wednesday 15:00.
    Thursday's 10:00 window reads it: the reply says read Thursday 10:00, answer by Friday
    15:00 (never Monday or Tuesday), the tracked deadline is that Friday 15:00, and no
    reminder or escalation goes out in that window; the reminder comes on Friday at 15:00."""
    assert agency.poll(at(0, 8)) == 0  # installed: the first sync
    deliver("ann", client_mail(subject="The brief", message_id="<brief@acme.test>"), at(0, 9))
    assert agency.poll(at(3, 10)) == 0

    (reply,) = mailserver.wait_for("catchall", 1)
    assert reply["To"] == "maria@acme.test"
    read, answer_by = stated(reply)
    assert read == "Thursday, November 19, 2026, 10:00 AM CET"
    assert answer_by == "Friday, November 20, 2026, 3:00 PM CET"
    assert not {"Monday", "Tuesday", "Wednesday"} & set(re.findall(r"\w+day", read + answer_by))
    item = agency.store().item("<brief@acme.test>")
    assert item is not None and (item.read_at, item.deadline) == (at(3, 10), at(4, 15))
    assert marked(mailserver, "ann", "reminder") == []
    assert marked(mailserver, "lead", "escalation") == []

    assert agency.poll(at(3, 15)) == 0
    assert marked(mailserver, "ann", "reminder") == []
    assert agency.poll(at(4, 15)) == 0
    assert len(marked(mailserver, "ann", "reminder")) == 1  # counted from what was promised


def test_the_daemon_started_after_the_10_oclock_window_runs_it_at_once(
    agency: Agency, deliver: Callable[..., None], mailserver: Any
) -> None:
    """The service was down at Thursday's 10:00 window and started at 10:03: it runs that
    window at once (not at 15:00), the reply says the message is read at 10:03, and the
    window is recorded, so the check a minute later runs nothing again."""
    assert agency.poll(at(2, 15)) == 0  # Wednesday's last window ran (the first sync)
    record_last_window(agency.config.state_dir, at(2, 15))
    deliver("ann", client_mail(subject="Invoice", message_id="<inv@acme.test>"), at(3, 9))

    daemon = Daemon(str(agency.path), agency.config)
    daemon.clock = lambda: at(3, 10, 3)
    asyncio.run(daemon.missed_window_job())
    (reply,) = mailserver.wait_for("catchall", 1)
    assert stated(reply) == ("Thursday, November 19, 2026, 10:03 AM CET",
                             "Friday, November 20, 2026, 3:00 PM CET")
    assert read_last_window(agency.config.state_dir) == at(3, 10)

    daemon.clock = lambda: at(3, 10, 4)
    asyncio.run(daemon.missed_window_job())
    time.sleep(0.5)
    assert len(mailserver.messages("catchall")) == 1
