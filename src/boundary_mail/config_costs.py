"""The cost model's configuration: `[costs]`, and each client's fee and own minutes.

What a client costs is modelled as minutes per event (a message read, a follow-up answered, a
message that arrived outside business hours, a reply we wrote, a nudge we sent) at the
team's hourly rate, set against the client's ``monthly_fee``. The minutes have defaults that
suit a small agency; a client's ``costs`` table overrides any of them. Without
``hourly_rate`` nothing is reported: a made-up rate would mislead more than no report.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Minutes charged per event when neither [costs] nor the client says otherwise: reading and
# filing a message, answering "did you get my email?", the extra of mail outside business
# hours (it interrupts an evening), writing a reply, writing a nudge.
DEFAULT_MINUTES = {
    "minutes_per_message": Decimal(6),
    "minutes_per_followup": Decimal(4),
    "minutes_per_after_hours": Decimal(5),
    "minutes_per_reply": Decimal(12),
    "minutes_per_nudge": Decimal(3),
}
MINUTE_KEYS = tuple(DEFAULT_MINUTES)

MinuteCount = Annotated[Decimal, Field(ge=0, le=600)]


class ClientCosts(BaseModel):
    """A client's own minutes (``[[clients]] costs = { minutes_per_reply = 20 }``); a key
    left out takes the value of `[costs]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    minutes_per_message: MinuteCount | None = None
    minutes_per_followup: MinuteCount | None = None
    minutes_per_after_hours: MinuteCount | None = None
    minutes_per_reply: MinuteCount | None = None
    minutes_per_nudge: MinuteCount | None = None


class CostsConfig(BaseModel):
    """`[costs]`: the hourly rate, the currency, the default minutes, the revenue warning."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hourly_rate: Decimal | None = Field(default=None, gt=0)  # None: no cost report
    currency: str = "EUR"
    minutes_per_message: MinuteCount = DEFAULT_MINUTES["minutes_per_message"]
    minutes_per_followup: MinuteCount = DEFAULT_MINUTES["minutes_per_followup"]
    minutes_per_after_hours: MinuteCount = DEFAULT_MINUTES["minutes_per_after_hours"]
    minutes_per_reply: MinuteCount = DEFAULT_MINUTES["minutes_per_reply"]
    minutes_per_nudge: MinuteCount = DEFAULT_MINUTES["minutes_per_nudge"]
    # A client whose fee is more than this share of the month's revenue is flagged: a
    # business that depends on one client is a house of cards.
    max_revenue_share_percent: int = Field(default=40, ge=1, le=100)
    monthly_report: bool = True  # the lead gets the report on the first business day

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        from babel.numbers import list_currencies

        code = value.strip().upper()
        if code not in list_currencies():
            raise ValueError(
                f"{value!r} is not an ISO 4217 currency code; write e.g. \"EUR\" or \"USD\""
            )
        return code

    def minutes_for(self, client: ClientCosts | None) -> dict[str, Decimal]:
        """The minutes per event for a client: its own where it sets them, else these."""
        own = client.model_dump(exclude_none=True) if client is not None else {}
        return {key: own.get(key, getattr(self, key)) for key in MINUTE_KEYS}
