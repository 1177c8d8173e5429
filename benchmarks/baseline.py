"""Timing another git revision side by side (`--baseline REV` of the benchmarks): its files
extracted from git into a folder, and a child process that calls one of a benchmark's functions
with that revision's `fraud_pipeline` first on the path. Machines here are shared and noisy, so
before/after figures are only quoted from one run of both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

# Loads the benchmark by path (not by name: the revision's folder is first on the path) and
# calls the function named by the second argument with the rest.
_CHILD = (
    "import importlib.util, sys; "
    "spec = importlib.util.spec_from_file_location('benchmark', sys.argv[1]); "
    "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module); "
    "getattr(module, sys.argv[2])(*sys.argv[3:])"
)


def extract_revision(rev: str, into: Path | str, paths: Sequence[str] = ("fraud_pipeline", "policy")) -> Path:
    """`paths` as they are at git revision `rev`, extracted under `into`."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, *paths], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return Path(into)


def child_environment(revision_dir: Path | str) -> dict[str, str]:
    """The environment of a child that must import the revision's package (then these scripts)."""
    return {**os.environ, "PYTHONPATH": f"{revision_dir}{os.pathsep}{HERE}"}


def call_in_revision(revision_dir: Path | str, benchmark: str, function: str, *args: str) -> Any:
    """`function(*args)` of the benchmark file `benchmark`, run by a child on the revision's
    package; the JSON of the last line it prints."""
    return run_in_revision(revision_dir, _CHILD, str(Path(benchmark).resolve()), function, *args)


def run_in_revision(revision_dir: Path | str, code: str, *args: str) -> Any:
    """`python -c code args...` on the revision's package; the JSON of the last line it prints.
    The child runs in `revision_dir`, since `python -c` puts the working directory first on
    the path."""
    child = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=True,
        capture_output=True,
        text=True,
        env=child_environment(revision_dir),
        cwd=revision_dir,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])
