"""An in-memory index of the newest verdicts in the raw lake, so the analyst views never scan it.

The review queue, the live campaign view and "Recent fraud posts" need the newest posts that
carry a verdict (`action` review or label, or `is_fraud`) or a campaign, with the verdict
updates a campaign sent for its earlier posts applied and deletes removed. The raw lake
(`posts/YYYY/MM/DD/HH/*.parquet`) is the freshest place that has them, but it holds every post:
with millions of posts a scan per page refresh would cost seconds. Delivered files never change
once written (delivery writes new objects; compaction writes elsewhere), so each file is read
once, only its few actionable rows are kept, and a refresh only lists the newest hour folders
and reads the files it has not seen. Files older than the window (`hours` newest hour folders)
fall out of the index.

Per post the newest version wins (highest `time_us`); a verdict update (`operation =
"verdict"`) sets `action`, `is_fraud`, `fraud_score` and `campaign_id` and adds its labels,
reasons and rule hits, the latest (highest `scored_at_us`) winning, as compaction applies them
(`lake/verdicts.py`); a delete removes the post. Unreadable files are skipped and counted.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.objects.store import ObjectStoreError
from fraud_pipeline.records import VERDICT_OPERATION
from fraud_pipeline.settings import Settings

INDEX_HOURS = 6  # newest hour folders of the raw lake kept in the index
MAX_FILE_BYTES = 256 * 1024 * 1024
REFRESH_EVERY_S = 2.0
POST_COLUMNS: tuple[str, ...] = (
    "uri",
    "did",
    "rkey",
    "time_us",
    "time_utc",
    "text",
    "operation",
    "action",
    "is_fraud",
    "fraud_score",
    "fraud_text_likelihood",
    "fraud_media_likelihood",
    "labels",
    "reasons",
    "rule_hits",
    "policy_version",
    "campaign_id",
    "domains",
    "scored_at_us",
)
_REPLACED = ("is_fraud", "action", "fraud_score", "campaign_id")
_ADDED = ("labels", "reasons", "rule_hits")
_ACTED = pa.array(["review", "label"])
_LIST_COLUMNS = frozenset({"labels", "reasons", "rule_hits", "domains"})


@dataclass(frozen=True, slots=True)
class FileRows:
    """What one delivered file contributes: actionable posts, verdict updates, deletes."""

    key: str
    size: int
    posts: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    deletes: list[tuple[str, int]]  # (uri, time_us)
    rows_read: int
    # uris of the file's other posts (no verdict, no campaign), kept as one compact Arrow array:
    # a campaign's verdict update may later re-label one of them (`fill_relabelled`).
    other_uris: pa.Array | pa.ChunkedArray


@dataclass
class IndexView:
    """One consistent picture of the window: posts newest first, and how it was made."""

    posts: list[dict[str, Any]] = field(default_factory=list)  # newest first (time_us, uri)
    files: int = 0
    rows_read: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    hours: list[str] = field(default_factory=list)  # hour prefixes covered, newest first
    built_at_ms: int = 0
    _keys: list[tuple[int, str]] = field(default_factory=list)  # ascending (-time_us, uri) of posts

    def after(self, cursor: tuple[int, str] | None) -> int:
        """Index of the first post strictly older than `cursor` (time_us, uri) in newest-first order."""
        if cursor is None:
            return 0
        return bisect.bisect_right(self._keys, (-cursor[0], cursor[1]))


def _read_file(store: ObjectStore, key: str, size: int) -> FileRows:
    path = store.path(key)
    schema = pq.read_schema(path, filesystem=store.fs)
    columns = [c for c in POST_COLUMNS if c in schema.names]
    table = pq.read_table(path, filesystem=store.fs, columns=columns)
    rows_read = table.num_rows
    operation = table["operation"] if "operation" in columns else pa.nulls(rows_read, pa.string())
    is_post = pc.is_in(operation, value_set=pa.array(["create", "update"]))
    actionable = pc.is_valid(table["campaign_id"]) if "campaign_id" in columns else None
    for name, flagged in (("action", _ACTED), ("is_fraud", None)):
        if name in columns:  # older files may lack the newer columns
            hit = pc.fill_null(
                table[name] if flagged is None else pc.is_in(table[name], value_set=flagged), False
            )
            actionable = hit if actionable is None else pc.or_(actionable, hit)
    if actionable is None:  # a file without any verdict column
        wanted_posts = table.slice(0, 0)
    else:
        wanted_posts = table.filter(pc.fill_null(pc.and_(is_post, actionable), False))
    other = (
        table.filter(pc.fill_null(pc.and_(is_post, pc.invert(actionable)), False))
        if actionable is not None
        else table.filter(is_post)
    )
    verdicts = table.filter(pc.fill_null(pc.equal(operation, VERDICT_OPERATION), False))
    deletes = table.filter(pc.fill_null(pc.equal(operation, "delete"), False))
    return FileRows(
        key=key,
        size=size,
        posts=[_complete(row) for row in wanted_posts.to_pylist()],
        verdicts=[_complete(row) for row in verdicts.select([c for c in columns if c != "text"]).to_pylist()],
        deletes=list(zip(deletes["uri"].to_pylist(), deletes["time_us"].to_pylist(), strict=True))
        if deletes.num_rows
        else [],
        rows_read=rows_read,
        other_uris=other["uri"].combine_chunks() if other.num_rows else pa.array([], pa.string()),
    )


def _read_posts(store: ObjectStore, key: str, uris: pa.Array) -> list[dict[str, Any]]:
    """The given posts of one file (re-read for posts a verdict update re-labelled)."""
    path = store.path(key)
    schema = pq.read_schema(path, filesystem=store.fs)
    columns = [c for c in POST_COLUMNS if c in schema.names]
    table = pq.read_table(path, filesystem=store.fs, columns=columns)
    wanted = pc.is_in(table["uri"], value_set=uris)
    if "operation" in columns:
        posts = pc.is_in(table["operation"], value_set=pa.array(["create", "update"]))
        wanted = pc.and_(wanted, posts)
    return [_complete(row) for row in table.filter(pc.fill_null(wanted, False)).to_pylist()]


def _complete(row: dict[str, Any]) -> dict[str, Any]:
    for name in POST_COLUMNS:
        if name not in row:
            row[name] = [] if name in _LIST_COLUMNS else None
        elif name in _LIST_COLUMNS and row[name] is None:
            row[name] = []
    if row.get("action") is None:
        row["action"] = "none"
    return row


def _apply_verdict(post: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    post = dict(post)
    for name in _REPLACED:
        if verdict.get(name) is not None:
            post[name] = verdict[name]
    for name in _ADDED:
        have = list(post.get(name) or [])
        have.extend(v for v in verdict.get(name) or [] if v not in have)
        post[name] = have
    post["relabelled"] = True
    return post


def merge(files: list[FileRows]) -> list[dict[str, Any]]:
    """The window's actionable posts, newest version per uri, verdicts applied, deletes removed."""
    posts: dict[str, dict[str, Any]] = {}
    deleted: dict[str, int] = {}
    latest_verdict: dict[str, dict[str, Any]] = {}
    for rows in files:
        for post in rows.posts:
            known = posts.get(post["uri"])
            if known is None or (post["time_us"] or 0) >= (known["time_us"] or 0):
                posts[post["uri"]] = post
        for uri, time_us in rows.deletes:
            deleted[uri] = max(deleted.get(uri, 0), time_us or 0)
        for verdict in rows.verdicts:
            known = latest_verdict.get(verdict["uri"])
            if known is None or (verdict["scored_at_us"] or 0) >= (known["scored_at_us"] or 0):
                latest_verdict[verdict["uri"]] = verdict
    out: list[dict[str, Any]] = []
    for uri, post in posts.items():
        if uri in deleted and deleted[uri] >= (post["time_us"] or 0):
            continue
        update = latest_verdict.get(uri)
        out.append(_apply_verdict(post, update) if update is not None else post)
    out.sort(key=lambda p: (-(p["time_us"] or 0), p["uri"]))
    return out


