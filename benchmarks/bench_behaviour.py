"""Behaviour across shards: campaign detection over 16 shards, throughput, DynamoDB round trips.

Three measurements, one JSON object:

1. `detection`: a synthetic capture (`ingest/synth.py`: five campaign shapes from brand-new
   accounts, benign repetition from accounts with a history, organic traffic) is replayed over
   `--shards` shards in event-time order. Each shard has its own scorer and tracker (as its own
   Lambda runtime) and batches like the event source mapping (up to 500 posts, or 1 s of
   stream); the shards share only the SQLite state store (the text model object is shared too:
   it holds no state). Verdict updates are applied as compaction does (latest wins). Reported:
   campaign recall counting each campaign's posts after its 10th, at scoring time and final;
   benign posts flagged (`label` or `review`) and auto-labelled (`label`); the benign repetition
   groups; per shape; and the text model alone at its review threshold on the same posts.
2. `throughput`: signals + rules + state on one core, SQLite store, batches of 500, with a
   zero-cost stand-in for the text model (the models are measured in bench_text_model.py):
   median of `--repeats` runs, posts per CPU second of this process (SQLite runs in it; CPU
   time, because the benchmark box is shared; the per-text caches emptied before the scorer's
   run, so replaying the capture again does not find its texts read); the tracker alone on SQLite and on the
   in-memory store beside it. Each process that times (this one, each child below) first scores
   a few batches untimed (`_warm_up`), as a runtime has before its first timed batch.
   With `--baseline REV` the same throughput of the code at git revision REV beside it, in
   the same run: that revision's package and policy are extracted with `git archive` and
   timed in a child process on the same posts, alternating with this code's repeats.
   With `--compiled` the same code's compiled build beside it (`fraud_pipeline/compiled_build.py`:
   the wheel the Lambda image installs, built once into a temporary folder, a few CPU minutes;
   `--compiled-wheel FILE` times a wheel built already), timed in a child process with that
   wheel first on its path, alternating with the others. Its posts are built by the compiled
   package itself from the same seed (a compiled `Post` does not unpickle a pure one's state).
   The compiled build is what production runs (the Lambda image), so with it the headline
   (`headline_posts_per_s`) is the compiled figure, and `headline_build` says so.
   `--baseline-wheel FILE` times another compiled wheel (an earlier revision's, from
   `compiled_build.build_wheel`) the same way, alternating with the others (`baseline_compiled`):
   the compiled builds of two revisions side by side.
3. `dynamodb_calls`: the tracker over DynamoDB on moto's server: store round trips per batch
   of 500 (median and max), by operation.

    python benchmarks/bench_behaviour.py [--events 60000] [--shards 16] [--skip-dynamodb]
    python benchmarks/bench_behaviour.py --skip-detection --skip-dynamodb --baseline 9aeb0cd
    python benchmarks/bench_behaviour.py --skip-detection --skip-dynamodb --compiled --repeats 5
    python benchmarks/bench_behaviour.py --skip-detection --skip-dynamodb --compiled-wheel NEW.whl \
        --baseline-wheel OLD.whl --repeats 5
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from baseline import call_in_revision, extract_revision

ROOT = Path(__file__).resolve().parents[1]
FLAGGED = ("label", "review")


class ZeroModel:
    """A text model that costs nothing and says nothing: isolates signals + rules + state."""

    version = "zero"
    threshold = 0.5

    def score(self, texts: Sequence[str]) -> list[float]:
        return [0.0] * len(texts)


def _capture(events: int, seed: int, rate: float) -> tuple[list[Any], dict[str, dict[str, Any]]]:
    from fraud_pipeline.ingest.normalize import normalize
    from fraud_pipeline.ingest.synth import Synthesizer, load_texts

    texts = load_texts([ROOT / "data" / "labeled" / "train.jsonl"])
    synth = Synthesizer(texts, seed=seed, rate=rate)
    posts, labels = [], {}
    for event, label in synth.events(events):
        result = normalize(orjson.dumps(event))
        if result.post is None:
            continue
        posts.append(result.post)
        if label is not None:
            labels[label.uri] = {
                "label": label.label,
                "campaign_id": label.campaign_id,
                "shape": label.shape,
                "group_id": label.group_id,
            }
    return posts, labels


def _replay(posts: list[Any], shards: int, state_path: Path, text_scorer: Any) -> list[Any]:
    """Score over `shards` independent scorers sharing only the state store, batched like the
    event source mapping (500 records or 1 s of stream time per shard)."""
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from fraud_pipeline.state.sqlite import SqliteStateStore
    from fraud_pipeline.streams.sqlite_log import shard_index_for_key

    scorers = [
        PostScorer(text_scorer, None, behaviour_state=SqliteStateStore(state_path)) for _ in range(shards)
    ]
    pending: list[list[Any]] = [[] for _ in range(shards)]
    out: list[Any] = []

    def flush(shard: int) -> None:
        if pending[shard]:
            out.extend(scorers[shard].score(pending[shard])[0])
            pending[shard] = []

    for post in posts:
        shard = shard_index_for_key(post.did, shards)
        pending[shard].append(post)
        for other in range(shards):
            batch = pending[other]
            if batch and (len(batch) >= 500 or post.time_us - batch[0].time_us >= 1_000_000):
                flush(other)
    for shard in range(shards):
        flush(shard)
    return out


def _final(tagged: list[Any]) -> dict[str, dict[str, Any]]:
    """uri -> final verdict, verdict updates applied as compaction does (latest wins)."""
    from fraud_pipeline.records import VERDICT_OPERATION

    final: dict[str, dict[str, Any]] = {}
    for record in tagged:
        if record.operation in ("create", "update"):
            final[record.uri] = {
                "action": record.action,
                "text_p": record.fraud_text_likelihood,
                "scored_action": record.action,
            }
    latest: dict[str, Any] = {}
    for record in tagged:
        if record.operation == VERDICT_OPERATION:
            known = latest.get(record.uri)
            if known is None or record.scored_at_us > known.scored_at_us:
                latest[record.uri] = record
    for uri, update in latest.items():
        if uri in final:
            final[uri]["action"] = update.action
    return final


def _rate(hits: int, total: int) -> float:
    return round(hits / total, 4) if total else 0.0


def detection(events: int, shards: int, seed: int, rate: float) -> dict[str, Any]:
    from fraud_pipeline.scoring.handler import build_post_scorer
    from fraud_pipeline.settings import load_settings

    posts, labels = _capture(events, seed, rate)
    text_scorer = build_post_scorer(load_settings(environ={})).text_scorer
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        tagged = _replay(posts, shards, Path(tmp) / "state.db", text_scorer)
        seconds = time.perf_counter() - started
    final = _final(tagged)
    from fraud_pipeline.policy import load_default_policy

    review_point = load_default_policy().spec.thresholds.text_model.review
    campaigns: dict[str, list[str]] = defaultdict(list)
    time_of: dict[str, int] = {}
    for p in posts:  # a post's time is its creation's: a later edit or delete does not move it
        time_of.setdefault(p.uri, p.time_us)
    for uri, truth in labels.items():
        if truth["campaign_id"] and uri in final:
            campaigns[truth["campaign_id"]].append(uri)
    after_10th: list[str] = []
    shape_after: dict[str, list[str]] = defaultdict(list)
    for members in campaigns.values():
        ordered = sorted(members, key=lambda u: time_of[u])
        after_10th.extend(ordered[10:])
        shape_after[labels[ordered[0]]["shape"]].extend(ordered[10:])
    campaign_all = [u for members in campaigns.values() for u in members]
    benign = [u for u, t in labels.items() if t["label"] == 0 and u in final]
    repetition = [u for u in benign if labels[u]["group_id"]]
    lone_fraud = [u for u, t in labels.items() if t["label"] == 1 and not t["campaign_id"] and u in final]

    def flagged(uris: list[str], key: str = "action") -> int:
        return sum(final[u][key] in FLAGGED for u in uris)

    def text_alone(uris: list[str]) -> int:
        return sum((final[u]["text_p"] or 0.0) >= review_point for u in uris)

    return {
        "events": events,
        "posts": len(final),
        "shards": shards,
        "campaigns": len(campaigns),
        "campaign_posts": len(campaign_all),
        "campaign_posts_after_10th": len(after_10th),
        "benign_posts": len(benign),
        "benign_repetition_posts": len(repetition),
        "replay_seconds": round(seconds, 1),
        "pipeline": {
            "campaign_recall_after_10th_final": _rate(flagged(after_10th), len(after_10th)),
            "campaign_recall_after_10th_at_scoring": _rate(
                flagged(after_10th, "scored_action"), len(after_10th)
            ),
            "campaign_recall_all_final": _rate(flagged(campaign_all), len(campaign_all)),
            "campaign_recall_all_at_scoring": _rate(
                flagged(campaign_all, "scored_action"), len(campaign_all)
            ),
            "recall_after_10th_by_shape": {
                shape: _rate(flagged(uris), len(uris)) for shape, uris in sorted(shape_after.items())
            },
            "lone_fraud_recall": _rate(flagged(lone_fraud), len(lone_fraud)),
            "benign_flagged_rate": _rate(flagged(benign), len(benign)),
            "benign_auto_labelled_rate": _rate(
                sum(final[u]["action"] == "label" for u in benign), len(benign)
            ),
            "benign_repetition_flagged": flagged(repetition),
            "verdict_updates": sum(1 for t in tagged if t.operation == "verdict"),
        },
        "text_model_alone": {
            "threshold": review_point,
            "campaign_recall_after_10th": _rate(text_alone(after_10th), len(after_10th)),
            "campaign_recall_all": _rate(text_alone(campaign_all), len(campaign_all)),
            "lone_fraud_recall": _rate(text_alone(lone_fraud), len(lone_fraud)),
            "benign_flagged_rate": _rate(text_alone(benign), len(benign)),
        },
    }


def _clear_text_caches() -> None:
    """Empty every per-text cache the scoring path may have (whichever the revision holds), so
    each timed run reads its texts afresh: the same capture replayed would otherwise find
    every text read already, which a live stream (mostly new texts) never does. The same for
    the behaviour tracker's decoded sightings (`signals._DECODED`, by stored value): a replay
    writes the very values an earlier run decoded, which a live stream's new posts never are."""
    import importlib

    for module_name, names in (
        ("fraud_pipeline.scoring.canonical", ("text_views", "fingerprint_text", "text_forms")),
        ("fraud_pipeline.scoring.signal_registry", ("read_text",)),
        ("fraud_pipeline.scoring.signals", ("fold_text",)),
    ):
        module = importlib.import_module(module_name)
        for name in names:
            clear = getattr(getattr(module, name, None), "cache_clear", None)
            if clear is not None:
                clear()
    decoded = getattr(importlib.import_module("fraud_pipeline.scoring.signals"), "_DECODED", None)
    if isinstance(decoded, dict):
        decoded.clear()


