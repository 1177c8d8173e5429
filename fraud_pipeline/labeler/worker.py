"""The labels worker: the tagged stream's second consumer (beside the Firehose delivery).

For each verdict on the tagged stream (a scored post, a verdict update re-labelling an
earlier post of a campaign, `operation == "verdict"`, or an account record, `operation ==
"account"`, whose subject is the account's DID: atproto labels a DID with no cid) it works out
which labels the post or account should carry on Bluesky: the policy's published values
for an `action = label` verdict, nothing otherwise; as in the lake, the latest verdict wins.
What differs from the label store's current state becomes a new signed label or, for a
value that is active but no longer wanted (a campaign re-label, a policy change), a
negation (`neg: true`). Values a human negated (`fraud-pipeline labels negate`) are never
published again for that post. Deletes change nothing (a label on a deleted post is moot).

The labels and the shard positions they came from are stored in one transaction, and only
then is the shared checkpoint written (it tells `up`/`replay` the worker is drained). The
label store's own positions are the ones the worker resumes from: a crash re-reads nothing
it already stored, so a restart publishes no duplicate and skips nothing.

Bad records (not JSON, not an object, no at:// uri or, for an account record, no DID, an
unknown action) go to
`errors/labels/` with the reason; they never stop the stream. Stored labels are then
copied to the lake (`labels/YYYY/MM/DD/HH/`, named by their sequence range) so analytics
can join them; that copy keeps its own position and is retried when the lake is down.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from fraud_pipeline.labeler.definitions import LabelPolicy, LiveLabelPolicy
from fraud_pipeline.labeler.labels import Label, Signer, atproto_datetime
from fraud_pipeline.labeler.lake_table import labels_table
from fraud_pipeline.labeler.store import ActiveLabel, LabelStore
from fraud_pipeline.lake.errors import ErrorRecord, ErrorSink
from fraud_pipeline.lake.paths import hour_path
from fraud_pipeline.metrics.base import MetricDatum, MetricsSink
from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.records import ACCOUNT_OPERATION, ACTIONS
from fraud_pipeline.settings import Settings
from fraud_pipeline.state.base import StateStore
from fraud_pipeline.streams.base import ShardReader, Stream, StreamRecord

log = logging.getLogger(__name__)

LAKE_POSITION_KEY = "lake_seq"
SIGNING_KEY_META = "signing_key_multikey"  # the public key the stored labels are signed with
LAKE_BATCH = 50_000  # labels per lake file at most
LAKE_EVERY_S = 60.0  # how often stored labels are copied to the lake (fewer, larger files)
# Kinesis allows 5 reads/s per shard, shared with Firehose: an idle worker looks 5 times a second at
# most (adds up to 0.2 s to a label's latency); a busy one reads back to back.
IDLE_S = 0.2
CHECKPOINT_EVERY_S = 1.0  # shared checkpoints (DynamoDB on AWS) while busy; at once when caught up
METRICS_EVERY_S = 10.0  # how often counts and lag go to the metrics port (also when idle: a heartbeat)
# The labeler's metrics (namespace = prefix); infra's alarms on stream lag and label rate read them.
LABELER_METRICS: tuple[str, ...] = ("Labels-Published", "Labels-Negated", "Labels-Stream-Lag-Ms")


def checkpoint_key(stream_name: str, shard_id: str) -> str:
    return f"labels/{stream_name}/{shard_id}"


def position_key(stream_name: str, shard_id: str) -> str:
    return f"{stream_name}/{shard_id}"


@dataclass
class LabelsWorkerStats:
    records_in: int = 0
    verdicts: int = 0  # records judged (creates and updates)
    skipped: int = 0  # deletes
    labels: int = 0  # labels published
    negations: int = 0  # negations published
    overridden: int = 0  # values a human override kept from being published
    bad_records: int = 0
    lake_rows: int = 0
    lake_failures: int = 0


class BadVerdict(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Verdict:
    uri: str
    cid: str | None
    action: str
    labels: list[str]
    operation: str


def parse_verdict(data: bytes) -> Verdict:
    """A tagged record (or a verdict update: uri, action, labels) from the stream."""
    try:
        row = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadVerdict(f"not JSON: {exc}") from exc
    if not isinstance(row, dict):
        raise BadVerdict(f"not a JSON object: {type(row).__name__}")
    uri = row.get("uri")
    operation = str(row.get("operation") or "update")
    if operation == ACCOUNT_OPERATION:  # an account's verdict: the label's subject is its DID
        if not isinstance(uri, str) or not uri.startswith("did:") or len(uri) > 2048 or "/" in uri:
            raise BadVerdict(f"an account record's uri must be a DID, got {uri!r:.120}")
    elif not isinstance(uri, str) or not uri.startswith("at://") or len(uri) > 8192:
        raise BadVerdict(f"uri must be an at:// URI, got {uri!r:.120}")
    action = row.get("action", "none")  # records from before the policy carried no action
    if action not in ACTIONS:
        raise BadVerdict(f"action must be one of {ACTIONS}, got {action!r:.60}")
    labels = row.get("labels") or []
    if not isinstance(labels, list) or not all(isinstance(v, str) for v in labels):
        raise BadVerdict("labels must be a list of strings")
    cid = row.get("cid")
    if cid is not None and not isinstance(cid, str):
        raise BadVerdict("cid must be a string")
    if operation == ACCOUNT_OPERATION:
        cid = None  # a label on an account names no record version
    return Verdict(uri, cid, action, labels, operation)


class LabelsWorker:
    def __init__(
        self,
        settings: Settings,
        stream: Stream,
        state: StateStore,
        store: LabelStore,
        signer: Signer,
        policy: LabelPolicy | LiveLabelPolicy,
        objects: ObjectStore | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: MetricsSink | None = None,
    ) -> None:
        self.settings = settings
        self.stream = stream
        self.state = state
        self.store = store
        self.signer = signer
        self.policy = policy
        self.objects = objects
        self.errors = ErrorSink(objects, settings.errors_prefix, "labels") if objects is not None else None
        self.clock = clock
        self.src = settings.labeler_did
        self.stream_name = settings.tagged_stream
        self.stats = LabelsWorkerStats()
        self.metrics = metrics
        self._unreported = (0, 0)  # labels, negations since the last metrics flush
        self._max_lag_ms = 0
        self._last_metrics = time.monotonic()
        self._unwritten_checkpoints: dict[str, str] = {}
        self._checkpointed_at = time.monotonic()
        self.lake_every_s = LAKE_EVERY_S
        self._last_export = time.monotonic()
        positions = store.positions()
        self._readers: dict[str, ShardReader] = {}
        for shard_id in stream.describe(self.stream_name).shard_ids:
            after = positions.get(position_key(self.stream_name, shard_id))
            self._readers[shard_id] = stream.shard_reader(self.stream_name, shard_id, after)

    # -- deciding ----------------------------------------------------------------------
    def current_policy(self) -> LabelPolicy:
        return self.policy.current() if isinstance(self.policy, LiveLabelPolicy) else self.policy

    def _label(self, uri: str, cid: str | None, val: str, neg: bool, now: datetime) -> Label:
        expires = self.current_policy().expires_after
        exp = atproto_datetime(now + expires) if expires is not None and not neg else None
        return Label(self.src, uri, val, atproto_datetime(now), cid, neg, exp).signed(self.signer)

    def plan(self, verdicts: list[Verdict]) -> list[Label]:
        """The labels and negations that bring the store's state to these verdicts, in order."""
        judged = [v for v in verdicts if v.operation != "delete"]
        self.stats.skipped += len(verdicts) - len(judged)
        self.stats.verdicts += len(judged)
        if not judged:
            return []
        uris = {v.uri for v in judged}
        active: dict[tuple[str, str], ActiveLabel] = self.store.active(uris)
        overridden = self.store.overrides(uris)
        now = self.clock()
        policy = self.current_policy()
        out: list[Label] = []
        for verdict in judged:
            wanted = policy.published_values(verdict.labels) if verdict.action == "label" else set()
            blocked = {val for val in wanted if (verdict.uri, val) in overridden}
            self.stats.overridden += len(blocked)
            wanted -= blocked
            for val in sorted(wanted):
                current = active.get((verdict.uri, val))
                # A verdict update (a campaign re-labelling) names no cid: it keeps the label's.
                cid = verdict.cid if verdict.cid is not None or current is None else current.cid
                if current is None or current.neg or current.cid != cid:
                    out.append(self._label(verdict.uri, cid, val, False, now))
                    active[(verdict.uri, val)] = ActiveLabel(0, cid, False)
                    self.stats.labels += 1
            for (uri, val), current in list(active.items()):
                if uri == verdict.uri and not current.neg and val not in wanted:
                    out.append(self._label(uri, current.cid, val, True, now))
                    active[(uri, val)] = ActiveLabel(0, current.cid, True)
                    self.stats.negations += 1
        return out

    # -- running -----------------------------------------------------------------------
    def poll_once(self, read_limit: int = 1000) -> int:
        """Read what is available, store the labels it calls for, checkpoint; records read."""
        read: list[StreamRecord] = []
        for reader in self._readers.values():
            read.extend(reader.read(read_limit))
        if not read:
            self.write_checkpoints()  # caught up: tell the drain check now
            return 0
        self.stats.records_in += len(read)
        verdicts: list[Verdict] = []
        errors: list[ErrorRecord] = []
        for record in read:
            try:
                verdicts.append(parse_verdict(record.data))
            except BadVerdict as exc:
                errors.append(
                    ErrorRecord(
                        "NotAVerdict",
                        str(exc),
                        record.data,
                        {"shardId": record.shard_id, "sequenceNumber": record.sequence_number},
                    )
                )
        if errors:
            self.stats.bad_records += len(errors)
            if self.errors is not None:
                self.errors.write(errors)  # before the checkpoint: a bad record is never lost
            else:
                log.warning("%d bad records on %s (no error sink)", len(errors), self.stream_name)
        labels = self.plan(verdicts)
        now_ms = int(time.time() * 1000)
        self._max_lag_ms = max(self._max_lag_ms, now_ms - min(r.approximate_arrival_ms for r in read))
        negations = sum(1 for label in labels if label.neg)
        self._unreported = (self._unreported[0] + len(labels) - negations, self._unreported[1] + negations)
        last: dict[str, str] = {}
        for record in read:  # each shard's records are in sequence order
            last[record.shard_id] = record.sequence_number
        self.store.append(labels, positions={position_key(self.stream_name, s): q for s, q in last.items()})
        self._unwritten_checkpoints.update(last)
        if time.monotonic() - self._checkpointed_at >= CHECKPOINT_EVERY_S:
            self.write_checkpoints()
        return len(read)

    def write_checkpoints(self) -> None:
        """The shared checkpoints (drain detection, lag): at most every CHECKPOINT_EVERY_S while
        busy, and as soon as the worker is caught up. Resuming never depends on them."""
        if self._unwritten_checkpoints:
            pending = self._unwritten_checkpoints
            self.state.put_checkpoints({checkpoint_key(self.stream_name, s): q for s, q in pending.items()})
            self._unwritten_checkpoints = {}
        self._checkpointed_at = time.monotonic()

    def export_to_lake(self) -> int:
        """Copy stored labels the lake does not have yet; rows written."""
        if self.objects is None:
            return 0
        done = int(self.store.get_meta(LAKE_POSITION_KEY) or 0)
        batch = self.store.after(done, LAKE_BATCH)
        if not batch:
            return 0
        table = labels_table(batch)
        first, last = batch[0].seq, batch[-1].seq
        key = f"{self.settings.labels_prefix}{hour_path(self.clock())}labels-{first:012d}-{last:012d}.parquet"
        from fraud_pipeline.workers.delivery import parquet_bytes

        self.objects.put_bytes(key, parquet_bytes(table))
        self.store.set_meta(LAKE_POSITION_KEY, str(last))
        self.stats.lake_rows += len(batch)
        return len(batch)

    def flush_metrics(self) -> None:
        """Counts and the worst lag since the last flush (lag 0 when idle: the alarm's heartbeat)."""
        if self.metrics is None:
            return
        published, negated = self._unreported
        data = [
            MetricDatum("Labels-Published", published),
            MetricDatum("Labels-Negated", negated),
            MetricDatum("Labels-Stream-Lag-Ms", self._max_lag_ms, "Milliseconds"),
        ]
        try:
            self.metrics.put(self.settings.metric_namespace, data)
        except Exception as exc:  # metrics are best effort; labels are not held up by them
            log.warning("publishing labeler metrics failed: %s", exc)
            return
        self._unreported, self._max_lag_ms = (0, 0), 0

    def step(self) -> int:
        """One poll, and the copy to the lake and the metrics when due; records read."""
        read = self.poll_once()
        if time.monotonic() - self._last_metrics >= METRICS_EVERY_S:
            self.flush_metrics()
            self._last_metrics = time.monotonic()
        if time.monotonic() - self._last_export >= self.lake_every_s:
            self.export_safely()
            self._last_export = time.monotonic()
        return read

    def run(self, stop: threading.Event, idle_sleep_s: float = IDLE_S) -> None:
        while not stop.is_set():
            if self.step() == 0:
                stop.wait(idle_sleep_s)
        while self.poll_once():
            pass
        self.write_checkpoints()
        self.export_safely()
        self.flush_metrics()

    def export_safely(self) -> None:
        try:
            while self.export_to_lake():
                pass
        except (ObjectStoreError, OSError) as exc:
            self.stats.lake_failures += 1
            log.warning("copying labels to the lake failed (%s); retrying later", exc)


def build_labels_worker(settings: Settings, policy: LabelPolicy | None = None) -> LabelsWorker:
    """The worker on the configured backend: stream, state, label store, key, the deployment's
    policy (reloaded as the scorer's is), lake, metrics."""
    from fraud_pipeline.labeler.keys import open_key_store
    from fraud_pipeline.labeler.store import open_label_store
    from fraud_pipeline.metrics import open_metrics
    from fraud_pipeline.policy.runtime import open_policy_holder
    from fraud_pipeline.state import open_state
    from fraud_pipeline.streams import open_stream

    store = open_label_store(settings)
    key = open_key_store(settings).load_or_create()
    store.set_meta(SIGNING_KEY_META, key.multikey)  # the service's did.json reads it from here
    return LabelsWorker(
        settings,
        open_stream(settings),
        open_state(settings),
        store,
        key,
        policy or LiveLabelPolicy(open_policy_holder(settings)),
        ObjectStore.from_settings(settings),
        metrics=open_metrics(settings),
    )
