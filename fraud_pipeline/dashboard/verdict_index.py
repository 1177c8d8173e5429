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
SMALL_WINDOW_FILES = 24  # a first read of at most this many files is waited for (moments)
# The first read pauses this share of each file's read time after it: the requests it shares the
# interpreter (GIL) and the cores with run in between, for a first picture that much later.
FIRST_READ_PAUSE_SHARE = 0.5
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
    building: bool = False  # the first picture is still being read: `hours` holds those read so far
    hours_total: int = 0  # hour folders in the window (of which `hours` are read)
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


class Merged:
    """The window's actionable posts, newest version per uri, verdicts applied, deletes removed,
    kept sorted newest first. A new file updates only the posts it touches; a file leaving the
    window (once an hour) rebuilds it all."""

    def __init__(self) -> None:
        self.posts: dict[str, dict[str, Any]] = {}  # uri -> newest version of the post
        self.deleted: dict[str, int] = {}  # uri -> newest delete's time_us
        self.verdicts: dict[str, dict[str, Any]] = {}  # uri -> latest verdict update
        self.shown: dict[str, tuple[tuple[int, str], dict[str, Any]]] = {}  # uri -> (key, row)
        self.keys: list[tuple[int, str]] = []  # ascending (-time_us, uri)
        self.rows: list[dict[str, Any]] = []  # aligned with keys: newest first

    def add(self, rows: FileRows) -> set[str]:
        """Take in one file's rows; the uris whose shown row may have changed."""
        touched: set[str] = set()
        for post in rows.posts:
            touched.add(self.add_post(post))
        for uri, time_us in rows.deletes:
            self.deleted[uri] = max(self.deleted.get(uri, 0), time_us or 0)
            touched.add(uri)
        for verdict in rows.verdicts:
            known = self.verdicts.get(verdict["uri"])
            if known is None or (verdict["scored_at_us"] or 0) >= (known["scored_at_us"] or 0):
                self.verdicts[verdict["uri"]] = verdict
            touched.add(verdict["uri"])
        return touched

    def add_post(self, post: dict[str, Any]) -> str:
        known = self.posts.get(post["uri"])
        if known is None or (post["time_us"] or 0) >= (known["time_us"] or 0):
            self.posts[post["uri"]] = post
        return str(post["uri"])

    def _row(self, uri: str) -> dict[str, Any] | None:
        post = self.posts.get(uri)
        if post is None or (uri in self.deleted and self.deleted[uri] >= (post["time_us"] or 0)):
            return None
        update = self.verdicts.get(uri)
        return _apply_verdict(post, update) if update is not None else post

    def settle(self, touched: set[str]) -> None:
        """Re-place the touched posts in the sorted lists (new lists: readers keep the old)."""
        keys, rows = list(self.keys), list(self.rows)
        for uri in touched:
            old = self.shown.pop(uri, None)
            if old is not None:
                at = bisect.bisect_left(keys, old[0])
                del keys[at]
                del rows[at]
            row = self._row(uri)
            if row is not None:
                key = (-(row["time_us"] or 0), uri)
                at = bisect.bisect_left(keys, key)
                keys.insert(at, key)
                rows.insert(at, row)
                self.shown[uri] = (key, row)
        self.keys, self.rows = keys, rows

    def rebuild(self) -> None:
        """Everything sorted again from the raw dicts (after files left the window)."""
        shown = {}
        for uri in self.posts:
            row = self._row(uri)
            if row is not None:
                shown[uri] = ((-(row["time_us"] or 0), uri), row)
        ordered = sorted(shown.values(), key=lambda item: item[0])
        self.shown = shown
        self.keys = [key for key, _ in ordered]
        self.rows = [row for _, row in ordered]


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
        self._merged = Merged()
        self._searched: set[str] = set()  # verdict uris whose post was looked for
        self._partial: IndexView | None = None  # the first picture so far, newest hours first
        self._builder: threading.Thread | None = None
        self._failure: Exception | None = None
        self._planned: int | None = None  # files the first read found to read
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

    def _fill_relabelled(self) -> set[str]:
        """Bring in the posts a verdict update re-labelled that the index left out when it read
        their file (they had no verdict then): each such file is re-read once, for those posts.
        Each verdict's post is looked for once; the uris brought in are returned."""
        missing = {uri for uri in self._merged.verdicts if uri not in self._merged.posts} - self._searched
        if not missing:
            return set()
        self._searched |= missing
        wanted = pa.array(sorted(missing), pa.string())
        found_uris: set[str] = set()
        for key, rows in list(self._files.items()):
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
            self._files[key] = FileRows(
                rows.key,
                rows.size,
                rows.posts + found,
                rows.verdicts,
                rows.deletes,
                rows.rows_read,
                rows.other_uris.filter(pc.invert(hit)),
            )
            found_uris |= {self._merged.add_post(post) for post in found}
        return found_uris

    def view(self) -> IndexView:
        """The current picture, refreshed from the lake when `refresh_every_s` has passed.

        The first picture reads every file of the window (seconds with millions of posts), so it
        is read in the background, newest hour first: a request never waits for a big window;
        it gets the picture so far (the hours read, possibly none) marked `building`, and the
        page says so and asks again on its next refresh. Only a window of a few files (at most
        `SMALL_WINDOW_FILES`: moments of work) is waited for. Later refreshes read only new
        files, in the request.
        """
        with self._lock:
            if self._view is not None:
                if self.clock() - self._checked_at >= self.refresh_every_s:
                    self._refresh()
                return self._view
            if self._failure is not None and (self._builder is None or not self._builder.is_alive()):
                failure, self._failure = self._failure, None  # the next request tries again
                raise failure
            builder = self._start_locked()
        while builder.is_alive() and (self._planned is None or self._planned <= SMALL_WINDOW_FILES):
            # Still listing, or only a few files to read: the answer is moments away.
            builder.join(0.05)
        with self._lock:
            if self._view is not None:
                return self._view
            if self._failure is not None and not builder.is_alive():
                failure, self._failure = self._failure, None
                raise failure
            return self._partial or IndexView(building=True)

    def start(self) -> None:
        """Begin the first picture in the background now, without waiting for it."""
        with self._lock:
            if self._view is None:
                self._start_locked()

    def _start_locked(self) -> threading.Thread:
        if self._builder is None or not self._builder.is_alive():
            self._failure = None
            self._builder = threading.Thread(target=self._first_build, name="verdict-index", daemon=True)
            self._builder.start()
        return self._builder

    def _first_build(self) -> None:
        # Alone: nobody else refreshes while there is no picture (requests read `_partial`).
        try:
            self._read_newest_first()
            self._refresh()  # lists again, reads what landed meanwhile, merges it all as always
        except (ObjectStoreError, OSError) as exc:
            self._failure = exc

    def _read_newest_first(self) -> None:
        """Read the window's files hour by hour, newest first, publishing the picture so far after
        each hour, so the review queue fills from the top while older hours are read. After each
        file it pauses (`FIRST_READ_PAUSE_SHARE` of that file's read time), so the requests it
        shares the interpreter with are not held up behind it."""
        hours = self._hour_prefixes()
        listed = [self._listed(hour) for hour in hours]
        self._planned = sum(len(files) for files in listed)
        if self._planned <= SMALL_WINDOW_FILES:
            return  # small: `_refresh` reads it at once, and requests wait for that
        merged = Merged()
        for done, files in enumerate(listed, start=1):
            for key, size in sorted(files.items()):
                started = time.monotonic()
                rows = self._read(key, size)
                if rows is not None:
                    merged.add(rows)
                time.sleep((time.monotonic() - started) * FIRST_READ_PAUSE_SHARE)  # requests go first
            merged.rebuild()
            read = [self._files[k] for files_ in listed[:done] for k in files_ if k in self._files]
            partial = IndexView(
                posts=merged.rows,
                files=len(read),
                rows_read=sum(f.rows_read for f in read),
                skipped=list(self._skipped.values()),
                hours=hours[:done],
                hours_total=len(hours),
                built_at_ms=int(time.time() * 1000),
                building=True,
                _keys=merged.keys,
            )
            with self._lock:
                self._partial = partial

    def _listed(self, hour: str) -> dict[str, int]:
        """The Parquet files of one hour folder the index reads (key -> size)."""
        return {
            obj.key: obj.size
            for obj in self.store.list_objects(hour, recursive=False)
            if obj.key.endswith(".parquet") and obj.size <= MAX_FILE_BYTES
        }

    def _read(self, key: str, size: int) -> FileRows | None:
        """One file's rows, kept in `_files`; None (and the file recorded as skipped) if unreadable."""
        try:
            rows = _read_file(self.store, key, size)
        except (OSError, pa.ArrowException, ObjectStoreError, KeyError) as exc:
            self._skipped[key] = {"key": key, "error": str(exc)[:300]}
            return None
        self._files[key] = rows
        self.files_read += 1
        return rows

    def _refresh(self) -> None:
        self._checked_at = self.clock()
        hours = self._hour_prefixes()
        listed: dict[str, int] = {}
        for hour in hours:
            listed.update(self._listed(hour))
        self._planned = len(listed)
        removed = [k for k in self._files if k not in listed]
        for key in removed:
            del self._files[key]
        for key in [k for k in self._skipped if k not in listed]:
            del self._skipped[key]
        added: list[FileRows] = []
        for key, size in sorted(listed.items()):
            known = self._files.get(key)
            if (known is not None and known.size == size) or key in self._skipped:
                continue
            rows = self._read(key, size)
            if rows is not None:
                added.append(rows)
        if self._view is not None and not removed and not added:
            return
        if removed or self._view is None:  # files left the window (or the first picture): all again
            self._merged = Merged()
            self._searched = set()
            added = [self._files[k] for k in sorted(self._files)]
        touched: set[str] = set()
        for rows in added:
            touched |= self._merged.add(rows)
        touched |= self._fill_relabelled()
        if removed or self._view is None:
            self._merged.rebuild()
        else:
            self._merged.settle(touched)
        files = list(self._files.values())
        self._view = IndexView(
            posts=self._merged.rows,
            files=len(files),
            rows_read=sum(f.rows_read for f in files),
            skipped=list(self._skipped.values()),
            hours=hours,
            hours_total=len(hours),
            built_at_ms=int(time.time() * 1000),
            _keys=self._merged.keys,
        )
        self._partial = None
