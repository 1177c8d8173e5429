"""A local model server on the SageMaker container contract: `GET /ping`, `POST /invocations`.

Standard library only (`http.server.ThreadingHTTPServer`), so the same file works in a
laptop run and in a slim container image. Requests go through the very handler functions
SageMaker calls (`inference.py`). Errors are answered, never raised into the server loop:
400 for a malformed body (with what was wrong), 411 without Content-Length, 413 over the
size limit, 415 for a non-JSON body, 404 for other paths, 500 if scoring itself fails.

A thread per connection is only safe with bounds: a connection that sends nothing for
`idle_timeout_s` is closed, a request (line, headers, body) that has not fully arrived
`request_timeout_s` after the server started reading it is dropped (so a client trickling a
byte at a time cannot hold a thread either), and past `max_connections` open connections a
new one is answered 503 at once and closed.
"""

from __future__ import annotations

import io
import json
import logging
import math
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fraud_pipeline.scoring.text_model import LinearTextModel
from fraud_pipeline.serving.inference import (
    InvalidInput,
    UnsupportedMediaType,
    custom_attributes,
    input_fn,
    output_fn,
    predict_fn,
)

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 6 * 1024 * 1024  # SageMaker real-time endpoints accept 6 MB payloads
# SageMaker gives an invocation 60 s in all; a client silent for half of that has gone away.
IDLE_TIMEOUT_S = 30.0
# A whole request must arrive within SageMaker's limit for a whole invocation.
REQUEST_TIMEOUT_S = 60.0
# One thread each; far above what one instance's scoring keeps busy, far below a thread exhaustion.
MAX_CONNECTIONS = 64
_BUSY_BODY = json.dumps({"error": "too many open connections", "status": 503}).encode()
_BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
    b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY)
)
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"


class _DeadlineReader(io.RawIOBase):
    """The connection's reads, each waiting at most the idle timeout, all of one request
    ending by its deadline (a socket timeout alone restarts with every byte received)."""

    def __init__(self, connection: Any, idle_timeout_s: float) -> None:
        self.connection = connection
        self.idle_timeout_s = idle_timeout_s
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive within its deadline")
        self.connection.settimeout(min(self.idle_timeout_s, remaining))
        return int(self.connection.recv_into(buffer))


class _Handler(BaseHTTPRequestHandler):
    server: ContractHTTPServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.idle_timeout_s)
        self._reader = _DeadlineReader(self.connection, self.server.idle_timeout_s)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.deadline = time.monotonic() + self.server.request_timeout_s
        super().handle_one_request()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _reply(
        self, status: int, body: bytes, content_type: str = "application/json", close: bool = False
    ) -> None:
        self.connection.settimeout(self.server.idle_timeout_s)  # writing is not bound by the read deadline
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header(CUSTOM_ATTRIBUTES_HEADER, self.server.attributes())
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, close: bool = False) -> None:
        self._reply(status, json.dumps({"error": message, "status": status}).encode(), close=close)

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/ping":
            self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path}; use GET /ping or POST /invocations")
            return
        self._reply(HTTPStatus.OK, json.dumps(self.server.ping_body()).encode())

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/invocations":
            self._error(HTTPStatus.NOT_FOUND, f"no such path {self.path}; use POST /invocations", close=True)
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None:
            self._error(HTTPStatus.LENGTH_REQUIRED, "Content-Length header is required", close=True)
            return
        try:
            length = int(length_header)
            if length < 0:
                raise ValueError(length_header)
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, f"bad Content-Length {length_header!r}", close=True)
            return
        if length > self.server.max_body_bytes:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes exceeds the limit of {self.server.max_body_bytes} bytes; "
                "split the batch",
                close=True,
            )
            return
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self._error(HTTPStatus.REQUEST_TIMEOUT, "the body did not arrive in time", close=True)
            return
        if len(body) < length:
            self.close_connection = True  # the client closed before sending all it announced
            return
        try:
            payload = self.server.invoke(
                body, self.headers.get("Content-Type"), self.headers.get("Accept") or "application/json"
            )
        except InvalidInput as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except UnsupportedMediaType as exc:
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, str(exc))
            return
        except Exception as exc:  # a scoring bug must answer 500, not kill the connection thread
            log.exception("scoring failed")
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"scoring failed: {exc.__class__.__name__}: {exc}")
            return
        self._reply(HTTPStatus.OK, payload)


class ContractHTTPServer(ThreadingHTTPServer):
    """The container contract's bounded HTTP side; subclasses say what `/invocations` does
    (`invoke`), what `/ping` answers and the custom attributes of every reply."""

    daemon_threads = True

    def invoke(self, body: bytes, content_type: str | None, accept: str) -> bytes:
        """The reply body of one invocation; InvalidInput -> 400, UnsupportedMediaType -> 415."""
        raise NotImplementedError

    def ping_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def attributes(self) -> str:
        raise NotImplementedError

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        max_body_bytes: int = MAX_BODY_BYTES,
        idle_timeout_s: float = IDLE_TIMEOUT_S,
        max_connections: int = MAX_CONNECTIONS,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        if idle_timeout_s <= 0 or request_timeout_s <= 0 or max_connections < 1:
            raise ValueError("idle_timeout_s and request_timeout_s must be > 0, max_connections >= 1")
        self.max_body_bytes = max_body_bytes
        self.idle_timeout_s = idle_timeout_s
        self.request_timeout_s = request_timeout_s
        self.max_connections = max_connections
        self._connection_slots = threading.BoundedSemaphore(max_connections)
        self.refused_connections = 0
        super().__init__((host, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Start a thread for the connection if a slot is free, else answer 503 and close."""
        if not self._connection_slots.acquire(blocking=False):
            self.refused_connections += 1
            try:
                request.settimeout(1.0)  # never let a refused client stall the accept loop
                request.sendall(_BUSY_REPLY)
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._connection_slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connection_slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start_background(self) -> threading.Thread:
        """Serve from a daemon thread (tests, embedded runs); stop with `shutdown()`."""
        thread = threading.Thread(target=self.serve_forever, name="model-server", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class ModelHTTPServer(ContractHTTPServer):
    """The text model behind the container contract (`inference.py`'s handler functions)."""

    def __init__(
        self, model: LinearTextModel, host: str = "127.0.0.1", port: int = 8080, **kwargs: Any
    ) -> None:
        self.model = model
        super().__init__(host, port, **kwargs)

    def invoke(self, body: bytes, content_type: str | None, accept: str) -> bytes:
        texts = input_fn(body, content_type)
        return output_fn(predict_fn(texts, self.model), accept)

    def ping_body(self) -> dict[str, Any]:
        return {"status": "healthy", "version": self.model.version, "threshold": self.model.threshold}

    def attributes(self) -> str:
        return custom_attributes(self.model)
