"""Warnings about a valid configuration that probably does not do what its author meant.

`config` refuses what cannot work; this module points out what works but surprises: a check
window outside business hours, a lead who is not a team member, a login without a password.
Each warning names the key, what it means for the team or its clients, and the fix. Pure: the
configuration in, sentences out; `check-config` prints them and exits 0.
"""

from __future__ import annotations

from boundary_mail.config import Config, Server
from boundary_mail.config_waiting import waiting_rules


def _hhmm(moment: object) -> str:
    return format(moment, "%H:%M")


def config_warnings(config: Config) -> list[str]:
    """Every warning about `config`, in the order of the file's sections."""
    return [
        *_language(config), *_schedule(config), *_team(config), *_logins(config),
        *_costs(config), *_waiting(config),
    ]


def _language(config: Config) -> list[str]:
    if "locale" not in config.model_fields_set or config.language:
        return []
    return [
        f"locale: the key is now called language, and it chooses the templates too: clients"
        f" are written to in {config.default_language!r} (text and dates); rename locale to"
        " language"
    ]


def _schedule(config: Config) -> list[str]:
    schedule = config.schedule
    opens, closes = schedule.business_hours
    hours = f"{_hhmm(opens)}–{_hhmm(closes)}"
    found = [
        f"schedule.check_windows: {_hhmm(window)} is outside business_hours {hours}; mail is"
        " read and answered when nobody is at work (and the ladder counts business hours"
        " only); move the window inside business hours or widen business_hours"
        for window in schedule.check_windows
        if not opens <= window < closes
    ]
    last = schedule.check_windows[-1]
    if schedule.digest_time < last:
        found.append(
            f"schedule.digest_time: {_hhmm(schedule.digest_time)} is before the last check"
            f" window ({_hhmm(last)}); what that window reads waits for the next day's digest;"
            f" set digest_time after {_hhmm(last)}"
        )
    return found


def _team(config: Config) -> list[str]:
    team = config.team.addresses
    found = []
    if config.team.lead not in team:
        found.append(
            f"team.lead: {config.team.lead!r} is not in team.members; if the address is"
            " mistyped, escalations and the lead's digest go astray; add the lead to"
            " team.members (name and address)"
        )
    for i, mailbox in enumerate(config.mailboxes):
        if mailbox.owner not in team and mailbox.owner != config.team.lead:
            found.append(
                f"mailboxes[{i}].owner: {mailbox.owner!r} is not a team member or the lead;"
                " their items appear only in the lead's digest; add them to team.members"
            )
    return found


def _logins(config: Config) -> list[str]:
    accounts: list[tuple[str, Server]] = [("smtp", config.smtp)]
    accounts += [(f"mailboxes[{i}]", m) for i, m in enumerate(config.mailboxes)]
    return [
        f"{key}: username {server.username!r} has no password source, so it logs in with an"
        " empty password; set password_env, password_file or password_command"
        for key, server in accounts
        if server.username and not _has_password_source(server)
    ]


def _has_password_source(server: Server) -> bool:
    return any(
        value is not None
        for value in (server.password, server.password_env, server.password_file,
                      server.password_command)
    )


def _costs(config: Config) -> list[str]:
    """Fees without a rate: the user meant to see costs and will see no report."""
    if config.costs.hourly_rate is not None:
        return []
    return [
        f"clients[{i}].monthly_fee: set, but costs.hourly_rate is not, so no client report is"
        " made (`boundary-mail report` refuses, none is emailed); set [costs] hourly_rate"
        for i, client in enumerate(config.clients) if client.monthly_fee is not None
    ][:1]
def _waiting(config: Config) -> list[str]:
    found = []
    for i, client in enumerate(config.clients):
        rules = waiting_rules(config.waiting, client.waiting)
        if rules.track == "all" and rules.nudge == "send" and rules.max_nudges:
            found.append(
                f"clients[{i}].waiting: {client.name} is tracked with track = \"all\" and"
                " nudge = \"send\": every message the team writes to them that gets no"
                f" answer within {rules.after_business_days} business day(s) is followed by"
                " a nudge sent in the writer's name, even a \"thank you\"; use nudge ="
                " \"draft\" to look at each first, or track = \"tagged\""
            )
    return found
