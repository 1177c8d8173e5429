"""The behaviour window survives a restart: snapshots per shard in the object store."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
import zstandard

from fraud_pipeline.lake.errors import ErrorSink
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.provision import provision
from fraud_pipeline.records import TaggedRecord
from fraud_pipeline.scoring.behavior_snapshots import BehaviorSnapshots, shard_of
from fraud_pipeline.scoring.handler import ScoringRuntime
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.scoring.signals import SNAPSHOT_FORMAT, BehaviorTracker, SnapshotError
from fraud_pipeline.settings import Settings
from fraud_pipeline.streams import open_stream
from tests.scoring_fixtures import KeywordScorer, RecordingMetrics, kinesis_event, make_post

CAMPAIGN = "Claim your free airdrop now before it closes, only verified wallets qualify today"
T0 = 1_764_000_000_000_000  # microseconds


def _posts(start: int, count: int, gap_s: float = 5.0) -> list:
    """`count` accounts posting the campaign text, one every `gap_s` seconds, plus a chatty one."""
    posts = []
    for i in range(start, start + count):
        posts.append(make_post(i, f"{CAMPAIGN} https://x{i}.example", time_us=T0 + int(i * gap_s * 1e6)))
        posts.append(
            make_post(10_000 + i, f"hello {i}", did="did:plc:chatty", time_us=T0 + int(i * gap_s * 1e6))
        )
    return posts


def test_a_restored_tracker_gives_the_signals_an_uninterrupted_one_gives() -> None:
    first, second = _posts(0, 4), _posts(4, 4)
    uninterrupted = BehaviorTracker()
    for post in first + second:
        expected = uninterrupted.observe(post)

    before = BehaviorTracker()
    for post in first:
        before.observe(post)
    after = BehaviorTracker()
    assert after.restore(before.snapshot()) == 5  # 4 campaign accounts + the chatty one
    got = [after.observe(post) for post in second]
    again = BehaviorTracker()
    again.restore(before.snapshot())
    assert got == [again.observe(p) for p in second]  # deterministic
    assert got[-1] == expected
    assert got[-2].campaign_accounts == 8 and got[-2].campaign_id is not None
    assert got[-1].account_posts_window == 8 and not got[-1].account_is_new


def test_merging_into_a_live_tracker_keeps_sightings_in_time_order() -> None:
    """A second shard's snapshot merged into a worker that already scores: old sightings
    from the snapshot must still expire first."""
    saved = BehaviorTracker(window_s=60)
    saved.observe(make_post(1, CAMPAIGN, did="did:plc:early", time_us=T0))
    live = BehaviorTracker(window_s=60)
    live.observe(make_post(2, CAMPAIGN, did="did:plc:later", time_us=T0 + 50_000_000))
    live.restore(saved.snapshot())
    # 70 s after the first sighting: "early" has left the window, "later" has not.
    signals = live.observe(make_post(3, CAMPAIGN, did="did:plc:now", time_us=T0 + 70_000_000))
    assert signals.campaign_accounts == 2


def test_the_snapshot_keeps_only_the_live_window() -> None:
    tracker = BehaviorTracker(window_s=60)
    tracker.observe(make_post(1, CAMPAIGN, did="did:plc:old", time_us=T0))
    tracker.observe(make_post(2, CAMPAIGN, did="did:plc:new", time_us=T0 + 3_600_000_000))
    body = orjson.loads(zstandard.ZstdDecompressor().decompress(tracker.snapshot()))
    assert set(body["accounts"]) == {"did:plc:new"}
    assert [set(members) for members in body["texts"].values()] == [{"did:plc:new"}]


@pytest.mark.parametrize(
    "data",
    [
        b"not zstd at all",
        zstandard.ZstdCompressor().compress(b"{not json"),
        zstandard.ZstdCompressor().compress(orjson.dumps({"format": "something-else/9"})),
        zstandard.ZstdCompressor().compress(orjson.dumps([1, 2, 3])),
        zstandard.ZstdCompressor().compress(
            orjson.dumps(
                {"format": SNAPSHOT_FORMAT, "latest_s": 1.0, "accounts": {"d": 5}, "texts": {}, "blobs": {}}
            )
        ),
        zstandard.ZstdCompressor().compress(orjson.dumps({"format": SNAPSHOT_FORMAT, "latest_s": 1.0})),
        zstandard.ZstdCompressor().compress(
            orjson.dumps(
                {
                    "format": SNAPSHOT_FORMAT,
                    "latest_s": 1.0,
                    "accounts": {"d": [1.0, "x"]},
                    "texts": {},
                    "blobs": {},
                }
            )
        ),
        zstandard.ZstdCompressor().compress(
            orjson.dumps(
                {
                    "format": SNAPSHOT_FORMAT,
                    "latest_s": 1.0,
                    "accounts": {},
                    "texts": {"k": {"d": None}},
                    "blobs": {},
                }
            )
        ),
    ],
)
def test_anything_but_a_snapshot_is_refused_with_a_reason(data: bytes) -> None:
    tracker = BehaviorTracker()
    with pytest.raises(SnapshotError):
        tracker.restore(data)
    assert tracker.snapshot() == BehaviorTracker().snapshot()  # nothing half-merged


def test_shard_of_reads_the_lambda_event_id() -> None:
    assert shard_of("shardId-000000000003:49590338271490256608559692538361571095921575989136588898") == (
        "shardId-000000000003"
    )
    assert shard_of(None) == shard_of("no-colon") == shard_of(":123") == "unsharded"


def _runtime(settings: Settings) -> ScoringRuntime:
    open_stream(settings).create_stream(settings.tagged_stream, 1)
    return ScoringRuntime(
        settings,
        open_stream(settings),
        ObjectStore.from_settings(settings),
        RecordingMetrics(),
        PostScorer(KeywordScorer(), KeywordScorer()),
    )


def _campaign_labels(settings: Settings) -> dict[str, list[str]]:
    """uri -> the campaign labels of its tagged record (every shard of the tagged stream)."""
    stream = open_stream(settings)
    out = {}
    for shard in stream.describe(settings.tagged_stream).shard_ids:
        for record in stream.shard_reader(settings.tagged_stream, shard, None).read(10_000):
            tagged = TaggedRecord(**orjson.loads(record.data))
            out[tagged.uri] = [label for label in tagged.labels if label.startswith("campaign:")]
    return out


def _restart_keeps_the_campaign(settings: Settings) -> None:
    first = _runtime(settings)
    first.handle(kinesis_event([p.to_json() for p in _posts(0, 2)]))
    first.close()  # a clean stop saves the window
    key = first.snapshots.key("shardId-000000000000")
    assert ObjectStore.from_settings(settings).exists(key)

    second = _runtime(settings)  # a new container / worker
    third_account = _posts(2, 1)
    second.handle(kinesis_event([p.to_json() for p in third_account], start_sequence=100))
    assert second.snapshots.stats.restored_accounts == 3
    labels = _campaign_labels(settings)
    assert labels[third_account[0].uri], "the third account was not seen as part of the campaign"

    cold = _runtime(replace(settings, signals_prefix="elsewhere/"))  # the same, without the snapshot
    fourth_account = _posts(3, 1)
    cold.handle(kinesis_event([p.to_json() for p in fourth_account], start_sequence=200))
    assert _campaign_labels(settings)[fourth_account[0].uri] == []


def test_a_restarted_runtime_keeps_the_campaign_window(local_settings: Settings) -> None:
    _restart_keeps_the_campaign(local_settings)


def test_a_restarted_runtime_keeps_the_campaign_window_on_s3(aws_settings: Settings) -> None:
    provision(aws_settings)
    _restart_keeps_the_campaign(aws_settings)


def test_snapshots_are_saved_at_most_every_interval(local_settings: Settings) -> None:
    now = [0.0]
    objects = ObjectStore.from_settings(local_settings)
    tracker = BehaviorTracker()
    keeper = BehaviorSnapshots(
        objects,
        "signals/",
        tracker,
        ErrorSink(objects, "errors/", "scoring"),
        every_s=30,
        clock=lambda: now[0],
    )
    keeper.before_batch("s1")  # nothing saved yet: starts empty, counts as fresh
    keeper.after_batch("s1")
    assert keeper.stats.writes == 0
    now[0] = 31.0
    keeper.after_batch("s1")
    now[0] = 40.0
    keeper.after_batch("s1")
    assert keeper.stats.writes == 1
    keeper.flush()
    assert keeper.stats.writes == 2 and objects.exists("signals/s1.json.zst")


def test_an_unreadable_snapshot_is_recorded_and_the_shard_starts_cold(local_settings: Settings) -> None:
    runtime = _runtime(local_settings)
    objects = ObjectStore.from_settings(local_settings)
    objects.put_bytes(runtime.snapshots.key("shardId-000000000000"), b"\x00garbage")
    response = runtime.handle(kinesis_event([p.to_json() for p in _posts(0, 2)]))
    assert response == {"batchItemFailures": []}
    assert runtime.snapshots.stats.unreadable == 1
    errors = list(objects.list_objects(local_settings.errors_prefix))
    assert errors and b"BadBehaviorSnapshot" in objects.get_bytes(errors[0].key)


class _FlakyStore:
    """An object store whose reads fail until `healthy` is set."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner = inner
        self.healthy = False

    def get_bytes(self, key: str) -> bytes:
        if not self.healthy:
            raise ObjectStoreError("connection reset")
        return self.inner.get_bytes(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.inner.put_bytes(key, data)


def test_a_snapshot_that_could_not_be_read_is_never_overwritten(local_settings: Settings) -> None:
    objects = ObjectStore.from_settings(local_settings)
    saved = BehaviorTracker()
    for post in _posts(0, 3):
        saved.observe(post)
    objects.put_bytes("signals/s1.json.zst", saved.snapshot())
    store = _FlakyStore(objects)
    tracker = BehaviorTracker()
    keeper = BehaviorSnapshots(
        store,  # type: ignore[arg-type]
        "signals/",
        tracker,
        ErrorSink(objects, "errors/", "scoring"),
        every_s=0,
    )
    keeper.before_batch("s1")
    tracker.observe(make_post(99, "something else", time_us=T0))
    keeper.after_batch("s1")
    keeper.flush()
    assert keeper.stats.read_failures == 1 and keeper.stats.writes == 0
    assert objects.get_bytes("signals/s1.json.zst") == saved.snapshot()
    store.healthy = True
    keeper.before_batch("s1")  # retried on the next batch
    assert keeper.stats.restored_accounts == 4
