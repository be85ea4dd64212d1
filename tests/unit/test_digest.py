"""The daily digest: who sees what, the counts, client load, escaping, and once a day."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest

from boundary_mail.chart import Series, sparkline, volume_chart_svg
from boundary_mail.cli import main
from boundary_mail.compose import compose_digest
from boundary_mail.config import Config
from boundary_mail.digest import (
    ClientLoad,
    Digest,
    DigestData,
    ItemRecord,
    build_digests,
    format_age,
    render_digest,
)
from boundary_mail.digest_job import load_digest_data, queue_digests, todays_digests
from boundary_mail.store import Store
from boundary_mail.templates import TEMPLATE_NAMES, environment
from boundary_mail.tracking import TrackedItem
from tests.digest_week import (
    ANN,
    BERLIN,
    BOB,
    CARL,
    CLIENT_LOAD,
    EXPECTED,
    HOSTILE_SENDER,
    HOSTILE_SUBJECT,
    LEAD,
    NOW,
    at,
    config_data,
    seed_week,
)
from tests.integration.agency import render_toml


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(**config_data(state_dir=str(tmp_path / "state")))


@pytest.fixture
def store(config: Config) -> Store:
    s = Store(config.state_file)
    seed_week(s)
    return s


@pytest.fixture
def digests(config: Config, store: Store) -> dict[str, Digest]:
    data = load_digest_data(store, config, NOW)
    return {d.recipient: d for d in build_digests(config, data, NOW)}


def rendered_html(config: Config, digest: Digest) -> str:
    return render_digest(environment(None, config.locale), digest, config).html


@pytest.mark.parametrize("recipient", [ANN, BOB, LEAD])
def test_counts_per_recipient(digests: dict[str, Digest], recipient: str) -> None:
    """Each recipient's digest carries exactly the counts of the seeded week."""
    d, want = digests[recipient], EXPECTED[recipient]
    assert [w.item.message_id for w in d.waiting] == want["waiting"]
    assert d.overdue == want["overdue"]
    assert len(d.escalated) == want["escalated"]
    assert len(d.acknowledged) == want["acknowledged"]
    assert len(d.routed) == want["routed"]
    assert d.new_today == want["new_today"]
    assert d.followups_today == want["followups_today"]
    assert d.auto_replies_sent == want["auto_replies_sent"]
    assert {r.rule: r.count for r in d.suppressed} == want["suppressed"]
    assert [c.label for c in d.clients] == want["clients"]
    assert d.subject("en") == want["subject"]


def test_waiting_is_oldest_first_with_age_and_overdue_flag(digests: dict[str, Digest]) -> None:
    """Oldest first; overdue once the answer-by deadline has passed (Mon 15:00 < 17:30)."""
    ann = digests[ANN].waiting
    assert [w.item.received_at for w in ann] == sorted(w.item.received_at for w in ann)
    assert [w.overdue for w in ann] == [True, True, False, False]
    assert ann[0].age == NOW - at(17, 9, 30)
    assert format_age(ann[0].age) == "6d 8h"


def test_lead_sees_everyone_and_a_member_only_their_own(digests: dict[str, Digest]) -> None:
    assert {w.item.owner for w in digests[LEAD].waiting} == {ANN, BOB, LEAD}
    assert {w.item.owner for w in digests[ANN].waiting} == {ANN}
    assert {w.item.owner for w in digests[BOB].waiting} == {BOB}
    assert {s.owner for s in digests[BOB].escalated} == {BOB}


def test_a_lead_who_is_also_a_member_gets_one_digest(digests: dict[str, Digest]) -> None:
    assert sorted(digests) == sorted([ANN, BOB, CARL, LEAD])
    assert digests[LEAD].is_lead and not digests[ANN].is_lead


def test_the_digest_tells_reminders_from_escalations(digests: dict[str, Digest]) -> None:
    """Bob's own reminder is a reminder; Ann's item that went on to the lead is an
    escalation: the lead's digest counts one of each, never the reminder as escalated."""
    lead = digests[LEAD]

    assert [s.kind for s in lead.reminders] == ["reminder"]
    assert [s.kind for s in lead.escalations] == ["escalation"]


