"""The lake-landing sensor's logic: which hourly partitions received files since the last tick.

The cursor is the last evaluated hour prefix (`posts/YYYY/MM/DD/HH/`) plus, for the few
hours still inside the late-file window, how many files they held and the newest file's
mtime. A tick lists only the day prefixes from the cursor's window to now (at most 24 hour
prefixes each) and the files of those hours, never the whole bucket; an hour is requested
when its file count or newest mtime changed, so a late file for a closed hour re-triggers it.
The hour still open is not this sensor's: the open-hour sensor refreshes it every few minutes,
and the first tick after it closes requests it once more (its final compaction).

Files can land later than that window: Firehose retries after an outage, or a replayed
backfill. So each steady-state tick also sweeps one older day, rotating over the last
`SWEEP_DAYS`, and the cursor keeps the state of every hour in that range. A late file
anywhere in the last week is found within `SWEEP_DAYS` ticks. The cost is one day prefix and
its hours per tick, never the whole bucket. `sweep_from` marks where the cursor's knowledge
is complete. A swept hour that has no state of its own is new (a late file in an hour that
was empty) if it is at or after `sweep_from`; before that, it is only recorded. This way a
cursor written before the sweep existed does not re-trigger a week of hours.
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
SWEEP_DAYS = 7  # older hours swept for late files, one day per tick


@dataclass
class LandingCursor:
    hour_prefix: str | None = None  # last evaluated hour prefix
    seen: dict[str, list[int]] = field(default_factory=dict)  # hour prefix -> [files, newest mtime ms]
    sweep_day: int = 0  # days before the window's first day that the next sweep lists (0..SWEEP_DAYS-1)
    sweep_from: str | None = None  # hour prefix from which `seen` knows every hour with files

    def dumps(self) -> str:
        return json.dumps(
            {
                "hour_prefix": self.hour_prefix,
                "seen": self.seen,
                "sweep_day": self.sweep_day,
                "sweep_from": self.sweep_from,
            },
            sort_keys=True,
        )

    @classmethod
    def loads(cls, raw: str | None) -> LandingCursor:
        if not raw:
            return cls()
        try:
            data = json.loads(raw)
            return cls(
                hour_prefix=data.get("hour_prefix"),
                seen=dict(data.get("seen", {})),
                sweep_day=int(data.get("sweep_day", 0)),
                sweep_from=data.get("sweep_from"),
            )
        except (ValueError, AttributeError, TypeError):
            return cls()  # an unreadable cursor restarts discovery rather than failing every tick


@dataclass
class LandingTick:
    partitions: list[str]  # partition keys to (re)materialize, oldest first
    run_keys: dict[str, str]
    cursor: LandingCursor
    listed_prefixes: list[str]  # what the tick listed for its window (tests assert it stays small)
    swept_prefixes: list[str] = field(default_factory=list)  # what the late-file sweep listed


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
            # Nothing is there, so any hour that shows up later, however old, is new.
            known_from = raw_hour_prefix(settings.posts_prefix, now - timedelta(days=SWEEP_DAYS))
            start_cursor = LandingCursor(raw_hour_prefix(settings.posts_prefix, now), sweep_from=known_from)
            return LandingTick([], {}, start_cursor, listed)
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
            # The open hour is the open-hour sensor's (open_hour.py); it is left out of `seen`, so
            # the first tick after it closes finds it unknown and requests it once more.
            if hour is not None and start <= hour <= days_end and hour < now:
                hours.append(hour)
        day += timedelta(days=1)

    partitions, run_keys, seen = [], {}, {}

    def evaluate_hour(hour: datetime, prefix: str, new_if_unknown: bool) -> None:
        files = [o for o in store.list_objects(prefix, recursive=False) if o.key.endswith(".parquet")]
        if not files:
            return
        state = [len(files), max(o.mtime_ms for o in files)]
        seen[prefix] = state
        before = cursor.seen.get(prefix)
        if before != state and (before is not None or new_if_unknown):
            key = partition_key(hour)
            partitions.append(key)
            run_keys[key] = f"{key}:{state[0]}:{state[1]}"

    for hour in sorted(hours):
        prefix = raw_hour_prefix(settings.posts_prefix, hour)
        listed.append(prefix)
        evaluate_hour(hour, prefix, new_if_unknown=True)

    sweep_from = cursor.sweep_from or raw_hour_prefix(settings.posts_prefix, start)
    swept: list[str] = []
    offset = cursor.sweep_day % SWEEP_DAYS
    if cursor.hour_prefix is not None:  # steady state: sweep one older day for late files
        # The window's first day (its hours before the window), then one day further back per tick.
        day = start.replace(hour=0) - timedelta(days=offset)
        horizon = days_end - timedelta(days=SWEEP_DAYS)
        day_prefix = raw_hour_prefix(settings.posts_prefix, day).rsplit("/", 2)[0] + "/"
        swept.append(day_prefix)
        complete_from = parse_raw_hour(sweep_from) or start
        for hour_prefix in store.list_dirs(day_prefix):
            hour = parse_raw_hour(hour_prefix)
            if hour is None or not horizon <= hour < start:
                continue
            prefix = raw_hour_prefix(settings.posts_prefix, hour)
            swept.append(prefix)
            evaluate_hour(hour, prefix, new_if_unknown=hour >= complete_from)

    # The last evaluated hour is the window's end: now in steady state, further back while catching up.
    keep_from = days_end - timedelta(days=SWEEP_DAYS)
    kept = {p: st for p, st in {**cursor.seen, **seen}.items() if (parse_raw_hour(p) or now) >= keep_from}
    evaluated = raw_hour_prefix(settings.posts_prefix, days_end)
    next_cursor = LandingCursor(evaluated, kept, (offset + 1) % SWEEP_DAYS, sweep_from)
    return LandingTick(sorted(set(partitions)), run_keys, next_cursor, listed, swept)
