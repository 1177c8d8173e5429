"""Policy hot reload: what a reload costs and that it never drops or double-scores a record.

Two measurements in one run:
- reload cost: the time a scoring runtime spends taking up a new policy version (read the
  files, hash, validate, compile the rules), median and max over `--reloads` versions, next
  to the cost of a check that finds nothing new (the stamp of the files);
- reload under load: posts are scored in batches through one `PostScorer` whose policy
  folder is rewritten every few batches (alternating a valid new version and an invalid
  one); every input post must come out exactly once, each batch under one version, and the
  invalid versions must be refused while the last valid one stays.

    python benchmarks/bench_policy_reload.py [--reloads 30] [--posts 20000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _variant(folder: Path, n: int, valid: bool) -> None:
    rules = (folder / "rules.yaml").read_text()
    marker = "  - name: burst\n"
    extra = (
        f"  - name: bench_rule_{n}\n    label: spam\n    weight: 0.01\n    mode: shadow\n"
        f'    when:\n      all: ["account_posts_window >= {1000 + n}"]\n    reason: bench {n}\n'
    )
    if not valid:
        extra = extra.replace("account_posts_window", "no_such_signal")
    head, _, tail = rules.partition(marker)
    (folder / "rules.yaml").write_text(head + extra + marker + tail)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=30)
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    from fraud_pipeline.policy.runtime import PolicyHolder
    from fraud_pipeline.policy.source import FolderPolicySource, default_policy_dir
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from tests.scoring_fixtures import KeywordScorer, make_post

    work = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    try:
        folder = work / "policy"
        shutil.copytree(default_policy_dir(), folder)
        pristine = (folder / "rules.yaml").read_text()
        source = FolderPolicySource(folder)
        holder = PolicyHolder(source, check_every_s=0.0)

        # -- reload cost -----------------------------------------------------------------
        costs, idle = [], []
        for n in range(args.reloads):
            (folder / "rules.yaml").write_text(pristine)
            _variant(folder, n, valid=True)
            started = time.perf_counter()
            assert holder.refresh()
            costs.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            assert not holder.refresh()
            idle.append((time.perf_counter() - started) * 1000)

        # -- reload under load -------------------------------------------------------------
        (folder / "rules.yaml").write_text(pristine)
        holder.refresh()
        scorer = PostScorer(KeywordScorer(), None, policy=holder)
        texts = ["free stuff for you", "a calm day", "Send 0.1 BTC and get 0.2 BTC back now", "gm"]
        posts = [make_post(i, texts[i % len(texts)]) for i in range(args.posts)]
        seen: dict[str, int] = {}
        versions_per_batch: list[set[str]] = []
        rejected_before = holder.rejections
        changes = 0
        started = time.perf_counter()
        for number, start in enumerate(range(0, len(posts), args.batch)):
            if number % 3 == 2:  # a new version every third batch, every other one invalid
                (folder / "rules.yaml").write_text(pristine)
                _variant(folder, 1000 + number, valid=(changes % 2 == 0))
                changes += 1
            tagged, _ = scorer.score(posts[start : start + args.batch])
            versions_per_batch.append({t.policy_version or "" for t in tagged})
            for record in tagged:
                seen[record.uri] = seen.get(record.uri, 0) + 1
        elapsed = time.perf_counter() - started
        missing = sum(1 for p in posts if p.uri not in seen)
        doubled = sum(1 for count in seen.values() if count > 1)
        print(
            json.dumps(
                {
                    "reload_ms": {
                        "median": round(statistics.median(costs), 2),
                        "max": round(max(costs), 2),
                        "runs": len(costs),
                    },
                    "check_without_change_ms": {"median": round(statistics.median(idle), 3)},
                    "under_load": {
                        "posts": len(posts),
                        "batches": len(versions_per_batch),
                        "policy_changes": changes,
                        "versions_seen": len(set().union(*versions_per_batch)),
                        "rejected": holder.rejections - rejected_before,
                        "batches_with_one_version": sum(1 for v in versions_per_batch if len(v) == 1),
                        "missing": missing,
                        "scored_twice": doubled,
                        "posts_per_s": round(len(posts) / elapsed),
                    },
                },
                indent=1,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
