"""The lake-landing sensor's logic: which hourly partitions received files since the last tick.

The cursor is the last evaluated hour prefix (`posts/YYYY/MM/DD/HH/`) plus, for the few
hours still inside the late-file window, how many files they held and the newest file's
mtime. A tick lists only the day prefixes from the cursor's window to now (at most 24 hour
prefixes each) and the files of those hours, never the whole bucket; an hour is requested
when its file count or newest mtime changed, so a late file for a closed hour re-triggers it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from fraud_pipeline.lake.compaction import floor_hour
from fraud_pipeline.lake.paths import parse_raw_hour, partition_key, raw_hour_prefix
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

LATE_WINDOW_HOURS = 3  # closed hours still watched for late files
MAX_DAYS_PER_TICK = 7  # catching up after downtime: at most this many day prefixes per tick


@dataclass
class LandingCursor:
    hour_prefix: str | None = None  # last evaluated hour prefix
    seen: dict[str, list[int]] = field(default_factory=dict)  # hour prefix -> [files, newest mtime ms]

    def dumps(self) -> str:
        return json.dumps({"hour_prefix": self.hour_prefix, "seen": self.seen}, sort_keys=True)

    @classmethod
    def loads(cls, raw: str | None) -> LandingCursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(hour_prefix=data.get("hour_prefix"), seen=dict(data.get("seen", {})))
        except (ValueError, AttributeError):
            return cls()  # an unreadable cursor restarts discovery rather than failing every tick


@dataclass
class LandingTick:
    partitions: list[str]  # partition keys to (re)materialize, oldest first
    run_keys: dict[str, str]
    cursor: LandingCursor
    listed_prefixes: list[str]  # what the tick listed (tests assert it stays small)


def _first_hour_prefix(store: ObjectStore, settings: Settings) -> str | None:
    """The earliest hour prefix, walking the first year/month/day prefix only."""
    prefix = settings.posts_prefix
    for _ in range(4):
        children = store.list_dirs(prefix)
        if not children:
            return None
        prefix = children[0]
    return prefix


def evaluate_landing(
    store: ObjectStore, settings: Settings, cursor: LandingCursor, now: datetime | None = None
) -> LandingTick:
    now = floor_hour(now or datetime.now(UTC))
    listed: list[str] = []
    if cursor.hour_prefix is None:
        first = _first_hour_prefix(store, settings)
        listed.append(settings.posts_prefix)
        if first is None:  # empty lake: arrival hours are wall-clock hours, so start watching now
            return LandingTick([], {}, LandingCursor(raw_hour_prefix(settings.posts_prefix, now)), listed)
        start = parse_raw_hour(first) or now
    else:
        last = parse_raw_hour(cursor.hour_prefix) or now
        start = last - timedelta(hours=LATE_WINDOW_HOURS)
    days_end = min(now, start + timedelta(days=MAX_DAYS_PER_TICK))

    hours: list[datetime] = []
    day = start.replace(hour=0)
    while day <= days_end:
        day_prefix = raw_hour_prefix(settings.posts_prefix, day).rsplit("/", 2)[0] + "/"
        listed.append(day_prefix)
        for hour_prefix in store.list_dirs(day_prefix):
            hour = parse_raw_hour(hour_prefix)
            if hour is not None and start <= hour <= days_end:
                hours.append(hour)
        day += timedelta(days=1)

    partitions, run_keys, seen = [], {}, {}
    for hour in sorted(hours):
        prefix = raw_hour_prefix(settings.posts_prefix, hour)
        listed.append(prefix)
        files = [o for o in store.list_objects(prefix, recursive=False) if o.key.endswith(".parquet")]
        if not files:
            continue
        state = [len(files), max(o.mtime_ms for o in files)]
        seen[prefix] = state
        if cursor.seen.get(prefix) != state:
            key = partition_key(hour)
            partitions.append(key)
            run_keys[key] = f"{key}:{state[0]}:{state[1]}"
    # The last evaluated hour is the window's end: now in steady state, further back while catching up.
    keep_from = days_end - timedelta(hours=LATE_WINDOW_HOURS)
    kept = {p: st for p, st in {**cursor.seen, **seen}.items() if (parse_raw_hour(p) or now) >= keep_from}
    evaluated = raw_hour_prefix(settings.posts_prefix, days_end)
    return LandingTick(partitions, run_keys, LandingCursor(evaluated, kept), listed)
