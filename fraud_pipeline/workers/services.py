"""The services `fraud-pipeline up` starts beside the streaming path: Dagster and the dashboard.

They run as child processes on the same home folder and settings (passed as
`FRAUD_PIPELINE_*` variables, with absolute paths), bound to 127.0.0.1, and are stopped
with the stack. Their output goes to log files in the home folder so the progress line
stays readable. Each runs under a supervisor (`workers/supervisor.py`) tied to `up` by a
lifeline pipe, so a service stops within seconds when `up` stops and even when `up` is
killed outright. They run with this interpreter (`python -m ...`) from the home folder, and
the workspace is the checkout's or the installed package's copy (`fraud_pipeline.bundled`):
`up` works the same from a checkout and from a `pip install .` in any directory.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import click

from fraud_pipeline.bundled import bundled_path
from fraud_pipeline.settings import Settings, env_var_names
from fraud_pipeline.workers.supervisor import Supervised, start_supervised

# How often `up` restarts a service that exited on its own before giving up on it. A service
# can die of a passing cause (a port taken in the instant before it bound, a lock held by a
# neighbour while it started); `up` says so and starts it again rather than leave it dead.
MAX_RESTARTS = 3


@dataclass
class Service:
    name: str
    supervised: Supervised
    url: str
    log_path: Path
    argv: list[str] = field(default_factory=list)
    restarts: int = 0
    given_up: bool = False


def child_environment(settings: Settings) -> dict[str, str]:
    """The environment that gives a child process exactly these settings."""
    env = dict(os.environ)
    for field_name, variable in env_var_names().items():
        value = getattr(settings, field_name)
        if field_name == "home":
            value = Path(value).resolve()
        env[variable] = str(value)
    env["DAGSTER_HOME"] = str(Path(settings.dagster_home).resolve())
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    return env


def _spawn(name: str, argv: list[str], settings: Settings, url: str) -> Service:
    log_dir = Path(settings.home).resolve() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    # Run from the home folder: nothing may depend on the directory `up` was started from.
    home = Path(settings.home).resolve()
    supervised = start_supervised(argv, cwd=home, env=child_environment(settings), log_path=log_path)
    click.echo(f"{name}: {url + ' ' if url else ''}(log {log_path})", err=True)
    return Service(name, supervised, url, log_path, list(argv))


def _last_line(log_path: Path) -> str:
    """The last non-empty line of a service's log (what it said as it died), shortened."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
            lines = [line for line in log.read().decode("utf-8", "replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def restart_exited(services: list[Service], settings: Settings) -> int:
    """Restart each service that exited on its own (up to `MAX_RESTARTS` times), saying so on the
    terminal; how many exits were found. Called by `up` while it runs, never while it stops."""
    found = 0
    for index, service in enumerate(services):
        code = service.supervised.process.poll()
        if code is None or service.given_up:
            continue
        found += 1
        last = _last_line(service.log_path)
        exited = f"\n{service.name} exited with code {code}" + (f": {last}" if last else "")
        if service.restarts >= MAX_RESTARTS:
            service.given_up = True
            gave_up = f"not restarted after {MAX_RESTARTS} restarts (log {service.log_path})"
            click.echo(f"{exited}; {gave_up}", err=True)
            continue
        click.echo(f"{exited}; restarting ({service.restarts + 1} of {MAX_RESTARTS})", err=True)
        service.supervised.request_stop()
        replacement = _spawn(service.name, service.argv, settings, service.url)
        replacement.restarts = service.restarts + 1
        services[index] = replacement
    return found


def start_services(
    settings: Settings, *, dagster: bool, dashboard: bool, dagster_port: int, dashboard_port: int
) -> list[Service]:
    services: list[Service] = []
    if dagster:
        from fraud_pipeline.orchestration.backfill import ensure_instance_storage

        ensure_instance_storage(settings)
        workspace = bundled_path("workspace.yaml")
        if workspace.exists():
            # The webserver and the daemon as on ECS (infra/modules/dagster), not `dagster dev`
            # (superseded in Dagster 1.13: it warns at every start); JSON log lines like every
            # other component (docs/operations.md). The modules `dagster dev` itself runs.
            json_logs = ["--log-format", "json"]
            services.append(
                _spawn(
                    "dagster",
                    [
                        *(sys.executable, "-m", "dagster_webserver", "-w", str(workspace)),
                        *("-h", "127.0.0.1", "-p", str(dagster_port), *json_logs),
                    ],
                    settings,
                    f"http://127.0.0.1:{dagster_port}",
                )
            )
            services.append(
                _spawn(
                    "dagster-daemon",
                    [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace), *json_logs],
                    settings,
                    "",
                )
            )
        else:
            click.echo(f"dagster: not started (no {workspace})", err=True)
    if dashboard:
        services.append(
            _spawn(
                "dashboard",
                [sys.executable, "-m", "fraud_pipeline.cli", "dashboard", "--port", str(dashboard_port)],
                settings,
                f"http://127.0.0.1:{dashboard_port}",
            )
        )
    return services


def request_stop(services: list[Service]) -> None:
    """Tell every service to stop (returns at once; they stop while the stack drains)."""
    for service in services:
        service.supervised.request_stop()


def stop_services(services: list[Service]) -> None:
    """Stop the services and wait until they and everything they started are gone."""
    request_stop(services)
    for service in services:
        if service.supervised.wait() is None:
            click.echo(f"{service.name}: its supervisor did not finish; killing it", err=True)
            service.supervised.kill()
