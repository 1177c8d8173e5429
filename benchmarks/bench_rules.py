"""The per-post CPU of judging a post once its behaviour is known: text readings, rules, verdict, record.

`bench_behaviour.py`'s throughput times signals + rules + state together; this isolates the
part that is not state. The behaviour signals of bench_behaviour's capture are computed once
(tracker on the in-memory store), then each post is judged as the scorer does
(`PostScorer._tag`: text readings, the policy's rules, the verdict and the tagged record),
with a zero-cost text model. Reported in CPU microseconds per post (the box is shared):

- `cold`: batches of 500 in stream order, the text caches emptied before the first (texts
  repeat across batches as campaigns repeat them);
- `warm`: each batch judged again right after (a re-delivered batch: every text seen).

Medians of `--repeats` runs. With `--baseline REV` the same figures of the code at git
revision REV beside them, in the same run (its package and policy extracted with `git
archive` and timed in a child process on the same posts and signals, alternating).

    python benchmarks/bench_rules.py [--events 20000] [--repeats 5] [--baseline d7a4fe2]
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline import call_in_revision, extract_revision
from bench_behaviour import _clear_text_caches

ROOT = Path(__file__).resolve().parents[1]


def _times_once(posts: list[Any], signals: list[Any]) -> tuple[float, float]:
    """(cold, warm) CPU microseconds per post of `_tag` over the posts. Imports whatever
    `fraud_pipeline` is on the path (the baseline child runs this against an older package)."""
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer, ScoreCounts

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_behaviour import ZeroModel

    scorer = PostScorer(ZeroModel(), None)
    active = scorer.policy.current()

    def judge(batch: list[Any], batch_signals: list[Any]) -> float:
        counts = ScoreCounts()
        started = time.process_time()
        for post, post_signals in zip(batch, batch_signals, strict=True):
            scorer._tag(active, post, post_signals, 0.0, None, None, None, counts)
        return time.process_time() - started

    from fraud_pipeline.scoring.canonical import tables

    tables()  # the UTS #39 tables: built once per process, not per batch
    _clear_text_caches()
    cold = warm = 0.0
    for start in range(0, len(posts), 500):
        batch, batch_signals = posts[start : start + 500], signals[start : start + 500]
        cold += judge(batch, batch_signals)
        warm += judge(batch, batch_signals)  # the batch again: a re-delivery, texts seen moments ago
    cold, warm = cold / len(posts) * 1e6, warm / len(posts) * 1e6
    return cold, warm


def _baseline_child(data_file: str) -> None:
    """Entry point of the baseline child: one repeat of `_times_once`, as JSON on stdout."""
    posts, signals = pickle.loads(Path(data_file).read_bytes())
    print(json.dumps(_times_once(posts, signals)))


def _medians(times: list[tuple[float, float]]) -> dict[str, float]:
    return {
        "cold_us_per_post_median": round(statistics.median(t[0] for t in times), 2),
        "warm_us_per_post_median": round(statistics.median(t[1] for t in times), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", metavar="REV", help="also time the code of this git revision")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_behaviour import _capture

    from fraud_pipeline.scoring.signals import BehaviorTracker
    from fraud_pipeline.state.memory import MemoryStateStore

    posts = [p for p in _capture(args.events, args.seed, args.rate)[0] if p.operation != "delete"]
    tracker = BehaviorTracker(MemoryStateStore())
    signals = [
        s for start in range(0, len(posts), 500) for s in tracker.observe_batch(posts[start : start + 500])
    ]
    mine: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            extract_revision(args.baseline, tmp)
            data_file = Path(tmp) / "posts.pickle"
            data_file.write_bytes(pickle.dumps((posts, signals)))
        for _ in range(args.repeats):
            mine.append(_times_once(posts, signals))
            if args.baseline:
                theirs.append(tuple(call_in_revision(tmp, __file__, "_baseline_child", str(data_file))))  # type: ignore[arg-type]
    result: dict[str, Any] = {
        "benchmark": "rules_and_verdict_per_post",
        "posts": len(posts),
        "distinct_texts": len({p.text for p in posts}),
        "repeats": args.repeats,
        **_medians(mine),
    }
    if args.baseline:
        result["baseline"] = {"revision": args.baseline, **_medians(theirs)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
