"""The monthly client report on the real servers: a November of mail to three clients, read by
real check windows (inbox and Sent folders), plus Globex's hours imported from a Toggl export
→ `report --month 2026-11` ranks the clients as computed by hand; `--send` twice sends one
report to the lead; the HTML renders in headless Chromium without any remote request.

By hand (hourly rate 60 EUR, so a minute costs 1 EUR; minutes: message 6, follow-up 4, after
hours 5, reply 12):

| client  | fee  | msgs | fu | after | replies | hours             | cost | cost ÷ fee | share   |
| Acme    | 50   | 4    | 1  | 1     | 3       | (24+4+5+36)/60    | 69   | 1.38       | 1.82 %  |
| Globex  | 2000 | 2    | 0  | 0     | 1       | imported: 10      | 600  | 0.30       | 72.73 % |
| Initech | 700  | 3    | 0  | 0     | 1       | (18+12)/60 = 0.5  | 30   | 0.04       | 25.45 % |

Not counted: a newsletter from acme.test (a list), a stranger's message (no client), Ann's
message to Bob (team mail), and October's mail (another month).
"""

from __future__ import annotations

import asyncio
import csv
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agency import BERLIN, Agency, client_mail
from tests.unit.test_digest_render import DevTools, devtools  # noqa: F401 - the fixture

NOV = "2026-11"


