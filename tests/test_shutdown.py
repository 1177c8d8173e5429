"""SIGTERM/SIGHUP become a KeyboardInterrupt once, so long-running commands drain like Ctrl-C."""

from __future__ import annotations

import os
import signal
import threading

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
