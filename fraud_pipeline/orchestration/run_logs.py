"""Dagster's event log as the project's JSON log lines, instead of coloured text on a terminal.

Every run's events are stored in the Dagster instance whatever loggers a job has (the UI reads
them there). The loggers decide what else sees them: Dagster's default is the `console`
logger, which printed about 200 DEBUG lines for a one-hour backfill. The definitions use
`json_event_log` instead: each event becomes a line of the `fraud_pipeline.dagster` logger,
which `fraud_pipeline.logs.setup_logging` sends to the component's JSON file (or stdout on
AWS) with the run id, partition and step as fields. `console_event_log` is the console
logger, for `-v`. Dagster starts a job's own loggers only when the run config names them
(otherwise it falls back to the console), so every job carries `JSON_LOGS_RUN_CONFIG`.

dagster-dbt also copies every dbt event to `sys.stdout` itself (in a Dagster run worker the
compute-log manager captures that for the UI). In-process runs (`backfill`) send it to the
`fraud_pipeline.dbt` log lines instead with `stdout_to_log`.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any

from dagster import Field, InitLoggerContext, LoggerDefinition, colored_console_logger, logger

EVENT_LOGGER = "fraud_pipeline.dagster"
STDOUT_LOGGER = "fraud_pipeline.dbt"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
PARTITION_TAG = "dagster/partition"
RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")


def _partition(tags: dict[str, str]) -> str | None:
    if tags.get(PARTITION_TAG):
        return tags[PARTITION_TAG]
    start, end = (tags.get(t) for t in RANGE_TAGS)
    return f"{start}..{end}" if start and end else None


class DagsterMetaFilter(logging.Filter):
    """Lifts the run id, partition and step out of Dagster's `dagster_meta` into the agreed fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta: dict[str, Any] = getattr(record, "dagster_meta", None) or {}
        record.component = "dagster"
        if meta:
            record.run = meta.get("run_id")
            record.partition = _partition(dict(meta.get("job_tags") or {}))
            record.step = meta.get("step_key")
            # The event's own text (Dagster's record.msg repeats job, run id and step as prose).
            event = meta.get("dagster_event")
            kind = getattr(event, "event_type_value", None)
            original = meta.get("orig_message") or record.getMessage()
            record.msg = f"{kind}: {original}" if kind and kind not in str(original) else original
            record.args = ()
        return True


def _event_logger(level: str) -> logging.Logger:
    log = logging.getLogger(EVENT_LOGGER)
    if not any(isinstance(f, DagsterMetaFilter) for f in log.filters):
        log.addFilter(DagsterMetaFilter())
    log.setLevel(level.upper())
    return log


@logger(
    # DEBUG: the whole event log (step starts, outputs, materializations), as the instance has it.
    config_schema={"log_level": Field(str, is_required=False, default_value="DEBUG")},
    description="Run events as JSON lines (fraud_pipeline.logs): a file locally, stdout on AWS.",
)
def json_event_log(init_context: InitLoggerContext) -> logging.Logger:
    return _event_logger(init_context.logger_config["log_level"])


console_event_log: LoggerDefinition = colored_console_logger


# A job's default run config: start the JSON logger (a run config naming no logger gets the console).
JSON_LOGS_RUN_CONFIG: dict[str, Any] = {"loggers": {"json": {}}}


def run_loggers(verbose: bool = False) -> dict[str, LoggerDefinition]:
    """The loggers every job gets: JSON lines; plus Dagster's console log with `verbose`."""
    loggers: dict[str, LoggerDefinition] = {"json": json_event_log}
    if verbose:
        loggers["console"] = console_event_log
    return loggers


def logger_run_config(verbose: bool = False) -> dict[str, Any]:
    """Run config that starts `run_loggers(verbose)`."""
    return {"loggers": {name: {} for name in run_loggers(verbose)}}


class LogLineWriter(io.TextIOBase):
    """A text stream that turns each line written to it into an INFO line of `logger`."""

    def __init__(self, logger: logging.Logger, component: str) -> None:
        self._logger = logger
        self._component = component
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            clean = ANSI_ESCAPE.sub("", line).rstrip()
            if clean:
                self._logger.info(clean, extra={"component": self._component})
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self.write("\n")


@contextmanager
def stdout_to_log(enabled: bool = True) -> Iterator[None]:
    """While inside, what is printed to stdout (dbt's events) becomes `fraud_pipeline.dbt` log lines."""
    if not enabled:
        yield
        return
    writer = LogLineWriter(logging.getLogger(STDOUT_LOGGER), "dbt")
    try:
        with redirect_stdout(writer):
            yield
    finally:
        writer.flush()
