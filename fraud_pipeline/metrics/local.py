"""The local metrics adapter: a time-series table in SQLite, queried like CloudWatch.

Every data point is a row (namespace, name, ts_ms, value, unit, dimensions); `query`
buckets rows into periods counted from the query's start (as CloudWatch's
get_metric_data does; align `start_ms` to the period for clock-aligned buckets) and
aggregates them (sums and counts in SQL, percentiles in Python, nearest-rank). With
`dimensions` it reads exactly that dimension set, as CloudWatch does; without, it aggregates
every point of the named metric (CloudWatch would read only the dimensionless series).
A sink that is written deletes points older than `LOCAL_RETENTION_S` every
`LOCAL_PURGE_EVERY_S` of its life (never at the first write: a test or a backfill may be
writing old points on purpose).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson

from fraud_pipeline.metrics import MetricsError, check_data, check_stat
from fraud_pipeline.metrics.base import LOCAL_PURGE_EVERY_S, LOCAL_RETENTION_S, MetricDatum, MetricPoint
from fraud_pipeline.sqlite_files import ThreadLocalSqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS metrics (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    ts_ms      INTEGER NOT NULL,
    value      REAL NOT NULL,
    unit       TEXT NOT NULL,
    dimensions TEXT
);
CREATE INDEX IF NOT EXISTS metrics_by_name_time ON metrics (namespace, name, ts_ms);
"""

_SQL_STATS = {
    "Sum": "sum(value)",
    "Average": "avg(value)",
    "Maximum": "max(value)",
    "Minimum": "min(value)",
    "SampleCount": "count(*)",
}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LocalMetricsSink:
    def __init__(
        self,
        path: Path | str,
        clock: Callable[[], float] = time.time,
        allow_service_namespaces: bool = False,
        *,
        retention_s: float = LOCAL_RETENTION_S,
        purge_every_s: float = LOCAL_PURGE_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.allow_service_namespaces = allow_service_namespaces
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._db = ThreadLocalSqlite(self.path, _SCHEMA)
        self._conn = self._db.conn
        self.retention_s = retention_s
        self.purge_every_s = purge_every_s
        self._monotonic = monotonic
        self._next_purge = monotonic() + purge_every_s
        self.purged = 0  # points this sink deleted for retention

    def put(self, namespace: str, data: list[MetricDatum]) -> None:
        check_data(namespace, data, self.allow_service_namespaces)
        if not data:
            return
        now_ms = int(self._clock() * 1000)
        rows = [
            (
                namespace,
                d.name,
                d.timestamp_ms or now_ms,
                float(d.value),
                d.unit,
                orjson.dumps(d.dimensions, option=orjson.OPT_SORT_KEYS).decode() if d.dimensions else None,
            )
            for d in data
        ]
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if self._monotonic() >= self._next_purge:
            self._next_purge = self._monotonic() + self.purge_every_s
            self.purged += self.purge(int(self.retention_s * 1000))

    def query(
        self,
        namespace: str,
        name: str,
        start_ms: int,
        end_ms: int,
        period_s: int = 60,
        stat: str = "Sum",
        dimensions: Mapping[str, str] | None = None,
    ) -> list[MetricPoint]:
        check_stat(stat, period_s)
        period_ms = period_s * 1000
        where = "namespace = ? AND name = ? AND ts_ms >= ? AND ts_ms < ?"
        params: tuple[object, ...] = (namespace, name, start_ms, end_ms)
        if dimensions:
            where += " AND dimensions = ?"
            params += (orjson.dumps(dict(dimensions), option=orjson.OPT_SORT_KEYS).decode(),)
        conn = self._conn()
        if stat in _SQL_STATS:
            rows = conn.execute(
                # ts_ms >= start_ms, so SQLite's integer division floors.
                f"SELECT ? + ((ts_ms - ?) / {period_ms}) * {period_ms} AS bucket, {_SQL_STATS[stat]} "
                f"FROM metrics WHERE {where} GROUP BY bucket ORDER BY bucket",
                (start_ms, start_ms, *params),
            ).fetchall()
            return [MetricPoint(int(b), float(v)) for b, v in rows]
        p = float(stat[1:])
        buckets: dict[int, list[float]] = {}
        for ts, value in conn.execute(f"SELECT ts_ms, value FROM metrics WHERE {where}", params):
            buckets.setdefault(start_ms + (ts - start_ms) // period_ms * period_ms, []).append(value)
        return [MetricPoint(b, percentile(v, p)) for b, v in sorted(buckets.items())]

    def names(self, namespace: str) -> list[str]:
        """Metric names seen in a namespace (CloudWatch list_metrics)."""
        rows = self._conn().execute(
            "SELECT DISTINCT name FROM metrics WHERE namespace = ? ORDER BY name", (namespace,)
        )
        return [r[0] for r in rows]

    def purge(self, older_than_ms: int) -> int:
        """Retention: delete points older than `older_than_ms` before now; returns how many."""
        cutoff = int(self._clock() * 1000) - older_than_ms
        return self._conn().execute("DELETE FROM metrics WHERE ts_ms < ?", (cutoff,)).rowcount

    def close(self) -> None:
        self._db.close()


__all__ = ["LocalMetricsSink", "MetricsError", "percentile"]
