"""Replay a recorded Jetstream capture (JSONL or JSONL.zst) as a source of raw events.

Why: a capture is the pipeline's default source on a laptop and its test fixture (after
indigo/automod's capture/replay). Events go out as raw bytes, untouched unless asked:
- `speed=None` (or 0): as fast as the consumer takes them;
- `speed=x`: at the recorded pace (from `time_us`) times x;
- `rebase_to_now=True`: each event's `time_us` is rewritten to the wall clock at the moment
  it is emitted, so a replayed capture looks live on the dashboard.
Only `time_us` is read (a byte-level regex, no JSON parse), so replay adds almost nothing
to the ingest cost; lines without it pass through for the normalizer to count.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import zstandard

TIME_US_RE = re.compile(rb'"time_us"\s*:\s*(\d{1,19})')
# zstd frames start with this magic number (little-endian 0xFD2FB528)
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def open_capture(path: Path | str) -> io.BufferedIOBase:
    """A binary reader of the capture's JSONL, decompressing zstd when the file is zstd."""
    raw = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
    if head == ZSTD_MAGIC:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return io.BufferedReader(reader, buffer_size=1 << 20)
    return raw


def read_lines(path: Path | str) -> Iterator[bytes]:
    """Non-empty lines of a capture, without the newline."""
    with open_capture(path) as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if line:
                yield line


def event_time_us(raw: bytes) -> int | None:
    match = TIME_US_RE.search(raw)
    return int(match.group(1)) if match else None


def iter_replay(
    path: Path | str,
    *,
    speed: float | None = None,
    rebase_to_now: bool = False,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall_clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
) -> Iterator[bytes]:
    """Yield the capture's events, paced and/or rebased as asked; ends at EOF or on `stop`."""
    if speed is not None and speed < 0:
        raise ValueError("speed must be positive (or None/0 for as fast as possible)")
    stop = stop or threading.Event()
    paced = bool(speed)
    first_event_us: int | None = None
    started = clock()
    last_rebased = 0
    for line in read_lines(path):
        if stop.is_set():
            return
        match = TIME_US_RE.search(line) if (paced or rebase_to_now) else None
        if match is not None:
            recorded = int(match.group(1))
            if paced:
                if first_event_us is None:
                    first_event_us = recorded
                due = started + (recorded - first_event_us) / 1_000_000 / speed  # type: ignore[operator]
                delay = due - clock()
                if delay > 0 and stop.wait(delay):
                    return
            if rebase_to_now:
                last_rebased = max(wall_clock_us(), last_rebased + 1)
                line = line[: match.start(1)] + str(last_rebased).encode() + line[match.end(1) :]
        yield line
