"""What an analyst needs to act: the review queue, campaigns, labels, rule hits and quotas, health.

Each function answers one view of the page with plain JSON-ready data; `analyst_api.py` serves
them. Where the data comes from, per view:

- review queue and live campaigns: the `VerdictIndex` over the newest raw-lake hours (fresh to
  the minute, read once per file); campaign history from the marts (`fraud_campaigns`, and the
  hourly `int_hourly_texts` for size over time and accounts) through the warehouse snapshot;
- labels and overrides: the label store (the labeler's source of truth), newest first by seq;
- rule hits: the `Rule-Hits` metric per rule and mode (shadow rules included) over the range,
  beside the rules of the active policy; quotas: the daily counters in the state store that
  the scorer's circuit breaker (`scoring/quotas.py`) increments;
- pipeline health: `status.py`'s collectors (`pipeline_status`), plus the ingest rate.

Every post and account carries its Bluesky link, built only from valid identifiers
(`bluesky_links.py`). Texts are sent whole (a post is at most a few thousand characters); the
page keeps them inert and folds long ones.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb

from fraud_pipeline.dashboard import tables
from fraud_pipeline.dashboard.bluesky_links import account_url, post_url, subject_did
from fraud_pipeline.dashboard.data import DashboardRequestError
from fraud_pipeline.dashboard.tables import jsonable
from fraud_pipeline.dashboard.verdict_index import IndexView
from fraud_pipeline.dashboard.warehouse import WarehouseBusy, WarehouseMissing, WarehouseReader
from fraud_pipeline.labeler.store import ActiveLabel, LabelStore, Override
from fraud_pipeline.metrics import MetricsSink
from fraud_pipeline.policy.loader import Policy
from fraud_pipeline.records import iso_from_us
from fraud_pipeline.scoring.quotas import account_quota_key, quota_key
from fraud_pipeline.scoring.rules import SHADOW_PREFIX
from fraud_pipeline.state.base import StateStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_TEXT_CHARS = 3000  # atproto's post text limit (graphemes); longer lake texts are cut
CAMPAIGN_EXAMPLES = 10
CAMPAIGN_ACCOUNTS = 200
CAMPAIGN_BUCKET_S = 600  # size over time inside the live window: 10-minute buckets
CAMPAIGN_MART = "fraud_campaigns"
CAMPAIGN_HOURLY = "int_hourly_texts"
REVIEW = "review"


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise DashboardRequestError(f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def parse_cursor(raw: str | None) -> tuple[int, str] | None:
    """A queue position `<time_us>:<uri>` (the `next` of the previous page)."""
    if not raw:
        return None
    head, sep, uri = raw.partition(":")
    if not sep or not head.isdigit() or len(raw) > 10_000:
        raise DashboardRequestError("cursor must be '<time_us>:<uri>' as a previous page returned it")
    return int(head), uri


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else ""
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS] + "…"


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and math.isfinite(value) else None


def _label_state(active: Mapping[tuple[str, str], ActiveLabel], uri: str) -> dict[str, list[str]]:
    published = sorted(val for (u, val), label in active.items() if u == uri and not label.neg)
    negated = sorted(val for (u, val), label in active.items() if u == uri and label.neg)
    return {"published": published, "negated": negated}


def _active_labels(store: LabelStore | None, uris: Iterable[str]) -> dict[tuple[str, str], ActiveLabel]:
    return store.active(uris) if store is not None else {}


def post_row(post: Mapping[str, Any], active: Mapping[tuple[str, str], ActiveLabel]) -> dict[str, Any]:
    """One post as the views show it: verdict, evidence, links and its labels on Bluesky."""
    return {
        "uri": post["uri"],
        "did": post["did"],
        "time_utc": post["time_utc"] or (iso_from_us(post["time_us"]) if post["time_us"] else None),
        "time_us": post["time_us"],
        "text": _text(post["text"]),
        "action": post["action"],
        "fraud_score": _number(post["fraud_score"]),
        "fraud_text_likelihood": _number(post["fraud_text_likelihood"]),
        "fraud_media_likelihood": _number(post["fraud_media_likelihood"]),
        "labels": list(post["labels"]),
        "reasons": list(post["reasons"]),
        "rule_hits": list(post["rule_hits"]),
        "policy_version": post["policy_version"],
        "campaign_id": post["campaign_id"],
        "domains": list(post["domains"]),
        "relabelled": bool(post.get("relabelled")),
        "post_url": post_url(post["uri"]),
        "account_url": account_url(post["did"]),
        "label_state": _label_state(active, post["uri"]),
    }


def _window(view: IndexView) -> dict[str, Any]:
    return {
        "source": "lake",
        "hours": view.hours,
        "files": view.files,
        "rows_read": view.rows_read,
        "files_skipped": view.skipped,
        "built_at_ms": view.built_at_ms,
        "building": view.building,
        "hours_total": view.hours_total,
    }


BUILDING = "reading the newest lake hours for the first time; this view fills in a few seconds"


def building_message(view: IndexView) -> str | None:
    """What the views say while the index's first picture is read (None once it is whole)."""
    if not view.building:
        return None
    if not view.hours:
        return BUILDING
    return f"{BUILDING} (newest {len(view.hours)} of {view.hours_total} hours read so far)"


