"""The dashboard's HTTP API, over real HTTP on 127.0.0.1: local backend, aws backend (moto), the CLI."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fraud_pipeline.dashboard.app import PACKAGE_DIR, DashboardState, running
from fraud_pipeline.settings import Settings
from fraud_pipeline.workers.services import child_environment
from tests.conftest import free_port
from tests.dashboard_fixtures import TOP_DOMAINS, build_warehouse, fill_metrics, tagged, utc, write_lake_file


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            body = response.read()
            status = response.status
            kind = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        body, status, kind = exc.read(), exc.code, exc.headers.get("Content-Type", "")
    return status, json.loads(body) if kind.startswith("application/json") else body.decode()


@pytest.fixture()
def served(local_settings: Settings) -> Iterator[tuple[str, Settings]]:
    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        yield url, local_settings
    state.close()


def test_page_and_static_files_load_nothing_from_the_internet(served: tuple[str, Settings]) -> None:
    url, _ = served
    status, page = get(url + "/")
    assert status == 200 and '"backend":"local"' in page
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert ref.startswith(("/static/", "data:")), ref
        if ref.startswith("/static/"):
            assert get(url + ref)[0] == 200
    for path in (PACKAGE_DIR / "static").iterdir():
        if not path.is_file():  # static/vendor/: third-party libraries, served as published
            continue
        text = path.read_text(encoding="utf-8")
        # The one URL allowed: the analyst views' links to a post or account on Bluesky (a
        # navigation the analyst chooses, in a new tab; nothing is loaded from there).
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg|bsky\.app/profile/)", text), path.name
        assert "innerHTML" not in text  # post texts are attacker-written: text nodes only


def test_api_serves_live_numbers_and_tables(served: tuple[str, Settings]) -> None:
    url, settings = served
    now_ms = int(time.time() * 1000)
    truth = fill_metrics(settings, now_ms, seconds=90)
    build_warehouse(Path(settings.warehouse_path))
    rng = random.Random(11)
    now_us = now_ms * 1000
    records = [tagged(rng, now_us - i * 1_000_000, fraud=i < 4, text=f"giveaway {i}") for i in range(8)]
    write_lake_file(settings, records, utc(now_us))

    status, health = get(url + "/healthz")
    assert status == 200 and health["status"] == "ok" and health["warehouse"]["exists"] is True

    status, spec = get(url + "/api/widgets")
    assert status == 200 and spec["widgets"][0]["key"] == "raw_metrics"

    status, summary = get(f"{url}/api/summary?range=300&end={now_ms}")
    cards = {c["id"]: c for c in summary["cards"]}
    assert status == 200
    assert cards["processed"]["range_value"] == truth.total("Post-Processed", now_ms - 300_000, now_ms)
    assert cards["is_fraud"]["last_minute_value"] == truth.total("Post-Is-Fraud", now_ms - 60_000, now_ms)

    status, series = get(f"{url}/api/series?widget=raw_metrics&range=120&end={now_ms}")
    assert status == 200 and series["period_s"] == 1
    by_id = {s["id"]: s for s in series["series"]}
    for i, ts in enumerate(series["timestamps"]):
        processed = truth.per_second["Post-Processed"].get(ts)
        fraud = truth.per_second["Post-Is-Fraud"].get(ts)
        assert by_id["not_fraud"]["values"][i] == (None if processed is None else processed - fraud)

    status, listing = get(url + "/api/tables")
    keys = [t["key"] for t in listing["tables"]]
    assert status == 200 and keys[0] == "recent_fraud_posts" and "top_fraud_domains" in keys

    status, domains = get(url + "/api/tables/top_fraud_domains?limit=2")
    assert status == 200 and [r[0] for r in domains["rows"]] == [d for d, _, _ in TOP_DOMAINS[:2]]

    status, recent = get(url + "/api/tables/recent_fraud_posts")
    text_col = recent["columns"].index("text")
    assert status == 200 and [r[text_col] for r in recent["rows"]] == [f"giveaway {i}" for i in range(4)]

    status, campaigns = get(url + "/api/tables/fraud_campaigns")
    assert status == 200 and campaigns["status"] == "not_built"
    assert campaigns["message"] == "not built yet: run `fraud-pipeline backfill`"


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/series", 400, "missing query parameter 'widget'"),
        ("/api/series?widget=raw_metrics&range=abc", 400, "range must be an integer"),
        ("/api/series?widget=raw_metrics&range=5", 400, "range must be between"),
        ("/api/series?widget=nope", 404, "unknown widget 'nope'"),
        ("/api/summary?range=99999999", 400, "range must be between"),
        ("/api/summary?end=99999999999999999999999999", 400, "end must be epoch milliseconds"),
        ("/api/series?widget=raw_metrics&end=-5", 400, "end must be epoch milliseconds"),
        ("/api/tables/nope", 404, "unknown table 'nope'"),
        ("/api/tables/top_fraud_domains?limit=0", 400, "limit must be between"),
        ("/api/tables/recent_fraud_posts?limit=x", 400, "limit must be an integer"),
        ("/api/nothing", 404, "Not Found"),
    ],
)
def test_bad_requests_get_4xx_with_a_message(
    served: tuple[str, Settings], path: str, status: int, message: str
) -> None:
    url, _ = served
    got_status, body = get(url + path)
    assert got_status == status and message in body["error"]


def test_tables_before_anything_is_built(served: tuple[str, Settings]) -> None:
    url, _ = served
    for key in ("fraud_summary", "score_drift"):
        status, body = get(f"{url}/api/tables/{key}")
        assert (
            status == 200 and body["status"] == "not_built" and "fraud-pipeline backfill" in body["message"]
        )
    status, body = get(url + "/api/tables/recent_fraud_posts")
    assert status == 200 and body["status"] == "empty"


def test_broken_metrics_store_fails_one_endpoint_not_the_server(local_settings: Settings) -> None:
    Path(local_settings.metrics_path).mkdir(parents=True)  # a folder where the SQLite file should be
    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        status, body = get(url + "/api/series?widget=raw_metrics")
        assert status == 502 and "metrics" in body["error"]
        assert get(url + "/api/summary")[0] == 502
        assert get(url + "/healthz")[0] == 200
        assert get(url + "/api/tables/fraud_summary")[1]["status"] == "not_built"
    state.close()


def test_corrupt_warehouse_is_reported_not_fatal(local_settings: Settings) -> None:
    Path(local_settings.warehouse_path).parent.mkdir(parents=True, exist_ok=True)
    Path(local_settings.warehouse_path).write_bytes(b"this is not a duckdb file" * 100)
    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        status, body = get(url + "/api/tables/fraud_summary")
        assert status == 200 and body["status"] in {"busy", "error"} and body["message"]
        assert get(url + "/healthz")[0] == 200
    state.close()


@pytest.mark.moto
def test_aws_backend_reads_cloudwatch_and_the_s3_lake(aws_settings: Settings) -> None:
    now_ms = int(time.time() * 1000)
    truth = fill_metrics(aws_settings, now_ms, seconds=30)
    rng = random.Random(2)
    write_lake_file(
        aws_settings, [tagged(rng, now_ms * 1000, fraud=True, text="s3 scam")], utc(now_ms * 1000)
    )
    state = DashboardState(aws_settings)
    with running(state, free_port()) as url:
        status, summary = get(f"{url}/api/summary?range=300&end={now_ms}")
        cards = {c["id"]: c for c in summary["cards"]}
        assert status == 200
        assert cards["processed"]["range_value"] == truth.total("Post-Processed", now_ms - 300_000, now_ms)
        status, recent = get(url + "/api/tables/recent_fraud_posts")
        assert status == 200 and recent["rows"][0][recent["columns"].index("text")] == "s3 scam"
    state.close()


def test_cli_serves_on_127_0_0_1_with_the_childs_environment(local_settings: Settings) -> None:
    """`fraud-pipeline up` starts `fraud-pipeline dashboard --port N` with FRAUD_PIPELINE_* set."""
    now_ms = int(time.time() * 1000)
    truth = fill_metrics(local_settings, now_ms, seconds=20)
    port = free_port()
    binary = shutil.which("fraud-pipeline", path=str(Path(sys.executable).parent)) or "fraud-pipeline"
    env = child_environment(local_settings)
    process = subprocess.Popen(
        [binary, "dashboard", "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, health = get(f"http://127.0.0.1:{port}/healthz")
                break
            except urllib.error.URLError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "dashboard did not come up"
                time.sleep(0.2)
        assert status == 200 and health["warehouse"]["path"] == str(local_settings.warehouse_path.resolve())
        _, summary = get(f"http://127.0.0.1:{port}/api/summary?range=60&end={now_ms}")
        processed = next(c for c in summary["cards"] if c["id"] == "processed")
        assert processed["range_value"] == truth.total("Post-Processed", now_ms - 60_000, now_ms)
    finally:
        process.terminate()
        process.wait(15)
    assert os.name != "posix" or process.returncode in (0, -15)


def test_live_answers_are_shared_for_the_cache_ttl(local_settings: Settings) -> None:
    """Several pages polling at once cost the metrics backend one query per TTL, not one each."""
    from fraud_pipeline.metrics import MetricDatum, open_metrics

    sink = open_metrics(local_settings)
    ns = local_settings.metric_namespace
    sink.put(ns, [MetricDatum("Post-Processed", 5, "Count", int(time.time() * 1000) - 2000)])
    state = DashboardState(local_settings, cache_ttl_s=300)
    with running(state, free_port()) as url:
        _, first = get(url + "/api/summary?range=300")
        sink.put(ns, [MetricDatum("Post-Processed", 7, "Count", int(time.time() * 1000) - 1000)])
        _, again = get(url + "/api/summary?range=300")
        assert again == first and first["cards"][0]["range_value"] == 5
        _, other_range = get(url + "/api/summary?range=600")  # another question: computed afresh
        assert other_range["cards"][0]["range_value"] == 12
        _, pinned = get(f"{url}/api/summary?range=300&end={int(time.time() * 1000)}")
        assert pinned["cards"][0]["range_value"] == 12
    state.close()
    sink.close()


def _raw_get(url: str, path: str, host: str) -> tuple[int, dict[str, str], bytes]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/widgets", "/api/tables"])
def test_dns_rebinding_hosts_are_refused(served: tuple[str, Settings], path: str) -> None:
    """Before: any Host header was served, so a page on evil.example resolving to 127.0.0.1 read the API."""
    url, _ = served
    port = url.rsplit(":", 1)[1]
    for host in ("evil.example", f"evil.example:{port}", "127.0.0.1.evil.example", ""):
        status, _, body = _raw_get(url, path, host)
        assert status == 400, (host, status)
        assert b"widgets" not in body and b"backend" not in body
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}"):
        assert _raw_get(url, path, host)[0] == 200, host


def test_every_response_carries_csp_and_nosniff(served: tuple[str, Settings]) -> None:
    url, _ = served
    port = url.rsplit(":", 1)[1]
    for path in ("/", "/api/widgets", "/static/dashboard.js", "/api/tables/nope", "/nope"):
        _, headers, _ = _raw_get(url, path, f"127.0.0.1:{port}")
        assert headers["x-content-type-options"] == "nosniff", path
        csp = headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp, path


def test_the_vendored_chart_library_is_served_from_the_package(served: tuple[str, Settings]) -> None:
    """The page works offline: ECharts comes from the dashboard itself, as JavaScript, with its licence."""
    url, _ = served
    port = url.rsplit(":", 1)[1]
    version = (PACKAGE_DIR / "static" / "vendor" / "echarts" / "VERSION").read_text().strip()
    status, headers, body = _raw_get(url, "/static/vendor/echarts/echarts.common.min.js", f"127.0.0.1:{port}")
    assert status == 200 and "javascript" in headers["content-type"]
    assert f'version="{version}"'.encode() in body and b"Apache" in body[:2000]
    status, _, licence = _raw_get(url, "/static/vendor/echarts/LICENSE", f"127.0.0.1:{port}")
    assert status == 200 and b"Apache License" in licence
    _, _, page = _raw_get(url, "/", f"127.0.0.1:{port}")
    assert b'src="/static/vendor/echarts/echarts.common.min.js"' in page


def test_the_widgets_of_one_refresh_share_their_metric_queries(local_settings: Settings) -> None:
    """A page refresh asks for every widget at once; each distinct metric question reaches the
    backend once (Post-Processed is in eight widgets), and every answer equals a pinned one."""
    from concurrent.futures import ThreadPoolExecutor

    from fraud_pipeline.dashboard.widgets import WIDGETS
    from fraud_pipeline.metrics.base import SEED_METRICS

    now_ms = (int(time.time() * 1000) // 1000) * 1000
    fill_metrics(local_settings, now_ms, seconds=60)
    state = DashboardState(local_settings, clock=lambda: now_ms / 1000, cache_ttl_s=300)
    paths = ["/api/summary?range=900", *(f"/api/series?widget={w.key}&range=900" for w in WIDGETS)]
    with running(state, free_port()) as url, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda p: get(url + p), paths))
        pinned = [get(f"{url}{p}&end={now_ms}") for p in paths]
    shared = state.live_metrics
    state.close()
    assert [status for status, _ in answers] == [200] * len(paths)
    for (_, live), (_, fixed), path in zip(answers, pinned, paths, strict=True):
        assert live == fixed, path
    asked = sum(len(w.base_series) for w in WIDGETS) + 2 * 2  # the headline: range and last minute
    distinct = {
        (s.metric, s.stat or w.stat, s.dimensions, w.whole_range, w.period)
        for w in WIDGETS
        for s in w.base_series
    }
    # Each distinct question once; the seed's widgets alone ask about half of them again (the
    # media widgets' per-Reason series are questions of their own).
    assert shared.backend_queries <= len(distinct) + 2 < asked  # type: ignore[attr-defined]
    seed = [w for w in WIDGETS if all(s.metric in SEED_METRICS for s in w.base_series)]
    assert len({s.metric for w in seed for s in w.base_series}) * 4 < sum(len(w.base_series) for w in seed)
