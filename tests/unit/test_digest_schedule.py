"""The daemon's digest job: at the configured time on workdays, never on public holidays."""

from __future__ import annotations

from pathlib import Path

import pytest

from boundary_mail.config import Config
from boundary_mail.daemon import Daemon
from boundary_mail.store import Store
from tests.digest_week import ANN, BOB, LEAD, NOW, at, config_data, seed_week


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(**config_data(
        state_dir=str(tmp_path / "state"),
        schedule={"digest_time": "17:30", "holidays_country": "DE",
                  "workdays": ["mon", "tue", "wed", "thu", "fri"]},
        smtp={"host": "127.0.0.1", "port": 1, "from_address": "assistant@agency.test",
              "timeout_seconds": 2},
    ))


async def test_the_digest_is_scheduled_at_digest_time_on_workdays(config: Config) -> None:
    daemon = Daemon("unused.toml", config)
    daemon.schedule()
    job = daemon.scheduler.get_job("digest")
    assert job is not None
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == (
        "mon,tue,wed,thu,fri", "17", "30",
    )
    assert str(job.trigger.timezone) == "Europe/Berlin"


async def test_the_digest_job_skips_public_holidays(config: Config) -> None:
    """Christmas Day 2026 is a Friday: a workday, but a German public holiday."""
    store = Store(config.state_file)
    seed_week(store)
    await Daemon("unused.toml", config).digest_job(at(25, 17, 30, month=12))
    assert store.actions("digest") == []


async def test_the_digest_job_queues_once_and_survives_an_unreachable_server(
    config: Config,
) -> None:
    """With SMTP down the digests stay queued for the next drain; the job does not raise,
    and running it again the same day queues nothing new."""
    store = Store(config.state_file)
    seed_week(store)
    daemon = Daemon("unused.toml", config)
    await daemon.digest_job(NOW)
    await daemon.digest_job(NOW)
    actions = store.actions("digest")
    assert sorted(a.recipients[0] for a in actions) == sorted([ANN, BOB, LEAD])
    assert {a.status for a in actions} == {"pending"}