def test_escalated_today_means_sent_today_in_local_time(digests: dict[str, Digest]) -> None:
    """Wednesday's reminder and the still-queued reminder are not 'escalated today'."""
    lead = digests[LEAD].escalated
    assert [(s.kind, s.step, s.recipients) for s in lead] == [
        ("escalation", 2, (LEAD,)), ("reminder", 1, (BOB,)),
    ]


@pytest.mark.parametrize("client", sorted(CLIENT_LOAD))
def test_client_load_over_7_and_30_days(digests: dict[str, Digest], client: str) -> None:
    """Whole-client numbers: messages, follow-ups, after hours; Acme (9 a month) is over."""
    load = next(c for c in digests[LEAD].clients if c.client == client)
    m7, m30, f7, f30, ah7, ah30, over = CLIENT_LOAD[client]
    assert (load.messages_7, load.messages_30) == (m7, m30)
    assert (load.followups_7, load.followups_30) == (f7, f30)
    assert (load.after_hours_7, load.after_hours_30) == (ah7, ah30)
    assert load.over is over
    assert sum(load.daily_messages) == m30 and sum(load.daily_followups) == f30
    assert len(load.daily_messages) == 30


def test_member_sees_the_same_client_numbers_as_the_lead(digests: dict[str, Digest]) -> None:
    lead = {c.client: c for c in digests[LEAD].clients}
    for c in digests[ANN].clients + digests[BOB].clients:
        assert c == lead[c.client]


@pytest.mark.parametrize(
    ("allowance", "m7", "m30", "over_7", "over_30"),
    [
        (30, 7, 30, False, False),  # exactly at the allowance (7-day pace 7.0) is within
        (30, 8, 30, True, False),  # above the 7-day pace
        (30, 0, 31, False, True),  # above the month
        (None, 99, 999, False, False),  # no allowance configured: never over
        (0, 1, 1, True, True),  # an allowance of 0: any message is over
    ],
)
def test_allowance_boundaries(
    allowance: int | None, m7: int, m30: int, over_7: bool, over_30: bool
) -> None:
    load = ClientLoad("X", allowance, m7, m30, 0, 0, 0, 0, (0,) * 30, (0,) * 30)
    assert (load.over_7, load.over_30, load.over) == (over_7, over_30, over_7 or over_30)


def test_text_and_html_carry_the_counts_and_the_over_allowance_marker(
    config: Config, digests: dict[str, Digest]
) -> None:
    r = render_digest(environment(None, "en"), digests[ANN], config)
    assert "WAITING ON YOU: 4 (2 overdue)" in r.text
    assert "Reminders sent (no answer by the promised time): 0" in r.text
    assert "Escalated (to a backup or the lead): 1" in r.text and "Acknowledged: 1" in r.text
    assert "Auto-replies sent: 2" in r.text and "Auto-replies withheld: 4" in r.text
    assert "2 × mailing-list mail (list-header)" in r.text
    # Every number of the client load is labelled with what it counts, and over what period.
    assert ("client                messages 7d     messages 30d    follow-ups 7d / 30d   "
            "after hours 7d / 30d (share)") in r.text
    acme = next(line for line in r.text.splitlines() if line.strip().startswith("Acme  "))
    assert "4 / 2.1" in acme and "10 / 9" in acme and "OVER ALLOWANCE" in acme
    initech = next(line for line in r.text.splitlines() if line.strip().startswith("Initech  "))
    assert "OVER" not in initech
    assert r.html.count("OVER ALLOWANCE") == 1
    assert r.html.count(">OVERDUE<") == 2
    # Overdue rows are red (inlined style), the others not.
    assert re.search(r'<tr class="overdue"[^>]*>\s*<td[^>]*color: #b00020', r.html)


def test_hostile_subject_and_sender_appear_as_text(
    config: Config, digests: dict[str, Digest]
) -> None:
    """A subject full of HTML or script shows as text: no tag from mail reaches the HTML."""
    html = rendered_html(config, digests[LEAD])
    assert HOSTILE_SUBJECT in digests[LEAD].waiting[2].item.subject  # it is in the digest
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x onerror" not in html and "<b><i" not in html
    assert not re.search(r"<[^>]*\bonerror\s*=", html)  # no element carries a handler
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;b&gt;&lt;i \"'&amp; broken" in html
    assert "evil&lt;img src=x onerror=alert(2)&gt;@acme.test" in html
    assert HOSTILE_SENDER not in html