class VerdictIndex:
    """The newest `hours` hour folders of the raw lake, read once per file, merged on change."""

    def __init__(
        self,
        store: ObjectStore,
        settings: Settings,
        *,
        hours: int = INDEX_HOURS,
        refresh_every_s: float = REFRESH_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self.hours = hours
        self.refresh_every_s = refresh_every_s
        self.clock = clock
        self._lock = threading.Lock()
        self._files: dict[str, FileRows] = {}
        self._skipped: dict[str, dict[str, str]] = {}
        self._view: IndexView | None = None
        self._checked_at = float("-inf")
        self.files_read = 0  # for tests and the benchmark: files parsed since start

    def _hour_prefixes(self) -> list[str]:
        found: list[str] = []

        def walk(prefix: str, depth: int) -> None:
            for child in reversed(self.store.list_dirs(prefix)):
                if len(found) >= self.hours:
                    return
                if depth == 3:
                    found.append(child)
                else:
                    walk(child, depth + 1)

        walk(self.settings.posts_prefix, 0)
        return found

    def _fill_relabelled(self, files: list[FileRows]) -> None:
        """Bring in the posts a verdict update re-labelled that the index left out when it read
        their file (they had no verdict then): each such file is re-read once, for those posts."""
        indexed = {p["uri"] for f in files for p in f.posts}
        missing = {v["uri"] for f in files for v in f.verdicts} - indexed
        if not missing:
            return
        wanted = pa.array(sorted(missing), pa.string())
        for position, rows in enumerate(files):
            if not len(rows.other_uris):
                continue
            hit = pc.is_in(rows.other_uris, value_set=wanted)
            if not pc.any(hit).as_py():
                continue
            try:
                found = _read_posts(self.store, rows.key, rows.other_uris.filter(hit))
            except (OSError, pa.ArrowException, ObjectStoreError) as exc:
                self._skipped[rows.key] = {"key": rows.key, "error": str(exc)[:300]}
                continue
            updated = FileRows(
                rows.key,
                rows.size,
                rows.posts + found,
                rows.verdicts,
                rows.deletes,
                rows.rows_read,
                rows.other_uris.filter(pc.invert(hit)),
            )
            self._files[rows.key] = files[position] = updated

    def view(self) -> IndexView:
        """The current picture, refreshed from the lake when `refresh_every_s` has passed."""
        with self._lock:
            if self._view is None or self.clock() - self._checked_at >= self.refresh_every_s:
                self._refresh()
            assert self._view is not None
            return self._view

    def _refresh(self) -> None:
        self._checked_at = self.clock()
        hours = self._hour_prefixes()
        listed: dict[str, int] = {}
        for hour in hours:
            for obj in self.store.list_objects(hour, recursive=False):
                if obj.key.endswith(".parquet") and obj.size <= MAX_FILE_BYTES:
                    listed[obj.key] = obj.size
        changed = self._view is None
        for key in [k for k in self._files if k not in listed]:
            del self._files[key]
            changed = True
        for key in [k for k in self._skipped if k not in listed]:
            del self._skipped[key]
        for key, size in listed.items():
            known = self._files.get(key)
            if (known is not None and known.size == size) or key in self._skipped:
                continue
            try:
                self._files[key] = _read_file(self.store, key, size)
                self.files_read += 1
                changed = True
            except (OSError, pa.ArrowException, ObjectStoreError, KeyError) as exc:
                self._skipped[key] = {"key": key, "error": str(exc)[:300]}
        if not changed and self._view is not None:
            return
        files = [self._files[k] for k in sorted(self._files)]
        self._fill_relabelled(files)
        posts = merge(files)
        self._view = IndexView(
            posts=posts,
            files=len(files),
            rows_read=sum(f.rows_read for f in files),
            skipped=list(self._skipped.values()),
            hours=hours,
            built_at_ms=int(time.time() * 1000),
            _keys=[(-(p["time_us"] or 0), p["uri"]) for p in posts],
        )
