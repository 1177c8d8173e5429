"""`AccountWindows`' heavy sets held to a brute-force count.

A tracker built with its bars keeps, per bucket, the accounts holding at least half a bar's
members (`heavy_replies`, `heavy_texts`, `heavy_follows`), and `reaching` / `follows_reaching`
count only the batch's accounts found in them. These tests build random windows (entries
merged in several deltas, repeated, out of order, from several texts and targets), ask both
calls of random batches (one bucket, several, a replay's span) and compare them with every
account counted at its own time, and with the same windows kept without bars (the walk of
every account, as before the heavy sets)."""

from __future__ import annotations

import random

import pytest

from fraud_pipeline.accounts.windows import FOLLOW, REPLY, TEXT, AccountWindows, Entry, _half_bars
from fraud_pipeline.state.memory import MemoryStateStore
from tests.account_windows_fixtures import brute_reaching

T0 = 1_764_000_000_000_000
MINUTE = 60_000_000
WINDOW = 60 * MINUTE
FOLLOW_WINDOW = MINUTE


def _entries(rng: random.Random, accounts: list[str], span_us: int) -> list[Entry]:
    entries: list[Entry] = []
    for did in accounts[: len(accounts) * 2 // 3]:  # a third of the accounts hold nothing
        for _ in range(rng.randint(1, 14)):
            t = T0 + rng.randrange(span_us)
            kind = rng.choice((REPLY, TEXT, FOLLOW))
            if kind == TEXT:
                member = f"{rng.choice('ab')}:{rng.randrange(10**6)}"  # one of two texts, a post
            else:
                member = f"did:plc:target{rng.randrange(30)}"
            entries.append((kind, did, member, t))
    return entries


def _pair(
    rng: random.Random, accounts: list[str], span_us: int, bars: tuple[int, int, int]
) -> tuple[AccountWindows, AccountWindows]:
    """The same entries merged into windows with heavy sets (several deltas, some entries
    twice, shuffled) and into windows without (one delta)."""
    heavy = AccountWindows(
        MemoryStateStore(), WINDOW, FOLLOW_WINDOW, 4 * 3600, lambda: T0 / 1e6, slot=0, bars=bars
    )
    plain = AccountWindows(MemoryStateStore(), WINDOW, FOLLOW_WINDOW, 4 * 3600, lambda: T0 / 1e6, slot=0)
    entries = _entries(rng, accounts, span_us)
    plain._merge(entries)
    again = entries + rng.sample(entries, len(entries) // 4)
    rng.shuffle(again)
    cut = sorted(rng.sample(range(1, len(again)), 3))
    for part in (again[: cut[0]], again[cut[0] : cut[1]], again[cut[1] : cut[2]], again[cut[2] :]):
        heavy._merge(part)
    return heavy, plain


def test_half_bars() -> None:
    assert _half_bars((15, 5, 40)) == (8, 3, 20)
    assert _half_bars((1, 2, 3)) == (1, 1, 2)
    assert _half_bars((0, 5, 40)) is None  # an account holding nothing reaches a bar of 0
    assert _half_bars(None) is None
    for bar in range(1, 60):  # two buckets below half the bar hold fewer than the bar
        half = (bar + 1) // 2
        assert 2 * (half - 1) < bar


@pytest.mark.parametrize("seed", range(16))
def test_reaching_through_heavy_sets_is_the_brute_force_count(seed: int) -> None:
    rng = random.Random(seed)
    accounts = [f"did:plc:acct{i:04d}" for i in range(60)]
    bars = (rng.randint(1, 6), rng.randint(1, 4), rng.randint(1, 5))
    heavy, plain = _pair(rng, accounts, 3 * WINDOW, bars)
    reached = skipped = 0
    for batch_span in (20_000_000, 5 * MINUTE, 2 * WINDOW, 20 * MINUTE):
        for _ in range(8):
            start = T0 + rng.randrange(3 * WINDOW)
            latest = {did: start + rng.randrange(batch_span) for did in rng.sample(accounts, 40)}
            want = brute_reaching(plain, latest, bars)
            got = heavy.reaching(latest, *bars)
            assert got == want
            assert list(got) == [did for did in latest if did in got]  # in the batch's order
            assert plain.reaching(latest, *bars) == want
            follows_alone = dict(rng.sample(sorted(latest.items()), 20))
            assert heavy.follows_reaching(follows_alone, bars[2]) == plain.follows_reaching(
                follows_alone, bars[2]
            )
            candidates = heavy._heavy_among(latest, bars)
            if candidates is not None:
                assert set(want) <= candidates
                skipped += len(latest) - len(candidates)
            reached += len(want)
    assert reached > 20  # the bars are reached often enough to mean something
    assert skipped > 0 or min(bars) == 1  # and the heavy sets leave accounts out


def test_other_bars_than_the_trackers_walk_every_account() -> None:
    rng = random.Random(7)
    accounts = [f"did:plc:acct{i:04d}" for i in range(40)]
    heavy, plain = _pair(rng, accounts, WINDOW, (5, 3, 4))
    latest = {did: T0 + WINDOW - 1 for did in accounts}
    assert heavy._heavy_among(latest, (2, 2, 2)) is None
    assert heavy.reaching(latest, 2, 2, 2) == brute_reaching(plain, latest, (2, 2, 2))
    assert heavy.follows_reaching(latest, 2) == plain.follows_reaching(latest, 2)


def test_heavy_sets_are_forgotten_with_their_buckets() -> None:
    rng = random.Random(3)
    accounts = [f"did:plc:acct{i:04d}" for i in range(40)]
    heavy, plain = _pair(rng, accounts, 3 * WINDOW, (3, 2, 2))
    assert any(heavy.heavy_replies.values())
    heavy.forget_before(T0 + 3 * WINDOW)
    plain.forget_before(T0 + 3 * WINDOW)
    assert set(heavy.heavy_replies) <= set(heavy.replies)
    assert set(heavy.heavy_texts) <= set(heavy.texts)
    assert set(heavy.heavy_follows) <= set(heavy.follows)
    latest = {did: T0 + 3 * WINDOW + rng.randrange(MINUTE) for did in accounts}
    assert heavy.reaching(latest, 3, 2, 2) == brute_reaching(plain, latest, (3, 2, 2))


def test_a_replays_batch_spanning_many_buckets_walks_every_account() -> None:
    rng = random.Random(11)
    accounts = [f"did:plc:acct{i:04d}" for i in range(40)]
    heavy, plain = _pair(rng, accounts, 3 * WINDOW, (4, 2, 3))
    latest = {did: T0 + rng.randrange(3 * WINDOW) for did in accounts}  # ~180 follow buckets
    assert heavy._heavy_among(latest, (4, 2, 3)) is None
    assert heavy.reaching(latest, 4, 2, 3) == brute_reaching(plain, latest, (4, 2, 3))
