"""Where the project's files that are not Python live, in a checkout and in an installed wheel.

The dbt project, the bundled replay capture, the labeled training texts and the Dagster
workspace sit at the top of the repository (`dbt/`, `data/`, `workspace.yaml`), where the
engineers edit them (the detection policy ships its own way: `fraud_pipeline/default_policy`
links to `policy/`, see `policy/source.py`). A wheel carries copies of them inside the
package, under `fraud_pipeline/_bundled/`: `setup.py` copies them there at build time, so
nothing moves in the repository. `bundled_path()` returns the checkout's file when the package
runs from a checkout (the source tree, an editable install) and the installed copy otherwise,
so `pip install .` and `fraud-pipeline up` work from any directory.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
CHECKOUT_DIR = PACKAGE_DIR.parent
INSTALLED_DIR = PACKAGE_DIR / "_bundled"
# What the wheel carries (paths relative to the repository root); setup.py reads this list.
BUNDLED = (
    "workspace.yaml",
    "dbt",
    "data/replay/capture.jsonl.zst",
    "data/replay/capture.blobs.json",
    "data/replay/README.md",
    "data/labeled/train.jsonl",
    "data/labeled/ATTRIBUTION.md",
)


def from_checkout() -> bool:
    """True when the package sits in a source checkout (its pyproject.toml beside it). In
    site-packages the package's parent holds other distributions (dbt-core's `dbt/` among
    them), so the marker is the project file, not the folder names."""
    return (CHECKOUT_DIR / "pyproject.toml").is_file() and (CHECKOUT_DIR / "workspace.yaml").is_file()


def bundled_path(relative: str) -> Path:
    """The checkout's `relative` (e.g. "dbt", "data/labeled/train.jsonl"), else the installed copy."""
    return (CHECKOUT_DIR if from_checkout() else INSTALLED_DIR) / relative
