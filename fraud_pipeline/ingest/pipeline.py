"""Drive raw events from any source through the normalizer into a producer.

`run_ingest` is the one loop every entry point shares (`fraud-pipeline ingest`, `up`,
`replay`): it stamps `ingested_at_us`, counts every outcome in `IngestStats`, hands every
malformed event to a sink (the lead routes it to the errors prefix) and stops when the
source ends, `max_events` is reached or the `stop` event is set, so it can run in a thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from fraud_pipeline.accounts.events import normalize_account_event
from fraud_pipeline.ingest.normalize import (
    FLAG_BAD_FIELD,
    FLAG_TRUNCATED,
    FLAG_UNKNOWN_EMBED,
    decode_event,
    normalize,
)
from fraud_pipeline.records import Post

log = logging.getLogger(__name__)

# The normalizer's skip reasons that may hide an account event (accounts/events.py).
ACCOUNT_SKIP_REASONS = frozenset({"identity", "account", "other_collection"})

# How much of a malformed event's raw bytes travels to the errors sink.
MAX_ERROR_BYTES = 64 * 1024

MalformedSink = Callable[[bytes, str], None]


class PostProducer(Protocol):
    """What run_ingest needs from a producer (ingest.producer.Producer is one)."""

    def put_post(self, post: Post) -> None: ...

    def flush(self, timeout: float | None = None) -> bool: ...


@dataclass
class IngestStats:
    """Counts of everything the loop saw. One writer (the ingest thread); readers may poll."""

    events_read: int = 0
    posts: int = 0  # creates and updates
    deletes: int = 0
    malformed: int = 0
    malformed_by_reason: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    account_events: dict[str, int] = field(default_factory=dict)  # profile/follow/identity/account
    truncated: int = 0
    unknown_embeds: int = 0
    bad_fields: int = 0
    put: int = 0  # acknowledged by the stream (copied from the producer)
    started_at: float = field(default_factory=time.monotonic)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("started_at")
        out["elapsed_s"] = round(time.monotonic() - self.started_at, 3)
        return out

    def add_malformed(self, reason: str) -> None:
        self.malformed += 1
        self.malformed_by_reason[reason] = self.malformed_by_reason.get(reason, 0) + 1


def log_malformed(raw: bytes, reason: str) -> None:
    """Default sink: a warning with the start of the event (the caller should pass a real sink)."""
    log.warning(
        "malformed event (%s): %r",
        reason,
        raw[:200],
        extra={"next_step": "skipped and counted; if many, check the source's wire format"},
    )


def _as_bytes(raw: bytes | str) -> bytes:
    data = raw.encode("utf-8", "replace") if isinstance(raw, str) else bytes(raw)
    return data[:MAX_ERROR_BYTES]


def _producer_put_count(producer: PostProducer) -> int | None:
    stats = getattr(producer, "stats", None)
    put = getattr(stats, "put", None)
    return put if isinstance(put, int) else None


def run_ingest(
    events: Iterable[bytes | str],
    producer: PostProducer,
    stats: IngestStats | None = None,
    stop: threading.Event | None = None,
    *,
    on_malformed: MalformedSink = log_malformed,
    max_events: int | None = None,
    flush_at_end: bool = True,
    clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    accounts: bool = False,
) -> IngestStats:
    """Normalize and produce until the source ends, `max_events` is reached or `stop` is set.

    With `accounts`, profile, follow, identity and account events travel too (as account
    events on the same stream, keyed by their account; the producer needs `put_account_event`).
    """
    put_account = getattr(producer, "put_account_event", None) if accounts else None
    stats = stats if stats is not None else IngestStats()
    stop = stop if stop is not None else threading.Event()
    skipped = stats.skipped
    put_post = producer.put_post
    for raw in events:
        stats.events_read += 1
        result = normalize(raw)
        post = result.post
        if post is not None:
            if result.flags:
                _count_flags(stats, result.flags)
            post.ingested_at_us = clock_us()
            try:
                put_post(post)
            except ValueError as exc:  # larger than a stream record may be
                stats.add_malformed("too_large")
                on_malformed(_as_bytes(raw), f"too_large: {exc}")
            else:
                if result.kind == "post":
                    stats.posts += 1
                else:
                    stats.deletes += 1
        elif result.kind == "skipped":
            if put_account is not None and result.reason in ACCOUNT_SKIP_REASONS:
                _account_event(raw, result.reason, stats, put_account, on_malformed, clock_us)
            else:
                skipped[result.reason] = skipped.get(result.reason, 0) + 1
        else:
            stats.add_malformed(result.reason)
            on_malformed(_as_bytes(raw), result.reason)
        if stats.events_read & 255 == 0:
            put = _producer_put_count(producer)
            if put is not None:
                stats.put = put
        if stop.is_set() or (max_events is not None and stats.events_read >= max_events):
            break
    if flush_at_end:
        producer.flush()
    put = _producer_put_count(producer)
    if put is not None:
        stats.put = put
    return stats


def _account_event(
    raw: bytes | str,
    reason: str,
    stats: IngestStats,
    put_account: Callable[[Any], None],
    on_malformed: MalformedSink,
    clock_us: Callable[[], int],
) -> None:
    """Normalize and produce one event the post normalizer skipped; count what became of it."""
    result = normalize_account_event(decode_event(raw))  # valid JSON: normalize parsed it
    event = result.event
    if event is None:
        if result.outcome == "malformed":
            why = f"account:{result.reason}"
            stats.add_malformed(why)
            on_malformed(_as_bytes(raw), why)
        else:
            stats.skipped[reason] = stats.skipped.get(reason, 0) + 1
        return
    if result.flags:
        _count_flags(stats, result.flags)
    event.ingested_at_us = clock_us()
    try:
        put_account(event)
    except ValueError as exc:  # larger than a stream record may be (capped fields: not expected)
        stats.add_malformed("too_large")
        on_malformed(_as_bytes(raw), f"too_large: {exc}")
    else:
        stats.account_events[event.kind] = stats.account_events.get(event.kind, 0) + 1


def _count_flags(stats: IngestStats, flags: tuple[str, ...]) -> None:
    for flag in flags:
        if flag == FLAG_TRUNCATED:
            stats.truncated += 1
        elif flag == FLAG_UNKNOWN_EMBED:
            stats.unknown_embeds += 1
        elif flag == FLAG_BAD_FIELD:
            stats.bad_fields += 1
