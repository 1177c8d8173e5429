"""Build the SageMaker `model.tar.gz` and upload it to the bucket's `models/` prefix.

Layout (what SageMaker's framework containers expect):

    text_model.json            the artifact (model_fn loads it)
    code/inference.py          entry point: model_fn, input_fn, predict_fn, output_fn
    code/requirements.txt      numpy, and regex + confusables for the canonical text view
    code/fraud_pipeline/...    the few modules the handler imports

The archive is reproducible: fixed order, zero mtimes, no owner names.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from fraud_pipeline.objects import ObjectStore, ObjectStoreError
from fraud_pipeline.scoring.text_model import BUNDLED_ARTIFACT, LinearTextModel
from fraud_pipeline.settings import Settings

PACKAGE_ROOT = Path(__file__).resolve().parent.parent  # .../fraud_pipeline
VENDORED_MODULES = (
    "scoring/canonical.py",
    "scoring/featurize.py",
    "scoring/text_model.py",
    "serving/inference.py",
)
# What the vendored modules import: numpy, and `regex` + `confusables` (Unicode properties
# and the UTS #39 data) for the canonical text view.
RUNTIME_REQUIREMENTS = ("numpy", "regex", "confusables")
ENTRY_POINT = '''"""SageMaker entry point: the handler functions of fraud_pipeline.serving.inference."""

from fraud_pipeline.serving.inference import input_fn, model_fn, output_fn, predict_fn

__all__ = ["input_fn", "model_fn", "output_fn", "predict_fn"]
'''


@dataclass(frozen=True)
class PackageResult:
    version: str
    path: Path
    size: int
    metadata: dict[str, Any] = field(default_factory=dict)
    key: str = ""
    uri: str = ""


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def archive_members(model_path: Path) -> dict[str, bytes]:
    """Name -> bytes of everything that goes into model.tar.gz."""
    members = {
        BUNDLED_ARTIFACT: model_path.read_bytes(),
        "code/inference.py": ENTRY_POINT.encode(),
        "code/requirements.txt": "".join(
            f"{name}=={version(name)}\n" for name in RUNTIME_REQUIREMENTS
        ).encode(),
        "code/fraud_pipeline/__init__.py": b'"""Vendored subset for the SageMaker inference container."""\n',
        "code/fraud_pipeline/scoring/__init__.py": b"",
        "code/fraud_pipeline/serving/__init__.py": b"",
        "code/fraud_pipeline/model_artifacts/__init__.py": b"",
    }
    for module in VENDORED_MODULES:
        members[f"code/fraud_pipeline/{module}"] = (PACKAGE_ROOT / module).read_bytes()
    return members


def build_tarball(model_path: str | Path, out_path: str | Path) -> PackageResult:
    """Write model.tar.gz for the artifact at `model_path`."""
    model_path = Path(model_path)
    model = LinearTextModel.load(model_path)  # refuse to package a damaged artifact
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(archive_members(model_path).items()):
            _add(tar, name, data)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with open(out_path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(buffer.getvalue())
    return PackageResult(model.version, out_path, out_path.stat().st_size, dict(model.metadata))


def model_key(settings: Settings, version: str, name: str = "model.tar.gz") -> str:
    """`models/text/<version>/model.tar.gz` (the prefix from settings)."""
    return f"{settings.models_prefix}text/{version}/{name}"


def _put_raw(store: ObjectStore, key: str, data: bytes) -> None:
    """Write bytes exactly: pyarrow's streams would otherwise gzip a `.gz` key a second time."""
    if store.is_local:
        store.put_bytes(key, data)
        return
    try:
        with store.fs.open_output_stream(store.path(key), compression=None) as out:
            out.write(data)
    except OSError as exc:
        raise ObjectStoreError(f"cannot write {store.uri(key)}: {exc}") from exc


def upload(result: PackageResult, settings: Settings, store: ObjectStore | None = None) -> PackageResult:
    """Put the archive and a small metadata document under the version's prefix."""
    store = store or ObjectStore.from_settings(settings)  # the bucket exists: `provision` made it
    key = model_key(settings, result.version)
    _put_raw(store, key, result.path.read_bytes())
    document = {
        "version": result.version,
        "model_data": store.uri(key),
        "size": result.size,
        "metadata": result.metadata,
    }
    store.put_bytes(
        model_key(settings, result.version, "metadata.json"), json.dumps(document, indent=1).encode()
    )
    return replace(result, key=key, uri=store.uri(key))
