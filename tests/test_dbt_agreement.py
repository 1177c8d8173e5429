"""dbt and the scorer agree on every verdict column for the same posts.

The marts hold no threshold or fingerprint of their own: `is_fraud`, `action`, the text/media
flags, `campaign_id` and `policy_version` in `stg_posts` must be exactly what the scorer wrote,
and `fraud_campaigns` must group exactly the posts the scorer put in each campaign.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import duckdb
from lake_fixtures import recent_hours, write_raw_file

from fraud_pipeline.lake.compaction import compact_hour
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.orchestration.dbt_project import run_dbt_build
from fraud_pipeline.policy import load_default_policy
from fraud_pipeline.scoring.pipeline_scorer import PostScorer
from fraud_pipeline.settings import load_settings
from tests.scoring_fixtures import KeywordScorer, make_post

CAMPAIGN = "Claim your bonus tokens before the window closes, connect at the link below now"
FILLER = ("good morning everyone", "lunch was great today", "watching the game tonight, free snacks")


def test_dbt_and_the_scorer_agree_on_every_verdict_column(tmp_path) -> None:
    settings = load_settings(environ={}, backend="local", home=tmp_path / "home")
    store = ObjectStore.from_settings(settings)
    (hour,) = recent_hours(1)
    base_us = int(hour.timestamp() * 1_000_000)
    posts = []
    for i in range(120):
        if i % 4 == 0:  # a campaign: one text with a link from fresh accounts within minutes
            extra = {"links": [f"https://claim-bonus.xyz/{i}"], "domains": ["claim-bonus.xyz"]}
            posts.append(make_post(i, CAMPAIGN, time_us=base_us + 60_000_000, **extra))
        elif i % 7 == 0:  # media: the media model reads the alt text
            media = {"media_paths": [f"https://cdn/{i}"], "media_cids": [f"c{i}"], "media_kinds": ["image"]}
            posts.append(
                make_post(i, "look", time_us=base_us + 60_000_000, media_alts=["free gift"], **media)
            )
        else:
            posts.append(make_post(i, FILLER[i % 3], time_us=base_us + 60_000_000))
    tagged, _ = PostScorer(KeywordScorer(), KeywordScorer()).score(posts)
    write_raw_file(store, settings, hour + timedelta(minutes=5), tagged)  # posts and verdict updates
    compact_hour(store, settings, hour)
    # The two models and their own data/unit tests (the singular tests need the other marts).
    done = run_dbt_build(settings, "--select", "+fraud_campaigns", "--exclude", "test_type:singular")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]

    # What the scorer said last about each post: its tagged record, then any verdict update
    # (a campaign that crossed the bar re-labels its earlier posts; compaction applies it).
    final = {t.uri: t for t in tagged if t.operation == "create"}
    updates = [t for t in tagged if t.operation == "verdict"]
    assert updates, "the campaign must re-label its first posts"
    for update in sorted(updates, key=lambda u: u.scored_at_us):
        post = final[update.uri]
        final[update.uri] = replace(
            post,
            is_fraud=update.is_fraud,
            action=update.action,
            campaign_id=update.campaign_id,
            labels=post.labels + [label for label in update.labels if label not in post.labels],
        )
    scorer = {
        t.uri: (
            t.is_fraud,
            "fraud-text" in t.labels,
            "fraud-media" in t.labels,
            t.action,
            t.campaign_id,
            t.policy_version,
        )
        for t in final.values()
    }
    assert {v[3] for v in scorer.values()} >= {"none", "review"}  # the tiers are exercised
    assert any(v[4] for v in scorer.values()) and any(v[2] for v in scorer.values())
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        columns = "uri, is_fraud, is_fraud_text, is_fraud_media, action, campaign_id, policy_version"
        rows = con.sql(f"SELECT {columns} FROM stg_posts").fetchall()
        campaigns = con.sql("SELECT campaign_id, posts, accounts FROM fraud_campaigns").fetchall()
    finally:
        con.close()
    assert {uri: tuple(rest) for uri, *rest in rows} == scorer
    assert {v[5] for v in scorer.values()} == {load_default_policy().version}
    expected: dict[str, set[str]] = {}
    for t in final.values():
        if t.campaign_id:
            expected.setdefault(t.campaign_id, set()).add(t.uri)
    assert {c: (p, a) for c, p, a in campaigns} == {c: (len(u), len(u)) for c, u in expected.items()}