def _rates_once(posts: list[Any]) -> tuple[float, float, float]:
    """Posts per CPU second: the scorer (signals + rules + state, SQLite), the tracker alone on
    SQLite and on the in-memory store. Imports whatever `fraud_pipeline` is on the path (the
    baseline child runs this same function against an older package)."""
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from fraud_pipeline.scoring.signals import BehaviorTracker
    from fraud_pipeline.state.memory import MemoryStateStore
    from fraud_pipeline.state.sqlite import SqliteStateStore

    tracker = BehaviorTracker(MemoryStateStore())
    started = time.process_time()
    for start in range(0, len(posts), 500):
        tracker.observe_batch(posts[start : start + 500])
    memory = len(posts) / (time.process_time() - started)
    with tempfile.TemporaryDirectory() as tmp:
        scorer = PostScorer(ZeroModel(), None, behaviour_state=SqliteStateStore(Path(tmp) / "a.db"))
        _clear_text_caches()  # the tracker run above read the texts: the scorer reads them afresh
        started = time.process_time()
        for start in range(0, len(posts), 500):
            scorer.score(posts[start : start + 500])
        scored = len(posts) / (time.process_time() - started)
        tracker = BehaviorTracker(SqliteStateStore(Path(tmp) / "b.db"))
        started = time.process_time()
        for start in range(0, len(posts), 500):
            tracker.observe_batch(posts[start : start + 500])
        tracked = len(posts) / (time.process_time() - started)
    return scored, tracked, memory


