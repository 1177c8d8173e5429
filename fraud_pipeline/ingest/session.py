"""One ingest run as every command drives it: a source, the producer, the errors sink.

`fraud-pipeline ingest`, `up` and `replay` all ingest the same way, so the wiring lives here:
malformed events and records the stream refused go to `errors/ingest/` (never dropped), the
Jetstream/firehose cursor is persisted only after the producer has flushed what came before
it (a crash can replay events, never skip them), and the run's failure, if any, is kept for
the caller instead of dying silently in a thread.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fraud_pipeline.accounts.events import ACCOUNT_COLLECTIONS
from fraud_pipeline.bundled import bundled_path
from fraud_pipeline.ingest.pipeline import IngestStats, run_ingest
from fraud_pipeline.ingest.producer import Producer
from fraud_pipeline.lake.errors import BatchingErrorSink, ErrorRecord, ErrorSink
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.records import POST_COLLECTION
from fraud_pipeline.settings import Settings
from fraud_pipeline.state import open_state
from fraud_pipeline.streams import open_stream

BUNDLED_CAPTURE = bundled_path("data/replay/capture.jsonl.zst")


class NoCapture(FileNotFoundError):
    """The replay source has no capture file to read."""


@dataclass(frozen=True)
class SourceOptions:
    """Where events come from and how (the `ingest` command's options)."""

    source: str = "replay"  # replay | jetstream | firehose
    url: str | None = None
    capture: Path | None = None
    speed: float | None = None  # replay: recorded pace x this; None/0 = as fast as possible
    rebase: bool = False  # replay: rewrite time_us to the wall clock
    skip: int = 0  # replay: events already ingested by an earlier run
    compress: bool = False  # jetstream: zstd frames
    zstd_dictionary: Path | None = None


class IngestSession:
    def __init__(self, settings: Settings, accounts: bool | None = None) -> None:
        self.settings = settings
        # Also put profile/follow/identity/account events on the stream (None: the setting).
        self.accounts = settings.accounts_ingested if accounts is None else accounts
        self.stream = open_stream(settings)
        self.stream.describe(settings.untagged_stream)  # StreamNotFound before anything starts
        self.state = open_state(settings)
        self.stats = IngestStats()
        self.errors = BatchingErrorSink(
            ErrorSink(ObjectStore.from_settings(settings), settings.errors_prefix, "ingest")
        )
        self.producer = Producer(self.stream, settings.untagged_stream, on_failed=self._on_put_failed)
        self.stop = threading.Event()
        self.done = threading.Event()
        self.failure: BaseException | None = None

    @property
    def collections(self) -> tuple[str, ...]:
        """The record collections to ask the live sources for."""
        return (POST_COLLECTION, *sorted(ACCOUNT_COLLECTIONS)) if self.accounts else (POST_COLLECTION,)

    def _on_malformed(self, raw: bytes, reason: str) -> None:
        self.errors.add(ErrorRecord("MalformedEvent", reason, raw))

    def _on_put_failed(self, entry: Any, reason: str) -> None:
        self.errors.add(ErrorRecord("PutFailed", reason, entry.data, {"partitionKey": entry.partition_key}))

    def events(self, options: SourceOptions) -> Iterable[bytes | str]:
        """The raw events of the chosen source, wired to this session's sinks and cursor."""
        if options.source == "replay":
            from fraud_pipeline.ingest.replay import iter_replay

            path = options.capture or BUNDLED_CAPTURE
            if not path.exists():
                raise NoCapture(f"no capture at {path}: run `fraud-pipeline synth` or pass a capture file")
            events: Iterator[bytes] = iter(
                iter_replay(path, speed=options.speed or None, rebase_to_now=options.rebase, stop=self.stop)
            )
            return itertools.islice(events, options.skip, None) if options.skip else events
        if options.source == "jetstream":
            from fraud_pipeline.ingest.jetstream import jetstream_events

            return jetstream_events(
                self.settings,
                self.state,
                url=options.url,
                stop=self.stop,
                compress=options.compress,
                zstd_dictionary=options.zstd_dictionary,
                on_malformed=self._on_malformed,
                before_checkpoint=self.producer.flush,
                collections=self.collections,
            )
        if options.source == "firehose":
            from fraud_pipeline.ingest.firehose import firehose_events

            return firehose_events(
                url=options.url,
                state=self.state,
                stop=self.stop,
                on_malformed=self._on_malformed,
                before_checkpoint=self.producer.flush,
                collections=self.collections,
            )
        raise ValueError(f"unknown source {options.source!r} (replay, jetstream or firehose)")

    def run(self, events: Iterable[bytes | str], max_events: int | None = None) -> None:
        """Ingest until the source ends, `max_events`, or `stop`; then drain the producer."""
        try:
            run_ingest(
                events,
                self.producer,
                self.stats,
                self.stop,
                on_malformed=self._on_malformed,
                max_events=max_events,
                accounts=self.accounts,
            )
        except BaseException as exc:  # reported by the caller, never lost in a thread
            self.failure = exc
        finally:
            self.producer.close()
            self.errors.flush()
            self.stats.put = self.producer.stats.put
            self.done.set()

    def start(self, events: Iterable[bytes | str], max_events: int | None = None) -> threading.Thread:
        thread = threading.Thread(target=self.run, args=(events, max_events), name="ingest", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.state.close()
        self.stream.close()
