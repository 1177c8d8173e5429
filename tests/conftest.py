"""Shared fixtures: a local home folder, and a moto server on 127.0.0.1 for the aws adapters."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from fraud_pipeline.settings import Settings, load_settings

# No test may reach real AWS: fake credentials, and every client gets an endpoint_url.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
for _name in list(os.environ):
    if _name.startswith("FRAUD_PIPELINE_"):
        del os.environ[_name]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def local_settings(tmp_path: Path) -> Settings:
    """Settings for the embedded backend, with a fresh home folder."""
    return load_settings(environ={}, backend="local", home=tmp_path / "home")


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server (real HTTP) on 127.0.0.1 for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture()
def aws_settings(moto_endpoint: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings for the aws backend against moto, with an env name unique to the test
    (so tests sharing the session's moto server never see each other's resources)."""
    import re

    env = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[-20:] or "test"
    return load_settings(
        environ={}, backend="aws", home=tmp_path / "home", env=f"t{env}", aws_endpoint_url=moto_endpoint
    )
