"""A clean lifecycle: `up` stops within 5 s with Dagster on, and nothing it started outlives it.

The supervisor is tested directly on small stand-in services (quick, exact); the two `up` tests
start real Dagster and the dashboard (slow: Dagster takes 15-90 s to start on a busy machine).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from fraud_pipeline.ingest.synth import load_texts, write_capture
from fraud_pipeline.settings import Settings
from fraud_pipeline.workers.services import MAX_RESTARTS, _spawn, restart_exited, stop_services
from fraud_pipeline.workers.supervisor import STOP_GRACE_S, start_supervised
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
STOP_BUDGET_S = 5.0

# A service that starts a grandchild (as `dagster dev` starts its webserver and daemon), writes
# both pids, and listens on a port. With IGNORE_INT it refuses SIGINT, so only SIGKILL stops it.
SERVICE = """
import os, signal, socket, subprocess, sys, time
if os.environ.get("IGNORE_INT"):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
listener = socket.socket(); listener.bind(("127.0.0.1", int(sys.argv[2]))); listener.listen()
open(sys.argv[1], "w").write(f"{os.getpid()} {child.pid}")
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting to be reaped: a zombie holds no port)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _cmdline(pid: int) -> str:
    """What a process is, for a failure message: its command line, or its name and state
    (a process that is exiting has no command line any more)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:200]
        return cmdline or Path(f"/proc/{pid}/stat").read_text()[:60]
    except OSError:
        return f"pid {pid} (gone)"


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (Linux)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_until(condition, timeout: float, step: float = 0.05) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def _start_service(tmp_path: Path, port: int, ignore_int: bool = False):  # type: ignore[no-untyped-def]
    pids_file = tmp_path / "pids"
    env = {**os.environ, **({"IGNORE_INT": "1"} if ignore_int else {})}
    supervised = start_supervised(
        [sys.executable, "-c", SERVICE, str(pids_file), str(port)],
        cwd=tmp_path,
        env=env,
        log_path=tmp_path / "service.log",
    )
    assert _wait_until(lambda: pids_file.exists() and pids_file.read_text() and _port_open(port), 30)
    service_pid, grandchild_pid = map(int, pids_file.read_text().split())
    return supervised, service_pid, grandchild_pid


def test_closing_the_lifeline_stops_the_service_and_its_children(tmp_path: Path) -> None:
    port = free_port()
    supervised, service, grandchild = _start_service(tmp_path, port)
    started = time.monotonic()
    supervised.request_stop()
    assert supervised.wait() is not None, "the supervisor did not finish"
    assert time.monotonic() - started < STOP_GRACE_S, "a service that honours SIGINT stops at once"
    assert not _alive(service) and not _alive(grandchild) and not _port_open(port)


def test_a_service_that_ignores_sigint_is_killed_after_the_grace(tmp_path: Path) -> None:
    port = free_port()
    supervised, service, grandchild = _start_service(tmp_path, port, ignore_int=True)
    started = time.monotonic()
    supervised.request_stop()
    assert supervised.wait() is not None
    assert STOP_GRACE_S <= time.monotonic() - started < STOP_GRACE_S + 2.0
    assert not _alive(service) and not _alive(grandchild) and not _port_open(port)


def test_the_service_stops_when_its_starter_is_killed_outright(tmp_path: Path) -> None:
    """SIGKILL of the process holding the lifeline (as of `up`) closes it: the service stops."""
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "from pathlib import Path\n"
            "from fraud_pipeline.workers.supervisor import start_supervised\n"
            "home = Path(sys.argv[1])\n"
            "start_supervised([sys.executable, '-c', 'import time; time.sleep(600)'], cwd=home,"
            " env=dict(os.environ), log_path=home / 'log')\n"
            "print('started', flush=True)\n"
            "time.sleep(600)\n",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert starter.stdout is not None and starter.stdout.readline().strip() == "started"
    assert _wait_until(lambda: len(_descendants(starter.pid)) >= 2, 30)  # supervisor + service
    below = _descendants(starter.pid)
    starter.kill()
    starter.wait(10)
    assert _wait_until(lambda: not any(_alive(pid) for pid in below), 10), "a process outlived its starter"


def test_up_restarts_a_service_that_exits_and_says_why(
    local_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A service that dies on its own is reported with its last log line and started again,
    up to MAX_RESTARTS times; then `up` says it gave up (and the stack keeps running)."""
    dying = [sys.executable, "-c", "import sys; print('cannot bind: port taken', flush=True); sys.exit(3)"]
    services = [_spawn("flaky", dying, local_settings, "")]
    first = services[0]
    exits = 0
    deadline = time.monotonic() + 60
    while not services[0].given_up and time.monotonic() < deadline:
        exits += restart_exited(services, local_settings)
        time.sleep(0.1)
    stop_services(services)
    said = capsys.readouterr().err
    assert services[0] is not first and services[0].restarts == MAX_RESTARTS and services[0].given_up
    assert exits == MAX_RESTARTS + 1
    assert said.count("flaky exited with code 3: cannot bind: port taken; restarting") == MAX_RESTARTS
    assert f"not restarted after {MAX_RESTARTS} restarts" in said


