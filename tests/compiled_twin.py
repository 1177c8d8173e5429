"""The child of tests/test_compiled_build.py: scores a synthetic capture with whatever
`fraud_pipeline` is first on the path (the pure source or the compiled wheel) and writes every
record the scorer emits, as the tagged stream carries it (`to_json`), one per line.

Everything that could differ between two runs of the same code is fixed: the capture's seed,
the clock (`time.time_ns`, read by the scorer for `scored_at_us`) and the text model (a hash of
the text, so every score band and action is reached). So two runs of the same code write the
same bytes, and a compiled build that differs from its source in any field shows."""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

FIXED_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


class HashModel:
    """A deterministic text model: the text's blake2b as a likelihood in [0, 1)."""

    version = "hash-model"
    threshold = 0.5

    def score(self, texts: Sequence[str]) -> list[float]:
        return [
            int.from_bytes(hashlib.blake2b(t.encode("utf-8", "replace"), digest_size=4).digest()) / 2**32
            for t in texts
        ]


def main(root: str, out: str, events: str, seed: str) -> None:
    time.time_ns = lambda: FIXED_NS  # one clock for both builds (the scorer calls time.time_ns())
    import orjson

    from fraud_pipeline.accounts.events import normalize_account_event
    from fraud_pipeline.compiled_build import build
    from fraud_pipeline.ingest.normalize import normalize
    from fraud_pipeline.ingest.synth import Synthesizer, load_texts
    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from fraud_pipeline.state.sqlite import SqliteStateStore

    synth = Synthesizer(
        load_texts([Path(root) / "data" / "labeled" / "train.jsonl"]), seed=int(seed), rate=20.0
    )
    batches: list[tuple[list, list]] = [([], [])]
    for event, _label in synth.events(int(events)):
        posts, accounts = batches[-1]
        result = normalize(orjson.dumps(event))
        if result.post is not None:
            posts.append(result.post)
        else:
            account = normalize_account_event(event).event
            if account is not None:
                accounts.append(account)
        if len(posts) + len(accounts) >= 500:
            batches.append(([], []))
    counts: dict[str, int] = {"posts": 0, "account_events": 0, "records": 0}
    kinds: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp, open(out, "wb") as sink:
        scorer = PostScorer(HashModel(), None, behaviour_state=SqliteStateStore(Path(tmp) / "state.db"))
        for posts, accounts in batches:
            counts["posts"] += len(posts)
            counts["account_events"] += len(accounts)
            records, _ = scorer.score(posts, accounts)
            for record in records:
                sink.write(record.to_json() + b"\n")
                counts["records"] += 1
                key = f"{record.operation}:{record.action}"
                kinds[key] = kinds.get(key, 0) + 1
    print(json.dumps({"build": build(), **counts, "kinds": kinds}))


if __name__ == "__main__":
    main(*sys.argv[1:])
