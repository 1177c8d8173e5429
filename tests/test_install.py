"""Installable anywhere: a wheel (`pip install .`, not editable) in a fresh venv runs `up` from
another directory, with the workspace, the dbt project, the policy and the capture found from
the installed package.

Slow (builds a wheel, starts Dagster). The fresh venv reuses the packages of the venv running the
tests through a `.pth` file instead of downloading them again; that venv's editable finder for
`fraud_pipeline` is not carried over (a `.pth` inside a `.pth`-added folder is not processed),
so only the installed wheel can be imported.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import site
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fraud_pipeline.bundled import BUNDLED
from fraud_pipeline.ingest.synth import load_texts, write_capture
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "target", "logs", "dbt_packages")
LOCATION_QUERY = (
    "{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus "
    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
)


def _run(*argv: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)
    assert done.returncode == 0, (argv, done.stdout[-2000:], done.stderr[-3000:])
    return done


def _locations(port: int) -> list[dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": LOCATION_QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.loads(reply.read())["data"]["workspaceOrError"]["locationEntries"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project installed from a wheel; returns its bin/ folder."""
    base = tmp_path_factory.mktemp("install")
    # Build from a copy of what the repository tracks for the package (an in-tree build would
    # leave fraud_pipeline.egg-info in the checkout, which pip then takes for an installed copy).
    source = base / "source"
    for name in ("pyproject.toml", "setup.py", "README.md", *BUNDLED, "fraud_pipeline"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=IGNORED, dirs_exist_ok=True)
        else:
            shutil.copy2(ROOT / name, source / name)
    env = _clean_env(Path(sys.executable).parent)
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        str(base / "wheel"),
        str(source),
        env=env,
    )
    (wheel,) = (base / "wheel").glob("fraud_pipeline-*.whl")
    venv = base / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "-q",
        str(wheel),
        env=env,
    )
    purelib = _run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    shared = "\n".join(site.getsitepackages())
    Path(purelib.stdout.strip(), "shared-venv-packages.pth").write_text(shared + "\n")
    return venv / "bin"


def _clean_env(bin_dir: Path) -> dict[str, str]:
    """No checkout on the path; the test venv's executables (dbt) after the fresh venv's."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("FRAUD_PIPELINE_")}
    env["PATH"] = os.pathsep.join([str(bin_dir), str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


@pytest.mark.slow
def test_the_installed_package_carries_its_files(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, fraud_pipeline, fraud_pipeline.bundled as b\n"
        "from fraud_pipeline.orchestration.dbt_project import DBT_DIR, TARGET_DIR\n"
        "from fraud_pipeline.ingest.session import BUNDLED_CAPTURE\n"
        "from fraud_pipeline.policy.source import default_policy_dir\n"
        "print(json.dumps({'package': fraud_pipeline.__file__, 'checkout': b.from_checkout(),"
        " 'dbt': str(DBT_DIR), 'manifest': str(TARGET_DIR), 'capture': str(BUNDLED_CAPTURE),"
        " 'policy': str(default_policy_dir()), 'workspace': str(b.bundled_path('workspace.yaml'))}))\n"
    )
    found = json.loads(
        _run(str(installed / "python"), "-c", probe, cwd=tmp_path, env=_clean_env(installed)).stdout
    )
    venv = str(installed.parent)
    assert found["package"].startswith(venv) and not found["checkout"], found
    for name in ("dbt", "capture", "policy", "workspace"):
        assert found[name].startswith(venv) and Path(found[name]).exists(), (name, found)
    assert not found["manifest"].startswith(venv), "dbt must not write into the installed package"
    assert (Path(found["dbt"]) / "models" / "marts").is_dir()
    assert not (Path(found["dbt"]) / "target").exists()
    # The dashboard's page, scripts and the vendored chart library with its licence (package-data).
    package = Path(found["package"]).parent
    for folder in ("static", "templates"):
        for path in (ROOT / "fraud_pipeline" / "dashboard" / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                shipped = path.relative_to(ROOT / "fraud_pipeline")
                assert (package / shipped).is_file(), (
                    f"{shipped} is not in the wheel (pyproject package-data)"
                )


@pytest.mark.slow
def test_installed_up_runs_a_capture_with_dagster_from_another_directory(
    installed: Path, tmp_path: Path
) -> None:
    capture = tmp_path / "capture.jsonl"
    write_capture(capture, load_texts([ROOT / "data" / "labeled" / "train.jsonl"]), 300, seed=11, rate=100.0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    port = free_port()
    process = subprocess.Popen(
        [
            str(installed / "fraud-pipeline"),
            *("up", "--home", str(tmp_path / "home"), "--capture", str(capture), "--speed", "0"),
            *("--dagster-port", str(port), "--no-dashboard"),
        ],
        cwd=elsewhere,
        env=_clean_env(installed),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert process.stderr is not None
    seen = ""
    deadline = time.monotonic() + 240
    while "replay finished" not in seen and time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen += line
    assert "replay finished" in seen, seen[-3000:]
    loaded: list[dict] = []
    while time.monotonic() < deadline + 120:
        try:
            loaded = _locations(port)
        except OSError:
            loaded = []
        if loaded and loaded[0]["loadStatus"] == "LOADED":
            break
        time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 0, rest[-3000:]
    assert loaded and loaded[0]["name"] == "fraud_pipeline", loaded
    # A string, not the list: pytest shortens a non-string message to 240 characters, and the
    # load error's cause (CI once showed only 'd...hestration') is at its end.
    assert loaded[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", json.dumps(loaded)
    summary = next(line for line in reversed(rest.splitlines()) if line.startswith("events_read="))
    counts = {key: int(value) for key, value in (part.split("=") for part in summary.split())}
    assert counts["events_read"] == 300
    assert counts["tagged"] == counts["posts"] + counts["deletes"] == counts["lake_rows"] > 0
    assert not any(elsewhere.iterdir()), "`up` wrote into the directory it was started from"
