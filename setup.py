"""Build step: the wheel carries the dbt project, the policy, the bundled data and the Dagster
workspace inside the package (`fraud_pipeline/_bundled/`), copied from where they live in the
repository; `fraud_pipeline/bundled.py` finds them. Everything else is in pyproject.toml."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Build output and local state never go into the wheel.
IGNORE = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", ".user.yml", "*.pyc")


def bundled_names() -> tuple[str, ...]:
    """The list in fraud_pipeline/bundled.py (read without importing the package's dependencies)."""
    path = ROOT / "fraud_pipeline" / "bundled.py"
    namespace: dict[str, object] = {"__file__": str(path), "__name__": "bundled"}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # only pathlib is imported there
    return tuple(namespace["BUNDLED"])  # type: ignore[arg-type]


class BuildPyWithBundle(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        target = Path(self.build_lib) / "fraud_pipeline" / "_bundled"
        for name in bundled_names():
            source, copy = ROOT / name, target / name
            copy.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, copy, ignore=IGNORE, dirs_exist_ok=True)
            else:
                shutil.copy2(source, copy)


setup(cmdclass={"build_py": BuildPyWithBundle})
