"""The analyst views in headless Chromium, after a replay of a synthetic capture with campaigns.

The capture (the synth generator, campaigns every few hundred events) goes through the real
pipeline (`fraud-pipeline replay --until-drained`: ingest, scoring, delivery, labels worker), plus
one hostile post carrying markup, a script, an `<img onerror>` and a right-to-left override. The
page must show the review queue and the campaigns non-empty, link only to well-formed Bluesky URLs,
and render the hostile post as inert, visible text. A screenshot goes to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import orjson
import pytest

from fraud_pipeline.dashboard.app import DashboardState, running
from fraud_pipeline.ingest.synth import Synthesizer, load_texts
from fraud_pipeline.settings import Settings
from tests.conftest import free_port
from tests.test_dashboard_browser import (  # the same browser, waits and artifacts folder
    ARTIFACTS,
    _wait,
    _wait_for,
    browser,  # noqa: F401 (a fixture)
    pytestmark,  # noqa: F401 (browser marker, skip without chromium)
    replay_until_drained,
)

LABELED = Path(__file__).resolve().parents[1] / "data" / "labeled" / "train.jsonl"
HOSTILE_TEXT = (
    "Send 0.1 ETH and get 0.2 ETH back, guaranteed! <script>alert('xss')</script>"
    "<img src=x onerror=\"document.title='pwned'\"> invoice\u202efdp.exe"
)
HOSTILE_DID = "did:plc:hostilehostilehostile00"
HOSTILE_RKEY = "3lhostile0001"
POST_LINK = re.compile(r"^https://bsky\.app/profile/did:(plc|web):[A-Za-z0-9._%:-]+/post/[A-Za-z0-9._:~-]+$")
ACCOUNT_LINK = re.compile(r"^https://bsky\.app/profile/did:(plc|web):[A-Za-z0-9._%:-]+$")


def _capture(path: Path) -> None:
    """About 1,500 events over a few minutes of synthetic time, campaigns every 300, and the
    hostile post in the middle (a copy of a real post event with its text replaced)."""
    synth = Synthesizer(load_texts([LABELED]), seed=5, rate=5.0, campaign_every=300)
    lines: list[bytes] = []
    hostile_added = False
    for event, _ in synth.events(1500):
        commit = event.get("commit") or {}
        is_create = commit.get("collection") == "app.bsky.feed.post" and commit.get("operation") == "create"
        if not hostile_added and len(lines) > 700 and is_create:
            twin = orjson.loads(orjson.dumps(event))
            twin["did"] = HOSTILE_DID
            twin["commit"]["rkey"] = HOSTILE_RKEY
            twin["commit"]["record"] = {
                "$type": "app.bsky.feed.post",
                "text": HOSTILE_TEXT,
                "createdAt": commit["record"]["createdAt"],
                "langs": ["en"],
            }
            lines.append(orjson.dumps(twin))
            hostile_added = True
        lines.append(orjson.dumps(event))
    assert synth.campaigns >= 3 and hostile_added
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_review_queue_and_campaigns_after_a_replay_with_hostile_text(
    local_settings: Settings,
    browser: object,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = browser
    capture = tmp_path / "capture.jsonl"
    _capture(capture)
    replay_until_drained(local_settings, capture)

    state = DashboardState(local_settings)
    with running(state, free_port()) as url:
        driver.get(url + "/")

        # Review queue: non-empty, the hostile post among its cards, shown as text.
        _wait(driver, '#an-review-list[data-status="ok"] .an-post')
        hostile_uri = f"at://{HOSTILE_DID}/app.bsky.feed.post/{HOSTILE_RKEY}"
        card = _wait(driver, f'#an-review-list .an-post[data-uri="{hostile_uri}"]')
        text = card.find_element(By.CSS_SELECTOR, ".an-text")  # type: ignore[attr-defined]
        assert "<script>alert('xss')</script>" in text.text
        assert "<img src=x onerror=" in text.text
        assert "invoice[U+202E]fdp.exe" in text.text  # the override shown, not obeyed
        assert text.find_elements(By.CSS_SELECTOR, ":scope > bdi .ctl")
        analyst = driver.find_element(By.ID, "analyst")
        assert not analyst.find_elements(By.CSS_SELECTOR, "script, img, iframe, object")
        assert driver.title != "pwned"
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # noqa: B018 (reading it is the check)

        # Links: every one well formed, to bsky.app, opened apart from the page.
        links = analyst.find_elements(By.CSS_SELECTOR, "a.an-link")
        assert links
        for link in links:
            href = link.get_attribute("href") or ""
            kind = link.get_attribute("data-link")
            assert (POST_LINK if kind == "post" else ACCOUNT_LINK).match(href), href
            assert link.get_attribute("rel") == "noopener noreferrer"
        hostile_post = card.find_element(By.CSS_SELECTOR, 'a[data-link="post"]')  # type: ignore[attr-defined]
        assert (
            hostile_post.get_attribute("href")
            == f"https://bsky.app/profile/{HOSTILE_DID}/post/{HOSTILE_RKEY}"
        )

        # Campaigns: non-empty; one opens with its accounts (first seen), domains and examples.
        driver.execute_script(
            "arguments[0].click()", driver.find_element(By.CSS_SELECTOR, '#an-tabs [data-tab="campaigns"]')
        )
        _wait(driver, '#an-campaigns[data-status="ok"] tbody tr')
        rows = driver.find_elements(By.CSS_SELECTOR, "#an-campaigns tbody tr")
        assert len(rows) >= 1
        first = driver.find_element(By.CSS_SELECTOR, "#an-campaigns tbody button[data-campaign]")
        campaign_id = first.get_attribute("data-campaign")
        driver.execute_script("arguments[0].click()", first)
        _wait(driver, f'#an-campaign[data-campaign="{campaign_id}"] #an-campaign-examples .an-post')
        accounts = driver.find_elements(By.CSS_SELECTOR, "#an-campaign-accounts tbody tr")
        with urllib.request.urlopen(f"{url}/api/analyst/campaigns/{campaign_id}", timeout=30) as reply:
            detail = json.loads(reply.read())
        assert len(accounts) == len(detail["accounts"]) >= 2
        examples = driver.find_elements(By.CSS_SELECTOR, "#an-campaign-examples .an-post")
        assert [e.get_attribute("data-uri") for e in examples] == [e["uri"] for e in detail["examples"]]

        # Labels published by the labels worker during the replay.
        driver.execute_script(
            "arguments[0].click()", driver.find_element(By.CSS_SELECTOR, '#an-tabs [data-tab="labels"]')
        )
        _wait(driver, '#an-labels[data-status="ok"] tbody tr')

        # Rules & quotas: the account label's daily quota is a row of its own beside the posts'.
        driver.execute_script(
            "arguments[0].click()", driver.find_element(By.CSS_SELECTOR, '#an-tabs [data-tab="rules"]')
        )
        account_quota = _wait(driver, '#an-quotas tbody tr[data-subject="account"]')
        assert account_quota.find_element(By.CSS_SELECTOR, "td").text == "scam-account (on accounts)"  # type: ignore[attr-defined]
        assert driver.find_elements(By.CSS_SELECTOR, '#an-quotas tbody tr[data-subject="post"]')

        # Health: the status collectors' verdict, once the background check has run.
        _wait_for(
            driver, lambda d: d.find_element(By.ID, "an-health").get_attribute("data-verdict") != "checking"
        )

        ARTIFACTS.mkdir(exist_ok=True)
        driver.execute_script("arguments[0].scrollIntoView()", analyst)
        driver.save_screenshot(str(ARTIFACTS / "dashboard-analyst.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
    state.close()
