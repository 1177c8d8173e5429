"""The dashboard web app: one HTML page and the JSON API behind it (Starlette, served by uvicorn).

Endpoints (all GET):
- `/`                              the page (vanilla JS, vendored Apache ECharts, nothing from the internet)
- `/healthz`                       liveness plus what the dashboard can reach
- `/api/widgets`                   the widget spec (the one that renders the CloudWatch dashboard)
- `/api/series?widget=K&range=S`   one widget's series over the last S seconds (derived ones computed)
- `/api/summary?range=S`           headline numbers (singleValue widgets over S seconds and the last minute)
- `/api/tables`                    the drill-down tables
- `/api/tables/<key>?limit=N`      one table's rows, or its status (`not_built`, `busy`, `empty`)

Bad parameters get a 400 and unknown names a 404, each with a JSON `error` message; a failing
metrics backend gives a 502 for that widget only. The server binds 127.0.0.1.

Browser defences: a request whose `Host` is not the address the server is bound to (or
`localhost`) gets 400, so a DNS-rebinding page (evil.example resolving to 127.0.0.1) cannot
read the API; every response carries a Content-Security-Policy that allows only the page's
own scripts, styles and API, and `X-Content-Type-Options: nosniff`.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fraud_pipeline.dashboard import analyst_api, data, tables
from fraud_pipeline.dashboard.shared_queries import SharedQueries
from fraud_pipeline.dashboard.warehouse import WarehouseReader
from fraud_pipeline.metrics import MetricsError, MetricsSink, open_metrics
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.settings import Settings

HOST = "127.0.0.1"
# The Host headers served: the bound address and the name that resolves to it, any port.
ALLOWED_HOSTS = (HOST, "localhost")
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
PACKAGE_DIR = Path(str(resources.files("fraud_pipeline.dashboard")))
REFRESH_MS = 5000
CACHE_TTL_S = 2.0
CACHE_MAX_ENTRIES = 256


class JSONResponse(Response):
    """orjson-encoded JSON (NaN becomes null; never cached: the numbers are live)."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200) -> None:
        super().__init__(content, status_code, headers={"Cache-Control": "no-store"})

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class DashboardState:
    """What the handlers share: settings, and backends opened on first use and then reused."""

    def __init__(
        self,
        settings: Settings,
        *,
        metrics: MetricsSink | None = None,
        store: ObjectStore | None = None,
        clock: Callable[[], float] = time.time,
        cache_ttl_s: float = CACHE_TTL_S,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._metrics = metrics
        self._store = store
        self._lock = threading.Lock()
        self.warehouse = WarehouseReader(Path(settings.warehouse_path))
        self.cache_ttl_s = cache_ttl_s
        self._cache: dict[tuple[object, ...], tuple[float, Any]] = {}
        self._cache_lock = threading.Lock()
        self._shared: SharedQueries | None = None

    @property
    def metrics(self) -> MetricsSink:
        with self._lock:
            if self._metrics is None:
                try:
                    self._metrics = open_metrics(self.settings)
                except (MetricsError, sqlite3.Error, OSError) as exc:
                    raise data.SeriesUnavailable(f"cannot open the metrics store: {exc}") from exc
            return self._metrics

    @property
    def live_metrics(self) -> MetricsSink:
        """The metrics port for live (unpinned) answers: the widgets of one refresh share queries."""
        inner = self.metrics
        with self._lock:
            if self._shared is None or self._shared.inner is not inner:
                self._shared = SharedQueries(inner, self.cache_ttl_s)
            return self._shared

    @property
    def store(self) -> ObjectStore:
        with self._lock:
            if self._store is None:
                self._store = ObjectStore.from_settings(self.settings)
            return self._store

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def live_now_ms(self) -> int:
        """ "Now" for live answers, whole seconds: the widgets of one refresh ask the same windows."""
        return self.now_ms() // 1000 * 1000

    def cached(self, key: tuple[object, ...], compute: Callable[[], Any]) -> Any:
        """`compute()`, shared for `cache_ttl_s` between requests asking the same thing.

        Several open pages each polling every few seconds would otherwise multiply the metrics
        backend's work (and CloudWatch's GetMetricData bill); failures are never cached.
        """
        now = time.monotonic()
        with self._cache_lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.cache_ttl_s:
                return hit[1]
        value = compute()
        with self._cache_lock:
            if len(self._cache) >= CACHE_MAX_ENTRIES:
                self._cache.clear()
            self._cache[key] = (now, value)
        return value

    def close(self) -> None:
        self.warehouse.close()
        if self._metrics is not None:
            self._metrics.close()


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise data.DashboardRequestError(f"{name} must be an integer, got {raw[:40]!r}") from None


def _state(request: Request) -> DashboardState:
    state: DashboardState = request.app.state.dashboard
    return state


async def index(request: Request) -> HTMLResponse:
    settings = _state(request).settings
    page = (PACKAGE_DIR / "templates" / "index.html").read_text(encoding="utf-8")
    config = orjson.dumps(
        {"env": settings.env, "backend": settings.backend, "namespace": settings.metric_namespace,
         "refresh_ms": REFRESH_MS, "default_range_s": data.DEFAULT_RANGE_S}
    ).decode()  # fmt: skip
    return HTMLResponse(page.replace("{{CONFIG_JSON}}", config.replace("</", "<\\/")))


def healthz(request: Request) -> JSONResponse:
    state = _state(request)
    s = state.settings
    return JSONResponse(
        {
            "status": "ok",
            "env": s.env,
            "backend": s.backend,
            "metric_namespace": s.metric_namespace,
            "warehouse": {
                "path": str(s.warehouse_path),
                "exists": Path(s.warehouse_path).exists(),
                "snapshots": state.warehouse.copies,
                "torn_copies": state.warehouse.torn_copies,
            },
        }
    )


def widgets(request: Request) -> JSONResponse:
    return JSONResponse({"widgets": data.spec_json(_state(request).settings)})


def series(request: Request) -> JSONResponse:
    state = _state(request)
    key = request.query_params.get("widget")
    if not key:
        raise data.DashboardRequestError("missing query parameter 'widget'")
    widget = data.widget_by_key(key)
    range_s = _int_param(request, "range", data.DEFAULT_RANGE_S)
    if "end" in request.query_params:  # a pinned window: computed as asked, never cached
        end_ms = data.check_end(_int_param(request, "end", 0))
        return JSONResponse(
            data.widget_series(
                widget,
                state.metrics,
                state.settings,
                range_s=range_s,
                now_ms=end_ms,
                warehouse=state.warehouse,
            )
        )
    data.check_range(range_s)
    return JSONResponse(
        state.cached(
            ("series", key, range_s),
            lambda: data.widget_series(
                widget,
                state.live_metrics,
                state.settings,
                range_s=range_s,
                now_ms=state.live_now_ms(),
                warehouse=state.warehouse,
            ),
        )
    )


def summary(request: Request) -> JSONResponse:
    state = _state(request)
    range_s = _int_param(request, "range", data.DEFAULT_RANGE_S)
    if "end" in request.query_params:
        end_ms = data.check_end(_int_param(request, "end", 0))
        return JSONResponse(
            data.headline(
                state.metrics, state.settings, range_s=range_s, now_ms=end_ms, warehouse=state.warehouse
            )
        )
    data.check_range(range_s)
    return JSONResponse(
        state.cached(
            ("summary", range_s),
            lambda: data.headline(
                state.live_metrics,
                state.settings,
                range_s=range_s,
                now_ms=state.live_now_ms(),
                warehouse=state.warehouse,
            ),
        )
    )


def table_index(request: Request) -> JSONResponse:
    return JSONResponse({"tables": tables.table_list()})


def table(request: Request) -> JSONResponse:
    state = _state(request)
    key = request.path_params["key"]
    limit = tables.check_limit(_int_param(request, "limit", tables.DEFAULT_LIMIT))
    if key == tables.RECENT_FRAUD:
        # From the analyst views' verdict index: each delivered file is read once, not per refresh.
        return JSONResponse(analyst_api.recent_fraud_table(state, limit))
    mart = tables.mart_by_key(key)
    return JSONResponse(tables.read_mart(state.warehouse, mart, limit))


async def request_error(request: Request, exc: Exception) -> JSONResponse:
    message = str(exc)
    status = 404 if message.startswith("unknown ") else 400
    return JSONResponse({"error": message}, status_code=status)


async def backend_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": f"metrics backend failed: {exc}"}, status_code=502)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if request.url.path.startswith("/api/") or request.url.path == "/healthz":
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    return Response(f"{exc.status_code} {exc.detail}\n", exc.status_code, media_type="text/plain")


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every HTTP response (pure ASGI: no per-request task)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(state: DashboardState) -> Starlette:
    app = Starlette(
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(TrustedHostMiddleware, allowed_hosts=list(ALLOWED_HOSTS), www_redirect=False),
        ],
        routes=[
            Route("/", index),
            Route("/healthz", healthz),
            Route("/api/widgets", widgets),
            Route("/api/series", series),
            Route("/api/summary", summary),
            Route("/api/tables", table_index),
            Route("/api/tables/{key}", table),
            *analyst_api.ROUTES,  # the analyst views' API (review queue, campaigns, labels, rules, health)
            Mount("/static", StaticFiles(directory=PACKAGE_DIR / "static"), name="static"),
        ],
        exception_handlers={
            data.DashboardRequestError: request_error,
            data.SeriesUnavailable: backend_error,
            HTTPException: http_error,
        },
    )
    app.state.dashboard = state
    return app


def _server(state: DashboardState, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(state), host=HOST, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    return uvicorn.Server(config)


class _Terminated(Exception):
    """SIGTERM arrived: a requested, graceful stop."""


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def serve(settings: Settings, port: int) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), then remove the warehouse snapshots.

    uvicorn shuts down on SIGTERM and then raises the signal again with the handler it found;
    with the default one the process would die there, before `state.close()`. This handler
    turns it into an exception, so the cleanup runs and the command exits 0 (a requested stop).
    """
    state = DashboardState(settings)
    analyst_api.warm(state)  # start reading the lake's newest hours before the first page asks
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if main_thread else None
    try:
        _server(state, port).run()
    except _Terminated:
        pass
    finally:
        state.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def running(state: DashboardState, port: int, timeout_s: float = 10.0) -> Iterator[str]:
    """Serve in a background thread (tests, benchmarks); yields the base URL."""
    server = _server(state, port)
    thread = threading.Thread(target=server.run, name="dashboard", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"dashboard did not start on {HOST}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout_s)
