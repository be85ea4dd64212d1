"""The `[waiting]` section: what we wait for from clients, and how politely we nudge.

Its own module (`config_sections` is near its size limit). A team member's message to a
client becomes a *waiting item* when it is tagged (Bcc to the assistant address with a plus
tag, the `$Waiting` keyword on its Sent copy, or ``boundary-mail wait``), or, with
``track = "all"``, whenever a team member writes to that client. The assistant address is
``smtp.from_address``: ``assistant@agency.example`` takes ``assistant+waiting@…`` and
``assistant+3d@…`` (nudge after 3 business days). Each key may be overridden per client in
a ``waiting`` table of its ``[[clients]]`` entry (`WaitingOverride`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Track = Literal["tagged", "all"]
NudgeMode = Literal["draft", "send"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WaitingConfig(_Strict):
    # "tagged": only messages tagged by Bcc, keyword or `wait`; "all": every team message to
    # the client (its own tag's day count still wins).
    track: Track = "tagged"
    # "draft": the nudge is put into the team member's Drafts folder, to send with one click;
    # "send": it is sent from their address.
    nudge: NudgeMode = "draft"
    after_business_days: int = Field(default=3, ge=1, le=60)
    max_nudges: int = Field(default=2, ge=0, le=10)
    spacing_business_days: int = Field(default=3, ge=1, le=60)


class WaitingOverride(_Strict):
    """One client's own agreement; a key left out takes the `[waiting]` value."""

    track: Track | None = None
    nudge: NudgeMode | None = None
    after_business_days: int | None = Field(default=None, ge=1, le=60)
    max_nudges: int | None = Field(default=None, ge=0, le=10)
    spacing_business_days: int | None = Field(default=None, ge=1, le=60)


def waiting_rules(default: WaitingConfig, override: WaitingOverride | None) -> WaitingConfig:
    """The rules for one client: its own keys over the `[waiting]` section."""
    if override is None:
        return default
    own = {k: v for k, v in override.model_dump().items() if v is not None}
    return default.model_copy(update=own)
