#!/usr/bin/env bash
# Run checkov over every Terraform module and live config, offline, with the skips listed (each with
# its reason) in infra/.checkov.yaml. Exit status is checkov's: non-zero when any check fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_VENV="$(bash "$ROOT/infra/scripts/infra_tools_venv.sh")"
cd "$ROOT"
exec "$TOOLS_VENV/bin/checkov" --config-file infra/.checkov.yaml "$@"
