"""The analyst views' JSON API (routes registered by `app.py` with one line: `*analyst_api.ROUTES`).

All GET, all JSON (`Cache-Control: no-store`), errors as `{"error": ...}` like the rest of the
dashboard (400 bad parameter, 404 unknown campaign, 502 a backend that failed):

- `/api/analyst/review?limit=N&cursor=C`   the review queue, newest first, one page
- `/api/analyst/campaigns?limit=N`         campaigns (live window + marts)
- `/api/analyst/campaigns/<id>`            one campaign in detail
- `/api/analyst/labels?limit=N&before=SEQ` labels and negations, newest first; overrides
- `/api/analyst/rules?range=S`             hits per rule (shadow included) and today's quotas
- `/api/analyst/health`                    pipeline health (`status.py`), ingest rate

What the handlers share (`AnalystState`) hangs off the dashboard's state and is made on the
first request: the lake's verdict index, the label store and the state store (opened once they
exist: the dashboard never creates another component's files), the active policy (reloaded as
the scorer reloads it), and the last health report (recomputed at most every `HEALTH_TTL_S`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from fraud_pipeline.dashboard import analyst, data
from fraud_pipeline.dashboard.verdict_index import IndexView, VerdictIndex
from fraud_pipeline.labeler.store import LabelStore, LabelStoreError, open_label_store
from fraud_pipeline.metrics import MetricsError
from fraud_pipeline.objects.store import ObjectStoreError
from fraud_pipeline.policy.runtime import PolicyHolder
from fraud_pipeline.policy.source import open_policy_source
from fraud_pipeline.scoring.quotas import utc_day
from fraud_pipeline.state.base import StateStore

HEALTH_TTL_S = 10.0  # status.py reads every port: the panel does not need it every 5 s
INGEST_RATE_WINDOW_S = 60
MEMO_ENTRIES = 64


class BackendUnavailable(RuntimeError):
    """A store behind an analyst view failed (lake, label store, state store): a 502."""


class AnalystState:
    """What the analyst handlers share, made once per dashboard."""

    def __init__(self, dashboard: Any) -> None:
        self.dashboard = dashboard  # app.DashboardState (not imported: app imports this module)
        self.settings = dashboard.settings
        self.index = VerdictIndex(dashboard.store, self.settings)
        self._lock = threading.Lock()
        self._labels: LabelStore | None = None
        self._state: StateStore | None = None
        self._policy: PolicyHolder | None = None
        self._health: tuple[float, dict[str, Any]] | None = None
        self._health_lock = threading.Lock()
        self._health_thread: threading.Thread | None = None
        self._memo: dict[tuple[object, ...], Any] = {}
        self._memo_lock = threading.Lock()

    def memo(self, key: tuple[object, ...], compute: Callable[[], Any]) -> Any:
        """`compute()` once per key: keys name the exact inputs (the index picture, the label
        store's head, the warehouse file), so an unchanged answer costs a few stat calls."""
        with self._memo_lock:
            if key in self._memo:
                return self._memo[key]
        value = compute()
        with self._memo_lock:
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            self._memo[key] = value
        return value

    def inputs(self, view: IndexView) -> tuple[object, ...]:
        """What a campaign answer depends on besides its parameters."""
        labels = self.labels()
        return (
            id(view),
            view.built_at_ms,
            labels.head() if labels is not None else 0,
            self.dashboard.warehouse.signature(),
        )

    def view(self) -> IndexView:
        try:
            return self.index.view()
        except (ObjectStoreError, OSError) as exc:
            raise BackendUnavailable(f"cannot read the lake: {exc}") from exc

    def labels(self) -> LabelStore | None:
        """The label store, or None while the labeler has never run (local: no file yet)."""
        with self._lock:
            if self._labels is None:
                if self.settings.backend == "local" and not self.settings.labels_path.exists():
                    return None
                try:
                    self._labels = open_label_store(self.settings)
                except (LabelStoreError, sqlite3.Error, OSError) as exc:
                    raise BackendUnavailable(f"cannot open the label store: {exc}") from exc
            return self._labels

    def state(self) -> StateStore | None:
        """The state store holding the quota counters (None locally before the scorer made it)."""
        with self._lock:
            if self._state is None:
                if self.settings.backend == "local" and not self.settings.state_path.exists():
                    return None
                from fraud_pipeline.state import open_state

                self._state = open_state(self.settings)
            return self._state

    def policy(self) -> PolicyHolder:
        with self._lock:
            if self._policy is None:
                self._policy = PolicyHolder(open_policy_source(self.settings))
            return self._policy

    def health(self, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The last health report; a new one is made in the background once it is older than
        HEALTH_TTL_S, so no request waits for every port to answer (the first gets `checking`)."""
        with self._health_lock:
            now = time.monotonic()
            stale = self._health is None or now - self._health[0] >= HEALTH_TTL_S
            if stale and (self._health_thread is None or not self._health_thread.is_alive()):
                self._health_thread = threading.Thread(
                    target=self._check_health, args=(compute,), name="analyst-health", daemon=True
                )
                self._health_thread.start()
            if self._health is None:
                return {"verdict": "checking", "problems": [], "checked_at": None}
            return self._health[1]

    def _check_health(self, compute: Callable[[], dict[str, Any]]) -> None:
        try:
            report = compute()
        except Exception as exc:  # the panel reports the failure instead of erroring the page
            report = {"verdict": "unknown", "problems": [], "error": f"health check failed: {exc}"[:500]}
        with self._health_lock:
            self._health = (time.monotonic(), report)

    def close(self) -> None:
        with self._lock:
            for closable in (self._labels, self._state):
                if closable is not None:
                    closable.close()
            self._labels = self._state = None


_STATE_LOCK = threading.Lock()
_STATES: weakref.WeakKeyDictionary[Any, AnalystState] = weakref.WeakKeyDictionary()


def state_for(dashboard: Any) -> AnalystState:
    """The analyst state of a dashboard (one per `DashboardState`, made on first use)."""
    with _STATE_LOCK:
        found = _STATES.get(dashboard)
        if found is None:
            found = _STATES[dashboard] = AnalystState(dashboard)
        return found


def warm(dashboard: Any) -> None:
    """Start the verdict index's first read and the first health check in the background (the
    dashboard's start calls it), so the first page finds them ready or nearly."""
    state = state_for(dashboard)
    state.index.start()
    state.health(lambda: _health_report(state))


def analyst_state(request: Request) -> AnalystState:
    return state_for(request.app.state.dashboard)


def _int(request: Request, name: str, default: int | None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise data.DashboardRequestError(f"{name} must be an integer, got {raw[:40]!r}") from None


def _limit(request: Request) -> int:
    limit = _int(request, "limit", analyst.DEFAULT_LIMIT)
    assert limit is not None
    return analyst.check_limit(limit)


def _json(payload: Any, status: int = 200) -> Any:
    from fraud_pipeline.dashboard.app import JSONResponse

    return JSONResponse(payload, status_code=status)


def _guarded(handler: Callable[[Request], Any]) -> Callable[[Request], Any]:
    """Backend failures become a 502 with the reason; the rest of the page keeps working."""

    def wrapped(request: Request) -> Any:
        try:
            return handler(request)
        except (BackendUnavailable, LabelStoreError, sqlite3.Error) as exc:
            return _json({"error": str(exc)[:500]}, 502)
        except MetricsError as exc:
            return _json({"error": f"metrics backend failed: {exc}"[:500]}, 502)

    wrapped.__name__ = handler.__name__
    return wrapped


@_guarded
def review(request: Request) -> Any:
    state = analyst_state(request)
    limit = _limit(request)
    cursor = analyst.parse_cursor(request.query_params.get("cursor"))
    return _json(analyst.review_queue(state.view(), state.labels(), limit=limit, cursor=cursor))


@_guarded
def campaign_list(request: Request) -> Any:
    state = analyst_state(request)
    limit = _limit(request)
    view = state.view()
    return _json(
        state.memo(
            ("campaigns", limit, *state.inputs(view)),
            lambda: analyst.campaigns(view, state.dashboard.warehouse, state.labels(), limit=limit),
        )
    )


@_guarded
def campaign(request: Request) -> Any:
    state = analyst_state(request)
    campaign_id = request.path_params["campaign_id"]
    view = state.view()
    return _json(
        state.memo(
            ("campaign", campaign_id, *state.inputs(view)),
            lambda: analyst.campaign_detail(view, state.dashboard.warehouse, state.labels(), campaign_id),
        )
    )


@_guarded
def labels(request: Request) -> Any:
    state = analyst_state(request)
    limit = _limit(request)
    before = _int(request, "before", None)
    if before is not None and before < 1:
        raise data.DashboardRequestError("before must be a label seq (1 or more)")
    return _json(analyst.labels_view(state.labels(), limit=limit, before_seq=before))


@_guarded
def rules(request: Request) -> Any:
    state = analyst_state(request)
    range_s = data.check_range(_int(request, "range", data.DEFAULT_RANGE_S) or data.DEFAULT_RANGE_S)
    now_ms = state.dashboard.now_ms()
    active = state.policy().current()
    settings = state.settings

    def compute() -> dict[str, Any]:
        return {
            "policy_version": active.version,
            "range_s": range_s,
            "rules": analyst.rule_hits(
                active.policy,
                state.dashboard.metrics,
                settings.metric_namespace,
                start_ms=now_ms - range_s * 1000,
                end_ms=now_ms,
            ),
            "quotas": analyst.quota_status(active.policy, state.state(), day=utc_day(now_ms * 1000)),
        }

    return _json(state.dashboard.cached(("analyst-rules", range_s, active.version), compute))


def recent_fraud_table(dashboard: Any, limit: int) -> dict[str, Any]:
    """The drill-down table "Recent fraud posts" from the verdict index (`app.table` serves it)."""
    try:
        view = state_for(dashboard).view()
    except BackendUnavailable as exc:
        return {
            "key": "recent_fraud_posts",
            "status": "error",
            "message": str(exc),
            "columns": [],
            "rows": [],
        }
    return analyst.recent_fraud_posts(view, limit=limit)


def _health_report(state: AnalystState) -> dict[str, Any]:
    from fraud_pipeline.status import pipeline_status

    now_ms = state.dashboard.now_ms()
    report = pipeline_status(state.settings, now_ms).as_dict()
    points = state.dashboard.metrics.query(
        state.settings.metric_namespace,
        "Post-Processed",
        now_ms - INGEST_RATE_WINDOW_S * 1000,
        now_ms,
        INGEST_RATE_WINDOW_S,
        "Sum",
    )
    processed = sum(p.value for p in points)
    report["ingest"] = {
        "window_s": INGEST_RATE_WINDOW_S,
        "posts": int(processed),
        "posts_per_s": round(processed / INGEST_RATE_WINDOW_S, 2),
    }
    return report


def health(request: Request) -> Any:
    state = analyst_state(request)
    return _json(state.health(lambda: _health_report(state)))


ROUTES = [
    Route("/api/analyst/review", review),
    Route("/api/analyst/campaigns", campaign_list),
    Route("/api/analyst/campaigns/{campaign_id:path}", campaign),
    Route("/api/analyst/labels", labels),
    Route("/api/analyst/rules", rules),
    Route("/api/analyst/health", health),
]
