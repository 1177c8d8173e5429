"""Long ranges: the seed widgets read the dbt mart for what is older than the live metrics keep."""

from __future__ import annotations

import json
import random
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_pipeline.dashboard import data, history
from fraud_pipeline.dashboard.app import DashboardState, running
from fraud_pipeline.dashboard.warehouse import WarehouseReader
from fraud_pipeline.metrics import MetricDatum, MetricsSink, open_metrics
from fraud_pipeline.metrics.base import HIGH_RESOLUTION_RETENTION_S
from fraud_pipeline.settings import Settings
from tests.conftest import free_port
from tests.dashboard_fixtures import build_seed_minutes

MINUTE = 60_000
HOUR = 3_600_000
COUNTERS = list(history.MART_COLUMNS)  # Post-Processed, Post-Text-Only, ...


def _minute_counts(rng: random.Random) -> dict[str, float]:
    processed = rng.randint(100, 400)
    fraud = rng.randint(0, processed // 5)
    both = rng.randint(0, fraud // 2)
    media = both + rng.randint(0, fraud - both)
    return dict(
        zip(
            COUNTERS,
            (processed, rng.randint(0, processed), fraud, both, media, both + fraud - media),
            strict=True,
        )
    )


@pytest.fixture()
def now_ms() -> int:
    now = int(time.time() * 1000)
    return now - now % MINUTE + 20_500


@pytest.fixture()
def sink(local_settings: Settings) -> Iterator[MetricsSink]:
    s = open_metrics(local_settings)
    yield s
    s.close()


@pytest.fixture()
def reader(local_settings: Settings) -> Iterator[WarehouseReader]:
    r = WarehouseReader(Path(local_settings.warehouse_path))
    yield r
    r.close()


@pytest.fixture()
def both_sources(local_settings: Settings, sink: MetricsSink, now_ms: int) -> tuple[dict, dict]:
    """Mart minutes over the last 8 hours and different live points over the last 4 hours: where
    they overlap (the newest 3 hours) the answer must take the live ones, and before that the mart's."""
    rng = random.Random(5)
    first_minute = now_ms - now_ms % MINUTE - 8 * HOUR
    mart = {first_minute + i * MINUTE: _minute_counts(rng) for i in range(8 * 60)}
    build_seed_minutes(Path(local_settings.warehouse_path), mart)
    live: dict[int, dict[str, float]] = {}
    batch: list[MetricDatum] = []
    for i in range(4 * 60):  # one batch per minute, at 17 s past it
        ts = now_ms - now_ms % MINUTE - i * MINUTE + 17_000
        if ts >= now_ms:
            continue
        counts = {m: v + 1000 for m, v in _minute_counts(rng).items()}  # tell them apart from the mart
        live[ts - ts % MINUTE] = counts
        batch += [MetricDatum(m, v, "Count", ts) for m, v in counts.items()]
    sink.put(local_settings.metric_namespace, batch)
    return mart, live


def _by_id(payload: dict) -> dict[str, dict]:
    return {s["id"]: s for s in payload["series"]}


def test_long_range_reads_older_minutes_from_the_mart_and_the_newest_live(
    both_sources: tuple[dict, dict],
    sink: MetricsSink,
    reader: WarehouseReader,
    local_settings: Settings,
    now_ms: int,
) -> None:
    mart, live = both_sources
    payload = data.widget_series(
        data.widget_by_key("raw_metrics"),
        sink,
        local_settings,
        range_s=6 * 3600,
        now_ms=now_ms,
        warehouse=reader,
    )
    assert payload["period_s"] == 60  # at least the mart's minute
    boundary = payload["history"]["until_ms"]
    assert boundary == history.live_boundary_ms(now_ms, 60)
    assert (
        now_ms - HIGH_RESOLUTION_RETENTION_S * 1000
        <= boundary
        < now_ms - HIGH_RESOLUTION_RETENTION_S * 1000 + MINUTE
    )
    assert payload["history"]["relation"] == "seed_metrics_per_minute" and payload["note"] is None
    series = _by_id(payload)
    older = newer = 0
    for i, ts in enumerate(payload["timestamps"]):
        source = mart if ts < boundary else live
        counts = source.get(ts)
        got = {s: series[s]["values"][i] for s in series}
        if counts is None:
            assert got["processed"] is None, ts
            continue
        older += ts < boundary
        newer += ts >= boundary
        assert got["processed"] == counts["Post-Processed"], ts
        assert got["fraud_both"] == counts["Post-Fraud-Both"]
        assert got["not_fraud"] == counts["Post-Processed"] - counts["Post-Is-Fraud"]  # derived alike
        assert got["fraud_media_only"] == counts["Post-Fraud-Media"] - counts["Post-Fraud-Both"]
    assert older >= 170 and newer >= 170


def test_whole_range_totals_add_the_marts_minutes_to_the_live_ones(
    both_sources: tuple[dict, dict],
    sink: MetricsSink,
    reader: WarehouseReader,
    local_settings: Settings,
    now_ms: int,
) -> None:
    mart, live = both_sources
    start = now_ms - 86400 * 1000
    pie = data.widget_series(
        data.widget_by_key("fraud_posts_pie"),
        sink,
        local_settings,
        range_s=86400,
        now_ms=now_ms,
        warehouse=reader,
    )
    boundary = pie["history"]["until_ms"]

    def total(metric: str) -> float:
        old = sum(c[metric] for ts, c in mart.items() if start <= ts < boundary)
        return old + sum(c[metric] for ts, c in live.items() if ts >= boundary)

    slices = {s["id"]: s["values"][0] for s in pie["series"] if s["visible"]}
    assert slices == {
        "fraud_both": total("Post-Fraud-Both"),
        "fraud_media_only": total("Post-Fraud-Media") - total("Post-Fraud-Both"),
        "fraud_text_only": total("Post-Fraud-Text") - total("Post-Fraud-Both"),
        "not_fraud": total("Post-Processed") - total("Post-Is-Fraud"),
    }
    headline = data.headline(sink, local_settings, range_s=86400, now_ms=now_ms, warehouse=reader)
    cards = {c["id"]: c for c in headline["cards"]}
    assert cards["processed"]["range_value"] == total("Post-Processed")
    assert cards["fraud_pct"]["range_value"] == pytest.approx(
        100 * total("Post-Is-Fraud") / total("Post-Processed")
    )


def test_short_ranges_and_other_widgets_stay_on_the_live_metrics(
    both_sources: tuple[dict, dict],
    sink: MetricsSink,
    reader: WarehouseReader,
    local_settings: Settings,
    now_ms: int,
) -> None:
    short = data.widget_series(
        data.widget_by_key("raw_metrics"),
        sink,
        local_settings,
        range_s=3 * 3600,
        now_ms=now_ms,
        warehouse=reader,
    )
    assert short["history"] is None and short["period_s"] == 30
    latency = data.widget_series(
        data.widget_by_key("latency"), sink, local_settings, range_s=86400, now_ms=now_ms, warehouse=reader
    )
    assert latency["history"] is None and not history.answerable_from_marts(data.widget_by_key("latency"))
    assert history.answerable_from_marts(data.widget_by_key("totals"))


def test_without_the_mart_the_whole_range_comes_from_the_metrics_with_a_note(
    local_settings: Settings, sink: MetricsSink, reader: WarehouseReader, now_ms: int
) -> None:
    old_ts = now_ms - 5 * HOUR  # the local table keeps it; CloudWatch would hold it per minute only
    sink.put(local_settings.metric_namespace, [MetricDatum("Post-Processed", 42, "Count", old_ts)])
    payload = data.widget_series(
        data.widget_by_key("raw_metrics"),
        sink,
        local_settings,
        range_s=6 * 3600,
        now_ms=now_ms,
        warehouse=reader,
    )
    assert payload["history"] is None and "seed_metrics_per_minute not built yet" in payload["note"]
    processed = dict(zip(payload["timestamps"], _by_id(payload)["processed"]["values"], strict=True))
    assert processed[old_ts - old_ts % MINUTE] == 42


def test_api_answers_long_ranges_from_the_mart(
    both_sources: tuple[dict, dict], local_settings: Settings, now_ms: int
) -> None:
    mart, _ = both_sources
    state = DashboardState(local_settings)
    with (
        running(state, free_port()) as url,
        urllib.request.urlopen(f"{url}/api/series?widget=all_stacked&range=21600&end={now_ms}") as reply,
    ):
        payload = json.loads(reply.read())
    state.close()
    assert payload["history"]["relation"] == "seed_metrics_per_minute"
    first = payload["timestamps"][0]
    assert _by_id(payload)["fraud_both"]["values"][0] == mart[first]["Post-Fraud-Both"]


@pytest.fixture(scope="module")
def dbt_built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, list]]:
    """The real mart: a raw lake compacted and `dbt build` run over it (as Dagster does)."""
    from fraud_pipeline.lake.compaction import compact_hour
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.orchestration.dbt_project import run_dbt_build
    from fraud_pipeline.settings import load_settings
    from tests.lake_fixtures import build_lake, recent_hours

    settings = load_settings(environ={}, backend="local", home=tmp_path_factory.mktemp("history") / "home")
    store = ObjectStore.from_settings(settings)
    hours = recent_hours(2)
    truth = build_lake(store, settings, hours, posts_per_hour=80)
    for hour in hours:
        compact_hour(store, settings, hour)
    # The mart and the models it is built from (data tests beside it read other marts too).
    done = run_dbt_build(settings, "--select", "+seed_metrics_per_minute", "--resource-type", "model")
    output = done.stdout + done.stderr
    assert re.search(r"OK created .*seed_metrics_per_minute", output), output[-2000:]
    live = [record for by_uri in truth.live.values() for record in by_uri.values()]
    yield settings, live


