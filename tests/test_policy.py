"""The detection policy as data: validation errors name file and line; versions are content hashes."""

from __future__ import annotations

import pytest

from fraud_pipeline.policy import PolicyError, load_default_policy, load_policy
from fraud_pipeline.policy.loader import policy_version
from tests.policy_fixtures import edited, fixed_thresholds, line_of, policy_files


def _only_problem(files: dict[str, bytes]) -> tuple[str, int | None, str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(files)
    problems = caught.value.problems
    assert len(problems) == 1, problems
    return problems[0].file, problems[0].line, problems[0].message


def test_the_project_policy_is_valid_and_versioned_by_content() -> None:
    policy = load_default_policy()
    assert policy.spec.rule("wallet_request") is not None
    assert policy.version == policy_version(policy_files())
    changed = edited("lists.yaml", "- bit.ly", "- bit.ly\n    - tiny.cc")
    assert load_policy(changed).version != policy.version


def test_unknown_signal_is_named_with_file_and_line() -> None:
    files = edited("rules.yaml", "all: [recovery_language]", "all: [recovery_langauge]")
    name, line, message = _only_problem(files)
    assert (name, line) == ("rules.yaml", line_of(files, "rules.yaml", "recovery_langauge"))
    assert "unknown signal 'recovery_langauge'" in message


def test_wrong_type_comparison_and_weight_signal_are_refused() -> None:
    files = edited("rules.yaml", '"media_reuse_accounts >= 3"', "\"media_reuse_accounts >= 'many'\"")
    name, line, message = _only_problem(files)
    assert name == "rules.yaml" and line == line_of(files, "rules.yaml", "media_reuse_accounts >=")
    assert "is int: compare it with a number" in message

    files = edited(
        "rules.yaml",
        "weight: 0.25\n    when:\n      all: [prize_language]",
        "weight: has_link\n    when:\n      all: [prize_language]",
    )
    name, line, message = _only_problem(files)
    assert (name, line) == ("rules.yaml", line_of(files, "rules.yaml", "weight: has_link"))
    assert "weight signal 'has_link' is bool" in message


def test_out_of_range_threshold_is_named_with_its_line() -> None:
    files = edited("verdict.yaml", "review: 0.6", "review: 1.6", fixed_thresholds())
    name, line, message = _only_problem(files)
    assert (name, line) == ("verdict.yaml", line_of(files, "verdict.yaml", "review: 1.6"))
    assert "less than or equal to 1" in message


def test_duplicate_rule_name_points_at_the_second_one() -> None:
    files = edited("rules.yaml", "- name: burst", "- name: media_reuse")
    name, line, message = _only_problem(files)
    assert (name, line) == ("rules.yaml", line_of(files, "rules.yaml", "- name: media_reuse", occurrence=2))
    assert "duplicate rule name 'media_reuse'" in message


def test_unknown_keys_undeclared_labels_and_missing_sections() -> None:
    files = edited(
        "rules.yaml",
        "    weight: 0.7\n    action: review\n    when:\n      all: [doubling_language]",
        "    wieght: 0.7\n    action: review\n    when:\n      all: [doubling_language]",
    )
    name, line, message = _only_problem(files)
    assert (
        name == "rules.yaml"
        and line == line_of(files, "rules.yaml", "wieght")
        and "Extra inputs are not permitted" in message
    )

    files = edited("rules.yaml", "label: spam\n", "label: spammy\n")
    name, line, message = _only_problem(files)
    assert (
        name == "rules.yaml"
        and line == line_of(files, "rules.yaml", "label: spammy")
        and "not declared" in message
    )

    files = policy_files()
    del files["lists.yaml"]
    _, _, message = _only_problem(files)
    assert "section 'lists' is missing" in message


def test_malformed_yaml_duplicate_sections_and_binary_files_are_problems_not_crashes() -> None:
    files = edited("lists.yaml", "scam_domains: []", "scam_domains: [oops")
    name, line, message = _only_problem(files)
    assert name == "lists.yaml" and line is not None and "not valid YAML" in message

    files = dict(policy_files(), **{"extra.yaml": b"windows:\n  behaviour_s: 60\n"})
    name, line, message = _only_problem(files)
    assert (name, line) == ("extra.yaml", 1) and "already defined in behaviour.yaml" in message

    files = dict(policy_files(), **{"zz.yaml": b"\xff\xfe\x00binary"})
    name, _, message = _only_problem(files)
    assert name == "zz.yaml" and "not UTF-8" in message


def test_every_problem_is_reported_at_once() -> None:
    files = edited("rules.yaml", "all: [recovery_language]", "all: [nope_one]")
    files = edited("rules.yaml", "all: [doubling_language]", "all: [nope_two]", files)
    with pytest.raises(PolicyError) as caught:
        load_policy(files)
    assert sorted(p.message for p in caught.value.problems) == [
        "unknown signal 'nope_one'",
        "unknown signal 'nope_two'",
    ]
    assert "rules.yaml:" in str(caught.value)


def test_the_package_carries_the_same_policy_for_installs(tmp_path) -> None:
    """`fraud_pipeline/default_policy` (packaged as data) is the project's policy/ folder."""
    from pathlib import Path

    import fraud_pipeline
    from fraud_pipeline.policy.source import FolderPolicySource

    packaged = Path(fraud_pipeline.__file__).resolve().parent / "default_policy"
    assert FolderPolicySource(packaged).read() == policy_files()
