"""Test helpers for the detection policy: the project's policy files, edited per test."""

from __future__ import annotations

from pathlib import Path

from fraud_pipeline.policy.source import FolderPolicySource, default_policy_dir


def policy_files() -> dict[str, bytes]:
    """The project's own policy files (name -> bytes)."""
    return FolderPolicySource(default_policy_dir()).read()


def edited(name: str, old: str, new: str, files: dict[str, bytes] | None = None) -> dict[str, bytes]:
    """The policy files with one exact text replaced in one file (the test fails loudly if absent)."""
    files = dict(files or policy_files())
    text = files[name].decode()
    assert old in text, f"{old!r} not in {name}"
    files[name] = text.replace(old, new, 1).encode()
    return files


def line_of(files: dict[str, bytes], name: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the n-th line containing `needle` in one policy file."""
    seen = 0
    for number, line in enumerate(files[name].decode().splitlines(), start=1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(f"{needle!r} not in {name}")


def write_policy(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.yaml"):
        stale.unlink()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder
