"""The scoring core and its AWS Lambda adapter for the untagged Kinesis stream.

`ScoringRuntime.score_batch(records)` is the core: decoded stream records in, tagged records
on the tagged stream, the seed metrics published, and the sequence numbers to retry out.
The local poller calls it directly (one runtime per shard, as Lambda runs). `handler(event,
context)` is the thin Lambda adapter: it decodes the Kinesis event (base64 records), calls
the core and returns `batchItemFailures` (the mapping has `ReportBatchItemFailures` on). A record
that cannot be decoded is not retried (retrying cannot fix it): it goes to the errors
prefix with the reason. Verdict updates (a campaign re-labelling its earlier posts) follow
the batch's tagged records on the tagged stream.

A record that fails on its own (the tagged stream rejects it as too big) is reported as
unfinished, so the caller retries it and in the end dead-letters it. When a store fails the
batch instead (the tagged stream down or throttled past its retries, the errors prefix
unwritable), the core raises `StoreUnavailable`: no record is to blame, so the local poller
backs off and retries the batch without spending any record's retries, and the Lambda adapter
reports the unfinished records as batch item failures (the mapping's own retry).
"""

from __future__ import annotations

import base64
import binascii
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fraud_pipeline.accounts.events import AccountEvent, account_event_from_json
from fraud_pipeline.lake.errors import ErrorRecord, ErrorSink
from fraud_pipeline.logs import log_context, setup_logging
from fraud_pipeline.metrics import MetricsError
from fraud_pipeline.metrics.base import MetricDatum, MetricsSink
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.records import ACCOUNT_OPERATION, Post, RecordError
from fraud_pipeline.scoring.base import TextScorer
from fraud_pipeline.scoring.pipeline_scorer import PostScorer, ScoreCounts
from fraud_pipeline.scoring.rules import SHADOW_PREFIX
from fraud_pipeline.settings import Settings, load_settings
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.streams.base import PutEntry, Stream, StreamError, partition_key
from fraud_pipeline.streams.retry import is_stream_failure, put_with_retries

log = logging.getLogger(__name__)

UNSHARDED = "unsharded"  # records that carry no shard id (a hand-made event)


class StoreUnavailable(StreamError):
    """A store the batch needs is down: the records are not to blame.

    A StreamError, so callers that ride out stream outages (the poller) treat it as one.
    `unfinished` are the sequence numbers to retry, in stream order.
    """

    def __init__(self, reason: str, unfinished: list[str]) -> None:
        super().__init__(reason)
        self.unfinished = unfinished


def shard_of(event_id: object) -> str:
    """The shard of a Lambda Kinesis record's `eventID` ("shardId-000000000001:4959...")."""
    if isinstance(event_id, str) and ":" in event_id:
        return event_id.split(":", 1)[0] or UNSHARDED
    return UNSHARDED


@dataclass
class HandlerStats:
    """Running totals of one handler instance (the local stack prints these)."""

    records_in: int = 0
    undecodable: int = 0
    tagged: int = 0  # post and delete records put on the tagged stream
    verdict_updates: int = 0  # re-labelled earlier posts put on the tagged stream
    account_events: int = 0  # profiles, follows, identity and status events (in: no tagged record each)
    account_records: int = 0  # account verdicts that changed, put on the tagged stream
    failed: int = 0
    store_unavailable: int = 0  # batches a store failure stopped (retried, records not blamed)
    metrics_failures: int = 0  # batches whose metrics could not be published (logged, not retried)
    counts: ScoreCounts = field(default_factory=ScoreCounts)


def _seed_metrics(counts: ScoreCounts, errors: int, timestamp_ms: int) -> list[MetricDatum]:
    values = {
        "Post-Processed": counts.processed,
        "Post-Text-Only": counts.text_only,
        "Post-Is-Fraud": counts.is_fraud,
        "Post-Fraud-Both": counts.fraud_both,
        "Post-Fraud-Media": counts.fraud_media,
        "Post-Fraud-Text": counts.fraud_text,
        "Post-Deleted": counts.deleted,
        "Post-Relabelled": counts.relabelled,
        "Post-Error": errors,
        "Text-Model-Unavailable": counts.text_unavailable,
        "Media-Model-Unavailable": counts.media_unavailable,
    }
    return [MetricDatum(name, float(value), "Count", timestamp_ms) for name, value in values.items()]


def _policy_metrics(counts: ScoreCounts, scorer: PostScorer, timestamp_ms: int) -> list[MetricDatum]:
    """Actions by tier, hits per rule (shadow ones under Mode=shadow), quota trips (in all and
    per label; account labels also apart), and the policy versions this runtime refused since
    the last batch."""
    data = [
        MetricDatum("Post-Action-Label", float(counts.action_label), "Count", timestamp_ms),
        MetricDatum("Post-Action-Review", float(counts.action_review), "Count", timestamp_ms),
        MetricDatum("Policy-Reload-Rejected", float(scorer.policy.take_rejections()), "Count", timestamp_ms),
        # All labels together, on posts and on accounts (the alarm's metric), then per label.
        MetricDatum(
            "Label-Quota-Exceeded",
            float(sum(counts.quota_exceeded.values()) + sum(counts.account_quota_exceeded.values())),
            "Count",
            timestamp_ms,
        ),
        MetricDatum(
            "Account-Label-Quota-Exceeded",
            float(sum(counts.account_quota_exceeded.values())),
            "Count",
            timestamp_ms,
        ),
    ]
    for rule, hits in sorted(counts.rule_hits.items()):
        shadow = rule.startswith(SHADOW_PREFIX)
        name = rule.removeprefix(SHADOW_PREFIX)
        dimensions = {"Rule": name, "Mode": "shadow" if shadow else "active"}
        data.append(MetricDatum("Rule-Hits", float(hits), "Count", timestamp_ms, dimensions))
    if scorer.images is not None:  # the pixels are read: how many, from the cache, and what failed
        data.append(MetricDatum("Media-Images-Read", float(counts.images_read), "Count", timestamp_ms))
        data.append(MetricDatum("Media-Cache-Hits", float(counts.image_cache_hits), "Count", timestamp_ms))
        # All reasons together (the alarm's metric; its own name, so a query of
        # Media-Unavailable without a Reason never counts an image twice), then per reason.
        unavailable = float(sum(counts.image_unavailable.values()))
        data.append(MetricDatum("Media-Images-Unavailable", unavailable, "Count", timestamp_ms))
    for reason, images in sorted(counts.image_unavailable.items()):
        data.append(
            MetricDatum("Media-Unavailable", float(images), "Count", timestamp_ms, {"Reason": reason})
        )
    for label, trips in sorted(counts.quota_exceeded.items()):
        data.append(
            MetricDatum("Label-Quota-Exceeded", float(trips), "Count", timestamp_ms, {"Label": label})
        )
    for label, trips in sorted(counts.account_quota_exceeded.items()):
        data.append(
            MetricDatum("Account-Label-Quota-Exceeded", float(trips), "Count", timestamp_ms, {"Label": label})
        )
    return data


