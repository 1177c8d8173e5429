"""Where the detection policy is kept: a folder locally, the bucket's `policy/` prefix on AWS.

A `PolicySource` returns the policy files as name -> bytes; `loader.load_policy` validates
them. `default_policy_dir()` is the one place that knows where the project's own policy is
(a source checkout's `policy/` folder, or the copy installed with the package), so every
caller (scorer, CLI, dbt vars, Dagster checks) finds the same files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from fraud_pipeline.policy.loader import POLICY_SUFFIXES, Policy, load_policy

if TYPE_CHECKING:
    from fraud_pipeline.objects import ObjectStore
    from fraud_pipeline.settings import Settings

POLICY_DIR_ENV = "FRAUD_PIPELINE_POLICY_DIR"
MAX_POLICY_FILE_BYTES = 1 << 20  # a policy file larger than this is refused, not parsed


class PolicySourceError(RuntimeError):
    """The policy could not be read (missing folder, store outage, oversized file)."""


class PolicySource(Protocol):
    def read(self) -> dict[str, bytes]:
        """The policy files, name -> bytes."""
        ...

    def describe(self) -> str: ...

    def stamp(self) -> object:
        """Cheap to get, changes whenever the files may have (names, sizes, times)."""
        ...


def default_policy_dir() -> Path:
    """The project's own policy folder.

    In order: `FRAUD_PIPELINE_POLICY_DIR`; the `policy/` folder beside the package in a
    source checkout; the copy shipped inside the installed package (`fraud_pipeline/
    default_policy`, a link to `policy/` in the repository, copied into wheels as package data).
    """
    override = os.environ.get(POLICY_DIR_ENV)
    if override:
        return Path(override)
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "policy"
    if checkout.is_dir() and (package.parent / "pyproject.toml").is_file():
        return checkout
    return package / "default_policy"


class FolderPolicySource:
    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def describe(self) -> str:
        return str(self.folder)

    def stamp(self) -> object:
        try:
            return tuple(
                (p.name, s.st_size, s.st_mtime_ns)
                for p in sorted(self.folder.iterdir())
                if p.suffix in POLICY_SUFFIXES
                for s in (p.stat(),)
            )
        except OSError as exc:
            raise PolicySourceError(f"cannot list the policy folder {self.folder}: {exc}") from exc

    def read(self) -> dict[str, bytes]:
        if not self.folder.is_dir():
            raise PolicySourceError(f"policy folder {self.folder} does not exist")
        files = {}
        for path in sorted(self.folder.iterdir()):
            if path.suffix in POLICY_SUFFIXES and path.is_file():
                if path.stat().st_size > MAX_POLICY_FILE_BYTES:
                    raise PolicySourceError(f"{path} is larger than {MAX_POLICY_FILE_BYTES} bytes")
                files[path.name] = path.read_bytes()
        return files


class ObjectStorePolicySource:
    """The policy under a prefix of the object store (S3 on AWS): `policy push` writes it."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"

    def describe(self) -> str:
        return self.store.uri(self.prefix)

    def stamp(self) -> object:
        from fraud_pipeline.objects import ObjectStoreError

        try:
            return tuple(
                (o.key, o.size, o.mtime_ms) for o in self.store.list_objects(self.prefix, recursive=False)
            )
        except ObjectStoreError as exc:
            raise PolicySourceError(f"cannot list the policy at {self.describe()}: {exc}") from exc

    def read(self) -> dict[str, bytes]:
        from fraud_pipeline.objects import ObjectStoreError

        try:
            files = {}
            for info in self.store.list_objects(self.prefix, recursive=False):
                name = info.key[len(self.prefix) :]
                if "/" in name or not name.endswith(POLICY_SUFFIXES):
                    continue
                if info.size > MAX_POLICY_FILE_BYTES:
                    raise PolicySourceError(f"{info.key} is larger than {MAX_POLICY_FILE_BYTES} bytes")
                files[name] = self.store.get_bytes(info.key)
            return files
        except ObjectStoreError as exc:
            raise PolicySourceError(f"cannot read the policy at {self.describe()}: {exc}") from exc

    def write(self, files: dict[str, bytes]) -> None:
        """Replace the stored policy with `files` (new files first, then stale ones removed)."""
        for name, data in sorted(files.items()):
            self.store.put_bytes(self.prefix + name, data)
        for info in list(self.store.list_objects(self.prefix, recursive=False)):
            name = info.key[len(self.prefix) :]
            if name.endswith(POLICY_SUFFIXES) and name not in files:
                self.store.delete(info.key)


def load_default_policy() -> Policy:
    """The project's own policy, validated (raises PolicyError or PolicySourceError)."""
    return load_policy(FolderPolicySource(default_policy_dir()).read())


def open_policy_source(settings: Settings) -> PolicySource:
    """Where this deployment's policy lives: the bucket's policy prefix on the aws backend,
    the configured folder (default: the project's own) on the local backend."""
    if settings.backend == "aws":
        from fraud_pipeline.objects import ObjectStore

        return ObjectStorePolicySource(ObjectStore.from_settings(settings), settings.policy_prefix)
    return FolderPolicySource(Path(settings.policy_dir) if settings.policy_dir else default_policy_dir())
