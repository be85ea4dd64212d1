"""Composing is byte-for-byte stable: every kind of message, composed from the same inputs,
gives exactly the bytes (and the envelope, dedupe key and on-sent record) stored under
tests/unit/golden/compose/.

The golden files were written once from the composing code as it was before it was made
cheaper, and written again for one change only: multipart boundaries derived from the
Message-ID instead of random ones; and once more for what clients read (every time with its
zone, the client's language, only the configured agreement, clearer ladder and digest
wording); and for fixed multipart boundaries (one per container level), whose Content-Type
is parsed once instead of once per message. A change that alters one byte of outgoing mail has to
regenerate them on purpose:

    .venv/bin/python -m tests.unit.test_compose_golden
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.compose_cases import cases, metadata

GOLDEN = Path(__file__).parent / "golden" / "compose"
CASES = cases()


@pytest.mark.parametrize("name", sorted(CASES))
def test_composing_gives_the_golden_bytes(name: str) -> None:
    """The bytes queued for each message are exactly the stored ones."""
    out = CASES[name]()

    assert out.as_bytes() == (GOLDEN / f"{name}.eml").read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_composing_twice_gives_the_same_bytes(name: str) -> None:
    """Nothing random and nothing left over from the message before: a retried action is
    the same message, multipart boundaries included."""
    assert CASES[name]().as_bytes() == CASES[name]().as_bytes()


def test_composing_gives_the_golden_envelope_and_records() -> None:
    """Kind, dedupe key, envelope, recipients, on-sent record and Message-ID are unchanged."""
    stored = json.loads((GOLDEN / "metadata.json").read_text())

    assert {name: metadata(make()) for name, make in CASES.items()} == stored


def write_golden() -> None:
    GOLDEN.mkdir(parents=True, exist_ok=True)
    records = {}
    for name, make in CASES.items():
        out = make()
        (GOLDEN / f"{name}.eml").write_bytes(out.as_bytes())
        records[name] = metadata(out)
    (GOLDEN / "metadata.json").write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_golden()