def _status(view: IndexView, rows: Sequence[object], cursor: object = None) -> str:
    if view.building:
        return "building"
    return "ok" if rows or cursor else "empty"


# -- review queue --------------------------------------------------------------------------


def review_queue(
    view: IndexView, labels: LabelStore | None, *, limit: int, cursor: tuple[int, str] | None
) -> dict[str, Any]:
    """Posts whose verdict asks for a human (`action = review`), newest first, one page."""
    check_limit(limit)
    page: list[Mapping[str, Any]] = []
    total = 0
    start = view.after(cursor)
    more = False
    for post in view.posts[start:]:
        if post["action"] != REVIEW:
            continue
        if len(page) == limit:
            more = True
            break
        page.append(post)
    total = sum(1 for p in view.posts if p["action"] == REVIEW)
    active = _active_labels(labels, (p["uri"] for p in page))
    rows = [post_row(p, active) for p in page]
    last = page[-1] if page else None
    return {
        "status": _status(view, rows, cursor),
        "message": building_message(view),
        "total_in_window": total,
        "rows": rows,
        "next": f"{last['time_us']}:{last['uri']}" if more and last is not None else None,
        "window": _window(view),
    }


# -- recent fraud posts (the drill-down table) -------------------------------------------


def recent_fraud_posts(view: IndexView, *, limit: int) -> dict[str, Any]:
    """The "Recent fraud posts" table from the index: the same rows and shape as
    `tables.recent_fraud_posts`, which reads the newest files on every request instead."""
    base = {
        "key": tables.RECENT_FRAUD,
        "title": "Recent fraud posts",
        "description": "Newest fraud verdicts straight from the raw lake (Parquet as delivered).",
        "source": "lake",
        "columns": list(tables.RECENT_COLUMNS),
    }
    if view.building:
        return base | {"status": "busy", "message": building_message(view), "rows": []}
    if not view.files and not view.skipped:
        return base | {"status": "empty", "message": "no Parquet files in the raw lake yet", "rows": []}
    rows = []
    for post in view.posts:
        if not post["is_fraud"]:
            continue
        rows.append([tables.recent_cell(c, post[c]) for c in tables.RECENT_COLUMNS])
        if len(rows) >= limit:
            break
    return base | {
        "status": "ok",
        "files_scanned": view.files,
        "files_skipped": view.skipped,
        "rows": rows,
    }


# -- campaigns -----------------------------------------------------------------------------


