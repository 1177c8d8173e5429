"""The labeler's commands: the service restarts and the worker restarts resume with no gap and no
duplicate; `labels negate` publishes a negation and holds; `labeler key show`; `labels list`."""

from __future__ import annotations

import getpass
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from atproto_crypto.did import format_did_key_multikey
from click.testing import CliRunner

from fraud_pipeline.cli import main
from fraud_pipeline.settings import Settings
from tests.conftest import free_port
from tests.labeler_fixtures import drain, http_get, post_uri, put_tagged, verdict, worker_for
from tests.test_labeler_service import _collect

ROOT = Path(__file__).resolve().parents[1]


def _start_service(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fraud_pipeline.cli",
            "labeler",
            "--port",
            str(port),
            "--home",
            str(settings.home),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http_get(port, "/xrpc/_health")[0] == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the labeler did not start: {process.stderr.read() if process.stderr else ''!r}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def _run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return result


def test_cursors_resume_across_service_and_worker_restarts(local_settings: Settings) -> None:
    put_tagged(local_settings, [verdict(i) for i in range(10)])
    drain(worker_for(local_settings))
    port = free_port()
    service = _start_service(local_settings, port)
    try:
        first = _collect(port, 0, 10)
        did_document = http_get(port, "/.well-known/did.json")[1]
    finally:
        _stop(service)
    assert [b["seq"] for b in first] == list(range(1, 11))
    # the worker restarts (a new process would do the same: positions live in the label store)
    put_tagged(local_settings, [verdict(i) for i in range(5, 20)])  # 5..9 again: no new labels
    drain(worker_for(local_settings))
    service = _start_service(local_settings, port)
    try:
        resumed = _collect(port, first[-1]["seq"], 10)
        assert http_get(port, "/.well-known/did.json")[1] == did_document  # same key after restart
    finally:
        _stop(service)
    assert [b["seq"] for b in resumed] == list(range(11, 21))
    assert [b["labels"][0]["uri"] for b in resumed] == [post_uri(i) for i in range(10, 20)]
    key_file = local_settings.labeler_key_path
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    shown = _run("labeler", "--home", str(local_settings.home), "key", "show").output.strip()
    assert shown == format_did_key_multikey(did_document["verificationMethod"][0]["publicKeyMultibase"])


def test_negate_publishes_a_negation_and_the_worker_does_not_relabel(local_settings: Settings) -> None:
    home = str(local_settings.home)
    put_tagged(local_settings, [verdict(1), verdict(2)])
    drain(worker_for(local_settings))
    result = _run(
        "labels", "negate", post_uri(1), "--val", "scam", "--reason", "support ticket 42", "--home", home
    )
    assert orjson.loads(result.output) == {
        "uri": post_uri(1),
        "val": "scam",
        "negated": True,
        "seq": 3,
        "override": True,
        "made_by": getpass.getuser(),  # no --by: the OS user
    }
    put_tagged(local_settings, [verdict(1, labels=["crypto-scam"])])  # a re-score says label again
    worker = worker_for(local_settings)
    drain(worker)
    assert worker.store.head() == 3 and worker.stats.overridden == 1
    listed = orjson.loads(_run("labels", "list", "--uri", post_uri(1), "--home", home).output)["labels"]
    assert [(row["seq"], row.get("neg")) for row in listed] == [(3, True)]
    everything = orjson.loads(_run("labels", "list", "--home", home).output)["labels"]
    assert [row["seq"] for row in everything] == [1, 2, 3]
    overrides = orjson.loads(_run("labels", "list", "--overrides", "--home", home).output)["overrides"]
    assert [(o["uri"], o["reason"], o["made_by"]) for o in overrides] == [
        (post_uri(1), "support ticket 42", getpass.getuser())
    ]
    by = _run(
        "labels", "negate", post_uri(2), "--val", "scam", "--reason", "t 43", "--by", "ana", "--home", home
    )
    assert orjson.loads(by.output)["made_by"] == "ana"
    overrides = orjson.loads(_run("labels", "list", "--overrides", "--home", home).output)["overrides"]
    assert {o["uri"]: o["made_by"] for o in overrides}[post_uri(2)] == "ana"
    blank = CliRunner().invoke(
        main, ["labels", "negate", post_uri(2), "--val", "scam", "--reason", "x", "--by", " ", "--home", home]
    )
    assert blank.exit_code == 2 and "give a name" in blank.output
    bad = CliRunner().invoke(
        main, ["labels", "negate", post_uri(2), "--val", "nope", "--reason", "x", "--home", home]
    )
    assert bad.exit_code == 2 and "not a published value" in bad.output
    assert os.path.exists(local_settings.labels_path)


def test_replay_runs_the_labels_worker_beside_the_delivery(local_settings: Settings) -> None:
    """`replay` drains the labels worker too: every post whose last verdict is `label` carries an
    active label, every other post none, and the labels are in the lake's labels/ prefix."""
    import pyarrow.dataset as ds

    from fraud_pipeline.labeler.store import SqliteLabelStore
    from fraud_pipeline.objects import ObjectStore

    capture = ROOT / "data" / "replay" / "capture.jsonl.zst"
    home = str(local_settings.home)
    result = _run(
        "replay",
        str(capture),
        "--until-drained",
        "--json",
        "--max-events",
        "2500",
        "--workers",
        "threads",
        "--home",
        home,
    )
    summary = orjson.loads(result.output[result.output.index("{") :])
    objects = ObjectStore.from_settings(local_settings)
    posts = ds.dataset(objects.path(local_settings.posts_prefix), filesystem=objects.fs, format="parquet")
    rows = posts.to_table(columns=["uri", "action", "scored_at_us", "operation"]).to_pylist()
    last: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: r["scored_at_us"] or 0):
        if row["operation"] != "delete":
            last[row["uri"]] = row["action"]
    store = SqliteLabelStore(local_settings.labels_path)
    uris = {stored.uri for stored in store.after(0, 100_000)}
    # Posts' labels (account labels, on DIDs, come from the replayed account events).
    labelled = {
        uri
        for (uri, _val), active in store.active(uris).items()
        if not active.neg and uri.startswith("at://")
    }
    expected = {uri for uri, action in last.items() if action == "label"}
    assert expected and labelled == expected
    assert summary["labels_published"] >= len(expected)
    lake_labels = ds.dataset(
        objects.path(local_settings.labels_prefix), filesystem=objects.fs, format="parquet"
    )
    assert lake_labels.count_rows() == store.head()


def test_labels_work_runs_the_worker_until_sigterm(local_settings: Settings) -> None:
    from fraud_pipeline.labeler.store import SqliteLabelStore

    put_tagged(local_settings, [verdict(i) for i in range(5)])
    process = subprocess.Popen(
        [sys.executable, "-m", "fraud_pipeline.cli", "labels", "work", "--home", str(local_settings.home)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    store = SqliteLabelStore(local_settings.labels_path)
    deadline = time.monotonic() + 60
    while store.head() < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    put_tagged(local_settings, [verdict(7, action="none"), verdict(3, action="none")])
    while store.head() < 6 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert [(s.uri, s.neg) for s in store.after(0, 10)][-1] == (post_uri(3), True)
    assert store.head() == 6