def _warm_up(posts: list[Any]) -> None:
    """What a scoring runtime does once, before its first batch is timed: the lazily built
    tables (the confusables, the policy's compiled rules and patterns) built by scoring a few
    batches with a throwaway scorer. Every process that times runs it once first (the parent and
    each child), so no figure carries start-up costs the others do not."""
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from fraud_pipeline.state.sqlite import SqliteStateStore

    with tempfile.TemporaryDirectory() as tmp:
        scorer = PostScorer(ZeroModel(), None, behaviour_state=SqliteStateStore(Path(tmp) / "warm.db"))
        for start in range(0, min(len(posts), 2_000), 500):
            scorer.score(posts[start : start + 500])


def _baseline_child(posts_file: str) -> None:
    """Entry point of the baseline child: one repeat of `_rates_once`, as JSON on stdout."""
    posts = pickle.loads(Path(posts_file).read_bytes())
    _warm_up(posts)
    print(json.dumps(_rates_once(posts)))


def _posts_child(posts_file: str, events: str, seed: str, rate: str) -> None:
    """Entry point of the compiled child: the throughput capture built by the package on the
    path (the compiled build's own classes), pickled to `posts_file`; which build it is."""
    from fraud_pipeline.compiled_build import build, compiled_modules

    posts = [p for p in _capture(int(events), int(seed), float(rate))[0] if p.operation != "delete"]
    Path(posts_file).write_bytes(pickle.dumps(posts))
    print(json.dumps({"posts": len(posts), "build": build(), "compiled_modules": compiled_modules()}))


