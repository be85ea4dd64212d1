"""The cost report's data, read from the state: the twelve local months that end with the
report's month, as `CostFacts` for the pure `costs.build_cost_report`."""

from __future__ import annotations

from datetime import datetime, time

from boundary_mail.config import Config
from boundary_mail.costs import TREND_MONTHS, CostFacts, CostReport, Month, build_cost_report
from boundary_mail.errors import UserError
from boundary_mail.store import Store


def month_start(month: Month, config: Config) -> datetime:
    """Midnight of the month's first day in the configured time zone."""
    return datetime.combine(month.first_day, time(0), tzinfo=config.tz)


def load_cost_facts(store: Store, config: Config, month: Month) -> CostFacts:
    since = month_start(month.back(TREND_MONTHS - 1), config)
    until = month_start(month.following(), config)
    return CostFacts(
        inbound=tuple(store.cost_inbound(since, until)),
        followups=tuple(store.cost_followups(since, until)),
        replies=tuple(store.cost_replies(since, until)),
        nudges=tuple(store.cost_nudges(since, until)),
        imported=tuple(store.imported_hours()),
    )


def require_costs(config: Config) -> None:
    """A report needs the hourly rate and at least one client; say how to set them."""
    if config.costs.hourly_rate is None:
        raise UserError(
            "costs.hourly_rate is not set, so nothing can be costed; add to the configuration:"
            "\n[costs]\nhourly_rate = 80    # what an hour of the team's time costs\n"
            'currency = "EUR"'
        )
    if not config.clients:
        raise UserError("no [[clients]] are configured; a client report needs clients (with"
                        " monthly_fee = … for what each pays a month)")


def cost_report(store: Store, config: Config, month: Month) -> CostReport:
    require_costs(config)
    return build_cost_report(config, load_cost_facts(store, config, month), month)