@pytest.mark.slow
def test_the_real_mart_counts_the_lakes_posts_per_minute_in_utc(dbt_built: tuple[Settings, list]) -> None:
    """The dbt model, not a stand-in: its minutes (UTC, by scoring time) hold the lake's posts."""
    settings, live = dbt_built
    expected: dict[int, list[float]] = {}
    for record in live:
        minute = record.scored_at_us // 60_000_000 * 60_000
        counts = expected.setdefault(minute, [0.0, 0.0])
        counts[0] += 1
        counts[1] += record.is_fraud
    start, end = min(expected), max(expected) + MINUTE
    reader = WarehouseReader(Path(settings.warehouse_path))
    try:
        mart = history.mart_sums(reader, ["Post-Processed", "Post-Is-Fraud"], start, end, 60)
        got = {p.timestamp_ms: [p.value] for p in mart.points["Post-Processed"]}
        for p in mart.points["Post-Is-Fraud"]:
            got[p.timestamp_ms].append(p.value)
        assert got == {m: c for m, c in expected.items()}
        # A day later the whole of it is older than the live metrics keep: Values is the mart's sums.
        sink = open_metrics(settings)
        values = data.widget_series(
            data.widget_by_key("values"),
            sink,
            settings,
            range_s=86400,
            now_ms=end + 4 * HOUR,
            warehouse=reader,
        )
        sink.close()
    finally:
        reader.close()
    shown = {s["id"]: s["values"][0] for s in values["series"] if s["visible"]}
    assert shown["processed"] == len(live)
    assert shown["not_fraud"] == sum(not r.is_fraud for r in live)
