"""Shared fixtures: a local home folder, and a moto server on 127.0.0.1 for the aws adapters."""

from __future__ import annotations

import os
import random
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


# Ports handed to servers a test starts come from below the kernel's ephemeral range
# (/proc/sys/net/ipv4/ip_local_port_range starts at 32768 on Linux, 49152 on macOS). A port
# the kernel picks for `bind(0)` is an ephemeral one, and between the test closing its probe
# and the server binding it, any outgoing connection on the machine may take it.
LISTEN_PORTS = range(20_000, 32_768)
_port_picker = random.SystemRandom()  # not the global generator, which tests may seed


def free_port() -> int:
    """A port on 127.0.0.1 that is free now and that no outgoing connection will be given."""
    for _ in range(200):
        port = _port_picker.choice(LISTEN_PORTS)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {LISTEN_PORTS} after 200 tries")


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
