"""`fraud-pipeline policy validate | push | diff`, and the policy stored in the bucket (moto S3)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from fraud_pipeline.cli import main
from fraud_pipeline.objects import ObjectStore
from fraud_pipeline.policy import load_policy
from fraud_pipeline.policy.runtime import PolicyHolder, open_policy_holder
from fraud_pipeline.policy.source import ObjectStorePolicySource, default_policy_dir
from fraud_pipeline.settings import Settings
from tests.ingest_fixtures import post_event
from tests.policy_fixtures import edited, fixed_thresholds, line_of, policy_files, write_policy


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["policy", *args])
    return result.exit_code, result.stdout, result.stderr


def test_validate_prints_the_version_or_every_problem_with_file_and_line(tmp_path: Path) -> None:
    code, out, _ = _run("validate")
    assert code == 0 and orjson.loads(out)["version"] == load_policy(policy_files()).version

    bad = edited("rules.yaml", "all: [recovery_language]", "all: [recovery_langauge]")
    folder = write_policy(tmp_path / "bad", bad)
    code, _, err = _run("validate", str(folder))
    assert code == 1
    assert f"rules.yaml:{line_of(bad, 'rules.yaml', 'recovery_langauge')}:" in err
    assert "unknown signal 'recovery_langauge'" in err

    code, _, err = _run("validate", str(tmp_path / "missing"))
    assert code == 1 and "does not exist" in err


@pytest.mark.moto
def test_push_writes_the_bucket_prefix_and_a_runtime_on_aws_loads_it(
    aws_settings: Settings, tmp_path: Path
) -> None:
    store = ObjectStore.from_settings(aws_settings)
    store.ensure_bucket()
    # Nothing pushed yet: the runtime starts on the bundled policy and says so.
    holder = open_policy_holder(aws_settings)
    assert holder.version == load_policy(policy_files()).version

    changed = write_policy(
        tmp_path / "new", edited("verdict.yaml", "review: 0.6", "review: 0.65", fixed_thresholds())
    )
    result = CliRunner().invoke(
        main,
        [
            "policy",
            "push",
            str(changed),
            "--backend",
            "aws",
            "--env",
            aws_settings.env,
            "--endpoint-url",
            aws_settings.aws_endpoint_url,
        ],
    )
    assert result.exit_code == 0, result.output
    pushed = orjson.loads(result.stdout)
    source = ObjectStorePolicySource(store, aws_settings.policy_prefix)
    assert set(source.read()) == {p.name for p in default_policy_dir().glob("*.yaml")}
    assert holder.refresh() and holder.version == pushed["version"]
    assert holder.current().policy.spec.thresholds.combined.review == 0.65

    # An invalid folder is never pushed: the bucket keeps the last good version.
    bad = write_policy(tmp_path / "bad", edited("rules.yaml", "- name: burst", "- name: media_reuse"))
    result = CliRunner().invoke(
        main,
        [
            "policy",
            "push",
            str(bad),
            "--backend",
            "aws",
            "--env",
            aws_settings.env,
            "--endpoint-url",
            aws_settings.aws_endpoint_url,
        ],
    )
    assert result.exit_code == 1 and "duplicate rule name" in result.stderr
    assert PolicyHolder(source).version == pushed["version"]


def test_diff_lists_the_posts_whose_action_changes(tmp_path: Path) -> None:
    texts = [
        "Wallet issue? Import your wallet with your seed phrase at the link",
        "Lovely walk by the river this morning, the ducks were out",
        "Recover your lost funds today, our recovery experts help",
    ]
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(
        b"".join(
            orjson.dumps(post_event(t, rkey=f"3lb{i:010d}", time_us=1_732_000_000_000_000 + i)) + b"\n"
            for i, t in enumerate(texts)
        )
    )
    old = write_policy(tmp_path / "old", policy_files())
    # The recovery rule now asks for an automatic label.
    new = write_policy(
        tmp_path / "new",
        edited(
            "rules.yaml",
            "    action: review\n    when:\n      all: [recovery_language]",
            "    action: label\n    when:\n      all: [recovery_language]",
        ),
    )
    result = CliRunner().invoke(
        main, ["policy", "diff", str(old), str(new), "--capture", str(capture), "--home", str(tmp_path / "h")]
    )
    assert result.exit_code == 0, result.output
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    changes, summary = lines[:-1], lines[-1]["summary"]
    assert [c["text"] for c in changes] == [texts[2]]
    assert changes[0]["new"]["action"] == "label" and changes[0]["old"]["action"] != "label"
    assert summary["posts"] == 3 and summary["changed"] == 1
