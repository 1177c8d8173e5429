"""A local stand-in for Bluesky's image and video CDNs, on 127.0.0.1.

Offline runs (`fraud-pipeline up` on a synth capture, the tests) need the CDN's URL layout
served from blobs on disk: `GET /img/<kind>/plain/<did>/<cid>@<format>` and
`GET /watch/<did>/<cid>/thumbnail.jpg` answer the blob whose file name is the CID, from a
folder (`<cid>` files, as `fraud-pipeline synth` writes them beside the capture). Blobs are
served as they are, with the content type their magic bytes announce; anything else is 404.
Standard library only (`ThreadingHTTPServer`, a thread per connection), like the model server.
Every request path is kept in `requests` so tests can count fetches.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from fraud_pipeline.media.decode import sniff_format
from fraud_pipeline.settings import Settings, env_var_names

_IMAGE = re.compile(
    r"^/img/[a-z_]+/plain/(?P<did>did:[a-z0-9]+:[A-Za-z0-9._:%-]+)/(?P<cid>[a-z0-9]+)@[a-z]+$"
)
_VIDEO = re.compile(r"^/watch/(?P<did>did:[a-z0-9]+:[A-Za-z0-9._:%-]+)/(?P<cid>[a-z0-9]+)/thumbnail\.jpg$")
_CID = re.compile(r"^[a-z0-9]{8,128}$")
log = logging.getLogger(__name__)
_CONTENT_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def blob_path(match_path: str) -> str | None:
    """The CID a CDN path asks for, or None when the path is not one of the CDN's layouts."""
    for pattern in (_IMAGE, _VIDEO):
        found = pattern.match(match_path)
        if found:
            return found.group("cid")
    return None


class _Handler(BaseHTTPRequestHandler):
    server: BlobServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: `requests` keeps what was asked."""

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.server.note(path)
        cid = blob_path(path)
        data = self.server.blob(cid) if cid else None
        if data is None:
            self._reply(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
            return
        self._reply(
            HTTPStatus.OK, data, _CONTENT_TYPES.get(sniff_format(data) or "", "application/octet-stream")
        )

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "public, max-age=86400")
        self.end_headers()
        self.wfile.write(body)


class BlobServer(ThreadingHTTPServer):
    """Serves the blobs of `folder` (files named by CID), of `blobs` and of `lookup` in the
    CDN's layout."""

    daemon_threads = True

    def __init__(
        self,
        folder: Path | None = None,
        blobs: dict[str, bytes] | None = None,
        port: int = 0,
        lookup: Callable[[str], bytes | None] | None = None,
    ) -> None:
        self.folder = folder
        self.blobs = dict(blobs or {})
        self.lookup = lookup  # CID -> bytes made when asked (a capture's blob recipe)
        self.requests: list[str] = []
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def note(self, path: str) -> None:
        with self._lock:
            self.requests.append(path)

    def blob(self, cid: str) -> bytes | None:
        if cid in self.blobs:
            return self.blobs[cid]
        if self.lookup is not None:
            return self.lookup(cid)
        if self.folder is None or not _CID.match(cid):
            return None
        path = self.folder / cid
        return path.read_bytes() if path.is_file() else None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="blob-server", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def recipe_cache_folder(settings: Settings, recipe: Path) -> Path:
    """Where the images a blob recipe draws are kept: by the recipe's digest, under the home."""
    return Path(settings.home) / "media-blobs" / hashlib.sha256(recipe.read_bytes()).hexdigest()[:16]


def capture_blobs(settings: Settings, capture: Path) -> BlobServer | None:
    """A blob server (not started) for a synth capture's drawn images: `<capture>.blobs/` when
    written beside it, else, for a capture kept with a recipe instead (`<capture>.blobs.json`,
    the bundled one), the images drawn from it, their pools kept under
    `<home>/media-blobs/<recipe digest>/` (drawn at the first start, a few CPU seconds, read
    after). None for a capture without images."""
    from fraud_pipeline.ingest.synth import RecipeBlobs, blobs_path_for, recipe_path_for

    folder = blobs_path_for(capture)
    if folder.is_dir():
        return BlobServer(folder=folder)
    recipe = recipe_path_for(capture)
    if not recipe.is_file():
        return None
    cache = recipe_cache_folder(settings, recipe)
    started = time.process_time()
    blobs = RecipeBlobs(recipe, cache)
    if blobs.drawn:
        log.info(
            "drew the %d images of %s's %d blobs in %.1f CPU s (kept in %s)",
            sum(len(pool) for pool in (blobs.pools or {}).values()),
            capture.name,
            len(blobs.recipes),
            time.process_time() - started,
            cache,
        )
        mismatched = blobs.not_matching()
        if mismatched:
            log.warning(
                "%d of %d blobs drawn here do not hash to their CID in %s (other fonts or Pillow "
                "than where it was made); served under the capture's CIDs all the same",
                mismatched,
                len(blobs.recipes),
                capture.name,
            )
    return BlobServer(lookup=blobs.get)


def serve_capture_blobs(
    settings: Settings, capture: Path, environ: Mapping[str, str] | None = None
) -> tuple[Settings, BlobServer | None]:
    """Serve a synth capture's drawn images (`capture_blobs`, if any) as the CDN on a free
    loopback port; the settings returned read the pixels of image posts from it. A capture
    with images turns `media_images` on unless the environment says `off` explicitly
    (`FRAUD_PIPELINE_MEDIA_IMAGES=off make run`: alt texts and link cards only, as before)."""
    environ = os.environ if environ is None else environ
    if environ.get(env_var_names()["media_images"]) == "off":
        return settings, None
    server = capture_blobs(settings, capture)
    if server is None:
        return settings, None
    server.start_background()
    return settings.with_overrides(
        media_images="on", cdn_base_url=server.url, video_cdn_base_url=server.url
    ), server
