"""Does compiling the hot path with mypyc pay? The #9 and #16 throughputs, interpreted and compiled.

The package at a git revision (default HEAD) is extracted twice with `git archive`; in one
copy the `--modules` are compiled with mypyc (it ships with mypy, in the dev extra), the other
stays pure Python. Both are then timed in child processes on the same workload, alternating,
`--repeats` times:

- `behaviour`: bench_behaviour.py's throughput (signals + rules + state on SQLite, the tracker
  alone on SQLite and on the in-memory store), posts per CPU second;
- `accounts`: bench_accounts.py's tracker timing (SQLite and in-memory store), account-stream
  events per CPU second.

Each tree builds its own inputs (a compiled `Post` does not unpickle an interpreted one's
state), from the same seed. Medians, and compiled / interpreted as `speedup`.

Some source constructs compile but misbehave once compiled (docs/performance.md): with
`--adapt` the copies (both, so both run the same source) get the small rewrites listed in
`ADAPTATIONS` first, and the JSON says which applied. Without it the tree is measured as it
is, which shows what compiling it unchanged would do.

    python benchmarks/bench_compiled.py [--rev HEAD] [--repeats 3] [--adapt] [--modules a.py,b.py]

A run compiles for about 2 CPU minutes (gcc) before it measures.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from baseline import call_in_revision, extract_revision, run_in_revision

HERE = Path(__file__).resolve().parent
BEHAVIOUR = HERE / "bench_behaviour.py"

# The hot path of #9 (signals + rules + state) and #16 (account tracker). Left out:
# `state/base.py` (its `@runtime_checkable` Protocol cannot be a compiled class: import fails).
MODULES: tuple[str, ...] = (
    "fraud_pipeline/scoring/signals.py",
    "fraud_pipeline/scoring/canonical.py",
    "fraud_pipeline/scoring/rules.py",
    "fraud_pipeline/scoring/signal_registry.py",
    "fraud_pipeline/scoring/pipeline_scorer.py",
    "fraud_pipeline/records.py",
    "fraud_pipeline/state/sqlite.py",
    "fraud_pipeline/state/memory.py",
    "fraud_pipeline/accounts/tracker.py",
    "fraud_pipeline/accounts/windows.py",
)

# (file, source, replacement, why): what the study had to change before the compiled code ran
# right. A compiled class has no instance `__dict__`, so `functools.cached_property` computes on
# every access (the tracker built a MinHashLSH per post: 16x slower) and `__dict__.pop` raises;
# orjson reads a compiled dataclass through a NULL `__dict__` and crashes the process.
_LAZY = "    {attr}: {type} | None = None\n\n    @property\n    def {name}(self) -> {type}:\n"
ADAPTATIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "fraud_pipeline/scoring/signals.py",
        "    @cached_property\n    def sketch(self) -> NearDuplicateSketch:\n"
        "        return NearDuplicateSketch(self.params)\n",
        _LAZY.format(attr="_sketch_cache", name="sketch", type="NearDuplicateSketch")
        + "        if self._sketch_cache is None:\n"
        "            self._sketch_cache = NearDuplicateSketch(self.params)\n"
        "        return self._sketch_cache\n",
        "cached_property does not cache on a compiled class",
    ),
    (
        "fraud_pipeline/scoring/signals.py",
        'self.__dict__.pop("sketch", None)',
        "self._sketch_cache = None",
        "a compiled class has no __dict__",
    ),
    (
        "fraud_pipeline/scoring/signals.py",
        "    @cached_property\n    def _crc_tables(self) -> tuple[np.ndarray, np.uint32]:\n",
        _LAZY.format(attr="_crc_cache", name="_crc_tables", type="tuple[np.ndarray, np.uint32]")
        + "        if self._crc_cache is None:\n"
        "            self._crc_cache = self._make_crc_tables()\n"
        "        return self._crc_cache\n\n"
        "    def _make_crc_tables(self) -> tuple[np.ndarray, np.uint32]:\n",
        "cached_property does not cache on a compiled class",
    ),
    (
        "fraud_pipeline/records.py",
        "return orjson.dumps(self)",
        "return orjson.dumps({f: getattr(self, f) for f in self.__dataclass_fields__})",
        "orjson.dumps of a compiled dataclass segfaults",
    ),
    (
        "fraud_pipeline/accounts/tracker.py",
        "return orjson.dumps(self)",
        "return orjson.dumps({f: getattr(self, f) for f in self.__dataclass_fields__})",
        "orjson.dumps of a compiled dataclass segfaults",
    ),
)

# The package's mypy settings (pyproject.toml's [tool.mypy]); the copy gets them as mypy.ini,
# not the pyproject.toml, whose PEP 639 licence the venv's older setuptools (used by mypyc's
# build step) refuses.
_MYPY_INI = "[mypy]\npython_version = 3.11\nignore_missing_imports = True\ncheck_untyped_defs = True\n"


def _adapt(tree: Path) -> dict[str, int]:
    """Apply `ADAPTATIONS` to the copy at `tree`; how many of each file's applied."""
    applied: dict[str, int] = {}
    for name, source, replacement, _why in ADAPTATIONS:
        path = tree / name
        text = path.read_text()
        if source in text:
            path.write_text(text.replace(source, replacement))
            applied[name] = applied.get(name, 0) + 1
    signals = tree / "fraud_pipeline/scoring/signals.py"
    text = signals.read_text()
    if "@cached_property" not in text:  # the import would be unused
        signals.write_text(text.replace("from functools import cached_property\n", ""))
    return applied


