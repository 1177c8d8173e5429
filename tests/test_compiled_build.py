"""The compiled build (`FRAUD_PIPELINE_COMPILE=1 pip wheel .`, setup.py) is the pure source's
twin: built once per session into a temporary folder, exactly as the Lambda image builds it, it
loads its hot modules compiled and writes byte for byte the records the pure code writes on the
same capture (tests/compiled_twin.py fixes the seed, the clock and the text model).

The build compiles with gcc for a few CPU minutes (docs/performance.md, "The compiled build")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fraud_pipeline.compiled_build import COMPILED_MODULES, build_wheel, module_name, unpack_wheel

ROOT = Path(__file__).resolve().parents[1]
TWIN = Path(__file__).resolve().parent / "compiled_twin.py"


def test_a_checkout_runs_the_pure_source_and_lists_modules_that_exist() -> None:
    """The test suite and every editable install run the `.py` files (nothing compiled in the
    source tree), and the list the build compiles names modules that are there."""
    import fraud_pipeline
    from fraud_pipeline.compiled_build import build, compiled_modules

    assert fraud_pipeline.compiled() is False
    assert build() == "pure"
    assert set(compiled_modules()) == {module_name(p) for p in COMPILED_MODULES}
    for path in COMPILED_MODULES:
        assert (ROOT / path).is_file(), path
    assert not list((ROOT / "fraud_pipeline").rglob("*.so")), "a compiled file in the source tree"


@pytest.fixture(scope="session")
def compiled_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from this checkout, once per session; `COMPILED_WHEEL_UNDER_TEST=FILE` tests a
    wheel built already (by `compiled_build.build_wheel` from the same sources) instead."""
    given = os.environ.get("COMPILED_WHEEL_UNDER_TEST")
    if given:
        return Path(given)
    return build_wheel(ROOT, tmp_path_factory.mktemp("compiled-wheel"))


def _twin(package_root: Path, out: Path, events: int = 40_000, seed: int = 3) -> dict:
    """Run tests/compiled_twin.py with `package_root`'s fraud_pipeline first on the path."""
    run = subprocess.run(
        [sys.executable, str(TWIN), str(ROOT), str(out), str(events), str(seed)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(package_root)},
        cwd=package_root,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.compiled
@pytest.mark.timeout(1800)
def test_the_compiled_wheel_carries_every_listed_module_compiled_beside_its_source(
    compiled_wheel: Path, tmp_path: Path
) -> None:
    names = zipfile.ZipFile(compiled_wheel).namelist()
    for path in COMPILED_MODULES:
        stem = path.removesuffix(".py")
        assert path in names, f"{path}: the source is the compiled module's reference and fallback"
        assert any(n.startswith(stem + ".cpython-") and n.endswith(".so") for n in names), path
    assert not any(n.endswith(".c") for n in names)
    tree = unpack_wheel(compiled_wheel, tmp_path / "site")
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, fraud_pipeline.compiled_build as c; "
            "print(json.dumps([c.build(), c.compiled_modules()]))",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        check=True,
    )
    build, modules = json.loads(run.stdout)
    assert build == "compiled"
    assert modules == {module_name(p): True for p in COMPILED_MODULES}


@pytest.mark.slow
@pytest.mark.compiled
@pytest.mark.timeout(1800)
def test_the_compiled_build_writes_byte_for_byte_the_records_of_the_pure_code(
    compiled_wheel: Path, tmp_path: Path
) -> None:
    tree = unpack_wheel(compiled_wheel, tmp_path / "site")
    compiled = _twin(tree, tmp_path / "compiled.jsonl")
    pure = _twin(ROOT, tmp_path / "pure.jsonl")
    assert (pure["build"], compiled["build"]) == ("pure", "compiled")
    # The capture reaches the paths worth comparing: posts and account events, the three
    # actions, edits, deletes, verdict updates of campaigns that crossed the bar.
    assert pure["posts"] > 15_000 and pure["account_events"] > 1_000
    kinds = pure["kinds"]
    for kind in (
        "create:label",
        "create:review",
        "create:none",
        "update:review",
        "delete:none",
        "verdict:review",
    ):
        assert kinds.get(kind, 0) > 0, (kind, kinds)
    assert {**compiled, "build": "pure"} == pure
    written = (tmp_path / "pure.jsonl").read_bytes()
    assert written.count(b"\n") == pure["records"]
    assert (tmp_path / "compiled.jsonl").read_bytes() == written


# Runs pytest in a process that has imported the compiled modules first (so every test uses
# them, whatever pytest puts on the path), after checking that each is the compiled one.
_PYTEST_ON_THE_COMPILED_BUILD = (
    "import sys, pytest, fraud_pipeline.compiled_build as c; "
    "modules = c.compiled_modules(); "
    "assert all(modules.values()), modules; "
    "sys.exit(pytest.main(sys.argv[1:]))"
)


@pytest.mark.slow
@pytest.mark.compiled
@pytest.mark.timeout(900)
def test_the_state_store_tests_pass_on_the_compiled_build(compiled_wheel: Path, tmp_path: Path) -> None:
    """state/sqlite.py checks its input in a form that differs by build (`INTERPRETED`), and
    compiled, a parameter typed `str` raised mypyc's `TypeError` where the pure code names the
    problem in a `StateError` (found in the eleventh session): its tests run on the wheel too.
    (Most other test files spy on, patch or subclass functions that compiled code calls
    directly, and can only run on the pure source.)"""
    tree = unpack_wheel(compiled_wheel, tmp_path / "site")
    files = sorted(str(path) for path in (ROOT / "tests").glob("test_state*.py"))
    assert len(files) >= 3
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            _PYTEST_ON_THE_COMPILED_BUILD,
            "-q",
            "-p",
            "no:cacheprovider",
            "--import-mode=append",
            f"--rootdir={ROOT}",
            *files,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tree)},
        cwd=tree,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in run.stdout
