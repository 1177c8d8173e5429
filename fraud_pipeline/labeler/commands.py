"""`fraud-pipeline labeler` (the service, its key, its service record) and `fraud-pipeline labels`
(human overrides and listing)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime
from typing import Any

import click

from fraud_pipeline.cli_options import echo_json, settings_options
from fraud_pipeline.settings import Settings
from fraud_pipeline.shutdown import stop_reason, termination_as_interrupt

LOCAL_DOMAINS = ("localhost", "127.0.0.1")
SERVICE_ENDPOINT_META = "service_endpoint"


def service_endpoint(settings: Settings, host: str, port: int) -> str:
    """Where clients reach the service: https on its domain, or this host:port locally."""
    if settings.labeler_domain in LOCAL_DOMAINS:
        return f"http://{host}:{port}"
    return f"https://{settings.labeler_domain}"


def public_multikey(settings: Settings, store: Any) -> str:
    """The public key labels are signed with: as the labels worker recorded it in the store
    (so the service needs no access to the private key), else from the key store."""
    from fraud_pipeline.labeler.keys import open_key_store
    from fraud_pipeline.labeler.worker import SIGNING_KEY_META

    recorded = store.get_meta(SIGNING_KEY_META)
    if recorded:
        return str(recorded)
    multikey = open_key_store(settings).load_or_create().multikey
    store.set_meta(SIGNING_KEY_META, multikey)
    return multikey


async def _serve(settings: Settings, host: str, port: int) -> None:
    from fraud_pipeline.labeler.server import LabelerService
    from fraud_pipeline.labeler.store import open_label_store

    store = open_label_store(settings)
    multikey = public_multikey(settings, store)
    service = LabelerService(
        store, settings.labeler_did, service_endpoint(settings, host, port), lambda: multikey
    )
    bound = await service.start(host, port)
    # Where `fraud-pipeline status` finds this service's health (head, subscribers).
    store.set_meta(SERVICE_ENDPOINT_META, service_endpoint(settings, host, bound))
    click.echo(
        f"labeler: {settings.labeler_did} on ws://{host}:{bound}/xrpc/com.atproto.label.subscribeLabels "
        f"(head {service.head})",
        err=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await service.stop()
        store.close()


@click.group(invoke_without_command=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True)
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 in a container)."
)
@settings_options
@click.pass_context
def labeler(ctx: click.Context, settings: Settings, port: int, host: str) -> None:
    """Serve signed labels: subscribeLabels, queryLabels and the did:web document."""
    ctx.obj = settings
    if ctx.invoked_subcommand is not None:
        return
    try:
        with termination_as_interrupt():
            asyncio.run(_serve(settings, host, port))
    except KeyboardInterrupt as interrupt:
        click.echo(f"labeler: stopped{stop_reason(interrupt)}", err=True)


@labeler.group()
def key() -> None:
    """The labeler's signing key."""


@key.command("show")
@click.pass_obj
def key_show(settings: Settings) -> None:
    """Print the public signing key as a did:key (creating the key on first use)."""
    from fraud_pipeline.labeler.keys import open_key_store

    click.echo(open_key_store(settings).load_or_create().did_key)