def _compile(tree: Path, modules: tuple[str, ...]) -> dict[str, Any]:
    (tree / "mypy.ini").write_text(_MYPY_INI)
    started = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "mypyc", *modules], cwd=tree, capture_output=True, text=True)
    errors = [line for line in (run.stdout + run.stderr).splitlines() if ": error:" in line]
    return {"ok": run.returncode == 0, "wall_seconds": round(time.perf_counter() - started), "errors": errors}


def _child_imports(modules_json: str) -> None:
    """In a child: which modules import, and whether from a compiled extension."""
    import importlib

    out: dict[str, str] = {}
    for name in json.loads(modules_json):
        try:
            module = importlib.import_module(name)
        except Exception as error:  # a compiled module can fail at import (see MODULES)
            out[name] = f"import failed: {type(error).__name__}: {error}"
            continue
        out[name] = "compiled" if str(module.__file__).endswith(".so") else "interpreted"
    print(json.dumps(out))


def _child_posts(out: str, events: str) -> None:
    """In a child: bench_behaviour's capture built by the tree's own package, pickled."""
    sys.path.insert(0, str(HERE))
    from bench_behaviour import _capture

    posts = [p for p in _capture(int(events), 1, 20.0)[0] if p.operation != "delete"]
    Path(out).write_bytes(pickle.dumps(posts))
    print(json.dumps(len(posts)))


def _child_account_batches(out: str) -> None:
    """In a child: bench_accounts' batches built by the tree's own package, pickled."""
    sys.path.insert(0, str(HERE))
    from bench_accounts import _batches

    from fraud_pipeline.accounts.synth import synth_accounts

    plain = _batches(synth_accounts(honest=2_000, scams_per_kind=30).events)
    Path(out).write_bytes(pickle.dumps((plain, 1)))
    print(json.dumps(sum(len(posts) + len(events) for posts, events in plain)))


def _account_cpu(tree: Path, batches: Path) -> dict[str, float]:
    from bench_accounts import _BASELINE_CHILD

    return dict(run_in_revision(tree, _BASELINE_CHILD, str(batches)))


def _speedup(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    return {k: round(after[k] / before[k], 2) for k in before if before[k]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rev", default="HEAD")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--events", type=int, default=20_000, help="bench_behaviour's throughput capture")
    parser.add_argument("--adapt", action="store_true", help="apply ADAPTATIONS to both copies first")
    parser.add_argument("--modules", help="comma-separated paths to compile (default: MODULES)")
    parser.add_argument("--skip-behaviour", action="store_true")
    parser.add_argument("--skip-accounts", action="store_true")
    args = parser.parse_args()
    modules = tuple(args.modules.split(",")) if args.modules else MODULES
    names = [m.removesuffix(".py").replace("/", ".") for m in modules]
    result: dict[str, Any] = {
        "benchmark": "compiled_hot_path",
        "revision": args.rev,
        "modules": list(modules),
    }
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"interpreted": Path(tmp) / "interpreted", "compiled": Path(tmp) / "compiled"}
        for tree in trees.values():
            tree.mkdir()
            extract_revision(args.rev, tree)
            if args.adapt:
                result["adaptations_applied"] = _adapt(tree)
        result["compile"] = _compile(trees["compiled"], modules)
        result["imports"] = call_in_revision(trees["compiled"], __file__, "_child_imports", json.dumps(names))
        if not result["compile"]["ok"]:
            print(json.dumps(result, indent=2))
            return
        if not args.skip_behaviour:
            from bench_behaviour import _medians

            posts = {k: Path(tmp) / f"{k}-posts.pickle" for k in trees}
            for k, tree in trees.items():
                call_in_revision(tree, __file__, "_child_posts", str(posts[k]), str(args.events))
            rates: dict[str, list[Any]] = {k: [] for k in trees}
            for _ in range(args.repeats):
                for k, tree in trees.items():
                    rates[k].append(call_in_revision(tree, BEHAVIOUR, "_baseline_child", str(posts[k])))
            behaviour = {k: _medians(r) for k, r in rates.items()}
            behaviour["speedup"] = _speedup(behaviour["interpreted"], behaviour["compiled"])
            result["behaviour"] = behaviour
        if not args.skip_accounts:
            batches = {k: Path(tmp) / f"{k}-accounts.pickle" for k in trees}
            events = {
                k: int(call_in_revision(tree, __file__, "_child_account_batches", str(batches[k])))
                for k, tree in trees.items()
            }
            cpu: dict[str, dict[str, list[float]]] = {k: {"sqlite": [], "memory": []} for k in trees}
            for _ in range(args.repeats):
                for k, tree in trees.items():
                    for store, seconds in _account_cpu(tree, batches[k]).items():
                        cpu[k][store].append(seconds)
            accounts: dict[str, dict[str, Any]] = {
                k: {
                    f"events_per_cpu_s_{store}_median": round(events[k] / statistics.median(seconds))
                    for store, seconds in by_store.items()
                }
                for k, by_store in cpu.items()
            }
            accounts["speedup"] = _speedup(accounts["interpreted"], accounts["compiled"])
            result["accounts"] = {"events": events["interpreted"], **accounts}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