def _build_of_this_process() -> str:
    try:
        from fraud_pipeline.compiled_build import build
    except ImportError:  # a revision older than the compiled build
        return "pure"
    return build()


def _compiled_tree(tmp: Path, wheel: str | None) -> tuple[Path, dict[str, Any]]:
    """The compiled wheel (built from this checkout unless `wheel` is given) unpacked under `tmp`."""
    from fraud_pipeline.compiled_build import build_wheel, unpack_wheel

    info: dict[str, Any] = {}
    if wheel is None:
        started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        built = build_wheel(ROOT, tmp / "wheel")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        info["build_wall_seconds"] = round(time.perf_counter() - started)
        info["build_cpu_seconds"] = round(after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime)
    else:
        built = Path(wheel)
    info["wheel"] = built.name
    return unpack_wheel(built, tmp / "compiled"), info


def _rates_in_child(tree: Path, posts_file: Path) -> tuple[float, float, float]:
    """One repeat of `_rates_once` by a child running the package under `tree`."""
    scored, tracked, memory = call_in_revision(tree, __file__, "_baseline_child", str(posts_file))
    return scored, tracked, memory


def _medians(rates: list[tuple[float, float, float]]) -> dict[str, int]:
    return {
        "signals_rules_state_posts_per_s_median": round(statistics.median(r[0] for r in rates)),
        "tracker_state_only_posts_per_s_median": round(statistics.median(r[1] for r in rates)),
        "tracker_memory_store_posts_per_s_median": round(statistics.median(r[2] for r in rates)),
    }


def throughput(
    events: int,
    seed: int,
    rate: float,
    repeats: int,
    baseline: str | None = None,
    compiled: bool = False,
    compiled_wheel: str | None = None,
    baseline_wheel: str | None = None,
) -> dict[str, Any]:
    posts = [p for p in _capture(events, seed, rate)[0] if p.operation != "delete"]
    mine: list[tuple[float, float, float]] = []
    theirs: list[tuple[float, float, float]] = []
    native: list[tuple[float, float, float]] = []
    native_before: list[tuple[float, float, float]] = []
    result: dict[str, Any] = {"posts": len(posts), "batch": 500, "repeats": repeats}
    with tempfile.TemporaryDirectory() as tmp:
        if baseline:
            (Path(tmp) / "baseline").mkdir()
            extract_revision(baseline, Path(tmp) / "baseline")
            posts_file = Path(tmp) / "posts.pickle"
            posts_file.write_bytes(pickle.dumps(posts))
        if compiled or compiled_wheel:
            tree, info = _compiled_tree(Path(tmp), compiled_wheel)
            native_posts = Path(tmp) / "compiled-posts.pickle"
            loaded = call_in_revision(
                tree, __file__, "_posts_child", str(native_posts), str(events), str(seed), str(rate)
            )
            if loaded["posts"] != len(posts):
                raise RuntimeError(
                    f"the compiled build made {loaded['posts']} posts, the pure code {len(posts)}"
                )
            info.update(build=loaded["build"], compiled_modules=loaded["compiled_modules"])
        if baseline_wheel:
            from fraud_pipeline.compiled_build import unpack_wheel

            before_tree = unpack_wheel(Path(baseline_wheel), Path(tmp) / "baseline-compiled")
            before_posts = Path(tmp) / "baseline-compiled-posts.pickle"
            before_info = call_in_revision(
                before_tree, __file__, "_posts_child", str(before_posts), str(events), str(seed), str(rate)
            )
        _warm_up(posts)
        for _ in range(repeats):
            mine.append(_rates_once(posts))
            if compiled or compiled_wheel:
                native.append(_rates_in_child(tree, native_posts))
            if baseline_wheel:
                native_before.append(_rates_in_child(before_tree, before_posts))
            if baseline:
                theirs.append(_rates_in_child(Path(tmp) / "baseline", posts_file))
    result["pure"] = {"build": _build_of_this_process(), **_medians(mine)}
    result.update(_medians(mine))  # the pure figures at the top level too, as before the compiled build
    if native:
        result["compiled"] = {**info, **_medians(native)}
        result["compiled_over_pure"] = round(
            result["compiled"]["signals_rules_state_posts_per_s_median"]
            / result["pure"]["signals_rules_state_posts_per_s_median"],
            2,
        )
    headline = "compiled" if native else "pure"
    result["headline_build"] = headline
    result["headline_posts_per_s"] = result[headline]["signals_rules_state_posts_per_s_median"]
    result["headline_note"] = (
        "signals + rules + state of the build production runs (the Lambda image installs the compiled wheel)"
        if native
        else "the pure-Python code only (run with --compiled for the build production runs)"
    )
    result["target_posts_per_s"] = 25_000
    if baseline:
        result["baseline"] = {"revision": baseline, **_medians(theirs)}
    if native_before:
        result["baseline_compiled"] = {
            "wheel": str(baseline_wheel),
            "build": before_info["build"],
            **_medians(native_before),
        }
    return result


