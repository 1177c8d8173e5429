"""SIGTERM/SIGHUP become a KeyboardInterrupt once, so long-running commands drain like Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fraud_pipeline.shutdown import Terminated, parent_alive, stop_reason, termination_as_interrupt


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_termination_raises_once_then_repeats_are_ignored(number: signal.Signals) -> None:
    before = {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGHUP)}
    drained = False
    with termination_as_interrupt():
        try:
            os.kill(os.getpid(), number)
            pytest.fail("the signal did not interrupt")
        except KeyboardInterrupt as interrupt:
            assert isinstance(interrupt, Terminated)
            assert stop_reason(interrupt) == f" ({number.name})"
            os.kill(os.getpid(), signal.SIGTERM)  # a repeat while draining
            os.kill(os.getpid(), signal.SIGHUP)
            drained = True
    assert drained
    assert {n: signal.getsignal(n) for n in (signal.SIGTERM, signal.SIGHUP)} == before


def test_ctrl_c_keeps_its_plain_message() -> None:
    assert stop_reason(KeyboardInterrupt()) == ""


def test_outside_the_main_thread_nothing_is_installed() -> None:
    seen: list[object] = []

    def worker() -> None:
        with termination_as_interrupt():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [before]


def test_parent_alive_compares_with_the_current_parent() -> None:
    assert parent_alive(os.getppid())
    assert not parent_alive(os.getppid() + 1_000_000)


_SEMAPHORE_OWNER = """
import multiprocessing, sys
from fraud_pipeline.shutdown import exit_without_teardown

if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    event, queue = context.Event(), context.Queue()
    queue.put("x")
    print(event._cond._lock._semlock.name, flush=True)
    exit_without_teardown(0)
"""


def test_exit_without_teardown_unlinks_its_semaphores_without_a_leak_warning(tmp_path: Path) -> None:
    """`up` leaves by `os._exit`, which skips multiprocessing's finalizers: its events' and
    queues' semaphores must still be unlinked, and not by the resource tracker's leak warning."""
    script = tmp_path / "owner.py"
    script.write_text(_SEMAPHORE_OWNER)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    assert "leaked semaphore" not in done.stderr
    name = done.stdout.strip().lstrip("/")
    assert name
    assert not (Path("/dev/shm") / f"sem.{name}").exists()
