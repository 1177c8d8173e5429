"""`fraud-pipeline status`: the whole pipeline's state at one glance, on either backend.

Every part is read through the same ports the pipeline uses (streams, state/checkpoints,
metrics, object store, catalog side files, label store), so the answer is the same on a
laptop and on AWS:

- streams: shards, the newest record's age, each consumer's lag (checkpoints, or on AWS the
  managed consumer's own metric; `orchestration.health` measures it as the sensor does);
- scoring: the last scored batch and the error records of the last hour (seed metrics), the
  model and policy versions the newest tagged records in the lake carry, endpoint status;
- lake: the newest raw file, the newest compacted hour, the hours waiting for compaction;
- marts: when the dbt warehouse was last published and whether that is fresh;
- labeler: the last label sequence number (and subscribers, once the labeler publishes them).

Then a verdict: `healthy`; `degraded` with what is wrong and since when; or `stopped` when
nothing is flowing (no stream, or no record for `STOPPED_AFTER_S`). The command's exit code
is 0, 1 (degraded) or 2 (stopped), for scripts and container health checks.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fraud_pipeline.lake.compaction import compacted_key, raw_hour_files, raw_hours
from fraud_pipeline.lake.paths import partition_key
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.orchestration.health import consumers, managed_consumers, stream_health
from fraud_pipeline.settings import Settings
from fraud_pipeline.streams.base import StreamError

# How long without a new record on the untagged stream before the pipeline counts as stopped.
STOPPED_AFTER_S = 15 * 60
# The last closed hour is compacted by :45 past the next (the FreshnessPolicy on
# compacted_posts): an hour whose end is further back than this and still waits is late.
COMPACTION_LATE_AFTER_S = 105 * 60
# The marts are rebuilt hourly (:10) and with the open hour: older than two cycles is stale.
MARTS_STALE_AFTER_S = 2 * 3600
ERRORS_WINDOW_S = 3600
LAKE_LOOKBACK_HOURS = 48  # hours listed for "waiting for compaction"
EXIT_CODES = {"healthy": 0, "degraded": 1, "stopped": 2}
VERSION_COLUMNS = ("text_model_version", "media_model_version", "policy_version")


@dataclass
class Problem:
    part: str
    what: str
    since: str | None = None  # ISO time the condition started, when known


@dataclass
class StatusReport:
    checked_at: str
    backend: str
    env: str
    verdict: str = "healthy"
    problems: list[Problem] = field(default_factory=list)
    streams: list[dict[str, Any]] = field(default_factory=list)
    scoring: dict[str, Any] = field(default_factory=dict)
    lake: dict[str, Any] = field(default_factory=dict)
    marts: dict[str, Any] = field(default_factory=dict)
    labeler: dict[str, Any] | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _iso(ms: float | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds") if ms else None


def _age_s(ms: float | None, now_ms: int) -> float | None:
    return round(max(0.0, (now_ms - ms) / 1000), 1) if ms else None


# -- streams ---------------------------------------------------------------------------
def read_streams(settings: Settings, now_ms: int) -> tuple[list[dict[str, Any]], list[Problem]]:
    from fraud_pipeline.metrics import open_metrics
    from fraud_pipeline.state import open_state
    from fraud_pipeline.streams import open_stream

    readings: list[dict[str, Any]] = []
    problems: list[Problem] = []
    managed = managed_consumers(settings)
    stream, state, metrics = open_stream(settings), open_state(settings), open_metrics(settings)
    try:
        for name, consumer in consumers(settings).items():
            health = stream_health(stream, state, name, consumer, None, now_ms, managed.get(name), metrics)
            newest = _newest_arrival_ms(stream, name) if not health.error else None
            reading = {
                "name": name,
                "status": health.status,
                "shards": health.shard_count,
                "newest_record_at": _iso(newest),
                "newest_record_age_s": _age_s(newest, now_ms),
                "consumers": [
                    {
                        "name": health.consumer,
                        "lag_s": round(health.lag_s, 1),
                        "lag_records": health.lag_records,
                        "lag_source": health.lag_source,
                    }
                ],
            }
            if health.error:
                reading["error"] = health.error
                problems.append(Problem("streams", f"stream {name} cannot be read: {health.error}"))
            elif health.lag_s > settings.max_consumer_lag_s:
                since = _iso(now_ms - health.lag_s * 1000)
                problems.append(
                    Problem(
                        "streams",
                        f"{health.consumer} is {health.lag_s:.0f} s behind on {name} "
                        f"({health.lag_records} records waiting; "
                        f"threshold {settings.max_consumer_lag_s:.0f} s)",
                        since,
                    )
                )
            readings.append(reading)
    finally:
        stream.close()
        state.close()
        metrics.close()
    return readings, problems


def _newest_arrival_ms(stream: Any, name: str) -> int | None:
    """The newest record's arrival over the stream's shards (None: empty, or not told)."""
    newest: int | None = None
    try:
        for shard_id in stream.describe(name).shard_ids:
            arrival = stream.newest_arrival_ms(name, shard_id)
            if arrival is not None and (newest is None or arrival > newest):
                newest = arrival
    except StreamError:
        return None
    return newest


# -- scoring ---------------------------------------------------------------------------
def read_scoring(
    settings: Settings, store: ObjectStore | None, now_ms: int
) -> tuple[dict[str, Any], list[Problem]]:
    from fraud_pipeline.metrics import open_metrics
    from fraud_pipeline.orchestration.resources import ModelEndpointsResource, PipelineResource

    problems: list[Problem] = []
    metrics = open_metrics(settings)
    try:
        start = now_ms - ERRORS_WINDOW_S * 1000
        # 1-second points (the seed metrics' resolution): the last batch's own second.
        processed = metrics.query(
            settings.metric_namespace, "Post-Processed", start, now_ms + 1000, period_s=1, stat="Sum"
        )
        errors = metrics.query(
            settings.metric_namespace, "Post-Error", start, now_ms + 60_000, period_s=60, stat="Sum"
        )
    finally:
        metrics.close()
    batches = [p for p in processed if p.value > 0]
    last_ms = max((p.timestamp_ms for p in batches), default=None)
    error_records = int(sum(p.value for p in errors))
    endpoints = ModelEndpointsResource(pipeline=PipelineResource.from_settings(settings)).status()
    for name, info in endpoints.items():
        if info["status"] not in ("InService", "InProcess"):
            problems.append(
                Problem("scoring", f"endpoint {name} is {info['status']}: {info.get('detail', '')}")
            )
    if error_records:
        problems.append(
            Problem(
                "scoring",
                f"{error_records} error records in the last hour (under {settings.errors_prefix}scoring/)",
                _iso(min(p.timestamp_ms for p in errors if p.value > 0)),
            )
        )
    versions = _versions_in_lake(settings, store) if store is not None else {}
    return {
        "last_batch_at": _iso(last_ms),
        "last_batch_age_s": _age_s(last_ms, now_ms),
        "posts_last_hour": int(sum(p.value for p in processed)),
        "error_records_last_hour": error_records,
        "text_model_version": versions.get("text_model_version"),
        "media_model_version": versions.get("media_model_version"),
        "policy_version": versions.get("policy_version"),
        "endpoints": endpoints,
    }, problems


def _versions_in_lake(settings: Settings, store: ObjectStore) -> dict[str, str | None]:
    """Model and policy versions of the newest tagged record in the newest raw file (what
    the scoring path really used, wherever the models and the policy are kept)."""
    import pyarrow.parquet as pq

    newest = _newest_raw_file(settings, store)
    if newest is None:
        return {}
    try:
        schema = pq.read_schema(store.path(newest.key), filesystem=store.fs)
        columns = [c for c in VERSION_COLUMNS if c in schema.names]
        table = pq.read_table(store.path(newest.key), filesystem=store.fs, columns=columns)
    except (OSError, ValueError):
        return {}
    if not table.num_rows:
        return {}
    last = table.slice(table.num_rows - 1).to_pylist()[0]
    return {name: last.get(name) for name in VERSION_COLUMNS}


# -- lake ------------------------------------------------------------------------------
def _recent_raw_hours(settings: Settings, store: ObjectStore, now: datetime) -> list[datetime]:
    floor = now - timedelta(hours=LAKE_LOOKBACK_HOURS)
    return [h for h in raw_hours(store, settings) if h >= floor.replace(minute=0, second=0, microsecond=0)]


def _newest_raw_file(settings: Settings, store: ObjectStore) -> Any:
    hours = raw_hours(store, settings)
    for hour in reversed(hours):
        files = list(store.list_objects(settings.posts_prefix + hour.strftime("%Y/%m/%d/%H/")))
        if files:
            return max(files, key=lambda f: f.mtime_ms)
    return None


def read_lake(settings: Settings, store: ObjectStore, now_ms: int) -> tuple[dict[str, Any], list[Problem]]:
    problems: list[Problem] = []
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    newest_raw = _newest_raw_file(settings, store)
    hours = _recent_raw_hours(settings, store, now)
    waiting: list[datetime] = []
    newest_compacted: datetime | None = None
    for hour in hours:
        compacted_ms = _mtime_ms(store, compacted_key(settings, hour))
        raw = raw_hour_files(store, settings, hour)
        if compacted_ms is not None:
            newest_compacted = hour if newest_compacted is None else max(newest_compacted, hour)
        newest_raw_ms = max((f.mtime_ms for f in store.list_objects(_hour_prefix(settings, hour))), default=0)
        # Waiting: never compacted, or a (late) raw file landed after the last compaction.
        if raw and (compacted_ms is None or compacted_ms < newest_raw_ms):
            waiting.append(hour)
    late = [h for h in waiting if (now - (h + timedelta(hours=1))).total_seconds() > COMPACTION_LATE_AFTER_S]
    if newest_raw is None:
        problems.append(Problem("lake", f"no raw file in the lake ({store.uri(settings.posts_prefix)})"))
    if late:
        problems.append(
            Problem(
                "lake",
                f"{len(late)} hours waiting for compaction past :45 of the next hour "
                f"(oldest {partition_key(late[0])})",
                (late[0] + timedelta(hours=1, minutes=45)).isoformat(timespec="seconds"),
            )
        )
    return {
        "newest_raw_file": newest_raw.key if newest_raw else None,
        "newest_raw_file_age_s": _age_s(newest_raw.mtime_ms, now_ms) if newest_raw else None,
        "newest_compacted_hour": partition_key(newest_compacted) if newest_compacted else None,
        "hours_waiting_for_compaction": [partition_key(h) for h in waiting],
    }, problems


def _mtime_ms(store: ObjectStore, key: str) -> int | None:
    """Last-modified time of one object (None when it does not exist)."""
    import pyarrow.fs as pafs

    info = store.fs.get_file_info(store.path(key))
    if info.type != pafs.FileType.File or info.mtime_ns is None:
        return None
    return info.mtime_ns // 1_000_000


def _hour_prefix(settings: Settings, hour: datetime) -> str:
    return settings.posts_prefix + hour.strftime("%Y/%m/%d/%H/")


# -- marts -----------------------------------------------------------------------------
def read_marts(settings: Settings, now_ms: int) -> tuple[dict[str, Any], list[Problem]]:
    """The dbt marts: the DuckDB warehouse the dashboard reads (published by the Dagster task),
    or with the Athena engine the Glue table dbt last replaced."""
    if settings.backend == "aws" and settings.analytics_engine == "athena":
        where, built_ms = _athena_marts_built_ms(settings)
    else:
        path = settings.warehouse_path
        where = str(path)
        built_ms = path.stat().st_mtime * 1000 if path.exists() else None
    if built_ms is None:
        what = f"no marts at {where}: run `fraud-pipeline backfill` (or let Dagster build them)"
        return {"warehouse": where, "last_build_at": None, "fresh": False}, [Problem("marts", what)]
    age = _age_s(built_ms, now_ms) or 0.0
    fresh = age <= MARTS_STALE_AFTER_S
    problems = (
        []
        if fresh
        else [Problem("marts", f"dashboard tables last built {age / 3600:.1f} h ago", _iso(built_ms))]
    )
    return {"warehouse": where, "last_build_at": _iso(built_ms), "age_s": age, "fresh": fresh}, problems


MARTS_PROBE_TABLE = "fraud_summary"  # a mart every build replaces


def _athena_marts_built_ms(settings: Settings) -> tuple[str, float | None]:
    from fraud_pipeline.catalog import CatalogError, open_catalog

    where = f"glue://{settings.athena_database}/{MARTS_PROBE_TABLE}"
    catalog = open_catalog(settings)
    try:
        updated = getattr(catalog, "table_updated_ms", None)
        return where, updated(settings.athena_database, MARTS_PROBE_TABLE) if updated else None
    except CatalogError:
        return where, None
    finally:
        catalog.close()


# -- labeler ---------------------------------------------------------------------------
def read_labeler(settings: Settings) -> dict[str, Any] | None:
    """Last label seq, and subscribers from the running service's health; None where the
    labeler has never run (no label store)."""
    try:
        from fraud_pipeline.labeler.commands import SERVICE_ENDPOINT_META
        from fraud_pipeline.labeler.server import HEALTH_PATH
        from fraud_pipeline.labeler.store import open_label_store
    except ImportError:
        return None
    if settings.backend == "local" and not settings.labels_path.exists():
        return None
    try:
        store = open_label_store(settings)
    except Exception as exc:  # a status line, not a failure of the command
        return {"error": f"label store cannot be opened: {exc}"[:300]}
    try:
        endpoint = store.get_meta(SERVICE_ENDPOINT_META)
        reading: dict[str, Any] = {"last_label_seq": store.head(), "service": endpoint, "subscribers": None}
    finally:
        store.close()
    if endpoint:
        health = _get_json(endpoint.rstrip("/") + HEALTH_PATH)
        if health is None:
            reading["service_status"] = "unreachable"
        else:
            reading["service_status"] = "up"
            reading["subscribers"] = health.get("subscribers")
    return reading


def _get_json(url: str, timeout_s: float = 2.0) -> dict[str, Any] | None:
    import json
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:
            body = json.loads(reply.read(1 << 16))
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


# -- all together ----------------------------------------------------------------------
def pipeline_status(settings: Settings, now_ms: int | None = None) -> StatusReport:
    now_ms = now_ms or int(time.time() * 1000)
    report = StatusReport(checked_at=_iso(now_ms) or "", backend=settings.backend, env=settings.env)
    report.streams, problems = read_streams(settings, now_ms)
    try:
        store: ObjectStore | None = ObjectStore.from_settings(settings)
        assert store is not None
        report.lake, lake_problems = read_lake(settings, store, now_ms)
    except (ObjectStoreError, OSError) as exc:
        store = None
        report.lake, lake_problems = {"error": str(exc)[:300]}, [Problem("lake", f"lake unreadable: {exc}")]
    report.scoring, scoring_problems = read_scoring(settings, store, now_ms)
    report.marts, marts_problems = read_marts(settings, now_ms)
    report.labeler = read_labeler(settings)
    report.problems = problems + scoring_problems + lake_problems + marts_problems
    report.verdict = _verdict(report, now_ms)
    return report


def _verdict(report: StatusReport, now_ms: int) -> str:
    if any(s.get("error") or s["status"] != "ACTIVE" for s in report.streams):
        return "stopped" if all(s.get("error") for s in report.streams) else "degraded"
    untagged = report.streams[0] if report.streams else {}
    age = untagged.get("newest_record_age_s")
    if age is None or age > STOPPED_AFTER_S:
        report.problems.insert(
            0,
            Problem(
                "streams",
                "no record on the untagged stream"
                + (f" for {age / 60:.0f} min" if age is not None else "")
                + ": is ingest running?",
                untagged.get("newest_record_at"),
            ),
        )
        return "stopped"
    return "degraded" if report.problems else "healthy"


def render(report: StatusReport) -> str:
    """One screen for a person."""

    def age(value: float | None) -> str:
        if value is None:
            return "-"
        return (
            f"{value:.0f} s"
            if value < 120
            else f"{value / 60:.0f} min"
            if value < 7200
            else f"{value / 3600:.1f} h"
        )

    lines = [f"fraud-pipeline {report.env} ({report.backend}) at {report.checked_at}"]
    lines.append("streams")
    for s in report.streams:
        consumer = s["consumers"][0]
        lines.append(
            f"  {s['name']}: {s['status']}, {s['shards']} shards, "
            f"newest record {age(s['newest_record_age_s'])} ago; "
            f"{consumer['name']} lag {age(consumer['lag_s'])} ({consumer['lag_records']} records)"
        )
    sc = report.scoring
    lines.append("scoring")
    lines.append(
        f"  last batch {age(sc.get('last_batch_age_s'))} ago, {sc.get('posts_last_hour', 0)} posts and "
        f"{sc.get('error_records_last_hour', 0)} error records in the last hour"
    )
    lines.append(
        f"  text model {sc.get('text_model_version') or '-'}, "
        f"media model {sc.get('media_model_version') or '-'}, policy {sc.get('policy_version') or '-'}"
    )
    for name, info in (sc.get("endpoints") or {}).items():
        lines.append(f"  endpoint {name}: {info['status']} ({info.get('mode', '')})")
    lk = report.lake
    lines.append("lake")
    if "error" in lk:
        lines.append(f"  unreadable: {lk['error']}")
    else:
        lines.append(
            f"  newest raw file {age(lk.get('newest_raw_file_age_s'))} ago, newest compacted hour "
            f"{lk.get('newest_compacted_hour') or '-'}, "
            f"{len(lk.get('hours_waiting_for_compaction', []))} hours waiting for compaction"
        )
    mt = report.marts
    lines.append("marts")
    lines.append(
        f"  last build {mt.get('last_build_at') or 'never'}"
        + ("" if mt.get("last_build_at") is None else f" ({'fresh' if mt.get('fresh') else 'stale'})")
    )
    if report.labeler is not None:
        lb = report.labeler
        lines.append("labeler")
        if "error" in lb:
            lines.append(f"  {lb['error']}")
        else:
            subs = lb.get("subscribers")
            service = f", service {lb['service_status']}" if lb.get("service_status") else ""
            subscribers = "-" if subs is None else subs
            lines.append(f"  last label seq {lb['last_label_seq']}, subscribers {subscribers}{service}")
    lines.append("")
    lines.append(f"verdict: {report.verdict.upper()}")
    for problem in report.problems:
        lines.append(
            f"  - {problem.part}: {problem.what}" + (f" (since {problem.since})" if problem.since else "")
        )
    return "\n".join(lines)
