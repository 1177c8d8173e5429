"""The compiled build: which modules mypyc compiles, and which build is running.

The hot path of scoring (signals + rules + state, #9) spends its time in Python's per-object
overhead. `FRAUD_PIPELINE_COMPILE=1 pip wheel .` compiles the modules listed here with mypyc
(it ships with mypy) into C extensions inside the wheel, beside their `.py` files; the default
install, and every editable install, stays pure Python. The `.py` files are the source of both
builds: the compiled modules are the same code, so the pure package is their reference (a test
holds the compiled build's records byte for byte to it, docs/performance.md).

`setup.py` reads `COMPILED_MODULES` without importing the package (only this file's text), so
nothing here may import anything outside the standard library at module level.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# Paths relative to the repository root, as mypyc takes them. Chosen by measurement
# (docs/performance.md, "The compiled build"): a module that mypyc slows or breaks stays Python.
# Left out: `state/base.py`, whose `@runtime_checkable` Protocol cannot be a compiled class.
# Never `orjson.dumps` a dataclass of a compiled module (`to_json` spells its fields out): orjson
# reads a compiled dataclass with a bare `float` field (stored unboxed) wrongly and crashes.
COMPILED_MODULES: tuple[str, ...] = (
    "fraud_pipeline/scoring/canonical.py",
    "fraud_pipeline/scoring/signal_registry.py",
    "fraud_pipeline/scoring/signals.py",
    "fraud_pipeline/scoring/pipeline_scorer.py",
    "fraud_pipeline/scoring/rules.py",
    "fraud_pipeline/records.py",
    "fraud_pipeline/accounts/tracker.py",
    "fraud_pipeline/accounts/windows.py",
    "fraud_pipeline/state/sqlite.py",
)


def module_name(path: str) -> str:
    """`fraud_pipeline/scoring/rules.py` -> `fraud_pipeline.scoring.rules`."""
    return path.removesuffix(".py").replace("/", ".")


def runs_compiled(function: object) -> bool:
    """Is `function` (a module's own function) compiled? mypyc makes a compiled module's functions
    built-in ones, without `__code__`. For a module of the set to take, at import, the form of a
    check that is cheaper in the build it runs in (`rules.RuleScreen`, `state/sqlite.py`)."""
    return not hasattr(function, "__code__")


def compiled_modules() -> dict[str, bool]:
    """Each module of the compiled set: True when it is loaded from a compiled extension (a
    `.so`), False when from its `.py` (imports them)."""
    loaded: dict[str, bool] = {}
    for path in COMPILED_MODULES:
        module = importlib.import_module(module_name(path))
        loaded[module_name(path)] = not str(getattr(module, "__file__", "") or "").endswith(".py")
    return loaded


def build() -> str:
    """`"compiled"` when every module of the set is loaded compiled, `"pure"` when none is, and
    `"mixed"` otherwise (an extension that failed to build or a stale file: worth a look)."""
    states = set(compiled_modules().values())
    if states == {True}:
        return "compiled"
    return "pure" if states == {False} else "mixed"


# What a wheel is built from (as infra/docker/lambda.Dockerfile copies it), and what not to copy.
_SOURCES = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "workspace.yaml",
    "fraud_pipeline",
    "dbt",
    "policy",
    "data",
)
_NOT_COPIED = (
    "__pycache__",
    "*.pyc",
    "*.so",
    "target",
    "logs",
    "dbt_packages",
    ".user.yml",
    ".fraud-pipeline",
)


def build_wheel(root: Path, out_dir: Path, *, compiled: bool = True) -> Path:
    """Build the project at `root` into a wheel in `out_dir` (compiled unless told otherwise), the
    way the Lambda image does: `pip wheel` in an isolated build environment, which fetches the
    build's own requirements (setuptools, the pinned mypy). The sources are copied to a folder
    of their own first, so no build output ever lands in `root`. Returns the wheel's path."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fraud-pipeline-build-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        for name in _SOURCES:
            path = root / name
            if path.is_dir():
                shutil.copytree(
                    path, source / name, ignore=shutil.ignore_patterns(*_NOT_COPIED), symlinks=True
                )
            else:
                shutil.copy2(path, source / name)
        env = {
            **os.environ,
            "FRAUD_PIPELINE_COMPILE": "1" if compiled else "0",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        run = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(out_dir), str(source)],
            capture_output=True,
            text=True,
            env=env,
        )
        if run.returncode != 0:
            raise RuntimeError(
                f"pip wheel failed ({run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
            )
    wheels = sorted(out_dir.glob("fraud_pipeline-*.whl"), key=lambda p: p.stat().st_mtime)
    return wheels[-1]


def unpack_wheel(wheel: Path, target: Path) -> Path:
    """The wheel's files under `target` (to put first on a child's `PYTHONPATH`)."""
    import zipfile

    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target