class ScoringRuntime:
    """Everything the handler needs, built once per Lambda container (or local worker)."""

    def __init__(
        self,
        settings: Settings,
        stream: Stream,
        objects: ObjectStore,
        metrics: MetricsSink,
        scorer: PostScorer,
    ) -> None:
        self.settings = settings
        self.stream = stream
        self.errors = ErrorSink(objects, settings.errors_prefix, "scoring")
        self.metrics = metrics
        self.scorer = scorer
        self.stats = HandlerStats()

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringRuntime:
        from fraud_pipeline.metrics import open_metrics
        from fraud_pipeline.state import open_state
        from fraud_pipeline.streams import open_stream

        return cls(
            settings,
            open_stream(settings),
            ObjectStore.from_settings(settings),
            open_metrics(settings),
            build_post_scorer(settings, state=open_state(settings)),
        )

    def score_batch(
        self,
        records: Sequence[InputRecord],
        shard: str = UNSHARDED,
        rejected: Sequence[tuple[str | None, ErrorRecord]] = (),
    ) -> list[str]:
        """The scoring core: decoded stream records in, tagged records out on the tagged
        stream; returns the sequence numbers not finished (to retry), in stream order.

        `rejected` are records the caller could not even decode (kept in the errors prefix
        and counted here, never retried).
        """
        started = time.perf_counter()

        posts: list[Post] = []
        account_events: list[AccountEvent] = []
        sequence_of_post: list[str | None] = []  # None: a record without one (still tagged)
        errors: list[ErrorRecord] = []
        error_sequences: list[str | None] = []
        for record in records:
            try:
                post = Post.from_json(record.data)
            except RecordError as exc:
                why = str(exc)
                try:
                    account = account_event_from_json(record.data)
                except RecordError as account_exc:
                    why, account = str(account_exc), None
                if account is not None:  # counts toward its account's verdict; no tagged record
                    account_events.append(account)
                    continue
                source = {"sequenceNumber": record.sequence_number, "partitionKey": record.partition_key}
                errors.append(ErrorRecord("NotAPost", why, record.data, source))
                error_sequences.append(record.sequence_number)
                continue
            posts.append(post)
            sequence_of_post.append(record.sequence_number)
        errors.extend(error for _, error in rejected)
        error_sequences.extend(sequence for sequence, _ in rejected)

        failures: set[str] = set()  # records that failed on their own
        unavailable: set[str] = set()  # records a store failure left unfinished
        outage: list[str] = []
        try:
            self.errors.write(errors)
        except ObjectStoreError as exc:
            # Could not record why they failed: retry them rather than lose them.
            unavailable.update(s for s in error_sequences if s is not None)
            outage.append(f"errors prefix: {exc}")

        tagged, counts = self.scorer.score(posts, account_events)
        entries = [PutEntry(partition_key(t.did), t.to_json()) for t in tagged]
        results, _ = put_with_retries(self.stream, self.settings.tagged_stream, entries)
        for sequence, result in zip(sequence_of_post, results[: len(posts)], strict=True):
            if result.ok or sequence is None:
                continue
            if is_stream_failure(result):
                unavailable.add(sequence)
                outage.append(f"tagged stream: {result.error_code}: {result.error_message or ''}")
            else:
                failures.add(sequence)
        refused_updates = [r for r in results[len(posts) :] if not r.ok]
        if refused_updates:
            # A verdict update or account record was refused: re-scoring the batch finds the same
            # crossing (counts are as of each post's event time) or the same changed account
            # verdict (accounts/tracker.py) again and re-emits it.
            head = [s for s in sequence_of_post[:1] if s is not None]
            if any(is_stream_failure(r) for r in refused_updates):
                unavailable.update(head)
                outage.append("tagged stream: a verdict update was refused")
            else:
                failures.update(head)

        now_ms = int(time.time() * 1000)
        data = _seed_metrics(counts, len(errors), now_ms)
        data.extend(_policy_metrics(counts, self.scorer, now_ms))
        data.append(
            MetricDatum("Scoring-Latency-Ms", (time.perf_counter() - started) * 1000, "Milliseconds", now_ms)
        )
        lived = [t.scored_at_us - t.ingested_at_us for t in tagged if t.ingested_at_us]
        if lived:
            data.append(MetricDatum("End-To-End-Latency-Ms", max(lived) / 1000, "Milliseconds", now_ms))
        try:
            self.metrics.put(self.settings.metric_namespace, data)
        except (MetricsError, sqlite3.Error, OSError) as exc:
            # The records are tagged; failing them now would only duplicate them on retry.
            self.stats.metrics_failures += 1
            log.warning("scoring: metrics not published for a batch of %d: %s", len(records), exc)

        self.stats.records_in += len(records) + len(rejected)
        self.stats.undecodable += len(errors)
        self.stats.account_events += len(account_events)
        self.stats.tagged += sum(1 for r in results[: len(posts)] if r.ok)
        after_posts = list(zip(tagged[len(posts) :], results[len(posts) :], strict=True))
        accounts_ok = sum(1 for t, r in after_posts if r.ok and t.operation == ACCOUNT_OPERATION)
        self.stats.account_records += accounts_ok
        self.stats.verdict_updates += sum(1 for _, r in after_posts if r.ok) - accounts_ok
        self.stats.counts.add(counts)
        first = records[0].sequence_number if records else (rejected[0][0] if rejected else None)
        self._log_batch(
            shard, first, len(records) + len(rejected), len(tagged), errors, failures | unavailable
        )
        # Lambda retries from the lowest reported sequence number; report them in stream order.
        unfinished = sorted(failures | unavailable, key=lambda s: (len(s), s))
        if outage:
            self.stats.store_unavailable += 1
            raise StoreUnavailable(outage[0][:500], unfinished)
        self.stats.failed += len(failures)
        return unfinished

    def handle(self, event: dict[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda adapter: decode the Kinesis event, score, build `batchItemFailures`."""
        records, rejected, shard = decode_kinesis_event(event)
        try:
            failures = self.score_batch(records, shard, rejected)
        except StoreUnavailable as exc:
            log.warning(
                "a store is unavailable: %s; %d records left to the mapping's retry",
                exc,
                len(exc.unfinished),
                extra={"next_step": "check the tagged stream and the lake bucket are reachable"},
            )
            failures = exc.unfinished
        return {"batchItemFailures": [{"itemIdentifier": s} for s in failures]}

    @property
    def errors_written(self) -> int:
        return self.errors.written

    def _log_batch(
        self,
        shard: str,
        first_sequence: str | None,
        records: int,
        tagged: int,
        errors: list[ErrorRecord],
        failures: set[str],
    ) -> None:
        """One line per batch (the shard and its first record), and what to do when records failed."""
        with log_context(shard=shard, record=first_sequence):
            log.info("scored a batch: %d records, %d tagged, %d undecodable", records, tagged, len(errors))
            if errors:
                log.warning(
                    "%d records could not be decoded (first: %s)",
                    len(errors),
                    f"{errors[0].error_code}: {errors[0].error_message[:200]}",
                    extra={
                        "next_step": f"read them under {self.settings.errors_prefix}scoring/ in the lake "
                        "bucket; they are not retried (retrying cannot fix them)"
                    },
                )
            if failures:
                log.error(
                    "%d records not finished; reported as batch item failures",
                    len(failures),
                    extra={
                        "next_step": "the mapping retries them; if this repeats, check the tagged stream "
                        "and the lake bucket are reachable"
                    },
                )

    def close(self) -> None:
        """A clean stop: release the behaviour store (the counts live on in it, for every shard)."""
        if self.scorer.images is not None:
            self.scorer.images.close()
        self.scorer.tracker.store.close()


@dataclass(frozen=True, slots=True)
class InputRecord:
    """One record of the untagged stream as the scoring core takes it: raw bytes, decoded
    from whatever carried them (a Lambda event's base64, or the local stream log)."""

    sequence_number: str | None
    data: bytes
    partition_key: str | None = None


def decode_kinesis_event(
    event: Any,
) -> tuple[list[InputRecord], list[tuple[str | None, ErrorRecord]], str]:
    """A Lambda Kinesis event -> (records, undecodable ones with their errors, shard id).

    Lambda's event shapes stop here: the core never sees base64 or `eventID`s.
    """
    raw_records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(raw_records, list):
        raise ValueError("not a Kinesis event: no 'Records' list")
    first = raw_records[0] if raw_records and isinstance(raw_records[0], dict) else {}
    shard = shard_of(first.get("eventID")) if first else UNSHARDED
    records: list[InputRecord] = []
    rejected: list[tuple[str | None, ErrorRecord]] = []
    for raw in raw_records:
        sequence, record, error = _decode(raw)
        if error is not None:
            rejected.append((sequence, error))
        elif record is not None:
            records.append(record)
    return records, rejected, shard


def _decode(record: Any) -> tuple[str | None, InputRecord | None, ErrorRecord | None]:
    """(sequence number, record, error) of one Lambda Kinesis record."""
    kinesis = record.get("kinesis") if isinstance(record, dict) else None
    if not isinstance(kinesis, dict):
        return (
            None,
            None,
            ErrorRecord("Undecodable", "record has no 'kinesis' object", repr(record)[:4096].encode()),
        )
    sequence = kinesis.get("sequenceNumber")
    sequence = sequence if isinstance(sequence, str) else None
    partition_key = kinesis.get("partitionKey")
    partition_key = partition_key if isinstance(partition_key, str) else None
    source = {"sequenceNumber": sequence, "partitionKey": partition_key}
    raw_b64 = kinesis.get("data")
    if not isinstance(raw_b64, str):
        return (
            sequence,
            None,
            ErrorRecord("Undecodable", "kinesis.data is missing or not a string", b"", source),
        )
    try:
        raw = base64.b64decode(raw_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        return (
            sequence,
            None,
            ErrorRecord("Undecodable", f"kinesis.data is not base64: {exc}", raw_b64.encode(), source),
        )
    return sequence, InputRecord(sequence, raw, partition_key), None


def build_post_scorer(settings: Settings, state: StateStore | None = None) -> PostScorer:
    """The pipeline's scorer: text and media models reached as the settings say, the detection
    policy from the deployment's source (hot-reloaded); daily quotas and behaviour counted in
    `state`, the store every shard shares (memory when None: a scorer on its own)."""
    from fraud_pipeline.policy.runtime import open_policy_holder
    from fraud_pipeline.serving.clients import open_text_scorer

    text: TextScorer = open_text_scorer(settings)
    media_settings = settings.with_overrides(
        text_model_mode=settings.media_model_mode,
        text_model_url=settings.media_model_url,
        text_endpoint=settings.media_endpoint,
    )
    images = None
    if settings.media_images == "on":
        from fraud_pipeline.media.stream import open_stream_images
        from fraud_pipeline.state.memory import MemoryStateStore

        # The media model is the image scorer (in-process or the media endpoint); the alt texts
        # and link cards are read by the text model.
        images = open_stream_images(settings, state or MemoryStateStore(), text)
        descriptions = text
    else:
        descriptions = open_text_scorer(media_settings) if settings.media_model_mode != "inprocess" else text
    return PostScorer(
        text,
        MediaScorer(descriptions),
        policy=open_policy_holder(settings),
        quota_state=state,
        behaviour_state=state,
        images=images,
    )


class MediaScorer:
    """The media model: scores what a post's media says (alt texts, link cards).

    Images themselves are not fetched here (no CDN access from the scoring path); the
    media model reads the media's descriptive text with the text model's featurizer, and
    image reuse across accounts is added by the scorer from behavioural signals.
    """

    def __init__(self, inner: TextScorer) -> None:
        self.inner = inner
        self.version = f"media-desc-{inner.version}"
        self.threshold = inner.threshold

    def score(self, texts: Any) -> list[float]:
        with_text = [i for i, t in enumerate(texts) if t.strip()]
        scores = [0.0] * len(texts)
        if with_text:
            for index, score in zip(with_text, self.inner.score([texts[i] for i in with_text]), strict=True):
                scores[index] = score
        return scores


_RUNTIME: ScoringRuntime | None = None


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Lambda entry point (`fraud_pipeline.scoring.handler.handler`)."""
    global _RUNTIME
    if _RUNTIME is None:
        settings = load_settings()
        setup_logging("scoring", settings)  # JSON lines on stdout in Lambda: CloudWatch Logs
        _RUNTIME = ScoringRuntime.from_settings(settings)
        from fraud_pipeline.compiled_build import build

        log.info("scoring runtime started: %s build", build())  # compiled in the image (compiled_build.py)
    return _RUNTIME.handle(event, context)
