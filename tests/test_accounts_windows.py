"""Windowed account counts as batch deltas (accounts/windows.py): exact, idempotent, shared."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import orjson
import pytest

from fraud_pipeline.accounts.tracker import AccountTracker
from fraud_pipeline.accounts.windows import (
    DELTA_PREFIX,
    DIRECTORY_PREFIX,
    DIRECTORY_SLOTS,
    FOLLOW,
    delta_chunks,
    directory_key,
    directory_keys,
)
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.records import Post
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.base import Sighting, StateStore
from fraud_pipeline.state.dynamodb import DynamoDbStateStore, dynamodb_client, ensure_table
from fraud_pipeline.state.memory import MemoryStateStore
from fraud_pipeline.state.sqlite import SqliteStateStore
from tests.test_accounts import HELPER, MINUTE, SCAMMER, T0, follow, reply, seasoned, verdict


def _tracker(store: StateStore, clock: Callable[[], float] = time.time) -> AccountTracker:
    policy = load_default_policy()
    return AccountTracker(policy.spec, store, policy.version, clock)


def _at_t0() -> float:
    """A clock stopped at T0: deltas are listed in T0's minute."""
    return T0 / 1_000_000


def _flood(n: int, text: str = "hi, check my profile") -> list:
    return [reply(SCAMMER, f"did:plc:victim{i:020d}", text, T0 + i * MINUTE // 4, i) for i in range(n)]


def test_a_batch_split_differently_or_replayed_counts_each_member_once() -> None:
    """Replies to 16 accounts, seen as one batch, then again in other splits and out of order:
    the counts stay 16 distinct targets and 16 posts of one text."""
    tracker = _tracker(MemoryStateStore())
    posts = _flood(16)
    first = verdict(tracker.observe(posts=posts), SCAMMER)
    assert {"reply_flood:16", "repeated_text:16"} <= set(first.reasons)
    for split in (posts[:5], posts[5:11], posts[11:], posts[::-1], posts[3:9]):
        again = verdict(tracker.observe(posts=split), SCAMMER)
        assert again.signals["reply_targets"] == 16 and again.signals["repeated_text"] == 16


def test_a_fresh_tracker_reads_the_window_from_the_stores_deltas(tmp_path: Path) -> None:
    """A tracker started after the replies were counted (a restart, a new policy version, a
    cold Lambda) reads them back from the deltas: the flood is not forgotten."""
    path = tmp_path / "state.db"
    _tracker(SqliteStateStore(path)).observe(posts=_flood(12))
    later = _tracker(SqliteStateStore(path))
    more = [
        reply(SCAMMER, f"did:plc:other{i:021d}", "hi, check my profile", T0 + 4 * MINUTE, 100 + i)
        for i in range(4)
    ]
    v = verdict(later.observe(posts=more), SCAMMER)
    assert "reply_flood:16" in v.reasons and "repeated_text:16" in v.reasons


def test_a_follow_burst_split_across_shards_is_seen_whole(tmp_path: Path) -> None:
    """Four shards' trackers on one SQLite file, each seeing every fourth follow of a burst:
    each counts the others' follows too (15, 30: below the bar; then 45 and 60)."""
    path = tmp_path / "state.db"
    shards = [_tracker(SqliteStateStore(path)) for _ in range(4)]
    follows = [follow(SCAMMER, f"did:plc:target{i:020d}", T0 + i * 500_000) for i in range(60)]
    for n in (0, 1):
        assert all(v.did != SCAMMER for v in shards[n].observe(events=follows[n::4]))
    assert "follow_burst:45" in verdict(shards[2].observe(events=follows[2::4]), SCAMMER).reasons
    assert "follow_burst:60" in verdict(shards[3].observe(events=follows[3::4]), SCAMMER).reasons


def test_a_batch_writes_a_few_rows_not_one_per_follow(tmp_path: Path) -> None:
    """500 follows of 50 accounts cost one delta and its directory entry, not 500 member rows."""
    path = tmp_path / "state.db"
    tracker = _tracker(SqliteStateStore(path))
    seasoned(tracker, HELPER)
    dids = [f"did:plc:fan{i:024d}" for i in range(50)]
    follows = [follow(dids[i % 50], f"did:plc:star{i:023d}", T0 + i * 100_000) for i in range(500)]
    tracker.observe(events=follows)
    with sqlite3.connect(path) as db:
        members = dict(
            db.execute("SELECT substr(key, 1, instr(key, ':') + 5), count(*) FROM set_members GROUP BY 1")
        )
        deltas = db.execute("SELECT count(*) FROM cache WHERE key LIKE ?", (DELTA_PREFIX + "%",)).fetchone()[
            0
        ]
    assert deltas == 1
    assert sum(members.values()) <= 50 + 2 + 2  # first sightings, the directory, the seasoned account
    assert not any(key.startswith("acct:fo") for key in members)


def test_a_big_batch_is_chunked_under_the_cache_value_limit_and_read_back() -> None:
    entries = [(FOLLOW, SCAMMER, f"did:plc:{'x' * 400}{i:06d}", T0 + i) for i in range(400)]
    chunks = delta_chunks(entries, limit=10_000)
    assert len(chunks) > 1 and all(len(c) <= 10_000 for c in chunks)
    assert [tuple(e) for c in chunks for e in orjson.loads(c)] == entries

    store = MemoryStateStore()
    follows = [follow(SCAMMER, f"did:plc:target{i:020d}", T0 + i * 40_000) for i in range(1500)]
    _tracker(store, _at_t0).observe(events=follows)  # about 100 KB of entries: two chunks
    listed = store.get_members([directory_key(T0 // 60_000_000, slot) for slot in range(DIRECTORY_SLOTS)])
    assert any(int(count) > 1 for deltas in listed.values() for count in deltas.values())
    v = verdict(_tracker(store, _at_t0).observe(events=follows[-1:]), SCAMMER)  # a fresh tracker reads both
    assert "follow_burst:1500" in v.reasons


def test_each_writer_lists_its_deltas_in_its_own_directory_slot_and_reads_every_slot() -> None:
    """Two shards in slots 3 and 5: each minute's listing rewrites only its writer's slot set
    (on DynamoDB an eighth of a shared minute's item), and each shard still merges the other's
    delta: the flood is counted whole on both."""
    store = MemoryStateStore()
    a, b = _tracker(store, _at_t0), _tracker(store, _at_t0)
    a.windows.slot, b.windows.slot = 3, 5
    posts = _flood(16)
    a.observe(posts=posts[:8])
    v = verdict(b.observe(posts=posts[8:]), SCAMMER)
    assert "reply_flood:16" in v.reasons
    minute = T0 // 60_000_000
    listed = store.get_members([directory_key(minute, slot) for slot in range(DIRECTORY_SLOTS)])
    assert sorted(listed) == [directory_key(minute, 3), directory_key(minute, 5)]
    assert all(len(deltas) == 1 for deltas in listed.values())
    assert verdict(a.observe(posts=posts[15:]), SCAMMER).signals["reply_targets"] == 16
    assert all(key.startswith(DIRECTORY_PREFIX) for key in listed)


def test_a_damaged_delta_is_skipped_not_a_crash() -> None:
    store = MemoryStateStore()
    bucket = T0 // 60_000_000
    store.put_cached(
        {f"{DELTA_PREFIX}bad:0": "not json", f"{DELTA_PREFIX}odd:0": '[[9, "x", "y", 1], "z"]'}, 600
    )
    store.add_members([Sighting(directory_key(bucket, 0), d, "1") for d in ("bad", "odd", "missing")], 600)
    tracker = _tracker(store, _at_t0)
    tracker.observe(posts=_flood(3))
    assert tracker.windows.reply_targets(SCAMMER, T0 + MINUTE) == 3


def test_accounts_share_counts_through_dynamodb(aws_settings: Settings) -> None:
    """The same deltas on DynamoDB (moto): two shards see one account's replies together."""
    client = dynamodb_client(aws_settings.aws_region, aws_settings.endpoint_url)
    ensure_table(client, aws_settings.state_table)
    a = _tracker(DynamoDbStateStore(client, aws_settings.state_table))
    b = _tracker(DynamoDbStateStore(client, aws_settings.state_table))
    posts = _flood(16, "text that repeats")
    a.observe(posts=posts[:8])
    v = verdict(b.observe(posts=posts[8:]), SCAMMER)
    assert {"reply_flood:16", "repeated_text:16"} <= set(v.reasons)


@pytest.mark.parametrize("replay", [1, 3])
def test_replayed_batches_change_no_verdict(replay: int) -> None:
    tracker = _tracker(MemoryStateStore())
    posts = _flood(10)
    verdicts = [verdict(tracker.observe(posts=posts), SCAMMER) for _ in range(replay)]
    assert len({(v.action, v.reasons, v.signals["reply_targets"]) for v in verdicts}) == 1


def test_posters_with_nothing_firing_are_not_judged_until_something_fires() -> None:
    """A post-only account with no stored verdict and no windowed signal is left alone (no
    verdict, no write); once its replies make a flood it is judged; a stored `none` verdict
    with that flood already in it is not re-judged for more of the same."""
    store = MemoryStateStore()
    tracker = _tracker(store)
    posts = _flood(20)
    assert tracker.observe(posts=posts[:4]) == [] and tracker.verdicts_of([SCAMMER]) == {}
    flood = verdict(tracker.observe(posts=posts[4:16]), SCAMMER)
    assert "reply_flood:16" in flood.reasons and flood.action == "none"
    assert tracker.verdicts_of([SCAMMER])[SCAMMER].reasons == flood.reasons
    assert tracker.observe(posts=posts[16:]) == []  # nothing new could raise it
    seasoned(tracker, HELPER)  # an identity event: always judged, stored even when `none`
    assert tracker.verdicts_of([HELPER])[HELPER].action == "none"


def test_one_text_repeated_at_one_account_fires_repeated_text_alone() -> None:
    """Six posts of one text to the same account: no flood, but the repeat is counted (the
    per-bucket bound lets it through to an exact count)."""
    tracker = _tracker(MemoryStateStore())
    posts = [reply(SCAMMER, HELPER, "buy my course today please", T0 + i * MINUTE, i) for i in range(6)]
    assert tracker.observe(posts=posts[:4]) == []
    v = verdict(tracker.observe(posts=posts[4:]), SCAMMER)
    assert "repeated_text:6" in v.reasons and not any(r.startswith("reply_flood") for r in v.reasons)


class _CountingStore(MemoryStateStore):
    """Counts what a tracker reads: directory entries listed back, delta chunks asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.directory_entries = 0
        self.directory_sets = 0
        self.delta_reads = 0

    def get_members(self, keys, ttl_s=None):  # type: ignore[no-untyped-def]
        keys = list(keys)
        out = super().get_members(keys, ttl_s)
        listed = [k for k in keys if k.startswith(DIRECTORY_PREFIX)]
        self.directory_sets += len(listed)
        self.directory_entries += sum(len(out.get(k, {})) for k in listed)
        return out

    def get_cached(self, keys):  # type: ignore[no-untyped-def]
        keys = list(keys)
        self.delta_reads += sum(k.startswith(DELTA_PREFIX) for k in keys)
        return super().get_cached(keys)


def test_a_warm_trackers_reads_per_batch_do_not_grow_with_the_minutes_in_the_window() -> None:
    """Two shards, two batches each a minute, for 50 minutes of the hour's window: each batch
    reads the directory minutes since its last read and the other shard's new deltas, the
    same at minute 45 as at minute 5 (listing by event minute read the whole window each
    time: ten times more directory entries at minute 45 than at minute 5). Counts stay exact."""
    store = _CountingStore()
    now = [T0 / 1_000_000]
    shards = [_tracker(store, lambda: now[0]) for _ in range(2)]
    per_minute: list[tuple[int, int, int]] = []
    n = 0
    for minute in range(50):
        before = (store.directory_entries, store.directory_sets, store.delta_reads)
        for half in range(2):
            now[0] = (T0 + minute * MINUTE + half * MINUTE // 2) / 1_000_000
            for k, shard in enumerate(shards):  # the scammer's replies reach both shards
                t = T0 + minute * MINUTE + half * MINUTE // 2 + k
                shard.observe(posts=[reply(SCAMMER, f"did:plc:victim{n:020d}", "hi, check my profile", t, n)])
                n += 1
        per_minute.append(
            (
                store.directory_entries - before[0],
                store.directory_sets - before[1],
                store.delta_reads - before[2],
            )
        )
    early, late = per_minute[5], per_minute[45]
    assert late[0] <= early[0] <= 4 * (2 + 2) * 4  # four batches, each reading about 3 minutes' listings
    # directory sets read: the slack and the minute now, each in every slot
    assert late[1] == early[1] <= 4 * 4 * DIRECTORY_SLOTS
    assert late[2] == early[2] == 4  # each batch reads the other shard's one new delta, once
    end = T0 + 49 * MINUTE + MINUTE // 2 + 1
    shards[0].windows.sync(end)  # shard 1's last delta, written after shard 0's last batch
    for shard in shards:  # exact across shards: the hour holds every reply of the 50 minutes
        assert shard.windows.reply_targets(SCAMMER, end) == n


def test_a_late_batch_from_another_shard_is_merged_by_a_warm_tracker() -> None:
    """A batch of events 40 minutes old, written now by a lagging shard, is listed in the minute
    it is written, so a warm tracker past that event minute still counts it."""
    store = MemoryStateStore()
    now = [(T0 + 45 * MINUTE) / 1_000_000]
    warm, lagging = _tracker(store, lambda: now[0]), _tracker(store, lambda: now[0])
    warm.observe(posts=[reply(SCAMMER, "did:plc:victim00000000000000000000", "hi", T0 + 45 * MINUTE, 0)])
    now[0] += 30
    lagging.observe(posts=[reply(SCAMMER, "did:plc:victim00000000000000000001", "hi", T0 + 5 * MINUTE, 1)])
    now[0] += 30
    warm.observe(posts=[reply(SCAMMER, "did:plc:victim00000000000000000002", "hi", T0 + 46 * MINUTE, 2)])
    assert warm.windows.reply_targets(SCAMMER, T0 + 46 * MINUTE) == 3


def test_only_texts_aimed_at_other_accounts_count_as_repeats() -> None:
    """`repeated_text` counts replies and mentions (a text repeated at people): the same text
    posted six times at top level, or as replies to the account's own thread, counts nothing and
    is never folded; the same six as replies to someone else fire it."""
    tracker = _tracker(MemoryStateStore())
    text = "buy my course today please"

    def own(n: int, parent: str | None) -> Post:
        return Post(
            uri=f"at://{SCAMMER}/app.bsky.feed.post/t{n}",
            did=SCAMMER,
            rkey=f"t{n}",
            operation="create",
            time_us=T0 + n * MINUTE,
            text=text,
            reply_root=parent,
            reply_parent=parent,
        )

    self_thread = f"at://{SCAMMER}/app.bsky.feed.post/t0"
    mentions_self = replace(own(20, None), rkey="t20", mentions=[SCAMMER])
    alone = [own(n, None) for n in range(6)] + [own(n, self_thread) for n in range(6, 12)] + [mentions_self]
    assert tracker.observe(posts=alone) == []
    assert tracker.windows.repeated_text(SCAMMER, T0 + 20 * MINUTE) == 0
    at_helper = [replace(own(30 + n, None), rkey=f"t{30 + n}", mentions=[HELPER]) for n in range(6)]
    v = verdict(tracker.observe(posts=at_helper), SCAMMER)
    assert "repeated_text:6" in v.reasons


def test_windowed_counts_equal_a_brute_force_count_at_any_time() -> None:
    """Counts read the bucket of their time whole (it lies inside the window) and filter only
    the bucket before: equal, at every time, to counting by brute force every member seen in
    the window (or later in its time's bucket, as merged from another writer)."""
    import random

    from fraud_pipeline.accounts.windows import REPLY, TEXT, AccountWindows

    rng = random.Random(7)
    window = 10 * MINUTE
    windows = AccountWindows(MemoryStateStore(), window, MINUTE, 3600, _at_t0, slot=0)
    entries = []
    for i in range(600):
        t = T0 + rng.randrange(3 * window)
        entries.append((REPLY, SCAMMER, f"did:plc:t{rng.randrange(40)}", t))
        entries.append((TEXT, SCAMMER, f"d{rng.randrange(3)}:r{i}", t))
        entries.append((FOLLOW, SCAMMER, f"did:plc:f{rng.randrange(60)}", t))
    windows.record(entries)

    def brute(kind: int, at: int, width: int) -> dict[str, set[str]]:
        """Members with a sighting in the window from the two buckets a count reads (its time's
        and the one before), later ones in its time's bucket included."""
        found: dict[str, set[str]] = {}
        for k, _, member, t in entries:
            if k == kind and t >= at - width + 1 and at // width - 1 <= t // width <= at // width:
                found.setdefault(member.partition(":")[0] if kind == TEXT else "", set()).add(member)
        return found

    for _ in range(60):
        at = T0 + rng.randrange(3 * window)
        replies = brute(REPLY, at, window)
        assert windows.reply_targets(SCAMMER, at) == sum(len(v) for v in replies.values())
        texts = brute(TEXT, at, window)
        assert windows.repeated_text(SCAMMER, at) == max((len(v) for v in texts.values()), default=0)
        follows = brute(FOLLOW, at, MINUTE)
        assert windows.follow_count(SCAMMER, at) == sum(len(v) for v in follows.values())


def test_a_cold_start_never_looks_for_directory_sets_among_sqlites_long_lived_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory sets are short-lived and read with the time-to-live they were written
    with, so a cold tracker's read of the whole kept directory (1,464 sets for a replay) is
    answered from SQLite's set log, none of it looked up in the tables, where the account
    records (`acct:record:`, kept for `memory_days`) put the same `acct` kind (without the
    hint every directory key the log lacked was looked up there)."""
    store = SqliteStateStore(tmp_path / "state.db")
    _tracker(store).observe(posts=_flood(3))  # account records in the tables, a delta listed
    from_tables: list[str] = []
    get_from_tables = SqliteStateStore._get_from_tables

    def spy(self: SqliteStateStore, keys, now, conn):  # type: ignore[no-untyped-def]
        from_tables.extend(keys)
        return get_from_tables(self, keys, now, conn)

    monkeypatch.setattr(SqliteStateStore, "_get_from_tables", spy)
    cold = _tracker(SqliteStateStore(tmp_path / "state.db"))
    cold.observe(posts=_flood(6)[3:])
    assert cold.windows.reply_targets(SCAMMER, T0 + 6 * MINUTE) == 6  # the first tracker's delta read
    assert from_tables and not [k for k in from_tables if k.startswith(DIRECTORY_PREFIX)]


@pytest.mark.parametrize(("first", "last"), [(29_400_000, 29_400_000), (29_399_817, 29_400_000), (5, 4)])
def test_directory_keys_are_every_slots_directory_key_of_each_minute(first: int, last: int) -> None:
    want = [directory_key(m, slot) for m in range(first, last + 1) for slot in range(DIRECTORY_SLOTS)]
    assert directory_keys(first, last) == want
