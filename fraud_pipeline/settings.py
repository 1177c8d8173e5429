"""Every name the pipeline uses, in one place.

The Python side's single source of truth for resource names. `infra/live/<env>/env.hcl`
must agree with the defaults here (a test keeps them equal). Every field can be
overridden by an environment variable `FRAUD_PIPELINE_<FIELD>` (upper case), so the
same code runs in Lambda/ECS (Terraform sets the variables) and on a laptop.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

Backend = Literal["local", "aws"]
ModelMode = Literal["inprocess", "http", "sagemaker"]

ENV_PREFIX = "FRAUD_PIPELINE_"
AUTOMATION_STATES = ("running", "stopped")
ANALYTICS_ENGINES = ("duckdb", "athena")
INGEST_ACCOUNTS = ("auto", "on", "off")
PROJECT = "fraud-detect"


class SettingsError(ValueError):
    """A setting has a value the pipeline cannot work with."""


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Derived names are filled from `env` unless set explicitly."""

    env: str = "dev"
    backend: Backend = "local"
    home: Path = Path(".fraud-pipeline")
    aws_region: str = "us-east-1"
    # Empty means real AWS; otherwise any endpoint (moto server, LocalStack).
    aws_endpoint_url: str = ""

    # Resource names: empty strings are derived from the prefix in __post_init__.
    untagged_stream: str = ""
    tagged_stream: str = ""
    bucket: str = ""
    glue_database: str = ""
    glue_table: str = ""
    glue_compacted_table: str = ""
    metric_namespace: str = ""
    state_table: str = ""
    text_endpoint: str = ""
    media_endpoint: str = ""
    delivery_stream: str = ""
    athena_workgroup: str = ""  # the aws backend's distributed engine (infra/modules/athena)
    athena_database: str = ""  # Glue database dbt builds the marts in on Athena

    # Object-store prefixes (keys inside the bucket).
    posts_prefix: str = "posts/"
    compacted_prefix: str = "compacted/"
    media_prefix: str = "media/"
    errors_prefix: str = "errors/"
    models_prefix: str = "models/"
    labels_prefix: str = "labels/"  # published atproto labels, for analytics to join
    accounts_prefix: str = "accounts/"  # account verdict records (the lake's accounts table)
    policy_prefix: str = "policy/"  # the detection policy on the aws backend (`policy push` writes it)
    athena_results_prefix: str = "athena-results/"  # Athena query results (the workgroup's location)
    marts_prefix: str = "marts/"  # data of the marts dbt builds on Athena

    stream_shard_count: int = 2

    # How the scorer reaches the text / media models.
    text_model_mode: ModelMode = "inprocess"
    text_model_url: str = "http://127.0.0.1:8080"
    text_model_path: str = ""  # empty: the model bundled with the package / home
    media_model_mode: ModelMode = "inprocess"
    media_model_url: str = "http://127.0.0.1:8081"
    model_timeout_s: float = 2.0
    # Reading the pixels of posts' images in the stream (docs/media.md): "on" fetches every image
    # and video thumbnail from the CDN (these base URLs; `up` points them at its local blob
    # server), copies it to `media_prefix` and scores it with `media_model_mode`'s image scorer;
    # "off" scores only alt texts and link cards. Operating parameters, not judgement (that is
    # policy/media.yaml): a batch waits at most `media_batch_budget_s` for its images (the
    # stream's latency bound; an image not read by then is tagged unavailable), each fetch at
    # most `media_fetch_timeout_s`, `media_fetch_workers` at once; verdicts are cached by blob
    # CID for `media_cache_ttl_s`.
    media_images: str = "off"
    cdn_base_url: str = "https://cdn.bsky.app"
    video_cdn_base_url: str = "https://video.bsky.app"
    media_batch_budget_s: float = 2.0
    media_fetch_timeout_s: float = 5.0
    media_fetch_workers: int = 8
    media_cache_ttl_s: int = 7 * 86400
    # Account events on the untagged stream (profiles, follows, identity, account status: the
    # account verdicts, docs/accounts.md): "on", "off", or "auto" = on for the local backend
    # (no bill; `up` and `make run` judge them) and off on AWS, where they would add 60% to
    # 214% to the monthly bill (docs/cost.md: follows outnumber posts, each counted in DynamoDB).
    # `ingest --accounts/--no-accounts` overrides it for one run.
    ingest_accounts: str = "auto"
    # No threshold lives here: every operating point is the detection policy's (policy/verdict.yaml).
    # The detection policy: a folder on the local backend (empty: the project's own policy/),
    # checked for a new version at most every `policy_reload_seconds` by each scoring runtime.
    policy_dir: str = ""
    policy_reload_seconds: float = 5.0
    # The local poller's scoring runtimes: "per-shard" (as Lambda: nothing shared in memory
    # between shards) or "shared" (one runtime for every shard; for comparisons only).
    scoring_runtimes: str = "per-shard"

    # Firehose-equivalent buffering (AWS: buffering hints of the delivery stream).
    delivery_buffer_mb: int = 64
    delivery_buffer_seconds: int = 60

    # The labeler: its did:web identity is did:web:<labeler_domain>; the label store on AWS is
    # the Postgres that Dagster already uses (a database of its own on that instance).
    labeler_domain: str = "localhost"
    labeler_database_url: str = ""

    # Stream-health thresholds used by Dagster asset checks and alarms.
    max_consumer_lag_s: float = 60.0

    # Dagster sensors and schedules start "running" when the code location loads, or "stopped".
    automation: str = "running"
    # How often (seconds) the open hour is compacted and its marts refreshed.
    open_hour_refresh_s: int = 120
    # Logs (fraud_pipeline.logs): "" = stdout inside AWS compute, else <home>/logs/<component>.jsonl.
    log_to: str = ""
    log_level: str = "INFO"
    # Engine that builds the marts and answers `query` on the aws backend: "duckdb" (in the
    # Dagster task) or "athena" (the workgroup). The local backend always uses DuckDB.
    analytics_engine: str = "duckdb"

    def __post_init__(self) -> None:
        if self.backend not in get_args(Backend):
            raise SettingsError(f"backend must be one of {get_args(Backend)}, got {self.backend!r}")
        for mode_field in ("text_model_mode", "media_model_mode"):
            if getattr(self, mode_field) not in get_args(ModelMode):
                raise SettingsError(
                    f"{mode_field} must be one of {get_args(ModelMode)}, got {getattr(self, mode_field)!r}"
                )
        if self.automation not in AUTOMATION_STATES:
            raise SettingsError(f"automation must be one of {AUTOMATION_STATES}, got {self.automation!r}")
        if self.ingest_accounts not in INGEST_ACCOUNTS:
            raise SettingsError(
                f"ingest_accounts must be one of {INGEST_ACCOUNTS}, got {self.ingest_accounts!r}"
            )
        if self.analytics_engine not in ANALYTICS_ENGINES:
            raise SettingsError(
                f"analytics_engine must be one of {ANALYTICS_ENGINES}, got {self.analytics_engine!r}"
            )
        if self.open_hour_refresh_s < 30:
            raise SettingsError(f"open_hour_refresh_s must be at least 30, got {self.open_hour_refresh_s}")
        if self.scoring_runtimes not in ("per-shard", "shared"):
            raise SettingsError(
                f"scoring_runtimes must be 'per-shard' or 'shared', got {self.scoring_runtimes!r}"
            )
        if self.media_images not in ("on", "off"):
            raise SettingsError(f"media_images must be 'on' or 'off', got {self.media_images!r}")
        if self.media_batch_budget_s <= 0 or self.media_fetch_timeout_s <= 0 or self.media_fetch_workers < 1:
            raise SettingsError(
                "media_batch_budget_s and media_fetch_timeout_s must be > 0, media_fetch_workers >= 1"
            )
        if self.log_to not in ("", "stdout", "file"):
            raise SettingsError(f"log_to must be stdout, file or empty (automatic), got {self.log_to!r}")
        if not self.env or not self.env.replace("-", "").isalnum():
            raise SettingsError(f"env must be alphanumeric (dashes allowed), got {self.env!r}")
        for name, value in self.default_names(self.env).items():
            if not getattr(self, name):
                object.__setattr__(self, name, value)
        for prefix_field in (
            "posts_prefix",
            "compacted_prefix",
            "media_prefix",
            "errors_prefix",
            "models_prefix",
            "labels_prefix",
            "accounts_prefix",
            "policy_prefix",
            "athena_results_prefix",
            "marts_prefix",
        ):
            value = getattr(self, prefix_field)
            if not value.endswith("/"):
                object.__setattr__(self, prefix_field, value + "/")

    @staticmethod
    def default_names(env: str) -> dict[str, str]:
        """The resource names for an environment; infra/live/<env>/env.hcl mirrors these."""
        prefix = f"{PROJECT}-{env}"
        underscored = prefix.replace("-", "_")
        return {
            "untagged_stream": f"{prefix}-untagged-stream",
            "tagged_stream": f"{prefix}-tagged-stream",
            "bucket": f"{prefix}-lake",
            "glue_database": underscored,
            "glue_table": "posts",
            "glue_compacted_table": "posts_compacted",
            "metric_namespace": prefix,
            "state_table": f"{prefix}-state",
            "text_endpoint": f"{prefix}-text-model",
            "media_endpoint": f"{prefix}-media-model",
            "delivery_stream": f"{prefix}-tagged-delivery",
            "athena_workgroup": f"{prefix}-analytics",
            "athena_database": f"{underscored}_marts",
        }

    @property
    def prefix(self) -> str:
        return f"{PROJECT}-{self.env}"

    # Names only infrastructure creates; the local stand-ins publish their metrics under them.
    @property
    def scoring_function(self) -> str:
        return f"{self.prefix}-scoring"

    @property
    def scoring_dlq(self) -> str:
        return f"{self.prefix}-scoring-failures"

    @property
    def labeler_did(self) -> str:
        """The labeler's did:web (a port in the domain is percent-encoded, as did:web says)."""
        return "did:web:" + self.labeler_domain.replace(":", "%3A")

    @property
    def labeler_key_secret(self) -> str:
        """The Secrets Manager secret holding the labeler's signing key on AWS."""
        return f"{self.prefix}-labeler-signing-key"

    @property
    def labeler_service(self) -> str:
        return f"{self.prefix}-labeler"

    # -- the local backend's files, all under `home` ---------------------------------
    @property
    def stream_log_path(self) -> Path:
        return Path(self.home) / "streams.sqlite"

    @property
    def state_path(self) -> Path:
        return Path(self.home) / "state.sqlite"

    @property
    def metrics_path(self) -> Path:
        return Path(self.home) / "metrics.sqlite"

    @property
    def catalog_path(self) -> Path:
        """DuckDB database standing in for Glue (tables/views over the lake)."""
        return Path(self.home) / "catalog.duckdb"

    @property
    def warehouse_path(self) -> Path:
        """DuckDB database that dbt builds the dashboard tables in."""
        return Path(self.home) / "warehouse.duckdb"

    @property
    def lake_path(self) -> Path:
        """The local bucket folder (the object store's root on the local backend)."""
        return Path(self.home) / "lake" / self.bucket

    @property
    def labels_path(self) -> Path:
        """The local label store (sequenced signed labels, overrides, stream positions)."""
        return Path(self.home) / "labels.sqlite"

    @property
    def labeler_key_path(self) -> Path:
        """The labeler's signing key on the local backend (mode 0600)."""
        return Path(self.home) / "labeler" / "signing-key.pem"

    @property
    def models_path(self) -> Path:
        return Path(self.home) / "models"

    @property
    def dagster_home(self) -> Path:
        return Path(self.home) / "dagster"

    @property
    def endpoint_url(self) -> str | None:
        """The boto3 `endpoint_url`: None for real AWS."""
        return self.aws_endpoint_url or None

    @property
    def accounts_ingested(self) -> bool:
        """Whether ingest puts account events on the stream unless told otherwise."""
        return self.ingest_accounts == "on" or (self.ingest_accounts == "auto" and self.backend == "local")

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields changed; derived names follow a changed env."""
        current = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        if "env" in changes and changes["env"] != self.env:
            for name in self.default_names(self.env):
                if current[name] == self.default_names(self.env)[name]:
                    current[name] = ""
        current.update(changes)
        return Settings(**current)


def _coerce(field_type: object, raw: str, name: str) -> object:
    type_name = (
        field_type if isinstance(field_type, str) else getattr(field_type, "__name__", str(field_type))
    )
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "Path":
            return Path(raw)
    except ValueError as exc:
        raise SettingsError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {type_name}") from exc
    return raw


def env_var_names() -> dict[str, str]:
    """Field name -> environment variable that overrides it (Terraform sets these)."""
    return {f.name: ENV_PREFIX + f.name.upper() for f in dataclasses.fields(Settings) if f.init}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Settings from defaults, then `FRAUD_PIPELINE_*` variables, then explicit overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in dataclasses.fields(Settings):
        if not f.init:
            continue
        raw = environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            values[f.name] = _coerce(f.type, raw, f.name)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)  # type: ignore[arg-type]
