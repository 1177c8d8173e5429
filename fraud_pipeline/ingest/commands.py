"""`fraud-pipeline ingest` and `fraud-pipeline synth`.

`ingest` runs one source -> normalizer -> producer into `settings.untagged_stream` until
the source ends, `--max-events` is reached or Ctrl-C (then it drains the producer), with a
progress line on stderr and a JSON summary on stdout. Malformed events go to the errors
prefix of the object store (`errors/ingest/...`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from fraud_pipeline.bundled import bundled_path
from fraud_pipeline.cli_options import echo_json, settings_options
from fraud_pipeline.settings import Settings
from fraud_pipeline.shutdown import stop_reason, termination_as_interrupt

DEFAULT_TEXTS = bundled_path("data/labeled/train.jsonl")


@click.command()
@click.option(
    "--source",
    type=click.Choice(["jetstream", "firehose", "replay"]),
    default="replay",
    show_default=True,
    help="Where events come from.",
)
@click.option("--url", default=None, help="Jetstream subscribe URL or firehose base URI (wss://.../xrpc).")
@click.option(
    "--file",
    "capture",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Capture for --source replay (JSONL or JSONL.zst); default the bundled one.",
)
@click.option(
    "--speed",
    type=float,
    default=0.0,
    show_default=True,
    help="Replay pace: recorded speed times this factor; 0 = as fast as possible.",
)
@click.option("--rebase/--no-rebase", default=False, help="Replay: rewrite time_us to now (looks live).")
@click.option("--max-events", type=int, default=None, help="Stop after this many events.")
@click.option("--compress/--no-compress", default=False, help="Jetstream: ask for zstd frames.")
@click.option(
    "--zstd-dictionary",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Jetstream's zstd dictionary file (needed with --compress on the public hosts).",
)
@click.option(
    "--accounts/--no-accounts",
    default=None,
    help="Also put profile, follow, identity and account events on the stream (account verdicts). "
    "Default: the ingest_accounts setting (on locally, off on AWS: docs/accounts.md).",
)
@settings_options
def ingest(
    settings: Settings,
    source: str,
    url: str | None,
    capture: Path | None,
    speed: float,
    rebase: bool,
    max_events: int | None,
    compress: bool,
    zstd_dictionary: Path | None,
    accounts: bool | None,
) -> None:
    """Read events from SOURCE, normalize them and put the posts on the untagged stream."""
    from fraud_pipeline.ingest.session import IngestSession, NoCapture, SourceOptions
    from fraud_pipeline.streams import StreamError

    try:
        session = IngestSession(settings, accounts=accounts)
    except StreamError as exc:
        raise click.ClickException(str(exc)) from exc
    options = SourceOptions(source, url, capture, speed or None, rebase, 0, compress, zstd_dictionary)
    try:
        events = session.events(options)
    except NoCapture as exc:
        raise click.ClickException(str(exc)) from exc
    stats, producer = session.stats, session.producer
    thread = session.start(events, max_events)
    with termination_as_interrupt():  # `docker stop` / an ECS task stop drains like Ctrl-C
        try:
            while thread.is_alive():
                thread.join(1.0)
                sys.stderr.write(
                    f"\revents {stats.events_read:,}  posts {stats.posts:,}  deletes {stats.deletes:,}  "
                    f"skipped {sum(stats.skipped.values()):,}  malformed {stats.malformed:,}  "
                    f"put {producer.stats.put:,}  retried {producer.stats.retried:,}   "
                )
                sys.stderr.flush()
        except KeyboardInterrupt as interrupt:
            click.echo(f"\nstopping{stop_reason(interrupt)}: draining the producer...", err=True)
        finally:
            session.stop.set()
            thread.join(30)
            session.close()
    sys.stderr.write("\n")
    summary = stats.as_dict()
    summary["producer"] = {
        "put": producer.stats.put,
        "retried": producer.stats.retried,
        "failed": producer.stats.failed,
        "batches": producer.stats.batches,
    }
    summary["error_records"] = session.errors.written
    echo_json(summary)
    if session.failure is not None:
        raise click.ClickException(f"ingest failed: {session.failure}")


@click.command()
@click.option("--events", "count", type=int, default=20_000, show_default=True, help="Events to generate.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--texts",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    multiple=True,
    help="Labeled JSONL ({text,label}); repeatable. Default data/labeled/train.jsonl.",
)
@click.option("--rate", type=float, default=50.0, show_default=True, help="Mean events per second (Poisson).")
@click.option(
    "--start-us",
    type=int,
    default=None,
    help="time_us of the stream's start (default a fixed date, so a seed is reproducible).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output JSONL, zstd-compressed when it ends in .zst; labels go beside it.",
)
@click.option(
    "--images",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Draw this many scam and benign images for the image posts (written to <out>.blobs/, "
    "served by `up` and `replay` as the CDN); 0 = made-up blob CIDs.",
)
@click.option(
    "--blob-recipe",
    is_flag=True,
    help="With --images: write how to draw the images again (<out>.blobs.json, a few kB) instead "
    "of the images; `up` and `replay` draw them at their first start (the bundled capture).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
def synth(
    count: int,
    seed: int,
    texts: tuple[Path, ...],
    rate: float,
    start_us: int | None,
    out: Path,
    images: int,
    blob_recipe: bool,
    as_json: bool,
) -> None:
    """Generate a synthetic Jetstream capture (with labels) from labeled texts."""
    from fraud_pipeline.ingest.synth import DEFAULT_START_US, load_texts, write_capture
    from fraud_pipeline.progress import progress_bar

    started = time.monotonic()
    rows = load_texts(texts or (DEFAULT_TEXTS,))
    try:
        with progress_bar("synthesizing", total=count, enabled=not as_json) as advance:
            summary = write_capture(
                out,
                rows,
                count,
                seed=seed,
                rate=rate,
                start_us=start_us if start_us is not None else DEFAULT_START_US,
                progress=advance,
                images=images,
                blob_recipe=blob_recipe,
            )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if not as_json:
        click.echo(
            f"wrote {summary.events:,} events ({summary.posts:,} posts, {summary.fraud_posts:,} fraud, "
            f"{summary.campaigns} campaigns) to {summary.out}; labels in {summary.labels} "
            f"({time.monotonic() - started:.1f} s)"
        )
        return
    echo_json(
        {
            "events": summary.events,
            "posts": summary.posts,
            "fraud_posts": summary.fraud_posts,
            "campaigns": summary.campaigns,
            "benign_groups": summary.benign_groups,
            "out": str(summary.out),
            "labels": str(summary.labels),
            "blobs": str(summary.blobs) if summary.blobs else None,
            "images": summary.images,
            "seconds": round(time.monotonic() - started, 2),
        }
    )
