"""What a check window decided so far, which the snapshots loaded before it do not show.

Pure, plain data: a `decide.Planner` fills it batch by batch. A dry run commits nothing, so
without it a dry run's later batches would decide differently from a real run's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from boundary_mail.tracking import TrackedItem


@dataclass(slots=True)
class WindowMemory:
    """What this window decided so far, which a snapshot loaded before it does not show. A dry
    run commits nothing, so without this its later batches would decide differently."""

    replied: set[tuple[str, str]] = field(default_factory=set)
    welcomed: set[str] = field(default_factory=set)
    contacts: set[str] = field(default_factory=set)  # addresses recorded in this window
    seen_ids: set[str] = field(default_factory=set)
    senders: dict[str, str] = field(default_factory=dict)  # message id → its sender
    roots: dict[str, str] = field(default_factory=dict)  # message-id → open item it belongs to
    acknowledged: set[str] = field(default_factory=set)
    answered: set[str] = field(default_factory=set)  # message-ids an auto-reply was planned for
    tracked: dict[str, TrackedItem] = field(default_factory=dict)  # items started this window
    copies: set[tuple[str, str, int, str]] = field(default_factory=set)  # box, folder, uid, id
    answered_on_arrival: set[tuple[str, str, int, str]] = field(default_factory=set)
    # The Message-IDs of the auto-replies and notes planned (their ids are derived from what
    # they answer, see `ids`) → the message each answers.
    ours: dict[str, str] = field(default_factory=dict)
