"""Server cost of each dashboard widget's answer (`/api/series`), per range, over a local metrics store.

Fills `--hours` of the seed's six 1-second counters (one point per metric per second, as the
scoring handler publishes them), then computes every widget of the spec for the page's ranges and
reports the median process CPU time per widget (wall time beside it) and the sum over the
widgets (one page refresh asks for every one). Derived series are computed column by column
(`widgets.evaluate_columns`); `baseline` is the same answer with the point-by-point arithmetic the
dashboard used before (`widgets.evaluate` per point, one parse each), measured in the same run.

    python benchmarks/bench_widgets.py                # 3 hours of metrics, 15 min / 1 h / 24 h
    python benchmarks/bench_widgets.py --repeat 9

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fraud_pipeline.dashboard import data, widgets
from fraud_pipeline.metrics import MetricDatum, open_metrics
from fraud_pipeline.metrics.base import SEED_METRICS
from fraud_pipeline.settings import load_settings

RANGES_S = (900, 3600, 86400)


def _point_by_point(
    widget: widgets.Widget, base: Mapping[str, list[float | None]], length: int
) -> dict[str, list[float | None]]:
    """The previous derivation: for every point of every derived series, parse the expression
    (the parse cache cleared, as the old code had none) and evaluate it on that point."""
    values: dict[str, list[float | None]] = dict(base)
    for series in widgets.evaluation_order(widget):
        assert series.expression is not None
        column: list[float | None] = []
        for i in range(length):
            point = {sid: vals[i] for sid, vals in values.items()}
            widgets._parse.cache_clear()
            column.append(widgets.evaluate(series.expression, point))
        values[series.id] = column
    return values


@contextmanager
def _baseline() -> Iterator[None]:
    original = data._derive
    data._derive = _point_by_point  # type: ignore[assignment]
    try:
        yield
    finally:
        data._derive = original  # type: ignore[assignment]


def _median_ms(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        run()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
    return round(statistics.median(cpu), 2), round(statistics.median(wall), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0, help="hours of 1-second seed metrics")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-widgets-"))
    settings = load_settings(environ={}, backend="local", home=home)
    sink = open_metrics(settings)
    now_ms = int(time.time() * 1000)
    seconds = int(args.hours * 3600)
    for start in range(0, seconds, 3600):
        batch = [
            MetricDatum(name, float(10 + i % 7), "Count", now_ms - i * 1000)
            for i in range(start, min(seconds, start + 3600))
            for name in SEED_METRICS
        ]
        sink.put(settings.metric_namespace, batch)

    result: dict[str, Any] = {"benchmark": "dashboard_widgets", "metric_points": seconds * len(SEED_METRICS)}
    for range_s in RANGES_S:
        per_widget: dict[str, Any] = {}
        totals = {"cpu_ms": 0.0, "wall_ms": 0.0, "baseline_cpu_ms": 0.0}
        for widget in widgets.WIDGETS:

            def answer(w: widgets.Widget = widget, r: int = range_s) -> Any:
                return data.widget_series(w, sink, settings, range_s=r, now_ms=now_ms)

            cpu, wall = _median_ms(answer, args.repeat)
            with _baseline():
                expected = answer()
                base_cpu, _ = _median_ms(answer, args.repeat)
            assert answer() == expected, f"{widget.key}: the two derivations disagree"
            per_widget[widget.key] = {"cpu_ms": cpu, "wall_ms": wall, "baseline_cpu_ms": base_cpu}
            totals["cpu_ms"] += cpu
            totals["wall_ms"] += wall
            totals["baseline_cpu_ms"] += base_cpu
        result[f"range_{range_s}s"] = {
            "widgets": per_widget,
            "all_widgets": {k: round(v, 1) for k, v in totals.items()},
        }
    sink.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
