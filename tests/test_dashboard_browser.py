"""The dashboard page in a real headless Chromium: widgets render the store's numbers, tables the marts'.

Skips only on a machine without chromium/chromedriver and without `CI` set; in CI a missing
browser fails the test (the Makefile installs Debian's `chromium` and `chromium-driver`).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_pipeline.dashboard.app import DashboardState, running
from fraud_pipeline.settings import Settings
from tests.conftest import free_port
from tests.dashboard_fixtures import (
    TOP_DOMAINS,
    build_seed_minutes,
    build_warehouse,
    fill_metrics,
    tagged,
    utc,
    write_lake_file,
)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not HAVE_BROWSER and not os.environ.get("CI"),
        reason="chromium/chromedriver not installed (apt-get install chromium chromium-driver)",
    ),
]

HOSTILE_TEXT = "<img src=x onerror=\"document.title='pwned'\"> Claim your free ETH"
WAIT_S = 30


@pytest.fixture()
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    assert HAVE_BROWSER, f"CI needs {CHROMIUM} and {CHROMEDRIVER}"
    profile = tempfile.mkdtemp(prefix="dashboard-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1400,1800",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver: object, css: str) -> object:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))  # type: ignore[arg-type]


def _wait_for(driver: object, predicate: object) -> object:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    # A refresh re-renders the cards: an element found just before it is stale when read, so
    # the predicate is simply asked again.
    wait = WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))  # type: ignore[arg-type]
    return wait.until(predicate)  # type: ignore[arg-type]


# Each widget card as the page drew it: ECharts' own option (series type, stack, radius, data)
# for charts, the numbers shown for single values.
_CHARTS_JS = """
const out = {};
for (const card of document.querySelectorAll('#widgets .card')) {
  const box = card.querySelector('.chart-box');
  const chart = box ? echarts.getInstanceByDom(box) : null;
  const option = chart ? chart.getOption() : null;
  out[card.dataset.widget] = {
    title: card.querySelector('h3').textContent,
    view: card.dataset.view,
    state: card.dataset.state,
    series: option ? option.series.map((s) => ({
      id: s.id, name: s.name, type: s.type, stack: s.stack || null, area: !!s.areaStyle,
      radius: s.radius || null,
      data: s.type === 'pie' ? s.data.map((d) => [d.name, d.value]) : s.data,
    })) : null,
    x_max: option && option.xAxis && option.xAxis.length ? option.xAxis[0].max : null,
    legend: option && option.legend && option.legend.length ? option.legend[0].selected : null,
    zoom: option && option.dataZoom && option.dataZoom.length
      ? [option.dataZoom[0].start, option.dataZoom[0].end] : null,
    singles: [...card.querySelectorAll('.single')].map((e) => [e.dataset.series, e.dataset.value]),
  };
}
return out;
"""


def _charts(driver: object) -> dict[str, dict]:
    return driver.execute_script(_CHARTS_JS)  # type: ignore[attr-defined,no-any-return]


def test_page_shows_the_stores_numbers_and_tables(local_settings: Settings, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = browser  # type: ignore[assignment]
    now_ms = int(time.time() * 1000)
    truth = fill_metrics(local_settings, now_ms, seconds=90)  # all inside the page's default 15 minutes
    build_warehouse(Path(local_settings.warehouse_path))
    rng = random.Random(9)
    now_us = now_ms * 1000
    records = [
        tagged(rng, now_us - i * 1_000_000, fraud=i % 2 == 0, text=HOSTILE_TEXT if i == 0 else f"post {i}")
        for i in range(10)
    ]
    write_lake_file(local_settings, records, utc(now_us))
    expected_fraud_texts = [r.text for r in sorted(records, key=lambda r: -r.time_us) if r.is_fraud]

    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        driver.get(url + "/")

        # Headline numbers: totals over the default range equal what the store holds.
        card = _wait(driver, '[data-card="processed"][data-range-value]:not([data-range-value=""])')
        processed = sum(truth.per_second["Post-Processed"].values())
        fraud = sum(truth.per_second["Post-Is-Fraud"].values())
        assert float(card.get_attribute("data-range-value")) == processed  # type: ignore[attr-defined]
        fraud_card = driver.find_element(By.CSS_SELECTOR, '[data-card="is_fraud"]')
        assert float(fraud_card.get_attribute("data-range-value") or "nan") == fraud
        pct_text = driver.find_element(By.CSS_SELECTOR, '[data-card="fraud_pct"] .kpi-value').text
        assert pct_text == f"{100 * fraud / processed:.1f}%"

        # The 1-second widgets: the newest point of each line, derived ones included (in the chart).
        _wait(driver, '[data-widget="raw_metrics"][data-state="ready"]')
        newest = max(truth.per_second["Post-Processed"])
        lines = {s["id"]: dict(s["data"]) for s in _charts(driver)["raw_metrics"]["series"]}
        assert len(lines) == 10  # one line per visible series
        assert lines["processed"][newest] == truth.per_second["Post-Processed"][newest]
        assert lines["with_media"][newest] == (
            truth.per_second["Post-Processed"][newest] - truth.per_second["Post-Text-Only"][newest]
        )
        _wait(driver, '[data-widget="fraud_ratio"][data-state="ready"]')
        # The stand-in publishes no Lambda metrics in this fixture: the widget says so plainly.
        _wait(driver, '[data-widget="stream_lag"][data-state="empty"]')
        note = driver.find_element(By.CSS_SELECTOR, '[data-widget="stream_lag"] .note').text
        assert note == "No data points in this range yet."

        # Drill-down: recent fraud posts from the lake (hostile text shown as text, not markup).
        _wait(driver, 'table[data-table="recent_fraud_posts"][data-status="ok"]')
        texts = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#drill-table td.col-text")]
        assert texts == expected_fraud_texts
        # Readable, not squeezed: the text column keeps room for sentences beside a dozen others.
        widths = [
            td.size["width"] for td in driver.find_elements(By.CSS_SELECTOR, "#drill-table td.col-text")
        ]
        assert min(widths) >= 320, widths
        assert driver.title != "pwned" and not driver.find_elements(By.CSS_SELECTOR, "#drill-table img")

        # A dbt mart, in rank order, and a mart not built yet.
        driver.find_element(By.CSS_SELECTOR, '#table-tabs [data-table="top_fraud_domains"]').click()
        _wait(driver, 'table[data-table="top_fraud_domains"][data-status="ok"]')
        domains = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#drill-table td.col-domain")]
        assert domains == [d for d, _, _ in TOP_DOMAINS]
        driver.find_element(By.CSS_SELECTOR, '#table-tabs [data-table="fraud_campaigns"]').click()
        _wait(driver, 'table[data-table="fraud_campaigns"][data-status="not_built"]')
        assert "fraud-pipeline backfill" in driver.find_element(By.ID, "table-status").text

        # Live: new data appears on the next refresh without reloading the page.
        from fraud_pipeline.metrics import MetricDatum, open_metrics

        sink = open_metrics(local_settings)
        sink.put(
            local_settings.metric_namespace,
            [MetricDatum("Post-Processed", 1000, "Count", int(time.time() * 1000))],
        )
        sink.close()
        _wait_for(
            driver,
            lambda d: (
                float(
                    d.find_element(By.CSS_SELECTOR, '[data-card="processed"]').get_attribute(
                        "data-range-value"
                    )
                    or 0
                )
                == processed + 1000
            ),
        )
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    state.close()


BIDI_TEXTS = [
    "Your refund: invoice\u202efdp.exe",  # shows as "invoiceexe.pdf" when obeyed
    "\u2067\u05d0\u05d1\u2069 claim\u200bnow",  # an isolate and a zero-width space
]


def test_direction_overrides_are_isolated_and_shown(local_settings: Settings, browser: object) -> None:
    """Before: U+202E in a post reordered the cell (and what followed it) for the analyst."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = browser  # type: ignore[assignment]
    now_us = int(time.time() * 1_000_000)
    rng = random.Random(3)
    records = [tagged(rng, now_us - i * 1_000_000, fraud=True, text=t) for i, t in enumerate(BIDI_TEXTS)]
    write_lake_file(local_settings, records, utc(now_us))
    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        driver.get(url + "/")
        _wait(driver, 'table[data-table="recent_fraud_posts"][data-status="ok"]')
        cells = driver.find_elements(By.CSS_SELECTOR, "#drill-table td.col-text")
        assert len(cells) == 2
        for cell in cells:
            assert cell.find_elements(By.CSS_SELECTOR, ":scope > bdi"), "each value is direction-isolated"
            raw = cell.get_attribute("textContent") or ""
            assert not any(ch in raw for ch in "\u202e\u2067\u2069\u200b"), repr(raw)
        assert cells[0].text == "Your refund: invoice[U+202E]fdp.exe"
        assert cells[1].text.startswith("[U+2067]") and "claim[U+200B]now" in cells[1].text
        markers = driver.find_elements(By.CSS_SELECTOR, "#drill-table td.col-text .ctl")
        assert [m.get_attribute("title") for m in markers][:1] == ["U+202E (hidden character)"]
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []  # the page works under its Content-Security-Policy
    state.close()


