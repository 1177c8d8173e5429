"""Instructions per post of signals + rules + state, counted by callgrind: the measure that load
does not move.

CPU time on this shared two-core virtual machine moves by a fifth from one run to the next even
with nothing else running, so changes of 5 to 15% cannot be told apart by timing. Valgrind's
callgrind counts the instructions the process executes: the same binary on the same input
gives the same count whatever else the machine does. This script runs the throughput path of
`bench_behaviour.py` (the same capture: `--events` events at `--rate`, seed `--seed`, deletes
left out; a `PostScorer` with the zero-cost text model and SQLite state, batches of 500, after
the same warm-up and with the per-text caches emptied) in a child under callgrind, with
instrumentation switched on for the measured loop only (`callgrind_control -i on/off` from the
child itself), and prints the instructions per post as JSON.

`--phase tracker` counts the behaviour tracker alone on SQLite (`BehaviorTracker.observe_batch`,
texts already folded by a first pass). `--tree DIR` counts the package under DIR instead of this
checkout's (a `git archive` of a revision: `--baseline REV` extracts one; or an unpacked
compiled wheel: `--compiled-wheel FILE`). Several trees are counted one after the other on the
same posts.

    python benchmarks/bench_instructions.py                         # this checkout, pure
    python benchmarks/bench_instructions.py --baseline cfde920 --compiled-wheel dist/x.whl
    python benchmarks/bench_instructions.py --phase tracker --posts 3000

Each count takes a minute or two (valgrind runs the interpreter about 50 times slower).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline import child_environment, extract_revision

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
_TOTALS = re.compile(rb"^totals:\s+(\d+)", re.MULTILINE)  # "summary:" is 0 with instr-atstart=no


def _toggle(state: str) -> None:
    """Switch callgrind's instrumentation of this process on or off (it polls for the request)."""
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


def measure_child(posts_file: str, phase: str, count: str) -> None:
    """Run under callgrind: warm up, empty the text caches, count `phase` over the first `count`
    posts of `posts_file` (built by the package on the path: a compiled `Post` does not unpickle
    a pure one's state, so each tree builds its own)."""
    import gc

    from bench_behaviour import ZeroModel, _clear_text_caches, _warm_up

    from fraud_pipeline.scoring.pipeline_scorer import PostScorer
    from fraud_pipeline.scoring.signals import BehaviorTracker
    from fraud_pipeline.state.sqlite import SqliteStateStore

    posts = pickle.loads(Path(posts_file).read_bytes())[: int(count)]
    _warm_up(posts)
    with tempfile.TemporaryDirectory() as tmp:
        if phase == "scorer":
            scorer = PostScorer(ZeroModel(), None, behaviour_state=SqliteStateStore(Path(tmp) / "a.db"))
            step = scorer.score
        else:
            tracker = BehaviorTracker(SqliteStateStore(Path(tmp) / "b.db"))
            folding = BehaviorTracker(SqliteStateStore(Path(tmp) / "fold.db"))
            for start in range(0, len(posts), 500):  # the texts folded (cached) outside the count
                folding.observe_batch(posts[start : start + 500])
            step = tracker.observe_batch
        if phase == "scorer":
            _clear_text_caches()  # the warm-up read the texts: the scorer reads them afresh
        gc.collect()
        gc.freeze()
        _toggle("on")
        for start in range(0, len(posts), 500):
            step(posts[start : start + 500])
        _toggle("off")
    print(json.dumps({"posts": len(posts)}))


def posts_child(posts_file: str, events: str, seed: str, rate: str) -> None:
    """The capture built by the package on the path, pickled to `posts_file`."""
    from bench_behaviour import _capture

    posts = [p for p in _capture(int(events), int(seed), float(rate))[0] if p.operation != "delete"]
    Path(posts_file).write_bytes(pickle.dumps(posts))
    print(json.dumps({"posts": len(posts)}))


def _run(tree: Path, function: str, *args: str, valgrind: list[str] | None = None) -> Any:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import bench_instructions as b; "
        "getattr(b, sys.argv[2])(*sys.argv[3:])"
    )
    env = {**child_environment(tree), "PYTHONHASHSEED": "0"}
    command = [*(valgrind or []), sys.executable, "-c", code, str(HERE), function, *args]
    child = subprocess.run(command, check=True, capture_output=True, text=True, env=env, cwd=tree)
    return json.loads(child.stdout.strip().splitlines()[-1])


def count(tree: Path, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Instructions per post of the package under `tree`."""
    posts_file = work / f"posts-{tree.name}.pickle"
    _run(tree, "posts_child", str(posts_file), str(args.events), str(args.seed), str(args.rate))
    out = (args.keep or work) / f"callgrind-{tree.name}-{args.phase}.out"
    started = time.perf_counter()
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    measured = _run(tree, "measure_child", str(posts_file), args.phase, str(args.posts), valgrind=valgrind)
    totals = [int(m) for m in _TOTALS.findall(out.read_bytes())]
    if not totals or not totals[0]:
        raise RuntimeError(f"callgrind wrote no totals to {out}")
    build = _run(tree, "build_child")
    return {
        "tree": str(tree),
        "build": build["build"],
        "posts": measured["posts"],
        "instructions": totals[0],
        "instructions_per_post": round(totals[0] / measured["posts"]),
        "wall_seconds": round(time.perf_counter() - started),
    }


def build_child() -> None:
    """Which build of the package the child imports (`pure`, `compiled` or `mixed`)."""
    try:
        from fraud_pipeline.compiled_build import build
    except ImportError:  # a revision older than the compiled build
        print(json.dumps({"build": "pure"}))
        return
    print(json.dumps({"build": build()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--posts", type=int, default=6_000, help="posts counted (the capture's first)")
    parser.add_argument("--phase", choices=("scorer", "tracker"), default="scorer")
    parser.add_argument("--tree", action="append", default=[], help="count the package under DIR")
    parser.add_argument("--baseline", metavar="REV", help="also count this git revision")
    parser.add_argument("--compiled-wheel", metavar="FILE", help="also count this compiled wheel")
    parser.add_argument("--no-checkout", action="store_true", help="do not count this checkout")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep callgrind's output files in DIR")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        trees = [] if args.no_checkout else [ROOT]
        if args.baseline:
            (work / "baseline").mkdir()
            trees.append(extract_revision(args.baseline, work / "baseline"))
        if args.compiled_wheel:
            from fraud_pipeline.compiled_build import unpack_wheel

            trees.append(unpack_wheel(Path(args.compiled_wheel), work / "compiled"))
        trees += [Path(t).resolve() for t in args.tree]
        counts = []
        for tree in trees:
            counts.append(count(tree, args, work))
            print(json.dumps(counts[-1]), file=sys.stderr)
    result: dict[str, Any] = {"benchmark": "instructions_per_post", "phase": args.phase, "counts": counts}
    # 25,000 posts per CPU second at the rate this machine ran the compiled path (session 9:
    # about 199 k instructions per post at about 16,000 posts per CPU second).
    result["target_note"] = "25,000 posts per CPU second needs about 118 k instructions per post here"
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
