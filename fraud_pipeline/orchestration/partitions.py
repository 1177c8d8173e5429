"""The hourly partitions every lake asset shares: one partition per UTC arrival hour."""

from __future__ import annotations

from datetime import UTC, datetime

from dagster import HourlyPartitionsDefinition

from fraud_pipeline.lake.paths import partition_key

# end_offset=1: the open hour is a partition too, so files landing now can be compacted now.
HOURLY = HourlyPartitionsDefinition(start_date="2024-01-01-00:00", timezone="UTC", end_offset=1)


def hour_of(key: str) -> datetime:
    """Partition key (`YYYY-MM-DD-HH:00`) -> the UTC hour."""
    return datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)


__all__ = ["HOURLY", "hour_of", "partition_key"]