def nov(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def team_mail(sender: str, to: str, message_id: str, in_reply_to: str = "") -> bytes:
    headers = {"In_Reply_To": in_reply_to} if in_reply_to else {}
    return client_mail(sender=sender, to=to, subject="Re: your message",
                       message_id=message_id, **headers)


def seed_november(agency: Agency, mailserver: Any, tmp_path: Path) -> None:
    """Three clients with fees, a first window before the month's mail, the mail, a window
    after it, and Globex's hours from a Toggl export."""
    agency.data["costs"] = {"hourly_rate": 60, "currency": "EUR"}
    agency.data["clients"] = [
        {"name": "Acme", "domains": ["acme.test"], "account_manager": "ann@agency.test",
         "monthly_fee": 50, "monthly_allowance": 3},
        {"name": "Globex", "addresses": ["tom@globex.test"],
         "account_manager": "bob@agency.test", "monthly_fee": 2000},
        {"name": "Initech", "domains": ["initech.test"], "account_manager": "ann@agency.test",
         "monthly_fee": 700},
    ]
    agency.write()
    assert agency.poll(nov(2, 8)) == 0  # the folders' first sync: nothing there yet

    def inbox(user: str, at: datetime, **kw: Any) -> None:
        mailserver.append(user, "INBOX", client_mail(**kw), date=at)

    def sent(user: str, at: datetime, raw: bytes) -> None:
        mailserver.append(user, "Sent", raw, date=at)

    maria = {"sender": "maria@acme.test", "to": "ann@agency.test"}
    inbox("ann", nov(3, 11), message_id="<a1@acme.test>", **maria)
    inbox("ann", nov(3, 11, 20), message_id="<a2@acme.test>", In_Reply_To="<a1@acme.test>",
          subject="Re: Hello", **maria)  # "did you get my email?"
    inbox("ann", nov(5, 14), message_id="<a3@acme.test>", **maria)
    inbox("ann", nov(7, 21), message_id="<a4@acme.test>", **maria)  # a Saturday evening
    inbox("ann", nov(9, 10), message_id="<a5@acme.test>", **maria)
    inbox("ann", nov(4, 9), sender="news@acme.test", message_id="<n1@acme.test>",
          List_Id="<news.acme.test>", Precedence="list")
    inbox("ann", nov(4, 10), sender="sam@elsewhere.test", message_id="<s1@elsewhere.test>")
    inbox("bob", nov(4, 11), sender="tom@globex.test", to="bob@agency.test",
          message_id="<g1@globex.test>")
    inbox("bob", nov(12, 11), sender="tom@globex.test", to="bob@agency.test",
          message_id="<g2@globex.test>")
    for i, day in enumerate((10, 11, 12), start=1):
        inbox("ann", nov(day, 15), sender="joe@initech.test", message_id=f"<i{i}@initech.test>")
    sent("ann", nov(3, 16), team_mail("ann@agency.test", "maria@acme.test", "<r1@agency.test>",
                                      "<a1@acme.test>"))
    sent("ann", nov(5, 16), team_mail("ann@agency.test", "maria@acme.test", "<r2@agency.test>",
                                      "<a3@acme.test>"))
    sent("ann", nov(9, 16), team_mail("ann@agency.test", "maria@acme.test", "<r3@agency.test>"))
    sent("ann", nov(12, 16), team_mail("ann@agency.test", "joe@initech.test",
                                       "<r4@agency.test>", "<i1@initech.test>"))
    sent("ann", nov(12, 17), team_mail("ann@agency.test", "bob@agency.test", "<r5@agency.test>"))
    sent("bob", nov(12, 16), team_mail("bob@agency.test", "tom@globex.test", "<r6@agency.test>",
                                       "<g1@globex.test>"))
    assert agency.poll(nov(13, 10)) == 0

    # Globex's real hours: November's replace the model, October's are October's, and the
    # row of "Internal" (no client) is left out.
    toggl = tmp_path / "toggl.csv"
    toggl.write_text(
        "User,Email,Client,Project,Task,Description,Billable,Start date,Start time,End date,"
        "End time,Duration,Tags\n"
        "Bob,bob@agency.test,Globex,Site,,Call,Yes,2026-11-04,10:00:00,2026-11-04,16:00:00,"
        "06:00:00,\n"
        "Bob,bob@agency.test,Globex,Site,,Fixes,Yes,2026-11-20,09:00:00,2026-11-20,13:00:00,"
        "04:00:00,\n"
        "Bob,bob@agency.test,Globex,Site,,Kickoff,Yes,2026-10-20,09:00:00,2026-10-20,10:30:00,"
        "01:30:00,\n"
        "Bob,bob@agency.test,Internal,Admin,,Taxes,No,2026-11-05,09:00:00,2026-11-05,10:00:00,"
        "01:00:00,\n",
        encoding="utf-8",
    )
    assert agency.cli("costs", "import", str(toggl)) == 0


def test_report_ranks_the_seeded_month_as_computed_by_hand(
    agency: Agency, mailserver: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_november(agency, mailserver, tmp_path)
    imported = capsys.readouterr().out
    assert "as a Toggl export (columns 'Client', 'Start date', 'Duration')" in imported
    assert "left out 1 row(s) of 'Internal'" in imported
    assert "Globex 2026-11: 10 h" in imported and "Globex 2026-10: 1.5 h" in imported

    out = tmp_path / "report.csv"
    assert agency.cli("report", "--month", NOV, "--csv", str(out)) == 0
    assert "hours imported for Globex from toggl.csv; modelled from the mail for the others" \
        in capsys.readouterr().out
    every = list(csv.DictReader(out.read_text(encoding="utf-8").splitlines()))
    rows = [r for r in every if r["month"] == NOV]
    got = [(r["client"], r["messages"], r["followups"], r["after_hours"], r["replies"],
            r["hours"], r["hours_source"], r["cost"], r["fee"], r["cost_per_fee"],
            r["revenue_share_percent"], r["costs_more_than_it_pays"], r["over_allowance"],
            r["over_revenue_share"]) for r in rows]
    assert got == [
        ("Acme", "4", "1", "1", "3", "1.15", "model", "69.00", "50.00", "1.38", "1.82",
         "true", "true", "false"),
        ("Globex", "2", "0", "0", "1", "10.00", "toggl.csv", "600.00", "2000.00", "0.30",
         "72.73", "false", "false", "true"),
        ("Initech", "3", "0", "0", "1", "0.50", "model", "30.00", "700.00", "0.04", "25.45",
         "false", "false", "false"),
    ]
    october = next(r for r in every if r["month"] == "2026-10" and r["client"] == "Globex")
    assert (october["hours"], october["cost"]) == ("1.50", "90.00")

    assert agency.cli("report", "--month", NOV) == 0
    text = capsys.readouterr().out
    assert text.startswith("Client report for November 2026: 1 client costs more than it pays")
    ranked = [line.split()[0] for line in text.splitlines()
              if line.split()[:1] and line.split()[0] in {"Acme", "Globex", "Initech"}]
    assert ranked[:3] == ["Acme", "Globex", "Initech"]
    assert "COSTS MORE THAN IT PAYS" in text and "OVER 40 % OF REVENUE" in text


def _reports(mailserver: Any, timeout: float = 15) -> list[Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in mailserver.messages("lead")
                 if m["X-Boundary-Mail"] == "client_report"]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_send_twice_sends_one_report_to_the_lead(
    agency: Agency, mailserver: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed_november(agency, mailserver, tmp_path)
    assert agency.cli("report", "--month", NOV, "--send") == 0
    assert "client report for 2026-11 queued for lead@agency.test" in capsys.readouterr().out
    (report,) = _reports(mailserver)
    assert report["Subject"] == "Client report for November 2026: 1 client costs more than it pays"
    assert report["Auto-Submitted"] == "auto-generated"
    assert report.get_content_type() == "multipart/mixed"
    html = report.get_body(("html",)).get_content()
    assert html.index(">Acme<") < html.index(">Globex<") < html.index(">Initech<")
    assert "<svg" in html and "<style" not in html  # CSS inlined
    (attachment,) = list(report.iter_attachments())
    assert attachment.get_filename() == "client-report-2026-11.csv"
    assert "2026-11,Acme,4,1,1,3,0,1.15,model,69.00" in attachment.get_content()

    assert agency.cli("report", "--month", NOV, "--send") == 0
    assert "was already sent; not sent again" in capsys.readouterr().out
    time.sleep(1.0)  # a second report, if one were sent, would have arrived by now
    assert len(_reports(mailserver)) == 1


def test_the_html_report_renders_offline_in_chromium(
    agency: Agency, mailserver: Any, tmp_path: Path, devtools: DevTools  # noqa: F811
) -> None:
    """Loaded from file:// with no other request, no console or script error; the trend
    chart is drawn and the ranking table shows the flags."""
    seed_november(agency, mailserver, tmp_path)
    page = tmp_path / "report.html"
    assert agency.cli("report", "--month", NOV, "--html", str(page)) == 0
    url = page.as_uri()
    target = devtools.send("Target.createTarget", url="about:blank")["targetId"]
    session = devtools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Network", "Runtime", "Log", "Page"):
        devtools.send(f"{domain}.enable", session)
    devtools.events.clear()
    assert "errorText" not in devtools.send("Page.navigate", session, url=url)
    devtools.wait_for("Page.loadEventFired")
    devtools.settle(1.0)
    requested = [p["request"]["url"] for p in devtools.of("Network.requestWillBeSent")]
    assert requested == [url], f"the report made requests besides its own file: {requested}"
    assert devtools.of("Network.loadingFailed") == []
    assert devtools.of("Runtime.exceptionThrown") == []
    assert [p for p in devtools.of("Log.entryAdded") if p["entry"]["level"] == "error"] == []

    def evaluate(expression: str) -> Any:
        result = devtools.send("Runtime.evaluate", session, expression=expression,
                               returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"]["value"]

    assert evaluate("document.querySelectorAll('script, img, iframe, link, object, embed')"
                    ".length") == 0
    assert evaluate("document.body.innerText.includes('COSTS MORE THAN IT PAYS')")
    assert evaluate("[...document.querySelectorAll('#ranking tr td:first-child')]"
                    ".map(td => td.innerText)") == ["Acme", "Globex", "Initech"]
    assert evaluate("document.querySelectorAll('#trend tr').length") == 4
    assert evaluate("document.querySelectorAll('svg rect').length") >= 3


def test_the_daemon_sends_last_months_report_on_the_first_business_day_once(
    agency: Agency, mailserver: Any, tmp_path: Path
) -> None:
    """The job runs every business day at digest time. On Monday 30 November October's report
    goes out (it is due since 2 November and was never sent: the service was not running;
    October has Globex's imported hours), November's is not due yet; it goes on Tuesday
    1 December, the first business day; on the 2nd nothing more is sent."""
    from boundary_mail.cost_job import monthly_report_job
    from boundary_mail.daemon import Daemon

    seed_november(agency, mailserver, tmp_path)
    daemon = Daemon(str(agency.path), agency.config)
    daemon.schedule()
    assert daemon.scheduler.get_job("client-report") is not None
    store = agency.store()
    try:
        asyncio.run(monthly_report_job(daemon, nov(30, 17, 30)))
        assert [a.dedupe_key for a in store.actions("client_report")] == [
            "client-report:2026-10"]

        async def first_days_of_december() -> None:
            await monthly_report_job(daemon, nov(1, 17, 30, month=12))
            await monthly_report_job(daemon, nov(2, 17, 30, month=12))

        asyncio.run(first_days_of_december())
        assert [(a.dedupe_key, a.status) for a in store.actions("client_report")] == [
            ("client-report:2026-10", "sent"), ("client-report:2026-11", "sent")]
    finally:
        store.close()
    deadline = time.monotonic() + 15
    while len(reports := _reports(mailserver)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sorted(r["Subject"].split(":")[0] for r in reports) == [
        "Client report for November 2026", "Client report for October 2026"]
