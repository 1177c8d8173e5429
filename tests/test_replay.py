"""Replay of captures, and the run_ingest loop from a capture into a producer."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import zstandard

from fraud_pipeline.ingest.pipeline import MAX_ERROR_BYTES, IngestStats, run_ingest
from fraud_pipeline.ingest.producer import Producer
from fraud_pipeline.ingest.replay import event_time_us, iter_replay
from fraud_pipeline.records import Post
from tests.ingest_fixtures import MemoryStream, post_event

SECOND = 1_000_000
LINES = [orjson.dumps(post_event(f"p{i}", rkey=f"r{i}", time_us=(100 + i) * SECOND // 10)) for i in range(5)]


def write(path: Path, lines: list[bytes], zstd: bool) -> Path:
    data = b"\n".join(lines) + b"\n\n"
    path.write_bytes(zstandard.ZstdCompressor().compress(data) if zstd else data)
    return path


def test_reads_plain_and_zstd_captures(tmp_path: Path) -> None:
    plain = write(tmp_path / "c.jsonl", LINES, zstd=False)
    packed = write(tmp_path / "c.jsonl.zst", LINES, zstd=True)
    assert list(iter_replay(plain)) == LINES
    assert list(iter_replay(packed)) == LINES


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []


def test_paced_replay_waits_recorded_gaps_divided_by_speed(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", LINES, zstd=False)
    clock = FakeClock()

    class RecordingStop(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            clock.waits.append(round(timeout or 0, 6))
            clock.now += timeout or 0
            return False

    out = list(iter_replay(path, speed=2.0, stop=RecordingStop(), clock=lambda: clock.now))
    assert out == LINES
    assert clock.waits == [0.05, 0.05, 0.05, 0.05]  # 0.1 s apart, twice as fast


def test_rebase_rewrites_time_us_only(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", LINES, zstd=False)
    ticks = iter([5_000, 5_000, 7_000, 8_000, 9_000])
    out = list(iter_replay(path, rebase_to_now=True, wall_clock_us=lambda: next(ticks)))
    assert [event_time_us(line) for line in out] == [5_000, 5_001, 7_000, 8_000, 9_000]
    first, original = orjson.loads(out[0]), orjson.loads(LINES[0])
    original["time_us"] = 5_000
    assert first == original


def test_stop_ends_the_replay(tmp_path: Path) -> None:
    path = write(tmp_path / "c.jsonl", LINES, zstd=False)
    stop = threading.Event()
    got = []
    for line in iter_replay(path, stop=stop):
        got.append(line)
        stop.set()
    assert got == LINES[:1]


def test_run_ingest_counts_everything_and_sinks_malformed(tmp_path: Path) -> None:
    events: list[bytes | str] = [
        *LINES,
        orjson.dumps(post_event(operation="delete", rkey="r0")),
        orjson.dumps({"did": "did:plc:x", "time_us": 1, "kind": "identity", "identity": {}}),
        b"{broken" + b"x" * (MAX_ERROR_BYTES + 10),
        orjson.dumps(post_event("A" * 20_000, rkey="big")),
        orjson.dumps(post_event("x", rkey="odd", embed={"$type": "app.bsky.embed.new"})),
    ]
    stream = MemoryStream()
    stream.create_stream("s", 2)
    producer = Producer(stream, "s", linger_s=0.01)
    sunk: list[tuple[bytes, str]] = []
    stats = run_ingest(
        events,
        producer,
        IngestStats(),
        on_malformed=lambda raw, why: sunk.append((raw, why)),
        clock_us=lambda: 42,
    )
    producer.close()
    assert (stats.events_read, stats.posts, stats.deletes, stats.malformed) == (10, 7, 1, 1)
    assert stats.skipped == {"identity": 1}
    assert stats.malformed_by_reason == {"invalid_json": 1}
    assert (stats.truncated, stats.unknown_embeds, stats.put) == (1, 1, 8)
    assert len(sunk) == 1 and sunk[0][1] == "invalid_json" and len(sunk[0][0]) == MAX_ERROR_BYTES
    posts = [Post.from_json(r.data) for r in stream.records("s")]
    assert {p.ingested_at_us for p in posts} == {42}
    assert sorted(p.rkey for p in posts if p.operation == "create") == sorted(
        ["r0", "r1", "r2", "r3", "r4", "big", "odd"]
    )


def test_run_ingest_stops_on_event_and_max_events() -> None:
    stream = MemoryStream()
    stream.create_stream("s", 1)
    producer = Producer(stream, "s", linger_s=0.0)
    stats = run_ingest(iter(LINES), producer, max_events=2)
    assert stats.events_read == 2 and stats.put == 2
    stop = threading.Event()
    stop.set()
    assert run_ingest(iter(LINES), producer, stop=stop).events_read == 1
    producer.close()


def test_bundled_capture_replays_through_the_normalizer() -> None:
    path = Path(__file__).resolve().parents[1] / "data" / "replay" / "capture.jsonl.zst"
    from fraud_pipeline.ingest.normalize import normalize

    kinds: dict[str, int] = {}
    for line in iter_replay(path):
        result = normalize(line)
        kinds[result.kind] = kinds.get(result.kind, 0) + 1
    assert sum(kinds.values()) == 20_000
    assert kinds.get("malformed", 0) == 0
    assert kinds["post"] > 8_000 and kinds["delete"] > 100 and kinds["skipped"] > 5_000
