"""One logging setup for every process: JSON lines a team can search.

Every component (the Lambda handler, ingest, the workers, Dagster runs, the CLI commands,
later the labeler) calls `setup_logging(component, settings)` once at its entry point. From
then on every `logging.getLogger("fraud_pipeline...")` record is written as one JSON object
per line with the agreed fields:

    time, level, component, logger, message            always
    shard, partition, record, run (step)               what the line concerns, when known
    next_step                                          on errors: what to do about it
    error                                              the exception, when there is one

so CloudWatch Logs Insights can `filter component = "scoring" and level = "ERROR"` and a
laptop user can `grep` (or `jq`) the same lines.

Where the lines go: inside AWS compute (Lambda, ECS) to stdout, which CloudWatch Logs
captures; anywhere else to `<home>/logs/<component>.jsonl`, rotated by the standard
library's `RotatingFileHandler` (no extra dependency; size-based rotation is all a laptop
needs). `FRAUD_PIPELINE_LOG_TO=stdout|file` overrides the choice,
`FRAUD_PIPELINE_LOG_LEVEL` sets the level (INFO). A terminal only sees
errors, in one short human line, unless `verbose` asks for everything.

Context (`shard`, `partition`, `record`, `run`, and `component` for threads that are a
different component than their process) is set with `log_context(...)` around the work and
kept in a `ContextVar`, so code deep in a call stack needs no extra arguments.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO, TypeVar

import orjson

from fraud_pipeline.settings import Settings

T = TypeVar("T")
ROOT_LOGGER = "fraud_pipeline"
CONTEXT_FIELDS = ("shard", "partition", "record", "run", "step")
ROTATE_BYTES = 10 * 1024 * 1024  # per file; a laptop keeps at most (1 + ROTATE_BACKUPS) of them
ROTATE_BACKUPS = 5
# Environment variables that only exist inside AWS compute (so stdout reaches CloudWatch Logs).
AWS_COMPUTE_MARKERS = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "ECS_CONTAINER_METADATA_URI_V4",
    "ECS_CONTAINER_METADATA_URI",
)

_context: ContextVar[dict[str, str]] = ContextVar("fraud_pipeline_log_context", default={})  # noqa: B039
_process_component = "cli"


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Attach `shard`, `partition`, `record`, `run` (or `component`) to every line inside."""
    merged = {**_context.get(), **{k: _text(v) for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def log_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The JSON object of one log record (agreed fields first, empty context fields left out)."""
    context = _context.get()
    line: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "component": getattr(record, "component", None) or context.get("component") or _process_component,
        "logger": record.name,
        "message": record.getMessage(),
    }
    for name in CONTEXT_FIELDS:
        value = getattr(record, name, None) or context.get(name)
        if value:
            line[name] = _text(value)
    next_step = getattr(record, "next_step", None)
    if next_step:
        line["next_step"] = next_step
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        line["error"] = f"{type(exc).__name__}: {exc}"
        line["traceback"] = "".join(traceback.format_exception(exc))[-4000:]
    return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line (orjson: already a dependency, and it serializes anything)."""

    def format(self, record: logging.LogRecord) -> str:
        # RotatingFileHandler formats each record twice (once to decide on rollover): once is enough.
        cached = record.__dict__.get("_fraud_pipeline_json")
        if cached is None:
            cached = orjson.dumps(log_fields(record), default=str).decode()
            record.__dict__["_fraud_pipeline_json"] = cached
        return str(cached)


class TerminalFormatter(logging.Formatter):
    """What a person at a terminal sees of an error: one line, with the next step."""

    def format(self, record: logging.LogRecord) -> str:
        line = log_fields(record)
        where = " ".join(f"{k}={line[k]}" for k in CONTEXT_FIELDS if k in line)
        text = (
            f"{line['level'].lower()}: [{line['component']}{' ' + where if where else ''}] {line['message']}"
        )
        if "error" in line and line["error"] not in text:
            text += f" ({line['error']})"
        if "next_step" in line:
            text += f"\n  next: {line['next_step']}"
        return text


class _OurHandler(logging.Handler):
    """Marker base so a second `setup_logging` replaces what the first one installed."""


class _OurStreamHandler(logging.StreamHandler, _OurHandler):
    pass


class _OurRotatingFileHandler(logging.handlers.RotatingFileHandler, _OurHandler):
    pass


def in_aws_compute(environ: dict[str, str] | None = None) -> bool:
    environ = dict(os.environ) if environ is None else environ
    return any(environ.get(name) for name in AWS_COMPUTE_MARKERS)


def log_destination(settings: Settings | None) -> str:
    """`stdout` inside AWS compute, `file` elsewhere; FRAUD_PIPELINE_LOG_TO overrides."""
    chosen = settings.log_to if settings is not None else ""
    if chosen in ("stdout", "file"):
        return chosen
    return "stdout" if in_aws_compute() or settings is None else "file"


def log_path(settings: Settings, component: str) -> Path:
    """Where a component's JSON lines go on the local backend (and off AWS compute)."""
    return Path(settings.home).resolve() / "logs" / f"{component}.jsonl"


def setup_logging(
    component: str,
    settings: Settings | None = None,
    *,
    verbose: bool = False,
    terminal: TextIO | None = None,
) -> Path | None:
    """Send every `fraud_pipeline.*` log line of this process as JSON to stdout or a rotated file.

    Returns the file when it writes one. Calling it again (another command in the same
    process, a test) replaces the handlers it installed before. `terminal` (default stderr)
    gets errors as short human lines, or every line at DEBUG with `verbose`.
    """
    global _process_component
    _process_component = component
    root = logging.getLogger(ROOT_LOGGER)
    for handler in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(handler)
        handler.close()
    level = logging.DEBUG if verbose else _level(settings.log_level if settings is not None else "INFO")
    root.setLevel(level)
    root.propagate = False  # the Lambda runtime's root handler would print each line a second time

    path: Path | None = None
    if log_destination(settings) == "stdout":
        json_handler: logging.Handler = _OurStreamHandler(sys.stdout)
    else:
        assert settings is not None
        path = log_path(settings, component)
        path.parent.mkdir(parents=True, exist_ok=True)
        json_handler = _OurRotatingFileHandler(
            path, maxBytes=ROTATE_BYTES, backupCount=ROTATE_BACKUPS, encoding="utf-8"
        )
    json_handler.setFormatter(JsonFormatter())
    root.addHandler(json_handler)
    if path is not None or verbose:  # stdout JSON is already on the terminal otherwise
        to_terminal = _OurStreamHandler(terminal if terminal is not None else sys.stderr)
        to_terminal.setLevel(logging.DEBUG if verbose else logging.ERROR)
        to_terminal.setFormatter(TerminalFormatter())
        root.addHandler(to_terminal)
    return path


def _level(name: str) -> int:
    value = logging.getLevelName(name.strip().upper())
    return value if isinstance(value, int) else logging.INFO


def as_component(component: str, target: Callable[..., T]) -> Callable[..., T]:
    """`target` logging as `component` (a worker thread inside another component's process)."""

    def run(*args: Any, **kwargs: Any) -> T:
        with log_context(component=component):
            return target(*args, **kwargs)

    return run
