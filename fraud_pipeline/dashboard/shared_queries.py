"""The metrics port with answers shared between the widgets of one page refresh.

A refresh asks for every widget at once, and the seed's widgets read the same few counters:
Post-Processed alone is in eight of them. Without sharing, one refresh costs the metrics backend
about 58 queries (on AWS, 58 GetMetricData calls); with it, about 28. Each distinct question
(namespace, metric, window, period, statistic, dimensions) is answered once and the answer kept
for a short TTL; requests asking it at the same moment wait for the one query in flight rather
than each sending their own. Only live (unpinned) requests use it, with "now" rounded down to
the second so that the widgets of one refresh ask the same windows.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from fraud_pipeline.metrics import MetricsSink
from fraud_pipeline.metrics.base import MetricDatum, MetricPoint

MAX_ENTRIES = 1024

QueryKey = tuple[str, str, int, int, int, str, tuple[tuple[str, str], ...]]


class SharedQueries:
    """A MetricsSink whose `query` answers are shared for `ttl_s` (failures are never kept)."""

    def __init__(self, inner: MetricsSink, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.inner = inner
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._answers: dict[QueryKey, tuple[float, list[MetricPoint]]] = {}
        self._in_flight: dict[QueryKey, threading.Lock] = {}
        self.backend_queries = 0  # questions the backend actually answered (tests, benchmarks)

    def put(self, namespace: str, data: list[MetricDatum]) -> None:
        self.inner.put(namespace, data)

    def close(self) -> None:
        self.inner.close()

    def _fresh(self, key: QueryKey) -> list[MetricPoint] | None:
        hit = self._answers.get(key)
        if hit is not None and self._clock() - hit[0] < self.ttl_s:
            return hit[1]
        return None

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
        key: QueryKey = (
            namespace,
            name,
            start_ms,
            end_ms,
            period_s,
            stat,
            tuple(sorted((dimensions or {}).items())),
        )
        with self._lock:
            answer = self._fresh(key)
            if answer is not None:
                return answer
            gate = self._in_flight.setdefault(key, threading.Lock())
        with gate:  # one query per question; the others wait for it and read its answer
            with self._lock:
                answer = self._fresh(key)
                if answer is not None:
                    return answer
            points = self.inner.query(namespace, name, start_ms, end_ms, period_s, stat, dimensions)
            with self._lock:
                self.backend_queries += 1
                if len(self._answers) >= MAX_ENTRIES:
                    self._answers.clear()
                self._answers[key] = (self._clock(), points)
                self._in_flight.pop(key, None)
            return points
