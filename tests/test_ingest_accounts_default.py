"""Whether ingest puts account events on the stream by default: on locally, off on AWS.

The `ingest_accounts` setting decides (`auto`: the local backend yes, AWS no, for the cost
docs/cost.md measures); `ingest --accounts/--no-accounts` overrides it for one run, and both
environments' ingest task passes the setting explicitly from env.hcl.
"""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from fraud_pipeline.accounts.events import ACCOUNT_COLLECTIONS
from fraud_pipeline.cli import main
from fraud_pipeline.ingest.session import IngestSession
from fraud_pipeline.provision import provision
from fraud_pipeline.records import POST_COLLECTION
from fraud_pipeline.settings import Settings, SettingsError, load_settings
from tests.infra_fixtures import env_locals, environment_maps
from tests.test_jetstream import FakeJetstream


@pytest.mark.parametrize(
    ("backend", "value", "ingested"),
    [
        ("local", "auto", True),
        ("aws", "auto", False),
        ("aws", "on", True),
        ("local", "off", False),
    ],
)
def test_the_setting_resolves_per_backend(backend: str, value: str, ingested: bool) -> None:
    settings = load_settings(environ={"FRAUD_PIPELINE_INGEST_ACCOUNTS": value}, backend=backend)
    assert settings.accounts_ingested is ingested


def test_a_misspelt_setting_is_refused() -> None:
    with pytest.raises(SettingsError, match="ingest_accounts"):
        load_settings(environ={"FRAUD_PIPELINE_INGEST_ACCOUNTS": "yes"})


def test_the_ingest_session_follows_the_setting_unless_told(local_settings: Settings) -> None:
    provision(local_settings)
    everything = (POST_COLLECTION, *sorted(ACCOUNT_COLLECTIONS))
    assert IngestSession(local_settings).collections == everything  # what `up` and `make run` build
    off = local_settings.with_overrides(ingest_accounts="off")
    assert IngestSession(off).collections == (POST_COLLECTION,)
    assert IngestSession(off, accounts=True).collections == everything


def _ingest_jetstream(settings: Settings, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """Run `ingest` against a fake Jetstream; the collections it asked for."""
    server = FakeJetstream()
    home = ["--home", str(settings.home)]
    try:
        result = CliRunner().invoke(
            main,
            ["ingest", "--source", "jetstream", "--url", server.url, "--max-events", "5", *args, *home],
            env=env,
            catch_exceptions=False,
        )
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.output[result.output.index("{") :])["events_read"] == 5
    return server.requests[0]["wantedCollections"]


def test_ingest_asks_jetstream_for_account_collections_by_default_locally(local_settings: Settings) -> None:
    provision(local_settings)
    assert set(_ingest_jetstream(local_settings)) == {POST_COLLECTION, *ACCOUNT_COLLECTIONS}
    off = {"FRAUD_PIPELINE_INGEST_ACCOUNTS": "off"}
    assert _ingest_jetstream(local_settings, env=off) == [POST_COLLECTION]
    assert set(_ingest_jetstream(local_settings, "--accounts", env=off)) == {
        POST_COLLECTION,
        *ACCOUNT_COLLECTIONS,
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_aws_ingest_task_keeps_account_events_off(env: str) -> None:
    """Off in both environments, explicitly (one line in env.hcl to turn it on), and the
    ingest task's environment loads into settings that do not ingest account events."""
    assert env_locals(env)["ingest_accounts"] == "off"
    settings = load_settings(environ=environment_maps(env)["ingest"])
    assert settings.backend == "aws" and settings.ingest_accounts == "off"
    assert not settings.accounts_ingested