def test_the_html_refers_to_nothing_remote(config: Config, digests: dict[str, Digest]) -> None:
    """No external images, fonts, scripts or stylesheets: the digest needs no network."""
    for d in digests.values():
        html = rendered_html(config, d).lower()
        remote = r"""\b(src|href|srcset|background|action)\s*=\s*["']?\s*(https?:)?//"""
        assert not re.search(remote, html)
        assert "http://" not in html and "https://" not in html
        assert "<link" not in html and "<script" not in html and "@import" not in html
        assert "url(" not in html
        assert "<style" not in html  # inlined into style attributes for mail clients
        assert "<svg" in html or not d.clients


def test_the_chart_escapes_its_labels_and_rejects_ragged_series() -> None:
    svg = volume_chart_svg(
        [Series("<script>x</script>", [1, 0], [0, 2])], ["1 Nov", "2 Nov"], title="a&b"
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "a&amp;b" in svg
    assert svg.count("<rect") == 5  # background, two legend keys, two bars
    with pytest.raises(ValueError, match="one value per day"):
        volume_chart_svg([Series("A", [1], [])], ["1 Nov"], title="t")


def test_sparkline_for_the_text_part() -> None:
    assert sparkline([0, 1, 4, 8], 8) == "·▁▄█"
    assert sparkline([0, 0]) == "··"


@pytest.mark.parametrize(
    ("age", "shown"),
    [(timedelta(minutes=12), "12m"), (timedelta(hours=5, minutes=10), "5h 10m"),
     (timedelta(days=3, hours=4, minutes=59), "3d 4h"), (timedelta(seconds=-5), "0m")],
)
def test_format_age(age: timedelta, shown: str) -> None:
    assert format_age(age) == shown


def test_today_is_the_local_day(config: Config) -> None:
    """Just after midnight in Berlin, an acknowledgment at 00:30 local (23:30 UTC the day
    before) is today's; one at 23:50 local yesterday is not."""
    now = datetime(2026, 11, 23, 0, 45, tzinfo=BERLIN)

    def item(key: str, acked: datetime) -> ItemRecord:
        received = datetime(2026, 11, 20, 10, tzinfo=BERLIN)
        return ItemRecord(TrackedItem(
            message_id=key, mailbox="ann", folder="INBOX", uid=1, sender="x@acme.test",
            client="Acme", owner=ANN, subject="s", received_at=received, read_at=received,
            deadline=received, urgent=False, after_hours=False, routed_from="",
            ladder_step=0, status="acknowledged", acknowledged_at=acked,
            acknowledged_how="reply",
        ), received)

    data = DigestData(items=(
        item("<today>", datetime(2026, 11, 22, 23, 30, tzinfo=UTC)),
        item("<yesterday>", datetime(2026, 11, 22, 23, 50, tzinfo=BERLIN)),
    ))
    ann = next(d for d in build_digests(config, data, now) if d.recipient == ANN)
    assert [i.message_id for i in ann.acknowledged] == ["<today>"]


def test_the_digest_mail_is_multipart_auto_generated_and_marked(
    config: Config, digests: dict[str, Digest]
) -> None:
    out = compose_digest(digests[ANN], config=config, env=environment(None, "en"), now=NOW)
    msg = message_from_bytes(out.message.as_bytes(), policy=default_policy)
    assert isinstance(msg, EmailMessage)
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Boundary-Mail"] == "digest"
    assert msg["From"] == "Wright & Stone <assistant@agency.test>"
    assert msg["To"] == "Ann Wright <ann@agency.test>"
    assert msg["Subject"] == "Digest for Ann Wright · Mon 23 Nov: 4 waiting, 2 overdue"
    assert out.dedupe_key == "digest:ann@agency.test:2026-11-23"
    assert out.recipients == (ANN,) and out.kind == "digest"
    text = msg.get_body(("plain",))
    assert text is not None and "WAITING ON YOU: 4 (2 overdue)" in text.get_content()


def test_a_digest_is_queued_once_per_recipient_and_day(config: Config, store: Store) -> None:
    """Queued twice, even by a restarted process: one action per recipient."""
    first = queue_digests(store, config, todays_digests(store, config, NOW), NOW)
    assert sorted(first.queued) == sorted([ANN, BOB, LEAD])
    store.close()
    again = Store(config.state_file)
    second = queue_digests(again, config, todays_digests(again, config, NOW + timedelta(hours=1)),
                           NOW + timedelta(hours=1))
    # Not sent yet (nothing drained): they wait to go out, they are not queued again.
    assert second.queued == [] and sorted(second.waiting) == sorted([ANN, BOB, LEAD])
    actions = again.actions("digest")
    assert sorted(a.dedupe_key for a in actions) == [
        f"digest:{r}:2026-11-23" for r in sorted([ANN, BOB, LEAD])
    ]
    tomorrow = queue_digests(again, config, todays_digests(again, config, NOW + timedelta(days=1)),
                             NOW + timedelta(days=1))
    assert sorted(tomorrow.queued) == sorted([ANN, BOB, LEAD])


def test_an_empty_digest_is_not_sent_by_default(config: Config, store: Store) -> None:
    """Carl has nothing waiting and nothing happened: no digest for him."""
    assert CARL not in {d.recipient for d in todays_digests(store, config, NOW)}
    empty = Store(config.state_file.with_name("empty.sqlite3"))
    assert todays_digests(empty, config, NOW) == []


def test_send_empty_sends_a_short_nothing_waiting_note(tmp_path: Path, store: Store) -> None:
    config = Config(**config_data(state_dir=str(tmp_path / "state"),
                                  digest={"send_empty": True}))
    carl = next(d for d in todays_digests(store, config, NOW) if d.recipient == CARL)
    r = render_digest(environment(None, "en"), carl, config)
    assert r.subject == "Digest for Carl Quiet · Mon 23 Nov: nothing waiting"
    assert "Nothing is waiting on you" in r.text and "Nothing is waiting on you" in r.html
    assert queue_digests(store, config, [carl], NOW).queued == [CARL]


def test_check_config_validates_the_digest_templates() -> None:
    assert {"digest.txt.j2", "digest.html.j2"} <= set(TEMPLATE_NAMES)


def test_cli_prints_the_text_and_writes_one_html_file_per_recipient(
    tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    data = config_data(state_dir=str(tmp_path / "state"))
    data["smtp"]["password_env"] = "UNUSED"
    data["smtp"]["username"] = "assistant"
    path = tmp_path / "boundary-mail.toml"
    path.write_text(render_toml(data))
    assert main(["--config", str(path), "digest", "--now", "2026-11-23T17:30"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("Digest for ") == 3 and "Carl" not in printed
    assert "WAITING ON EVERYONE: 7 (3 overdue)" in printed

    assert main(["--config", str(path), "digest", "--now", "2026-11-23T17:30", "--out",
                 str(tmp_path / "digest.html")]) == 0
    assert (tmp_path / "digest.html").read_text().count("Digest for Lee Lead") == 2
    assert "Digest for Ann Wright" in (tmp_path / f"digest-{ANN}.html").read_text()
    assert (tmp_path / f"digest-{BOB}.html").exists()
    assert not (tmp_path / f"digest-{CARL}.html").exists()

    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["--config", str(path), "digest", "--now", "2026-11-23T17:30", "--out",
                 str(folder)]) == 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{r}.html" for r in (ANN, BOB, LEAD)
    )


def test_a_long_backlog_lists_the_oldest_and_counts_the_rest(
    config: Config, digests: dict[str, Digest]
) -> None:
    """With 120 items waiting the digest still says 120, lists the 50 oldest one by one and
    counts the other 70: a backlog of thousands stays a small, fast mail."""
    from dataclasses import replace

    from boundary_mail.digest import WAITING_LISTED, Waiting

    lead = digests[LEAD]
    first = lead.waiting[0]
    backlog = tuple(
        Waiting(replace(first.item, message_id=f"<b{i}@acme.test>", sender=f"b{i:03d}@acme.test",
                        received_at=first.item.received_at + timedelta(minutes=i)),
                first.age - timedelta(minutes=i), first.overdue)
        for i in range(120)
    )
    big = replace(lead, waiting=backlog)
    rendered = render_digest(environment(None, config.locale), big, config)
    assert WAITING_LISTED == 50
    for part in (rendered.text, rendered.html):
        assert "b000@acme.test" in part and "b049@acme.test" in part
        assert "b050@acme.test" not in part
        assert "and 70 more" in part
    assert "WAITING ON EVERYONE: 120" in rendered.text
    assert "Waiting on everyone (120)" in rendered.html


def test_a_mailbox_that_could_not_be_read_is_said_to_its_owner_and_the_lead(
    config: Config, store: Store
) -> None:
    """Ann's mailbox failed in the last window: Ann's and the lead's digests say so first, with
    when it was last read and why; Bob's does not. A day with only that is not empty."""
    with store.transaction():
        store.record_mailbox_ok("ann", NOW - timedelta(days=1))
        store.record_mailbox_failed("ann", "login as 'ann' was refused", NOW)
        store.record_mailbox_ok("bob", NOW)
    data = load_digest_data(store, config, NOW)
    by = {d.recipient: d for d in build_digests(config, data, NOW)}
    assert [u.mailbox for u in by[ANN].unread] == ["ann"]
    assert [u.mailbox for u in by[LEAD].unread] == ["ann"]
    assert by[BOB].unread == ()
    r = render_digest(environment(None, "en"), by[LEAD], config)
    assert "NOT READ: mailbox ann (ann@agency.test) since" in r.text
    assert "could not be read since" in r.html and "login as 'ann' was refused" in r.html
    quiet = replace(by[BOB], waiting=(), escalated=(), acknowledged=(), routed=(), new_today=0,
                    followups_today=0, auto_replies_sent=0, suppressed=())
    assert quiet.empty
    assert not replace(quiet, unread=by[ANN].unread).empty


def test_a_route_that_failed_for_good_is_said_to_the_mailbox_owner_and_the_lead(
    config: Config, store: Store
) -> None:
    """A client message in Ann's inbox, meant for Bob, could not be passed on (refused for
    good): once its alert is queued, Ann's and the lead's digests say where it lies and why;
    Bob's does not. A day with only that is not empty."""
    from boundary_mail.routes import queue_route_alerts

    mid = "<big@acme.test>"
    with store.transaction():
        store.record_message(mailbox="ann", folder="INBOX", message_id=mid, uid=7,
                             received_at=NOW - timedelta(hours=2), sender="carl@acme.test",
                             subject="The big files", status="decided", rule="reply",
                             reason="", now=NOW - timedelta(hours=1))
        store.add_action(dedupe_key=f"redirect:{mid}:{BOB}", kind="redirect",
                         source_message_id=mid, envelope_from="assistant@agency.test",
                         recipients=(BOB,), outgoing_message_id="<bm.x@agency.test>",
                         raw=b"x", on_sent={}, now=NOW - timedelta(hours=1))
    (action,) = [a for a in store.actions() if a.source_message_id == mid]
    assert store.claim(action, "t")
    store.release(action, "t", "552 5.3.4 Message size exceeds fixed limit", final=True)
    assert load_digest_data(store, config, NOW).failed_routes == ()  # not noticed yet

    assert queue_route_alerts(config, store, NOW) == 1
    assert queue_route_alerts(config, store, NOW) == 0  # one alert per message
    (alert,) = [a for a in store.actions() if a.kind == "route_failed"]
    assert alert.recipients == (ANN,)

    by = {d.recipient: d for d in build_digests(config, load_digest_data(store, config, NOW),
                                                NOW)}
    assert [r.message_id for r in by[ANN].failed_routes] == [mid]
    assert [r.message_id for r in by[LEAD].failed_routes] == [mid]
    assert by[BOB].failed_routes == ()
    r = render_digest(environment(None, "en"), by[ANN], config)
    assert ("NOT PASSED ON: carl@acme.test · The big files could not reach bob@agency.test"
            in r.text)
    assert "it lies in mailbox ann, folder INBOX" in r.text
    assert "Not passed on: carl@acme.test" in r.html and "552 5.3.4" in r.html
    quiet = replace(by[BOB], waiting=(), escalated=(), acknowledged=(), routed=(), new_today=0,
                    followups_today=0, auto_replies_sent=0, suppressed=(), unread=())
    assert quiet.empty
    assert not replace(quiet, failed_routes=by[ANN].failed_routes).empty
