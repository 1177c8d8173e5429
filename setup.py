"""Build step: the wheel carries the dbt project, the policy, the bundled data and the Dagster
workspace inside the package (`fraud_pipeline/_bundled/`), copied from where they live in the
repository; `fraud_pipeline/bundled.py` finds them. Everything else is in pyproject.toml.

The compiled build (opt-in): `FRAUD_PIPELINE_COMPILE=1 pip wheel .` (or `pip install .`) also
compiles the hot path's modules (`fraud_pipeline/compiled_build.py`) with mypyc, at the pinned
mypy below, into C extensions beside their `.py` files in the wheel. It needs a C compiler and
Python's headers. Without the variable nothing is compiled, and an editable install is never
compiled (it would put `.so` files in the source tree, which would then shadow edited `.py`
files)."""

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Build output and local state never go into the wheel.
IGNORE = shutil.ignore_patterns("target", "logs", "dbt_packages", "__pycache__", ".user.yml", "*.pyc")


# mypy (with mypyc) for the compiled build, pinned: the generated C is the build's product.
MYPYC_REQUIREMENT = "mypy==1.19.1"
COMPILE = os.environ.get("FRAUD_PIPELINE_COMPILE", "").strip().lower() not in ("", "0", "false", "no")


def _listed(file: str, name: str) -> tuple[str, ...]:
    """A tuple of the package file `file` (read without importing the package's dependencies)."""
    path = ROOT / "fraud_pipeline" / file
    namespace: dict[str, object] = {"__file__": str(path), "__name__": file.removesuffix(".py")}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # only the stdlib is imported there
    return tuple(namespace[name])  # type: ignore[arg-type]


def bundled_names() -> tuple[str, ...]:
    """The list in fraud_pipeline/bundled.py."""
    return _listed("bundled.py", "BUNDLED")


def compiled_extensions() -> list[object]:
    """The mypyc extensions of `COMPILED_MODULES`, or none when the build is not asked for. In
    an isolated build, pip first runs this file to learn the build's requirements (mypy is not
    installed yet): then there is nothing to compile, only `setup_requires` to report."""
    if not COMPILE:
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    os.chdir(ROOT)  # mypyc takes the modules' paths relative to the package's root
    return list(mypycify(list(_listed("compiled_build.py", "COMPILED_MODULES")), group_name="fraud_pipeline"))


class BuildExtNotEditable(build_ext):
    def run(self) -> None:
        if self.extensions and (getattr(self, "editable_mode", False) or self.inplace):
            raise SystemExit(
                "FRAUD_PIPELINE_COMPILE: the compiled build makes a wheel (pip wheel . / pip install .), "
                "not an editable or in-place install: its .so files would shadow edited .py files"
            )
        super().run()


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


setup(
    cmdclass={"build_py": BuildPyWithBundle, "build_ext": BuildExtNotEditable},
    ext_modules=compiled_extensions(),
    setup_requires=[MYPYC_REQUIREMENT] if COMPILE else [],
)