def dynamodb_calls(events: int, seed: int, rate: float, batches: int) -> dict[str, Any]:
    import socket

    from moto.server import ThreadedMotoServer

    from fraud_pipeline.scoring.signals import BehaviorTracker
    from fraud_pipeline.state.dynamodb import DynamoDbStateStore, dynamodb_client, ensure_table

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        import os

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        client = dynamodb_client("us-east-1", f"http://127.0.0.1:{port}")
        ensure_table(client, "bench-state")
        store = DynamoDbStateStore(client, "bench-state")
        tracker = BehaviorTracker(store)
        posts = [p for p in _capture(events, seed, rate)[0] if p.operation != "delete"]
        per_batch: list[int] = []
        seconds: list[float] = []
        totals: Counter[str] = Counter()
        for start in range(0, min(len(posts), batches * 500), 500):
            before = Counter(store.calls)
            started = time.perf_counter()
            tracker.observe_batch(posts[start : start + 500])
            seconds.append(time.perf_counter() - started)
            spent = Counter(store.calls)
            spent.subtract(before)
            per_batch.append(sum(spent.values()))
            totals.update(spent)
    finally:
        server.stop()
    return {
        "batches_of_500": len(per_batch),
        "calls_per_batch_median": statistics.median(per_batch),
        "calls_per_batch_max": max(per_batch),
        "calls_by_operation_per_batch": {k: round(v / len(per_batch), 1) for k, v in sorted(totals.items())},
        "seconds_per_batch_median_on_moto": round(statistics.median(seconds), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second of stream time")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    # moto deep-copies the whole table on every transaction: keep its table small.
    parser.add_argument("--dynamodb-batches", type=int, default=3)
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-dynamodb", action="store_true")
    parser.add_argument("--baseline", metavar="REV", help="also time the throughput of this git revision")
    parser.add_argument(
        "--compiled", action="store_true", help="also time this code's compiled build (builds the wheel once)"
    )
    parser.add_argument(
        "--compiled-wheel", metavar="FILE", help="time this compiled wheel (implies --compiled)"
    )
    parser.add_argument(
        "--baseline-wheel",
        metavar="FILE",
        help="also time this compiled wheel (an earlier revision's build) beside the others",
    )
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "behaviour_across_shards"}
    if not args.skip_detection:
        result["detection"] = detection(args.events, args.shards, args.seed, args.rate)
    if not args.skip_throughput:
        result["throughput"] = throughput(
            min(args.events, 20_000),
            args.seed,
            args.rate,
            args.repeats,
            args.baseline,
            args.compiled,
            args.compiled_wheel,
            args.baseline_wheel,
        )
    if not args.skip_dynamodb:
        result["dynamodb_calls"] = dynamodb_calls(
            min(args.events, 20_000), args.seed, args.rate, args.dynamodb_batches
        )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
