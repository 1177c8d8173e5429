"""Stream-health readings for the monitoring sensor: status, shards, lag, stalls, fraud-rate jumps.

Consumer lag is measured the same way on both backends, from the ports: the consumer's
checkpoint (the poller's `poller/<stream>/<shard>` for the untagged stream, the delivery's
`delivery/<stream>/<shard>` for the tagged one) against the shard: the first record after the
checkpoint gives the age of the oldest unprocessed record (what Lambda's IteratorAge reports),
and the reader reports how many records are behind.

On AWS the consumers are managed services that keep no checkpoint in our state store: the
Lambda event source mapping and Firehose. There the lag comes from the metric each service
publishes about itself: `AWS/Lambda IteratorAge` for the scoring function and `AWS/Firehose
KinesisMillisBehindLatest` for the delivery stream (maximum over the last 5 minutes). A
managed consumer counts as stalled when that lag is past `STALL_AFTER_S` and still growing.
The stand-ins (`fraud-pipeline poll` / `deliver`) also work against AWS, and they do write
checkpoints. So the checkpoints decide: a consumer with checkpoints is read from them, and
one without is read from its metric.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from fraud_pipeline.metrics.base import MetricsSink
from fraud_pipeline.policy.schema import FraudRateJump
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.streams.base import Stream, StreamError

LAG_READ_LIMIT = 1000
LAG_METRIC_WINDOW_S = 300
STALL_AFTER_S = 300.0  # backlog waiting and the checkpoint unmoved this long = stalled


@dataclass
class StreamHealth:
    name: str
    consumer: str
    status: str
    shard_count: int
    lag_records: int = 0
    lag_s: float = 0.0
    checkpoints: dict[str, str] = field(default_factory=dict)
    stalled_for_s: float = 0.0
    error: str = ""
    lag_source: str = "checkpoints"  # or the managed consumer's metric, e.g. "AWS/Lambda IteratorAge"

    @property
    def stalled(self) -> bool:
        return self.stalled_for_s >= STALL_AFTER_S


@dataclass
class FraudRate:
    recent_posts: float
    recent_rate: float | None
    trailing_rate: float | None
    posts_per_s: float
    rule: FraudRateJump  # the detection policy's rate-jump rule and windows

    @property
    def jumped(self) -> bool:
        return self.rule.jumped(self.recent_rate, self.trailing_rate, int(self.recent_posts))


def consumers(settings: Settings) -> dict[str, str]:
    """stream name -> checkpoint key prefix of the worker that consumes it."""
    return {settings.untagged_stream: "poller", settings.tagged_stream: "delivery"}


@dataclass(frozen=True)
class ManagedConsumer:
    """The AWS service that consumes a stream in production, and the lag metric it publishes."""

    name: str
    namespace: str
    metric: str
    dimensions: dict[str, str]


def managed_consumers(settings: Settings) -> dict[str, ManagedConsumer]:
    """stream name -> its managed consumer on AWS (none on the local backend)."""
    if settings.backend != "aws":
        return {}
    return {
        settings.untagged_stream: ManagedConsumer(
            f"lambda {settings.scoring_function}",
            "AWS/Lambda",
            "IteratorAge",
            {"FunctionName": settings.scoring_function},
        ),
        settings.tagged_stream: ManagedConsumer(
            f"firehose {settings.delivery_stream}",
            "AWS/Firehose",
            "KinesisMillisBehindLatest",
            {"DeliveryStreamName": settings.delivery_stream},
        ),
    }


def stream_health(
    stream: Stream,
    state: StateStore,
    name: str,
    consumer: str,
    previous: dict[str, object] | None,
    now_ms: int | None = None,
    managed: ManagedConsumer | None = None,
    metrics: MetricsSink | None = None,
) -> StreamHealth:
    """One stream's reading; `previous` is the same stream's entry from the last tick's cursor.

    With `managed` and `metrics`, a consumer that has no checkpoint is read from its metric.
    """
    now_ms = now_ms or int(time.time() * 1000)
    try:
        described = stream.describe(name)
    except StreamError as exc:
        return StreamHealth(name, consumer, "MISSING", 0, error=str(exc)[:300])
    health = StreamHealth(name, consumer, described.status, len(described.shard_ids))
    checkpoints = {
        shard_id: state.get_checkpoint(f"{consumer}/{name}/{shard_id}") for shard_id in described.shard_ids
    }
    if managed is not None and metrics is not None and not any(checkpoints.values()):
        return _managed_health(health, managed, metrics, previous, now_ms)
    oldest_unread_ms: int | None = None
    for shard_id in described.shard_ids:
        checkpoint = checkpoints[shard_id]
        health.checkpoints[shard_id] = checkpoint or ""
        if stream.latest_sequence(name, shard_id) in (None, checkpoint):
            continue
        reader = stream.shard_reader(name, shard_id, checkpoint)
        # Count what waits (up to LAG_READ_LIMIT; Kinesis tells no count, the log tells the rest).
        first = reader.read(limit=LAG_READ_LIMIT)
        behind = reader.lag_records()
        health.lag_records += len(first) + (behind or 0)
        if first:
            arrival = first[0].approximate_arrival_ms
            oldest_unread_ms = arrival if oldest_unread_ms is None else min(oldest_unread_ms, arrival)
    if oldest_unread_ms is not None:
        health.lag_s = max(0.0, (now_ms - oldest_unread_ms) / 1000)
    prev_checkpoints = (previous or {}).get("checkpoints")
    since = (previous or {}).get("unchanged_since_ms")
    if health.lag_records and prev_checkpoints == health.checkpoints and isinstance(since, int):
        health.stalled_for_s = (now_ms - since) / 1000
    return health


def _managed_health(
    health: StreamHealth,
    managed: ManagedConsumer,
    metrics: MetricsSink,
    previous: dict[str, object] | None,
    now_ms: int,
) -> StreamHealth:
    """Lag of a managed consumer from its own metric; stalled when it is old and still growing."""
    health.consumer = managed.name
    health.lag_source = f"{managed.namespace} {managed.metric}"
    points = metrics.query(
        managed.namespace,
        managed.metric,
        now_ms - LAG_METRIC_WINDOW_S * 1000,
        now_ms + 60_000,  # the current minute's point carries the minute's start as its time
        period_s=60,
        stat="Maximum",
        dimensions=managed.dimensions,
    )
    if not points:  # idle (no traffic), or the consumer is not running at all
        return health
    health.lag_s = points[-1].value / 1000
    before = (previous or {}).get("lag_s")
    if isinstance(before, int | float) and health.lag_s > before and health.lag_s >= STALL_AFTER_S:
        health.stalled_for_s = health.lag_s
    return health


def cursor_entry(health: StreamHealth, previous: dict[str, object] | None, now_ms: int) -> dict[str, object]:
    """What the next tick needs to tell a stall: checkpoints and since when they are unchanged
    (and, for a managed consumer, its last lag)."""
    same = previous is not None and previous.get("checkpoints") == health.checkpoints
    since = previous.get("unchanged_since_ms") if same and previous else now_ms
    return {"checkpoints": health.checkpoints, "unchanged_since_ms": since, "lag_s": health.lag_s}


def fraud_rate(
    metrics: MetricsSink, namespace: str, rule: FraudRateJump, now_ms: int | None = None
) -> FraudRate:
    """Recent vs trailing fraud rate from the seed metrics (Post-Is-Fraud / Post-Processed),
    over the policy's stream windows."""
    now_ms = now_ms or int(time.time() * 1000)
    recent_s, trailing_s = rule.stream_recent_s, rule.stream_baseline_s

    def total(name: str, start_ms: int, end_ms: int) -> float:
        return sum(p.value for p in metrics.query(namespace, name, start_ms, end_ms, period_s=60, stat="Sum"))

    recent_start, trailing_start = now_ms - recent_s * 1000, now_ms - (recent_s + trailing_s) * 1000
    recent_posts = total("Post-Processed", recent_start, now_ms)
    recent_fraud = total("Post-Is-Fraud", recent_start, now_ms)
    trailing_posts = total("Post-Processed", trailing_start, recent_start)
    trailing_fraud = total("Post-Is-Fraud", trailing_start, recent_start)
    return FraudRate(
        recent_posts=recent_posts,
        recent_rate=recent_fraud / recent_posts if recent_posts else None,
        trailing_rate=trailing_fraud / trailing_posts if trailing_posts else None,
        posts_per_s=recent_posts / recent_s,
        rule=rule,
    )
