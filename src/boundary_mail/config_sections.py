"""The sections of the configuration file, one strict pydantic model each.

Its own module so that the rules of each section (field types, defaults, the checks inside a
section and their wording) read apart from the file as a whole: reading the TOML file,
environment overrides, checks that span sections and reporting every problem at once live in
`config`, which re-exports these models under their old names.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from boundary_mail.config_agreement import AgreementConfig, LanguageTag, ZoneName
from boundary_mail.config_auth import Auth, OAuth2Config, check_sign_in
from boundary_mail.config_costs import ClientCosts
from boundary_mail.config_waiting import WaitingOverride

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

Security = Literal["tls", "starttls", "plain"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _parse_clock(value: Any) -> Any:
    """Accept "HH:MM" strings (TOML has no bare time in every editor's habits)."""
    if isinstance(value, str):
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a time of day; write it as \"HH:MM\", e.g. \"10:00\""
            ) from None
    return value


def _lower_address(value: str) -> str:
    value = value.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value):
        raise ValueError(f"{value!r} is not an email address; write it as name@example.com")
    return value


class Account(_Strict):
    """Where a password comes from. Exactly one source may be set; none means no login.
    With auth = "oauth2", no password: tokens from the `oauth2` table (`config_auth`)."""

    username: str | None = None
    password: SecretStr | None = None  # only via BOUNDARY_MAIL_… env overrides; never in the file
    password_env: str | None = None
    password_file: Path | None = None
    password_command: list[str] | None = None
    auth: Auth = "password"
    oauth2: OAuth2Config | None = None

    @model_validator(mode="after")
    def _one_password_source(self) -> Account:
        sources = [
            name
            for name in ("password", "password_env", "password_file", "password_command")
            if getattr(self, name) is not None
        ]
        if len(sources) > 1:
            raise ValueError(
                f"several password sources set ({', '.join(sources)}); keep exactly one"
            )
        if sources and not self.username:
            raise ValueError("a password source is set but no username; add username = \"…\"")
        check_sign_in(self, sources)
        return self


class Server(Account):
    host: str
    port: int = Field(ge=1, le=65535)
    security: Security = "tls"
    ca_file: Path | None = None
    allow_insecure: bool = False
    timeout_seconds: float = Field(default=30.0, gt=0, le=600)

    @model_validator(mode="after")
    def _security_fits_the_port(self) -> Server:
        implicit_tls = {993: "IMAP", 465: "SMTP"}
        if self.security == "starttls" and self.port in implicit_tls:
            raise ValueError(
                f"port {self.port} is {implicit_tls[self.port]} over implicit TLS, where the"
                f" server never offers STARTTLS; use security = \"tls\" for port {self.port}"
            )
        plain_ports = {143: "IMAP", 587: "SMTP submission", 25: "SMTP"}
        if self.security == "tls" and self.port in plain_ports:
            raise ValueError(
                f"port {self.port} is {plain_ports[self.port]} that starts unencrypted; use"
                f" security = \"starttls\" for port {self.port}"
            )
        return self

    @model_validator(mode="after")
    def _plaintext_is_explicit(self) -> Server:
        if self.security == "plain" and not self.allow_insecure:
            raise ValueError(
                "security = \"plain\" sends the password unencrypted; use \"tls\" or \"starttls\","
                " or set allow_insecure = true if this really is a trusted link"
            )
        return self


