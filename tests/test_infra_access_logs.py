"""S3 server access logs can be delivered: the log bucket's default encryption is one S3's logging
service can write with (SSE-S3, or SSE-KMS with a key-policy grant to that service)."""

from __future__ import annotations

import re
from typing import Any

from tests.infra_fixtures import MODULES, load_hcl

LOGGING_SERVICE = "logging.s3.amazonaws.com"
_BUCKET_REF = re.compile(r"^\$\{aws_s3_bucket\.(\w+)\.(?:id|bucket)\}$")


def _resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for block in load_hcl(MODULES / "s3" / "main.tf").get("resource", []):
        found.update(block.get(kind, {}))
    return found


def _buckets_of(resource: dict[str, Any]) -> set[str]:
    """The aws_s3_bucket names a resource applies to (directly, or through for_each over local.buckets)."""
    direct = _BUCKET_REF.match(str(resource.get("bucket", "")))
    if direct:
        return {direct.group(1)}
    if resource.get("for_each") == "${local.buckets}":
        locals_ = {}
        for block in load_hcl(MODULES / "s3" / "main.tf").get("locals", []):
            locals_.update(block)
        return {
            _BUCKET_REF.match(str(ref).replace("}", ".id}")).group(1)  # type: ignore[union-attr]
            for ref in locals_["buckets"].values()
        }
    raise AssertionError(f"cannot tell which bucket {resource.get('bucket')!r} is")


def _kms_key_grants_the_logging_service() -> bool:
    policy = (MODULES / "kms" / "main.tf").read_text()
    return LOGGING_SERVICE in policy and "kms:GenerateDataKey" in policy


def test_access_log_target_is_encrypted_so_s3_logging_can_deliver() -> None:
    """Before: the logs bucket defaulted to the KMS key and the key policy had no grant for the
    logging service, so no access log was ever written."""
    logging = _resources("aws_s3_bucket_logging")
    assert logging, "the lake's access logging is configured"
    encryption = _resources("aws_s3_bucket_server_side_encryption_configuration")
    for name, config in logging.items():
        target = _BUCKET_REF.match(config["target_bucket"])
        assert target, config["target_bucket"]
        rules = [
            rule["apply_server_side_encryption_by_default"][0]
            for resource in encryption.values()
            if target.group(1) in _buckets_of(resource)
            for rule in resource["rule"]
        ]
        assert len(rules) == 1, f"{target.group(1)} needs exactly one default encryption, got {rules}"
        algorithm = rules[0]["sse_algorithm"]
        assert algorithm == "AES256" or (algorithm == "aws:kms" and _kms_key_grants_the_logging_service()), (
            f"aws_s3_bucket_logging.{name} delivers to {target.group(1)}, encrypted with {algorithm} "
            f"and no key grant for {LOGGING_SERVICE}"
        )


def test_the_lake_itself_stays_on_the_kms_key() -> None:
    encryption = _resources("aws_s3_bucket_server_side_encryption_configuration")
    lake = [r for r in encryption.values() if "lake" in _buckets_of(r)]
    assert len(lake) == 1
    default = lake[0]["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == "aws:kms" and default["kms_master_key_id"] == "${var.kms_key_arn}"


def test_log_bucket_policy_lets_the_logging_service_write_only_the_lakes_logs() -> None:
    text = (MODULES / "s3" / "main.tf").read_text()
    assert re.search(r'identifiers\s*=\s*\["logging\.s3\.amazonaws\.com"\]', text)
    assert 'variable = "aws:SourceArn"' in text