SEED_EIGHT = [  # title, key, how it is drawn
    ("RawMetrics", "raw_metrics", "lines"),
    ("FraudRatioStacked", "fraud_ratio_stacked", "stacked"),
    ("FraudRatioValues", "fraud_ratio_values", "single"),
    ("FraudPostsPie", "fraud_posts_pie", "donut"),
    ("AllStacked", "all_stacked", "stacked"),
    ("Values", "values", "single"),
    ("FraudRatio", "fraud_ratio", "lines"),
    ("TextOnlyRatio", "text_only_ratio", "donut"),
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # git-ignored; CI keeps it


def _api(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=WAIT_S) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def _visible(payload: dict) -> list[dict]:
    return [s for s in payload["series"] if s["visible"]]


def _replay_synthetic_capture(settings: Settings, folder: Path, events: int = 1200) -> dict:
    """A synthetic capture through the real pipeline (`fraud-pipeline replay --until-drained`): the
    scoring handler publishes the seed metrics the widgets read. Returns the replay's summary."""
    import orjson

    from fraud_pipeline.ingest.synth import Synthesizer, load_texts

    labeled = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
    synth = Synthesizer(load_texts([labeled]), seed=3, rate=5.0, campaign_every=300)
    capture = folder / "capture.jsonl"
    capture.write_bytes(b"\n".join(orjson.dumps(event) for event, _ in synth.events(events)) + b"\n")
    return replay_until_drained(settings, capture)


def replay_until_drained(settings: Settings, capture: Path) -> dict:
    """`fraud-pipeline replay CAPTURE --until-drained --json` on the local backend; its summary."""
    import json

    from click.testing import CliRunner

    from fraud_pipeline.cli import main

    args = ["replay", str(capture), "--until-drained", "--json"]
    args += ["--backend", "local", "--home", str(settings.home)]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_seed_widgets_by_name_and_kind_show_the_apis_numbers(
    local_settings: Settings, browser: object, tmp_path: Path
) -> None:
    """After a replay: the original eight first, in order; donuts are pies with a hole, stacked
    series share a stack; every chart's data and every single value equal the JSON API's answer for
    the same window, and the Values widget equals what the replay scored."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = browser  # type: ignore[assignment]
    replayed = _replay_synthetic_capture(local_settings, tmp_path)
    assert replayed["scored"] > 100 and replayed["fraud"] > 0
    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        driver.get(url + "/")
        for _, key, _ in SEED_EIGHT:
            _wait(driver, f'[data-widget="{key}"][data-state="ready"]')
        titles = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "#widgets .card h3")]
        assert titles[: len(SEED_EIGHT)] == [title for title, _, _ in SEED_EIGHT]
        assert len(titles) > len(SEED_EIGHT)  # the project's own widgets follow
        assert (
            driver.execute_script("return echarts.version")
            == (
                Path(__file__).resolve().parent.parent
                / "fraud_pipeline/dashboard/static/vendor/echarts/VERSION"
            )
            .read_text()
            .strip()
        )

        charts = _charts(driver)
        now_ms = int(time.time() * 1000)
        for title, key, kind in SEED_EIGHT:
            drawn = charts[key]
            assert drawn["title"] == title and drawn["state"] == "ready", drawn
            if kind in {"lines", "stacked"}:
                api = _api(f"{url}/api/series?widget={key}&range=900&end={int(drawn['x_max'])}")
                assert api["end_ms"] == drawn["x_max"]
                expected = {s["label"]: s["values"] for s in _visible(api)}
                assert [s["name"] for s in drawn["series"]] == list(expected), title
                for series in drawn["series"]:
                    assert series["type"] == "line", title
                    assert [v for _, v in series["data"]] == expected[series["name"]], (title, series["name"])
                    assert [t for t, _ in series["data"]] == api["timestamps"]
                stacks = {s["stack"] for s in drawn["series"]}
                if kind == "stacked":
                    assert len(stacks) == 1 and None not in stacks, f"{title}: one shared stack"
                    assert all(s["area"] for s in drawn["series"]), f"{title}: stacked areas"
                else:
                    assert stacks == {None}, f"{title} is not stacked"
            elif kind == "donut":
                (pie,) = drawn["series"]
                inner, outer = (float(r.rstrip("%")) for r in pie["radius"])
                assert pie["type"] == "pie" and 0 < inner < outer, f"{title}: a pie with a hole"
                api = _api(f"{url}/api/series?widget={key}&range=900&end={now_ms}")
                assert pie["data"] == [[s["label"], s["values"][0]] for s in _visible(api)], title
                assert sum(v for _, v in pie["data"]) > 0
            else:
                assert drawn["series"] is None  # numbers, not a chart
                api = _api(f"{url}/api/series?widget={key}&range=900&end={now_ms}")
                expected_values = [[s["id"], str(s["values"][0])] for s in _visible(api)]
                assert [[sid, str(float(v))] for sid, v in drawn["singles"]] == [
                    [sid, str(float(v))] for sid, v in expected_values
                ], title

        values = dict(charts["values"]["singles"])
        assert float(values["processed"]) == replayed["scored"]
        assert float(values["not_fraud"]) == replayed["scored"] - replayed["fraud"]

        # A tooltip on every chart kind, under the page's Content-Security-Policy (the default HTML
        # tooltip's inline styles would be refused and logged as SEVERE).
        for key in ("fraud_posts_pie", "all_stacked", "raw_metrics"):
            driver.execute_script(
                "const c = echarts.getInstanceByDom(document.querySelector(arguments[0]));"
                "const last = c.getOption().series[0].data.length - 1;"
                "c.dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: last});",
                f'[data-widget="{key}"] .chart-box',
            )
        # The analyst's choices survive the live refresh: a series toggled off, a zoomed window.
        driver.execute_script(
            "const box = document.querySelector('[data-widget=all_stacked] .chart-box');"
            "const c = echarts.getInstanceByDom(box);"
            "c.dispatchAction({type: 'legendToggleSelect', name: 'Post-Not-Fraud'});"
            "c.dispatchAction({type: 'dataZoom', start: 50, end: 100});"
        )
        before = driver.find_element(By.ID, "status").text
        _wait_for(driver, lambda d: d.find_element(By.ID, "status").text != before)
        after = _charts(driver)["all_stacked"]
        assert after["legend"]["Post-Not-Fraud"] is False and after["legend"]["Post-Fraud-Both"] is True
        assert after["zoom"] == [50, 100]

        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "dashboard.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    state.close()


def test_a_day_reads_the_mart_for_what_the_live_metrics_no_longer_keep(
    local_settings: Settings, browser: object
) -> None:
    """24 hours: the seed widgets say where their older part comes from and show the API's numbers."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select

    driver: WebDriver = browser  # type: ignore[assignment]
    now_ms = int(time.time() * 1000)
    fill_metrics(local_settings, now_ms, seconds=30)
    first = now_ms - now_ms % 60_000 - 20 * 3_600_000  # minutes 20 h to 4 h ago: away from both edges
    minutes = {
        first + i * 60_000: {"Post-Processed": 50.0 + i % 7, "Post-Text-Only": 20.0, "Post-Is-Fraud": 9.0,
                             "Post-Fraud-Both": 2.0, "Post-Fraud-Media": 5.0, "Post-Fraud-Text": 6.0}
        for i in range(16 * 60)
    }  # fmt: skip
    build_seed_minutes(Path(local_settings.warehouse_path), minutes)
    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        driver.get(url + "/")
        _wait(driver, '[data-widget="fraud_posts_pie"][data-state="ready"][data-source="metrics"]')
        Select(driver.find_element(By.ID, "range")).select_by_value("86400")
        for _, key, _ in SEED_EIGHT:
            _wait(driver, f'[data-widget="{key}"][data-state="ready"][data-source="marts"]')
        meta = driver.find_element(By.CSS_SELECTOR, '[data-widget="raw_metrics"] .meta').text
        assert "from seed_metrics_per_minute" in meta and "per 5 min" in meta, meta
        _wait(driver, '[data-widget="latency"][data-source="metrics"]')  # not a seed counter
        (pie,) = _charts(driver)["fraud_posts_pie"]["series"]
        api = _api(f"{url}/api/series?widget=fraud_posts_pie&range=86400&end={int(time.time() * 1000)}")
        assert pie["data"] == [[s["label"], s["values"][0]] for s in _visible(api)]
        from_mart = sum(m["Post-Fraud-Both"] for m in minutes.values())
        assert dict(pie["data"])["Post-Fraud-Both"] >= from_mart > 0
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    state.close()
