"""The object-store port: S3 or a folder, through one filesystem API (pyarrow.fs).

Both adapters are the same class over a `pyarrow.fs.FileSystem`: `S3FileSystem` (real AWS or
any endpoint) or `LocalFileSystem` rooted in the home folder. Keys are S3-style
(`posts/2026/11/29/14/file.parquet`); `path(key)` gives what pyarrow/DuckDB need.
Writes are atomic on both: S3 puts are; locally we write a temp file and rename.

Conditional writes (`version` + `put_if`) let writers that read-modify-write the same object
(two compactions of one hour, a tombstone rewriting an earlier hour) detect that someone else
wrote in between, instead of silently overwriting them: on S3 a PUT with `If-Match: <etag>`
(or `If-None-Match: *` for a new key), locally a compare-and-rename under a lock file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from fraud_pipeline.settings import Settings


class ObjectStoreError(RuntimeError):
    """An object-store call failed (missing bucket, permissions, network)."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    mtime_ms: int


class ObjectStore:
    """A bucket: `fs` plus the root path inside it (bucket name, or the local folder)."""

    def __init__(self, fs: pafs.FileSystem, root: str, uri_prefix: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.uri_prefix = uri_prefix.rstrip("/")  # s3://bucket or file:///abs/folder
        self.is_local = isinstance(fs, pafs.LocalFileSystem)
        self.region: str | None = None  # S3 only: for the boto3 client of conditional writes
        self.endpoint_url: str | None = None
        self._s3_client: object | None = None

    # -- construction -------------------------------------------------------------
    @classmethod
    def local(cls, folder: Path) -> ObjectStore:
        folder = folder.resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return cls(pafs.LocalFileSystem(), str(folder), folder.as_uri())

    @classmethod
    def s3(cls, bucket: str, region: str, endpoint_url: str | None = None) -> ObjectStore:
        kwargs: dict[str, object] = {"region": region, "allow_bucket_creation": True}
        if endpoint_url:
            parsed = urlparse(endpoint_url)
            kwargs["endpoint_override"] = parsed.netloc or endpoint_url
            kwargs["scheme"] = parsed.scheme or "http"
            # Endpoints such as moto accept any credentials; pass the environment's if set.
            if os.environ.get("AWS_ACCESS_KEY_ID"):
                kwargs["access_key"] = os.environ["AWS_ACCESS_KEY_ID"]
                kwargs["secret_key"] = os.environ.get("AWS_SECRET_ACCESS_KEY", "")
        store = cls(pafs.S3FileSystem(**kwargs), bucket, f"s3://{bucket}")
        store.region, store.endpoint_url = region, endpoint_url
        return store

    @classmethod
    def from_settings(cls, settings: Settings) -> ObjectStore:
        if settings.backend == "aws":
            return cls.s3(settings.bucket, settings.aws_region, settings.endpoint_url)
        return cls.local(settings.lake_path)

    # -- paths --------------------------------------------------------------------
    def path(self, key: str) -> str:
        """Path of `key` for `self.fs` (pyarrow.parquet, pyarrow.dataset)."""
        return f"{self.root}/{key.lstrip('/')}"

    def uri(self, key: str) -> str:
        """Full URI (s3://bucket/key or file:///folder/key) for catalogs and DuckDB."""
        return f"{self.uri_prefix}/{key.lstrip('/')}"

    def key_of(self, path: str) -> str:
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    # -- operations ---------------------------------------------------------------
    def put_bytes(self, key: str, data: bytes) -> None:
        path = self.path(key)
        try:
            if self.is_local:
                parent = os.path.dirname(path)
                os.makedirs(parent, exist_ok=True)
                tmp = f"{parent}/.{os.path.basename(path)}.{uuid.uuid4().hex}.tmp"
                with open(tmp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            else:
                with self.fs.open_output_stream(path, compression=None) as out:
                    out.write(data)
        except OSError as exc:
            raise ObjectStoreError(f"cannot write {self.uri(key)}: {exc}") from exc

    # -- conditional writes -------------------------------------------------------
    def _client(self) -> object:
        if self._s3_client is None:
            from fraud_pipeline.aws import aws_client

            self._s3_client = aws_client("s3", self.region or "us-east-1", self.endpoint_url)
        return self._s3_client

    def version(self, key: str) -> str | None:
        """An opaque token that changes whenever `key` is written (None: no such object).

        S3: the ETag. Locally: inode, mtime and size (every write is a rename of a new file).
        """
        if self.is_local:
            try:
                st = os.stat(self.path(key))
            except FileNotFoundError:
                return None
            return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"
        from botocore.exceptions import ClientError

        try:
            head = self._client().head_object(Bucket=self.root, Key=key)  # type: ignore[attr-defined]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise ObjectStoreError(f"cannot read the version of {self.uri(key)}: {exc}") from exc
        return str(head["ETag"])

    def put_if(self, key: str, data: bytes, expected: str | None) -> bool:
        """Write `key` only if its version is still `expected` (None: only if it does not exist).

        Returns False, writing nothing, when someone else wrote (or deleted) it in between.
        """
        if self.is_local:
            lock_path = os.path.join(self.root, ".conditional-writes.lock")
            os.makedirs(self.root, exist_ok=True)
            with open(lock_path, "a+") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    if self.version(key) != expected:
                        return False
                    self.put_bytes(key, data)
                    return True
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        from botocore.exceptions import ClientError

        condition = {"IfNoneMatch": "*"} if expected is None else {"IfMatch": expected}
        try:
            self._client().put_object(Bucket=self.root, Key=key, Body=data, **condition)  # type: ignore[attr-defined]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey") or status in (
                404,
                409,
                412,
            ):
                return False
            raise ObjectStoreError(f"cannot write {self.uri(key)}: {exc}") from exc
        return True

    def get_bytes(self, key: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.path(key), compression=None) as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise ObjectStoreError(f"cannot read {self.uri(key)}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self.fs.get_file_info(self.path(key)).type != pafs.FileType.NotFound

    def list_objects(self, prefix: str, recursive: bool = True) -> Iterator[ObjectInfo]:
        """Objects under `prefix` (a folder-like prefix ending in /), skipping temp files."""
        selector = pafs.FileSelector(self.path(prefix).rstrip("/"), recursive=recursive, allow_not_found=True)
        try:
            infos = self.fs.get_file_info(selector)
        except OSError as exc:
            raise ObjectStoreError(f"cannot list {self.uri(prefix)}: {exc}") from exc
        for info in infos:
            if info.type != pafs.FileType.File or info.base_name.startswith("."):
                continue
            mtime = info.mtime_ns // 1_000_000 if info.mtime_ns is not None else 0
            yield ObjectInfo(self.key_of(info.path), info.size or 0, mtime)

    def list_dirs(self, prefix: str) -> list[str]:
        """Immediate sub-prefixes of `prefix` (like S3 CommonPrefixes), sorted."""
        selector = pafs.FileSelector(self.path(prefix).rstrip("/"), recursive=False, allow_not_found=True)
        infos = self.fs.get_file_info(selector)
        return sorted(self.key_of(i.path) + "/" for i in infos if i.type == pafs.FileType.Directory)

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.path(key))

    def delete_prefix(self, prefix: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_dir_contents(self.path(prefix).rstrip("/"), missing_dir_ok=True)

    def ensure_bucket(self) -> None:
        """Create the bucket (S3) or folder (local) if missing."""
        if self.is_local:
            os.makedirs(self.root, exist_ok=True)
        else:
            try:
                self.fs.create_dir(self.root)
            except OSError as exc:
                raise ObjectStoreError(f"cannot create bucket {self.root}: {exc}") from exc
