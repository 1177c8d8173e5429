"""Termination signals stop a long-running command the way Ctrl-C does: drain, then exit.

`docker stop`, an ECS task stop, systemd and a closed terminal send SIGTERM or SIGHUP,
not SIGINT. Python's default for those is to die on the spot. The producer's buffer is
then never flushed, cursors are never saved, and `up` leaves its Dagster and dashboard
children running on their ports. Turning the first such signal into KeyboardInterrupt in
the main thread sends every command through its one drain-and-stop path. Repeats are
ignored while it drains (an orchestrator escalates to SIGKILL when its grace period ends).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

TERMINATION_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """Raised in the main thread by SIGTERM or SIGHUP (a KeyboardInterrupt, so one handler
    covers Ctrl-C and termination)."""


def _raise_terminated(signum: int, _frame: FrameType | None) -> None:
    for number in TERMINATION_SIGNALS:
        signal.signal(number, signal.SIG_IGN)  # draining now; a repeat must not cut it short
    raise Terminated(signal.Signals(signum).name)


@contextmanager
def termination_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM/SIGHUP raise `Terminated`; the old handlers come back after.

    Outside the main thread (signals can only be handled there) it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _raise_terminated) for number in TERMINATION_SIGNALS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def stop_reason(interrupt: KeyboardInterrupt) -> str:
    """ " (SIGTERM)" / " (SIGHUP)" for a termination signal, "" for Ctrl-C: for the stop message."""
    return f" ({interrupt})" if isinstance(interrupt, Terminated) else ""


def ignore_stop_signals() -> None:
    """For worker child processes: Ctrl-C and termination reach the whole process group, but
    the parent decides when children stop (it tells them through an event, so they drain
    instead of dying mid-batch). `parent_alive` covers a parent that is killed outright."""
    for number in (signal.SIGINT, *TERMINATION_SIGNALS):
        signal.signal(number, signal.SIG_IGN)


def parent_alive(parent_pid: int) -> bool:
    """False once the process that started this one has exited (we were re-parented)."""
    return os.getppid() == parent_pid


def exit_without_teardown(code: int = 0) -> None:
    """Leave now, once everything is saved and closed: flush the output, skip the interpreter's
    teardown. Unloading pyarrow, scikit-learn and DuckDB took 1-2 s on a busy machine, which
    counts against a stop's grace period (`up` has 5 s; Docker waits 10). Only for processes
    that own their lifecycle (`up`, the stack's worker children), never inside a library call."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    _stop_resource_tracker()
    os._exit(code)


def _stop_resource_tracker() -> None:
    """multiprocessing's resource tracker (a helper process started with the first spawned
    worker) exits by itself once we are gone, a moment after us: stop and reap it first, so
    that nothing this process started outlives it. Private stdlib calls, hence the guards.

    The semaphores behind the stack's events and queues are unlinked first, by the finalizers
    multiprocessing itself runs first at a normal exit (`util._exit_function`): `os._exit`
    skips them, and the tracker then unlinked them itself with a warning ("There appear to be
    13 leaked semaphore objects to clean up at shutdown") on every stop of `up`."""
    from multiprocessing import resource_tracker, util

    tracker = getattr(resource_tracker, "_resource_tracker", None)
    if getattr(tracker, "_pid", None) is None:
        return  # never started here (or a child sharing its parent's tracker)
    with contextlib.suppress(Exception):
        util._run_finalizers(0)  # type: ignore[attr-defined]
    with contextlib.suppress(Exception):
        tracker._stop()  # type: ignore[union-attr]
