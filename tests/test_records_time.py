"""`records.iso_from_us` (cached minute and second, table-read microseconds) against the
strftime and `:06d` formatting it replaces, on edge values and in any order of calls."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from fraud_pipeline.records import iso_from_us


def reference(time_us: int) -> str:
    """What `iso_from_us` returned before its cache and tables: formatted from scratch."""
    second, micros = divmod(time_us, 1_000_000)
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{micros:06d}Z"


def _us(*when: int) -> int:
    return int(datetime(*when, tzinfo=UTC).timestamp()) * 1_000_000  # type: ignore[misc]


_EDGES = [
    0,
    1,
    999_999,
    1_000_000,
    59_999_999,
    60_000_000,
    -1,
    -999_999,
    -1_000_000,
    -1_000_001,
    -60_000_000,
    -60_000_001,
    _us(1, 1, 1),  # datetime's first second
    _us(1, 1, 1) + 999_999,
    _us(1900, 2, 28, 23, 59, 59) + 999_999,  # 1900: no leap day
    _us(2000, 2, 29, 12),
    _us(2024, 2, 29, 23, 59, 59) + 999_999,
    _us(2024, 3, 1),
    _us(2023, 12, 31, 23, 59, 59) + 999_999,
    _us(2024, 1, 1),
    _us(9999, 12, 31, 23, 59, 59) + 999_999,  # datetime's last microsecond
    1_700_000_000_123_456,
]


def test_edge_values_match_the_reference_in_every_order() -> None:
    for order in (_EDGES, list(reversed(_EDGES)), sorted(_EDGES)):
        for time_us in order:
            assert iso_from_us(time_us) == reference(time_us), time_us
            assert iso_from_us(time_us) == reference(time_us), time_us  # cached now


def test_runs_across_seconds_minutes_and_days_match_the_reference() -> None:
    rng = random.Random(9)
    start = _us(2024, 2, 29, 23, 58, 50)
    time_us = start
    seen = 0
    while time_us < start + 180_000_000:  # three minutes across midnight of a leap day
        assert iso_from_us(time_us) == reference(time_us), time_us
        time_us += rng.choice((1, 7, 999_999, 1_000_000, 123_457, 2_000_001))
        seen += 1
    assert seen > 100
    for _ in range(3000):  # anywhere, any order (a replay, a back-dated client time)
        value = rng.randrange(_us(1, 1, 1), _us(9999, 12, 31, 23, 59, 59) + 1_000_000)
        assert iso_from_us(value) == reference(value), value
        near = value + rng.randrange(-120_000_000, 120_000_000)
        if _us(1, 1, 1) <= near < _us(9999, 12, 31, 23, 59, 59) + 1_000_000:
            assert iso_from_us(near) == reference(near), near


def test_a_time_datetime_cannot_hold_raises_and_leaves_the_cache_right() -> None:
    assert iso_from_us(_us(2024, 5, 1)) == reference(_us(2024, 5, 1))
    for bad in (_us(9999, 12, 31, 23, 59, 59) + 1_000_000, _us(1, 1, 1) - 1, 10**30, -(10**30)):
        with pytest.raises((ValueError, OverflowError)):
            reference(bad)
        with pytest.raises((ValueError, OverflowError)):
            iso_from_us(bad)
        assert iso_from_us(_us(2024, 5, 1) + 5) == reference(_us(2024, 5, 1) + 5)
