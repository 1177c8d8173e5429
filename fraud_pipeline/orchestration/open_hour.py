"""The open hour's refresh: which run, if any, keeps the current arrival hour minutes behind the stream.

The landing sensor only requests closed hours. The hour still receiving files is compacted
(and its marts refreshed) by the open-hour sensor, at most every `open_hour_refresh_s`
seconds and only when its files changed since the last refresh, so an idle lake starts no
runs. When the hour closes, the landing sensor's first tick finds it unknown and requests it
one final time (see landing.py), so each hour ends with exactly one closing compaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from fraud_pipeline.lake.compaction import floor_hour, raw_hour_files
from fraud_pipeline.lake.paths import partition_key
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings


@dataclass(frozen=True)
class OpenHourTick:
    partition: str | None  # the open hour's partition key when it needs a refresh
    run_key: str | None
    cursor: str  # {"partition": key, "files": n, "mtime_ms": newest}


def evaluate_open_hour(
    store: ObjectStore, settings: Settings, cursor: str | None, now: datetime | None = None
) -> OpenHourTick:
    """A refresh of the open hour when its raw files changed since the cursor's state."""
    hour = floor_hour(now or datetime.now(UTC))
    key = partition_key(hour)
    files = raw_hour_files(store, settings, hour)
    state = {"partition": key, "files": len(files), "mtime_ms": max((f.mtime_ms for f in files), default=0)}
    try:
        before = json.loads(cursor) if cursor else {}
    except ValueError:
        before = {}  # an unreadable cursor costs one extra refresh, never a stuck sensor
    dumped = json.dumps(state, sort_keys=True)
    if not files or before == state:
        return OpenHourTick(None, None, dumped)
    return OpenHourTick(key, f"open:{key}:{state['files']}:{state['mtime_ms']}", dumped)