class SmtpConfig(Server):
    port: int = Field(default=465, ge=1, le=65535)
    from_address: str
    from_name: str = "boundary-mail"
    # RFC 5321 §4.5.3.2: wait 10 minutes for the answer to the final dot. A message whose
    # answer does not come in time may have been delivered: it is never resent in the same
    # window, and at most once later.
    final_reply_timeout_seconds: float = Field(default=600.0, gt=0, le=3600)
    # Connections the queue is sent over at once, at most: one more for each 20 messages
    # waiting, so a handful of replies goes over one, a big window's burst over several (a
    # remote server's round trips: two per message, four without pipelining). A connection
    # the server refuses while another one sends is simply not used.
    sessions: int = Field(default=8, ge=1, le=16)
    # RFC 2920: MAIL, RCPT and DATA in one write where the server offers PIPELINING (two
    # round trips a message instead of four). false: one command at a time.
    pipelining: bool = True
    # The biggest message sent through the relay (the server's own SIZE, if smaller, wins). A
    # client message too big for it is passed on as a notice that says where it lies, and
    # reminders say where the original lies instead of attaching it.
    max_message_bytes: int = Field(default=20_000_000, ge=10_000)

    _addr = field_validator("from_address")(_lower_address)


class MailboxConfig(Server):
    """One monitored mailbox: an IMAP account and the person who owns it."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    port: int = Field(default=993, ge=1, le=65535)
    owner: str
    aliases: list[str] = []
    inbox: str = "INBOX"
    sent: str | None = "Sent"
    drafts: str = "Drafts"  # where nudges to clients are put for the owner to send

    _owner = field_validator("owner")(_lower_address)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        return [_lower_address(a) for a in value]

    @cached_property
    def own_addresses(self) -> frozenset[str]:
        return frozenset([self.owner, *self.aliases])


class Member(_Strict):
    name: str = Field(min_length=1)
    address: str
    backup: str | None = None

    _addr = field_validator("address")(_lower_address)

    @field_validator("backup")
    @classmethod
    def _backup(cls, value: str | None) -> str | None:
        return None if value is None else _lower_address(value)


class TeamConfig(_Strict):
    members: list[Member] = Field(min_length=1)
    lead: str
    triage_owner: str | None = None  # defaults to the lead

    _lead = field_validator("lead")(_lower_address)

    @field_validator("triage_owner")
    @classmethod
    def _triage(cls, value: str | None) -> str | None:
        return None if value is None else _lower_address(value)

    @property
    def addresses(self) -> frozenset[str]:
        return frozenset(m.address for m in self.members)

    def member(self, address: str) -> Member | None:
        return next((m for m in self.members if m.address == address), None)


class ClientConfig(_Strict):
    name: str = Field(min_length=1)
    addresses: list[str] = []
    domains: list[str] = []
    account_manager: str
    answer_within_business_days: int | None = Field(default=None, ge=0, le=30)
    monthly_allowance: int | None = Field(default=None, ge=0)
    vip: bool = False
    monthly_fee: Decimal | None = Field(default=None, ge=0)  # retainer or the month's invoice
    costs: ClientCosts | None = None  # the client's own minutes (see config_costs)
    waiting: WaitingOverride | None = None  # this client's own [waiting] keys
    language: LanguageTag | None = None  # default: the top-level language
    timezone: ZoneName | None = None  # replies also show times in this zone
    agreement: AgreementConfig | None = None  # overrides [agreement] key by key

    _am = field_validator("account_manager")(_lower_address)

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return [_lower_address(a) for a in value]

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = []
        for d in value:
            d = d.strip().lower().lstrip("@")
            if "." not in d or "@" in d or any(c.isspace() for c in d):
                raise ValueError(f"{d!r} is not a domain; write it as example.com")
            out.append(d)
        return out

    @model_validator(mode="after")
    def _matches_something(self) -> ClientConfig:
        if not self.addresses and not self.domains:
            raise ValueError("a client needs at least one entry in addresses or domains")
        return self


class ScheduleConfig(_Strict):
    workdays: list[str] = ["mon", "tue", "wed", "thu", "fri"]
    check_windows: list[time] = Field(default=[time(10), time(15)], min_length=1)
    business_hours: tuple[time, time] = (time(9), time(17))
    holidays_country: str | None = None
    holidays_subdivision: str | None = None
    digest_time: time = time(17, 30)
    urgent_scan_minutes: int = Field(default=0, ge=0, le=240)  # 0 disables the scan

    _clock = field_validator("check_windows", "digest_time", "business_hours", mode="before")(
        lambda v: [_parse_clock(x) for x in v] if isinstance(v, list | tuple) else _parse_clock(v)
    )

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, value: list[str]) -> list[str]:
        days = [d.strip().lower()[:3] for d in value]
        bad = [d for d in value if d.strip().lower()[:3] not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday(s) {bad}; use {', '.join(WEEKDAYS)}")
        if not days:
            raise ValueError("at least one workday is needed")
        return days

    @field_validator("check_windows")
    @classmethod
    def _sorted_windows(cls, value: list[time]) -> list[time]:
        if len(set(value)) != len(value):
            raise ValueError("the same check window is listed twice; remove the duplicate")
        return sorted(value)

    @model_validator(mode="after")
    def _hours_and_holidays(self) -> ScheduleConfig:
        start, end = self.business_hours
        if start >= end:
            raise ValueError("business_hours must be [start, end] with start before end")
        if self.holidays_country:
            import holidays

            country = self.holidays_country.upper()
            try:  # one country's class, not the list of all (that costs 0.1 s at each start)
                subdivisions = list(holidays.country_holidays(country).subdivisions)
            except NotImplementedError:
                raise ValueError(
                    f"holidays_country {self.holidays_country!r} is not known to the holidays"
                    " package; use an ISO 3166-1 alpha-2 code such as \"DE\" or \"US\""
                ) from None
            subdivision = self.holidays_subdivision
            if subdivision and subdivision.upper() not in [s.upper() for s in subdivisions]:
                raise ValueError(
                    f"holidays_subdivision {subdivision!r} is not a subdivision of {country};"
                    f" use one of {', '.join(subdivisions[:12])}…"
                )
        elif self.holidays_subdivision:
            raise ValueError("holidays_subdivision needs holidays_country")
        return self


class ResponseConfig(_Strict):
    """The promise: read at the next check window, answered by the last check window of the
    N-th business day after the read day (N = answer_within_business_days)."""

    answer_within_business_days: int = Field(default=1, ge=0, le=30)
    auto_reply: bool = True
    auto_reply_days: int = Field(default=7, ge=1, le=60)  # RFC 5230 §4.1 :days, clamped 1–60
    system_senders: list[str] = []  # extra local parts or addresses never answered
    first_contact: Literal["inline", "attach", "off"] = "attach"
    contact_note_days: int = Field(default=30, ge=1, le=365)
    html: bool = True


class EscalationStep(_Strict):
    after_business_hours: float = Field(ge=0, le=400)
    notify: Literal["account_manager", "backup", "lead"]


class EscalationConfig(_Strict):
    steps: list[EscalationStep] = [
        EscalationStep(after_business_hours=0, notify="account_manager"),
        EscalationStep(after_business_hours=8, notify="lead"),
    ]
    # The authserv-id (usually the host name) our receiving server writes into
    # Authentication-Results. A team member's reply found in an inbox acknowledges an item
    # only if that server's verdict says it passed DKIM or SPF+DMARC: anyone can write
    # "From: ann@…". Empty: inbox copies never acknowledge (Sent, \Answered and `ack` do).
    trusted_authserv_id: str = ""

    @field_validator("steps")
    @classmethod
    def _ordered(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        hours = [s.after_business_hours for s in value]
        if hours != sorted(hours):
            raise ValueError("escalation steps must be listed in order of after_business_hours")
        return value


class UrgentConfig(_Strict):
    vip_senders: list[str] = []
    keywords: list[str] = []
    alert_address: str | None = None
    channel: str = ""  # e.g. "call +49 30 1234567"; named in the auto-reply of urgent mail

    @field_validator("alert_address")
    @classmethod
    def _alert(cls, value: str | None) -> str | None:
        return None if value is None else _lower_address(value)

    @field_validator("vip_senders")
    @classmethod
    def _vips(cls, value: list[str]) -> list[str]:
        return [_lower_address(a) for a in value]


class DigestConfig(_Strict):
    send_empty: bool = False
