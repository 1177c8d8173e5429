"""Options every command shares: which backend, which home folder, which environment."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import orjson

from fraud_pipeline.settings import Settings, SettingsError, load_settings


def settings_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add --backend/--home/--env/--endpoint-url and pass the resolved `settings`."""

    @click.option(
        "--backend",
        type=click.Choice(["local", "aws"]),
        default=None,
        help="local (embedded, default) or aws (boto3). Env: FRAUD_PIPELINE_BACKEND.",
    )
    @click.option(
        "--home",
        type=click.Path(path_type=Path),
        default=None,
        help="Home folder of the local backend. Env: FRAUD_PIPELINE_HOME (default .fraud-pipeline).",
    )
    @click.option(
        "--env", "env_name", default=None, help="Environment name (dev, prod). Env: FRAUD_PIPELINE_ENV."
    )
    @click.option(
        "--endpoint-url",
        default=None,
        help="AWS endpoint (moto, LocalStack); empty = real AWS. Env: FRAUD_PIPELINE_AWS_ENDPOINT_URL.",
    )
    @functools.wraps(command)
    def wrapper(
        *args: Any,
        backend: str | None,
        home: Path | None,
        env_name: str | None,
        endpoint_url: str | None,
        **kwargs: Any,
    ) -> Any:
        try:
            settings: Settings = load_settings(
                backend=backend, home=home, env=env_name, aws_endpoint_url=endpoint_url
            )
        except SettingsError as exc:
            raise click.UsageError(str(exc)) from exc
        return command(*args, settings=settings, **kwargs)

    return wrapper


def echo_json(payload: Any) -> None:
    """One JSON object on stdout, indented and key-sorted, for people and for scripts alike."""
    click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
