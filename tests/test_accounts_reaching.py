"""`AccountWindows.reaching` held to a brute-force count of every account at its own time.

`reaching` walks only the accounts that hold a member in a bucket one of their counts reads
(found by key intersections); this checks that the accounts it leaves out are exactly those
with no count at its bar, on random windows (several writers' buckets, texts repeated, follow
bursts) and batches whose times span one bucket or several."""

from __future__ import annotations

import random

import pytest

from fraud_pipeline.accounts.windows import FOLLOW, REPLY, TEXT, AccountWindows, Entry
from fraud_pipeline.state.memory import MemoryStateStore
from tests.account_windows_fixtures import brute_reaching

T0 = 1_764_000_000_000_000
MINUTE = 60_000_000
WINDOW = 60 * MINUTE
FOLLOW_WINDOW = MINUTE


def _windows(rng: random.Random, accounts: list[str], span_us: int) -> AccountWindows:
    windows = AccountWindows(MemoryStateStore(), WINDOW, FOLLOW_WINDOW, 4 * 3600, lambda: T0 / 1e6, slot=0)
    entries: list[Entry] = []
    for did in accounts[: len(accounts) * 2 // 3]:  # a third of the accounts hold nothing
        for _ in range(rng.randint(1, 12)):
            t = T0 + rng.randrange(span_us)
            kind = rng.choice((REPLY, TEXT, FOLLOW))
            if kind == TEXT:
                member = f"{rng.choice('ab')}:{rng.randrange(10**6)}"  # one of two texts, a post
            else:
                member = f"did:plc:target{rng.randrange(40)}"
            entries.append((kind, did, member, t))
    windows._merge(entries)
    return windows


@pytest.mark.parametrize("seed", range(12))
def test_reaching_is_the_brute_force_count(seed: int) -> None:
    rng = random.Random(seed)
    accounts = [f"did:plc:acct{i:04d}" for i in range(60)]
    windows = _windows(rng, accounts, 3 * WINDOW)
    reached = 0
    for batch_span in (
        20_000_000,
        5 * MINUTE,
        2 * WINDOW,
    ):  # one bucket, several follow buckets, several windows
        for _ in range(8):
            start = T0 + rng.randrange(3 * WINDOW)
            latest = {did: start + rng.randrange(batch_span) for did in rng.sample(accounts, 40)}
            bars = (rng.randint(2, 5), rng.randint(2, 4), rng.randint(2, 4))
            want = brute_reaching(windows, latest, bars)
            assert windows.reaching(latest, *bars) == want
            reached += len(want)
    assert reached > 20  # the bars are reached often enough to mean something


def test_reaching_of_no_account_or_an_empty_window_is_empty() -> None:
    windows = AccountWindows(MemoryStateStore(), WINDOW, FOLLOW_WINDOW, 4 * 3600, lambda: T0 / 1e6, slot=0)
    assert windows.reaching({}, 2, 2, 2) == {}
    assert windows.reaching({"did:plc:a": T0}, 2, 2, 2) == {}