def test_a_running_service_is_left_alone(local_settings: Settings) -> None:
    services = [_spawn("steady", [sys.executable, "-c", "import time; time.sleep(600)"], local_settings, "")]
    first = services[0]
    try:
        time.sleep(0.5)
        assert restart_exited(services, local_settings) == 0 and services[0] is first
    finally:
        stop_services(services)


def test_dagster_storages_are_created_once_before_the_services_start(local_settings: Settings) -> None:
    """The webserver and the daemon, started together on a new home, both created the SQLite
    storages and both stamped alembic: two heads, and the code location failed to load for good.
    `up` now creates them first, each stamped once."""
    from fraud_pipeline.orchestration.backfill import ensure_instance_storage

    home = ensure_instance_storage(local_settings)
    databases = sorted(home.rglob("*.db"))
    assert {db.name for db in databases} >= {"runs.db", "schedules.db", "index.db"}
    for database in databases:
        with sqlite3.connect(database) as connection:
            heads = connection.execute("SELECT version_num FROM alembic_version").fetchall()
        assert len(heads) == 1, (database, heads)
    assert ensure_instance_storage(local_settings) == home  # again on an existing home: no change


# -- `up` with Dagster on --------------------------------------------------------------------
class _Drained:
    """`up`'s stderr read to the end in a thread: `up` never blocks on a full pipe, and a
    failure can show what it said."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.text = ""
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for chunk in iter(lambda: stream.read(256), ""):
            self.text += chunk


def _logs_tail(settings: Settings) -> str:
    logs = Path(settings.home) / "logs"
    return "\n".join(
        f"--- {log.name}:\n{log.read_text(errors='replace')[-1500:]}" for log in sorted(logs.glob("*.log"))
    )


def _start_up(settings: Settings, tmp_path: Path, dagster_port: int, dashboard_port: int):  # type: ignore[no-untyped-def]
    capture = tmp_path / "capture.jsonl"
    write_capture(capture, load_texts([ROOT / "data" / "labeled" / "train.jsonl"]), 200, seed=3, rate=100.0)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraud_pipeline.cli",
            "up",
            "--home",
            str(settings.home),
            "--capture",
            str(capture),
            "--speed",
            "0",
            "--dagster-port",
            str(dagster_port),
            "--dashboard-port",
            str(dashboard_port),
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        # Started as a background job is (`make run &`, nohup): SIGINT ignored. `dagster dev` maps
        # SIGTERM to its SIGINT handler, so it used to ignore SIGTERM too and `up` took 16 s.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    stderr = _Drained(process.stderr)
    finished = _wait_until(lambda: "replay finished" in stderr.text or process.poll() is not None, 240, 0.2)
    assert finished and "replay finished" in stderr.text, stderr.text[-3000:]
    listening = _wait_until(lambda: _port_open(dagster_port) and _port_open(dashboard_port), 240, 0.5)
    assert listening, (
        f"Dagster listening: {_port_open(dagster_port)}, the dashboard: {_port_open(dashboard_port)}\n"
        f"`up` said:\n{stderr.text[-2000:]}\n{_logs_tail(settings)}"
    )
    return process, stderr


@pytest.mark.slow
def test_sigterm_stops_up_with_dagster_within_5_s(local_settings: Settings, tmp_path: Path) -> None:
    dagster_port, dashboard_port = free_port(), free_port()
    process, stderr = _start_up(local_settings, tmp_path, dagster_port, dashboard_port)
    below = _descendants(process.pid)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    took = time.monotonic() - started
    stderr.thread.join(10)
    rest = stderr.text
    assert process.returncode == 0, rest[-3000:]
    assert "stopping (SIGTERM): draining" in rest
    assert took < STOP_BUDGET_S, f"`up` took {took:.1f} s to stop"
    outlived = [_cmdline(pid) for pid in below if _alive(pid)]
    assert not outlived, f"children of `up` outlived it: {outlived}"
    assert not _port_open(dagster_port) and not _port_open(dashboard_port)


@pytest.mark.slow
def test_sigkill_of_up_leaves_no_process_and_no_port(local_settings: Settings, tmp_path: Path) -> None:
    dagster_port, dashboard_port = free_port(), free_port()
    process, _ = _start_up(local_settings, tmp_path, dagster_port, dashboard_port)
    below = _descendants(process.pid)
    assert len(below) >= 6, below  # 2 workers, 2 supervisors, dagster dev + its children, dashboard
    process.kill()
    process.wait(timeout=30)
    assert _wait_until(lambda: not any(_alive(pid) for pid in below), 15, 0.2), [
        Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")[:200] for pid in below if _alive(pid)
    ]
    assert not _port_open(dagster_port) and not _port_open(dashboard_port)
