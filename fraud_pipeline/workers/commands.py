"""`fraud-pipeline up | replay | provision | poll | deliver`: the streaming path as commands."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from fraud_pipeline.cli_options import echo_json, settings_options
from fraud_pipeline.ingest.session import BUNDLED_CAPTURE, IngestSession, SourceOptions
from fraud_pipeline.progress import live_line
from fraud_pipeline.settings import Settings
from fraud_pipeline.shutdown import exit_without_teardown, stop_reason, termination_as_interrupt


@click.command()
@settings_options
@click.option("--json", "as_json", is_flag=True, help="Print what exists as one JSON object.")
def provision(settings: Settings, as_json: bool) -> None:
    """Create streams, bucket, state table and catalog (idempotent; same names as infra/)."""
    from fraud_pipeline.progress import progress_bar
    from fraud_pipeline.provision import PROVISION_STEPS, provision_summary

    started = time.monotonic()
    report: dict[str, Any] = {"backend": settings.backend, "env": settings.env}
    with progress_bar("provisioning", total=len(PROVISION_STEPS), enabled=not as_json) as advance:
        for part, step in PROVISION_STEPS.items():
            advance(0, label=f"provisioning {part.replace('_', ' ')}")
            report[part] = step(settings)
            advance()
    if as_json:
        echo_json(report)
    else:
        click.echo(f"{provision_summary(report)} in {time.monotonic() - started:.0f} s")


def _lake_summary(stack: Any, ingest: IngestSession) -> dict[str, Any]:
    """Counts in and counts out of one run: what ingest read, what reached the lake, what erred."""
    poller = stack.poller_report()
    delivery = stack.delivery_report()
    return {
        "events_read": ingest.stats.events_read,
        "posts": ingest.stats.posts,
        "deletes": ingest.stats.deletes,
        "malformed": ingest.stats.malformed,
        "skipped": sum(ingest.stats.skipped.values()),
        # events_read = posts + deletes + account_events + malformed + skipped
        "account_events": sum(ingest.stats.account_events.values()),
        "scored": poller.scored,
        "fraud": poller.fraud,
        "tagged": poller.tagged,
        "verdict_updates": poller.verdict_updates,
        "account_records": poller.account_records,  # lake_rows = tagged + verdict_updates + these
        "lake_rows": delivery.rows_written,
        "lake_files": delivery.files_written,
        "labels_published": stack.labels_report().labels,
        "error_records": ingest.errors.written + poller.errors_written + delivery.errors_written,
    }


WORKERS_OPTION = click.option(
    "--workers",
    type=click.Choice(["threads", "processes"]),
    default=None,
    help="Run the poller and the delivery as threads or as child processes (default: processes on >1 core).",
)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--until-drained", is_flag=True, help="Exit only when every record is in the lake.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of counts at the end.")
@click.option(
    "--speed", type=float, default=None, help="Recorded speed x this factor (default: as fast as possible)."
)
@click.option("--max-events", type=int, default=None, help="Stop after this many events.")
@click.option(
    "--accounts/--no-accounts",
    default=None,
    help="Also replay profile, follow, identity and account events (as `ingest --accounts`). "
    "Default: the ingest_accounts setting (on locally, off on AWS: docs/accounts.md).",
)
@WORKERS_OPTION
@settings_options
def replay(
    settings: Settings,
    file: Path,
    until_drained: bool,
    as_json: bool,
    speed: float | None,
    max_events: int | None,
    accounts: bool | None,
    workers: str | None,
) -> None:
    """Replay a Jetstream capture (JSONL or JSONL.zst) through the whole path into the lake."""
    from fraud_pipeline.media.blob_server import serve_capture_blobs
    from fraud_pipeline.provision import provision as run_provision
    from fraud_pipeline.workers.stack import Stack, default_mode

    run_provision(settings)
    settings, blob_server = serve_capture_blobs(settings, file)  # a synth capture's images: the CDN
    stack = Stack(settings, mode=workers or default_mode(), delivery_buffer_seconds=1.0)  # type: ignore[arg-type]
    stack.start()
    if not stack.wait_ready():
        raise click.ClickException("the poller or the delivery did not start (see the log above)")
    ingest = IngestSession(settings, accounts=accounts)
    started = time.monotonic()

    def describe() -> str:
        return (
            f"replaying: {ingest.stats.events_read:,} events read, "
            f"{stack.delivery_report().rows_written:,} rows in the lake"
        )

    try:
        with live_line(describe, enabled=not as_json):
            ingest.run(ingest.events(SourceOptions("replay", capture=file, speed=speed)), max_events)
        if ingest.failure is not None:
            raise click.ClickException(f"ingest failed: {ingest.failure}")
        if until_drained:
            with live_line(lambda: describe().replace("replaying", "draining"), enabled=not as_json):
                drained = stack.wait_drained(timeout=3600)
            if not drained:
                raise click.ClickException("the pipeline did not drain within an hour")
    finally:
        stack.stop()
        if blob_server is not None:
            blob_server.stop()
    summary = _lake_summary(stack, ingest)
    summary["elapsed_s"] = round(time.monotonic() - started, 3)
    stack.close()
    ingest.close()
    if as_json:
        echo_json(summary)
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in summary.items()))


class Progress:
    """One live line: events/s, scored/s, fraud %, lag, errors."""

    def __init__(self, stack: Any, ingest: IngestSession) -> None:
        self.stack = stack
        self.ingest = ingest
        self._last = (time.monotonic(), 0, 0)

    def line(self) -> str:
        now = time.monotonic()
        poller = self.stack.poller_report()
        delivery = self.stack.delivery_report()
        events = self.ingest.stats.events_read
        scored = poller.scored
        then, events_before, scored_before = self._last
        elapsed = max(now - then, 1e-6)
        self._last = (now, events, scored)
        fraud_pct = 100.0 * poller.fraud / scored if scored else 0.0
        lag = max(0, self.ingest.producer.stats.put - poller.records_in)
        errors = (
            self.ingest.stats.malformed
            + poller.undecodable
            + poller.dead_lettered
            + delivery.conversion_errors
        )
        return (
            f"events {events:,} ({(events - events_before) / elapsed:,.0f}/s) | "
            f"scored {scored:,} ({(scored - scored_before) / elapsed:,.0f}/s) | "
            f"fraud {fraud_pct:.1f}% | lag {lag:,} | lake {delivery.rows_written:,} | errors {errors:,}"
        )


@click.command()
@click.option("--live", is_flag=True, help="Ingest live from Jetstream instead of the bundled capture.")
@click.option(
    "--capture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Capture to replay (default: the bundled one).",
)
@click.option(
    "--speed",
    type=float,
    default=10.0,
    show_default=True,
    help="Replay at recorded speed x this factor (0 = as fast as possible).",
)
@click.option(
    "--dagster/--no-dagster",
    default=True,
    show_default=True,
    help="Start the Dagster webserver and daemon on the same home.",
)
@click.option("--dashboard/--no-dashboard", default=True, show_default=True, help="Start the live dashboard.")
@click.option("--dashboard-port", type=int, default=8050, show_default=True)
@click.option("--dagster-port", type=int, default=3000, show_default=True)
@WORKERS_OPTION
@settings_options
def up(
    settings: Settings,
    live: bool,
    capture: Path | None,
    speed: float,
    dagster: bool,
    dashboard: bool,
    dashboard_port: int,
    dagster_port: int,
    workers: str | None,
) -> None:
    """Run the whole pipeline: provision, ingest, score, deliver, Dagster and the dashboard.

    Ctrl-C drains what is in flight and stops cleanly; a second `up` continues from the
    checkpoints (the replay position included) and the lake is still there.
    """
    from fraud_pipeline.provision import provision as run_provision
    from fraud_pipeline.workers.services import request_stop, restart_exited, start_services, stop_services
    from fraud_pipeline.workers.stack import Stack, default_mode

    click.echo(
        f"provisioning on the {settings.backend} backend (home {Path(settings.home).resolve()})", err=True
    )
    run_provision(settings)
    blob_server = None
    if not live:  # a synth capture's drawn images, served as the CDN (docs/media.md)
        from fraud_pipeline.media.blob_server import serve_capture_blobs

        settings, blob_server = serve_capture_blobs(settings, capture or BUNDLED_CAPTURE)
        if blob_server is not None:
            click.echo(f"blob server (the CDN of {capture or BUNDLED_CAPTURE}): {blob_server.url}", err=True)
    stack = Stack(
        settings,
        mode=workers or default_mode(),  # type: ignore[arg-type]
        delivery_buffer_seconds=min(settings.delivery_buffer_seconds, 10),
    )
    ingest = IngestSession(settings)
    state = ingest.state
    replay_key = None
    if live:
        options = SourceOptions("jetstream")
    else:
        capture = capture or BUNDLED_CAPTURE
        replay_key = f"ingest/replay/{capture.name}"
        already = int(state.get_checkpoint(replay_key) or 0)
        if already:
            click.echo(f"resuming the replay of {capture.name} after {already:,} events", err=True)
        # Rebased to the wall clock so the dashboard shows the replay as live traffic.
        options = SourceOptions("replay", capture=capture, speed=speed or None, rebase=True, skip=already)
    try:
        events = ingest.events(options)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from exc
    stack.start()
    if not stack.wait_ready():
        stack.close()
        raise click.ClickException("the poller or the delivery did not start (see the log above)")
    services = start_services(
        settings,
        dagster=dagster,
        dashboard=dashboard,
        dagster_port=dagster_port,
        dashboard_port=dashboard_port,
    )
    thread = ingest.start(events)
    progress = Progress(stack, ingest)
    replay_done_said = False
    # The drain stays covered too: a repeated SIGTERM must not cut it short.
    with termination_as_interrupt():
        try:
            while True:
                time.sleep(1.0)
                sys.stderr.write("\r" + progress.line() + "   ")
                sys.stderr.flush()
                if ingest.failure is not None:
                    raise click.ClickException(f"ingest failed: {ingest.failure}")
                if not stack.alive():
                    raise click.ClickException("the poller or the delivery died (see the log above)")
                restart_exited(services, settings)
                if ingest.done.is_set() and not replay_done_said:
                    replay_done_said = True
                    click.echo("\nreplay finished; the stack keeps running (Ctrl-C to stop)", err=True)
        except KeyboardInterrupt as interrupt:
            click.echo(f"\nstopping{stop_reason(interrupt)}: draining what is in flight...", err=True)
        finally:
            request_stop(services)  # Dagster and the dashboard stop while the stack drains
            ingest.stop.set()
            thread.join(30)
            if replay_key is not None:
                previous = int(state.get_checkpoint(replay_key) or 0)
                state.put_checkpoint(replay_key, str(previous + ingest.stats.events_read))
            stack.wait_scored(timeout=60)
            stack.stop()  # the delivery and the labels worker flush what the poller wrote last
            if blob_server is not None:
                blob_server.stop()
            stop_services(services)
            summary = _lake_summary(stack, ingest)
            stack.close()
            ingest.close()
            click.echo(" ".join(f"{k}={v}" for k, v in summary.items()), err=True)
    exit_without_teardown()  # all saved and closed; the stop budget is 5 s


@click.command()
@click.option("--once", is_flag=True, help="One pass over the shards, then exit.")
@settings_options
def poll(settings: Settings, once: bool) -> None:
    """Run only the event-source-mapping poller (untagged stream -> handler)."""
    _run_worker(settings, "poller", once)


@click.command()
@click.option("--once", is_flag=True, help="Read what is there, flush, then exit.")
@settings_options
def deliver(settings: Settings, once: bool) -> None:
    """Run only the Firehose-equivalent delivery (tagged stream -> Parquet lake)."""
    _run_worker(settings, "delivery", once)


def _run_worker(settings: Settings, which: str, once: bool) -> None:
    from fraud_pipeline.workers.stack import build_delivery, build_poller

    stop = threading.Event()
    if which == "poller":
        poller, runtime = build_poller(settings)
        if once:
            while poller.poll_once(force=True) or poller.pending():
                pass
            runtime.close()
            return
        with termination_as_interrupt():
            try:
                poller.run(stop)
            except KeyboardInterrupt:
                stop.set()
                poller.run(stop)  # returns at once after draining what it holds
            runtime.close()
        return
    delivery = build_delivery(settings)
    if once:
        read_before = -1
        while delivery.stats.records_in != read_before:
            read_before = delivery.stats.records_in
            delivery.poll_once()
        delivery.flush()
        return
    with termination_as_interrupt():
        try:
            delivery.run(stop)
        except KeyboardInterrupt:
            stop.set()
            delivery.run(stop)  # reads what is left and flushes
