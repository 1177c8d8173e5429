"""Where things live in the bucket: one place for the lake's key layout.

- raw lake (Firehose output): `posts/YYYY/MM/DD/HH/<delivery>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>.parquet`,
  the hour being the UTC arrival hour, as Firehose's `!{timestamp:...}` prefix gives it;
- conversion errors: `errors/<kind>/YYYY/MM/DD/HH/...` (Firehose's error output prefix shape);
- compacted lake: `compacted/dt=YYYY-MM-DD/hour=HH/part-*.parquet` (Hive style for Glue/Athena).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

DELIVERY_STREAM_VERSION = 1
_RAW_HOUR = re.compile(r"(?:^|/)(\d{4})/(\d{2})/(\d{2})/(\d{2})/")


def hour_path(when: datetime) -> str:
    """`YYYY/MM/DD/HH/` of a UTC time."""
    return when.astimezone(UTC).strftime("%Y/%m/%d/%H/")


def raw_hour_prefix(posts_prefix: str, when: datetime) -> str:
    return f"{posts_prefix}{hour_path(when)}"


def firehose_object_key(
    posts_prefix: str, delivery_stream: str, when: datetime, suffix: str = ".parquet"
) -> str:
    """Key of one delivered file, named the way Firehose names its objects."""
    when = when.astimezone(UTC)
    stamp = when.strftime("%Y-%m-%d-%H-%M-%S")
    name = f"{delivery_stream}-{DELIVERY_STREAM_VERSION}-{stamp}-{uuid.uuid4()}{suffix}"
    return raw_hour_prefix(posts_prefix, when) + name


def error_object_key(errors_prefix: str, kind: str, when: datetime, name: str) -> str:
    """Key of one errors file; `kind` names the stage (ingest, scoring, delivery)."""
    return f"{errors_prefix}{kind}/{hour_path(when)}{name}"


def parse_raw_hour(key: str) -> datetime | None:
    """The UTC hour of a raw-lake key (None when the key has no YYYY/MM/DD/HH/ part)."""
    match = _RAW_HOUR.search(key)
    if not match:
        return None
    year, month, day, hour = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


def partition_key(hour: datetime) -> str:
    """Dagster hourly partition key of an hour (`YYYY-MM-DD-HH:00`)."""
    return hour.astimezone(UTC).strftime("%Y-%m-%d-%H:00")


def compacted_partition_prefix(compacted_prefix: str, hour: datetime) -> str:
    hour = hour.astimezone(UTC)
    return f"{compacted_prefix}dt={hour:%Y-%m-%d}/hour={hour:%H}/"
