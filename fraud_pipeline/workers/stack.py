"""The streaming path on one machine: ingest -> untagged stream -> poller -> handler ->
tagged stream -> delivery -> lake, on either backend, with counts and a drain.

What AWS runs for us in production (the event source mapping, Firehose) is run here by
`EventSourceMappingPoller` and `FirehoseDelivery`; the handler is the real Lambda handler.
They run as threads of this process (`mode="threads"`: quick to start, for tests and small
loads) or as child processes (`mode="processes"`: each gets a core and its own GIL, as the
Lambda and Firehose are separate services on AWS). "Drained" is decided from the stores,
not from the workers: every shard's checkpoint has reached the shard's newest record.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.synchronize
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from fraud_pipeline.labeler import worker as labels_module
from fraud_pipeline.labeler.worker import LabelsWorker, build_labels_worker
from fraud_pipeline.lake.errors import ErrorSink
from fraud_pipeline.logs import as_component, setup_logging
from fraud_pipeline.metrics.base import MetricsSink
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.scoring.handler import ScoringRuntime
from fraud_pipeline.settings import Settings
from fraud_pipeline.shutdown import exit_without_teardown, ignore_stop_signals, parent_alive
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import Stream, open_stream
from fraud_pipeline.workers import delivery as delivery_module
from fraud_pipeline.workers import poller as poller_module
from fraud_pipeline.workers.delivery import FirehoseDelivery
from fraud_pipeline.workers.poller import EventSourceMappingPoller
from fraud_pipeline.workers.scoring_shards import ScoringShards

log = logging.getLogger(__name__)

Mode = Literal["threads", "processes"]
REPORT_EVERY_S = 0.5


@dataclass
class PollerReport:
    """What the poller side (mapping + handler) has done in this run."""

    records_in: int = 0
    undecodable: int = 0
    tagged: int = 0
    verdict_updates: int = 0  # re-labelled earlier posts (lake rows beside the tagged ones)
    account_records: int = 0  # account verdicts that changed (rows of the lake's accounts table)
    scored: int = 0
    fraud: int = 0
    handler_errors: int = 0
    dead_lettered: int = 0
    errors_written: int = 0  # scoring errors + dead letters

    @classmethod
    def of(cls, poller: EventSourceMappingPoller, runtime: ScoringShards) -> PollerReport:
        stats = runtime.stats
        return cls(
            records_in=stats.records_in,
            undecodable=stats.undecodable,
            tagged=stats.tagged,
            verdict_updates=stats.verdict_updates,
            account_records=stats.account_records,
            scored=stats.counts.processed,
            fraud=stats.counts.is_fraud,
            handler_errors=poller.stats.handler_errors,
            dead_lettered=poller.stats.dead_lettered,
            errors_written=runtime.errors_written + poller.dead_letters.written,
        )


@dataclass
class DeliveryReport:
    """What the delivery has done in this run."""

    records_in: int = 0
    rows_written: int = 0
    files_written: int = 0
    bytes_written: int = 0
    conversion_errors: int = 0
    errors_written: int = 0

    @classmethod
    def of(cls, delivery: FirehoseDelivery) -> DeliveryReport:
        stats = delivery.stats
        return cls(
            stats.records_in,
            stats.rows_written,
            stats.files_written,
            stats.bytes_written,
            stats.conversion_errors,
            delivery.errors.written,
        )


@dataclass
class LabelsReport:
    """What the labels worker (the labeler's consumer of the tagged stream) has done in this run."""

    records_in: int = 0
    labels: int = 0
    negations: int = 0
    bad_records: int = 0
    lake_rows: int = 0

    @classmethod
    def of(cls, worker: LabelsWorker) -> LabelsReport:
        stats = worker.stats
        return cls(stats.records_in, stats.labels, stats.negations, stats.bad_records, stats.lake_rows)


WORKERS = frozenset({"poller", "delivery", "labels"})


def _sequence_value(sequence: str | None) -> int:
    # Kinesis and the SQLite log both use decimal sequence numbers, ordered numerically.
    return -1 if sequence is None else int(sequence)


def build_poller(settings: Settings, batch_size: int = 500) -> tuple[EventSourceMappingPoller, ScoringShards]:
    """The mapping and its scoring runtimes (one per shard unless settings say `shared`)."""
    objects = ObjectStore.from_settings(settings)
    runtimes = ScoringShards(
        lambda: ScoringRuntime.from_settings(settings), per_shard=settings.scoring_runtimes == "per-shard"
    )
    poller = EventSourceMappingPoller(
        settings,
        open_stream(settings),
        open_state(settings),
        runtimes,
        ErrorSink(objects, settings.errors_prefix, "poller"),
        batch_size=batch_size,
        service_metrics=_service_metrics(settings),
    )
    return poller, runtimes


def _service_metrics(settings: Settings) -> MetricsSink | None:
    """Where the local stand-in publishes the metrics AWS Lambda would (`AWS/Lambda`, ...).

    Only the local table: on AWS the Lambda service publishes them itself, and CloudWatch
    refuses `AWS/` namespaces from anyone else.
    """
    if settings.backend != "local":
        return None
    from fraud_pipeline.metrics.local import LocalMetricsSink

    return LocalMetricsSink(settings.metrics_path, allow_service_namespaces=True)


def build_delivery(settings: Settings, buffer_seconds: float | None = None) -> FirehoseDelivery:
    return FirehoseDelivery(
        settings,
        open_stream(settings),
        open_state(settings),
        ObjectStore.from_settings(settings),
        buffer_seconds=buffer_seconds,
    )


def _report_loop(step: Callable[[], int], report: Callable[[], None], stop: Any, idle_s: float) -> None:
    """Run `step` until `stop` is set or the parent process is gone (then the caller drains)."""
    parent = os.getppid()
    last = 0.0
    while not stop.is_set() and parent_alive(parent):
        if step() == 0:
            stop.wait(idle_s)
        if time.monotonic() - last >= REPORT_EVERY_S:
            report()
            last = time.monotonic()


def _child_main(work: Callable[..., None], *args: Any) -> None:
    """Run a worker in a child process, then leave without the interpreter's teardown (by then
    the checkpoints, the lake files and the final report are saved; a stop of `up` waits for
    its children)."""
    work(*args)
    reports = args[-1]
    reports.close()
    reports.join_thread()
    exit_without_teardown()


def _poller_process(settings: Settings, batch_size: int, stop: Any, reports: Any) -> None:
    """Child process: the mapping + the real handler until `stop`, then drain."""
    ignore_stop_signals()
    setup_logging("poller", settings)
    poller, runtime = build_poller(settings, batch_size=batch_size)
    send = lambda: reports.put(("poller", asdict(PollerReport.of(poller, runtime))))  # noqa: E731
    send()  # the first report says the worker is ready (model loaded, readers open)
    _report_loop(poller.poll_once, send, stop, 0.02)
    while poller.pending():
        poller.poll_once(force=True)
    runtime.close()
    send()


def _delivery_process(settings: Settings, buffer_seconds: float | None, stop: Any, reports: Any) -> None:
    """Child process: the delivery until `stop`, then flush."""
    ignore_stop_signals()
    setup_logging("delivery", settings)
    delivery = build_delivery(settings, buffer_seconds)
    send = lambda: reports.put(("delivery", asdict(DeliveryReport.of(delivery))))  # noqa: E731
    send()  # the first report says the worker is ready
    _report_loop(delivery.poll_once, send, stop, 0.05)
    read_before = -1
    while delivery.stats.records_in != read_before:  # read all that is there, then flush
        read_before = delivery.stats.records_in
        delivery.poll_once()
    delivery.flush()
    send()


def _labels_process(settings: Settings, stop: Any, reports: Any) -> None:
    """Child process: the labels worker until `stop`, then drain and copy to the lake."""
    ignore_stop_signals()
    setup_logging("labels", settings)
    worker = build_labels_worker(settings)
    send = lambda: reports.put(("labels", asdict(LabelsReport.of(worker))))  # noqa: E731
    send()  # the first report says the worker is ready
    _report_loop(worker.step, send, stop, labels_module.IDLE_S)
    while worker.poll_once():
        pass
    worker.write_checkpoints()
    worker.export_safely()
    send()


def default_mode() -> Mode:
    return "processes" if len(os.sched_getaffinity(0)) > 1 else "threads"


class Stack:
    """The poller (with the real handler) and the delivery, sharing one settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        mode: Mode = "threads",
        delivery_buffer_seconds: float | None = None,
        batch_size: int = 500,
    ) -> None:
        self.settings = settings
        self.mode = mode
        self.batch_size = batch_size
        self.delivery_buffer_seconds = delivery_buffer_seconds
        self.stream: Stream = open_stream(settings)
        self._state = open_state(settings)
        # Two stop events: the poller stops first, then the sinks (delivery, labels) read what it
        # wrote last and flush, so a stop needs no wait for the delivery's buffer timer.
        self._stop_thread = threading.Event()
        self._stop_sink_threads = threading.Event()
        self._threads: list[threading.Thread] = []
        self._context = multiprocessing.get_context("spawn")
        self._stop_process: multiprocessing.synchronize.Event = self._context.Event()
        self._stop_sink_processes: multiprocessing.synchronize.Event = self._context.Event()
        self._reports: Any = self._context.Queue()
        self._processes: list[Any] = []
        self._poller_report = PollerReport()
        self._delivery_report = DeliveryReport()
        self._labels_report = LabelsReport()
        self._ready: set[str] = set()
        self.poller: EventSourceMappingPoller | None = None
        self.runtime: ScoringShards | None = None
        self.delivery: FirehoseDelivery | None = None
        self.labels: LabelsWorker | None = None
        if mode == "threads":
            self.poller, self.runtime = build_poller(settings, batch_size=batch_size)
            self.delivery = build_delivery(settings, delivery_buffer_seconds)
            self.labels = build_labels_worker(settings)

    # -- running ----------------------------------------------------------------------
    def start(self) -> None:
        if self.mode == "threads":
            assert self.poller is not None and self.delivery is not None and self.labels is not None
            self._stop_thread.clear()
            self._stop_sink_threads.clear()
            self._threads = [
                threading.Thread(
                    target=as_component("poller", self.poller.run),
                    args=(self._stop_thread,),
                    name="esm-poller",
                    daemon=True,
                ),
                threading.Thread(
                    target=as_component("delivery", self.delivery.run),
                    args=(self._stop_sink_threads,),
                    name="delivery",
                    daemon=True,
                ),
                threading.Thread(
                    target=as_component("labels", self.labels.run),
                    args=(self._stop_sink_threads,),
                    name="labels",
                    daemon=True,
                ),
            ]
            for thread in self._threads:
                thread.start()
            return
        self._stop_process.clear()
        self._stop_sink_processes.clear()
        self._processes = [
            self._context.Process(
                target=_child_main,
                name="esm-poller",
                args=(_poller_process, self.settings, self.batch_size, self._stop_process, self._reports),
            ),
            self._context.Process(
                target=_child_main,
                name="delivery",
                args=(
                    _delivery_process,
                    self.settings,
                    self.delivery_buffer_seconds,
                    self._stop_sink_processes,
                    self._reports,
                ),
            ),
            self._context.Process(
                target=_child_main,
                name="labels",
                args=(_labels_process, self.settings, self._stop_sink_processes, self._reports),
            ),
        ]
        for process in self._processes:
            process.start()

    def wait_ready(self, timeout: float = 120.0) -> bool:
        """Block until both workers have started (child processes load the model first)."""
        if self.mode == "threads":
            return True
        deadline = time.monotonic() + timeout
        while self._ready != WORKERS and time.monotonic() < deadline:
            if not self.alive():
                return False
            self._collect_reports(wait_s=0.1)
        return self._ready == WORKERS

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the workers: the poller first (it finishes the batch it holds), then the delivery
        and the labels worker, which read what the poller wrote last and flush at once."""
        deadline = time.monotonic() + timeout
        if self._threads:
            poller_thread, *sink_threads = self._threads
            self._stop_thread.set()
            poller_thread.join(max(0.0, deadline - time.monotonic()))
            self._stop_sink_threads.set()
            for thread in sink_threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            if self.runtime is not None:
                self.runtime.close()  # release the behaviour store (child processes do it themselves)
        self._threads = []
        if self._processes:
            poller_process, *sink_processes = self._processes
            self._stop_process.set()
            self._wait_exited([poller_process], deadline)
            self._stop_sink_processes.set()
            self._wait_exited(sink_processes, deadline)
            for process in self._processes:
                process.join(max(0.0, deadline - time.monotonic()))
                if process.is_alive():
                    log.error("%s did not stop in time; terminating it", process.name)
                    process.terminate()
            self._collect_reports()
            self._processes = []

    def _wait_exited(self, processes: list[Any], deadline: float) -> None:
        """Collect reports while `processes` finish (the reports queue must keep draining)."""
        while any(p.is_alive() for p in processes) and time.monotonic() < deadline:
            self._collect_reports(wait_s=0.05)

    def alive(self) -> bool:
        """False when a worker died (its exit code is in the log)."""
        if self.mode == "threads":
            return all(t.is_alive() for t in self._threads) if self._threads else True
        return all(p.is_alive() for p in self._processes) if self._processes else True

    # -- what happened ----------------------------------------------------------------
    def _collect_reports(self, wait_s: float = 0.0) -> None:
        try:
            while True:
                kind, payload = self._reports.get(timeout=wait_s) if wait_s else self._reports.get_nowait()
                wait_s = 0.0
                self._ready.add(kind)
                if kind == "poller":
                    self._poller_report = PollerReport(**payload)
                elif kind == "labels":
                    self._labels_report = LabelsReport(**payload)
                else:
                    self._delivery_report = DeliveryReport(**payload)
        except queue.Empty:
            pass

    def poller_report(self) -> PollerReport:
        if self.poller is not None and self.runtime is not None:
            return PollerReport.of(self.poller, self.runtime)
        self._collect_reports()
        return self._poller_report

    def delivery_report(self) -> DeliveryReport:
        if self.delivery is not None:
            return DeliveryReport.of(self.delivery)
        self._collect_reports()
        return self._delivery_report

    def labels_report(self) -> LabelsReport:
        if self.labels is not None:
            return LabelsReport.of(self.labels)
        self._collect_reports()
        return self._labels_report

    # -- drained? ---------------------------------------------------------------------
    def _behind(self, stream_name: str, key_of: Callable[[str, str], str]) -> int:
        """Shards whose checkpoint is short of the newest record."""
        behind = 0
        for shard_id in self.stream.describe(stream_name).shard_ids:
            latest = self.stream.latest_sequence(stream_name, shard_id)
            if latest is None:
                continue
            done = self._state.get_checkpoint(key_of(stream_name, shard_id))
            if _sequence_value(done) < _sequence_value(latest):
                behind += 1
        return behind

    def drained(self) -> bool:
        return (
            self._behind(self.settings.untagged_stream, poller_module.checkpoint_key) == 0
            and self._behind(self.settings.tagged_stream, delivery_module.checkpoint_key) == 0
            and self._behind(self.settings.tagged_stream, labels_module.checkpoint_key) == 0
        )

    def wait_scored(self, timeout: float = 60.0, poll_s: float = 0.05) -> bool:
        """Block until the poller has consumed everything put so far (the first half of a stop:
        `stop()` then lets the delivery and the labels worker flush the rest at once)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._behind(self.settings.untagged_stream, poller_module.checkpoint_key) == 0:
                return True
            if not self.alive():
                return False
            time.sleep(poll_s)
        return False

    def wait_drained(self, timeout: float = 600.0, poll_s: float = 0.1) -> bool:
        """Block until everything put so far is in the lake (or the timeout passes, or a worker died)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.drained():
                return True
            if not self.alive():
                return False
            time.sleep(poll_s)
        return False

    def close(self) -> None:
        self.stop()
        for closable in (self.stream, self._state):
            closable.close()
        with contextlib.suppress(Exception):
            self._reports.close()
