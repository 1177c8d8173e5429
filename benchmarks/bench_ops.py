"""What operability costs: JSON log lines per second, and `status` wall time on a local home.

Prints one JSON object:
- log lines/s through `fraud_pipeline.logs` (JSON formatter + rotating file handler, with a
  context: shard and record) beside the stdlib's plain text formatter on the same rotating
  handler, same run;
- `pipeline_status()` wall time on a local home that holds a provisioned stack with
  RECORDS scored records, a raw and a compacted lake hour, and a warehouse.
Medians over RUNS runs.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import statistics
import tempfile
import time
from pathlib import Path

LINES = 20_000
RUNS = 5
RECORDS = 2_000


def log_lines_per_s(folder: Path, structured: bool) -> float:
    from fraud_pipeline import logs
    from fraud_pipeline.settings import load_settings

    settings = load_settings(environ={}, home=folder / ("json" if structured else "plain"))
    root = logging.getLogger(logs.ROOT_LOGGER)
    if structured:
        logs.setup_logging("bench", settings, terminal=open("/dev/null", "w"))  # noqa: SIM115
    else:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        path = Path(settings.home) / "plain.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(path, maxBytes=logs.ROTATE_BYTES, backupCount=1)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    log = logging.getLogger("fraud_pipeline.bench")
    start = time.perf_counter()
    with logs.log_context(shard="shardId-000000000001"):
        for i in range(LINES):
            log.info("scored a batch: %d records", i, extra={"record": str(i)})
    elapsed = time.perf_counter() - start
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    return LINES / elapsed


def status_seconds(home: Path) -> list[float]:
    import duckdb

    from fraud_pipeline.lake.compaction import compact_hour, raw_hours
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.provision import provision
    from fraud_pipeline.records import Post
    from fraud_pipeline.settings import load_settings
    from fraud_pipeline.status import pipeline_status
    from fraud_pipeline.streams import PutEntry, open_stream
    from fraud_pipeline.workers.stack import Stack

    settings = load_settings(environ={}, home=home)
    provision(settings)
    now_us = int(time.time() * 1_000_000)
    posts = [
        Post(
            uri=f"at://did:plc:bench{i % 50:04d}/app.bsky.feed.post/3k{i:011d}",
            did=f"did:plc:bench{i % 50:04d}",
            rkey=f"3k{i:011d}",
            operation="create",
            time_us=now_us,
            cid=f"bafy{i}",
            text=f"benchmark post {i}",
        )
        for i in range(RECORDS)
    ]
    stream = open_stream(settings)
    for start in range(0, RECORDS, 500):
        stream.put_records(
            settings.untagged_stream, [PutEntry(p.did, p.to_json()) for p in posts[start : start + 500]]
        )
    stack = Stack(settings, mode="threads", delivery_buffer_seconds=0)
    stack.start()
    stack.wait_drained(timeout=600)
    stack.stop()
    stack.close()
    store = ObjectStore.from_settings(settings)
    for hour in raw_hours(store, settings):
        compact_hour(store, settings, hour)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("CREATE TABLE t AS SELECT 1 AS x")
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        report = pipeline_status(settings)
        timings.append(time.perf_counter() - start)
        if report.verdict != "healthy":
            raise SystemExit(f"expected a healthy stack, got {report.verdict}: {report.problems}")
    return timings


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        json_rates = [log_lines_per_s(folder / f"r{i}", structured=True) for i in range(RUNS)]
        plain_rates = [log_lines_per_s(folder / f"p{i}", structured=False) for i in range(RUNS)]
        status = status_seconds(folder / "stack")
    print(
        json.dumps(
            {
                "log_lines": LINES,
                "json_log_lines_per_s_median": round(statistics.median(json_rates)),
                "plain_log_lines_per_s_median": round(statistics.median(plain_rates)),
                "status_records": RECORDS,
                "status_seconds_median": round(statistics.median(status), 3),
                "status_seconds_max": round(max(status), 3),
                "runs": RUNS,
            }
        )
    )


if __name__ == "__main__":
    main()
