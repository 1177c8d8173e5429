"""A service that cannot outlive `up`: a small supervisor between `up` and each service it starts.

Dagster's webserver and daemon start code servers of their own. Two things went wrong when `up`
ran Dagster (then `dagster dev`) directly:

- `dagster dev` maps SIGTERM to whatever SIGINT does in its process. A process started as a
  background job (`make run &`, `nohup`, many init scripts) inherits SIGINT *ignored*, so
  `dagster dev` ignored SIGTERM too and `up` waited its whole stop timeout (16-17 s; Docker's
  default grace is 10 s).
- When `up` was killed outright (SIGKILL, the OOM killer), nobody stopped the services: they
  kept running in their own session and kept their ports.

So `up` starts each service through this module (`python -m fraud_pipeline.workers.supervisor`):

- The **lifeline** is a pipe: `up` keeps the write end, the supervisor reads the other. The
  kernel closes the write end however `up` ends (a clean stop, SIGKILL, OOM), so end-of-file on
  the lifeline means "stop". A pipe works the same on Linux and macOS.
- The service runs in a process group of its own with SIGINT restored to its default, so it
  honours Ctrl-C (and `dagster dev` therefore SIGTERM) however `up` was started.
- To stop, the supervisor sends SIGINT to the service's group (what Dagster and uvicorn treat
  as a clean stop), waits `grace_s`, then SIGKILLs the whole group, which also catches
  grandchildren whose own parent has already gone.
- On Linux the service also gets the parent-death signal (`prctl(PR_SET_PDEATHSIG, SIGINT)`),
  so it is told to stop even if the supervisor itself is killed.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

# How long a service gets to stop cleanly before its process group is killed. Dagster shuts its
# webserver, daemon and code servers down in about 2-3 s on an idle machine; `up`
# must be gone within 5 s (Docker gives 10 s), and the stack drains meanwhile.
STOP_GRACE_S = 2.5
# After SIGKILL: how long the supervisor waits for its group's processes to be gone (they
# usually are within milliseconds; orphaned zombies are init's to reap).
GROUP_EXIT_S = 1.0
# Beyond the grace: how long `up` waits for a supervisor that has SIGKILLed its group to exit.
EXIT_MARGIN_S = GROUP_EXIT_S + 1.0
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def _restore_interrupt_and_die_with_parent() -> None:
    """In the service child, before exec: default SIGINT, and on Linux SIGINT when the parent dies."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGINT), 0, 0, 0)


def _kill_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def supervise(argv: Sequence[str], lifeline_fd: int, grace_s: float = STOP_GRACE_S) -> int:
    """Run `argv` until it exits, the lifeline closes, or this process is told to stop."""
    stop_requested = False

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stop_requested
        stop_requested = True

    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, request_stop)
    service = subprocess.Popen(list(argv), process_group=0, preexec_fn=_restore_interrupt_and_die_with_parent)
    pgid = service.pid
    while service.poll() is None and not stop_requested:
        try:
            readable, _, _ = select.select([lifeline_fd], [], [], 0.25)
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue
        if readable and not os.read(lifeline_fd, 4096):
            break  # end of file: `up` closed its end or is gone
    if service.poll() is None:
        _kill_group(pgid, signal.SIGINT)
        deadline = time.monotonic() + grace_s
        while service.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    # Whatever is left in the group (the service, or children it left behind) goes now.
    _kill_group(pgid, signal.SIGKILL)
    code = service.wait()
    _wait_until_group_gone(pgid, GROUP_EXIT_S)
    return code


def _wait_until_group_gone(pgid: int, timeout_s: float) -> None:
    """SIGKILL is delivered asynchronously: wait (bounded) until the group has no process left,
    so that when this supervisor exits, nothing the service started is still running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.02)


@dataclass
class Supervised:
    """A service started through a supervisor; `up` holds the lifeline's write end."""

    process: subprocess.Popen[bytes]
    lifeline: int | None

    def request_stop(self) -> None:
        """Close the lifeline: the supervisor stops the service (returns at once)."""
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None

    def wait(self, timeout: float = STOP_GRACE_S + EXIT_MARGIN_S) -> int | None:
        """The supervisor's exit code once it has stopped the service (None if it did not in time)."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Last resort: the supervisor did not finish; kill its whole session."""
        _kill_group(self.process.pid, signal.SIGKILL)
        self.process.wait(5)


def start_supervised(
    argv: Sequence[str], *, cwd: Path, env: dict[str, str], log_path: Path, grace_s: float = STOP_GRACE_S
) -> Supervised:
    """Start `argv` under a supervisor tied to this process by a lifeline pipe."""
    read_end, write_end = os.pipe()  # both non-inheritable; the read end is passed explicitly
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fraud_pipeline.workers.supervisor",
                "--lifeline",
                str(read_end),
                "--grace",
                str(grace_s),
                "--",
                *argv,
            ],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=[read_end],
            start_new_session=True,  # a terminal's Ctrl-C reaches `up`, which decides
        )
    os.close(read_end)
    return Supervised(process, write_end)


def main(args: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifeline", type=int, required=True, help="read end of the lifeline pipe")
    parser.add_argument("--grace", type=float, default=STOP_GRACE_S, help="seconds to stop cleanly")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the service's command line")
    parsed = parser.parse_args(args)
    argv = parsed.argv[1:] if parsed.argv[:1] == ["--"] else parsed.argv
    if not argv:
        parser.error("no service command given")
    return supervise(argv, parsed.lifeline, parsed.grace)


if __name__ == "__main__":
    sys.exit(main())