def service_record(now: datetime | None = None) -> dict[str, Any]:
    """The `app.bsky.labeler.service` record for the label values in the detection policy."""
    from fraud_pipeline.labeler.definitions import load_label_policy

    policy = load_label_policy()
    definitions = policy.definitions()
    return {
        "$type": "app.bsky.labeler.service",
        "policies": {
            "labelValues": [d["identifier"] for d in definitions],
            "labelValueDefinitions": definitions,
        },
        "subjectTypes": ["record"],
        "subjectCollections": ["app.bsky.feed.post"],
        "createdAt": (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


@labeler.command("service-record")
def service_record_command() -> None:
    """Print the app.bsky.labeler.service record to publish from the labeler's account."""
    echo_json(service_record())


@click.group()
def labels() -> None:
    """Published labels: list them, negate one by hand."""


@labels.command()
@settings_options
def work(settings: Settings) -> None:
    """Run the labels worker alone (on AWS: the labeler's ECS task; locally `up` runs it)."""
    import threading

    from fraud_pipeline.labeler.worker import build_labels_worker

    worker = build_labels_worker(settings)
    stop = threading.Event()
    click.echo(
        f"labels worker: {settings.tagged_stream} -> label store (src {settings.labeler_did})", err=True
    )
    try:
        with termination_as_interrupt():
            worker.run(stop)
    except KeyboardInterrupt as interrupt:
        stop.set()
        while worker.poll_once():  # finish what was read; positions are stored with the labels
            pass
        worker.export_safely()
        click.echo(f"labels worker: stopped{stop_reason(interrupt)} ({worker.stats})", err=True)


@labels.command()
@click.argument("uri")
@click.option("--val", required=True, help="The published label value to take back.")
@click.option("--reason", required=True, help="Why (kept with the override).")
@click.option(
    "--by",
    "made_by",
    default=None,
    help="Who is making the override (kept with it, shown on the dashboard); default: your OS user "
    "name (getpass.getuser()).",
)
@settings_options
def negate(settings: Settings, uri: str, val: str, reason: str, made_by: str | None) -> None:
    """Publish a negation of URI's label VAL and keep the worker from labelling it again."""
    from fraud_pipeline.labeler.definitions import load_label_policy
    from fraud_pipeline.labeler.keys import open_key_store
    from fraud_pipeline.labeler.labels import Label, atproto_datetime
    from fraud_pipeline.labeler.store import Override, open_label_store

    if not uri.startswith("at://"):
        raise click.BadParameter("must be an at:// URI", param_hint="URI")
    published = load_label_policy().spec.values
    if val not in published:
        raise click.BadParameter(f"not a published value; one of {sorted(published)}", param_hint="--val")
    if not reason.strip():
        raise click.BadParameter("give a reason", param_hint="--reason")
    actor = (made_by if made_by is not None else _os_user()).strip()
    if not actor:
        raise click.BadParameter("give a name", param_hint="--by")
    store = open_label_store(settings)
    now = datetime.now(UTC)
    current = store.active([uri]).get((uri, val))
    negations = []
    if current is not None and not current.neg:
        signer = open_key_store(settings).load_or_create()
        label = Label(settings.labeler_did, uri, val, atproto_datetime(now), current.cid, neg=True)
        negations.append(label.signed(signer))
    seqs = store.append(
        negations, overrides=[Override(uri, val, reason.strip(), atproto_datetime(now), actor)]
    )
    store.close()
    echo_json(
        {
            "uri": uri,
            "val": val,
            "negated": bool(seqs),
            "seq": seqs[0] if seqs else None,
            "override": True,
            "made_by": actor,
        }
    )


def _os_user() -> str:
    """The OS user running the command: who made an override when `--by` is not given."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        return ""


@labels.command("list")
@click.option("--uri", "pattern", default=None, help="An at:// URI, or a prefix ending in '*'.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--overrides", "show_overrides", is_flag=True, help="List the human overrides instead.")
@settings_options
def list_labels(settings: Settings, pattern: str | None, limit: int, show_overrides: bool) -> None:
    """The current labels (newest last), or the overrides."""
    from fraud_pipeline.labeler.labels import label_json
    from fraud_pipeline.labeler.store import MAX_PAGE, open_label_store

    store = open_label_store(settings)
    if show_overrides:
        echo_json({"overrides": [dataclasses.asdict(o) for o in store.list_overrides()]})
        store.close()
        return
    rows: list[Any] = []
    if pattern:
        after = 0
        while len(rows) < limit:
            page = store.query([pattern], None, after, min(MAX_PAGE, limit - len(rows)))
            if not page:
                break
            rows.extend(page)
            after = page[-1].seq
    else:
        rows = store.after(max(0, store.head() - limit), limit)
    echo_json({"labels": [{"seq": r.seq, **label_json(r.cbor)} for r in rows]})
    store.close()