def _campaign_posts(view: IndexView) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for post in view.posts:
        if post["campaign_id"]:
            grouped.setdefault(post["campaign_id"], []).append(post)
    return grouped


def _mart_rows(
    warehouse: WarehouseReader, relation: str, where: str = "", params: list[Any] | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of a mart as dicts, or ([], why not) when it is not built or the warehouse is busy."""
    try:
        with warehouse.session() as session:
            present = session.tables()
            if relation not in present:
                return [], f"{relation} not built yet: run `fraud-pipeline backfill`"
            schema = present[relation].replace('"', '""')
            result = session.query(f'SELECT * FROM "{schema}"."{relation}" {where}', params)
    except WarehouseMissing:
        return [], "marts not built yet: run `fraud-pipeline backfill`"
    except WarehouseBusy as exc:
        return [], str(exc)
    except duckdb.Error as exc:
        return [], f"warehouse query failed: {exc}"[:300]
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows], None


def _labelled_counts(
    posts: Sequence[Mapping[str, Any]], active: Mapping[tuple[str, str], ActiveLabel]
) -> dict[str, int]:
    published = {u for (u, _), label in active.items() if not label.neg}
    negated = {u for (u, _), label in active.items() if label.neg} - published
    uris = {p["uri"] for p in posts}
    return {"published": len(uris & published), "negated": len(uris & negated)}


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return str(value)


def campaigns(
    view: IndexView, warehouse: WarehouseReader, labels: LabelStore | None, *, limit: int
) -> dict[str, Any]:
    """Campaigns, newest activity first: live ones from the lake window, older ones from the mart."""
    check_limit(limit)
    live = _campaign_posts(view)
    all_uris = [p["uri"] for posts in live.values() for p in posts]
    active = _active_labels(labels, all_uris)
    found: dict[str, dict[str, Any]] = {}
    for campaign_id, posts in live.items():
        domains = Counter(d for p in posts for d in p["domains"])
        times = [p["time_us"] for p in posts if p["time_us"]]
        found[campaign_id] = {
            "campaign_id": campaign_id,
            "source": "lake",
            "posts": len(posts),
            "accounts": len({p["did"] for p in posts}),
            "first_seen": iso_from_us(min(times)) if times else None,
            "last_seen": iso_from_us(max(times)) if times else None,
            "domains": [d for d, _ in domains.most_common(5)],
            "sample_text": _text(next((p["text"] for p in posts if p["text"]), "")),
            "actions": dict(Counter(p["action"] for p in posts)),
            "labelled": _labelled_counts(posts, active),
        }
    mart, why = _mart_rows(warehouse, CAMPAIGN_MART, "ORDER BY last_seen DESC NULLS LAST LIMIT ?", [limit])
    for row in mart:
        campaign_id = str(row.get("campaign_id"))
        entry = found.get(campaign_id)
        history = {
            "posts_total": jsonable(row.get("posts")),
            "accounts_total": jsonable(row.get("accounts")),
            "first_seen_total": _iso(row.get("first_seen")),
        }
        if entry is not None:
            entry.update(history)
            entry["source"] = "lake+marts"
            continue
        found[campaign_id] = {
            "campaign_id": campaign_id,
            "source": "marts",
            "posts": jsonable(row.get("posts")),
            "accounts": jsonable(row.get("accounts")),
            "first_seen": _iso(row.get("first_seen")),
            "last_seen": _iso(row.get("last_seen")),
            "domains": list(row.get("domains") or [])[:5],
            "sample_text": _text(row.get("sample_text")),
            "actions": {},
            "labelled": None,  # the marts keep no post uris to look up; open the campaign
            **history,
        }
    rows = sorted(found.values(), key=lambda c: (c["last_seen"] or "", c["campaign_id"]), reverse=True)
    return {
        "status": _status(view, rows),
        "message": building_message(view),
        "rows": rows[:limit],
        "marts_note": why,
        "window": _window(view),
    }


def campaign_detail(
    view: IndexView, warehouse: WarehouseReader, labels: LabelStore | None, campaign_id: str
) -> dict[str, Any]:
    """One campaign: size over time, accounts with first-seen, domains, example posts, labels."""
    if not campaign_id or len(campaign_id) > 200:
        raise DashboardRequestError("campaign id must be 1..200 characters")
    posts = [p for p in view.posts if p["campaign_id"] == campaign_id]
    hourly, why = _mart_rows(
        warehouse, CAMPAIGN_HOURLY, "WHERE campaign_id = ? ORDER BY arrival_hour", [campaign_id]
    )
    if not posts and not hourly:
        raise DashboardRequestError(f"unknown campaign {campaign_id!r}")
    active = _active_labels(labels, (p["uri"] for p in posts))

    accounts: dict[str, dict[str, Any]] = {}
    for row in hourly:  # hour resolution from the marts, refined by the window below
        first = _iso(row.get("first_seen"))
        for did in row.get("dids") or []:
            known = accounts.setdefault(did, {"did": did, "first_seen": first, "posts_in_window": 0})
            if first and (known["first_seen"] is None or first < known["first_seen"]):
                known["first_seen"] = first
    for post in sorted(posts, key=lambda p: p["time_us"] or 0):
        seen = iso_from_us(post["time_us"]) if post["time_us"] else None
        known = accounts.setdefault(
            post["did"], {"did": post["did"], "first_seen": seen, "posts_in_window": 0}
        )
        known["posts_in_window"] += 1
        if seen and (known["first_seen"] is None or seen < known["first_seen"]):
            known["first_seen"] = seen
    ordered = sorted(accounts.values(), key=lambda a: (a["first_seen"] or "", a["did"]))
    for account in ordered:
        account["account_url"] = account_url(account["did"])

    buckets: Counter[int] = Counter()
    bucket_accounts: dict[int, set[str]] = {}
    for post in posts:
        start = (post["time_us"] or 0) // 1_000_000 // CAMPAIGN_BUCKET_S * CAMPAIGN_BUCKET_S
        buckets[start] += 1
        bucket_accounts.setdefault(start, set()).add(post["did"])
    domains = Counter(d for p in posts for d in p["domains"])
    for row in hourly:
        for domain in row.get("domains") or []:
            domains.setdefault(domain, 0)
    return {
        "campaign_id": campaign_id,
        "posts_in_window": len(posts),
        "accounts_count": len(ordered),
        "accounts": ordered[:CAMPAIGN_ACCOUNTS],
        "domains": [{"domain": d, "posts_in_window": n} for d, n in domains.most_common()],
        "size_over_time": {
            "window": [
                {"start": iso_from_us(s * 1_000_000), "posts": n, "accounts": len(bucket_accounts[s])}
                for s, n in sorted(buckets.items())
            ],
            "window_bucket_s": CAMPAIGN_BUCKET_S,
            "hourly": [
                {
                    "hour": _iso(row.get("arrival_hour")),
                    "posts": jsonable(row.get("posts")),
                    "accounts": len(row.get("dids") or []),
                }
                for row in hourly
            ],
        },
        "examples": [post_row(p, active) for p in posts[:CAMPAIGN_EXAMPLES]],
        "actions": dict(Counter(p["action"] for p in posts)),
        "labelled": _labelled_counts(posts, active),
        "marts_note": why,
        "window": _window(view),
    }


# -- labels ---------------------------------------------------------------------------------


def labels_view(
    store: LabelStore | None, *, limit: int, before_seq: int | None, labeler_note: str | None = None
) -> dict[str, Any]:
    """Labels published and negated, newest first, each with who made it; and the overrides."""
    check_limit(limit)
    if store is None:
        return {
            "status": "empty",
            "message": labeler_note or "no label store yet",
            "rows": [],
            "overrides": [],
        }
    head = store.head()
    top = head if before_seq is None else min(head, before_seq - 1)
    start = max(0, top - limit)
    stored = [s for s in store.after(start, limit) if s.seq <= top]
    overrides = store.list_overrides()
    overridden = {(o.uri, o.val): o for o in overrides}
    rows: list[dict[str, Any]] = []
    for item in reversed(stored):
        label = item.label
        override = overridden.get((item.uri, item.val)) if item.neg else None
        rows.append(
            {
                "seq": item.seq,
                "uri": item.uri,
                "val": item.val,
                "neg": item.neg,
                "cid": item.cid,
                "cts": label.cts,
                "exp": label.exp,
                "src": label.src,
                # Labels come from the verdicts (the labels worker signs them as the labeler's
                # DID); a negation an analyst asked for carries the override's person and reason.
                "override": override is not None,
                "made_by": override.made_by if override is not None else "labeler",
                "override_reason": override.reason if override is not None else None,
                "post_url": post_url(item.uri),
                "account_url": account_url(subject_did(item.uri)),
            }
        )
    return {
        "status": "ok" if rows or overrides else "empty",
        "head_seq": head,
        "rows": rows,
        "next_before_seq": rows[-1]["seq"] if rows and rows[-1]["seq"] > 1 else None,
        "overrides": [_override(o) for o in reversed(overrides)],
    }


def _override(override: Override) -> dict[str, Any]:
    return {
        "uri": override.uri,
        "val": override.val,
        "reason": override.reason,
        "created_at": override.created_at,
        "made_by": override.made_by,
        "post_url": post_url(override.uri),
    }


# -- rules and quotas -----------------------------------------------------------------------


def rule_hits(
    policy: Policy,
    metrics: MetricsSink,
    namespace: str,
    *,
    start_ms: int,
    end_ms: int,
) -> list[dict[str, Any]]:
    """Hits per rule of the active policy over [start, end), shadow rules under their mode."""
    period = max(60, -(-(end_ms - start_ms) // 60_000) * 60)
    rows: list[dict[str, Any]] = []
    for rule in policy.spec.rules:
        points = metrics.query(
            namespace, "Rule-Hits", start_ms, end_ms, period, "Sum", {"Rule": rule.name, "Mode": rule.mode}
        )
        rows.append(
            {
                "rule": rule.name,
                "recorded_as": (SHADOW_PREFIX + rule.name) if rule.mode == "shadow" else rule.name,
                "mode": rule.mode,
                "label": rule.label,
                "action": rule.action,
                "weight": rule.weight,
                "reason": rule.reason,
                "hits": int(sum(p.value for p in points)),
            }
        )
    rows.sort(key=lambda r: (-r["hits"], r["rule"]))
    return rows


def quota_status(policy: Policy, state: StateStore | None, *, day: str) -> list[dict[str, Any]]:
    """Each label's automatic actions today against its daily quota (the scorer's counters):
    post labels (`subject: post`), and the account label on DIDs (`subject: account`,
    `accounts.quota_per_day`) when the policy judges accounts."""
    quotas = policy.spec.quotas
    counters = [
        (label, "post", quota_key(label, day), quotas.limit(label)) for label in sorted(policy.spec.labels)
    ]
    accounts = policy.spec.accounts
    if accounts is not None:
        key = account_quota_key(accounts.label, day)
        counters.append((accounts.label, "account", key, accounts.quota_per_day))
    rows: list[dict[str, Any]] = []
    for label, subject, key, limit in counters:
        used = state.get_counter(key) if state is not None else 0
        rows.append(
            {
                "label": label,
                "subject": subject,
                "day": day,
                "used": used,
                "limit": limit,
                "remaining": max(0, limit - used),
                "tripped": used > limit,
                "share": round(used / limit, 4) if limit else None,
            }
        )
    rows.sort(key=lambda r: (-(r["share"] or 0), r["label"], r["subject"]))
    return rows
