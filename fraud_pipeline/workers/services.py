"""The services `fraud-pipeline up` starts beside the streaming path: Dagster and the dashboard.

They run as child processes on the same home folder and settings (passed as
`FRAUD_PIPELINE_*` variables, with absolute paths), bound to 127.0.0.1, and are stopped
with the stack. Their output goes to log files in the home folder so the progress line
stays readable.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from fraud_pipeline.settings import Settings, env_var_names

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path


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


def _executable(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def _spawn(name: str, argv: list[str], settings: Settings, url: str) -> Service:
    log_dir = Path(settings.home).resolve() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    handle = open(log_path, "ab")  # noqa: SIM115 - owned by the child process for its lifetime
    process = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env=child_environment(settings),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    click.echo(f"{name}: {url + ' ' if url else ''}(log {log_path})", err=True)
    return Service(name, process, url, log_path)


def start_services(
    settings: Settings, *, dagster: bool, dashboard: bool, dagster_port: int, dashboard_port: int
) -> list[Service]:
    services: list[Service] = []
    if dagster:
        from fraud_pipeline.orchestration.backfill import ensure_instance_home

        ensure_instance_home(settings)
        webserver, daemon = _executable("dagster-webserver"), _executable("dagster-daemon")
        workspace = REPO_ROOT / "workspace.yaml"
        if webserver and daemon and workspace.exists():
            # The webserver and the daemon as on ECS (infra/modules/dagster), not `dagster dev`
            # (superseded in Dagster 1.13: it warns at every start); JSON log lines like every
            # other component (docs/operations.md).
            json_logs = ["--log-format", "json"]
            services.append(
                _spawn(
                    "dagster",
                    [webserver, "-w", str(workspace), "-h", "127.0.0.1", "-p", str(dagster_port), *json_logs],
                    settings,
                    f"http://127.0.0.1:{dagster_port}",
                )
            )
            services.append(
                _spawn("dagster-daemon", [daemon, "run", "-w", str(workspace), *json_logs], settings, "")
            )
        else:
            click.echo("dagster: not started (no dagster-webserver/-daemon or workspace.yaml)", err=True)
    if dashboard:
        binary = _executable("fraud-pipeline")
        if binary:
            services.append(
                _spawn(
                    "dashboard",
                    [binary, "dashboard", "--port", str(dashboard_port)],
                    settings,
                    f"http://127.0.0.1:{dashboard_port}",
                )
            )
    return services


def stop_services(services: list[Service], timeout: float = 15.0) -> None:
    for service in services:
        if service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGTERM)
    for service in services:
        try:
            service.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(5)
