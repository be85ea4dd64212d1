"""The working agreement with clients, and the client's language and time zone, as config.

What a client reads about terms comes from here and nowhere else: a key left unset is a
sentence left out, never a default term. `[agreement]` holds the defaults for every client;
a client's own `[clients.agreement]` table overrides them key by key (`for_client`). The
response promise is not a key here: it is derived from `[schedule]` and `[response]`.

Free-text values are stated as written, so they should be in the client's language; a client
who reads another language than the defaults are written in gets its own table.
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{value!r} is not a known time zone; use an IANA name such as \"America/New_York\""
        ) from None
    return value


def _language(value: str) -> str:
    from babel import Locale, UnknownLocaleError

    try:
        Locale.parse(value.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise ValueError(
            f"{value!r} is not a known language; use a code such as \"en\", \"de\", \"da\""
            " or \"ru\" (a Babel locale like \"de_AT\" works too)"
        ) from None
    return value.replace("-", "_")


ZoneName = Annotated[str, AfterValidator(_zone)]
LanguageTag = Annotated[str, AfterValidator(_language)]

_Days = Annotated[int, Field(ge=0, le=365)]


class AgreementConfig(BaseModel):
    """The one-pager's terms. Every key is optional; what is unset is not stated."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # How to reach us, one entry per line ("email to your point of contact", "phone for
    # emergencies: +49 30 1234567").
    channels: list[str] = []
    # Turnaround: business days until work on a requested change starts / is done, and for
    # new work; `turnaround` is free text said after them ("New work fits into our schedule").
    changes_within_business_days: _Days | None = None
    new_work_within_business_days: _Days | None = None
    turnaround: str = ""
    # Payment: net days (0 = due on receipt), interest on late payment (percent a month), a
    # late fee (free text, e.g. "EUR 40"), each phase paid before the next starts, and free
    # text said after them.
    payment_net_days: _Days | None = None
    late_interest_percent_per_month: float | None = Field(default=None, ge=0, le=100)
    late_fee: str = ""
    paid_before_next_phase: bool = False  # "the next phase starts once the last is paid"
    payment: str = ""
    # What we need from the client: one person on their side, feedback within N business days.
    client_contact: bool = False
    feedback_within_business_days: _Days | None = None
    # When a date is missed: late feedback moves our dates by as much (structured), plus free
    # text for each side.
    late_feedback_moves_dates: bool = False
    if_we_miss_a_date: str = ""
    if_you_miss_a_date: str = ""

    @property
    def states_turnaround(self) -> bool:
        return (self.changes_within_business_days is not None
                or self.new_work_within_business_days is not None or bool(self.turnaround))

    @property
    def states_payment(self) -> bool:
        return (self.payment_net_days is not None or self.late_interest_percent_per_month
                is not None or bool(self.late_fee) or self.paid_before_next_phase
                or bool(self.payment))

    @property
    def asks_of_client(self) -> bool:
        return self.client_contact or self.feedback_within_business_days is not None

    @property
    def states_consequences(self) -> bool:
        return (self.late_feedback_moves_dates or bool(self.if_we_miss_a_date)
                or bool(self.if_you_miss_a_date))


def for_client(defaults: AgreementConfig, own: AgreementConfig | None) -> AgreementConfig:
    """The client's agreement: its own keys where it set them, the defaults elsewhere."""
    if own is None:
        return defaults
    return defaults.model_copy(update={k: getattr(own, k) for k in own.model_fields_set})
