"""The configuration: one TOML file, validated completely by pydantic-settings.

Every key may be overridden by a ``BOUNDARY_MAIL_…`` environment variable (nested keys joined
with ``__``, e.g. ``BOUNDARY_MAIL_SMTP__HOST``; lists as JSON). Passwords are never required in
the file: each account names an environment variable, a file (systemd ``LoadCredential=``) or a
command. All problems are collected and reported at once, each with its key and the fix.

This module is the file as a whole: the root model, reading, checks that span sections, and
the wording of problems. Each section's own model and checks are in `config_sections`.
"""

from __future__ import annotations

import os
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from boundary_mail.config_agreement import AgreementConfig, LanguageTag, for_client
from boundary_mail.config_costs import CostsConfig
from boundary_mail.config_sections import (
    WEEKDAYS,
    Account,
    ClientConfig,
    DigestConfig,
    EscalationConfig,
    EscalationStep,
    MailboxConfig,
    Member,
    ResponseConfig,
    ScheduleConfig,
    Security,
    Server,
    SmtpConfig,
    TeamConfig,
    UrgentConfig,
)
from boundary_mail.config_waiting import WaitingConfig
from boundary_mail.errors import ConfigError

# The sections are importable from here, where every caller has always found them.
__all__ = [
    "DEFAULT_CONFIG_PATH", "WEEKDAYS", "Account", "ClientConfig", "Config", "DigestConfig",
    "EscalationConfig", "EscalationStep", "MailboxConfig", "Member", "ResponseConfig",
    "ScheduleConfig", "Security", "Server", "SmtpConfig", "TeamConfig", "UrgentConfig",
    "cross_check", "default_config_path", "load_config",
]

DEFAULT_CONFIG_PATH = "/etc/boundary-mail/boundary-mail.toml"


