"""Put and read throughput of the SQLite stream log with ~500-byte records.

Prints one JSON object: medians over several runs of records/s for put_records (batches of
500, one transaction each) and for shard reads (10,000 per read), on a fresh file in a
temp folder.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fraud_pipeline.streams.base import PutEntry
from fraud_pipeline.streams.sqlite_log import SqliteLogStream

RECORDS = 50_000
RECORD_BYTES = 500
BATCH = 500
RUNS = 5
SHARDS = 2


def one_run(folder: Path, run: int) -> tuple[float, float]:
    log = SqliteLogStream(folder / f"bench-{run}.sqlite")
    log.create_stream("bench", SHARDS)
    payload = os.urandom(RECORD_BYTES // 2).hex().encode()
    batches = [
        [PutEntry(f"did:plc:author{(b * BATCH + i) % 5000}", payload) for i in range(BATCH)]
        for b in range(RECORDS // BATCH)
    ]
    start = time.perf_counter()
    for batch in batches:
        results = log.put_records("bench", batch)
        if not all(r.ok for r in results):
            raise SystemExit("put failed")
    put_s = time.perf_counter() - start
    start = time.perf_counter()
    read = 0
    for shard in log.describe("bench").shard_ids:
        reader = log.shard_reader("bench", shard, None)
        while records := reader.read(10_000):
            read += len(records)
    read_s = time.perf_counter() - start
    log.close()
    if read != RECORDS:
        raise SystemExit(f"read {read} of {RECORDS}")
    return RECORDS / put_s, RECORDS / read_s


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_run(Path(tmp), run) for run in range(RUNS)]
    print(
        json.dumps(
            {
                "benchmark": "sqlite_stream_log",
                "records_per_run": RECORDS,
                "record_bytes": RECORD_BYTES,
                "put_batch": BATCH,
                "shards": SHARDS,
                "runs": RUNS,
                "put_records_per_s_median": round(statistics.median(r[0] for r in runs)),
                "read_records_per_s_median": round(statistics.median(r[1] for r in runs)),
                "put_records_per_s_all": [round(r[0]) for r in runs],
                "read_records_per_s_all": [round(r[1]) for r in runs],
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