class Config(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BOUNDARY_MAIL_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    timezone: str = "UTC"
    # The language clients read (templates and Babel dates); `locale` is its old name.
    language: LanguageTag | None = None
    locale: str = "en"
    state_dir: Path = Path("/var/lib/boundary-mail")
    templates_dir: Path | None = None
    # Mailboxes read at the same time in a window: each holds one IMAP connection. 4 suits a
    # small server; a remote provider's round trips make more worth it.
    concurrent_mailboxes: int = Field(default=8, ge=1, le=64)
    schedule: ScheduleConfig = ScheduleConfig()
    response: ResponseConfig = ResponseConfig()
    escalation: EscalationConfig = EscalationConfig()
    urgent: UrgentConfig = UrgentConfig()
    agreement: AgreementConfig = AgreementConfig()
    digest: DigestConfig = DigestConfig()
    costs: CostsConfig = CostsConfig()
    waiting: WaitingConfig = WaitingConfig()  # what we wait for from clients (config_waiting)
    smtp: SmtpConfig
    mailboxes: list[MailboxConfig] = Field(min_length=1)
    team: TeamConfig
    clients: list[ClientConfig] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not a known time zone; use an IANA name such as \"Europe/Berlin\""
            ) from None
        return value

    @field_validator("locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        from babel import Locale, UnknownLocaleError

        try:
            Locale.parse(value)
        except (UnknownLocaleError, ValueError):
            raise ValueError(
                f"{value!r} is not a known locale; use e.g. \"en\" or \"de_DE\""
            ) from None
        return value

    @model_validator(mode="after")
    def _token_files_in_the_state_dir(self) -> Config:
        for account in (self.smtp, *self.mailboxes):
            if account.oauth2 is not None:
                account.oauth2.bind_state_dir(self.state_dir)
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def default_language(self) -> str:
        """`language`, else the old `locale` key (so "de_DE" now means German text too)."""
        return self.language or self.locale.replace("-", "_")

    def client_named(self, name: str) -> ClientConfig | None:
        """The configured client of that name (waits and queued mail name their client)."""
        return next((c for c in self.clients if c.name == name), None)

    def language_of(self, client: ClientConfig | None) -> str:
        return (client.language if client and client.language else None) or self.default_language

    def zone_of(self, client: ClientConfig | None) -> ZoneInfo | None:
        """The client's own time zone, when configured and not ours."""
        if client is None or client.timezone is None or client.timezone == self.timezone:
            return None
        return ZoneInfo(client.timezone)

    def agreement_of(self, client: ClientConfig | None) -> AgreementConfig:
        return for_client(self.agreement, client.agreement if client else None)

    @property
    def triage_owner(self) -> str:
        return self.team.triage_owner or self.team.lead

    @cached_property
    def team_addresses(self) -> frozenset[str]:
        """Everyone whose mail is ours: members, the lead, and every mailbox owner and alias."""
        own: set[str] = set(self.team.addresses) | {self.team.lead}
        for mailbox in self.mailboxes:
            own |= mailbox.own_addresses
        return frozenset(own)

    @property
    def state_file(self) -> Path:
        return self.state_dir / "state.sqlite3"


def _key(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_FIXES = {
    "missing": "add this key",
    "extra_forbidden": "remove it or check its spelling against config/boundary-mail.example.toml",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write a quoted string",
    "list_type": "write a list, e.g. [\"a\", \"b\"]",
    "literal_error": "use one of the listed values",
    "greater_than_equal": "raise the value",
    "less_than_equal": "lower the value",
    "too_short": "add at least one entry",
    "string_pattern_mismatch": "use only letters, digits, '.', '_' and '-'",
}


def _describe(error: Any) -> str:
    key = _key(tuple(error["loc"])) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    fix = _FIXES.get(error["type"])
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key; {fix}"
    if error["type"] == "missing":
        return f"{key}: required key is missing; {fix}"
    return f"{key}: {message}" + (f"; {fix}" if fix and fix not in message else "")


def cross_check(config: Config) -> list[str]:
    """Checks that span several sections: contacts exist, names are unique, clients don't clash."""
    from boundary_mail.languages import language_problems

    problems: list[str] = language_problems(config)
    team = config.team.addresses
    known = team | {config.team.lead}
    for i, member in enumerate(config.team.members):
        if member.backup and member.backup not in known:
            problems.append(
                f"team.members[{i}].backup: {member.backup!r} is not a team member or the lead;"
                " add them to team.members or fix the address"
            )
    if config.team.triage_owner and config.team.triage_owner not in known:
        problems.append(
            f"team.triage_owner: {config.team.triage_owner!r} is not a team member;"
            " add them to team.members or fix the address"
        )
    for i, client in enumerate(config.clients):
        if client.account_manager not in known:
            problems.append(
                f"clients[{i}].account_manager: {client.account_manager!r} is not a team member;"
                " add them to team.members or choose one of " + ", ".join(sorted(known))
            )
    seen_names: dict[str, int] = {}
    for i, mailbox in enumerate(config.mailboxes):
        if mailbox.name in seen_names:
            problems.append(
                f"mailboxes[{i}].name: {mailbox.name!r} is already used by"
                f" mailboxes[{seen_names[mailbox.name]}]; give each mailbox its own name"
            )
        seen_names.setdefault(mailbox.name, i)
    owners: dict[str, str] = {}
    for i, client in enumerate(config.clients):
        for entry in [*client.addresses, *client.domains]:
            if entry in owners:
                problems.append(
                    f"clients[{i}]: {entry!r} is also listed for client {owners[entry]!r};"
                    " an address or domain can belong to one client only"
                )
            owners.setdefault(entry, client.name)
        for address in client.addresses:
            if address in config.team_addresses:
                problems.append(
                    f"clients[{i}].addresses: {address!r} is a team address; remove it"
                )
    return problems


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and cross-check the config file; raise ConfigError with every problem."""
    shown = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            shown,
            ["the file does not exist; write the documented example there with"
             f" `boundary-mail example-config > {shown}` and edit it, or pass --config FILE /"
             " set BOUNDARY_MAIL_CONFIG"],
        ) from None
    except OSError as exc:
        raise ConfigError(
            shown, [f"cannot read the file ({exc.strerror}); check its permissions"]
        ) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(shown, ["the file is not UTF-8 text; save it as UTF-8"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            shown, [f"TOML syntax error: {exc}; fix the syntax at that line"]
        ) from None
    try:
        config = _build(data)
    except ValidationError as exc:
        raise ConfigError(shown, [_describe(e) for e in exc.errors()]) from None
    problems = cross_check(config)
    if problems:
        raise ConfigError(shown, problems)
    return config


def _build(data: dict[str, Any]) -> Config:
    # Init kwargs sit below the environment (see settings_customise_sources), so an env var
    # overrides the file key by key.
    return Config(**data)


def default_config_path() -> str:
    return os.environ.get("BOUNDARY_MAIL_CONFIG") or DEFAULT_CONFIG_PATH
